//! Static skip decisions, made from the test text alone: native histograms, and syntax that
//! Prometheus keeps behind parser feature flags this engine does not implement.

use promql_parser::label::Matchers;
use promql_parser::parser::{Expr, VectorSelector};
use storage::{Labels, METRIC_NAME};

pub(crate) const NHCB: &str = "native histograms: after load_with_nhcb";
pub(crate) const HISTOGRAM_EXPECTED: &str = "native histograms: expected {{…}} value";
pub(crate) const HISTOGRAM_SELECTED: &str = "native histograms: selects a histogram series";
pub(crate) const EXTENDED_RANGE: &str =
    "feature flag: extended range selectors (anchored/smoothed)";
pub(crate) const FILL_MODIFIERS: &str = "feature flag: binop fill modifiers";
pub(crate) const DURATION_EXPR: &str = "feature flag: duration expressions";
pub(crate) const INFO_FUNCTION: &str = "feature flag: info() function";

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A number or duration literal (`5m`, `1h30m`, `1.5`, `1e3`, `0x1f`).
    Num,
    Str,
    Punct(char),
}

/// Operator keywords: an identifier after one of them starts an operand.
const KEYWORDS: [&str; 12] = [
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
];

fn tokenize(q: &str) -> Vec<Tok> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if matches!(c, '"' | '\'' | '`') {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str);
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

fn is_ident(t: Option<&Tok>, names: &[&str]) -> bool {
    matches!(t, Some(Tok::Ident(n)) if names.contains(&n.as_str()))
}

/// The feature flag a query needs that this engine does not support, if any. Prometheus'
/// test engine enables all of them (`promqltest.TestParserOpts`).
pub(crate) fn unsupported_feature(query: &str) -> Option<&'static str> {
    let toks = tokenize(query);
    let mut bracket_start: Option<usize> = None;
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| toks.get(p));
        let next = toks.get(i + 1);
        match t {
            // `foo[5m] anchored`, `foo smoothed`: EnableExtendedRangeSelectors.
            Tok::Ident(n) if n == "anchored" || n == "smoothed" => {
                let after_selector = match prev {
                    Some(Tok::Punct(']' | '}')) | Some(Tok::Num) => true,
                    Some(Tok::Ident(p)) => !KEYWORDS.contains(&p.as_str()),
                    _ => false,
                };
                if after_selector {
                    return Some(EXTENDED_RANGE);
                }
            }
            // `a + on(x) fill(0) b`: EnableBinopFillModifiers.
            Tok::Ident(n)
                if matches!(n.as_str(), "fill" | "fill_left" | "fill_right")
                    && next == Some(&Tok::Punct('(')) =>
            {
                return Some(FILL_MODIFIERS);
            }
            Tok::Ident(n) if n == "info" && next == Some(&Tok::Punct('(')) => {
                return Some(INFO_FUNCTION);
            }
            // `offset (1m + 1m)`, `offset -(1m)`, `offset step()`: ExperimentalDurationExpr.
            Tok::Ident(n) if n == "offset" => {
                let after = match next {
                    Some(Tok::Punct('-' | '+')) => toks.get(i + 2),
                    other => other,
                };
                if !matches!(after, Some(Tok::Num)) {
                    return Some(DURATION_EXPR);
                }
                let following = toks.get(if after == next { i + 2 } else { i + 3 });
                if is_ident(following, &["step", "range", "min_of", "max_of"]) {
                    return Some(DURATION_EXPR);
                }
            }
            // `@ (start() + 1m)`: only a number, `start()` or `end()` is stable syntax.
            Tok::Punct('@') => {
                let ok = match next {
                    Some(Tok::Num) => true,
                    Some(Tok::Punct('-' | '+')) => matches!(toks.get(i + 2), Some(Tok::Num)),
                    Some(Tok::Ident(n)) => n == "start" || n == "end",
                    _ => false,
                };
                if !ok {
                    return Some(DURATION_EXPR);
                }
            }
            Tok::Punct('[') => bracket_start = Some(i + 1),
            // `[5m]`, `[5m:]`, `[5m:1m]` are stable; anything else in a range is an expression.
            Tok::Punct(']') => {
                if let Some(s) = bracket_start.take()
                    && !is_plain_range(&toks[s..i])
                {
                    return Some(DURATION_EXPR);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_plain_range(toks: &[Tok]) -> bool {
    matches!(
        toks,
        [Tok::Num] | [Tok::Num, Tok::Punct(':')] | [Tok::Num, Tok::Punct(':'), Tok::Num]
    )
}

/// Whether any selector of `query` could select one of `histograms` (label sets of series
/// loaded with native-histogram points): all its matchers match the label set.
pub(crate) fn selects_histogram(query: &str, histograms: &[Labels]) -> bool {
    if histograms.is_empty() {
        return false;
    }
    let Ok(expr) = promql_parser::parser::parse(query) else {
        return false;
    };
    let mut selectors = Vec::new();
    collect_selectors(&expr, &mut selectors);
    selectors
        .iter()
        .any(|vs| histograms.iter().any(|l| selector_matches(vs, l)))
}

fn collect_selectors<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Subquery(sq) => collect_selectors(&sq.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
            collect_selectors(&a.expr, out);
        }
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_matches(vs: &VectorSelector, labels: &Labels) -> bool {
    if let Some(name) = &vs.name
        && labels.get(METRIC_NAME) != Some(name.as_str())
    {
        return false;
    }
    matchers_match(&vs.matchers, labels)
}

fn matchers_match(m: &Matchers, labels: &Labels) -> bool {
    let all = |ms: &[promql_parser::label::Matcher]| {
        ms.iter()
            .all(|m| m.is_match(labels.get(&m.name).unwrap_or("")))
    };
    if m.or_matchers.is_empty() {
        all(&m.matchers)
    } else {
        m.or_matchers.iter().any(|group| all(group))
    }
}
