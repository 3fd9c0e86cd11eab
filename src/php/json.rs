//! PHP's own JSON encoder, for event data of arrays and scalars only: the usual case (the
//! WordPress plugin turns models into arrays) when every feed sends the whole event as JSON.
//! The bytes are json_encode()'s by construction, and it takes 0.4-0.8 µs less per dispatch()
//! than our walk of the zvals (crate::php::convert). Anything else goes through the walk:
//! PHP 8.2's encoder overflows the stack on a jsonSerialize() that returns a new object every
//! time, and when data cannot be encoded, the walk says where.

use std::ffi::{c_int, c_long, c_void, CStr};
use std::mem::ManuallyDrop;

use bytes::Bytes;
use ext_php_rs::ffi::{zend_string, GC_IMMUTABLE, IS_ARRAY, IS_ARRAY_EX};
use ext_php_rs::types::{ZendHashTable, Zval};
use once_cell::sync::OnceCell;

use super::{convert, fiber, ini};

/// `smart_str` in zend_smart_str_public.h.
#[repr(C)]
struct SmartStr {
    s: *mut zend_string,
    a: usize,
}

/// `zend_json_globals` in ext/json/php_json.h.
#[repr(C)]
struct JsonGlobals {
    encoder_depth: c_int,
    encode_max_depth: c_int,
    error_code: c_int,
}

type EncodeEx = unsafe extern "C" fn(*mut SmartStr, *mut Zval, c_int, c_long) -> c_int;

/// json_encode()'s default depth.
const DEPTH: c_long = 512;
/// The longest body PHP's encoder may write (in PHP's memory, see [`encode`]), however much
/// `max_payload_bytes` allows: an event is a few KB.
pub const LARGEST_BODY: usize = 64 * 1024;

struct Encoder {
    encode: EncodeEx,
    globals: *mut JsonGlobals,
}

// SAFETY: both are addresses in PHP's binary, used on the PHP thread only.
unsafe impl Send for Encoder {}
unsafe impl Sync for Encoder {}

/// php_json_encode_ex() and the JSON globals, looked up once: a PHP built with threads (ZTS)
/// has no `json_globals` symbol, and then the walk does all the work.
fn encoder() -> Option<&'static Encoder> {
    static ENCODER: OnceCell<Option<Encoder>> = OnceCell::new();
    ENCODER
        .get_or_init(|| {
            let find = |name: &CStr| {
                // SAFETY: looks a symbol up in the process's global scope.
                let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
                (!address.is_null()).then_some(address)
            };
            let encode = find(c"php_json_encode_ex")?;
            let globals = find(c"json_globals")?;
            // SAFETY: php_json_encode_ex has this signature in every PHP 8 (php_json.h).
            Some(Encoder {
                encode: unsafe { std::mem::transmute::<*mut c_void, EncodeEx>(encode) },
                globals: globals.cast(),
            })
        })
        .as_ref()
}

/// `data` as json_encode($data) gives it, or `None` when the walk must do it: data that is not
/// only arrays and scalars or whose JSON could pass `limit` bytes, data PHP's encoder refused
/// (NAN, invalid UTF-8: the walk then says where), a `serialize_precision` other than PHP's
/// default, or no encoder found.
///
/// The body is written in PHP's memory, which `memory_limit` caps with a fatal error rather
/// than an exception: hence `limit`, on the longest JSON the data could make. The walk writes
/// in Rust's memory, and a body over `max_payload_bytes` is an exception there.
pub fn encode(data: &ZendHashTable, limit: usize) -> Option<Bytes> {
    let encoder = encoder()?;
    // The walk writes floats as json_encode does with serialize_precision = -1 (PHP's default);
    // PHP's encoder follows the setting. One feed must not send other digits for the same
    // data depending on whether an object is in it.
    if ini::php_long(c"serialize_precision") != Some(-1) {
        return None;
    }
    // In a Fiber, whose stack may be small, the walk: it checks the stack left at each level
    // (src/php/fiber.rs), where a check here and PHP's encoder would both recurse unchecked.
    if fiber::stack_left().is_some() {
        return None;
    }
    if !convert::is_plain(data, limit) {
        return None;
    }
    let table = std::ptr::from_ref(data).cast_mut();
    // A zval that borrows the array: never dropped, so its refcount is left as it is.
    let mut zval = ManuallyDrop::new(Zval::new());
    zval.value.arr = table;
    // SAFETY: reads the flags of the live array.
    let immutable = unsafe { (*table).gc.u.type_info } & GC_IMMUTABLE != 0;
    // A refcounted array's type flags, or none for an immutable one (zend_types.h).
    zval.u1.type_info = if immutable { IS_ARRAY } else { IS_ARRAY_EX };
    let mut out = SmartStr { s: std::ptr::null_mut(), a: 0 };
    // SAFETY: the globals and the function are PHP's own (see encoder()); json_last_error()
    // must not see our call, so its error code is put back. The array is plain: no PHP code
    // runs while it is encoded.
    let succeeded = unsafe {
        let before = (*encoder.globals).error_code;
        let result = (encoder.encode)(&mut out, &mut *zval, 0, DEPTH);
        // Some errors (NAN, INF) leave the result a success: json_encode() looks at the code.
        let failed = result != 0 || (*encoder.globals).error_code != 0;
        (*encoder.globals).error_code = before;
        !failed
    };
    if out.s.is_null() {
        return None;
    }
    // SAFETY: `out.s` is the zend_string the encoder wrote, `len` bytes long; nothing else
    // holds it, so it is freed here.
    unsafe {
        let text = &*out.s;
        let bytes = std::slice::from_raw_parts(text.val.as_ptr().cast::<u8>(), text.len);
        // Refused memory leaves the body to the walk, which says so.
        let body = succeeded.then(|| crate::memory::copy(bytes).ok().map(Bytes::from)).flatten();
        ext_php_rs::alloc::efree(out.s.cast::<u8>());
        body
    }
}
