//! The cheapest pieces of a delivery run together on tokio and hyper (the stack under reqwest),
//! for BENCHMARKS.md: one engine on them that keeps each delivery in SQLite before its first
//! attempt (issue 3) and does nothing else, on this machine, next to nginx on the same cores. `make bench` also adds the pieces' costs measured one at a time; this runs them at
//! once, with their hand-overs between threads. `epoll_floor` does the same work on one thread
//! without tokio and hyper, for less.
//!
//! - a producer thread (the PHP thread): serde_json encodes the order_paid_done sample anew for
//!   each delivery, at about what PHP's json_encode costs (or once, with `once`), and hands
//!   batches of 256 on, waiting while 8 batches (about 7.6 MB) are unwritten;
//! - the SQLite thread (this one): `sqlite_floor`'s statements, tables and settings (a body row
//!   and a status row per delivery, 64 KB pages, WAL, `synchronous = NORMAL`, no index but the
//!   rowids, no lease, no log), then hands the written deliveries to the connections; sets the
//!   status of answered ones in batches of 256, or when none came for 5 ms;
//! - the HTTP runtime: `http_floor`'s loop (hyper's connection API, no pool, timeouts, TLS or
//!   URL parsing) on CONCURRENCY keep-alive connections, each with a queue of its own. With
//!   `pool`, each queue's task sends through one shared client of hyper-util's pool instead;
//!   with `reqwest`, with one shared reqwest client (which sends through that pool), set as
//!   the engine sets its own but without its timeouts and network guard: with WORKERS
//!   `current`, the least a sender on the design card's HTTP client spent here.
//!
//! WORKERS is the HTTP runtime's worker threads, or `current`: a current-thread runtime on a
//! thread of its own, to which the SQLite thread hands each written batch whole (one task
//! spreads it over the queues) and from which the answers come back gathered, not one message
//! each. The cheapest layout found for reqwest (an independent review's, this session).
//!
//! Prints deliveries per second, user+sys CPU µs per delivery of this process and of the
//! producer thread alone.
//!
//!   cargo build --release --no-default-features --example pipeline_floor --target-dir target/bound
//!   target/bound/release/examples/pipeline_floor http://127.0.0.1:PORT/hook FILE [COUNT [CONCURRENCY [WORKERS|current [once|each [hyper|pool|reqwest]]]]]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper_util::rt::TokioIo;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/floor.rs"]
mod floor;
#[path = "support/http1.rs"]
#[allow(dead_code)]
mod http1;
use cpu::cpu_seconds;
use floor::{Bodies, BATCH};

const UNWRITTEN_BATCHES: usize = 8;

enum Message {
    New(Vec<(i64, Bytes)>),
    Answered(i64, u16),
    AnsweredTogether(Vec<(i64, u16)>),
}

/// Where the connections' tasks hand their answers.
#[derive(Clone)]
enum AnswerTo {
    /// The SQLite thread, one message each.
    Thread(mpsc::Sender<Message>),
    /// A task of the runtime, which hands them over together (`current`).
    Gatherer(tokio::sync::mpsc::UnboundedSender<(i64, u16)>),
}

impl AnswerTo {
    /// False once nobody takes answers.
    fn send(&self, id: i64, status: u16) -> bool {
        match self {
            AnswerTo::Thread(to) => to.send(Message::Answered(id, status)).is_ok(),
            AnswerTo::Gatherer(to) => to.send((id, status)).is_ok(),
        }
    }
}

/// Hands the answers that came meanwhile to the SQLite thread together.
async fn gather(mut answers: tokio::sync::mpsc::UnboundedReceiver<(i64, u16)>, to: mpsc::Sender<Message>) {
    let mut got = Vec::with_capacity(BATCH);
    while answers.recv_many(&mut got, 4 * BATCH).await > 0 {
        if to.send(Message::AnsweredTogether(std::mem::take(&mut got))).is_err() {
            return;
        }
    }
}

/// Spreads each written batch over the connections' queues, from inside the runtime.
async fn spread(
    mut batches: tokio::sync::mpsc::UnboundedReceiver<Vec<(i64, Bytes)>>,
    queues: Vec<tokio::sync::mpsc::UnboundedSender<(i64, Bytes)>>,
) {
    let mut next = 0;
    while let Some(deliveries) = batches.recv().await {
        for delivery in deliveries {
            let _ = queues[next].send(delivery);
            next = (next + 1) % queues.len();
        }
    }
}

/// What the connections' tasks send with.
#[derive(Clone)]
enum Transport {
    /// A connection of its own for each task, on hyper's connection API.
    Hyper,
    /// hyper-util's pool, shared.
    Pool(http1::PoolClient),
    /// reqwest, shared.
    Reqwest(reqwest::Client, reqwest::Url),
}

type OwnConnection = hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>;

impl Transport {
    /// POSTs `body` and reads the answer; its status. `Hyper` sends on `own`, the task's own
    /// connection.
    async fn post(&self, own: Option<&mut OwnConnection>, uri: &hyper::Uri, address: &str, body: Bytes) -> u16 {
        match self {
            Transport::Hyper => http1::post_with_hyper(own.expect("a connection of its own"), uri, address, body).await,
            Transport::Pool(client) => http1::post_through_pool(client, uri, body).await,
            Transport::Reqwest(client, url) => http1::post_with_reqwest(client, url, body).await,
        }
    }
}

async fn connection(
    transport: Transport,
    uri: hyper::Uri,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<(i64, Bytes)>,
    answers: AnswerTo,
) {
    let address = http1::address(&uri);
    let mut own = None;
    if let Transport::Hyper = transport {
        let stream = tokio::net::TcpStream::connect(&address).await.expect("nginx listens");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
        tokio::spawn(driver);
        own = Some(sender);
    }
    while let Some((id, body)) = queue.recv().await {
        let status = transport.post(own.as_mut(), &uri, &address, body).await;
        if !answers.send(id, status) {
            return;
        }
    }
}

/// A shared pool's connections opened before the clock starts, as in the engine's warm pool
/// (the connections of its own `Hyper` opens in each task).
async fn warm(transport: &Transport, uri: &hyper::Uri, connections: usize) {
    if let Transport::Hyper = transport {
        return;
    }
    let requests = (0..connections).map(|_| {
        let (transport, uri) = (transport.clone(), uri.clone());
        tokio::spawn(async move { transport.post(None, &uri, "", Bytes::from_static(b"{}")).await })
    });
    for request in requests.collect::<Vec<_>>() {
        request.await.expect("no panic");
    }
}

/// user+sys CPU seconds of the calling thread.
fn thread_cpu_seconds() -> f64 {
    // SAFETY: clock_gettime writes into the struct we pass.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time);
        time
    };
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

fn produce(count: i64, mut bodies: Bodies, spool: mpsc::Sender<Message>, room: mpsc::SyncSender<()>) -> f64 {
    let cpu = thread_cpu_seconds();
    for first in (0..count).step_by(BATCH) {
        let batch = bodies.batch(first, count);
        room.send(()).expect("the SQLite thread waits");
        spool.send(Message::New(batch)).expect("the SQLite thread waits");
    }
    thread_cpu_seconds() - cpu
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: pipeline_floor URL FILE [COUNT [CONCURRENCY [WORKERS|current [once|each [hyper|pool|reqwest]]]]]";
    let uri: hyper::Uri = args.get(1).expect(usage).parse().expect("a URL");
    let path = std::path::PathBuf::from(args.get(2).expect(usage));
    let number = |i: usize, default: usize| args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default);
    let (count, concurrency, workers) = (number(3, 100_000) as i64, number(4, 32), number(5, 1));
    let current = args.get(5).map(String::as_str) == Some("current");
    let encode_each = args.get(6).map(String::as_str) != Some("once");
    let bodies = Bodies::new(encode_each);
    let conn = floor::open(&path, floor::LEAST_PAGE_SIZE, floor::LEAST_CHECKPOINT_PAGES);
    let runtime = if current {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
    .expect("runtime");

    let (spool, inbox) = mpsc::channel::<Message>();
    let transport = match args.get(7).map(String::as_str) {
        Some("pool") => Transport::Pool(http1::pool_client(concurrency)),
        Some("reqwest") => {
            Transport::Reqwest(http1::reqwest_client(concurrency), uri.to_string().parse().expect("a URL"))
        }
        _ => Transport::Hyper,
    };
    runtime.block_on(warm(&transport, &uri, concurrency));
    let answer_to = if current {
        let (gatherer, answers) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(gather(answers, spool.clone()));
        AnswerTo::Gatherer(gatherer)
    } else {
        AnswerTo::Thread(spool.clone())
    };
    let queues: Vec<_> = (0..concurrency)
        .map(|_| {
            let (queue, receiver) = tokio::sync::mpsc::unbounded_channel();
            runtime.spawn(connection(transport.clone(), uri.clone(), receiver, answer_to.clone()));
            queue
        })
        .collect();
    drop(answer_to);
    let (to_spread, batches) = tokio::sync::mpsc::unbounded_channel();
    // A current-thread runtime runs its tasks on the thread that drives it: one of its own.
    let _runtime = if current {
        runtime.spawn(spread(batches, queues.clone()));
        std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
        None
    } else {
        Some(runtime)
    };
    // Let every connection of its own open before the clock starts.
    std::thread::sleep(Duration::from_millis(200));
    let (room, freed) = mpsc::sync_channel::<()>(UNWRITTEN_BATCHES);
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let producer = std::thread::spawn(move || produce(count, bodies, spool, room));

    let (mut answered, mut answered_204, mut next_queue) = (0, 0, 0);
    let (mut answers, mut got) = (Vec::with_capacity(BATCH), Vec::new());
    while answered < count {
        let message = match inbox.recv_timeout(Duration::from_millis(5)) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !answers.is_empty() {
                    floor::write_answers(&conn, &answers);
                    answers.clear();
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("every sender is gone before every answer"),
        };
        match message {
            Message::New(deliveries) => {
                floor::write_new(&conn, &deliveries);
                let _ = freed.try_recv();
                if current {
                    to_spread.send(deliveries).expect("the runtime runs");
                    continue;
                }
                for delivery in deliveries {
                    queues[next_queue].send(delivery).expect("the connection runs");
                    next_queue = (next_queue + 1) % queues.len();
                }
            }
            Message::Answered(id, status) => got.push((id, status)),
            Message::AnsweredTogether(together) => got.extend(together),
        }
        for (id, status) in got.drain(..) {
            answered += 1;
            answered_204 += i64::from(status == 204);
            answers.push((id, status));
            if answers.len() == BATCH {
                floor::write_answers(&conn, &answers);
                answers.clear();
            }
        }
    }
    if !answers.is_empty() {
        floor::write_answers(&conn, &answers);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    assert_eq!(answered_204, count, "every delivery answered 204");
    let producer_cpu = producer.join().expect("no panic");
    drop(queues);
    println!(
        "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"producer_cpu_us_per_delivery\": {:.1}, \"answered_204\": {answered_204}, \"count\": {count}}}",
        count as f64 / seconds,
        cpu / count as f64 * 1e6,
        producer_cpu / count as f64 * 1e6
    );
}
