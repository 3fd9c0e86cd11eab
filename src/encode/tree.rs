//! A sink that builds the `serde_json::Value` it is walked through.

use serde_json::{Map, Number, Value};

use super::{Key, Scalar, Sink};

#[derive(Default)]
pub struct TreeBuilder {
    open: Vec<Frame>,
    root: Option<Value>,
}

enum Frame {
    List(Vec<Value>),
    /// The map, and the key of the entry being built.
    Map(Map<String, Value>, String),
}

impl TreeBuilder {
    /// The value; `Null` when nothing was walked.
    pub fn finish(self) -> Value {
        self.root.unwrap_or(Value::Null)
    }

    fn put(&mut self, value: Value) {
        match self.open.last_mut() {
            None => self.root = Some(value),
            Some(Frame::List(items)) => items.push(value),
            // A key seen twice keeps its first place and its last value, as collecting does.
            Some(Frame::Map(map, key)) => {
                map.insert(std::mem::take(key), value);
            }
        }
    }
}

impl Sink for TreeBuilder {
    fn scalar(&mut self, value: Scalar<'_>) {
        self.put(match value {
            Scalar::Null => Value::Null,
            Scalar::Bool(flag) => Value::Bool(flag),
            Scalar::Int(int) => Value::from(int),
            Scalar::UInt(big) => Value::from(big),
            Scalar::Float(float) => Number::from_f64(float).map_or(Value::Null, Value::Number),
            Scalar::Str(text) => Value::String(text.to_string()),
        });
    }

    fn begin(&mut self, list: bool) {
        self.open.push(if list { Frame::List(Vec::new()) } else { Frame::Map(Map::new(), String::new()) });
    }

    fn key(&mut self, key: Key<'_>) {
        if let Some(Frame::Map(_, pending)) = self.open.last_mut() {
            *pending = key.to_string();
        }
    }

    fn end(&mut self, _list: bool) {
        let value = match self.open.pop() {
            Some(Frame::List(items)) => Value::Array(items),
            Some(Frame::Map(map, _)) => Value::Object(map),
            None => return,
        };
        self.put(value);
    }
}
