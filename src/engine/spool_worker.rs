//! The spool thread: it owns the SQLite spool. It writes new deliveries in batched
//! transactions before their first attempt, hands them to the HTTP side (`super::http_loop`)
//! up to HELD_PER_SLOT per request slot and keeps the rest reserved in the spool, renews the
//! claims of what it holds, records outcomes and schedules retries, claims due retries and
//! what other processes left, looks for cancels, and answers the PHP thread's commands
//! (`super::runtime::Command`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::endpoint_queues;
use super::held::{Held, Origin};
use super::runtime::{abandoned, inbox_bytes, Command, EngineConfig};
use super::tally::Tally;
use super::withdrawn::Withdrawn;
use crate::delivery::{unix_millis, Delivery};
use crate::outcome::Outcome;
use crate::retry::Next;
use crate::spool::{self, Attempt, AttemptRecord, ByteBudget, Spool, Status};

/// How often the spool thread looks for due deliveries when it knows of none.
const CLAIM_INTERVAL: Duration = Duration::from_secs(1);
/// How often a spool file that could not be opened, while a spool in memory stands in for it,
/// is tried again (and at stop).
const FILE_RETRY: Duration = Duration::from_secs(60);
/// How long that retry waits for another process's write lock on the file.
const FILE_RETRY_LOCK_WAIT: Duration = Duration::from_millis(250);
/// How often a spool SQLite could not open, for lack of memory, is tried again.
const OPEN_RETRY: Duration = Duration::from_secs(1);
/// New deliveries written in one transaction at most.
const INSERT_BATCH: usize = 1024;
/// How long a disk found full counts as short of room: every write of deliveries or outcomes
/// meanwhile is followed by a checkpoint that empties the WAL (see SpoolWorker::refused).
const SHORT_OF_ROOM: Duration = Duration::from_secs(60);
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
/// While every request slot is busy, outcomes are written together, in one transaction, when
/// this many wait or when the first has waited OUTCOME_DELAY (otherwise at once). Each
/// transaction rewrites the rows' and indexes' pages into the WAL: written as they came (17
/// per transaction at 17,000 deliveries/s), outcomes cost more disk writes than the bodies.
const OUTCOME_BATCH: usize = 256;
const OUTCOME_DELAY: Duration = Duration::from_millis(5);
/// How long outcomes the spool refused wait before the next try.
const OUTCOME_RETRY: Duration = Duration::from_millis(500);
/// Memory an id of a reserved delivery takes, at most; their ids take at most a quarter of
/// the memory cap, or RESERVED_LEAST of them for a smaller cap, and new deliveries past that
/// wait on disk unclaimed. A process's exit waits for its reserve, not for those (they are
/// taken up like any other process's: Self::exit_begins).
const RESERVED_ENTRY_BYTES: usize = 128;
const RESERVED_LEAST: usize = 1024;
/// How often the spool thread looks for cancels another process made of deliveries this one
/// holds but has not started (see super::withdrawn), and for rows of them that are no longer
/// its own (SpoolWorker::claims_lost); a cancel of this process's is found at once. A look
/// probes the spool once per held delivery: past CANCEL_CHECK_IDS held (a max_concurrency
/// above 64), looks are spaced out in proportion, up to CANCEL_CHECK_LONGEST, so that they
/// stay a small part of the spool thread's work.
const CANCEL_CHECK: Duration = Duration::from_millis(250);
const CANCEL_CHECK_IDS: usize = 4096;
const CANCEL_CHECK_LONGEST: Duration = Duration::from_secs(2);
/// How often finished deliveries past their retention are deleted, and how many at most in
/// one transaction.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: usize = 10_000;

/// The spool thread's state.
pub(super) struct SpoolWorker {
    spool: Spool,
    pub(super) config: EngineConfig,
    tally: Arc<Tally>,
    to_http: mpsc::UnboundedSender<Delivery>,
    /// The deliveries handed to the HTTP side and not finished (their count is
    /// [`Self::in_memory`]). Their claims are renewed at `next_renewal`, however long they wait.
    held: Held,
    next_renewal: Instant,
    /// Those of them found canceled, to withdraw; when to look for cancels of them next.
    pub(super) withdrawn: Arc<Withdrawn>,
    /// Those of them let go, not to send from this process (Self::let_go): their claims a
    /// renewal or a cancel check found lost (they ran out while the spool thread was held up,
    /// and another process took them over or ended them), or taken up from the spool when the
    /// exit began. Withdrawn too, and ended here without an outcome when they come back unsent;
    /// unless this process has claimed them back meanwhile (`reclaimed`, see
    /// Self::has_already), when they are sent.
    not_to_send: HashSet<String>,
    reclaimed: HashSet<String>,
    /// Set when the process's exit begins (Self::exit_begins).
    exiting: bool,
    /// Whether PHP code asked this process to send what is due in the spool (resume()).
    resumed: bool,
    /// Deliveries let go at exit that the sender passed back unsent: their claims are given up
    /// at the next claim (Self::claim), together, so that other processes send them at once
    /// rather than after this process's wait at exit.
    let_go_unsent: Vec<String>,
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
    /// Deliveries of `unwritten` written again in one transaction at most: halved each time
    /// the disk is found full, down to one, and doubled after each write of them, up to
    /// INSERT_BATCH.
    /// A transaction needs room in the WAL for all it writes: a backlog written whole waits
    /// for more room than it takes in parts (3,000 deliveries of 1.2 KB on a 2 MB disk with
    /// 1.6 MB freed: none written whole, 767 in parts).
    unwritten_part: usize,
    /// Until when the disk counts as short of room (SHORT_OF_ROOM), since it was last found
    /// full.
    short_of_room_until: Option<Instant>,
    /// Outcomes waiting to be written together in one transaction, and when they are due.
    outcomes: Vec<(Delivery, Outcome, AttemptRecord)>,
    /// Outcomes written in one transaction at most, as `unwritten_part`: all of them, until
    /// the disk is found full; then halved each time, down to one, and doubled after each
    /// write of them. Written whole, outcomes a full disk refused waited for room for all of
    /// them (200 with 4 KB excerpts and room for 8 pages of 16 KB: none written).
    outcomes_part: usize,
    outcomes_due: Option<Instant>,
    /// After the spool refused outcomes: when to try again.
    outcomes_retry_at: Option<Instant>,
    next_claim: u64,
    /// Deliveries this thread took up on its own (as it started, every CLAIM_INTERVAL, for
    /// flush()) since it started or since the last resume(), which reports them: a cron job's
    /// resume() starts the machinery, whose first claim comes before the call's own.
    taken_up_unreported: usize,
    next_prune: u64,
    /// When to look next whether the spool file was deleted, renamed or replaced
    /// (Self::follow_moved_spool), and whether a failure to follow it (or to return to it from
    /// memory) was told already.
    next_move_check: Instant,
    move_refused: bool,
    /// When a spool in memory standing in for the file tries the file again
    /// (Self::return_to_the_file).
    pub(super) next_file_retry: Instant,
}

/// What [`open_spool`] came to.
enum Opened {
    /// The spool, and the deliveries dispatched while it could not be opened, in order.
    Spool(Spool, Vec<Delivery>),
    /// Stopped (or abandoned) before a spool could be opened; what it held is counted lost.
    Stopped(Option<std_mpsc::Sender<()>>),
}

/// The spool at `path`, or one in memory when there is none or it cannot be used. When SQLite
/// is refused memory for both (an address space PHP code lowered with posix_setrlimit()), both
/// are tried again every OPEN_RETRY, the file first: this thread is the only way into the
/// spool, and ended, every later dispatch() of the process failed (an FPM worker's, for the
/// rest of its life); given up on, the file would have been for that life too. Meanwhile new
/// deliveries wait in memory, within fluent_webhook.memory_limit. While it waits it still
/// reads `inbox`: requests that need the spool are answered at once with why
/// there is none, and a Stop is obeyed, so that neither the PHP thread nor shutdown waits out
/// its timeout for an answer.
fn open_spool(
    path: Option<&std::path::Path>,
    owner: &str,
    tally: &Tally,
    inbox: &std_mpsc::Receiver<Command>,
) -> Opened {
    let mut waiting = Vec::new();
    let mut refused: Option<String> = None;
    loop {
        let opened = match path.map(|path| Spool::open(path, owner)) {
            Some(Ok(spool)) => Ok(spool),
            Some(Err(file)) => match Spool::in_memory(owner) {
                Ok(spool) => {
                    tally.warn(format!("{file}; deliveries are kept in memory only and do not survive this process"));
                    Ok(spool)
                }
                Err(e) => Err(format!("{file}; {e}")),
            },
            None => Spool::in_memory(owner),
        };
        match opened {
            Ok(spool) => {
                if refused.is_some() {
                    tally.set_spool_error(None);
                }
                return Opened::Spool(spool, waiting);
            }
            Err(e) if refused.is_none() => {
                tally.warn(format!("{e}; new deliveries wait in memory, and the spool is tried again every second"));
                // Named, with the reason, before it opens: a dispatch() past memory_limit is
                // refused at once with it, and shutdown reports what waited as lost.
                let location = path.map_or_else(|| spool::IN_MEMORY.to_string(), |path| path.display().to_string());
                tally.set_spool_location(location, path.is_none());
                tally.set_spool_error(Some(e.clone()));
                refused = Some(e);
            }
            Err(_) => {}
        }
        let error = refused.as_deref().unwrap_or_default();
        let retry_at = Instant::now() + OPEN_RETRY;
        loop {
            let left = retry_at.saturating_duration_since(Instant::now());
            let command = match inbox.recv_timeout(left) {
                Ok(command) => command,
                Err(std_mpsc::RecvTimeoutError::Timeout) => break,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    tally.lost(waiting.len() as u64);
                    return Opened::Stopped(None);
                }
            };
            match command {
                Command::New(deliveries) => waiting.extend(deliveries),
                Command::Stop(reply) => {
                    let behind = inbox.try_iter().map(|c| if let Command::New(d) = c { d.len() } else { 0 });
                    tally.lost((waiting.len() + behind.sum::<usize>()) as u64);
                    return Opened::Stopped(Some(reply));
                }
                Command::List(_, reply) => drop(reply.send(Err(error.to_string()))),
                Command::Get(_, reply) => drop(reply.send(Err(error.to_string()))),
                Command::Cancel(_, _, reply) => drop(reply.send(Err(error.to_string()))),
                Command::Claim(Some(reply)) => drop(reply.send(0)),
                // Nothing is due in a spool that is not there; what waits in memory is pending.
                Command::NextDue(reply) => drop(reply.send((!waiting.is_empty()).then(unix_millis))),
                // The HTTP side has nothing to report before the spool opens: it only ever has
                // what this thread handed it.
                Command::Claim(None)
                | Command::Finished { .. }
                | Command::CutOff { .. }
                | Command::Withdrawn(_)
                | Command::Exiting => {}
            }
        }
    }
}

impl SpoolWorker {
    /// A worker for tests to drive by hand, on the spool open_spool opens at once.
    #[cfg(test)]
    pub(super) fn new(
        config: EngineConfig,
        owner: String,
        tally: Arc<Tally>,
        to_http: mpsc::UnboundedSender<Delivery>,
        withdrawn: Arc<Withdrawn>,
    ) -> SpoolWorker {
        let (_commands, inbox) = std_mpsc::channel();
        match open_spool(config.spool_path.as_deref(), &owner, &tally, &inbox) {
            Opened::Spool(spool, _) => SpoolWorker::with_spool(spool, config, tally, to_http, withdrawn),
            Opened::Stopped(_) => unreachable!("the tests' spools open at once"),
        }
    }

    /// The spool thread: opens the spool, writes what was dispatched meanwhile, then runs.
    pub(super) fn start(
        config: EngineConfig,
        owner: String,
        tally: Arc<Tally>,
        to_http: mpsc::UnboundedSender<Delivery>,
        withdrawn: Arc<Withdrawn>,
        inbox: std_mpsc::Receiver<Command>,
    ) {
        match open_spool(config.spool_path.as_deref(), &owner, &tally, &inbox) {
            Opened::Spool(spool, waiting) => {
                let mut worker = SpoolWorker::with_spool(spool, config, tally, to_http, withdrawn);
                worker.insert_new(waiting);
                worker.run(inbox);
            }
            Opened::Stopped(reply) => {
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
        }
    }

    fn with_spool(
        spool: Spool,
        config: EngineConfig,
        tally: Arc<Tally>,
        to_http: mpsc::UnboundedSender<Delivery>,
        withdrawn: Arc<Withdrawn>,
    ) -> SpoolWorker {
        tally.set_spool_location(spool.location().to_string(), spool.is_in_memory());
        // Not before the first commands: a spool busy with another process would delay them.
        let next_prune = unix_millis() + 1_000;
        SpoolWorker {
            spool,
            config,
            tally,
            to_http,
            held: Held::default(),
            next_renewal: Instant::now(),
            withdrawn,
            not_to_send: HashSet::new(),
            reclaimed: HashSet::new(),
            exiting: false,
            resumed: false,
            let_go_unsent: Vec::new(),
            next_cancel_check: Instant::now(),
            bytes_in_memory: 0,
            reserved: VecDeque::new(),
            unwritten: Vec::new(),
            unwritten_bytes: 0,
            unwritten_part: INSERT_BATCH,
            short_of_room_until: None,
            outcomes: Vec::new(),
            outcomes_part: usize::MAX,
            outcomes_due: None,
            outcomes_retry_at: None,
            next_claim: 0,
            taken_up_unreported: 0,
            next_prune,
            next_move_check: Instant::now() + CLAIM_INTERVAL,
            move_refused: false,
            next_file_retry: Instant::now() + FILE_RETRY,
        }
    }

    pub(super) fn run(mut self, inbox: std_mpsc::Receiver<Command>) {
        loop {
            if Instant::now() >= self.next_move_check {
                self.follow_moved_spool();
            }
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
                self.taken_up_unreported += self.claim(now);
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
            wait = wait.min(self.next_move_check.saturating_duration_since(Instant::now()));
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
                Command::CutOff { delivery, started_at } => self.cut_off(*delivery, started_at),
                Command::Withdrawn(delivery) => self.not_started(*delivery),
                Command::Claim(reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    let claimed = self.claim(unix_millis());
                    match reply {
                        Some(reply) => {
                            self.resumed = true;
                            let _ = reply.send(claimed + std::mem::take(&mut self.taken_up_unreported));
                        }
                        None => self.taken_up_unreported += claimed,
                    }
                }
                Command::NextDue(reply) => {
                    self.insert_new(std::mem::take(&mut new));
                    self.record_outcomes();
                    let now = unix_millis();
                    // A spool that cannot answer may hold due retries: "due now" keeps flush()
                    // asking until they go out or its deadline passes (false), never "none".
                    let next_due = if !self.reserved.is_empty() {
                        Some(now)
                    } else if self.exiting {
                        None
                    } else {
                        self.spool.next_due(now).unwrap_or(Some(now))
                    };
                    let _ = reply.send(next_due);
                }
                Command::Exiting => self.exit_begins(),
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
    pub(super) fn insert_new(&mut self, deliveries: Vec<Delivery>) {
        let bytes = inbox_bytes(&deliveries);
        if !self.unwritten.is_empty() && !deliveries.is_empty() {
            // Behind those refused before, in the order they came.
            self.unwritten.extend(deliveries);
            self.unwritten_bytes += bytes;
            self.write_unwritten();
        } else if self.insert(deliveries) {
            self.tally.inbox_done(bytes);
        } else {
            self.unwritten_bytes += bytes;
        }
    }

    /// Writes again what the spool refused before, oldest first, `unwritten_part` at a time.
    pub(super) fn write_unwritten(&mut self) {
        while !self.unwritten.is_empty() {
            let count = self.unwritten_part.min(self.unwritten.len());
            let rest = self.unwritten.split_off(count);
            let part = std::mem::replace(&mut self.unwritten, rest);
            let bytes = inbox_bytes_leaving(&part, &self.unwritten);
            if !self.insert(part) {
                // insert() put it last: first again.
                self.unwritten.rotate_right(count);
                return;
            }
            let done = if self.unwritten.is_empty() { self.unwritten_bytes } else { bytes.min(self.unwritten_bytes) };
            self.unwritten_bytes -= done;
            self.tally.inbox_done(done);
            self.wrote_backlog_part();
        }
    }

    /// Cancels a feed's pending deliveries. Some not yet written (the spool refused them) would
    /// be written and sent after the cancel: it fails instead, and can be asked again.
    pub(super) fn cancel(&mut self, feed_id: &str, reason: &str) -> Result<usize, String> {
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
    pub(super) fn insert(&mut self, deliveries: Vec<Delivery>) -> bool {
        if deliveries.is_empty() {
            return true;
        }
        let now = unix_millis();
        let mut rows = Vec::with_capacity(deliveries.len());
        let mut places = Vec::with_capacity(deliveries.len());
        let (mut slots, mut budget, mut reserved) = (self.in_memory(), self.bytes_in_memory, self.reserved.len());
        let mut past_cap = HashMap::new();
        for mut delivery in deliveries {
            // Queued by this process, under its policy.
            delivery.network.get_or_insert_with(|| self.config.client.network.to_string().into());
            let fits_memory = budget + delivery.size() <= self.config.memory_limit || budget == 0;
            let place =
                if fits_memory && (slots < self.capacity() || self.room_past_cap(slots, &delivery, &mut past_cap)) {
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
            self.refused(&e);
            self.unwritten.extend(rows.into_iter().map(|(d, _)| d));
            self.next_claim = self.next_claim.min(unix_millis() + 500);
            return false;
        }
        self.wrote();
        self.tally.set_spool_error(None);
        self.tally.spooled(rows.len() as u64);
        for ((delivery, _), place) in rows.into_iter().zip(places) {
            match place {
                Place::Send(_) => self.send(delivery, Origin::Dispatched),
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

    fn send(&mut self, delivery: Delivery, origin: Origin) {
        if !self.holds_claims() {
            // Its claim was made just now.
            self.next_renewal = Instant::now() + self.renewal_interval();
        }
        self.bytes_in_memory += delivery.size();
        self.held.insert(delivery.id.clone(), endpoint_queues::endpoint(&delivery.request.url), origin);
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
    pub(super) fn claim(&mut self, now: u64) -> usize {
        self.next_claim = now + CLAIM_INTERVAL.as_millis() as u64;
        if self.exiting {
            self.release_let_go(now);
            return self.take_reserved(now);
        }
        let share = self.capacity().saturating_sub(self.in_memory()).div_ceil(4);
        let due = self.claim_due(now, share);
        let reserved = self.take_reserved(now);
        // Fewer than its share: nothing more is due.
        due + reserved + if due == share { self.claim_due(now, usize::MAX) } else { 0 }
    }

    /// Gives up the claims of what was let go at exit and passed back unsent (see
    /// `let_go_unsent`); tried again at the next claim when the spool refuses, and the stop
    /// gives up every claim in any case.
    fn release_let_go(&mut self, now: u64) {
        if self.let_go_unsent.is_empty() {
            return;
        }
        if self.spool.release_claims_of(self.let_go_unsent.iter().map(String::as_str), now).is_ok() {
            self.let_go_unsent.clear();
        }
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
                    self.send(delivery, Origin::Dispatched);
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
            self.send(delivery, Origin::TakenUp);
        }
        count
    }

    /// Queues an attempt's outcome; [`Self::record_outcomes`] writes them together.
    pub(super) fn finished(&mut self, delivery: Delivery, outcome: Outcome, started_at: u64, excerpt: Vec<u8>) {
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
        let record = AttemptRecord {
            id: delivery.id.clone(),
            attempt: Some(attempt_made(&outcome, started_at)),
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

    /// An attempt the process's exit cut off: recorded as an attempt without an answer, whose
    /// retry waits as the schedule says (see http_loop's InFlight). It stays pending whatever
    /// the schedule: the process left, the endpoint did not fail, and the next process goes
    /// on with it (at once when the schedule has no wait left).
    pub(super) fn cut_off(&mut self, delivery: Delivery, started_at: u64) {
        let now = unix_millis();
        let outcome = Outcome::no_answer(
            "no answer: the process exited while the attempt was under way".into(),
            Duration::from_millis(now.saturating_sub(started_at)),
        );
        let jitter = fastrand::f64() * 2.0 - 1.0;
        let wait = match self.config.retry.after(delivery.attempts as usize + 1, &outcome, jitter) {
            Next::RetryIn(wait) => wait,
            _ => Duration::ZERO,
        };
        let record = AttemptRecord {
            id: delivery.id.clone(),
            attempt: Some(attempt_made(&outcome, started_at)),
            status: Status::Pending,
            next_attempt_at: Some(now + wait.as_millis() as u64),
            response_excerpt: Vec::new(),
            attempts_at_most: None,
            retry_at_by_count: Vec::new(),
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
        if self.not_to_send.contains(id) {
            if self.withdrawn.take(id) {
                self.not_to_send.remove(id);
            } else {
                self.reclaimed.insert(id.to_string());
            }
            return true;
        }
        self.held.contains(id) || outcome_ids.contains(id)
    }

    /// Ends a delivery withdrawn before its attempt started. One let go (its claim lost: another
    /// process's now; or let go at exit) leaves this one without an outcome, unless this process
    /// claimed it back meanwhile, when it is sent (or, canceled since, ends as canceled). One
    /// canceled ends failed, with its cancellation as the last entry and no attempt.
    pub(super) fn not_started(&mut self, delivery: Delivery) {
        if self.not_to_send.remove(&delivery.id) {
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
                    self.send(delivery, Origin::TakenUp);
                } else if self.exiting {
                    // Let go at exit, its claim still this process's: kept until the stop,
                    // no process sent it while this one waited for its own deliveries.
                    self.let_go_unsent.push(delivery.id);
                    self.next_claim = 0;
                }
                return;
            }
        }
        let record = AttemptRecord::withdrawn(delivery.id.clone());
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
        self.not_to_send.remove(&delivery.id);
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
    pub(super) fn withdraw_canceled_and_lost(&mut self) {
        if !self.held.is_empty() {
            match self.spool.look_among(self.held.ids()) {
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
    pub(super) fn renew_claims(&mut self) {
        let lease_until = self.lease_until(unix_millis());
        let ids = self.held.ids().chain(self.outcomes.iter().map(|(d, _, _)| d.id.as_str()));
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
    /// them, or another's answer ended them.
    fn claims_lost(&mut self, lost: Vec<String>) {
        let newly_lost = self.let_go(lost);
        if newly_lost > 0 {
            self.tally.warn(format!(
                "{newly_lost} deliveries held in memory are no longer this process's: their claims ran out while the \
                 spool thread was held up, and another process took them over or ended them; those not started \
                 are not sent from this one"
            ));
        }
    }

    /// The process is exiting (runtime::shutdown waits for what it holds): it takes up nothing
    /// more from the spool but its own reserve, and lets go of what it took up there and has
    /// not started, so that its exit waits for its own deliveries and the attempts under way,
    /// not for a backlog other processes left. A php-fpm worker recycled while a backlog was
    /// due to a slow endpoint spent its whole shutdown_timeout sending it (SpoolTest). Those
    /// let go keep this process's claim until the sender passes them back unsent (it may be
    /// starting one just now); then their claims are given up (Self::release_let_go), due at
    /// once for other processes while this one still waits. Not for a process asked to send
    /// what is due (a cron job's resume() without flush()), nor with a spool in memory, which
    /// no other process would send from: those go on as before, within the same wait.
    pub(super) fn exit_begins(&mut self) {
        if self.resumed || self.spool.is_in_memory() {
            return;
        }
        self.exiting = true;
        let taken_up = self.held.taken_up().map(str::to_string).collect();
        self.let_go(taken_up);
    }

    /// Held deliveries not to send from this process: withdrawn, and ended here without an
    /// outcome when the sender passes them back unsent (Self::not_started). One let go before is
    /// listed already, or passed back by the sender: a second entry would outlive it and
    /// withdraw the next copy claimed. Returns how many were let go now.
    fn let_go(&mut self, ids: Vec<String>) -> usize {
        let mut newly = Vec::new();
        for id in ids.into_iter().filter(|id| self.held.contains(id)) {
            // Claimed back after the sender passed it back, and let go again: not sent when
            // it arrives.
            self.reclaimed.remove(&id);
            if self.not_to_send.insert(id.clone()) {
                newly.push(id);
            }
        }
        let count = newly.len();
        self.withdrawn.add(newly);
        count
    }

    fn outcomes_are_due(&self) -> bool {
        self.outcomes_due.is_some_and(|due| Instant::now() >= due)
    }

    /// Writes the queued outcomes in one transaction (in parts once the disk was found full,
    /// see `outcomes_part`), then settles them: a delivery leaves the in-flight count only
    /// once its outcome is on disk. Outcomes the spool refuses stay queued, and with them the
    /// deliveries' memory, until a later try writes them: flush() waits for them, and their
    /// rows stay claimed by this process, which sends them again only if it dies first (at
    /// least once, as after a crash).
    pub(super) fn record_outcomes(&mut self) {
        if self.outcomes.is_empty() || self.outcomes_retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        // `outcomes_part` at a time, oldest first, as the backlog (see Self::write_unwritten).
        while !self.outcomes.is_empty() {
            let count = self.outcomes_part.min(self.outcomes.len());
            let records: Vec<AttemptRecord> =
                self.outcomes[..count].iter().map(|(_, _, record)| record.clone()).collect();
            let written = match self.spool.record_attempts(&records) {
                Ok(written) => written,
                Err(e) => {
                    self.tally.warn(format!(
                        "cannot record attempts in the spool {}: {e}; trying again",
                        self.spool.location()
                    ));
                    self.refused(&e);
                    if spool::is_full(&e) {
                        self.outcomes_part = (count / 2).max(1);
                    }
                    self.outcomes_retry_at = Some(Instant::now() + OUTCOME_RETRY);
                    return;
                }
            };
            self.wrote();
            self.outcomes_part = self.outcomes_part.saturating_mul(2);
            let outcomes: Vec<_> = self.outcomes.drain(..count).collect();
            self.settle(outcomes, written);
        }
        self.outcomes_due = None;
        self.outcomes_retry_at = None;
        // Slots are free: take up what waits.
        self.next_claim = self.next_claim.min(unix_millis());
    }

    /// Settles the deliveries whose outcomes were written, each with the status its row took.
    fn settle(&mut self, outcomes: Vec<(Delivery, Outcome, AttemptRecord)>, written: Vec<Option<Status>>) {
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
    pub(super) fn stop(mut self, inbox: &std_mpsc::Receiver<Command>) {
        // Whenever it was last tried: in memory, what this process has is lost at its exit.
        self.next_file_retry = Instant::now();
        self.follow_moved_spool();
        let mut unwritten = std::mem::take(&mut self.unwritten);
        while let Ok(command) = inbox.try_recv() {
            match command {
                Command::New(deliveries) => unwritten.extend(deliveries),
                Command::Finished { delivery, outcome, started_at, excerpt } => {
                    self.finished(*delivery, outcome, started_at, excerpt)
                }
                Command::CutOff { delivery, started_at } => self.cut_off(*delivery, started_at),
                Command::Withdrawn(delivery) => self.not_started(*delivery),
                _ => {}
            }
        }
        // Let go (at exit, or their claims lost) and never passed back: the runtime's stop
        // dropped them with the HTTP side's queue. Not this process's: the exit does not count
        // them as its own deliveries left unsent.
        let let_go = self.held.ids().filter(|id| self.not_to_send.contains(*id)).count();
        self.tally.set_let_go_unsent(let_go as u64);
        // In parts, as the backlog below: tried again while a full disk has the part halved.
        loop {
            let (left, part) = (self.outcomes.len(), self.outcomes_part);
            self.outcomes_retry_at = None;
            self.record_outcomes();
            if self.outcomes.is_empty() || (self.outcomes.len() == left && self.outcomes_part == part) {
                break;
            }
        }
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
        // In parts, as in the run: what there is room for is not lost.
        let mut rows: Vec<_> = unwritten.into_iter().map(|d| (d, None)).collect();
        while !rows.is_empty() {
            let count = self.unwritten_part.min(rows.len());
            match self.spool.insert(&rows[..count]) {
                Ok(()) => {
                    rows.drain(..count);
                    self.wrote_backlog_part();
                    self.wrote();
                }
                Err(e) if spool::is_full(&e) && count > 1 => self.refused(&e),
                Err(_) => break,
            }
        }
        if !rows.is_empty() {
            self.tally.lost(rows.len() as u64);
        }
        if self.spool.is_in_memory() {
            self.tally.lost(self.spool.pending_count().unwrap_or(0));
        } else if self.spool.has_moved() {
            // Left in a file no process will open again.
            let pending = self.spool.pending_count().unwrap_or(0);
            if pending > 0 {
                self.tally.warn(format!(
                    "the spool {} was deleted or replaced while this process ran, and its {pending} pending deliveries \
                     could not be moved to a spool there: they are lost",
                    self.spool.location()
                ));
                self.tally.lost(pending);
            }
        }
        let _ = self.spool.release_claims(unix_millis());
        if !self.spool.is_in_memory() && !self.spool.has_moved() {
            self.tell_what_is_due_and_left();
        }
    }

    /// Says, once its claims are given up, how many deliveries due now wait in the spool for
    /// the next process. The exit line counts only what was in memory: a script that
    /// dispatched 40 past an 8 KB cap and ended 0.3 s later told of its one attempt cut off,
    /// and nothing of the 39 it had parked on disk, as much its own and as unsent.
    fn tell_what_is_due_and_left(&mut self) {
        let Ok(due) = self.spool.unheld_due_count(unix_millis()) else { return };
        if due > 0 {
            self.tally.warn(format!(
                "in all, {due} deliveries due now wait in the spool {} for the next process (those in memory at exit, \
                 those parked on disk past the memory cap or the request slots, and those other processes left)",
                self.spool.location()
            ));
        }
    }

    /// A spool file deleted, renamed or replaced while this process runs (by an operator, a
    /// cleanup of its directory) is still the file SQLite writes to, and no other process will
    /// open it again: deliveries pending there (retries, a backlog, those this process holds)
    /// would end with this process without a trace. Once a second, and at stop, the file at the
    /// path is checked; when it is another, a spool is opened there (made anew when missing)
    /// and every row this one has that it lacks is copied in, claims kept, before this process
    /// goes on with it. A path that cannot be opened (a directory, a file that is not a spool)
    /// is told once, and this process goes on with the file it has. A spool in memory standing
    /// in for the file goes to it as Self::return_to_the_file says.
    pub(super) fn follow_moved_spool(&mut self) {
        self.next_move_check = Instant::now() + CLAIM_INTERVAL;
        let Some(path) = self.config.spool_path.clone() else { return };
        if self.spool.is_in_memory() {
            if Instant::now() >= self.next_file_retry {
                self.return_to_the_file(&path);
            }
            return;
        }
        if !self.spool.has_moved() {
            self.move_refused = false;
            return;
        }
        match self.move_to(&path, spool::BUSY_WAIT) {
            Ok((rows, pending)) => {
                self.tally.warn(format!(
                    "the spool {} was deleted or replaced while this process ran: {rows} deliveries ({pending} \
                     pending) were moved from the file it had open into the spool now there",
                    path.display()
                ));
                self.move_refused = false;
            }
            Err(e) if !self.move_refused => {
                self.move_refused = true;
                self.tally.warn(format!(
                    "the spool {} was deleted or replaced while this process ran, and cannot be opened again ({e}); \
                     this process goes on with the file it has open, which no other process sees",
                    path.display()
                ));
            }
            Err(_) => {}
        }
    }

    /// A spool in memory stands in for the file at `path`, which could not be opened when this
    /// process started (another process's write lock held past the busy wait, a full disk, a
    /// directory not yet writable): every FILE_RETRY, and at stop, the file is tried again, and
    /// once it opens, what the spool in memory has is moved there. Left in memory, deliveries
    /// waiting for a retry ended with the process (an FPM worker's, however long it lived).
    /// Another process's write lock is waited for FILE_RETRY_LOCK_WAIT at most: the spool
    /// thread answers no one meanwhile, and the file is tried again in a minute (at stop, the
    /// PHP thread waits for it within its own limit).
    fn return_to_the_file(&mut self, path: &std::path::Path) {
        self.next_file_retry = Instant::now() + FILE_RETRY;
        match self.move_to(path, FILE_RETRY_LOCK_WAIT) {
            Ok((rows, pending)) => {
                self.tally.set_spool_location(path.display().to_string(), false);
                self.tally.warn(format!(
                    "the spool {} could be opened after all: {rows} deliveries ({pending} pending) were moved into it \
                     from memory, and this process goes on with it",
                    path.display()
                ));
                self.move_refused = false;
            }
            Err(e) if !self.move_refused => {
                self.move_refused = true;
                self.tally.warn(format!(
                    "the spool {} still cannot be opened ({e}); deliveries stay in memory, and it is tried again \
                     every minute and as the process exits",
                    path.display()
                ));
            }
            Err(_) => {}
        }
    }

    /// Opens the spool at `path`, copies into it every row this one has that it lacks, and
    /// goes on with it; returns how many rows, and how many of them are pending.
    fn move_to(&mut self, path: &std::path::Path, lock_wait: Duration) -> Result<(usize, usize), String> {
        let fresh = Spool::open(path, self.spool.owner())?;
        // The open may have waited (another process's lock) past what this process holds:
        // copied with claims run out, any other process could take a delivery under way here.
        if self.holds_claims() {
            self.renew_claims();
        }
        let moved = self.spool.move_rows_into(path, lock_wait).map_err(|e| e.to_string())?;
        self.spool = fresh;
        Ok(moved)
    }

    /// After a write the spool refused. A full disk: the next part of `unwritten` is half as
    /// long, and the WAL gives back the room it took, now and after every write of deliveries
    /// or outcomes until SHORT_OF_ROOM has passed. Given back only now, it grew again into the
    /// room freed (it is copied into the file every 4 MB) until the disk was full once more,
    /// with pages the file then had no room to take: on a 2 MB disk with 1.6 MB freed, 511 of
    /// 1,460 deliveries of 200 B were written, and 151 of their outcomes; this way all are.
    fn refused(&mut self, e: &rusqlite::Error) {
        if spool::is_full(e) {
            self.unwritten_part = (self.unwritten_part / 2).max(1);
            self.short_of_room_until = Some(Instant::now() + SHORT_OF_ROOM);
            self.spool.give_back_wal();
        }
    }

    /// After a part of the backlog was written: the next may be twice as long. Only then:
    /// doubled by every write, outcomes written between two tries put it back to the size
    /// the disk had just refused, try after try, and room for a smaller part went unused.
    fn wrote_backlog_part(&mut self) {
        self.unwritten_part = (self.unwritten_part * 2).min(INSERT_BATCH);
    }

    /// After a write the spool took.
    fn wrote(&mut self) {
        if let Some(until) = self.short_of_room_until {
            if Instant::now() < until {
                self.spool.give_back_wal();
            } else {
                self.short_of_room_until = None;
            }
        }
    }

    #[cfg(test)]
    pub(super) fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Deliveries handed to the HTTP side and not finished.
    pub(super) fn in_memory(&self) -> usize {
        self.held.len()
    }

    /// Deliveries held for sending at most (in flight, or queued for a request slot); those
    /// whose attempt ended wait apart for their outcome to be written, counted in bytes only.
    fn capacity(&self) -> usize {
        self.config.max_concurrency.max(1) * HELD_PER_SLOT
    }

    /// Past the count cap, a delivery to an endpoint that holds fewer than one per request slot
    /// still goes to the HTTP side, up to half the cap more in all. There it takes turns with
    /// the endpoint that fills the cap (super::endpoint_queues), where on disk it would wait
    /// behind that one's backlog, read back in the order it came: an endpoint that hangs would
    /// hold up every other feed's new deliveries for a timeout per round of its own.
    /// `past_cap` counts those let through in this batch, by endpoint.
    fn room_past_cap(&self, slots: usize, delivery: &Delivery, past_cap: &mut HashMap<String, usize>) -> bool {
        if slots >= self.capacity() + self.capacity() / 2 {
            return false;
        }
        let endpoint = endpoint_queues::endpoint(&delivery.request.url);
        let this_batch = past_cap.get(endpoint).copied().unwrap_or(0);
        if self.held.for_endpoint(endpoint) + this_batch >= self.config.max_concurrency.max(1) {
            return false;
        }
        *past_cap.entry(endpoint.to_string()).or_default() += 1;
        true
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

    /// Reserved deliveries kept at most (see RESERVED_ENTRY_BYTES).
    fn reserved_limit(&self) -> usize {
        (self.config.memory_limit / 4 / RESERVED_ENTRY_BYTES).max(RESERVED_LEAST)
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

/// The log's entry for an attempt started at `started_at` that came to `outcome`.
fn attempt_made(outcome: &Outcome, started_at: u64) -> Attempt {
    Attempt {
        at: started_at,
        status_code: outcome.status(),
        error: outcome.error().map(str::to_string),
        duration_ms: outcome.duration().as_millis() as u64,
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

/// Time between two looks for cancels, for `held` deliveries held (see CANCEL_CHECK). It does
/// not depend on how long a look took: a look that waited (for a lock, a fork, the disk) must
/// not put off the next.
fn cancel_check_interval(held: usize) -> Duration {
    let spaced = held.div_ceil(CANCEL_CHECK_IDS).max(1) as u32;
    (CANCEL_CHECK * spaced).min(CANCEL_CHECK_LONGEST)
}

/// The bytes `part` counts in the tally's inbox once written while `rest` still waits. A body
/// that feeds of one dispatch() share counts once (see inbox_bytes), and leaves with the last
/// of them: given back with the first part written, it left the deliveries behind uncounted
/// (feeds sharing a 64 KB body, written one by one, hid 128 KB of a 2 MB delivery after them).
fn inbox_bytes_leaving(part: &[Delivery], rest: &[Delivery]) -> u64 {
    let in_part: HashSet<*const u8> = part.iter().map(|d| d.request.body.as_ptr()).collect();
    let mut staying = HashSet::new();
    let mut still_shared = 0;
    for body in rest.iter().map(|d| &d.request.body) {
        if in_part.contains(&body.as_ptr()) && staying.insert(body.as_ptr()) {
            still_shared += body.len() as u64;
        }
    }
    inbox_bytes(part).saturating_sub(still_shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_checks_depend_on_what_is_held_and_come_every_2_s_at_least() {
        assert_eq!(cancel_check_interval(0), CANCEL_CHECK);
        assert_eq!(cancel_check_interval(32 * HELD_PER_SLOT), CANCEL_CHECK, "the default: 32 slots");
        assert_eq!(cancel_check_interval(CANCEL_CHECK_IDS), CANCEL_CHECK);
        assert_eq!(cancel_check_interval(CANCEL_CHECK_IDS + 1), CANCEL_CHECK * 2);
        assert_eq!(cancel_check_interval(40_000), CANCEL_CHECK_LONGEST, "max_concurrency 625");
    }
}
