//! A delivery: one feed's request for one event, with the id that receivers see as
//! `webhook-id` and use to drop duplicates. Every attempt of a delivery carries the same id.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::request::WebhookRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub feed_id: Option<String>,
    pub feed_name: String,
    pub event: String,
    pub request: WebhookRequest,
    /// Unix milliseconds.
    pub created_at: u64,
    /// Attempts already made (0 for a new delivery).
    pub attempts: u32,
}

impl Delivery {
    pub fn new(feed_id: Option<String>, feed_name: String, event: String, request: WebhookRequest) -> Delivery {
        Delivery { id: new_id(), feed_id, feed_name, event, request, created_at: unix_millis(), attempts: 0 }
    }

    /// A new delivery (new id) of the same request, for a manual resend.
    pub fn resend(&self) -> Delivery {
        Delivery::new(self.feed_id.clone(), self.feed_name.clone(), self.event.clone(), self.request.clone())
    }

    /// Bytes this delivery holds in memory, for the memory cap.
    pub fn size(&self) -> usize {
        const BOOKKEEPING: usize = 256;
        self.request.body.len()
            + self.request.url.len()
            + self.request.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
            + BOOKKEEPING
    }
}

/// `msg_` + a UUIDv7: unique, and sortable by creation time.
pub fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// Unix seconds, as `webhook-timestamp` carries them.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Unix milliseconds.
pub fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.starts_with("msg_") && id.len() == 36));
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids);
    }
}
