//! A webhook feed's settings array, exactly as FluentCart's admin screen saves it, parsed and
//! validated into [`FeedSettings`]. Keys, values and defaults are FluentCart's:
//!
//! | key | values | default |
//! |---|---|---|
//! | `name` | non-blank string | required |
//! | `request_url` | absolute `http://` or `https://` URL, no user:password | required |
//! | `request_method` | `GET` `POST` `PUT` `PATCH` `DELETE` (any case) | `POST` |
//! | `request_format` | `JSON` `FORM` (any case) | `JSON` |
//! | `request_headers` | `no_headers` `custom_headers` | `no_headers` |
//! | `custom_header_values` | list of `{header_name, header_value}` | `[]` |
//! | `request_body` | `all_data` `selected_fields` | `all_data` |
//! | `selected_field_values` | list of `{field_name, field_value}` | `[]` |
//! | `event_trigger` | non-empty list of event names | required |
//! | `enabled` | `true`/`false`, `'yes'`/`'no'`, `1`/`0`, `'1'`/`'0'`, `'true'`/`'false'` | `true` |
//! | `secret` | `whsec_` + base64 of ≥ 24 bytes (ours: signs requests; not with `GET`) | none |
//!
//! Rows of the two lists whose name is blank are what the form submits when the user adds
//! nothing, and are ignored whatever their value holds, as FluentCart ignores them; a row
//! with a name but a broken value is an error. The lists are only read when their switch
//! (`request_headers`, `request_body`) selects them.
//! A missing key or `null` takes the default; unknown keys are ignored.

use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::signature::Secret;
use crate::smartcode::Template;

/// Settings that cannot make a request. `key` names the settings key at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFeed {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for InvalidFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for InvalidFeed {}

fn invalid(key: &'static str, message: impl Into<String>) -> InvalidFeed {
    InvalidFeed { key, message: message.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// GET sends the payload in the query string, every other method in the body.
    pub fn has_body(self) -> bool {
        self != Method::Get
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Form,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Form => "FORM",
        }
    }
}

/// One custom header, validated: the name is an HTTP token, the value has no CR, LF or NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// One payload key and the template that renders its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedField {
    pub key: String,
    pub template: Template,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    AllData,
    SelectedFields(Vec<SelectedField>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedSettings {
    pub name: String,
    pub url: String,
    pub method: Method,
    pub format: Format,
    /// `None` for `no_headers`.
    pub custom_headers: Option<Vec<Header>>,
    pub body: Body,
    pub events: Vec<String>,
    pub enabled: bool,
    /// `secret` (our key, not FluentCart's): signs requests; never shown by to_value().
    pub secret: Option<Secret>,
}

/// Every key [`FeedSettings::parse`] reads. The rest of a settings array is ignored whatever it
/// holds, so a caller need not read it at all (the PHP layer does not walk it).
pub const KEYS: [&str; 11] = [
    "name",
    "request_url",
    "request_method",
    "request_format",
    "request_headers",
    "custom_header_values",
    "request_body",
    "selected_field_values",
    "event_trigger",
    "enabled",
    "secret",
];

/// Headers the transport owns; a feed may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

impl FeedSettings {
    /// Parses FluentCart's settings array (as a JSON-like value).
    pub fn parse(settings: &Value) -> Result<FeedSettings, InvalidFeed> {
        let no_settings = Map::new();
        let map = match settings {
            Value::Object(map) => map,
            // PHP's [] is a list and a map alike: it lacks the settings, as a map would.
            Value::Array(list) if list.is_empty() => &no_settings,
            Value::Array(_) => {
                return Err(invalid(
                    "settings",
                    "must be an array of settings by name (name, request_url, …), got a list",
                ));
            }
            other => {
                return Err(invalid("settings", format!("must be an array of settings, got {}", type_name(other))))
            }
        };
        let name = required_text(map, "name")?;
        let url = parse_url(&required_text(map, "request_url")?)?;
        let method = match optional_text(map, "request_method")?.map(|m| m.to_ascii_uppercase()).as_deref() {
            None => Method::Post,
            Some("GET") => Method::Get,
            Some("POST") => Method::Post,
            Some("PUT") => Method::Put,
            Some("PATCH") => Method::Patch,
            Some("DELETE") => Method::Delete,
            Some(other) => {
                return Err(invalid(
                    "request_method",
                    format!("must be GET, POST, PUT, PATCH or DELETE, got {other:?}"),
                ))
            }
        };
        let format = match optional_text(map, "request_format")?.map(|f| f.to_ascii_uppercase()).as_deref() {
            None | Some("JSON") => Format::Json,
            Some("FORM") => Format::Form,
            Some(other) => return Err(invalid("request_format", format!("must be JSON or FORM, got {other:?}"))),
        };
        let custom_headers = match optional_text(map, "request_headers")?.as_deref() {
            None | Some("no_headers") => None,
            Some("custom_headers") => Some(parse_headers(map)?),
            Some(other) => {
                return Err(invalid("request_headers", format!("must be no_headers or custom_headers, got {other:?}")))
            }
        };
        let body = match optional_text(map, "request_body")?.as_deref() {
            None | Some("all_data") => Body::AllData,
            Some("selected_fields") => Body::SelectedFields(parse_selected_fields(map)?),
            Some(other) => {
                return Err(invalid("request_body", format!("must be all_data or selected_fields, got {other:?}")))
            }
        };
        let events = parse_events(map)?;
        let enabled = parse_enabled(map.get("enabled"))?;
        let secret = match optional_text(map, "secret")? {
            Some(text) if !text.is_empty() => Some(Secret::parse(&text).map_err(|problem| invalid("secret", problem))?),
            _ => None,
        };
        // The signature covers the id, the timestamp and the body: a GET's payload, in its URL,
        // would go unsigned under a signature that verifies whatever the query says.
        if secret.is_some() && !method.has_body() {
            return Err(invalid(
                "secret",
                "a GET request carries its payload in its URL, which the signature does not cover: sign a feed \
                 that sends a body (POST, PUT, PATCH or DELETE), or leave the secret empty",
            ));
        }
        Ok(FeedSettings { name, url, method, format, custom_headers, body, events, enabled, secret })
    }

    /// The normalised settings array, in FluentCart's keys.
    pub fn to_value(&self) -> Value {
        let headers: Vec<Value> = self
            .custom_headers
            .iter()
            .flatten()
            .map(|h| serde_json::json!({"header_name": h.name, "header_value": h.value}))
            .collect();
        let fields: Vec<Value> = match &self.body {
            Body::AllData => Vec::new(),
            Body::SelectedFields(fields) => fields
                .iter()
                .map(|f| serde_json::json!({"field_name": f.key, "field_value": f.template.source()}))
                .collect(),
        };
        serde_json::json!({
            "name": self.name,
            "request_url": self.url,
            "request_method": self.method.as_str(),
            "request_format": self.format.as_str(),
            "request_headers": if self.custom_headers.is_some() { "custom_headers" } else { "no_headers" },
            "custom_header_values": headers,
            "request_body": if matches!(self.body, Body::AllData) { "all_data" } else { "selected_fields" },
            "selected_field_values": fields,
            "event_trigger": self.events,
            "enabled": self.enabled,
        })
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "array",
    }
}

/// A string setting, trimmed; `None` when missing or null.
fn optional_text(map: &Map<String, Value>, key: &'static str) -> Result<Option<String>, InvalidFeed> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_string())),
        Some(other) => Err(invalid(key, format!("must be a string, got {}", type_name(other)))),
    }
}

fn required_text(map: &Map<String, Value>, key: &'static str) -> Result<String, InvalidFeed> {
    match optional_text(map, key)? {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(invalid(key, "is required and must not be blank")),
    }
}

fn parse_url(text: &str) -> Result<String, InvalidFeed> {
    // The URL parser would silently drop tabs and line breaks; a URL that has them was not
    // typed by a person.
    if text.chars().any(char::is_control) {
        return Err(invalid("request_url", "must not contain control characters (tabs, line breaks, NUL)"));
    }
    // The message reaches logs and admin notices: credentials in the URL stay out of it.
    let shown = crate::redact::url(text);
    let url = url::Url::parse(text).map_err(|e| {
        invalid("request_url", format!("must be an absolute http:// or https:// URL ({e}), got {shown:?}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("request_url", format!("must use http:// or https://, got {:?}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("request_url", format!("has no host: {shown:?}")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "request_url",
            "must not contain a user name or password; send credentials in a custom header",
        ));
    }
    // As normalised (an IDN host in punycode, escapes), the URL each delivery is sent to.
    let max = crate::request::MAX_URL_BYTES;
    if url.as_str().len() > max {
        let bytes = url.as_str().len();
        return Err(invalid(
            "request_url",
            format!("is {bytes} bytes, longer than the {max} an HTTP request can be sent to"),
        ));
    }
    Ok(url.to_string())
}

/// The rows of a repeatable list: a list, or a map whose keys the form left with gaps.
fn rows<'a>(map: &'a Map<String, Value>, key: &'static str) -> Result<Vec<&'a Map<String, Value>>, InvalidFeed> {
    let items: Vec<&Value> = match map.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(items)) => items.values().collect(),
        Some(other) => return Err(invalid(key, format!("must be a list of rows, got {}", type_name(other)))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, row)| match row {
            Value::Object(row) => Ok(row),
            other => Err(invalid(key, format!("row {} must be an array, got {}", index + 1, type_name(other)))),
        })
        .collect()
}

/// A cell of a row as text; numbers are accepted as the form may send them.
fn cell(row: &Map<String, Value>, list: &'static str, index: usize, column: &str) -> Result<String, InvalidFeed> {
    match row.get(column) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(other) => {
            Err(invalid(list, format!("row {}: {column} must be a string, got {}", index + 1, type_name(other))))
        }
    }
}

/// The filled-in rows of a repeatable list as (row number, name, value). A row whose name is
/// blank is what the form submits when the user adds nothing, and FluentCart skips it whatever
/// its value holds (a smartcode picked before the key was typed): refusing it would refuse the
/// whole feed, and send none of its other rows.
fn named_rows(
    map: &Map<String, Value>,
    key: &'static str,
    name_column: &str,
    value_column: &str,
) -> Result<Vec<(usize, String, String)>, InvalidFeed> {
    let mut named = Vec::new();
    for (index, row) in rows(map, key)?.into_iter().enumerate() {
        let name = cell(row, key, index, name_column)?.trim().to_string();
        // Skipped before its value is read: whatever the value holds (a list a dropdown left
        // there too), FluentCart ignores the row.
        if name.is_empty() {
            continue;
        }
        let value = cell(row, key, index, value_column)?;
        named.push((index + 1, name, value));
    }
    Ok(named)
}

fn parse_headers(map: &Map<String, Value>) -> Result<Vec<Header>, InvalidFeed> {
    const KEY: &str = "custom_header_values";
    // Slots in row order; a name seen again empties its earlier slot. (A search of the rows
    // kept so far for each row made thousands of rows take minutes.)
    let mut headers: Vec<Option<Header>> = Vec::new();
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    for (row_no, name, value) in named_rows(map, KEY, "header_name", "header_value")? {
        if !name.bytes().all(is_token_byte) {
            return Err(invalid(KEY, format!("row {row_no}: header name {name:?} is not a valid HTTP header name")));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(invalid(
                KEY,
                format!("row {row_no}: header {name:?} is set by the sender and cannot be configured"),
            ));
        }
        if let Some(bad) = value.chars().find(|c| matches!(c, '\r' | '\n' | '\0') || (c.is_control() && *c != '\t')) {
            return Err(invalid(
                KEY,
                format!("row {row_no}: the value of header {name:?} contains the control character {bad:?}"),
            ));
        }
        let value = value.trim_matches([' ', '\t']).to_string();
        // As in WordPress's header array, a later row replaces an earlier one of that name.
        if let Some(earlier) = slot_of.insert(name.to_ascii_lowercase(), headers.len()) {
            headers[earlier] = None;
        }
        headers.push(Some(Header { name, value }));
    }
    Ok(headers.into_iter().flatten().collect())
}

/// RFC 9110 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn parse_selected_fields(map: &Map<String, Value>) -> Result<Vec<SelectedField>, InvalidFeed> {
    const KEY: &str = "selected_field_values";
    let mut fields: Vec<SelectedField> = Vec::new();
    let mut keys: HashSet<String> = HashSet::new();
    for (row_no, key, template) in named_rows(map, KEY, "field_name", "field_value")? {
        if !keys.insert(key.clone()) {
            return Err(invalid(KEY, format!("row {row_no}: payload key {key:?} is used twice")));
        }
        fields.push(SelectedField { key, template: Template::parse(&template) });
    }
    if fields.is_empty() {
        return Err(invalid(KEY, "request_body is selected_fields but no field has a payload key"));
    }
    Ok(fields)
}

fn parse_events(map: &Map<String, Value>) -> Result<Vec<String>, InvalidFeed> {
    const KEY: &str = "event_trigger";
    let items: Vec<&Value> = match map.get(KEY) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(items)) => items.values().collect(),
        Some(single @ Value::String(_)) => vec![single],
        Some(other) => return Err(invalid(KEY, format!("must be a list of event names, got {}", type_name(other)))),
    };
    let mut events: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for item in items {
        let Value::String(name) = item else {
            return Err(invalid(KEY, format!("event names must be strings, got {}", type_name(item))));
        };
        let name = crate::events::normalize(name);
        if !name.is_empty() && seen.insert(name) {
            events.push(name.to_string());
        }
    }
    if events.is_empty() {
        return Err(invalid(KEY, "must name at least one event"));
    }
    Ok(events)
}

fn parse_enabled(value: Option<&Value>) -> Result<bool, InvalidFeed> {
    const KEY: &str = "enabled";
    match value {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "1" | "true" => Ok(true),
            "no" | "0" | "false" => Ok(false),
            _ => Err(invalid(KEY, format!("must be true/false, 'yes'/'no', 1/0 or '1'/'0', got {text:?}"))),
        },
        Some(other) => Err(invalid(KEY, format!("must be true/false, 'yes'/'no', 1/0 or '1'/'0', got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"name": "Slack", "request_url": "https://hooks.example.com/x", "event_trigger": ["order_paid_done"]})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut settings = minimal();
        settings[key] = value;
        settings
    }

    fn error_key(settings: Value) -> &'static str {
        FeedSettings::parse(&settings).expect_err("should be invalid").key
    }

    #[test]
    fn a_refused_url_is_shown_without_its_credentials() {
        let message = |url: &str| {
            FeedSettings::parse(&json!({"name": "n", "request_url": url, "event_trigger": ["e"]}))
                .expect_err("should be invalid")
                .to_string()
        };
        let parse_error = message("https://[crm.example/hook?token=s3cret");
        assert!(!parse_error.contains("s3cret") && parse_error.contains("token="), "{parse_error}");
        let no_host = message("https:///?api_key=s3cret");
        assert!(!no_host.contains("s3cret") && no_host.contains("api_key="), "{no_host}");
    }

    #[test]
    fn settings_that_are_not_a_map_say_what_is_missing() {
        let message = |settings: Value| FeedSettings::parse(&settings).expect_err("should be invalid").to_string();
        assert_eq!(message(json!([])), "name: is required and must not be blank");
        assert_eq!(message(json!({})), "name: is required and must not be blank");
        assert!(message(json!(["Slack"])).contains("got a list"));
        assert!(message(json!("Slack")).contains("got string"));
    }

    #[test]
    fn defaults_match_fluentcart() {
        let feed = FeedSettings::parse(&minimal()).unwrap();
        assert_eq!(feed.method, Method::Post);
        assert_eq!(feed.format, Format::Json);
        assert_eq!(feed.custom_headers, None);
        assert_eq!(feed.body, Body::AllData);
        assert!(feed.enabled);
    }

    #[test]
    fn a_full_feed_as_the_admin_screen_saves_it() {
        let settings = json!({
            "name": " Sync Orders with Accounting ",
            "request_url": "https://books.example.com/hook?src=shop",
            "request_method": "put",
            "request_format": "FORM",
            "request_headers": "custom_headers",
            "custom_header_values": [
                {"header_name": "X-Api-Key", "header_value": "s3cret"},
                {"header_name": "", "header_value": ""},
            ],
            "request_body": "selected_fields",
            "selected_field_values": {
                "0": {"field_name": "email", "field_value": "{{order.billing.email}}"},
                "2": {"field_name": "", "field_value": ""},
            },
            "event_trigger": ["order_paid_done", "order_fully_refunded", "order_paid_done"],
            "enabled": "no",
            "some_future_key": 5,
        });
        let feed = FeedSettings::parse(&settings).unwrap();
        assert_eq!(feed.name, "Sync Orders with Accounting");
        assert_eq!(feed.method, Method::Put);
        assert_eq!(feed.format, Format::Form);
        assert_eq!(feed.custom_headers.as_ref().unwrap().len(), 1);
        assert_eq!(feed.events, ["order_paid_done", "order_fully_refunded"]);
        assert!(!feed.enabled);
        let Body::SelectedFields(fields) = &feed.body else { panic!("selected fields") };
        assert_eq!(fields[0].key, "email");
        assert_eq!(feed.to_value()["selected_field_values"][0]["field_value"], "{{order.billing.email}}");
    }

    #[test]
    fn enabled_spellings() {
        for (value, expected) in [
            (json!(true), true),
            (json!("yes"), true),
            (json!(1), true),
            (json!("1"), true),
            (json!(false), false),
            (json!("no"), false),
            (json!(0), false),
            (json!("0"), false),
        ] {
            assert_eq!(FeedSettings::parse(&with("enabled", value.clone())).unwrap().enabled, expected, "{value}");
        }
        assert_eq!(error_key(with("enabled", json!("maybe"))), "enabled");
        assert_eq!(error_key(with("enabled", json!(2))), "enabled");
    }

    #[test]
    fn each_invalid_setting_names_its_key() {
        assert_eq!(error_key(with("name", json!("  "))), "name");
        assert_eq!(error_key(json!({"request_url": "https://x.test", "event_trigger": ["a"]})), "name");
        assert_eq!(error_key(with("request_url", json!(""))), "request_url");
        assert_eq!(error_key(with("request_url", json!("/relative/path"))), "request_url");
        assert_eq!(error_key(with("request_url", json!("ftp://example.com/x"))), "request_url");
        assert_eq!(error_key(with("request_url", json!("javascript:alert(1)"))), "request_url");
        assert_eq!(error_key(with("request_url", json!("https://user:pw@example.com/"))), "request_url");
        assert_eq!(error_key(with("request_url", json!("https://example.com/\r\nHost: x"))), "request_url");
        assert_eq!(error_key(with("request_method", json!("HEAD"))), "request_method");
        assert_eq!(error_key(with("request_format", json!("XML"))), "request_format");
        assert_eq!(error_key(with("request_headers", json!("some"))), "request_headers");
        assert_eq!(error_key(with("request_body", json!("everything"))), "request_body");
        assert_eq!(error_key(with("event_trigger", json!([]))), "event_trigger");
        assert_eq!(error_key(with("event_trigger", json!([""]))), "event_trigger");
        assert_eq!(error_key(with("name", json!(["x"]))), "name");
    }

    #[test]
    fn header_rows_are_checked() {
        let headers = |rows: Value| {
            let mut settings = with("request_headers", json!("custom_headers"));
            settings["custom_header_values"] = rows;
            FeedSettings::parse(&settings)
        };
        assert!(headers(json!([{"header_name": "X-Ok", "header_value": "a b"}])).is_ok());
        // A row without a name is not read further, whatever its value.
        assert!(headers(json!([{"header_name": " ", "header_value": ["a"]}, {"header_value": {"b": 1}}])).is_ok());
        for bad in [
            json!([{"header_name": "Bad Name", "header_value": "x"}]),
            json!([{"header_name": "X:y", "header_value": "x"}]),
            json!([{"header_name": "X-A", "header_value": "a\r\nInjected: 1"}]),
            json!([{"header_name": "X-A", "header_value": "a\nb"}]),
            json!([{"header_name": "X-A", "header_value": "a\0b"}]),
            json!([{"header_name": "Host", "header_value": "evil.test"}]),
            json!([{"header_name": "content-length", "header_value": "1"}]),
            json!("X-A: b"),
        ] {
            assert_eq!(headers(bad.clone()).unwrap_err().key, "custom_header_values", "{bad}");
        }
    }

    #[test]
    fn selected_field_rows_are_checked() {
        let fields = |rows: Value| {
            let mut settings = with("request_body", json!("selected_fields"));
            settings["selected_field_values"] = rows;
            FeedSettings::parse(&settings)
        };
        assert!(fields(json!([{"field_name": "a", "field_value": "{{order.id}}"}])).is_ok());
        let duplicate = json!([{"field_name": "a", "field_value": "1"}, {"field_name": "a", "field_value": "2"}]);
        assert_eq!(fields(duplicate).unwrap_err().key, "selected_field_values");
        let orphan =
            json!([{"field_name": " ", "field_value": "{{order.email}}"}, {"field_name": "a", "field_value": "1"}]);
        let Body::SelectedFields(kept) = fields(orphan).unwrap().body else { panic!("selected fields") };
        assert_eq!(kept.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["a"], "a row without a name is skipped");
        let only_orphans = json!([{"field_name": "", "field_value": "{{order.id}}"}]);
        assert_eq!(fields(only_orphans).unwrap_err().key, "selected_field_values");
        let none = json!([{"field_name": "", "field_value": ""}]);
        assert_eq!(fields(none).unwrap_err().key, "selected_field_values");
    }

    #[test]
    fn lists_are_ignored_when_their_switch_is_off() {
        let mut settings = minimal();
        settings["custom_header_values"] = json!([{"header_name": "Bad Name", "header_value": "x"}]);
        settings["selected_field_values"] = json!([{"field_name": "", "field_value": "x"}]);
        assert!(FeedSettings::parse(&settings).is_ok());
    }
}
