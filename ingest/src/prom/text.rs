//! The Prometheus text exposition format, sample lines only (`# HELP`/`# TYPE` comments and
//! blank lines are skipped): `name{label="value",...} value [timestamp_ms]`. The name may
//! also be quoted inside the braces (`{"name.with.dots", a="b"}`, Prometheus 3).

use storage::{Label, Labels, METRIC_NAME, Sample};

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSample {
    pub labels: Labels,
    pub sample: Sample,
}

/// Why a line was refused, with the byte column where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub column: usize,
    pub message: &'static str,
}

/// Parses one line. `Ok(None)` for comments and blank lines. `default_t` stamps lines that
/// carry no timestamp.
pub fn parse_line(line: &str, default_t: i64) -> Result<Option<TextSample>, LineError> {
    let mut p = Cursor {
        s: line.as_bytes(),
        pos: 0,
    };
    p.skip_spaces();
    if p.at_end() || p.peek() == Some(b'#') {
        return Ok(None);
    }
    let mut pairs: Vec<Label> = Vec::with_capacity(8);
    let mut name: Option<String> = None;
    if p.peek() != Some(b'{') {
        name = Some(p.metric_name()?.to_string());
    }
    if p.peek() == Some(b'{') {
        p.pos += 1;
        loop {
            p.skip_spaces();
            match p.peek() {
                Some(b'}') => {
                    p.pos += 1;
                    break;
                }
                None => return Err(p.error("unterminated label set")),
                _ => {}
            }
            let label_name = if p.peek() == Some(b'"') {
                p.quoted()?
            } else {
                p.label_name()?.to_string()
            };
            p.skip_spaces();
            if p.peek() != Some(b'=') {
                // A lone quoted string is the metric name (Prometheus 3 UTF-8 names).
                if name.is_none() && matches!(p.peek(), Some(b',' | b'}')) {
                    name = Some(label_name);
                } else {
                    return Err(p.error("expected '=' after label name"));
                }
            } else {
                p.pos += 1;
                p.skip_spaces();
                if p.peek() != Some(b'"') {
                    return Err(p.error("expected '\"' to open a label value"));
                }
                let value = p.quoted()?;
                if label_name == METRIC_NAME {
                    name = Some(value);
                } else {
                    pairs.push(Label {
                        name: label_name,
                        value,
                    });
                }
            }
            p.skip_spaces();
            match p.peek() {
                Some(b',') => p.pos += 1,
                Some(b'}') => {}
                None => return Err(p.error("unterminated label set")),
                _ => return Err(p.error("expected ',' or '}' after a label")),
            }
        }
    }
    let name = name.ok_or_else(|| p.error("missing metric name"))?;
    if !p.skip_spaces() {
        return Err(p.error("expected a space before the value"));
    }
    let value_at = p.pos;
    let value = parse_value(p.token()).ok_or(LineError {
        column: value_at + 1,
        message: "invalid sample value",
    })?;
    p.skip_spaces();
    let t = if p.at_end() {
        default_t
    } else {
        let t_at = p.pos;
        let t = p.token().parse::<i64>().map_err(|_| LineError {
            column: t_at + 1,
            message: "invalid timestamp (want integer milliseconds)",
        })?;
        p.skip_spaces();
        if !p.at_end() {
            return Err(p.error("unexpected text after the timestamp"));
        }
        t
    };
    pairs.push(Label {
        name: METRIC_NAME.to_string(),
        value: name,
    });
    Ok(Some(TextSample {
        labels: Labels::from_pairs(pairs.into_iter().map(|l| (l.name, l.value))),
        sample: Sample { t, v: value },
    }))
}

/// Go's `strconv.ParseFloat` spellings as Prometheus accepts them: decimals, exponents,
/// `NaN`, `Inf`, `+Inf`, `-Inf` (case-insensitive).
pub(crate) fn parse_value(tok: &str) -> Option<f64> {
    match tok.to_ascii_lowercase().as_str() {
        "nan" => return Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if tok.is_empty()
        || !tok
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    tok.parse::<f64>().ok()
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn error(&self, message: &'static str) -> LineError {
        LineError {
            column: self.pos + 1,
            message,
        }
    }

    /// Skips spaces and tabs; says whether there were any.
    fn skip_spaces(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' {
                break;
            }
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn ident(&mut self, colon: bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == b'_'
                || (colon && c == b':')
                || (self.pos > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn metric_name(&mut self) -> Result<&'a str, LineError> {
        let n = self.ident(true);
        if n.is_empty() {
            Err(self.error("invalid metric name"))
        } else {
            Ok(n)
        }
    }

    fn label_name(&mut self) -> Result<&'a str, LineError> {
        let n = self.ident(false);
        if n.is_empty() {
            Err(self.error("invalid label name"))
        } else {
            Ok(n)
        }
    }

    /// A double-quoted string with `\\`, `\"` and `\n` escapes.
    fn quoted(&mut self) -> Result<String, LineError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out)
                        .map_err(|_| self.error("label value is not valid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'n') => out.push(b'\n'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'"') => out.push(b'"'),
                        _ => return Err(self.error("invalid escape in quoted string")),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(line: &str) -> TextSample {
        parse_line(line, 7).expect("parses").expect("a sample")
    }

    #[test]
    fn plain_and_labelled_lines() {
        let s = parse("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000");
        assert_eq!(
            s.labels.to_string(),
            "http_requests_total{code=\"200\", method=\"post\"}"
        );
        assert_eq!(
            s.sample,
            Sample {
                t: 1395066363000,
                v: 1027.0
            }
        );
        let s = parse("up 1");
        assert_eq!(s.sample, Sample { t: 7, v: 1.0 });
        let s = parse("x{a=\"q\\\"uo\\\\te\\n\",} -Inf -5");
        assert_eq!(s.labels.get("a"), Some("q\"uo\\te\n"));
        assert_eq!(s.sample.t, -5);
        assert!(s.sample.v.is_infinite());
        assert!(parse("y NaN").sample.v.is_nan());
        assert_eq!(parse("z 1.5e3").sample.v, 1500.0);
        assert_eq!(
            parse("{\"my.metric\", a=\"b\"} 2").labels.metric_name(),
            Some("my.metric")
        );
        assert_eq!(parse("{__name__=\"m\"} 3").labels.metric_name(), Some("m"));
        assert_eq!(parse_line("# HELP x y", 0), Ok(None));
        assert_eq!(parse_line("   ", 0), Ok(None));
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            parse_line("x{a=1} 2", 0).unwrap_err().message,
            "expected '\"' to open a label value"
        );
        assert_eq!(
            parse_line("x 1 2 3", 0).unwrap_err().message,
            "unexpected text after the timestamp"
        );
        assert_eq!(
            parse_line("x abc", 0).unwrap_err().message,
            "invalid sample value"
        );
        assert_eq!(
            parse_line("x{a=\"b\"", 0).unwrap_err().message,
            "unterminated label set"
        );
        assert_eq!(parse_line("x 1 1.5", 0).unwrap_err().column, 5);
        assert!(parse_line("9x 1", 0).is_err());
    }

    proptest! {
        #[test]
        fn any_input_is_an_answer_not_a_panic(line in ".{0,80}") {
            let _ = parse_line(&line, 0);
        }

        #[test]
        fn written_samples_parse_back(name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", value in "[ -~]{0,12}", v in -1e12f64..1e12, t in any::<i64>()) {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let line = format!("{name}{{lbl=\"{escaped}\"}} {v} {t}");
            let s = parse_line(&line, 0).unwrap().unwrap();
            prop_assert_eq!(s.labels.metric_name(), Some(name.as_str()));
            prop_assert_eq!(s.labels.get("lbl").unwrap_or(""), value.as_str());
            prop_assert_eq!(s.sample.v, v);
            prop_assert_eq!(s.sample.t, t);
        }
    }
}
