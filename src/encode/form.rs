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

/// [`encode`], or `None` once the encoding passes `limit` bytes (see [`FormWriter::within`]).
pub fn encode_within(payload: &Value, limit: usize) -> Option<String> {
    let mut writer = FormWriter::within(limit);
    walk(payload, &mut writer);
    (!writer.passed()).then(|| writer.finish())
}

/// Writes `name=value` pairs as a payload is walked; a scalar payload has no keys and writes
/// nothing (http_build_query takes only arrays).
pub struct FormWriter {
    out: String,
    /// The encoded name of the entry being walked (`order%5Bitems%5D%5B0%5D`).
    name: String,
    /// Per open list or map, the length of its own name.
    open: Vec<usize>,
    /// The most bytes `out` may hold; past it the writer stops (see [`FormWriter::within`]).
    limit: usize,
    passed: bool,
}

impl Default for FormWriter {
    fn default() -> Self {
        FormWriter::within(usize::MAX)
    }
}

impl FormWriter {
    /// A writer that stops writing, and empties what it wrote, once the encoding passes
    /// `limit` bytes. Every value repeats the names of all the keys above it, so a body may be
    /// far larger than its data: a 500 KB key over a list of 10,000 numbers is a 5 GB body
    /// from 540 KB of data. Such a body is refused; it must not be built first.
    pub fn within(limit: usize) -> FormWriter {
        FormWriter { out: String::new(), name: String::new(), open: Vec::new(), limit, passed: false }
    }

    /// Whether the encoding passed the limit; what was written is then dropped.
    pub fn passed(&self) -> bool {
        self.passed
    }

    pub fn finish(mut self) -> String {
        if super::too_roomy(self.out.capacity(), self.out.len()) {
            self.out.shrink_to_fit();
        }
        self.out
    }
}

impl Sink for FormWriter {
    fn scalar(&mut self, value: Scalar<'_>) {
        if self.open.is_empty() || value == Scalar::Null || self.passed {
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
        if self.out.len() > self.limit {
            self.passed = true;
            self.out = String::new();
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
    fn stops_once_past_the_limit() {
        // Every value repeats its keys: 100 KB of key over 1,000 numbers is 100 MB of body.
        let payload = json!({"k".repeat(100_000): (0..1000).collect::<Vec<_>>()});
        assert_eq!(encode_within(&payload, 1 << 20), None);
        let small = json!({"order": {"id": 7, "items": [1, 2]}});
        let exact = encode(&small).len();
        assert_eq!(encode_within(&small, exact), Some(encode(&small)));
        assert_eq!(encode_within(&small, exact - 1), None);
    }

    #[test]
    fn top_level_list_uses_indexes() {
        assert_eq!(encode(&json!(["a", "b"])), "0=a&1=b");
        assert_eq!(encode(&json!({})), "");
    }
}
