//! Function calls: the range functions (`rate`, `*_over_time`, …) over windows, per-sample
//! functions, and the functions that work on whole series (`label_replace`, `sort`,
//! `histogram_quantile`, `absent`, …).

use std::cmp::Ordering;

use promql_parser::parser::{Call, Expr};
use regex::Regex;
use storage::{Labels, METRIC_NAME, is_valid_label_name};

use super::selector::{unwrap_parens, windowed};
use super::{Evaluator, PromqlError, Series, Steps, Val};
use crate::promql::SeriesSource;
use crate::promql::functions::elementwise::ElementFunction;
use crate::promql::functions::histogram::{Bucket, bucket_fraction, bucket_quantile};
use crate::promql::functions::range::RangeFunction;

/// The argument of a range function that is the range vector, by function.
fn range_arg_index(name: &str) -> usize {
    match name {
        "quantile_over_time" => 1,
        _ => 0,
    }
}

impl<S: SeriesSource> Evaluator<'_, S> {
    pub(super) fn call(&mut self, c: &Call, steps: Steps) -> Result<Val, PromqlError> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
        if let Some(f) = RangeFunction::from_name(name) {
            return self.range_function(name, f, &args, steps);
        }
        if let Some(f) = ElementFunction::from_name(name) {
            return self.element_function(f, &args, steps);
        }
        let n = steps.len();
        match name {
            "time" => Ok(Val::Scalar(
                steps.iter().map(|(_, ts)| ts as f64 / 1000.0).collect(),
            )),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
            // The query's own time range, as Prometheus' duration-expression functions give it.
            "start" => Ok(Val::Scalar(vec![self.query_start as f64 / 1000.0; n])),
            "end" => Ok(Val::Scalar(vec![self.query_end as f64 / 1000.0; n])),
            "range" => Ok(Val::Scalar(vec![
                (self.query_end - self.query_start) as f64
                    / 1000.0;
                n
            ])),
            "step" => Ok(Val::Scalar(vec![self.query_step as f64 / 1000.0; n])),
            "min_of" | "max_of" => {
                let a = self.eval_scalar(args[0], steps)?;
                let b = self.eval_scalar(args[1], steps)?;
                let pick = |x: f64, y: f64| {
                    if x.is_nan() || y.is_nan() {
                        f64::NAN
                    } else if name == "min_of" {
                        x.min(y)
                    } else {
                        x.max(y)
                    }
                };
                Ok(Val::Scalar(
                    a.iter().zip(&b).map(|(&x, &y)| pick(x, y)).collect(),
                ))
            }
            "vector" => {
                let v = self.eval_scalar(args[0], steps)?;
                Ok(Val::Vector(vec![Series {
                    labels: Labels::default(),
                    drop_name: false,
                    values: v.into_iter().map(Some).collect(),
                }]))
            }
            "scalar" => {
                let series = self.eval_vector(args[0], steps)?;
                Ok(Val::Scalar(
                    (0..n)
                        .map(|step| {
                            let mut present = series.iter().filter_map(|s| s.values[step]);
                            match (present.next(), present.next()) {
                                (Some(v), None) => v,
                                _ => f64::NAN,
                            }
                        })
                        .collect(),
                ))
            }
            "timestamp" => {
                let mut series = match args[0] {
                    Expr::VectorSelector(vs) => self.vector_selector(vs, steps, true)?,
                    other => {
                        let mut series = self.eval_vector(other, steps)?;
                        for s in &mut series {
                            for (step, v) in s.values.iter_mut().enumerate() {
                                if v.is_some() {
                                    *v = Some(steps.ts(step) as f64 / 1000.0);
                                }
                            }
                        }
                        series
                    }
                };
                series.iter_mut().for_each(|s| s.drop_name = true);
                Ok(Val::Vector(series))
            }
            "absent" => {
                let series = self.eval_vector(args[0], steps)?;
                let values: Vec<Option<f64>> = (0..n)
                    .map(|step| (!series.iter().any(|s| s.values[step].is_some())).then_some(1.0))
                    .collect();
                Ok(Val::Vector(absent_result(args[0], values)))
            }
            "absent_over_time" => {
                let per_series = self.map_range_series(args[0], steps, |input, windows| {
                    windowed(input.samples, windows)
                        .map(|w| !w.is_empty())
                        .collect::<Vec<bool>>()
                })?;
                let mut seen = vec![false; n];
                for flags in per_series {
                    for (s, f) in seen.iter_mut().zip(flags) {
                        *s |= f;
                    }
                }
                let values = seen.iter().map(|s| (!s).then_some(1.0)).collect();
                Ok(Val::Vector(absent_result(args[0], values)))
            }
            "label_replace" => self.label_replace(&args, steps),
            "label_join" => self.label_join(&args, steps),
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                self.sort(name, &args, steps)
            }
            "histogram_quantile" => self.histogram_quantile(&args, steps),
            "histogram_fraction" => self.histogram_fraction(&args, steps),
            // These read native histograms only; a store of float samples has none, so the
            // answer is empty, as Prometheus' is for float input.
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                self.eval_vector(args[0], steps)?;
                Ok(Val::Vector(Vec::new()))
            }
            other => Err(PromqlError::Unsupported(format!(
                "function {other}() is not supported by Argus (native histograms and \
                 experimental functions behind Prometheus feature flags are not implemented)"
            ))),
        }
    }

    fn range_function(
        &mut self,
        name: &str,
        f: RangeFunction,
        args: &[&Expr],
        steps: Steps,
    ) -> Result<Val, PromqlError> {
        let range_index = range_arg_index(name);
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != range_index {
                params.push(self.eval_scalar(a, steps)?);
            }
        }
        match f {
            RangeFunction::QuantileOverTime => self.check_quantile_param(&params[0], name),
            RangeFunction::DoubleExponentialSmoothing => {
                for (sf, tf) in params[0].iter().zip(&params[1]) {
                    if !(*sf > 0.0 && *sf < 1.0) {
                        return Err(PromqlError::Execution(format!(
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                        )));
                    }
                    if !(*tf > 0.0 && *tf < 1.0) {
                        return Err(PromqlError::Execution(format!(
                            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                        )));
                    }
                }
            }
            _ => {}
        }
        // last_over_time and first_over_time pick a sample as it is, like an offset would.
        let keeps_name = matches!(
            f,
            RangeFunction::LastOverTime | RangeFunction::FirstOverTime
        );
        let counter_check = matches!(f, RangeFunction::Rate | RangeFunction::Increase);
        let n = steps.len();
        let outputs = self.map_range_series(args[range_index], steps, |input, windows| {
            let mut values = vec![None; n];
            let mut step_params = vec![0.0; params.len()];
            let mut found = 0;
            for (step, window) in windowed(input.samples, windows).enumerate() {
                if window.is_empty() {
                    continue;
                }
                for (p, all) in step_params.iter_mut().zip(&params) {
                    *p = all[step];
                }
                let w = windows[step];
                // predict_linear predicts from the evaluation time, which an `@` or offset
                // moves away from the window's end.
                let end = if f == RangeFunction::PredictLinear {
                    steps.ts(step)
                } else {
                    w.hi
                };
                values[step] = f.apply(window, w.lo, end, &step_params);
                found += usize::from(values[step].is_some());
            }
            (found > 0).then(|| Series {
                labels: input.labels.clone(),
                drop_name: input.drop_name || !keeps_name,
                values,
            })
        })?;
        let out: Vec<Series> = outputs.into_iter().flatten().collect();
        self.charge(out.len() * n)?;
        let mut not_counters: Vec<&str> = Vec::new();
        if counter_check {
            for s in &out {
                if let Some(metric) = s.labels.metric_name()
                    && !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|suffix| metric.ends_with(suffix))
                    && !not_counters.contains(&metric)
                {
                    not_counters.push(metric);
                }
            }
        }
        let not_counters: Vec<String> = not_counters.into_iter().map(str::to_string).collect();
        for metric in not_counters {
            let position = self.arg_position(name, range_index);
            self.info(
                format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                ),
                position,
            );
        }
        Ok(Val::Vector(out))
    }

    fn element_function(
        &mut self,
        f: ElementFunction,
        args: &[&Expr],
        steps: Steps,
    ) -> Result<Val, PromqlError> {
        let n = steps.len();
        // The date functions default to `vector(time())`.
        let mut series = match args.first() {
            Some(a) => self.eval_vector(a, steps)?,
            None => vec![Series {
                labels: Labels::default(),
                drop_name: false,
                values: steps
                    .iter()
                    .map(|(_, ts)| Some(ts as f64 / 1000.0))
                    .collect(),
            }],
        };
        let mut params: Vec<Vec<f64>> = Vec::new();
        for a in args.iter().skip(1) {
            params.push(self.eval_scalar(a, steps)?);
        }
        if matches!(f, ElementFunction::Round) && params.is_empty() {
            params.push(vec![1.0; n]);
        }
        let mut step_params = vec![0.0; params.len()];
        for s in &mut series {
            for (step, slot) in s.values.iter_mut().enumerate() {
                let Some(v) = *slot else { continue };
                for (p, all) in step_params.iter_mut().zip(&params) {
                    *p = all[step];
                }
                *slot = f.apply(v, &step_params);
            }
            s.drop_name = true;
        }
        series.retain(|s| s.values.iter().any(Option::is_some));
        Ok(Val::Vector(series))
    }

    fn string_arg(&mut self, arg: &Expr, function: &str) -> Result<String, PromqlError> {
        match self.eval(
            arg,
            Steps {
                start: 0,
                end: 0,
                step: 1,
            },
        )? {
            Val::String(s) => Ok(s),
            _ => Err(PromqlError::BadQuery(format!(
                "{function}() expects string arguments"
            ))),
        }
    }

    fn label_replace(&mut self, args: &[&Expr], steps: Steps) -> Result<Val, PromqlError> {
        let dst = self.string_arg(args[1], "label_replace")?;
        let replacement = self.string_arg(args[2], "label_replace")?;
        let src = self.string_arg(args[3], "label_replace")?;
        let pattern = self.string_arg(args[4], "label_replace")?;
        let regex = Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
            PromqlError::Execution(format!(
                "invalid regular expression in label_replace(): {pattern}"
            ))
        })?;
        if !is_valid_label_name(&dst) {
            return Err(PromqlError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut series = self.eval_vector(args[0], steps)?;
        for s in &mut series {
            let value = s.labels.get(&src).unwrap_or("").to_string();
            if let Some(caps) = regex.captures(&value) {
                let mut expanded = String::new();
                caps.expand(&replacement, &mut expanded);
                s.labels.set(&dst, expanded);
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
        Ok(Val::Vector(super::merge_same_labels(series)?))
    }

    fn label_join(&mut self, args: &[&Expr], steps: Steps) -> Result<Val, PromqlError> {
        let dst = self.string_arg(args[1], "label_join")?;
        let separator = self.string_arg(args[2], "label_join")?;
        let mut sources = Vec::new();
        for a in &args[3..] {
            let name = self.string_arg(a, "label_join")?;
            if !is_valid_label_name(&name) {
                return Err(PromqlError::Execution(format!(
                    "invalid source label name in label_join(): {name}"
                )));
            }
            sources.push(name);
        }
        if !is_valid_label_name(&dst) {
            return Err(PromqlError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut series = self.eval_vector(args[0], steps)?;
        for s in &mut series {
            let joined = sources
                .iter()
                .map(|name| s.labels.get(name).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&separator);
            s.labels.set(&dst, joined);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        Ok(Val::Vector(super::merge_same_labels(series)?))
    }

    fn sort(&mut self, name: &str, args: &[&Expr], steps: Steps) -> Result<Val, PromqlError> {
        let mut label_names = Vec::new();
        for a in &args[1..] {
            label_names.push(self.string_arg(a, name)?);
        }
        let mut series = self.eval_vector(args[0], steps)?;
        if steps.len() > 1 {
            let position = self.call_position(name);
            self.warn(
                "sort is ineffective for range queries since results are always ordered by labels",
                position,
            );
            return Ok(Val::Vector(series));
        }
        let value = |s: &Series| s.values[0].unwrap_or(f64::NAN);
        match name {
            "sort" => series.sort_by(|a, b| nan_last(value(a), value(b), false)),
            "sort_desc" => series.sort_by(|a, b| nan_last(value(a), value(b), true)),
            _ => {
                let descending = name == "sort_by_label_desc";
                series.sort_by(|a, b| {
                    let mut ord = Ordering::Equal;
                    for l in &label_names {
                        ord = natural_cmp(
                            a.labels.get(l).unwrap_or(""),
                            b.labels.get(l).unwrap_or(""),
                        );
                        if ord != Ordering::Equal {
                            break;
                        }
                    }
                    if ord == Ordering::Equal {
                        ord = a.labels.cmp(&b.labels);
                    }
                    if descending { ord.reverse() } else { ord }
                });
            }
        }
        Ok(Val::Vector(series))
    }

    /// Classic `_bucket` series grouped into histograms: per group, the series index and
    /// upper bound of each bucket. Series with a missing or malformed `le` are warned about.
    fn bucket_groups(
        &mut self,
        series: &[Series],
        function: &str,
        arg_index: usize,
    ) -> Vec<(Labels, Vec<(usize, f64)>)> {
        let mut index: std::collections::HashMap<Labels, usize> = Default::default();
        let mut groups: Vec<(Labels, Vec<(usize, f64)>)> = Vec::new();
        for (i, s) in series.iter().enumerate() {
            let le = s.labels.get("le").unwrap_or("");
            let Some(bound) = parse_go_float(le) else {
                let position = self.arg_position(function, arg_index);
                let name = s.labels.metric_name().unwrap_or("");
                let mut message =
                    format!("bucket label \"le\" is missing or has a malformed value of {le:?}");
                if !name.is_empty() {
                    message.push_str(&format!(" for metric name {name:?}"));
                }
                self.warn(message, position);
                continue;
            };
            let mut key = s.labels.clone();
            key.remove("le");
            let g = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push((i, bound));
        }
        groups
    }

    fn histogram_quantile(&mut self, args: &[&Expr], steps: Steps) -> Result<Val, PromqlError> {
        let qs = self.eval_scalar(args[0], steps)?;
        let series = self.eval_vector(args[1], steps)?;
        if !series.is_empty() {
            self.check_quantile_param(&qs, "histogram_quantile");
        }
        let groups = self.bucket_groups(&series, "histogram_quantile", 1);
        let mut forced: Vec<String> = Vec::new();
        let out = per_histogram(&series, groups, steps, |key, step, buckets| {
            let result = bucket_quantile(qs[step], buckets);
            if result.forced_monotonicity {
                let name = key.metric_name().unwrap_or("").to_string();
                if !forced.contains(&name) {
                    forced.push(name);
                }
            }
            result.value
        });
        for name in forced {
            let position = self.arg_position("histogram_quantile", 1);
            let mut message = "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string();
            if !name.is_empty() {
                message.push_str(&format!(" for metric name {name:?}"));
            }
            self.info(message, position);
        }
        Ok(Val::Vector(super::merge_same_labels(out)?))
    }

    fn histogram_fraction(&mut self, args: &[&Expr], steps: Steps) -> Result<Val, PromqlError> {
        let lower = self.eval_scalar(args[0], steps)?;
        let upper = self.eval_scalar(args[1], steps)?;
        let series = self.eval_vector(args[2], steps)?;
        let groups = self.bucket_groups(&series, "histogram_fraction", 2);
        let out = per_histogram(&series, groups, steps, |_, step, buckets| {
            bucket_fraction(lower[step], upper[step], buckets)
        });
        Ok(Val::Vector(super::merge_same_labels(out)?))
    }
}

/// One output series per classic histogram: at each step, `compute` gets the group's labels
/// and the buckets present at that step. The output loses the metric name and `le`.
fn per_histogram(
    series: &[Series],
    groups: Vec<(Labels, Vec<(usize, f64)>)>,
    steps: Steps,
    mut compute: impl FnMut(&Labels, usize, &mut [Bucket]) -> f64,
) -> Vec<Series> {
    let n = steps.len();
    let mut out = Vec::with_capacity(groups.len());
    let mut buckets = Vec::new();
    for (key, members) in groups {
        let mut values = vec![None; n];
        for (step, slot) in values.iter_mut().enumerate() {
            buckets.clear();
            buckets.extend(members.iter().filter_map(|&(i, upper_bound)| {
                series[i].values[step].map(|count| Bucket { upper_bound, count })
            }));
            if !buckets.is_empty() {
                *slot = Some(compute(&key, step, &mut buckets));
            }
        }
        let mut labels = key;
        labels.remove(METRIC_NAME);
        out.push(Series {
            labels,
            drop_name: false,
            values,
        });
    }
    out
}

/// The one series `absent` and `absent_over_time` answer with, labelled from the equality
/// matchers of a plain selector argument (a label matched twice is left out).
fn absent_result(arg: &Expr, values: Vec<Option<f64>>) -> Vec<Series> {
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    let vs = match arg {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut labels = Labels::default();
    if let Some(vs) = vs {
        let mut seen: Vec<&str> = Vec::new();
        for m in &vs.matchers.matchers {
            if m.name == METRIC_NAME {
                continue;
            }
            let equal = matches!(m.op, promql_parser::label::MatchOp::Equal);
            if equal && !seen.contains(&m.name.as_str()) {
                labels.set(&m.name, m.value.clone());
                seen.push(&m.name);
            } else {
                labels.remove(&m.name);
            }
        }
    }
    vec![Series {
        labels,
        drop_name: false,
        values,
    }]
}

/// Orders by value with NaN after every number, ascending or descending.
fn nan_last(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Natural order, as `sort_by_label` uses: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let ta = trim_zeros(na);
                let tb = trim_zeros(nb);
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    &digits[zeros..]
}

/// Go's `strconv.ParseFloat` for bucket bounds: numbers, `+Inf`/`-Inf`/`Inf` and `NaN` in any
/// case.
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers_by_value() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a10"), Ordering::Equal);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
        assert_eq!(natural_cmp("", "a"), Ordering::Less);
    }

    #[test]
    fn bucket_bounds_parse_like_go() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.5"), Some(0.5));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("abc"), None);
        assert_eq!(parse_go_float(""), None);
    }
}
