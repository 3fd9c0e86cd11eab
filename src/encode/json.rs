//! JSON bodies, byte for byte what `wp_json_encode($payload)` (that is `json_encode` with no
//! flags) writes today: `/` escaped as `\/`, every non-ASCII character as `\uXXXX` (UTF-16
//! surrogate pairs above U+FFFF), floats in PHP's shortest form (`1.0` → `1`).
//!
//! Receivers decode it to the same data as unescaped UTF-8; matching PHP exactly means a
//! receiver that compared or hashed bodies before the switch sees no change.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::{php_float, walk, Key, Scalar, Sink};
use crate::memory::{self, OutOfMemory};

/// Encodes a payload as `json_encode` would.
pub fn encode(payload: &Value) -> Vec<u8> {
    try_encode(payload).unwrap_or_else(|refused| refused.abort())
}

/// [`encode`], with memory the allocator refuses an error (see crate::memory).
pub fn try_encode(payload: &Value) -> Result<Vec<u8>, OutOfMemory> {
    let mut writer = JsonWriter::default();
    walk(payload, &mut writer);
    writer.finish()
}

/// Writes JSON as it is walked.
#[derive(Default)]
pub struct JsonWriter {
    out: Vec<u8>,
    /// Per open list or map: true for a list.
    open: Vec<bool>,
    /// The next entry is the first of its list or map (no comma before it).
    first: bool,
    /// Memory the body needed and did not get: the writer has stopped, and let its body go.
    refused: Option<OutOfMemory>,
}

/// The size of the last body written, for the next one's first allocation.
static LAST_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The most bytes written for anything but a string: a number with the comma, quotes and
/// colon of an integer key, a literal, a bracket.
const SHORT: usize = 32;

impl JsonWriter {
    pub fn finish(mut self) -> Result<Vec<u8>, OutOfMemory> {
        if let Some(refused) = self.refused {
            return Err(refused);
        }
        LAST_SIZE.store(self.out.len() + self.out.len() / 8, Ordering::Relaxed);
        if super::too_roomy(self.out.capacity(), self.out.len()) {
            self.out.shrink_to_fit();
        }
        Ok(self.out)
    }

    /// Runs `write` on the body unless the writer has stopped; a refusal stops it.
    fn write(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), OutOfMemory>) {
        if self.refused.is_some() {
            return;
        }
        if let Err(refused) = write(&mut self.out) {
            self.refused = Some(refused);
            // Given back at once: the walk goes on until it sees the refusal.
            self.out = Vec::new();
        }
    }
}

impl Sink for JsonWriter {
    fn scalar(&mut self, value: Scalar<'_>) {
        self.write(|out| {
            if let Scalar::Str(text) = value {
                return write_str(out, text);
            }
            memory::reserve(out, SHORT)?;
            match value {
                Scalar::Null => out.extend_from_slice(b"null"),
                Scalar::Bool(true) => out.extend_from_slice(b"true"),
                Scalar::Bool(false) => out.extend_from_slice(b"false"),
                Scalar::Int(int) => write_int(out, int),
                Scalar::UInt(big) => out.extend_from_slice(big.to_string().as_bytes()),
                Scalar::Float(float) => out.extend_from_slice(php_float::to_json(float).as_bytes()),
                Scalar::Str(_) => {}
            }
            Ok(())
        });
    }

    fn begin(&mut self, list: bool) {
        self.write(|out| {
            if out.capacity() == 0 {
                // Events of one kind have bodies of about one size: start at the last one's
                // (a hint: refused, the body grows as it is written).
                let _ = out.try_reserve(LAST_SIZE.load(Ordering::Relaxed).clamp(256, 1 << 20));
            }
            memory::reserve(out, SHORT)?;
            out.push(if list { b'[' } else { b'{' });
            Ok(())
        });
        self.open.push(list);
        self.first = true;
    }

    fn key(&mut self, key: Key<'_>) {
        let first = std::mem::take(&mut self.first);
        let in_map = self.open.last() == Some(&false);
        self.write(|out| {
            memory::reserve(out, SHORT)?;
            if !first {
                out.push(b',');
            }
            if in_map {
                match key {
                    Key::Name(name) => {
                        write_str(out, name)?;
                        memory::reserve(out, 1)?;
                    }
                    Key::Index(index) => {
                        out.push(b'"');
                        write_int(out, index);
                        out.push(b'"');
                    }
                }
                out.push(b':');
            }
            Ok(())
        });
    }

    fn end(&mut self, list: bool) {
        self.open.pop();
        self.write(|out| {
            memory::reserve(out, 1)?;
            out.push(if list { b']' } else { b'}' });
            Ok(())
        });
        self.first = false;
    }

    fn refused(&self) -> Option<OutOfMemory> {
        self.refused
    }
}

/// Bytes `write_str` does not copy as they are: `"`, `\\`, `/`, control characters, and every
/// byte of a non-ASCII character.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] =
            byte < 0x20 || byte >= 0x80 || byte == b'"' as usize || byte == b'\\' as usize || byte == b'/' as usize;
        byte += 1;
    }
    table
};

/// Whether any byte of `word` may need escaping (exact for ASCII; any byte past ASCII
/// answers true, and the byte loop decides).
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    word & HIGH != 0
        || below_space
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
        || has_zero(word ^ (ONES * u64::from(b'/')))
}

fn write_int(out: &mut Vec<u8>, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// A JSON string as `json_encode` writes it: `"` `\\` and `/` escaped, control characters as
/// `\b \f \n \r \t` or `\u00xx`, everything past ASCII as `\uxxxx` (UTF-16 units).
pub fn write_str(out: &mut Vec<u8>, text: &str) -> Result<(), OutOfMemory> {
    let bytes = text.as_bytes();
    memory::reserve(out, bytes.len() + 2)?;
    // Most keys and values need no escaping: one check of the whole string, one copy.
    if !any_needs_escape(bytes) {
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return Ok(());
    }
    write_escaped(out, text)
}

/// Whether any byte of `bytes` may need escaping, a word at a time: the last word overlaps
/// the one before it, and a string shorter than a word is padded with a plain byte.
fn any_needs_escape(bytes: &[u8]) -> bool {
    let word_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    if bytes.len() < 8 {
        let mut word = u64::from_le_bytes([b'a'; 8]);
        for (index, &byte) in bytes.iter().enumerate() {
            let shift = 8 * index;
            word = (word & !(0xff << shift)) | (u64::from(byte) << shift);
        }
        return word_needs_escape(word);
    }
    let mut at = 0;
    while at + 8 <= bytes.len() {
        if word_needs_escape(word_at(at)) {
            return true;
        }
        at += 8;
    }
    at < bytes.len() && word_needs_escape(word_at(bytes.len() - 8))
}

fn write_escaped(out: &mut Vec<u8>, text: &str) -> Result<(), OutOfMemory> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    /// The longest escape: a surrogate pair.
    const LONGEST: usize = 12;
    let bytes = text.as_bytes();
    out.push(b'"');
    let (mut plain_start, mut at) = (0, 0);
    while at < bytes.len() {
        // Eight bytes at a time while none of them needs escaping.
        while let Some(chunk) = bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            if word_needs_escape(word) {
                break;
            }
            at += 8;
        }
        let Some(&byte) = bytes.get(at) else { break };
        if !NEEDS_ESCAPE[usize::from(byte)] {
            at += 1;
            continue;
        }
        memory::reserve(out, at - plain_start + LONGEST)?;
        out.extend_from_slice(&bytes[plain_start..at]);
        if byte < 0x80 {
            match byte {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'/' => out.extend_from_slice(b"\\/"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 15)],
                ]),
            }
            at += 1;
        } else {
            let ch = text[at..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let u = usize::from(*unit);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    HEX[u >> 12],
                    HEX[(u >> 8) & 15],
                    HEX[(u >> 4) & 15],
                    HEX[u & 15],
                ]);
            }
            at += ch.len_utf8();
        }
        plain_start = at;
    }
    memory::reserve(out, bytes.len() - plain_start + 1)?;
    out.extend_from_slice(&bytes[plain_start..]);
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: Value) -> String {
        String::from_utf8(encode(&value)).unwrap()
    }

    #[test]
    fn escapes_like_json_encode() {
        // php -r 'echo json_encode(["a/b" => "Zoë 😀", "n" => "x\ny\t\u{1}"]);'
        assert_eq!(
            text(json!({"a/b": "Zoë 😀", "n": "x\ny\t\u{1}\"\\"})),
            r#"{"a\/b":"Zo\u00eb \ud83d\ude00","n":"x\ny\t\u0001\"\\"}"#
        );
    }

    #[test]
    fn every_control_character_and_integer_edge() {
        // php -r 'echo json_encode(["\x08\x0c\r\x1f\x7f", PHP_INT_MIN, 0, -7, [1 => "a"]]);'
        assert_eq!(
            text(json!(["\u{8}\u{c}\r\u{1f}\u{7f}", i64::MIN, 0, -7, {"1": "a"}])),
            "[\"\\b\\f\\r\\u001f\u{7f}\",-9223372036854775808,0,-7,{\"1\":\"a\"}]"
        );
    }

    /// The word-at-a-time scan against a plain per-character escaper, on strings that put
    /// escapes at every offset of a word.
    #[test]
    fn escaping_matches_a_plain_escaper() {
        fn plain(text: &str) -> String {
            let mut out = String::from("\"");
            for ch in text.chars() {
                match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '/' => out.push_str("\\/"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || !c.is_ascii() => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        // Mostly plain ASCII, so that runs of eight or more plain bytes are common.
        let alphabet = [
            'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'Z', '0', ' ', '~',
            '\u{7f}', '"', '\\', '/', '\n', '\u{1}', 'é', '€', '😀',
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..5000 {
            let text: String = (0..rng.usize(0..60)).map(|_| alphabet[rng.usize(..alphabet.len())]).collect();
            let mut out = Vec::new();
            write_str(&mut out, &text).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), plain(&text), "{text:?}");
        }
    }

    /// A body keeps no more memory than the memory cap counts (its length) and a little: not
    /// the room reserved after a large body, nor what doubling left over.
    #[test]
    fn bodies_hold_about_their_length() {
        let held = |body: &Vec<u8>| body.capacity() <= body.len() + body.len() / 4 + super::super::SLACK;
        encode(&json!({"big": "x".repeat(900 << 10)}));
        LAST_SIZE.store(1 << 20, Ordering::Relaxed);
        let small = encode(&json!({"n": 1}));
        assert!(held(&small), "{} bytes in {}", small.len(), small.capacity());
        for size in [100 << 10, 300 << 10, 600 << 10, 3 << 20] {
            LAST_SIZE.store(0, Ordering::Relaxed);
            let body = encode(&json!(["y".repeat(size)]));
            assert!(held(&body), "{} bytes in {}", body.len(), body.capacity());
        }
    }

    #[test]
    fn keeps_order_and_types() {
        assert_eq!(
            text(json!({"z": 1, "a": [true, null, 1.5, 2.0], "m": {}})),
            r#"{"z":1,"a":[true,null,1.5,2],"m":{}}"#
        );
    }
}

/// `cargo test --release --no-default-features --lib time_encode -- --ignored --nocapture`
#[cfg(test)]
mod speed {
    #[test]
    #[ignore = "a timing, not a test"]
    fn time_encode() {
        let data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string("fixtures/events/order_paid_done.json").unwrap()).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let mut n = 0;
            for _ in 0..20000 {
                n += super::encode(&data).len();
            }
            eprintln!("{:.2} us per encode ({n})", t.elapsed().as_secs_f64() / 20000.0 * 1e6);
        }
    }
}
