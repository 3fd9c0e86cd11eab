//! Form bodies and GET query strings, byte for byte what PHP's
//! `http_build_query($payload, '', '&')` gives (the encoding WordPress's Requests library
//! uses for array bodies): nested keys as `a%5Bb%5D`, `true` → `1`, `false` → `0`, `null`
//! and empty arrays left out, floats as PHP writes them, RFC 1738 escaping (space → `+`).

use serde_json::Value;

use super::{php_float, walk, Key, Scalar, Sink};

/// Encodes a payload as `http_build_query($payload, '', '&')` would.
pub fn encode(payload: &Value) -> String {
    let mut writer = FormWriter::default();
    walk(payload, &mut writer);
    writer.finish()
}

/// Writes `name=value` pairs as a payload is walked; a scalar payload has no keys and writes
/// nothing (http_build_query takes only arrays).
#[derive(Default)]
pub struct FormWriter {
    out: String,
    /// The encoded name of the entry being walked (`order%5Bitems%5D%5B0%5D`).
    name: String,
    /// Per open list or map, the length of its own name.
    open: Vec<usize>,
}

impl FormWriter {
    pub fn finish(mut self) -> String {
        if super::too_roomy(self.out.capacity(), self.out.len()) {
            self.out.shrink_to_fit();
        }
        self.out
    }
}

impl Sink for FormWriter {
    fn scalar(&mut self, value: Scalar<'_>) {
        if self.open.is_empty() || value == Scalar::Null {
            return;
        }
        if !self.out.is_empty() {
            self.out.push('&');
        }
        self.out.push_str(&self.name);
        self.out.push('=');
        match value {
            Scalar::Bool(true) => self.out.push('1'),
            Scalar::Bool(false) => self.out.push('0'),
            Scalar::Int(int) => self.out.push_str(&int.to_string()),
            Scalar::UInt(big) => self.out.push_str(&big.to_string()),
            Scalar::Float(float) => urlencode_into(&mut self.out, &php_float::to_php_string(float)),
            Scalar::Str(text) => urlencode_into(&mut self.out, text),
            Scalar::Null => {}
        }
    }

    fn begin(&mut self, _list: bool) {
        self.open.push(self.name.len());
    }

    fn key(&mut self, key: Key<'_>) {
        let Some(&base) = self.open.last() else { return };
        self.name.truncate(base);
        let nested = self.open.len() > 1;
        if nested {
            self.name.push_str("%5B");
        }
        match key {
            Key::Index(index) => self.name.push_str(&index.to_string()),
            Key::Name(name) => urlencode_into(&mut self.name, name),
        }
        if nested {
            self.name.push_str("%5D");
        }
    }

    fn end(&mut self, _list: bool) {
        if let Some(base) = self.open.pop() {
            self.name.truncate(base);
        }
    }
}

/// PHP's `urlencode`: letters, digits and `-_.` stay, space becomes `+`, every other byte
/// becomes `%XX` with upper-case hex.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    urlencode_into(&mut out, text);
    out
}

fn urlencode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
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
