//! `fluent_webhook.*` php.ini settings. Read when the process's delivery machinery starts
//! (first dispatch, flush, resume or deliveries) and at process end (shutdown_timeout);
//! changing them with ini_set() later does not reconfigure running machinery.

use std::ffi::{c_char, c_int, CStr};
use std::path::PathBuf;
use std::time::Duration;

use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{IniEntryDef, IniEntryDefs};

use crate::engine::{ClientConfig, EngineConfig};
use crate::network::NetworkPolicy;
use crate::retry::RetryPolicy;

pub const TIMEOUT: &CStr = c"fluent_webhook.timeout";
pub const CONNECT_TIMEOUT: &CStr = c"fluent_webhook.connect_timeout";
pub const SHUTDOWN_TIMEOUT: &CStr = c"fluent_webhook.shutdown_timeout";
pub const MAX_CONCURRENCY: &CStr = c"fluent_webhook.max_concurrency";
pub const RETRY_SCHEDULE: &CStr = c"fluent_webhook.retry_schedule";
pub const SPOOL_PATH: &CStr = c"fluent_webhook.spool_path";
pub const MEMORY_LIMIT: &CStr = c"fluent_webhook.memory_limit";
pub const LOG_RETENTION_DAYS: &CStr = c"fluent_webhook.log_retention_days";
pub const ALLOWED_NETWORKS: &CStr = c"fluent_webhook.allowed_networks";
pub const MAX_PAYLOAD_BYTES: &CStr = c"fluent_webhook.max_payload_bytes";

/// (name, default) in the order phpinfo() lists them. The README documents each.
pub const SETTINGS: [(&CStr, &CStr); 10] = [
    (TIMEOUT, c"15"),
    (CONNECT_TIMEOUT, c"5"),
    (SHUTDOWN_TIMEOUT, c"5"),
    (MAX_CONCURRENCY, c"32"),
    (RETRY_SCHEDULE, c"5,300,1800,7200,18000,36000,36000"),
    (SPOOL_PATH, c"/var/lib/php/fluent-webhook/spool.sqlite"),
    (MEMORY_LIMIT, c"64M"),
    (LOG_RETENTION_DAYS, c"30"),
    (ALLOWED_NETWORKS, c""),
    (MAX_PAYLOAD_BYTES, c"1M"),
];

static ENTRIES: IniEntryDefs<11> = IniEntryDefs::new([
    IniEntryDef::new(SETTINGS[0].0, SETTINGS[0].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[1].0, SETTINGS[1].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[2].0, SETTINGS[2].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[3].0, SETTINGS[3].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[4].0, SETTINGS[4].1, IniEntryPermission::All),
    // The spool is shared by every process of the host: only php.ini may move it.
    IniEntryDef::new(SETTINGS[5].0, SETTINGS[5].1, IniEntryPermission::System),
    IniEntryDef::new(SETTINGS[6].0, SETTINGS[6].1, IniEntryPermission::All),
    IniEntryDef::new(SETTINGS[7].0, SETTINGS[7].1, IniEntryPermission::All),
    // Opening the shop's own network to webhooks is the server admin's decision.
    IniEntryDef::new(SETTINGS[8].0, SETTINGS[8].1, IniEntryPermission::System),
    IniEntryDef::new(SETTINGS[9].0, SETTINGS[9].1, IniEntryPermission::All),
    IniEntryDef::end(),
]);

extern "C" {
    fn zend_ini_string_ex(name: *const c_char, name_length: usize, orig: c_int, exists: *mut bool) -> *mut c_char;
}

pub fn register(module_number: i32) {
    IniEntryDef::register(ENTRIES.as_slice(), module_number);
}

/// The current value of a setting as text, if it is registered.
pub fn text(name: &CStr) -> Option<String> {
    with_value(name, |bytes| String::from_utf8_lossy(bytes).into_owned())
}

/// `f` of a setting's current bytes, if it is registered; the bytes are PHP's own, read
/// without a copy, and only while `f` runs.
fn with_value<T>(name: &CStr, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
    let mut exists = false;
    // SAFETY: `name` is NUL-terminated; the engine returns NULL or a NUL-terminated string it
    // owns, which stays as it is while no PHP code runs, and `f` runs none.
    unsafe {
        let value = zend_ini_string_ex(name.as_ptr(), name.to_bytes().len(), 0, &mut exists);
        (exists && !value.is_null()).then(|| f(CStr::from_ptr(value).to_bytes()))
    }
}

/// `fluent_webhook.allowed_networks` as this request sees it, as NetworkPolicy writes it ("" for
/// none, and for a value that does not parse: nothing is opened). Each delivery keeps the one
/// of the request that queued it: per-site values (php_admin_value) may differ within one
/// process, whose engine reads its own once.
pub fn allowed_networks() -> std::sync::Arc<str> {
    thread_local! {
        /// The last value read, and its policy's text: it seldom changes within a process.
        static LAST: std::cell::RefCell<(Vec<u8>, std::sync::Arc<str>)> = std::cell::RefCell::new((Vec::new(), "".into()));
    }
    with_value(ALLOWED_NETWORKS, |raw| {
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if last.0 != raw {
                let policy = NetworkPolicy::parse(&String::from_utf8_lossy(raw)).unwrap_or_default();
                *last = (raw.to_vec(), policy.to_string().into());
            }
            last.1.clone()
        })
    })
    .unwrap_or_else(|| "".into())
}

/// A number setting of PHP's as its own handler reads it (`ZEND_ATOL`, C's `atol`): base 10,
/// blanks and a sign first, up to the first other character. "-0x1" is 0 there, where
/// zend_ini_long() (any base) reads -1.
pub fn php_long(name: &CStr) -> Option<i64> {
    with_value(name, |text| {
        let start =
            text.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)).unwrap_or(text.len());
        let text = &text[start..];
        let (negative, digits) = match text.first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let value = digits
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0i64, |n, d| n.wrapping_mul(10).wrapping_add(i64::from(d - b'0')));
        if negative {
            value.wrapping_neg()
        } else {
            value
        }
    })
}

fn default_of(name: &CStr) -> &'static str {
    SETTINGS.iter().find(|s| s.0 == name).map_or("", |s| s.1.to_str().unwrap_or(""))
}

/// A number setting; an unreadable value or one outside `range` falls back to the default.
fn number(name: &CStr, range: std::ops::RangeInclusive<f64>) -> f64 {
    let parse = |text: &str| text.trim().parse::<f64>().ok().filter(|n| range.contains(n));
    text(name).as_deref().and_then(parse).or_else(|| parse(default_of(name))).unwrap_or(*range.start())
}

/// A duration setting in seconds.
pub fn seconds(name: &CStr) -> Duration {
    Duration::from_secs_f64(number(name, 0.0..=86_400.0))
}

/// A byte size with PHP's shorthand (`64M`, `1G`, `512K`).
fn bytes(name: &CStr) -> usize {
    let parse = |text: &str| {
        let text = text.trim();
        let (digits, unit) = match text.char_indices().last() {
            Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_uppercase()),
            _ => (text, 'B'),
        };
        let scale: usize = match unit {
            'K' => 1 << 10,
            'M' => 1 << 20,
            'G' => 1 << 30,
            'B' => 1,
            _ => return None,
        };
        digits.trim().parse::<usize>().ok().and_then(|n| n.checked_mul(scale)).filter(|n| *n >= 1024)
    };
    text(name).as_deref().and_then(parse).or_else(|| parse(default_of(name))).unwrap_or(64 << 20)
}

/// `fluent_webhook.memory_limit` as this request sees it: deliveries held in memory.
pub fn memory_limit() -> usize {
    bytes(MEMORY_LIMIT)
}

/// The largest payload (body, or URL for GET) dispatch() accepts.
pub fn max_payload_bytes() -> usize {
    bytes(MAX_PAYLOAD_BYTES)
}

/// The engine's configuration, and messages for the error log about settings it ignored.
pub fn engine_config_checked() -> (EngineConfig, Vec<String>) {
    let mut warnings = Vec::new();
    let retry = match RetryPolicy::parse(&text(RETRY_SCHEDULE).unwrap_or_default()) {
        Ok(policy) => policy,
        Err(e) => {
            warnings.push(format!("fluent_webhook.retry_schedule: {e}; using the default schedule"));
            RetryPolicy::default()
        }
    };
    let network = NetworkPolicy::parse(&text(ALLOWED_NETWORKS).unwrap_or_default()).unwrap_or_else(|e| {
        warnings.push(format!("fluent_webhook.allowed_networks: {e}; no range is opened"));
        NetworkPolicy::default()
    });
    let timeout = seconds(TIMEOUT);
    let spool_path = text(SPOOL_PATH).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).map(PathBuf::from);
    let config = EngineConfig {
        client: ClientConfig {
            timeout: if timeout.is_zero() { Duration::from_secs(15) } else { timeout },
            connect_timeout: seconds(CONNECT_TIMEOUT).max(Duration::from_millis(100)),
            network: std::sync::Arc::new(network),
        },
        max_concurrency: number(MAX_CONCURRENCY, 1.0..=10_000.0) as usize,
        retry,
        spool_path,
        memory_limit: bytes(MEMORY_LIMIT),
        retention: Duration::from_secs_f64(number(LOG_RETENTION_DAYS, 0.0..=3650.0) * 86_400.0),
        ..EngineConfig::default()
    };
    (config, warnings)
}

/// The engine's configuration; problems with the settings go to PHP's error log.
pub fn engine_config() -> EngineConfig {
    let (config, warnings) = engine_config_checked();
    for warning in warnings {
        super::lifecycle::log(&warning);
    }
    config
}
