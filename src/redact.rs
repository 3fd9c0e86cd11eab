//! What the delivery log and stats() may show: credentials are cut out of URLs (`?token=…`,
//! `user:password@`), and request headers are never shown at all.

use url::form_urlencoded;

/// Query parameter names that carry credentials, matched as substrings, case-insensitively.
const CREDENTIAL_NAMES: &[&str] =
    &["token", "key", "secret", "password", "passwd", "pwd", "auth", "signature", "sig", "session", "credential"];

const REDACTED: &str = "[redacted]";

/// The URL with the values of credential-like parameters, in its query and its fragment, and
/// its user name and password replaced by `[redacted]`. Feeds refuse a user:password, but a
/// redirect's `Location` is the endpoint's to write.
pub fn url(url: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = without_userinfo(base);
    for (separator, part) in [('?', query), ('#', fragment)] {
        if let Some(part) = part {
            out.push(separator);
            out.push_str(&pairs(part));
        }
    }
    out
}

fn without_userinfo(base: &str) -> String {
    let Some(authority) = authority_at(base) else { return base.to_string() };
    let end = base[authority..].find(['/', '\\']).map_or(base.len(), |at| authority + at);
    match base[authority..end].rfind('@') {
        Some(at) => format!("{}{REDACTED}{}", &base[..authority], &base[authority + at..]),
        None => base.to_string(),
    }
}

/// Where the authority starts, as a client resolving a `Location` reads it: after `scheme://`,
/// after `//` with no scheme (relative to the request's scheme), and, for the schemes
/// browsers treat as special, after any run of `/` and `\` (`https:\\u:p@host`).
fn authority_at(base: &str) -> Option<usize> {
    let slashes = |from: usize| base[from..].find(|c| c != '/' && c != '\\').map_or(base.len(), |at| from + at);
    let scheme_end = base.find(':').filter(|&end| {
        let scheme = &base[..end];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    match scheme_end {
        Some(end) => {
            let scheme = base[..end].to_ascii_lowercase();
            if matches!(scheme.as_str(), "http" | "https" | "ws" | "wss" | "ftp") {
                Some(slashes(end + 1))
            } else {
                base[end + 1..].starts_with("//").then_some(end + 3)
            }
        }
        None if base.starts_with(['/', '\\']) && base[1..].starts_with(['/', '\\']) => Some(slashes(0)),
        None => None,
    }
}

/// The parameters split at `&` and at `;`, which some servers also read as a separator.
fn pairs(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for pair in part.split_inclusive(['&', ';']) {
        let (pair, separator) = pair.split_at(pair.len() - usize::from(pair.ends_with(['&', ';'])));
        match pair.split_once('=') {
            Some((name, _)) if is_credential(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
        out.push_str(separator);
    }
    out
}

/// Compared as the endpoint reads the name: `%74oken` and `api+key` are `token` and `api key`.
fn is_credential(name: &str) -> bool {
    let decoded: String = form_urlencoded::parse(name.as_bytes()).map(|(name, _)| name.into_owned()).collect();
    let name = decoded.to_ascii_lowercase();
    CREDENTIAL_NAMES.iter().any(|c| name.contains(c))
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_in_the_query_are_redacted_and_the_rest_kept() {
        assert_eq!(url("https://a.example/h?token=abc&page=2"), "https://a.example/h?token=[redacted]&page=2");
        assert_eq!(url("https://a.example/h?API_Key=1&x"), "https://a.example/h?API_Key=[redacted]&x");
        assert_eq!(url("https://a.example/h"), "https://a.example/h");
    }

    #[test]
    fn names_are_read_as_the_endpoint_decodes_them() {
        assert_eq!(url("https://a.example/h?%74oken=abc"), "https://a.example/h?%74oken=[redacted]");
        assert_eq!(url("https://a.example/h?api+key=abc&q=%2"), "https://a.example/h?api+key=[redacted]&q=%2");
        assert_eq!(url("https://a.example/h?%ZZ=1"), "https://a.example/h?%ZZ=1", "a broken escape is not a crash");
    }

    #[test]
    fn parameters_after_a_semicolon_are_read_too() {
        assert_eq!(url("https://a.example/h?a=1;token=x&b=2;"), "https://a.example/h?a=1;token=[redacted]&b=2;");
        assert_eq!(url("https://a.example/h?&;&"), "https://a.example/h?&;&");
    }

    #[test]
    fn the_fragment_and_the_user_info_are_redacted_too() {
        assert_eq!(
            url("https://a.example/h#access_token=abc&state=1"),
            "https://a.example/h#access_token=[redacted]&state=1"
        );
        assert_eq!(url("https://a.example/h#frag?token=x"), "https://a.example/h#frag?token=[redacted]");
        assert_eq!(url("https://user:pw@a.example/h?page=1"), "https://[redacted]@a.example/h?page=1");
        assert_eq!(url("https://a.example/path@x"), "https://a.example/path@x", "an @ in the path is not user info");
    }

    /// A `Location` may leave out the scheme, or write backslashes, which clients read as
    /// slashes: the user info of each reaches a browser or a client as credentials.
    #[test]
    fn the_user_info_of_a_location_without_scheme_or_with_backslashes_is_redacted() {
        assert_eq!(url("//user:pw@evil.example/x?page=1"), "//[redacted]@evil.example/x?page=1");
        assert_eq!(url("\\\\user:pw@evil.example\\x"), "\\\\[redacted]@evil.example\\x");
        assert_eq!(url("https:\\\\user:pw@evil.example/x"), "https:\\\\[redacted]@evil.example/x");
        assert_eq!(url("HTTP:/\\user:pw@evil.example"), "HTTP:/\\[redacted]@evil.example");
        assert_eq!(url("https:user:pw@evil.example/x"), "https:[redacted]@evil.example/x");
        assert_eq!(url("foo://user:pw@h/x"), "foo://[redacted]@h/x");
        assert_eq!(url("/path@x/y"), "/path@x/y", "a path is not user info");
        assert_eq!(url("path@x"), "path@x");
        assert_eq!(url("mailto:a@b.example"), "mailto:a@b.example");
        for odd in ["", ":", "//", "\\", "https:", "é://@", "//@", "a:b@c"] {
            url(odd);
        }
    }
}
