//! The lexer of Go's `text/template`: splits a template into text and the tokens of its actions,
//! applying the `{{- ` / ` -}}` trim markers and dropping `{{/* */}}` comments, as Go's
//! `text/template/parse/lex.go` does.

use super::error::Fail;

/// One token and the byte offset where it starts in the template text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text between actions, already trimmed by the markers around it.
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    /// A function name or keyword.
    Ident(String),
    /// `.name`, without the dot.
    Field(String),
    /// `$` or `$name`, with the dollar.
    Var(String),
    Dot,
    /// The number's source text, parsed by the parser as Go does.
    Number(String),
    /// A character constant's source text (`'a'`).
    Char(String),
    /// A quoted string's source text, quotes included.
    Str(String),
    /// A raw string's contents.
    RawStr(String),
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    /// Any other printable ASCII character in an action; the parser says why it is unexpected.
    Other(char),
    Eof,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

/// Limits nesting of parentheses so that a hostile template cannot exhaust the parser's stack.
pub(crate) const MAX_PAREN_DEPTH: usize = 50;

pub(crate) fn lex(text: &str) -> Result<Vec<Token>, Fail> {
    let mut lexer = Lexer {
        src: text,
        pos: 0,
        tokens: Vec::new(),
        trim_next_text: false,
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    /// The previous action ended with ` -}}`: the next text loses its leading spaces.
    trim_next_text: bool,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn push(&mut self, kind: Tok, pos: usize) {
        self.tokens.push(Token { kind, pos });
    }

    fn run(&mut self) -> Result<(), Fail> {
        loop {
            let start = self.pos;
            let Some(offset) = self.rest().find(LEFT) else {
                self.push_text(start, self.src.len(), false);
                self.push(Tok::Eof, self.src.len());
                return Ok(());
            };
            let delim = start + offset;
            let after = &self.src[delim + LEFT.len()..];
            let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
            self.push_text(start, delim, trim_left);
            self.pos = delim + LEFT.len() + if trim_left { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.comment(delim)?;
            } else {
                self.push(Tok::LeftDelim, delim);
                self.action(delim)?;
            }
        }
    }

    fn push_text(&mut self, start: usize, end: usize, trim_right: bool) {
        let mut text = &self.src[start..end];
        if std::mem::take(&mut self.trim_next_text) {
            text = text.trim_start_matches(is_space);
        }
        if trim_right {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            self.push(Tok::Text(text.to_owned()), start);
        }
    }

    /// Is the input at a right delimiter? Returns its length and whether it trims.
    fn at_right_delim(&self) -> Option<(usize, bool)> {
        let rest = self.rest();
        if rest.starts_with(RIGHT) {
            return Some((RIGHT.len(), false));
        }
        let mut chars = rest.chars();
        match (chars.next(), chars.next()) {
            (Some(c), Some('-')) if is_space(c) && rest[c.len_utf8() + 1..].starts_with(RIGHT) => {
                Some((c.len_utf8() + 1 + RIGHT.len(), true))
            }
            _ => None,
        }
    }

    fn comment(&mut self, open: usize) -> Result<(), Fail> {
        let Some(end) = self.rest().find("*/") else {
            return Err(Fail::new(open, "unclosed comment"));
        };
        self.pos += end + 2;
        match self.at_right_delim() {
            Some((len, trim)) => {
                self.pos += len;
                self.trim_next_text = trim;
                Ok(())
            }
            None => Err(Fail::new(open, "comment ends before closing delimiter")),
        }
    }

    fn action(&mut self, open: usize) -> Result<(), Fail> {
        let mut depth = 0usize;
        loop {
            if let Some((len, trim)) = self.at_right_delim() {
                if depth > 0 {
                    return Err(Fail::new(self.pos, "unclosed left paren"));
                }
                // The space of ` -}}` belongs to the delimiter.
                self.push(Tok::RightDelim, self.pos + len - RIGHT.len());
                self.pos += len;
                self.trim_next_text = trim;
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return Err(Fail::new(open, "unclosed action"));
            };
            match c {
                c if is_space(c) => {
                    while self.peek().is_some_and(is_space) && self.at_right_delim().is_none() {
                        self.pos += 1;
                    }
                    self.push(Tok::Space, start);
                }
                '=' => self.single(Tok::Assign),
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return Err(Fail::new(start, "expected :="));
                    }
                    self.pos += 2;
                    self.push(Tok::Declare, start);
                }
                '|' => self.single(Tok::Pipe),
                ',' => self.single(Tok::Comma),
                '(' => {
                    depth += 1;
                    if depth > MAX_PAREN_DEPTH {
                        return Err(Fail::new(start, "parentheses nested too deeply"));
                    }
                    self.single(Tok::LeftParen);
                }
                ')' => {
                    if depth == 0 {
                        return Err(Fail::new(start, "unexpected right paren"));
                    }
                    depth -= 1;
                    self.single(Tok::RightParen);
                }
                '"' => {
                    let len = self.quoted('"', "unterminated quoted string")?;
                    self.push(Tok::Str(self.src[start..start + len].to_owned()), start);
                    self.pos = start + len;
                }
                '\'' => {
                    let len = self.quoted('\'', "unterminated character constant")?;
                    self.push(Tok::Char(self.src[start..start + len].to_owned()), start);
                    self.pos = start + len;
                }
                '`' => {
                    let Some(end) = self.rest()[1..].find('`') else {
                        return Err(Fail::new(start, "unterminated raw quoted string"));
                    };
                    self.push(Tok::RawStr(self.rest()[1..1 + end].to_owned()), start);
                    self.pos += end + 2;
                }
                '$' => {
                    self.pos += 1;
                    let name = format!("${}", self.word());
                    self.push(Tok::Var(name), start);
                    self.check_terminator()?;
                }
                '.' => {
                    let next = self.rest()[1..].chars().next();
                    if next.is_some_and(|n| n.is_ascii_digit()) {
                        self.number()?;
                    } else if next.is_some_and(is_alnum) {
                        self.pos += 1;
                        let name = self.word().to_owned();
                        self.push(Tok::Field(name), start);
                        self.check_terminator()?;
                    } else {
                        self.single(Tok::Dot);
                    }
                }
                '+' | '-' | '0'..='9' => self.number()?,
                c if is_alnum(c) => {
                    let word = self.word().to_owned();
                    self.push(Tok::Ident(word), start);
                    self.check_terminator()?;
                }
                c if c.is_ascii_graphic() => self.single(Tok::Other(c)),
                c => {
                    return Err(Fail::new(
                        start,
                        format!("unrecognized character in action: U+{:04X}", u32::from(c)),
                    ));
                }
            }
        }
    }

    fn single(&mut self, kind: Tok) {
        let start = self.pos;
        self.pos += 1;
        self.push(kind, start);
    }

    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        &self.src[start..self.pos]
    }

    /// After a name, Go requires a character that can end an operand.
    fn check_terminator(&self) -> Result<(), Fail> {
        match self.peek() {
            None => Ok(()),
            Some(c) if is_space(c) || matches!(c, '.' | ',' | '|' | ':' | ')' | '(' | '=') => {
                Ok(())
            }
            Some(_) if self.rest().starts_with(RIGHT) => Ok(()),
            Some(c) => Err(Fail::new(
                self.pos,
                format!("bad character U+{:04X} '{c}'", u32::from(c)),
            )),
        }
    }

    /// Length of a quoted literal starting at the current position, closing quote included.
    fn quoted(&self, quote: char, unterminated: &str) -> Result<usize, Fail> {
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if chars.next().is_none_or(|(_, c)| c == '\n') => break,
                '\\' => {}
                '\n' => break,
                c if c == quote => return Ok(i + 1),
                _ => {}
            }
        }
        Err(Fail::new(self.pos, unterminated))
    }

    /// Go's `scanNumber`: an optional sign, a base prefix, digits with underscores, a fraction
    /// and an exponent; the parser decides whether the text is a valid number.
    fn number(&mut self) -> Result<(), Fail> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = self.pos;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut exponent: &[u8] = b"eE";
        if bytes.get(i) == Some(&b'0') {
            match bytes.get(i + 1) {
                Some(b'x' | b'X') => {
                    i += 2;
                    digits = b"0123456789abcdefABCDEF_";
                    exponent = b"pP";
                }
                Some(b'o' | b'O') => {
                    i += 2;
                    digits = b"01234567_";
                }
                Some(b'b' | b'B') => {
                    i += 2;
                    digits = b"01_";
                }
                _ => {}
            }
        }
        let run = |i: &mut usize, set: &[u8]| {
            while bytes.get(*i).is_some_and(|b| set.contains(b)) {
                *i += 1;
            }
        };
        run(&mut i, digits);
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            run(&mut i, digits);
        }
        if bytes.get(i).is_some_and(|b| exponent.contains(b)) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            run(&mut i, b"0123456789_");
        }
        if bytes.get(i) == Some(&b'i') {
            i += 1;
        }
        self.pos = i;
        let sign = usize::from(matches!(bytes.get(start), Some(b'+' | b'-')));
        if i == start + sign || self.peek().is_some_and(is_alnum) {
            let end = self
                .rest()
                .find(|c: char| !is_alnum(c) && c != '.')
                .map_or(self.src.len(), |e| self.pos + e);
            let text = &self.src[start..end];
            return Err(Fail::new(start, format!("bad number syntax: {text:?}")));
        }
        self.push(Tok::Number(self.src[start..i].to_owned()), start);
        Ok(())
    }
}
