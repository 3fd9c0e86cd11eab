//! The cheapest pieces of a delivery run together without tokio or hyper, for BENCHMARKS.md:
//! `pipeline_floor`'s work (each body encoded anew, written to SQLite's least and committed
//! before its request, its status written after the answer) with the HTTP side a plain epoll
//! loop over CONCURRENCY non-blocking keep-alive sockets: one `writev` per request, httparse
//! for the answer, one request at a time per connection (no pipelining, as curl_multi and
//! wrk). Written by an independent review of `pipeline_floor` to test its claim of being the
//! least any engine spends: it is not. This one spends 4-10 µs less per delivery, by its HTTP
//! stack and its thread layout together (one thread here, three there).
//!
//! Only a bound: no TLS, timeouts, redirects, chunked answers or closed connections (it panics
//! on those: nginx answering 204 sends none), and one host.
//!
//! THREADS 1: everything on this thread, deliveries encoded and committed in batches of 256 when
//! fewer than CONCURRENCY wait to be sent. THREADS 2: the HTTP loop on a thread of its own, at
//! most 8 batches between commit and answer.
//!
//!   cargo build --release --no-default-features --example epoll_floor --target-dir target/bound
//!   target/bound/release/examples/epoll_floor http://127.0.0.1:PORT/hook FILE [COUNT [CONCURRENCY [THREADS]]]

use std::collections::VecDeque;
use std::io::{IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Instant;

use bytes::Bytes;

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

const UNANSWERED_BATCHES: i64 = 8;

struct Connection {
    stream: TcpStream,
    answer: Answer,
    delivery: Option<i64>,
}

/// The HTTP side: deliveries waiting for a free connection, and answers not yet written.
struct Http {
    connections: Vec<Connection>,
    free: Vec<usize>,
    epoll: i32,
    head: RequestHead,
    waiting: VecDeque<(i64, Bytes)>,
    answers: Vec<(i64, u16)>,
    in_flight: usize,
}

impl Http {
    fn connect(uri: &hyper::Uri, concurrency: usize) -> Http {
        let host = http1::address(uri);
        // SAFETY: epoll_create1 takes flags only.
        let epoll = unsafe { libc::epoll_create1(0) };
        assert!(epoll >= 0, "epoll_create1");
        let connections = (0..concurrency)
            .map(|index| {
                let stream = TcpStream::connect(&host).expect("nginx listens");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                stream.set_nonblocking(true).expect("non-blocking");
                let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: index as u64 };
                // SAFETY: the socket stays open as long as the epoll instance is used.
                assert_eq!(unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event) }, 0);
                Connection { stream, answer: Answer::new(), delivery: None }
            })
            .collect();
        Http {
            connections,
            free: (0..concurrency).rev().collect(),
            epoll,
            head: RequestHead::post(uri),
            waiting: VecDeque::new(),
            answers: Vec::new(),
            in_flight: 0,
        }
    }

    fn send_waiting(&mut self) {
        while !self.waiting.is_empty() {
            let Some(index) = self.free.pop() else { return };
            let (id, body) = self.waiting.pop_front().expect("not empty");
            let connection = &mut self.connections[index];
            write_all(&mut connection.stream, self.head.with_length(body.len()), &body);
            connection.delivery = Some(id);
            self.in_flight += 1;
        }
    }

    /// Reads what the connections epoll reports ready, waiting at most `timeout` ms for one.
    fn read_answers(&mut self, timeout: i32) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: the buffer holds 64 events.
        let ready = unsafe { libc::epoll_wait(self.epoll, events.as_mut_ptr(), 64, timeout) };
        for event in &events[..ready.max(0) as usize] {
            let index = event.u64 as usize;
            if let Some(status) = read_answer(&mut self.connections[index]) {
                let id = self.connections[index].delivery.take().expect("an answer to a request");
                self.answers.push((id, status));
                self.in_flight -= 1;
                self.free.push(index);
            }
        }
    }
}

fn write_all(stream: &mut TcpStream, head: &[u8], body: &[u8]) {
    let mut parts = [IoSlice::new(head), IoSlice::new(body)];
    let mut parts: &mut [IoSlice] = &mut parts;
    let mut left = head.len() + body.len();
    while left > 0 {
        match stream.write_vectored(parts) {
            Ok(written) => {
                left -= written;
                IoSlice::advance_slices(&mut parts, written);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut poll = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                // SAFETY: one pollfd.
                unsafe { libc::poll(&mut poll, 1, 1000) };
            }
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// The answer's status once the whole answer is read, None while it is not.
fn read_answer(connection: &mut Connection) -> Option<u16> {
    loop {
        match connection.stream.read(connection.answer.room()) {
            Ok(got) => {
                if let Some(status) = connection.answer.read(got) {
                    return Some(status);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Everything on this thread: encode and commit a batch while fewer than `concurrency` wait.
fn one_thread(conn: &rusqlite::Connection, mut http: Http, bodies: &mut Bodies, count: i64, concurrency: usize) -> i64 {
    let (mut written, mut answered, mut delivered) = (0, 0, 0);
    while answered < count {
        let starving = written < count && http.waiting.len() < concurrency;
        if starving {
            let batch = bodies.batch(written, count);
            floor::write_new(conn, &batch);
            written += batch.len() as i64;
            http.waiting.extend(batch);
        }
        http.send_waiting();
        http.read_answers(if starving { 0 } else { -1 });
        if http.answers.len() >= BATCH || (http.in_flight == 0 && !http.answers.is_empty()) {
            floor::write_answers(conn, &http.answers);
            answered += http.answers.len() as i64;
            delivered += http.answers.iter().filter(|(_, status)| *status == 204).count() as i64;
            http.answers.clear();
        }
    }
    delivered
}

/// The HTTP loop on a thread of its own; this thread encodes, commits and writes answers.
fn two_threads(conn: &rusqlite::Connection, mut http: Http, bodies: &mut Bodies, count: i64) -> i64 {
    let (to_http, written_batches) = mpsc::channel::<Vec<(i64, Bytes)>>();
    let (to_spool, answer_batches) = mpsc::channel::<Vec<(i64, u16)>>();
    let sender = std::thread::spawn(move || loop {
        if http.in_flight == 0 && http.waiting.is_empty() {
            if !http.answers.is_empty() {
                to_spool.send(std::mem::take(&mut http.answers)).expect("the spool waits");
            }
            match written_batches.recv() {
                Ok(batch) => http.waiting.extend(batch),
                Err(_) => return,
            }
        }
        http.waiting.extend(written_batches.try_iter().flatten());
        http.send_waiting();
        if http.in_flight > 0 {
            http.read_answers(-1);
        }
        if http.answers.len() >= BATCH {
            to_spool.send(std::mem::take(&mut http.answers)).expect("the spool waits");
        }
    });
    let (mut written, mut answered, mut delivered) = (0, 0, 0);
    let mut record = |answers: Vec<(i64, u16)>, answered: &mut i64| {
        floor::write_answers(conn, &answers);
        *answered += answers.len() as i64;
        delivered += answers.iter().filter(|(_, status)| *status == 204).count() as i64;
    };
    while answered < count {
        for answers in answer_batches.try_iter() {
            record(answers, &mut answered);
        }
        if written < count && written - answered < UNANSWERED_BATCHES * BATCH as i64 {
            let batch = bodies.batch(written, count);
            floor::write_new(conn, &batch);
            written += batch.len() as i64;
            to_http.send(batch).expect("the HTTP loop runs");
        } else if answered < count {
            record(answer_batches.recv().expect("answers"), &mut answered);
        }
    }
    drop(to_http);
    sender.join().expect("no panic");
    delivered
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: epoll_floor URL FILE [COUNT [CONCURRENCY [THREADS]]]";
    let uri: hyper::Uri = args.get(1).expect(usage).parse().expect("a URL");
    let path = std::path::PathBuf::from(args.get(2).expect(usage));
    let number = |i: usize, default: usize| args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default);
    let (count, concurrency, threads) = (number(3, 100_000) as i64, number(4, 32), number(5, 1));
    let mut bodies = Bodies::new(true);
    let conn = floor::open(&path, floor::LEAST_PAGE_SIZE, floor::LEAST_CHECKPOINT_PAGES);
    let http = Http::connect(&uri, concurrency);
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let delivered = if threads == 1 {
        one_thread(&conn, http, &mut bodies, count, concurrency)
    } else {
        two_threads(&conn, http, &mut bodies, count)
    };
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let rows: i64 = conn.query_row("SELECT count(*) FROM d WHERE status = 204", [], |r| r.get(0)).expect("a count");
    assert_eq!(rows, delivered, "every answer written");
    assert_eq!(delivered, count, "every delivery answered 204");
    println!(
        "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"answered_204\": {delivered}, \"count\": {count}, \"threads\": {threads}}}",
        count as f64 / seconds,
        cpu / count as f64 * 1e6
    );
}
