//! Functions over a range vector's window of samples (`rate`, `*_over_time`, …), computed as
//! Prometheus computes them for float samples (native histograms are not handled here).
//!
//! A window is what Prometheus calls one series of the matrix argument: the samples with
//! `range_start < t <= range_end`. Prometheus never calls a function for a series without
//! samples in the window, so an empty window gives no output here either.

use storage::Sample;

use super::stats::{self, CompensatedVariance, KahanSum, Mean};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFunction {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    DoubleExponentialSmoothing,
    Changes,
    Resets,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    QuantileOverTime,
    StddevOverTime,
    StdvarOverTime,
    MadOverTime,
    LastOverTime,
    FirstOverTime,
    PresentOverTime,
    TsOfMinOverTime,
    TsOfMaxOverTime,
    TsOfFirstOverTime,
    TsOfLastOverTime,
}

impl RangeFunction {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        use RangeFunction::*;
        Some(match name {
            "rate" => Rate,
            "increase" => Increase,
            "delta" => Delta,
            "irate" => Irate,
            "idelta" => Idelta,
            "deriv" => Deriv,
            "predict_linear" => PredictLinear,
            "double_exponential_smoothing" => DoubleExponentialSmoothing,
            "changes" => Changes,
            "resets" => Resets,
            "avg_over_time" => AvgOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "sum_over_time" => SumOverTime,
            "count_over_time" => CountOverTime,
            "quantile_over_time" => QuantileOverTime,
            "stddev_over_time" => StddevOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "mad_over_time" => MadOverTime,
            "last_over_time" => LastOverTime,
            "first_over_time" => FirstOverTime,
            "present_over_time" => PresentOverTime,
            "ts_of_min_over_time" => TsOfMinOverTime,
            "ts_of_max_over_time" => TsOfMaxOverTime,
            "ts_of_first_over_time" => TsOfFirstOverTime,
            "ts_of_last_over_time" => TsOfLastOverTime,
            _ => return None,
        })
    }

    /// The function's value for one window, or `None` for no output sample.
    ///
    /// `window`: the samples with `range_start < t <= range_end` (ms), sorted by time, without
    /// staleness markers. `params`: the scalar arguments at this step, in call order without
    /// the range vector (`predict_linear`: `[t]`; `quantile_over_time`: `[q]`;
    /// `double_exponential_smoothing`: `[sf, tf]`), already validated by the evaluator.
    ///
    /// `predict_linear` predicts `t` seconds after the *evaluation* timestamp, which is not
    /// `range_end` under `offset` or `@` (functions.test: `predict_linear(x[55m] @ 3000, 3600)`
    /// at 10m predicts for 600 s + 3600 s). Pass the evaluation timestamp in ms as a second
    /// parameter, `[t, eval_ms]`, or call [`predict_linear`] directly; with `[t]` alone
    /// `range_end` stands in for it.
    pub(crate) fn apply(
        self,
        window: &[Sample],
        range_start: i64,
        range_end: i64,
        params: &[f64],
    ) -> Option<f64> {
        use RangeFunction::*;
        let (first, last) = (window.first()?, window.last()?);
        let value = match self {
            Rate => return extrapolated_rate(window, range_start, range_end, true, true),
            Increase => return extrapolated_rate(window, range_start, range_end, true, false),
            Delta => return extrapolated_rate(window, range_start, range_end, false, false),
            Irate => return instant_value(window, true),
            Idelta => return instant_value(window, false),
            Deriv => {
                if window.len() < 2 {
                    return None;
                }
                // Regressing around the first sample's time rather than 0 keeps x small, which
                // avoids cancellation in the sums (prometheus/prometheus#2674).
                linear_regression(window, first.t).0
            }
            PredictLinear => {
                let duration = *params.first()?;
                let eval_ms = params.get(1).map_or(range_end, |&ms| ms as i64);
                return predict_linear(window, eval_ms, duration);
            }
            DoubleExponentialSmoothing => {
                return double_exponential_smoothing(window, *params.first()?, *params.get(1)?);
            }
            Changes => count_pairs(window, |prev, cur| {
                prev != cur && !(prev.is_nan() && cur.is_nan())
            }),
            Resets => count_pairs(window, |prev, cur| cur < prev),
            AvgOverTime => {
                let mut mean = Mean::new();
                window.iter().for_each(|s| mean.add(s.v));
                mean.value()
            }
            // A NaN current extreme is always replaced, so NaN only wins when every value is NaN.
            MinOverTime => extreme(window, |cur, best| cur < best || best.is_nan()).v,
            MaxOverTime => extreme(window, |cur, best| cur > best || best.is_nan()).v,
            SumOverTime => {
                let mut sum = KahanSum::new();
                window.iter().for_each(|s| sum.add(s.v));
                sum.value()
            }
            CountOverTime => window.len() as f64,
            QuantileOverTime => {
                let q = *params.first()?;
                stats::quantile(q, &mut values(window))
            }
            StddevOverTime => variance(window).stddev(),
            StdvarOverTime => variance(window).stdvar(),
            MadOverTime => stats::mad(&mut values(window)),
            LastOverTime => last.v,
            FirstOverTime => first.v,
            PresentOverTime => 1.0,
            // `<=`/`>=`: ties go to the latest sample.
            TsOfMinOverTime => seconds(extreme(window, |cur, best| cur <= best || best.is_nan()).t),
            TsOfMaxOverTime => seconds(extreme(window, |cur, best| cur >= best || best.is_nan()).t),
            TsOfFirstOverTime => seconds(first.t),
            TsOfLastOverTime => seconds(last.t),
        };
        Some(value)
    }
}

/// `predict_linear`: the value the least-squares line through `window` reaches `duration`
/// seconds after `eval_ms`, the evaluation timestamp (not the end of the range). `None` with
/// fewer than two samples.
pub(crate) fn predict_linear(window: &[Sample], eval_ms: i64, duration: f64) -> Option<f64> {
    if window.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(window, eval_ms);
    Some(slope * duration + intercept)
}

/// A millisecond timestamp in seconds, divided as Prometheus divides it.
fn seconds(t_ms: i64) -> f64 {
    t_ms as f64 / 1000.0
}

fn values(window: &[Sample]) -> Vec<f64> {
    window.iter().map(|s| s.v).collect()
}

fn variance(window: &[Sample]) -> CompensatedVariance {
    let mut v = CompensatedVariance::new();
    window.iter().for_each(|s| v.add(s.v));
    v
}

/// The sample that wins a scan starting from the first sample, where `replaces(cur, best)`
/// decides whether `cur` takes over. `window` must not be empty.
fn extreme(window: &[Sample], replaces: impl Fn(f64, f64) -> bool) -> Sample {
    let mut best = window[0];
    for s in window {
        if replaces(s.v, best.v) {
            best = *s;
        }
    }
    best
}

fn count_pairs(window: &[Sample], counts: impl Fn(f64, f64) -> bool) -> f64 {
    window
        .windows(2)
        .filter(|pair| counts(pair[0].v, pair[1].v))
        .count() as f64
}

/// Go's `time.Duration.Seconds()` for a range given in ms: whole seconds plus the nanosecond
/// remainder divided separately, which can differ in the last bit from `ms / 1000.0`.
fn range_seconds(range_ms: i64) -> f64 {
    let nanos = i128::from(range_ms) * 1_000_000;
    let (secs, rem) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    secs as f64 + rem as f64 / 1e9
}

/// `rate`, `increase` and `delta`: the change over the window, corrected for counter resets
/// (counters only) and extrapolated towards the range boundaries.
///
/// Extrapolation reaches a boundary only if the first/last sample is within 110% of the average
/// sample spacing from it; otherwise the series is assumed to start/end inside the range and the
/// result is extrapolated by half a spacing. A counter is further never extrapolated below zero:
/// if the line through the samples reaches zero before the start boundary, that is where the
/// counter is assumed to have started.
fn extrapolated_rate(
    window: &[Sample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = match window {
        [first, .., last] => (*first, *last),
        _ => return None,
    };
    let mut result = last.v - first.v;
    if is_counter {
        // After a reset the counter restarted from 0, so everything counted before the drop
        // belongs to the increase too.
        for pair in window.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }

    let mut duration_to_start = first.t.wrapping_sub(range_start) as f64 / 1000.0;
    let mut duration_to_end = range_end.wrapping_sub(last.t) as f64 / 1000.0;
    let sampled_interval = last.t.wrapping_sub(first.t) as f64 / 1000.0;
    let average_spacing = sampled_interval / (window.len() - 1) as f64;
    let threshold = average_spacing * 1.1;

    if duration_to_start >= threshold {
        duration_to_start = average_spacing / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_spacing / 2.0;
    }

    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= range_seconds(range_end.wrapping_sub(range_start));
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples only. For `irate`, a drop is a counter reset
/// and the newer value itself is the increase.
fn instant_value(window: &[Sample], is_rate: bool) -> Option<f64> {
    let (previous, last) = match window {
        [.., previous, last] => (*previous, *last),
        _ => return None,
    };
    let interval_ms = last.t.wrapping_sub(previous.t);
    if interval_ms == 0 {
        return None;
    }
    let mut result = if is_rate && last.v < previous.v {
        last.v
    } else {
        last.v - previous.v
    };
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares fit of value over time in seconds relative to `intercept_ms`; returns the slope
/// (per second) and the value at `intercept_ms`. All sums are Kahan-compensated.
///
/// Constant values give an exact slope of 0 (the general formula can produce rounding noise),
/// except constant infinities, for which no line exists: NaN.
fn linear_regression(window: &[Sample], intercept_ms: i64) -> (f64, f64) {
    let init_y = window[0].v;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, s) in window.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        // Go's int64 arithmetic wraps; so does this, instead of panicking on absurd times.
        let x = s.t.wrapping_sub(intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = stats::kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = stats::kahan_sum_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = stats::kahan_sum_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = stats::kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Holt's linear (double exponential) smoothing with smoothing factor `sf` and trend factor
/// `tf`; `None` with fewer than two samples. The initial trend is the first difference.
fn double_exponential_smoothing(window: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    let (first, second) = match window {
        [first, second, ..] => (first.v, second.v),
        _ => return None,
    };
    // `s1` is the latest smoothed value, `s0` the one before, `b` the trend.
    let (mut s0, mut s1, mut b) = (0.0, first, second - first);
    for (i, s) in window.iter().enumerate().skip(1) {
        let x = sf * s.v;
        // The first step keeps the initial trend; later ones blend the last smoothed change
        // into it.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeFunction as F;
    use proptest::prelude::*;

    const MINUTE: i64 = 60_000;

    /// Samples `start, start+step, …` at `0, interval, 2·interval, …` ms, as a promqltest
    /// `load <interval>` line `start+stepxN` produces.
    fn series(interval_ms: i64, values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample {
                t: i as i64 * interval_ms,
                v,
            })
            .collect()
    }

    fn seq(start: f64, step: f64, times: usize) -> Vec<f64> {
        (0..=times).map(|i| start + step * i as f64).collect()
    }

    /// Evaluates `f(series[range])` at `at` ms the way the evaluator would: selecting the
    /// samples in `(at - range, at]`.
    fn eval(f: F, samples: &[Sample], at: i64, range: i64, params: &[f64]) -> Option<f64> {
        let (start, end) = (at - range, at);
        let window: Vec<Sample> = samples
            .iter()
            .filter(|s| s.t > start && s.t <= end)
            .copied()
            .collect();
        f.apply(&window, start, end, params)
    }

    fn assert_close(got: Option<f64>, want: f64) {
        let got = got.unwrap_or_else(|| panic!("no result, want {want}"));
        let ok =
            (got.is_nan() && want.is_nan()) || got == want || ((got - want) / want).abs() < 1e-9;
        assert!(ok, "got {got}, want {want}");
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "rate",
            "increase",
            "delta",
            "irate",
            "idelta",
            "deriv",
            "predict_linear",
            "double_exponential_smoothing",
            "changes",
            "resets",
            "avg_over_time",
            "min_over_time",
            "max_over_time",
            "sum_over_time",
            "count_over_time",
            "quantile_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "mad_over_time",
            "last_over_time",
            "first_over_time",
            "present_over_time",
            "ts_of_min_over_time",
            "ts_of_max_over_time",
            "ts_of_first_over_time",
            "ts_of_last_over_time",
        ] {
            assert!(F::from_name(name).is_some(), "{name}");
        }
        assert_eq!(F::from_name("abs"), None);
        assert_eq!(F::from_name("absent_over_time"), None);
    }

    #[test]
    fn empty_window_has_no_result() {
        let all = [
            F::Rate,
            F::Increase,
            F::Delta,
            F::Irate,
            F::Idelta,
            F::Deriv,
            F::PredictLinear,
            F::DoubleExponentialSmoothing,
            F::Changes,
            F::Resets,
            F::AvgOverTime,
            F::MinOverTime,
            F::MaxOverTime,
            F::SumOverTime,
            F::CountOverTime,
            F::QuantileOverTime,
            F::StddevOverTime,
            F::StdvarOverTime,
            F::MadOverTime,
            F::LastOverTime,
            F::FirstOverTime,
            F::PresentOverTime,
            F::TsOfMinOverTime,
            F::TsOfMaxOverTime,
            F::TsOfFirstOverTime,
            F::TsOfLastOverTime,
        ];
        for f in all {
            assert_eq!(f.apply(&[], 0, 1000, &[0.5, 0.5]), None, "{f:?}");
        }
    }

    // functions.test, "Tests for resets()" and "Tests for changes()".
    #[test]
    fn resets_and_changes() {
        let foo = series(
            5 * MINUTE,
            &[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0],
        );
        let bar = series(
            5 * MINUTE,
            &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        );
        let biz = series(
            5 * MINUTE,
            &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        );
        let at = 50 * MINUTE;
        for (range, want) in [
            (10, [0.0, 0.0, 0.0]),
            (20, [1.0, 0.0, 0.0]),
            (32, [2.0, 1.0, 0.0]),
            (50, [3.0, 1.0, 0.0]),
        ] {
            for (s, w) in [&foo, &bar, &biz].into_iter().zip(want) {
                assert_eq!(
                    eval(F::Resets, s, at, range * MINUTE, &[]),
                    Some(w),
                    "resets [{range}m]"
                );
            }
        }
        // The ten samples end at 45m, so `[5m]` at 50m is empty.
        assert_eq!(eval(F::Resets, &foo, at, 5 * MINUTE, &[]), None);
        assert_eq!(eval(F::Changes, &foo, at, 5 * MINUTE, &[]), None);
        for (range, want) in [
            (6, [0.0, 0.0, 0.0]),
            (20, [2.0, 2.0, 0.0]),
            (30, [3.0, 4.0, 0.0]),
            (50, [7.0, 8.0, 1.0]),
        ] {
            for (s, w) in [&foo, &bar, &biz].into_iter().zip(want) {
                assert_eq!(
                    eval(F::Changes, s, at, range * MINUTE, &[]),
                    Some(w),
                    "changes [{range}m]"
                );
            }
        }
        let nan = f64::NAN;
        assert_eq!(
            eval(
                F::Changes,
                &series(5 * MINUTE, &[nan, nan, nan]),
                15 * MINUTE,
                20 * MINUTE,
                &[]
            ),
            Some(0.0)
        );
        assert_eq!(
            eval(
                F::Changes,
                &series(5 * MINUTE, &[0.0, nan, 0.0]),
                15 * MINUTE,
                20 * MINUTE,
                &[]
            ),
            Some(2.0)
        );
    }

    // functions.test, "Tests for increase()".
    #[test]
    fn increase_extrapolates_and_stops_at_zero() {
        let interval = 5 * MINUTE;
        let foo = series(interval, &seq(0.0, 10.0, 10));
        let mut bar_values = seq(0.0, 18.0, 5);
        bar_values.extend(seq(0.0, 18.0, 5));
        let bar = series(interval, &bar_values);
        let dings = series(interval, &seq(10.0, 10.0, 10));
        let bumms = series(interval, &seq(1.0, 10.0, 10));
        let at = 50 * MINUTE;
        for (s, want) in [
            (&foo, 100.0),
            (&bar, 160.0),
            (&dings, 100.0),
            (&bumms, 100.0),
        ] {
            assert_close(eval(F::Increase, s, at, 50 * MINUTE, &[]), want);
        }
        for (s, want) in [
            (&foo, 100.0),
            (&bar, 162.0),
            (&dings, 105.0),
            (&bumms, 101.0),
        ] {
            assert_close(eval(F::Increase, s, at, 100 * MINUTE, &[]), want);
        }
        let reset = series(interval, &[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
        assert_close(
            eval(F::Increase, &reset, 30 * MINUTE, 30 * MINUTE, &[]),
            7.0,
        );
    }

    // functions.test, "Tests for rate()".
    #[test]
    fn rate_matches_functions_test() {
        let interval = 5 * MINUTE;
        let mut middle = seq(0.0, 27.0, 4);
        middle.extend(seq(0.0, 27.0, 5));
        assert_close(
            eval(
                F::Rate,
                &series(interval, &middle),
                50 * MINUTE,
                50 * MINUTE,
                &[],
            ),
            0.08,
        );

        let mut end = seq(0.0, 10.0, 9);
        end.extend([0.0, 10.0]);
        let end = series(interval, &end);
        assert_eq!(eval(F::Rate, &end, 50 * MINUTE, 5 * MINUTE, &[]), None);
        assert_close(eval(F::Rate, &end, 50 * MINUTE, 6 * MINUTE, &[]), 0.0);

        let window = series(interval, &seq(0.0, 80.0, 10));
        assert_close(
            eval(F::Rate, &window, 50 * MINUTE, 50 * MINUTE, &[]),
            0.26666666666666666,
        );

        // rate(x[10m] offset 5m) at 50m: the range is (35m, 45m].
        let a = series(interval, &seq(0.0, 10.0, 10));
        let b = series(interval, &seq(0.0, 20.0, 10));
        assert_close(
            eval(F::Rate, &a, 45 * MINUTE, 10 * MINUTE, &[]),
            0.03333333333333333,
        );
        assert_close(
            eval(F::Rate, &b, 45 * MINUTE, 10 * MINUTE, &[]),
            0.06666666666666667,
        );
    }

    // functions.test, testcounter_zero_cutoff_total.
    #[test]
    fn rate_zero_cutoff() {
        let interval = 4 * MINUTE;
        let starts = [0.0, 60.0, 120.0, 180.0, 240.0, 300.0];
        let at_10m = [0.5, 0.55, 0.6, 0.6, 0.6, 0.6];
        for (start, want) in starts.into_iter().zip(at_10m) {
            let s = series(interval, &seq(start, 240.0, 10));
            assert_close(eval(F::Rate, &s, 10 * MINUTE, 20 * MINUTE, &[]), want);
            assert_close(eval(F::Rate, &s, 50 * MINUTE, 20 * MINUTE, &[]), 0.6);
        }
    }

    // functions.test, "Tests for delta()".
    #[test]
    fn delta_is_not_a_counter() {
        let foo = series(5 * MINUTE, &[0.0, 50.0, 100.0, 150.0, 200.0]);
        let bar = series(5 * MINUTE, &[200.0, 150.0, 100.0, 50.0, 0.0]);
        assert_close(eval(F::Delta, &foo, 20 * MINUTE, 20 * MINUTE, &[]), 200.0);
        assert_close(eval(F::Delta, &bar, 20 * MINUTE, 20 * MINUTE, &[]), -200.0);
        assert_eq!(F::Delta.apply(&foo[..1], -1, 0, &[]), None);
    }

    // functions.test, "Tests for irate()" and "Tests for idelta()".
    #[test]
    fn instant_rates() {
        let foo = series(5 * MINUTE, &seq(0.0, 10.0, 10));
        let mut bar_values = seq(0.0, 10.0, 5);
        bar_values.extend(seq(0.0, 10.0, 5));
        let bar = series(5 * MINUTE, &bar_values);
        assert_close(
            eval(F::Irate, &foo, 50 * MINUTE, 50 * MINUTE, &[]),
            0.03333333333333333,
        );
        assert_close(
            eval(F::Irate, &bar, 50 * MINUTE, 50 * MINUTE, &[]),
            0.03333333333333333,
        );
        assert_close(
            eval(F::Irate, &foo, 30 * MINUTE, 50 * MINUTE, &[]),
            0.03333333333333333,
        );
        assert_close(eval(F::Irate, &bar, 30 * MINUTE, 50 * MINUTE, &[]), 0.0);

        let nan = series(5 * MINUTE, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
        let range = 15 * MINUTE + 1000;
        assert_eq!(eval(F::Irate, &nan, 0, range, &[]), None);
        for at in [5, 10, 15] {
            assert_close(eval(F::Irate, &nan, at * MINUTE, range, &[]), f64::NAN);
            assert_close(eval(F::Idelta, &nan, at * MINUTE, range, &[]), f64::NAN);
        }
        assert_close(eval(F::Irate, &nan, 20 * MINUTE, range, &[]), 0.02);
        assert_close(eval(F::Idelta, &nan, 20 * MINUTE, range, &[]), 6.0);

        let foo = series(5 * MINUTE, &[0.0, 50.0, 100.0, 150.0]);
        let bar = series(5 * MINUTE, &[0.0, 50.0, 100.0, 50.0]);
        assert_close(eval(F::Idelta, &foo, 20 * MINUTE, 20 * MINUTE, &[]), 50.0);
        assert_close(eval(F::Idelta, &bar, 20 * MINUTE, 20 * MINUTE, &[]), -50.0);
    }

    // functions.test, "Tests for deriv() and predict_linear()".
    #[test]
    fn regression() {
        let interval = 5 * MINUTE;
        let mut middle = seq(0.0, 10.0, 4);
        middle.extend(seq(0.0, 10.0, 5));
        let middle = series(interval, &middle);
        let total = series(interval, &seq(0.0, 80.0, 10));
        assert_close(
            eval(F::Deriv, &total, 50 * MINUTE, 50 * MINUTE, &[]),
            0.26666666666666666,
        );
        assert_close(
            eval(F::Deriv, &middle, 50 * MINUTE, 100 * MINUTE, &[]),
            0.010606060606060607,
        );

        let mut inf = vec![f64::NEG_INFINITY];
        inf.extend(seq(0.0, 80.0, 10));
        inf.push(f64::INFINITY);
        let inf = series(interval, &inf);
        assert_close(
            eval(F::Deriv, &inf, 100 * MINUTE, 100 * MINUTE, &[]),
            f64::NAN,
        );
        assert_close(
            eval(
                F::PredictLinear,
                &inf,
                100 * MINUTE,
                100 * MINUTE,
                &[6000.0],
            ),
            f64::NAN,
        );

        assert_close(
            eval(
                F::PredictLinear,
                &middle,
                50 * MINUTE,
                50 * MINUTE,
                &[3600.0],
            ),
            70.0,
        );
        // `[55m] @ 3000` evaluated at 50m, 10m and 70m: the same window, intercepts at the
        // evaluation times.
        let at = 3000 * 1000;
        for (eval_s, want) in [
            (3000.0, 76.81818181818181),
            (600.0, 51.36363636363637),
            (4200.0, 89.54545454545455),
        ] {
            let params = [3600.0, eval_s * 1000.0];
            assert_close(
                eval(F::PredictLinear, &middle, at, 55 * MINUTE, &params),
                want,
            );
        }
        // Without the evaluation time, the end of the range stands in.
        assert_close(
            eval(F::PredictLinear, &middle, at, 55 * MINUTE, &[3600.0]),
            76.81818181818181,
        );
        // predict_linear(x[50m], 3600) - (x + deriv(x[50m]) * 3600) == 0 at 50m.
        let predicted = eval(
            F::PredictLinear,
            &total,
            50 * MINUTE,
            50 * MINUTE,
            &[3600.0],
        );
        let derived =
            eval(F::Deriv, &total, 50 * MINUTE, 50 * MINUTE, &[]).map(|d| 800.0 + d * 3600.0);
        assert_close(predicted, derived.unwrap_or(f64::NAN));

        let constant = series(interval, &[3.0, 3.0, 3.0]);
        assert_eq!(
            eval(F::Deriv, &constant, 10 * MINUTE, 20 * MINUTE, &[]),
            Some(0.0)
        );
        assert_eq!(eval(F::Deriv, &constant[..1], 0, 20 * MINUTE, &[]), None);
    }

    // functions.test, "Tests for double_exponential_smoothing".
    #[test]
    fn smoothing() {
        let interval = 10_000;
        let at = 8_000_000;
        let up = |start: f64, step: f64| series(interval, &seq(start, step, 2000));
        let cases = [
            (up(0.0, 10.0), 8000.0),
            (up(0.0, 20.0), 16000.0),
            (up(0.0, 30.0), 24000.0),
            (up(0.0, 40.0), 32000.0),
            (up(8000.0, -10.0), 0.0),
            (up(0.0, -20.0), -16000.0),
        ];
        for (s, want) in cases {
            let got = eval(F::DoubleExponentialSmoothing, &s, at, MINUTE, &[0.01, 0.1]);
            let got = got.unwrap_or(f64::NAN);
            assert!(
                (got - want).abs() < 1e-6 * want.abs().max(1.0),
                "got {got}, want {want}"
            );
        }
        assert_eq!(
            F::DoubleExponentialSmoothing.apply(&up(0.0, 1.0)[..1], -1, 0, &[0.5, 0.5]),
            None
        );
        // Two samples: one step with the initial trend.
        let two = series(interval, &[1.0, 3.0]);
        assert_close(
            F::DoubleExponentialSmoothing.apply(&two, -1, interval, &[0.5, 0.5]),
            0.5 * 3.0 + 0.5 * (1.0 + 2.0),
        );
    }

    // functions.test, avg_over_time/sum_over_time sections.
    #[test]
    fn sums_and_means() {
        let metric = series(10_000, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let at = 55_000;
        assert_eq!(eval(F::AvgOverTime, &metric, at, 10_000, &[]), None);
        assert_close(eval(F::AvgOverTime, &metric, at, 20_000, &[]), 5.0);
        assert_close(eval(F::AvgOverTime, &metric, at, MINUTE, &[]), 3.0);
        assert_close(eval(F::SumOverTime, &metric, at, MINUTE, &[]), 15.0);
        assert_close(eval(F::CountOverTime, &metric, at, MINUTE, &[]), 5.0);

        let nan = series(10_000, &[1.0, 2.0, 3.0, f64::NAN, f64::NAN]);
        assert_close(eval(F::AvgOverTime, &nan, 20_000, MINUTE, &[]), 2.0);
        assert_close(eval(F::AvgOverTime, &nan, 30_000, MINUTE, &[]), f64::NAN);

        let big = series(10_000, &[1.0, 1e100, 1.0, -1e100]);
        assert_close(eval(F::SumOverTime, &big, MINUTE, 2 * MINUTE, &[]), 2.0);
        assert_close(eval(F::AvgOverTime, &big, MINUTE, 2 * MINUTE, &[]), 0.5);

        // functions.test writes 9.988465674311579e+307, which parses to this same f64.
        let huge = 9.98846567431158e307;
        let overflow = series(10_000, &[huge, huge]);
        assert_close(eval(F::AvgOverTime, &overflow, at, MINUTE, &[]), huge);
        assert_close(
            eval(F::SumOverTime, &overflow, at, MINUTE, &[]),
            f64::INFINITY,
        );

        let foo = series(10_000, &[52.0; 101]);
        for range in [100_000, 110_000, 120_000, 130_000] {
            assert_eq!(
                eval(F::AvgOverTime, &foo, 10 * MINUTE, range, &[]),
                Some(52.0)
            );
        }

        // Dense samples: `metric 1+0x4000` at 1ms.
        let dense = series(1, &[1.0; 4001]);
        for range in [
            1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, 3000, 3001, 3002, 3003,
        ] {
            assert_eq!(
                eval(F::SumOverTime, &dense, 4000, range, &[]),
                Some(range as f64)
            );
        }
    }

    // functions.test, "Tests for *_over_time".
    #[test]
    fn selections_over_time() {
        let nan = f64::NAN;
        let data: [(&[f64], f64, f64, f64, f64); 5] = [
            (&[2.0, 0.0, 3.0], 0.0, 3.0, 3.0, 2.0),
            (&[2.0, 0.0, nan], 0.0, 2.0, nan, 2.0),
            (&[2.0, nan, 1.0], 1.0, 2.0, 1.0, 2.0),
            (&[nan, 0.0, 1.0], 0.0, 1.0, 1.0, nan),
            (&[nan, nan, nan], nan, nan, nan, nan),
        ];
        for (values, min, max, last, first) in data {
            let s = series(10_000, values);
            assert_close(eval(F::MinOverTime, &s, MINUTE, 2 * MINUTE, &[]), min);
            assert_close(eval(F::MaxOverTime, &s, MINUTE, 2 * MINUTE, &[]), max);
            assert_close(eval(F::LastOverTime, &s, MINUTE, 2 * MINUTE, &[]), last);
            assert_close(eval(F::FirstOverTime, &s, MINUTE, 2 * MINUTE, &[]), first);
            assert_eq!(
                eval(F::CountOverTime, &s, MINUTE, 2 * MINUTE, &[]),
                Some(3.0)
            );
            assert_eq!(
                eval(F::PresentOverTime, &s, MINUTE, 2 * MINUTE, &[]),
                Some(1.0)
            );
        }
        // data_sparse `_ 5 2 _ 4 _`.
        let sparse = [
            Sample { t: 10_000, v: 5.0 },
            Sample { t: 20_000, v: 2.0 },
            Sample { t: 40_000, v: 4.0 },
        ];
        assert_eq!(
            eval(F::MinOverTime, &sparse, MINUTE, 2 * MINUTE, &[]),
            Some(2.0)
        );
        assert_eq!(
            eval(F::MaxOverTime, &sparse, MINUTE, 2 * MINUTE, &[]),
            Some(5.0)
        );
    }

    // functions.test, ts_of_* tests with `load 10s53ms`.
    #[test]
    fn timestamps_over_time() {
        let s = series(10_053, &[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0]);
        assert_eq!(
            eval(F::TsOfMinOverTime, &s, 90_000, 90_000, &[]),
            Some(30.159)
        );
        assert_eq!(
            eval(F::TsOfMaxOverTime, &s, 90_000, 90_000, &[]),
            Some(50.265)
        );
        let s = series(10_053, &[1.0, 2.0, 3.0]);
        assert_eq!(
            eval(F::TsOfLastOverTime, &s, 90_000, 90_000, &[]),
            Some(20.106)
        );
        assert_eq!(
            eval(F::TsOfLastOverTime, &s, 95_000, 90_000, &[]),
            Some(20.106)
        );
        let s = [
            Sample { t: 20_106, v: 1.0 },
            Sample { t: 30_159, v: 2.0 },
            Sample { t: 40_212, v: 3.0 },
        ];
        assert_eq!(
            eval(F::TsOfFirstOverTime, &s, 90_000, 90_000, &[]),
            Some(20.106)
        );
        assert_eq!(eval(F::TsOfFirstOverTime, &s, 15_000, 90_000, &[]), None);
        // Ties: the latest extreme wins.
        let ties = series(1000, &[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            eval(F::TsOfMaxOverTime, &ties, 3000, 10_000, &[]),
            Some(2.0)
        );
        assert_eq!(
            eval(F::TsOfMinOverTime, &ties, 3000, 10_000, &[]),
            Some(3.0)
        );
    }

    // functions.test, quantile_over_time, stddev/stdvar_over_time and mad_over_time.
    #[test]
    fn distributions_over_time() {
        let two = series(10_000, &[0.0, 1.0]);
        let three = series(10_000, &[0.0, 1.0, 2.0]);
        let uneven = series(10_000, &[0.0, 1.0, 4.0]);
        let cases = [
            (0.0, [0.0, 0.0, 0.0]),
            (0.5, [0.5, 1.0, 1.0]),
            (0.75, [0.75, 1.5, 2.5]),
            (0.8, [0.8, 1.6, 2.8]),
            (1.0, [1.0, 2.0, 4.0]),
            (-1.0, [f64::NEG_INFINITY; 3]),
            (2.0, [f64::INFINITY; 3]),
        ];
        for (q, want) in cases {
            for (s, w) in [&two, &three, &uneven].into_iter().zip(want) {
                assert_close(eval(F::QuantileOverTime, s, MINUTE, 2 * MINUTE, &[q]), w);
            }
        }
        assert_eq!(F::QuantileOverTime.apply(&two, -1, 20_000, &[]), None);

        let metric = series(10_000, &[0.0, 8.0, 8.0, 2.0, 3.0]);
        assert_close(
            eval(F::StdvarOverTime, &metric, MINUTE, 2 * MINUTE, &[]),
            10.56,
        );
        let sd = eval(F::StddevOverTime, &metric, MINUTE, 2 * MINUTE, &[]).unwrap_or(f64::NAN);
        assert!((sd - 3.249615).abs() < 1e-6);
        let equal = series(10_000, &[1.5990505637277868; 3]);
        assert_eq!(
            eval(F::StdvarOverTime, &equal, 55_000, MINUTE, &[]),
            Some(0.0)
        );
        assert_eq!(
            eval(F::StddevOverTime, &equal, 55_000, MINUTE, &[]),
            Some(0.0)
        );

        let mad = series(10_000, &[4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0]);
        assert_eq!(eval(F::MadOverTime, &mad, 70_000, 70_000, &[]), Some(1.0));
        let odd = series(10_000, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(eval(F::MadOverTime, &odd, 40_000, 50_000, &[]), Some(1.0));
        let nan = series(10_000, &[1.0, 2.0, f64::NAN, 4.0]);
        assert_close(eval(F::MadOverTime, &nan, 30_000, 40_000, &[]), f64::NAN);
        assert_eq!(
            eval(F::MadOverTime, &series(10_000, &[5.0]), 0, 10_000, &[]),
            Some(0.0)
        );
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let window = series(1, &[0.0, 0.0]);
        let got = F::PredictLinear.apply(&window, 0, 2, &[0.0, f64::NEG_INFINITY]);
        assert!(got.is_some());
        assert!(F::Rate.apply(&window, i64::MIN, i64::MAX, &[]).is_some());
    }

    #[test]
    fn range_seconds_matches_go_duration() {
        assert_eq!(range_seconds(300_000), 300.0);
        assert_eq!(range_seconds(90_001), 90.0 + 0.001);
        assert_eq!(range_seconds(900_001), 900.0 + 1e6 / 1e9);
    }

    fn arb_window() -> impl Strategy<Value = Vec<Sample>> {
        prop::collection::vec((1i64..100_000, prop::num::f64::ANY), 0..12).prop_map(|steps| {
            let mut t = 0;
            steps
                .into_iter()
                .map(|(dt, v)| {
                    t += dt;
                    Sample { t, v }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn never_panics(window in arb_window(), extra in 0i64..100_000, params in prop::collection::vec(prop::num::f64::ANY, 0..3)) {
            let start = window.first().map_or(0, |s| s.t - 1);
            let end = window.last().map_or(1, |s| s.t + extra);
            for name in ["rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear",
                         "double_exponential_smoothing", "changes", "resets", "avg_over_time",
                         "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
                         "quantile_over_time", "stddev_over_time", "stdvar_over_time", "mad_over_time",
                         "last_over_time", "first_over_time", "present_over_time", "ts_of_min_over_time",
                         "ts_of_max_over_time", "ts_of_first_over_time", "ts_of_last_over_time"] {
                if let Some(f) = F::from_name(name) {
                    let _ = f.apply(&window, start, end, &params);
                }
            }
        }

        #[test]
        fn increase_of_a_growing_counter_is_non_negative(
            deltas in prop::collection::vec((1i64..60_000, 0.0f64..1e6), 2..20),
            start_value in 0.0f64..1e6,
        ) {
            let mut t = 0;
            let mut v = start_value;
            let window: Vec<Sample> = deltas.iter().map(|&(dt, dv)| {
                t += dt;
                v += dv;
                Sample { t, v }
            }).collect();
            let end = t + 1;
            let got = F::Increase.apply(&window, 0, end, &[]).unwrap_or(f64::NAN);
            prop_assert!(got >= 0.0, "{got}");
            let rate = F::Rate.apply(&window, 0, end, &[]).unwrap_or(f64::NAN);
            prop_assert!((rate - got / (end as f64 / 1000.0)).abs() <= 1e-9 * got.abs().max(1.0));
        }

        #[test]
        fn min_max_bracket_every_value(values in prop::collection::vec(-1e300f64..1e300, 1..20)) {
            let window = series(1000, &values);
            let end = window.len() as i64 * 1000;
            let min = F::MinOverTime.apply(&window, -1, end, &[]).unwrap_or(f64::NAN);
            let max = F::MaxOverTime.apply(&window, -1, end, &[]).unwrap_or(f64::NAN);
            let avg = F::AvgOverTime.apply(&window, -1, end, &[]).unwrap_or(f64::NAN);
            prop_assert!(values.iter().all(|v| min <= *v && *v <= max));
            let slack = 1e-12 * min.abs().max(max.abs());
            prop_assert!(min - slack <= avg && avg <= max + slack, "{min} {avg} {max}");
        }
    }
}
