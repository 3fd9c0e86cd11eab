//! SQLite refused memory as the spool thread starts (PHP code can lower the address space with
//! posix_setrlimit() at that moment). A test binary of its own: SQLite's heap limit, which
//! stands in for the refusal, is the whole process's.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluent_webhook::delivery::Delivery;
use fluent_webhook::engine::{self, EngineConfig};
use fluent_webhook::network::NetworkPolicy;
use fluent_webhook::request::WebhookRequest;
use fluent_webhook::settings::Method;
use fluent_webhook::spool::Filter;
use rusqlite::ffi::{sqlite3_hard_heap_limit64, sqlite3_initialize, sqlite3_soft_heap_limit64};

/// SQLite's heap limit and the engine are the process's: one test at a time, each ending with
/// the limit lifted and the engine shut down.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Holds ONE_AT_A_TIME; lifts the limit and shuts the engine down however the test ends, so
/// that a failure does not fail the next test too.
struct Alone(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

fn alone() -> Alone {
    Alone(ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()))
}

impl Drop for Alone {
    fn drop(&mut self) {
        lift_limit();
        engine::shutdown(Duration::ZERO);
    }
}

/// SQLite refuses every allocation.
fn refuse_memory() {
    // SAFETY: plain calls into SQLite, which takes the limit under its own mutex.
    unsafe {
        assert_eq!(sqlite3_initialize(), 0);
        sqlite3_hard_heap_limit64(1);
    }
}

/// SQLite has memory again. The hard limit lowered the soft one too: both are lifted.
fn lift_limit() {
    // SAFETY: as above; 0 lifts a limit.
    unsafe {
        sqlite3_hard_heap_limit64(0);
        sqlite3_soft_heap_limit64(0);
    }
}

/// Waits up to 5 s for the spool thread's first refusal; returns the warnings.
fn refusal_told() -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut warnings = Vec::new();
    while Instant::now() < deadline {
        warnings.extend(engine::take_warnings());
        if warnings.iter().any(|w| w.contains("out of memory")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    warnings
}

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
    with_body(url, bytes::Bytes::from_static(b"{\"order\":1}"))
}

fn with_body(url: &str, body: bytes::Bytes) -> Delivery {
    let request = WebhookRequest {
        method: Method::Post,
        url: url.to_string(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
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
    let _alone = alone();
    let (url, requests) = receiver();
    refuse_memory();
    engine::submit(vec![post(&url)], config).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(requests.load(Ordering::SeqCst), 0, "no spool, no delivery");
    let warnings = engine::take_warnings();
    assert!(warnings.iter().any(|w| w.starts_with("cannot open a spool in memory: out of memory;")), "{warnings:?}");

    lift_limit();
    assert_eq!(engine::flush(Duration::from_secs(10), config), Ok(true));
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    engine::submit(vec![post(&url)], config).unwrap();
    assert_eq!(engine::flush(Duration::from_secs(10), config), Ok(true));
    assert_eq!(requests.load(Ordering::SeqCst), 2, "and so is the next one");
}

/// While the spool could not be opened, the spool thread read none of the PHP thread's
/// requests: deliveries() and cancel() waited 10 s each for an answer and then blamed another
/// process's lock or a slow disk; a dispatch() past memory_limit waited 6 s and said the spool
/// "has not answered"; and shutdown waited 8 s past its grace for a Stop never read, then
/// called what it lost "not written to the spool " (no name), as if a file had been there.
#[test]
fn a_spool_sqlite_has_no_memory_for_answers_at_once_and_stops_within_the_grace() {
    let _alone = alone();
    let (url, requests) = receiver();
    let small = || EngineConfig { memory_limit: 2 << 20, ..config() };
    refuse_memory();
    engine::submit(vec![post(&url)], small).unwrap();
    let warnings = refusal_told();
    assert!(warnings.iter().any(|w| w.starts_with("cannot open a spool in memory: ")), "{warnings:?}");

    let asked = Instant::now();
    let listed = engine::deliveries(Filter { limit: 10, ..Filter::default() }, small);
    assert!(listed.as_ref().is_err_and(|e| e.contains("out of memory")), "{listed:?}");
    let canceled = engine::cancel("feed", "switched off", small);
    assert!(canceled.as_ref().is_err_and(|e| e.contains("out of memory")), "{canceled:?}");
    let big = with_body(&url, bytes::Bytes::from(vec![b'x'; 3 << 20]));
    let refused = engine::submit(vec![big], small);
    assert!(refused.as_ref().is_err_and(|e| e.contains(":memory:") && e.contains("out of memory")), "{refused:?}");
    assert!(asked.elapsed() < Duration::from_secs(1), "answered after {:?}", asked.elapsed());

    let stopping = Instant::now();
    let report = engine::shutdown(Duration::from_millis(200)).unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(2), "stopped after {:?}", stopping.elapsed());
    assert!(report.spool_in_memory, "{report:?}");
    assert_eq!((report.left_in_spool, report.snapshot.lost), (1, 1), "{report:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}

/// A spool file SQLite had no memory to open was given up for good: once memory came back, the
/// spool opened was one in memory, and the process (an FPM worker, for the rest of its life)
/// kept its deliveries where they do not survive it, out of other processes' sight.
#[test]
fn a_spool_file_sqlite_has_no_memory_for_is_opened_once_it_has() {
    let _alone = alone();
    let (url, requests) = receiver();
    let dir = std::env::temp_dir().join(format!("fluent-webhook-spool-out-of-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("spool.sqlite");
    let with_file = || EngineConfig { spool_path: Some(path.clone()), ..config() };
    refuse_memory();
    engine::submit(vec![post(&url)], with_file).unwrap();
    let warnings = refusal_told();
    assert!(warnings.iter().any(|w| w.contains("out of memory")), "{warnings:?}");

    lift_limit();
    assert_eq!(engine::flush(Duration::from_secs(10), with_file), Ok(true));
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(engine::spool_location(), Some(path.display().to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}
