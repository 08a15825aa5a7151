//! The evaluator: walks the parsed expression and computes every node for all steps at once.
//!
//! Instant-vector nodes are [`Series`] with one optional value per step; scalars are one value
//! per step. Label work (grouping, vector matching, label functions) is therefore done once
//! per series, not once per step. Range vectors never exist as a whole: a function over a
//! range reads one series' samples, slides each step's window over them, and drops them.
//!
//! `__name__` is removed the way Prometheus does with delayed name removal (the mode its own
//! PromQL tests run in): operations that change a sample's meaning mark the series, and the
//! name is dropped when the result is assembled, so `sum by (__name__) (rate(x[5m]))` keeps
//! it. Vector-vector arithmetic drops it at once, as in Prometheus.

mod aggregate;
mod binary;
mod call;
mod selector;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, Offset};
use storage::{Labels, METRIC_NAME, Sample};

use super::{
    EngineConfig, InstantSample, PromqlError, QueryOptions, QueryOutput, RangeSeries, SeriesSource,
    Value,
};

/// The steps a query is evaluated at: `start..=end` every `step` ms (`step` 0 for one instant).
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) step: i64,
    /// An instant query: range vectors and strings may be answered as they are.
    pub(super) instant: bool,
}

/// The evaluation timestamps of one node: `start..=end` every `step` ms (`step` > 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Steps {
    start: i64,
    end: i64,
    step: i64,
}

impl Steps {
    fn len(&self) -> usize {
        ((self.end - self.start) / self.step) as usize + 1
    }

    fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    fn iter(&self) -> impl Iterator<Item = (usize, i64)> + use<> {
        let s = *self;
        (0..s.len()).map(move |i| (i, s.ts(i)))
    }
}

/// An instant-vector series over the steps of its node.
#[derive(Debug, Clone)]
pub(super) struct Series {
    labels: Labels,
    /// Drop `__name__` when the result is assembled (delayed name removal).
    drop_name: bool,
    values: Vec<Option<f64>>,
}

/// A range-vector series as a value of its own (an instant query of `x[5m]` or a subquery).
#[derive(Debug, Clone)]
pub(super) struct RangeValue {
    labels: Labels,
    drop_name: bool,
    samples: Vec<Sample>,
}

/// The value of one node over its steps.
#[derive(Debug)]
pub(super) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
    /// Only as the whole result of an instant query.
    Matrix(Vec<RangeValue>),
    String(String),
}

/// Annotations, deduplicated by message like Prometheus', in the order raised.
#[derive(Default)]
struct Annotations {
    warnings: Vec<String>,
    infos: Vec<String>,
}

impl Annotations {
    fn warn(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    fn info(&mut self, message: String) {
        if !self.infos.contains(&message) {
            self.infos.push(message);
        }
    }
}

pub(super) struct Evaluator<'a, S: SeriesSource> {
    source: &'a S,
    query: &'a str,
    lookback: i64,
    deadline: Instant,
    max_samples: usize,
    max_series: Option<usize>,
    /// Samples held by the evaluation right now, as Prometheus counts them against
    /// `max_samples`.
    held: usize,
    /// The query's own start and end, which `@ start()` and `@ end()` refer to at any depth.
    query_start: i64,
    query_end: i64,
    /// The query's step (0 for an instant query), which `step()` answers.
    query_step: i64,
    annotations: Annotations,
}

/// The default step of a subquery without one (`x[1h:]`): Prometheus uses its global
/// evaluation interval, 1m by default.
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

pub(super) fn evaluate<S: SeriesSource>(
    source: &S,
    config: &EngineConfig,
    options: &QueryOptions,
    query: &str,
    expr: &Expr,
    range: Range,
) -> Result<QueryOutput, PromqlError> {
    let lookback = options.lookback_delta.unwrap_or(config.lookback_delta);
    let timeout = options
        .timeout
        .map_or(config.timeout, |t| t.min(config.timeout));
    let mut ev = Evaluator {
        source,
        query,
        lookback: duration_ms(lookback).max(1),
        deadline: Instant::now() + timeout,
        max_samples: config.max_samples,
        max_series: config.max_series,
        held: 0,
        query_start: range.start,
        query_end: range.end,
        query_step: range.step,
        annotations: Annotations::default(),
    };
    let steps = Steps {
        start: range.start,
        end: range.end,
        step: range.step.max(1),
    };
    if !range.instant {
        match expr.value_type() {
            ValueType::Matrix | ValueType::String => {
                return Err(PromqlError::BadQuery(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    type_name(expr.value_type())
                )));
            }
            ValueType::Scalar | ValueType::Vector => {}
        }
    }
    let val = ev.eval(expr, steps)?;
    let value = if range.instant {
        instant_value(val, range.start)?
    } else {
        range_value(val, steps)?
    };
    Ok(QueryOutput {
        value,
        warnings: ev.annotations.warnings,
        infos: ev.annotations.infos,
    })
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// Drops `__name__` from the series marked for it.
fn drop_marked_names(series: &mut [Series]) {
    for s in series.iter_mut().filter(|s| s.drop_name) {
        s.labels.remove(METRIC_NAME);
        s.drop_name = false;
    }
}

fn instant_value(val: Val, t: i64) -> Result<Value, PromqlError> {
    Ok(match val {
        Val::Scalar(v) => Value::Scalar { t, v: v[0] },
        Val::String(s) => Value::String { t, s },
        Val::Matrix(m) => Value::Matrix(
            m.into_iter()
                .map(|mut r| {
                    if r.drop_name {
                        r.labels.remove(METRIC_NAME);
                    }
                    RangeSeries {
                        labels: r.labels,
                        samples: r.samples,
                    }
                })
                .collect(),
        ),
        Val::Vector(mut series) => {
            drop_marked_names(&mut series);
            let out: Vec<InstantSample> = series
                .into_iter()
                .filter_map(|s| {
                    s.values[0].map(|v| InstantSample {
                        labels: s.labels,
                        t,
                        v,
                    })
                })
                .collect();
            let mut seen = std::collections::HashSet::with_capacity(out.len());
            if out.iter().any(|s| !seen.insert(&s.labels)) {
                return Err(PromqlError::Execution(DUPLICATE_LABELSET.into()));
            }
            Value::Vector(out)
        }
    })
}

fn range_value(val: Val, steps: Steps) -> Result<Value, PromqlError> {
    let series = match val {
        Val::Scalar(v) => vec![Series {
            labels: Labels::default(),
            drop_name: false,
            values: v.into_iter().map(Some).collect(),
        }],
        Val::Vector(mut series) => {
            drop_marked_names(&mut series);
            merge_same_labels(series)?
        }
        Val::Matrix(_) | Val::String(_) => {
            return Err(PromqlError::BadQuery(
                "range queries answer scalars and instant vectors only".into(),
            ));
        }
    };
    let mut out: Vec<RangeSeries> = series
        .into_iter()
        .filter_map(|s| {
            let samples: Vec<Sample> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| Sample { t: steps.ts(i), v }))
                .collect();
            (!samples.is_empty()).then_some(RangeSeries {
                labels: s.labels,
                samples,
            })
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(out))
}

/// Merges series that ended up with one label set (after dropping names or relabelling);
/// two of them holding a value at the same step is Prometheus' duplicate-labelset error.
fn merge_same_labels(series: Vec<Series>) -> Result<Vec<Series>, PromqlError> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    for s in series {
        if s.values.iter().all(Option::is_none) {
            continue;
        }
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let target = &mut out[i];
                for (dst, src) in target.values.iter_mut().zip(s.values) {
                    if let Some(v) = src {
                        if dst.is_some() {
                            return Err(PromqlError::Execution(DUPLICATE_LABELSET.into()));
                        }
                        *dst = Some(v);
                    }
                }
                target.drop_name |= s.drop_name;
            }
        }
    }
    Ok(out)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

/// How Go writes the values that are not finite numbers.
pub(super) fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`-like rendering for messages.
fn format_g(v: f64) -> String {
    if let Some(special) = non_finite(v) {
        special.into()
    } else {
        let abs = v.abs();
        if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
            let s = format!("{v:e}");
            // Go writes the exponent with a sign and at least two digits: 1e+21, 1e-05.
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = match e.strip_prefix('-') {
                        Some(d) => ('-', d),
                        None => ('+', e),
                    };
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        } else {
            format!("{v}")
        }
    }
}

impl<'a, S: SeriesSource> Evaluator<'a, S> {
    fn check_deadline(&self) -> Result<(), PromqlError> {
        if Instant::now() > self.deadline {
            return Err(PromqlError::Timeout {
                stage: "query execution",
            });
        }
        Ok(())
    }

    /// Counts `n` more samples held; fails past the limit.
    fn charge(&mut self, n: usize) -> Result<(), PromqlError> {
        self.held += n;
        if self.held > self.max_samples {
            return Err(PromqlError::TooManySamples {
                stage: "query execution",
                limit: self.max_samples,
            });
        }
        Ok(())
    }

    fn release(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => duration_ms(d),
                Err(e) => -duration_ms(e.duration()),
            }),
        }
    }

    fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Val, PromqlError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; steps.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, steps),
            Expr::Unary(u) => match self.eval(&u.expr, steps)? {
                Val::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Ok(Val::Scalar(v))
                }
                Val::Vector(mut series) => {
                    for s in &mut series {
                        s.drop_name = true;
                        s.values.iter_mut().flatten().for_each(|x| *x = -*x);
                    }
                    Ok(Val::Vector(series))
                }
                _ => Err(PromqlError::BadQuery(
                    "unary expression only allowed on expressions of type scalar or instant vector"
                        .into(),
                )),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, steps, false)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                if steps.len() != 1 {
                    return Err(PromqlError::BadQuery(
                        "a range vector can only be evaluated at one instant".into(),
                    ));
                }
                Ok(Val::Matrix(self.range_vector_value(expr, steps)?))
            }
            Expr::Aggregate(a) => self.aggregate(a, steps),
            Expr::Binary(b) => self.binary(b, steps),
            Expr::Call(c) => self.call(c, steps),
            Expr::Extension(_) => Err(PromqlError::Unsupported(
                "extension expressions are not supported".into(),
            )),
        }
    }

    fn eval_scalar(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<f64>, PromqlError> {
        match self.eval(expr, steps)? {
            Val::Scalar(v) => Ok(v),
            other => Err(PromqlError::BadQuery(format!(
                "expected a scalar, got {}",
                val_type_name(&other)
            ))),
        }
    }

    fn eval_vector(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<Series>, PromqlError> {
        match self.eval(expr, steps)? {
            Val::Vector(v) => Ok(v),
            other => Err(PromqlError::BadQuery(format!(
                "expected an instant vector, got {}",
                val_type_name(&other)
            ))),
        }
    }

    // ----------------------------------------------------------------- annotation positions
    //
    // promql-parser keeps no source positions, and Prometheus ends each annotation with the
    // position of the expression it is about. These find that expression in the query text
    // by the name that starts it; when a name occurs more than once the first is reported.

    fn position(&self, byte: usize) -> String {
        let before = &self.query[..byte.min(self.query.len())];
        let line = before.matches('\n').count() + 1;
        let col = match before.rfind('\n') {
            Some(nl) => byte - nl,
            None => byte + 1,
        };
        format!("{line}:{col}")
    }

    /// Byte offset of a call or aggregation named `name` (followed by `(`, `by` or
    /// `without`).
    fn find_call(&self, name: &str) -> Option<usize> {
        let q = self.query;
        let mut from = 0;
        while let Some(i) = q[from..].find(name) {
            let at = from + i;
            let before_ok = at == 0
                || !q[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let rest = q[at + name.len()..].trim_start();
            if before_ok
                && (rest.starts_with('(') || rest.starts_with("by") || rest.starts_with("without"))
            {
                return Some(at);
            }
            from = at + name.len();
        }
        None
    }

    /// Position of the call `name` itself.
    fn call_position(&self, name: &str) -> String {
        self.position(self.find_call(name).unwrap_or(0))
    }

    /// Position of argument `index` of the call or aggregation `name`.
    fn arg_position(&self, name: &str, index: usize) -> String {
        let Some(start) = self.find_call(name) else {
            return self.position(0);
        };
        let bytes = self.query.as_bytes();
        let mut i = start + name.len();
        // Skip an aggregation's `by (…)`/`without (…)` clause.
        let skip_ws = |mut i: usize| {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            i
        };
        i = skip_ws(i);
        if bytes.get(i) != Some(&b'(') {
            while i < bytes.len() && bytes[i] != b'(' {
                i += 1;
            }
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i = skip_ws(i + 1);
        }
        // Now at the opening parenthesis of the arguments.
        i += 1;
        let mut arg = 0;
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        i = skip_ws(i);
        let mut arg_start = i;
        while i < bytes.len() {
            let c = bytes[i];
            if let Some(q) = quote {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    b'"' | b'\'' | b'`' => quote = Some(c),
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                    b',' if depth == 0 => {
                        if arg == index {
                            break;
                        }
                        arg += 1;
                        arg_start = skip_ws(i + 1);
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        self.position(if arg == index { arg_start } else { start })
    }

    fn warn(&mut self, message: impl std::fmt::Display, position: String) {
        self.annotations
            .warn(format!("PromQL warning: {message} ({position})"));
    }

    fn info(&mut self, message: impl std::fmt::Display, position: String) {
        self.annotations
            .info(format!("PromQL info: {message} ({position})"));
    }
}

/// A label set as Prometheus prints one in messages: `{__name__="x", job="a"}`.
fn prom_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        out.push_str(&format!("{:?}", l.value));
    }
    out.push('}');
    out
}

fn val_type_name(v: &Val) -> &'static str {
    match v {
        Val::Scalar(_) => "scalar",
        Val::Vector(_) => "instant vector",
        Val::Matrix(_) => "range vector",
        Val::String(_) => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_g_formatting() {
        assert_eq!(format_g(1.1), "1.1");
        assert_eq!(format_g(-1.0), "-1");
        assert_eq!(format_g(f64::NAN), "NaN");
        assert_eq!(format_g(f64::INFINITY), "+Inf");
        assert_eq!(format_g(1e21), "1e+21");
        assert_eq!(format_g(0.00001), "1e-05");
    }
}
