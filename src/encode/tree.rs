//! A sink that builds the `serde_json::Value` it is walked through.

use serde_json::{Map, Number, Value};

use super::{Key, Scalar, Sink};
use crate::memory::{self, OutOfMemory};

#[derive(Default)]
pub struct TreeBuilder {
    open: Vec<Frame>,
    root: Option<Value>,
    /// Memory a string or a list needed and did not get: the builder has stopped, and let what
    /// it built go. (A map's own growth is serde_json's, which cannot report a refusal.)
    refused: Option<OutOfMemory>,
}

enum Frame {
    List(Vec<Value>),
    /// The map, and the key of the entry being built.
    Map(Map<String, Value>, String),
}

impl TreeBuilder {
    /// The value; `Null` when nothing was walked.
    pub fn finish(self) -> Result<Value, OutOfMemory> {
        match self.refused {
            Some(refused) => Err(refused),
            None => Ok(self.root.unwrap_or(Value::Null)),
        }
    }

    fn put(&mut self, value: Result<Value, OutOfMemory>) {
        if self.refused.is_some() {
            return;
        }
        let put = value.and_then(|value| {
            match self.open.last_mut() {
                None => self.root = Some(value),
                Some(Frame::List(items)) => {
                    memory::reserve(items, 1)?;
                    items.push(value);
                }
                // A key seen twice keeps its first place and its last value, as collecting does.
                Some(Frame::Map(map, key)) => {
                    map.insert(std::mem::take(key), value);
                }
            }
            Ok(())
        });
        if let Err(refused) = put {
            self.refused = Some(refused);
            (self.open, self.root) = (Vec::new(), None);
        }
    }
}

impl Sink for TreeBuilder {
    fn scalar(&mut self, value: Scalar<'_>) {
        self.put(match value {
            Scalar::Null => Ok(Value::Null),
            Scalar::Bool(flag) => Ok(Value::Bool(flag)),
            Scalar::Int(int) => Ok(Value::from(int)),
            Scalar::UInt(big) => Ok(Value::from(big)),
            Scalar::Float(float) => Ok(Number::from_f64(float).map_or(Value::Null, Value::Number)),
            Scalar::Str(text) if self.refused.is_none() => memory::copy_text(text).map(Value::String),
            Scalar::Str(_) => return,
        });
    }

    fn begin(&mut self, list: bool) {
        if self.refused.is_none() {
            self.open.push(if list { Frame::List(Vec::new()) } else { Frame::Map(Map::new(), String::new()) });
        }
    }

    fn key(&mut self, key: Key<'_>) {
        if let Some(Frame::Map(_, pending)) = self.open.last_mut() {
            match key {
                Key::Name(name) => match memory::copy_text(name) {
                    Ok(name) => *pending = name,
                    Err(refused) => self.put(Err(refused)),
                },
                Key::Index(index) => *pending = index.to_string(),
            }
        }
    }

    fn end(&mut self, _list: bool) {
        let value = match self.open.pop() {
            Some(Frame::List(items)) => Value::Array(items),
            Some(Frame::Map(map, _)) => Value::Object(map),
            None => return,
        };
        self.put(Ok(value));
    }

    fn refused(&self) -> Option<OutOfMemory> {
        self.refused
    }
}
