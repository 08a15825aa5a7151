//! Delta → cumulative for monotonic sums and histograms, so that SDKs and collectors exporting
//! delta temporality (the StatsD receiver, SDKs with a delta preference) store Prometheus
//! counters and classic histograms that `rate()` and `histogram_quantile()` read as usual.
//!
//! Per series (the final label set), the running total since the series was first seen here.
//! A point not newer than the last one applied to its series (a duplicate, a retry of
//! something already stored, or a late point) is rejected (`delta_out_of_order`), which also
//! keeps exporter retries from counting twice. A histogram whose bounds change starts over from
//! the new point. Totals live in memory: a restart, or a series idle for longer than the TTL,
//! starts again from zero, which PromQL reads as a counter reset (`rate()`, `increase()` are
//! unaffected). At most `max_series` series are held; points of further series are rejected
//! (`delta_series_limit`).
//!
//! When a request's write fails, the totals it added are taken back, so that the exporter's
//! retry is counted once.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use storage::Labels;

/// Settings of the delta-to-cumulative accumulator.
#[derive(Debug, Clone)]
pub struct DeltaConfig {
    /// Most series held (default 100,000).
    pub max_series: usize,
    /// A series without points for this long is forgotten (default 1 h).
    pub idle_ttl: Duration,
}

impl Default for DeltaConfig {
    fn default() -> Self {
        DeltaConfig {
            max_series: 100_000,
            idle_ttl: Duration::from_secs(3600),
        }
    }
}

/// The running totals of one series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Total {
    Sum(f64),
    Histogram {
        bounds: Vec<f64>,
        /// Per bucket, not cumulative.
        counts: Vec<u64>,
        sum: Option<f64>,
        count: u64,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    total: Total,
    last_time_nanos: u64,
    last_seen_ms: i64,
}

/// What a request changed, to take back if its write fails: each series' entry before.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    changes: Vec<(Labels, Option<Entry>, u64)>,
}

impl Undo {
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Why a delta point was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaReject {
    OutOfOrder,
    SeriesLimit,
}

impl DeltaReject {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            DeltaReject::OutOfOrder => "delta_out_of_order",
            DeltaReject::SeriesLimit => "delta_series_limit",
        }
    }
}

pub(crate) struct DeltaAccumulator {
    series: Mutex<State>,
    config: DeltaConfig,
    gauge: prometheus::IntGauge,
}

struct State {
    map: HashMap<Labels, Entry>,
    last_sweep_ms: i64,
}

impl DeltaAccumulator {
    pub(crate) fn new(config: DeltaConfig, gauge: prometheus::IntGauge) -> Self {
        DeltaAccumulator {
            series: Mutex::new(State {
                map: HashMap::new(),
                last_sweep_ms: 0,
            }),
            config,
            gauge,
        }
    }

    /// Adds a point's delta to its series' total and returns the new total.
    pub(crate) fn add(
        &self,
        labels: &Labels,
        time_nanos: u64,
        delta: Total,
        now_ms: i64,
        undo: &mut Undo,
    ) -> Result<Total, DeltaReject> {
        let mut state = self.series.lock();
        self.sweep(&mut state, now_ms);
        let previous = state.map.get(labels).cloned();
        let total = match &previous {
            Some(e) if time_nanos <= e.last_time_nanos => return Err(DeltaReject::OutOfOrder),
            Some(e) => combine(&e.total, delta),
            None if state.map.len() >= self.config.max_series => {
                return Err(DeltaReject::SeriesLimit);
            }
            None => delta,
        };
        state.map.insert(
            labels.clone(),
            Entry {
                total: total.clone(),
                last_time_nanos: time_nanos,
                last_seen_ms: now_ms,
            },
        );
        self.gauge
            .set(i64::try_from(state.map.len()).unwrap_or(i64::MAX));
        undo.changes.push((labels.clone(), previous, time_nanos));
        Ok(total)
    }

    /// Takes back what a request added (its write failed). A series that another request
    /// has moved on since is left as it is.
    pub(crate) fn revert(&self, undo: Undo) {
        let mut state = self.series.lock();
        for (labels, previous, time) in undo.changes.into_iter().rev() {
            let ours = state
                .map
                .get(&labels)
                .is_some_and(|e| e.last_time_nanos == time);
            if !ours {
                continue;
            }
            match previous {
                Some(entry) => {
                    state.map.insert(labels, entry);
                }
                None => {
                    state.map.remove(&labels);
                }
            }
        }
        self.gauge
            .set(i64::try_from(state.map.len()).unwrap_or(i64::MAX));
    }

    /// Forgets idle series, at most once a minute.
    fn sweep(&self, state: &mut State, now_ms: i64) {
        if now_ms.saturating_sub(state.last_sweep_ms) < 60_000 {
            return;
        }
        state.last_sweep_ms = now_ms;
        let ttl = i64::try_from(self.config.idle_ttl.as_millis()).unwrap_or(i64::MAX);
        state
            .map
            .retain(|_, e| now_ms.saturating_sub(e.last_seen_ms) <= ttl);
        self.gauge
            .set(i64::try_from(state.map.len()).unwrap_or(i64::MAX));
    }
}

fn combine(total: &Total, delta: Total) -> Total {
    match (total, delta) {
        (Total::Sum(a), Total::Sum(b)) => Total::Sum(a + b),
        (
            Total::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Total::Histogram {
                bounds: new_bounds,
                counts: new_counts,
                sum: new_sum,
                count: new_count,
            },
        ) if *bounds == new_bounds && counts.len() == new_counts.len() => Total::Histogram {
            counts: counts
                .iter()
                .zip(&new_counts)
                .map(|(a, b)| a.saturating_add(*b))
                .collect(),
            sum: match (sum, new_sum) {
                (Some(a), Some(b)) => Some(a + b),
                // a point without a sum leaves the total without one from then on
                _ => None,
            },
            count: count.saturating_add(new_count),
            bounds: new_bounds,
        },
        // The series changed shape (other bounds, or another type under the same labels):
        // start over from this point.
        (_, delta) => delta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(max: usize) -> DeltaAccumulator {
        DeltaAccumulator::new(
            DeltaConfig {
                max_series: max,
                idle_ttl: Duration::from_secs(3600),
            },
            prometheus::IntGauge::new("g", "g").unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn labels(v: &str) -> Labels {
        Labels::from_pairs([("__name__", "c_total"), ("k", v)])
    }

    #[test]
    fn sums_accumulate_in_order_and_revert() {
        let a = acc(10);
        let mut undo = Undo::default();
        let l = labels("a");
        assert_eq!(
            a.add(&l, 10, Total::Sum(2.0), 0, &mut undo),
            Ok(Total::Sum(2.0))
        );
        assert_eq!(
            a.add(&l, 20, Total::Sum(3.0), 0, &mut undo),
            Ok(Total::Sum(5.0))
        );
        // a duplicate or late point is refused
        assert_eq!(
            a.add(&l, 20, Total::Sum(3.0), 0, &mut undo),
            Err(DeltaReject::OutOfOrder)
        );
        let mut second = Undo::default();
        assert_eq!(
            a.add(&l, 30, Total::Sum(1.0), 0, &mut second),
            Ok(Total::Sum(6.0))
        );
        a.revert(second);
        let mut third = Undo::default();
        assert_eq!(
            a.add(&l, 30, Total::Sum(1.0), 0, &mut third),
            Ok(Total::Sum(6.0)),
            "the reverted point is applied again when retried"
        );
        a.revert(third);
        a.revert(undo);
        let mut fresh = Undo::default();
        assert_eq!(
            a.add(&l, 5, Total::Sum(1.0), 0, &mut fresh),
            Ok(Total::Sum(1.0)),
            "everything reverted: the series is new again"
        );
    }

    #[test]
    fn histograms_accumulate_and_restart_on_new_bounds() {
        let a = acc(10);
        let mut undo = Undo::default();
        let l = labels("h");
        let h = |bounds: Vec<f64>, counts: Vec<u64>, sum: Option<f64>| Total::Histogram {
            count: counts.iter().sum(),
            bounds,
            counts,
            sum,
        };
        a.add(&l, 1, h(vec![1.0], vec![1, 2], Some(3.0)), 0, &mut undo)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            a.add(&l, 2, h(vec![1.0], vec![0, 1], Some(2.0)), 0, &mut undo),
            Ok(h(vec![1.0], vec![1, 3], Some(5.0)))
        );
        assert_eq!(
            a.add(&l, 3, h(vec![1.0], vec![1, 0], None), 0, &mut undo),
            Ok(h(vec![1.0], vec![2, 3], None))
        );
        assert_eq!(
            a.add(&l, 4, h(vec![2.0], vec![1, 0], None), 0, &mut undo),
            Ok(h(vec![2.0], vec![1, 0], None))
        );
    }

    #[test]
    fn series_limit_and_idle_expiry() {
        let a = acc(1);
        let mut undo = Undo::default();
        assert!(
            a.add(&labels("a"), 1, Total::Sum(1.0), 0, &mut undo)
                .is_ok()
        );
        assert_eq!(
            a.add(&labels("b"), 1, Total::Sum(1.0), 0, &mut undo),
            Err(DeltaReject::SeriesLimit)
        );
        // two hours later "a" is idle and forgotten: room for "b"
        let later = 2 * 3600 * 1000;
        assert_eq!(
            a.add(&labels("b"), 2, Total::Sum(1.0), later, &mut undo),
            Ok(Total::Sum(1.0))
        );
        assert_eq!(a.gauge.get(), 1);
    }
}
