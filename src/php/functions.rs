//! The `FluentWebhook\` functions: dispatch(), flush(), stats(), events().

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, Zval};

use super::convert;
use super::exceptions;
use super::feed_class::{parse_feed, PhpFeed};
use super::ini;
use super::lifecycle;
use super::text::PhpText;
use crate::delivery::Delivery;
use crate::engine;
use crate::events::KNOWN_EVENTS;
use crate::feed::Feed;

/// Adds the functions of this file to the module.
pub fn register(module: ModuleBuilder) -> ModuleBuilder {
    module
        .function(wrap_function!(dispatch))
        .function(wrap_function!(flush))
        .function(wrap_function!(stats))
        .function(wrap_function!(events))
}

/// Queues one delivery for every feed that `$event` fires, and returns their ids at once; a
/// background runtime sends them. `$feeds` holds Feed objects or settings arrays (an array
/// may carry its id under `id`). A feed given twice (same id, or the same object) is sent
/// once. The data is converted here, on the PHP thread, only if some feed matches.
#[php_function]
#[php(name = "FluentWebhook\\dispatch")]
pub fn dispatch(
    event: PhpText,
    data: &ZendHashTable,
    feeds: &ZendHashTable,
) -> PhpResult<Vec<String>> {
    let event = event.event_name()?;
    let mut seen_ids = HashSet::new();
    let mut seen_objects = HashSet::new();
    let mut firing: Vec<Cow<'_, Feed>> = Vec::new();
    for (position, (_, item)) in feeds.iter().enumerate() {
        let feed = feed_from(item, position)?;
        if !feed.matches(event) {
            continue;
        }
        let first_time = match (&feed.id, item.dereference().object()) {
            (Some(id), _) => seen_ids.insert(id.clone()),
            (None, Some(object)) => seen_objects.insert(std::ptr::from_ref(object) as usize),
            (None, None) => true,
        };
        if first_time {
            firing.push(feed);
        }
    }
    if firing.is_empty() {
        return Ok(Vec::new());
    }
    let data =
        convert::array_to_value(data).map_err(|e| exceptions::payload(e.describe("$data")))?;
    let deliveries: Vec<Delivery> = firing
        .iter()
        .map(|feed| {
            let request = feed.request_for(event, &data);
            Delivery::new(
                feed.id.clone(),
                feed.settings.name.clone(),
                event.to_string(),
                request,
            )
        })
        .collect();
    let ids = deliveries.iter().map(|d| d.id.clone()).collect();
    lifecycle::pin_extension();
    engine::submit(deliveries, ini::engine_config).map_err(exceptions::error)?;
    Ok(ids)
}

fn feed_from(item: &Zval, position: usize) -> PhpResult<Cow<'_, Feed>> {
    let item = item.dereference();
    if let Some(object) = item.object() {
        return match ZendClassObject::<PhpFeed>::from_zend_obj(object) {
            Some(feed) => Ok(Cow::Borrowed(&feed.feed)),
            None => Err(exceptions::error(format!(
                "$feeds[{position}] must be a FluentWebhook\\Feed or a settings array, got an object of class {}",
                object.get_class_name().unwrap_or_default()
            ))),
        };
    }
    if let Some(settings) = item.array() {
        let id = super::feed_class::feed_id(settings.get("id"))?;
        return parse_feed(settings, id).map(Cow::Owned);
    }
    Err(exceptions::error(format!(
        "$feeds[{position}] must be a FluentWebhook\\Feed or a settings array, got {}",
        convert::type_name(item)
    )))
}

/// Waits until nothing is queued or in flight, at most `$timeout` seconds. True when every
/// delivery has an outcome, false when the time ran out first.
#[php_function]
#[php(name = "FluentWebhook\\flush", defaults(timeout = 30.0))]
pub fn flush(timeout: f64) -> PhpResult<bool> {
    if !timeout.is_finite() || timeout < 0.0 {
        return Err(exceptions::error(format!(
            "flush(): timeout must be a finite number of seconds >= 0, got {timeout}"
        )));
    }
    Ok(engine::flush(Duration::from_secs_f64(
        timeout.min(86_400.0),
    )))
}

/// This process's counters: dispatched, queued, in_flight, delivered, failed, runtime
/// (running or not started), pid, and recent_failures (the last 50, newest last, each with
/// id, feed_id, feed_name, event, url, status_code, reason, at).
#[php_function]
#[php(name = "FluentWebhook\\stats")]
pub fn stats() -> PhpResult<ZBox<ZendHashTable>> {
    let snapshot = engine::snapshot();
    let mut result = ZendHashTable::new();
    result.insert("dispatched", snapshot.dispatched as i64)?;
    result.insert("queued", snapshot.queued as i64)?;
    result.insert("in_flight", snapshot.in_flight as i64)?;
    result.insert("delivered", snapshot.delivered as i64)?;
    result.insert("failed", snapshot.failed as i64)?;
    result.insert(
        "runtime",
        if engine::is_running() {
            "running"
        } else {
            "not started"
        },
    )?;
    result.insert("pid", i64::from(std::process::id()))?;
    let mut failures = ZendHashTable::new();
    for failure in snapshot.recent_failures {
        let mut row = ZendHashTable::new();
        row.insert("id", failure.delivery_id)?;
        row.insert("feed_id", failure.feed_id)?;
        row.insert("feed_name", failure.feed_name)?;
        row.insert("event", failure.event)?;
        row.insert("url", failure.url)?;
        row.insert("status_code", failure.status.map(i64::from))?;
        row.insert("reason", failure.reason)?;
        row.insert("at", failure.at as i64)?;
        failures.push(row)?;
    }
    result.insert("recent_failures", failures)?;
    Ok(result)
}

/// The events FluentCart fires, `name => label`, for building an event picker.
#[php_function]
#[php(name = "FluentWebhook\\events")]
pub fn events() -> PhpResult<ZBox<ZendHashTable>> {
    let mut result = ZendHashTable::new();
    for (name, label) in KNOWN_EVENTS {
        result.insert(*name, *label)?;
    }
    Ok(result)
}
