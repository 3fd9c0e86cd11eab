//! The smartcode renderer on arbitrary templates and data: never a panic, and a template
//! without codes renders to itself.
#![no_main]

use fluent_webhook::smartcode::Template;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the template, the rest the event data as JSON.
    let text = String::from_utf8_lossy(data);
    let (template, json) = text.split_once('\n').unwrap_or((&text, "{}"));
    let data = serde_json::from_str(json).unwrap_or(serde_json::Value::Null);
    let parsed = Template::parse(template);
    let rendered = parsed.render(&data);
    if !template.contains("{{") && !template.contains("##") {
        assert_eq!(rendered, serde_json::Value::String(template.to_string()));
    }
});
