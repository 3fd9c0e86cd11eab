//! The HTTP request a feed makes, built the way WordPress's Requests library would send it:
//!
//! - GET: the payload goes into the query string (`http_build_query`), appended to any query
//!   the URL already has; no body and no Content-Type.
//! - POST, PUT, PATCH, DELETE: the payload is the body, `application/json` or
//!   `application/x-www-form-urlencoded`.
//! - Every request carries a User-Agent naming the extension and `X-Webhook-Event` naming the
//!   event (a feed may listen to several); a custom header may replace any of these or
//!   Content-Type. At send time the delivery adds `webhook-id` and `webhook-timestamp`
//!   (Standard Webhooks), which no feed can set.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::Value;

use crate::encode::{form, json};
use crate::memory::{self, OutOfMemory};
use crate::settings::{FeedSettings, Format, Method};
use crate::signature::Secret;

/// `fluent-webhook/<version> (PHP extension)`, sent unless a feed sets its own User-Agent.
pub const USER_AGENT: &str = concat!("fluent-webhook/", env!("CARGO_PKG_VERSION"), " (PHP extension)");

const JSON_CONTENT_TYPE: &str = "application/json";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub method: Method,
    pub url: String,
    /// In sending order; names as configured (HTTP names are case-insensitive).
    pub headers: Vec<(String, String)>,
    /// Empty for GET. Shared, not copied, by the feeds of a dispatch and by each attempt.
    pub body: Bytes,
    /// Signs every attempt (`webhook-signature`) when the feed has a secret.
    pub secret: Option<Secret>,
}

impl WebhookRequest {
    /// The value of header `name` (HTTP names are case-insensitive), if the request sets it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The headers of one attempt: the request's own plus the delivery's id and timestamp
    /// (and signature), borrowed where they can be.
    pub fn headers_for_attempt<'a>(
        &'a self,
        delivery_id: &'a str,
        timestamp: u64,
    ) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + 'a {
        let own = self.headers.iter().map(|(name, value)| (name.as_str(), Cow::Borrowed(value.as_str())));
        let signature = self
            .secret
            .as_ref()
            .map(|secret| ("webhook-signature", Cow::Owned(secret.sign(delivery_id, timestamp, &self.body))));
        own.chain([
            ("webhook-id", Cow::Borrowed(delivery_id)),
            ("webhook-timestamp", Cow::Owned(timestamp.to_string())),
        ])
        .chain(signature)
    }
}

/// Why no request was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The payload would pass the limit on its size.
    TooLarge(String),
    /// The encodings lack the one this feed needs (made by [`crate::feed::sinks_for`] for
    /// other feeds).
    NotEncoded(String),
    /// The allocator refused memory for the body or URL (see crate::memory).
    OutOfMemory(OutOfMemory),
}

impl From<OutOfMemory> for RequestError {
    fn from(refused: OutOfMemory) -> Self {
        RequestError::OutOfMemory(refused)
    }
}

/// Names the event that fired, since one feed may listen to several.
pub const EVENT_HEADER: &str = "X-Webhook-Event";

pub fn build(settings: &FeedSettings, event: &str, payload: &Value) -> WebhookRequest {
    if !settings.method.has_body() {
        return with_query(settings, event, &form::encode(payload)).unwrap_or_else(|refused| refused.abort());
    }
    let body = match settings.format {
        Format::Json => json::encode(payload),
        Format::Form => form::encode(payload).into_bytes(),
    };
    assemble(settings, event, settings.url.clone(), body.into())
}

/// [`build`], refusing a form body or GET query that passes `limit` bytes before it is
/// written whole (see [`form::FormWriter::within`]). A JSON body is encoded whole: the caller
/// bounds its payload ([`crate::payload::build_within`]) and checks its size. Memory the
/// allocator refuses for the body or URL is an error too.
pub fn build_within(
    settings: &FeedSettings,
    event: &str,
    payload: &Value,
    limit: usize,
) -> Result<WebhookRequest, RequestError> {
    if settings.format == Format::Json && settings.method.has_body() {
        return Ok(with_body(settings, event, json::try_encode(payload)?.into()));
    }
    let encoded =
        form::encode_within(payload, limit)?.ok_or_else(|| RequestError::TooLarge(form_too_large(settings, limit)))?;
    Ok(if settings.method.has_body() {
        assemble(settings, event, settings.url.clone(), Bytes::from(encoded))
    } else {
        with_query(settings, event, &encoded)?
    })
}

/// Why a feed's form body or GET query was refused before it was written whole.
pub fn form_too_large(settings: &FeedSettings, limit: usize) -> String {
    let what = if settings.method.has_body() { "form body" } else { "URL" };
    format!(
        "the {what} for feed {:?} passes fluent_webhook.max_payload_bytes ({limit} bytes) once encoded",
        settings.name
    )
}

/// The request of a feed whose method carries a body, with the body already encoded in the
/// feed's format (one encoding shared by the feeds that send the same data).
pub fn with_body(settings: &FeedSettings, event: &str, body: Bytes) -> WebhookRequest {
    debug_assert!(settings.method.has_body());
    assemble(settings, event, settings.url.clone(), body)
}

/// The request of a feed that sends GET, with the payload already encoded as a query.
pub fn with_query(settings: &FeedSettings, event: &str, query: &str) -> Result<WebhookRequest, OutOfMemory> {
    Ok(assemble(settings, event, append_query(&settings.url, query)?, Bytes::new()))
}

fn assemble(settings: &FeedSettings, event: &str, url: String, body: Bytes) -> WebhookRequest {
    let mut headers =
        vec![("User-Agent".to_string(), USER_AGENT.to_string()), (EVENT_HEADER.to_string(), event.to_string())];
    if settings.method.has_body() {
        let content_type = match settings.format {
            Format::Json => JSON_CONTENT_TYPE,
            Format::Form => FORM_CONTENT_TYPE,
        };
        headers.push(("Content-Type".to_string(), content_type.to_string()));
    }
    for custom in settings.custom_headers.iter().flatten() {
        match headers.iter_mut().find(|(name, _)| name.eq_ignore_ascii_case(&custom.name)) {
            Some(existing) => *existing = (custom.name.clone(), custom.value.clone()),
            None => headers.push((custom.name.clone(), custom.value.clone())),
        }
    }
    WebhookRequest { method: settings.method, url, headers, body, secret: settings.secret.clone() }
}

/// The request `settings` makes now for the body that `sent` carried: a resend after the feed
/// was edited goes to its current address, with its current method, headers and secret. The
/// body stays as it was sent, so the feed must still send a body, with the same Content-Type.
pub fn resent_as(settings: &FeedSettings, event: &str, sent: &WebhookRequest) -> Result<WebhookRequest, String> {
    if !sent.method.has_body() {
        return Err("it was a GET request, with its payload in its URL, which can only be sent again as it was".into());
    }
    if !settings.method.has_body() {
        return Err("the feed now sends GET, with the payload in the URL, and this payload is a body".into());
    }
    let request = assemble(settings, event, settings.url.clone(), sent.body.clone());
    let (was, now) = (media_type(sent), media_type(&request));
    if !was.eq_ignore_ascii_case(now) {
        return Err(format!("its body is {was}, and the feed now sends {now}"));
    }
    Ok(request)
}

/// The request's Content-Type without its parameters (`; charset=…`).
fn media_type(request: &WebhookRequest) -> &str {
    request.header("content-type").unwrap_or_default().split(';').next().unwrap_or_default().trim()
}

/// The longest URL a request can be sent to: the `http` crate's limit on a URI, under
/// reqwest, which refuses a longer one on every attempt ("Parsed Url is not a valid Uri").
pub const MAX_URL_BYTES: usize = u16::MAX as usize - 1;

/// Refuses a request whose payload (the body, or the URL for GET) is larger than `limit` bytes,
/// and a GET whose query makes its URL longer than a request can be sent to.
pub fn check_size(request: &WebhookRequest, feed_name: &str, limit: usize) -> Result<(), String> {
    let (what, size) =
        if request.method.has_body() { ("body", request.body.len()) } else { ("URL", request.url.len()) };
    if size > limit {
        return Err(format!(
            "the {what} for feed {feed_name:?} is {size} bytes, over fluent_webhook.max_payload_bytes ({limit} bytes)"
        ));
    }
    if request.url.len() > MAX_URL_BYTES {
        return Err(format!(
            "the URL for feed {feed_name:?} is {} bytes, longer than the {MAX_URL_BYTES} an HTTP request can be sent to",
            request.url.len()
        ));
    }
    Ok(())
}

/// Appends `query` to the URL's query string (before any fragment); the query is the
/// payload, of any size.
fn append_query(url: &str, query: &str) -> Result<String, OutOfMemory> {
    if query.is_empty() {
        return Ok(url.to_string());
    }
    let (base, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let separator = match base.find('?') {
        None => "?",
        Some(at) if at + 1 == base.len() || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut joined = String::new();
    memory::reserve_text(&mut joined, url.len() + separator.len() + query.len())?;
    for part in [base, separator, query, fragment] {
        joined.push_str(part);
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::FeedSettings;
    use serde_json::json;

    fn settings(extra: Value) -> FeedSettings {
        let mut settings = json!({"name": "t", "request_url": "https://h.test/hook?a=1", "event_trigger": ["x"]});
        for (key, value) in extra.as_object().unwrap() {
            settings[key] = value.clone();
        }
        FeedSettings::parse(&settings).unwrap()
    }

    #[test]
    fn a_resend_takes_the_feeds_current_request_and_the_body_as_sent() {
        let sent = build(&settings(json!({})), "order_paid_done", &json!({"id": 1}));
        let moved = settings(json!({
            "request_url": "https://new.test/hook", "request_method": "PUT", "request_headers": "custom_headers",
            "custom_header_values": [{"header_name": "X-Key", "header_value": "k2"}]
        }));
        let again = resent_as(&moved, "order_paid_done", &sent).unwrap();
        assert_eq!((again.method, again.url.as_str()), (Method::Put, "https://new.test/hook"));
        assert_eq!(again.body, sent.body);
        assert_eq!(again.header("x-key"), Some("k2"));
        assert_eq!(again.header("x-webhook-event"), Some("order_paid_done"));
        let charset = settings(json!({"request_headers": "custom_headers",
            "custom_header_values": [{"header_name": "Content-Type", "header_value": "Application/JSON; charset=utf-8"}]}));
        assert!(resent_as(&charset, "order_paid_done", &sent).is_ok(), "the same media type, with a parameter");
    }

    #[test]
    fn a_resend_refuses_a_payload_the_feed_would_not_send_that_way() {
        let json = build(&settings(json!({})), "e", &json!({"id": 1}));
        let get = build(&settings(json!({"request_method": "GET"})), "e", &json!({"id": 1}));
        let refused = |settings: FeedSettings, sent: &WebhookRequest| resent_as(&settings, "e", sent).unwrap_err();
        assert!(refused(settings(json!({"request_format": "FORM"})), &json)
            .contains("its body is application/json, and the feed now sends application/x-www-form-urlencoded"));
        assert!(refused(settings(json!({"request_method": "GET"})), &json).contains("now sends GET"));
        assert!(refused(settings(json!({})), &get).contains("it was a GET request"));
    }

    #[test]
    fn json_post() {
        let request = build(&settings(json!({})), "order_paid_done", &json!({"id": 1, "url": "a/b"}));
        assert_eq!(request.url, "https://h.test/hook?a=1");
        assert_eq!(request.body, &br#"{"id":1,"url":"a\/b"}"#[..]);
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("user-agent"), Some(USER_AGENT));
        assert_eq!(request.header("x-webhook-event"), Some("order_paid_done"));
    }

    #[test]
    fn form_delete_carries_a_body() {
        let request =
            build(&settings(json!({"request_method": "DELETE", "request_format": "FORM"})), "e", &json!({"a": [1, 2]}));
        assert_eq!(request.body, &b"a%5B0%5D=1&a%5B1%5D=2"[..]);
        assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    }

    #[test]
    fn get_appends_the_payload_to_the_query() {
        let request = build(&settings(json!({"request_method": "GET"})), "e", &json!({"b": "x y"}));
        assert_eq!(request.url, "https://h.test/hook?a=1&b=x+y");
        assert!(request.body.is_empty());
        assert_eq!(request.header("content-type"), None);
        assert_eq!(append_query("https://h.test/p#frag", "b=1").unwrap(), "https://h.test/p?b=1#frag");
        assert_eq!(append_query("https://h.test/p?", "b=1").unwrap(), "https://h.test/p?b=1");
        assert_eq!(append_query("https://h.test/p", "").unwrap(), "https://h.test/p");
    }

    #[test]
    fn payload_size_limit() {
        let request = build(&settings(json!({})), "e", &json!({"a": "x".repeat(100)}));
        assert!(check_size(&request, "f", 200).is_ok());
        let refused = check_size(&request, "f", 50).unwrap_err();
        assert!(refused.contains("over fluent_webhook.max_payload_bytes"), "{refused}");
        let get = build(&settings(json!({"request_method": "GET"})), "e", &json!({"a": "x".repeat(100)}));
        assert!(check_size(&get, "f", 50).unwrap_err().contains("URL"));
        // Within max_payload_bytes, but past what a request can be sent to.
        let base = "https://h.test/hook?a=1&x=".len();
        let at_most =
            build(&settings(json!({"request_method": "GET"})), "e", &json!({"x": "y".repeat(MAX_URL_BYTES - base)}));
        assert!(check_size(&at_most, "f", 1 << 20).is_ok());
        let past = build(
            &settings(json!({"request_method": "GET"})),
            "e",
            &json!({"x": "y".repeat(MAX_URL_BYTES + 1 - base)}),
        );
        assert!(check_size(&past, "f", 1 << 20).unwrap_err().contains("longer than the 65534"));
    }

    #[test]
    fn custom_headers_replace_defaults() {
        let request = build(
            &settings(json!({
                "request_headers": "custom_headers",
                "custom_header_values": [
                    {"header_name": "content-type", "header_value": "application/vnd.api+json"},
                    {"header_name": "User-Agent", "header_value": "Shop/1"},
                    {"header_name": "X-Api-Key", "header_value": "k"},
                ],
            })),
            "e",
            &json!({}),
        );
        assert_eq!(request.header("Content-Type"), Some("application/vnd.api+json"));
        assert_eq!(request.header("user-agent"), Some("Shop/1"));
        assert_eq!(request.header("x-api-key"), Some("k"));
        assert_eq!(request.headers.len(), 4);
        let attempt: Vec<_> = request.headers_for_attempt("msg_1", 1700000000).collect();
        assert_eq!(attempt[4], ("webhook-id", "msg_1".into()));
        assert_eq!(attempt[5], ("webhook-timestamp", "1700000000".into()));
        assert_eq!(attempt.len(), 6, "no signature without a secret");
    }
}
