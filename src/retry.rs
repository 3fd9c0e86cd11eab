//! When a failed delivery is tried again. Pure policy, no I/O: the engine asks
//! [`RetryPolicy::after`] what to do with an outcome.
//!
//! - Retried: no answer at all (connection refused or reset, DNS failure, timeout), and the
//!   answers 408, 425, 429 and 5xx.
//! - Not retried: any other 4xx, 3xx (redirects are not followed), and a request the network
//!   policy refused (its address would not change by waiting).
//! - 410 Gone: not retried, and reported as `gone`, as Standard Webhooks asks.
//!
//! The waits between attempts default to Svix's 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
//! (eight attempts in about 27 hours), each with ±20 % jitter so that a recovering endpoint is
//! not hit by every shop at once. `Retry-After` (seconds or an HTTP date) is honoured within
//! bounds: never sooner than the scheduled wait, never later than twice it or an hour,
//! whichever is longer.

use std::time::{Duration, SystemTime};

use crate::outcome::Outcome;

/// Seconds between attempts when `fluent_webhook.retry_schedule` is not set.
pub const DEFAULT_SCHEDULE: &str = "5,300,1800,7200,18000,36000,36000";
/// Relative jitter applied to every wait.
const JITTER: f64 = 0.2;
/// Waits a schedule may have at most. Every attempt's outcome carries the time of each retry
/// the schedule allows (spool::AttemptRecord::retry_at_by_count), and each attempt rewrites the
/// delivery's log of all of them: a schedule of 100,000 waits held 1.6 MB per failing delivery
/// in memory no cap counted, and one of 8,000 zero waits took 38 s of the spool thread.
pub const MAX_WAITS: usize = 100;
/// A Retry-After may stretch a wait to at least this long.
const RETRY_AFTER_CAP_FLOOR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    waits: Vec<Duration>,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    /// No more attempts: the answer says retrying cannot help, or the schedule is used up.
    Failed,
    /// 410: the endpoint asked never to be sent to again.
    Gone,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::parse(DEFAULT_SCHEDULE).expect("the default schedule parses")
    }
}

impl RetryPolicy {
    /// Comma-separated seconds (fractions allowed), at most MAX_WAITS of them; an empty text
    /// means a single attempt.
    pub fn parse(text: &str) -> Result<RetryPolicy, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(RetryPolicy { waits: Vec::new() });
        }
        let count = text.split(',').count();
        if count > MAX_WAITS {
            return Err(format!("{count} waits, more than {MAX_WAITS}"));
        }
        let waits = text
            .split(',')
            .map(|part| {
                let part = part.trim();
                part.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 30.0 * 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        // Cut short: the message is a warning's, and the value may be any length.
                        let shown: String = part.chars().take(64).collect();
                        format!("{shown:?} is not a number of seconds between 0 and 30 days")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetryPolicy { waits })
    }

    /// Attempts a delivery gets at most.
    pub fn max_attempts(&self) -> usize {
        self.waits.len() + 1
    }

    /// What follows attempt number `attempt` (1 for the first) that ended in `outcome`.
    /// `jitter` is a random number in [-1, 1].
    pub fn after(&self, attempt: usize, outcome: &Outcome, jitter: f64) -> Next {
        let Outcome::Failed { status, retry_after, refused, .. } = outcome else {
            return Next::Delivered;
        };
        if *refused {
            return Next::Failed;
        }
        match status {
            Some(410) => return Next::Gone,
            Some(408 | 425 | 429 | 500..=599) | None => {}
            Some(_) => return Next::Failed,
        }
        let Some(base) = self.waits.get(attempt.saturating_sub(1)) else {
            return Next::Failed;
        };
        let jittered = base.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0));
        let wait = match retry_after {
            Some(asked) => (*asked).clamp(*base, (*base * 2).max(RETRY_AFTER_CAP_FLOOR)),
            None => jittered,
        };
        Next::RetryIn(wait)
    }
}

/// A `Retry-After` header: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(status: Option<u16>, retry_after: Option<u64>) -> Outcome {
        Outcome::Failed {
            status,
            reason: String::new(),
            duration: Duration::ZERO,
            retry_after: retry_after.map(Duration::from_secs),
            refused: false,
        }
    }

    #[test]
    fn default_schedule_is_svixs() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 8);
        assert_eq!(policy.after(1, &failed(None, None), 0.0), Next::RetryIn(Duration::from_secs(5)));
        assert_eq!(policy.after(7, &failed(Some(503), None), 0.0), Next::RetryIn(Duration::from_secs(36000)));
        assert_eq!(policy.after(8, &failed(Some(503), None), 0.0), Next::Failed);
    }

    #[test]
    fn jitter_is_twenty_percent() {
        let policy = RetryPolicy::parse("100").unwrap();
        assert_eq!(policy.after(1, &failed(None, None), 1.0), Next::RetryIn(Duration::from_secs(120)));
        assert_eq!(policy.after(1, &failed(None, None), -1.0), Next::RetryIn(Duration::from_secs(80)));
        assert_eq!(policy.after(1, &failed(None, None), 7.0), Next::RetryIn(Duration::from_secs(120)));
    }

    #[test]
    fn which_answers_are_retried() {
        let policy = RetryPolicy::parse("1").unwrap();
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(matches!(policy.after(1, &failed(Some(status), None), 0.0), Next::RetryIn(_)), "{status}");
        }
        for status in [300, 301, 302, 400, 401, 403, 404, 405, 409, 413, 422] {
            assert_eq!(policy.after(1, &failed(Some(status), None), 0.0), Next::Failed, "{status}");
        }
        assert_eq!(policy.after(1, &failed(Some(410), None), 0.0), Next::Gone);
        assert_eq!(policy.after(1, &Outcome::refused("private".into()), 0.0), Next::Failed);
        let delivered = Outcome::Delivered { status: 204, duration: Duration::ZERO };
        assert_eq!(policy.after(1, &delivered, 0.0), Next::Delivered);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let policy = RetryPolicy::parse("10").unwrap();
        let wait = |asked| policy.after(1, &failed(Some(429), Some(asked)), 0.5);
        assert_eq!(wait(30), Next::RetryIn(Duration::from_secs(30)));
        assert_eq!(wait(2), Next::RetryIn(Duration::from_secs(10)), "never sooner than scheduled");
        assert_eq!(wait(99_999), Next::RetryIn(Duration::from_secs(3600)), "capped");
    }

    #[test]
    fn schedules_from_ini() {
        assert_eq!(RetryPolicy::parse("").unwrap().max_attempts(), 1);
        assert_eq!(RetryPolicy::parse(" 0.5, 1 ,2").unwrap().max_attempts(), 4);
        assert!(RetryPolicy::parse("5,x").is_err());
        assert!(RetryPolicy::parse("-1").is_err());
        let waits = |n: usize| vec!["0"; n].join(",");
        assert_eq!(RetryPolicy::parse(&waits(MAX_WAITS)).unwrap().max_attempts(), MAX_WAITS + 1);
        assert_eq!(RetryPolicy::parse(&waits(MAX_WAITS + 1)).unwrap_err(), "101 waits, more than 100");
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
