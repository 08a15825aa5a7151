//! Aggregation operators: `sum`, `avg`, `min`, `max`, `group`, `count`, `stddev`, `stdvar`,
//! `quantile`, `count_values`, `topk`, `bottomk`, `limitk`, `limit_ratio`, with `by` and
//! `without`. Groups are formed once per series; values are combined per step.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use storage::{Labels, METRIC_NAME, is_valid_label_name};

use super::{Evaluator, PromqlError, Series, Steps, Val, format_g};
use crate::promql::SeriesSource;
use crate::promql::functions::stats::{KahanSum, Mean, Variance, quantile};

/// How an aggregation groups its input series.
struct Grouping<'g> {
    without: bool,
    names: &'g [String],
}

impl Grouping<'_> {
    fn of(modifier: &Option<LabelModifier>) -> Grouping<'_> {
        match modifier {
            None => Grouping {
                without: false,
                names: &[],
            },
            Some(LabelModifier::Include(l)) => Grouping {
                without: false,
                names: &l.labels,
            },
            Some(LabelModifier::Exclude(l)) => Grouping {
                without: true,
                names: &l.labels,
            },
        }
    }

    /// The group's labels, which are also its identity: `by` keeps the listed labels,
    /// `without` drops them and the metric name.
    fn labels(&self, labels: &Labels) -> Labels {
        let mut out = labels.clone();
        if self.without {
            out.retain(|l| l.name != METRIC_NAME && !self.names.contains(&l.name));
        } else {
            out.retain(|l| self.names.contains(&l.name));
        }
        out
    }
}

/// Input series indexes per group, groups in order of first appearance.
fn group_series(series: &[Series], grouping: &Grouping<'_>) -> Vec<(Labels, Vec<usize>)> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let key = grouping.labels(&s.labels);
        match index.get(&key) {
            Some(&g) => groups[g].1.push(i),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![i]));
            }
        }
    }
    groups
}

impl<S: SeriesSource> Evaluator<'_, S> {
    pub(super) fn aggregate(
        &mut self,
        agg: &AggregateExpr,
        steps: Steps,
    ) -> Result<Val, PromqlError> {
        let op = agg.op.to_string();
        let grouping = Grouping::of(&agg.modifier);
        if op == "count_values" {
            return self.count_values(agg, &grouping, steps);
        }
        let param = match &agg.param {
            Some(p) => Some(self.eval_scalar(p, steps)?),
            None => None,
        };
        let input = self.eval_vector(&agg.expr, steps)?;
        let out = match op.as_str() {
            "topk" | "bottomk" | "limitk" | "limit_ratio" => {
                let param = param.unwrap_or_default();
                self.select_k(&op, &param, input, &grouping, steps)?
            }
            _ => {
                if op == "quantile"
                    && let Some(q) = &param
                {
                    self.check_quantile_param(q, "quantile");
                }
                aggregate_values(&op, param.as_deref(), &input, &grouping, steps)?
            }
        };
        Ok(Val::Vector(out))
    }

    pub(super) fn check_quantile_param(&mut self, qs: &[f64], name: &str) {
        let position = self.arg_position(name, 0);
        if qs.iter().any(|q| q.is_nan()) {
            self.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_g(f64::NAN)
                ),
                position.clone(),
            );
        }
        let max = qs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = qs.iter().copied().fold(f64::INFINITY, f64::min);
        if max > 1.0 {
            self.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_g(max)
                ),
                position.clone(),
            );
        }
        if min < 0.0 {
            self.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    format_g(min)
                ),
                position,
            );
        }
    }

    fn count_values(
        &mut self,
        agg: &AggregateExpr,
        grouping: &Grouping<'_>,
        steps: Steps,
    ) -> Result<Val, PromqlError> {
        let label = match agg.param.as_deref().map(super::selector::unwrap_parens) {
            Some(Expr::StringLiteral(s)) => s.val.clone(),
            _ => {
                return Err(PromqlError::BadQuery(
                    "count_values needs a string parameter".into(),
                ));
            }
        };
        if !is_valid_label_name(&label) {
            return Err(PromqlError::Execution(format!(
                "invalid label name {label:?}"
            )));
        }
        let input = self.eval_vector(&agg.expr, steps)?;
        // `by` groups on the value label too, so each distinct value is its own group.
        let mut names = grouping.names.to_vec();
        if !grouping.without && !names.contains(&label) {
            names.push(label.clone());
        }
        let grouping = Grouping {
            without: grouping.without,
            names: &names,
        };
        let n = steps.len();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut out: Vec<Series> = Vec::new();
        for (step, _) in steps.iter() {
            for s in &input {
                let Some(v) = s.values[step] else { continue };
                let mut labels = s.labels.clone();
                labels.set(&label, format_value(v));
                let key = grouping.labels(&labels);
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    out.push(Series {
                        labels: key,
                        drop_name: false,
                        values: vec![None; n],
                    });
                    out.len() - 1
                });
                let slot = &mut out[i].values[step];
                *slot = Some(slot.unwrap_or(0.0) + 1.0);
            }
        }
        Ok(Val::Vector(out))
    }

    /// `topk`, `bottomk`, `limitk` and `limit_ratio`: series keep their labels; each step
    /// keeps the chosen ones.
    fn select_k(
        &mut self,
        op: &str,
        param: &[f64],
        input: Vec<Series>,
        grouping: &Grouping<'_>,
        steps: Steps,
    ) -> Result<Vec<Series>, PromqlError> {
        let max = param.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = param.iter().copied().fold(f64::INFINITY, f64::min);
        let any_nan = param.iter().any(|p| p.is_nan());
        // A NaN parameter is an error even when nothing would be selected, as in Prometheus.
        if op == "limit_ratio" {
            if any_nan {
                return Err(PromqlError::Execution("Ratio value is NaN".into()));
            }
            if max == 0.0 && min == 0.0 {
                return Ok(Vec::new());
            }
            if max > 1.0 {
                let position = self.arg_position(op, 0);
                self.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        format_g(max),
                        format_g(1.0)
                    ),
                    position,
                );
            }
            if min < -1.0 {
                let position = self.arg_position(op, 0);
                self.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        format_g(min),
                        format_g(-1.0)
                    ),
                    position,
                );
            }
        } else {
            if any_nan {
                return Err(PromqlError::Execution("Parameter value is NaN".into()));
            }
            if max < 1.0 {
                return Ok(Vec::new());
            }
            if min <= i64::MIN as f64 {
                return Err(PromqlError::Execution(format!(
                    "Scalar value {} underflows int64",
                    format_g(min)
                )));
            }
            if max >= i64::MAX as f64 {
                return Err(PromqlError::Execution(format!(
                    "Scalar value {} overflows int64",
                    format_g(max)
                )));
            }
        }
        let groups = group_series(&input, grouping);
        let n = steps.len();
        let mut keep: Vec<Vec<bool>> = vec![vec![false; n]; input.len()];
        // For an instant query the order of the answer is the order chosen here.
        let mut order: Vec<usize> = Vec::new();
        let ratio_offsets: Vec<f64> = if op == "limit_ratio" {
            input.iter().map(|s| ratio_offset(&s.labels)).collect()
        } else {
            Vec::new()
        };
        for (step, _) in steps.iter() {
            let p = param[step];
            for (_, members) in &groups {
                let present: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| input[i].values[step].is_some())
                    .collect();
                let chosen: Vec<usize> = match op {
                    "limit_ratio" => {
                        let r = p.clamp(-1.0, 1.0);
                        present
                            .into_iter()
                            .filter(|&i| {
                                if r >= 0.0 {
                                    ratio_offsets[i] < r
                                } else {
                                    ratio_offsets[i] >= 1.0 + r
                                }
                            })
                            .collect()
                    }
                    _ => {
                        let k = (p as i64).min(input.len() as i64);
                        if k < 1 {
                            continue;
                        }
                        let k = k as usize;
                        match op {
                            "limitk" => present.into_iter().take(k).collect(),
                            _ => {
                                let value = |i: usize| input[i].values[step].unwrap_or(f64::NAN);
                                let mut sorted = present;
                                // NaN ranks below every number for both; earlier series win ties.
                                if op == "topk" {
                                    sorted.sort_by(|&a, &b| desc_nan_last(value(a), value(b)));
                                } else {
                                    sorted.sort_by(|&a, &b| asc_nan_last(value(a), value(b)));
                                }
                                sorted.truncate(k);
                                sorted
                            }
                        }
                    }
                };
                for i in chosen {
                    if !keep[i].iter().any(|k| *k) {
                        order.push(i);
                    }
                    keep[i][step] = true;
                }
            }
        }
        let mut input: Vec<Option<Series>> = input.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(order.len());
        for i in order {
            if let Some(mut s) = input[i].take() {
                for (v, k) in s.values.iter_mut().zip(&keep[i]) {
                    if !k {
                        *v = None;
                    }
                }
                out.push(s);
            }
        }
        Ok(out)
    }
}

fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Where a series falls in `[0, 1)` for `limit_ratio`: Prometheus' label-set hash (xxHash64
/// of `name\xffvalue\xff…`) scaled, so the same series are chosen as there.
fn ratio_offset(labels: &Labels) -> f64 {
    let mut bytes = Vec::with_capacity(64);
    for l in labels.iter() {
        bytes.extend_from_slice(l.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(l.value.as_bytes());
        bytes.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&bytes, 0) as f64 / u64::MAX as f64
}

/// A sample value as Prometheus writes it into a label (`count_values`) or a JSON string:
/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn format_value(v: f64) -> String {
    match super::non_finite(v) {
        Some(special) => special.into(),
        None => format!("{v}"),
    }
}

/// The value-combining aggregations, per group and step.
fn aggregate_values(
    op: &str,
    param: Option<&[f64]>,
    input: &[Series],
    grouping: &Grouping<'_>,
    steps: Steps,
) -> Result<Vec<Series>, PromqlError> {
    let groups = group_series(input, grouping);
    let n = steps.len();
    let mut out = Vec::with_capacity(groups.len());
    let mut scratch: Vec<f64> = Vec::new();
    for (labels, members) in groups {
        let mut values = vec![None; n];
        let mut drop_name = false;
        for (step, slot) in values.iter_mut().enumerate() {
            scratch.clear();
            for &i in &members {
                if let Some(v) = input[i].values[step] {
                    scratch.push(v);
                    drop_name |= input[i].drop_name;
                }
            }
            if scratch.is_empty() {
                continue;
            }
            *slot = Some(match op {
                "sum" => {
                    let mut sum = KahanSum::new();
                    scratch.iter().for_each(|v| sum.add(*v));
                    sum.value()
                }
                "avg" => {
                    let mut mean = Mean::new();
                    scratch.iter().for_each(|v| mean.add(*v));
                    mean.value()
                }
                "count" => scratch.len() as f64,
                "group" => 1.0,
                "min" => scratch[1..].iter().fold(scratch[0], |acc, &v| {
                    if acc > v || acc.is_nan() { v } else { acc }
                }),
                "max" => scratch[1..].iter().fold(scratch[0], |acc, &v| {
                    if acc < v || acc.is_nan() { v } else { acc }
                }),
                "stddev" | "stdvar" => {
                    let mut variance = Variance::new();
                    scratch.iter().for_each(|v| variance.add(*v));
                    if op == "stdvar" {
                        variance.stdvar()
                    } else {
                        variance.stddev()
                    }
                }
                "quantile" => {
                    let q = param.map_or(f64::NAN, |p| p[step]);
                    quantile(q, &mut scratch)
                }
                other => {
                    return Err(PromqlError::Unsupported(format!(
                        "aggregation {other:?} is not supported"
                    )));
                }
            });
        }
        if values.iter().any(Option::is_some) {
            out.push(Series {
                labels,
                drop_name,
                values,
            });
        }
    }
    Ok(out)
}
