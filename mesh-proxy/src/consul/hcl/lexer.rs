//! HCL 1 tokens, as hashicorp/hcl v1's scanner makes them: identifiers (letters, digits, `_`, `-`,
//! `.`), quoted strings with Go escapes (and `${ … }` kept verbatim), heredocs, numbers (decimal,
//! `0x` hex, leading-`0` octal, fractions and exponents), `true`/`false`, punctuation; comments
//! `#`, `//` and `/* */` skipped.

use super::SyntaxError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    /// A bare word: a key or a block name.
    Ident(String),
    /// A quoted string, unescaped.
    Str(String),
    /// A heredoc's text.
    Heredoc(String),
    /// An integer.
    Int(i64),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `[`.
    LBrack,
    /// `]`.
    RBrack,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
    /// The end of the text.
    Eof,
}

impl Token {
    /// The token as messages show it.
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Ident(word) => format!("`{word}`"),
            Token::Str(_) => "a string".to_owned(),
            Token::Heredoc(_) => "a heredoc".to_owned(),
            Token::Int(_) | Token::Float(_) => "a number".to_owned(),
            Token::Bool(b) => format!("`{b}`"),
            Token::LBrace => "`{`".to_owned(),
            Token::RBrace => "`}`".to_owned(),
            Token::LBrack => "`[`".to_owned(),
            Token::RBrack => "`]`".to_owned(),
            Token::Assign => "`=`".to_owned(),
            Token::Comma => "`,`".to_owned(),
            Token::Eof => "the end of the file".to_owned(),
        }
    }
}

/// Splits HCL 1 text into tokens with their 1-based lines.
pub(super) struct Lexer<'a> {
    /// The whole text.
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    /// 1-based line of the next character.
    line: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub(super) fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// The next character.
    fn peek_char(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    /// The character after the next.
    fn peek_second(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    /// Take the next character, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// An error at `line`.
    fn error(&self, line: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line,
            message: message.into(),
        }
    }

    /// Skip white space and comments.
    fn skip_trivia(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek_char(), self.peek_second()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while self.peek_char().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.line;
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(self.error(start, "comment `/*` is not closed")),
                            Some('*') if self.peek_char() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token and the line it starts on.
    pub(super) fn next_token(&mut self) -> Result<(Token, usize), SyntaxError> {
        self.skip_trivia()?;
        let line = self.line;
        let Some(c) = self.peek_char() else {
            return Ok((Token::Eof, line));
        };
        let punct = match c {
            '{' => Some(Token::LBrace),
            '}' => Some(Token::RBrace),
            '[' => Some(Token::LBrack),
            ']' => Some(Token::RBrack),
            '=' => Some(Token::Assign),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = punct {
            self.bump();
            return Ok((token, line));
        }
        let token = match c {
            '"' => Token::Str(self.string()?),
            '<' if self.text[self.pos..].starts_with("<<") => Token::Heredoc(self.heredoc()?),
            '0'..='9' => self.number()?,
            '-' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => self.number()?,
            c if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while self
                    .peek_char()
                    .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                {
                    self.bump();
                }
                match &self.text[start..self.pos] {
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    word => Token::Ident(word.to_owned()),
                }
            }
            other => return Err(self.error(line, format!("unexpected character `{other}`"))),
        };
        Ok((token, line))
    }

    /// A number (Go's rules: `-`, `0x`, leading-0 octal, fraction, exponent).
    fn number(&mut self) -> Result<Token, SyntaxError> {
        let line = self.line;
        let start = self.pos;
        if self.peek_char() == Some('-') {
            self.bump();
        }
        let hex =
            self.text[self.pos..].starts_with("0x") || self.text[self.pos..].starts_with("0X");
        if hex {
            self.bump();
            self.bump();
            while self.peek_char().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
            }
        }
        let mut float = false;
        // Decimal digits, a fraction and an exponent (hex has none of these).
        while !hex && self.peek_char().is_some() {
            match self.peek_char() {
                Some(c) if c.is_ascii_digit() => {}
                Some('.') if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => float = true,
                Some('e' | 'E') => {
                    float = true;
                    self.bump();
                    if matches!(self.peek_char(), Some('+' | '-')) {
                        self.bump();
                    }
                    continue;
                }
                _ => break,
            }
            self.bump();
        }
        let text = &self.text[start..self.pos];
        let bad = || self.error(line, format!("invalid number `{text}`"));
        if float {
            return text.parse().map(Token::Float).map_err(|_| bad());
        }
        // Go's strconv.ParseInt(text, 0, 64), as HCL 1 reads integers: `0x` hex, leading-0 octal.
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (radix, digits) = if hex {
            (16, &digits[2..])
        } else if digits.len() > 1 && digits.starts_with('0') {
            (8, &digits[1..])
        } else {
            (10, digits)
        };
        let magnitude = i128::from_str_radix(digits, radix).map_err(|_| bad())?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value).map(Token::Int).map_err(|_| bad())
    }

    /// A quoted string, unescaped.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let line = self.line;
        self.bump();
        let mut out = String::new();
        let mut braces = 0usize;
        loop {
            let Some(c) = self.bump() else {
                return Err(self.error(line, "string is not closed (missing `\"`)"));
            };
            match c {
                '\n' if braces == 0 => {
                    return Err(self.error(line, "string is not closed before the end of the line"))
                }
                '"' if braces == 0 => return Ok(out),
                // `${ … }` is kept as written (Consul does not interpolate), quotes and all.
                '$' if braces == 0 && self.peek_char() == Some('{') => {
                    self.bump();
                    braces = 1;
                    out.push_str("${");
                }
                '{' if braces > 0 => {
                    braces += 1;
                    out.push(c);
                }
                '}' if braces > 0 => {
                    braces -= 1;
                    out.push(c);
                }
                '\\' if braces == 0 => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    /// The escape after a backslash, pushed onto `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let line = self.line;
        let Some(c) = self.bump() else {
            return Err(self.error(line, "string is not closed (missing `\"`)"));
        };
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            return Ok(());
        }
        let (count, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            other => return Err(self.error(line, format!("unknown escape `\\{other}` in string"))),
        };
        let mut digits = String::new();
        if radix == 8 {
            digits.push(c);
        }
        for _ in 0..count {
            match self.bump() {
                Some(d) if d.is_digit(radix) => digits.push(d),
                _ => {
                    return Err(
                        self.error(line, format!("invalid escape `\\{c}{digits}` in string"))
                    )
                }
            }
        }
        let code = u32::from_str_radix(&digits, radix).ok();
        let ch = code
            .and_then(char::from_u32)
            .filter(|_| radix == 16 || code < Some(256));
        match ch {
            Some(ch) => {
                out.push(ch);
                Ok(())
            }
            None => Err(self.error(line, format!("invalid escape `\\{c}{digits}` in string"))),
        }
    }

    /// `<<EOF` … `EOF`: the lines between, with the newline before the closing anchor (as HCL 1
    /// keeps it); `<<-EOF` removes the closing anchor's indentation from every line that has it
    /// (from none, when a line lacks it, as HCL 1 does).
    fn heredoc(&mut self) -> Result<String, SyntaxError> {
        let line = self.line;
        self.bump();
        self.bump();
        let indented = self.peek_char() == Some('-');
        if indented {
            self.bump();
        }
        let start = self.pos;
        while self
            .peek_char()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.bump();
        }
        let anchor = self.text[start..self.pos].to_owned();
        if anchor.is_empty() {
            return Err(self.error(line, "heredoc needs an anchor after `<<`, as in `<<EOF`"));
        }
        if self.peek_char() == Some('\r') {
            self.bump();
        }
        if self.bump() != Some('\n') {
            return Err(self.error(line, format!("heredoc anchor `{anchor}` must end its line")));
        }
        let body_start = self.pos;
        loop {
            let line_start = self.pos;
            while self.peek_char().is_some_and(|c| c != '\n') {
                self.bump();
            }
            let text = self.text[line_start..self.pos].trim_end_matches('\r');
            let closes = text.trim_start() == anchor;
            if self.bump().is_none() {
                // HCL 1 wants the newline after the closing anchor too.
                return Err(self.error(line, format!("heredoc `{anchor}` is not closed")));
            }
            if closes {
                let indent_len = text.len() - anchor.len();
                let body = &self.text[body_start..line_start + indent_len];
                return Ok(if indented {
                    unindent(body, &text[..indent_len])
                } else {
                    body.to_owned()
                });
            }
        }
    }
}

/// `<<-`: `body` is the lines and then `indent` (the closing anchor's).
fn unindent(body: &str, indent: &str) -> String {
    let lines: Vec<&str> = body[..body.len() - indent.len()]
        .split_inclusive('\n')
        .collect();
    if lines.iter().all(|l| l.starts_with(indent)) {
        lines.iter().map(|l| &l[indent.len()..]).collect()
    } else {
        lines.concat()
    }
}
