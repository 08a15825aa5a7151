//! JSON text read once into a flat tape of nodes that borrow from the text.
//!
//! Log ingest reads every event's JSON on its hottest path, and the log index reads the
//! fields it keeps; a tree of `serde_json::Value`s costs an allocation per key, string and
//! map node, and a second pass to write the fields back out. A [`JsonTape`] is one `Vec` of
//! nodes in document order: strings without escapes are byte ranges of the text, numbers are
//! read once, containers know where they end, and every node knows its byte span, so a
//! caller can copy members out of the text as they came. Tantivy indexes a [`JsonValue`]
//! directly (it implements tantivy's `Value`), with the same leaves as tantivy gives a
//! `serde_json::Value`.
//!
//! The grammar is RFC 8259's, as `serde_json` reads it: the same nesting limit (127 levels), numbers
//! out of `f64`'s range refused, lone surrogates in `\u` escapes refused. Two differences:
//! a repeated key is kept twice (serde's map keeps the last), and a float may differ from
//! serde's in its last bit (serde's default float parser is not always correctly rounded; this
//! one is). Callers that need serde's exact error text ask serde for it when a parse fails.

use std::ops::Range;

use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};

/// Arrays and objects may nest this deep, less one, as in `serde_json`.
const MAX_DEPTH: u32 = 128;

/// Why a text is not JSON: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct JsonError {
    pub offset: usize,
    pub what: &'static str,
}

/// A JSON text read into nodes. Build with [`JsonTape::parse`], read from [`JsonTape::root`].
#[derive(Debug)]
pub struct JsonTape<'t> {
    text: &'t str,
    nodes: Vec<Node>,
    /// Strings that held escapes, unescaped.
    unescaped: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    /// Byte span of the value in the text (a string's includes its quotes).
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// Content without quotes, when it held no escape.
    Text {
        from: u32,
        to: u32,
    },
    /// Index into [`JsonTape::unescaped`].
    Unescaped(u32),
    /// `next` is the index of the first node after the container's last descendant; an
    /// object's children are key and value nodes in turn.
    Array {
        next: u32,
    },
    Object {
        next: u32,
    },
}

impl<'t> JsonTape<'t> {
    /// Reads `text`, which must hold exactly one JSON value (whitespace around it allowed).
    pub fn parse(text: &'t str) -> Result<JsonTape<'t>, JsonError> {
        if u32::try_from(text.len()).is_err() {
            return Err(JsonError {
                offset: 0,
                what: "text longer than 4 GiB",
            });
        }
        let mut nodes = SPARE_NODES.take();
        nodes.clear();
        // A log event has a node per 15-30 bytes: no growing while reading.
        nodes.reserve(text.len() / 12 + 4);
        let mut p = Parser {
            b: text.as_bytes(),
            pos: 0,
            depth: 0,
            nodes,
            unescaped: Vec::new(),
        };
        let read = p.value().and_then(|()| {
            p.skip_whitespace();
            if p.pos == p.b.len() {
                Ok(())
            } else {
                Err(p.error("trailing characters"))
            }
        });
        if let Err(e) = read {
            keep_spare(p.nodes);
            return Err(e);
        }
        Ok(JsonTape {
            text,
            nodes: p.nodes,
            unescaped: p.unescaped,
        })
    }

    /// The top-level value.
    pub fn root(&self) -> JsonValue<'_> {
        JsonValue { tape: self, at: 0 }
    }

    pub fn text(&self) -> &'t str {
        self.text
    }
}

impl Drop for JsonTape<'_> {
    fn drop(&mut self) {
        keep_spare(std::mem::take(&mut self.nodes));
    }
}

thread_local! {
    /// The node buffer of the last tape this thread dropped: ingest reads one event after
    /// another on the same threads, and a fresh buffer per event was a good part of its
    /// allocations.
    static SPARE_NODES: std::cell::Cell<Vec<Node>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Buffers up to this many nodes are kept for the next tape (a 1 MiB event has ~50,000).
const MAX_SPARE_NODES: usize = 1 << 16;

/// Keeps the larger of `nodes` and the buffer kept already (two tapes may be alive at once:
/// `_bulk` reads an action line, then its document).
fn keep_spare(nodes: Vec<Node>) {
    let kept = SPARE_NODES.take();
    let larger = if kept.capacity() > nodes.capacity() {
        kept
    } else {
        nodes
    };
    if larger.capacity() <= MAX_SPARE_NODES {
        SPARE_NODES.set(larger);
    }
}

/// One value of a [`JsonTape`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct JsonValue<'a> {
    tape: &'a JsonTape<'a>,
    at: u32,
}

impl std::fmt::Debug for JsonValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.tape.text[self.span()])
    }
}

/// What a scalar value is, borrowed from the tape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JsonScalar<'a> {
    Str(&'a str),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl JsonScalar<'_> {
    /// A number as an `f64` (`None` for strings and booleans).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            JsonScalar::I64(v) => Some(v as f64),
            JsonScalar::U64(v) => Some(v as f64),
            JsonScalar::F64(v) => Some(v),
            JsonScalar::Str(_) | JsonScalar::Bool(_) => None,
        }
    }
}

impl<'a> JsonValue<'a> {
    fn node(&self) -> Node {
        self.tape.nodes[self.at as usize]
    }

    /// Index of the node after this value and its descendants.
    fn next(&self) -> u32 {
        match self.node().kind {
            Kind::Array { next } | Kind::Object { next } => next,
            _ => self.at + 1,
        }
    }

    /// Byte span of the value in the text.
    pub fn span(&self) -> Range<usize> {
        let n = self.node();
        n.start as usize..n.end as usize
    }

    /// The value's text as it came.
    pub fn raw(&self) -> &'a str {
        let n = self.tape.nodes[self.at as usize];
        &self.tape.text[n.start as usize..n.end as usize]
    }

    pub fn is_object(&self) -> bool {
        matches!(self.node().kind, Kind::Object { .. })
    }

    /// The JSON type, for messages ("an object", "a string", …), worded as
    /// `ingest`'s rejects word it.
    pub fn kind_name(&self) -> &'static str {
        match self.node().kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::I64(_) | Kind::U64(_) | Kind::F64(_) => "a number",
            Kind::Text { .. } | Kind::Unescaped(_) => "a string",
            Kind::Array { .. } => "an array",
            Kind::Object { .. } => "an object",
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match self.node().kind {
            Kind::Text { from, to } => Some(&self.tape.text[from as usize..to as usize]),
            Kind::Unescaped(i) => Some(&self.tape.unescaped[i as usize]),
            _ => None,
        }
    }

    /// A string, number or boolean; `None` for null, arrays and objects.
    pub fn scalar(&self) -> Option<JsonScalar<'a>> {
        Some(match self.node().kind {
            Kind::Bool(b) => JsonScalar::Bool(b),
            Kind::I64(v) => JsonScalar::I64(v),
            Kind::U64(v) => JsonScalar::U64(v),
            Kind::F64(v) => JsonScalar::F64(v),
            Kind::Text { .. } | Kind::Unescaped(_) => JsonScalar::Str(self.as_str()?),
            Kind::Null | Kind::Array { .. } | Kind::Object { .. } => return None,
        })
    }

    /// An object's members in the order they came, each with its byte span from the key's
    /// opening quote to the value's end; empty for anything else.
    pub fn members(&self) -> Members<'a> {
        let (at, end) = match self.node().kind {
            Kind::Object { next } => (self.at + 1, next),
            _ => (0, 0),
        };
        Members {
            tape: self.tape,
            at,
            end,
        }
    }

    /// An array's elements; empty for anything else.
    pub fn elements(&self) -> Elements<'a> {
        let (at, end) = match self.node().kind {
            Kind::Array { next } => (self.at + 1, next),
            _ => (0, 0),
        };
        Elements {
            tape: self.tape,
            at,
            end,
        }
    }

    /// The value of an object's first member named `key`.
    pub fn get(&self, key: &str) -> Option<JsonValue<'a>> {
        self.members().find(|m| m.key == key).map(|m| m.value)
    }

    /// The value as a `serde_json::Value` (for the paths that want a tree).
    pub fn to_serde(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self.node().kind {
            Kind::Null => J::Null,
            Kind::Bool(b) => J::Bool(b),
            Kind::I64(v) => J::from(v),
            Kind::U64(v) => J::from(v),
            Kind::F64(v) => serde_json::Number::from_f64(v).map_or(J::Null, J::Number),
            Kind::Text { .. } | Kind::Unescaped(_) => {
                J::String(self.as_str().unwrap_or_default().to_string())
            }
            Kind::Array { .. } => J::Array(self.elements().map(|e| e.to_serde()).collect()),
            Kind::Object { .. } => J::Object(
                self.members()
                    .map(|m| (m.key.to_string(), m.value.to_serde()))
                    .collect(),
            ),
        }
    }
}

/// One member of an object.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub key: &'a str,
    pub value: JsonValue<'a>,
    /// From the key's opening quote to the value's last byte: `"key": value`.
    pub span: Range<usize>,
}

pub struct Members<'a> {
    tape: &'a JsonTape<'a>,
    at: u32,
    end: u32,
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        if self.at >= self.end {
            return None;
        }
        let key = JsonValue {
            tape: self.tape,
            at: self.at,
        };
        let value = JsonValue {
            tape: self.tape,
            at: self.at + 1,
        };
        self.at = value.next();
        Some(Member {
            key: key.as_str().unwrap_or_default(),
            value,
            span: key.span().start..value.span().end,
        })
    }
}

pub struct Elements<'a> {
    tape: &'a JsonTape<'a>,
    at: u32,
    end: u32,
}

impl<'a> Iterator for Elements<'a> {
    type Item = JsonValue<'a>;

    fn next(&mut self) -> Option<JsonValue<'a>> {
        if self.at >= self.end {
            return None;
        }
        let value = JsonValue {
            tape: self.tape,
            at: self.at,
        };
        self.at = value.next();
        Some(value)
    }
}

/// Tantivy's object iterator: `(key, value)`.
pub struct TantivyMembers<'a>(Members<'a>);

impl<'a> Iterator for TantivyMembers<'a> {
    type Item = (&'a str, JsonValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|m| (m.key, m.value))
    }
}

impl<'a> Value<'a> for JsonValue<'a> {
    type ArrayIter = Elements<'a>;
    type ObjectIter = TantivyMembers<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match self.node().kind {
            Kind::Null => ReferenceValueLeaf::Null.into(),
            Kind::Bool(b) => ReferenceValueLeaf::Bool(b).into(),
            Kind::I64(v) => ReferenceValueLeaf::I64(v).into(),
            Kind::U64(v) => ReferenceValueLeaf::U64(v).into(),
            Kind::F64(v) => ReferenceValueLeaf::F64(v).into(),
            Kind::Text { .. } | Kind::Unescaped(_) => {
                let text = self.as_str().unwrap_or_default();
                // As tantivy does for a serde_json string: RFC 3339 text is indexed as a date.
                match rfc3339_date(text) {
                    Some(date) => ReferenceValueLeaf::Date(date).into(),
                    None => ReferenceValueLeaf::Str(text).into(),
                }
            }
            Kind::Array { .. } => ReferenceValue::Array(self.elements()),
            Kind::Object { .. } => ReferenceValue::Object(TantivyMembers(self.members())),
        }
    }
}

/// Tantivy's reading of a JSON string as a date: text starting with a digit that parses as
/// RFC 3339 and fits its range.
fn rfc3339_date(text: &str) -> Option<tantivy::DateTime> {
    if !text.as_bytes().first()?.is_ascii_digit() {
        return None;
    }
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    tantivy::DateTime::try_from_utc(parsed.to_offset(time::UtcOffset::UTC))
}

/// Where a string's plain run ends: the first `"`, `\\` or control character (< 0x20) in `b`.
/// Eight bytes at a time (the test for a byte in a word, as in "Bit Twiddling Hacks"): a log
/// event is mostly string bytes, and a byte at a time this scan was most of the parse.
fn string_stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A byte's high bit is set in `(w - ONES * n) & !w & HIGHS` when the byte is below `n`
    // (`n` ≤ 0x80). A borrow can also set it in a later byte, never in an earlier one: the
    // first flagged byte is exact, and it is the first byte in memory that matches.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS;
    let (words, rest) = b.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let w = u64::from_le_bytes(*word);
        let hits = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if hits != 0 {
            return Some(i * 8 + hits.trailing_zeros() as usize / 8);
        }
    }
    let done = words.len() * 8;
    rest.iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| done + i)
}

struct Parser<'t> {
    b: &'t [u8],
    pos: usize,
    depth: u32,
    nodes: Vec<Node>,
    unescaped: Vec<String>,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    // Positions fit in u32: `parse` refuses longer texts.
    fn push(&mut self, kind: Kind, start: usize) {
        self.nodes.push(Node {
            kind,
            start: start as u32,
            end: self.pos as u32,
        });
    }

    fn value(&mut self) -> Result<(), JsonError> {
        self.skip_whitespace();
        let start = self.pos;
        match self.peek() {
            Some(b'{') => self.container(start, b'}'),
            Some(b'[') => self.container(start, b']'),
            Some(b'"') => {
                let kind = self.string()?;
                self.push(kind, start);
                Ok(())
            }
            Some(b't') => self.literal(b"true", Kind::Bool(true)),
            Some(b'f') => self.literal(b"false", Kind::Bool(false)),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                let kind = self.number()?;
                self.push(kind, start);
                Ok(())
            }
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<(), JsonError> {
        let start = self.pos;
        if !self.b[self.pos..].starts_with(word) {
            return Err(self.error("expected ident"));
        }
        self.pos += word.len();
        self.push(kind, start);
        Ok(())
    }

    /// An object (`close` is `}`) or array (`]`), the cursor on its opening bracket.
    fn container(&mut self, start: usize, close: u8) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1;
        let at = self.nodes.len();
        // Its kind and end are known once its children are read.
        self.nodes.push(Node {
            kind: Kind::Null,
            start: start as u32,
            end: 0,
        });
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.pos += 1;
        } else {
            loop {
                if close == b'}' {
                    self.skip_whitespace();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("key must be a string"));
                    }
                    let key_start = self.pos;
                    let kind = self.string()?;
                    self.push(kind, key_start);
                    self.skip_whitespace();
                    if self.peek() != Some(b':') {
                        return Err(self.error("expected `:`"));
                    }
                    self.pos += 1;
                }
                self.value()?;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(c) if c == close => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => return Err(self.error("expected `,` or a closing bracket")),
                    None => return Err(self.error("EOF while parsing a container")),
                }
            }
        }
        self.depth -= 1;
        let next = self.nodes.len() as u32;
        self.nodes[at] = Node {
            kind: if close == b'}' {
                Kind::Object { next }
            } else {
                Kind::Array { next }
            },
            start: start as u32,
            end: self.pos as u32,
        };
        Ok(())
    }

    /// A string, the cursor on its opening quote.
    fn string(&mut self) -> Result<Kind, JsonError> {
        self.pos += 1;
        let from = self.pos;
        let end = string_stop(&self.b[from..]).map(|i| from + i);
        self.pos = end.unwrap_or(self.b.len());
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                return Ok(Kind::Text {
                    from: from as u32,
                    to: (self.pos - 1) as u32,
                });
            }
            // An escape: the slow path below.
            Some(b'\\') => {}
            Some(_) => {
                return Err(
                    self.error("control character (\\u0000-\\u001F) found while parsing a string")
                );
            }
            None => return Err(self.error("EOF while parsing a string")),
        }
        let mut out = Vec::with_capacity(self.pos - from + 16);
        out.extend_from_slice(&self.b[from..self.pos]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(c) if c < 0x20 => {
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
        // The text is UTF-8 and escapes are written as UTF-8: the bytes are too.
        let s = String::from_utf8(out).map_err(|_| self.error("invalid unicode code point"))?;
        self.unescaped.push(s);
        Ok(Kind::Unescaped((self.unescaped.len() - 1) as u32))
    }

    /// One escape after its backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("EOF while parsing a string"))?;
        self.pos += 1;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if self.b.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.pos += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error("lone trailing surrogate in hex escape"));
                    }
                    other => other,
                };
                let ch = char::from_u32(code).ok_or_else(|| self.error("invalid escape"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(byte);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .b
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("EOF while parsing a string"))?;
        let mut v = 0u32;
        for &d in digits {
            let x = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid escape"))?;
            v = v * 16 + x;
        }
        self.pos += 4;
        Ok(v)
    }

    /// A number, read as `serde_json` reads it: an integer is an `i64` when it fits, else a
    /// `u64` when it fits, else an `f64`; `-0` is `-0.0`; a fraction or exponent makes an
    /// `f64`, which must be finite.
    fn number(&mut self) -> Result<Kind, JsonError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
            float = true;
        }
        // ASCII digits and signs only: the slice is UTF-8.
        let text = std::str::from_utf8(&self.b[start..self.pos]).unwrap_or_default();
        if !float {
            if negative {
                match text.parse::<i64>() {
                    Ok(0) => return Ok(Kind::F64(-0.0)),
                    Ok(v) => return Ok(Kind::I64(v)),
                    Err(_) => {}
                }
            } else if let Ok(v) = text.parse::<u64>() {
                return Ok(match i64::try_from(v) {
                    Ok(v) => Kind::I64(v),
                    Err(_) => Kind::U64(v),
                });
            }
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Kind::F64(v)),
            _ => Err(JsonError {
                offset: start,
                what: "number out of range",
            }),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value as J, json};
    use tantivy::schema::OwnedValue;

    use super::*;

    fn same_as_serde(text: &str) -> Result<(), TestCaseError> {
        let ours = JsonTape::parse(text);
        let theirs = serde_json::from_str::<J>(text);
        match (&ours, theirs) {
            (Ok(tape), Ok(value)) => {
                let ours = tape.root().to_serde();
                prop_assert!(nearly_equal(&ours, &value), "{text:?}: {ours} != {value}");
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => {
                return Err(TestCaseError::fail(format!(
                    "{text:?}: ours {ours:?}, serde {theirs:?}"
                )));
            }
        }
        Ok(())
    }

    /// Equal, except that floats may differ in their last bits (serde's default float parser
    /// is not always correctly rounded).
    fn nearly_equal(a: &J, b: &J) -> bool {
        match (a, b) {
            (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => x == y || ((x - y) / x.abs().max(y.abs())).abs() < 1e-15,
                    _ => false,
                }
            }
            (J::Array(x), J::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| nearly_equal(x, y))
            }
            (J::Object(x), J::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((kx, x), (ky, y))| kx == ky && nearly_equal(x, y))
            }
            _ => a == b,
        }
    }

    #[test]
    fn reads_what_serde_reads() -> Result<(), TestCaseError> {
        for text in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e\n\u00e9\ud83d\ude00"},"f":-2.5e3}"#,
            " [ 1 , -0 , 0.0 , 18446744073709551615 , 18446744073709551616 , -9223372036854775808 ] ",
            r#""\"\\\/\b\f\n\r\t""#,
            "{}",
            "[]",
            "\"\"",
            "1e400",
            "-",
            "01",
            "1.",
            "[1,]",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{1:2}"#,
            "\"\u{1}\"",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\x""#,
            "tru",
            "nulll",
            "{} {}",
            "",
            "   ",
        ] {
            same_as_serde(text)?;
        }
        let deep_ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let deep_bad = format!("{}{}", "[".repeat(128), "]".repeat(128));
        same_as_serde(&deep_ok)?;
        same_as_serde(&deep_bad)?;
        Ok(())
    }

    #[test]
    fn members_keep_order_and_spans() -> Result<(), JsonError> {
        let text = r#" {"b" : 1, "a":{"x":[1,2]} ,"c\"q":"v"} "#;
        let tape = JsonTape::parse(text)?;
        let members: Vec<_> = tape.root().members().collect();
        let keys: Vec<_> = members.iter().map(|m| m.key).collect();
        assert_eq!(keys, ["b", "a", "c\"q"]);
        let spans: Vec<_> = members.iter().map(|m| &text[m.span.clone()]).collect();
        assert_eq!(spans, [r#""b" : 1"#, r#""a":{"x":[1,2]}"#, r#""c\"q":"v""#]);
        assert_eq!(
            tape.root().get("a").map(|a| a.raw()),
            Some(r#"{"x":[1,2]}"#)
        );
        assert_eq!(
            tape.root().get("c\"q").and_then(|v| v.scalar()),
            Some(JsonScalar::Str("v"))
        );
        assert_eq!(tape.root().kind_name(), "an object");
        Ok(())
    }

    /// Tantivy sees the same leaves through the tape as through a `serde_json::Value`.
    #[test]
    fn tantivy_leaves_match_serde() -> Result<(), JsonError> {
        let text = r#"{"n":5,"u":18446744073709551615,"f":1.5,"neg":-3,"b":true,"z":null,
            "d":"2024-05-01T12:00:00.5+02:00","s":"2024 was a year","a":["x",{"y":1}]}"#;
        let tape = JsonTape::parse(text)?;
        let serde: J = tape.root().to_serde();
        // serde's map is sorted by key; the tape keeps the order of the text.
        fn sorted(v: OwnedValue) -> OwnedValue {
            match v {
                OwnedValue::Object(mut members) => {
                    members.sort_by(|a, b| a.0.cmp(&b.0));
                    OwnedValue::Object(members.into_iter().map(|(k, v)| (k, sorted(v))).collect())
                }
                OwnedValue::Array(items) => {
                    OwnedValue::Array(items.into_iter().map(sorted).collect())
                }
                other => other,
            }
        }
        let ours = sorted(OwnedValue::from(tape.root().as_value()));
        let theirs = sorted(OwnedValue::from((&serde).as_value()));
        assert_eq!(ours, theirs);
        Ok(())
    }

    fn json_value() -> impl Strategy<Value = J> {
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            any::<u64>().prop_map(J::from),
            (-1e6f64..1e6).prop_map(|f| json!((f * 8.0).round() / 8.0)),
            "\\PC{0,12}".prop_map(J::String),
            "[\"\\\\/\n\t\u{1}a-é😀]{0,6}".prop_map(J::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(J::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..5)
                    .prop_map(|m| J::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips_serde_output(v in json_value(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&v)
            } else {
                serde_json::to_string(&v)
            }.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let tape = JsonTape::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(tape.root().to_serde(), v);
            prop_assert_eq!(tape.root().raw(), text.as_str());
        }

        #[test]
        fn string_stop_finds_the_first_stop_byte(
            bytes in prop::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff, 0x20u8..0x7f],
                0..40,
            ),
            plain in 0usize..40,
        ) {
            // A plain run first, so that the stop byte falls in any lane of a word.
            let mut text = vec![b'a'; plain];
            text.extend(&bytes);
            let naive = text.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(string_stop(&text), naive);
        }

        #[test]
        fn agrees_with_serde_on_any_text(text in "[\\[\\]{}:,\"\\\\0-9a-z.eE+\\- \n]{0,40}") {
            same_as_serde(&text)?;
        }

        #[test]
        fn agrees_with_serde_on_mangled_json(v in json_value(), cut in any::<prop::sample::Index>(),
                                              byte in any::<u8>()) {
            let text = serde_json::to_string(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut bytes = text.into_bytes();
            let i = cut.index(bytes.len().max(1));
            if i < bytes.len() {
                bytes[i] = byte;
            }
            if let Ok(text) = String::from_utf8(bytes) {
                same_as_serde(&text)?;
            }
        }
    }
}
