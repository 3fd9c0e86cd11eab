//! The spool's checkpoints, on a thread of their own.
//!
//! SQLite copies the WAL back into the database every few MB (a checkpoint), and with
//! `synchronous = NORMAL` it waits for the disk (fsync) before and after. Done by the
//! connection that commits, SQLite's default, that wait stopped the spool thread, and with it
//! dispatch() (waiting for room) and the sender (waiting for claims): both cores idled a
//! quarter of the time in `make bench`'s throughput run. Here a commit only wakes a thread
//! with a connection of its own, which checkpoints without blocking the writer (PASSIVE).
//! Durability is unchanged: the same checkpoints, with the same fsyncs, happen elsewhere.

use std::os::raw::c_int;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::process;

/// Past this many times the checkpoint interval, the WAL has not started over for long (a disk
/// slower than the writes): the committing connection waits for the checkpoint under way, at
/// most INLINE_WAIT, and copies the rest itself, so that the WAL cannot grow without bound.
/// The spool thread then waits for the disk, as it did at every checkpoint before.
const INLINE_AFTER: c_int = 8;
const INLINE_WAIT: Duration = Duration::from_secs(10);

type Hook = fn(&mut Wal, c_int) -> rusqlite::Result<()>;

pub struct Checkpointer {
    thread: JoinHandle<()>,
    pages: c_int,
}

impl Checkpointer {
    /// Starts the thread, and hands it the checkpoints of `conn` (the database at `path`): one
    /// once `pages` pages are in the WAL.
    pub fn start(conn: &mut Connection, path: &Path, pages: c_int) -> Result<Checkpointer, String> {
        let fail = |e: &dyn std::fmt::Display| format!("cannot start checkpoints of {}: {e}", path.display());
        let own =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| fail(&e))?;
        own.pragma_update(None, "synchronous", "NORMAL").map_err(|e| fail(&e))?;
        // One pending wake-up is enough: a checkpoint copies all that is in the WAL when it starts.
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("fluent-webhook-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // Another process checkpointing, a failing disk, or a fork waiting (see
                    // crate::process): the next commit asks again.
                    if let Some(_inside) = process::try_sqlite_section() {
                        let _ = own.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    }
                }
                let _inside = process::sqlite_section();
                drop(own);
            })
            .map_err(|e| fail(&e))?;
        // `in_wal` counts pages copied already too: a busy writer seldom lets the WAL start over
        // (that needs all of it copied when a transaction begins), so past the interval every
        // commit wakes the thread. Measured with `spool_bound`, that costs less than waking it
        // only for pages not yet copied: the WAL then grows to the inline limit before it
        // starts over, and writing to a longer WAL costs more than the extra checkpoints.
        let hook = move |wal: &mut Wal, in_wal: c_int| {
            if in_wal >= pages.saturating_mul(INLINE_AFTER) {
                // Busy while a checkpoint (this process's thread, or another process) runs.
                let deadline = Instant::now() + INLINE_WAIT;
                while let Err(e) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    if e.sqlite_error_code() != Some(ErrorCode::DatabaseBusy) || Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            } else if in_wal >= pages {
                let _ = wake.try_send(());
            }
            // An error here would fail a commit that has happened.
            Ok(())
        };
        // On an error the hook, and with it the way to wake the thread, is dropped: it ends.
        conn.wal_hook(Some(hook)).map_err(|e| fail(&e))?;
        Ok(Checkpointer { thread, pages })
    }

    /// Pages in the WAL that call for a checkpoint.
    #[cfg(test)]
    pub fn pages(&self) -> c_int {
        self.pages
    }

    /// Stops the thread once its checkpoint under way ends. Removing the hook drops the last
    /// way to wake it; `conn` checkpoints itself again, at the same interval, until closed.
    /// The caller must not be in an SQLite section: the thread closes its connection in one,
    /// which a fork waiting for the caller's would hold off.
    pub fn stop(self, conn: &mut Connection) {
        {
            let _inside = process::sqlite_section();
            let _ = conn.wal_hook(None::<Hook>);
            let _ = conn.pragma_update(None, "wal_autocheckpoint", self.pages);
        }
        let _ = self.thread.join();
    }
}
