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
    let Some((scheme, rest)) = base.split_once("://") else { return base.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}{}", &rest[at..]),
        None => base.to_string(),
    }
}

fn pairs(part: &str) -> String {
    part.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_credential(name) => format!("{name}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
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
    fn the_fragment_and_the_user_info_are_redacted_too() {
        assert_eq!(
            url("https://a.example/h#access_token=abc&state=1"),
            "https://a.example/h#access_token=[redacted]&state=1"
        );
        assert_eq!(url("https://a.example/h#frag?token=x"), "https://a.example/h#frag?token=[redacted]");
        assert_eq!(url("https://user:pw@a.example/h?page=1"), "https://[redacted]@a.example/h?page=1");
        assert_eq!(url("https://a.example/path@x"), "https://a.example/path@x", "an @ in the path is not user info");
    }
}
