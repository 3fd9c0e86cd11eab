//! JSON bodies, byte for byte what `wp_json_encode($payload)` (that is `json_encode` with no
//! flags) writes today: `/` escaped as `\/`, every non-ASCII character as `\uXXXX` (UTF-16
//! surrogate pairs above U+FFFF), floats in PHP's shortest form (`1.0` → `1`).
//!
//! Receivers decode it to the same data as unescaped UTF-8; matching PHP exactly means a
//! receiver that compared or hashed bodies before the switch sees no change.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::Value;
use std::io::{self, Write};

use super::php_float;

/// Encodes a payload as `json_encode` would.
pub fn encode(payload: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PhpJsonFormatter);
    // Writing serde_json::Value into a Vec cannot fail: its numbers are finite and its
    // keys are strings.
    payload.serialize(&mut serializer).expect("serde_json::Value always serializes");
    out
}

struct PhpJsonFormatter;

impl Formatter for PhpJsonFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(php_float::to_json(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut plain_start = 0;
        for (index, ch) in fragment.char_indices() {
            if ch.is_ascii() && ch != '/' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[plain_start..index])?;
            plain_start = index + ch.len_utf8();
            if ch == '/' {
                writer.write_all(b"\\/")?;
                continue;
            }
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
        }
        writer.write_all(&fragment.as_bytes()[plain_start..])
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, writer: &mut W, escape: CharEscape) -> io::Result<()> {
        // PHP and serde_json agree on every escape but the spelling of control characters,
        // which PHP writes as lower-case \u00XX; serde_json does too, so defer to it.
        serde_json::ser::CompactFormatter.write_char_escape(writer, escape)
    }
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
    fn keeps_order_and_types() {
        assert_eq!(
            text(json!({"z": 1, "a": [true, null, 1.5, 2.0], "m": {}})),
            r#"{"z":1,"a":[true,null,1.5,2],"m":{}}"#
        );
    }
}
