//! The background machinery that sends deliveries, one set per process.
//!
//! - Two parts: a *spool thread* that owns the SQLite spool (writes new deliveries in batched
//!   transactions before their first attempt, records attempts, claims due retries and
//!   deliveries left by other processes; its checkpoints run on a thread of the spool's own,
//!   see spool::checkpointer), and a tokio runtime that makes the HTTP requests, at most
//!   `max_concurrency` at a time, over one pooled client. One worker thread: more cost CPU
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

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use super::sender::{self, ClientConfig};
use super::tally::{Room, Snapshot, Tally};
use super::withdrawn::Withdrawn;
use crate::delivery::{unix_millis, Delivery};
use crate::outcome::Outcome;
use crate::process;
use crate::retry::{Next, RetryPolicy};
use crate::spool::{self, Attempt, AttemptRecord, ByteBudget, Filter, LogEntry, Spool, Status};

/// How long [`shutdown`] lets HTTP tasks wind down after the grace period.
const RUNTIME_STOP_TIMEOUT: Duration = Duration::from_millis(250);
/// How long [`shutdown`] waits for the spool thread to write what it holds: longer than
/// SQLite's busy timeout (5 s), so a spool that another process holds does not lose it.
const SPOOL_STOP_TIMEOUT: Duration = Duration::from_secs(8);
/// How often the spool thread looks for due deliveries when it knows of none.
const CLAIM_INTERVAL: Duration = Duration::from_secs(1);
/// New deliveries written in one transaction at most.
const INSERT_BATCH: usize = 1024;
/// A claim outlives the longest a held delivery can take by this much before another
/// process may take over.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Deliveries held in memory per request slot: one in flight and the rest queued for the
/// next free slot. Deep enough that the sender does not run dry while the spool thread writes
/// a batch of new deliveries, and that most of a burst goes out from memory instead of being
/// read back from disk (4 per slot sent about 12 % fewer deliveries per second in the
/// throughput run, BENCHMARKS.md). However long one waits, its claim holds: claims of held deliveries
/// are renewed (RENEWALS_PER_CLAIM).
const HELD_PER_SLOT: usize = 64;
/// How often a claim is renewed within its length: while the spool thread keeps up, a held
/// delivery's claim has three quarters of its length left at least.
const RENEWALS_PER_CLAIM: u32 = 4;
/// Bytes of new deliveries that may wait for the spool thread. Past it, dispatch() waits for
/// the spool to catch up: this bounds both the memory they hold and how long a delivery is
/// only in memory (the crash window) when a burst comes faster than the disk writes.
const INBOX_LIMIT: u64 = 2 << 20;
/// The longest dispatch() waits for room (a spool that cannot write at all).
const INBOX_WAIT: Duration = Duration::from_secs(2);
/// While every request slot is busy, outcomes are written together, in one transaction, when
/// this many wait or when the first has waited OUTCOME_DELAY (otherwise at once). Each transaction rewrites the rows' and indexes' pages into the
/// WAL: written as they came (17 per transaction at 17,000 deliveries/s), outcomes cost more
/// disk writes than the bodies.
const OUTCOME_BATCH: usize = 256;
const OUTCOME_DELAY: Duration = Duration::from_millis(5);
/// How long outcomes the spool refused wait before the next try.
const OUTCOME_RETRY: Duration = Duration::from_millis(500);
/// Memory an id of a reserved delivery takes, at most; their ids take at most a quarter of
/// the memory cap, and new deliveries past that wait on disk unclaimed.
const RESERVED_ENTRY_BYTES: usize = 128;
/// How often the spool thread looks for cancels another process made of deliveries this one
/// holds but has not started (see super::withdrawn), and for rows of them that are no longer
/// its own (SpoolWorker::claims_lost); a cancel of this process's is found at once. A look probes the spool once per held delivery: past CANCEL_CHECK_IDS held (a
/// max_concurrency above 64), looks are spaced out in proportion, up to
/// CANCEL_CHECK_LONGEST, so that they stay a small part of the spool thread's work.
const CANCEL_CHECK: Duration = Duration::from_millis(250);
const CANCEL_CHECK_IDS: usize = 4096;
const CANCEL_CHECK_LONGEST: Duration = Duration::from_secs(2);
/// How often finished deliveries past their retention are deleted, and how many at most in
/// one transaction.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: usize = 10_000;
/// How long the PHP thread waits for an answer from the spool thread.
const SPOOL_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
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
enum Command {
    New(Vec<Delivery>),
    Finished {
        // Boxed: commands of every kind share the channel's slots.
        delivery: Box<Delivery>,
        outcome: Outcome,
        started_at: u64,
        excerpt: Vec<u8>,
    },
    /// A delivery the HTTP side did not send: withdrawn (see super::withdrawn) before its
    /// attempt started.
    Withdrawn(Box<Delivery>),
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
    /// Where they are.
    pub spool: String,
    /// True when the spool is in memory: what was left is lost.
    pub spool_in_memory: bool,
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
fn inbox_bytes(deliveries: &[Delivery]) -> u64 {
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

/// Where this process's spool is, once its machinery started.
pub fn spool_location() -> Option<String> {
    let slot = lock_engine();
    slot.as_ref().filter(|e| e.pid == process::id()).map(|e| e.tally.spool_location().0)
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
            if tally.pending() > 0 {
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

/// Claims the deliveries that are due (for a cron job); returns how many.
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
    engine.tally.wait_idle(grace);
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
    let snapshot = engine.tally.snapshot();
    let (spool, spool_in_memory) = engine.tally.spool_location();
    Some(ShutdownReport { left_in_spool: in_memory, snapshot, spool, spool_in_memory })
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
        let owner = process::claim_owner(pid);
        let tally = Arc::new(Tally::default());
        if forked {
            tally.warn(
                "this process was forked after the extension started; its deliveries use an in-memory spool".into(),
            );
        }
        let inbox_cap = INBOX_LIMIT.max(config.memory_limit as u64);
        let (commands, inbox) = std_mpsc::channel();
        let (to_http, from_spool) = mpsc::unbounded_channel();
        let runtime = with_signals_blocked(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.worker_threads.max(1))
                .max_blocking_threads(8)
                .thread_name("fluent-webhook")
                .on_thread_start(block_async_signals)
                .enable_all()
                .build()
        })
        .map_err(|e| format!("could not start the delivery runtime: {e}"))?;
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
                std::thread::Builder::new()
                    .name("fluent-webhook-spool".into())
                    .spawn(move || SpoolWorker::new(config, owner, tally, to_http, withdrawn).run(inbox))
            })
            .map_err(|e| format!("could not start the spool thread: {e}"))?
        };
        Ok(Engine { pid, runtime, commands, spool_thread, tally, inbox_cap })
    }
}

/// The spool thread's state.
struct SpoolWorker {
    spool: Spool,
    config: EngineConfig,
    tally: Arc<Tally>,
    to_http: mpsc::UnboundedSender<Delivery>,
    /// The ids of the deliveries handed to the HTTP side and not finished (their count is
    /// [`Self::in_memory`]). Their claims are renewed at `next_renewal`, however long they wait.
    held: HashSet<String>,
    next_renewal: Instant,
    /// Those of them found canceled, to withdraw; when to look for cancels of them next.
    withdrawn: Arc<Withdrawn>,
    /// Those of them whose claims a renewal or a cancel check found lost: they ran out while
    /// the spool thread was held up, and another process took them over (or ended them). Withdrawn too, and
    /// ended here without an outcome when they come back unsent; unless this process has
    /// claimed them back meanwhile (`reclaimed`, see Self::has_already), when they are sent.
    lost_claims: HashSet<String>,
    reclaimed: HashSet<String>,
    next_cancel_check: Instant,
    /// Bytes of the held deliveries, and of finished ones whose outcome is not written yet.
    bytes_in_memory: usize,
    /// Deliveries written claimed, but for which no request slot was free (see Place::Reserve),
    /// oldest first.
    reserved: VecDeque<Reserved>,
    /// New deliveries the spool refused (busy or failing disk), written again before sending,
    /// and the bytes they count in the tally's inbox until then.
    unwritten: Vec<Delivery>,
    unwritten_bytes: u64,
    /// Outcomes waiting to be written together in one transaction, and when they are due.
    outcomes: Vec<(Delivery, Outcome, AttemptRecord)>,
    outcomes_due: Option<Instant>,
    /// After the spool refused outcomes: when to try again.
    outcomes_retry_at: Option<Instant>,
    next_claim: u64,
    next_prune: u64,
}

impl SpoolWorker {
    fn new(
        config: EngineConfig,
        owner: String,
        tally: Arc<Tally>,
        to_http: mpsc::UnboundedSender<Delivery>,
        withdrawn: Arc<Withdrawn>,
    ) -> SpoolWorker {
        let spool = match &config.spool_path {
            Some(path) => Spool::open(path, &owner).unwrap_or_else(|e| {
                tally.warn(format!("{e}; deliveries are kept in memory only and do not survive this process"));
                Spool::in_memory(&owner)
            }),
            None => Spool::in_memory(&owner),
        };
        tally.set_spool_location(spool.location().to_string(), spool.location() == ":memory:");
        // Not before the first commands: a spool busy with another process would delay them.
        let next_prune = unix_millis() + 1_000;
        SpoolWorker {
            spool,
            config,
            tally,
            to_http,
            held: HashSet::new(),
            next_renewal: Instant::now(),
            withdrawn,
            lost_claims: HashSet::new(),
            reclaimed: HashSet::new(),
            next_cancel_check: Instant::now(),
            bytes_in_memory: 0,
            reserved: VecDeque::new(),
            unwritten: Vec::new(),
            unwritten_bytes: 0,
            outcomes: Vec::new(),
            outcomes_due: None,
            outcomes_retry_at: None,
            next_claim: 0,
            next_prune,
        }
    }

    fn run(mut self, inbox: std_mpsc::Receiver<Command>) {
        loop {
            self.write_unwritten();
            let now = unix_millis();
            if now >= self.next_prune {
                self.prune(now);
            }
            if self.outcomes_are_due() {
                self.record_outcomes();
            }
            // Read again: each step above may have waited for the disk, and a claim's lease
            // counts from now.
            let now = unix_millis();
            if now >= self.next_claim {
                self.claim(now);
            }
            if self.holds_claims() && Instant::now() >= self.next_renewal {
                self.renew_claims();
            }
            if !self.held.is_empty() && Instant::now() >= self.next_cancel_check {
                self.withdraw_canceled_and_lost();
            }
            let mut wait = Duration::from_millis(self.next_claim.saturating_sub(unix_millis()));
            if let Some(due) = self.outcomes_due.max(self.outcomes_retry_at) {
                wait = wait.min(due.saturating_duration_since(Instant::now()));
            }
            if self.holds_claims() {
                wait = wait.min(self.next_renewal.saturating_duration_since(Instant::now()));
            }
            if !self.held.is_empty() {
                wait = wait.min(self.next_cancel_check.saturating_duration_since(Instant::now()));
            }
            let command = match inbox.recv_timeout(wait) {
                Ok(command) => command,
                Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if let Some(stopped) = self.handle(command, &inbox) {
                self.stop(&inbox);
                let _ = stopped.send(());
                return;
            }
        }
    }

    /// Handles one command and any that queued up behind it; returns the reply channel of a
    /// Stop.
    fn handle(&mut self, first: Command, inbox: &std_mpsc::Receiver<Command>) -> Option<std_mpsc::Sender<()>> {
        let mut new = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::New(deliveries) => new.extend(deliveries),
                Command::Finished { delivery, outcome, started_at, excerpt } => {
                    self.finished(*delivery, outcome, started_at, excerpt)
                }
                Command::Withdrawn(delivery) => self.not_started(*delivery),
                Command::Claim(reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    let claimed = self.claim(unix_millis());
                    if let Some(reply) = reply {
                        let _ = reply.send(claimed);
                    }
                }
                Command::NextDue(reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    let now = unix_millis();
                    let next_due =
                        if self.reserved.is_empty() { self.spool.next_due(now).unwrap_or(None) } else { Some(now) };
                    let _ = reply.send(next_due);
                }
                Command::List(filter, reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    let _ = reply.send(self.spool.list(&filter).map_err(|e| e.to_string()));
                }
                Command::Cancel(feed_id, reason, reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.write_unwritten();
                    self.record_outcomes();
                    let canceled = self.cancel(&feed_id, &reason);
                    if canceled.is_ok() {
                        self.withdraw_canceled_and_lost();
                    }
                    let _ = reply.send(canceled);
                }
                Command::Get(id, reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    let _ = reply.send(self.spool.get(&id).map_err(|e| e.to_string()));
                }
                Command::Stop(reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    return Some(reply);
                }
            }
            if new.len() < INSERT_BATCH {
                next = inbox.try_recv().ok();
            }
        }
        self.insert_new(new);
        // Grouped only while every request slot is busy: then more outcomes follow at once.
        // Otherwise a later write would only get in the way of the next new delivery's.
        let busy = self.in_memory() >= self.config.max_concurrency.max(1);
        if !busy || self.outcomes_are_due() || self.outcomes.len() >= OUTCOME_BATCH {
            self.record_outcomes();
        }
        None
    }

    /// New deliveries from dispatch(): written, then the PHP thread may queue more.
    /// They count in the tally's inbox, which dispatch() waits on and caps, until written.
    fn insert_new(&mut self, deliveries: Vec<Delivery>) {
        let bytes = inbox_bytes(&deliveries);
        if self.insert(deliveries) {
            self.tally.inbox_done(bytes);
        } else {
            self.unwritten_bytes += bytes;
        }
    }

    /// Writes again what the spool refused before.
    fn write_unwritten(&mut self) {
        if self.unwritten.is_empty() {
            return;
        }
        let retry = std::mem::take(&mut self.unwritten);
        if self.insert(retry) {
            self.tally.inbox_done(std::mem::take(&mut self.unwritten_bytes));
        }
    }

    /// Cancels a feed's pending deliveries. Some not yet written (the spool refused them) would
    /// be written and sent after the cancel: it fails instead, and can be asked again.
    fn cancel(&mut self, feed_id: &str, reason: &str) -> Result<usize, String> {
        let unwritten = self.unwritten.iter().filter(|d| d.feed_id.as_deref() == Some(feed_id)).count();
        if unwritten > 0 {
            let error = self.tally.spool_error().unwrap_or_default();
            return Err(format!(
                "cannot cancel now: {unwritten} deliveries of this feed are not yet written to the spool {} ({error})",
                self.spool.location()
            ));
        }
        self.spool.cancel_feed(feed_id, reason, unix_millis()).map_err(|e| e.to_string())
    }

    /// Writes new deliveries, claimed by this process while it has room to start them soon
    /// (a free request slot, memory under the cap) or to keep their ids (reserved), then
    /// hands the ones with room to the HTTP side. A delivery is on disk before its first
    /// attempt; one the spool refuses waits in memory and is written again, never sent
    /// unwritten. False when the spool refused them.
    fn insert(&mut self, deliveries: Vec<Delivery>) -> bool {
        if deliveries.is_empty() {
            return true;
        }
        let now = unix_millis();
        let mut rows = Vec::with_capacity(deliveries.len());
        let mut places = Vec::with_capacity(deliveries.len());
        let (mut slots, mut budget, mut reserved) = (self.in_memory(), self.bytes_in_memory, self.reserved.len());
        for mut delivery in deliveries {
            // Queued by this process, under its policy.
            delivery.network.get_or_insert_with(|| self.config.client.network.to_string().into());
            let place =
                if slots < self.capacity() && (budget + delivery.size() <= self.config.memory_limit || budget == 0) {
                    slots += 1;
                    budget += delivery.size();
                    Place::Send(self.lease_until(now))
                } else if reserved < self.reserved_limit() {
                    reserved += 1;
                    Place::Reserve(self.reserve_until(now))
                } else {
                    Place::Disk
                };
            rows.push((delivery, place.lease_until()));
            places.push(place);
        }
        if let Err(e) = self.spool.insert(&rows) {
            self.tally.warn(format!("cannot write to the spool {}: {e}; trying again", self.spool.location()));
            self.tally.set_spool_error(Some(e.to_string()));
            self.unwritten.extend(rows.into_iter().map(|(d, _)| d));
            self.next_claim = self.next_claim.min(unix_millis() + 500);
            return false;
        }
        self.tally.set_spool_error(None);
        self.tally.spooled(rows.len() as u64);
        for ((delivery, _), place) in rows.into_iter().zip(places) {
            match place {
                Place::Send(_) => self.send(delivery),
                // Waits on disk, counted as parked like the others there; read back (or claimed)
                // when a slot and memory free up.
                Place::Reserve(claimed_until) => {
                    let size = delivery.size();
                    self.reserved.push_back(Reserved { id: delivery.id, size, claimed_until });
                    self.tally.parked();
                }
                Place::Disk => self.tally.parked(),
            }
        }
        true
    }

    fn send(&mut self, delivery: Delivery) {
        if !self.holds_claims() {
            // Its claim was made just now.
            self.next_renewal = Instant::now() + self.renewal_interval();
        }
        self.bytes_in_memory += delivery.size();
        self.held.insert(delivery.id.clone());
        if let Err(mpsc::error::SendError(delivery)) = self.to_http.send(delivery) {
            self.held.remove(&delivery.id);
            self.bytes_in_memory -= delivery.size();
            self.tally.started();
            self.tally.settled(&delivery, &abandoned("the delivery runtime has stopped"), Status::Pending);
        }
    }

    /// Takes up what waits, as much as there is room to hold: due deliveries from the spool
    /// (retries, parked ones, and those other processes left) for a quarter of the room at
    /// least, so that a long backlog of reserved deliveries does not hold them back; then
    /// reserved ones (the oldest new ones); then due ones again for what room is left.
    fn claim(&mut self, now: u64) -> usize {
        self.next_claim = now + CLAIM_INTERVAL.as_millis() as u64;
        let share = self.capacity().saturating_sub(self.in_memory()).div_ceil(4);
        let due = self.claim_due(now, share);
        let reserved = self.take_reserved(now);
        // Fewer than its share: nothing more is due.
        due + reserved + if due == share { self.claim_due(now, usize::MAX) } else { 0 }
    }

    /// Reads back reserved deliveries for the free request slots, within the memory cap.
    fn take_reserved(&mut self, now: u64) -> usize {
        let free = self.capacity().saturating_sub(self.in_memory());
        let mut room = self.config.memory_limit.saturating_sub(self.bytes_in_memory);
        let mut taken = Vec::new();
        while taken.len() < free {
            let Some(size) = self.reserved.front().map(|r| r.size) else { break };
            let first = taken.is_empty() && self.in_memory() == 0;
            if size > room && !first {
                break;
            }
            room = room.saturating_sub(size);
            taken.extend(self.reserved.pop_front());
        }
        if taken.is_empty() {
            return 0;
        }
        let claims: Vec<(String, u64)> = taken.iter().map(|r| (r.id.clone(), r.claimed_until)).collect();
        match self.spool.take_reserved(&claims, now, self.lease_until(now)) {
            Ok(deliveries) => {
                let count = deliveries.len();
                for delivery in deliveries {
                    self.tally.claimed();
                    self.send(delivery);
                }
                count
            }
            Err(e) => {
                self.tally.warn(format!("cannot read the spool {}: {e}", self.spool.location()));
                // Tried again at the next claim.
                for entry in taken.into_iter().rev() {
                    self.reserved.push_front(entry);
                }
                0
            }
        }
    }

    /// Claims due deliveries from the spool, at most `at_most`, and as many as there is room to
    /// hold.
    fn claim_due(&mut self, now: u64, at_most: usize) -> usize {
        let free = self.capacity().saturating_sub(self.in_memory()).min(at_most);
        if free == 0 || (self.bytes_in_memory >= self.config.memory_limit && self.in_memory() > 0) {
            return 0;
        }
        // A read first: most ticks find nothing, and a claim takes the write lock.
        match self.spool.has_due(now) {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(e) => {
                self.tally.warn(format!("cannot read the spool {}: {e}", self.spool.location()));
                return 0;
            }
        }
        // Bodies count against the memory cap as they are claimed, not only before.
        let budget = ByteBudget {
            bytes: self.config.memory_limit.saturating_sub(self.bytes_in_memory) as u64,
            at_least_one: self.in_memory() == 0,
        };
        let claimed = match self.spool.claim_due(now, self.lease_until(now), free, budget) {
            Ok(claimed) => claimed,
            Err(e) => {
                self.tally.warn(format!("cannot read the spool {}: {e}", self.spool.location()));
                return 0;
            }
        };
        let outcome_ids: HashSet<String> = if claimed.is_empty() {
            HashSet::new()
        } else {
            self.outcomes.iter().map(|(delivery, _, _)| delivery.id.clone()).collect()
        };
        let claimed: Vec<Delivery> =
            claimed.into_iter().filter(|delivery| !self.has_already(&delivery.id, &outcome_ids)).collect();
        let count = claimed.len();
        for delivery in claimed {
            self.tally.claimed();
            self.send(delivery);
        }
        count
    }

    /// Queues an attempt's outcome; [`Self::record_outcomes`] writes them together.
    fn finished(&mut self, delivery: Delivery, outcome: Outcome, started_at: u64, excerpt: Vec<u8>) {
        let attempt_number = delivery.attempts as usize + 1;
        let jitter = fastrand::f64() * 2.0 - 1.0;
        let next = self.config.retry.after(attempt_number, &outcome, jitter);
        let now = unix_millis();
        let (status, next_attempt_at) = match next {
            Next::Delivered => (Status::Delivered, None),
            Next::RetryIn(wait) => (Status::Pending, Some(now + wait.as_millis() as u64)),
            Next::Failed => (Status::Failed, None),
            Next::Gone => (Status::Gone, None),
        };
        let attempt = Attempt {
            at: started_at,
            status_code: outcome.status(),
            error: outcome.error().map(str::to_string),
            duration_ms: outcome.duration().as_millis() as u64,
        };
        let record = AttemptRecord {
            id: delivery.id.clone(),
            attempt: Some(attempt),
            status,
            next_attempt_at,
            response_excerpt: excerpt,
            // Other processes may have made attempts while they had its claim: the row's count
            // decides, whether a retry is left and when it comes.
            attempts_at_most: Some(self.config.retry.max_attempts() as u32),
            retry_at_by_count: self.retry_at_by_count(&outcome, next_attempt_at, jitter, now),
        };
        self.queue_outcome(delivery, outcome, record);
    }

    /// A retry's time for each count of attempts its row may have had before this one (see
    /// AttemptRecord::retry_at_by_count), with the same jitter; none when no retry follows.
    fn retry_at_by_count(&self, outcome: &Outcome, retry: Option<u64>, jitter: f64, now: u64) -> Vec<u64> {
        if retry.is_none() {
            return Vec::new();
        }
        (1..self.config.retry.max_attempts())
            .map_while(|attempt| match self.config.retry.after(attempt, outcome, jitter) {
                Next::RetryIn(wait) => Some(now + wait.as_millis() as u64),
                _ => None,
            })
            .collect()
    }

    /// Whether a delivery just claimed is one this process still has: held for sending, or its
    /// outcome not written yet. It comes back only when its claim ran out and the process that
    /// took it over let it go. The claim is this process's again, so the copy it has goes on
    /// as if the claim had never been lost, and the one just read is dropped. One withdrawn for
    /// its lost claim is put back, or, when the sender has already passed it back, sent again
    /// once it arrives (Self::not_started).
    fn has_already(&mut self, id: &str, outcome_ids: &HashSet<String>) -> bool {
        if self.lost_claims.contains(id) {
            if self.withdrawn.take(id) {
                self.lost_claims.remove(id);
            } else {
                self.reclaimed.insert(id.to_string());
            }
            return true;
        }
        self.held.contains(id) || outcome_ids.contains(id)
    }

    /// Ends a delivery withdrawn before its attempt started. One whose claim was lost is
    /// another process's now: it leaves this one without an outcome, unless this process
    /// claimed it back meanwhile, when it is sent (or, canceled since, ends as canceled). One
    /// canceled ends failed, with its cancellation as the last entry and no attempt.
    fn not_started(&mut self, delivery: Delivery) {
        if self.lost_claims.remove(&delivery.id) {
            let listed = self.withdrawn.take(&delivery.id);
            let reclaimed = self.reclaimed.remove(&delivery.id);
            // Listed after it was claimed back: by a cancel check, since a lost claim is
            // listed once, and the sender took that entry when it passed the delivery back.
            let canceled_since = reclaimed && listed;
            if !canceled_since {
                self.held.remove(&delivery.id);
                self.bytes_in_memory = self.bytes_in_memory.saturating_sub(delivery.size());
                self.tally.abandoned();
                if reclaimed {
                    self.tally.claimed();
                    self.send(delivery);
                }
                return;
            }
        }
        let record = AttemptRecord {
            id: delivery.id.clone(),
            attempt: None,
            status: Status::Failed,
            next_attempt_at: None,
            response_excerpt: Vec::new(),
            attempts_at_most: None,
            retry_at_by_count: Vec::new(),
        };
        self.queue_outcome(
            delivery,
            abandoned("not sent: its feed was canceled, or an attempt another process recorded ended it"),
            record,
        );
    }

    /// Its request slot is free at once; its memory, once the outcome is written.
    fn queue_outcome(&mut self, delivery: Delivery, outcome: Outcome, record: AttemptRecord) {
        self.held.remove(&delivery.id);
        // Found canceled, or its claim lost, while in flight, too late to withdraw: off the
        // lists. (An outcome whose claim is lost is not written: see record_outcomes.)
        self.withdrawn.take(&delivery.id);
        self.lost_claims.remove(&delivery.id);
        self.reclaimed.remove(&delivery.id);
        if self.outcomes.is_empty() {
            // Monotonic: a wall clock set back must not hold outcomes (and flush()) back.
            self.outcomes_due = Some(Instant::now() + OUTCOME_DELAY);
        }
        self.outcomes.push((delivery, outcome, record));
        // Take up what waits on disk once half the room is free: claims in batches, while
        // those still held keep every request slot busy.
        if self.in_memory() <= self.capacity() / 2 {
            self.next_claim = self.next_claim.min(unix_millis());
        }
    }

    /// Lists for the HTTP side the deliveries it holds that a cancel has marked since they were
    /// claimed (see super::withdrawn), and those whose claims are lost (Self::claims_lost).
    /// Those already in flight end with their attempt.
    fn withdraw_canceled_and_lost(&mut self) {
        if !self.held.is_empty() {
            match self.spool.look_among(self.held.iter().map(String::as_str)) {
                Ok(found) => {
                    self.withdrawn.add(found.canceled);
                    self.claims_lost(found.lost);
                }
                Err(e) => self.tally.warn(format!("cannot read the spool {}: {e}", self.spool.location())),
            }
        }
        self.next_cancel_check = Instant::now() + cancel_check_interval(self.held.len());
    }

    /// Renews the claims of what this process holds: the deliveries handed to the HTTP side,
    /// and those whose outcome is not written yet.
    fn renew_claims(&mut self) {
        let lease_until = self.lease_until(unix_millis());
        let ids = self.held.iter().map(String::as_str).chain(self.outcomes.iter().map(|(d, _, _)| d.id.as_str()));
        self.next_renewal = match self.spool.renew_claims(ids, lease_until) {
            Ok(lost) => {
                self.claims_lost(lost);
                Instant::now() + self.renewal_interval()
            }
            Err(e) => {
                self.tally
                    .warn(format!("cannot renew claims in the spool {}: {e}; trying again", self.spool.location()));
                Instant::now() + OUTCOME_RETRY
            }
        };
    }

    /// Held deliveries whose rows are no longer this process's (found by a renewal or a cancel
    /// check): those not started are not sent from here, since another process may be sending
    /// them, or another's answer ended them. One found lost before is listed already, or
    /// passed back by the sender: a second entry would outlive it and withdraw the next copy
    /// claimed.
    fn claims_lost(&mut self, lost: Vec<String>) {
        let mut newly_lost = Vec::new();
        for id in lost.into_iter().filter(|id| self.held.contains(id)) {
            // Claimed back after the sender passed it back, and lost again: not sent
            // when it arrives.
            self.reclaimed.remove(&id);
            if self.lost_claims.insert(id.clone()) {
                newly_lost.push(id);
            }
        }
        if !newly_lost.is_empty() {
            self.tally.warn(format!(
                "{} deliveries held in memory are no longer this process's: their claims ran out while the \
                 spool thread was held up, and another process took them over or ended them; those not started \
                 are not sent from this one",
                newly_lost.len()
            ));
            self.withdrawn.add(newly_lost);
        }
    }

    fn outcomes_are_due(&self) -> bool {
        self.outcomes_due.is_some_and(|due| Instant::now() >= due)
    }

    /// Writes the queued outcomes in one transaction, then settles them: a delivery leaves the
    /// in-flight count only once its outcome is on disk. Outcomes the spool refuses stay
    /// queued, and with them the deliveries' memory, until a later try writes them: flush()
    /// waits for them, and their rows stay claimed by this process, which sends them again
    /// only if it dies first (at least once, as after a crash).
    fn record_outcomes(&mut self) {
        if self.outcomes.is_empty() || self.outcomes_retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let records: Vec<AttemptRecord> = self.outcomes.iter().map(|(_, _, record)| record.clone()).collect();
        let written = match self.spool.record_attempts(&records) {
            Ok(written) => written,
            Err(e) => {
                self.tally
                    .warn(format!("cannot record attempts in the spool {}: {e}; trying again", self.spool.location()));
                self.outcomes_retry_at = Some(Instant::now() + OUTCOME_RETRY);
                return;
            }
        };
        let outcomes = std::mem::take(&mut self.outcomes);
        self.outcomes_due = None;
        self.outcomes_retry_at = None;
        let now = unix_millis();
        for ((delivery, outcome, record), written) in outcomes.into_iter().zip(written) {
            let status = written.unwrap_or_else(|| {
                self.tally.warn(format!(
                    "delivery {} was no longer this process's when its attempt ended: it had ended meanwhile, \
                     or another process took it over after this one's claim ran out and goes on with it \
                     unless this answer ends it",
                    delivery.id
                ));
                self.status_elsewhere(&record)
            });
            self.bytes_in_memory = self.bytes_in_memory.saturating_sub(delivery.size());
            if let Some(at) = record.next_attempt_at.filter(|_| status == Status::Pending) {
                self.next_claim = self.next_claim.min(at);
            }
            self.tally.settled(&delivery, &outcome, status);
        }
        // Slots are free: take up what waits.
        self.next_claim = self.next_claim.min(now);
    }

    /// What stats() counts for an attempt written to a row that was no longer this process's:
    /// what it asked, unless it asked a retry, which is not this process's to schedule. That
    /// one counts as what the row says: a retry only while the row's holder goes on with it;
    /// failed when no retry follows from it (the row ended failed, by a cancel say, or has
    /// had every attempt allowed), as it would with the claim held.
    fn status_elsewhere(&self, record: &AttemptRecord) -> Status {
        if record.status != Status::Pending {
            return record.status;
        }
        self.spool.status_elsewhere(&record.id).ok().flatten().unwrap_or(Status::Pending)
    }

    /// Deletes what the log keeps past its retention, a part at a time: when more is left, the
    /// next part comes in the next round of the loop, after commands and renewals.
    fn prune(&mut self, now: u64) {
        let before = now.saturating_sub(self.config.retention.as_millis() as u64);
        self.next_prune = match self.spool.prune(before, PRUNE_BATCH) {
            Ok(PRUNE_BATCH) => now,
            Ok(_) => now + PRUNE_INTERVAL.as_millis() as u64,
            Err(e) => {
                self.tally.warn(format!("cannot prune the spool {}: {e}", self.spool.location()));
                now + PRUNE_INTERVAL.as_millis() as u64
            }
        };
    }

    /// Writes what is still queued, records what finished, and gives up this process's
    /// claims. What cannot be kept (a spool in memory, a failing disk) is counted lost.
    fn stop(mut self, inbox: &std_mpsc::Receiver<Command>) {
        let mut unwritten = std::mem::take(&mut self.unwritten);
        while let Ok(command) = inbox.try_recv() {
            match command {
                Command::New(deliveries) => unwritten.extend(deliveries),
                Command::Finished { delivery, outcome, started_at, excerpt } => {
                    self.finished(*delivery, outcome, started_at, excerpt)
                }
                Command::Withdrawn(delivery) => self.not_started(*delivery),
                _ => {}
            }
        }
        self.outcomes_retry_at = None;
        self.record_outcomes();
        if !self.outcomes.is_empty() {
            // Their rows stay pending, claimed until their lease ends (or released below):
            // another process sends them again, at least once, as after a crash. Withdrawn
            // ones keep their cancellation, and whoever claims them next ends them instead.
            let withdrawn = self.outcomes.iter().filter(|(_, _, record)| record.attempt.is_none()).count();
            let attempted = self.outcomes.len() - withdrawn;
            self.tally.warn(format!(
                "{} outcomes could not be recorded in the spool {}; {attempted} of those deliveries will be sent again, \
                 {withdrawn} withdrawn after a cancel will not",
                self.outcomes.len(),
                self.spool.location()
            ));
        }
        let rows: Vec<_> = unwritten.into_iter().map(|d| (d, None)).collect();
        if !rows.is_empty() && self.spool.insert(&rows).is_err() {
            self.tally.lost(rows.len() as u64);
        }
        if self.spool.location() == ":memory:" {
            self.tally.lost(self.spool.pending_count().unwrap_or(0));
        }
        let _ = self.spool.release_claims(unix_millis());
    }

    /// Deliveries handed to the HTTP side and not finished.
    fn in_memory(&self) -> usize {
        self.held.len()
    }

    /// Deliveries held for sending at most (in flight, or queued for a request slot); those
    /// whose attempt ended wait apart for their outcome to be written, counted in bytes only.
    fn capacity(&self) -> usize {
        self.config.max_concurrency.max(1) * HELD_PER_SLOT
    }

    /// Until when a delivery written with no request slot free is claimed: twice a held
    /// delivery's claim. It is read back when a slot frees, which is a read where claiming it
    /// back would write its row and two indexes (the largest part of the spool's work while
    /// dispatch() outruns the sender), as long as its claim still covers its attempt, that is,
    /// for the first half of it; after that it is claimed anew. A process that dies holding it
    /// leaves it to others after this claim (40 s by default).
    fn reserve_until(&self, now: u64) -> u64 {
        now + 2 * (self.lease_until(now) - now)
    }

    /// Reserved deliveries kept at most: their ids take a quarter of the memory cap.
    fn reserved_limit(&self) -> usize {
        self.config.memory_limit / 4 / RESERVED_ENTRY_BYTES
    }

    /// Until when a claim made now holds: the request timeout plus the margin, long enough for
    /// a delivery that starts at once to be sent and its outcome written. One that waits for a
    /// request slot has its claim renewed meanwhile.
    fn lease_until(&self, now: u64) -> u64 {
        now + (self.config.client.timeout + LEASE_MARGIN).as_millis() as u64
    }

    /// Whether this process holds claims to renew: deliveries held for sending, or whose
    /// outcome is not written yet.
    fn holds_claims(&self) -> bool {
        !self.held.is_empty() || !self.outcomes.is_empty()
    }

    fn renewal_interval(&self) -> Duration {
        (self.config.client.timeout + LEASE_MARGIN) / RENEWALS_PER_CLAIM
    }
}

/// A delivery written claimed by this process, waiting for a request slot.
struct Reserved {
    id: String,
    /// What it holds in memory once read back ([`Delivery::size`]).
    size: usize,
    /// The claim it was written with: once the row has another, it has changed hands.
    claimed_until: u64,
}

/// Where a new delivery goes once written.
enum Place {
    /// To the HTTP side at once, claimed until then.
    Send(u64),
    /// Its id kept in memory, claimed until then (see SpoolWorker::reserve_until).
    Reserve(u64),
    /// On disk unclaimed, for whichever process has room first.
    Disk,
}

impl Place {
    fn lease_until(&self) -> Option<u64> {
        match self {
            Place::Send(until) | Place::Reserve(until) => Some(*until),
            Place::Disk => None,
        }
    }
}

async fn http_loop(
    mut from_spool: mpsc::UnboundedReceiver<Delivery>,
    withdrawn: Arc<Withdrawn>,
    commands: std_mpsc::Sender<Command>,
    tally: Arc<Tally>,
    config: EngineConfig,
) {
    // Built here, off the PHP thread: loading the system's TLS roots takes milliseconds.
    let mut clients = Clients::new(&config.client);
    let slots = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    let mut parsed = sender::ParsedUrl::default();
    while let Some(delivery) = from_spool.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { break };
        tally.started();
        // Its feed was canceled while it waited for this slot.
        if withdrawn.take(&delivery.id) {
            if commands.send(Command::Withdrawn(Box::new(delivery))).is_err() {
                tally.abandoned();
            }
            continue;
        }
        let (client, client_config) = clients.for_origin(delivery.network.as_deref());
        let commands = commands.clone();
        let tally = Arc::clone(&tally);
        let url = parsed.parse(&delivery.request.url);
        tokio::spawn(async move {
            let mut guard = InFlight { tally: &tally, handed_over: false };
            let started_at = unix_millis();
            let (outcome, excerpt) = match &client {
                Ok(client) => unwinding(sender::attempt(client, &delivery, url, &client_config)).await,
                Err(e) => (abandoned(&format!("could not create the HTTP client: {e}")), Vec::new()),
            };
            // The spool thread records the outcome and only then takes the delivery off the
            // in-flight count, so flush() never returns before an outcome is on disk.
            let delivery = Box::new(delivery);
            guard.handed_over = commands.send(Command::Finished { delivery, outcome, started_at, excerpt }).is_ok();
            drop(slot);
        });
    }
}

/// The HTTP clients of this process: its own, and one per other network policy a delivery was
/// queued under (another process's, through the shared spool), which connects only where both
/// policies allow.
struct Clients {
    own: (Result<reqwest::Client, String>, ClientConfig),
    own_policy: String,
    others: std::collections::HashMap<String, (Result<reqwest::Client, String>, ClientConfig)>,
}

/// Other policies' clients kept at most; past it they are built anew (policies are few: one
/// per php.ini or pool sharing the spool).
const OTHER_CLIENTS_KEPT: usize = 8;

impl Clients {
    fn new(config: &ClientConfig) -> Clients {
        Clients {
            own: (sender::build_client(config), config.clone()),
            own_policy: config.network.to_string(),
            others: std::collections::HashMap::new(),
        }
    }

    /// The client for a delivery queued under `origin` (None: unknown, an earlier build's row).
    fn for_origin(&mut self, origin: Option<&str>) -> (Result<reqwest::Client, String>, ClientConfig) {
        let Some(origin) = origin.filter(|origin| *origin != self.own_policy) else { return self.own.clone() };
        if let Some(client) = self.others.get(origin) {
            return client.clone();
        }
        let own = &self.own.1;
        // A policy that does not read back opens nothing.
        let origin_policy = crate::network::NetworkPolicy::parse(origin).unwrap_or_default();
        let config = ClientConfig { network: Arc::new(own.network.within(&origin_policy)), ..own.clone() };
        let client = (sender::build_client(&config), config);
        if self.others.len() >= OTHER_CLIENTS_KEPT {
            self.others.clear();
        }
        self.others.insert(origin.to_string(), client.clone());
        client
    }
}

/// `attempt` with a panic in it (ours, reqwest's, hyper's) ended as an attempt without an
/// answer, whose reason the log shows. Left to tokio, the panic would end the task with its
/// delivery still held, and this process renews the claims of what it holds for as long as
/// it lives: nobody would send it.
/// A panic once the answer's status came does not come here: see sender::attempt.
async fn unwinding(attempt: impl Future<Output = (Outcome, Vec<u8>)>) -> (Outcome, Vec<u8>) {
    sender::caught(attempt).await.unwrap_or_else(|message| {
        (abandoned(&format!("the attempt stopped on an internal error: {message}")), Vec::new())
    })
}

/// Takes an in-flight delivery off the counters if its task ends without handing the outcome
/// to the spool thread (runtime shutdown, or a spool thread that has stopped), so that
/// `flush()` never waits for a delivery nobody is sending. Its spool row stays pending, and
/// another process sends it once this one's claim runs out.
struct InFlight<'a> {
    tally: &'a Tally,
    handed_over: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.handed_over {
            self.tally.abandoned();
        }
    }
}

/// Time between two looks for cancels, for `held` deliveries held (see CANCEL_CHECK). It does
/// not depend on how long a look took: a look that waited (for a lock, a fork, the disk) must
/// not put off the next.
fn cancel_check_interval(held: usize) -> Duration {
    let spaced = held.div_ceil(CANCEL_CHECK_IDS).max(1) as u32;
    (CANCEL_CHECK * spaced).min(CANCEL_CHECK_LONGEST)
}

fn abandoned(reason: &str) -> Outcome {
    Outcome::no_answer(reason.to_string(), Duration::ZERO)
}

fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data; pthread_sigmask only reads `set` and writes `old`,
    // and the old mask is restored before returning.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let set = async_signals();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
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
