//! The value tree both readers (HCL 1 and JSON) produce: what hashicorp/hcl v1 decodes a config
//! entry into before mapstructure sees it, with the 1-based line of every value and key.
//!
//! Objects stay objects (HCL 1 wraps nested ones in one-element lists; the decoder accepts both, as
//! mapstructure's weak decoding does). Repeated keys combine as HCL 1 combines them: objects and
//! lists append into one list (`Sources { … } Sources { … }`), a repeated scalar keeps the last.

/// A value with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    /// What the value is.
    pub kind: Kind,
    /// 1-based line of the value's first token.
    pub line: usize,
}

/// The kinds of value HCL 1 and JSON have.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A quoted string or a heredoc.
    String(String),
    /// An integer.
    Int(i64),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `[ … ]`, or repeated blocks.
    List(Vec<Value>),
    /// `{ … }` or a block.
    Object(Object),
}

/// An object's items in file order, each key once.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Object {
    /// The items.
    pub items: Vec<Item>,
}

/// One `key = value` (or block) of an object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    /// The key as written.
    pub key: String,
    /// 1-based line of the key (its first occurrence).
    pub line: usize,
    /// The value.
    pub value: Value,
}

impl Value {
    /// A value of `kind` on `line`.
    pub(crate) fn new(kind: Kind, line: usize) -> Value {
        Value { kind, line }
    }

    /// What the value is called in messages: `a string`, `an object` ….
    pub(crate) fn describe(&self) -> &'static str {
        match self.kind {
            Kind::String(_) => "a string",
            Kind::Int(_) | Kind::Float(_) => "a number",
            Kind::Bool(_) => "a boolean",
            Kind::List(_) => "a list",
            Kind::Object(_) => "an object",
        }
    }

    /// The value as JSON text (pyhcl's shape: objects as objects, floats keep a fraction).
    pub(crate) fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// The value as serde_json's value.
    fn to_json_value(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            Kind::String(s) => J::String(s.clone()),
            Kind::Int(i) => J::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Kind::Bool(b) => J::Bool(*b),
            Kind::List(items) => J::Array(items.iter().map(Value::to_json_value).collect()),
            Kind::Object(object) => J::Object(
                object
                    .items
                    .iter()
                    .map(|item| (item.key.clone(), item.value.to_json_value()))
                    .collect(),
            ),
        }
    }
}

impl Object {
    /// Add `key = value` as HCL 1 does when a key repeats: an object or a list after an object or
    /// a list appends to one list; anything else replaces the earlier value.
    pub(crate) fn insert(&mut self, key: String, line: usize, value: Value) {
        let Some(item) = self.items.iter_mut().find(|item| item.key == key) else {
            self.items.push(Item { key, line, value });
            return;
        };
        let appends = |v: &Value| matches!(v.kind, Kind::Object(_) | Kind::List(_));
        if !(appends(&item.value) && appends(&value)) {
            item.value = value;
            return;
        }
        let first_line = item.value.line;
        let mut list = match std::mem::replace(&mut item.value.kind, Kind::Bool(false)) {
            Kind::List(list) => list,
            other => vec![Value::new(other, first_line)],
        };
        match value.kind {
            Kind::List(more) => list.extend(more),
            other => list.push(Value::new(other, value.line)),
        }
        item.value = Value::new(Kind::List(list), first_line);
    }

    /// The item whose key is `key` exactly.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|item| item.key == key)
    }
}
