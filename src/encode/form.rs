//! Form bodies and GET query strings, byte for byte what PHP's
//! `http_build_query($payload, '', '&')` gives (the encoding WordPress's Requests library
//! uses for array bodies): nested keys as `a%5Bb%5D`, `true` → `1`, `false` → `0`, `null`
//! and empty arrays left out, floats as PHP writes them, RFC 1738 escaping (space → `+`).

use serde_json::Value;

use super::php_float;

/// Encodes a payload as `http_build_query($payload, '', '&')` would.
pub fn encode(payload: &Value) -> String {
    let mut out = String::new();
    match payload {
        Value::Object(map) => {
            for (key, value) in map {
                append(&mut out, &urlencode(key), value);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                append(&mut out, &index.to_string(), value);
            }
        }
        // http_build_query takes only arrays; a scalar payload has no keys to send.
        _ => {}
    }
    out
}

/// Writes `name=value` pairs for one entry whose already-encoded name is `name`.
fn append(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (key, child) in map {
                append(out, &format!("{name}%5B{}%5D", urlencode(key)), child);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                append(out, &format!("{name}%5B{index}%5D"), child);
            }
        }
        scalar => {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(name);
            out.push('=');
            match scalar {
                Value::Bool(true) => out.push('1'),
                Value::Bool(false) => out.push('0'),
                Value::Number(number) => match number.as_f64() {
                    Some(float) if number.is_f64() => out.push_str(&urlencode(&php_float::to_php_string(float))),
                    _ => out.push_str(&number.to_string()),
                },
                Value::String(text) => out.push_str(&urlencode(text)),
                Value::Null | Value::Array(_) | Value::Object(_) => unreachable!("handled above"),
            }
        }
    }
}

/// PHP's `urlencode`: letters, digits and `-_.` stay, space becomes `+`, every other byte
/// becomes `%XX` with upper-case hex.
pub fn urlencode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for &byte in text.as_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0x0f)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Expected strings were printed by PHP 8.2's http_build_query($payload, '', '&').
    #[test]
    fn nested_maps_and_lists() {
        let payload = json!({"order": {"id": 7, "items": [{"t": "Mug"}, {"t": "Tea & co"}]}});
        assert_eq!(
            encode(&payload),
            "order%5Bid%5D=7&order%5Bitems%5D%5B0%5D%5Bt%5D=Mug&order%5Bitems%5D%5B1%5D%5Bt%5D=Tea+%26+co"
        );
    }

    #[test]
    fn scalars_like_php() {
        let payload = json!({"t": true, "f": false, "n": null, "e": [], "x": 1.5, "y": 2.0, "s": "Zoë ~/"});
        assert_eq!(encode(&payload), "t=1&f=0&x=1.5&y=2&s=Zo%C3%AB+%7E%2F");
    }

    #[test]
    fn top_level_list_uses_indexes() {
        assert_eq!(encode(&json!(["a", "b"])), "0=a&1=b");
        assert_eq!(encode(&json!({})), "");
    }
}
