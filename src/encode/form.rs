//! Form bodies and GET query strings, byte for byte what PHP's
//! `http_build_query($payload, '', '&')` gives (the encoding WordPress's Requests library
//! uses for array bodies): nested keys as `a%5Bb%5D`, `true` → `1`, `false` → `0`, `null`
//! and empty arrays left out, floats as PHP writes them, RFC 1738 escaping (space → `+`).

use serde_json::Value;

use super::{php_float, walk, Key, Scalar, Sink};
use crate::memory::{self, OutOfMemory};

/// Encodes a payload as `http_build_query($payload, '', '&')` would.
pub fn encode(payload: &Value) -> String {
    let mut writer = FormWriter::default();
    walk(payload, &mut writer);
    writer.finish().unwrap_or_else(|refused| refused.abort())
}

/// [`encode`], or `None` once the encoding passes `limit` bytes (see [`FormWriter::within`]);
/// memory the allocator refuses is an error (see crate::memory).
pub fn encode_within(payload: &Value, limit: usize) -> Result<Option<String>, OutOfMemory> {
    let mut writer = FormWriter::within(limit);
    walk(payload, &mut writer);
    let passed = writer.passed();
    let encoded = writer.finish()?;
    Ok((!passed).then_some(encoded))
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
    /// Memory the encoding needed and did not get: the writer has stopped, and let what it
    /// wrote go.
    refused: Option<OutOfMemory>,
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
        FormWriter { out: String::new(), name: String::new(), open: Vec::new(), limit, passed: false, refused: None }
    }

    /// Whether the encoding passed the limit; what was written is then dropped.
    pub fn passed(&self) -> bool {
        self.passed
    }

    pub fn finish(mut self) -> Result<String, OutOfMemory> {
        if let Some(refused) = self.refused {
            return Err(refused);
        }
        if super::too_roomy(self.out.capacity(), self.out.len()) {
            self.out.shrink_to_fit();
        }
        Ok(self.out)
    }

    /// `name=value`, after a `&` unless it is the first.
    fn write_pair(&mut self, value: Scalar<'_>) -> Result<(), OutOfMemory> {
        // The name, the `&` and `=`, and anything but an escaped string.
        memory::reserve_text(&mut self.out, self.name.len() + SHORT)?;
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
            Scalar::Float(float) => urlencode_into(&mut self.out, &php_float::to_php_string(float))?,
            Scalar::Str(text) => urlencode_into(&mut self.out, text)?,
            Scalar::Null => {}
        }
        Ok(())
    }

    /// The encoded name of the entry under `key`, in the list or map whose name ends at `base`.
    fn write_name(&mut self, base: usize, key: Key<'_>) -> Result<(), OutOfMemory> {
        self.name.truncate(base);
        memory::reserve_text(&mut self.name, SHORT)?;
        let nested = self.open.len() > 1;
        if nested {
            self.name.push_str("%5B");
        }
        match key {
            Key::Index(index) => self.name.push_str(&index.to_string()),
            Key::Name(name) => urlencode_into(&mut self.name, name)?,
        }
        if nested {
            memory::reserve_text(&mut self.name, 3)?;
            self.name.push_str("%5D");
        }
        Ok(())
    }

    /// Stops the writer, and gives its memory back at once: the walk goes on until it sees
    /// the refusal.
    fn stop(&mut self, refused: OutOfMemory) {
        self.refused = Some(refused);
        (self.out, self.name) = (String::new(), String::new());
    }
}

/// The most bytes an entry's `&`, `=` and a value other than a string take, or a key's
/// brackets and an integer key.
const SHORT: usize = 32;

impl Sink for FormWriter {
    fn scalar(&mut self, value: Scalar<'_>) {
        if self.open.is_empty() || value == Scalar::Null || self.passed || self.refused.is_some() {
            return;
        }
        if let Err(refused) = self.write_pair(value) {
            return self.stop(refused);
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
        if self.refused.is_none() {
            if let Err(refused) = self.write_name(base, key) {
                self.stop(refused);
            }
        }
    }

    fn end(&mut self, _list: bool) {
        if let Some(base) = self.open.pop() {
            self.name.truncate(base);
        }
    }

    fn refused(&self) -> Option<OutOfMemory> {
        self.refused
    }
}

/// PHP's `urlencode`: letters, digits and `-_.` stay, space becomes `+`, every other byte
/// becomes `%XX` with upper-case hex.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    urlencode_into(&mut out, text).unwrap_or_else(|refused| refused.abort());
    out
}

fn urlencode_into(out: &mut String, text: &str) -> Result<(), OutOfMemory> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    memory::reserve_text(out, text.len())?;
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => {
                // Two bytes more than this one takes, and room for the rest as it is.
                memory::reserve_text(out, text.len() - at + 2)?;
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0x0f)] as char);
            }
        }
    }
    Ok(())
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
        assert_eq!(encode_within(&payload, 1 << 20), Ok(None));
        let small = json!({"order": {"id": 7, "items": [1, 2]}});
        let exact = encode(&small).len();
        assert_eq!(encode_within(&small, exact), Ok(Some(encode(&small))));
        assert_eq!(encode_within(&small, exact - 1), Ok(None));
    }

    #[test]
    fn top_level_list_uses_indexes() {
        assert_eq!(encode(&json!(["a", "b"])), "0=a&1=b");
        assert_eq!(encode(&json!({})), "");
    }
}
