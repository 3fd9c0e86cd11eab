//! What became of one attempt to send a delivery.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16, duration: Duration },
    /// Anything else: a non-2xx answer (`status` is set), or no answer at all.
    /// `retry_after` is the answer's Retry-After, if it had one. `refused`: the extension
    /// would not connect (a forbidden address), which no retry can change.
    Failed { status: Option<u16>, reason: String, duration: Duration, retry_after: Option<Duration>, refused: bool },
}

impl Outcome {
    /// Classifies an HTTP answer. Only 2xx is success: a 3xx is not followed (it could point
    /// anywhere, including inside the shop's network) and counts as a failure.
    pub fn from_status(
        status: u16,
        location: Option<&str>,
        retry_after: Option<Duration>,
        duration: Duration,
    ) -> Outcome {
        let reason = match status {
            200..=299 => return Outcome::Delivered { status, duration },
            300..=399 => format!(
                "HTTP {status} redirect to {}; redirects are not followed",
                location.map_or_else(|| "(no Location header)".to_string(), shown_location)
            ),
            410 => "HTTP 410 Gone: the endpoint asked not to be sent to again".to_string(),
            _ => format!("HTTP {status}"),
        };
        Outcome::Failed { status: Some(status), reason, duration, retry_after, refused: false }
    }

    /// No answer at all (connect error, timeout, reset).
    pub fn no_answer(reason: String, duration: Duration) -> Outcome {
        Outcome::Failed { status: None, reason, duration, retry_after: None, refused: false }
    }

    /// Not sent at all: the address is one the extension may not connect to.
    pub fn refused(reason: String) -> Outcome {
        Outcome::Failed { status: None, reason, duration: Duration::ZERO, retry_after: None, refused: true }
    }

    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Delivered { status, .. } => Some(*status),
            Outcome::Failed { status, .. } => *status,
        }
    }

    pub fn duration(&self) -> Duration {
        match self {
            Outcome::Delivered { duration, .. } | Outcome::Failed { duration, .. } => *duration,
        }
    }

    /// Why it failed; `None` when delivered.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Delivered { .. } => None,
            Outcome::Failed { reason, .. } => Some(reason),
        }
    }
}

/// Longest `Location` a redirect's reason shows, in bytes.
const LOCATION_SHOWN_BYTES: usize = 512;

/// A redirect's `Location` for its reason: credentials redacted, then cut at a character past
/// LOCATION_SHOWN_BYTES. The endpoint writes it, up to hyper's limit on an answer's head
/// (about 400 KB), and the reason goes into every place a failure is shown: the delivery's
/// log in the spool, stats()'s recent failures, the error log's line at exit.
fn shown_location(location: &str) -> String {
    let mut shown = crate::redact::url(location);
    let length = shown.len();
    if cut_at_a_character(&mut shown, LOCATION_SHOWN_BYTES) {
        shown.push_str(&format!("… ({length} bytes)"));
    }
    shown
}

/// Cuts `text` to at most `at_most` bytes, at a character; true when it was longer.
pub(crate) fn cut_at_a_character(text: &mut String, at_most: usize) -> bool {
    if text.len() <= at_most {
        return false;
    }
    let cut = (0..=at_most).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0);
    text.truncate(cut);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_is_delivered() {
        let d = Duration::ZERO;
        assert!(Outcome::from_status(204, None, None, d).is_delivered());
        assert!(!Outcome::from_status(302, Some("http://10.0.0.1/"), None, d).is_delivered());
        assert!(!Outcome::from_status(404, None, None, d).is_delivered());
        assert!(!Outcome::from_status(500, None, None, d).is_delivered());
        let redirect = Outcome::from_status(301, Some("https://x.test/"), None, d);
        assert!(redirect.error().unwrap().contains("not followed"));
        assert_eq!(redirect.status(), Some(301));
    }

    #[test]
    fn a_long_location_is_cut_after_its_credentials_are_redacted() {
        let long = format!("https://x.test/{}?token=secret", "é".repeat(400));
        let reason = Outcome::from_status(302, Some(&long), None, Duration::ZERO).error().unwrap().to_string();
        assert!(reason.len() < LOCATION_SHOWN_BYTES + 100, "{} bytes", reason.len());
        assert!(reason.contains("… (") && reason.ends_with("bytes); redirects are not followed"), "{reason}");
        let cut_in_the_token = format!("https://x.test/{}?token=secret", "a".repeat(LOCATION_SHOWN_BYTES - 25));
        let reason =
            Outcome::from_status(302, Some(&cut_in_the_token), None, Duration::ZERO).error().unwrap().to_string();
        assert!(!reason.contains("sec"), "{reason}");
    }
}
