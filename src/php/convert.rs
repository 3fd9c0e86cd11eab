//! PHP values to owned JSON values and back, on the PHP thread: zvals never leave it.
//!
//! [`to_value`] sees data as `json_encode` does: `JsonSerializable::jsonSerialize()` is called,
//! other objects give their public properties (through the JSON view of their handlers, so
//! `DateTime` gives date, timezone_type, timezone), backed enums give their value, arrays with
//! keys 0..n-1 become lists and other arrays maps, references are followed. What JSON cannot
//! carry is an error naming where it was found: NAN and INF, invalid UTF-8 in a key or a
//! string, resources, non-backed enums, nesting deeper than 512, and reference cycles (which
//! would otherwise never end).

use std::ffi::c_int;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::exception::PhpException;
use ext_php_rs::ffi::{zend_array_destroy, zend_array_dup, zend_std_get_properties, HashTable};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::{ZendHashTable, ZendObject, Zval};
use ext_php_rs::zend::{ClassEntry, ExecutorGlobals};
use once_cell::sync::OnceCell;
use serde_json::{Map, Value};

use super::{exceptions, fiber, ini};
use crate::encode::tree::TreeBuilder;
use crate::encode::{Key, Scalar, Sink};
use crate::memory::{self, OutOfMemory};

/// C stack a Fiber (or the thread) must have left to walk one more level: the walk's frames for a level, and
/// for a jsonSerialize() call PHP's own (zend_call_function, the VM) and what the method's
/// body runs, with room to spare.
const FIBER_STACK_RESERVE: usize = 32 << 10;

/// Levels of nesting (and jsonSerialize() calls) that any stack PHP itself runs with holds;
/// past them the walk checks the thread's stack as it checks a Fiber's.
const SHALLOW: usize = 16;

/// `json_encode`'s default depth limit.
pub const MAX_DEPTH: usize = 512;

/// `ZEND_PROP_PURPOSE_JSON` in zend_object_handlers.h.
const PROP_PURPOSE_JSON: c_int = 4;
/// `GC_IMMUTABLE` in zend_types.h: a table the engine shares and never frees.
const GC_IMMUTABLE: u32 = 1 << 6;
/// Type bytes of zend_types.h.
const IS_UNDEF: u8 = 0;
const IS_NULL: u8 = 1;
const IS_FALSE: u8 = 2;
const IS_TRUE: u8 = 3;
const IS_LONG: u8 = 4;
const IS_DOUBLE: u8 = 5;
const IS_STRING: u8 = 6;
const IS_ARRAY: u8 = 7;
const IS_INDIRECT: u8 = 12;
/// `HASH_FLAG_PACKED` in zend_hash.h: the table holds bare zvals, keyed 0..n-1.
const HASH_FLAG_PACKED: u32 = 1 << 2;
/// `ZEND_ACC_ENUM` in zend_compile.h.
const ACC_ENUM: u32 = 1 << 28;

extern "C" {
    fn zend_get_properties_for(obj: *mut Zval, purpose: c_int) -> *mut HashTable;
}

#[derive(Debug)]
pub enum ConvertError {
    /// PHP code we called (jsonSerialize) threw; its exception is already propagating.
    ExceptionPending,
    /// The value cannot be encoded; `path` leads to it from the top (`[order][items][2]`).
    Invalid { path: Vec<String>, problem: String },
    /// The allocator refused memory for a copy or an encoding of the data (see crate::memory).
    OutOfMemory(OutOfMemory),
}

impl ConvertError {
    fn invalid(problem: impl Into<String>) -> ConvertError {
        ConvertError::Invalid { path: Vec::new(), problem: problem.into() }
    }

    /// Records the key this error was found under, on the way back up.
    fn under(mut self, key: &str) -> ConvertError {
        if let ConvertError::Invalid { path, .. } = &mut self {
            path.push(key.to_string());
        }
        self
    }

    /// `"$data[order][total]: NAN cannot be encoded as JSON"`.
    pub fn describe(&self, root: &str) -> String {
        match self {
            ConvertError::ExceptionPending => format!("{root}: jsonSerialize() threw an exception"),
            ConvertError::OutOfMemory(refused) => format!("{root}: {refused}"),
            ConvertError::Invalid { path, problem } => {
                // `path` runs from the value up; very deep paths keep both ends.
                const KEEP: usize = 4;
                let keys: Vec<String> = path.iter().rev().map(|k| format!("[{k}]")).collect();
                let shown = if keys.len() > 2 * KEEP {
                    format!(
                        "{}…({} levels)…{}",
                        keys[..KEEP].concat(),
                        keys.len() - 2 * KEEP,
                        keys[keys.len() - KEEP..].concat()
                    )
                } else {
                    keys.concat()
                };
                format!("{root}{shown}: {problem}")
            }
        }
    }
}

impl ConvertError {
    /// The exception for this error: `invalid` makes the one for data that cannot be encoded;
    /// memory refused is no fault of the data, and is the base class.
    pub fn exception(&self, root: &str, invalid: impl FnOnce(String) -> PhpException) -> PhpException {
        match self {
            ConvertError::OutOfMemory(_) => exceptions::error(self.describe(root)),
            _ => invalid(self.describe(root)),
        }
    }
}

/// Converts an array as `json_encode` would see it.
pub fn array_to_value(array: &ZendHashTable) -> Result<Value, ConvertError> {
    array_to_value_within(array, usize::MAX)
}

/// [`array_to_value`] for data that is sent whole: its strings must fit in `limit` bytes (see
/// [`walk_array`]).
pub fn array_to_value_within(array: &ZendHashTable, limit: usize) -> Result<Value, ConvertError> {
    let mut tree = TreeBuilder::default();
    walk_array(array, &mut tree, limit)?;
    tree.finish().map_err(ConvertError::OutOfMemory)
}

/// Walks an array as `json_encode` sees it into `sink`, which may write a body straight from
/// the zvals. On an error the sink holds part of the data and must be dropped. A sink refused
/// memory stops the walk at the next string or array.
///
/// `limit`: the most bytes a body of this data may have (`usize::MAX` for none). Every
/// encoding writes at least each string's bytes, so strings (keys too) past it stop the
/// walk: otherwise a huge string is escaped first, up to 6 times its size in memory that
/// PHP's `memory_limit` does not see, and refused only afterwards.
pub fn walk_array(array: &ZendHashTable, sink: &mut impl Sink, limit: usize) -> Result<(), ConvertError> {
    let mut walker = Walker { open: Vec::new(), serializing: 0, keys: String::new(), room: limit, limit, sink };
    walker.array(std::ptr::from_ref(array), 1)
}

/// Whether json_encode() writes `table` as a list: its keys are 0, 1, 2… in order.
pub fn is_list(table: &ZendHashTable) -> bool {
    entries(std::ptr::from_ref(table), false)
        .enumerate()
        .all(|(at, (key, _))| matches!(key, EntryKey::Index(index) if usize::try_from(index) == Ok(at)))
}

/// Whether every key of `table` is one of `names`. Keys are read as bytes: ext-php-rs's
/// iterator panics on a key that is not UTF-8.
pub fn keys_within(table: &ZendHashTable, names: &[&str]) -> bool {
    entries(std::ptr::from_ref(table), false)
        .all(|(key, _)| matches!(key, EntryKey::Name(name) if names.iter().any(|known| known.as_bytes() == name)))
}

/// Whether `array` holds only scalars and arrays (references followed), none nested deeper
/// than json_encode's limit, and its JSON cannot be longer than `limit` bytes: data that no
/// PHP code runs for while it is encoded (no object, so no jsonSerialize()), with no reference
/// cycle (a cycle nests deeper than any limit), and small enough to encode in PHP's memory.
pub fn is_plain(array: &ZendHashTable, limit: usize) -> bool {
    let mut room = limit;
    plain(std::ptr::from_ref(array), 1, &mut room)
}

/// The longest JSON a scalar or key can take: every byte escaped as `\u00xx`, quotes, the
/// digits of an integer or a float.
const fn longest_text(bytes: usize) -> usize {
    bytes.saturating_mul(6).saturating_add(2)
}
const LONGEST_NUMBER: usize = 24;

fn plain(table: *const HashTable, depth: usize, room: &mut usize) -> bool {
    // Brackets.
    if depth > MAX_DEPTH || !take(room, 2) {
        return false;
    }
    entries(table, false).all(|(key, value)| {
        // A comma, and the key with its colon.
        let key_bytes = match key {
            EntryKey::Index(_) => LONGEST_NUMBER + 3,
            EntryKey::Name(name) => longest_text(name.len()) + 1,
        };
        if !take(room, 1 + key_bytes) {
            return false;
        }
        let value = value.dereference();
        match zval_type(value) {
            IS_UNDEF | IS_NULL | IS_FALSE | IS_TRUE | IS_LONG | IS_DOUBLE => take(room, LONGEST_NUMBER),
            // SAFETY: the type byte says the union holds a string.
            IS_STRING => match unsafe { value.value.str_.as_ref() } {
                Some(text) => take(room, longest_text(text.len)),
                None => false,
            },
            // SAFETY: the type byte says the union holds an array.
            IS_ARRAY => plain(unsafe { value.value.arr }, depth + 1, room),
            _ => false,
        }
    })
}

/// Takes `bytes` from `room`, if there are that many left.
fn take(room: &mut usize, bytes: usize) -> bool {
    match room.checked_sub(bytes) {
        Some(left) => {
            *room = left;
            true
        }
        None => false,
    }
}

struct Walker<'s, S> {
    /// Arrays and objects being walked, outermost first: meeting one again is a cycle.
    open: Vec<usize>,
    /// jsonSerialize() calls under way, nested; they add no JSON depth, but each costs stack.
    serializing: usize,
    /// Copies of the keys of entries being walked whose values can run PHP code, end to end
    /// (one buffer for all levels, so that copying costs no allocation once it has grown).
    keys: String,
    /// Bytes of strings the data may still have, of `limit` (see walk_array).
    room: usize,
    limit: usize,
    sink: &'s mut S,
}

impl<S: Sink> Walker<'_, S> {
    /// Ends the walk once a sink was refused memory: what it was writing is gone.
    fn refused(&self) -> Result<(), ConvertError> {
        self.sink.refused().map_or(Ok(()), |refused| Err(ConvertError::OutOfMemory(refused)))
    }

    /// Takes a string's bytes from the room left; past it the walk ends.
    fn spend(&mut self, bytes: usize) -> Result<(), ConvertError> {
        if take(&mut self.room, bytes) {
            return Ok(());
        }
        Err(ConvertError::invalid(format!(
            "over fluent_webhook.max_payload_bytes ({} bytes) once encoded: the data's strings pass it here",
            self.limit
        )))
    }

    fn value(&mut self, zval: &Zval, depth: usize) -> Result<(), ConvertError> {
        // The common scalars straight from the type byte and the value; everything else
        // (references, indirect slots, arrays, objects) through ext-php-rs below.
        // SAFETY: each arm reads the union member that the zval's type says is live.
        match zval_type(zval) {
            IS_UNDEF | IS_NULL => self.sink.scalar(Scalar::Null),
            IS_FALSE => self.sink.scalar(Scalar::Bool(false)),
            IS_TRUE => self.sink.scalar(Scalar::Bool(true)),
            IS_LONG => self.sink.scalar(Scalar::Int(unsafe { zval.value.lval })),
            IS_DOUBLE if unsafe { zval.value.dval }.is_finite() => {
                self.sink.scalar(Scalar::Float(unsafe { zval.value.dval }))
            }
            IS_STRING => match unsafe { zval.value.str_.as_ref() } {
                Some(text) => {
                    self.spend(text.len)?;
                    self.sink.scalar(Scalar::Str(utf8(text.as_bytes())?));
                    return self.refused();
                }
                None => self.sink.scalar(Scalar::Null),
            },
            _ => return self.other_value(zval, depth),
        }
        Ok(())
    }

    fn other_value(&mut self, zval: &Zval, depth: usize) -> Result<(), ConvertError> {
        let zval = zval.dereference();
        if let Some(inner) = zval.indirect() {
            return self.value(inner, depth);
        }
        if zval.is_null() || zval.get_type() == DataType::Undef {
            self.sink.scalar(Scalar::Null);
            return Ok(());
        }
        if let Some(flag) = zval.bool() {
            self.sink.scalar(Scalar::Bool(flag));
            return Ok(());
        }
        if let Some(number) = zval.long() {
            self.sink.scalar(Scalar::Int(number));
            return Ok(());
        }
        if let Some(float) = zval.double() {
            if !float.is_finite() {
                let name = if float.is_nan() {
                    "NAN"
                } else if float > 0.0 {
                    "INF"
                } else {
                    "-INF"
                };
                return Err(ConvertError::invalid(format!("{name} cannot be encoded as JSON")));
            }
            self.sink.scalar(Scalar::Float(float));
            return Ok(());
        }
        if let Some(text) = zval.zend_str() {
            self.spend(text.len)?;
            self.sink.scalar(Scalar::Str(utf8(text.as_bytes())?));
            return self.refused();
        }
        if zval.is_array() || zval.is_object() {
            // Hold a reference while walking: jsonSerialize() runs PHP code, which could
            // otherwise change or free this array or object through a PHP reference.
            let held = zval.shallow_clone();
            if let Some(array) = held.array() {
                return self.array(std::ptr::from_ref(array), depth + 1);
            }
            if let Some(object) = held.object() {
                return self.object(&held, object, depth + 1);
            }
        }
        if zval.is_resource() {
            return Err(ConvertError::invalid("a resource cannot be encoded as JSON"));
        }
        Err(ConvertError::invalid(format!("a value of type {} cannot be encoded as JSON", type_name(zval))))
    }

    /// Walks the contents of an array or object at `depth`, refusing cycles and depth past
    /// json_encode's limit.
    fn nested(
        &mut self,
        identity: usize,
        kind: &str,
        depth: usize,
        walk: impl FnOnce(&mut Self) -> Result<(), ConvertError>,
    ) -> Result<(), ConvertError> {
        if depth > MAX_DEPTH {
            return Err(ConvertError::invalid(format!("nesting is deeper than {MAX_DEPTH} levels")));
        }
        if fiber::stack_left().is_some_and(|left| left < FIBER_STACK_RESERVE) {
            return Err(ConvertError::invalid(format!(
                "nesting is too deep for this Fiber's C stack (fiber.stack_size {})",
                ini::text(c"fiber.stack_size").unwrap_or_default()
            )));
        }
        // The thread's own stack, past a few levels (the check is a system call): PHP code
        // can lower RLIMIT_STACK below what 512 levels of the walk take.
        if depth + self.serializing >= SHALLOW
            && fiber::thread_stack_left().is_some_and(|left| left < FIBER_STACK_RESERVE)
        {
            return Err(ConvertError::invalid(
                "nesting is too deep for the C stack that RLIMIT_STACK leaves this process".to_string(),
            ));
        }
        if self.open.contains(&identity) {
            return Err(ConvertError::invalid(format!("the {kind} contains itself (a reference cycle)")));
        }
        self.open.push(identity);
        let result = walk(self);
        self.open.pop();
        result
    }

    fn array(&mut self, array: *const HashTable, depth: usize) -> Result<(), ConvertError> {
        let identity = array as usize;
        self.nested(identity, "array", depth, |this| {
            // Keys 0..n-1 in order make a list, as json_encode decides.
            let mut position = 0;
            let list = entries(array, false).all(|(key, _)| {
                position += 1;
                matches!(key, EntryKey::Index(k) if k == position - 1)
            });
            this.sink.begin(list);
            this.entries(array, depth, false)?;
            this.sink.end(list);
            this.refused()
        })
    }

    /// Walks key-value pairs of a table; `public_only` skips private and protected
    /// properties, whose names the engine mangles with a leading NUL byte.
    fn entries(&mut self, table: *const HashTable, depth: usize, public_only: bool) -> Result<(), ConvertError> {
        for (key, value) in entries(table, public_only) {
            let name = match key {
                EntryKey::Index(index) => {
                    self.sink.key(Key::Index(index));
                    self.value(value, depth).map_err(|e| e.under(&index.to_string()))?;
                    continue;
                }
                EntryKey::Name(name) => {
                    self.spend(name.len()).map_err(|e| e.under("?"))?;
                    utf8(name).map_err(|e| e.under("?"))?
                }
            };
            self.sink.key(Key::Name(name));
            self.refused()?;
            if zval_type(value) <= IS_STRING {
                // A scalar runs no PHP code: the borrowed name is still there for the error.
                self.value(value, depth).map_err(|e| e.under(name))?;
                continue;
            }
            // An array, object or reference can run jsonSerialize(), which may delete this
            // entry and free its name: the error path, read after it, needs a copy of the name.
            let start = self.keys.len();
            memory::reserve_text(&mut self.keys, name.len()).map_err(ConvertError::OutOfMemory)?;
            self.keys.push_str(name);
            let walked = self.value(value, depth).map_err(|e| e.under(&self.keys[start..]));
            self.keys.truncate(start);
            walked?;
        }
        Ok(())
    }

    fn object(&mut self, zval: &Zval, object: &ZendObject, depth: usize) -> Result<(), ConvertError> {
        let identity = std::ptr::from_ref(object) as usize;
        self.nested(identity, "object", depth, |this| this.object_contents(zval, object, depth))
    }

    fn object_contents(&mut self, zval: &Zval, object: &ZendObject, depth: usize) -> Result<(), ConvertError> {
        let class = object.get_class_entry();
        if json_serializable().is_some_and(|iface| object.instance_of(iface)) {
            if self.serializing >= MAX_DEPTH {
                return Err(ConvertError::invalid(format!(
                    "jsonSerialize() calls nest deeper than {MAX_DEPTH} levels"
                )));
            }
            let serialized = object.try_call_method("jsonSerialize", vec![]);
            if ExecutorGlobals::has_exception() {
                return Err(ConvertError::ExceptionPending);
            }
            let serialized = serialized.map_err(|e| ConvertError::invalid(format!("jsonSerialize() failed: {e}")))?;
            // Returning $this means "encode my properties", as json_encode does.
            if serialized.object().is_some_and(|o| std::ptr::eq(o, object)) {
                return self.properties(&serialized, depth);
            }
            self.serializing += 1;
            let result = self.value(&serialized, depth - 1);
            self.serializing -= 1;
            return result;
        }
        if class.ce_flags & ACC_ENUM != 0 {
            let cases = object.get_properties().map_err(|e| ConvertError::invalid(e.to_string()))?;
            return match cases.get("value") {
                Some(value) => self.value(value, depth - 1),
                None => Err(ConvertError::invalid(format!(
                    "enum {} has no backing value and cannot be encoded as JSON",
                    object.get_class_name().unwrap_or_default()
                ))),
            };
        }
        self.properties(zval, depth)
    }

    /// Public properties through the JSON view of the object's handlers, as a map.
    fn properties(&mut self, zval: &Zval, depth: usize) -> Result<(), ConvertError> {
        // SAFETY: `zval` holds an object on the PHP thread. The engine returns a table we
        // own one reference to (or an immutable shared one), released below.
        let mut table = unsafe { zend_get_properties_for(std::ptr::from_ref(zval).cast_mut(), PROP_PURPOSE_JSON) };
        if !table.is_null() && zval.object().is_some_and(|object| live_table(object, table)) {
            // SAFETY: `table` is live; the copy holds its own references to keys and values.
            let copy = unsafe { zend_array_dup(table) };
            release_properties(table);
            table = copy;
        }
        self.sink.begin(false);
        if !table.is_null() {
            let walked = self.entries(table, depth, true);
            release_properties(table);
            walked?;
        }
        self.sink.end(false);
        self.refused()
    }
}

/// Whether `table`, `object`'s JSON view, is a table the object goes on using and may change
/// in place while we walk it. Ordinary objects give their property table, which the engine
/// copies before a write while we hold a reference; a table we hold the only reference to is
/// ours. But handlers of internal classes need not copy: ArrayObject gives its live storage,
/// which offsetSet()/offsetUnset() in a nested jsonSerialize() change in place. Such tables
/// are walked as a private copy (zend_array_dup, one reference to each key and value), so
/// that the JSON is the data as it was when the walk reached it, as it is for arrays.
fn live_table(object: &ZendObject, table: *mut HashTable) -> bool {
    // SAFETY: `table` is live, and `handlers` of a live object points to its handler table.
    let (gc, handlers) = unsafe { (&(*table).gc, &*object.handlers) };
    // SAFETY: `type_info` covers the whole of the union's 32 bits.
    if unsafe { gc.u.type_info } & GC_IMMUTABLE != 0 || gc.refcount <= 1 {
        return false;
    }
    let std_properties = zend_std_get_properties as unsafe extern "C" fn(_) -> _ as usize;
    handlers.get_properties_for.is_some() || handlers.get_properties.map(|f| f as usize) != Some(std_properties)
}

/// A table's entries as json_encode visits them: unset property slots skipped, and with
/// `public_only` the mangled names of private and protected properties too. Reads the
/// table's slots directly (the engine's iterator API costs three calls and a key copy per
/// entry). The table is a raw pointer, its bounds, flags and data pointer read afresh
/// (volatile) at every step, because it may change under the walk despite the reference we
/// hold: ArrayObject writes to its storage in place even when it is shared, and
/// `ArrayObject::__serialize()` hands that storage out as an ordinary array. Through a
/// `&HashTable` the compiler may keep nNumUsed and arData in registers across the PHP code a
/// value runs, and read a freed, moved slot array. A key and value yielded are valid until
/// PHP code runs: callers copy the key and take a reference to the value before that.
fn entries<'t>(table: *const HashTable, public_only: bool) -> impl Iterator<Item = (EntryKey<'t>, &'t Zval)> {
    let mut position = 0usize;
    std::iter::from_fn(move || loop {
        // SAFETY: the caller holds a reference to the table, so it is live; volatile reads
        // of plain fields (and of the union's 32-bit `flags`, its whole width).
        let (used, packed, data) = unsafe {
            (
                std::ptr::read_volatile(&raw const (*table).nNumUsed) as usize,
                std::ptr::read_volatile(&raw const (*table).u.flags) & HASH_FLAG_PACKED != 0,
                std::ptr::read_volatile(&raw const (*table).__bindgen_anon_1),
            )
        };
        if position >= used {
            return None;
        }
        let at = position;
        position += 1;
        // SAFETY: `at` < nNumUsed, so the slot lies within the table's data as just read:
        // zvals in a packed table, buckets otherwise (PHP 8.2's layout).
        let (key, value): (EntryKey<'t>, &'t Zval) = unsafe {
            if packed {
                (EntryKey::Index(at as i64), &*data.arPacked.add(at))
            } else {
                let bucket = &*data.arData.add(at);
                let key = match bucket.key.as_ref() {
                    Some(name) => EntryKey::Name(name.as_bytes()),
                    None => EntryKey::Index(bucket.h as i64),
                };
                (key, &bucket.val)
            }
        };
        let value = match zval_type(value) {
            IS_UNDEF => continue,
            IS_INDIRECT => match value.indirect() {
                Some(slot) if zval_type(slot) == IS_UNDEF => continue,
                Some(slot) => slot,
                None => value,
            },
            _ => value,
        };
        if let EntryKey::Name(name) = key {
            if public_only && name.first() == Some(&0) {
                continue;
            }
        }
        return Some((key, value));
    })
}

#[derive(Clone, Copy)]
enum EntryKey<'a> {
    Index(i64),
    Name(&'a [u8]),
}

/// `zend_release_properties`, an inline function in the engine's headers.
fn release_properties(table: *mut HashTable) {
    // SAFETY: `table` came from zend_get_properties_for and we hold one reference to it.
    unsafe {
        let gc = &mut (*table).gc;
        let flags = gc.u.type_info & 0x3f0;
        if flags & GC_IMMUTABLE == 0 {
            gc.refcount -= 1;
            if gc.refcount == 0 {
                zend_array_destroy(table);
            }
        }
    }
}

/// `Z_TYPE()`: the low byte of the type info.
fn zval_type(zval: &Zval) -> u8 {
    // SAFETY: `type_info` covers the whole of the union's 32 bits.
    unsafe { zval.u1.type_info as u8 }
}

fn json_serializable() -> Option<&'static ClassEntry> {
    static CLASS: OnceCell<Option<usize>> = OnceCell::new();
    let address =
        CLASS.get_or_init(|| ClassEntry::try_find("JsonSerializable").map(|ce| std::ptr::from_ref(ce) as usize));
    // SAFETY: class entries of internal classes live until the module shuts down.
    address.map(|a| unsafe { &*(a as *const ClassEntry) })
}

fn utf8(bytes: &[u8]) -> Result<&str, ConvertError> {
    // Most keys and strings are short and ASCII: one quick pass instead of the full check.
    if is_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|e| {
        ConvertError::invalid(format!("malformed UTF-8 at byte {} (JSON needs UTF-8 text)", e.valid_up_to()))
    })
}

/// `<[u8]>::is_ascii` a word at a time for short strings too (the last word overlaps the one
/// before it; a string shorter than a word is read byte by byte into one).
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    if bytes.len() < 8 {
        let word = bytes.iter().enumerate().fold(0u64, |word, (index, &byte)| word | u64::from(byte) << (8 * index));
        return word & HIGH == 0;
    }
    let mut high = word_at(bytes.len() - 8);
    let mut at = 0;
    while at + 8 <= bytes.len() {
        high |= word_at(at);
        at += 8;
    }
    high & HIGH == 0
}

/// The entries of `table`, each key as text (an int key as PHP writes it; a key that is not
/// UTF-8 read lossily). ext-php-rs's own iterator panics on a key that is not UTF-8: a
/// `verify()` given `["\xff" => …]`, or such a key in a `deliveries()` filter, was a Rust
/// panic.
pub fn text_keyed(table: &ZendHashTable) -> impl Iterator<Item = (String, &Zval)> {
    entries(std::ptr::from_ref(table), false).map(|(key, value)| {
        let key = match key {
            EntryKey::Name(name) => String::from_utf8_lossy(name).into_owned(),
            EntryKey::Index(index) => index.to_string(),
        };
        (key, value)
    })
}

/// The values of `table`, in order, whatever its keys (see [`text_keyed`]).
pub fn values(table: &ZendHashTable) -> impl Iterator<Item = &Zval> {
    entries(std::ptr::from_ref(table), false).map(|(_, value)| value)
}

/// The type name PHP's own messages use (`get_debug_type` without class names).
pub fn type_name(zval: &Zval) -> &'static str {
    let zval = zval.dereference();
    if zval.is_null() {
        "null"
    } else if zval.is_bool() {
        "bool"
    } else if zval.is_long() {
        "int"
    } else if zval.is_double() {
        "float"
    } else if zval.is_string() {
        "string"
    } else if zval.is_array() {
        "array"
    } else if zval.is_object() {
        "object"
    } else if zval.is_resource() {
        "resource"
    } else {
        "unknown"
    }
}

/// An owned JSON value as a PHP value (maps become arrays with string keys).
pub fn to_zval(value: &Value) -> Zval {
    let mut zval = Zval::new();
    match value {
        Value::Null => zval.set_null(),
        Value::Bool(flag) => zval.set_bool(*flag),
        Value::Number(n) => match n.as_i64() {
            Some(int) => zval.set_long(int),
            None => zval.set_double(n.as_f64().unwrap_or(0.0)),
        },
        // Strings from serde_json hold no NUL-terminated assumptions; set_string copies.
        Value::String(text) => {
            let _ = zval.set_string(text, false);
        }
        Value::Array(items) => {
            let mut table = ZendHashTable::with_capacity(items.len().try_into().unwrap_or(u32::MAX));
            for item in items {
                let _ = table.push(to_zval(item));
            }
            zval.set_hashtable(table);
        }
        Value::Object(map) => zval.set_hashtable(map_to_table(map)),
    }
    zval
}

pub fn map_to_table(map: &Map<String, Value>) -> ZBox<ZendHashTable> {
    let mut table = ZendHashTable::with_capacity(map.len().try_into().unwrap_or(u32::MAX));
    for (key, item) in map {
        let _ = table.insert(key.as_str(), to_zval(item));
    }
    table
}
