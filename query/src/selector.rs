//! PromQL series selectors to storage matchers.
//!
//! `match[]` parameters are parsed here; PromQL evaluation will turn the vector selectors of its
//! AST into storage matchers with [`to_matcher_sets`] too, so both agree on every matcher.

use promql_parser::label::{MatchOp as PromOp, Matcher as PromMatcher};
use promql_parser::parser::{self, Expr, VectorSelector};
use storage::{METRIC_NAME, MatchOp, Matcher};

/// What Prometheus answers when a selector would match every series.
pub(crate) const EMPTY_SELECTOR: &str = "match[] must contain at least one non-empty matcher";

/// promql-parser's wording for the same rule, raised while parsing `{}`-style selectors.
const PARSER_EMPTY_SELECTOR: &str = "vector selector must contain at least one non-empty matcher";

/// Parses one `match[]` value, a series selector such as `up`, `up{job="api"}` or
/// `{__name__=~"http_.*", code!="200"}`, into the matcher sets it stands for. There is one set
/// per selector, or one per alternative when the selector uses promql-parser's `or` extension
/// (`{a="1" or b="2"}`); the series selected are the union of the sets.
///
/// Errors are reasons, worded for a client, to be reported against the `match[]` parameter.
pub(crate) fn parse_match_param(input: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let expr = match parser::parse(input) {
        Ok(expr) => expr,
        Err(e) if e.contains(PARSER_EMPTY_SELECTOR) => return Err(EMPTY_SELECTOR.to_string()),
        Err(e) => return Err(format!("cannot parse {input:?}: {e}")),
    };
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "{input:?} is not a series selector such as up{{job=\"api\"}}"
        ));
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(format!(
            "{input:?}: offset and @ modifiers are not allowed in a series selector"
        ));
    }
    let sets = to_matcher_sets(&vs)?;
    if sets
        .iter()
        .any(|set| set.iter().all(Matcher::matches_empty))
    {
        return Err(EMPTY_SELECTOR.to_string());
    }
    Ok(sets)
}

/// The storage matcher sets of a vector selector: its metric name (if any) as a `__name__`
/// matcher, followed by its label matchers; one set per `or` alternative.
pub(crate) fn to_matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, String> {
    let mut common = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        common.push(Matcher::equal(METRIC_NAME, name.as_str()));
    }
    for m in &vs.matchers.matchers {
        common.push(to_storage_matcher(m)?);
    }
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![common]);
    }
    vs.matchers
        .or_matchers
        .iter()
        .map(|group| {
            let mut set = common.clone();
            for m in group {
                set.push(to_storage_matcher(m)?);
            }
            Ok(set)
        })
        .collect()
}

fn to_storage_matcher(m: &PromMatcher) -> Result<Matcher, String> {
    let (op, value) = match &m.op {
        PromOp::Equal => (MatchOp::Equal, m.value.as_str()),
        PromOp::NotEqual => (MatchOp::NotEqual, m.value.as_str()),
        PromOp::Re(re) => (MatchOp::RegexMatch, parsed_pattern(re.as_str(), &m.value)),
        PromOp::NotRe(re) => (MatchOp::RegexNoMatch, parsed_pattern(re.as_str(), &m.value)),
    };
    Matcher::new(m.name.as_str(), op, value).map_err(|e| format!("matcher {m}: {e}"))
}

/// The pattern promql-parser compiled, without the `^(?:…)$` anchoring it added. It differs
/// from what the user wrote when the parser escaped a Go-style literal brace (`a{b}` becomes
/// `a\{b}`), which Rust's regex engine would otherwise reject; storage adds its own anchors.
fn parsed_pattern<'a>(compiled: &'a str, written: &'a str) -> &'a str {
    compiled
        .strip_prefix("^(?:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<Vec<(String, MatchOp, String)>> {
        parse_match_param(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .into_iter()
            .map(|set| set.into_iter().map(|m| (m.name, m.op, m.value)).collect())
            .collect()
    }

    fn m(name: &str, op: MatchOp, value: &str) -> (String, MatchOp, String) {
        (name.to_string(), op, value.to_string())
    }

    #[test]
    fn bare_metric_name() {
        assert_eq!(parse("up"), vec![vec![m("__name__", MatchOp::Equal, "up")]]);
        assert_eq!(
            parse("  ns:rate5m  "),
            vec![vec![m("__name__", MatchOp::Equal, "ns:rate5m")]]
        );
    }

    #[test]
    fn name_and_matchers() {
        assert_eq!(
            parse(
                r#"http_requests_total{job="api", code!="200", path=~"/a.*", method!~"GET|HEAD"}"#
            ),
            vec![vec![
                m("__name__", MatchOp::Equal, "http_requests_total"),
                m("job", MatchOp::Equal, "api"),
                m("code", MatchOp::NotEqual, "200"),
                m("path", MatchOp::RegexMatch, "/a.*"),
                m("method", MatchOp::RegexNoMatch, "GET|HEAD"),
            ]]
        );
    }

    #[test]
    fn name_as_matcher() {
        assert_eq!(
            parse(r#"{__name__=~"http_.+"}"#),
            vec![vec![m("__name__", MatchOp::RegexMatch, "http_.+")]]
        );
        assert_eq!(
            parse(r#"{__name__="up", job="x"}"#),
            vec![vec![
                m("__name__", MatchOp::Equal, "up"),
                m("job", MatchOp::Equal, "x")
            ]]
        );
        // the quoted-name form of Prometheus 3
        assert_eq!(
            parse(r#"{"up", job="x"}"#),
            vec![vec![
                m("__name__", MatchOp::Equal, "up"),
                m("job", MatchOp::Equal, "x")
            ]]
        );
    }

    #[test]
    fn or_alternatives_become_sets() {
        assert_eq!(
            parse(r#"up{job="a" or job="b"}"#),
            vec![
                vec![
                    m("__name__", MatchOp::Equal, "up"),
                    m("job", MatchOp::Equal, "a")
                ],
                vec![
                    m("__name__", MatchOp::Equal, "up"),
                    m("job", MatchOp::Equal, "b")
                ],
            ]
        );
    }

    #[test]
    fn go_style_brace_in_regex_is_escaped() {
        let sets = parse_match_param(r#"up{path=~"/x{id}"}"#).unwrap_or_default();
        let matcher = &sets[0][1];
        assert!(matcher.matches("/x{id}"));
        assert!(!matcher.matches("/x"));
    }

    #[test]
    fn selectors_matching_everything_are_rejected() {
        for s in [
            r#"{}"#,
            r#"{job=""}"#,
            r#"{job=~".*"}"#,
            r#"{job!~".+"}"#,
            r#"{job!="a"}"#,
            r#"{__name__=~".*"}"#,
        ] {
            assert_eq!(parse_match_param(s), Err(EMPTY_SELECTOR.to_string()), "{s}");
        }
        // one alternative matching everything makes the union match everything
        assert_eq!(
            parse_match_param(r#"{job="a" or x=~".*"}"#),
            Err(EMPTY_SELECTOR.to_string())
        );
        // a non-empty matcher next to empty ones is enough
        assert!(parse_match_param(r#"{job=~".*", instance="a"}"#).is_ok());
        assert!(parse_match_param(r#"{__name__=~".+"}"#).is_ok());
    }

    #[test]
    fn syntax_errors_quote_the_selector() {
        let e = parse_match_param("up{").err().unwrap_or_default();
        assert!(e.starts_with(r#"cannot parse "up{": "#), "{e}");
        let e = parse_match_param(r#"up{job=x}"#).err().unwrap_or_default();
        assert!(e.contains("up{job=x}"), "{e}");
        let e = parse_match_param("").err().unwrap_or_default();
        assert!(e.starts_with(r#"cannot parse """#), "{e}");
        let e = parse_match_param(r#"up{__name__="x"}"#)
            .err()
            .unwrap_or_default();
        assert!(e.contains("metric name must not be set twice"), "{e}");
    }

    #[test]
    fn only_plain_selectors() {
        for s in [
            "rate(up[5m])",
            "up[5m]",
            "(up)",
            "sum(up)",
            "1",
            r#""s""#,
            "up + up",
        ] {
            let e = parse_match_param(s).err().unwrap_or_default();
            assert!(e.contains("is not a series selector"), "{s}: {e}");
        }
        for s in ["up offset 5m", "up @ 100"] {
            let e = parse_match_param(s).err().unwrap_or_default();
            assert!(e.contains("offset and @ modifiers"), "{s}: {e}");
        }
    }
}
