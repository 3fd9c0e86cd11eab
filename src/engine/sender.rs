//! One HTTP attempt for one delivery, with the process's pooled client, which connects only
//! where the network policy allows (see crate::network).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};

use crate::delivery::{unix_now, Delivery};
use crate::network::NetworkPolicy;
use crate::outcome::Outcome;
use crate::retry::parse_retry_after;
use crate::settings::Method;
use crate::spool::RESPONSE_EXCERPT_BYTES;

/// Response bytes read so the connection can go back to the pool (the first
/// RESPONSE_EXCERPT_BYTES are kept for the log); past this the connection is closed instead.
const RESPONSE_DRAIN_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Whole request, connect to last response byte (`fluent_webhook.timeout`).
    pub timeout: Duration,
    /// TCP and TLS connect (`fluent_webhook.connect_timeout`).
    pub connect_timeout: Duration,
    /// Where requests may go (`fluent_webhook.allowed_networks` opens ranges).
    pub network: Arc<NetworkPolicy>,
}

/// The client every delivery of this process shares: keep-alive pool, rustls with the
/// system's roots, no redirects, no retries, no proxy from the environment, and a resolver
/// that refuses names with a forbidden address.
pub fn build_client(config: &ClientConfig) -> Result<reqwest::Client, String> {
    // A panic here (rustls without a crypto provider, say) would end the HTTP loop, and with
    // it every delivery this process holds: each then fails with the reason instead.
    std::panic::catch_unwind(|| build_client_or_panic(config))
        .unwrap_or_else(|panic| Err(format!("building the HTTP client panicked: {}", panic_message(panic))))
}

fn build_client_or_panic(config: &ClientConfig) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver(Arc::clone(&config.network)))
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Retries are ours (crate::retry), recorded in the log. reqwest's own retry layer,
        // even set never to retry, cloned every request's headers in case it might.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .connector_layer(NotesConnections)
        .build()
        .map_err(|e| error_chain(&e))
}

/// The last URL parsed, for the next delivery to the same one: a burst sends one feed's URL
/// over and over, and parsing it (IDNA included) took 2 µs of every attempt.
#[derive(Default)]
pub struct ParsedUrl(Option<(String, Option<reqwest::Url>)>);

impl ParsedUrl {
    /// `text` parsed, or `None` when it does not parse (reqwest then reports why when sending).
    pub fn parse(&mut self, text: &str) -> Option<reqwest::Url> {
        match &self.0 {
            Some((last, url)) if last == text => url.clone(),
            _ => {
                let url = reqwest::Url::parse(text).ok();
                self.0 = Some((text.to_string(), url.clone()));
                url
            }
        }
    }
}

/// The URL whose attempt panics, in tests of what a panic leaves behind.
#[cfg(test)]
pub const PANICS_IN_THE_ATTEMPT: &str = "http://127.0.0.1:9/panics-in-the-attempt";
/// The path of URLs whose attempts panic while reading the answer's body, after its status.
#[cfg(test)]
pub const PANICS_READING_THE_ANSWER: &str = "/panics-reading-the-answer";

/// One attempt: the outcome and the first bytes of the answer. `url` is the request's URL
/// parsed (see [`ParsedUrl`]). From the answer's status until it returns, `answered` holds the
/// outcome and the answer's bytes so far, for an attempt whose future is dropped while it reads
/// the rest (the process exits: see engine::http_loop::InFlight). `may_resend`: the schedule
/// has a retry left after this attempt, which a resend on a closed connection brings forward.
pub async fn attempt(
    client: &reqwest::Client,
    delivery: &Delivery,
    url: Option<reqwest::Url>,
    config: &ClientConfig,
    may_resend: bool,
    answered: &mut Option<(Outcome, Vec<u8>)>,
) -> (Outcome, Vec<u8>) {
    #[cfg(test)]
    if delivery.request.url == PANICS_IN_THE_ATTEMPT {
        panic!("a test's panic");
    }
    let started = Instant::now();
    // reqwest resolves no name for an IP-literal URL, so the resolver never sees these: they
    // are checked here.
    if let Some(address) = url.as_ref().and_then(literal_address) {
        if let Err(reason) = config.network.check(address) {
            return (Outcome::refused(reason), Vec::new());
        }
    }
    let mut response = match send(client, delivery, url, config, may_resend, started).await {
        Ok(response) => response,
        Err(outcome) => return (outcome, Vec::new()),
    };
    let status = response.status().as_u16();
    let header = |name| response.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string);
    let location = header(LOCATION);
    let retry_after = header(RETRY_AFTER).and_then(|v| parse_retry_after(&v, std::time::SystemTime::now()));
    let outcome = |duration| Outcome::from_status(status, location.as_deref(), retry_after, duration);
    let (_, excerpt) = answered.insert((outcome(started.elapsed()), Vec::new()));
    // The status already arrived: a body cut short does not change the outcome, nor does a
    // panic while reading it (hyper's, reqwest's). Taken for an attempt without an answer
    // (see caught's caller in engine::http_loop), a 2xx would be retried: sent again.
    let _ = caught(async {
        let mut drained = 0;
        while drained <= RESPONSE_DRAIN_LIMIT {
            #[cfg(test)]
            if delivery.request.url.ends_with(PANICS_READING_THE_ANSWER) {
                panic!("a test's panic after the answer's status");
            }
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    drained += chunk.len();
                    let room = RESPONSE_EXCERPT_BYTES.saturating_sub(excerpt.len());
                    excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
    })
    .await;
    let excerpt = answered.take().map(|(_, excerpt)| excerpt).unwrap_or_default();
    (outcome(started.elapsed()), excerpt)
}

/// Sends the attempt's request: its answer, or the outcome of an attempt without one. A request
/// that went out on a kept-alive connection the server was closing (its idle timeout, its limit
/// of requests per connection) is sent again on another. Recorded as a failed attempt, it
/// waited for the schedule's next retry (5 s by default) though the endpoint was up: 2 of 60
/// deliveries spaced as a server's 1 s idle timeout, 4 of 20 at 2 s. Nothing tells that apart
/// from a server that read the request, or began its answer, and then reset, so it is sent
/// again only when the schedule has a retry left (`may_resend`), which this brings forward,
/// with the same webhook-id; on a last attempt the endpoint would get it twice where the
/// schedule sends it once. A connection of the request's own that closes so is a failed
/// attempt.
async fn send(
    client: &reqwest::Client,
    delivery: &Delivery,
    url: Option<reqwest::Url>,
    config: &ClientConfig,
    may_resend: bool,
    started: Instant,
) -> Result<reqwest::Response, Outcome> {
    let timestamp = unix_now();
    let mut resends = 0;
    loop {
        let mut builder = request_builder(client, delivery, url.clone(), timestamp)
            .map_err(|reason| Outcome::no_answer(reason, started.elapsed()))?;
        if resends > 0 {
            // Within the attempt's time, not a new timeout.
            builder = builder.timeout(config.timeout.saturating_sub(started.elapsed()));
        }
        let (sent, connected) = CONNECTED
            .scope(std::cell::Cell::new(false), async {
                let sent = builder.send().await;
                (sent, CONNECTED.with(std::cell::Cell::get))
            })
            .await;
        // Errors name no URL: its query string may hold credentials, and the log shows reasons.
        match sent.map_err(reqwest::Error::without_url) {
            Ok(response) => return Ok(response),
            Err(e) if may_resend && !connected && resends < RESENDS_ON_A_CLOSED_CONNECTION && closed_by_peer(&e) => {
                resends += 1
            }
            Err(e) => return Err(without_answer(&e, config, started)),
        }
    }
}

/// The outcome of a request that got no answer.
fn without_answer(error: &reqwest::Error, config: &ClientConfig, started: Instant) -> Outcome {
    if let Some(reason) = refusal(error) {
        return Outcome::refused(reason);
    }
    let reason = if error.is_timeout() {
        format!("timed out after {} s", config.timeout.as_secs_f64())
    } else if error.is_connect() {
        format!("could not connect: {}", error_chain(error))
    } else {
        error_chain(error)
    };
    Outcome::no_answer(reason, started.elapsed())
}

/// The request of one attempt, its headers stamped with `timestamp`, or why it cannot be sent.
fn request_builder(
    client: &reqwest::Client,
    delivery: &Delivery,
    url: Option<reqwest::Url>,
    timestamp: u64,
) -> Result<reqwest::RequestBuilder, String> {
    let request = &delivery.request;
    let mut headers = HeaderMap::with_capacity(request.headers.len() + 3);
    for (name, value) in request.headers_for_attempt(&delivery.id, timestamp) {
        // Feed validation already refused names and values these would reject.
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_bytes())) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => return Err(format!("header {name:?} cannot be sent")),
        }
    }
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    };
    let builder = match url {
        Some(url) => client.request(method, url),
        // reqwest reports the error when sending.
        None => client.request(method, &request.url),
    };
    let builder = builder.headers(headers);
    Ok(if request.method.has_body() { builder.body(request.body.clone()) } else { builder })
}

/// Times one attempt's request is sent again after a kept-alive connection it went out on
/// turned out closed (see attempt): a server that closed its idle connections may have closed
/// more than one the pool holds.
const RESENDS_ON_A_CLOSED_CONNECTION: usize = 2;

tokio::task_local! {
    /// Set while a request is sent, when it opens a connection of its own rather than taking
    /// one the pool kept alive (see [`NotesConnections`]).
    static CONNECTED: std::cell::Cell<bool>;
}

/// Whether the connection closed under the request before an answer came: the server closed
/// it (hyper's "connection closed before message completed") or reset it.
fn closed_by_peer(error: &reqwest::Error) -> bool {
    if error.is_timeout() || error.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message) {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// A layer on reqwest's connector that notes, for the request being sent (whose future makes
/// the connection: hyper connects only for a request that finds none idle in the pool), that
/// it opened a connection of its own.
#[derive(Clone, Copy)]
struct NotesConnections;

impl<S> tower_layer::Layer<S> for NotesConnections {
    type Service = NotingConnections<S>;

    fn layer(&self, inner: S) -> NotingConnections<S> {
        NotingConnections(inner)
    }
}

#[derive(Clone)]
struct NotingConnections<S>(S);

impl<S: tower_service::Service<R>, R> tower_service::Service<R> for NotingConnections<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        let _ = CONNECTED.try_with(|connected| connected.set(true));
        self.0.call(request)
    }
}

/// `future`, with a panic in any of its polls caught: `Err` with the panic's message. It is not
/// polled again after one (it is dropped), and what it borrowed mutably is plain data that
/// stays valid (attempt's excerpt, at worst short).
pub async fn caught<T>(future: impl std::future::Future<Output = T>) -> Result<T, String> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(polled) => polled.map(Ok),
            Err(panic) => std::task::Poll::Ready(Err(panic_message(panic))),
        }
    })
    .await
}

/// Longest panic message kept for the log.
const PANIC_MESSAGE_BYTES: usize = 300;

/// A panic's message, for the log: at most PANIC_MESSAGE_BYTES, cut at a character.
pub(super) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let mut message = match panic.downcast::<String>() {
        Ok(text) => *text,
        Err(panic) => panic.downcast_ref::<&str>().map_or_else(|| "a panic".to_string(), |m| m.to_string()),
    };
    if crate::outcome::cut_at_a_character(&mut message, PANIC_MESSAGE_BYTES) {
        message.push('…');
    }
    message
}

/// The IP address of an IP-literal URL.
fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// The network policy's reason, when it is what stopped the request.
fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = cause.source();
    }
    None
}

/// A DNS answer with an address the network policy forbids.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves with the system's resolver, then refuses the name if any address is forbidden:
/// the check is on the addresses the connection will use, so a name cannot pass a check and
/// then connect somewhere else.
struct GuardedResolver(Arc<NetworkPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                if let Err(reason) = policy.check(address.ip()) {
                    return Err(Box::new(Refused(format!("{host} resolves to {}; {reason}", address.ip()))) as _);
                }
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An error and its causes on one line: reqwest's own message names only the URL.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_kept_short_and_cut_at_a_character() {
        let cut = panic_message(Box::new("é".repeat(400)));
        assert!(cut.len() <= PANIC_MESSAGE_BYTES + '…'.len_utf8() && cut.ends_with('…'), "{} bytes", cut.len());
        assert_eq!(panic_message(Box::new("short")), "short");
        assert_eq!(panic_message(Box::new(String::from("owned"))), "owned");
        assert_eq!(panic_message(Box::new(7)), "a panic");
    }
}
