//! A `string` parameter taken as bytes, so invalid UTF-8 gets our own clear exception instead
//! of a TypeError that says "must be of type string" about a string.

use ext_php_rs::convert::FromZval;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::flags::DataType;
use ext_php_rs::types::Zval;

use super::exceptions;

/// Longest event name accepted; FluentCart's are under 40 bytes.
const MAX_EVENT_NAME: usize = 191;

pub struct PhpText<'a>(&'a [u8]);

impl<'a> FromZval<'a> for PhpText<'a> {
    const TYPE: DataType = DataType::String;

    fn from_zval(zval: &'a Zval) -> Option<Self> {
        zval.zend_str().map(|s| PhpText(s.as_bytes()))
    }
}

impl<'a> PhpText<'a> {
    /// An event name: non-blank UTF-8 without control characters (it is sent as a header).
    pub fn event_name(&self) -> PhpResult<&'a str> {
        let text = std::str::from_utf8(self.0).map_err(|_| exceptions::error("event name is not valid UTF-8"))?;
        let name = text.trim();
        if name.is_empty() {
            return Err(exceptions::error("event name must not be blank"));
        }
        if name.len() > MAX_EVENT_NAME {
            return Err(exceptions::error(format!("event name is longer than {MAX_EVENT_NAME} bytes")));
        }
        if name.chars().any(char::is_control) {
            return Err(exceptions::error(format!("event name {name:?} contains a control character")));
        }
        Ok(name)
    }
}

impl<'a> PhpText<'a> {
    /// A delivery id as dispatch() returns them.
    pub fn delivery_id(&self) -> PhpResult<&'a str> {
        std::str::from_utf8(self.0)
            .ok()
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .ok_or_else(|| exceptions::error("delivery id must look like msg_0123… (letters, digits and _)"))
    }
}

impl<'a> PhpText<'a> {
    /// A feed id as given to `new Feed(…, $id)`: non-blank UTF-8, trimmed as Feed trims it.
    pub fn feed_id(&self) -> PhpResult<&'a str> {
        std::str::from_utf8(self.0)
            .ok()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| exceptions::error("feed id must be a non-blank UTF-8 string"))
    }

    /// A short human reason for the log: UTF-8, one line, at most 200 bytes.
    pub fn reason(&self) -> PhpResult<&'a str> {
        std::str::from_utf8(self.0)
            .ok()
            .map(str::trim)
            .filter(|reason| reason.len() <= 200 && !reason.chars().any(char::is_control))
            .ok_or_else(|| exceptions::error("reason must be one line of UTF-8, at most 200 bytes"))
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// A `whsec_…` secret; the error never repeats it.
    pub fn secret(&self) -> PhpResult<crate::signature::Secret> {
        let text = std::str::from_utf8(self.0).map_err(|_| exceptions::error("secret is not valid UTF-8"))?;
        crate::signature::Secret::parse(text).map_err(|problem| exceptions::error(format!("secret {problem}")))
    }
}
