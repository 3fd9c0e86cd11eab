//! `FluentWebhook\Feed`: a feed's validated settings, built once and reused for every event.

use std::sync::Arc;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, ZendStr, Zval};

use super::convert;
use super::exceptions;
use super::ini;
use super::text::PhpText;
use crate::delivery::{new_id, unix_now};
use crate::feed::Feed;
use crate::memory;
use crate::request;
use crate::settings::{Body, InvalidFeed, KEYS};

#[php_class]
#[php(name = "FluentWebhook\\Feed")]
#[php(flags = ClassFlags::Final)]
#[derive(Default)]
pub struct PhpFeed {
    /// Shared with dispatch() calls under way (an Arc, so that dispatch() need not copy it).
    /// `None` in an object whose constructor has not run or threw: PHP code can hold one
    /// (debug_backtrace() hands out the object a constructor is building). The class is
    /// Default so that every object has this state rather than none, where ext-php-rs
    /// answered a method call with a bare \Exception about `$this`.
    feed: Option<Arc<Feed>>,
}

#[php_impl]
impl PhpFeed {
    /// Validates FluentCart's settings array; throws InvalidFeedException naming the key at
    /// fault. `$id` is the id the site stores the feed under (int or string).
    pub fn __construct(settings: &ZendHashTable, id: Option<&Zval>) -> PhpResult<Self> {
        let id = feed_id(id)?;
        Ok(PhpFeed { feed: Some(Arc::new(parse_feed(settings, id)?)) })
    }

    pub fn id(&self) -> PhpResult<Option<String>> {
        Ok(self.feed()?.id.clone())
    }

    pub fn name(&self) -> PhpResult<String> {
        Ok(self.feed()?.settings.name.clone())
    }

    pub fn url(&self) -> PhpResult<String> {
        Ok(self.feed()?.settings.url.clone())
    }

    pub fn method(&self) -> PhpResult<&'static str> {
        Ok(self.feed()?.settings.method.as_str())
    }

    pub fn format(&self) -> PhpResult<&'static str> {
        Ok(self.feed()?.settings.format.as_str())
    }

    pub fn events(&self) -> PhpResult<Vec<String>> {
        Ok(self.feed()?.settings.events.clone())
    }

    #[php(name = "isEnabled")]
    pub fn is_enabled(&self) -> PhpResult<bool> {
        Ok(self.feed()?.settings.enabled)
    }

    /// True when the feed has a secret and signs its requests; the secret itself is never
    /// shown.
    #[php(name = "isSigned")]
    pub fn is_signed(&self) -> PhpResult<bool> {
        Ok(self.feed()?.settings.secret.is_some())
    }

    /// True when the feed is enabled and listens to `$event` (`fluent_cart/` prefix optional).
    pub fn matches(&self, event: PhpText) -> PhpResult<bool> {
        Ok(self.feed()?.matches(event.event_name()?))
    }

    /// The exact request dispatch() would send for this event data, without sending it:
    /// `['method', 'url', 'headers' => [name => value], 'body']`. The `webhook-id` header
    /// holds a fresh id, as a delivery's would.
    pub fn render(&self, event: PhpText, data: &ZendHashTable) -> PhpResult<ZBox<ZendHashTable>> {
        let event = event.event_name()?;
        // A handle of our own, and `self` never read again: converting the data runs
        // jsonSerialize(), PHP code that may call `$feed->__construct()` on this very object,
        // which replaces (and frees, if it was the last handle) the Feed that `self` held.
        let feed = Arc::clone(self.feed()?);
        let limit = ini::max_payload_bytes();
        // Selected fields may take a small part of large data: no limit on what is read.
        let room = if matches!(feed.settings.body, Body::AllData) { limit } else { usize::MAX };
        let data = convert::array_to_value_within(data, room).map_err(|e| e.exception("$data", exceptions::payload))?;
        let request = feed.request_within(event, &data, limit).map_err(exceptions::request)?;
        request::check_size(&request, &feed.settings.name, limit).map_err(exceptions::payload)?;
        let mut headers = ZendHashTable::new();
        for (name, value) in request.headers_for_attempt(&new_id(), unix_now()) {
            headers.insert(name, value.into_owned())?;
        }
        let mut result = ZendHashTable::new();
        result.insert("method", request.method.as_str())?;
        result.insert("url", request.url)?;
        result.insert("headers", headers)?;
        // Straight into a PHP string: a copy in Rust's memory first is one more allocation
        // the size of the body, which the allocator may refuse (crate::memory).
        let mut body = Zval::new();
        body.set_zend_string(ZendStr::new(&request.body[..], false));
        result.insert("body", body)?;
        Ok(result)
    }

    /// The normalised settings, in FluentCart's keys (blank rows dropped, `enabled` a bool).
    #[php(name = "toArray")]
    pub fn to_array(&self) -> PhpResult<ZBox<ZendHashTable>> {
        Ok(match self.feed()?.settings.to_value() {
            serde_json::Value::Object(map) => convert::map_to_table(&map),
            _ => ZendHashTable::new(),
        })
    }
}

impl PhpFeed {
    /// The feed, or the error for an object whose constructor has not run or threw.
    pub fn feed(&self) -> PhpResult<&Arc<Feed>> {
        self.feed.as_ref().ok_or_else(|| {
            exceptions::error(
                "this FluentWebhook\\Feed was never constructed (its constructor threw, or has not run yet)",
            )
        })
    }
}

/// Settings array → feed, for the constructor and for arrays given to dispatch().
pub fn parse_feed(settings: &ZendHashTable, id: Option<String>) -> PhpResult<Feed> {
    let known = known_settings(settings)?;
    let value = convert::array_to_value(known.as_deref().unwrap_or(settings)).map_err(|e| {
        e.exception("$settings", |message| exceptions::invalid_feed(&InvalidFeed { key: "settings", message }))
    })?;
    // Validating copies the settings' text in many ordinary allocations (trimmed, a URL
    // parsed and written again, a message quoting it): room for a few copies is asked first.
    memory::room_for(text_bytes(&value).saturating_mul(SETTINGS_COPIES))
        .map_err(|e| exceptions::error(format!("$settings: {e}")))?;
    Feed::new(&value, id).map_err(|e| exceptions::invalid_feed(&e))
}

/// The keys of `settings` that a feed reads ([`crate::settings::KEYS`]), in a table of their
/// own (the values shared, not copied); `None` when there is nothing else to leave out, or
/// when `settings` is a list, which is refused as such. Unknown keys are ignored whatever they
/// hold: walked with the rest, a site's own key holding binary text, a resource or a NAN made
/// the whole feed invalid.
fn known_settings(settings: &ZendHashTable) -> PhpResult<Option<ZBox<ZendHashTable>>> {
    if convert::is_list(settings) || convert::keys_within(settings, &KEYS) {
        return Ok(None);
    }
    let mut table = ZendHashTable::new();
    for key in KEYS {
        if let Some(value) = settings.get(key) {
            table.insert(key, value.shallow_clone()).map_err(|e| exceptions::error(format!("$settings: {e}")))?;
        }
    }
    Ok(Some(table))
}

/// Copies of the settings' text that validating them may hold at once, at most.
const SETTINGS_COPIES: usize = 4;

/// The bytes of the strings and keys in `value`.
fn text_bytes(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(map) => map.iter().map(|(key, item)| key.len() + text_bytes(item)).sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// `int|string|null` → the id as text.
pub fn feed_id(id: Option<&Zval>) -> PhpResult<Option<String>> {
    let Some(id) = id.map(Zval::dereference) else {
        return Ok(None);
    };
    if id.is_null() {
        return Ok(None);
    }
    if let Some(number) = id.long() {
        return Ok(Some(number.to_string()));
    }
    match id.zend_str().map(|s| std::str::from_utf8(s.as_bytes())) {
        Some(Ok(text)) if !text.trim().is_empty() => Ok(Some(text.trim().to_string())),
        Some(Ok(_)) => Err(exceptions::invalid_feed(&InvalidFeed { key: "id", message: "must not be blank".into() })),
        Some(Err(_)) => Err(exceptions::invalid_feed(&InvalidFeed { key: "id", message: "is not valid UTF-8".into() })),
        None => Err(exceptions::invalid_feed(&InvalidFeed {
            key: "id",
            message: format!("must be an int, a string or null, got {}", convert::type_name(id)),
        })),
    }
}
