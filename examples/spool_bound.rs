//! The spool alone, for BENCHMARKS.md: writes COUNT deliveries of the order_paid_done sample to
//! a fresh spool file the way the engine does (batches of new deliveries claimed by this
//! process, then their outcomes recorded in batches), with no HTTP and no PHP. Prints the
//! deliveries per second and user+sys CPU µs per delivery of this process.
//!
//!   cargo build --release --no-default-features --example spool_bound --target-dir target/bound
//!   target/bound/release/examples/spool_bound /tmp/spool-bound.sqlite 100000

use std::time::Instant;

use fluent_webhook::delivery::{unix_millis, Delivery};
use fluent_webhook::feed::Feed;
use fluent_webhook::spool::{Attempt, AttemptRecord, Spool, Status};

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: spool_bound FILE [COUNT]"));
    let count: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("fixtures/events/order_paid_done.json").expect("run from the repository"),
    )
    .expect("valid JSON");
    let feed = Feed::new(
        &serde_json::json!({"name": "bound", "request_url": "http://127.0.0.1/hook", "event_trigger": ["e"]}),
        None,
    )
    .expect("a valid feed");
    let request = feed.request_for("e", &data);
    let mut spool = Spool::open(&path, "bound").expect("a spool");
    // As the engine does under load: new deliveries in batches, outcomes in smaller ones.
    let (insert_batch, outcome_batch) = (256, 64);
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut done = 0;
    while done < count {
        let n = insert_batch.min(count - done);
        let now = unix_millis();
        let rows: Vec<_> = (0..n)
            .map(|_| (Delivery::new(None, "bound".into(), "e".into(), request.clone()), Some(now + 20_000)))
            .collect();
        spool.insert(&rows).expect("insert");
        for chunk in rows.chunks(outcome_batch) {
            let records: Vec<_> = chunk
                .iter()
                .map(|(delivery, _)| AttemptRecord {
                    id: delivery.id.clone(),
                    attempt: Some(Attempt { at: now, status_code: Some(204), error: None, duration_ms: 0 }),
                    status: Status::Delivered,
                    next_attempt_at: None,
                    response_excerpt: Vec::new(),
                    attempts_at_most: None,
                    retry_at_by_count: Vec::new(),
                })
                .collect();
            spool.record_attempts(&records).expect("record");
        }
        done += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"count\": {count}}}",
        count as f64 / seconds,
        (cpu_seconds() - cpu) / count as f64 * 1e6
    );
}
