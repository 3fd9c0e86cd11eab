//! Process start and end, phpinfo(), and the PHP error log.
//!
//! Must-knows of running threads inside PHP:
//! - Nothing starts at module startup (see engine::runtime): php-fpm forks after it.
//! - At module shutdown the engine gets `fluent_webhook.shutdown_timeout` (as the last request
//!   left it) to drain, then the count of what was not sent goes to PHP's error log.
//! - The engine's threads run code from this library, and PHP unloads the library right after
//!   module shutdown. A thread that outlives the shutdown (one stuck in a DNS lookup, say)
//!   would then execute unmapped memory, so the first dispatch pins the library in memory
//!   (`RTLD_NODELETE`), the way dd-trace-php keeps itself loaded rather than crash.
//! - These are extern "C" hooks the engine calls directly: a panic here would abort the
//!   process, so each body runs under catch_unwind.

use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use ext_php_rs::ffi::{
    _zend_known_string_id_ZEND_STR_SENSITIVEPARAMETER as SENSITIVE_PARAMETER, ext_php_rs_compiler_globals,
    zend_class_entry, zend_function, zend_hash_str_find_ptr_lc, zend_known_strings, zend_string, HashTable,
};
use ext_php_rs::zend::ModuleEntry;
use ext_php_rs::{info_table_end, info_table_row, info_table_start};

use super::ini;
use crate::engine;

extern "C" {
    fn php_log_err_with_severity(message: *const c_char, syslog_type: c_int);
    fn display_ini_entries(module: *mut ModuleEntry);
}

/// syslog's LOG_NOTICE, what php_log_err() uses.
const LOG_NOTICE: c_int = 5;

/// Writes one line to PHP's error log (error_log ini, or stderr for the CLI).
pub fn log(message: &str) {
    let Ok(line) = CString::new(format!("fluent_webhook: {message}").replace('\0', " ")) else {
        return;
    };
    // SAFETY: a NUL-terminated string that outlives the call, on the PHP thread.
    unsafe { php_log_err_with_severity(line.as_ptr(), LOG_NOTICE) };
}

/// A module loaded from php.ini (`MODULE_PERSISTENT`), not with dl() during a request.
const MODULE_PERSISTENT: i32 = 1;

pub extern "C" fn module_startup(module_type: i32, module_number: i32) -> i32 {
    let started = catch_unwind(|| {
        ini::register(module_number);
        mark_sensitive_parameters();
        // SAFETY: module startup runs on the one thread that starts PHP, before any request.
        // Not for dl(): the engine's startup is over, and the callback would be left pointing
        // into a library unloaded at the request's end. Ours already there (a second startup
        // before the engine ran it) stays the only one: kept as the previous, it would call
        // itself.
        if module_type == MODULE_PERSISTENT && !POST_STARTUP_WAITING.swap(true, Ordering::Relaxed) {
            unsafe {
                PREVIOUS_POST_STARTUP = zend_post_startup_cb;
                zend_post_startup_cb = Some(post_startup);
            }
        }
        super::exceptions::register()
    });
    match started {
        Ok(Ok(())) => 0,
        _ => -1,
    }
}

extern "C" {
    /// Called once every module has started (Zend/zend.c, zend_post_startup), and then cleared.
    static mut zend_post_startup_cb: Option<unsafe extern "C" fn() -> c_int>;
}

/// The post-startup callback another extension had set before ours; ours calls it.
static mut PREVIOUS_POST_STARTUP: Option<unsafe extern "C" fn() -> c_int> = None;

/// Whether post_startup is set and has not run yet.
static POST_STARTUP_WAITING: AtomicBool = AtomicBool::new(false);

/// After every module's startup, when ext-php-rs has registered the `Feed` class (it does so
/// after our module_startup): its constructor's `$settings` holds the secret. A module loaded
/// with dl() starts after this point, and its `Feed` stays unmarked.
unsafe extern "C" fn post_startup() -> c_int {
    POST_STARTUP_WAITING.store(false, Ordering::Relaxed);
    let _ = catch_unwind(|| {
        // SAFETY: as in mark_sensitive_parameters; CG(class_table) holds the registered classes.
        unsafe {
            let Some(globals) = ext_php_rs_compiler_globals().as_mut() else { return };
            let feed = zend_hash_str_find_ptr_lc(globals.class_table, FEED_CLASS.as_ptr().cast(), FEED_CLASS.len());
            if let Some(feed) = feed.cast::<zend_class_entry>().as_mut() {
                mark_first_parameter_sensitive(&mut feed.function_table, "__construct");
            }
        }
    });
    // SAFETY: set at module startup, read here once, on the same thread.
    match unsafe { PREVIOUS_POST_STARTUP } {
        Some(previous) => unsafe { previous() },
        None => 0,
    }
}

/// The class whose constructor takes a feed's settings, secret included (lower case).
const FEED_CLASS: &str = "fluentwebhook\\feed";

/// Gives verify()'s `$secret` PHP's `#[\SensitiveParameter]`, as PHP gives hash_hmac()'s `$key`
/// (ext-php-rs has no way to say so): with `zend.exception_ignore_args` off, PHP's own default,
/// the trace of an exception thrown in verify() wrote the secret's first 15 bytes wherever
/// the exception went (an uncaught one's output, the error log). The module's functions are
/// in the function table by module startup; the Feed class is marked later (post_startup).
fn mark_sensitive_parameters() {
    // SAFETY: module startup runs on the one thread that starts PHP, before any request.
    unsafe {
        if let Some(globals) = ext_php_rs_compiler_globals().as_mut() {
            mark_first_parameter_sensitive(globals.function_table, "fluentwebhook\\verify");
        }
    }
}

/// Adds `#[\SensitiveParameter]` to the first parameter of the internal function `name` (lower
/// case) of `table`, as zend_add_parameter_attribute() adds it (offset 1 is the first
/// parameter), persistent as the function is.
///
/// # Safety
/// `table` is a live function table of the engine's, used by no other thread: PHP's startup.
unsafe fn mark_first_parameter_sensitive(table: *mut HashTable, name: &str) {
    extern "C" {
        fn zend_add_attribute(
            attributes: *mut *mut HashTable,
            name: *mut zend_string,
            argc: u32,
            flags: u32,
            offset: u32,
            lineno: u32,
        ) -> *mut std::ffi::c_void;
    }
    /// The attribute outlives the request: the function is internal (ZEND_ATTRIBUTE_PERSISTENT).
    const PERSISTENT: u32 = 1;
    // SAFETY: the caller's; the known strings are the engine's.
    unsafe {
        let function = zend_hash_str_find_ptr_lc(table, name.as_ptr().cast(), name.len()).cast::<zend_function>();
        if function.is_null() {
            return;
        }
        let sensitive = *zend_known_strings.add(SENSITIVE_PARAMETER as usize);
        zend_add_attribute(&mut (*function).common.attributes, sensitive, 0, PERSISTENT, 1, 0);
    }
}

/// Writes what the background threads left for the error log (they must not call PHP).
pub fn log_engine_warnings() {
    for warning in engine::take_warnings() {
        log(&warning);
    }
}

/// `fluent_webhook.shutdown_timeout` as the last request to end had it, in nanoseconds;
/// `u64::MAX` until a request ends.
static SHUTDOWN_GRACE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Request shutdown: keeps the wait at exit that the request set. PHP puts back what
/// `ini_set()` changed after this hook and before module shutdown, which read php.ini's value
/// instead of the script's.
pub extern "C" fn request_shutdown(_type: i32, _module_number: i32) -> i32 {
    let _ = catch_unwind(|| {
        let grace = ini::seconds(ini::SHUTDOWN_TIMEOUT);
        SHUTDOWN_GRACE.store(u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX - 1), Ordering::Relaxed);
    });
    0
}

/// Module shutdown: drain with a bounded wait, stop, report what was not sent.
pub extern "C" fn module_shutdown(_type: i32, module_number: i32) -> i32 {
    let _ = catch_unwind(|| {
        let grace = match SHUTDOWN_GRACE.load(Ordering::Relaxed) {
            u64::MAX => ini::seconds(ini::SHUTDOWN_TIMEOUT),
            nanos => Duration::from_nanos(nanos),
        };
        let Some(report) = engine::shutdown(grace) else { return };
        report.warnings.iter().for_each(|w| log(w));
        // Attempts cut off were sent: the endpoint may have them. They are not "not sent".
        let cut = report.cut_off.min(report.left_in_spool);
        let left = report.left_in_spool - cut;
        let lost = report.snapshot.lost;
        if report.spool_in_memory && lost > 0 {
            log(&format!(
                "{lost} deliveries are lost: they were queued, in flight or waiting for a retry when the process exited after waiting {:.1} s, and the spool is only in memory",
                grace.as_secs_f64()
            ));
        } else if !report.spool_in_memory {
            if left > lost {
                log(&format!(
                    "{} deliveries were not sent before the process exited after waiting {:.1} s; they stay in the spool {} for the next process",
                    left - lost, grace.as_secs_f64(), report.spool
                ));
            }
            if cut > 0 {
                log(&format!(
                    "{cut} attempts under way were cut off when the process exited after waiting {:.1} s (their endpoints may have the requests); \
                     recorded without an answer, they stay in the spool {} and are retried as fluent_webhook.retry_schedule says",
                    grace.as_secs_f64(), report.spool
                ));
            }
            if lost > 0 {
                log(&format!("{lost} deliveries could not be written to the spool {} and are lost", report.spool));
            }
        }
        let failed = report.snapshot.failed + report.snapshot.gone;
        if failed > 0 {
            let last = report.snapshot.recent_failures.last();
            log(&format!(
                "{failed} deliveries failed in this process{}",
                // The feed's name quoted and escaped: the site writes it, and a line break in it
                // would write a line of its own into the log.
                last.map(|f| format!(
                    "; the last: {} ({:?}) to {}: {}",
                    f.delivery_id,
                    f.feed_name,
                    crate::redact::url(&f.url),
                    f.reason
                ))
                .unwrap_or_default()
            ));
        }
    });
    ini::unregister(module_number);
    0
}

/// Keeps this library mapped after PHP's dlclose(), for threads that outlive module shutdown.
pub fn pin_extension() {
    static PINNED: Once = Once::new();
    PINNED.call_once(|| {
        // SAFETY: dladdr reads our own symbol's address; dlopen with RTLD_NOLOAD only adds a
        // reference (and the NODELETE flag) to a library that is already loaded.
        unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            if libc::dladdr(pin_extension as *const libc::c_void, &mut info) != 0 && !info.dli_fname.is_null() {
                libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE);
            }
        }
    });
}

/// phpinfo(): version, runtime state, counters, then the ini settings.
pub extern "C" fn module_info(module: *mut ModuleEntry) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let snapshot = engine::snapshot();
        info_table_start!();
        info_table_row!("fluent_webhook support", "enabled");
        info_table_row!("version", env!("CARGO_PKG_VERSION"));
        info_table_row!("build", env!("FLUENT_WEBHOOK_BUILD"));
        info_table_row!("user agent", crate::request::USER_AGENT);
        info_table_row!(
            "runtime",
            if engine::is_running() { "running" } else { "not started (starts on first dispatch)" }
        );
        info_table_row!("dispatched", snapshot.dispatched.to_string());
        info_table_row!("queued", snapshot.queued.to_string());
        info_table_row!("in flight", snapshot.in_flight.to_string());
        info_table_row!("delivered", snapshot.delivered.to_string());
        info_table_row!("failed", snapshot.failed.to_string());
        info_table_row!("gone (410)", snapshot.gone.to_string());
        info_table_row!("retries scheduled", snapshot.retries_scheduled.to_string());
        info_table_row!("spool", engine::spool_location().unwrap_or_else(|| "(opens on first use)".into()));
        info_table_end!();
        // SAFETY: the engine passes its own module entry to this hook.
        unsafe { display_ini_entries(module) };
    }));
}
