//! The `FluentWebhook\` functions: dispatch(), flush(), stats(), events().

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, Zval};

use super::convert;
use super::exceptions;
use super::feed_class::{parse_feed, PhpFeed};
use super::ini;
use super::json;
use super::lifecycle;
use super::log;
use super::number::{PhpFloat, PhpInt};
use super::text::PhpText;
use crate::delivery::unix_now;
use crate::delivery::Delivery;
use crate::engine;
use crate::events::KNOWN_EVENTS;
use crate::feed::{self, Encoded, Feed};
use crate::memory;
use crate::redact;
use crate::request;
use crate::signature::{self, Secret};

/// Adds the functions of this file to the module.
pub fn register(module: ModuleBuilder) -> ModuleBuilder {
    module
        .function(wrap_function!(dispatch))
        .function(wrap_function!(flush))
        .function(wrap_function!(stats))
        .function(wrap_function!(events))
        .function(wrap_function!(resume))
        .function(wrap_function!(deliveries))
        .function(wrap_function!(redeliver))
        .function(wrap_function!(cancel))
        .function(wrap_function!(generate_secret))
        .function(wrap_function!(verify))
}

/// Queues one delivery for every feed that `$event` fires, and returns their ids at once; a
/// background runtime sends them. `$feeds` holds Feed objects or settings arrays (an array
/// may carry its id under `id`). A feed given twice (same id, or the same object) is sent
/// once. The data is converted here, on the PHP thread, only if some feed matches.
#[php_function]
#[php(name = "FluentWebhook\\dispatch")]
pub fn dispatch(event: PhpText, data: &ZendHashTable, feeds: &ZendHashTable) -> PhpResult<Vec<String>> {
    let event = event.event_name()?;
    let mut seen_ids = HashSet::new();
    let mut seen_objects = HashSet::new();
    // Handles of our own (an Arc, not a copy): converting the data runs jsonSerialize(), PHP
    // code that could free a Feed object while we still read its settings.
    let mut firing: Vec<Arc<Feed>> = Vec::new();
    // Each item counted as ours first (a reference's value, not the reference): reading a
    // settings array runs jsonSerialize(), which may unset a referenced array or write the
    // $feeds table in place (ArrayObject's storage), freeing or moving what we read.
    let mut items: Vec<Zval> = Vec::new();
    memory::reserve(&mut items, feeds.len()).map_err(|e| exceptions::error(format!("dispatch(): $feeds: {e}")))?;
    items.extend(convert::values(feeds).map(|item| item.dereference().shallow_clone()));
    for (position, item) in items.iter().enumerate() {
        let feed = feed_from(item, format_args!("$feeds[{position}]"))?;
        if !feed.matches(event) {
            continue;
        }
        let first_time = match (&feed.id, item.object()) {
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
    // One walk of the zvals makes every encoding the feeds need (JSON and form bodies written
    // straight from them; a Value only for selected fields), each shared by its feeds.
    let limit = ini::max_payload_bytes();
    let mut sinks = feed::sinks_for(firing.iter().map(|feed| &**feed), limit);
    let encoded = match sinks.wants_json_only().then(|| json::encode(data, limit.min(json::LARGEST_BODY))).flatten() {
        Some(body) => Encoded { json: Some(body), ..Encoded::default() },
        None => {
            // Selected fields may take a small part of large data: no limit on what is read.
            let room = if sinks.tree.is_some() { usize::MAX } else { limit };
            convert::walk_array(data, &mut sinks, room).map_err(|e| e.exception("$data", exceptions::payload))?;
            sinks.finish().map_err(|e| exceptions::error(format!("$data: {e}")))?
        }
    };
    let network = ini::allowed_networks();
    // What the deliveries hold, as the engine counts its memory: a body that feeds share
    // once, and each its own URL (a GET's carries the payload), headers and selected fields.
    // Each is at most max_payload_bytes, but a thousand GET feeds of a 1 MB event are 1 GB
    // that no memory cap saw, built before the engine could park any on disk.
    // One delivery always goes (a cap smaller than a single delivery parks it, as ever): one
    // feed needs no count.
    let memory_limit = if firing.len() > 1 { ini::memory_limit() } else { usize::MAX };
    let (mut held, mut bodies) = (0usize, HashSet::new());
    let mut deliveries: Vec<Delivery> = Vec::new();
    memory::reserve(&mut deliveries, firing.len()).map_err(|e| exceptions::error(format!("dispatch(): {e}")))?;
    for feed in &firing {
        let request = feed.request_from(event, &encoded, limit).map_err(exceptions::request)?;
        request::check_size(&request, &feed.settings.name, limit).map_err(exceptions::payload)?;
        let mut delivery = Delivery::new(feed.id.clone(), feed.settings.name.clone(), event.to_string(), request);
        delivery.network = Some(network.clone());
        if memory_limit < usize::MAX {
            let body = &delivery.request.body;
            held += delivery.size() - body.len();
            if bodies.insert(body.as_ptr()) {
                held += body.len();
            }
        }
        if held > memory_limit && !deliveries.is_empty() {
            return Err(exceptions::error(format!(
                "dispatch(): the deliveries to these {} feeds would hold more than fluent_webhook.memory_limit \
                 ({memory_limit} bytes) in memory (each GET URL and each feed's selected fields is a copy of its \
                 own; a body sent whole is shared): none was queued",
                firing.len()
            )));
        }
        deliveries.push(delivery);
    }
    let ids = deliveries.iter().map(|d| d.id.clone()).collect();
    lifecycle::pin_extension();
    let submitted = engine::submit(deliveries, ini::engine_config);
    lifecycle::log_engine_warnings();
    submitted.map_err(exceptions::error)?;
    Ok(ids)
}

/// A Feed object or a settings array; `name` names the argument in an error.
fn feed_from(item: &Zval, name: std::fmt::Arguments) -> PhpResult<Arc<Feed>> {
    let item = item.dereference();
    if let Some(object) = item.object() {
        return match ZendClassObject::<PhpFeed>::from_zend_obj(object) {
            Some(feed) => feed.feed().map(Arc::clone).map_err(|_| {
                exceptions::error(format!(
                    "{name} is a FluentWebhook\\Feed that was never constructed (its constructor threw, or has not run yet)"
                ))
            }),
            None => Err(exceptions::error(format!(
                "{name} must be a FluentWebhook\\Feed or a settings array, got an object of class {}",
                object.get_class_name().unwrap_or_default()
            ))),
        };
    }
    if let Some(settings) = item.array() {
        let id = super::feed_class::feed_id(settings.get("id"))?;
        return parse_feed(settings, id).map(Arc::new);
    }
    Err(exceptions::error(format!(
        "{name} must be a FluentWebhook\\Feed or a settings array, got {}",
        convert::type_name(item)
    )))
}

/// Waits until nothing is queued or in flight, at most `$timeout` seconds, sending retries
/// (and deliveries other processes left in the spool) that fall due meanwhile. True when
/// nothing is left to send before the deadline; retries scheduled later stay in the spool.
#[php_function]
#[php(name = "FluentWebhook\\flush", defaults(timeout = 30.0))]
pub fn flush(timeout: PhpFloat) -> PhpResult<bool> {
    let PhpFloat(timeout) = timeout;
    if !timeout.is_finite() || timeout < 0.0 {
        return Err(exceptions::error(format!(
            "flush(): timeout must be a finite number of seconds >= 0, got {timeout}"
        )));
    }
    lifecycle::pin_extension();
    let flushed = engine::flush(Duration::from_secs_f64(timeout.min(86_400.0)), ini::engine_config);
    lifecycle::log_engine_warnings();
    flushed.map_err(exceptions::error)
}

/// Sends the deliveries in the spool that are due (retries, and what processes that exited
/// left); for a cron job. Returns how many it took up; `flush()` waits for them.
#[php_function]
#[php(name = "FluentWebhook\\resume")]
pub fn resume() -> PhpResult<i64> {
    lifecycle::pin_extension();
    let claimed = engine::resume(ini::engine_config);
    lifecycle::log_engine_warnings();
    Ok(claimed.map_err(exceptions::error)? as i64)
}

/// This process's counters: dispatched, queued, in_flight, delivered, failed, gone,
/// retries_scheduled, spooled, parked (left on disk by the memory cap), lost, runtime, pid,
/// spool, and recent_failures (the last 50
/// final failures, newest last).
#[php_function]
#[php(name = "FluentWebhook\\stats")]
pub fn stats() -> PhpResult<ZBox<ZendHashTable>> {
    let snapshot = engine::snapshot();
    let mut result = ZendHashTable::new();
    for (key, value) in [
        ("dispatched", snapshot.dispatched),
        ("queued", snapshot.queued),
        ("in_flight", snapshot.in_flight),
        ("delivered", snapshot.delivered),
        ("failed", snapshot.failed),
        ("gone", snapshot.gone),
        ("retries_scheduled", snapshot.retries_scheduled),
        ("spooled", snapshot.spooled),
        ("parked", snapshot.parked),
        ("lost", snapshot.lost),
    ] {
        result.insert(key, value as i64)?;
    }
    result.insert("runtime", if engine::is_running() { "running" } else { "not started" })?;
    result.insert("pid", i64::from(std::process::id()))?;
    result.insert(
        "spool",
        engine::spool_location().unwrap_or_else(|| {
            ini::engine_config().spool_path.map_or(crate::spool::IN_MEMORY.into(), |p| p.display().to_string())
        }),
    )?;
    let mut failures = ZendHashTable::new();
    for failure in snapshot.recent_failures {
        let mut row = ZendHashTable::new();
        row.insert("id", failure.delivery_id)?;
        row.insert("feed_id", failure.feed_id)?;
        row.insert("feed_name", failure.feed_name)?;
        row.insert("event", failure.event)?;
        row.insert("url", redact::url(&failure.url))?;
        row.insert("status_code", failure.status.map(i64::from))?;
        row.insert("reason", failure.reason)?;
        row.insert("gone", failure.gone)?;
        row.insert("at", failure.at as i64)?;
        failures.push(row)?;
    }
    result.insert("recent_failures", failures)?;
    Ok(result)
}

/// The delivery log from the spool, newest first. `$filter` keys (all optional): `feed`
/// (feed id), `event`, `status` (pending, delivered, failed, gone), `since` (Unix seconds),
/// `limit` (default 100, at most 10,000).
#[php_function]
#[php(name = "FluentWebhook\\deliveries")]
pub fn deliveries(filter: Option<&ZendHashTable>) -> PhpResult<Vec<ZBox<ZendHashTable>>> {
    let filter = match filter {
        Some(filter) => log::filter_from(filter)?,
        None => log::filter_from(&ZendHashTable::new())?,
    };
    lifecycle::pin_extension();
    let entries = engine::deliveries(filter, ini::engine_config);
    lifecycle::log_engine_warnings();
    let entries = entries.map_err(exceptions::error)?;
    // Refused whole, before PHP's allocator fails midway: that is a fatal error (a bailout
    // past these frames, leaking `entries`), not an exception.
    if let Some(room) = php_memory_room() {
        let needed = entries.iter().map(log::php_bytes).sum::<usize>();
        if needed > room {
            return Err(exceptions::error(format!(
                "deliveries(): these {} rows would take about {} MiB of PHP memory, more than memory_limit leaves \
                 ({} MiB); ask for fewer with 'limit'",
                entries.len(),
                needed.div_ceil(1 << 20),
                room >> 20
            )));
        }
    }
    entries.iter().map(log::entry_to_array).collect()
}

extern "C" {
    fn zend_memory_usage(real_usage: bool) -> usize;
}

/// Bytes PHP's allocator gives this request before memory_limit stops it; `None` without a
/// limit.
fn php_memory_room() -> Option<usize> {
    let limit = ext_php_rs::zend::ProcessGlobals::get().memory_limit;
    // SAFETY: on the PHP thread, during a request.
    let used = unsafe { zend_memory_usage(true) };
    usize::try_from(limit).ok().filter(|limit| *limit > 0).map(|limit| limit.saturating_sub(used))
}

/// Sends a stored delivery again, as a new delivery with a new id; returns that id. With
/// `$feed` (the delivery's feed as it is now, a Feed or settings array with the same id), the
/// body as it was sent goes to the feed's current address, with its current method, headers
/// and secret; without, the stored request as it was.
#[php_function]
#[php(name = "FluentWebhook\\redeliver")]
pub fn redeliver(id: PhpText, feed: Option<&Zval>) -> PhpResult<String> {
    let id = id.delivery_id()?;
    let feed = feed.filter(|feed| !feed.is_null()).map(|feed| feed_from(feed, format_args!("$feed"))).transpose()?;
    lifecycle::pin_extension();
    let stored = engine::delivery(id, ini::engine_config).map_err(exceptions::error)?;
    let Some(entry) = stored else {
        return Err(exceptions::error(format!(
            "redeliver(): no delivery {id:?} in the spool (it may have been pruned)"
        )));
    };
    let mut again = match feed {
        Some(feed) => entry.delivery.resend_as(&feed).map_err(|e| exceptions::error(format!("redeliver(): {e}")))?,
        None => entry.delivery.resend(),
    };
    again.network = Some(ini::allowed_networks());
    let new_id = again.id.clone();
    let submitted = engine::submit(vec![again], ini::engine_config);
    lifecycle::log_engine_warnings();
    submitted.map_err(exceptions::error)?;
    Ok(new_id)
}

/// Cancels feed `$feed`'s pending deliveries in the spool, for a feed switched off or deleted:
/// those no process holds end as failed at once, with `canceled: $reason` as their last entry;
/// those in flight end with their attempt under way instead of being retried; those a process
/// holds in memory, not started, are withdrawn and never sent (see the stub). Returns how many.
#[php_function]
#[php(name = "FluentWebhook\\cancel")]
pub fn cancel(feed: PhpText, reason: Option<PhpText>) -> PhpResult<i64> {
    let feed = feed.feed_id()?;
    let reason = match &reason {
        Some(reason) => reason.reason()?,
        None => "canceled by the site",
    };
    lifecycle::pin_extension();
    let canceled = engine::cancel(feed, reason, ini::engine_config);
    lifecycle::log_engine_warnings();
    Ok(canceled.map_err(exceptions::error)? as i64)
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

/// A new signing secret for a feed: `whsec_` + base64 of 32 random bytes.
#[php_function]
#[php(name = "FluentWebhook\\generate_secret")]
pub fn generate_secret() -> PhpResult<String> {
    Ok(Secret::generate().map_err(exceptions::error)?.expose().to_string())
}

/// For PHP receivers: true when `$headers` (names in any case) carry a `webhook-signature`
/// that `$secret` made for this `webhook-id`, `webhook-timestamp` and `$body`, and the
/// timestamp is within `$tolerance` seconds of now. Compared in constant time.
#[php_function]
#[php(name = "FluentWebhook\\verify", defaults(tolerance = 300))]
pub fn verify(secret: PhpText, headers: &ZendHashTable, body: PhpText, tolerance: PhpInt) -> PhpResult<bool> {
    let PhpInt(tolerance) = tolerance;
    let secret = secret.secret()?;
    if tolerance < 0 {
        return Err(exceptions::error("verify(): tolerance must be >= 0 seconds"));
    }
    let header = |wanted: &str| -> Option<String> {
        convert::text_keyed(headers).find_map(|(name, value)| {
            (name.eq_ignore_ascii_case(wanted)).then(|| value.dereference().str().map(str::to_string)).flatten()
        })
    };
    let (Some(id), Some(timestamp), Some(signatures)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return Ok(false);
    };
    Ok(signature::verify(&secret, &id, &timestamp, &signatures, body.bytes(), unix_now(), tolerance as u64))
}
