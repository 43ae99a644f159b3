//! A small JSON reader into the shared [`tree`](super::tree), so that every value keeps its line
//! (serde_json's `Value` has none).

use super::hcl::SyntaxError;
use super::tree::{Kind, Object, Value};

/// Read JSON `text`; the document must be an object, as `consul config write` takes it.
pub(crate) fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut reader = Reader {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    reader.skip_space();
    if reader.peek() != Some(b'{') {
        return Err(reader.error("a JSON config entry must be an object (`{ … }`)"));
    }
    let value = reader.value()?;
    reader.skip_space();
    if reader.pos < reader.text.len() {
        return Err(reader.error("unexpected text after the end of the JSON object"));
    }
    Ok(value)
}

/// A cursor over the JSON bytes.
struct Reader<'a> {
    /// The text.
    text: &'a [u8],
    /// Byte offset.
    pos: usize,
    /// 1-based line at `pos`.
    line: usize,
}

impl Reader<'_> {
    /// An error at the current line.
    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line: self.line,
            message: message.into(),
        }
    }

    /// The next byte.
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// Skip JSON white space, counting lines.
    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// Consume `byte` (after white space) or fail naming `context`.
    fn expect(&mut self, byte: u8, context: &str) -> Result<(), SyntaxError> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected `{}` {context}", byte as char)))
        }
    }

    /// Any JSON value.
    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.skip_space();
        let line = self.line;
        let kind = match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Kind::Object(self.object()?)
            }
            Some(b'[') => {
                self.pos += 1;
                Kind::List(self.list()?)
            }
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(b't') if self.text[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Kind::Bool(true)
            }
            Some(b'f') if self.text[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Kind::Bool(false)
            }
            Some(b'n') if self.text[self.pos..].starts_with(b"null") => {
                return Err(self.error("`null` is not a value a config entry can hold"))
            }
            None => return Err(self.error("unexpected end of the JSON text")),
            Some(_) => return Err(self.error("expected a JSON value")),
        };
        Ok(Value::new(kind, line))
    }

    /// Object members after `{`, up to and including `}`.
    fn object(&mut self) -> Result<Object, SyntaxError> {
        let mut object = Object::default();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(object);
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a quoted key in the JSON object"));
            }
            let line = self.line;
            let key = self.string()?;
            self.expect(b':', &format!("after the key {key:?}"))?;
            let value = self.value()?;
            object.insert(key, line, value);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(object);
                }
                _ => return Err(self.error("expected `,` or `}` in the JSON object")),
            }
        }
    }

    /// Array elements after `[`, up to and including `]`.
    fn list(&mut self) -> Result<Vec<Value>, SyntaxError> {
        let mut elements = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(elements);
        }
        loop {
            elements.push(self.value()?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(elements);
                }
                _ => return Err(self.error("expected `,` or `]` in the JSON array")),
            }
        }
    }

    /// A number: integer when it has no fraction or exponent and fits.
    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or_default();
        let bad = || self.error(format!("invalid JSON number `{text}`"));
        if text.contains(['.', 'e', 'E']) {
            return serde_json::from_str::<f64>(text)
                .map(Kind::Float)
                .map_err(|_| bad());
        }
        match serde_json::from_str::<i64>(text) {
            Ok(i) => Ok(Kind::Int(i)),
            Err(_) => serde_json::from_str::<f64>(text)
                .map(Kind::Float)
                .map_err(|_| bad()),
        }
    }

    /// A string, unescaped by serde_json.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(self.error("JSON string is not closed")),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = self.text.get(start..self.pos).unwrap_or_default();
        serde_json::from_slice::<String>(raw)
            .map_err(|e| self.error(format!("invalid JSON string: {e}")))
    }
}
