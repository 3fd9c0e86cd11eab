//! `fluent_webhook.*` php.ini settings. Read when the process's delivery machinery starts
//! (first dispatch, flush, resume, deliveries, cancel or redeliver) and at the end of each
//! request (shutdown_timeout, for the wait at process end); changing them with ini_set() later
//! does not reconfigure running machinery. max_payload_bytes, memory_limit (for what one
//! dispatch() builds) and allowed_networks are read by each call that uses them.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::time::Duration;

use ext_php_rs::ffi::{php_error_docref, zend_ini_entry, zend_string, E_WARNING};
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::types::ZendStr;
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

/// What values a setting takes; one outside them is refused when it is set (see `on_modify`).
#[derive(Clone, Copy)]
enum Rule {
    /// A number of `unit`s from `least` to `most`, a whole one if `whole`.
    Number { least: f64, most: f64, unit: &'static str, whole: bool },
    /// A size in bytes with PHP's shorthand (`64M`), at least 1K.
    Bytes,
    /// Seconds between attempts ([`RetryPolicy::parse`]).
    Schedule,
    /// IP addresses and CIDR ranges ([`NetworkPolicy::parse`]).
    Networks,
    /// Any text: a path.
    Text,
}

const fn seconds_from(least: f64) -> Rule {
    Rule::Number { least, most: 86_400.0, unit: "seconds", whole: false }
}

/// (name, default, whether only php.ini may set it, rule) in the order phpinfo() lists them.
/// The README documents each.
const SETTINGS: [(&CStr, &CStr, bool, Rule); 10] = [
    (TIMEOUT, c"15", false, seconds_from(0.001)),
    (CONNECT_TIMEOUT, c"5", false, seconds_from(0.1)),
    (SHUTDOWN_TIMEOUT, c"5", false, seconds_from(0.0)),
    (MAX_CONCURRENCY, c"32", false, Rule::Number { least: 1.0, most: 10_000.0, unit: "", whole: true }),
    (RETRY_SCHEDULE, c"5,300,1800,7200,18000,36000,36000", false, Rule::Schedule),
    // The spool is shared by every process of the host: only php.ini may move it.
    (SPOOL_PATH, c"/var/lib/php/fluent-webhook/spool.sqlite", true, Rule::Text),
    (MEMORY_LIMIT, c"64M", false, Rule::Bytes),
    (LOG_RETENTION_DAYS, c"30", false, Rule::Number { least: 0.0, most: 3650.0, unit: "days", whole: false }),
    // Opening the shop's own network to webhooks is the server admin's decision.
    (ALLOWED_NETWORKS, c"", true, Rule::Networks),
    (MAX_PAYLOAD_BYTES, c"1M", false, Rule::Bytes),
];

const fn entry(at: usize) -> IniEntryDef {
    let (name, default, system_only, _) = SETTINGS[at];
    let permission = if system_only { IniEntryPermission::System } else { IniEntryPermission::All };
    let mut entry = IniEntryDef::new(name, default, permission);
    entry.on_modify = Some(on_modify);
    entry
}

static ENTRIES: IniEntryDefs<11> = IniEntryDefs::new([
    entry(0),
    entry(1),
    entry(2),
    entry(3),
    entry(4),
    entry(5),
    entry(6),
    entry(7),
    entry(8),
    entry(9),
    IniEntryDef::end(),
]);

extern "C" {
    fn zend_unregister_ini_entries(module_number: c_int);
    fn zend_ini_string_ex(name: *const c_char, name_length: usize, orig: c_int, exists: *mut bool) -> *mut c_char;
}

pub fn register(module_number: i32) {
    IniEntryDef::register(ENTRIES.as_slice(), module_number);
}

/// Removes the entries at module shutdown, as PHP expects of a module with a shutdown hook of
/// its own: loaded with dl(), the module is gone at the end of the request, and PHP's final
/// clean-up of the entries left behind read memory already freed (valgrind).
pub fn unregister(module_number: i32) {
    // SAFETY: called once, from module shutdown on the thread that runs PHP.
    unsafe { zend_unregister_ini_entries(module_number) };
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

fn rule_of(name: &CStr) -> (&'static CStr, Rule) {
    SETTINGS.iter().find(|s| s.0 == name).map_or((c"", Rule::Text), |s| (s.1, s.3))
}

/// A setting's value as its rule reads it: `None` when the rule refuses it.
fn number_in(text: &str, rule: Rule) -> Option<f64> {
    let Rule::Number { least, most, whole, .. } = rule else { return None };
    text.trim().parse::<f64>().ok().filter(|n| (least..=most).contains(n) && (!whole || n.fract() == 0.0))
}

fn bytes_in(text: &str) -> Option<usize> {
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
}

/// Why `rule` refuses `text`, if it does.
fn refusal(text: &str, rule: Rule) -> Option<String> {
    let shown: String = text.chars().take(64).collect();
    match rule {
        Rule::Number { least, most, unit, whole } => number_in(text, rule).is_none().then(|| {
            let kind = if whole { "a whole number" } else { "a number" };
            let unit = if unit.is_empty() { String::new() } else { format!(" of {unit}") };
            format!("{shown:?} is not {kind}{unit} from {least} to {most}")
        }),
        Rule::Bytes => bytes_in(text)
            .is_none()
            .then(|| format!("{shown:?} is not a size of at least 1K (a number of bytes, or with K, M or G after it)")),
        Rule::Schedule => RetryPolicy::parse(text).err(),
        Rule::Networks => NetworkPolicy::parse(text).err(),
        Rule::Text => None,
    }
}

/// PHP's check of a new value for one of our settings, from php.ini, `-d`, a pool's
/// `php_value` or `ini_set()`. A value the setting cannot take is refused with a warning that
/// names it: `ini_set()` then returns false and the setting keeps its value, and at startup
/// it keeps its default. Read later instead, it fell back to the default without a word.
unsafe extern "C" fn on_modify(
    entry: *mut zend_ini_entry,
    new_value: *mut zend_string,
    _: *mut c_void,
    _: *mut c_void,
    _: *mut c_void,
    stage: c_int,
) -> c_int {
    const SUCCESS: c_int = 0;
    const FAILURE: c_int = -1;
    const STAGE_STARTUP: c_int = 1;
    // SAFETY: PHP passes its own entry, whose name is set, and a value string or NULL.
    let text = |s: *mut zend_string| unsafe { s.as_ref().map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()) };
    let checked = std::panic::catch_unwind(|| {
        let name = unsafe { (*entry).name }.cast::<ZendStr>();
        let name = text(name).unwrap_or_default();
        let value = text(new_value)?;
        let setting = CString::new(name.clone()).ok()?;
        let reason = refusal(&value, rule_of(&setting).1)?;
        let kept = if stage == STAGE_STARTUP {
            "it keeps its default".to_string()
        } else {
            format!("it keeps {:?}", unsafe { text((*entry).value) }.unwrap_or_default())
        };
        Some(format!("{name}: {reason}; {kept}"))
    });
    match checked {
        Ok(None) => SUCCESS,
        Ok(Some(warning)) => {
            let line = nul_terminated(warning);
            // SAFETY: `line` is NUL-terminated and outlives the call; "%s" keeps any % in it
            // text. Nothing in this frame needs dropping: a handler the warning runs may end
            // the request (exit(), a fatal error), which leaves by longjmp.
            unsafe { php_error_docref(std::ptr::null(), E_WARNING as c_int, c"%s".as_ptr(), line.as_ptr()) };
            FAILURE
        }
        // Nothing to say about a value that could not be checked; the readers fall back.
        Err(_) => SUCCESS,
    }
}

/// `message` in a buffer of its own, NUL-terminated (and cut short if need be), so that the
/// message itself is gone before the warning is raised.
fn nul_terminated(message: String) -> [u8; 512] {
    let mut line = [0u8; 512];
    // Cut between characters: a handler that encodes the message as JSON (a logger's) fails on
    // half of one.
    let length = (0..=message.len().min(line.len() - 1)).rev().find(|at| message.is_char_boundary(*at)).unwrap_or(0);
    line[..length].copy_from_slice(&message.as_bytes()[..length]);
    line[..length].iter_mut().filter(|b| **b == 0).for_each(|b| *b = b' ');
    line
}

/// A number setting; a value its rule refuses (only an earlier build's, or a default) reads
/// as the default.
fn number(name: &CStr) -> f64 {
    let (default, rule) = rule_of(name);
    text(name)
        .and_then(|t| number_in(&t, rule))
        .or_else(|| number_in(default.to_str().unwrap_or(""), rule))
        .unwrap_or(0.0)
}

/// A duration setting in seconds.
pub fn seconds(name: &CStr) -> Duration {
    Duration::from_secs_f64(number(name))
}

/// A byte size with PHP's shorthand (`64M`, `1G`, `512K`).
fn bytes(name: &CStr) -> usize {
    let (default, _) = rule_of(name);
    text(name).as_deref().and_then(bytes_in).or_else(|| bytes_in(default.to_str().unwrap_or(""))).unwrap_or(64 << 20)
}

/// `fluent_webhook.memory_limit` as this request sees it: deliveries held in memory.
pub fn memory_limit() -> usize {
    bytes(MEMORY_LIMIT)
}

/// The largest payload (body, or URL for GET) dispatch() accepts.
pub fn max_payload_bytes() -> usize {
    bytes(MAX_PAYLOAD_BYTES)
}

/// The engine's configuration. A retry schedule or network list the parsers refuse falls back
/// to the default without a word here: `on_modify` refused such a value, with a warning, when
/// it was set, so none reaches this.
pub fn engine_config() -> EngineConfig {
    let spool_path = text(SPOOL_PATH).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).map(PathBuf::from);
    EngineConfig {
        client: ClientConfig {
            timeout: seconds(TIMEOUT),
            connect_timeout: seconds(CONNECT_TIMEOUT),
            network: std::sync::Arc::new(
                NetworkPolicy::parse(&text(ALLOWED_NETWORKS).unwrap_or_default()).unwrap_or_default(),
            ),
        },
        max_concurrency: number(MAX_CONCURRENCY) as usize,
        retry: RetryPolicy::parse(&text(RETRY_SCHEDULE).unwrap_or_default()).unwrap_or_default(),
        spool_path,
        memory_limit: bytes(MEMORY_LIMIT),
        retention: Duration::from_secs_f64(number(LOG_RETENTION_DAYS) * 86_400.0),
        ..EngineConfig::default()
    }
}
