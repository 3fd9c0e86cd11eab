//! Payload encodings, each matching what PHP code sends today.
//!
//! The encoders are [`Sink`]s: they take a payload as a stream of events (a scalar, the start
//! of a list or map, a key, the end), so that the same encoder writes a body from a
//! `serde_json::Value` ([`walk`]) or straight from PHP's values (src/php/convert.rs), without
//! building a tree first. [`Tee`] feeds one walk to several sinks; [`tree::TreeBuilder`]
//! builds the `Value` when one is needed (selected fields).

pub mod form;
pub mod json;
pub mod php_float;
pub mod tree;

use serde_json::Value;

use crate::memory::OutOfMemory;

/// A value without parts. Floats are finite: JSON cannot carry NAN or INF, and the walkers
/// refuse them before they reach a sink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Only from a `Value` whose integer is past `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

/// The key of the entry that follows: a list's position or a map's key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key<'a> {
    Index(i64),
    Name(&'a str),
}

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Index(index) => write!(f, "{index}"),
            Key::Name(name) => f.write_str(name),
        }
    }
}

/// What an encoder is told, in document order: `begin`, then `key` and the entry's value for
/// each entry, then `end`; or a single `scalar`.
pub trait Sink {
    fn scalar(&mut self, value: Scalar<'_>);
    /// A list (`[..]` in JSON) or a map (`{..}`) starts.
    fn begin(&mut self, list: bool);
    fn key(&mut self, key: Key<'_>);
    fn end(&mut self, list: bool);
    /// Memory the sink needed and the allocator refused (see crate::memory): it has stopped
    /// writing, and the walk can stop too.
    fn refused(&self) -> Option<OutOfMemory> {
        None
    }
}

/// Spare capacity a finished body may keep; more is given back (see [`too_roomy`]).
const SLACK: usize = 16 << 10;

/// Whether a finished body's buffer has spare room to give back (a shrinking realloc: the
/// allocator splits or remaps the block, it rarely copies). Bodies become `Bytes`, which keep
/// the whole allocation, while the memory cap counts a delivery by its body's length: room
/// reserved for a body the size of the last one, or left by the doubling of a growing
/// buffer, would be memory the cap never sees (up to 1 MiB for a small body after a large one).
fn too_roomy(capacity: usize, len: usize) -> bool {
    let spare = capacity - len;
    spare > SLACK && spare > len / 4
}

/// Walks a `Value` into a sink.
pub fn walk(value: &Value, sink: &mut impl Sink) {
    match value {
        Value::Null => sink.scalar(Scalar::Null),
        Value::Bool(flag) => sink.scalar(Scalar::Bool(*flag)),
        Value::Number(number) => sink.scalar(match (number.as_i64(), number.as_u64()) {
            (Some(int), _) => Scalar::Int(int),
            (None, Some(big)) => Scalar::UInt(big),
            (None, None) => Scalar::Float(number.as_f64().unwrap_or(0.0)),
        }),
        Value::String(text) => sink.scalar(Scalar::Str(text)),
        Value::Array(items) => {
            sink.begin(true);
            for (index, item) in items.iter().enumerate() {
                sink.key(Key::Index(index as i64));
                walk(item, sink);
            }
            sink.end(true);
        }
        Value::Object(map) => {
            sink.begin(false);
            for (key, item) in map {
                sink.key(Key::Name(key));
                walk(item, sink);
            }
            sink.end(false);
        }
    }
}

/// Several optional sinks fed by one walk (PHP's `jsonSerialize()` must run once per
/// dispatch, however many encodings the feeds need).
#[derive(Default)]
pub struct Tee {
    pub json: Option<json::JsonWriter>,
    pub form: Option<form::FormWriter>,
    pub tree: Option<tree::TreeBuilder>,
}

/// Calls the same method on every sink present (static calls: this is the hot path of
/// dispatch()).
macro_rules! each {
    ($tee:expr, $sink:ident => $call:expr) => {{
        if let Some($sink) = &mut $tee.json {
            $call;
        }
        if let Some($sink) = &mut $tee.form {
            $call;
        }
        if let Some($sink) = &mut $tee.tree {
            $call;
        }
    }};
}

impl Sink for Tee {
    fn scalar(&mut self, value: Scalar<'_>) {
        each!(self, sink => sink.scalar(value));
    }

    fn begin(&mut self, list: bool) {
        each!(self, sink => sink.begin(list));
    }

    fn key(&mut self, key: Key<'_>) {
        each!(self, sink => sink.key(key));
    }

    fn end(&mut self, list: bool) {
        each!(self, sink => sink.end(list));
    }

    fn refused(&self) -> Option<OutOfMemory> {
        let json = self.json.as_ref().and_then(Sink::refused);
        json.or_else(|| self.form.as_ref().and_then(Sink::refused))
            .or_else(|| self.tree.as_ref().and_then(Sink::refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_walk_feeds_every_sink() {
        let value = json!({"a": [1, 2.5, "x/y"], "b": {"c": null, "d": true}});
        let mut tee = Tee {
            json: Some(json::JsonWriter::default()),
            form: Some(form::FormWriter::default()),
            tree: Some(tree::TreeBuilder::default()),
        };
        walk(&value, &mut tee);
        assert_eq!(tee.json.unwrap().finish().unwrap(), json::encode(&value));
        assert_eq!(tee.form.unwrap().finish().unwrap(), form::encode(&value));
        assert_eq!(tee.tree.unwrap().finish().unwrap(), value);
    }
}
