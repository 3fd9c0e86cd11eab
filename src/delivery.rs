//! A delivery: one feed's request for one event, with the id that receivers see as
//! `webhook-id` and use to drop duplicates. Every attempt of a delivery carries the same id.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::feed::Feed;
use crate::request::{self, WebhookRequest};

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
    /// The `fluent_webhook.allowed_networks` of the request that queued it, as
    /// [`crate::network::NetworkPolicy`] writes it: a process sending it (the spool is shared)
    /// connects only where both its own and this allow. `None` for a row an earlier build wrote
    /// (the spool thread gives its process's to one that has none).
    pub network: Option<std::sync::Arc<str>>,
}

impl Delivery {
    pub fn new(feed_id: Option<String>, feed_name: String, event: String, request: WebhookRequest) -> Delivery {
        Delivery {
            id: new_id(),
            feed_id,
            feed_name,
            event,
            request,
            created_at: unix_millis(),
            attempts: 0,
            network: None,
        }
    }

    /// A new delivery (new id) of the same request, for a manual resend. Taken, not copied:
    /// a GET's URL holds its payload, of the size PHP code decided, and a copy of it is an
    /// allocation the allocator may refuse (crate::memory), an abort.
    pub fn resend(self) -> Delivery {
        Delivery::new(self.feed_id, self.feed_name, self.event, self.request)
    }

    /// A new delivery (new id) of the same body, as `feed` sends now: its current name,
    /// address, method, headers and secret, for a manual resend after the feed was edited.
    pub fn resend_as(&self, feed: &Feed) -> Result<Delivery, String> {
        let (Some(belongs_to), Some(given)) = (&self.feed_id, &feed.id) else {
            return Err(format!(
                "delivery {:?}: a resend as a feed sends now needs the feed's id on both sides (the delivery's and \
                 the Feed's); without one, send it again as stored",
                self.id
            ));
        };
        if belongs_to != given {
            return Err(format!("delivery {:?} belongs to feed {belongs_to:?}, not to feed {given:?}", self.id));
        }
        // dispatch() keeps the event as it was given and sends its name without `fluent_cart/`.
        let event = crate::events::normalize(&self.event);
        let request = request::resent_as(&feed.settings, event, &self.request).map_err(|why| {
            format!("delivery {:?} cannot be sent as feed {:?} sends now: {why}", self.id, feed.settings.name)
        })?;
        Ok(Delivery::new(self.feed_id.clone(), feed.settings.name.clone(), self.event.clone(), request))
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

/// `msg_` + a UUIDv7: unique, and sortable by creation time within this process (a 12-bit
/// counter after the millisecond, RFC 9562's method 1; past 4,096 in one millisecond the
/// time borrows the next), with 62 random bits.
pub fn new_id() -> String {
    IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        let mut bytes = ids.random.take();
        let now = unix_millis();
        if now > ids.millis {
            // A new millisecond starts the counter from a random point in its lower half, so
            // that ids made in one millisecond by two processes are not in step.
            (ids.millis, ids.counter) = (now, u16::from_be_bytes([bytes[0], bytes[1]]) & 0x7ff);
        } else if ids.counter == 0xfff {
            (ids.millis, ids.counter) = (ids.millis + 1, 0);
        } else {
            ids.counter += 1;
        }
        [bytes[0], bytes[1]] = ids.counter.to_be_bytes();
        let id = uuid::Builder::from_unix_timestamp_millis(ids.millis, &bytes).into_uuid();
        format!("msg_{}", id.simple())
    })
}

thread_local! {
    static IDS: std::cell::RefCell<Ids> = const {
        std::cell::RefCell::new(Ids { millis: 0, counter: 0, random: RandomBytes { bytes: [0; 4096], used: 4096, pid: 0 } })
    };
}

struct Ids {
    millis: u64,
    counter: u16,
    random: RandomBytes,
}

/// The operating system's random bytes, fetched a few KB at a time: a getrandom() call per
/// id took 5 % of `dispatch()`. Bytes fetched before a fork are never used after it in the
/// child: the parent may use them too, and two processes would make the same ids.
struct RandomBytes {
    bytes: [u8; 4096],
    used: usize,
    pid: u32,
}

impl RandomBytes {
    fn take(&mut self) -> [u8; 10] {
        let pid = crate::process::id();
        if self.used + 10 > self.bytes.len() || self.pid != pid {
            fill_random(&mut self.bytes);
            (self.used, self.pid) = (0, pid);
        }
        let taken = self.bytes[self.used..self.used + 10].try_into().unwrap_or_default();
        self.used += 10;
        taken
    }
}

fn fill_random(buffer: &mut [u8]) {
    let mut filled = 0;
    while filled < buffer.len() {
        // SAFETY: writes at most the rest of `buffer`.
        let got = unsafe { libc::getrandom(buffer[filled..].as_mut_ptr().cast(), buffer.len() - filled, 0) };
        match got {
            n if n > 0 => filled += n as usize,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            // Not on any Linux since 3.17. uuid's own source, as before this pool: its random
            // bits, or its panic, which PHP sees as an exception.
            _ => {
                for chunk in buffer[filled..].chunks_mut(8) {
                    let random = uuid::Uuid::now_v7().into_bytes();
                    chunk.copy_from_slice(&random[8..8 + chunk.len()]);
                }
                return;
            }
        }
    }
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
    fn a_resend_as_the_feed_sends_now_keeps_to_the_feed() {
        let feed = |url: &str, id: &str| {
            let settings = serde_json::json!({"name": "renamed", "request_url": url, "event_trigger": ["e"]});
            Feed::new(&settings, Some(id.to_string())).unwrap()
        };
        // dispatch() keeps the event as given, and sends its name without `fluent_cart/`.
        let event = "fluent_cart/e";
        let sent = Delivery::new(
            Some("7".into()),
            "old".into(),
            event.into(),
            feed("https://old.test/", "7").request_for(event, &serde_json::json!({"n": 1})),
        );
        let again = sent.resend_as(&feed("https://new.test/", "7")).unwrap();
        assert_ne!(again.id, sent.id);
        assert_eq!((again.feed_name.as_str(), again.request.url.as_str()), ("renamed", "https://new.test/"));
        assert_eq!(again.request.body, sent.request.body);
        assert_eq!(again.request.headers, sent.request.headers, "the same X-Webhook-Event among them");
        let other = sent.resend_as(&feed("https://new.test/", "8")).unwrap_err();
        assert!(other.contains(r#"belongs to feed "7", not to feed "8""#), "{other}");
        let settings = serde_json::json!({"name": "n", "request_url": "https://x.test/", "event_trigger": ["e"]});
        let without_id = Feed::new(&settings, None).unwrap();
        assert!(sent.resend_as(&without_id).unwrap_err().contains("needs the feed's id"));
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.starts_with("msg_") && id.len() == 36));
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids);
    }

    #[test]
    fn a_forked_child_never_uses_the_random_bytes_of_its_parent() {
        let _ = new_id();
        let random_part = |id: &str| id[id.len() - 16..].to_string();
        let mut pipe = [0; 2];
        // SAFETY: the child makes one id, writes it to a pipe and exits.
        let child_id = unsafe {
            assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                let id = new_id();
                libc::write(pipe[1], id.as_ptr().cast(), id.len());
                libc::_exit(0);
            }
            let mut buffer = [0u8; 36];
            assert_eq!(libc::read(pipe[0], buffer.as_mut_ptr().cast(), 36), 36);
            libc::waitpid(child, std::ptr::null_mut(), 0);
            String::from_utf8(buffer.to_vec()).unwrap()
        };
        let parent_id = new_id();
        assert_ne!(random_part(&child_id), random_part(&parent_id), "{child_id} and {parent_id}");
    }
}
