//! The background runtime that sends deliveries, one per process.
//!
//! - Started lazily by the first [`submit`], never at module startup: php-fpm loads the
//!   extension in its master and then forks workers, and tokio's threads do not survive a
//!   fork. A process that finds a runtime started under another pid (a forked child)
//!   abandons it (its threads do not exist here) and starts its own.
//! - `submit` never waits: it puts deliveries on an unbounded queue. A dispatcher task sends
//!   at most `max_concurrency` at a time over one pooled client.
//! - Runtime threads block every asynchronous signal: PHP's timers (max_execution_time uses
//!   SIGPROF) must reach the PHP thread, whose handlers touch its globals.
//! - [`shutdown`] waits a bounded time for what is pending, then stops the runtime and reports
//!   what was not sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use super::sender::{self, ClientConfig};
use super::tally::{Snapshot, Tally};
use crate::delivery::Delivery;
use crate::outcome::Outcome;

/// How long [`shutdown`] lets tasks wind down after the grace period before abandoning them.
const RUNTIME_STOP_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineConfig {
    pub client: ClientConfig,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    pub worker_threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            client: ClientConfig {
                timeout: Duration::from_secs(15),
                connect_timeout: Duration::from_secs(5),
            },
            max_concurrency: 32,
            worker_threads: 2,
        }
    }
}

struct Engine {
    pid: u32,
    runtime: tokio::runtime::Runtime,
    queue: mpsc::UnboundedSender<Delivery>,
    tally: Arc<Tally>,
}

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

/// What [`shutdown`] left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub drained: bool,
    pub snapshot: Snapshot,
}

impl ShutdownReport {
    pub fn unsent(&self) -> u64 {
        self.snapshot.queued + self.snapshot.in_flight
    }
}

/// Queues deliveries for sending; starts this process's runtime first if needed.
pub fn submit(
    deliveries: Vec<Delivery>,
    config: impl FnOnce() -> EngineConfig,
) -> Result<(), String> {
    let mut slot = lock_engine();
    let engine = current(&mut slot, Some(config))?.expect("started on demand");
    engine.tally.queued(deliveries.len() as u64);
    for delivery in deliveries {
        if let Err(mpsc::error::SendError(delivery)) = engine.queue.send(delivery) {
            // Only possible if the dispatcher task died; count what it will never send.
            engine.tally.started();
            engine
                .tally
                .finished(&delivery, &abandoned("the delivery queue is closed"));
        }
    }
    Ok(())
}

/// Counters of this process's runtime (zeros before the first dispatch).
pub fn snapshot() -> Snapshot {
    tally().map(|t| t.snapshot()).unwrap_or_default()
}

/// Waits until nothing is queued or in flight, at most `timeout`; true when idle.
pub fn flush(timeout: Duration) -> bool {
    // The engine lock is not held while waiting: other threads never need it, but this keeps
    // it that way.
    tally().map_or(true, |t| t.wait_idle(timeout))
}

/// Whether this process has a running runtime.
pub fn is_running() -> bool {
    matches!(
        current(&mut lock_engine(), None::<fn() -> EngineConfig>),
        Ok(Some(_))
    )
}

/// Waits up to `grace` for pending deliveries, then stops the runtime. `None` when this
/// process never started one.
pub fn shutdown(grace: Duration) -> Option<ShutdownReport> {
    let engine = lock_engine().take()?;
    if engine.pid != std::process::id() {
        std::mem::forget(engine);
        return None;
    }
    let drained = engine.tally.wait_idle(grace);
    let snapshot = engine.tally.snapshot();
    drop(engine.queue);
    engine.runtime.shutdown_timeout(RUNTIME_STOP_TIMEOUT);
    Some(ShutdownReport { drained, snapshot })
}

fn tally() -> Option<Arc<Tally>> {
    let mut slot = lock_engine();
    current(&mut slot, None::<fn() -> EngineConfig>)
        .ok()
        .flatten()
        .map(|e| Arc::clone(&e.tally))
}

fn lock_engine() -> std::sync::MutexGuard<'static, Option<Engine>> {
    ENGINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's engine; starts one when `start` is given. An engine inherited across
/// `fork()` is abandoned, never dropped: dropping would join threads that are not here.
fn current(
    slot: &mut Option<Engine>,
    start: Option<impl FnOnce() -> EngineConfig>,
) -> Result<Option<&Engine>, String> {
    let pid = std::process::id();
    if slot.as_ref().is_some_and(|e| e.pid != pid) {
        std::mem::forget(slot.take());
    }
    if slot.is_none() {
        if let Some(config) = start {
            *slot = Some(Engine::start(pid, config())?);
        }
    }
    Ok(slot.as_ref())
}

impl Engine {
    fn start(pid: u32, config: EngineConfig) -> Result<Engine, String> {
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
        let (queue, receiver) = mpsc::unbounded_channel();
        let tally = Arc::new(Tally::default());
        runtime.spawn(dispatch_loop(receiver, Arc::clone(&tally), config));
        Ok(Engine {
            pid,
            runtime,
            queue,
            tally,
        })
    }
}

async fn dispatch_loop(
    mut receiver: mpsc::UnboundedReceiver<Delivery>,
    tally: Arc<Tally>,
    config: EngineConfig,
) {
    // Built here, off the PHP thread: loading the system's TLS roots takes milliseconds.
    let client = match sender::build_client(&config.client) {
        Ok(client) => client,
        Err(e) => {
            let outcome = abandoned(&format!("could not create the HTTP client: {e}"));
            while let Some(delivery) = receiver.recv().await {
                tally.started();
                tally.finished(&delivery, &outcome);
            }
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    while let Some(delivery) = receiver.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        tally.started();
        let client = client.clone();
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            let guard = InFlight {
                tally: &tally,
                delivery: &delivery,
                settled: false,
            };
            let outcome = sender::attempt(&client, &delivery, &config.client).await;
            guard.settle(&outcome);
            drop(slot);
        });
    }
}

/// Settles an in-flight delivery even if its task is dropped (runtime shutdown) or panics,
/// so that `flush()` never waits for a delivery nobody is sending.
struct InFlight<'a> {
    tally: &'a Tally,
    delivery: &'a Delivery,
    settled: bool,
}

impl InFlight<'_> {
    fn settle(mut self, outcome: &Outcome) {
        self.settled = true;
        self.tally.finished(self.delivery, outcome);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.tally.finished(
                self.delivery,
                &abandoned("the runtime stopped before an answer arrived"),
            );
        }
    }
}

fn abandoned(reason: &str) -> Outcome {
    Outcome::Failed {
        status: None,
        reason: reason.to_string(),
        duration: Duration::ZERO,
    }
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
