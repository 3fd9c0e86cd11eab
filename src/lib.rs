//! fluent-webhook: FluentCart's webhook feeds, sent from a background runtime inside PHP.
//!
//! The data path, one module each: [`settings`] (the admin screen's array, validated) →
//! [`feed`] (does an event fire it?) → [`payload`] (all data, or [`smartcode`] templates) →
//! [`request`] (method, URL, headers, body via [`encode`]) → [`delivery`] (an id per send) →
//! [`spool`] (durable, shared by processes) → [`engine`] (runtime, HTTP) → [`outcome`] →
//! [`retry`] (when to try again).
//!
//! Everything above knows nothing of PHP. [`php`] is the thin shell that converts PHP values
//! and exposes the `FluentWebhook\` API; it is compiled only with the `php` feature.

pub mod delivery;
pub mod encode;
pub mod engine;
pub mod events;
pub mod feed;
pub mod memory;
pub mod network;
pub mod outcome;
pub mod payload;
pub mod process;
pub mod redact;
pub mod request;
pub mod retry;
pub mod settings;
pub mod signature;
pub mod smartcode;
pub mod spool;

#[cfg(feature = "php")]
mod php;
