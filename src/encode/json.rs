//! JSON bodies, byte for byte what `wp_json_encode($payload)` (that is `json_encode` with no
//! flags) writes today: `/` escaped as `\/`, every non-ASCII character as `\uXXXX` (UTF-16
//! surrogate pairs above U+FFFF), floats in PHP's shortest form (`1.0` → `1`).
//!
//! Receivers decode it to the same data as unescaped UTF-8; matching PHP exactly means a
//! receiver that compared or hashed bodies before the switch sees no change.

use serde_json::Value;

use super::{php_float, walk, Key, Scalar, Sink};

/// Encodes a payload as `json_encode` would.
pub fn encode(payload: &Value) -> Vec<u8> {
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
}

impl JsonWriter {
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

impl Sink for JsonWriter {
    fn scalar(&mut self, value: Scalar<'_>) {
        let out = &mut self.out;
        match value {
            Scalar::Null => out.extend_from_slice(b"null"),
            Scalar::Bool(true) => out.extend_from_slice(b"true"),
            Scalar::Bool(false) => out.extend_from_slice(b"false"),
            Scalar::Int(int) => write_int(out, int),
            Scalar::UInt(big) => out.extend_from_slice(big.to_string().as_bytes()),
            Scalar::Float(float) => out.extend_from_slice(php_float::to_json(float).as_bytes()),
            Scalar::Str(text) => write_str(out, text),
        }
    }

    fn begin(&mut self, list: bool) {
        if self.out.capacity() == 0 {
            self.out.reserve(1024);
        }
        self.out.push(if list { b'[' } else { b'{' });
        self.open.push(list);
        self.first = true;
    }

    fn key(&mut self, key: Key<'_>) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        if self.open.last() == Some(&false) {
            match key {
                Key::Name(name) => write_str(&mut self.out, name),
                Key::Index(index) => {
                    self.out.push(b'"');
                    write_int(&mut self.out, index);
                    self.out.push(b'"');
                }
            }
            self.out.push(b':');
        }
    }

    fn end(&mut self, list: bool) {
        self.open.pop();
        self.out.push(if list { b']' } else { b'}' });
        self.first = false;
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
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let (mut plain_start, mut at) = (0, 0);
    while at < bytes.len() {
        let byte = bytes[at];
        if !NEEDS_ESCAPE[usize::from(byte)] {
            at += 1;
            continue;
        }
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
    out.extend_from_slice(&bytes[plain_start..]);
    out.push(b'"');
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

    #[test]
    fn keeps_order_and_types() {
        assert_eq!(
            text(json!({"z": 1, "a": [true, null, 1.5, 2.0], "m": {}})),
            r#"{"z":1,"a":[true,null,1.5,2],"m":{}}"#
        );
    }
}
