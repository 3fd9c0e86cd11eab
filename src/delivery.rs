//! A delivery: one feed's request for one event, with the id that receivers see as
//! `webhook-id` and use to drop duplicates.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::request::WebhookRequest;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub feed_id: Option<String>,
    pub feed_name: String,
    pub event: String,
    pub request: WebhookRequest,
}

impl Delivery {
    pub fn new(
        feed_id: Option<String>,
        feed_name: String,
        event: String,
        request: WebhookRequest,
    ) -> Delivery {
        Delivery {
            id: new_id(),
            feed_id,
            feed_name,
            event,
            request,
        }
    }
}

/// `msg_` + a UUIDv7: unique, and sortable by creation time.
pub fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// Unix seconds, as `webhook-timestamp` carries them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids
            .iter()
            .all(|id| id.starts_with("msg_") && id.len() == 36));
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids);
    }
}
