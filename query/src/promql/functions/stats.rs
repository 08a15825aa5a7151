//! Numerics shared by range functions and aggregation operators: the φ-quantile, Kahan
//! (Neumaier) summation, the mean behind `avg`/`avg_over_time`, the two variance algorithms
//! (`stddev`/`stdvar` and their `*_over_time` forms) and the median absolute deviation.
//!
//! Conformance tests compare against Prometheus with a tight tolerance and some of them hinge
//! on exact results (the mean of huge values, the variance of equal values being 0), so each
//! computation here performs the same floating-point operations in the same order as
//! Prometheus' Go code. Go on amd64 (the platform its releases are built for by default) does
//! not fuse multiply-adds, and Rust never does implicitly, so plain `a * b + c` matches.

use std::cmp::Ordering;

/// Orders values the way Prometheus sorts them for quantiles: NaN before every number, numbers
/// ascending. Go's comparator ("NaN is less than anything") is not a strict weak order; this one
/// is total with the same outcome, so sorting can neither panic nor differ in any value.
fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// Prometheus' `quantile`: φ-quantile of `values` (reordered in place) with linear
/// interpolation; NaN when empty, -Inf for φ < 0, +Inf for φ > 1.
///
/// NaN samples sort below every number, so a low quantile interpolating towards a NaN is NaN
/// while high quantiles ignore it (aggregators.test: "The NaN sample is treated as the smallest
/// possible value").
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(nan_first);

    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    // Both operands are finite here, so `max`/`min` agree with Go's math.Max/math.Min.
    let lower_index = rank.floor().max(0.0);
    let upper_index = (n - 1.0).min(lower_index + 1.0);
    let weight = rank - rank.floor();
    // 0 <= lower_index <= upper_index <= n - 1 because 0 <= q <= 1; `get` only guards the
    // invariant instead of trusting it with a panic.
    match (
        values.get(lower_index as usize),
        values.get(upper_index as usize),
    ) {
        (Some(lower), Some(upper)) => lower * (1.0 - weight) + upper * weight,
        _ => f64::NAN,
    }
}

/// One step of Kahan summation with Neumaier's improvement: adds `inc` to `sum` and returns the
/// new sum and compensation. Once the sum is infinite the compensation is reset to 0, because
/// `(sum - t) + inc` would turn an infinite sum into NaN when the two are combined.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        // The larger operand goes first so the low-order bits lost are those of the smaller.
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A compensated running sum, as the `sum` aggregator and `sum_over_time` compute it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, v: f64) {
        (self.sum, self.c) = kahan_sum_inc(v, self.sum, self.c);
    }

    /// The sum with its compensation applied. An infinite sum is returned as is: the
    /// compensation is meaningless then (and always 0, see [`kahan_sum_inc`]).
    pub(crate) fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

/// The arithmetic mean as the `avg` aggregator and `avg_over_time` compute it.
///
/// Prometheus divides a Kahan-compensated sum by the count, which is more accurate than an
/// incremental mean, until that sum would overflow; from then on it keeps a compensated
/// incremental mean instead, so averaging values near `f64::MAX` still works.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mean {
    count: f64,
    sum: f64,
    mean: f64,
    c: f64,
    incremental: bool,
}

impl Mean {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, v: f64) {
        if self.count == 0.0 {
            // The first value seeds the sum directly, without a Kahan step.
            self.count = 1.0;
            self.sum = v;
            return;
        }
        self.count += 1.0;
        let previous = self.count - 1.0;
        if !self.incremental {
            let (sum, c) = kahan_sum_inc(v, self.sum, self.c);
            if !sum.is_infinite() {
                self.sum = sum;
                self.c = c;
                return;
            }
            // Adding `v` would overflow: switch to the incremental mean of what came before,
            // scaling the compensation along with the sum.
            self.incremental = true;
            self.mean = self.sum / previous;
            self.c /= previous;
        }
        let q = previous / self.count;
        (self.mean, self.c) = kahan_sum_inc(v / self.count, q * self.mean, q * self.c);
    }

    /// The mean so far; NaN before any value was added.
    pub(crate) fn value(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else if self.incremental {
            self.mean + self.c
        } else {
            // Two divisions and one addition, not `(sum + c) / count`: the order Prometheus uses.
            self.sum / self.count + self.c / self.count
        }
    }
}

/// Population variance as the `stddev` and `stdvar` aggregators compute it: Welford's online
/// algorithm without compensation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Variance {
    count: f64,
    mean: f64,
    m2: f64,
}

impl Variance {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, v: f64) {
        if self.count == 0.0 {
            self.count = 1.0;
            self.mean = v;
            // A lone infinity would otherwise report a variance of 0; Prometheus makes any group
            // whose first value is not finite NaN from the start.
            self.m2 = if v.is_finite() { 0.0 } else { f64::NAN };
            return;
        }
        self.count += 1.0;
        let delta = v - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (v - self.mean);
    }

    /// The population variance; NaN before any value was added.
    pub(crate) fn stdvar(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else {
            self.m2 / self.count
        }
    }

    pub(crate) fn stddev(&self) -> f64 {
        self.stdvar().sqrt()
    }
}

/// Population variance as `stdvar_over_time` and `stddev_over_time` compute it: Welford's
/// algorithm with both the running mean and the sum of squared deviations Kahan-compensated.
/// The compensated mean (`mean + c`) is what each deviation is measured against, before and
/// after the update; that differs from [`Variance`] in the last bits, so the two are kept apart.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CompensatedVariance {
    count: f64,
    mean: f64,
    c_mean: f64,
    aux: f64,
    c_aux: f64,
}

impl CompensatedVariance {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&mut self, v: f64) {
        self.count += 1.0;
        let delta = v - (self.mean + self.c_mean);
        (self.mean, self.c_mean) = kahan_sum_inc(delta / self.count, self.mean, self.c_mean);
        let deviation = delta * (v - (self.mean + self.c_mean));
        (self.aux, self.c_aux) = kahan_sum_inc(deviation, self.aux, self.c_aux);
    }

    /// The population variance; NaN before any value was added (0/0).
    pub(crate) fn stdvar(&self) -> f64 {
        (self.aux + self.c_aux) / self.count
    }

    pub(crate) fn stddev(&self) -> f64 {
        self.stdvar().sqrt()
    }
}

/// Median absolute deviation (`mad_over_time`): the median of the distances to the median.
/// Reorders and overwrites `values`. NaN when empty, and NaN when any value is NaN: the quantile
/// sort would otherwise push a NaN to the bottom where it rarely reaches the median, silently
/// hiding it (Prometheus propagates it since v3.x, functions.test "metric_nan").
pub(crate) fn mad(values: &mut [f64]) -> f64 {
    if values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let median = quantile(0.5, values);
    for v in values.iter_mut() {
        *v = (*v - median).abs();
    }
    quantile(0.5, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a == b {
            return true;
        }
        ((a - b) / b).abs() < 1e-9
    }

    fn mean_of(values: &[f64]) -> f64 {
        let mut m = Mean::new();
        values.iter().for_each(|v| m.add(*v));
        m.value()
    }

    // aggregators.test, "Tests for quantile".
    #[test]
    fn quantile_matches_aggregators_test() {
        let cases: [(&[f64], f64, f64); 10] = [
            (&[0.0, 1.0], 0.8, 0.8),
            (&[0.0, 1.0, 2.0], 0.8, 1.6),
            (&[0.0, 1.0, 4.0], 0.8, 2.8),
            (&[0.0, 1.0, f64::NAN], 0.8, 0.6),
            (&[0.0, 1.0], 0.2, 0.2),
            (&[0.0, 1.0, 2.0], 0.2, 0.4),
            (&[0.0, 1.0, 4.0], 0.2, 0.4),
            (&[0.0, 1.0, f64::NAN], 0.2, f64::NAN),
            (&[f64::NAN, 1.0, 0.0], 1.0, 1.0),
            (&[f64::NAN, 1.0, 0.0], 0.0, f64::NAN),
        ];
        for (values, q, want) in cases {
            let got = quantile(q, &mut values.to_vec());
            assert!(
                close(got, want),
                "quantile({q}, {values:?}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn quantile_edge_cases() {
        assert!(quantile(0.5, &mut []).is_nan());
        assert!(quantile(f64::NAN, &mut [1.0, 2.0]).is_nan());
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
        assert_eq!(quantile(0.5, &mut [7.0]), 7.0);
        // functions.test, quantile_over_time of "uneven samples".
        assert_eq!(quantile(0.75, &mut [0.0, 1.0, 4.0]), 2.5);
    }

    #[test]
    fn kahan_recovers_lost_low_bits() {
        // functions.test: sum_over_time of `1 1e100 1 -1e100` is 2.
        let mut s = KahanSum::new();
        [1.0, 1e100, 1.0, -1e100].iter().for_each(|v| s.add(*v));
        assert_eq!(s.value(), 2.0);
        let (sum, c) = kahan_sum_inc(f64::INFINITY, 1.0, 0.5);
        assert_eq!((sum, c), (f64::INFINITY, 0.0));
    }

    #[test]
    fn kahan_sum_of_infinities() {
        let mut s = KahanSum::new();
        [1.0, f64::INFINITY, 2.0].iter().for_each(|v| s.add(*v));
        assert_eq!(s.value(), f64::INFINITY);
        s.add(f64::NEG_INFINITY);
        assert!(s.value().is_nan());
    }

    // functions.test, "Tests for avg_over_time" and the extreme values after it.
    #[test]
    fn mean_matches_functions_test() {
        // functions.test writes 9.988465674311579e+307, which parses to this same f64.
        let big = 9.98846567431158e307;
        let cases: Vec<(Vec<f64>, f64)> = vec![
            (vec![1.0, 2.0, 3.0, 4.0, 5.0], 3.0),
            (vec![1.0, 2.0, 3.0, 4.0, f64::INFINITY], f64::INFINITY),
            (
                vec![1.0, 2.0, 3.0, f64::INFINITY, f64::NEG_INFINITY],
                f64::NAN,
            ),
            (vec![f64::INFINITY, 0.0, f64::INFINITY], f64::INFINITY),
            (
                vec![f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY],
                f64::NEG_INFINITY,
            ),
            (vec![big, big], big),
            (vec![-big, -big, -big], -big),
            (vec![-big, big], 0.0),
            (vec![1.0, 1e100, 1.0, -1e100], 0.5),
            (
                vec![1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6],
                1.6666666666666675e9,
            ),
            (
                vec![
                    1.78264e50, 0.76342771, 1.9592258, 2.258E+220, 7.69805412, 458.90154,
                ],
                3.76333333333333E+219,
            ),
            (
                vec![
                    -1.78264E+215,
                    0.76342771,
                    1.9592258,
                    2.258E+220,
                    7.69805412,
                    1.78264E+215,
                    -458.90154,
                ],
                3.225714285714286e+219,
            ),
            (
                vec![
                    -1.78264E+219,
                    0.76342771,
                    1.9592258,
                    2.3757689E+217,
                    -2.3757689E+217,
                    2.258E+220,
                    7.69805412,
                    1.78264E+219,
                    -458.90154,
                ],
                2.5088888888888888e+219,
            ),
        ];
        for (values, want) in cases {
            let got = mean_of(&values);
            assert!(close(got, want), "mean({values:?}) = {got}, want {want}");
        }
    }

    #[test]
    fn mean_of_cancelling_magnitudes_is_exactly_what_prometheus_gets() {
        // functions.test: Prometheus' own answer here is exactly 0 (the true mean is -44.8…).
        let values = [
            -2.258E+220,
            -1.78264E+219,
            0.76342771,
            1.9592258,
            2.3757689E+217,
            -2.3757689E+217,
            2.258E+220,
            7.69805412,
            1.78264E+219,
            -458.90154,
        ];
        assert_eq!(mean_of(&values), 0.0);
        // `foo 52+0x100`: the direct mean of equal values is exact.
        for n in [10, 11, 12, 13] {
            assert_eq!(mean_of(&vec![52.0; n]), 52.0);
        }
        assert!(Mean::new().value().is_nan());
    }

    // aggregators.test: stddev/stdvar, and the float precision case of equal values.
    #[test]
    fn variance_matches_aggregators_test() {
        let mut v = Variance::new();
        // http_requests at 50m: 100 200 300 400 500 600 700 800.
        (1..=8).for_each(|i| v.add(f64::from(i) * 100.0));
        assert!(close(v.stdvar(), 52500.0));
        assert!(close(v.stddev(), 229.12878474779));

        let mut equal = Variance::new();
        let x = (0..10).fold(0.0, |acc, _| acc + 1.33);
        (0..3).for_each(|_| equal.add(x));
        assert_eq!(equal.stddev(), 0.0);
        assert_eq!(equal.stdvar(), 0.0);

        for values in [
            [1.0, 2.0, f64::NAN],
            [f64::NAN, 1.0, 2.0],
            [1.0, 2.0, f64::INFINITY],
            [f64::INFINITY, 1.0, 2.0],
        ] {
            let mut v = Variance::new();
            values.iter().for_each(|x| v.add(*x));
            assert!(v.stddev().is_nan(), "{values:?}");
        }
        let mut single_inf = Variance::new();
        single_inf.add(f64::INFINITY);
        assert!(single_inf.stdvar().is_nan());
        let mut single = Variance::new();
        single.add(1.0);
        assert_eq!(single.stdvar(), 0.0);
    }

    // functions.test: stdvar_over_time of `0 8 8 2 3` and of three equal values.
    #[test]
    fn compensated_variance_matches_functions_test() {
        let mut v = CompensatedVariance::new();
        [0.0, 8.0, 8.0, 2.0, 3.0].iter().for_each(|x| v.add(*x));
        assert!(close(v.stdvar(), 10.56));
        assert!((v.stddev() - 3.249615).abs() < 1e-6);

        let mut equal = CompensatedVariance::new();
        (0..3).for_each(|_| equal.add(1.5990505637277868));
        assert_eq!(equal.stdvar(), 0.0);
        assert_eq!(equal.stddev(), 0.0);
        assert!(CompensatedVariance::new().stdvar().is_nan());
    }

    // functions.test, "Tests for mad_over_time".
    #[test]
    fn mad_matches_functions_test() {
        assert_eq!(mad(&mut [4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0]), 1.0);
        assert_eq!(mad(&mut [1.0, 2.0, 3.0, 4.0, 5.0]), 1.0);
        assert_eq!(mad(&mut [7.0; 5]), 0.0);
        assert_eq!(mad(&mut [5.0]), 0.0);
        assert!(mad(&mut [1.0, 2.0, f64::NAN, 4.0]).is_nan());
        assert!(mad(&mut []).is_nan());
    }

    proptest! {
        #[test]
        fn quantile_is_monotonic_in_q(
            values in prop::collection::vec(-1e12f64..1e12, 1..40),
            a in 0.0f64..=1.0,
            b in 0.0f64..=1.0,
        ) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let q_lo = quantile(lo, &mut values.clone());
            let q_hi = quantile(hi, &mut values.clone());
            // Interpolation rounds, so allow for one rounding step of the larger magnitude.
            let slack = 1e-12 * q_lo.abs().max(q_hi.abs());
            prop_assert!(q_lo <= q_hi + slack, "q({lo})={q_lo} > q({hi})={q_hi}");
        }

        #[test]
        fn quantile_stays_within_the_values(
            values in prop::collection::vec(-1e12f64..1e12, 1..40),
            q in 0.0f64..=1.0,
        ) {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let got = quantile(q, &mut values.clone());
            let slack = 1e-12 * min.abs().max(max.abs());
            prop_assert!(got >= min - slack && got <= max + slack);
        }

        #[test]
        fn mean_of_equal_values_is_exact(v in -1e300f64..1e300, n in 1usize..200) {
            prop_assert_eq!(mean_of(&vec![v; n]), v);
        }

        #[test]
        fn variance_of_equal_values_is_zero(v in -1e150f64..1e150, n in 1usize..100) {
            let mut a = Variance::new();
            let mut b = CompensatedVariance::new();
            for _ in 0..n {
                a.add(v);
                b.add(v);
            }
            prop_assert_eq!(a.stdvar(), 0.0);
            prop_assert_eq!(b.stdvar(), 0.0);
        }

        #[test]
        fn never_panics(values in prop::collection::vec(prop::num::f64::ANY, 0..20), q in prop::num::f64::ANY) {
            let mut s = KahanSum::new();
            let mut m = Mean::new();
            let mut v = Variance::new();
            let mut cv = CompensatedVariance::new();
            for x in &values {
                s.add(*x);
                m.add(*x);
                v.add(*x);
                cv.add(*x);
            }
            let _ = (s.value(), m.value(), v.stddev(), cv.stddev());
            let _ = quantile(q, &mut values.clone());
            let _ = mad(&mut values.clone());
        }
    }
}
