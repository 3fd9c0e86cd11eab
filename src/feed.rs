//! A feed: validated settings plus the id the site stores them under. Decides whether an
//! event fires it and turns event data into the request it configures.

use bytes::Bytes;
use serde_json::Value;

use crate::encode::{form::FormWriter, json::JsonWriter, tree::TreeBuilder, Tee};
use crate::events;
use crate::memory::OutOfMemory;
use crate::payload;
pub use crate::request::RequestError;
use crate::request::{self, WebhookRequest};
use crate::settings::{Body, FeedSettings, Format, InvalidFeed};

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

    /// [`Feed::request_for`] for a payload of at most `limit` bytes: selected fields that
    /// would render past it stop rendering (see [`payload::build_within`]). A request built
    /// may still pass the limit: check it with [`request::check_size`].
    pub fn request_within(&self, event: &str, data: &Value, limit: usize) -> Result<WebhookRequest, RequestError> {
        let payload = payload::build_within(&self.settings.body, data, limit).map_err(|_| {
            RequestError::TooLarge(format!(
                "the selected fields of feed {:?} render past fluent_webhook.max_payload_bytes ({limit} bytes)",
                self.settings.name
            ))
        })?;
        request::build_within(&self.settings, events::normalize(event), &payload, limit)
    }

    /// The request this feed sends, from encodings made by [`sinks_for`]: a feed that sends
    /// all the data takes its body (or GET query) as encoded, without a `Value` in between;
    /// selected fields render within `limit` bytes ([`Feed::request_within`]).
    pub fn request_from(&self, event: &str, data: &Encoded, limit: usize) -> Result<WebhookRequest, RequestError> {
        let event = events::normalize(event);
        let missing = || {
            RequestError::NotEncoded(format!("feed {:?}: the event data was not encoded for it", self.settings.name))
        };
        Ok(match self.needs() {
            Needs::Json => request::with_body(&self.settings, event, data.json.clone().ok_or_else(missing)?),
            Needs::Form if data.form_passed => {
                return Err(RequestError::TooLarge(request::form_too_large(&self.settings, limit)))
            }
            Needs::Form if self.settings.method.has_body() => {
                request::with_body(&self.settings, event, data.form.clone().ok_or_else(missing)?)
            }
            Needs::Form => {
                let query = data.form.as_deref().ok_or_else(missing)?;
                request::with_query(&self.settings, event, std::str::from_utf8(query).unwrap_or_default())?
            }
            Needs::Tree => self.request_within(event, data.tree.as_ref().ok_or_else(missing)?, limit)?,
        })
    }

    fn needs(&self) -> Needs {
        match (&self.settings.body, self.settings.method.has_body(), self.settings.format) {
            (Body::AllData, true, Format::Json) => Needs::Json,
            (Body::AllData, _, _) => Needs::Form,
            (Body::SelectedFields(_), _, _) => Needs::Tree,
        }
    }
}

/// What a feed's request needs from the event data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// `json_encode` of all of it.
    Json,
    /// `http_build_query` of all of it.
    Form,
    /// The data itself, for selected fields.
    Tree,
}

/// The event data as the feeds of one dispatch need it, each encoding made once.
#[derive(Debug, Default)]
pub struct Encoded {
    pub json: Option<Bytes>,
    pub form: Option<Bytes>,
    /// The form encoding passed its limit and was not made (see [`sinks_for`]).
    pub form_passed: bool,
    pub tree: Option<Value>,
}

/// Sinks that make, in one walk of the data, every encoding `feeds` need. The form encoding
/// stops once it passes `limit` bytes: its values repeat their keys, so it can be far larger
/// than the data (see [`FormWriter::within`]).
pub fn sinks_for<'a>(feeds: impl IntoIterator<Item = &'a Feed>, limit: usize) -> Tee {
    let mut tee = Tee::default();
    for feed in feeds {
        match feed.needs() {
            Needs::Json => tee.json = tee.json.take().or_else(|| Some(JsonWriter::default())),
            Needs::Form => tee.form = tee.form.take().or_else(|| Some(FormWriter::within(limit))),
            Needs::Tree => tee.tree = tee.tree.take().or_else(|| Some(TreeBuilder::default())),
        }
    }
    tee
}

impl Tee {
    /// Whether the only encoding wanted is the JSON of all the data.
    pub fn wants_json_only(&self) -> bool {
        self.json.is_some() && self.form.is_none() && self.tree.is_none()
    }

    /// The encodings, or the memory one of them needed and did not get.
    pub fn finish(self) -> Result<Encoded, OutOfMemory> {
        let form_passed = self.form.as_ref().is_some_and(FormWriter::passed);
        Ok(Encoded {
            json: self.json.map(JsonWriter::finish).transpose()?.map(Bytes::from),
            form: self.form.filter(|w| !w.passed()).map(FormWriter::finish).transpose()?.map(|f| f.into_bytes().into()),
            form_passed,
            tree: self.tree.map(TreeBuilder::finish).transpose()?,
        })
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
    fn encodings_made_once_give_the_same_requests() {
        let data = json!({"order": {"id": 7, "items": [{"t": "Mug/1", "p": 1.5}], "note": null}, "e": []});
        let feeds: Vec<Feed> = [
            json!({}),
            json!({"request_format": "FORM"}),
            json!({"request_method": "GET"}),
            json!({"request_body": "selected_fields",
                   "selected_field_values": [{"field_name": "id", "field_value": "{{order.id}}"}]}),
        ]
        .iter()
        .map(|extra| {
            let mut settings = json!({"name": "n", "request_url": "http://h.test/?a=1", "event_trigger": ["e"]});
            for (key, value) in extra.as_object().unwrap() {
                settings[key] = value.clone();
            }
            Feed::new(&settings, None).unwrap()
        })
        .collect();
        let mut sinks = sinks_for(&feeds, usize::MAX);
        crate::encode::walk(&data, &mut sinks);
        let encoded = sinks.finish().unwrap();
        for feed in &feeds {
            assert_eq!(feed.request_from("e", &encoded, usize::MAX).unwrap(), feed.request_for("e", &data));
        }
        let json_only = sinks_for(&feeds[..1], usize::MAX).finish().unwrap();
        assert!(json_only.form.is_none() && json_only.tree.is_none());
    }

    #[test]
    fn fires_when_enabled_and_listening() {
        assert!(feed(true).matches("order_paid_done"));
        assert!(feed(true).matches("fluent_cart/subscription_renewed"));
        assert!(!feed(true).matches("order_fully_refunded"));
        assert!(!feed(false).matches("order_paid_done"));
    }
}
