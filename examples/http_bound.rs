//! The HTTP side of the engine alone, for BENCHMARKS.md: COUNT POSTs of the order_paid_done
//! sample to URL with the engine's own client and attempt code (engine::sender), CONCURRENCY
//! at a time on a 1-worker tokio runtime (as the engine), and no spool, no PHP. Prints deliveries per second
//! and user+sys CPU µs per delivery of this process.
//!
//!   cargo build --release --no-default-features --example http_bound --target-dir target/bound
//!   target/bound/release/examples/http_bound http://127.0.0.1:PORT/hook 100000 32

use std::sync::Arc;
use std::time::{Duration, Instant};

use fluent_webhook::delivery::Delivery;
use fluent_webhook::engine::sender;
use fluent_webhook::engine::ClientConfig;
use fluent_webhook::feed::Feed;
use fluent_webhook::network::NetworkPolicy;

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: http_bound URL [COUNT] [CONCURRENCY]").clone();
    let count: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let concurrency: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(32);
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("fixtures/events/order_paid_done.json").expect("run from the repository"),
    )
    .expect("valid JSON");
    let feed = Feed::new(&serde_json::json!({"name": "bound", "request_url": url, "event_trigger": ["e"]}), None)
        .expect("a valid feed");
    let config = ClientConfig {
        timeout: Duration::from_secs(15),
        connect_timeout: Duration::from_secs(5),
        network: Arc::new(NetworkPolicy::parse("127.0.0.0/8,::1").expect("valid ranges")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let client = sender::build_client(&config).expect("client");
        let request = feed.request_for("e", &data);
        let warm = Delivery::new(None, "bound".into(), "e".into(), request.clone());
        let mut parsed = sender::ParsedUrl::default();
        sender::attempt(&client, &warm, parsed.parse(&warm.request.url), &config, true, &mut None).await;
        let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let (cpu, started) = (cpu_seconds(), Instant::now());
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let slot = Arc::clone(&slots).acquire_owned().await.expect("open semaphore");
            let (client, config) = (client.clone(), config.clone());
            let delivery = Delivery::new(None, "bound".into(), "e".into(), request.clone());
            let url = parsed.parse(&delivery.request.url);
            tasks.push(tokio::spawn(async move {
                let (outcome, _) = sender::attempt(&client, &delivery, url, &config, true, &mut None).await;
                drop(slot);
                outcome.status() == Some(204)
            }));
        }
        let mut answered = 0;
        for task in tasks {
            answered += usize::from(task.await.unwrap_or(false));
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{{\"deliveries_per_second\": {:.0}, \"cpu_us_per_delivery\": {:.1}, \"answered_204\": {answered}, \"count\": {count}}}",
            count as f64 / seconds,
            (cpu_seconds() - cpu) / count as f64 * 1e6
        );
    });
}
