//! Result comparison with the reference runner's rules (`compareResult`, `checkAnnotations`,
//! `checkExpectedFailure` and `util/almost.Equal` in Prometheus).

use std::fmt::Write as _;

use query::promql::{InstantSample, QueryOutput, RangeSeries, Value};

use crate::script::{Eval, ExpectKind, ExpectMatch, SeqValue};

/// Relative error allowed for sample values (the reference's `defaultEpsilon`).
pub(crate) const DEFAULT_EPSILON: f64 = 0.000001;

/// The smallest positive normal f64.
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;

/// Prometheus' `almost.Equal`: true if both are NaN (any NaN, stale markers included), if they
/// are exactly equal (so equal infinities), or if they differ by less than `epsilon` relative
/// to the sum of their magnitudes. Near zero (either is 0, or the sum is subnormal) the
/// difference must be below `epsilon` times the smallest normal number.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Matches an error against `expect fail` and the deprecated `expected_fail_*` lines.
pub(crate) fn check_expected_failure(eval: &Eval, actual: &str) -> Result<(), String> {
    if let Some(m) = &eval.expected_fail_message
        && !m.is_empty()
        && m != actual
    {
        return Err(format!("expected error {m:?} but got: {actual}"));
    }
    if let Some(r) = &eval.expected_fail_regexp
        && !r.is_match(actual)
    {
        return Err(format!(
            "expected error matching pattern {:?} but got: {actual}",
            r.as_str()
        ));
    }
    if let Some(m) = eval.expects_of(ExpectKind::Fail).next()
        && !m.matches(actual)
    {
        return Err(format!(
            "expected error matching {} but got: {actual}",
            m.describe()
        ));
    }
    Ok(())
}

/// Every expectation of a type must match an annotation of that type, and (when there is
/// any) every annotation must match one of them.
fn validate_annotations_of_type(
    expected: &[&ExpectMatch],
    actual: &[String],
    kind: &str,
) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!("expected {kind} annotations but none were found"));
    }
    for e in expected {
        if !actual.iter().any(|a| e.matches(a)) {
            return Err(format!(
                "expected {kind} annotation matching {} but no matching annotation was found, \
                 found: {actual:?}",
                e.describe()
            ));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.matches(a)) {
            return Err(format!("unexpected {kind} annotation {a:?}"));
        }
    }
    Ok(())
}

pub(crate) fn check_annotations(eval: &Eval, out: &QueryOutput) -> Result<(), String> {
    if eval.legacy_warn && out.warnings.is_empty() {
        return Err("expected warnings (eval_warn) but got none".into());
    }
    if eval.legacy_info && out.infos.is_empty() {
        return Err("expected info annotations (eval_info) but got none".into());
    }
    let warns: Vec<&ExpectMatch> = eval.expects_of(ExpectKind::Warn).collect();
    validate_annotations_of_type(&warns, &out.warnings, "warn")?;
    let infos: Vec<&ExpectMatch> = eval.expects_of(ExpectKind::Info).collect();
    validate_annotations_of_type(&infos, &out.infos, "info")?;
    if eval.has_expect(ExpectKind::NoWarn) && !out.warnings.is_empty() {
        return Err(format!(
            "expected no warn annotations but got {:?}",
            out.warnings
        ));
    }
    if eval.has_expect(ExpectKind::NoInfo) && !out.infos.is_empty() {
        return Err(format!(
            "expected no info annotations but got {:?}",
            out.infos
        ));
    }
    Ok(())
}

/// `compareResult`: the query's value against the expected lines.
pub(crate) fn compare_result(eval: &Eval, value: &Value) -> Result<(), String> {
    match value {
        Value::Matrix(m) => compare_matrix(eval, m),
        Value::Vector(v) => compare_vector(eval, v),
        Value::Scalar { v, .. } => compare_scalar(eval, *v),
        Value::String { s, .. } => {
            if *s != eval.expected_string {
                return Err(format!(
                    "expected string {:?} but got {s:?}",
                    eval.expected_string
                ));
            }
            Ok(())
        }
    }
}

pub(crate) fn compare_scalar(eval: &Eval, v: f64) -> Result<(), String> {
    if !eval.expect_scalar {
        return Err(format!(
            "expected {} but got scalar {}",
            describe_expected(eval),
            fmt_f(v)
        ));
    }
    if !almost_equal(eval.scalar, v, DEFAULT_EPSILON) {
        return Err(format!(
            "expected scalar {} but got {}",
            fmt_f(eval.scalar),
            fmt_f(v)
        ));
    }
    Ok(())
}

pub(crate) fn compare_vector(eval: &Eval, vector: &[InstantSample]) -> Result<(), String> {
    if eval.expect_scalar {
        return Err(format!(
            "expected scalar {} but got vector {}",
            fmt_f(eval.scalar),
            fmt_vector(vector)
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (pos, s) in vector.iter().enumerate() {
        let Some(exp) = eval.expected.get(&s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has value {} (expected {}; got {})",
                s.labels,
                fmt_f(s.v),
                describe_expected(eval),
                fmt_vector(vector)
            ));
        };
        if eval.is_ordered() && exp.pos != pos + 1 {
            return Err(format!(
                "expected metric {} at position {} but was at {} (got {})",
                s.labels,
                exp.pos,
                pos + 1,
                fmt_vector(vector)
            ));
        }
        let want = match exp.values.first() {
            Some(SeqValue::Value(v)) => *v,
            _ => 0.0,
        };
        if !almost_equal(want, s.v, DEFAULT_EPSILON) {
            return Err(format!(
                "expected {} for {} but got {}",
                fmt_f(want),
                s.labels,
                fmt_f(s.v)
            ));
        }
        seen.insert(&s.labels);
    }
    for (labels, exp) in &eval.expected {
        if !seen.contains(labels) {
            return Err(format!(
                "expected metric {labels} with {} not found (got {})",
                fmt_seq(&exp.values),
                fmt_vector(vector)
            ));
        }
    }
    Ok(())
}

pub(crate) fn assert_matrix_sorted(m: &[RangeSeries]) -> Result<(), String> {
    for (i, w) in m.windows(2).enumerate() {
        if w[0].labels > w[1].labels {
            return Err(format!(
                "matrix results should always be sorted by labels, but series at index {} with \
                 labels {} sorts before series at index {i} with labels {}",
                i + 1,
                w[1].labels,
                w[0].labels
            ));
        }
    }
    Ok(())
}

fn compare_matrix(eval: &Eval, matrix: &[RangeSeries]) -> Result<(), String> {
    if eval.is_ordered() {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    if eval.expect_scalar {
        return Err(format!(
            "expected scalar {} but got matrix {}",
            fmt_f(eval.scalar),
            fmt_matrix(matrix)
        ));
    }
    assert_matrix_sorted(matrix)?;
    let mut seen = std::collections::BTreeSet::new();
    for s in matrix {
        let Some(exp) = eval.expected.get(&s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has {} (expected {})",
                s.labels,
                fmt_points(s),
                describe_expected(eval)
            ));
        };
        seen.insert(&s.labels);
        let mut expected: Vec<(i64, f64)> = Vec::new();
        for (i, e) in exp.values.iter().enumerate() {
            let ts = eval.start + i as i64 * eval.step;
            if ts > eval.end {
                return Err(format!(
                    "expected {} points for {}, but query time range cannot return this many \
                     points",
                    exp.values.len(),
                    s.labels
                ));
            }
            if let SeqValue::Value(v) = e {
                expected.push((ts, *v));
            }
        }
        let mismatch = || {
            format!(
                "expected {} for {} but got {}",
                fmt_expected_points(&expected),
                s.labels,
                fmt_points(s)
            )
        };
        if expected.len() != s.samples.len() {
            return Err(mismatch());
        }
        for (want, got) in expected.iter().zip(&s.samples) {
            if want.0 != got.t || !almost_equal(want.1, got.v, DEFAULT_EPSILON) {
                return Err(mismatch());
            }
        }
    }
    for (labels, exp) in &eval.expected {
        if !seen.contains(labels) {
            return Err(format!(
                "expected metric {labels} with {} not found (got {})",
                fmt_seq(&exp.values),
                fmt_matrix(matrix)
            ));
        }
    }
    Ok(())
}

/// Formats a float as the test files write it (`Inf`, `-Inf`, `NaN`, `stale`).
pub(crate) fn fmt_f(v: f64) -> String {
    if storage::is_stale_nan(v) {
        "stale".into()
    } else if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn fmt_seq(values: &[SeqValue]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            SeqValue::Omitted => "_".into(),
            SeqValue::Value(v) => fmt_f(*v),
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

fn fmt_expected_points(points: &[(i64, f64)]) -> String {
    let parts: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{}@{t}", fmt_f(*v)))
        .collect();
    format!("[{}]", parts.join(" "))
}

fn fmt_points(s: &RangeSeries) -> String {
    let parts: Vec<String> = s
        .samples
        .iter()
        .map(|p| format!("{}@{}", fmt_f(p.v), p.t))
        .collect();
    format!("[{}]", parts.join(" "))
}

pub(crate) fn fmt_vector(v: &[InstantSample]) -> String {
    let mut out = String::from("{");
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} => {}", s.labels, fmt_f(s.v));
    }
    out.push('}');
    out
}

pub(crate) fn fmt_matrix(m: &[RangeSeries]) -> String {
    let mut out = String::from("{");
    for (i, s) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} => {}", s.labels, fmt_points(s));
    }
    out.push('}');
    out
}

pub(crate) fn fmt_value(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {}", fmt_f(*v)),
        Value::String { s, .. } => format!("string {s:?}"),
        Value::Vector(v) => format!("vector {}", fmt_vector(v)),
        Value::Matrix(m) => format!("matrix {}", fmt_matrix(m)),
    }
}

/// What the eval expects, for messages.
pub(crate) fn describe_expected(eval: &Eval) -> String {
    if eval.expect_scalar {
        return format!("scalar {}", fmt_f(eval.scalar));
    }
    if eval.expected.is_empty() {
        return "an empty result".into();
    }
    let parts: Vec<String> = eval
        .expected
        .iter()
        .map(|(l, e)| format!("{l} => {}", fmt_seq(&e.values)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}
