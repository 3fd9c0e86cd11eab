//! Deliveries this process holds in memory, waiting for a request slot, whose feed was canceled
//! after they were claimed. A cancel only marks held rows in the spool (`canceled`); without
//! this list each would still be sent once, to the address and with the credentials the
//! cancel was meant to stop. The spool thread finds the marks among the deliveries it holds
//! and lists them here; the HTTP side takes a delivery off the list instead of sending it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Withdrawn {
    ids: Mutex<HashSet<String>>,
    /// Whether `ids` may hold any, so that every delivery does not take the lock.
    any: AtomicBool,
}

impl Withdrawn {
    pub fn add(&self, ids: impl IntoIterator<Item = String>) {
        let mut listed = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        listed.extend(ids);
        self.any.store(!listed.is_empty(), Ordering::Release);
    }

    /// Whether `id` is withdrawn; it leaves the list either way.
    pub fn take(&self, id: &str) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let mut listed = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let found = listed.remove(id);
        self.any.store(!listed.is_empty(), Ordering::Release);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_taken_once_and_others_pass() {
        let withdrawn = Withdrawn::default();
        assert!(!withdrawn.take("a"));
        withdrawn.add(["a".to_string(), "b".to_string()]);
        assert!(withdrawn.take("a"));
        assert!(!withdrawn.take("a"), "taken off the list");
        assert!(!withdrawn.take("c"));
        assert!(withdrawn.take("b"));
        assert!(!withdrawn.any.load(Ordering::Acquire), "empty again: no lock per delivery");
    }
}
