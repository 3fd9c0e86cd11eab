//! SQLite refused memory as the spool thread starts (PHP code can lower the address space with
//! posix_setrlimit() at that moment). A test binary of its own: SQLite's heap limit, which
//! stands in for the refusal, is the whole process's.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fluent_webhook::delivery::Delivery;
use fluent_webhook::engine::{self, EngineConfig};
use fluent_webhook::network::NetworkPolicy;
use fluent_webhook::request::WebhookRequest;
use fluent_webhook::settings::Method;
use rusqlite::ffi::{sqlite3_hard_heap_limit64, sqlite3_initialize};

/// Answers 200 to every request on 127.0.0.1; counts them.
fn receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let length = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, requests)
}

fn post(url: &str) -> Delivery {
    let request = WebhookRequest {
        method: Method::Post,
        url: url.to_string(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: bytes::Bytes::from_static(b"{\"order\":1}"),
        secret: None,
    };
    Delivery::new(None, "feed".into(), "order_paid_done".into(), request)
}

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.client.network = Arc::new(NetworkPolicy::parse("127.0.0.0/8").unwrap());
    config
}

/// The spool thread ended with a panic ("SQLite can always open an in-memory database"), and
/// with it the only way into the spool: the delivery was lost, and every later dispatch() of
/// the process failed with "the spool thread has stopped". It now tries again every second.
#[test]
fn a_spool_sqlite_has_no_memory_for_is_opened_once_it_has() {
    let (url, requests) = receiver();
    // SAFETY: plain calls into SQLite, which takes the limit under its own mutex.
    unsafe {
        assert_eq!(sqlite3_initialize(), 0);
        sqlite3_hard_heap_limit64(1);
    }
    engine::submit(vec![post(&url)], config).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(requests.load(Ordering::SeqCst), 0, "no spool, no delivery");
    let warnings = engine::take_warnings();
    assert!(
        warnings.iter().any(|w| w.starts_with("cannot open a spool in memory: Error code 7: out of memory;")),
        "{warnings:?}"
    );

    // SAFETY: as above; 0 lifts the limit.
    unsafe { sqlite3_hard_heap_limit64(0) };
    assert_eq!(engine::flush(Duration::from_secs(10), config), Ok(true));
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    engine::submit(vec![post(&url)], config).unwrap();
    assert_eq!(engine::flush(Duration::from_secs(10), config), Ok(true));
    assert_eq!(requests.load(Ordering::SeqCst), 2, "and so is the next one");
}
