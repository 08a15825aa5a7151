//! The reference runner's step-invariance check (`atModifierTestCases`): an instant query is
//! re-run with `@ <eval time>` on every selector and subquery that lacks a timestamp, at other
//! evaluation times, and must give the same result.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use promql_parser::label::Matchers;
use promql_parser::parser::{AtModifier, Expr, LabelModifier, VectorMatchCardinality};
use regex::Regex;

/// Functions whose result can change with the evaluation time even when their arguments are
/// step invariant (Prometheus' `promql.AtModifierUnsafeFunctions`), plus the experimental
/// `start()` and `end()`: an instant query's `start()` is its evaluation time, so re-running
/// `start()` at other times cannot give the same value, yet the files expect
/// `eval instant at 100s start()` to be 100. The reference at the files' commit must leave
/// these out of the `@` re-runs; the `test.go` version we could read predates them.
const AT_MODIFIER_UNSAFE_FUNCTIONS: [&str; 13] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    "start",
    "end",
];

/// `start()`, `end()`, `range()` and `step()` depend on the query's range, so the instant
/// query is not re-run as a range query when its text contains one (`reQueryContextFuncs`).
static QUERY_CONTEXT_FUNCS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(start|end|range|step)\(\)").unwrap());

pub(crate) fn uses_query_context_funcs(expr: &str) -> bool {
    QUERY_CONTEXT_FUNCS.is_match(expr)
}

/// The rewritten query and the evaluation times to run it at, or `None` when the query has an
/// `@`-unsafe function or does not parse (then the original query's own run reports it).
/// `Err` when promql-parser's rendering of the rewritten query does not parse back to it.
pub(crate) fn at_modifier_cases(expr: &str, ts: i64) -> Result<Option<(String, Vec<i64>)>, String> {
    let Ok(mut parsed) = promql_parser::parser::parse(expr) else {
        return Ok(None);
    };
    let Some(at) = at_modifier(ts) else {
        return Ok(None);
    };
    let mut unsafe_found = false;
    set_at(&mut parsed, &at, &mut unsafe_found);
    if unsafe_found {
        return Ok(None);
    }
    let rendered = parsed.to_string();
    if !renders_faithfully(&parsed, &rendered) {
        return Err(format!(
            "runner: promql-parser renders the @-rewritten query unfaithfully as {rendered}"
        ));
    }
    let times = if ts == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * ts, 0, ts / 5, ts, 10 * ts]
    };
    Ok(Some((rendered, times)))
}

/// Whether `rendered` parses back to `ast`, up to differences that do not change the meaning
/// (see [`canonical`]).
pub(crate) fn renders_faithfully(ast: &Expr, rendered: &str) -> bool {
    promql_parser::parser::parse(rendered)
        .is_ok_and(|back| canonical(back) == canonical(ast.clone()))
}

/// `ast` with the differences promql-parser's `Display` introduces but that do not change the
/// meaning removed: label matchers sorted, `by ()` dropped (aggregating everything either
/// way), `ignoring ()` dropped (matching on all labels either way).
pub(crate) fn canonical(mut e: Expr) -> Expr {
    canonicalize(&mut e);
    e
}

fn sort_matchers(m: &mut Matchers) {
    let key =
        |m: &promql_parser::label::Matcher| (m.name.clone(), m.op.to_string(), m.value.clone());
    m.matchers.sort_by_key(key);
    for group in &mut m.or_matchers {
        group.sort_by_key(key);
    }
}

fn canonicalize(e: &mut Expr) {
    match e {
        Expr::VectorSelector(vs) => sort_matchers(&mut vs.matchers),
        Expr::MatrixSelector(ms) => sort_matchers(&mut ms.vs.matchers),
        Expr::Subquery(sq) => canonicalize(&mut sq.expr),
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| canonicalize(a)),
        Expr::Aggregate(a) => {
            if matches!(&a.modifier, Some(LabelModifier::Include(l)) if l.is_empty()) {
                a.modifier = None;
            }
            if let Some(p) = &mut a.param {
                canonicalize(p);
            }
            canonicalize(&mut a.expr);
        }
        Expr::Binary(b) => {
            if let Some(m) = &mut b.modifier {
                if matches!(&m.matching, Some(LabelModifier::Exclude(l)) if l.is_empty()) {
                    m.matching = None;
                }
                if m.matching.is_none()
                    && !m.return_bool
                    && m.fill_values.lhs.is_none()
                    && m.fill_values.rhs.is_none()
                    && matches!(
                        m.card,
                        VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany
                    )
                {
                    b.modifier = None;
                }
            }
            canonicalize(&mut b.lhs);
            canonicalize(&mut b.rhs);
        }
        Expr::Unary(u) => canonicalize(&mut u.expr),
        Expr::Paren(p) => canonicalize(&mut p.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn at_modifier(ts: i64) -> Option<AtModifier> {
    let d = Duration::from_millis(ts.unsigned_abs());
    let t = if ts >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(d)?
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(d)?
    };
    Some(AtModifier::At(t))
}

/// The reference checks `Timestamp == nil`, and `@ start()` / `@ end()` leave the timestamp
/// unset at parse time, so those are replaced too.
fn has_timestamp(at: &Option<AtModifier>) -> bool {
    matches!(at, Some(AtModifier::At(_)))
}

/// Sets `@` on every selector and subquery without a timestamp. Nothing inside a subquery
/// that has (or has just been given) a timestamp is touched or inspected, as in the
/// reference's `parser.Inspect` walk.
fn set_at(e: &mut Expr, at: &AtModifier, unsafe_found: &mut bool) {
    match e {
        Expr::VectorSelector(vs) => {
            if !has_timestamp(&vs.at) {
                vs.at = Some(at.clone());
            }
        }
        Expr::MatrixSelector(ms) => {
            if !has_timestamp(&ms.vs.at) {
                ms.vs.at = Some(at.clone());
            }
        }
        Expr::Subquery(sq) => {
            if !has_timestamp(&sq.at) {
                sq.at = Some(at.clone());
            }
        }
        Expr::Call(c) => {
            if AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name) {
                *unsafe_found = true;
            }
            for a in &mut c.args.args {
                set_at(a, at, unsafe_found);
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                set_at(p, at, unsafe_found);
            }
            set_at(&mut a.expr, at, unsafe_found);
        }
        Expr::Binary(b) => {
            set_at(&mut b.lhs, at, unsafe_found);
            set_at(&mut b.rhs, at, unsafe_found);
        }
        Expr::Unary(u) => set_at(&mut u.expr, at, unsafe_found),
        Expr::Paren(p) => set_at(&mut p.expr, at, unsafe_found),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
