//! `epoll_floor`'s one thread on tokio, for BENCHMARKS.md: the same work (each body encoded
//! anew, written to SQLite's least and committed before its request, its status written after
//! the answer) and the same HTTP handling (one `writev` per request, httparse for the answer,
//! one request at a time per connection), on a current-thread tokio runtime: a task per
//! connection and one that encodes and writes to SQLite. What tokio costs without hyper, and
//! without hand-overs between threads.
//!
//! Only a bound, as `epoll_floor`: no TLS, timeouts, redirects, chunked answers or closed
//! connections, and one host.
//!
//!   cargo build --release --no-default-features --example tokio_floor --target-dir target/bound
//!   target/bound/release/examples/tokio_floor http://127.0.0.1:PORT/hook FILE [COUNT [CONCURRENCY [raw|hyper [here|apart]]]]
//!
//! With `hyper`, the connections send with hyper's connection API (`http_floor`'s), still on
//! the one thread: what hyper adds. With `apart`, a thread of its own encodes the bodies and
//! hands them over in batches of 256, as PHP's thread would: what that one hand-over adds.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/floor.rs"]
mod floor;
#[path = "support/http1.rs"]
#[allow(dead_code)]
mod http1;
use cpu::cpu_seconds;
use floor::{Bodies, BATCH};
use http1::{Answer, RequestHead};

/// What the tasks share on the one thread.
#[derive(Default)]
struct Shared {
    /// Written to SQLite, waiting for a free connection.
    waiting: RefCell<VecDeque<(i64, Bytes)>>,
    /// Answered, not yet written to SQLite.
    answers: RefCell<Vec<(i64, u16)>>,
    taken: Cell<i64>,
    work: Notify,
    answered: Notify,
    /// A connection took a delivery (for the `apart` mode's writer).
    room: Notify,
}

impl Shared {
    /// The next delivery to send, once there is one.
    async fn next(&self) -> (i64, Bytes) {
        loop {
            let next = self.waiting.borrow_mut().pop_front();
            if let Some(delivery) = next {
                self.taken.set(self.taken.get() + 1);
                self.room.notify_one();
                return delivery;
            }
            // Nothing runs between the look and this wait: one thread.
            self.work.notified().await;
        }
    }

    fn answer(&self, id: i64, status: u16) {
        self.answers.borrow_mut().push((id, status));
        self.answered.notify_one();
    }
}

/// A connection that sends with hyper's connection API (`http_floor`'s) instead.
async fn hyper_connection(shared: Rc<Shared>, uri: hyper::Uri) {
    let address = http1::address(&uri);
    let stream = tokio::net::TcpStream::connect(&address).await.expect("nginx listens");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, driver) = hyper::client::conn::http1::handshake(io).await.expect("handshake");
    tokio::task::spawn_local(driver);
    loop {
        let (id, body) = shared.next().await;
        let status = http1::post_with_hyper(&mut sender, &uri, &address, body).await;
        shared.answer(id, status);
    }
}

async fn connection(shared: Rc<Shared>, uri: hyper::Uri) {
    let stream = tokio::net::TcpStream::connect(http1::address(&uri)).await.expect("nginx listens");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut head = RequestHead::post(&uri);
    let mut answer = Answer::new();
    loop {
        let (id, body) = shared.next().await;
        let head = head.with_length(body.len());
        let mut parts = [IoSlice::new(head), IoSlice::new(&body)];
        let mut parts: &mut [IoSlice] = &mut parts;
        let mut left = head.len() + body.len();
        while left > 0 {
            stream.writable().await.expect("writable");
            match stream.try_write_vectored(parts) {
                Ok(written) => {
                    left -= written;
                    IoSlice::advance_slices(&mut parts, written);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        let status = loop {
            stream.readable().await.expect("readable");
            match stream.try_read(answer.room()) {
                Ok(got) => {
                    if let Some(status) = answer.read(got) {
                        break status;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        };
        shared.answer(id, status);
    }
}

/// `apart` mode: writes the batches a thread of its own encodes (as PHP's thread would), while
/// fewer than `concurrency` wait.
async fn write_from(
    shared: Rc<Shared>,
    conn: Rc<rusqlite::Connection>,
    mut batches: tokio::sync::mpsc::Receiver<Vec<(i64, Bytes)>>,
    concurrency: usize,
) {
    while let Some(batch) = batches.recv().await {
        floor::write_new(&conn, &batch);
        shared.waiting.borrow_mut().extend(batch);
        shared.work.notify_waiters();
        while shared.waiting.borrow().len() >= concurrency {
            shared.room.notified().await;
        }
    }
}

/// Encodes and commits a batch while fewer than `concurrency` wait (unless `bodies` is None:
/// `write_from` does); writes answers in batches.
async fn spool(
    shared: Rc<Shared>,
    conn: Rc<rusqlite::Connection>,
    mut bodies: Option<Bodies>,
    count: i64,
    concurrency: usize,
) -> i64 {
    let (mut written, mut answered, mut delivered) = (0, 0, 0);
    while answered < count {
        let starving = bodies.is_some() && written < count && shared.waiting.borrow().len() < concurrency;
        if let (true, Some(bodies)) = (starving, bodies.as_mut()) {
            let batch = bodies.batch(written, count);
            floor::write_new(&conn, &batch);
            written += batch.len() as i64;
            shared.waiting.borrow_mut().extend(batch);
            shared.work.notify_waiters();
        }
        let waiting_answers = shared.answers.borrow().len();
        let in_flight = shared.taken.get() - answered - waiting_answers as i64;
        if waiting_answers >= BATCH || (in_flight == 0 && waiting_answers > 0) {
            let answers = std::mem::take(&mut *shared.answers.borrow_mut());
            floor::write_answers(&conn, &answers);
            answered += answers.len() as i64;
            delivered += answers.iter().filter(|(_, status)| *status == 204).count() as i64;
        } else if starving {
            tokio::task::yield_now().await;
        } else {
            shared.answered.notified().await;
        }
    }
    delivered
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: tokio_floor URL FILE [COUNT [CONCURRENCY [raw|hyper [here|apart]]]]";
    let uri: hyper::Uri = args.get(1).expect(usage).parse().expect("a URL");
    let path = std::path::PathBuf::from(args.get(2).expect(usage));
    let number = |i: usize, default: usize| args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default);
    let (count, concurrency) = (number(3, 100_000) as i64, number(4, 32));
    let bodies = Bodies::new(true);
    let conn = Rc::new(floor::open(&path, floor::LEAST_PAGE_SIZE, floor::LEAST_CHECKPOINT_PAGES));
    let apart = args.get(6).map(String::as_str) == Some("apart");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    let shared = Rc::new(Shared::default());
    let with_hyper = args.get(5).map(String::as_str) == Some("hyper");
    for _ in 0..concurrency {
        if with_hyper {
            local.spawn_local(hyper_connection(Rc::clone(&shared), uri.clone()));
        } else {
            local.spawn_local(connection(Rc::clone(&shared), uri.clone()));
        }
    }
    // Let every connection open before the clock starts, as in the engine's warm pool.
    local.block_on(&runtime, async { tokio::time::sleep(std::time::Duration::from_millis(200)).await });
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let (bodies, producer) = if apart {
        let (batches, received) = tokio::sync::mpsc::channel(8);
        local.spawn_local(write_from(Rc::clone(&shared), Rc::clone(&conn), received, concurrency));
        let producer = std::thread::spawn(move || {
            let mut bodies = bodies;
            for first in (0..count).step_by(BATCH) {
                batches.blocking_send(bodies.batch(first, count)).expect("the writer waits");
            }
        });
        (None, Some(producer))
    } else {
        (Some(bodies), None)
    };
    let delivered = local.block_on(&runtime, spool(Rc::clone(&shared), conn, bodies, count, concurrency));
    if let Some(producer) = producer {
        producer.join().expect("no panic");
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    assert_eq!(delivered, count, "every delivery answered 204");
    println!(
        "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"answered_204\": {delivered}, \"count\": {count}}}",
        count as f64 / seconds,
        cpu / count as f64 * 1e6
    );
}
