//! The background machinery that sends deliveries, one set per process.
//!
//! - Two parts: a *spool thread* that owns the SQLite spool (super::spool_worker: writes new
//!   deliveries in batched transactions before their first attempt, records attempts, claims
//!   due retries and deliveries left by other processes; its checkpoints run on a thread of
//!   the spool's own, see spool::checkpointer), and a tokio runtime that makes the HTTP
//!   requests (super::http_loop, one attempt in super::sender), at most `max_concurrency` at
//!   a time, over one pooled client. One worker thread: more cost CPU
//!   per request in wake-ups between them (`make bench`: 2.4 → 2.1 s of the HTTP side's CPU
//!   for 100,000 deliveries), and one sends more than the spool thread writes. They talk
//!   over channels;
//!   the PHP thread only ever puts deliveries on a channel, so `dispatch()` never waits for
//!   the network, and waits for the disk only while more than INBOX_LIMIT bytes of new
//!   deliveries are not yet written (a burst faster than the disk).
//! - Started lazily by the first [`submit`] (or `flush`, `resume`, `deliveries`), never at
//!   module startup: php-fpm loads the extension in its master and then forks workers, and
//!   threads do not survive a fork. A process that finds machinery started under another pid
//!   (a forked child) abandons it, never touching the parent's threads or SQLite connection,
//!   and starts its own with an in-memory spool: SQLite's locks are per process, and a file
//!   opened before the fork is not safe to open again in the child.
//! - Threads block every asynchronous signal: PHP's timers (max_execution_time uses SIGPROF)
//!   must reach the PHP thread, whose handlers touch its globals.
//! - [`shutdown`] waits a bounded time for what is in memory, stops the runtime, then lets the
//!   spool thread write what it still holds and release this process's claims, so that the
//!   next process with the extension sends what is left.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::http_loop::http_loop;
use super::sender::ClientConfig;
use super::spool_worker::SpoolWorker;
use super::tally::{Room, Snapshot, Tally};
use super::withdrawn::Withdrawn;
use crate::delivery::{unix_millis, Delivery};
use crate::outcome::Outcome;
use crate::process;
use crate::retry::RetryPolicy;
use crate::spool::{self, Filter, LogEntry};

/// How long [`shutdown`] lets HTTP tasks wind down after the grace period.
const RUNTIME_STOP_TIMEOUT: Duration = Duration::from_millis(250);
/// How long [`shutdown`] waits for the spool thread to write what it holds: longer than
/// SQLite's busy timeout (5 s), so a spool that another process holds does not lose it.
const SPOOL_STOP_TIMEOUT: Duration = Duration::from_secs(8);
/// Bytes of new deliveries that may wait for the spool thread. Past it, dispatch() waits for
/// the spool to catch up: this bounds both the memory they hold and how long a delivery is
/// only in memory (the crash window) when a burst comes faster than the disk writes.
const INBOX_LIMIT: u64 = 2 << 20;
/// The longest dispatch() waits for room (a spool that cannot write at all).
const INBOX_WAIT: Duration = Duration::from_secs(2);
/// How long the PHP thread waits for an answer from the spool thread.
const SPOOL_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the first dispatch() waits for the threads it started to have run. A thread
/// takes its block of this library's thread-locals and its malloc arena at its first step;
/// taken after PHP code lowered RLIMIT_AS (posix_setrlimit() right after that dispatch), glibc
/// ended the process ("cannot allocate memory for thread-local data: ABORT", exit 127) or Rust
/// aborted it ("memory allocation of N bytes failed").
const THREAD_START_WAIT: Duration = Duration::from_secs(1);
/// The least flush() waits for the spool thread's answer, even at its deadline: enough for a
/// spool thread that is not waiting for the disk.
const FLUSH_REPLY_LEAST: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub client: ClientConfig,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    pub worker_threads: usize,
    pub retry: RetryPolicy,
    /// `None`: keep the spool in memory.
    pub spool_path: Option<PathBuf>,
    /// Bytes of deliveries held in memory for sending; past it, new ones wait in the spool.
    pub memory_limit: usize,
    /// Finished deliveries older than this are deleted from the log.
    pub retention: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            client: ClientConfig {
                timeout: Duration::from_secs(15),
                connect_timeout: Duration::from_secs(5),
                network: Arc::default(),
            },
            max_concurrency: 32,
            worker_threads: 1,
            retry: RetryPolicy::default(),
            spool_path: None,
            memory_limit: 64 << 20,
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// What the spool thread is asked to do.
pub(super) enum Command {
    New(Vec<Delivery>),
    Finished {
        // Boxed: commands of every kind share the channel's slots.
        delivery: Box<Delivery>,
        outcome: Outcome,
        started_at: u64,
        excerpt: Vec<u8>,
    },
    /// An attempt under way that the runtime's stop cut off (see http_loop's InFlight).
    CutOff {
        delivery: Box<Delivery>,
        started_at: u64,
    },
    /// A delivery the HTTP side did not send: withdrawn (see super::withdrawn) before its
    /// attempt started.
    Withdrawn(Box<Delivery>),
    /// The process's exit begins: see SpoolWorker::exit_begins.
    Exiting,
    /// Claim due deliveries now; answers how many it claimed.
    Claim(Option<std_mpsc::Sender<usize>>),
    /// The earliest time a pending delivery that this process may claim is due.
    NextDue(std_mpsc::Sender<Option<u64>>),
    List(Filter, std_mpsc::Sender<Result<Vec<LogEntry>, String>>),
    Get(String, std_mpsc::Sender<Result<Option<LogEntry>, String>>),
    /// A feed's pending deliveries, and the reason: see [`cancel`].
    Cancel(String, String, std_mpsc::Sender<Result<usize, String>>),
    Stop(std_mpsc::Sender<()>),
}

struct Engine {
    pid: u32,
    runtime: tokio::runtime::Runtime,
    commands: std_mpsc::Sender<Command>,
    spool_thread: JoinHandle<()>,
    tally: Arc<Tally>,
    /// Bytes of new deliveries that may wait to be written before dispatch() refuses more.
    inbox_cap: u64,
}

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

/// What [`shutdown`] left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub snapshot: Snapshot,
    /// Deliveries that were in memory and stay pending in the spool for another process.
    pub left_in_spool: u64,
    /// Of those, attempts under way that the exit cut off: recorded without an answer.
    pub cut_off: u64,
    /// Where they are.
    pub spool: String,
    /// True when the spool is in memory: what was left is lost.
    pub spool_in_memory: bool,
    /// What the machinery had to say and no one took yet, its stop's included.
    pub warnings: Vec<String>,
}

/// Queues deliveries for sending; starts this process's machinery first if needed.
pub fn submit(deliveries: Vec<Delivery>, config: impl Fn() -> EngineConfig) -> Result<(), String> {
    let bytes = inbox_bytes(&deliveries);
    let mut deliveries = Some(deliveries);
    loop {
        // Queued under the engine's lock while there is room (the usual case: one lock).
        let (tally, cap) = with_engine(&config, |engine| {
            let tally = Arc::clone(&engine.tally);
            if tally.inbox_pending() + bytes <= engine.inbox_cap || tally.inbox_pending() == 0 {
                let deliveries = deliveries.take().unwrap_or_default();
                tally.queued(deliveries.len() as u64);
                tally.inbox_add(bytes);
                engine
                    .commands
                    .send(Command::New(deliveries))
                    .map_err(|_| "the spool thread has stopped".to_string())?;
            }
            Ok::<_, String>((tally, engine.inbox_cap))
        })??;
        if deliveries.is_none() {
            // The crash window: a burst faster than the disk waits here for the spool to catch
            // up. Outside the engine's lock: flush(), stats() and shutdown must not wait
            // behind this.
            if tally.wait_for_inbox_room(INBOX_LIMIT, INBOX_WAIT) == Room::TimedOut {
                tally.warn(format!(
                    "the spool {} has not taken new deliveries for {} s; dispatch() goes on without waiting",
                    tally.spool_location().0,
                    INBOX_WAIT.as_secs()
                ));
            }
            return Ok(());
        }
        // A spool that cannot write (a full disk, another process's write lock held past
        // SQLite's busy wait) must not grow this process without bound: past the cap, new
        // deliveries are refused loudly once the spool has said it cannot write. Until then
        // this waits: each of its writes says within the busy wait.
        let verdict = spool::BUSY_WAIT + Duration::from_secs(1);
        if tally.spool_error().is_some() || !tally.wait_for_inbox_below(cap.saturating_sub(bytes), verdict) {
            let reason = tally.spool_error().unwrap_or_else(|| "it has not answered".into());
            return Err(format!(
                "the spool {} cannot take new deliveries ({reason}); {} MiB of them wait in memory, the most \
                 fluent_webhook.memory_limit allows: these deliveries were not queued",
                tally.spool_location().0,
                tally.inbox_pending().div_ceil(1 << 20)
            ));
        }
    }
}

/// The memory new deliveries hold until the spool has them: feeds of one dispatch() that send
/// the same encoding share one body, counted once.
pub(super) fn inbox_bytes(deliveries: &[Delivery]) -> u64 {
    let mut bodies: Vec<*const u8> = Vec::with_capacity(deliveries.len());
    let mut bytes = 0;
    for delivery in deliveries {
        let body = delivery.request.body.as_ptr();
        bytes += delivery.size() - delivery.request.body.len();
        if !bodies.contains(&body) {
            bodies.push(body);
            bytes += delivery.request.body.len();
        }
    }
    bytes as u64
}

/// Counters of this process (zeros before anything started).
pub fn snapshot() -> Snapshot {
    let slot = lock_engine();
    match slot.as_ref().filter(|e| e.pid == process::id()) {
        Some(engine) => engine.tally.snapshot(),
        None => Snapshot::default(),
    }
}

/// Where this process's spool is, once its machinery started. A forked child knows before
/// that: the machinery it starts keeps its spool in memory (see `with_engine`).
pub fn spool_location() -> Option<String> {
    let slot = lock_engine();
    slot.as_ref()
        .map(|e| if e.pid == process::id() { e.tally.spool_location().0 } else { crate::spool::IN_MEMORY.into() })
}

/// Whether this process has started its machinery.
pub fn is_running() -> bool {
    lock_engine().as_ref().is_some_and(|e| e.pid == process::id())
}

/// Waits until nothing is in memory and no pending delivery is due before the deadline,
/// claiming due retries as they come. True when that happened before the deadline; retries
/// scheduled after it stay in the spool.
pub fn flush(timeout: Duration, config: impl FnOnce() -> EngineConfig) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    let (tally, commands) = with_engine(config, |e| (Arc::clone(&e.tally), e.commands.clone()))?;
    loop {
        let now = Instant::now();
        // Read before looking at what is in flight: see below.
        let claims = tally.claims();
        if tally.pending() == 0 {
            let (reply, answer) = std_mpsc::channel();
            commands.send(Command::NextDue(reply)).map_err(|_| "the spool thread has stopped".to_string())?;
            // A spool thread waiting for the disk or another process's lock must not hold
            // flush() past its deadline (give or take FLUSH_REPLY_LEAST).
            let left = deadline.saturating_duration_since(Instant::now());
            let next_due = match answer.recv_timeout(left.max(FLUSH_REPLY_LEAST)) {
                Ok(next_due) => next_due,
                Err(std_mpsc::RecvTimeoutError::Timeout) => return Ok(false),
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Err("the spool thread has stopped".into()),
            };
            // The spool thread may have claimed deliveries just before answering; they count.
            // next_due() leaves out this process's own claims, so one claimed meanwhile whose
            // attempt has already ended (and whose retry may be due at once) is seen only by
            // the count of claims.
            if tally.pending() > 0 || tally.claims() != claims {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                continue;
            }
            let Some(due) = next_due else { return Ok(true) };
            let wait = Duration::from_millis(due.saturating_sub(unix_millis()));
            if wait.is_zero() && Instant::now() >= deadline {
                return Ok(false);
            }
            // A retry due after the deadline is scheduled, not queued: it stays in the spool.
            if now + wait > deadline {
                return Ok(true);
            }
            if wait.is_zero() {
                let _ = commands.send(Command::Claim(None));
            }
            std::thread::sleep(wait.min(Duration::from_millis(20)).max(Duration::from_millis(2)));
            continue;
        }
        if now >= deadline {
            return Ok(false);
        }
        tally.wait_idle((deadline - now).min(Duration::from_millis(50)));
    }
}

/// Claims the deliveries that are due (for a cron job); returns how many, with those the spool
/// thread took up on its own since it started or since the last resume().
pub fn resume(config: impl FnOnce() -> EngineConfig) -> Result<usize, String> {
    ask(config, |reply| Command::Claim(Some(reply)))
}

/// The delivery log, newest first.
pub fn deliveries(filter: Filter, config: impl FnOnce() -> EngineConfig) -> Result<Vec<LogEntry>, String> {
    ask(config, |reply| Command::List(filter, reply))?
}

/// Cancels the pending deliveries of feed `feed_id` in the spool (every process's): those no
/// process holds fail at once with `reason`, those held fail after their attempt under way
/// instead of being retried. Returns how many it canceled.
pub fn cancel(feed_id: &str, reason: &str, config: impl FnOnce() -> EngineConfig) -> Result<usize, String> {
    ask(config, |reply| Command::Cancel(feed_id.to_string(), reason.to_string(), reply))?
}

/// One stored delivery.
pub fn delivery(id: &str, config: impl FnOnce() -> EngineConfig) -> Result<Option<LogEntry>, String> {
    ask(config, |reply| Command::Get(id.to_string(), reply))?
}

/// Sends the spool thread the command `command` makes with a reply channel, and waits for the
/// reply at most SPOOL_REPLY_TIMEOUT.
fn ask<T>(
    config: impl FnOnce() -> EngineConfig,
    command: impl FnOnce(std_mpsc::Sender<T>) -> Command,
) -> Result<T, String> {
    let (reply, answer) = std_mpsc::channel();
    with_engine(config, |e| e.commands.send(command(reply)).map_err(|_| "the spool thread has stopped".to_string()))??;
    answer.recv_timeout(SPOOL_REPLY_TIMEOUT).map_err(|_| no_answer())
}

/// Why a request to the spool thread failed when it did not answer in time. It may still carry
/// the request out: it answers late when it was waiting for another process's lock.
fn no_answer() -> String {
    format!(
        "the spool did not answer within {} s (another process may hold its write lock, or the disk is slow); \
         the request may still be carried out",
        SPOOL_REPLY_TIMEOUT.as_secs()
    )
}

/// Messages for PHP's error log that the background threads left (spool problems).
pub fn take_warnings() -> Vec<String> {
    let slot = lock_engine();
    match slot.as_ref().filter(|e| e.pid == process::id()) {
        Some(engine) => engine.tally.take_warnings(),
        None => Vec::new(),
    }
}

/// Waits up to `grace` for what is in memory, then stops. `None` when this process never
/// started anything.
pub fn shutdown(grace: Duration) -> Option<ShutdownReport> {
    let engine = lock_engine().take()?;
    if engine.pid != process::id() {
        std::mem::forget(engine);
        return None;
    }
    drain(&engine, grace);
    let in_memory = engine.tally.pending();
    engine.runtime.shutdown_timeout(RUNTIME_STOP_TIMEOUT);
    let (reply, answer) = std_mpsc::channel();
    let _ = engine.commands.send(Command::Stop(reply));
    match answer.recv_timeout(SPOOL_STOP_TIMEOUT) {
        Ok(()) => {
            let _ = engine.spool_thread.join();
        }
        // The spool thread is stuck (a disk that does not answer): what it held is lost.
        Err(_) => engine.tally.lost(in_memory),
    }
    // What it let go and the HTTP side never passed back was in memory, but not its own; an
    // attempt whose answer came as the runtime stopped was in flight, but is not left unsent.
    let in_memory =
        in_memory.saturating_sub(engine.tally.let_go_unsent()).saturating_sub(engine.tally.answered_at_stops());
    let snapshot = engine.tally.snapshot();
    let (spool, spool_in_memory) = engine.tally.spool_location();
    let warnings = engine.tally.take_warnings();
    let cut_off = engine.tally.cut_offs();
    Some(ShutdownReport { left_in_spool: in_memory, cut_off, snapshot, spool, spool_in_memory, warnings })
}

/// Waits up to `grace` for this process's own deliveries: those in memory, the attempts under
/// way, and those it parked past the memory cap or the request slots, which the spool thread
/// reads back as memory frees. The tally counts none of those until they are read back, and
/// waiting for it alone ended at the moment the last delivery in memory was answered, before
/// the spool thread read back the next (3 of 40 sent, 0.2 s into a 20 s wait: SpoolTest).
/// What it took up from the spool and has not started (retries, other processes' deliveries)
/// is let go at once, and nothing more is taken up: it stays in the spool for the next process
/// (SpoolWorker::exit_begins).
fn drain(engine: &Engine, grace: Duration) {
    let deadline = Instant::now() + grace;
    if engine.commands.send(Command::Exiting).is_err() {
        return;
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !engine.tally.wait_idle(left) || left.is_zero() {
            return;
        }
        // As in flush(): a claim between the question and its answer counts.
        let claims = engine.tally.claims();
        let (reply, answer) = std_mpsc::channel();
        if engine.commands.send(Command::NextDue(reply)).is_err() {
            return;
        }
        let Ok(next_due) = answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) else { return };
        if engine.tally.pending() > 0 || engine.tally.claims() != claims {
            continue;
        }
        if next_due.is_none_or(|due| due > unix_millis()) {
            return;
        }
        let _ = engine.commands.send(Command::Claim(None));
        std::thread::sleep(Duration::from_millis(20).min(deadline.saturating_duration_since(Instant::now())));
    }
}

fn lock_engine() -> std::sync::MutexGuard<'static, Option<Engine>> {
    ENGINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` with this process's engine, starting one if needed. An engine inherited across
/// `fork()` is abandoned, never dropped: dropping would join threads that are not here.
fn with_engine<T>(config: impl FnOnce() -> EngineConfig, f: impl FnOnce(&Engine) -> T) -> Result<T, String> {
    let mut slot = lock_engine();
    let pid = process::id();
    let forked = slot.as_ref().is_some_and(|e| e.pid != pid);
    if forked {
        std::mem::forget(slot.take());
    }
    if slot.is_none() {
        let mut config = config();
        if forked {
            config.spool_path = None;
        }
        *slot = Some(Engine::start(pid, config, forked)?);
    }
    Ok(f(slot.as_ref().expect("started above")))
}

impl Engine {
    fn start(pid: u32, config: EngineConfig, forked: bool) -> Result<Engine, String> {
        let owner = format!("{pid}-{}", uuid::Uuid::now_v7().simple());
        let tally = Arc::new(Tally::default());
        if forked {
            tally.warn(
                "this process was forked after the extension started; its deliveries use an in-memory spool".into(),
            );
        }
        let inbox_cap = INBOX_LIMIT.max(config.memory_limit as u64);
        let (commands, inbox) = std_mpsc::channel();
        let (to_http, from_spool) = mpsc::unbounded_channel();
        // tokio panics, rather than return an error, when the OS refuses its worker thread
        // (RLIMIT_AS or RLIMIT_NPROC, which PHP code can lower with posix_setrlimit()): that
        // panic reached PHP as an Error, with every signal left blocked on the PHP thread.
        let runtime = with_signals_blocked(|| {
            without_panic_message(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(config.worker_threads.max(1))
                    .max_blocking_threads(8)
                    .thread_name("fluent-webhook")
                    .on_thread_start(block_async_signals)
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
        })
        .map_err(|e| format!("could not start the delivery runtime: {e}"))?;
        // Each thread says it has started: see THREAD_START_WAIT.
        let (started, has_started) = std_mpsc::sync_channel::<()>(2);
        let worker_started = started.clone();
        runtime.spawn(async move {
            let _ = worker_started.send(());
        });
        let withdrawn = Arc::new(Withdrawn::default());
        runtime.spawn(http_loop(
            from_spool,
            Arc::clone(&withdrawn),
            commands.clone(),
            Arc::clone(&tally),
            config.clone(),
        ));
        let spool_thread = {
            let tally = Arc::clone(&tally);
            with_signals_blocked(|| {
                std::thread::Builder::new().name("fluent-webhook-spool".into()).spawn(move || {
                    let _ = started.send(());
                    SpoolWorker::start(config, owner, tally, to_http, withdrawn, inbox)
                })
            })
            .map_err(|e| format!("could not start the spool thread: {e}"))?
        };
        let deadline = Instant::now() + THREAD_START_WAIT;
        for _ in 0..2 {
            let _ = has_started.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        Ok(Engine { pid, runtime, commands, spool_thread, tally, inbox_cap })
    }
}

/// An outcome without an attempt made, or without an answer: `reason` says why.
pub(super) fn abandoned(reason: &str) -> Outcome {
    Outcome::no_answer(reason.to_string(), Duration::ZERO)
}

/// Runs `f` with every asynchronous signal blocked, so that threads it starts inherit the
/// mask. The PHP thread's own mask is restored however `f` ends, a panic included: left
/// blocked, PHP's timers (max_execution_time), SIGTERM and pcntl handlers never fire again.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(libc::sigset_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the mask read when it was made, on the same thread.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
        }
    }
    // SAFETY: sigset_t is plain data; pthread_sigmask only reads `set` and writes `old`.
    let _restore = unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let set = async_signals();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        Restore(old)
    };
    f()
}

/// `f`'s result, or its panic as an error, without the panic's message on stderr. Only for
/// start-up, on the PHP thread: no thread of ours runs yet whose panic the empty hook could
/// silence (an engine inherited across fork() has no threads in the child).
fn without_panic_message<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|panic| Err(super::sender::panic_message(panic)))
}

fn block_async_signals() {
    let set = async_signals();
    // SAFETY: see with_signals_blocked; this thread keeps the mask for its lifetime.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Every signal but the synchronous faults, which the kernel delivers to the faulting thread.
fn async_signals() -> libc::sigset_t {
    // SAFETY: sigfillset/sigdelset initialise and edit a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for fault in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            libc::sigdelset(&mut set, fault);
        }
        set
    }
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
