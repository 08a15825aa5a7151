//! Reading series: instant-vector selectors with lookback and staleness, and the windows of
//! range-vector arguments (matrix selectors and subqueries).

use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};
use storage::{Labels, Sample, SeriesRef, is_stale_nan};

use super::{
    DEFAULT_SUBQUERY_STEP_MS, Evaluator, RangeValue, Series, Steps, Val, duration_ms, offset_ms,
};
use crate::promql::{PromqlError, SeriesSource};

/// One series of a range-vector argument with the samples every window may need.
pub(super) struct RangeInput<'r> {
    pub(super) labels: &'r Labels,
    pub(super) drop_name: bool,
    /// Sorted by time, without staleness markers.
    pub(super) samples: &'r [Sample],
}

/// The window `(lo, hi]` (ms) each step of a range-vector argument reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) lo: i64,
    pub(super) hi: i64,
}

/// Below this many series a range function runs on the query's own thread.
const PARALLEL_MIN_SERIES: usize = 64;

/// The samples of each window in turn. Windows never move backwards (steps ascend, or stay
/// put with `@`), so two cursors replace a search per step.
pub(super) fn windowed<'s>(
    samples: &'s [Sample],
    windows: &'s [Window],
) -> impl Iterator<Item = &'s [Sample]> + 's {
    let (mut from, mut to) = (0, 0);
    windows.iter().map(move |w| {
        while to < samples.len() && samples[to].t <= w.hi {
            to += 1;
        }
        while from < to && samples[from].t <= w.lo {
            from += 1;
        }
        &samples[from..to]
    })
}

impl Window {
    /// The samples of `samples` (sorted) inside the window.
    pub(super) fn slice<'s>(&self, samples: &'s [Sample]) -> &'s [Sample] {
        let from = samples.partition_point(|s| s.t <= self.lo);
        let to = samples.partition_point(|s| s.t <= self.hi);
        &samples[from..to.max(from)]
    }
}

impl<S: SeriesSource> Evaluator<'_, S> {
    /// Series matching any of the selector's matcher sets in `[mint, maxt]`, sorted by
    /// labels, each once.
    fn select(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesRef>, PromqlError> {
        let sets = crate::selector::to_matcher_sets(vs).map_err(PromqlError::BadQuery)?;
        let all = crate::read::select_union(self.source, &sets, mint, maxt)?;
        if let Some(limit) = self.max_series
            && all.len() > limit
        {
            return Err(PromqlError::TooManySeries {
                selector: vs.to_string(),
                selected: all.len(),
                limit,
            });
        }
        Ok(all)
    }

    /// The evaluation time of each step for a selector with this `@` and offset.
    fn reference_times(
        &self,
        at: Option<i64>,
        offset: i64,
        steps: Steps,
    ) -> impl Iterator<Item = i64> + use<S> {
        steps
            .iter()
            .map(move |(_, ts)| at.unwrap_or(ts).saturating_sub(offset))
    }

    /// An instant-vector selector over `steps`: for each step, the newest sample within the
    /// lookback delta, unless it is a staleness marker. With `timestamps`, each value is the
    /// sample's timestamp in seconds instead (for `timestamp()`).
    pub(super) fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        steps: Steps,
        timestamps: bool,
    ) -> Result<Vec<Series>, PromqlError> {
        let at = self.at_ms(&vs.at);
        let offset = offset_ms(&vs.offset);
        let refs: Vec<i64> = self.reference_times(at, offset, steps).collect();
        let (first, last) = (refs[0], refs[refs.len() - 1]);
        let mint = first.saturating_sub(self.lookback).saturating_add(1);
        let selected = self.select(vs, mint, last)?;
        let lookback = self.lookback;
        let source = self.source;
        let out = self.map_series(&selected, |series| {
            let samples = source.samples(series.id, mint, last)?;
            let mut values = vec![None; refs.len()];
            let mut next = 0;
            let mut found = false;
            for (value, &r) in values.iter_mut().zip(&refs) {
                // `refs` ascend (or repeat, with `@`), so the cursor only moves forward.
                while next < samples.len() && samples[next].t <= r {
                    next += 1;
                }
                if next == 0 {
                    continue;
                }
                let s = samples[next - 1];
                if s.t > r - lookback && !is_stale_nan(s.v) {
                    *value = Some(if timestamps { s.t as f64 / 1000.0 } else { s.v });
                    found = true;
                }
            }
            Ok(found.then(|| Series {
                labels: series.labels.as_ref().clone(),
                drop_name: false,
                values,
            }))
        })?;
        self.charge(out.iter().map(|s| s.values.iter().flatten().count()).sum())?;
        Ok(out)
    }

    /// Applies `each` to every selected series and keeps what it returns, in series order.
    /// With enough series the work (mostly reading and decoding samples) is spread over all
    /// cores, in contiguous slices so the order is kept.
    fn map_series<R: Send>(
        &self,
        selected: &[SeriesRef],
        each: impl Fn(&SeriesRef) -> Result<Option<R>, PromqlError> + Sync,
    ) -> Result<Vec<R>, PromqlError> {
        let deadline = self.deadline;
        let run = |part: &[SeriesRef]| -> Result<Vec<R>, PromqlError> {
            let mut out = Vec::with_capacity(part.len());
            for series in part {
                if std::time::Instant::now() > deadline {
                    return Err(PromqlError::Timeout {
                        stage: "query execution",
                    });
                }
                if let Some(r) = each(series)? {
                    out.push(r);
                }
            }
            Ok(out)
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || selected.len() < PARALLEL_MIN_SERIES {
            return run(selected);
        }
        let chunk = selected.len().div_ceil(threads);
        let parts: Vec<Result<Vec<R>, PromqlError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = selected
                .chunks(chunk)
                .map(|part| scope.spawn(|| run(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(PromqlError::Execution(
                            "a series worker thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(selected.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }

    /// Applies `each` to every series of the range-vector argument `arg` (a matrix selector or
    /// a subquery) with the window of every step, and collects what it returns, in series
    /// order. A matrix selector's series are read and computed on several threads when there
    /// are enough of them, each thread holding one series' samples at a time.
    pub(super) fn map_range_series<R: Send>(
        &mut self,
        arg: &Expr,
        steps: Steps,
        each: impl Fn(RangeInput<'_>, &[Window]) -> R + Sync,
    ) -> Result<Vec<R>, PromqlError> {
        match unwrap_parens(arg) {
            Expr::MatrixSelector(ms) => {
                let windows = self.windows(&ms.vs.at, offset_ms(&ms.vs.offset), ms, steps);
                let mint = windows[0].lo.saturating_add(1);
                let maxt = windows[windows.len() - 1].hi;
                let selected = self.select(&ms.vs, mint, maxt)?;
                let source = self.source;
                self.map_series(&selected, |series| {
                    let mut samples = source.samples(series.id, mint, maxt)?;
                    samples.retain(|s| !is_stale_nan(s.v));
                    if samples.is_empty() {
                        return Ok(None);
                    }
                    let input = RangeInput {
                        labels: &series.labels,
                        drop_name: false,
                        samples: &samples,
                    };
                    Ok(Some(each(input, &windows)))
                })
            }
            Expr::Subquery(sq) => {
                let inner = self.subquery(sq, steps)?;
                let at = self.at_ms(&sq.at);
                let range = duration_ms(sq.range);
                let windows: Vec<Window> = self
                    .reference_times(at, offset_ms(&sq.offset), steps)
                    .map(|hi| Window {
                        lo: hi.saturating_sub(range),
                        hi,
                    })
                    .collect();
                let held: usize = inner.iter().map(|s| s.samples.len()).sum();
                let mut out = Vec::with_capacity(inner.len());
                for s in &inner {
                    self.check_deadline()?;
                    out.push(each(
                        RangeInput {
                            labels: &s.labels,
                            drop_name: s.drop_name,
                            samples: &s.samples,
                        },
                        &windows,
                    ));
                }
                self.release(held);
                Ok(out)
            }
            other => Err(PromqlError::BadQuery(format!(
                "expected a range vector, got {other}"
            ))),
        }
    }

    fn windows(
        &self,
        at: &Option<promql_parser::parser::AtModifier>,
        offset: i64,
        ms: &MatrixSelector,
        steps: Steps,
    ) -> Vec<Window> {
        let at = self.at_ms(at);
        let range = duration_ms(ms.range);
        self.reference_times(at, offset, steps)
            .map(|hi| Window {
                lo: hi.saturating_sub(range),
                hi,
            })
            .collect()
    }

    /// A range vector as a value (an instant query of `x[5m]` or `x[5m:1m]`), at the single
    /// step of `steps`.
    pub(super) fn range_vector_value(
        &mut self,
        expr: &Expr,
        steps: Steps,
    ) -> Result<Vec<RangeValue>, PromqlError> {
        let out: Vec<RangeValue> = self
            .map_range_series(expr, steps, |input, windows| RangeValue {
                labels: input.labels.clone(),
                drop_name: input.drop_name,
                samples: windows[0].slice(input.samples).to_vec(),
            })?
            .into_iter()
            .filter(|r| !r.samples.is_empty())
            .collect();
        self.charge(out.iter().map(|r| r.samples.len()).sum())?;
        Ok(out)
    }

    /// Evaluates a subquery's inner expression at its own steps: aligned to multiples of its
    /// step, from just after the earliest window start to the latest window end.
    fn subquery(
        &mut self,
        sq: &SubqueryExpr,
        steps: Steps,
    ) -> Result<Vec<RangeValue>, PromqlError> {
        let step = sq
            .step
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
        let at = self.at_ms(&sq.at);
        let offset = offset_ms(&sq.offset);
        let range = duration_ms(sq.range);
        let (first, last) = match at {
            Some(at) => (at - offset, at - offset),
            None => (steps.start - offset, steps.end - offset),
        };
        let earliest = first - range;
        let inner = Steps {
            start: earliest.div_euclid(step) * step + step,
            end: last,
            step,
        };
        if inner.start > inner.end {
            return Ok(Vec::new());
        }
        let out = match self.eval(&sq.expr, inner)? {
            Val::Scalar(values) => vec![RangeValue {
                labels: Labels::default(),
                drop_name: false,
                samples: values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Sample { t: inner.ts(i), v })
                    .collect(),
            }],
            Val::Vector(series) => series
                .into_iter()
                .map(|s| RangeValue {
                    samples: s
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Sample { t: inner.ts(i), v }))
                        .collect(),
                    labels: s.labels,
                    drop_name: s.drop_name,
                })
                .filter(|r| !r.samples.is_empty())
                .collect(),
            _ => {
                return Err(PromqlError::BadQuery(
                    "subquery is only allowed on instant vector or scalar expressions".into(),
                ));
            }
        };
        Ok(out)
    }
}

/// The expression inside any parentheses.
pub(super) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}
