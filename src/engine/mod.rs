//! The delivery engine: per process, a spool thread that keeps every delivery in the durable
//! spool and a tokio runtime that sends them, without ever blocking the PHP request. See
//! [`runtime`] for its life cycle.

mod endpoint_queues;
mod held;
mod http_loop;
pub mod runtime;
pub mod sender;
mod spool_worker;
pub mod tally;
mod withdrawn;

pub use runtime::{
    cancel, deliveries, delivery, flush, is_running, resume, shutdown, snapshot, spool_location, submit, take_warnings,
    EngineConfig, ShutdownReport,
};
pub use sender::ClientConfig;
pub use tally::{FailureRecord, Snapshot};
