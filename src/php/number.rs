//! `float` and `int` parameters converted as PHP converts them for its own functions: a numeric
//! string (`flush(get_option('…'))`: WordPress keeps its options as strings), a bool, and for
//! an `int` a float without a fraction. PHP's own conversion does it, so that "5 apples" warns
//! and "soon" is a TypeError as for `round()`'s argument. A calling file that declares
//! `strict_types=1` turns it off, as for PHP's functions: only an int still widens to a float.
//! Null stays refused (ext-php-rs refuses it for a parameter with a default).

use ext_php_rs::convert::{FromZval, StubLiteral};
use ext_php_rs::ffi::zval;
use ext_php_rs::flags::DataType;
use ext_php_rs::types::Zval;

use super::text::caller_uses_strict_types;

extern "C" {
    // Zend/zend_API.h: what a `float` or `int` parameter of PHP's own functions does with
    // another type in coercive mode. `arg_num` is used only to name the parameter when null is
    // deprecated, and null never comes here.
    fn zend_parse_arg_double_weak(arg: *const zval, dest: *mut f64, arg_num: u32) -> bool;
    fn zend_parse_arg_long_weak(arg: *const zval, dest: *mut i64, arg_num: u32) -> bool;
}

/// A `float` parameter.
#[derive(Debug, Clone, Copy)]
pub struct PhpFloat(pub f64);

/// An `int` parameter.
#[derive(Debug, Clone, Copy)]
pub struct PhpInt(pub i64);

impl FromZval<'_> for PhpFloat {
    const TYPE: DataType = DataType::Double;

    fn from_zval(zval: &Zval) -> Option<Self> {
        if let Some(number) = f64::from_zval(zval) {
            return Some(PhpFloat(number));
        }
        let mut number = 0.0;
        // SAFETY: on the PHP thread, during the call whose argument this is; PHP only reads
        // the zval, and may raise a warning or deprecation through its error handler.
        (weakly_typed(zval) && unsafe { zend_parse_arg_double_weak(zval, &mut number, 0) }).then_some(PhpFloat(number))
    }
}

impl FromZval<'_> for PhpInt {
    const TYPE: DataType = DataType::Long;

    fn from_zval(zval: &Zval) -> Option<Self> {
        if let Some(number) = zval.long() {
            return Some(PhpInt(number));
        }
        let mut number = 0;
        // SAFETY: as for PhpFloat.
        (weakly_typed(zval) && unsafe { zend_parse_arg_long_weak(zval, &mut number, 0) }).then_some(PhpInt(number))
    }
}

/// Whether a value of another type may be converted: not null, and not for a strict caller.
fn weakly_typed(zval: &Zval) -> bool {
    !zval.is_null() && !caller_uses_strict_types()
}

impl From<f64> for PhpFloat {
    fn from(number: f64) -> Self {
        PhpFloat(number)
    }
}

impl From<i64> for PhpInt {
    fn from(number: i64) -> Self {
        PhpInt(number)
    }
}

impl StubLiteral for PhpFloat {
    fn stub_literal(&self) -> String {
        self.0.stub_literal()
    }
}

impl StubLiteral for PhpInt {
    fn stub_literal(&self) -> String {
        self.0.stub_literal()
    }
}
