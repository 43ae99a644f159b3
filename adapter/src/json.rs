//! JSON in and out. Events and results are parsed once into a borrowed tree, [`Node`] (strings
//! without escapes, such as a base64 body, are borrowed, not copied; `parse`), and results are
//! written by hand so a body is escaped or base64-encoded straight into the output buffer
//! (`write`).

use std::borrow::Cow;

use serde::Deserialize;

use crate::DecodeError;

mod agree;
mod fallback;
mod parse;
mod write;

pub use agree::check_json_parsers;
pub(crate) use write::{push_escaped, push_key, push_str};

/// The index of the first `"`, `\\` or control character in `bytes` (the bytes a JSON string
/// cannot hold verbatim), or `bytes.len()`. Eight bytes at a time: the classic "has zero byte" and
/// "has byte less than" word tricks flag matching lanes; borrows only run upwards, so the lowest
/// flagged lane is a real match.
fn find_special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut lanes = [0; 8];
        lanes.copy_from_slice(chunk);
        let word = u64::from_le_bytes(lanes);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (word.wrapping_sub(ONES * 0x20) & !word | zero(quote) | zero(backslash)) & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// One member of a JSON object.
pub(crate) type Member<'a> = (Cow<'a, str>, Node<'a>);

/// One JSON value; strings and keys borrow from the input when they can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<Member<'a>>),
}

impl<'a> Node<'a> {
    /// Parse `input`; any JSON is accepted. The fast parser runs first; whatever it declines,
    /// serde_json parses or explains.
    pub(crate) fn parse(input: &'a [u8]) -> Result<Self, DecodeError> {
        match parse::parse(input) {
            Some(node) => Ok(node),
            None => Self::parse_with_serde(input),
        }
    }

    /// Parse `input` with serde_json alone.
    pub(crate) fn parse_with_serde(input: &'a [u8]) -> Result<Self, DecodeError> {
        let mut de = serde_json::Deserializer::from_slice(input);
        let node = Node::deserialize(&mut de).map_err(DecodeError::InvalidJson)?;
        de.end().map_err(DecodeError::InvalidJson)?;
        Ok(node)
    }

    /// The member `key` of an object (the last one when a key repeats); `None` for non-objects.
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member `key`, treating `null` as absent.
    pub(crate) fn field(&self, key: &str) -> Option<&Node<'a>> {
        self.get(key).filter(|n| !matches!(n, Node::Null))
    }

    /// Remove and return the member `key` of an object (the last one when a key repeats), so a
    /// borrowed string in it outlives the tree; `None` for non-objects.
    pub(crate) fn take(&mut self, key: &str) -> Option<Node<'a>> {
        match self {
            Node::Object(members) => {
                let i = members.iter().rposition(|(k, _)| k == key)?;
                Some(members.swap_remove(i).1)
            }
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the JSON type, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::Str(_) => "a string",
            Node::Array(_) => "an array",
            Node::Object(_) => "an object",
        }
    }

    /// Append as compact JSON, members in their order (of a repeated key, the last): what
    /// serde_json writes for `to_value`'s result but for the order of members, which it sorts.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Node::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Node::Str(s) => push_str(out, s),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            Node::Object(members) => {
                out.push(b'{');
                let mut first = true;
                for (i, (key, value)) in members.iter().enumerate() {
                    // A repeated key: the last one wins, as everywhere else.
                    if members[i + 1..].iter().any(|(k, _)| k == key) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    push_str(out, key);
                    out.push(b':');
                    value.write_json(out);
                }
                out.push(b'}');
            }
        }
    }

    /// Convert to an owned `serde_json::Value`.
    pub(crate) fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::Str(s) => Value::String(s.as_ref().to_owned()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.as_ref().to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// A string field: `Ok(None)` when absent or null, an error naming `path` when not a string.
pub(crate) fn opt_str<'n>(
    node: &'n Node<'_>,
    key: &str,
    path: &str,
) -> Result<Option<&'n str>, DecodeError> {
    match node.field(key) {
        None => Ok(None),
        Some(Node::Str(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(path, "a string", other)),
    }
}

/// [`Node::take`] of a string field (a body): `Ok(None)` when absent or null, an error naming
/// `key` when not a string.
pub(crate) fn take_str<'a>(
    node: &mut Node<'a>,
    key: &str,
) -> Result<Option<Cow<'a, str>>, DecodeError> {
    match node.take(key) {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Str(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(key, "a string", &other)),
    }
}

/// A required string field.
pub(crate) fn req_str<'n>(
    node: &'n Node<'_>,
    key: &str,
    path: &str,
) -> Result<&'n str, DecodeError> {
    opt_str(node, key, path)?.ok_or_else(|| DecodeError::missing(path))
}

/// A boolean field; absent or null is `false`. Only JSON booleans are booleans (AWS documents
/// `isBase64Encoded` as one): the string `"true"` is an error naming `path`, not `true`.
pub(crate) fn opt_bool(node: &Node<'_>, key: &str, path: &str) -> Result<bool, DecodeError> {
    match node.field(key) {
        None => Ok(false),
        Some(Node::Bool(b)) => Ok(*b),
        Some(other) => Err(wrong_type(path, "a boolean", other)),
    }
}

/// An object field (absent or null → `None`), as its members.
pub(crate) fn opt_object<'n, 'a>(
    node: &'n Node<'a>,
    key: &str,
    path: &str,
) -> Result<Option<&'n [Member<'a>]>, DecodeError> {
    match node.field(key) {
        None => Ok(None),
        Some(Node::Object(members)) => Ok(Some(members)),
        Some(other) => Err(wrong_type(path, "an object", other)),
    }
}

/// An array field (absent or null → `None`).
pub(crate) fn opt_array<'n, 'a>(
    node: &'n Node<'a>,
    key: &str,
    path: &str,
) -> Result<Option<&'n [Node<'a>]>, DecodeError> {
    match node.field(key) {
        None => Ok(None),
        Some(Node::Array(items)) => Ok(Some(items)),
        Some(other) => Err(wrong_type(path, "an array", other)),
    }
}

/// A value of a map or list that AWS documents as holding strings (header and query parameter
/// values): `None` for null (absent), an error naming `path` for anything but a string.
pub(crate) fn str_value<'n>(
    node: &'n Node<'_>,
    path: impl FnOnce() -> String,
) -> Result<Option<&'n str>, DecodeError> {
    match node {
        Node::Null => Ok(None),
        Node::Str(s) => Ok(Some(s)),
        other => Err(wrong_type(path(), "a string", other)),
    }
}

/// A scalar as header text: strings as they are, numbers and booleans as written in JSON; `None`
/// for null; an error naming `path` for arrays and objects. Only for function results, where API
/// Gateway takes `"access-control-allow-credentials": true` from a function; events are
/// [`str_value`].
pub(crate) fn scalar_text<'n>(
    node: &'n Node<'_>,
    path: impl FnOnce() -> String,
) -> Result<Option<Cow<'n, str>>, DecodeError> {
    match node {
        Node::Null => Ok(None),
        Node::Str(s) => Ok(Some(Cow::Borrowed(s))),
        Node::Bool(b) => Ok(Some(Cow::Borrowed(if *b { "true" } else { "false" }))),
        Node::Number(n) => Ok(Some(Cow::Owned(n.to_string()))),
        other => Err(wrong_type(path(), "a string", other)),
    }
}

/// An object field whose values are strings (or null), as AWS documents `pathParameters`,
/// `stageVariables` and the query parameter maps: its members, each value checked; errors name
/// `path.key`.
pub(crate) fn opt_str_map<'n, 'a>(
    node: &'n Node<'a>,
    key: &str,
    path: &str,
) -> Result<Option<&'n [Member<'a>]>, DecodeError> {
    let members = opt_object(node, key, path)?;
    for (name, value) in members.unwrap_or_default() {
        str_value(value, || format!("{path}.{name}"))?;
    }
    Ok(members)
}

/// The error for a value at `path` that should have been `expected` ("a string").
pub(crate) fn wrong_type(path: impl Into<String>, expected: &str, found: &Node<'_>) -> DecodeError {
    DecodeError::malformed(path, format!("must be {expected}, found {}", found.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_special_finds_the_first_special_byte_at_every_offset() {
        for special in [b'"', b'\\', 0x00, 0x1F, b'\n'] {
            for len in 0..40 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    assert_eq!(find_special(&bytes), at, "{special} at {at} of {len}");
                }
                let plain = vec![0x7F; len];
                assert_eq!(find_special(&plain), len);
            }
        }
        assert_eq!(find_special("ünï ✓ \"".as_bytes()), "ünï ✓ ".len());
    }

    #[test]
    fn parses_and_borrows_plain_strings() {
        let input = br#"{"a":"plain","b":"esc\"aped","c":[1,-2,1.5,true,null],"a":"last"}"#;
        let node = Node::parse(input).unwrap();
        assert!(matches!(node.get("b"), Some(Node::Str(Cow::Owned(s))) if s == "esc\"aped"));
        assert!(matches!(
            node.get("a"),
            Some(Node::Str(Cow::Borrowed("last")))
        ));
        assert_eq!(
            node.to_value()["c"],
            serde_json::json!([1, -2, 1.5, true, null])
        );
    }

    #[test]
    fn rejects_trailing_garbage_and_non_json() {
        assert!(matches!(
            Node::parse(b"{} x"),
            Err(DecodeError::InvalidJson(_))
        ));
        assert!(matches!(
            Node::parse(b"\xff"),
            Err(DecodeError::InvalidJson(_))
        ));
    }
}
