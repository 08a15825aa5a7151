//! Label matchers as Alertmanager writes them (`severity="page"`, `service=~"check.*"`,
//! `team!=ops`): parsing, matching a label set (a missing label matches as the empty string),
//! and printing them back the way Alertmanager does in group keys.

use std::fmt;

use regex::Regex;

use crate::alert::LabelSet;
use crate::error::AlertingError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    pub(crate) fn from_flags(is_regex: bool, is_equal: bool) -> Self {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }

    fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }
}

/// One compiled matcher. Regexes are anchored at both ends, as in Alertmanager.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) name: String,
    pub(crate) op: MatchOp,
    pub(crate) value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    pub(crate) fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, AlertingError> {
        let text = || format!("{name}{}{value:?}", op.as_str());
        if name.is_empty() {
            return Err(AlertingError::InvalidMatcher {
                matcher: text(),
                reason: "empty label name".to_owned(),
            });
        }
        let regex = if op.is_regex() {
            Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                AlertingError::InvalidMatcher {
                    matcher: text(),
                    reason: format!("bad regular expression: {e}"),
                }
            })?)
        } else {
            None
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Parses `name op value`, the value in double quotes (Go escapes) or bare.
    pub(crate) fn parse(text: &str) -> Result<Self, AlertingError> {
        let invalid = |reason: &str| AlertingError::InvalidMatcher {
            matcher: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let op_at = trimmed
            .find(['=', '!'])
            .ok_or_else(|| invalid("expected one of =, !=, =~, !~"))?;
        let name = trimmed[..op_at].trim();
        let rest = &trimmed[op_at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(invalid("expected one of =, !=, =~, !~"));
        };
        if !storage::is_valid_label_name(name) {
            return Err(invalid(
                "label name must match [a-zA-Z_][a-zA-Z0-9_]* before the operator",
            ));
        }
        let value = value.trim();
        let value = if value.starts_with('"') {
            unquote(value).ok_or_else(|| invalid("unterminated or badly escaped quoted value"))?
        } else {
            if value.contains(['"', '\'', ',', '{', '}']) {
                return Err(invalid(
                    "a value with quotes, commas or braces must be quoted",
                ));
            }
            value.to_owned()
        };
        Matcher::new(name, op, &value)
    }

    pub(crate) fn matches_value(&self, value: &str) -> bool {
        match (&self.regex, self.op) {
            (_, MatchOp::Equal) => value == self.value,
            (_, MatchOp::NotEqual) => value != self.value,
            (Some(re), MatchOp::Regex) => re.is_match(value),
            (Some(re), MatchOp::NotRegex) => !re.is_match(value),
            (None, _) => false,
        }
    }

    pub(crate) fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }
}

/// All matchers match (an empty list matches everything).
pub(crate) fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            go_quote(&self.value)
        )
    }
}

/// `{a="1",b=~"x"}`: Alertmanager's `labels.Matchers.String()`, part of a group key.
pub(crate) fn matchers_string(matchers: &[Matcher]) -> String {
    let inner: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

/// A string in double quotes with Go's `strconv.Quote` escapes for the characters label
/// values hold in practice.
pub(crate) fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unquote(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(match chars.next()? {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                other @ ('"' | '\\' | '\'') => other,
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    char::from(u8::from_str_radix(&hex, 16).ok().filter(u8::is_ascii)?)
                }
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                _ => return None,
            }),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::test_runner::TestCaseError;

    use super::*;

    use crate::testing::TestResult;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator_quoted_and_bare() -> TestResult {
        let cases = [
            ("severity=\"page\"", MatchOp::Equal, "page"),
            ("severity = page", MatchOp::Equal, "page"),
            ("team!=\"ops\"", MatchOp::NotEqual, "ops"),
            ("service=~\"check.*\"", MatchOp::Regex, "check.*"),
            ("service!~db", MatchOp::NotRegex, "db"),
            ("msg=\"say \\\"hi\\\"\"", MatchOp::Equal, "say \"hi\""),
            ("empty=\"\"", MatchOp::Equal, ""),
        ];
        for (text, op, value) in cases {
            let m = Matcher::parse(text)?;
            assert_eq!((m.op, m.value.as_str()), (op, value), "{text}");
        }
        Ok(())
    }

    #[test]
    fn refuses_malformed_matchers() {
        for text in [
            "severity",
            "=page",
            "1abc=\"x\"",
            "a=\"unterminated",
            "a=~\"(\"",
            "a=b,c",
        ] {
            assert!(Matcher::parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_are_empty() -> TestResult {
        let m = Matcher::parse("service=~\"check\"")?;
        assert!(m.matches(&labels(&[("service", "check")])));
        assert!(!m.matches(&labels(&[("service", "checkout")])));
        let absent = Matcher::parse("team!=\"ops\"")?;
        assert!(absent.matches(&labels(&[])));
        let empty = Matcher::parse("team=\"\"")?;
        assert!(empty.matches(&labels(&[])));
        assert!(!empty.matches(&labels(&[("team", "a")])));
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_printing_round_trips(text in "\\PC{0,40}") {
            if let Ok(m) = Matcher::parse(&text) {
                let again = Matcher::parse(&m.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert_eq!(again, m);
            }
        }

        #[test]
        fn any_value_round_trips(name in "[a-z_][a-z0-9_]{0,8}", value in "\\PC{0,20}|[\\x00-\\x1f\\x7f-\\u{9f}\"\\\\]{0,5}") {
            let m = Matcher::new(&name, MatchOp::NotEqual, &value)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = Matcher::parse(&m.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(again, m);
        }
    }

    #[test]
    fn prints_like_alertmanager() -> TestResult {
        let ms = vec![
            Matcher::parse("severity=page")?,
            Matcher::parse("service=~\"a\\\\.b\"")?,
        ];
        assert_eq!(
            matchers_string(&ms),
            "{severity=\"page\",service=~\"a\\\\.b\"}"
        );
        Ok(())
    }
}
