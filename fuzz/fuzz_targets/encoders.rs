//! The form and JSON encoders on arbitrary payloads: never a panic; JSON output is valid JSON
//! of the same value, and form output is plain ASCII.
#![no_main]

use fluent_webhook::encode::{form, json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let encoded = json::encode(&value);
    let decoded: serde_json::Value = serde_json::from_slice(&encoded).expect("json::encode writes valid JSON");
    if !has_float(&value) {
        assert_eq!(decoded, value);
    }
    let query = form::encode(&value);
    assert!(query.bytes().all(|b| b.is_ascii_graphic()), "{query}");
});

/// Floats are written as PHP writes them (1.0 as 1), which reads back as an integer.
fn has_float(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(items) => items.iter().any(has_float),
        serde_json::Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}
