//! A feed: validated settings plus the id the site stores them under. Decides whether an
//! event fires it and turns event data into the request it configures.

use serde_json::Value;

use crate::events;
use crate::payload;
use crate::request::{self, WebhookRequest};
use crate::settings::{FeedSettings, InvalidFeed};

#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub id: Option<String>,
    pub settings: FeedSettings,
}

impl Feed {
    pub fn new(settings: &Value, id: Option<String>) -> Result<Feed, InvalidFeed> {
        Ok(Feed { id, settings: FeedSettings::parse(settings)? })
    }

    /// True when the feed is enabled and `event_trigger` holds the event (with or without
    /// the `fluent_cart/` action prefix).
    pub fn matches(&self, event: &str) -> bool {
        let event = events::normalize(event);
        self.settings.enabled && self.settings.events.iter().any(|e| e == event)
    }

    /// The request this feed sends for the event data; no I/O.
    pub fn request_for(&self, event: &str, data: &Value) -> WebhookRequest {
        let payload = payload::build(&self.settings.body, data);
        request::build(&self.settings, events::normalize(event), &payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn feed(enabled: bool) -> Feed {
        let settings = json!({"name": "n", "request_url": "http://h.test/", "enabled": enabled,
                              "event_trigger": ["order_paid_done", "subscription_renewed"]});
        Feed::new(&settings, Some("7".into())).unwrap()
    }

    #[test]
    fn fires_when_enabled_and_listening() {
        assert!(feed(true).matches("order_paid_done"));
        assert!(feed(true).matches("fluent_cart/subscription_renewed"));
        assert!(!feed(true).matches("order_fully_refunded"));
        assert!(!feed(false).matches("order_paid_done"));
    }
}
