//! Counters of this process's deliveries, warnings for PHP's error log, and a short list of
//! recent failures, so that nothing fails silently: `stats()` shows them and `flush()` waits
//! on them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::delivery::Delivery;
use crate::outcome::Outcome;
use crate::spool::Status;

/// How many failures `stats()` lists; older ones are only counted.
const RECENT_FAILURES_KEPT: usize = 50;
/// Warnings kept for the error log until the PHP thread takes them.
const WARNINGS_KEPT: usize = 20;

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
    pub gone: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub dispatched: u64,
    pub queued: u64,
    pub in_flight: u64,
    pub delivered: u64,
    pub failed: u64,
    pub gone: u64,
    pub retries_scheduled: u64,
    pub spooled: u64,
    pub parked: u64,
    pub lost: u64,
    pub recent_failures: Vec<FailureRecord>,
}

#[derive(Default)]
pub struct Tally {
    dispatched: AtomicU64,
    queued: AtomicU64,
    in_flight: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    gone: AtomicU64,
    retries_scheduled: AtomicU64,
    spooled: AtomicU64,
    parked: AtomicU64,
    lost: AtomicU64,
    cut_offs: AtomicU64,
    /// Attempts under way at the runtime's stop whose answer had come (see http_loop's InFlight).
    answered_at_stop: AtomicU64,
    /// Deliveries still queued for the HTTP side at the stop that this process had let go
    /// (see SpoolWorker::let_go): counted in memory, but not this process's to send.
    let_go_unsent: AtomicU64,
    /// Every claim counted by [`Self::claimed`]; not shown.
    claims: AtomicU64,
    recent_failures: Mutex<VecDeque<FailureRecord>>,
    warnings: Mutex<Vec<String>>,
    spool_location: Mutex<(String, bool)>,
    /// Held while checking for idleness and while announcing it, so no wake-up is missed.
    idle_lock: Mutex<()>,
    idle: Condvar,
    /// Bytes of new deliveries handed to the spool thread and not yet written; dispatch()
    /// waits while there are too many, and refuses more past its cap.
    inbox_bytes: AtomicU64,
    inbox_lock: Mutex<()>,
    inbox_room: Condvar,
    /// Set when dispatch() has waited its longest for room once; cleared when the spool has
    /// caught up. A spool that cannot write must cost one request that wait, not every one.
    inbox_stalled: AtomicBool,
    /// Why the spool last refused new deliveries, until it writes again.
    spool_error: Mutex<Option<String>>,
}

/// What [`Tally::wait_for_inbox_room`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Free,
    /// No room, after waiting the longest.
    TimedOut,
    /// No room, and no wait: an earlier one timed out and the spool has not caught up since.
    Stalled,
}

impl Tally {
    /// New deliveries from dispatch().
    pub fn queued(&self, count: u64) {
        self.dispatched.fetch_add(count, Ordering::Relaxed);
        self.queued.fetch_add(count, Ordering::SeqCst);
    }

    /// New deliveries' bytes on their way to the spool thread.
    pub fn inbox_add(&self, bytes: u64) {
        self.inbox_bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    /// The spool thread has dealt with new deliveries of this many bytes.
    pub fn inbox_done(&self, bytes: u64) {
        let left = self.inbox_bytes.fetch_sub(bytes, Ordering::SeqCst).saturating_sub(bytes);
        if left == 0 {
            self.inbox_stalled.store(false, Ordering::SeqCst);
        }
        let _guard = self.inbox_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.inbox_room.notify_all();
    }

    /// Waits until at most `limit` bytes wait for the spool thread, or `timeout` passes; after
    /// one such wait timed out, none waits until the spool has caught up.
    pub fn wait_for_inbox_room(&self, limit: u64, timeout: Duration) -> Room {
        if self.inbox_bytes.load(Ordering::SeqCst) <= limit {
            return Room::Free;
        }
        if self.inbox_stalled.load(Ordering::SeqCst) {
            return Room::Stalled;
        }
        if self.wait_for_inbox_below(limit, timeout) {
            return Room::Free;
        }
        self.inbox_stalled.store(true, Ordering::SeqCst);
        Room::TimedOut
    }

    /// Waits until at most `limit` bytes wait for the spool thread, or `timeout` passes; true
    /// when they do.
    pub fn wait_for_inbox_below(&self, limit: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.inbox_lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.inbox_bytes.load(Ordering::SeqCst) <= limit {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self.inbox_room.wait_timeout(guard, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Bytes of new deliveries not yet written.
    pub fn inbox_pending(&self) -> u64 {
        self.inbox_bytes.load(Ordering::SeqCst)
    }

    pub fn set_spool_error(&self, error: Option<String>) {
        *self.spool_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    pub fn spool_error(&self) -> Option<String> {
        self.spool_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Deliveries written to the spool.
    pub fn spooled(&self, count: u64) {
        self.spooled.fetch_add(count, Ordering::Relaxed);
    }

    /// A queued delivery left on disk because memory is at its cap.
    pub fn parked(&self) {
        self.parked.fetch_add(1, Ordering::Relaxed);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        self.notify_if_idle();
    }

    /// A delivery taken from the spool to send (a retry, a parked one, another process's).
    pub fn claimed(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.claims.fetch_add(1, Ordering::SeqCst);
    }

    /// Deliveries taken from the spool so far: flush() sees whether one was taken while it
    /// asked the spool what is due (see engine::flush).
    pub fn claims(&self) -> u64 {
        self.claims.load(Ordering::SeqCst)
    }

    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    /// An attempt's outcome is recorded; `status` is what the delivery is now.
    pub fn settled(&self, delivery: &Delivery, outcome: &Outcome, status: Status) {
        match status {
            Status::Delivered => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Status::Pending => {
                self.retries_scheduled.fetch_add(1, Ordering::Relaxed);
            }
            Status::Failed | Status::Gone => {
                let counter = if status == Status::Gone { &self.gone } else { &self.failed };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Outcome::Failed { status: code, reason, .. } = outcome {
                    self.record_failure(delivery, *code, reason, status == Status::Gone);
                }
            }
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.notify_if_idle();
    }

    /// An in-flight delivery whose task ended without an outcome (runtime stopped).
    pub fn abandoned(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.notify_if_idle();
    }

    /// An attempt under way handed to the spool thread as cut off by the runtime's stop.
    pub fn cut_off(&self) {
        self.cut_offs.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cut_offs(&self) -> u64 {
        self.cut_offs.load(Ordering::Relaxed)
    }

    /// An attempt under way at the runtime's stop handed to the spool thread with its answer,
    /// whose body was still coming: sent and answered, not among those the exit left unsent.
    pub fn answered_at_stop(&self) {
        self.answered_at_stop.fetch_add(1, Ordering::Relaxed);
    }

    pub fn answered_at_stops(&self) -> u64 {
        self.answered_at_stop.load(Ordering::Relaxed)
    }

    /// At the stop: how many deliveries let go were still queued for the HTTP side.
    pub fn set_let_go_unsent(&self, count: u64) {
        self.let_go_unsent.store(count, Ordering::Relaxed);
    }

    pub fn let_go_unsent(&self) -> u64 {
        self.let_go_unsent.load(Ordering::Relaxed)
    }

    /// Deliveries that could not be written anywhere at shutdown.
    pub fn lost(&self, count: u64) {
        self.lost.fetch_add(count, Ordering::Relaxed);
    }

    fn notify_if_idle(&self) {
        if self.pending() == 0 {
            let _guard = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.idle.notify_all();
        }
    }

    fn record_failure(&self, delivery: &Delivery, status: Option<u16>, reason: &str, gone: bool) {
        let record = FailureRecord {
            delivery_id: delivery.id.clone(),
            feed_id: delivery.feed_id.clone(),
            feed_name: delivery.feed_name.clone(),
            event: delivery.event.clone(),
            url: delivery.request.url.clone(),
            status,
            reason: reason.to_string(),
            at: crate::delivery::unix_now(),
            gone,
        };
        let mut recent = self.recent_failures.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_FAILURES_KEPT {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    /// A message for PHP's error log; the PHP thread writes it (background threads must not).
    pub fn warn(&self, message: String) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if warnings.len() < WARNINGS_KEPT && !warnings.contains(&message) {
            warnings.push(message);
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_spool_location(&self, location: String, in_memory: bool) {
        *self.spool_location.lock().unwrap_or_else(|e| e.into_inner()) = (location, in_memory);
    }

    /// Where the spool is, and whether it is only in memory.
    pub fn spool_location(&self) -> (String, bool) {
        self.spool_location.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Deliveries queued in memory or in flight.
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
            guard = self.idle.wait_timeout(guard, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            dispatched: self.dispatched.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            gone: self.gone.load(Ordering::Relaxed),
            retries_scheduled: self.retries_scheduled.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            parked: self.parked.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            recent_failures: self.recent_failures.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect(),
        }
    }
}
