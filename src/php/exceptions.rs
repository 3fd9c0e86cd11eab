//! The exception classes PHP code catches. Every error the extension raises is one of these
//! (or PHP's own TypeError for a wrong argument type).
//!
//! They are plain subclasses of `\Exception`, registered with a ClassBuilder rather than
//! `#[php_class]`: a php_class replaces the constructor, and PHP code must be able to
//! `new` these, extend them and pass a message and code as with any exception.

use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::exception::PhpException;
use ext_php_rs::zend::{ce, ClassEntry};
use once_cell::sync::OnceCell;

use crate::request::RequestError;
use crate::settings::InvalidFeed;

/// A registered class entry; class entries live until the module shuts down.
struct Registered(OnceCell<&'static ClassEntry>);

// SAFETY: written once in MINIT and only read on PHP threads afterwards.
unsafe impl Sync for Registered {}

static BASE: Registered = Registered(OnceCell::new());
static INVALID_FEED: Registered = Registered(OnceCell::new());
static PAYLOAD: Registered = Registered(OnceCell::new());

fn base() -> &'static ClassEntry {
    BASE.0.get().copied().expect("FluentWebhook\\Exception is registered in MINIT")
}

/// Registers the classes; call from module startup.
pub fn register() -> ext_php_rs::error::Result<()> {
    // `FluentWebhook\Exception`: the base of every exception the extension throws.
    ClassBuilder::new("FluentWebhook\\Exception")
        .extends((ce::exception, "\\Exception"))
        .registration(|class, _| {
            let _ = BASE.0.set(class);
        })
        .register()?;
    // `FluentWebhook\InvalidFeedException`: settings that cannot make a request; the message
    // starts with the settings key at fault.
    ClassBuilder::new("FluentWebhook\\InvalidFeedException")
        .extends((base, "\\FluentWebhook\\Exception"))
        .registration(|class, _| {
            let _ = INVALID_FEED.0.set(class);
        })
        .register()?;
    // `FluentWebhook\PayloadException`: event data that cannot be encoded (NAN, invalid UTF-8,
    // a resource, a reference cycle, nesting past 512); the message says where.
    ClassBuilder::new("FluentWebhook\\PayloadException")
        .extends((base, "\\FluentWebhook\\Exception"))
        .registration(|class, _| {
            let _ = PAYLOAD.0.set(class);
        })
        .register()
}

fn throwable(class: &Registered, message: String) -> PhpException {
    match class.0.get() {
        Some(class) => PhpException::new(message, 0, class),
        None => PhpException::from_message(message),
    }
}

pub fn error(message: impl Into<String>) -> PhpException {
    throwable(&BASE, message.into())
}

pub fn invalid_feed(problem: &InvalidFeed) -> PhpException {
    throwable(&INVALID_FEED, problem.to_string())
}

pub fn payload(message: String) -> PhpException {
    throwable(&PAYLOAD, message)
}

/// The exception for a request a feed could not make.
pub fn request(problem: RequestError) -> PhpException {
    match problem {
        RequestError::TooLarge(message) => payload(message),
        RequestError::NotEncoded(message) => error(message),
        RequestError::OutOfMemory(refused) => error(format!("the request could not be made: {refused}")),
    }
}
