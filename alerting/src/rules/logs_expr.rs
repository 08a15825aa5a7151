//! The log-rule expression: `logs_count("<Lucene query>", <window>) [by (field, …)] [<op>
//! <number>]`, counting log lines that match a query over a window ending at the evaluation
//! time. Owns the syntax and its errors; evaluation lives in `eval`. The syntax is written
//! down in `alerting/docs/logs-rules.md`.

use std::time::Duration;

use super::duration::parse_duration;

/// The fields a count may be grouped by: the log store's facet fields.
pub(crate) const GROUP_FIELDS: [&str; 3] = ["level", "service", "host"];

const FUNCTION: &str = "logs_count";

/// A parsed `logs_count(…)` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogsExpr {
    /// Lucene syntax, as the log search API takes it; empty counts every line.
    pub(crate) query: String,
    pub(crate) window: Duration,
    /// A subset of [`GROUP_FIELDS`], in the order written.
    pub(crate) by: Vec<String>,
    pub(crate) filter: Option<(Comparison, f64)>,
}

/// The comparison a count is filtered with, as PromQL's filtering comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    pub(crate) fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Comparison::Greater => left > right,
            Comparison::GreaterOrEqual => left >= right,
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
            Comparison::Equal => left == right,
            Comparison::NotEqual => left != right,
        }
    }
}

/// Whether `expr` is meant as a log expression (it starts with the function's name and a
/// parenthesis), so that its errors are this parser's rather than PromQL's.
pub(crate) fn is_logs_expr(expr: &str) -> bool {
    expr.trim_start()
        .strip_prefix(FUNCTION)
        .is_some_and(|rest| rest.trim_start().starts_with('('))
}

/// Parses a log expression. The error reads like PromQL's: `1:<column>: <what is wrong>`,
/// the column counted in characters from 1.
pub(crate) fn parse_logs_expr(expr: &str) -> Result<LogsExpr, String> {
    let mut cursor = Cursor { text: expr, pos: 0 };
    cursor
        .parse()
        .map_err(|(pos, message)| format!("1:{}: {message}", column(expr, pos)))
}

fn column(text: &str, byte_pos: usize) -> usize {
    text.get(..byte_pos).map_or(0, |head| head.chars().count()) + 1
}

type Failure = (usize, String);

struct Cursor<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
}

impl Cursor<'_> {
    fn parse(&mut self) -> Result<LogsExpr, Failure> {
        self.skip_space();
        self.keyword(FUNCTION)?;
        self.punct('(')?;
        let query = self.string()?;
        self.punct(',')?;
        let window = self.window()?;
        self.punct(')')?;
        self.skip_space();
        let by = if self.rest().starts_with("by") {
            self.keyword("by")?;
            self.group_fields()?
        } else {
            Vec::new()
        };
        self.skip_space();
        let filter = if self.rest().is_empty() {
            None
        } else {
            let op = self.comparison()?;
            self.skip_space();
            if self.rest().starts_with("bool") {
                return Err((
                    self.pos,
                    "'bool' is not supported: a log expression filters by its comparison".into(),
                ));
            }
            Some((op, self.number()?))
        };
        self.skip_space();
        if !self.rest().is_empty() {
            return Err((
                self.pos,
                format!(
                    "unexpected {:?} after the expression: a log expression is \
                     logs_count(\"<query>\", <window>) [by (<fields>)] [<op> <number>]",
                    self.next_token()
                ),
            ));
        }
        Ok(LogsExpr {
            query,
            window,
            by,
            filter,
        })
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The word or character at the cursor, for messages.
    fn next_token(&self) -> String {
        let rest = self.rest();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        if word.is_empty() {
            rest.chars().next().map(String::from).unwrap_or_default()
        } else {
            word
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), Failure> {
        self.skip_space();
        let rest = self.rest();
        let boundary = rest
            .get(word.len()..)
            .and_then(|after| after.chars().next())
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if rest.starts_with(word) && boundary {
            self.pos += word.len();
            Ok(())
        } else {
            Err((self.pos, format!("expected '{word}'")))
        }
    }

    fn punct(&mut self, c: char) -> Result<(), Failure> {
        self.skip_space();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else if self.rest().is_empty() {
            Err((
                self.pos,
                format!("unexpected end of expression, expected '{c}'"),
            ))
        } else {
            Err((
                self.pos,
                format!("unexpected {:?}, expected '{c}'", self.next_token()),
            ))
        }
    }

    /// A double- or single-quoted string with PromQL's backslash escapes for the quote,
    /// the backslash, `n`, `t` and `r`; any other escaped character stands for itself with
    /// its backslash, so Lucene escapes (`\:`) pass through.
    fn string(&mut self) -> Result<String, Failure> {
        self.skip_space();
        let start = self.pos;
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                return Err((
                    start,
                    "expected the log query as a quoted string, e.g. \"level:ERROR\"".into(),
                ));
            }
        };
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos = start + i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, e)) if e == quote || e == '\\' => out.push(e),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, e)) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err((start, "unterminated string".into()))
    }

    fn window(&mut self) -> Result<Duration, Failure> {
        self.skip_space();
        let start = self.pos;
        let text: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if text.is_empty() {
            return Err((start, "expected the window as a duration, e.g. 5m".into()));
        }
        let window = parse_duration(&text).map_err(|message| (start, message))?;
        if window.is_zero() {
            return Err((start, "the window must be longer than 0s".into()));
        }
        self.pos += text.len();
        Ok(window)
    }

    fn group_fields(&mut self) -> Result<Vec<String>, Failure> {
        self.punct('(')?;
        let mut fields: Vec<String> = Vec::new();
        loop {
            self.skip_space();
            if fields.is_empty() && self.rest().starts_with(')') {
                self.pos += 1;
                return Ok(fields);
            }
            let start = self.pos;
            let name = self.next_token();
            if !GROUP_FIELDS.contains(&name.as_str()) {
                return Err((
                    start,
                    format!(
                        "cannot group log lines by {name:?}: 'by' takes {}",
                        GROUP_FIELDS.join(", ")
                    ),
                ));
            }
            if fields.contains(&name) {
                return Err((start, format!("{name:?} is repeated in 'by'")));
            }
            self.pos += name.len();
            fields.push(name);
            self.skip_space();
            match self.rest().chars().next() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(fields);
                }
                _ => return self.punct(')').map(|()| fields),
            }
        }
    }

    fn comparison(&mut self) -> Result<Comparison, Failure> {
        const OPERATORS: [(&str, Comparison); 6] = [
            (">=", Comparison::GreaterOrEqual),
            ("<=", Comparison::LessOrEqual),
            ("==", Comparison::Equal),
            ("!=", Comparison::NotEqual),
            (">", Comparison::Greater),
            ("<", Comparison::Less),
        ];
        for (text, op) in OPERATORS {
            if self.rest().starts_with(text) {
                self.pos += text.len();
                return Ok(op);
            }
        }
        Err((
            self.pos,
            format!(
                "unexpected {:?} after logs_count(…): expected 'by (…)' or a comparison \
                 (>, >=, <, <=, ==, !=) with a number",
                self.next_token()
            ),
        ))
    }

    fn number(&mut self) -> Result<f64, Failure> {
        let start = self.pos;
        let text: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
            .collect();
        let value = text
            .parse::<f64>()
            .ok()
            .filter(|v| !v.is_nan())
            .ok_or_else(|| (start, format!("expected a number, found {text:?}")))?;
        self.pos += text.len();
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{TestResult, error_of};

    #[test]
    fn parses_the_documented_forms() -> TestResult {
        let parsed = parse_logs_expr(r#"logs_count("level:ERROR AND service:market", 5m) > 10"#)?;
        assert_eq!(
            parsed,
            LogsExpr {
                query: "level:ERROR AND service:market".into(),
                window: Duration::from_secs(300),
                by: vec![],
                filter: Some((Comparison::Greater, 10.0)),
            }
        );
        let parsed = parse_logs_expr(
            r#" logs_count ( 'msg:"a \'b\'" AND x\:y' , 1h30m ) by (service, level) "#,
        )?;
        assert_eq!(parsed.query, r#"msg:"a 'b'" AND x\:y"#);
        assert_eq!(parsed.window, Duration::from_secs(5400));
        assert_eq!(parsed.by, ["service", "level"]);
        assert_eq!(parsed.filter, None);
        let parsed = parse_logs_expr(r#"logs_count("", 1m) by (host) <= 2.5"#)?;
        assert_eq!(parsed.filter, Some((Comparison::LessOrEqual, 2.5)));
        Ok(())
    }

    #[test]
    fn errors_name_the_column() -> TestResult {
        let cases = [
            (
                r#"logs_count(level:ERROR, 5m)"#,
                "1:12: expected the log query",
            ),
            (r#"logs_count("x", 5)"#, "1:17: not a valid duration"),
            (r#"logs_count("x", 0s)"#, "1:17: the window must be longer"),
            (
                r#"logs_count("x", 5m"#,
                "1:19: unexpected end of expression, expected ')'",
            ),
            (r#"logs_count("x, 5m)"#, "1:12: unterminated string"),
            (
                r#"logs_count("x", 5m) by (pod)"#,
                "1:25: cannot group log lines by \"pod\"",
            ),
            (
                r#"logs_count("x", 5m) by (host, host)"#,
                "1:31: \"host\" is repeated",
            ),
            (r#"logs_count("x", 5m) > ten"#, "1:23: expected a number"),
            (
                r#"logs_count("x", 5m) > bool 1"#,
                "1:23: 'bool' is not supported",
            ),
            (
                r#"logs_count("x", 5m) + 1"#,
                "1:21: unexpected \"+\" after logs_count",
            ),
            (
                r#"logs_count("x", 5m) > 1 and up"#,
                "1:25: unexpected \"and\"",
            ),
            (r#"logs_count("é", 5m) by (x)"#, "1:25: cannot group"),
        ];
        for (expr, expected) in cases {
            let err = error_of(parse_logs_expr(expr))?;
            assert!(err.starts_with(expected), "{expr}: {err}");
        }
        Ok(())
    }

    #[test]
    fn the_loader_reports_log_expression_errors_at_their_position() -> TestResult {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: logs_count(\"x\", 5m) by (pod)\n";
        let errors = error_of(super::super::parse_rule_file(
            std::path::Path::new("r.yml"),
            text,
        ))?;
        assert_eq!(
            errors[0].to_string(),
            "r.yml:5:15: could not parse expression: 1:25: cannot group log lines by \"pod\": \
             'by' takes level, service, host"
        );
        let fine = "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: logs_count(\"x\", 5m)\n";
        assert!(super::super::parse_rule_file(std::path::Path::new("r.yml"), fine).is_ok());
        Ok(())
    }

    #[test]
    fn recognises_log_expressions() {
        assert!(is_logs_expr("logs_count(\"x\", 5m)"));
        assert!(is_logs_expr("  logs_count (x"));
        assert!(!is_logs_expr("logs_count_total > 1"));
        assert!(!is_logs_expr("sum(logs_count(\"x\", 5m))"));
    }
}
