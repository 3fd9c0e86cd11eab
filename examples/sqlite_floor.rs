//! The least SQLite itself spends per delivery, for BENCHMARKS.md: a floor under any spool that
//! keeps each delivery in SQLite before its first attempt (issue 3), whatever its engine. No
//! index but the rowids, no lease, no log: per delivery, the order_paid_done sample's body
//! inserted into one table and a status row into another, in batches, in WAL mode with
//! `synchronous = NORMAL` as the spool is; then the status set, in batches, which stands for
//! the outcome. The body has a table of its own, as in the spool: in the same row, the
//! outcome's UPDATE wrote the body's page into the WAL again (8.2 µs against 6.2).
//!
//! The defaults are the cheapest settings measured on this machine (100,000 deliveries, µs):
//! 64 KB pages 6.2, 32 KB 6.9, 16 KB 8.2, 4 KB 12.9; batches of 1,024 5.9, of 256 6.2, of 4,096
//! 5.7-5.9; several rows per INSERT no cheaper. SQLite's own checkpoint every 1,000 pages (64 MB
//! of WAL) keeps the WAL bounded (300 or 3,000 pages: 5.9-6.0). `synchronous = OFF` costs this
//! process less, but only because the kernel's flusher threads then write the pages back
//! instead of this process's fsync (the same CPU, elsewhere on the machine), and a power loss
//! during a checkpoint could then corrupt the spool.
//!
//!   cargo build --release --no-default-features --example sqlite_floor --target-dir target/bound
//!   target/bound/release/examples/sqlite_floor FILE [COUNT [PAGE_SIZE [CHECKPOINT_PAGES [BATCH]]]]

use std::time::Instant;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/floor.rs"]
#[allow(dead_code)]
mod floor;
use cpu::cpu_seconds;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: sqlite_floor FILE [COUNT ...]"));
    let number = |i: usize, default: i64| args.get(i).and_then(|n| n.parse().ok()).unwrap_or(default);
    let (count, page_size, checkpoint_pages, batch) = (
        number(2, 100_000),
        number(3, floor::LEAST_PAGE_SIZE),
        number(4, floor::LEAST_CHECKPOINT_PAGES),
        number(5, 1_024),
    );
    let body =
        bytes::Bytes::from(std::fs::read("fixtures/events/order_paid_done.json").expect("run from the repository"));
    let conn = floor::open(&path, page_size, checkpoint_pages);
    let (cpu, started) = (cpu_seconds(), Instant::now());
    for first in (0..count).step_by(batch as usize) {
        let ids = first..(first + batch).min(count);
        floor::write_new(&conn, &ids.clone().map(|id| (id, body.clone())).collect::<Vec<_>>());
        floor::write_answers(&conn, &ids.map(|id| (id, 1)).collect::<Vec<_>>());
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"count\": {count}, \"page_size\": {page_size}}}",
        count as f64 / seconds,
        (cpu_seconds() - cpu) / count as f64 * 1e6
    );
}
