//! The engine when its spool refuses or delays writes (a full disk, another process's write
//! lock): nothing lost or sent twice, flush() true only with outcomes on disk and within its
//! timeout, memory within the cap. A trigger that raises stands in for a full disk; a second
//! connection in `BEGIN IMMEDIATE` for another process's long write. Real HTTP to a receiver
//! on 127.0.0.1.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;

use rusqlite::Connection;

use super::*;
use crate::engine::sender;
use crate::engine::spool_worker::SpoolWorker;
use crate::network::NetworkPolicy;
use crate::request::WebhookRequest;
use crate::settings::Method;
use crate::spool::{Attempt, ByteBudget, Spool, Status};

/// The engine is one per process: these tests take turns.
static ONE_ENGINE: Mutex<()> = Mutex::new(());

/// This test's turn, with no engine left running by one that failed.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    let turn = ONE_ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    shutdown(Duration::ZERO);
    turn
}

const FEED: &str = "7";

struct Receiver {
    url: String,
    /// Requests received, by `webhook-id`.
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl Receiver {
    /// Answers every request with `status` after `delay`, one connection per request.
    fn start(status: &'static str, delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let counts = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let counts = Arc::clone(&counts);
                std::thread::spawn(move || {
                    let Some(id) = read_request(&mut stream) else { return };
                    *counts.lock().unwrap().entry(id).or_insert(0) += 1;
                    std::thread::sleep(delay);
                    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                    let _ = stream.write_all(answer.as_bytes());
                });
            }
        });
        Receiver { url, seen }
    }

    fn requests(&self, id: &str) -> usize {
        self.seen.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    /// Requests received, all deliveries together.
    fn total(&self) -> usize {
        self.seen.lock().unwrap().values().sum()
    }
}

/// Reads one request; returns its `webhook-id`.
fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    let (mut buffer, mut chunk) = (Vec::new(), [0u8; 65536]);
    loop {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
        let header = |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
        let length: usize = header("content-length:").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buffer.len() < end + 4 + length {
            let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
            buffer.extend_from_slice(&chunk[..n]);
        }
        return Some(header("webhook-id:").unwrap_or_default());
    }
}

fn temp_spool() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fluent-webhook-engine-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("spool.sqlite")
}

fn config(spool: &std::path::Path, memory_limit: usize) -> EngineConfig {
    let mut config = EngineConfig::default();
    config.client.network = Arc::new(NetworkPolicy::parse("127.0.0.0/8").unwrap());
    config.client.timeout = Duration::from_secs(5);
    config.spool_path = Some(spool.to_path_buf());
    config.memory_limit = memory_limit;
    config
}

fn delivery(url: &str, body: Vec<u8>) -> Delivery {
    let request = WebhookRequest {
        method: Method::Post,
        url: url.to_string(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: bytes::Bytes::from(body),
        secret: None,
    };
    Delivery::new(Some(FEED.into()), "feed".into(), "order_paid_done".into(), request)
}

/// Queues one delivery to `url` with the default memory cap; returns its id.
fn submit_one(spool: &std::path::Path, url: &str, body: Vec<u8>) -> String {
    let d = delivery(url, body);
    let id = d.id.clone();
    submit(vec![d], || config(spool, 64 << 20)).unwrap();
    id
}

fn status_on_disk(spool: &std::path::Path, id: &str) -> String {
    // Waits as the spool's own connections do: a process's checkpoint or last close may hold
    // the file a moment (one run of the whole suite under load failed here, cause unseen).
    let conn = Connection::open(spool).unwrap();
    conn.busy_timeout(spool::BUSY_WAIT).unwrap();
    conn.query_row("SELECT status FROM outbox WHERE id = ?1", [id], |r| r.get(0))
        .unwrap_or_else(|e| panic!("the status of {id}: {e}"))
}

/// Makes every write of `table` fail as a full disk would, until `heal`.
fn fail_writes(spool: &std::path::Path, table: &str, event: &str) -> Connection {
    let admin = Connection::open(spool).unwrap();
    admin
        .execute_batch(&format!(
            "CREATE TRIGGER disk_full BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
        ))
        .unwrap();
    admin
}

fn heal(admin: &Connection) {
    admin.execute_batch("DROP TRIGGER disk_full;").unwrap();
}

#[test]
fn an_outcome_the_spool_refuses_is_written_later_and_flush_waits_for_it() {
    let _turn = turn();
    let (spool, receiver) = (temp_spool(), Receiver::start("200 OK", Duration::ZERO));
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let admin = fail_writes(&spool, "outbox", "UPDATE");
    let id = submit_one(&spool, &receiver.url, b"{\"n\":1}".to_vec());

    let flushed = flush(Duration::from_millis(1500), || config(&spool, 64 << 20)).unwrap();
    assert_eq!(receiver.requests(&id), 1, "sent once");
    assert!(!flushed, "flush() is not done while the outcome is not on disk");
    assert_eq!(status_on_disk(&spool, &id), "pending");
    assert_eq!(snapshot().delivered, 0, "settled only once written");

    heal(&admin);
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    assert_eq!(status_on_disk(&spool, &id), "delivered");
    assert_eq!(snapshot().delivered, 1);
    shutdown(Duration::from_secs(1));
    // The next process finds nothing to send again.
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    shutdown(Duration::from_secs(1));
    assert_eq!(receiver.requests(&id), 1, "a delivery answered 200 is never sent again");
}

#[test]
fn while_the_spool_refuses_new_deliveries_memory_stays_under_the_cap_and_the_rest_are_refused() {
    let _turn = turn();
    const BODY: usize = 256 << 10;
    let limit = 4 << 20;
    let (spool, receiver) = (temp_spool(), Receiver::start("200 OK", Duration::ZERO));
    assert!(flush(Duration::from_secs(5), || config(&spool, limit)).unwrap());
    let admin = fail_writes(&spool, "bodies", "INSERT");
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for i in 0..40u8 {
        let d = delivery(&receiver.url, vec![b'a' + i % 26; BODY]);
        let id = d.id.clone();
        match submit(vec![d], || config(&spool, limit)) {
            Ok(()) => accepted.push(id),
            Err(e) => refused.push(e),
        }
    }
    assert!(accepted.len() * BODY <= limit, "{} accepted with a cap of {} MiB", accepted.len(), limit >> 20);
    assert_eq!(accepted.len() + refused.len(), 40);
    assert!(refused[0].contains("database or disk is full"), "{}", refused[0]);
    assert!(refused[0].contains("were not queued"), "{}", refused[0]);
    assert_eq!(snapshot().spooled, 0);

    heal(&admin);
    assert!(flush(Duration::from_secs(10), || config(&spool, limit)).unwrap());
    for id in &accepted {
        assert_eq!((receiver.requests(id), status_on_disk(&spool, id).as_str()), (1, "delivered"));
    }
    // Written again: room for new deliveries at once.
    submit(vec![delivery(&receiver.url, b"{}".to_vec())], || config(&spool, limit)).unwrap();
    assert!(flush(Duration::from_secs(5), || config(&spool, limit)).unwrap());
    shutdown(Duration::from_secs(1));
}

/// New deliveries the spool refused while the disk was full, tried again by hand on a disk
/// with room for part of them: the file's largest size (SQLite's max_page_count) stands in for
/// the disk, and a write past it fails as on a full disk (SQLITE_FULL).
struct Backlog {
    worker: SpoolWorker,
    /// The HTTP side's end, kept open: what is handed to it.
    sent: mpsc::UnboundedReceiver<Delivery>,
    tally: Arc<Tally>,
    spool: PathBuf,
    /// Oldest first.
    ids: Vec<String>,
}

impl Backlog {
    /// 200 deliveries of 4 KB, about 70 pages of 16 KB, tried again with room for 8 pages
    /// until the spool has written what fits.
    fn in_little_room() -> Backlog {
        let spool = temp_spool();
        let (to_http, sent) = mpsc::unbounded_channel();
        let tally: Arc<Tally> = Arc::default();
        let config = config(&spool, 64 << 20);
        let mut worker = SpoolWorker::new(config, "me".into(), Arc::clone(&tally), to_http, Arc::default());
        let deliveries: Vec<Delivery> =
            (0..200).map(|_| delivery("http://127.0.0.1:9/hook", vec![b'x'; 4096])).collect();
        let ids = deliveries.iter().map(|d| d.id.clone()).collect();
        tally.queued(200);
        tally.inbox_add(inbox_bytes(&deliveries));
        worker.spool().leave_room(0);
        worker.insert_new(deliveries);
        worker.spool().leave_room(8);
        for _ in 0..20 {
            worker.write_unwritten();
        }
        Backlog { worker, sent, tally, spool, ids }
    }

    fn on_disk(&self) -> Vec<String> {
        ids_on_disk(&self.spool)
    }

    fn wal_bytes(&self) -> u64 {
        std::fs::metadata(format!("{}-wal", self.spool.display())).unwrap().len()
    }
}

/// The ids in the spool, oldest first.
fn ids_on_disk(spool: &std::path::Path) -> Vec<String> {
    let conn = Connection::open(spool).unwrap();
    let mut ids = conn.prepare("SELECT id FROM outbox ORDER BY body_id").unwrap();
    ids.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Retried as one transaction, a backlog larger than the room left was never written, however
/// much of it fitted; and the WAL kept the room that transaction took.
#[test]
fn a_backlog_is_written_as_far_as_the_disk_has_room_and_the_rest_once_it_has() {
    let mut backlog = Backlog::in_little_room();
    let written = backlog.on_disk();
    assert!(!written.is_empty() && written.len() < 200, "{} of 200 written", written.len());
    assert_eq!(written, backlog.ids[..written.len()], "the oldest first");
    assert!(backlog.tally.inbox_pending() > 0, "the rest waits in memory");
    assert_eq!(backlog.wal_bytes(), 0, "the WAL gives back the room it took");

    backlog.worker.spool().leave_room(1000);
    backlog.worker.write_unwritten();
    assert_eq!(backlog.on_disk(), backlog.ids);
    let counts = backlog.tally.snapshot();
    assert_eq!((backlog.tally.inbox_pending(), counts.spooled, counts.lost), (0, 200, 0));
}

#[test]
fn at_exit_what_the_disk_has_room_for_is_written_and_only_the_rest_counted_lost() {
    let backlog = Backlog::in_little_room();
    let before = backlog.on_disk().len();
    backlog.worker.spool().leave_room(8);
    let (_commands, inbox) = std_mpsc::channel();
    let Backlog { worker, sent: _sent, tally, spool, .. } = backlog;
    worker.stop(&inbox);
    let written = ids_on_disk(&spool).len();
    assert!(written > before, "{written} written, {before} before");
    assert_eq!(tally.snapshot().lost as usize, 200 - written);
}

/// Outcomes written between two tries of the backlog doubled its part, as a write of the
/// backlog does: each try was of the size the disk had just refused, and the room left for a
/// smaller part was never used.
#[test]
fn outcomes_written_between_tries_leave_the_backlog_the_parts_the_disk_has_room_for() {
    let mut backlog = Backlog::in_little_room();
    backlog.worker.spool().leave_room(8);
    for _ in 0..20 {
        // A delivery handed to the HTTP side ends, and its outcome is written.
        let sent = backlog.sent.try_recv().unwrap();
        backlog.tally.started();
        let outcome = Outcome::Delivered { status: 200, duration: Duration::ZERO };
        backlog.worker.finished(sent, outcome, unix_millis(), Vec::new());
        backlog.worker.record_outcomes();
        backlog.worker.write_unwritten();
    }
    let written = backlog.on_disk().len();
    for _ in 0..12 {
        backlog.worker.write_unwritten();
    }
    assert_eq!(backlog.on_disk().len(), written, "room the tries left unused");
}

/// Outcomes are written in one transaction, which a full disk refused whole however much of it
/// there was room for: the outcomes waited in memory, flush() with them, and their deliveries
/// stayed claimed, to be sent again once this process is gone.
#[test]
fn outcomes_are_written_as_far_as_the_disk_has_room() {
    let spool = temp_spool();
    let (to_http, mut sent) = mpsc::unbounded_channel();
    let tally: Arc<Tally> = Arc::default();
    let mut worker =
        SpoolWorker::new(config(&spool, 64 << 20), "me".into(), Arc::clone(&tally), to_http, Arc::default());
    let deliveries: Vec<Delivery> = (0..200).map(|_| delivery("http://127.0.0.1:9/hook", b"{}".to_vec())).collect();
    tally.queued(200);
    tally.inbox_add(inbox_bytes(&deliveries));
    worker.insert_new(deliveries);
    // Each answered with 4 KB, which the log keeps: 800 KB in all, more than the room left.
    worker.spool().leave_room(8);
    while let Ok(delivery) = sent.try_recv() {
        tally.started();
        let outcome = Outcome::Delivered { status: 200, duration: Duration::ZERO };
        worker.finished(delivery, outcome, unix_millis(), vec![b'r'; 4096]);
    }
    // Tried again every OUTCOME_RETRY (500 ms).
    for _ in 0..8 {
        worker.record_outcomes();
        std::thread::sleep(Duration::from_millis(550));
    }
    let conn = Connection::open(&spool).unwrap();
    let delivered: i64 =
        conn.query_row("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'", [], |r| r.get(0)).unwrap();
    assert!(delivered > 0, "no outcome written");
    assert_eq!(tally.snapshot().delivered, delivered as u64);

    worker.spool().leave_room(1000);
    std::thread::sleep(Duration::from_millis(550));
    worker.record_outcomes();
    let delivered: i64 =
        conn.query_row("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'", [], |r| r.get(0)).unwrap();
    assert_eq!((delivered, tally.snapshot().delivered), (200, 200));
}

/// Feeds of one dispatch() share a body, which counts once in the tally's inbox. Written in
/// parts, each part with one of them gave the body's bytes back, so the inbox lost sight of
/// deliveries still waiting behind them: here 128 KB of a 2 MB delivery.
#[test]
fn a_body_that_feeds_share_leaves_the_inbox_once_whatever_the_parts_it_is_written_in() {
    let spool = temp_spool();
    let (to_http, _to_send) = mpsc::unbounded_channel();
    let tally: Arc<Tally> = Arc::default();
    let mut worker =
        SpoolWorker::new(config(&spool, 64 << 20), "me".into(), Arc::clone(&tally), to_http, Arc::default());
    let url = "http://127.0.0.1:9/hook";
    let mut shared = vec![delivery(url, vec![b's'; 64 << 10])];
    for _ in 0..3 {
        let mut another = delivery(url, Vec::new());
        another.request.body = shared[0].request.body.clone();
        shared.push(another);
    }
    let large = vec![delivery(url, vec![b'l'; 2 << 20])];
    let large_bytes = inbox_bytes(&large);
    for batch in [&shared, &large] {
        tally.queued(batch.len() as u64);
        tally.inbox_add(inbox_bytes(batch));
    }
    worker.spool().leave_room(0);
    worker.insert_new(shared);
    worker.insert_new(large);
    // Refused until the next write takes one delivery.
    for _ in 0..12 {
        worker.write_unwritten();
    }
    // Room for the four 64 KB bodies (written once each), not for 2 MB.
    worker.spool().leave_room(40);
    for _ in 0..10 {
        worker.write_unwritten();
    }
    assert_eq!(ids_on_disk(&spool).len(), 4);
    assert_eq!(tally.inbox_pending(), large_bytes, "what still waits counts in the inbox");
}

#[test]
fn flush_keeps_its_deadline_while_the_spool_thread_waits_for_a_lock() {
    let _turn = turn();
    let spool = temp_spool();
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let other = Connection::open(&spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // The spool thread now waits for the lock (SQLite's busy wait, 5 s) to cancel.
    let canceling = {
        let spool = spool.clone();
        std::thread::spawn(move || cancel(FEED, "switched off", || config(&spool, 64 << 20)))
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let flushed = flush(Duration::from_millis(200), || config(&spool, 64 << 20)).unwrap();
    let took = started.elapsed();
    other.execute_batch("COMMIT").unwrap();
    assert!(!flushed);
    assert!(took < Duration::from_millis(200) + FLUSH_REPLY_LEAST * 4, "flush(200 ms) took {took:?}");
    assert_eq!(canceling.join().unwrap(), Ok(0));
    assert!(flush(Duration::from_secs(10), || config(&spool, 64 << 20)).unwrap());
    shutdown(Duration::from_secs(1));
}

/// flush() while the spool cannot say what is due (here its index is gone, as a read that
/// fails would be): a retry may fall due within the timeout, so flush() is not done.
#[test]
fn flush_is_not_done_while_the_spool_cannot_say_what_is_due() {
    let _turn = turn();
    let (spool, receiver) = (temp_spool(), Receiver::start("503 Service Unavailable", Duration::ZERO));
    let retry_soon = || EngineConfig { retry: RetryPolicy::parse("1").unwrap(), ..config(&spool, 64 << 20) };
    assert!(flush(Duration::from_secs(1), retry_soon).unwrap());
    let id = submit_one(&spool, &receiver.url, b"{}".to_vec());
    assert!(flush(Duration::from_millis(300), retry_soon).is_ok());
    assert_eq!((receiver.requests(&id), status_on_disk(&spool, &id).as_str()), (1, "pending"), "a retry in 1 s");
    Connection::open(&spool).unwrap().execute_batch("DROP INDEX outbox_due;").unwrap();
    assert!(!flush(Duration::from_millis(1500), retry_soon).unwrap(), "not done: the retry is due within it");
    shutdown(Duration::from_secs(1));
}

#[test]
fn a_spool_another_process_is_writing_to_is_opened_not_replaced_by_memory() {
    let _turn = turn();
    let spool = temp_spool();
    drop(crate::spool::Spool::open(&spool, "earlier process").unwrap());
    let other = Connection::open(&spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let receiver = Receiver::start("200 OK", Duration::ZERO);
    let id = submit_one(&spool, &receiver.url, b"{}".to_vec());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(spool_location(), Some(spool.display().to_string()));
    other.execute_batch("COMMIT").unwrap();
    assert!(flush(Duration::from_secs(10), || config(&spool, 64 << 20)).unwrap());
    assert_eq!(status_on_disk(&spool, &id), "delivered");
    shutdown(Duration::from_secs(1));
}

#[test]
fn cancel_fails_while_deliveries_of_the_feed_are_not_yet_written() {
    let _turn = turn();
    let (spool, receiver) = (temp_spool(), Receiver::start("200 OK", Duration::ZERO));
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let admin = fail_writes(&spool, "bodies", "INSERT");
    let id = submit_one(&spool, &receiver.url, b"{}".to_vec());
    let error = cancel(FEED, "the feed was deleted", || config(&spool, 64 << 20)).unwrap_err();
    assert!(error.contains("1 deliveries of this feed are not yet written"), "{error}");
    assert!(error.contains("database or disk is full"), "{error}");
    assert_eq!(receiver.requests(&id), 0);
    heal(&admin);
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    shutdown(Duration::from_secs(1));
}

#[test]
fn a_delivery_canceled_in_flight_counts_as_failed_not_as_a_retry() {
    let _turn = turn();
    let spool = temp_spool();
    let receiver = Receiver::start("503 Service Unavailable", Duration::from_millis(500));
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let id = submit_one(&spool, &receiver.url, b"{}".to_vec());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(cancel(FEED, "the feed was switched off", || config(&spool, 64 << 20)).unwrap(), 1);
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let counts = snapshot();
    shutdown(Duration::from_secs(1));
    assert_eq!(status_on_disk(&spool, &id), "failed");
    assert_eq!((counts.failed, counts.retries_scheduled), (1, 0));
}

/// A panic in an attempt (a fault of ours or of a library's, not the endpoint's) ends that
/// attempt without an answer: the delivery fails or is retried with the reason, and is not
/// left claimed by this process, which renews the claims of what it holds for its whole life.
#[test]
fn an_attempt_that_panics_ends_as_a_failure_with_the_reason() {
    let _turn = turn();
    let spool = temp_spool();
    let no_retries =
        || EngineConfig { retry: crate::retry::RetryPolicy::parse("").unwrap(), ..config(&spool, 64 << 20) };
    let d = delivery(sender::PANICS_IN_THE_ATTEMPT, b"{}".to_vec());
    let id = d.id.clone();
    submit(vec![d], no_retries).unwrap();
    assert!(flush(Duration::from_secs(5), no_retries).unwrap());
    let counts = snapshot();
    shutdown(Duration::from_secs(1));
    let (status, owner, log): (String, Option<String>, String) = Connection::open(&spool)
        .unwrap()
        .query_row("SELECT status, lease_owner, attempts FROM outbox WHERE id = ?1", [&id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((status.as_str(), owner), ("failed", None), "{log}");
    assert!(log.contains("the attempt stopped on an internal error: a test's panic"), "{log}");
    assert_eq!(counts.failed, 1);
}

/// A panic once the answer's status has come (while its body is read: hyper's, reqwest's)
/// leaves the status to decide, as a body cut short does: a 2xx ends the delivery delivered.
/// Taken for an attempt without an answer, it would be retried, and sent again by this process
/// to an endpoint that has it.
#[test]
fn a_panic_after_a_2xx_answer_came_leaves_the_delivery_delivered() {
    let _turn = turn();
    let spool = temp_spool();
    let receiver = Receiver::start("200 OK", Duration::ZERO);
    let url = receiver.url.replace("/hook", sender::PANICS_READING_THE_ANSWER);
    let id = submit_one(&spool, &url, b"{}".to_vec());
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let counts = snapshot();
    shutdown(Duration::from_secs(1));
    let log: String = Connection::open(&spool)
        .unwrap()
        .query_row("SELECT attempts FROM outbox WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(status_on_disk(&spool, &id), "delivered", "{log}");
    assert_eq!((counts.delivered, counts.retries_scheduled, receiver.requests(&id)), (1, 0, 1));
}

fn one_slot(spool: &std::path::Path) -> EngineConfig {
    EngineConfig { max_concurrency: 1, ..config(spool, 64 << 20) }
}

/// One request slot and a timeout of 1 s: a claim lasts 6 s, renewed every 1.5 s.
fn one_slot_short_claims(spool: &std::path::Path) -> EngineConfig {
    let mut config = one_slot(spool);
    config.client.timeout = Duration::from_secs(1);
    config
}

/// Queues four deliveries of FEED with one request slot to a receiver that answers after
/// `answer_after`, and returns once the first is in flight, the other three held in memory,
/// waiting for the slot; with their ids.
fn four_behind_one_slot(spool: &std::path::Path, answer_after: Duration) -> (Receiver, Vec<String>) {
    let receiver = Receiver::start("200 OK", answer_after);
    let held: Vec<Delivery> = (0..4).map(|n| delivery(&receiver.url, format!("{{\"n\":{n}}}").into_bytes())).collect();
    let ids = held.iter().map(|d| d.id.clone()).collect();
    submit(held, || one_slot(spool)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.total() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    (receiver, ids)
}

/// Four deliveries held behind one request slot, and a cancel of their feed by `cancel`: only
/// the one in flight reaches the endpoint; the three end failed with the cancellation and no
/// attempt.
fn held_deliveries_canceled_by(cancel: impl FnOnce(&std::path::Path) -> usize) {
    let _turn = turn();
    let spool = temp_spool();
    let (receiver, ids) = four_behind_one_slot(&spool, Duration::from_millis(1000));
    assert_eq!(cancel(&spool), 4, "every held delivery is marked");
    assert!(flush(Duration::from_secs(10), || one_slot(&spool)).unwrap());
    let counts = snapshot();
    shutdown(Duration::from_secs(1));
    assert_eq!(receiver.total(), 1, "only the delivery in flight was sent");
    assert_eq!((receiver.requests(&ids[0]), status_on_disk(&spool, &ids[0]).as_str()), (1, "delivered"));
    let log = Connection::open(&spool).unwrap();
    for id in &ids[1..] {
        let (status, attempts, entries): (String, u32, String) = log
            .query_row("SELECT status, attempt_count, attempts FROM outbox WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((status.as_str(), attempts), ("failed", 0), "{id}: {entries}");
        assert!(entries.contains("canceled: the feed was switched off"), "{entries}");
    }
    assert_eq!((counts.delivered, counts.failed), (1, 3));
}

#[test]
fn held_deliveries_canceled_in_this_process_are_not_sent() {
    held_deliveries_canceled_by(|spool| cancel(FEED, "the feed was switched off", || config(spool, 64 << 20)).unwrap());
}

#[test]
fn held_deliveries_canceled_by_another_process_are_not_sent() {
    held_deliveries_canceled_by(|spool| {
        let mut admin = Spool::open(spool, "another-process").unwrap();
        admin.cancel_feed(FEED, "the feed was switched off", unix_millis()).unwrap()
    });
}

/// Ten deliveries behind one request slot, each answered after 0.7 s: the last starts about
/// 6.3 s after they were claimed, past a claim's 6 s (a timeout of 1 s). Their claims are
/// renewed while they wait, so another process looking for due deliveries never takes one
/// over, and each is sent once.
#[test]
fn claims_of_held_deliveries_are_renewed_while_they_wait() {
    let _turn = turn();
    let spool = temp_spool();
    let receiver = Receiver::start("200 OK", Duration::from_millis(700));
    let short_claims = || one_slot_short_claims(&spool);
    let held: Vec<Delivery> = (0..10).map(|n| delivery(&receiver.url, format!("{{\"n\":{n}}}").into_bytes())).collect();
    let ids: Vec<String> = held.iter().map(|d| d.id.clone()).collect();
    submit(held, short_claims).unwrap();
    let mut other = Spool::open(&spool, "another-process").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.total() < ids.len() && Instant::now() < deadline {
        let taken = other.claim_due(unix_millis(), unix_millis() + 60_000, 10, ByteBudget::UNLIMITED).unwrap();
        assert!(taken.is_empty(), "{} taken over after {} were sent", taken.len(), receiver.total());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(flush(Duration::from_secs(5), short_claims).unwrap());
    shutdown(Duration::from_secs(1));
    for id in &ids {
        assert_eq!((receiver.requests(id), status_on_disk(&spool, id).as_str()), (1, "delivered"));
    }
}

/// A fork while another thread is inside SQLite holds the spool thread's cancel check up for
/// about 1 s. The next check still comes a quarter of a second later: when the interval
/// grew with the time a check took, it came 100 s later, and another process's cancel went
/// unseen while the queued deliveries were sent (found by an independent review).
#[test]
fn a_cancel_check_that_waited_does_not_put_off_the_next() {
    let _turn = turn();
    let spool = temp_spool();
    let (receiver, _) = four_behind_one_slot(&spool, Duration::from_millis(700));
    let (entered, entered_rx) = std::sync::mpsc::channel();
    let inside = std::thread::spawn(move || {
        let _section = crate::process::sqlite_section();
        entered.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(1000));
    });
    entered_rx.recv().unwrap();
    // SAFETY: the child only calls _exit.
    let forker = std::thread::spawn(|| unsafe {
        let child = libc::fork();
        if child == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(child, &mut status, 0);
    });
    inside.join().unwrap();
    forker.join().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let sent_before_cancel = receiver.total();
    let mut admin = Spool::open(&spool, "another-process").unwrap();
    let marked = admin.cancel_feed(FEED, "the feed was switched off", unix_millis()).unwrap();
    assert!(flush(Duration::from_secs(20), || one_slot(&spool)).unwrap());
    shutdown(Duration::from_secs(1));
    let total = receiver.total();
    assert!(total <= sent_before_cancel + 1, "{} sent after the cancel of {marked}", total - sent_before_cancel);
}

/// A fork while the spool thread stops: it joins the checkpoint thread, which closes its
/// connection in an SQLite section; with the spool thread in one too, a fork waiting for the
/// gate kept the checkpoint thread out, and all three waited for ever.
#[test]
fn a_fork_while_the_engine_stops_goes_ahead() {
    let _turn = turn();
    let spool = temp_spool();
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    // Another process's write lock: stop()'s release_claims waits for it (SQLite's busy wait).
    let other = Connection::open(&spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let stopping = std::thread::spawn(|| shutdown(Duration::ZERO));
    std::thread::sleep(Duration::from_millis(300)); // the spool thread is in stop(), in its section
    let (forked, forked_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: the child exits at once.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(child, &mut status, 0) };
        let _ = forked.send(());
    });
    std::thread::sleep(Duration::from_millis(300)); // fork() now waits for the gate
    other.execute_batch("COMMIT").unwrap(); // stop() goes on, drops the Spool
    let fork_returned = forked_rx.recv_timeout(Duration::from_secs(15)).is_ok();
    assert!(fork_returned, "fork() never returned: spool thread joins the checkpointer inside a section");
    let _ = stopping.join();
}

/// A fork waits for one SQLite call of the spool thread, not for all those of a step, each
/// of which may wait SQLite's 5 s for another process's lock (9.5 s before).
#[test]
fn a_fork_waits_for_one_busy_wait_at_most() {
    let _turn = turn();
    let spool = temp_spool();
    let receiver = Receiver::start("200 OK", Duration::from_millis(300));
    assert!(flush(Duration::from_secs(5), || config(&spool, 64 << 20)).unwrap());
    let t0 = Instant::now();
    submit_one(&spool, &receiver.url, b"{}".to_vec());
    std::thread::sleep(Duration::from_millis(100));
    let other = Connection::open(&spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::sleep(Duration::from_millis(900));
    submit_one(&spool, &receiver.url, b"{}".to_vec()); // queued behind the outcome's busy wait
    std::thread::sleep(Duration::from_millis(5000).saturating_sub(t0.elapsed()) + Duration::from_millis(900));
    let started = Instant::now();
    // SAFETY: the child exits at once.
    let child = unsafe { libc::fork() };
    if child == 0 {
        unsafe { libc::_exit(0) };
    }
    let waited = started.elapsed();
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    other.execute_batch("COMMIT").unwrap();
    let _ = flush(Duration::from_secs(15), || config(&spool, 64 << 20));
    shutdown(Duration::from_secs(1));
    assert!(waited < Duration::from_millis(5500), "fork() waited {waited:?} for the spool thread");
}

/// Another process's lock held for 3 s, which SQLite's busy wait outlasts: dispatch() waits
/// past the memory cap rather than refuse (9 of 24 refused after 2 s before).
#[test]
fn a_lock_held_shorter_than_the_busy_wait_refuses_nothing() {
    let _turn = turn();
    const BODY: usize = 256 << 10;
    let limit = 4 << 20;
    let (spool, receiver) = (temp_spool(), Receiver::start("200 OK", Duration::ZERO));
    assert!(flush(Duration::from_secs(5), || config(&spool, limit)).unwrap());
    let other = Connection::open(&spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        other.execute_batch("COMMIT").unwrap();
    });
    let mut refused = Vec::new();
    let started = Instant::now();
    for i in 0..24u8 {
        if let Err(e) = submit(vec![delivery(&receiver.url, vec![b'a' + i; BODY])], || config(&spool, limit)) {
            refused.push((started.elapsed(), e));
        }
    }
    releaser.join().unwrap();
    let _ = flush(Duration::from_secs(10), || config(&spool, limit));
    shutdown(Duration::from_secs(1));
    assert!(refused.is_empty(), "{} refused, first at {:?}: {}", refused.len(), refused[0].0, refused[0].1);
}

/// The spool is shared: a delivery another process queued under a stricter
/// fluent_webhook.allowed_networks is sent only where that policy allows too (a process with
/// the default policy could otherwise have a more open one send to loopback for it).
#[test]
fn a_delivery_goes_only_where_the_process_that_queued_it_allowed() {
    let _turn = turn();
    let (spool, receiver) = (temp_spool(), Receiver::start("200 OK", Duration::ZERO));
    let queued_under = |network: Option<&str>| {
        let mut d = delivery(&receiver.url, b"{}".to_vec());
        d.network = network.map(Into::into);
        d
    };
    // Left in the spool by other processes: one with the default policy, one that opened
    // loopback too, and one of an earlier build that did not say.
    let (strict, open, unknown) = (queued_under(Some("")), queued_under(Some("127.0.0.0/8")), queued_under(None));
    let mut other = crate::spool::Spool::open(&spool, "other process").unwrap();
    other.insert(&[(strict.clone(), None), (open.clone(), None), (unknown.clone(), None)]).unwrap();
    drop(other);

    // This process opens 127.0.0.0/8 (config()) and takes up what is due.
    assert!(flush(Duration::from_secs(10), || config(&spool, 64 << 20)).unwrap());
    shutdown(Duration::from_secs(1));
    assert_eq!(receiver.requests(&strict.id), 0, "sent where its own process may not send");
    assert_eq!(status_on_disk(&spool, &strict.id), "failed");
    let attempts: String = Connection::open(&spool)
        .unwrap()
        .query_row("SELECT attempts FROM outbox WHERE id = ?1", [&strict.id], |r| r.get(0))
        .unwrap();
    assert!(attempts.contains("the process that queued this delivery does not open it"), "{attempts}");
    assert_eq!((receiver.requests(&open.id), receiver.requests(&unknown.id)), (1, 1));
}

/// Forty deliveries behind one request slot (answered after 0.3 s; a claim is 6 s with a
/// 1 s timeout). Another process holds the spool's write lock for 6.5 s: this process cannot
/// renew, and the claims of the deliveries it still holds run out (README: "another process may
/// then send those deliveries too"). That other process then takes them over and lets them go
/// again in the same transaction, as claim_due does with rows past its memory budget. This
/// process may lose them to others, but must never send one of them twice itself: it still
/// holds each one in memory, and claim_due must not claim it a second time.
#[test]
fn a_claim_lost_while_held_is_not_sent_twice_by_this_process() {
    let _turn = turn();
    let spool = temp_spool();
    let (receiver, ids, other) = forty_held_through_a_stall(&spool);
    let now = unix_millis() as i64;
    // Still held by this process, not sent yet: their claims ran out.
    let unsent: Vec<&String> = ids.iter().filter(|id| receiver.requests(id) == 0).collect();
    let mut taken_over = 0;
    for id in &unsent {
        taken_over += other
            .execute(
                "UPDATE outbox SET lease_owner = 'another-process', lease_until = ?2, next_attempt_at = ?2
                 WHERE id = ?1 AND status = 'pending' AND lease_until < ?3",
                rusqlite::params![id, now + 60_000, now],
            )
            .unwrap();
    }
    // ...and let go at once (past its memory budget).
    other
        .execute(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?1
             WHERE lease_owner = 'another-process'",
            [now],
        )
        .unwrap();
    other.execute_batch("COMMIT").unwrap();
    assert!(taken_over > 0, "the stall should let claims run out");
    assert_each_sent_once_by_this_process(&spool, &receiver, &ids);
    assert!(ids.iter().all(|id| status_on_disk(&spool, id) == "delivered"));
}

/// Forty deliveries behind one request slot with short claims (one_slot_short_claims),
/// answered after 0.3 s; once the first is sent, another connection takes the spool's write
/// lock and keeps it past the claims (6.5 s), so that this process cannot renew them. Returns
/// that connection with its transaction still open, for the test to take rows over and commit.
fn forty_held_through_a_stall(spool: &std::path::Path) -> (Receiver, Vec<String>, Connection) {
    let receiver = Receiver::start("200 OK", Duration::from_millis(300));
    let short_claims = || one_slot_short_claims(spool);
    assert!(flush(Duration::from_secs(5), short_claims).unwrap());
    let held: Vec<Delivery> = (0..40).map(|n| delivery(&receiver.url, format!("{{\"n\":{n}}}").into_bytes())).collect();
    let ids: Vec<String> = held.iter().map(|d| d.id.clone()).collect();
    submit(held, short_claims).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.total() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let other = Connection::open(spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::sleep(Duration::from_millis(6500));
    (receiver, ids, other)
}

/// Once the stall is over, every delivery is sent by this process exactly once, and counted
/// delivered.
fn assert_each_sent_once_by_this_process(spool: &std::path::Path, receiver: &Receiver, ids: &[String]) {
    assert!(flush(Duration::from_secs(40), || one_slot_short_claims(spool)).unwrap());
    let counts = snapshot();
    shutdown(Duration::from_secs(1));
    let twice: Vec<_> = ids.iter().filter(|id| receiver.requests(id) > 1).collect();
    assert!(twice.is_empty(), "{} of {} sent twice by this one process", twice.len(), ids.len());
    assert_eq!((counts.delivered, counts.failed), (40, 0), "each claimed again and sent once, none counted failed");
}

/// The commit and renew_claims say the claims of deliveries "whose outcome is not written
/// yet" are renewed too. With nothing else held (an idle process), an outcome the spool refuses
/// (here only outcome writes fail; renewals touch other columns) loses its claim after 6 s (1 s
/// timeout): another process takes the delivery over and sends it again while this process is
/// alive and still holds it (record_outcomes: "sends them again only if it dies first").
#[test]
fn a_delivery_whose_outcome_waits_keeps_its_claim_while_nothing_else_is_held() {
    let _turn = turn();
    let spool = temp_spool();
    let receiver = Receiver::start("200 OK", Duration::ZERO);
    let short_claims = || {
        let mut config = config(&spool, 64 << 20);
        config.client.timeout = Duration::from_secs(1);
        config
    };
    assert!(flush(Duration::from_secs(5), short_claims).unwrap());
    let admin = fail_writes(&spool, "outbox", "UPDATE OF attempt_count");
    let d = delivery(&receiver.url, b"{}".to_vec());
    let id = d.id.clone();
    submit(vec![d], short_claims).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.total() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(8));
    let mut other = Spool::open(&spool, "another-process").unwrap();
    let taken = other.claim_due(unix_millis(), unix_millis() + 60_000, 10, ByteBudget::UNLIMITED).unwrap();
    heal(&admin);
    let _ = flush(Duration::from_secs(5), short_claims);
    shutdown(Duration::from_secs(1));
    assert_eq!(receiver.requests(&id), 1);
    assert!(taken.is_empty(), "taken over while this process holds it, its outcome unwritten");
}

/// A spool thread's state driven by hand, without its thread or an HTTP side, holding one
/// delivery that the test took from it as the HTTP side would; and a connection of another
/// process to the same spool.
struct HandDriven {
    worker: SpoolWorker,
    from_spool: mpsc::UnboundedReceiver<Delivery>,
    tally: Arc<Tally>,
    other: Connection,
    spool: PathBuf,
    /// The copy the HTTP side took.
    taken: Delivery,
}

impl HandDriven {
    fn new() -> HandDriven {
        let spool = temp_spool();
        let (to_http, mut from_spool) = mpsc::unbounded_channel();
        let tally: Arc<Tally> = Arc::default();
        let mut worker = SpoolWorker::new(one_slot(&spool), "me".into(), Arc::clone(&tally), to_http, Arc::default());
        tally.queued(1);
        assert!(worker.insert(vec![delivery("http://127.0.0.1:9/hook", b"{}".to_vec())]));
        let taken = from_spool.try_recv().unwrap();
        tally.started();
        let other = Connection::open(&spool).unwrap();
        HandDriven { worker, from_spool, tally, other, spool, taken }
    }

    /// Whoever holds the row's claim lets it run out (a stall, or a process that died).
    fn claim_runs_out(&self) {
        let sql = "UPDATE outbox SET lease_until = 1, next_attempt_at = 1 WHERE id = ?1";
        self.other.execute(sql, [&self.taken.id]).unwrap();
    }

    /// Another process takes the delivery over, as after its claim ran out.
    fn taken_over(&self) {
        let until = (unix_millis() + 60_000) as i64;
        let sql =
            "UPDATE outbox SET lease_owner = 'another-process', lease_until = ?2, next_attempt_at = ?2 WHERE id = ?1";
        self.other.execute(sql, rusqlite::params![self.taken.id, until]).unwrap();
    }

    /// ... and lets it go (past its memory cap, or at its exit): due at once.
    fn let_go(&self) {
        let sql = "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, next_attempt_at = 0 WHERE id = ?1";
        self.other.execute(sql, [&self.taken.id]).unwrap();
    }

    fn owner(&self) -> Option<String> {
        self.other.query_row("SELECT lease_owner FROM outbox WHERE id = ?1", [&self.taken.id], |r| r.get(0)).unwrap()
    }

    /// ... and this process claims it back: nothing is handed over again.
    fn claimed_back(&mut self) {
        self.let_go();
        assert_eq!(self.worker.claim(unix_millis()), 0);
    }

    /// The attempt of the copy taken ends, answered 200; its outcome waits to be written.
    fn finish(&mut self) {
        let outcome = Outcome::Delivered { status: 200, duration: Duration::ZERO };
        self.worker.finished(self.taken.clone(), outcome, unix_millis(), Vec::new());
    }

    /// ... and its outcome is written.
    fn delivered(&mut self) {
        self.finish();
        self.worker.record_outcomes();
    }

    /// The attempt of the copy taken ends without an answer (a retry, if one is left), and its
    /// outcome is written.
    fn refused(&mut self) {
        let outcome = Outcome::no_answer("connection refused".into(), Duration::ZERO);
        self.worker.finished(self.taken.clone(), outcome, unix_millis(), Vec::new());
        self.worker.record_outcomes();
    }

    /// The row's count of attempts, every process's.
    fn attempts_on_disk(&self) -> i64 {
        self.other.query_row("SELECT attempt_count FROM outbox WHERE id = ?1", [&self.taken.id], |r| r.get(0)).unwrap()
    }

    /// The delivery's outcome is on disk, and nothing is left pending.
    fn assert_delivered(&self) {
        assert_eq!(status_on_disk(&self.spool, &self.taken.id), "delivered");
        assert_eq!(self.tally.pending(), 0);
    }
}

/// Claimed back (its claim ran out, another process took it over and let it go) before a
/// renewal found it lost: the claim is this process's again and its copy goes on; it is not
/// handed over twice, and its outcome is written.
#[test]
fn a_held_delivery_claimed_back_goes_on_and_is_not_held_twice() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.claimed_back();
    assert!(hand.from_spool.try_recv().is_err(), "handed to the HTTP side once");
    assert_eq!((hand.worker.in_memory(), hand.owner().as_deref()), (1, Some("me")));
    hand.delivered();
    assert_eq!(hand.worker.claim(unix_millis()), 0);
    hand.assert_delivered();
}

/// The same for a delivery whose attempt ended and whose outcome waits to be written (found
/// by an independent review: it was claimed and sent a second time).
#[test]
fn a_delivery_whose_outcome_waits_is_not_claimed_back_and_sent_again() {
    let mut hand = HandDriven::new();
    hand.finish();
    hand.taken_over();
    hand.claimed_back();
    assert!(hand.from_spool.try_recv().is_err(), "sent once already");
    hand.worker.record_outcomes();
    hand.assert_delivered();
}

/// A held delivery whose claim a renewal found lost is withdrawn: when the sender passes it
/// back, it leaves this process without an outcome, the other process's to send.
#[test]
fn a_held_delivery_whose_claim_is_lost_leaves_without_an_outcome() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "withdrawn");
    hand.worker.not_started(hand.taken.clone());
    assert!(hand.from_spool.try_recv().is_err());
    assert_eq!((hand.worker.in_memory(), hand.tally.pending()), (0, 0));
    assert_eq!(hand.owner().as_deref(), Some("another-process"));
    assert_eq!(status_on_disk(&hand.spool, &hand.taken.id), "pending");
}

/// Claimed back after a renewal found it lost and withdrew it, before the sender reached it:
/// put back, and sent as if the claim had never been lost.
#[test]
fn a_delivery_withdrawn_for_a_lost_claim_is_put_back_when_claimed_back() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    hand.claimed_back();
    assert!(!hand.worker.withdrawn.take(&hand.taken.id), "no longer withdrawn");
    assert_eq!(hand.owner().as_deref(), Some("me"));
    hand.delivered();
    hand.assert_delivered();
}

/// Claimed back after the sender had already passed it back unsent: sent when it arrives
/// (not ended without an outcome, which would leave its row claimed by this process, which
/// never claims its own rows again).
#[test]
fn a_delivery_claimed_back_after_the_sender_passed_it_back_is_sent() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "the sender passes it back");
    hand.claimed_back();
    hand.worker.not_started(hand.taken.clone());
    let again = hand.from_spool.try_recv().expect("handed over again");
    assert_eq!(again.id, hand.taken.id);
    assert_eq!((hand.worker.in_memory(), hand.owner().as_deref()), (1, Some("me")));
    hand.tally.started();
    hand.delivered();
    hand.assert_delivered();
}

/// The attempt ended while its claim ran out, and the process that took the row over let it go
/// before the outcome was written: the outcome is written to the row no process holds, and
/// the next claim does not take the delivery up and send it again.
#[test]
fn an_outcome_whose_claim_was_let_go_meanwhile_is_written_and_not_sent_again() {
    let mut hand = HandDriven::new();
    hand.finish();
    hand.taken_over();
    hand.let_go();
    hand.worker.record_outcomes();
    assert_eq!(hand.worker.claim(unix_millis()), 0, "sent once already by this process");
    assert!(hand.from_spool.try_recv().is_err(), "handed to the HTTP side once");
    hand.assert_delivered();
}

/// The same with the claim found lost while the attempt was under way.
#[test]
fn an_attempt_under_way_when_its_claim_is_lost_and_let_go_is_not_sent_again() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.let_go();
    hand.worker.renew_claims();
    hand.delivered();
    assert_eq!(hand.worker.claim(unix_millis()), 0, "sent once already by this process");
    assert_eq!(hand.tally.snapshot().delivered, 1);
    hand.assert_delivered();
}

/// Claims run out during a stall, and the other process takes over every row whose claim ran
/// out, as its claim does, those already sent included, then lets them go: none is sent twice
/// by this process.
#[test]
fn a_stall_whose_lapsed_rows_are_all_taken_over_and_let_go_sends_none_twice() {
    let _turn = turn();
    let spool = temp_spool();
    let (receiver, ids, other) = forty_held_through_a_stall(&spool);
    // Every lapsed row taken over and let go in the same transaction.
    let now = unix_millis() as i64;
    let lapsed = "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?1
                  WHERE status = 'pending' AND lease_until < ?1";
    assert!(other.execute(lapsed, [now]).unwrap() > 0);
    other.execute_batch("COMMIT").unwrap();
    assert_each_sent_once_by_this_process(&spool, &receiver, &ids);
}

/// Claimed back after the sender passed it back, and its claim lost again before it arrived:
/// it is the other process's, and leaves this one without being sent or counted failed.
#[test]
fn claimed_back_then_lost_again_it_is_left_to_the_other_process() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "the sender passes it back");
    hand.claimed_back();
    hand.taken_over();
    hand.worker.renew_claims();
    hand.worker.not_started(hand.taken.clone());
    assert!(hand.from_spool.try_recv().is_err(), "not sent from here");
    assert_eq!(hand.owner().as_deref(), Some("another-process"));
    assert_eq!((hand.tally.snapshot().failed, hand.tally.pending()), (0, 0));
}

/// ... and when it is claimed back a second time before it arrives, it is sent.
#[test]
fn claimed_back_twice_before_it_came_back_it_is_sent() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "the sender passes it back");
    hand.claimed_back();
    hand.taken_over();
    hand.worker.renew_claims();
    hand.claimed_back();
    hand.worker.not_started(hand.taken.clone());
    let again = hand.from_spool.try_recv().expect("sent");
    assert!(!hand.worker.withdrawn.take(&again.id), "and not withdrawn when its slot frees");
    assert_eq!(hand.tally.snapshot().failed, 0);
}

/// A renewal that runs while a delivery withdrawn for its lost claim is on its way back does
/// not list it again: the entry would outlive it, and withdraw the copy this process claims
/// once the other lets the row go, leaving the row claimed by this process and never sent.
#[test]
fn a_renewal_before_a_withdrawn_delivery_comes_back_leaves_no_entry_behind() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "the sender passes it back");
    hand.worker.renew_claims();
    hand.worker.not_started(hand.taken.clone());
    assert_eq!((hand.worker.in_memory(), hand.tally.pending()), (0, 0));
    hand.let_go();
    assert_eq!(hand.worker.claim(unix_millis()), 1, "claimed afresh: this process never sent it");
    let again = hand.from_spool.try_recv().unwrap();
    assert!(!hand.worker.withdrawn.take(&again.id), "sent when its slot frees");
}

/// The copy kept when a claim returns a held delivery was read before the other process's
/// attempt: the retry schedule counts that attempt all the same.
#[test]
fn the_retry_schedule_counts_attempts_made_while_another_process_had_the_claim() {
    let mut hand = HandDriven::new();
    // Two attempts in all.
    hand.worker.config.retry = crate::retry::RetryPolicy::parse("5").unwrap();
    hand.taken_over();
    hand.worker.renew_claims();
    let attempted = "UPDATE outbox SET attempt_count = 1, lease_owner = NULL, lease_until = NULL, next_attempt_at = 0
                     WHERE id = ?1";
    hand.other.execute(attempted, [&hand.taken.id]).unwrap();
    assert_eq!(hand.worker.claim(unix_millis()), 0);
    assert!(!hand.worker.withdrawn.take(&hand.taken.id), "put back: the HTTP side sends the copy it has");
    hand.refused();
    assert_eq!((hand.attempts_on_disk(), status_on_disk(&hand.spool, &hand.taken.id).as_str()), (2, "failed"));
}

/// Withdrawn for its lost claim, passed back by the sender, claimed back, and its feed
/// canceled before it arrives: it ends canceled, not sent.
#[test]
fn claimed_back_then_canceled_before_it_came_back_it_is_not_sent() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.worker.renew_claims();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "the sender passes it back");
    hand.claimed_back();
    assert_eq!(hand.worker.cancel(FEED, "stop").unwrap(), 1);
    hand.worker.withdraw_canceled_and_lost();
    hand.worker.not_started(hand.taken.clone());
    if let Ok(again) = hand.from_spool.try_recv() {
        assert!(
            hand.worker.withdrawn.take(&again.id),
            "handed to the HTTP side again, and not withdrawn: sent although canceled"
        );
    }
}

/// Two attempts in all. This process's attempt was under way when its claim ran out, and the
/// process that took the row over made one too and scheduled a retry: this process's,
/// written to the row no process holds, is the second, and the delivery ends failed.
#[test]
fn an_outcome_written_to_a_row_no_process_holds_counts_the_other_process_attempt() {
    let mut hand = HandDriven::new();
    hand.worker.config.retry = crate::retry::RetryPolicy::parse("5").unwrap();
    let retry = "UPDATE outbox SET attempt_count = 1, attempts = '[]', lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = ?2 WHERE id = ?1";
    hand.other.execute(retry, rusqlite::params![hand.taken.id, (unix_millis() + 5_000) as i64]).unwrap();
    hand.refused();
    assert_eq!((hand.attempts_on_disk(), status_on_disk(&hand.spool, &hand.taken.id).as_str()), (2, "failed"));
}

/// The attempt was answered 200 while the process that took the row over held it: the answer
/// ends the delivery, so that neither process sends it again, even once the other lets the
/// row go (at its exit, say).
#[test]
fn an_answer_while_another_process_held_the_row_ends_it_and_is_not_sent_again() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.finish();
    hand.worker.record_outcomes();
    assert_eq!(status_on_disk(&hand.spool, &hand.taken.id), "delivered");
    hand.let_go();
    assert_eq!(hand.worker.claim(unix_millis()), 0, "sent once already by this process");
}

/// A cancel of this process's, when the claim of a delivery it holds (not started) ran out
/// during a stall and no other process took it over: withdrawn at once, as any it holds.
#[test]
fn a_cancel_of_this_process_withdraws_a_held_delivery_whose_claim_ran_out() {
    let mut hand = HandDriven::new();
    hand.claim_runs_out();
    assert_eq!(hand.worker.cancel(FEED, "stop").unwrap(), 1);
    hand.worker.withdraw_canceled_and_lost();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "withdrawn at once: cancel() has returned");
}

/// A 400 (not retried) answered while another process held the row: once that process lets
/// the row go (at its exit), this one does not claim it and send it again.
#[test]
fn a_final_failure_while_another_process_held_the_row_is_not_sent_again() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    let outcome = Outcome::from_status(400, None, None, Duration::ZERO);
    hand.worker.finished(hand.taken.clone(), outcome, unix_millis(), Vec::new());
    hand.worker.record_outcomes();
    assert_eq!(hand.tally.snapshot().failed, 1);
    hand.let_go();
    assert_eq!(hand.worker.claim(unix_millis()), 0, "answered 400 to this process already: not sent again by it");
}

/// The last attempt the policy allows failed while another process held the row, and that
/// process died: this one makes no attempt past the policy's, nor counts the delivery
/// failed twice.
#[test]
fn the_last_attempt_while_another_process_held_the_row_is_not_made_again() {
    let mut hand = HandDriven::new();
    hand.worker.config.retry = crate::retry::RetryPolicy::parse("").unwrap();
    hand.taken_over();
    hand.refused();
    // The other process dies holding it.
    hand.claim_runs_out();
    let claimed = hand.worker.claim(unix_millis());
    if let Ok(again) = hand.from_spool.try_recv() {
        hand.tally.started();
        hand.taken = again;
        hand.refused();
    }
    assert_eq!(
        (claimed, hand.attempts_on_disk(), hand.tally.snapshot().failed),
        (0, 1, 1),
        "(claimed again, attempts on the row, counted failed) with one attempt allowed"
    );
}

/// A failure to retry, answered while a process that has died since held the row: the retry
/// waits its time, as written by this process, instead of going out at once.
#[test]
fn a_retry_answered_while_a_dead_process_held_the_row_keeps_its_wait() {
    let mut hand = HandDriven::new();
    hand.taken_over();
    hand.claim_runs_out();
    let outcome = Outcome::from_status(503, None, None, Duration::ZERO);
    hand.worker.finished(hand.taken.clone(), outcome, unix_millis(), Vec::new());
    hand.worker.record_outcomes();
    assert_eq!(hand.tally.snapshot().retries_scheduled, 1);
    assert_eq!(hand.worker.claim(unix_millis()), 0, "the retry waits its 5 s (±20 %)");
}

/// A held delivery, not started, that another process's late answer (200) ended: the next
/// look for cancels withdraws it, within a quarter second rather than at the next renewal.
#[test]
fn a_held_delivery_ended_by_another_process_is_withdrawn_by_the_next_cancel_check() {
    let mut hand = HandDriven::new();
    let mut previous = Spool::open(&hand.spool, "another-process").unwrap();
    let attempt = Attempt { at: unix_millis(), status_code: Some(200), error: None, duration_ms: 1 };
    assert_eq!(previous.record_attempt(&hand.taken.id, &attempt, Status::Delivered, None, b"").unwrap(), None);
    assert_eq!(status_on_disk(&hand.spool, &hand.taken.id), "delivered");
    hand.worker.withdraw_canceled_and_lost();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "delivered already: not to be started here");
}

/// The previous holder's late final answer, written by its process to a row whose claim has
/// run out: `code`, which ends the row as `status`.
fn a_late_answer_from_the_previous_holder(hand: &HandDriven, code: u16, status: Status) -> Spool {
    let mut previous = Spool::open(&hand.spool, "previous-holder").unwrap();
    let error = Some(format!("HTTP {code}"));
    let attempt = Attempt { at: unix_millis(), status_code: Some(code), error, duration_ms: 1 };
    previous.record_attempt(&hand.taken.id, &attempt, status, None, b"").unwrap();
    previous
}

fn a_late_400_from_the_previous_holder(hand: &HandDriven) -> Spool {
    a_late_answer_from_the_previous_holder(hand, 400, Status::Failed)
}

/// This process's claim ran out during its attempt (its spool thread stalled), and the
/// previous holder's late 400 (or 410) ended the row: this process's 200 still goes into the
/// log, and the delivery ends delivered, as it does when the claim still runs.
#[test]
fn a_200_after_a_late_400_or_410_ends_the_delivery_delivered_whether_the_claim_ran_out_or_not() {
    for (code, ended) in [(400, Status::Failed), (410, Status::Gone)] {
        for claim_ran_out in [true, false] {
            let mut hand = HandDriven::new();
            if claim_ran_out {
                hand.claim_runs_out();
            }
            let previous = a_late_answer_from_the_previous_holder(&hand, code, ended);
            hand.delivered();
            assert_eq!(hand.tally.snapshot().delivered, 1);
            let entry = previous.get(&hand.taken.id).unwrap().unwrap();
            let codes: Vec<_> = entry.attempts.iter().map(|a| a.status_code).collect();
            let context = format!("{code}, ran out: {claim_ran_out}");
            assert_eq!((entry.status, codes), (Status::Delivered, vec![Some(code), Some(200)]), "{context}");
        }
    }
}

/// A held delivery withdrawn because another process's late 400 ended it is not reported as
/// canceled by this process's stats().
#[test]
fn a_delivery_withdrawn_for_another_process_final_answer_says_so() {
    let mut hand = HandDriven::new();
    let previous = a_late_400_from_the_previous_holder(&hand);
    hand.worker.withdraw_canceled_and_lost();
    assert!(hand.worker.withdrawn.take(&hand.taken.id), "the sender passes it back");
    hand.worker.not_started(hand.taken.clone());
    hand.worker.record_outcomes();
    assert_eq!(previous.get(&hand.taken.id).unwrap().unwrap().status, Status::Failed);
    let reason = hand.tally.snapshot().recent_failures[0].reason.clone();
    assert!(reason.contains("another process"), "stats() says: {reason:?}");
}

/// Three attempts in all, waits of 5 s then 300 s. While this process's claim had run out, the
/// process that took the row over made the first attempt and let the row go. This process's
/// attempt, written with the copy it had (claimed back, or not), is the row's second: its retry
/// waits the second wait (300 s ± 20 %), not the first, which the row has had already.
#[test]
fn a_retry_after_another_process_attempt_waits_as_the_row_count_says() {
    for claimed_back in [true, false] {
        let mut hand = HandDriven::new();
        hand.worker.config.retry = crate::retry::RetryPolicy::parse("5,300").unwrap();
        if claimed_back {
            hand.taken_over();
            hand.worker.renew_claims();
        }
        // The other process's attempt, a retry scheduled, the row let go (due at once when this
        // process is to claim it back).
        let due = if claimed_back { 0 } else { (unix_millis() + 5_000) as i64 };
        let attempted = "UPDATE outbox SET attempt_count = 1, lease_owner = NULL, lease_until = NULL,
                         next_attempt_at = ?2 WHERE id = ?1";
        hand.other.execute(attempted, rusqlite::params![hand.taken.id, due]).unwrap();
        if claimed_back {
            assert_eq!(hand.worker.claim(unix_millis()), 0, "its copy goes on");
        }
        let outcome = Outcome::no_answer("connection refused".into(), Duration::ZERO);
        let now = unix_millis();
        hand.worker.finished(hand.taken.clone(), outcome, now, Vec::new());
        hand.worker.record_outcomes();
        let (attempts, next): (i64, i64) = hand
            .other
            .query_row("SELECT attempt_count, next_attempt_at FROM outbox WHERE id = ?1", [&hand.taken.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((attempts, status_on_disk(&hand.spool, &hand.taken.id).as_str()), (2, "pending"));
        let wait = next - now as i64;
        assert!(wait >= 240_000, "claimed back: {claimed_back}; the row's second attempt is retried after {wait} ms");
    }
}

/// A 503 answered after this process's claim had run out, when no retry follows from it: the
/// row ended failed meanwhile (another process's cancel ended it as free), or the row's count,
/// the other process's attempt included, leaves none (two attempts in all) while that process
/// holds it. stats() counts the delivery failed, as it does when the claim still held
/// (a_delivery_canceled_in_flight_counts_as_failed_not_as_a_retry), not as a retry scheduled.
#[test]
fn a_late_failure_that_leaves_no_retry_counts_as_failed_not_as_a_retry() {
    for canceled in [true, false] {
        let mut hand = HandDriven::new();
        hand.worker.config.retry = crate::retry::RetryPolicy::parse("5").unwrap();
        if canceled {
            hand.claim_runs_out();
            let mut admin = Spool::open(&hand.spool, "another-process").unwrap();
            assert_eq!(admin.cancel_feed(FEED, "the feed was switched off", unix_millis()).unwrap(), 1);
        } else {
            hand.taken_over();
            hand.other.execute("UPDATE outbox SET attempt_count = 1 WHERE id = ?1", [&hand.taken.id]).unwrap();
        }
        let outcome = Outcome::from_status(503, None, None, Duration::ZERO);
        hand.worker.finished(hand.taken.clone(), outcome, unix_millis(), Vec::new());
        hand.worker.record_outcomes();
        if canceled {
            assert_eq!(status_on_disk(&hand.spool, &hand.taken.id), "failed");
        }
        let counts = hand.tally.snapshot();
        assert_eq!(
            (counts.failed, counts.retries_scheduled, hand.tally.pending()),
            (1, 0, 0),
            "(failed, retries scheduled, pending) in stats(); canceled: {canceled}"
        );
    }
}

/// A spool worker on a spool in memory that stands in for its file, which could not be opened
/// as it started (a file stood where the spool's directory should be, made a directory once
/// the worker held one delivery, which the test took as the HTTP side would).
struct InMemoryForAFile {
    worker: SpoolWorker,
    tally: Arc<Tally>,
    dir: PathBuf,
    spool: PathBuf,
    held: Delivery,
}

impl InMemoryForAFile {
    fn new(config: impl FnOnce(&std::path::Path) -> EngineConfig) -> InMemoryForAFile {
        let dir = std::env::temp_dir().join(format!("fluent-webhook-not-yet-{}", uuid::Uuid::now_v7().simple()));
        std::fs::write(&dir, b"a file where the spool's directory should be").unwrap();
        let spool = dir.join("spool.sqlite");
        let (to_http, mut from_spool) = mpsc::unbounded_channel();
        let tally: Arc<Tally> = Arc::default();
        let mut worker = SpoolWorker::new(config(&spool), "me".into(), Arc::clone(&tally), to_http, Arc::default());
        assert_eq!(tally.spool_location(), (":memory:".to_string(), true));
        tally.queued(1);
        assert!(worker.insert(vec![delivery("http://127.0.0.1:9/hook", b"{}".to_vec())]));
        let held = from_spool.try_recv().unwrap();
        std::fs::remove_file(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        tally.take_warnings();
        InMemoryForAFile { worker, tally, dir, spool, held }
    }

    /// The file is tried again now, whenever it was last.
    fn try_the_file(&mut self) {
        self.worker.next_file_retry = Instant::now();
        self.worker.follow_moved_spool();
    }

    fn in_memory(&self) -> bool {
        self.tally.spool_location().1
    }
}

impl Drop for InMemoryForAFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A spool file that could not be opened as the process started left it on a spool in memory
/// for its whole life. It is tried again every FILE_RETRY: once it opens, the rows of the
/// spool in memory move there, and the worker goes on with it.
#[test]
fn a_spool_in_memory_standing_in_for_the_file_moves_there_once_it_opens() {
    let mut memory = InMemoryForAFile::new(one_slot);
    memory.worker.follow_moved_spool();
    assert!(memory.in_memory(), "not tried again before FILE_RETRY");
    memory.try_the_file();
    assert_eq!(memory.tally.spool_location(), (memory.spool.display().to_string(), false));
    assert_eq!(status_on_disk(&memory.spool, &memory.held.id), "pending");
    assert!(memory
        .tally
        .take_warnings()
        .iter()
        .any(|w| w.contains("could be opened after all: 1 deliveries (1 pending)")));
}

/// The claims of what a spool in memory holds are renewed as it moves to the file: while the
/// spool thread waited for the file (another process's lock, its busy waits), they ran out in
/// memory, where no one else could take them; copied as they were, any other process could
/// claim a delivery this one is sending, and send it again.
#[test]
fn claims_moved_from_memory_to_the_file_are_renewed_first() {
    let mut memory = InMemoryForAFile::new(|spool| {
        let mut config = one_slot(spool);
        config.client.timeout = Duration::ZERO;
        config
    });
    // The spool thread held up past the claim (5 s with a timeout of 0).
    std::thread::sleep(Duration::from_millis(5_200));
    memory.try_the_file();
    assert!(!memory.in_memory());
    let conn = Connection::open(&memory.spool).unwrap();
    let sql = "SELECT lease_until FROM outbox WHERE id = ?1";
    let lease: i64 = conn.query_row(sql, [&memory.held.id], |r| r.get(0)).unwrap();
    assert!(lease as u64 > unix_millis(), "another process could claim the delivery this one holds");
}

/// The same while another process holds the file's write lock: the spool thread, which
/// answers no one meanwhile, waited up to 5 s for it each minute. It now gives up after a
/// moment, says so once, and moves the rows on a later try.
#[test]
fn a_spool_in_memory_waits_for_the_files_lock_a_moment_only() {
    let mut memory = InMemoryForAFile::new(one_slot);
    drop(Spool::open(&memory.spool, "another-process").unwrap());
    let other = Connection::open(&memory.spool).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let tried = Instant::now();
    memory.try_the_file();
    assert!(tried.elapsed() < Duration::from_secs(2), "waited {:?}", tried.elapsed());
    assert!(memory.in_memory());
    let warnings = memory.tally.take_warnings();
    assert!(warnings.iter().any(|w| w.contains("still cannot be opened")), "{warnings:?}");

    other.execute_batch("COMMIT").unwrap();
    memory.try_the_file();
    assert!(!memory.in_memory());
}

/// A spool thread driven by hand whose exit is about to begin: it took up two deliveries
/// another process left (`left`) and holds one of its own (`own`); `held` is what it handed to
/// the HTTP side, which the test plays.
struct AtExit {
    spool: PathBuf,
    other: Spool,
    worker: SpoolWorker,
    tally: Arc<Tally>,
    left: [Delivery; 2],
    own: Delivery,
    held: Vec<Delivery>,
}

impl AtExit {
    fn new() -> AtExit {
        let spool = temp_spool();
        let mut other = Spool::open(&spool, "another-process").unwrap();
        let left =
            [delivery("http://127.0.0.1:9/left", b"{}".to_vec()), delivery("http://127.0.0.1:9/left", b"{}".to_vec())];
        other.insert(&left.iter().map(|d| (d.clone(), None)).collect::<Vec<_>>()).unwrap();
        let (to_http, mut from_spool) = mpsc::unbounded_channel();
        let tally: Arc<Tally> = Arc::default();
        let mut worker =
            SpoolWorker::new(config(&spool, 64 << 20), "me".into(), Arc::clone(&tally), to_http, Arc::default());
        assert_eq!(worker.claim(unix_millis()), 2);
        tally.queued(1);
        let own = delivery("http://127.0.0.1:9/own", b"{}".to_vec());
        assert!(worker.insert(vec![own.clone()]));
        let held: Vec<Delivery> = std::iter::from_fn(|| from_spool.try_recv().ok()).collect();
        AtExit { spool, other, worker, tally, left, own, held }
    }
}

/// At exit the spool thread lets go of what it took up from the spool and has not started,
/// keeps its own deliveries, and takes up nothing more: the wait at exit is for those.
#[test]
fn at_exit_what_was_taken_up_is_let_go_and_nothing_more_is_taken_up() {
    let AtExit { spool, mut other, mut worker, tally, left, own, held } = AtExit::new();
    assert_eq!(held.len(), 3);

    worker.exit_begins();
    let later = delivery("http://127.0.0.1:9/left", b"{}".to_vec());
    other.insert(&[(later, None)]).unwrap();
    assert_eq!(worker.claim(unix_millis()), 0, "nothing more taken up");
    for delivery in held {
        // As the HTTP side does when a slot frees.
        tally.started();
        if worker.withdrawn.take(&delivery.id) {
            assert!(left.iter().any(|d| d.id == delivery.id), "only what was taken up is let go");
            worker.not_started(delivery);
        } else {
            assert_eq!(delivery.id, own.id, "its own is sent");
        }
    }
    assert_eq!((tally.pending(), worker.in_memory()), (1, 1), "only its own left to wait for");
    for d in &left {
        assert_eq!(status_on_disk(&spool, &d.id), "pending", "let go without an outcome");
    }
    std::fs::remove_dir_all(spool.parent().unwrap()).unwrap();
}

/// What the exit let go and the sender passed back unsent is due at once for the other
/// processes, while this one still waits for its own deliveries: held under its claim until
/// the stop, it was sent by no one for the whole wait (up to shutdown_timeout, or until the
/// claim ran out: 20 s with the default timeout), where before the change this process sent it.
#[test]
fn at_exit_what_was_let_go_is_due_at_once_for_other_processes_while_this_one_waits() {
    let AtExit { spool, mut other, mut worker, tally, left, own, held } = AtExit::new();

    worker.exit_begins();
    for delivery in held.into_iter().filter(|d| d.id != own.id) {
        tally.started();
        assert!(worker.withdrawn.take(&delivery.id));
        worker.not_started(delivery);
    }
    // The spool thread's next round, while the PHP thread still waits for its own delivery.
    worker.claim(unix_millis());
    let now = unix_millis();
    let taken = other.claim_due(now, now + 20_000, 10, ByteBudget { bytes: u64::MAX, at_least_one: true }).unwrap();
    let mut taken: Vec<String> = taken.into_iter().map(|d| d.id).collect();
    let mut expected: Vec<String> = left.iter().map(|d| d.id.clone()).collect();
    taken.sort_unstable();
    expected.sort_unstable();
    assert_eq!(taken, expected, "another process takes up what was let go before this one's exit ends");
    assert_eq!(worker.in_memory(), 1, "its own is still held");
    std::fs::remove_dir_all(spool.parent().unwrap()).unwrap();
}

/// A process that only read the log, exiting while the one request slot is busy with an
/// attempt it took up: the deliveries it let go, queued behind that attempt, are not its own
/// and were never passed back, yet the exit line counted them as this process's deliveries
/// "not sent before the process exited" (2 here, for a process that dispatched none).
#[test]
fn at_exit_what_was_let_go_is_not_counted_as_this_process_s_deliveries_left() {
    let _turn = turn();
    let spool = temp_spool();
    let receiver = Receiver::start("200 OK", Duration::from_secs(3));
    let mut other = Spool::open(&spool, "another-process").unwrap();
    let left: Vec<Delivery> = (0..3).map(|n| delivery(&receiver.url, format!("{{\"n\":{n}}}").into_bytes())).collect();
    other.insert(&left.iter().map(|d| (d.clone(), None)).collect::<Vec<_>>()).unwrap();
    drop(other);
    let filter = Filter { feed_id: None, event: None, status: None, since: None, limit: 1 };
    deliveries(filter, || one_slot(&spool)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while receiver.total() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(receiver.total(), 1, "one taken up and under way");
    let report = shutdown(Duration::from_millis(300)).unwrap();
    assert_eq!(report.cut_off, 1, "the attempt under way");
    assert_eq!(report.left_in_spool - report.cut_off, 0, "none of its own left unsent: {report:?}");
    for d in &left {
        assert_eq!(status_on_disk(&spool, &d.id), "pending");
    }
    std::fs::remove_dir_all(spool.parent().unwrap()).unwrap();
}
