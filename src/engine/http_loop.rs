//! The HTTP side: one task per attempt on the tokio runtime, at most `max_concurrency` at a
//! time, each handing its outcome back to the spool thread (`super::spool_worker`). What
//! waits for a slot waits by endpoint (`super::endpoint_queues`).

use std::future::Future;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use super::endpoint_queues::{self, EndpointQueues};
use super::runtime::{abandoned, Command, EngineConfig};
use super::sender::{self, ClientConfig};
use super::tally::Tally;
use super::withdrawn::Withdrawn;
use crate::delivery::{unix_millis, Delivery};
use crate::outcome::Outcome;

pub(super) async fn http_loop(
    mut from_spool: mpsc::UnboundedReceiver<Delivery>,
    withdrawn: Arc<Withdrawn>,
    commands: std_mpsc::Sender<Command>,
    tally: Arc<Tally>,
    config: EngineConfig,
) {
    // Built here, off the PHP thread: loading the system's TLS roots takes milliseconds.
    let mut clients = Clients::new(&config.client);
    let slots = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    let share = endpoint_queues::share(config.max_concurrency);
    let mut waiting = EndpointQueues::default();
    let mut parsed = sender::ParsedUrl::default();
    loop {
        if waiting.is_empty() {
            let Some(delivery) = from_spool.recv().await else { break };
            waiting.push(delivery, |delivery| endpoint_queues::endpoint(&delivery.request.url));
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { break };
        // What came while every slot was taken competes for this one.
        while let Ok(delivery) = from_spool.try_recv() {
            waiting.push(delivery, |delivery| endpoint_queues::endpoint(&delivery.request.url));
        }
        let Some((delivery, endpoint_slot)) = waiting.pick(share) else { continue };
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
        // A resend (see sender::attempt) only brings forward a retry the schedule has left.
        let may_resend = delivery.attempts as usize + 1 < config.retry.max_attempts();
        tokio::spawn(async move {
            let started_at = unix_millis();
            let mut guard = InFlight {
                tally: &tally,
                commands: &commands,
                delivery: Some(delivery),
                started_at,
                answered: None,
                handed_over: false,
            };
            let (outcome, excerpt) = {
                let delivery = guard.delivery.as_ref().expect("held until handed over");
                match &client {
                    Ok(client) => {
                        let attempt =
                            sender::attempt(client, delivery, url, &client_config, may_resend, &mut guard.answered);
                        unwinding(attempt).await
                    }
                    Err(e) => (abandoned(&format!("could not create the HTTP client: {e}")), Vec::new()),
                }
            };
            // The spool thread records the outcome and only then takes the delivery off the
            // in-flight count, so flush() never returns before an outcome is on disk.
            let delivery = Box::new(guard.delivery.take().expect("held until handed over"));
            guard.handed_over = commands.send(Command::Finished { delivery, outcome, started_at, excerpt }).is_ok();
            // The endpoint's count first: the loop picks by it once the slot is free.
            drop(endpoint_slot);
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
/// to the spool thread (a spool thread that has stopped), so that `flush()` never waits for a
/// delivery nobody is sending. Its spool row stays pending, and another process sends it once
/// this one's claim runs out.
///
/// A task the runtime's stop drops mid-attempt (the process exits) hands its delivery over as
/// cut off: the endpoint may have the request. Released without a trace, its row was due at
/// once, and every process that exited next sent it again before its own wait ran out (an
/// endpoint slower than `shutdown_timeout` got the same webhook-id once per exiting process).
/// One whose answer's status had come, its body still on its way, hands that answer over: it
/// stands. Taken as cut off, a 2xx was sent again by the next process (an endpoint trickling
/// its answer's body past `shutdown_timeout`), and its log showed no answer.
struct InFlight<'a> {
    tally: &'a Tally,
    commands: &'a std_mpsc::Sender<Command>,
    /// Until its outcome is handed over.
    delivery: Option<Delivery>,
    started_at: u64,
    /// The outcome and the answer's bytes so far, once its status came (see sender::attempt).
    answered: Option<(Outcome, Vec<u8>)>,
    handed_over: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.handed_over {
            return;
        }
        if let Some(delivery) = self.delivery.take() {
            let delivery = Box::new(delivery);
            let started_at = self.started_at;
            let (command, counted): (_, fn(&Tally)) = match self.answered.take() {
                Some((outcome, excerpt)) => {
                    (Command::Finished { delivery, outcome, started_at, excerpt }, Tally::answered_at_stop)
                }
                None => (Command::CutOff { delivery, started_at }, Tally::cut_off),
            };
            if self.commands.send(command).is_ok() {
                counted(self.tally);
                return;
            }
        }
        self.tally.abandoned();
    }
}
