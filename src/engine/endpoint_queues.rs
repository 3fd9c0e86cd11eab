//! The deliveries waiting for a request slot, queued by endpoint. While other endpoints'
//! deliveries wait, one endpoint gets at most half the slots: an endpoint that hangs until
//! the timeout holds up only its own deliveries, not every feed's behind them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Endpoints known before those with nothing waiting or in flight are first forgotten.
const ENDPOINTS_KEPT: usize = 64;

/// The slots one endpoint may hold while another endpoint's deliveries wait.
pub(super) fn share(max_concurrency: usize) -> usize {
    (max_concurrency / 2).max(1)
}

/// The endpoint a URL's requests go to: its scheme and authority (`https://host:port`).
pub(super) fn endpoint(url: &str) -> &str {
    let Some(scheme_end) = url.find("://") else { return url };
    let authority = scheme_end + 3;
    let end = url[authority..].find(['/', '?', '#']).map_or(url.len(), |at| authority + at);
    &url[..end]
}

pub(super) struct EndpointQueues<T> {
    endpoints: Vec<Endpoint<T>>,
    by_key: HashMap<String, usize>,
    /// Where the next round-robin look starts: just past the last endpoint picked, not
    /// wrapped, so that an endpoint added since (at the end) is next rather than last.
    next: usize,
    waiting: usize,
    /// How many endpoints may be known before the idle ones are forgotten: twice those left
    /// busy by the last forgetting, so that many busy endpoints do not make each new one a
    /// pass over them all.
    forget_at: usize,
}

struct Endpoint<T> {
    key: String,
    waiting: VecDeque<T>,
    in_flight: Arc<AtomicUsize>,
}

/// A request in flight to an endpoint, counted until it is dropped.
pub(super) struct EndpointSlot(Arc<AtomicUsize>);

impl Drop for EndpointSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl<T> Default for EndpointQueues<T> {
    fn default() -> Self {
        EndpointQueues { endpoints: Vec::new(), by_key: HashMap::new(), next: 0, waiting: 0, forget_at: ENDPOINTS_KEPT }
    }
}

impl<T> EndpointQueues<T> {
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    pub fn push(&mut self, item: T, endpoint_of: impl FnOnce(&T) -> &str) {
        let endpoint = endpoint_of(&item);
        let at = match self.by_key.get(endpoint) {
            Some(&at) => at,
            None => {
                if self.endpoints.len() >= self.forget_at {
                    self.forget_idle();
                }
                self.endpoints.push(Endpoint {
                    key: endpoint.to_string(),
                    waiting: VecDeque::new(),
                    in_flight: Arc::new(AtomicUsize::new(0)),
                });
                self.by_key.insert(endpoint.to_string(), self.endpoints.len() - 1);
                self.endpoints.len() - 1
            }
        };
        self.endpoints[at].waiting.push_back(item);
        self.waiting += 1;
    }

    /// The next item for a free slot: in turn, from an endpoint holding fewer than `share`
    /// slots; when every endpoint with items waiting holds its share, from the next of them
    /// all the same, since no other endpoint waits for the slot.
    pub fn pick(&mut self, share: usize) -> Option<(T, EndpointSlot)> {
        let count = self.endpoints.len();
        let in_turn = (0..count).map(|i| (self.next + i) % count).filter(|&at| !self.endpoints[at].waiting.is_empty());
        let mut first = None;
        let mut chosen = None;
        for at in in_turn {
            first.get_or_insert(at);
            if self.endpoints[at].in_flight.load(Ordering::Acquire) < share {
                chosen = Some(at);
                break;
            }
        }
        let at = chosen.or(first)?;
        self.next = at + 1;
        let endpoint = &mut self.endpoints[at];
        let item = endpoint.waiting.pop_front()?;
        endpoint.in_flight.fetch_add(1, Ordering::AcqRel);
        self.waiting -= 1;
        Some((item, EndpointSlot(Arc::clone(&endpoint.in_flight))))
    }

    fn forget_idle(&mut self) {
        self.endpoints.retain(|e| !e.waiting.is_empty() || e.in_flight.load(Ordering::Acquire) > 0);
        self.by_key = self.endpoints.iter().enumerate().map(|(at, e)| (e.key.clone(), at)).collect();
        self.next = 0;
        self.forget_at = (self.endpoints.len() * 2).max(ENDPOINTS_KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(
        queues: &mut EndpointQueues<&'static str>,
        share: usize,
        slots: &mut Vec<EndpointSlot>,
    ) -> Vec<&'static str> {
        std::iter::from_fn(|| {
            queues.pick(share).map(|(item, slot)| {
                slots.push(slot);
                item
            })
        })
        .collect()
    }

    #[test]
    fn an_endpoint_is_its_scheme_and_authority() {
        assert_eq!(endpoint("https://a.example:8443/hook?x=1"), "https://a.example:8443");
        assert_eq!(endpoint("http://a.example?x=1"), "http://a.example");
        assert_eq!(endpoint("http://a.example#f"), "http://a.example");
        assert_eq!(endpoint("http://a.example"), "http://a.example");
        assert_eq!(endpoint("not a url"), "not a url");
    }

    #[test]
    fn one_endpoint_gets_every_slot_when_no_other_waits() {
        let mut queues = EndpointQueues::default();
        for item in ["a1", "a2", "a3"] {
            queues.push(item, |_| "http://a");
        }
        let mut slots = Vec::new();
        assert_eq!(drain(&mut queues, 1, &mut slots), ["a1", "a2", "a3"], "in order, past its share");
        assert!(queues.is_empty());
    }

    #[test]
    fn an_endpoint_past_its_share_waits_while_another_endpoint_has_deliveries() {
        let mut queues = EndpointQueues::default();
        let mut slots = Vec::new();
        for item in ["hang1", "hang2", "hang3", "hang4"] {
            queues.push(item, |_| "http://hang");
        }
        let (first, slot) = queues.pick(2).unwrap();
        slots.push(slot);
        let (second, slot) = queues.pick(2).unwrap();
        slots.push(slot);
        assert_eq!([first, second], ["hang1", "hang2"]);
        queues.push("ok1", |_| "http://ok");
        queues.push("ok2", |_| "http://ok");
        queues.push("ok3", |_| "http://ok");
        // Two in flight to the hanging endpoint: its share. The other goes first.
        assert_eq!(drain(&mut queues, 2, &mut slots)[..2], ["ok1", "ok2"]);
    }

    #[test]
    fn a_finished_request_frees_its_endpoints_share() {
        let mut queues = EndpointQueues::default();
        queues.push("a1", |_| "http://a");
        queues.push("a2", |_| "http://a");
        queues.push("b1", |_| "http://b");
        queues.push("b2", |_| "http://b");
        let (a1, slot_a1) = queues.pick(1).unwrap();
        let (b1, _slot_b1) = queues.pick(1).unwrap();
        assert_eq!([a1, b1], ["a1", "b1"]);
        drop(slot_a1);
        assert_eq!(queues.pick(1).map(|(item, _)| item), Some("a2"), "a holds nothing now; b holds its share");
    }

    #[test]
    fn endpoints_take_turns() {
        let mut queues = EndpointQueues::default();
        for item in ["a1", "a2", "a3"] {
            queues.push(item, |_| "http://a");
        }
        for item in ["b1", "b2"] {
            queues.push(item, |_| "http://b");
        }
        let mut slots = Vec::new();
        assert_eq!(drain(&mut queues, 8, &mut slots), ["a1", "b1", "a2", "b2", "a3"]);
    }

    /// With one slot (a share of one), an endpoint that hangs until the timeout held it when
    /// another endpoint's delivery came: that one is next, not the hanging endpoint's second.
    #[test]
    fn an_endpoint_that_came_after_the_last_turn_is_next() {
        let mut queues = EndpointQueues::default();
        queues.push("hang1", |_| "http://hang");
        queues.push("hang2", |_| "http://hang");
        let (first, slot) = queues.pick(1).unwrap();
        assert_eq!(first, "hang1");
        queues.push("ok1", |_| "http://ok");
        drop(slot);
        assert_eq!(queues.pick(1).map(|(item, _)| item), Some("ok1"));
        assert_eq!(queues.pick(1).map(|(item, _)| item), Some("hang2"));
    }

    #[test]
    fn many_busy_endpoints_are_not_walked_for_each_new_one() {
        let mut queues = EndpointQueues::default();
        let mut forgettings = 0;
        for n in 0..ENDPOINTS_KEPT * 20 {
            let before = queues.forget_at;
            queues.push(format!("http://e{n}"), |item| item);
            forgettings += usize::from(queues.forget_at != before);
        }
        assert_eq!(queues.endpoints.len(), ENDPOINTS_KEPT * 20, "every one waits: none forgotten");
        assert!(forgettings <= 5, "{forgettings} passes over the endpoints, not one per endpoint");
    }

    #[test]
    fn idle_endpoints_are_forgotten_and_busy_ones_kept() {
        // Each item is its endpoint.
        let mut queues = EndpointQueues::default();
        let push = |queues: &mut EndpointQueues<String>, endpoint: String| queues.push(endpoint, |item| item);
        push(&mut queues, "http://busy".into());
        let busy = queues.pick(1).unwrap().1;
        for n in 0..ENDPOINTS_KEPT * 3 {
            push(&mut queues, format!("http://e{n}"));
            queues.pick(1).unwrap();
        }
        assert!(queues.endpoints.len() <= ENDPOINTS_KEPT);
        assert_eq!(queues.endpoints[queues.by_key["http://busy"]].in_flight.load(Ordering::Acquire), 1);
        push(&mut queues, "http://busy".into());
        assert_eq!(queues.pick(1).map(|(item, _)| item).as_deref(), Some("http://busy"));
        drop(busy);
    }
}
