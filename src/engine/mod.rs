//! The delivery engine: a background tokio runtime per process that sends queued deliveries
//! without ever blocking the PHP request. See [`runtime`] for its life cycle.

pub mod runtime;
pub mod sender;
pub mod tally;

pub use runtime::{flush, is_running, shutdown, snapshot, submit, EngineConfig, ShutdownReport};
pub use sender::ClientConfig;
pub use tally::{FailureRecord, Snapshot};
