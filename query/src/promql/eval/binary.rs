//! Binary operators: arithmetic, comparison (filtering or `bool`), `atan2`, and the set
//! operators, between scalars and instant vectors, with Prometheus' vector matching
//! (`on`/`ignoring`, `group_left`/`group_right`). Match signatures are computed once per
//! series; the per-step work is looking up the partner of each present value.

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use storage::{Labels, METRIC_NAME};

use super::{Evaluator, PromqlError, Series, Steps, Val, merge_same_labels, prom_string};
use crate::promql::SeriesSource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic changes what a sample means, so the result loses the metric name.
    fn changes_meaning(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow | Op::Atan2
        )
    }

    /// The result of `l op r`, and for comparisons whether it holds.
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (go_mod(l, r), true),
            Op::Pow => (l.powf(r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (l, true),
        }
    }
}

/// Go's `math.Mod`: the result has the sign of `l`, like Rust's `%` on floats.
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

/// What identifies a series for vector matching.
struct Matching<'m> {
    on: bool,
    names: &'m [String],
}

impl Matching<'_> {
    fn signature(&self, labels: &Labels) -> Labels {
        let mut sig = labels.clone();
        if self.on {
            sig.retain(|l| self.names.contains(&l.name));
        } else {
            sig.retain(|l| l.name != METRIC_NAME && !self.names.contains(&l.name));
        }
        sig
    }
}

impl<S: SeriesSource> Evaluator<'_, S> {
    pub(super) fn binary(&mut self, b: &BinaryExpr, steps: Steps) -> Result<Val, PromqlError> {
        let op_text = b.op.to_string();
        let op = Op::parse(&op_text).ok_or_else(|| {
            PromqlError::Unsupported(format!("binary operator {op_text:?} is not supported"))
        })?;
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs, steps)?;
        let rhs = self.eval(&b.rhs, steps)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&l, &r)| {
                        let (v, keep) = op.apply(l, r);
                        if op.is_comparison() {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => {
                Ok(Val::Vector(vector_scalar(op, v, &s, false, return_bool)))
            }
            (Val::Scalar(s), Val::Vector(v)) => {
                Ok(Val::Vector(vector_scalar(op, v, &s, true, return_bool)))
            }
            (Val::Vector(l), Val::Vector(r)) => {
                let modifier = b.modifier.as_ref();
                let (on, names): (bool, &[String]) =
                    match modifier.and_then(|m| m.matching.as_ref()) {
                        Some(LabelModifier::Include(l)) => (true, &l.labels),
                        Some(LabelModifier::Exclude(l)) => (false, &l.labels),
                        None => (false, &[]),
                    };
                let matching = Matching { on, names };
                let card = modifier.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
                let out = match op {
                    Op::And | Op::Or | Op::Unless => set_operation(op, l, r, &matching, steps),
                    _ => vector_vector(op, l, r, &matching, card, return_bool, steps)?,
                };
                Ok(Val::Vector(merge_same_labels(out)?))
            }
            _ => Err(PromqlError::BadQuery(format!(
                "binary operator {op_text:?} is only allowed between scalars and instant vectors"
            ))),
        }
    }
}

fn vector_scalar(
    op: Op,
    mut series: Vec<Series>,
    scalar: &[f64],
    scalar_on_left: bool,
    return_bool: bool,
) -> Vec<Series> {
    for s in &mut series {
        for (slot, &k) in s.values.iter_mut().zip(scalar) {
            let Some(v) = *slot else { continue };
            let (l, r) = if scalar_on_left { (k, v) } else { (v, k) };
            let (mut result, keep) = op.apply(l, r);
            // A comparison keeps the vector's value, whichever side it is on.
            if op.is_comparison() {
                result = v;
            }
            *slot = if return_bool {
                Some(if keep { 1.0 } else { 0.0 })
            } else if keep {
                Some(result)
            } else {
                None
            };
        }
        if op.changes_meaning() || return_bool {
            s.drop_name = true;
        }
    }
    series.retain(|s| s.values.iter().any(Option::is_some));
    series
}

/// `and`, `or`, `unless`: many-to-many by signature, per step.
fn set_operation(
    op: Op,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    matching: &Matching<'_>,
    steps: Steps,
) -> Vec<Series> {
    let n = steps.len();
    // Per signature, the steps at which the other side has a value.
    let presence = |side: &[Series]| {
        let mut map: HashMap<Labels, Vec<bool>> = HashMap::new();
        for s in side {
            let entry = map
                .entry(matching.signature(&s.labels))
                .or_insert_with(|| vec![false; n]);
            for (p, v) in entry.iter_mut().zip(&s.values) {
                *p |= v.is_some();
            }
        }
        map
    };
    match op {
        Op::And | Op::Unless => {
            let right = presence(&rhs);
            let keep_if_present = op == Op::And;
            let mut out = lhs;
            for s in &mut out {
                let present = right.get(&matching.signature(&s.labels));
                for (step, v) in s.values.iter_mut().enumerate() {
                    let matched = present.is_some_and(|p| p[step]);
                    if matched != keep_if_present {
                        *v = None;
                    }
                }
            }
            out.retain(|s| s.values.iter().any(Option::is_some));
            out
        }
        _ => {
            let left = presence(&lhs);
            let mut out = lhs;
            for mut s in rhs {
                if let Some(p) = left.get(&matching.signature(&s.labels)) {
                    for (step, v) in s.values.iter_mut().enumerate() {
                        if p[step] {
                            *v = None;
                        }
                    }
                }
                if s.values.iter().any(Option::is_some) {
                    out.push(s);
                }
            }
            out
        }
    }
}

/// Arithmetic and comparison between two vectors.
fn vector_vector(
    op: Op,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    matching: &Matching<'_>,
    card: &VectorMatchCardinality,
    return_bool: bool,
    steps: Steps,
) -> Result<Vec<Series>, PromqlError> {
    // group_right is group_left with the sides swapped; values are swapped back below.
    let (swapped, include): (bool, &[String]) = match card {
        VectorMatchCardinality::OneToMany(l) => (true, &l.labels),
        VectorMatchCardinality::ManyToOne(l) => (false, &l.labels),
        _ => (false, &[]),
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let one_sigs: Vec<Labels> = one.iter().map(|s| matching.signature(&s.labels)).collect();
    let many_sigs: Vec<Labels> = many.iter().map(|s| matching.signature(&s.labels)).collect();
    let n = steps.len();
    let mut out: Vec<Series> = Vec::new();
    let mut pair_index: HashMap<(usize, usize), usize> = HashMap::new();
    let mut result_labels: HashMap<(usize, usize), Labels> = HashMap::new();
    for step in 0..n {
        if !many.iter().any(|m| m.values[step].is_some()) {
            continue;
        }
        // The "one" side must be unique per match group at every step.
        let mut partner_of: HashMap<&Labels, usize> = HashMap::new();
        for (oi, o) in one.iter().enumerate() {
            if o.values[step].is_none() {
                continue;
            }
            if let Some(prev) = partner_of.insert(&one_sigs[oi], oi) {
                // Reported in label order so the message is the same whatever the input order.
                let (first, second) = if o.labels <= one[prev].labels {
                    (&o.labels, &one[prev].labels)
                } else {
                    (&one[prev].labels, &o.labels)
                };
                let side = if swapped { "left" } else { "right" };
                return Err(PromqlError::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    prom_string(&one_sigs[oi]),
                    prom_string(first),
                    prom_string(second)
                )));
            }
        }
        if partner_of.is_empty() {
            continue;
        }
        // Output label sets produced at this step per match group, to catch ambiguity.
        let mut produced: HashMap<&Labels, Vec<Labels>> = HashMap::new();
        let mut matched_one_to_one: HashMap<&Labels, ()> = HashMap::new();
        for (mi, m) in many.iter().enumerate() {
            let Some(mv) = m.values[step] else { continue };
            let sig = &many_sigs[mi];
            let partner = partner_of.get(sig).copied();
            let Some(oi) = partner else { continue };
            let ov = one[oi].values[step].unwrap_or(f64::NAN);
            let (l, r) = if swapped { (ov, mv) } else { (mv, ov) };
            let (value, keep) = op.apply(l, r);
            let labels = result_labels
                .entry((mi, oi))
                .or_insert_with(|| {
                    result_metric(
                        &m.labels,
                        &one[oi].labels,
                        op,
                        matching,
                        one_to_one,
                        include,
                    )
                })
                .clone();
            if one_to_one {
                if matched_one_to_one.insert(sig, ()).is_some() {
                    return Err(PromqlError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
            } else {
                let seen = produced.entry(sig).or_default();
                if seen.contains(&labels) {
                    return Err(PromqlError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                seen.push(labels.clone());
            }
            if !keep && !return_bool {
                continue;
            }
            let value = if return_bool {
                if keep { 1.0 } else { 0.0 }
            } else {
                value
            };
            let idx = *pair_index.entry((mi, oi)).or_insert_with(|| {
                out.push(Series {
                    labels,
                    drop_name: return_bool || m.drop_name,
                    values: vec![None; n],
                });
                out.len() - 1
            });
            out[idx].values[step] = Some(value);
        }
    }
    Ok(out)
}

/// The labels of a vector-vector result: the "many" side's, minus the metric name for
/// arithmetic, reduced to the matching labels for one-to-one `on`, without the ignored
/// labels for one-to-one `ignoring`, plus the `group_*` labels taken from the "one" side.
fn result_metric(
    many: &Labels,
    one: &Labels,
    op: Op,
    matching: &Matching<'_>,
    one_to_one: bool,
    include: &[String],
) -> Labels {
    let mut labels = many.clone();
    if op.changes_meaning() {
        labels.remove(METRIC_NAME);
    }
    if one_to_one {
        if matching.on {
            labels.retain(|l| matching.names.contains(&l.name));
        } else {
            labels.retain(|l| !matching.names.contains(&l.name));
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => labels.set(name, v.to_string()),
            None => labels.remove(name),
        }
    }
    labels
}
