//! The deliveries the spool thread has handed to the HTTP side and not seen end, by id, and
//! how many each endpoint has among them: past the count cap, a new delivery to an endpoint
//! that holds few still goes to the HTTP side (see `SpoolWorker::insert`). Each is known as
//! this process's own or taken up from the spool: at exit, only its own are waited for.

use std::collections::HashMap;
use std::sync::Arc;

/// Where a held delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Dispatched by this process: sent at once, or read back from its reserve.
    Dispatched,
    /// Taken up from the spool when due: a retry, or a delivery another process left.
    TakenUp,
}

#[derive(Default)]
pub(super) struct Held {
    endpoint_of: HashMap<String, (Arc<str>, Origin)>,
    per_endpoint: HashMap<Arc<str>, usize>,
}

impl Held {
    pub fn insert(&mut self, id: String, endpoint: &str, origin: Origin) {
        let endpoint = match self.per_endpoint.get_key_value(endpoint) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(endpoint),
        };
        if let Some((before, _)) = self.endpoint_of.insert(id, (Arc::clone(&endpoint), origin)) {
            self.forget_one(&before);
        }
        *self.per_endpoint.entry(endpoint).or_default() += 1;
    }

    pub fn remove(&mut self, id: &str) -> bool {
        match self.endpoint_of.remove(id) {
            Some((endpoint, _)) => {
                self.forget_one(&endpoint);
                true
            }
            None => false,
        }
    }

    fn forget_one(&mut self, endpoint: &Arc<str>) {
        if let Some(count) = self.per_endpoint.get_mut(endpoint) {
            *count -= 1;
            if *count == 0 {
                self.per_endpoint.remove(endpoint);
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.endpoint_of.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.endpoint_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoint_of.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.endpoint_of.keys().map(String::as_str)
    }

    /// The ids of those taken up from the spool.
    pub fn taken_up(&self) -> impl Iterator<Item = &str> {
        self.endpoint_of.iter().filter(|(_, (_, origin))| *origin == Origin::TakenUp).map(|(id, _)| id.as_str())
    }

    pub fn for_endpoint(&self, endpoint: &str) -> usize {
        self.per_endpoint.get(endpoint).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Held, Origin};

    #[test]
    fn counts_follow_ids_by_endpoint() {
        let mut held = Held::default();
        held.insert("a1".into(), "http://a", Origin::Dispatched);
        held.insert("a2".into(), "http://a", Origin::Dispatched);
        held.insert("b1".into(), "http://b", Origin::TakenUp);
        assert_eq!((held.len(), held.for_endpoint("http://a"), held.for_endpoint("http://b")), (3, 2, 1));
        assert_eq!(held.taken_up().collect::<Vec<_>>(), ["b1"]);
        // The same id again (claimed back) is one delivery, counted where it is now.
        held.insert("a2".into(), "http://b", Origin::TakenUp);
        let mut taken_up: Vec<_> = held.taken_up().collect();
        taken_up.sort_unstable();
        assert_eq!(taken_up, ["a2", "b1"], "as it came the last time");
        assert_eq!((held.len(), held.for_endpoint("http://a"), held.for_endpoint("http://b")), (3, 1, 2));
        assert!(held.remove("a1") && !held.remove("a1"));
        assert!(held.remove("a2") && held.remove("b1"));
        assert!(held.is_empty());
        assert_eq!(held.for_endpoint("http://a"), 0);
        assert!(held.per_endpoint.is_empty(), "no endpoint kept with nothing held");
    }
}
