//! The delivery log as PHP arrays: `deliveries()` filters in, rows out.

use ext_php_rs::boxed::ZBox;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::types::ZendHashTable;

use super::exceptions;
use crate::redact;
use crate::spool::{Filter, LogEntry, Status};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// `['feed' => , 'event' => , 'status' => , 'since' => , 'limit' => ]` → a filter.
pub fn filter_from(filter: &ZendHashTable) -> PhpResult<Filter> {
    let mut parsed = Filter { limit: DEFAULT_LIMIT, ..Filter::default() };
    for (key, value) in super::convert::text_keyed(filter) {
        let value = value.dereference();
        let text = || -> PhpResult<String> {
            if let Some(number) = value.long() {
                return Ok(number.to_string());
            }
            value
                .str()
                .map(str::to_string)
                .ok_or_else(|| exceptions::error(format!("deliveries(): filter '{key}' must be a string")))
        };
        match key.as_str() {
            // Trimmed, as new Feed(…, $id) stores it.
            "feed" => parsed.feed_id = Some(text()?.trim().to_string()),
            "event" => parsed.event = Some(crate::events::normalize(&text()?).to_string()),
            "status" => {
                let status = text()?;
                parsed.status = Some(Status::parse(&status).ok_or_else(|| {
                    exceptions::error(format!(
                        "deliveries(): status must be pending, delivered, failed or gone, got {status:?}"
                    ))
                })?);
            }
            "since" => {
                let seconds =
                    value.long().map(|n| n as f64).or_else(|| value.double()).filter(|s| s.is_finite() && *s >= 0.0);
                let seconds = seconds
                    .ok_or_else(|| exceptions::error("deliveries(): since must be Unix seconds (int or float) >= 0"))?;
                parsed.since = Some((seconds * 1000.0) as u64);
            }
            "limit" => {
                let limit = value.long().filter(|n| (1..=MAX_LIMIT as i64).contains(n));
                parsed.limit = limit.ok_or_else(|| {
                    exceptions::error(format!("deliveries(): limit must be an int from 1 to {MAX_LIMIT}"))
                })? as usize;
            }
            other => {
                return Err(exceptions::error(format!(
                    "deliveries(): unknown filter key '{other}' (use feed, event, status, since, limit)"
                )))
            }
        }
    }
    Ok(parsed)
}

/// About the PHP memory [`entry_to_array`] takes for `entry`, rounded up: PHP 8's allocator on
/// 64 bits (a zend_string is 24 bytes and its text, in bins up to 3 KB and whole 4 KB pages
/// past that; an array is 56 bytes and 40 per slot of its table, at least 8 slots; each key
/// is a string of its own). deliveries() checks the sum against what memory_limit leaves
/// before it builds anything: building past it was a fatal error from inside the extension.
pub fn php_bytes(entry: &LogEntry) -> usize {
    fn string(len: usize) -> usize {
        let raw = 25 + len;
        if raw <= 3072 {
            // The allocator's bins are at most a quarter apart.
            raw + raw / 4 + 8
        } else {
            raw.next_multiple_of(4096)
        }
    }
    fn array(slots: usize) -> usize {
        56 + (40 * slots.max(8).next_power_of_two()).next_multiple_of(64)
    }
    let delivery = &entry.delivery;
    // Keys of up to 16 bytes: id, feed_id, feed_name, event, method, url, status, attempts,
    // response_excerpt, created_at, next_attempt_at; at, status_code, error, duration_ms.
    let row = array(11) + 11 * string(16) + array(entry.attempts.len());
    let texts = [
        delivery.id.len(),
        delivery.feed_id.as_ref().map_or(0, String::len),
        delivery.feed_name.len(),
        delivery.event.len(),
        delivery.request.method.as_str().len(),
        // Redaction writes "[redacted]" for each credential's value, and for a user:password:
        // at most once per parameter, which a query or fragment starts and '&' or ';' ends.
        delivery.request.url.len() + 10 * delivery.request.url.matches(['&', ';', '?', '#', '@']).count(),
        entry.status.as_str().len(),
        entry.response_excerpt.len(),
    ];
    let attempts: usize = entry
        .attempts
        .iter()
        .map(|a| array(4) + 4 * string(16) + string(a.error.as_ref().map_or(0, String::len)))
        .sum();
    // And the row's slot in the list deliveries() returns.
    row + texts.iter().map(|len| string(*len)).sum::<usize>() + attempts + 40
}

/// One log row: id, feed_id, feed_name, event, url, status, attempts (each with at,
/// status_code, error, duration_ms), response_excerpt, created_at, next_attempt_at. Times are
/// Unix seconds (floats, millisecond precision). Request headers are never shown.
pub fn entry_to_array(entry: &LogEntry) -> PhpResult<ZBox<ZendHashTable>> {
    let seconds = |millis: u64| millis as f64 / 1000.0;
    let delivery = &entry.delivery;
    let mut row = ZendHashTable::new();
    row.insert("id", delivery.id.as_str())?;
    row.insert("feed_id", delivery.feed_id.clone())?;
    row.insert("feed_name", delivery.feed_name.as_str())?;
    row.insert("event", delivery.event.as_str())?;
    row.insert("method", delivery.request.method.as_str())?;
    row.insert("url", redact::url(&delivery.request.url))?;
    row.insert("status", entry.status.as_str())?;
    let mut attempts = ZendHashTable::new();
    for attempt in &entry.attempts {
        let mut item = ZendHashTable::new();
        item.insert("at", seconds(attempt.at))?;
        item.insert("status_code", attempt.status_code.map(i64::from))?;
        item.insert("error", attempt.error.clone())?;
        item.insert("duration_ms", attempt.duration_ms as i64)?;
        attempts.push(item)?;
    }
    row.insert("attempts", attempts)?;
    row.insert("response_excerpt", ext_php_rs::binary::Binary::new(entry.response_excerpt.clone()))?;
    row.insert("created_at", seconds(delivery.created_at))?;
    row.insert("next_attempt_at", entry.next_attempt_at.filter(|_| entry.status == Status::Pending).map(seconds))?;
    Ok(row)
}
