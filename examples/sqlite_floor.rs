//! The least SQLite itself spends per delivery, for BENCHMARKS.md: the floor under any spool
//! that keeps each delivery in SQLite before its first attempt (issue 3), whatever its engine.
//! One table, no index but the rowid, no lease, no log: the order_paid_done sample's body
//! inserted per delivery in batches, in WAL mode with `synchronous = NORMAL` as the spool is,
//! then a status column set in batches, which stands for the outcome. Prints the deliveries
//! per second and user+sys CPU µs per delivery of this process.
//!
//! The defaults are the cheapest settings measured on this machine (100,000 deliveries, µs):
//! 64 KB pages 7.9, 32 KB 9.5, 16 KB 11.3, 4 KB 15; batches of 256 or 1,024 7.9, of 64 9.0,
//! of 4,096 8.6. SQLite's own checkpoint every 1,000 pages (64 MB of WAL at 64 KB pages) keeps
//! the WAL bounded; with none at all, which no spool can afford, 6.6. `synchronous = OFF`
//! gives 6.5, but only because the kernel's flusher threads then write the pages back instead
//! of this process's fsync (the same CPU, elsewhere on the machine), and a power loss during a
//! checkpoint could then corrupt the spool.
//!
//!   cargo build --release --no-default-features --example sqlite_floor --target-dir target/bound
//!   target/bound/release/examples/sqlite_floor FILE [COUNT [PAGE_SIZE [CHECKPOINT_PAGES [BATCH]]]]

use std::time::Instant;

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: sqlite_floor FILE [COUNT ...]"));
    let number = |i: usize, default: i64| args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default);
    let (count, page_size, checkpoint_pages, batch) =
        (number(2, 100_000), number(3, 65_536), number(4, 1_000), number(5, 256));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let body = std::fs::read("fixtures/events/order_paid_done.json").expect("run from the repository");
    let conn = rusqlite::Connection::open(&path).expect("a database");
    conn.execute_batch(&format!(
        "PRAGMA page_size = {page_size}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = {checkpoint_pages};
         CREATE TABLE d (id INTEGER PRIMARY KEY, status INTEGER NOT NULL, body BLOB NOT NULL);"
    ))
    .expect("a table");
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut next = 0;
    while next < count {
        let end = (next + batch).min(count);
        let tx = conn.unchecked_transaction().expect("a transaction");
        let mut insert = tx.prepare_cached("INSERT INTO d (id, status, body) VALUES (?1, 0, ?2)").expect("insert");
        for id in next..end {
            insert.execute(rusqlite::params![id, body]).expect("insert");
        }
        drop(insert);
        tx.commit().expect("commit");
        let tx = conn.unchecked_transaction().expect("a transaction");
        let mut outcome = tx.prepare_cached("UPDATE d SET status = 1 WHERE id = ?1").expect("update");
        for id in next..end {
            outcome.execute([id]).expect("update");
        }
        drop(outcome);
        tx.commit().expect("commit");
        next = end;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"count\": {count}, \"page_size\": {page_size}}}",
        count as f64 / seconds,
        (cpu_seconds() - cpu) / count as f64 * 1e6
    );
}
