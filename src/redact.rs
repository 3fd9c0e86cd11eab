//! What the delivery log and stats() may show: credentials are cut out of URLs (`?token=…`),
//! and request headers are never shown at all.

/// Query parameter names that carry credentials, matched as substrings, case-insensitively.
const CREDENTIAL_NAMES: &[&str] =
    &["token", "key", "secret", "password", "passwd", "pwd", "auth", "signature", "sig", "session", "credential"];

/// The URL with the values of credential-like query parameters replaced by `[redacted]`.
pub fn url(url: &str) -> String {
    let Some((base, rest)) = url.split_once('?') else { return url.to_string() };
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (rest, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_credential(name) => format!("{name}=[redacted]"),
            _ => pair.to_string(),
        })
        .collect();
    let mut out = format!("{base}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn is_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    CREDENTIAL_NAMES.iter().any(|c| name.contains(c))
}
