//! Counters of every delivery this process queued, and a short list of recent failures, so
//! that nothing fails silently: `stats()` shows them and `flush()` waits on them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::delivery::Delivery;
use crate::outcome::Outcome;

/// How many failures `stats()` lists; older ones are only counted.
const RECENT_FAILURES_KEPT: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    pub delivery_id: String,
    pub feed_id: Option<String>,
    pub feed_name: String,
    pub event: String,
    pub url: String,
    pub status: Option<u16>,
    pub reason: String,
    pub at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub dispatched: u64,
    pub queued: u64,
    pub in_flight: u64,
    pub delivered: u64,
    pub failed: u64,
    pub recent_failures: Vec<FailureRecord>,
}

#[derive(Default)]
pub struct Tally {
    dispatched: AtomicU64,
    queued: AtomicU64,
    in_flight: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    recent_failures: Mutex<VecDeque<FailureRecord>>,
    /// Held while checking for idleness and while announcing it, so no wake-up is missed.
    idle_lock: Mutex<()>,
    idle: Condvar,
}

impl Tally {
    pub fn queued(&self, count: u64) {
        self.dispatched.fetch_add(count, Ordering::Relaxed);
        self.queued.fetch_add(count, Ordering::SeqCst);
    }

    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn finished(&self, delivery: &Delivery, outcome: &Outcome) {
        match outcome {
            Outcome::Delivered { .. } => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed { status, reason, .. } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.record_failure(delivery, *status, reason);
            }
        }
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.pending() == 0 {
            let _guard = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.idle.notify_all();
        }
    }

    fn record_failure(&self, delivery: &Delivery, status: Option<u16>, reason: &str) {
        let record = FailureRecord {
            delivery_id: delivery.id.clone(),
            feed_id: delivery.feed_id.clone(),
            feed_name: delivery.feed_name.clone(),
            event: delivery.event.clone(),
            url: delivery.request.url.clone(),
            status,
            reason: reason.to_string(),
            at: crate::delivery::unix_now(),
        };
        let mut recent = self
            .recent_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_FAILURES_KEPT {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    /// Deliveries queued or in flight.
    pub fn pending(&self) -> u64 {
        self.queued.load(Ordering::SeqCst) + self.in_flight.load(Ordering::SeqCst)
    }

    /// Blocks until nothing is pending or `timeout` passes; true when nothing is pending.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.pending() == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Wake at least every 100 ms: counters move outside the lock.
            let wait = (deadline - now).min(Duration::from_millis(100));
            guard = self
                .idle
                .wait_timeout(guard, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            dispatched: self.dispatched.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            recent_failures: self
                .recent_failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect(),
        }
    }
}
