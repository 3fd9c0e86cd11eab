//! Smartcode templates: the values of "Selected Fields", such as `{{order.billing.email}}`.
//!
//! The syntax is FluentCart's (`SmartCodeParser`, `ValueTransformer`, `OrderParser`):
//!
//! - `{{path}}` or `##path##`: a dot path into the event data (`order.order_items.0.title`).
//!   Text around codes is kept: `Order #{{order.id}} paid`.
//! - `{{path|default}}`: the default replaces an empty value (PHP's `empty()`).
//! - `{{path||transformer|arg}}`: `trim`, `ucfirst`, `strtolower`, `strtoupper`, `ucwords`,
//!   `title_case`, `headline` (the arg replaces an empty value first), `concat_first` /
//!   `concat_last` (prefix / suffix the arg when the value is non-empty), `show_if` (the arg
//!   when the value is non-empty, else empty). As in FluentCart, the arg is trimmed. An
//!   unknown transformer leaves the value as it is.
//! - A code whose path does not exist, with no default (`|default`, or the arg of a
//!   transformer that takes it as one), stays in the text exactly as written, with a
//!   transformer too. A path that exists with a `null` value renders empty.
//! - Money columns of `order` and `subscription` are integer cents and render divided by 100
//!   (`10415` → `104.15`); `order.X_formatted` adds the currency (see [`format_money`]).
//! - `order.billing.X` / `order.shipping.X` read `order.billing_address` /
//!   `order.shipping_address` when the event data has no `billing` / `shipping` key, and
//!   render empty when the order has no such address or the address no such field.
//!
//! A template that is exactly one code with no transformer keeps the value's JSON type (a
//! number stays a number, an array stays an array), except `null`, which renders empty as it
//! does in text, so that the payload key is sent in form bodies and queries too. Anywhere
//! else a value becomes text as PHP's string conversion writes it, except arrays and objects,
//! which become JSON (PHP would write the useless word `Array`).

use std::borrow::Cow;

use serde_json::Value;

use crate::encode::{json, php_float};

/// Order columns that FluentCart stores as integer cents (OrderParser::$centColumns).
const ORDER_CENT_COLUMNS: &[&str] = &[
    "total_amount",
    "subtotal",
    "discount_tax",
    "manual_discount_total",
    "coupon_discount_total",
    "shipping_tax",
    "shipping_total",
    "fee_total",
    "tax_total",
    "total_paid",
    "total_refund",
];

/// Subscription columns stored as integer cents.
const SUBSCRIPTION_CENT_COLUMNS: &[&str] =
    &["signup_fee", "initial_tax_total", "recurring_amount", "recurring_tax_total", "recurring_total"];

/// What a payload may still grow by while it renders, in bytes of its body at least.
///
/// A code copies its value, and one template or one feed may hold thousands of codes of the
/// same large value: without a bound, a 1 MB string behind `{{order.note}}` written 100,000
/// times is a 100 GB string, an allocation failure that aborts the process. Every value is
/// measured (by reference) before it is copied or made text; once the body could not fit in
/// the limit, rendering stops. Text counts its bytes. A value a lone code copies counts one
/// unit, plus the bytes of its strings and map keys: no more than its JSON (where `null`,
/// `""`, `[]` take 4, 2 and 2 bytes), and never more than one unit per value over a form
/// body, which leaves nulls and empty lists out.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    left: usize,
}

/// Rendering stopped: the payload would pass its [`Budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget { left: limit }
    }

    /// No bound, for callers that check nothing.
    pub fn unlimited() -> Budget {
        Budget::new(usize::MAX)
    }

    pub fn spend(&mut self, units: usize) -> Result<(), OverBudget> {
        self.left = self.left.checked_sub(units).ok_or(OverBudget)?;
        Ok(())
    }

    /// Spends at most what [`to_text`] of `value` writes (what [`Budget::measure`] counts for
    /// an array or map, whose text is JSON), walking it at most as far as the budget reaches.
    fn measure_text(&mut self, value: &Value) -> Result<(), OverBudget> {
        match value {
            Value::Null | Value::Bool(false) => Ok(()),
            Value::Bool(true) | Value::Number(_) => self.spend(1),
            Value::String(text) => self.spend(text.len()),
            Value::Array(_) | Value::Object(_) => self.measure(value),
        }
    }

    /// Spends what `value` counts, walking it at most as far as the budget reaches.
    pub fn measure(&mut self, value: &Value) -> Result<(), OverBudget> {
        self.spend(1)?;
        match value {
            Value::String(text) => self.spend(text.len()),
            Value::Array(items) => items.iter().try_for_each(|item| self.measure(item)),
            Value::Object(map) => map.iter().try_for_each(|(key, item)| {
                self.spend(key.len())?;
                self.measure(item)
            }),
            _ => Ok(()),
        }
    }
}

/// A parsed template; parse once when the feed is built, render for every event.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Code(Code),
}

#[derive(Debug, Clone, PartialEq)]
struct Code {
    /// The code with its wrappers, as the user wrote it; kept when the path is unknown.
    written: String,
    path: Vec<String>,
    default: Option<String>,
    transformer: Option<Transformer>,
}

#[derive(Debug, Clone, PartialEq)]
struct Transformer {
    name: String,
    arg: String,
}

impl Template {
    /// Parses a template. Never fails: anything that is not a complete code is text.
    pub fn parse(source: &str) -> Template {
        let mut parts = Vec::new();
        let mut text_start = 0;
        let mut cursor = 0;
        while let Some(open) = find_opener(source, cursor) {
            let mut body_start = open;
            while source[body_start..].starts_with("{{") || source[body_start..].starts_with("##") {
                body_start += 2;
            }
            let (body_end, close_end) = match find_closer(source, body_start) {
                Ok(found) => found,
                Err(line_end) => {
                    cursor = line_end;
                    continue;
                }
            };
            let body = source[body_start..body_end].trim();
            if body.is_empty() {
                cursor = close_end;
                continue;
            }
            if text_start < open {
                parts.push(Part::Text(source[text_start..open].to_string()));
            }
            parts.push(Part::Code(Code::parse(&source[open..close_end], body)));
            text_start = close_end;
            cursor = close_end;
        }
        if text_start < source.len() {
            parts.push(Part::Text(source[text_start..].to_string()));
        }
        Template { source: source.to_string(), parts }
    }

    /// The template as the user wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template against the event data.
    pub fn render(&self, data: &Value) -> Value {
        self.render_within(data, &mut Budget::unlimited()).unwrap_or(Value::Null)
    }

    /// Renders the template against the event data, spending `budget` on what it copies and
    /// writes; stops as soon as it would pass it.
    pub fn render_within(&self, data: &Value, budget: &mut Budget) -> Result<Value, OverBudget> {
        if let [Part::Code(code)] = self.parts.as_slice() {
            if code.transformer.is_none() {
                return code.render_typed(data, budget);
            }
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    budget.spend(text.len())?;
                    out.push_str(text);
                }
                Part::Code(code) => out.push_str(&code.render_text(data, budget)?),
            }
        }
        Ok(Value::String(out))
    }
}

/// The first `{{` or `##` at or after `from`. One forward scan: templates can be long.
fn find_opener(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    (from..bytes.len().saturating_sub(1)).find(|&i| matches!(&bytes[i..i + 2], b"{{" | b"##"))
}

/// The nearest `}}` or `##` after `from` on the same line: (end of body, end of closer), or
/// where the line ends when there is none (FluentCart's pattern uses `.`, which stops at a
/// newline, so no code on the rest of that line can close either).
fn find_closer(source: &str, from: usize) -> Result<(usize, usize), usize> {
    let bytes = source.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => return Err(i),
            b'}' | b'#' if bytes.get(i + 1) == Some(&bytes[i]) => return Ok((i, i + 2)),
            _ => i += 1,
        }
    }
    Err(bytes.len())
}

impl Code {
    fn parse(written: &str, body: &str) -> Code {
        let pieces: Vec<&str> = body.split('|').collect();
        let path = pieces[0].trim().split('.').map(|segment| segment.trim().to_string()).collect();
        let (default, transformer) = match pieces.len() {
            1 => (None, None),
            2 => (Some(pieces[1].trim().to_string()).filter(|d| !d.is_empty()), None),
            _ => {
                let name = pieces[2].trim().to_string();
                let arg = pieces.get(3).map_or("", |arg| arg.trim());
                let transformer = Transformer { name, arg: arg.to_string() };
                (None, Some(transformer).filter(|t| !t.name.is_empty()))
            }
        };
        Code { written: written.to_string(), path, default, transformer }
    }

    /// A lone code keeps the JSON type of its value. The value is measured before it is
    /// copied.
    fn render_typed(&self, data: &Value, budget: &mut Budget) -> Result<Value, OverBudget> {
        let text = |text: &String, budget: &mut Budget| {
            budget.spend(1 + text.len())?;
            Ok(Value::String(text.clone()))
        };
        match (lookup(data, &self.path), &self.default) {
            (Some(value), Some(default)) if is_empty(&value) => text(default, budget),
            // Empty text, as in running text and in FluentCart's rendering: a null would leave
            // the owner's payload key out of a form body or GET query (http_build_query
            // drops nulls).
            (Some(value), None) if value.is_null() => text(&String::new(), budget),
            (Some(value), _) => {
                budget.measure(&value)?;
                Ok(value.into_owned())
            }
            (None, Some(default)) => text(default, budget),
            (None, None) => text(&self.written, budget),
        }
    }

    /// A code in running text. The value is measured before its text is made, and the text
    /// is then spent as it is: the whole string's bytes, as JSON or a form body writes them.
    fn render_text(&self, data: &Value, budget: &mut Budget) -> Result<String, OverBudget> {
        let value = lookup(data, &self.path);
        // show_if writes its arg, not the value, whose text it only tests for emptiness: a
        // value of any size renders a few bytes, and need not be measured or made text.
        let show_if = self.transformer.as_ref().is_some_and(|t| t.name == "show_if");
        if let Some(value) = value.as_ref().filter(|_| !show_if) {
            let mut probe = *budget;
            probe.measure_text(value)?;
        }
        let text_of = |value: &Value| match value {
            Value::String(text) if show_if && !is_empty_text(text) => "1".to_string(),
            Value::Array(_) | Value::Object(_) if show_if => "1".to_string(),
            other => to_text(other),
        };
        let text = match (&self.transformer, value, &self.default) {
            // Unresolved, it stays as written, as a code without a transformer does, unless
            // the transformer's arg stands for an empty value (a default by another name).
            (Some(transformer), None, _) if !transformer.takes_default() => self.written.clone(),
            (Some(transformer), value, _) => transformer.apply(value.as_deref().map(text_of).unwrap_or_default()),
            (None, Some(value), Some(default)) if is_empty(&value) => default.clone(),
            (None, Some(value), _) => to_text(&value),
            (None, None, Some(default)) => default.clone(),
            (None, None, None) => self.written.clone(),
        };
        budget.spend(text.len())?;
        Ok(text)
    }
}

impl Transformer {
    fn apply(&self, value: String) -> String {
        let empty = is_empty_text(&value);
        let arg = self.arg.clone();
        let value = if empty && !arg.is_empty() && !self.uses_arg_as_text() { arg.clone() } else { value };
        match self.name.as_str() {
            "trim" => php_trim(&value).to_string(),
            "strtolower" => value.to_ascii_lowercase(),
            "strtoupper" => value.to_ascii_uppercase(),
            "ucfirst" => ucfirst(&value),
            "ucwords" => ucwords(&value),
            "title_case" => title_case(&value),
            "headline" => headline(&value),
            "concat_first" if !empty => php_trim(&format!("{arg}{value}")).to_string(),
            "concat_last" if !empty => php_trim(&format!("{value}{arg}")).to_string(),
            "show_if" => {
                if empty {
                    String::new()
                } else {
                    arg
                }
            }
            _ => value,
        }
    }

    /// For these the arg is part of the output, never a default.
    fn uses_arg_as_text(&self) -> bool {
        matches!(self.name.as_str(), "concat_first" | "concat_last" | "show_if")
    }

    /// Whether the arg replaces an empty value before the transformer runs.
    fn takes_default(&self) -> bool {
        !self.arg.is_empty() && !self.uses_arg_as_text()
    }
}

/// Resolves a dot path, applying FluentCart's money and address rules; a value of the data
/// is borrowed, not copied.
fn lookup<'a>(data: &'a Value, path: &[String]) -> Option<Cow<'a, Value>> {
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["order", field] => {
            if let Some(column) = field.strip_suffix("_formatted").filter(|c| ORDER_CENT_COLUMNS.contains(c)) {
                let order = walk(data, &["order"])?;
                let cents = walk(order, &[column])?;
                let currency = walk(order, &["currency"]).and_then(Value::as_str).unwrap_or("");
                return Some(match cents_value(cents) {
                    Some(amount) => Cow::Owned(Value::String(format_money(amount, currency))),
                    None => Cow::Borrowed(cents),
                });
            }
            let value = walk(data, &segments)?;
            Some(money_if(ORDER_CENT_COLUMNS.contains(field), value))
        }
        ["subscription", field] => {
            let value = walk(data, &segments)?;
            Some(money_if(SUBSCRIPTION_CENT_COLUMNS.contains(field), value))
        }
        ["order", address @ ("billing" | "shipping"), rest @ ..] if !rest.is_empty() => {
            if let Some(value) = walk(data, &segments) {
                return Some(Cow::Borrowed(value));
            }
            let table = format!("{address}_address");
            let mut aliased = vec!["order", table.as_str()];
            aliased.extend_from_slice(rest);
            // An order without that address (digital goods ship nowhere), or an address
            // without that field, renders empty in FluentCart, not as the code: these are
            // codes its admin screen offers, not typos.
            Some(walk(data, &aliased).map_or(Cow::Owned(Value::Null), Cow::Borrowed))
        }
        _ => walk(data, &segments).map(Cow::Borrowed),
    }
}

fn walk<'a>(data: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(data, |node, segment| match node {
        Value::Object(map) => map.get(*segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn money_if(is_money: bool, value: &Value) -> Cow<'_, Value> {
    match is_money.then(|| cents_value(value)).flatten() {
        Some(amount) => Cow::Owned(amount),
        None => Cow::Borrowed(value),
    }
}

/// Cents as FluentCart renders them, `$amount / 100` in PHP: an int when it divides evenly.
fn cents_value(value: &Value) -> Option<Value> {
    let cents = match value {
        Value::Number(n) => n.clone(),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Into::into)
            .or_else(|_| s.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64).ok_or(()))
            .ok()?,
        _ => return None,
    };
    if let Some(whole) = cents.as_i64() {
        if whole % 100 == 0 {
            return Some(Value::from(whole / 100));
        }
    }
    serde_json::Number::from_f64(cents.as_f64()? / 100.0).map(Value::Number)
}

/// `X_formatted` columns: the amount with two decimals and the currency's symbol. FluentCart
/// uses the store's currency settings, which the extension does not see; this is the common
/// case (symbol first, `.` for decimals), and unknown currencies show their ISO code.
pub fn format_money(amount: Value, currency: &str) -> String {
    let number = amount.as_f64().unwrap_or(0.0);
    let symbol = match currency.to_ascii_uppercase().as_str() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "AUD" => "A$",
        "CAD" => "C$",
        "SEK" | "NOK" | "DKK" => "kr",
        "BDT" => "৳",
        _ => "",
    };
    if symbol.is_empty() {
        format!("{number:.2} {currency}").trim_end().to_string()
    } else {
        format!("{symbol}{number:.2}")
    }
}

/// PHP's `empty()` for a value.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => is_empty_text(s),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

fn is_empty_text(text: &str) -> bool {
    text.is_empty() || text == "0"
}

/// A value in running text, as PHP's string conversion writes it (arrays as JSON).
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null | Value::Bool(false) => String::new(),
        Value::Bool(true) => "1".to_string(),
        Value::Number(n) if n.is_f64() => php_float::to_php_string(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => String::from_utf8(json::encode(value)).unwrap_or_default(),
    }
}

fn php_trim(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0B'))
}

fn ucfirst(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn ucwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for ch in text.chars() {
        out.push(if at_word_start { ch.to_ascii_uppercase() } else { ch });
        at_word_start = matches!(ch, ' ' | '\t' | '\r' | '\n' | '\x0C' | '\x0B');
    }
    out
}

/// `mb_convert_case($text, MB_CASE_TITLE)` as PHP 8.2 runs it (Laravel's `Str::title`): a
/// character is title-cased when the last one before it that is not case-ignorable is not a
/// cased letter. So a digit, a space, `-` or `_` ends a word, and an apostrophe, a period, a
/// colon or a combining mark does not (`3Rd`, `J.r.r.`, `O'neil`).
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_word = false;
    for ch in text.chars() {
        if in_word {
            out.extend(ch.to_lowercase());
        } else {
            out.extend(to_title(ch));
        }
        if !is_case_ignorable(ch) {
            // Cased: a letter with an upper, lower or title case of its own.
            in_word = ch.is_lowercase() || ch.is_uppercase() || matches!(ch, 'ǅ' | 'ǈ' | 'ǋ' | 'ǲ');
        }
    }
    out
}

/// Unicode's title case of a character: its upper case, except the four digraphs that have a
/// title-case form of their own (`ǆ` → `ǅ`).
fn to_title(ch: char) -> impl Iterator<Item = char> {
    let digraph = match ch {
        'Ǆ' | 'ǅ' | 'ǆ' => Some('ǅ'),
        'Ǉ' | 'ǈ' | 'ǉ' => Some('ǈ'),
        'Ǌ' | 'ǋ' | 'ǌ' => Some('ǋ'),
        'Ǳ' | 'ǲ' | 'ǳ' => Some('ǲ'),
        _ => None,
    };
    let upper = digraph.is_none().then(|| ch.to_uppercase());
    digraph.into_iter().chain(upper.into_iter().flatten())
}

/// Unicode's Case_Ignorable as far as text in an order reaches: the apostrophes, periods and
/// colons that join a word (Word_Break MidLetter, MidNumLet, Single_Quote), the spacing accents
/// and the soft hyphen, and the combining diacritical marks.
fn is_case_ignorable(ch: char) -> bool {
    matches!(
        ch,
        '\'' | '.'
            | ':'
            | '^'
            | '`'
            | '\u{A8}'
            | '\u{AD}'
            | '\u{AF}'
            | '\u{B4}'
            | '\u{B7}'
            | '\u{B8}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{2024}'
            | '\u{2027}'
    ) || ('\u{300}'..='\u{36F}').contains(&ch)
}

/// Laravel's `Str::headline`: words split on spaces, `_`, `-` and case changes, title-cased,
/// joined with single spaces (`order_paid_done` → `Order Paid Done`).
fn headline(text: &str) -> String {
    let words: Vec<String> = if text.contains(' ') {
        text.split(' ').map(title_case).collect()
    } else {
        split_before_uppercase(text).iter().map(|w| title_case(w)).collect()
    };
    words.join("_").split(['-', '_', ' ']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

fn split_before_uppercase(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for ch in text.chars() {
        if ch.is_uppercase() || words.is_empty() {
            words.push(String::new());
        }
        if let Some(last) = words.last_mut() {
            last.push(ch);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "order": {
                "id": 1042, "status": "processing", "currency": "USD",
                "total_amount": 10415, "shipping_total": 4900, "tax_total": "925",
                "note": null, "coupon_discount_total": 0,
                "billing_address": {"email": "zoe@example.com", "first_name": "zoë", "city": "Göteborg"},
                "shipping": {"city": "Malmö"},
                "order_items": [{"title": "Mug"}, {"title": "Guide"}],
            },
            "subscription": {"recurring_total": 1875},
            "tags": ["a", "b"],
        })
    }

    fn render(template: &str) -> Value {
        Template::parse(template).render(&order())
    }

    #[test]
    fn lone_code_keeps_json_type() {
        assert_eq!(render("{{order.id}}"), json!(1042));
        assert_eq!(render("{{tags}}"), json!(["a", "b"]));
        assert_eq!(render("##order.id##"), json!(1042));
        assert_eq!(render("{{ order.status }}"), json!("processing"));
    }

    #[test]
    fn text_around_codes_is_kept() {
        assert_eq!(render("Order #{{order.id}} is {{order.status}}"), json!("Order #1042 is processing"));
        assert_eq!(render("Tags: {{tags}}"), json!(r#"Tags: ["a","b"]"#));
    }

    #[test]
    fn money_columns_are_cents() {
        assert_eq!(render("{{order.total_amount}}"), json!(104.15));
        assert_eq!(render("{{order.shipping_total}}"), json!(49));
        assert_eq!(render("{{order.tax_total}}"), json!(9.25));
        assert_eq!(render("{{subscription.recurring_total}}"), json!(18.75));
        assert_eq!(render("Total {{order.total_amount}}"), json!("Total 104.15"));
        assert_eq!(render("{{order.total_amount_formatted}}"), json!("$104.15"));
    }

    #[test]
    fn addresses_fall_back_to_address_tables() {
        assert_eq!(render("{{order.billing.email}}"), json!("zoe@example.com"));
        assert_eq!(render("{{order.shipping.city}}"), json!("Malmö"));
        assert_eq!(render("{{order.order_items.1.title}}"), json!("Guide"));
        assert_eq!(render("{{order.billing.phone}}"), json!(""), "a field the address lacks is empty");
        let digital = json!({"order": {"id": 1, "shipping_address": null}});
        assert_eq!(Template::parse("to {{order.shipping.city}}").render(&digital), json!("to "));
        assert_eq!(Template::parse("{{order.shipping.city|none}}").render(&digital), json!("none"));
    }

    #[test]
    fn defaults_replace_empty_values() {
        assert_eq!(render("{{order.note|none}}"), json!("none"));
        assert_eq!(render("{{order.coupon_discount_total|no coupon}}"), json!("no coupon"));
        assert_eq!(render("{{order.missing|n/a}}"), json!("n/a"));
        assert_eq!(render("{{order.status|n/a}}"), json!("processing"));
    }

    #[test]
    fn unresolved_codes_stay_as_written() {
        assert_eq!(render("{{order.nope}}"), json!("{{order.nope}}"));
        assert_eq!(render("Hi {{customer.name}}!"), json!("Hi {{customer.name}}!"));
        assert_eq!(render("{{order.note}}"), json!(""), "null renders empty, a lone code too");
        assert_eq!(render("{{order.nope||strtoupper}}"), json!("{{order.nope||strtoupper}}"));
        assert_eq!(render("a ##nothing.here||show_if|yes## b"), json!("a ##nothing.here||show_if|yes## b"));
        assert_eq!(render("{{order.nope||strtoupper|n/a}}"), json!("N/A"), "the arg stands for the value");
        assert_eq!(render("[{{order.note}}]"), json!("[]"));
    }

    #[test]
    fn transformers() {
        assert_eq!(render("{{order.billing.first_name||ucfirst}}"), json!("Zoë"));
        assert_eq!(render("{{order.status||strtoupper}}"), json!("PROCESSING"));
        assert_eq!(render("{{order.billing.first_name||title_case}}"), json!("Zoë"));
        assert_eq!(render("{{order.billing.first_name||concat_first|Hi,}}"), json!("Hi,zoë"));
        assert_eq!(render("{{order.status||concat_last|!}}"), json!("processing!"));
        assert_eq!(render("{{order.note||concat_last|!}}"), json!(""));
        assert_eq!(render("{{order.status||show_if|yes}}"), json!("yes"));
        assert_eq!(render("{{order.note||show_if|yes}}"), json!(""));
        assert_eq!(render("{{order.note||strtoupper|none}}"), json!("NONE"));
        assert_eq!(render("{{order.status||unknown}}"), json!("processing"));
        assert_eq!(render("{{order.id||trim}}"), json!("1042"));
    }

    #[test]
    fn case_helpers_follow_php() {
        assert_eq!(ucwords("hello wide\tworld"), "Hello Wide\tWorld");
        assert_eq!(ucfirst("élan"), "élan");
        assert_eq!(title_case("hELLO o'neil-smith"), "Hello O'neil-Smith");
        // Printed by PHP 8.2's mb_convert_case($text, MB_CASE_TITLE, 'UTF-8'), which Laravel's
        // Str::title (FluentCart's title_case) calls: a digit ends a word, a period, colon or
        // combining mark does not.
        for (text, php) in [
            ("3rd place", "3Rd Place"),
            ("12b main st", "12B Main St"),
            ("x2y", "X2Y"),
            ("j.r.r. tolkien", "J.r.r. Tolkien"),
            ("a.b_c", "A.b_C"),
            ("zoe.smith@example.com", "Zoe.smith@Example.com"),
            ("foo:bar", "Foo:bar"),
            ("o’neil", "O’neil"),
            ("e\u{301}cole", "E\u{301}cole"),
            ("st. john", "St. John"),
            ("ÀB 2ÀB", "Àb 2Àb"),
            ("ǆemal", "ǅemal"),
        ] {
            assert_eq!(title_case(text), php, "{text}");
        }
        assert_eq!(headline("3rd_place"), "3Rd Place");
        assert_eq!(headline("order_paid_done"), "Order Paid Done");
        assert_eq!(headline("shippingStatusChanged"), "Shipping Status Changed");
        assert_eq!(headline("hello  wide-world"), "Hello Wide World");
        assert_eq!(php_trim("\0 x \n"), "x");
    }

    #[test]
    fn long_templates_parse_in_linear_time() {
        let many = "{{order.id}}".repeat(100_000);
        assert_eq!(Template::parse(&many).parts.len(), 100_000);
        let unclosed = "{{".repeat(500_000);
        assert_eq!(Template::parse(&unclosed).render(&order()), json!(unclosed));
        let hashes = format!("{}{}", "#".repeat(300_001), "x");
        assert_eq!(Template::parse(&hashes).render(&order()), json!(hashes));
    }

    #[test]
    fn broken_templates_are_text() {
        for text in ["{{order.id", "order.id}}", "{{}}", "####", "{{\norder.id}}", "{ {order.id} }", "##"] {
            assert_eq!(render(text), json!(text), "{text}");
        }
        assert_eq!(render("{{{{order.id}}"), json!(1042));
        assert_eq!(render("a {{order.id b {{order.status}}"), json!("a {{order.id b {{order.status}}"));
    }
}
