//! The least CPU an HTTP client on tokio spends per request here, for BENCHMARKS.md: COUNT
//! POSTs of the order_paid_done sample to URL over CONCURRENCY keep-alive connections, each
//! driven by hyper's own connection API in a loop (no pool, no timeouts, no TLS, no URL
//! parsing, no task per request: only what every client must do). Prints deliveries per second
//! and user+sys CPU µs per request of this process. With `reqwest`, each of the CONCURRENCY
//! loops sends with one shared reqwest client instead (`http1::reqwest_client`: set as the
//! engine sets its own), on one tokio worker as in the engine: what the design card's client
//! costs alone. With `current`, either runs on a current-thread runtime instead.
//!
//!   cargo build --release --no-default-features --example http_floor --target-dir target/bound
//!   target/bound/release/examples/http_floor http://127.0.0.1:PORT/hook 100000 32 [hyper|reqwest [current]]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/http1.rs"]
#[allow(dead_code)]
mod http1;
use cpu::cpu_seconds;

async fn connection(uri: &hyper::Uri, sent: &AtomicUsize, count: usize, body: &Bytes) -> usize {
    let address = http1::address(uri);
    let stream = tokio::net::TcpStream::connect(&address).await.expect("nginx listens");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(driver);
    let mut answered = 0;
    while sent.fetch_add(1, Ordering::Relaxed) < count {
        let request = hyper::Request::post(uri.clone())
            .header("host", address.as_str())
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let response = sender.send_request(request).await.expect("an answer");
        answered += usize::from(response.status() == 204);
        let _ = response.into_body().collect().await;
    }
    answered
}

async fn reqwest_loop(
    client: reqwest::Client,
    url: reqwest::Url,
    sent: &AtomicUsize,
    count: usize,
    body: &Bytes,
) -> usize {
    let mut answered = 0;
    while sent.fetch_add(1, Ordering::Relaxed) < count {
        answered += usize::from(http1::post_with_reqwest(&client, &url, body.clone()).await == 204);
    }
    answered
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let uri: hyper::Uri = args
        .get(1)
        .expect("usage: http_floor URL [COUNT [CONCURRENCY [hyper|reqwest [current]]]]")
        .parse()
        .expect("a URL");
    let count: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let concurrency: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(32);
    let with_reqwest = args.get(4).map(String::as_str) == Some("reqwest");
    let body = Bytes::from(std::fs::read("fixtures/events/order_paid_done.json").expect("run from the repository"));
    let workers = if with_reqwest { 1 } else { 2 };
    let runtime = if args.get(5).map(String::as_str) == Some("current") {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .expect("runtime");
    runtime.block_on(async move {
        let sent = Arc::new(AtomicUsize::new(0));
        let client = http1::reqwest_client(concurrency);
        let url = reqwest::Url::parse(&uri.to_string()).expect("a URL");
        let (cpu, started) = (cpu_seconds(), Instant::now());
        let connections: Vec<_> = (0..concurrency)
            .map(|_| {
                let (uri, sent, body) = (uri.clone(), Arc::clone(&sent), body.clone());
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    if with_reqwest {
                        reqwest_loop(client, url, &sent, count, &body).await
                    } else {
                        connection(&uri, &sent, count, &body).await
                    }
                })
            })
            .collect();
        let mut answered = 0;
        for connection in connections {
            answered += connection.await.expect("no panic");
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"answered_204\": {answered}, \"count\": {count}}}",
            count as f64 / seconds,
            (cpu_seconds() - cpu) / count as f64 * 1e6
        );
    });
}
