//! The durable spool: every delivery and every attempt, in one SQLite database that all PHP
//! processes of a host share (php-fpm workers, CLI, cron).
//!
//! - WAL mode: readers never block the one writer; `busy_timeout` waits out other writers.
//! - A process sends only rows it has *claimed*: `lease_owner` is its owner id and
//!   `lease_until` a time after which, should it die, any other process may take the row
//!   over. New deliveries are inserted already claimed by the process that dispatched them.
//!   A claimed row's `next_attempt_at` is its `lease_until`: it is not due for anyone else
//!   before then, and the walk of `outbox_due` that finds due rows never steps over the
//!   rows that processes hold (it did, once per claim, for every held row).
//! - Statuses: `pending` (queued, in flight or waiting for a retry), `delivered`, `failed`,
//!   `gone` (410). Only `pending` rows are ever claimed, so a delivery answered 2xx is not
//!   sent again.
//! - A signing feed's secret is stored with its deliveries (retries are signed anew); the log
//!   never returns it.
//! - The file and its directory are made group-writable, so that CLI runs (root or the site's
//!   user) and php-fpm workers (www-data) can share it, and closed to other users (rows hold
//!   secrets); SQLite gives the -wal and -shm files the database file's permissions.

mod checkpointer;

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row};

use self::checkpointer::Checkpointer;
use crate::delivery::Delivery;
use crate::memory;
use crate::process;
use crate::request::WebhookRequest;
use crate::settings::Method;
use crate::signature::Secret;

/// Bytes of a response kept in the log.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// Pages of a new spool file. A body (about 4 KB) filled a 4 KB page on its own; with 16 KB
/// pages, several share one, so SQLite writes fewer WAL frames and makes fewer system calls:
/// `examples/spool_bound` measured 19.8 µs of CPU per delivery with 4 KB pages, 14.7 µs with 16
/// KB, and no gain past that.
const PAGE_SIZE: i64 = 16_384;
/// WAL bytes written between two checkpoints, whatever the file's page size.
const CHECKPOINT_BYTES: i64 = 4 << 20;

/// The spool's layout version (`PRAGMA user_version`), for the next change of layout to test.
const LAYOUT_VERSION: i64 = 3;

// `outbox` replaces the `deliveries` table of earlier builds, which kept each body in its row.
// Its rows keep the body in `bodies` instead, so it has a new name: an earlier build sharing
// (or rolled back onto) this spool never sees a row without its body, which it would send
// empty. Rows an earlier build left in `deliveries` are moved here when a spool is opened.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    feed_id TEXT,
    feed_name TEXT NOT NULL,
    event TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts TEXT NOT NULL DEFAULT '[]',
    attempt_count INTEGER NOT NULL DEFAULT 0,
    response_excerpt BLOB,
    created_at INTEGER NOT NULL,
    next_attempt_at INTEGER,
    lease_owner TEXT,
    lease_until INTEGER,
    secret TEXT,
    body_id INTEGER NOT NULL,
    -- Why a pending delivery held by some process was canceled: its attempt under way ends
    -- it, instead of scheduling a retry.
    canceled TEXT,
    -- The fluent_webhook.allowed_networks it was queued under (Delivery::network).
    network TEXT
);
-- Bodies apart from the rows that change: an attempt, a claim or a status rewrites a small
-- row, not the body (SQLite rewrites a whole row on UPDATE, overflow pages included). An
-- explicit INTEGER PRIMARY KEY: VACUUM may renumber implicit rowids, and a row must never get
-- another delivery's body.
CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
";

/// Indexes of some statuses only. `outbox_due` and `outbox_leased` hold pending rows: a
/// delivery leaves them when it ends instead of moving within them, and they stay as small as
/// the queue (`spool_bound`: 16.6-19.0 µs of CPU per delivery with them over every row,
/// 15.1-15.3 µs with these). `status` stays their first column, so that an earlier build
/// sharing the spool finds the index it names (`INDEXED BY`) usable. The log's filter on a
/// rare status (`failed`, `gone`) has its own, which a delivered row never enters; `delivered`
/// and `pending` rows are found walking `outbox_created` from the newest. Spools made before
/// layout 3 have the first two over every row, and get these when opened.
const PARTIAL_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_leased ON outbox (status, lease_until) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_failed ON outbox (created_at) WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS outbox_gone ON outbox (created_at) WHERE status = 'gone';
";
/// The location of a spool in memory: SQLite's name for such a database.
pub const IN_MEMORY: &str = ":memory:";
/// How long a statement waits for another process's write.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);
/// How long opening a spool waits for another process making PARTIAL_INDEXES: one pass over
/// every row, about 2 s per million. Past SQLite's usual 5 s wait, a process would fall back
/// to a spool in memory for its whole life.
const INDEXING_WAIT: Duration = Duration::from_secs(120);

/// What take_reserved read: deliveries to send as they are, those whose claim is to be renewed
/// first (with the claim they were written with), and those to end (id, log entry, claim).
struct ReadBack {
    ready: Vec<Delivery>,
    renew: Vec<(Delivery, u64)>,
    end: Vec<(String, String, u64)>,
}

/// The log entry (JSON) of a delivery ended because its body is gone from the spool.
fn lost_body(now: u64) -> String {
    entry_without_attempt(now, "not sent: the spool has lost this delivery's body".into())
}

/// A log entry (JSON) that ends a delivery with no request made: `error` says why.
fn entry_without_attempt(now: u64, error: String) -> String {
    let entry = Attempt { at: now, status_code: None, error: Some(error), duration_ms: 0 };
    serde_json::to_string(&entry).unwrap_or_default()
}

/// SQL that ends the deliveries matching `condition` as failed without an attempt, `entry`
/// (JSON) the log's reason, and lets go of their claims.
fn end_without_attempt(entry: &str, condition: &str) -> String {
    format!(
        "UPDATE outbox SET status = 'failed', attempts = {},
                lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL
         WHERE {condition}",
        with_attempt(entry)
    )
}

/// SQL for the `attempts` list with the attempt in `param` (JSON) appended. A list that is not
/// valid JSON (edited by hand, say) is started anew rather than failing the statement, and
/// with it the whole batch of outcomes. The first attempt, the usual case, is written without
/// parsing JSON (`spool_bound`: 15.2-15.6 -> 14.1-14.4 µs per delivery).
fn with_attempt(param: &str) -> String {
    format!(
        "CASE WHEN attempts = '[]' THEN '[' || {param} || ']'
              WHEN json_valid(attempts) THEN json_insert(attempts, '$[#]', json({param}))
              ELSE json_array(json({param})) END"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Delivered,
    Failed,
    Gone,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Gone => "gone",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [Status::Pending, Status::Delivered, Status::Failed, Status::Gone].into_iter().find(|s| s.as_str() == text)
    }
}

/// One attempt, as the log shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// Unix milliseconds when it started.
    pub at: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// An attempt to record, and what the delivery is after it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub id: String,
    /// `None`: no request was made. The delivery was withdrawn before its attempt started,
    /// because a cancel marked it while this process held it; it ends failed, with that
    /// cancellation as its last entry (`status` is then `Failed`).
    pub attempt: Option<Attempt>,
    pub status: Status,
    pub next_attempt_at: Option<u64>,
    pub response_excerpt: Vec<u8>,
    /// The retry policy's attempts at most: a retry of a row that has had them all (some made
    /// by other processes while they held it) ends failed instead.
    pub attempts_at_most: Option<u32>,
    /// For a retry: its time by the row's own count of attempts, entry `n` for a row that had
    /// `n` before this one. The copy this process sent may predate attempts other processes
    /// made while they held the row; without these, its retry would come after the wait of
    /// an earlier attempt. Empty: `next_attempt_at`, whatever the count.
    pub retry_at_by_count: Vec<u64>,
}

impl AttemptRecord {
    /// A held delivery withdrawn before its attempt started: it ends failed (see `attempt`).
    pub fn withdrawn(id: String) -> AttemptRecord {
        AttemptRecord {
            id,
            attempt: None,
            status: Status::Failed,
            next_attempt_at: None,
            response_excerpt: Vec::new(),
            attempts_at_most: None,
            retry_at_by_count: Vec::new(),
        }
    }
}

/// What [`Spool::look_among`] found among the deliveries a process holds.
#[derive(Debug, Default, PartialEq)]
pub struct HeldRows {
    pub canceled: Vec<String>,
    pub lost: Vec<String>,
}

/// A row of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub delivery: Delivery,
    pub status: Status,
    pub attempts: Vec<Attempt>,
    pub response_excerpt: Vec<u8>,
    pub next_attempt_at: Option<u64>,
}

/// `deliveries()` filters; all optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub feed_id: Option<String>,
    /// Without FluentCart's `fluent_cart/` prefix; rows dispatched with it match too.
    pub event: Option<String>,
    pub status: Option<Status>,
    /// Unix milliseconds; rows created at or after.
    pub since: Option<u64>,
    pub limit: usize,
}

/// Whether a write failed for want of room: a full disk (or a file at its largest, SQLite's
/// `max_page_count`).
pub fn is_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DiskFull)
}

/// Every method that reaches SQLite does it inside an SQLite section (crate::process), one
/// call at a time: a fork waits for at most one of them.
pub struct Spool {
    /// Closed by Drop, inside an SQLite section.
    conn: ManuallyDrop<Connection>,
    location: String,
    owner: String,
    checkpointer: Option<Checkpointer>,
}

/// The columns of `outbox` a row keeps when it moves to another spool file, all but its
/// body's id (renumbered there); a test keeps the list in step with SCHEMA.
const OUTBOX_COLUMNS_BUT_BODY: &str = "id, feed_id, feed_name, event, method, url, headers, status, attempts, \
     attempt_count, response_excerpt, created_at, next_attempt_at, lease_owner, lease_until, secret, canceled, network";

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(checkpointer) = self.checkpointer.take() {
            checkpointer.stop(&mut self.conn);
        }
        let _inside = process::sqlite_section();
        // SAFETY: dropped once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.conn) };
    }
}

impl Spool {
    /// Opens (creating if needed) the spool at `path`.
    pub fn open(path: &Path, owner: &str) -> Result<Spool, String> {
        let _inside = process::sqlite_section();
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                create_shared_dir(dir).map_err(|e| fail("cannot create the directory of", &e))?;
            }
        }
        let existed = path.exists();
        let conn = Connection::open(path).map_err(|e| fail("cannot open", &e))?;
        if existed {
            // Made by a build that let every local user read it.
            for suffix in ["", "-wal", "-shm"] {
                shut_others_out(Path::new(&format!("{}{suffix}", path.display())));
            }
        } else {
            share_file(path);
        }
        let mut spool = Spool::prepare(conn, path.display().to_string(), owner)?;
        let pages: i32 = spool.conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap_or(1000);
        // Without the thread, the spool checkpoints as it commits, as SQLite does by default.
        match Checkpointer::start(&mut spool.conn, path, pages) {
            Ok(checkpointer) => spool.checkpointer = Some(checkpointer),
            Err(_) => spool.conn.pragma_update(None, "wal_autocheckpoint", pages).map_err(|e| e.to_string())?,
        }
        Ok(spool)
    }

    /// A spool in this process's memory, for when the file cannot be used: deliveries still
    /// get retries and a log, but do not survive the process. Refused only when SQLite is
    /// refused memory (an address space PHP code lowered with posix_setrlimit()).
    pub fn in_memory(owner: &str) -> Result<Spool, String> {
        // Held until the connection is set up or closed, as every SQLite call of our threads.
        let _inside = process::sqlite_section();
        let conn = Connection::open_in_memory().map_err(|e| match e {
            // Its own text is the database's name, ":memory:".
            rusqlite::Error::SqliteFailure(code, _) => {
                format!("cannot open a spool in memory: {}", rusqlite::ffi::code_to_str(code.extended_code))
            }
            e => format!("cannot open a spool in memory: {e}"),
        })?;
        Spool::prepare(conn, IN_MEMORY.to_string(), owner)
    }

    /// Opens the spool read-write for a short request from the PHP thread (log, resend).
    pub fn open_existing(path: &Path, owner: &str) -> Result<Spool, String> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Spool::prepare(conn, path.display().to_string(), owner)
    }

    fn prepare(conn: Connection, location: String, owner: &str) -> Result<Spool, String> {
        let _inside = process::sqlite_section();
        let setup = || -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_WAIT)?;
            // Only a new file takes it (a WAL database keeps the size it was made with).
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // A checkpoint every 4 MB of WAL, as with SQLite's default of 1,000 pages of 4 KB:
            // 1,000 pages of 16 KB made checkpoints 4 times longer, and a delivery dispatched
            // during one waited for it (p99 dispatch-to-answer latency 3 -> 10 ms).
            let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            conn.pragma_update(None, "wal_autocheckpoint", (CHECKPOINT_BYTES / page_size.max(512)).max(1))?;
            // NORMAL in WAL mode: a commit survives a process crash; only an OS crash or
            // power loss can lose the last transactions.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            // Written only when missing: a write waits for another process's write lock, and
            // an open that gives up after BUSY_WAIT leaves this process on a spool in memory.
            let tables: i64 = conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('outbox', 'bodies', 'outbox_created')",
                [],
                |r| r.get(0),
            )?;
            if tables < 3 {
                conn.execute_batch(SCHEMA)?;
            }
            add_network_column(&conn)?;
            make_partial_indexes(&conn)?;
            // Only raised: a later build's layout keeps its number, for that build to test.
            if conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? < LAYOUT_VERSION {
                conn.pragma_update(None, "user_version", LAYOUT_VERSION)?;
            }
            move_earlier_rows(&conn)
        };
        setup().map_err(|e| format!("cannot set up the spool {location}: {e}"))?;
        Ok(Spool { conn: ManuallyDrop::new(conn), location, owner: owner.to_string(), checkpointer: None })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether this is a spool in memory ([`Spool::in_memory`]), whose rows end with the process.
    pub fn is_in_memory(&self) -> bool {
        self.location == IN_MEMORY
    }

    /// The owner id of this process's claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Writes new deliveries in one transaction. Claimed ones (`lease_until` set) are sent by
    /// this process; unclaimed ones wait for whoever claims them. The body goes to `bodies`,
    /// written once and never rewritten.
    pub fn insert(&mut self, deliveries: &[(Delivery, Option<u64>)]) -> rusqlite::Result<()> {
        let _inside = process::sqlite_section();
        let tx = self.conn.transaction()?;
        {
            let mut payload = tx.prepare_cached("INSERT INTO bodies (body) VALUES (?1)")?;
            let mut unused = tx.prepare_cached("DELETE FROM bodies WHERE id = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox
                 (id, feed_id, feed_name, event, method, url, headers, status, created_at,
                  next_attempt_at, lease_owner, lease_until, secret, body_id, network)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, COALESCE(?10, ?8), ?9, ?10, ?11, ?12, ?13)",
            )?;
            for (delivery, lease_until) in deliveries {
                let request = &delivery.request;
                let body = payload.insert([request.body.as_ref()])?;
                let inserted = insert.execute(params![
                    delivery.id,
                    delivery.feed_id,
                    delivery.feed_name,
                    delivery.event,
                    request.method.as_str(),
                    request.url,
                    serde_json::to_string(&request.headers).unwrap_or_else(|_| "[]".into()),
                    delivery.created_at as i64,
                    lease_until.map(|_| self.owner.as_str()),
                    lease_until.map(|t| t as i64),
                    request.secret.as_ref().map(Secret::expose),
                    body,
                    delivery.network.as_deref(),
                ])?;
                // A delivery already stored (written again after a failed commit) keeps its own.
                if inserted == 0 {
                    unused.execute([body])?;
                }
            }
        }
        tx.commit()
    }

    /// Copies the WAL into the file and empties it, which gives its room on disk back: the
    /// WAL keeps the length it grew to, by a transaction the disk refused too, and is copied
    /// into the file only every 4 MB. Without waiting for other connections: with one reading
    /// or checkpointing, it stays as it is (or is only copied).
    pub fn give_back_wal(&self) {
        let _inside = process::sqlite_section();
        let _ = self.conn.busy_timeout(Duration::ZERO);
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = self.conn.busy_timeout(BUSY_WAIT);
    }

    /// Leaves the file room for `pages` more pages, as a disk with that much room left would:
    /// writes past it fail with SQLITE_FULL.
    #[cfg(test)]
    pub fn leave_room(&self, pages: i64) {
        let count: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        self.conn.pragma_update(None, "max_page_count", count + pages).unwrap();
    }

    /// Claims up to `limit` pending deliveries that are due and not leased by a live claim,
    /// as many as fit in `budget` bytes of bodies (the first always when `budget.at_least_one`):
    /// the rest are let go again in the same transaction. A row whose body is missing is
    /// recorded as failed, with that reason, instead of stopping every claim.
    pub fn claim_due(
        &mut self,
        now: u64,
        lease_until: u64,
        limit: usize,
        budget: ByteBudget,
    ) -> rusqlite::Result<Vec<Delivery>> {
        let _inside = process::sqlite_section();
        if limit == 0 {
            return Ok(Vec::new());
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let claimed = {
            let mut claim = tx.prepare_cached(
                "UPDATE outbox SET lease_owner = ?1, lease_until = ?2, next_attempt_at = ?2
                 WHERE rowid IN (SELECT rowid FROM outbox INDEXED BY outbox_due
                              WHERE status = 'pending' AND next_attempt_at <= ?3
                                AND (lease_until IS NULL OR lease_until < ?3)
                                -- A lease of ours that ran out (slow disk locks) may still be
                                -- in flight here: never send it twice from one process.
                                AND (lease_owner IS NULL OR lease_owner != ?1)
                              ORDER BY next_attempt_at LIMIT ?4)
                 RETURNING id, feed_id, feed_name, event, method, url, headers, x'', created_at,
                           attempt_count, secret, body_id, canceled, network",
            )?;
            // Bodies are read afterwards: RETURNING would copy each one into a temporary table
            // first, and only those within the budget are read at all.
            let rows = claim.query_map(params![self.owner, lease_until as i64, now as i64, limit as i64], |row| {
                let mut delivery = read_delivery(row)?;
                delivery.network = optional_text_at(row, 13)?.map(Into::into);
                Ok((delivery, integer_at(row, 11)?, optional_text_at(row, 12)?))
            })?;
            let candidates = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut size = tx.prepare_cached("SELECT length(body) FROM bodies WHERE id = ?1")?;
            let mut read = tx.prepare_cached("SELECT body FROM bodies WHERE id = ?1")?;
            let mut let_go = tx.prepare_cached(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?2 WHERE id = ?1",
            )?;
            let mut end_here = tx.prepare_cached(&end_without_attempt("?2", "id = ?1"))?;
            let (mut claimed, mut bytes) = (Vec::with_capacity(candidates.len()), 0u64);
            for (mut delivery, body_id, canceled) in candidates {
                // Canceled while a process held it, which then ended without recording an
                // outcome: it ends here, not with another attempt.
                if let Some(canceled) = canceled {
                    end_here.execute(params![delivery.id, canceled])?;
                    continue;
                }
                let Some((body_id, length)) = body_id
                    .map(|id| size.query_row([id], |r| Ok((id, integer_at(r, 0)?.unwrap_or(0)))).optional())
                    .transpose()?
                    .flatten()
                else {
                    end_here.execute(params![delivery.id, lost_body(now)])?;
                    continue;
                };
                let length = length.max(0) as u64;
                let fits = bytes + length <= budget.bytes || (claimed.is_empty() && budget.at_least_one);
                if !fits {
                    let_go.execute(params![delivery.id, now as i64])?;
                    continue;
                }
                bytes += length;
                delivery.request.body = read.query_row([body_id], |r| bytes_at(r, 0))?.into();
                claimed.push(delivery);
            }
            claimed
        };
        tx.commit()?;
        Ok(claimed)
    }

    /// Reads back deliveries this process wrote claimed until `claimed_until` (each id with
    /// its own) but could not start yet (the engine keeps only their ids), for sending now with
    /// a claim until `lease_until`. A read alone, when that claim still lasts long enough;
    /// otherwise it is renewed. A row whose claim is no longer the one made at writing has
    /// changed hands (another process took it over after the claim ran out, and may have let it
    /// go since, to be claimed again, even by this process): it is not this reservation's to
    /// send. Those canceled meanwhile, or whose body is lost, end here, failed.
    pub fn take_reserved(
        &mut self,
        reserved: &[(String, u64)],
        now: u64,
        lease_until: u64,
    ) -> rusqlite::Result<Vec<Delivery>> {
        let read = self.read_reserved(reserved, now, lease_until)?;
        self.settle_reserved(read, lease_until)
    }

    /// take_reserved's read, apart so that a test can let another process in before the write.
    fn read_reserved(&mut self, reserved: &[(String, u64)], now: u64, lease_until: u64) -> rusqlite::Result<ReadBack> {
        let _inside = process::sqlite_section();
        let mut read_back = ReadBack { ready: Vec::with_capacity(reserved.len()), renew: Vec::new(), end: Vec::new() };
        let tx = self.conn.transaction()?;
        let mut read = tx.prepare_cached(
            "SELECT o.id, feed_id, feed_name, event, method, url, headers, COALESCE(b.body, x''), created_at,
                    attempt_count, secret, canceled, b.id IS NULL, network
             FROM outbox o LEFT JOIN bodies b ON b.id = o.body_id
             WHERE o.id = ?1 AND o.status = 'pending' AND o.lease_owner = ?2 AND o.lease_until = ?3",
        )?;
        for (id, claimed_until) in reserved {
            let row = read
                .query_row(params![id, self.owner, *claimed_until as i64], |row| {
                    let mut delivery = read_delivery(row)?;
                    delivery.network = optional_text_at(row, 13)?.map(Into::into);
                    Ok((delivery, optional_text_at(row, 11)?, row.get::<_, bool>(12)?))
                })
                .optional()?;
            match row {
                None => {}
                Some((delivery, Some(canceled), _)) => read_back.end.push((delivery.id, canceled, *claimed_until)),
                Some((delivery, None, true)) => read_back.end.push((delivery.id, lost_body(now), *claimed_until)),
                Some((delivery, None, false)) if *claimed_until >= lease_until => read_back.ready.push(delivery),
                Some((delivery, None, false)) => read_back.renew.push((delivery, *claimed_until)),
            }
        }
        Ok(read_back)
    }

    /// take_reserved's write: renews the claims that run short, and ends the deliveries to end.
    fn settle_reserved(&mut self, read_back: ReadBack, lease_until: u64) -> rusqlite::Result<Vec<Delivery>> {
        let _inside = process::sqlite_section();
        let ReadBack { mut ready, renew, end } = read_back;
        if renew.is_empty() && end.is_empty() {
            return Ok(ready);
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mine = "id = ?1 AND status = 'pending' AND lease_owner = ?2 AND lease_until = ?3";
            let mut relet = tx.prepare_cached(&format!(
                "UPDATE outbox SET lease_until = ?4, next_attempt_at = ?4 WHERE {mine} AND canceled IS NULL"
            ))?;
            // The entry is ?4; or, when ?4 is NULL, the cancellation that came between the read
            // and this transaction.
            let mut end_here = tx.prepare_cached(&end_without_attempt(
                "COALESCE(?4, canceled)",
                &format!("{mine} AND COALESCE(?4, canceled) IS NOT NULL"),
            ))?;
            for (delivery, claimed_until) in renew {
                let claimed_until = claimed_until as i64;
                if relet.execute(params![delivery.id, self.owner, claimed_until, lease_until as i64])? > 0 {
                    ready.push(delivery);
                } else {
                    end_here.execute(params![delivery.id, self.owner, claimed_until, None::<String>])?;
                }
            }
            for (id, entry, claimed_until) in end {
                end_here.execute(params![id, self.owner, claimed_until as i64, entry])?;
            }
        }
        tx.commit()?;
        Ok(ready)
    }

    /// The earliest time a pending delivery may become due for this process: an unclaimed
    /// one's time, or when another process's claim runs out.
    pub fn next_due(&self, now: u64) -> rusqlite::Result<Option<u64>> {
        let _inside = process::sqlite_section();
        // Index walks that stop at their first row, instead of scans of every pending row: the
        // spool may hold a hundred thousand. Only rows with a time: NULL (and text, which
        // SQLite orders after every number) is never due, as claim_due() sees it, and NULL
        // came first here, hiding every due row.
        let unclaimed: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT next_attempt_at FROM outbox INDEXED BY outbox_due
                 WHERE status = 'pending' AND next_attempt_at <= 9223372036854775807
                   AND (lease_until IS NULL OR lease_until < ?1)
                   AND (lease_owner IS NULL OR lease_owner != ?2)
                 ORDER BY next_attempt_at LIMIT 1",
            )?
            .query_row(params![now as i64, self.owner], |row| integer_at(row, 0))
            .optional()?
            .flatten();
        // Another process's claim: its delivery is free for this one once the claim runs out,
        // unless that process settles it first. flush() waits for either, so that a script's
        // flush() leaves the spool settled, however many processes share it. (Waiting only for
        // processes that had ended let a CLI flush() return while php-fpm workers still had
        // deliveries in flight: FpmTest.) Only numeric times: text sorts after every number.
        let claimed_elsewhere: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT lease_until + 1 FROM outbox INDEXED BY outbox_leased
                 WHERE status = 'pending' AND lease_until >= ?1 AND lease_until < 9223372036854775807
                   AND lease_owner != ?2
                 ORDER BY lease_until LIMIT 1",
            )?
            .query_row(params![now as i64, self.owner], |row| integer_at(row, 0))
            .optional()?
            .flatten();
        Ok(match (unclaimed, claimed_elsewhere) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|t| t.max(0) as u64))
    }

    /// Whether a delivery is due now and free for this process to claim: one index probe.
    pub fn has_due(&self, now: u64) -> rusqlite::Result<bool> {
        let _inside = process::sqlite_section();
        self.conn
            .prepare_cached(
                "SELECT 1 FROM outbox INDEXED BY outbox_due
                 WHERE status = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
                   AND (lease_owner IS NULL OR lease_owner != ?2)
                 LIMIT 1",
            )?
            .query_row(params![now as i64, self.owner], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
    }

    /// Of `ids` (deliveries this process holds), those a cancel has marked, and those whose
    /// rows are no longer this process's pending rows (taken over after their claim ran out, or
    /// ended by another process's answer): one probe of the primary key each.
    pub fn look_among<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> rusqlite::Result<HeldRows> {
        let _inside = process::sqlite_section();
        let mut probe = self.conn.prepare_cached(
            "SELECT canceled IS NOT NULL FROM outbox WHERE id = ?1 AND status = 'pending' AND lease_owner = ?2",
        )?;
        let mut found = HeldRows::default();
        for id in ids {
            match probe.query_row(params![id, self.owner], |r| r.get::<_, bool>(0)).optional()? {
                Some(true) => found.canceled.push(id.to_string()),
                Some(false) => {}
                None => found.lost.push(id.to_string()),
            }
        }
        Ok(found)
    }

    /// Extends this process's claims on `ids` (deliveries it still holds) until `lease_until`,
    /// in one transaction: a process that dies stops renewing, and others take over once the
    /// last renewal runs out. A row that has meanwhile changed hands or ended is left as it is.
    /// Returns the ids of those, whose claims this process has lost.
    pub fn renew_claims<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
        lease_until: u64,
    ) -> rusqlite::Result<Vec<String>> {
        let _inside = process::sqlite_section();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut lost = Vec::new();
        {
            let mut renew = tx.prepare_cached(
                "UPDATE outbox SET lease_until = ?3, next_attempt_at = ?3
                 WHERE id = ?1 AND status = 'pending' AND lease_owner = ?2",
            )?;
            for id in ids {
                if renew.execute(params![id, self.owner, lease_until as i64])? == 0 {
                    lost.push(id.to_string());
                }
            }
        }
        tx.commit()?;
        Ok(lost)
    }

    /// Records an attempt and what follows it; see [`Spool::record_attempts`].
    pub fn record_attempt(
        &mut self,
        id: &str,
        attempt: &Attempt,
        status: Status,
        next_attempt_at: Option<u64>,
        response_excerpt: &[u8],
    ) -> rusqlite::Result<Option<Status>> {
        let record = AttemptRecord {
            id: id.to_string(),
            attempt: Some(attempt.clone()),
            status,
            next_attempt_at,
            response_excerpt: response_excerpt.to_vec(),
            attempts_at_most: None,
            retry_at_by_count: Vec::new(),
        };
        Ok(self.record_attempts(std::slice::from_ref(&record))?[0])
    }

    /// Records attempts and what follows each, in one transaction: `Pending` with the time of
    /// the next attempt (the claim is released so any process may retry), or a final status.
    /// An attempt is written to a row this process still holds, or that no live claim holds:
    /// this process's claim ran out during the attempt, and the process that took the row over
    /// let it go, made an attempt of its own (kept in the list), or died. Unwritten, the
    /// attempt would be made again, by this process too. The row's own count of attempts,
    /// those of other processes included, decides whether a retry is left (`attempts_at_most`)
    /// and when it comes (`retry_at_by_count`).
    /// To a row another process holds, or (a 2xx) one that has ended, the attempt is added
    /// (add_to_log_elsewhere). A withdrawal (no attempt) needs the claim. The result says, per
    /// record, the status written as this process's (a retry of a delivery canceled meanwhile,
    /// or with no attempt left, is written `Failed`), or `None` when it was not.
    pub fn record_attempts(&mut self, records: &[AttemptRecord]) -> rusqlite::Result<Vec<Option<Status>>> {
        let _inside = process::sqlite_section();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut written = Vec::with_capacity(records.len());
        {
            // One statement per record: the attempt is appended to the JSON list in place.
            // A delivery canceled while it was held ends with this attempt instead of a retry,
            // the cancellation (JSON in `canceled`) its last entry.
            let appended = with_attempt("?3");
            let update = format!(
                "UPDATE outbox SET
                        status = CASE WHEN ?2 = 'pending' AND (canceled IS NOT NULL OR attempt_count + 1 >= ?7)
                                      THEN 'failed' ELSE ?2 END,
                        attempts = CASE WHEN ?2 = 'pending' AND canceled IS NOT NULL
                                        THEN json_insert({appended}, '$[#]', json(canceled)) ELSE {appended} END,
                        attempt_count = attempt_count + 1, response_excerpt = ?4,
                        next_attempt_at = CASE WHEN canceled IS NULL AND attempt_count + 1 < ?7
                                               THEN COALESCE(json_extract(?9, '$[' || attempt_count || ']'), ?5) END,
                        lease_owner = NULL, lease_until = NULL
                 WHERE id = ?1 AND status = 'pending' AND (lease_owner = ?6 OR lease_owner IS NULL OR lease_until < ?8)"
            );
            let mut ended = tx.prepare_cached(&update)?;
            // Only a retry can be written with another status than asked: the others skip the
            // RETURNING, which costs on every outcome.
            let mut retried = tx.prepare_cached(&format!("{update} RETURNING status"))?;
            let mut withdrawn = tx.prepare_cached(&end_without_attempt(
                "canceled",
                "id = ?1 AND status = 'pending' AND lease_owner = ?2 AND canceled IS NOT NULL",
            ))?;
            for record in records {
                let Some(attempt) = &record.attempt else {
                    written.push((withdrawn.execute(params![record.id, self.owner])? > 0).then_some(Status::Failed));
                    continue;
                };
                let excerpt = &record.response_excerpt[..record.response_excerpt.len().min(RESPONSE_EXCERPT_BYTES)];
                let entry = serde_json::to_string(attempt).unwrap_or_else(|_| "{}".into());
                let at_most = record.attempts_at_most.map_or(i64::MAX, i64::from);
                let by_count = (!record.retry_at_by_count.is_empty())
                    .then(|| serde_json::to_string(&record.retry_at_by_count).unwrap_or_default());
                let values = params![
                    record.id,
                    record.status.as_str(),
                    entry,
                    excerpt,
                    record.next_attempt_at.map(|t| t as i64),
                    self.owner,
                    at_most,
                    crate::delivery::unix_millis() as i64,
                    by_count,
                ];
                let done = match record.status {
                    Status::Pending => retried
                        .query_row(values, |row| row.get::<_, String>(0))
                        .optional()?
                        .map(|status| Status::parse(&status).unwrap_or(Status::Pending)),
                    status => (ended.execute(values)? > 0).then_some(status),
                };
                if done.is_none() {
                    add_to_log_elsewhere(&tx, record, attempt.at, &entry, excerpt, &self.owner)?;
                }
                written.push(done);
            }
        }
        tx.commit()?;
        Ok(written)
    }

    /// What is left of a delivery after an attempt of this process's went to a row that was no
    /// longer its own (add_to_log_elsewhere): the row's status once it has ended; `Failed` for
    /// a pending row marked to end without another attempt (a cancel, or a final answer
    /// elsewhere); `Pending` otherwise, the holder's to go on with. `None`: no such row.
    pub fn status_elsewhere(&self, id: &str) -> rusqlite::Result<Option<Status>> {
        let _inside = process::sqlite_section();
        self.conn
            .prepare_cached(
                "SELECT CASE WHEN status = 'pending' AND canceled IS NOT NULL THEN 'failed' ELSE status END
                             FROM outbox WHERE id = ?1",
            )?
            .query_row([id], |r| r.get::<_, String>(0))
            .optional()
            .map(|status| status.and_then(|s| Status::parse(&s)))
    }

    /// Cancels a feed's pending deliveries, recording `reason` as their last entry: those no
    /// process holds end as failed at once; those held (in flight, or queued in a process's
    /// memory) are marked. A marked one in flight ends as failed after its attempt instead of
    /// being retried; one still queued is withdrawn by its process (`look_among`) and ends
    /// with no attempt. Returns how many deliveries it canceled.
    pub fn cancel_feed(&mut self, feed_id: &str, reason: &str, now: u64) -> rusqlite::Result<usize> {
        let _inside = process::sqlite_section();
        let entry = entry_without_attempt(now, format!("canceled: {reason}"));
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let free = tx.execute(
            &end_without_attempt(
                "?2",
                "feed_id = ?1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?3)
                 AND (lease_owner IS NULL OR lease_owner != ?4)",
            ),
            params![feed_id, entry, now as i64, self.owner],
        )?;
        let held = tx.execute(
            "UPDATE outbox SET canceled = ?2
             WHERE feed_id = ?1 AND status = 'pending' AND (lease_until >= ?3 OR lease_owner = ?4)",
            params![feed_id, entry, now as i64, self.owner],
        )?;
        tx.commit()?;
        Ok(free + held)
    }

    /// Whether the file this spool has open is no longer the one at its path: deleted, renamed
    /// or replaced (by another file, a directory) while the process ran. SQLite goes on writing
    /// to the file it has open, which no other process will ever open again: what is pending
    /// there would end with this process, with no trace anywhere (see [`Spool::move_rows_into`]).
    pub fn has_moved(&self) -> bool {
        if self.is_in_memory() {
            return false;
        }
        let _inside = process::sqlite_section();
        let mut moved: std::os::raw::c_int = 0;
        // SAFETY: a valid connection handle, "main" NUL-terminated, and SQLITE_FCNTL_HAS_MOVED
        // writes one int through the pointer.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_file_control(
                self.conn.handle(),
                c"main".as_ptr(),
                rusqlite::ffi::SQLITE_FCNTL_HAS_MOVED,
                (&mut moved as *mut std::os::raw::c_int).cast(),
            )
        };
        rc == rusqlite::ffi::SQLITE_OK && moved != 0
    }

    /// Copies every row of this spool (with its body) that `fresh` does not have into `fresh`,
    /// the spool now at this one's path, in one transaction; returns how many, and how many of
    /// them are pending. Of rows `fresh` has, what went further here is carried over (see
    /// copy_rows_into). Claims are kept: this process goes on with what it holds, and a dead
    /// process's claims run out as they would have. Another process's write lock on `fresh`
    /// is waited for `lock_wait` at most.
    pub fn move_rows_into(&mut self, fresh: &Path, lock_wait: Duration) -> rusqlite::Result<(usize, usize)> {
        let _inside = process::sqlite_section();
        self.conn.busy_timeout(lock_wait)?;
        let moved = self.copy_rows_into(fresh);
        let _ = self.conn.busy_timeout(BUSY_WAIT);
        moved
    }

    fn copy_rows_into(&mut self, fresh: &Path) -> rusqlite::Result<(usize, usize)> {
        self.conn.execute("ATTACH DATABASE ?1 AS fresh", [fresh.display().to_string()])?;
        let moved = (|| -> rusqlite::Result<(usize, usize)> {
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let offset: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM fresh.bodies", [], |r| r.get(0))?;
            let missing = "SELECT body_id FROM main.outbox WHERE id NOT IN (SELECT id FROM fresh.outbox)";
            tx.execute(
                &format!(
                    "INSERT INTO fresh.bodies (id, body) SELECT id + ?1, body FROM main.bodies WHERE id IN ({missing})"
                ),
                [offset],
            )?;
            let pending: i64 = tx.query_row(
                "SELECT COUNT(*) FROM main.outbox WHERE status = 'pending' AND id NOT IN (SELECT id FROM fresh.outbox)",
                [],
                |r| r.get(0),
            )?;
            let rows = tx.execute(
                &format!(
                    "INSERT INTO fresh.outbox ({OUTBOX_COLUMNS_BUT_BODY}, body_id)
                     SELECT {OUTBOX_COLUMNS_BUT_BODY}, body_id + ?1 FROM main.outbox
                     WHERE id NOT IN (SELECT id FROM fresh.outbox)"
                ),
                [offset],
            )?;
            // Rows fresh has already: another process that had this file open too moved them
            // first, and this one went on recording outcomes here until its own look found the
            // file gone. Left out, a 200 recorded here stayed pending in fresh, claimed by this
            // process, and was sent again once that claim was let go or ran out. What went
            // further here is carried over: an end, or more attempts, unless another process
            // has since claimed the row there (then its attempt decides, as with any row it
            // takes over; an end still ends it, see add_to_log_elsewhere).
            tx.execute(
                "UPDATE fresh.outbox AS f
                 SET status = m.status, attempts = m.attempts, attempt_count = m.attempt_count,
                     response_excerpt = m.response_excerpt, next_attempt_at = m.next_attempt_at,
                     lease_owner = m.lease_owner, lease_until = m.lease_until,
                     canceled = COALESCE(f.canceled, m.canceled)
                 FROM main.outbox AS m
                 WHERE m.id = f.id AND f.status = 'pending'
                   AND (m.status != 'pending'
                        OR (m.attempt_count > f.attempt_count
                            AND (f.lease_owner IS NULL OR f.lease_owner = ?1 OR f.lease_until < ?2)))",
                params![self.owner, crate::delivery::unix_millis() as i64],
            )?;
            // And a cancel made here of a row another process holds: it withdraws the row there.
            tx.execute(
                "UPDATE fresh.outbox AS f SET canceled = m.canceled FROM main.outbox AS m
                 WHERE m.id = f.id AND f.status = 'pending' AND f.canceled IS NULL AND m.canceled IS NOT NULL",
                [],
            )?;
            tx.commit()?;
            Ok((rows, pending.max(0) as usize))
        })();
        let detached = self.conn.execute("DETACH DATABASE fresh", []);
        let moved = moved?;
        detached?;
        Ok(moved)
    }

    /// Gives up this process's claims on unfinished deliveries, so another process can send
    /// them at once instead of after the lease; called when the process stops.
    pub fn release_claims(&mut self, now: u64) -> rusqlite::Result<usize> {
        let _inside = process::sqlite_section();
        let now = now as i64;
        self.conn.execute(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, next_attempt_at = MIN(next_attempt_at, ?2)
             WHERE lease_owner = ?1 AND status = 'pending'",
            params![self.owner, now],
        )
    }

    /// Gives up this process's claims on `ids` (deliveries it let go unsent, see
    /// SpoolWorker::exit_begins), in one transaction, so other processes can send them at once.
    /// A row that has changed hands or ended is left as it is.
    pub fn release_claims_of<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>, now: u64) -> rusqlite::Result<()> {
        let _inside = process::sqlite_section();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut release = tx.prepare_cached(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, next_attempt_at = MIN(next_attempt_at, ?3)
                 WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending'",
            )?;
            for id in ids {
                release.execute(params![id, self.owner, now as i64])?;
            }
        }
        tx.commit()
    }

    /// Deletes up to `at_most` finished deliveries created before `before` (Unix ms), the
    /// oldest first, and their bodies, in one transaction; returns how many. A spool with more
    /// to prune is pruned a part at a time, so that the spool thread goes on renewing its
    /// claims in between.
    pub fn prune(&mut self, before: u64, at_most: usize) -> rusqlite::Result<usize> {
        let _inside = process::sqlite_section();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let oldest = tx
            .prepare_cached(
                "SELECT rowid, body_id FROM outbox WHERE status != 'pending' AND created_at < ?1
                 ORDER BY created_at LIMIT ?2",
            )?
            .query_map(params![before as i64, at_most as i64], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(i64, rusqlite::types::Value)>>>()?;
        {
            let mut body = tx.prepare_cached("DELETE FROM bodies WHERE id = ?1")?;
            let mut row = tx.prepare_cached("DELETE FROM outbox WHERE rowid = ?1")?;
            for (rowid, body_id) in &oldest {
                body.execute([body_id])?;
                row.execute([rowid])?;
            }
        }
        tx.commit()?;
        Ok(oldest.len())
    }

    /// Pending deliveries due by `now` that no live claim holds.
    pub fn unheld_due_count(&self, now: u64) -> rusqlite::Result<u64> {
        let _inside = process::sqlite_section();
        self.conn
            .prepare_cached(
                "SELECT COUNT(*) FROM outbox INDEXED BY outbox_due
                 WHERE status = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1)",
            )?
            .query_row(params![now as i64], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    }

    /// Pending deliveries (queued, in flight or waiting for a retry).
    pub fn pending_count(&self) -> rusqlite::Result<u64> {
        let _inside = process::sqlite_section();
        self.conn
            .query_row("SELECT COUNT(*) FROM outbox WHERE status = 'pending'", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    }

    /// The log, newest first, without bodies, request headers or secrets (`delivery.request`
    /// has none): the log never shows them, and up to 10,000 rows of bodies up to
    /// max_payload_bytes each were gigabytes read and copied for nothing (each delivery keeps
    /// its own copy).
    pub fn list(&self, filter: &Filter) -> rusqlite::Result<Vec<LogEntry>> {
        let _inside = process::sqlite_section();
        let mut sql = format!("SELECT {LIST_COLUMNS} FROM outbox WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(feed) = &filter.feed_id {
            sql.push_str(" AND feed_id = ?");
            args.push(feed.clone().into());
        }
        if let Some(event) = &filter.event {
            // dispatch() keeps the event as given, with or without FluentCart's prefix: the
            // filter (normalised, without it) finds both.
            sql.push_str(" AND event IN (?, ?)");
            args.push(event.clone().into());
            args.push(format!("fluent_cart/{event}").into());
        }
        if let Some(status) = filter.status {
            // A literal (one of four fixed words), so that SQLite can use the index of that
            // status alone (PARTIAL_INDEXES); it cannot for a bound parameter.
            sql.push_str(&format!(" AND status = '{}'", status.as_str()));
        }
        if let Some(since) = filter.since {
            sql.push_str(" AND created_at >= ?");
            // Past i64 (a `since` of 1e300 s saturates to u64::MAX ms), `as` wrapped to a
            // negative time, and the far future listed every row.
            args.push(i64::try_from(since).unwrap_or(i64::MAX).into());
        }
        sql.push_str(" ORDER BY created_at DESC, outbox.id DESC LIMIT ?");
        args.push((filter.limit.max(1) as i64).into());
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(args), read_entry)?;
        // Up to 10,000 rows: the list grows as they come, and a refusal is an error.
        let mut entries = Vec::new();
        for row in rows {
            memory::reserve(&mut entries, 1).map_err(refused)?;
            entries.push(row?);
        }
        Ok(entries)
    }

    pub fn get(&self, id: &str) -> rusqlite::Result<Option<LogEntry>> {
        let _inside = process::sqlite_section();
        self.conn
            .query_row(&format!("SELECT {LOG_COLUMNS} FROM {LOG_SOURCE} WHERE outbox.id = ?1"), [id], read_entry)
            .optional()
    }
}

/// How many bytes of bodies a claim may take up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteBudget {
    pub bytes: u64,
    /// Take the first delivery even past `bytes`: nothing else is in memory, and a body over
    /// the whole budget must still be sent.
    pub at_least_one: bool,
}

impl ByteBudget {
    pub const UNLIMITED: ByteBudget = ByteBudget { bytes: u64::MAX, at_least_one: true };
}

/// Adds an attempt of this process's to the log of a row that is no longer this process's to
/// write: one another process holds, which took it over while this process's claim ran out
/// during the attempt, or one that has ended meanwhile.
///
/// - Held elsewhere: an answer that settles the delivery (2xx, 410) ends the row, so that its
///   holder does not start it (its next look at its claims finds them gone) and, should it let
///   the row go, no process sends it. A final answer otherwise (not retried, or the row's last
///   attempt) marks the row as a cancel does: the holder withdraws it, or ends it after its
///   own attempt under way unless that one delivers it, and whoever claims it next ends it.
/// - Ended (another process's answer, a cancel, a claim that ended a marked row): a 2xx goes
///   into its log and overrules a failure or a 410 recorded meanwhile, since the endpoint has
///   the delivery. Another answer is left out: the row's last entry stays the reason it ended, the
///   one the log shows (a cancel's, say).
fn add_to_log_elsewhere(
    tx: &rusqlite::Transaction<'_>,
    record: &AttemptRecord,
    at: u64,
    entry: &str,
    excerpt: &[u8],
    owner: &str,
) -> rusqlite::Result<usize> {
    let appended = with_attempt("?3");
    let held_elsewhere = "WHERE id = ?1 AND status = 'pending' AND lease_owner != ?5";
    let added = if matches!(record.status, Status::Delivered | Status::Gone) {
        let settled = format!(
            "UPDATE outbox SET attempts = {appended}, attempt_count = attempt_count + 1, status = ?2,
                    response_excerpt = ?4, next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL
             {held_elsewhere}"
        );
        tx.prepare_cached(&settled)?.execute(params![record.id, record.status.as_str(), entry, excerpt, owner])?
    } else {
        let logged = format!(
            "UPDATE outbox SET attempts = {appended}, attempt_count = attempt_count + 1,
                    canceled = CASE WHEN ?2 = 'failed' OR attempt_count + 1 >= ?7 THEN COALESCE(canceled, ?6)
                                    ELSE canceled END
             {held_elsewhere}"
        );
        let last = entry_without_attempt(
            at,
            "not sent: an attempt that ended after another process took the delivery over left no retry".into(),
        );
        let at_most = record.attempts_at_most.map_or(i64::MAX, i64::from);
        tx.prepare_cached(&logged)?.execute(params![
            record.id,
            record.status.as_str(),
            entry,
            excerpt,
            owner,
            last,
            at_most
        ])?
    };
    if added > 0 {
        return Ok(added);
    }
    let ended = format!(
        "UPDATE outbox SET attempts = {appended}, attempt_count = attempt_count + 1,
                status = CASE WHEN status IN ('failed', 'gone') THEN 'delivered' ELSE status END,
                response_excerpt = CASE WHEN status IN ('failed', 'gone') THEN ?4 ELSE response_excerpt END
         WHERE id = ?1 AND status != 'pending' AND ?2 = 'delivered'"
    );
    tx.prepare_cached(&ended)?.execute(params![record.id, record.status.as_str(), entry, excerpt])
}

/// Gives a spool of layout 3 made before deliveries kept their network policy the column
/// (earlier builds sharing it write no value: NULL, "unknown"). Written only when missing.
fn add_network_column(conn: &Connection) -> rusqlite::Result<()> {
    let has = "SELECT COUNT(*) > 0 FROM pragma_table_info('outbox') WHERE name = 'network'";
    change_once(conn, has, "ALTER TABLE outbox ADD COLUMN network TEXT")
}

/// Gives a spool the indexes of PARTIAL_INDEXES: a new one, and one made before layout 3 in
/// place of its indexes over every row.
fn make_partial_indexes(conn: &Connection) -> rusqlite::Result<()> {
    let done = "SELECT COUNT(*) = 4 FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'
                AND name IN ('outbox_due', 'outbox_leased', 'outbox_failed', 'outbox_gone')";
    if conn.query_row(done, [], |r| r.get::<_, bool>(0))? {
        return Ok(());
    }
    conn.busy_timeout(INDEXING_WAIT)?;
    let made = change_once(
        conn,
        done,
        &format!("DROP INDEX IF EXISTS outbox_due; DROP INDEX IF EXISTS outbox_leased; {PARTIAL_INDEXES}"),
    );
    conn.busy_timeout(BUSY_WAIT)?;
    made
}

/// Runs `change` unless `done` (a query of one boolean) says it was made: asked first without a
/// lock (a write waits for another process's, see Spool::prepare), then again under the write
/// lock, since another process may have made it while this one waited.
fn change_once(conn: &Connection, done: &str, change: &str) -> rusqlite::Result<()> {
    let is_done = |conn: &Connection| conn.query_row(done, [], |r| r.get::<_, bool>(0));
    if is_done(conn)? {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    if !is_done(&tx)? {
        tx.execute_batch(change)?;
    }
    tx.commit()
}

/// Moves what an earlier build left in its `deliveries` table (bodies in the rows) into
/// `outbox` and `bodies`, in one transaction. Rows
/// move with their status, attempts and claims; a row an earlier build is sending at that
/// moment may be sent once more after its claim ends (at least once, as after a crash).
fn move_earlier_rows(conn: &Connection) -> rusqlite::Result<()> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    if count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'")? == 0 {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    if tx.query_row("SELECT 1 FROM deliveries LIMIT 1", [], |_| Ok(())).optional()?.is_none() {
        return tx.commit();
    }
    let column = |name: &str| {
        tx.query_row("SELECT COUNT(*) FROM pragma_table_info('deliveries') WHERE name = ?1", [name], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n > 0)
    };
    let secret = if column("secret")? { "secret" } else { "NULL" };
    {
        let mut rows = tx.prepare("SELECT rowid, body FROM deliveries")?;
        let mut add_body = tx.prepare("INSERT INTO bodies (body) VALUES (?1)")?;
        let mut drop_body = tx.prepare("DELETE FROM bodies WHERE id = ?1")?;
        let mut add_row = tx.prepare(&format!(
            "INSERT OR IGNORE INTO outbox
                 (id, feed_id, feed_name, event, method, url, headers, status, attempts, attempt_count,
                  response_excerpt, created_at, next_attempt_at, lease_owner, lease_until, secret, body_id)
             SELECT id, feed_id, feed_name, event, method, url, headers, status, attempts, attempt_count,
                    response_excerpt, created_at, next_attempt_at, lease_owner, lease_until, {secret}, ?2
             FROM deliveries WHERE rowid = ?1"
        ))?;
        let earlier = rows
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (rowid, body) in earlier {
            let body_id = add_body.insert([body])?;
            if add_row.execute(params![rowid, body_id])? == 0 {
                drop_body.execute([body_id])?;
            }
        }
    }
    tx.execute("DELETE FROM deliveries", [])?;
    tx.commit()
}

/// What read_entry reads, in order.
const LOG_COLUMNS: &str = "outbox.id, feed_id, feed_name, event, method, url, headers,
    COALESCE(bodies.body, x''), created_at, attempt_count, secret,
    status, attempts, response_excerpt, next_attempt_at";
const LOG_SOURCE: &str = "outbox LEFT JOIN bodies ON bodies.id = body_id";
/// [`LOG_COLUMNS`] for the log, from `outbox` alone: no body, request headers or secret, which
/// the log never shows.
const LIST_COLUMNS: &str = "outbox.id, feed_id, feed_name, event, method, url, '[]',
    x'', created_at, attempt_count, NULL,
    status, attempts, response_excerpt, next_attempt_at";

fn read_entry(row: &Row<'_>) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        delivery: read_delivery(row)?,
        status: Status::parse(&text_at(row, 11)?).unwrap_or(Status::Pending),
        attempts: serde_json::from_str(&text_at(row, 12)?).unwrap_or_default(),
        response_excerpt: bytes_at(row, 13)?,
        next_attempt_at: integer_at(row, 14)?.map(|t| t.max(0) as u64),
    })
}

/// Columns id … secret, in the order every query selects them.
fn read_delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let method = match text_at(row, 4)?.as_str() {
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => Method::Post,
    };
    Ok(Delivery {
        id: text_at(row, 0)?,
        feed_id: optional_text_at(row, 1)?,
        feed_name: text_at(row, 2)?,
        event: text_at(row, 3)?,
        request: WebhookRequest {
            method,
            url: text_at(row, 5)?,
            headers: serde_json::from_str(&text_at(row, 6)?).unwrap_or_default(),
            body: bytes_at(row, 7)?.into(),
            secret: optional_text_at(row, 10)?.and_then(|s| Secret::parse(&s).ok()),
        },
        created_at: integer_at(row, 8)?.unwrap_or(0).max(0) as u64,
        attempts: integer_at(row, 9)?.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        network: None,
    })
}

// Readers of a column as the type we write to it, whatever another process wrote there: SQLite
// keeps text in an INTEGER column, a BLOB in a TEXT one, and text that is not UTF-8. rusqlite's
// typed get() fails on those, and one such row failed every statement that read it: every
// claim of the spool (nothing due was sent again, by any process), the whole log, pruning.

/// A TEXT column: a BLOB or text that is not UTF-8 read lossily, a number as it is written,
/// NULL as "".
fn text_at(row: &Row<'_>, column: usize) -> rusqlite::Result<String> {
    Ok(match row.get_ref(column)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => memory::copy_text(text).map_err(refused)?,
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        },
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Null => String::new(),
    })
}

/// A TEXT column that may be NULL.
fn optional_text_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<String>> {
    match row.get_ref(column)? {
        ValueRef::Null => Ok(None),
        _ => text_at(row, column).map(Some),
    }
}

/// An INTEGER column: a REAL cut to an integer, text that reads as one; `None` for NULL and
/// anything else.
fn integer_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match row.get_ref(column)? {
        ValueRef::Integer(n) => Some(n),
        ValueRef::Real(x) => Some(x as i64),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok().and_then(|t| t.trim().parse::<i64>().ok()),
        ValueRef::Blob(_) | ValueRef::Null => None,
    })
}

/// A BLOB column: text as its bytes, NULL (or a number) as none.
fn bytes_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match row.get_ref(column)? {
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => memory::copy(bytes).map_err(refused)?,
        ValueRef::Integer(_) | ValueRef::Real(_) | ValueRef::Null => Vec::new(),
    })
}

/// Memory the allocator refused for what was read (a body, the log), as SQLite's own
/// SQLITE_NOMEM: the statement fails, and its transaction with it, rather than the process.
fn refused(refused: memory::OutOfMemory) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOMEM), Some(refused.to_string()))
}

/// The directory is shared by the web server's user and the site's CLI user: group-writable
/// and setgid, so new files take its group. Nobody else: rows hold signing secrets, request
/// headers (API keys) and customers' data.
fn create_shared_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(SHARED_DIR_MODE).create(dir)?;
    // The umask may have removed the group's bits; set them explicitly. Failure only narrows
    // sharing.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(SHARED_DIR_MODE));
    Ok(())
}

/// The owner and the group read and write; SQLite gives its -wal and -shm files the same.
fn share_file(path: &Path) {
    set_own_file_mode(path, |_| SHARED_FILE_MODE);
}

/// Takes other users' access away from a file of ours; failure (not ours) changes nothing.
fn shut_others_out(path: &Path) {
    set_own_file_mode(path, |mode| mode & !0o007);
}

/// Sets the mode of `path` to `mode(its mode)`, only if it is a regular file this process's
/// user owns, through the file itself: the directory is writable by the whole group, and a
/// name in it could be a symbolic link (or be swapped for one) to a file of root's, which a
/// CLI run as root must not change.
fn set_own_file_mode(path: &Path, mode: impl FnOnce(u32) -> u32) {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        // Not a link; and no wait on a FIFO put in its place.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return;
    };
    let Ok(meta) = file.metadata() else { return };
    // SAFETY: geteuid has no preconditions.
    if !meta.is_file() || meta.uid() != unsafe { libc::geteuid() } {
        return;
    }
    let (now, wanted) = (meta.mode() & 0o7777, mode(meta.mode() & 0o7777));
    if wanted != now {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(wanted));
    }
}

const SHARED_DIR_MODE: u32 = 0o2770;
const SHARED_FILE_MODE: u32 = 0o660;

/// The spool path when `fluent_webhook.spool_path` is empty.
pub fn default_path() -> PathBuf {
    PathBuf::from("/var/lib/php/fluent-webhook/spool.sqlite")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(n: u32) -> Delivery {
        let request = WebhookRequest {
            method: Method::Post,
            url: format!("http://h.test/{n}"),
            headers: vec![("X-A".into(), "b".into())],
            body: bytes::Bytes::from_static(b"{}"),
            secret: Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").ok(),
        };
        let mut d = Delivery::new(Some("7".into()), "feed".into(), "order_paid_done".into(), request);
        d.created_at = 1_000 + u64::from(n);
        d
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("fw-spool-{}", uuid::Uuid::now_v7().simple()))
    }

    /// One spool file opened by two processes' owners; the directory to remove afterwards.
    fn shared_spool(first: &str, second: &str) -> (PathBuf, Spool, Spool) {
        let dir = temp_dir();
        let path = dir.join("spool.sqlite");
        (dir.clone(), Spool::open(&path, first).unwrap(), Spool::open(&path, second).unwrap())
    }

    #[test]
    fn a_moved_row_keeps_every_column() {
        let spool = Spool::in_memory("me").unwrap();
        let mut columns: Vec<String> = spool
            .conn
            .prepare("SELECT name FROM pragma_table_info('outbox') WHERE name != 'body_id'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut moved: Vec<String> = OUTBOX_COLUMNS_BUT_BODY.split(',').map(|c| c.trim().to_string()).collect();
        columns.sort();
        moved.sort();
        assert_eq!(moved, columns);
    }

    #[test]
    fn a_spool_file_deleted_while_open_is_found_and_its_rows_move_to_the_new_file() {
        let dir = temp_dir();
        let path = dir.join("spool.sqlite");
        let mut old = Spool::open(&path, "p1").unwrap();
        old.insert(&[(delivery(1), None), (delivery(2), Some(u64::MAX / 2))]).unwrap();
        assert!(!old.has_moved());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        assert!(old.has_moved(), "the file it has open is no longer at its path");
        let fresh = Spool::open(&path, "p1").unwrap();
        fresh.conn.execute("INSERT INTO bodies (body) VALUES (x'00')", []).unwrap();
        assert_eq!(old.move_rows_into(&path, BUSY_WAIT).unwrap(), (2, 2));
        assert_eq!(old.move_rows_into(&path, BUSY_WAIT).unwrap(), (0, 0), "rows already there are not copied again");
        assert!(!fresh.has_moved());
        assert_eq!(fresh.pending_count().unwrap(), 2);
        let bodies: Vec<Vec<u8>> = fresh
            .conn
            .prepare("SELECT b.body FROM outbox o JOIN bodies b ON b.id = o.body_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(bodies, vec![b"{}".to_vec(), b"{}".to_vec()], "each row keeps its own body");
        let held: i64 =
            fresh.conn.query_row("SELECT COUNT(*) FROM outbox WHERE lease_owner = 'p1'", [], |r| r.get(0)).unwrap();
        assert_eq!(held, 1, "a claim is kept");
        drop((old, fresh));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Two processes have the spool file open when it is deleted. The first to find it gone
    /// copies every row into a new file, the other's held deliveries included, claimed by it.
    /// The other records their outcomes in the file it still has open until its own look, a
    /// second later at most: its 200 stayed there, and the new file kept the delivery pending
    /// and claimed, for whoever took it up after that claim (released at the other's exit, or
    /// run out) to send again. A retry it scheduled there was lost with its attempt, and a
    /// cancel it made of a delivery the first holds did not withdraw it.
    #[test]
    fn outcomes_recorded_in_a_deleted_file_after_another_process_moved_its_rows_are_not_lost() {
        let (dir, mut first, mut second) = shared_spool("first", "second");
        let path = dir.join("spool.sqlite");
        let (delivered, retried, mut held_by_first) = (delivery(1), delivery(2), delivery(3));
        held_by_first.feed_id = Some("8".into());
        second.insert(&[(delivered.clone(), Some(50_000)), (retried.clone(), Some(50_000))]).unwrap();
        first.insert(&[(held_by_first.clone(), Some(u64::MAX / 2))]).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let mut fresh = Spool::open(&path, "first").unwrap();
        assert_eq!(first.move_rows_into(&path, BUSY_WAIT).unwrap(), (3, 3));
        let ok = Attempt { at: 11_000, status_code: Some(200), error: None, duration_ms: 2 };
        second.record_attempt(&delivered.id, &ok, Status::Delivered, None, b"ok").unwrap();
        let unavailable =
            Attempt { at: 11_000, status_code: Some(503), error: Some("HTTP 503".into()), duration_ms: 2 };
        second.record_attempt(&retried.id, &unavailable, Status::Pending, Some(99_000), b"").unwrap();
        assert_eq!(second.cancel_feed("8", "the feed was switched off", 12_000).unwrap(), 1);
        second.move_rows_into(&path, BUSY_WAIT).unwrap();
        assert_eq!(fresh.look_among([held_by_first.id.as_str()]).unwrap().canceled, [held_by_first.id.clone()]);
        let entry = fresh.get(&delivered.id).unwrap().unwrap();
        assert_eq!((entry.status, entry.attempts.len()), (Status::Delivered, 1), "the 200 is in the new file");
        let entry = fresh.get(&retried.id).unwrap().unwrap();
        assert_eq!((entry.status, entry.delivery.attempts, entry.next_attempt_at), (Status::Pending, 1, Some(99_000)));
        assert!(
            fresh.claim_due(60_000, 80_000, 10, ByteBudget::UNLIMITED).unwrap().is_empty(),
            "nothing is sent again, and the retry keeps its time"
        );
        drop((first, second, fresh));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn only_the_owner_and_the_group_can_read_the_spool() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = temp_dir().join("made");
        let path = dir.join("spool.sqlite");
        let mut spool = Spool::open(&path, "a").unwrap();
        spool.insert(&[(delivery(1), None)]).unwrap();
        assert_eq!((mode(&dir), mode(&path)), (0o2770, 0o660));
        drop(spool);
        // One an earlier build made readable by everyone loses that when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        drop(Spool::open(&path, "a").unwrap());
        assert_eq!(mode(&path), 0o660);
        // A name in the shared directory that links elsewhere: what it points to is left alone.
        let elsewhere = dir.parent().unwrap().join("not-the-spool");
        std::fs::write(&elsewhere, "x").unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _ = std::fs::remove_file(dir.join("spool.sqlite-shm"));
        std::os::unix::fs::symlink(&elsewhere, dir.join("spool.sqlite-shm")).unwrap();
        drop(Spool::open(&path, "a"));
        assert_eq!(mode(&elsewhere), 0o644);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_later_builds_layout_version_is_not_lowered() {
        let dir = temp_dir();
        let path = dir.join("spool.sqlite");
        drop(Spool::open(&path, "a").unwrap());
        let version = || Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        assert_eq!(version().unwrap(), LAYOUT_VERSION);
        Connection::open(&path).unwrap().pragma_update(None, "user_version", LAYOUT_VERSION + 1).unwrap();
        drop(Spool::open(&path, "a").unwrap());
        assert_eq!(version().unwrap(), LAYOUT_VERSION + 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_spool_without_the_network_column_gets_it_and_rows_keep_their_policy() {
        let dir = temp_dir();
        let path = dir.join("spool.sqlite");
        drop(Spool::open(&path, "earlier").unwrap());
        Connection::open(&path).unwrap().execute_batch("ALTER TABLE outbox DROP COLUMN network").unwrap();
        let mut spool = Spool::open(&path, "a").unwrap();
        let mut d = delivery(1);
        d.network = Some("127.0.0.0/8".into());
        spool.insert(&[(d, None)]).unwrap();
        let claimed = spool.claim_due(u64::MAX / 2, u64::MAX / 2 + 1, 10, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(claimed[0].network.as_deref(), Some("127.0.0.0/8"));
        drop(spool);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn claims_are_exclusive_until_the_lease_ends() {
        let (dir, mut a, mut b) = shared_spool("a", "b");
        a.insert(&[(delivery(1), None), (delivery(2), Some(10_000))]).unwrap();
        let first = b.claim_due(5_000, 6_000, 10, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(first.len(), 1, "the unclaimed one only");
        assert!(
            a.claim_due(5_000, 6_000, 10, ByteBudget::UNLIMITED).unwrap().is_empty(),
            "b holds it, a holds the other"
        );
        let taken_over = a.claim_due(20_000, 30_000, 10, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(taken_over.len(), 1, "b's lease expired; a's own may still be in flight in a");
        assert_eq!(b.claim_due(20_000, 30_000, 10, ByteBudget::UNLIMITED).unwrap().len(), 1, "b takes over a's");
        assert!(!a.has_due(25_000).unwrap(), "a held row is not due before its lease ends");
        assert_eq!(a.release_claims(25_000).unwrap(), 1);
        assert_eq!(b.release_claims(25_000).unwrap(), 1);
        assert!(b.has_due(25_000).unwrap(), "released rows are due at once");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_renewed_claim_keeps_others_out_until_it_runs_out() {
        let (dir, mut holder, mut other) = shared_spool("holder", "other");
        let (held, taken, ended) = (delivery(1), delivery(2), delivery(3));
        holder
            .insert(&[(held.clone(), Some(10_500)), (taken.clone(), Some(10_000)), (ended.clone(), Some(10_000))])
            .unwrap();
        let attempt = Attempt { at: 9_000, status_code: Some(200), error: None, duration_ms: 1 };
        holder.record_attempt(&ended.id, &attempt, Status::Delivered, None, b"").unwrap();
        assert_eq!(
            other.claim_due(11_000, 20_000, 1, ByteBudget::UNLIMITED).unwrap()[0].id,
            taken.id,
            "a lapsed claim"
        );
        let ids = [held.id.as_str(), taken.id.as_str(), ended.id.as_str()];
        let lost = holder.renew_claims(ids, 30_000).unwrap();
        assert_eq!(lost, [taken.id.clone(), ended.id.clone()], "the one taken over and the one ended");
        assert!(other.claim_due(25_000, 40_000, 10, ByteBudget::UNLIMITED).unwrap().is_empty());
        assert!(!other.has_due(29_999).unwrap());
        assert_eq!(other.claim_due(30_001, 40_000, 10, ByteBudget::UNLIMITED).unwrap()[0].id, held.id);
        assert_eq!(holder.get(&taken.id).unwrap().unwrap().status, Status::Pending);
        assert_eq!(holder.get(&ended.id).unwrap().unwrap().status, Status::Delivered);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_new_file_gets_large_pages_one_made_with_small_pages_keeps_them_and_both_checkpoint_every_4_mb() {
        let (dir, mut spool, _) = shared_spool("a", "b");
        let page_size = |spool: &Spool| spool.conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap();
        // Pages between checkpoints, which the checkpoint thread makes.
        let checkpoint = |spool: &Spool| spool.checkpointer.as_ref().map(Checkpointer::pages);
        spool.insert(&[(delivery(1), None)]).unwrap();
        assert_eq!(page_size(&spool), PAGE_SIZE);
        assert_eq!(checkpoint(&spool), Some(256), "4 MB of 16 KB pages");
        let small = dir.join("small.sqlite");
        {
            let conn = Connection::open(&small).unwrap();
            conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);").unwrap();
        }
        let mut spool = Spool::open(&small, "a").unwrap();
        spool.insert(&[(delivery(2), None)]).unwrap();
        assert_eq!(page_size(&spool), 4096, "a WAL file cannot change its page size");
        assert_eq!(checkpoint(&spool), Some(1024), "4 MB of 4 KB pages");
        assert_eq!(spool.claim_due(5_000, 6_000, 10, ByteBudget::UNLIMITED).unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_checkpoint_thread_copies_the_wal_into_the_file_and_stops_with_the_spool() {
        let dir = temp_dir();
        let path = dir.join("spool.sqlite");
        let mut spool = Spool::open(&path, "me").unwrap();
        let file_size = |suffix: &str| std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |m| m.len());
        let before = file_size("");
        // 16 MB in 64 commits: four times the checkpoint interval.
        for batch in 0..64 {
            let rows: Vec<_> = (0..4)
                .map(|n| {
                    let mut d = delivery(batch * 4 + n);
                    d.request.body = bytes::Bytes::from(vec![b'x'; 64 << 10]);
                    (d, None)
                })
                .collect();
            spool.insert(&rows).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while file_size("") < before + (8 << 20) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(file_size("") >= before + (8 << 20), "checkpoints copied the WAL into the file");
        assert!(file_size("-wal") <= (4 << 20) * 8 + (1 << 20), "the WAL stays under the inline limit");
        drop(spool);
        assert_eq!(file_size("-wal"), 0, "closed: the thread stopped, the last connection checkpointed");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_spool_of_layout_2_gets_its_partial_indexes_once() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spool.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(
                "CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
                 CREATE INDEX outbox_leased ON outbox (status, lease_until);",
            )
            .unwrap();
        }
        let mut spool = Spool::open(&path, "me").unwrap();
        let partial: i64 = spool
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE status = %'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(partial, 4);
        let plan: String = spool
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE status = 'failed' ORDER BY created_at DESC LIMIT 10",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("outbox_failed"), "the log's filter on failed rows has its index: {plan}");
        spool.insert(&[(delivery(1), None)]).unwrap();
        assert_eq!(spool.claim_due(10_000, 20_000, 10, ByteBudget::UNLIMITED).unwrap().len(), 1);
        drop(spool);
        let again = Spool::open(&path, "me").unwrap();
        let indexes: i64 =
            again.conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'", [], |r| r.get(0)).unwrap();
        assert_eq!(indexes, 6, "opened again: nothing more (the key's, created, due, leased, failed, gone)");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reserved_deliveries_are_read_back_without_a_write_while_their_claim_lasts() {
        let (dir, mut a, mut b) = shared_spool("a", "b");
        let ds: Vec<_> = (1..=4).map(delivery).collect();
        a.insert(&ds.iter().map(|d| (d.clone(), Some(100_000))).collect::<Vec<_>>()).unwrap();
        let lease = |spool: &Spool, id: &str| {
            spool.conn.query_row("SELECT lease_until FROM outbox WHERE id = ?1", [id], |r| r.get::<_, i64>(0)).unwrap()
        };
        let ids = |ds: &[Delivery]| ds.iter().map(|d| (d.id.clone(), 100_000)).collect::<Vec<_>>();
        let taken = a.take_reserved(&ids(&ds[..1]), 10_000, 50_000).unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].request, ds[0].request);
        assert_eq!(lease(&a, &ds[0].id), 100_000, "the claim made at writing covers it: no write");
        let renewed = a.take_reserved(&ids(&ds[1..2]), 90_000, 150_000).unwrap();
        assert_eq!(renewed.len(), 1);
        assert_eq!(lease(&a, &ds[1].id), 150_000, "a claim too short for the attempt is renewed");
        for d in &ds[..2] {
            let attempt = Attempt { at: 1, status_code: Some(204), error: None, duration_ms: 1 };
            a.record_attempt(&d.id, &attempt, Status::Delivered, None, b"").unwrap();
        }
        let by_b = b.claim_due(200_000, 250_000, 1, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(by_b.len(), 1, "a's claim on the others ran out");
        let still_a = a.take_reserved(&ids(&ds[2..]), 200_000, 250_000).unwrap();
        assert_eq!(still_a.len(), 1, "the one b took is b's to send");
        assert_ne!(still_a[0].id, by_b[0].id);
        assert_eq!(lease(&a, &still_a[0].id), 250_000, "claimed anew: nobody had taken it");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reserved_delivery_that_changed_hands_is_not_sent_again_by_its_first_process() {
        let (dir, mut a, mut b) = shared_spool("a", "b");
        let d = delivery(1);
        a.insert(&[(d.clone(), Some(100_000))]).unwrap();
        // a's claim ran out; b took it over, failed, and let it go for a retry ...
        assert_eq!(b.claim_due(200_000, 250_000, 1, ByteBudget::UNLIMITED).unwrap().len(), 1);
        let attempt = Attempt { at: 200_000, status_code: Some(503), error: Some("HTTP 503".into()), duration_ms: 1 };
        b.record_attempt(&d.id, &attempt, Status::Pending, Some(210_000), b"").unwrap();
        // ... which a claimed, as any due delivery, and is sending.
        assert_eq!(a.claim_due(220_000, 300_000, 1, ByteBudget::UNLIMITED).unwrap().len(), 1);
        assert!(
            a.take_reserved(&[(d.id.clone(), 100_000)], 230_000, 300_000).unwrap().is_empty(),
            "the reservation is over: its row has another claim"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reserved_delivery_canceled_or_without_its_body_ends_without_an_attempt() {
        let mut spool = Spool::in_memory("me").unwrap();
        let (canceled, lost) = (delivery(1), delivery(2));
        spool.insert(&[(canceled.clone(), Some(100_000)), (lost.clone(), Some(100_000))]).unwrap();
        assert_eq!(spool.cancel_feed("7", "the feed was switched off", 10_000).unwrap(), 2);
        spool.conn.execute("UPDATE outbox SET canceled = NULL WHERE id = ?1", [&lost.id]).unwrap();
        spool
            .conn
            .execute("DELETE FROM bodies WHERE id = (SELECT body_id FROM outbox WHERE id = ?1)", [&lost.id])
            .unwrap();
        let reserved = [(canceled.id.clone(), 100_000), (lost.id.clone(), 100_000)];
        assert!(spool.take_reserved(&reserved, 20_000, 50_000).unwrap().is_empty());
        let canceled = spool.get(&canceled.id).unwrap().unwrap();
        assert_eq!(canceled.status, Status::Failed);
        assert_eq!(canceled.attempts[0].error.as_deref(), Some("canceled: the feed was switched off"));
        let lost = spool.get(&lost.id).unwrap().unwrap();
        assert_eq!(lost.status, Status::Failed);
        assert!(lost.attempts[0].error.as_deref().unwrap().contains("lost this delivery's body"));
        assert_eq!(spool.pending_count().unwrap(), 0);
    }

    #[test]
    fn a_cancel_between_the_read_back_and_the_renewal_ends_the_reserved_delivery() {
        let (dir, mut a, mut b) = shared_spool("a", "b");
        let d = delivery(1);
        a.insert(&[(d.clone(), Some(100_000))]).unwrap();
        // The claim made at writing is too short for the attempt: a must renew it ...
        let read_back = a.read_reserved(&[(d.id.clone(), 100_000)], 90_000, 150_000).unwrap();
        assert_eq!(read_back.renew.len(), 1);
        // ... and b's admin switches the feed off before it does.
        assert_eq!(b.cancel_feed("7", "the feed was switched off", 95_000).unwrap(), 1);
        assert!(a.settle_reserved(read_back, 150_000).unwrap().is_empty(), "not sent");
        let entry = a.get(&d.id).unwrap().unwrap();
        assert_eq!(entry.status, Status::Failed);
        assert_eq!(entry.attempts[0].error.as_deref(), Some("canceled: the feed was switched off"));
        assert_eq!(entry.attempts[0].status_code, None, "ended without a request");
        assert_eq!(a.pending_count().unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Another process's claim with a time that is not a number (text sorts after every
    /// number) is not a time at which anything falls due: read as 1, it had flush() ask for
    /// claims every few milliseconds until its deadline.
    #[test]
    fn a_claim_whose_time_is_text_is_not_waited_for() {
        let (dir, me, mut other) = shared_spool("me", "other");
        let held = delivery(1);
        other.insert(&[(held.clone(), Some(u64::MAX / 4))]).unwrap();
        other.conn.execute("UPDATE outbox SET lease_until = 'later' WHERE id = ?1", [&held.id]).unwrap();
        assert_eq!(me.next_due(1_000).unwrap(), None);
        other.conn.execute("UPDATE outbox SET lease_until = 90000 WHERE id = ?1", [&held.id]).unwrap();
        assert_eq!(me.next_due(1_000).unwrap(), Some(90_001), "a number is waited for");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A pending row without a time (another process wrote NULL there, or text) is never due,
    /// and must not hide one that is: NULL comes first in the walk of `outbox_due`, and read
    /// as a time it failed next_due(), which flush() took for "nothing left to wait for" and
    /// returned true at once, before retries due within its timeout.
    #[test]
    fn a_pending_row_without_a_time_hides_no_due_retry() {
        let mut spool = Spool::in_memory("me").unwrap();
        let (timeless, worded, retry) = (delivery(1), delivery(2), delivery(3));
        spool.insert(&[(timeless.clone(), None), (worded.clone(), None), (retry.clone(), None)]).unwrap();
        spool.conn.execute("UPDATE outbox SET next_attempt_at = NULL WHERE id = ?1", [&timeless.id]).unwrap();
        spool.conn.execute("UPDATE outbox SET next_attempt_at = 'soon' WHERE id = ?1", [&worded.id]).unwrap();
        spool.conn.execute("UPDATE outbox SET next_attempt_at = 5000 WHERE id = ?1", [&retry.id]).unwrap();
        assert_eq!(spool.next_due(0).unwrap(), Some(5000));
        spool.conn.execute("DELETE FROM outbox WHERE id = ?1", [&retry.id]).unwrap();
        assert_eq!(spool.next_due(0).unwrap(), None, "neither is ever due");
    }

    #[test]
    fn attempts_statuses_and_the_log() {
        let mut spool = Spool::in_memory("me").unwrap();
        let d = delivery(1);
        spool.insert(&[(d.clone(), Some(u64::MAX / 2))]).unwrap();
        let attempt = Attempt { at: 5, status_code: Some(500), error: Some("HTTP 500".into()), duration_ms: 3 };
        spool.record_attempt(&d.id, &attempt, Status::Pending, Some(9_000), b"oops").unwrap();
        assert_eq!(spool.next_due(0).unwrap(), Some(9_000));
        assert!(spool.claim_due(8_999, 20_000, 5, ByteBudget::UNLIMITED).unwrap().is_empty());
        let again = spool.claim_due(9_000, 20_000, 5, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].request, d.request);
        spool
            .record_attempt(
                &d.id,
                &Attempt { status_code: Some(200), error: None, ..attempt },
                Status::Delivered,
                None,
                b"ok",
            )
            .unwrap();
        assert!(
            spool.claim_due(u64::MAX / 4, u64::MAX / 2, 5, ByteBudget::UNLIMITED).unwrap().is_empty(),
            "delivered is never claimed"
        );
        let entry = spool.get(&d.id).unwrap().unwrap();
        assert_eq!(entry.status, Status::Delivered);
        assert_eq!(entry.attempts.len(), 2);
        assert_eq!(entry.response_excerpt, b"ok");
        assert_eq!(spool.pending_count().unwrap(), 0);
    }

    #[test]
    fn bodies_live_apart_and_earlier_rows_move_in() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spool.sqlite");
        // The table of earlier builds, with the body in the row, as one left it.
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE deliveries (id TEXT PRIMARY KEY, feed_id TEXT, feed_name TEXT NOT NULL, event TEXT NOT NULL,
                     method TEXT NOT NULL, url TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
                     status TEXT NOT NULL, attempts TEXT NOT NULL DEFAULT '[]', attempt_count INTEGER NOT NULL DEFAULT 0,
                     response_excerpt BLOB, created_at INTEGER NOT NULL, next_attempt_at INTEGER, lease_owner TEXT,
                     lease_until INTEGER, secret TEXT);
                 INSERT INTO deliveries (id, feed_name, event, method, url, headers, body, status, created_at, next_attempt_at)
                 VALUES ('msg_old', 'feed', 'e', 'POST', 'http://h.test/', '[]', x'7b7d', 'pending', 1, 1);",
            )
            .unwrap();
        let mut spool = Spool::open(&path, "me").unwrap();
        let d = delivery(1);
        spool.insert(&[(d.clone(), None)]).unwrap();
        let earlier: i64 = spool.conn.query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0)).unwrap();
        assert_eq!(earlier, 0, "an earlier build finds nothing it could send without its body");
        let claimed = spool.claim_due(u64::MAX / 4, u64::MAX / 2, 10, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(claimed.iter().all(|c| c.request.body == b"{}"[..]), "both bodies, the moved one included");
        assert_eq!(spool.get(&d.id).unwrap().unwrap().delivery.request, d.request);
        for c in &claimed {
            let attempt = Attempt { at: 1, status_code: Some(200), error: None, duration_ms: 1 };
            spool.record_attempt(&c.id, &attempt, Status::Delivered, None, b"").unwrap();
        }
        assert_eq!(spool.prune(u64::MAX / 4, 100).unwrap(), 2);
        let left: i64 = spool.conn.query_row("SELECT COUNT(*) FROM bodies", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0, "pruning takes the bodies too");
        let version: i64 = spool.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, LAYOUT_VERSION);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_claim_takes_only_what_fits_in_its_byte_budget() {
        let mut spool = Spool::in_memory("me").unwrap();
        let big = |n: u32| {
            let mut d = delivery(n);
            d.request.body = bytes::Bytes::from(vec![b'x'; 1000]);
            d
        };
        spool.insert(&[(big(1), None), (big(2), None), (big(3), None)]).unwrap();
        let budget = ByteBudget { bytes: 2_500, at_least_one: false };
        assert_eq!(spool.claim_due(10_000, 20_000, 10, budget).unwrap().len(), 2, "two of 1,000 bytes fit in 2,500");
        assert!(spool.has_due(10_000).unwrap(), "the third was let go at once, due for anyone");
        let nothing = ByteBudget { bytes: 10, at_least_one: false };
        assert!(spool.claim_due(10_000, 20_000, 10, nothing).unwrap().is_empty());
        let first = ByteBudget { bytes: 10, at_least_one: true };
        assert_eq!(
            spool.claim_due(10_000, 20_000, 10, first).unwrap().len(),
            1,
            "one past the budget when nothing else is held"
        );
    }

    /// Rows another process wrote with values of other types than ours (SQLite keeps what it
    /// is given: text in an INTEGER column, a BLOB in a TEXT one, text that is not UTF-8). One
    /// such row failed every claim of the spool (every process's: nothing due was ever sent
    /// again), every listing of the log, and pruning. They are read as best they can be.
    #[test]
    fn rows_with_values_of_other_types_block_no_claim_listing_or_pruning() {
        let mut spool = Spool::in_memory("me").unwrap();
        let good = delivery(1);
        spool.insert(&[(good.clone(), None)]).unwrap();
        let odd = [
            ("msg_text_time", "'yesterday'", "'f'", "'[]'", "x'7b7d'", "NULL", "'0'"),
            ("msg_blob_name", "5", "x'ff00'", "'[]'", "x'7b7d'", "NULL", "'0'"),
            ("msg_real_count", "5", "'f'", "'[]'", "x'7b7d'", "'not a blob'", "1.5"),
            ("msg_text_body", "5", "CAST(x'ff' AS TEXT)", "'[]'", "'{\"a\":1}'", "NULL", "0"),
            ("msg_bad_attempts", "5", "'f'", "x'00'", "x'7b7d'", "NULL", "'two'"),
        ];
        for (id, created_at, feed_name, attempts, body, excerpt, count) in odd {
            spool
                .conn
                .execute_batch(&format!(
                    "INSERT INTO bodies (body) VALUES ({body});
                     INSERT INTO outbox (id, feed_id, feed_name, event, method, url, headers, status, attempts,
                                         attempt_count, response_excerpt, created_at, next_attempt_at, body_id)
                     VALUES ('{id}', x'37', {feed_name}, 'order_paid_done', 'POST', 'http://h.test/', x'5b5d', 'pending',
                             {attempts}, {count}, {excerpt}, {created_at}, 0, last_insert_rowid());"
                ))
                .unwrap();
        }
        let listed = spool.list(&Filter { limit: 10, ..Filter::default() }).expect("the log lists every row");
        assert_eq!(listed.len(), 6);
        let text_body = spool.get("msg_text_body").unwrap().unwrap();
        assert_eq!(text_body.delivery.request.body, br#"{"a":1}"#[..]);
        assert_eq!(text_body.delivery.feed_name, "\u{fffd}");
        let claimed = spool.claim_due(10_000, 20_000, 10, ByteBudget::UNLIMITED).expect("a claim reads every row");
        let mut ids: Vec<&str> = claimed.iter().map(|d| d.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [good.id.as_str(), "msg_bad_attempts", "msg_blob_name", "msg_real_count", "msg_text_body", "msg_text_time"]
        );
        for id in ids.iter().map(|id| id.to_string()) {
            let attempt = Attempt { at: 1, status_code: Some(200), error: None, duration_ms: 1 };
            spool.record_attempt(&id, &attempt, Status::Delivered, None, b"").unwrap();
        }
        // All but the row whose time is text: SQLite orders text after every number.
        assert_eq!(spool.prune(u64::MAX / 4, 100).expect("pruning reads every row"), 5);
    }

    #[test]
    fn a_row_without_its_body_fails_with_the_reason_and_blocks_no_claim() {
        let mut spool = Spool::in_memory("me").unwrap();
        spool.insert(&[(delivery(1), None), (delivery(2), None)]).unwrap();
        let lost = spool.list(&Filter { limit: 10, ..Filter::default() }).unwrap()[1].delivery.id.clone();
        spool
            .conn
            .execute("DELETE FROM bodies WHERE id = (SELECT body_id FROM outbox WHERE id = ?1)", [&lost])
            .unwrap();
        spool.conn.execute("UPDATE outbox SET attempts = 'not json' WHERE id = ?1", [&lost]).unwrap();
        let claimed = spool.claim_due(10_000, 20_000, 10, ByteBudget::UNLIMITED).unwrap();
        assert_eq!(claimed.len(), 1, "the other delivery is claimed");
        let entry = spool.get(&lost).unwrap().unwrap();
        assert_eq!(entry.status, Status::Failed);
        assert!(entry.attempts[0].error.as_deref().unwrap().contains("lost this delivery's body"));
    }

    #[test]
    fn cancel_ends_a_feeds_free_deliveries_at_once_and_held_ones_after_their_attempt() {
        let mut spool = Spool::in_memory("me").unwrap();
        let mut other_feed = delivery(3);
        other_feed.feed_id = Some("8".into());
        spool.insert(&[(delivery(1), None), (delivery(2), Some(50_000)), (other_feed, None)]).unwrap();
        assert_eq!(spool.cancel_feed("7", "the feed was switched off", 10_000).unwrap(), 2);
        let entries = spool.list(&Filter { feed_id: Some("7".into()), limit: 10, ..Filter::default() }).unwrap();
        let (held, free) = (&entries[0], &entries[1]);
        assert_eq!(free.status, Status::Failed, "no process held it: failed at once");
        assert_eq!(free.attempts[0].error.as_deref(), Some("canceled: the feed was switched off"));
        assert_eq!(held.status, Status::Pending, "held: its attempt under way decides");
        let attempt = Attempt { at: 11_000, status_code: Some(503), error: Some("HTTP 503".into()), duration_ms: 2 };
        spool.record_attempt(&held.delivery.id, &attempt, Status::Pending, Some(99_000), b"").unwrap();
        let held = spool.get(&held.delivery.id).unwrap().unwrap();
        assert_eq!(held.status, Status::Failed, "no retry after a cancel");
        assert_eq!(held.next_attempt_at, None);
        assert_eq!(held.attempts.len(), 2);
        assert_eq!(held.attempts[1].error.as_deref(), Some("canceled: the feed was switched off"));
        assert_eq!(spool.pending_count().unwrap(), 1, "the other feed's delivery is untouched");
    }

    #[test]
    fn a_held_delivery_canceled_by_another_process_is_found_and_ends_without_an_attempt() {
        let (dir, mut holder, mut admin) = shared_spool("holder", "admin");
        let (queued, in_flight, new) = (delivery(1), delivery(2), delivery(3));
        holder.insert(&[(queued.clone(), Some(50_000)), (in_flight.clone(), Some(50_000))]).unwrap();
        assert_eq!(admin.cancel_feed("7", "the feed was switched off", 10_000).unwrap(), 2);
        // Queued after the cancel, with the feed's new settings: not the cancel's.
        holder.insert(&[(new.clone(), Some(50_000))]).unwrap();
        let held = [queued.id.as_str(), in_flight.id.as_str(), new.id.as_str()];
        assert_eq!(holder.look_among(held).unwrap().canceled, [queued.id.clone(), in_flight.id.clone()]);
        assert!(admin.look_among(held).unwrap().canceled.is_empty(), "only the holder's own claims");

        let withdrawn = AttemptRecord::withdrawn(queued.id.clone());
        // Another process's record of it writes nothing: the claim is not its own.
        assert_eq!(admin.record_attempts(std::slice::from_ref(&withdrawn)).unwrap(), [None]);
        assert_eq!(holder.record_attempts(&[withdrawn]).unwrap(), [Some(Status::Failed)]);
        let entry = holder.get(&queued.id).unwrap().unwrap();
        assert_eq!((entry.status, entry.delivery.attempts, entry.next_attempt_at), (Status::Failed, 0, None));
        assert_eq!(entry.attempts.len(), 1, "the cancellation alone");
        assert_eq!(entry.attempts[0].error.as_deref(), Some("canceled: the feed was switched off"));
        assert_eq!(holder.get(&new.id).unwrap().unwrap().status, Status::Pending);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_canceled_delivery_whose_holder_died_is_not_sent_again() {
        let (dir, mut died, mut next) = shared_spool("died", "next");
        let d = delivery(1);
        died.insert(&[(d.clone(), Some(20_000))]).unwrap();
        assert_eq!(next.cancel_feed("7", "the feed was deleted", 10_000).unwrap(), 1);
        assert!(next.claim_due(30_000, 40_000, 10, ByteBudget::UNLIMITED).unwrap().is_empty());
        let entry = next.get(&d.id).unwrap().unwrap();
        assert_eq!(entry.status, Status::Failed);
        assert_eq!(entry.attempts.len(), 1);
        assert_eq!(entry.attempts[0].error.as_deref(), Some("canceled: the feed was deleted"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A row a cancel ended while its holder's claim had run out during the attempt: a late
    /// failure leaves the cancel the last entry, the reason the log shows; a late 200 ends the
    /// delivery delivered, since the endpoint has it.
    #[test]
    fn a_late_answer_to_a_row_a_cancel_ended_keeps_the_cancel_unless_it_delivered() {
        for (code, status) in [(503, Status::Pending), (200, Status::Delivered)] {
            let (dir, mut holder, mut admin) = shared_spool("holder", "admin");
            let d = delivery(1);
            holder.insert(&[(d.clone(), Some(20_000))]).unwrap();
            assert_eq!(admin.cancel_feed("7", "the feed was switched off", 30_000).unwrap(), 1);
            let attempt = Attempt { at: 19_000, status_code: Some(code), error: None, duration_ms: 2 };
            holder.record_attempt(&d.id, &attempt, status, Some(99_000), b"").unwrap();
            let entry = holder.get(&d.id).unwrap().unwrap();
            let last = entry.attempts.last().unwrap();
            std::fs::remove_dir_all(dir).unwrap();
            if code == 200 {
                assert_eq!((entry.status, last.status_code), (Status::Delivered, Some(200)));
            } else {
                assert_eq!(entry.status, Status::Failed);
                assert_eq!(last.error.as_deref(), Some("canceled: the feed was switched off"));
            }
        }
    }

    #[test]
    fn filters_and_pruning() {
        let mut spool = Spool::in_memory("me").unwrap();
        let mut other = delivery(2);
        other.event = "order_fully_refunded".into();
        other.feed_id = Some("8".into());
        spool.insert(&[(delivery(1), None), (other, None), (delivery(3), Some(u64::MAX / 2))]).unwrap();
        let all = spool.list(&Filter { limit: 10, ..Filter::default() }).unwrap();
        assert_eq!(all.iter().map(|e| e.delivery.created_at).collect::<Vec<_>>(), [1003, 1002, 1001]);
        // The log leaves the bodies, headers and secrets out; a delivery read whole has them.
        assert!(all.iter().all(|e| e.delivery.request.body.is_empty() && e.delivery.request.secret.is_none()));
        assert!(all.iter().all(|e| e.delivery.request.headers.is_empty()));
        assert_eq!(spool.get(&all[0].delivery.id).unwrap().unwrap().delivery.request.body, delivery(3).request.body);
        assert!(!delivery(3).request.body.is_empty());
        let refunds =
            spool.list(&Filter { event: Some("order_fully_refunded".into()), limit: 10, ..Filter::default() }).unwrap();
        assert_eq!(refunds.len(), 1);
        assert_eq!(spool.list(&Filter { feed_id: Some("7".into()), limit: 10, ..Filter::default() }).unwrap().len(), 2);
        assert_eq!(spool.list(&Filter { since: Some(1002), limit: 10, ..Filter::default() }).unwrap().len(), 2);
        for far in [u64::MAX, i64::MAX as u64 + 1] {
            assert_eq!(spool.list(&Filter { since: Some(far), limit: 10, ..Filter::default() }).unwrap().len(), 0);
        }
        assert_eq!(spool.list(&Filter { limit: 1, ..Filter::default() }).unwrap().len(), 1);
        let id = all[0].delivery.id.clone();
        spool
            .record_attempt(
                &id,
                &Attempt { at: 1, status_code: Some(404), error: None, duration_ms: 1 },
                Status::Failed,
                None,
                b"",
            )
            .unwrap();
        let attempt = Attempt { at: 1, status_code: Some(200), error: None, duration_ms: 1 };
        let third = all[2].delivery.id.clone();
        assert_eq!(spool.claim_due(1_500, 1_600, 1, ByteBudget::UNLIMITED).unwrap()[0].id, third);
        spool.record_attempt(&third, &attempt, Status::Delivered, None, b"").unwrap();
        assert_eq!(spool.prune(2_000, 1).unwrap(), 1, "a part at a time, the oldest first");
        assert!(spool.get(&third).unwrap().is_none());
        assert_eq!(spool.prune(2_000, 1).unwrap(), 1);
        assert!(spool.get(&id).unwrap().is_none());
        assert_eq!(spool.prune(2_000, 1).unwrap(), 0, "only finished rows are pruned");
        assert_eq!(spool.pending_count().unwrap(), 1);
        let bodies: i64 = spool.conn.query_row("SELECT COUNT(*) FROM bodies", [], |r| r.get(0)).unwrap();
        assert_eq!(bodies, 1, "the pending one's body stays");
    }
}
