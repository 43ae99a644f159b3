//! An HCL 1 reader (hashicorp/hcl v1's syntax, not HCL 2's): `key = value`, `key = { … }`,
//! blocks `Key { … }` and `Key "label" { … }` (also inside object literals), lists with an optional
//! trailing comma, optional commas between object items; into the shared [`tree`](super::tree).

mod lexer;
#[cfg(test)]
mod tests;

use lexer::{Lexer, Token};

use super::tree::{Kind, Object, Value};

/// Text that is not HCL 1 (or JSON): where and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong, in a short lowercase sentence.
    pub message: String,
}

/// Read HCL 1 `text` into its top-level object.
pub(crate) fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut parser = Parser::new(text)?;
    // An empty document's object is on line 1, not after its last blank line.
    let line = if parser.token == Token::Eof {
        1
    } else {
        parser.line
    };
    if parser.token == Token::LBrace {
        return Err(parser.error(
            "a file starting with `{` is JSON, not HCL: name it `.json` (or remove the outer braces)",
        ));
    }
    let object = parser.items(Token::Eof)?;
    Ok(Value::new(Kind::Object(object), line))
}

/// A recursive-descent parser over the lexer, one token of lookahead.
struct Parser<'a> {
    /// The tokens.
    lexer: Lexer<'a>,
    /// The current token.
    token: Token,
    /// Its line.
    line: usize,
}

impl<'a> Parser<'a> {
    /// A parser at the first token of `text`.
    fn new(text: &'a str) -> Result<Parser<'a>, SyntaxError> {
        let mut lexer = Lexer::new(text);
        let (token, line) = lexer.next_token()?;
        Ok(Parser { lexer, token, line })
    }

    /// Move on; the token left behind.
    fn advance(&mut self) -> Result<(Token, usize), SyntaxError> {
        let (token, line) = self.lexer.next_token()?;
        let old = std::mem::replace(&mut self.token, token);
        let old_line = std::mem::replace(&mut self.line, line);
        Ok((old, old_line))
    }

    /// An error at the current token.
    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line: self.line,
            message: message.into(),
        }
    }

    /// Object items up to `end` (`}` or the end of the file), which is consumed.
    fn items(&mut self, end: Token) -> Result<Object, SyntaxError> {
        let mut object = Object::default();
        loop {
            if self.token == end {
                self.advance()?;
                return Ok(object);
            }
            if self.token == Token::Eof {
                return Err(self.error("expected `}` before the end of the file"));
            }
            self.item(&mut object)?;
            if self.token == Token::Comma {
                self.advance()?;
            }
        }
    }

    /// One `key = value`, `key { … }` or `key "label" … { … }`.
    fn item(&mut self, object: &mut Object) -> Result<(), SyntaxError> {
        let mut keys = Vec::new();
        while let Token::Ident(_) | Token::Str(_) = self.token {
            let (token, line) = self.advance()?;
            if let Token::Ident(key) | Token::Str(key) = token {
                keys.push((key, line));
            }
        }
        let Some(first) = keys.first().map(|(key, _)| key.clone()) else {
            return Err(self.error(format!("expected a key, found {}", self.token.describe())));
        };
        let value = match self.token {
            Token::Assign if keys.len() == 1 => {
                self.advance()?;
                self.value(&first)?
            }
            Token::LBrace => {
                let (_, line) = self.advance()?;
                Value::new(Kind::Object(self.items(Token::RBrace)?), line)
            }
            Token::Assign => {
                let labels: Vec<String> = keys.iter().map(|(key, _)| format!("{key:?}")).collect();
                return Err(self.error(format!(
                    "expected `{{` after block labels `{}` (`=` takes one key)",
                    labels.join(" ")
                )));
            }
            _ => {
                let (key, _) = keys.last().map_or((first.clone(), 0), |k| k.clone());
                return Err(self.error(format!(
                    "expected `=` or `{{` after `{key}`, found {}",
                    self.token.describe()
                )));
            }
        };
        // `a "l" "m" { … }` is `a = { l = { m = { … } } }`.
        let mut value = value;
        for (label, line) in keys.iter().skip(1).rev() {
            let mut inner = Object::default();
            let value_line = value.line;
            inner.insert(label.clone(), *line, value);
            value = Value::new(Kind::Object(inner), value_line.min(*line));
        }
        let (key, line) = keys.swap_remove(0);
        object.insert(key, line, value);
        Ok(())
    }

    /// The value after `key =`.
    fn value(&mut self, key: &str) -> Result<Value, SyntaxError> {
        let line = self.line;
        let kind = match &self.token {
            Token::Str(_) | Token::Heredoc(_) | Token::Int(_) | Token::Float(_) | Token::Bool(_) => {
                match self.advance()?.0 {
                    Token::Str(s) | Token::Heredoc(s) => Kind::String(s),
                    Token::Int(i) => Kind::Int(i),
                    Token::Float(f) => Kind::Float(f),
                    Token::Bool(b) => Kind::Bool(b),
                    _ => return Err(self.error("internal: literal expected")),
                }
            }
            Token::LBrace => {
                self.advance()?;
                Kind::Object(self.items(Token::RBrace)?)
            }
            Token::LBrack => {
                self.advance()?;
                Kind::List(self.list(key)?)
            }
            Token::Ident(word) => {
                return Err(self.error(format!(
                    "expected a value after `{key} =`, found the bare word `{word}` (quote strings: \"{word}\")"
                )))
            }
            other => {
                return Err(self.error(format!(
                    "expected a value after `{key} =`, found {}",
                    other.describe()
                )))
            }
        };
        Ok(Value::new(kind, line))
    }

    /// List elements after `[`, up to and including `]`.
    fn list(&mut self, key: &str) -> Result<Vec<Value>, SyntaxError> {
        let mut elements = Vec::new();
        loop {
            if self.token == Token::RBrack {
                self.advance()?;
                return Ok(elements);
            }
            if self.token == Token::Eof {
                return Err(self.error(format!("list `{key}` is not closed (missing `]`)")));
            }
            elements.push(self.value(key)?);
            match self.token {
                Token::Comma => {
                    self.advance()?;
                }
                Token::RBrack => {}
                _ => {
                    return Err(self.error(format!(
                        "expected `,` or `]` in list `{key}`, found {}",
                        self.token.describe()
                    )))
                }
            }
        }
    }
}
