//! A `string` parameter taken as bytes, so invalid UTF-8 gets our own clear exception instead
//! of a TypeError that says "must be of type string" about a string. An int, float, bool or
//! object with `__toString()` is taken as PHP takes it for a `string` parameter: as its
//! string, unless the calling file declares `strict_types=1`.

use std::borrow::Cow;
use std::ffi::c_int;

use ext_php_rs::convert::FromZval;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::ffi::{ext_php_rs_executor_globals, IS_STRING, ZEND_ACC_STRICT_TYPES};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::{ZendObject, Zval};

use super::exceptions;
use crate::encode::php_float;

/// Longest event name accepted; FluentCart's are under 40 bytes.
const MAX_EVENT_NAME: usize = 191;

pub struct PhpText<'a>(Cow<'a, [u8]>);

impl<'a> FromZval<'a> for PhpText<'a> {
    const TYPE: DataType = DataType::String;

    fn from_zval(zval: &'a Zval) -> Option<Self> {
        if let Some(text) = zval.zend_str() {
            return Some(PhpText(Cow::Borrowed(text.as_bytes())));
        }
        // A feed id is a WordPress post id, an int: `cancel(42)` was a TypeError where PHP's own
        // functions take 42 as "42". Null stays refused: `Option<PhpText>` reads it as none.
        if caller_uses_strict_types() {
            return None;
        }
        if let Some(object) = zval.object() {
            return object_string(object).map(|text| PhpText(Cow::Owned(text)));
        }
        let text = if let Some(number) = zval.long() {
            number.to_string()
        } else if let Some(number) = zval.double() {
            php_float::to_php_string(number)
        } else if zval.bool()? {
            "1".to_string()
        } else {
            String::new()
        };
        Some(PhpText(Cow::Owned(text.into_bytes())))
    }
}

/// An object as a `string` parameter of PHP's own functions takes it (`strlen($stringable)`):
/// through its class's cast handler, which calls `__toString()`. None for an object that has
/// no string form (an enum, a plain object): a TypeError, as PHP's. None too when
/// `__toString()` threw: its exception stays pending and is what the caller sees, since
/// ext-php-rs throws no TypeError over a pending exception.
fn object_string(object: &ZendObject) -> Option<Vec<u8>> {
    // SAFETY: on the PHP thread, during the call whose argument this object is; the call frame
    // holds it, so whatever `__toString()` does, it outlives the cast. The handler only writes
    // the string it makes into `string`, which we own and release.
    unsafe {
        let cast = object.handlers.as_ref()?.cast_object?;
        let mut string = Zval::new();
        let made = cast(std::ptr::from_ref(object).cast_mut(), &mut string, IS_STRING as c_int);
        // Zend/zend_types.h: `SUCCESS = 0` of `zend_result`.
        if made != 0 {
            return None;
        }
        string.zend_str().map(|text| text.as_bytes().to_vec())
    }
}

/// Whether the PHP code calling the function being called declares `strict_types=1`
/// (`ZEND_ARG_USES_STRICT_TYPES()`): then PHP converts no scalar to a string parameter's
/// type. A call from PHP's own functions (`call_user_func()`, `array_map()`) never is.
pub(super) fn caller_uses_strict_types() -> bool {
    // SAFETY: the executor globals are PHP's, read on the PHP thread while it calls one of our
    // functions; a frame and its function outlive the call.
    unsafe {
        let Some(globals) = ext_php_rs_executor_globals().as_ref() else { return false };
        let Some(current) = globals.current_execute_data.as_ref() else { return false };
        let Some(caller) = current.prev_execute_data.as_ref() else { return false };
        let Some(function) = caller.func.as_ref() else { return false };
        function.common.fn_flags & ZEND_ACC_STRICT_TYPES != 0
    }
}

impl PhpText<'_> {
    /// An event name: non-blank UTF-8 without control characters (it is sent as a header).
    pub fn event_name(&self) -> PhpResult<&str> {
        let text = std::str::from_utf8(&self.0).map_err(|_| exceptions::error("event name is not valid UTF-8"))?;
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

impl PhpText<'_> {
    /// A delivery id as dispatch() returns them.
    pub fn delivery_id(&self) -> PhpResult<&str> {
        std::str::from_utf8(&self.0)
            .ok()
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .ok_or_else(|| exceptions::error("delivery id must look like msg_0123… (letters, digits and _)"))
    }
}

impl PhpText<'_> {
    /// A feed id as given to `new Feed(…, $id)`: non-blank UTF-8, trimmed as Feed trims it.
    pub fn feed_id(&self) -> PhpResult<&str> {
        std::str::from_utf8(&self.0)
            .ok()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| exceptions::error("feed id must be a non-blank UTF-8 string"))
    }

    /// A short human reason for the log: UTF-8, one line, at most 200 bytes.
    pub fn reason(&self) -> PhpResult<&str> {
        std::str::from_utf8(&self.0)
            .ok()
            .map(str::trim)
            .filter(|reason| reason.len() <= 200 && !reason.chars().any(char::is_control))
            .ok_or_else(|| exceptions::error("reason must be one line of UTF-8, at most 200 bytes"))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// A `whsec_…` secret; the error never repeats it.
    pub fn secret(&self) -> PhpResult<crate::signature::Secret> {
        let text = std::str::from_utf8(&self.0).map_err(|_| exceptions::error("secret is not valid UTF-8"))?;
        crate::signature::Secret::parse(text).map_err(|problem| exceptions::error(format!("secret {problem}")))
    }
}
