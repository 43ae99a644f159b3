//! A fast JSON parser into [`Node`]: the input is validated as UTF-8 once, strings are scanned
//! eight bytes at a time for the next `"`, `\` or control character, and strings without escapes
//! are borrowed.
//!
//! It is strict JSON (RFC 8259) and declines (returns `None`) on anything it does not accept,
//! including nesting deeper than [`MAX_DEPTH`]; the caller then lets serde_json parse the input or
//! explain the error, so the fast path never decides alone that an input is invalid.

use std::borrow::Cow;

use super::{find_special, Member, Node};

/// Nesting limit, serde_json's recursion limit.
const MAX_DEPTH: usize = 128;

/// Parse a whole JSON document, or `None` if the fast path declines.
pub(super) fn parse(input: &[u8]) -> Option<Node<'_>> {
    let text = std::str::from_utf8(input).ok()?;
    let mut parser = Parser {
        text,
        bytes: input,
        pos: 0,
        depth: 0,
    };
    let node = parser.value()?;
    parser.whitespace();
    (parser.pos == input.len()).then_some(node)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.whitespace();
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Node::Str),
            b't' => self.literal("true", Node::Bool(true)),
            b'f' => self.literal("false", Node::Bool(false)),
            b'n' => self.literal("null", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, node: Node<'a>) -> Option<Node<'a>> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word.as_bytes()).then(|| {
            self.pos = end;
            node
        })
    }

    fn number(&mut self) -> Option<Node<'a>> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        // serde_json checks the grammar and picks u64, i64 or f64 exactly as its own parser does.
        serde_json::from_str::<serde_json::Number>(self.text.get(start..self.pos)?)
            .ok()
            .map(Node::Number)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.pos += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn array(&mut self) -> Option<Node<'a>> {
        self.enter()?;
        let mut items = Vec::new();
        self.whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                items.push(self.value()?);
                self.whitespace();
                match self.peek()? {
                    b',' => self.pos += 1,
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Node::Array(items))
    }

    fn object(&mut self) -> Option<Node<'a>> {
        self.enter()?;
        let mut members: Vec<Member<'a>> = Vec::new();
        self.whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                self.whitespace();
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.whitespace();
                if self.peek()? != b':' {
                    return None;
                }
                self.pos += 1;
                let value = self.value()?;
                members.push((key, value));
                self.whitespace();
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Node::Object(members))
    }

    /// A string starting at the opening quote; borrowed when it holds no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let mut run_start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let rest = self.bytes.get(self.pos..)?;
            let found = find_special(rest);
            let end = self.pos + found;
            // Unterminated strings and raw control characters are not JSON.
            let special = *rest.get(found)?;
            if special < 0x20 {
                return None;
            }
            // Quotes and backslashes are ASCII, so `end` is a char boundary of the validated text.
            let run = self.text.get(run_start..end)?;
            if special == b'"' {
                self.pos = end + 1;
                return Some(match owned {
                    None => Cow::Borrowed(run),
                    Some(mut s) => {
                        s.push_str(run);
                        Cow::Owned(s)
                    }
                });
            }
            let s = owned.get_or_insert_with(|| String::with_capacity(rest.len().min(1 << 16)));
            s.push_str(run);
            let escape = *self.bytes.get(end + 1)?;
            self.pos = end + 2;
            match escape {
                b'"' => s.push('"'),
                b'\\' => s.push('\\'),
                b'/' => s.push('/'),
                b'b' => s.push('\u{8}'),
                b'f' => s.push('\u{c}'),
                b'n' => s.push('\n'),
                b'r' => s.push('\r'),
                b't' => s.push('\t'),
                b'u' => {
                    let c = self.unicode_escape()?;
                    s.push(c);
                }
                _ => return None,
            }
            run_start = self.pos;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut value = 0;
        for d in digits {
            value = value * 16 + char::from(*d).to_digit(16)?;
        }
        self.pos += 4;
        Some(value)
    }

    /// After `\u`: one code point, or a surrogate pair. Lone surrogates are declined.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2)? != b"\\u" {
                    return None;
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(first),
        }
    }
}

#[cfg(test)]
mod tests;
