//! What became of one attempt to send a delivery.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16, duration: Duration },
    /// Anything else: a non-2xx answer (`status` is set), or no answer at all.
    Failed {
        status: Option<u16>,
        reason: String,
        duration: Duration,
    },
}

impl Outcome {
    /// Classifies an HTTP answer. Only 2xx is success: a 3xx is not followed (it could point
    /// anywhere, including inside the shop's network) and counts as a failure.
    pub fn from_status(status: u16, location: Option<&str>, duration: Duration) -> Outcome {
        match status {
            200..=299 => Outcome::Delivered { status, duration },
            300..=399 => Outcome::Failed {
                status: Some(status),
                reason: format!(
                    "HTTP {status} redirect to {}; redirects are not followed",
                    location.unwrap_or("(no Location header)")
                ),
                duration,
            },
            _ => Outcome::Failed {
                status: Some(status),
                reason: format!("HTTP {status}"),
                duration,
            },
        }
    }

    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_is_delivered() {
        let d = Duration::ZERO;
        assert!(Outcome::from_status(204, None, d).is_delivered());
        assert!(!Outcome::from_status(302, Some("http://10.0.0.1/"), d).is_delivered());
        assert!(!Outcome::from_status(404, None, d).is_delivered());
        assert!(!Outcome::from_status(500, None, d).is_delivered());
        let Outcome::Failed { reason, .. } = Outcome::from_status(301, Some("https://x.test/"), d)
        else {
            unreachable!()
        };
        assert!(reason.contains("not followed"), "{reason}");
    }
}
