//! What the floor examples share about HTTP/1.1: for those without hyper, the request's head
//! and the end of an answer; for those with it, one POST on hyper's connection API, through
//! hyper-util's pool, or with reqwest (which sends through that pool).

use std::io::Write;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// POSTs `body` on a connection hyper drives and reads the whole answer; its status.
pub async fn post_with_hyper(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    uri: &hyper::Uri,
    address: &str,
    body: Bytes,
) -> u16 {
    let mut request = post(uri, body);
    // hyper's connection API sends the head as given; the pool adds Host itself.
    request.headers_mut().insert(hyper::header::HOST, address.parse().expect("a valid Host"));
    status_of(sender.send_request(request).await.expect("an answer")).await
}

/// `POST uri` of a JSON body.
fn post(uri: &hyper::Uri, body: Bytes) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(uri.clone())
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a valid request")
}

/// The answer's status, once its whole body is read.
async fn status_of(response: hyper::Response<hyper::body::Incoming>) -> u16 {
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

/// The client of hyper-util's pool, which reqwest sends through.
pub type PoolClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// hyper-util's pool of keep-alive connections, `connections` of them kept idle at most.
pub fn pool_client(connections: usize) -> PoolClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build(connector)
}

/// POSTs `body` through hyper-util's pool (it picks the connection) and reads the whole
/// answer; its status.
pub async fn post_through_pool(client: &PoolClient, uri: &hyper::Uri, body: Bytes) -> u16 {
    status_of(client.request(post(uri, body)).await.expect("an answer")).await
}

/// A reqwest client set as the engine sets its own (engine::sender::build_client: no
/// redirects, no retry layer, no proxy), without its timeouts and network guard; `connections`
/// kept idle at most. (With reqwest's defaults, the floors spent the same.)
pub fn reqwest_client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .expect("a client")
}

/// POSTs `body` with a reqwest client (its pool picks the connection) and reads the whole
/// answer; its status.
pub async fn post_with_reqwest(client: &reqwest::Client, url: &reqwest::Url, body: Bytes) -> u16 {
    let request = client.post(url.clone()).header("content-type", "application/json").body(body);
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    status
}

/// `POST <path>` with Host and Content-Type, up to the Content-Length value that each request
/// writes after it.
pub struct RequestHead {
    head: Vec<u8>,
    prefix: usize,
}

impl RequestHead {
    pub fn post(uri: &hyper::Uri) -> RequestHead {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: ",
            uri.path(),
            address(uri)
        );
        RequestHead { prefix: head.len(), head: head.into_bytes() }
    }

    /// The whole head of a request whose body is `length` bytes.
    pub fn with_length(&mut self, length: usize) -> &[u8] {
        self.head.truncate(self.prefix);
        write!(self.head, "{length}\r\n\r\n").expect("a Vec takes it");
        &self.head
    }
}

/// `host:port` of the URL.
pub fn address(uri: &hyper::Uri) -> String {
    format!("{}:{}", uri.host().expect("a host"), uri.port_u16().unwrap_or(80))
}

/// An answer being read: the bytes so far.
pub struct Answer {
    bytes: Vec<u8>,
    read: usize,
}

impl Answer {
    pub fn new() -> Answer {
        Answer { bytes: vec![0; 8192], read: 0 }
    }

    /// Where the next read goes (the buffer grows when full).
    pub fn room(&mut self) -> &mut [u8] {
        if self.read == self.bytes.len() {
            self.bytes.resize(self.read * 2, 0);
        }
        &mut self.bytes[self.read..]
    }

    /// Takes `got` bytes read into `room()`; the status once the answer is whole, which also
    /// empties the buffer for the next one.
    pub fn read(&mut self, got: usize) -> Option<u16> {
        assert!(got > 0, "nginx closed a connection");
        self.read += got;
        let status = complete_answer(&self.bytes[..self.read])?;
        self.read = 0;
        Some(status)
    }
}

/// The status of the answer that `bytes` hold, once they hold all of it (and nothing more: one
/// request at a time per connection). Panics on what nginx answering 204 never sends: 1xx,
/// chunked answers.
fn complete_answer(bytes: &[u8]) -> Option<u16> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_length) = response.parse(bytes).expect("an HTTP answer") else {
        return None;
    };
    let status = response.code.expect("a status");
    assert!(status >= 200, "no 1xx here");
    let mut body_length = 0;
    for header in response.headers.iter() {
        assert!(!header.name.eq_ignore_ascii_case("transfer-encoding"), "no chunked answers here");
        if header.name.eq_ignore_ascii_case("content-length") {
            body_length = std::str::from_utf8(header.value).ok().and_then(|n| n.trim().parse().ok()).expect("a length");
        }
    }
    if status == 204 || status == 304 {
        body_length = 0;
    }
    if bytes.len() < head_length + body_length {
        return None;
    }
    assert_eq!(bytes.len(), head_length + body_length, "one answer per request");
    Some(status)
}
