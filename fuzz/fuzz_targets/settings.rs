//! The settings parser on arbitrary JSON: it may refuse, never panic, and what it accepts
//! must survive a round trip through to_value().
#![no_main]

use fluent_webhook::settings::FeedSettings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(settings) = FeedSettings::parse(&value) {
        let again = FeedSettings::parse(&settings.to_value()).expect("normalised settings parse again");
        assert_eq!(again.to_value(), settings.to_value());
    }
});
