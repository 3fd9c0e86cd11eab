//! `fluent_webhook.*` php.ini settings. Read when the runtime starts (timeouts, concurrency)
//! and at process end (shutdown_timeout); changing them with ini_set() later does not
//! reconfigure a running runtime.

use std::ffi::{c_char, c_int, CStr};
use std::time::Duration;

use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};

use crate::engine::{ClientConfig, EngineConfig};

pub const TIMEOUT: &CStr = c"fluent_webhook.timeout";
pub const CONNECT_TIMEOUT: &CStr = c"fluent_webhook.connect_timeout";
pub const SHUTDOWN_TIMEOUT: &CStr = c"fluent_webhook.shutdown_timeout";
pub const MAX_CONCURRENCY: &CStr = c"fluent_webhook.max_concurrency";

/// (name, default, what it sets) in the order phpinfo() lists them.
pub const SETTINGS: [(&CStr, &CStr, &str); 4] = [
    (
        TIMEOUT,
        c"15",
        "seconds a request may take, connect to last byte",
    ),
    (
        CONNECT_TIMEOUT,
        c"5",
        "seconds to open the TCP/TLS connection",
    ),
    (
        SHUTDOWN_TIMEOUT,
        c"5",
        "seconds the process waits at exit for queued deliveries",
    ),
    (
        MAX_CONCURRENCY,
        c"32",
        "requests in flight at once per process",
    ),
];

static ENTRIES: IniEntryDefs<5> = IniEntryDefs::new([
    IniEntryDef::new(SETTINGS[0].0, SETTINGS[0].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[1].0, SETTINGS[1].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[2].0, SETTINGS[2].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[3].0, SETTINGS[3].1, IniEntryPermission::All),
    IniEntryDef::end(),
]);

extern "C" {
    fn zend_ini_string_ex(
        name: *const c_char,
        name_length: usize,
        orig: c_int,
        exists: *mut bool,
    ) -> *mut c_char;
}

pub fn register(module_number: i32) {
    IniEntryDef::register(ENTRIES.as_slice(), module_number);
}

/// The current value of a setting as text, if it is registered.
pub fn text(name: &CStr) -> Option<String> {
    let mut exists = false;
    // SAFETY: `name` is NUL-terminated; the engine returns NULL or a NUL-terminated string
    // it owns, which we copy before returning.
    unsafe {
        let value = zend_ini_string_ex(name.as_ptr(), name.to_bytes().len(), 0, &mut exists);
        (exists && !value.is_null()).then(|| CStr::from_ptr(value).to_string_lossy().into_owned())
    }
}

/// A duration setting in seconds; an unreadable or negative value falls back to the default.
pub fn seconds(name: &CStr) -> Duration {
    let default = SETTINGS
        .iter()
        .find(|s| s.0 == name)
        .map_or("0", |s| s.1.to_str().unwrap_or("0"));
    let parse = |text: &str| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    let secs = text(name)
        .as_deref()
        .and_then(parse)
        .or_else(|| parse(default))
        .unwrap_or(0.0);
    Duration::from_secs_f64(secs.min(86_400.0))
}

pub fn engine_config() -> EngineConfig {
    let defaults = EngineConfig::default();
    let max_concurrency = text(MAX_CONCURRENCY)
        .and_then(|t| t.trim().parse::<usize>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .unwrap_or(defaults.max_concurrency);
    EngineConfig {
        client: ClientConfig {
            timeout: seconds(TIMEOUT),
            connect_timeout: seconds(CONNECT_TIMEOUT),
        },
        max_concurrency,
        ..defaults
    }
}
