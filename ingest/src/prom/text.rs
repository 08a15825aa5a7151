//! The Prometheus text exposition format: sample lines, `name{label="value",...} value
//! [timestamp_ms]` ([`parse_line`]), and the metadata comments `# HELP name text`,
//! `# TYPE name type` and OpenMetrics' `# UNIT name unit` ([`parse_metadata_line`]); other
//! comments and blank lines are skipped. The name may also be quoted inside the braces
//! (`{"name.with.dots", a="b"}`) or after `# HELP` / `# TYPE` (Prometheus 3).

use storage::{Label, Labels, METRIC_NAME, MetricType, Sample};

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

/// A metadata comment line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMetadata {
    /// `# HELP name text`: `\\` and `\n` in the text are unescaped, as Prometheus does.
    Help { metric: String, help: String },
    /// `# TYPE name type`: Prometheus' and OpenMetrics' types; `untyped` is `unknown`.
    Type { metric: String, kind: MetricType },
    /// `# UNIT name unit` (OpenMetrics).
    Unit { metric: String, unit: String },
}

/// Parses a `# HELP`, `# TYPE` or `# UNIT` line; `Ok(None)` for any other line (samples,
/// other comments, blank lines). As in Prometheus' parser, one space or tab separates the
/// name from the help text and the rest of the line is the text.
pub fn parse_metadata_line(line: &str) -> Result<Option<TextMetadata>, LineError> {
    let mut p = Cursor {
        s: line.as_bytes(),
        pos: 0,
    };
    p.skip_spaces();
    if p.peek() != Some(b'#') {
        return Ok(None);
    }
    p.pos += 1;
    if !p.skip_spaces() {
        return Ok(None);
    }
    let keyword = p.token();
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") || !p.skip_spaces() {
        return Ok(None);
    }
    let metric = if p.peek() == Some(b'"') {
        p.quoted()?
    } else {
        p.metric_name()?.to_string()
    };
    let text = match p.peek() {
        None => "",
        Some(b' ' | b'\t') => line.get(p.pos + 1..).unwrap_or(""),
        Some(_) => return Err(p.error("expected a space after the metric name")),
    };
    Ok(Some(match keyword {
        "HELP" => TextMetadata::Help {
            metric,
            help: unescape_help(text),
        },
        "TYPE" => {
            let kind = match text.trim_matches([' ', '\t']) {
                "untyped" => MetricType::Unknown,
                t => MetricType::parse(t).ok_or(LineError {
                    column: p.pos + 2,
                    message: "invalid metric type (want counter, gauge, histogram, \
                              gaugehistogram, summary, info, stateset, unknown or untyped)",
                })?,
            };
            TextMetadata::Type { metric, kind }
        }
        _ => TextMetadata::Unit {
            metric,
            unit: text.trim_matches([' ', '\t']).to_string(),
        },
    }))
}

/// Prometheus' help unescaping: `\\` is a backslash, `\n` a newline, any other backslash
/// stays as it is.
fn unescape_help(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    out
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

    fn meta(line: &str) -> TextMetadata {
        parse_metadata_line(line)
            .expect("parses")
            .expect("a metadata line")
    }

    #[test]
    fn help_type_and_unit_lines() {
        assert_eq!(
            meta("# HELP http_requests_total The total number of HTTP requests."),
            TextMetadata::Help {
                metric: "http_requests_total".into(),
                help: "The total number of HTTP requests.".into()
            }
        );
        assert_eq!(
            meta("# TYPE http_requests_total counter"),
            TextMetadata::Type {
                metric: "http_requests_total".into(),
                kind: MetricType::Counter
            }
        );
        assert_eq!(
            meta("#\tTYPE  x:y\tuntyped "),
            TextMetadata::Type {
                metric: "x:y".into(),
                kind: MetricType::Unknown
            }
        );
        for t in MetricType::ALL {
            assert_eq!(
                meta(&format!("# TYPE m {t}")),
                TextMetadata::Type {
                    metric: "m".into(),
                    kind: t
                }
            );
        }
        assert_eq!(
            meta("# UNIT request_seconds seconds"),
            TextMetadata::Unit {
                metric: "request_seconds".into(),
                unit: "seconds".into()
            }
        );
        // escapes: \\ and \n only; one separator, the rest is the text
        assert_eq!(
            meta(r#"# HELP m  two\nlines, a \\ backslash, \"kept\" and \t kept"#),
            TextMetadata::Help {
                metric: "m".into(),
                help: " two\nlines, a \\ backslash, \\\"kept\\\" and \\t kept".into()
            }
        );
        assert_eq!(
            meta("# HELP m"),
            TextMetadata::Help {
                metric: "m".into(),
                help: String::new()
            }
        );
        assert_eq!(
            meta(r#"# HELP "my.metric" dotted"#),
            TextMetadata::Help {
                metric: "my.metric".into(),
                help: "dotted".into()
            }
        );
        for other in [
            "up 1",
            "",
            "# plain comment",
            "#HELP x y",
            "# HELPER x y",
            "# EOF",
        ] {
            assert_eq!(parse_metadata_line(other), Ok(None), "{other}");
        }
    }

    #[test]
    fn bad_metadata_lines_say_where() {
        assert_eq!(
            parse_metadata_line("# TYPE m countr").unwrap_err().column,
            10
        );
        assert_eq!(
            parse_metadata_line("# TYPE m")
                .map_err(|e| e.message.starts_with("invalid metric type")),
            Err(true)
        );
        assert_eq!(
            parse_metadata_line("# HELP 9m x").unwrap_err().message,
            "invalid metric name"
        );
        assert_eq!(
            parse_metadata_line("# HELP m{a=\"b\"} x")
                .unwrap_err()
                .message,
            "expected a space after the metric name"
        );
    }

    proptest! {
        #[test]
        fn any_input_is_an_answer_not_a_panic(line in ".{0,80}") {
            let _ = parse_line(&line, 0);
            let _ = parse_metadata_line(&line);
        }

        #[test]
        fn escaped_help_parses_back(help in "[ -~\n\\\\]{0,40}") {
            let escaped = help.replace('\\', "\\\\").replace('\n', "\\n");
            let line = format!("# HELP m {escaped}");
            prop_assert_eq!(
                parse_metadata_line(&line),
                Ok(Some(TextMetadata::Help { metric: "m".into(), help }))
            );
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
