//! Standard Webhooks signatures: proof for the receiver that a request came from the shop.
//!
//! - A secret is `whsec_` + base64 of at least 24 random bytes; the key is the decoded bytes.
//! - `webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`,
//!   made anew for every attempt (the timestamp changes).
//! - [`verify`] is the receiving side, for PHP receivers: any `v1` signature in the
//!   space-separated list may match (key rotation), compared in constant time, and a timestamp
//!   further than the tolerance from now is refused, as is an id with a `.` (the spec forbids
//!   it: it moves the boundaries of the signed content).
//!
//! A [`Secret`] never prints itself: its Debug output is redacted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

const PREFIX: &str = "whsec_";
/// Fewer random bytes than this make a guessable key.
const MIN_KEY_BYTES: usize = 24;
/// Bytes of a generated secret.
const GENERATED_KEY_BYTES: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
    text: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl Secret {
    /// Parses `whsec_…`. The error never contains the secret.
    pub fn parse(text: &str) -> Result<Secret, String> {
        let text = text.trim();
        let encoded = text.strip_prefix(PREFIX).ok_or_else(|| format!("must start with {PREFIX}"))?;
        let key = STANDARD.decode(encoded).map_err(|_| format!("must be {PREFIX} followed by base64"))?;
        if key.len() < MIN_KEY_BYTES {
            return Err(format!("must hold at least {MIN_KEY_BYTES} random bytes, has {}", key.len()));
        }
        Ok(Secret { key, text: text.to_string() })
    }

    /// A new random secret.
    pub fn generate() -> Result<Secret, String> {
        let mut key = vec![0u8; GENERATED_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| format!("no randomness from the system: {e}"))?;
        let text = format!("{PREFIX}{}", STANDARD.encode(&key));
        Ok(Secret { key, text })
    }

    /// The `whsec_…` text, for storing it; never for logs.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `webhook-signature` value for one attempt.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }

    fn mac(&self, id: &str, timestamp: u64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// Checks a received request: true when a `v1` signature matches and the timestamp is within
/// `tolerance` seconds of `now`.
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> bool {
    // The signed content is `{id}.{timestamp}.{body}`: an id with a `.` moves the boundaries,
    // and a body holding `.<timestamp>.` would verify as another id and a shorter body. The
    // spec forbids the `.`; our ids never have one.
    if id.contains('.') {
        return false;
    }
    let Ok(timestamp) = timestamp.trim().parse::<u64>() else { return false };
    if timestamp.abs_diff(now) > tolerance {
        return false;
    }
    // The body is hashed once: the header is the sender's to fill, and hashing it again for
    // each candidate let a thousand `v1,AA==` make one request cost a thousand hashes of it.
    let mac = secret.mac(id, timestamp, body);
    signatures.split_whitespace().filter_map(|s| s.strip_prefix("v1,")).any(|candidate| {
        let Ok(candidate) = STANDARD.decode(candidate) else { return false };
        mac.clone().verify_slice(&candidate).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// standard-webhooks libraries/rust/src/lib.rs, test_sign.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: u64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn the_standard_webhooks_test_vector() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn verify_checks_signature_and_time() {
        let secret = Secret::parse(SECRET).unwrap();
        let ts = TIMESTAMP.to_string();
        assert!(verify(&secret, ID, &ts, SIGNATURE, BODY, TIMESTAMP + 10, 300));
        assert!(verify(&secret, ID, &ts, &format!("v1,AAAA {SIGNATURE}"), BODY, TIMESTAMP, 300), "rotation");
        assert!(!verify(&secret, ID, &ts, SIGNATURE, b"{}", TIMESTAMP, 300), "other body");
        assert!(!verify(&secret, "msg_other", &ts, SIGNATURE, BODY, TIMESTAMP, 300), "other id");
        assert!(!verify(&secret, ID, &ts, SIGNATURE, BODY, TIMESTAMP + 301, 300), "stale");
        assert!(!verify(&secret, ID, &ts, SIGNATURE, BODY, TIMESTAMP - 301, 300), "from the future");
        assert!(!verify(&secret, ID, "soon", SIGNATURE, BODY, TIMESTAMP, 300));
        assert!(!verify(&secret, ID, &ts, "v2,abc", BODY, TIMESTAMP, 300));
        // "{ID}.{ts}.x.{ts}.rest" read again as id "{ID}.{ts}.x" and body "rest".
        let body = format!("x.{ts}.rest");
        let signature = secret.sign(ID, TIMESTAMP, body.as_bytes());
        assert!(verify(&secret, ID, &ts, &signature, body.as_bytes(), TIMESTAMP, 300));
        assert!(!verify(&secret, &format!("{ID}.{ts}.x"), &ts, &signature, b"rest", TIMESTAMP, 300), "a . in the id");
        let other = Secret::generate().unwrap();
        assert!(!verify(&other, ID, &ts, SIGNATURE, BODY, TIMESTAMP, 300));
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(Secret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(Secret::parse("whsec_not base64!").is_err());
        let short = Secret::parse("whsec_c2hvcnQ=").unwrap_err();
        assert!(short.contains("at least 24"), "{short}");
        let generated = Secret::generate().unwrap();
        assert_eq!(Secret::parse(generated.expose()).unwrap(), generated);
        assert_eq!(format!("{generated:?}"), "Secret(redacted)");
        assert!(!Secret::parse("whsec_!!").unwrap_err().contains("!!"));
    }
}
