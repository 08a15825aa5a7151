//! `histogram_quantile` and `histogram_fraction` over classic `_bucket` series, as Prometheus'
//! `BucketQuantile` and `BucketFraction` compute them: buckets sorted by upper bound, equal
//! bounds merged, and linear interpolation within the bucket that holds the rank.

use std::cmp::Ordering;

/// Relative difference between neighbouring cumulative counts below which Prometheus treats the
/// difference as floating-point noise (typically from summing sharded partial results) and
/// flattens it instead of reporting non-monotonic buckets.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One `le` bucket: its upper bound and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) upper_bound: f64,
    pub(crate) count: f64,
}

/// A quantile estimate and what had to be repaired in the input to compute it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BucketQuantile {
    pub(crate) value: f64,
    /// Counts decreased with rising bounds and were made monotonic (an info annotation).
    pub(crate) forced_monotonicity: bool,
    /// Differences too small to be real (relative delta ≤ 1e-12) were flattened. Prometheus
    /// computes this but reports no annotation for it.
    pub(crate) fixed_precision: bool,
    /// For the forced-monotonicity annotation: the lowest and highest upper bound whose count
    /// was raised, and the largest amount it was raised by. Meaningful only when
    /// `forced_monotonicity` is set.
    pub(crate) forced_min_bucket: f64,
    pub(crate) forced_max_bucket: f64,
    pub(crate) forced_max_diff: f64,
}

impl BucketQuantile {
    fn plain(value: f64) -> Self {
        Self {
            value,
            forced_monotonicity: false,
            fixed_precision: false,
            forced_min_bucket: 0.0,
            forced_max_bucket: 0.0,
            forced_max_diff: 0.0,
        }
    }
}

/// Sorts by upper bound. Go's comparator says "equal" for NaN bounds, which is not an order;
/// here NaN bounds go last, so such a histogram has no `+Inf` bucket at the end and yields NaN
/// rather than an arbitrary estimate.
fn sort_by_upper_bound(buckets: &mut [Bucket]) {
    buckets.sort_unstable_by(
        |a, b| match (a.upper_bound.is_nan(), b.upper_bound.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => a
                .upper_bound
                .partial_cmp(&b.upper_bound)
                .unwrap_or(Ordering::Equal),
        },
    );
}

/// Merges buckets with the same upper bound (several series can map to one `le` after label
/// manipulation) by adding their counts; returns how many buckets remain at the front.
fn coalesce(buckets: &mut [Bucket]) -> usize {
    let Some(&first) = buckets.first() else {
        return 0;
    };
    let mut last = first;
    let mut kept = 0;
    for i in 1..buckets.len() {
        let b = buckets[i];
        if b.upper_bound == last.upper_bound {
            last.count += b.count;
        } else {
            buckets[kept] = last;
            last = b;
            kept += 1;
        }
    }
    buckets[kept] = last;
    kept + 1
}

/// Prometheus' `almost.Equal`: relative difference below `epsilon`, with an absolute fallback
/// near zero where a relative measure is meaningless.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    // An infinite sum is capped so the ratio stays meaningful (Go: math.Min(absSum, MaxFloat64)).
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// What `ensure_monotonic` changed.
struct Repairs {
    forced: bool,
    fixed_precision: bool,
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
}

/// Makes cumulative counts non-decreasing, because the quantile search relies on it: first
/// flattens differences that are numerically insignificant (in either direction), then raises
/// any remaining decrease to the previous count. `prev` deliberately stays at the last accepted
/// count when a value is corrected, so the envelope is measured against real data.
fn ensure_monotonic(buckets: &mut [Bucket]) -> Repairs {
    let mut r = Repairs {
        forced: false,
        fixed_precision: false,
        min_bucket: f64::INFINITY,
        max_bucket: f64::NEG_INFINITY,
        max_diff: 0.0,
    };
    let Some(first) = buckets.first() else {
        return r;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            r.fixed_precision = true;
            continue;
        }
        if curr < prev {
            b.count = prev;
            r.forced = true;
            if b.upper_bound < r.min_bucket {
                r.min_bucket = b.upper_bound;
            }
            if b.upper_bound > r.max_bucket {
                r.max_bucket = b.upper_bound;
            }
            if prev - curr > r.max_diff {
                r.max_diff = prev - curr;
            }
            continue;
        }
        prev = curr;
    }
    r
}

/// Go's `sort.Search`: the smallest index in `0..n` for which `pred` holds (or `n`), probing the
/// same midpoints as Go so that even a non-monotonic predicate (NaN counts) lands on the same
/// bucket.
fn go_search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if pred(h) {
            j = h;
        } else {
            i = h + 1;
        }
    }
    i
}

/// Prometheus' `bucketQuantile` over buckets in any order.
///
/// NaN for q = NaN, -Inf for q < 0, +Inf for q > 1; NaN when the highest bound is not +Inf,
/// when fewer than two distinct bounds remain, or when there are no observations. A rank in the
/// +Inf bucket yields the second-highest bound; a rank in a lowest bucket whose bound is ≤ 0
/// yields that bound; otherwise the lowest bucket starts at 0.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> BucketQuantile {
    if q.is_nan() {
        return BucketQuantile::plain(f64::NAN);
    }
    if q < 0.0 {
        return BucketQuantile::plain(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return BucketQuantile::plain(f64::INFINITY);
    }
    sort_by_upper_bound(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return BucketQuantile::plain(f64::NAN),
    }
    let kept = coalesce(buckets);
    let buckets = &mut buckets[..kept];
    let repairs = ensure_monotonic(buckets);
    let result = |value: f64| BucketQuantile {
        value,
        forced_monotonicity: repairs.forced,
        fixed_precision: repairs.fixed_precision,
        forced_min_bucket: repairs.min_bucket,
        forced_max_bucket: repairs.max_bucket,
        forced_max_diff: repairs.max_diff,
    };

    let n = buckets.len();
    if n < 2 {
        return result(f64::NAN);
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return result(f64::NAN);
    }
    let mut rank = q * observations;
    // The +Inf bucket is left out of the search: a rank beyond the finite buckets means "in the
    // +Inf bucket", which has no upper end to interpolate towards.
    let b = go_search(n - 1, |i| buckets[i].count >= rank);
    if b == n - 1 {
        return result(buckets[n - 2].upper_bound);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return result(buckets[0].upper_bound);
    }
    let bucket_end = buckets[b].upper_bound;
    let mut bucket_start = 0.0;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    result(bucket_start + (bucket_end - bucket_start) * (rank / count))
}

/// Prometheus' `histogram_fraction` for classic buckets: the estimated fraction of
/// observations between `lower` and `upper`.
///
/// Linear interpolation within a bucket; the lowest bucket starts at 0 when its bound is
/// positive and at -Inf otherwise, in which case it is counted whole rather than interpolated.
/// NaN without buckets, without a +Inf bucket, without observations, or for a NaN bound; 0 when
/// `lower >= upper`. Unlike the quantile, counts are not made monotonic first.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    sort_by_upper_bound(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let kept = coalesce(buckets);
    let buckets = &buckets[..kept];
    let count = buckets[kept - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }

    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper_bound <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper_bound;
        }
        let upper_bound = b.upper_bound;
        // Counts are cumulative, so the bucket's own weight is `b.count - rank`.
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INF: f64 = f64::INFINITY;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a == b || ((a - b) / b).abs() < 1e-9
    }

    fn quantile_of(q: f64, pairs: &[(f64, f64)]) -> f64 {
        bucket_quantile(q, &mut buckets(pairs)).value
    }

    fn fraction_of(lower: f64, upper: f64, pairs: &[(f64, f64)]) -> f64 {
        bucket_fraction(lower, upper, &mut buckets(pairs))
    }

    // Prometheus' histograms.test at 50m; bucket series listed in a shuffled order on purpose.
    const TESTHISTOGRAM_POSITIVE: &[(f64, f64)] =
        &[(1.0, 110.0), (0.1, 50.0), (INF, 120.0), (0.2, 70.0)];
    const TESTHISTOGRAM_NEGATIVE: &[(f64, f64)] =
        &[(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)];
    const TESTHISTOGRAM3_POSITIVE: &[(f64, f64)] = &[
        (0.0, 0.0),
        (0.1, 50.0),
        (0.2, 70.0),
        (1.0, 110.0),
        (INF, 110.0),
    ];
    const TESTHISTOGRAM3_NEGATIVE: &[(f64, f64)] = &[
        (-0.25, 0.0),
        (-0.2, 10.0),
        (-0.1, 20.0),
        (0.3, 20.0),
        (INF, 20.0),
    ];

    #[test]
    fn quantile_matches_histograms_test() {
        let cases = [
            (0.0, TESTHISTOGRAM_POSITIVE, 0.0),
            (0.0, TESTHISTOGRAM_NEGATIVE, -0.2),
            (1.0, TESTHISTOGRAM_POSITIVE, 1.0),
            (1.0, TESTHISTOGRAM_NEGATIVE, 0.3),
            (0.2, TESTHISTOGRAM_POSITIVE, 0.048),
            (0.2, TESTHISTOGRAM_NEGATIVE, -0.2),
            (0.5, TESTHISTOGRAM_POSITIVE, 0.15),
            (0.5, TESTHISTOGRAM_NEGATIVE, -0.15),
            (0.8, TESTHISTOGRAM_POSITIVE, 0.72),
            (0.8, TESTHISTOGRAM_NEGATIVE, 0.3),
            (0.0, TESTHISTOGRAM3_POSITIVE, 0.0),
            (0.0, TESTHISTOGRAM3_NEGATIVE, -0.25),
            (0.25, TESTHISTOGRAM3_POSITIVE, 0.055),
            (0.25, TESTHISTOGRAM3_NEGATIVE, -0.225),
            (0.5, TESTHISTOGRAM3_POSITIVE, 0.125),
            (0.5, TESTHISTOGRAM3_NEGATIVE, -0.2),
            (0.75, TESTHISTOGRAM3_POSITIVE, 0.45),
            (0.75, TESTHISTOGRAM3_NEGATIVE, -0.15),
            (1.0, TESTHISTOGRAM3_POSITIVE, 1.0),
            (1.0, TESTHISTOGRAM3_NEGATIVE, -0.1),
        ];
        for (q, pairs, want) in cases {
            let got = bucket_quantile(q, &mut buckets(pairs));
            assert!(
                close(got.value, want),
                "q={q} {pairs:?}: {got:?}, want {want}"
            );
            assert!(!got.forced_monotonicity && !got.fixed_precision);
        }
        // testhistogram2 at 7m: each quantile in the middle of a bucket.
        let h2 = &[(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (INF, 3.0)];
        assert!(close(quantile_of(1.0 / 6.0, h2), 1.0));
        assert!(close(quantile_of(0.5, h2), 3.0));
        assert!(close(quantile_of(5.0 / 6.0, h2), 5.0));
    }

    #[test]
    fn quantile_special_cases() {
        assert!(quantile_of(f64::NAN, TESTHISTOGRAM_POSITIVE).is_nan());
        assert_eq!(quantile_of(-0.1, TESTHISTOGRAM_POSITIVE), f64::NEG_INFINITY);
        assert_eq!(quantile_of(1.01, TESTHISTOGRAM_POSITIVE), INF);
        // No +Inf bucket.
        assert!(quantile_of(0.5, &[(1.0, 1.0), (2.0, 2.0)]).is_nan());
        // histograms.test mixed_bucket ins2: `+inf` and `+Inf` merge into a single bucket.
        assert!(quantile_of(0.5, &[(INF, 0.0), (INF, 0.0)]).is_nan());
        // empty_bucket / const_histogram: no observations.
        assert!(quantile_of(0.2, &[(0.1, 0.0), (0.2, 0.0), (INF, 0.0)]).is_nan());
        assert!(quantile_of(0.5, &[]).is_nan());
        // NaN bounds sort last, so there is no +Inf bucket at the end.
        assert!(quantile_of(0.5, &[(f64::NAN, 1.0), (INF, 2.0)]).is_nan());
    }

    #[test]
    fn quantile_merges_equal_bounds() {
        // histograms.test mixed_bucket ins1: le 0.1 → 1, three spellings of 0.2 → 1 each, +Inf
        // → 4 (per 5m); merged, 0.2 holds 3.
        let mixed = &[(0.1, 1.0), (0.2, 1.0), (0.2, 1.0), (0.2, 1.0), (INF, 4.0)];
        assert!(close(quantile_of(0.5, mixed), 0.15));
        assert!(close(quantile_of(0.75, mixed), 0.2));
        assert!(close(quantile_of(1.0, mixed), 0.2));
    }

    #[test]
    fn quantile_forces_monotonicity() {
        // histograms.test nonmonotonic_bucket at 50m.
        let nonmonotonic = &[
            (0.1, 20.0),
            (1.0, 10.0),
            (10.0, 50.0),
            (100.0, 40.0),
            (1000.0, 90.0),
            (INF, 80.0),
        ];
        for (q, want) in [(0.01, 0.0045), (0.5, 8.5), (0.99, 979.75)] {
            let got = bucket_quantile(q, &mut buckets(nonmonotonic));
            assert!(close(got.value, want), "q={q}: {got:?}");
            assert!(got.forced_monotonicity && !got.fixed_precision);
            assert_eq!(
                (
                    got.forced_min_bucket,
                    got.forced_max_bucket,
                    got.forced_max_diff
                ),
                (1.0, INF, 10.0)
            );
        }
    }

    #[test]
    fn quantile_ignores_tiny_deltas() {
        let c = 1e15;
        let mut b = buckets(&[(1.0, c), (2.0, c * (1.0 - 1e-14)), (INF, 2.0 * c)]);
        let got = bucket_quantile(0.25, &mut b);
        assert!(got.fixed_precision);
        assert!(!got.forced_monotonicity);
        assert!(close(got.value, 0.5));
    }

    #[test]
    fn fraction_matches_histograms_test() {
        let h2 = &[
            (0.0, 0.0),
            (2.0, 10.0),
            (4.0, 20.0),
            (6.0, 30.0),
            (INF, 30.0),
        ];
        assert!(close(fraction_of(0.0, 4.0, h2), 0.6666666666666666));
        assert!(close(fraction_of(0.0, 6.0, h2), 1.0));
        assert!(close(fraction_of(0.0, 3.5, h2), 0.5833333333333334));
        assert!(close(
            fraction_of(0.0, 0.2, TESTHISTOGRAM3_POSITIVE),
            0.6363636363636364
        ));
        assert_eq!(fraction_of(0.0, 0.2, TESTHISTOGRAM3_NEGATIVE), 0.0);
    }

    #[test]
    fn fraction_interpolation_and_bounds() {
        let h = TESTHISTOGRAM_POSITIVE;
        assert!(close(fraction_of(f64::NEG_INFINITY, 0.1, h), 50.0 / 120.0));
        assert!(close(fraction_of(0.05, 0.15, h), (60.0 - 25.0) / 120.0));
        assert!(close(fraction_of(1.0, INF, h), 10.0 / 120.0));
        assert_eq!(fraction_of(f64::NEG_INFINITY, INF, h), 1.0);
        // Within the +Inf bucket nothing is interpolated: its width is infinite.
        assert_eq!(fraction_of(2.0, 1000.0, h), 0.0);
        assert_eq!(fraction_of(0.2, 0.1, h), 0.0);
        assert!(fraction_of(f64::NAN, 0.1, h).is_nan());
        assert!(fraction_of(0.0, f64::NAN, h).is_nan());
        // A lowest bucket with a bound <= 0 reaches down to -Inf and counts whole when a bound
        // falls inside it.
        let negative = &[(-1.0, 10.0), (1.0, 30.0), (INF, 40.0)];
        assert!(close(fraction_of(-5.0, 1.0, negative), 20.0 / 40.0));
        assert!(close(
            fraction_of(f64::NEG_INFINITY, 0.0, negative),
            20.0 / 40.0
        ));
        assert!(close(fraction_of(-1.0, 0.0, negative), 10.0 / 40.0));
    }

    #[test]
    fn fraction_special_cases() {
        assert!(fraction_of(0.0, 1.0, &[]).is_nan());
        assert!(fraction_of(0.0, 1.0, &[(1.0, 1.0)]).is_nan());
        assert!(fraction_of(0.0, 1.0, &[(1.0, 0.0), (INF, 0.0)]).is_nan());
        assert_eq!(fraction_of(0.0, 1.0, &[(INF, 4.0)]), 0.0);
    }

    fn arb_buckets() -> impl Strategy<Value = Vec<Bucket>> {
        prop::collection::vec((-100.0f64..100.0, 0.0f64..1000.0), 1..12).prop_map(|pairs| {
            let mut v: Vec<Bucket> = pairs
                .into_iter()
                .map(|(upper_bound, count)| Bucket { upper_bound, count })
                .collect();
            v.push(Bucket {
                upper_bound: INF,
                count: 1000.0,
            });
            v
        })
    }

    proptest! {
        #[test]
        fn quantile_is_monotonic_in_q(b in arb_buckets(), x in 0.0f64..=1.0, y in 0.0f64..=1.0) {
            let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
            let q_lo = bucket_quantile(lo, &mut b.clone()).value;
            let q_hi = bucket_quantile(hi, &mut b.clone()).value;
            if !q_lo.is_nan() && !q_hi.is_nan() {
                prop_assert!(q_lo <= q_hi + 1e-9 * q_hi.abs().max(1.0), "{q_lo} > {q_hi}");
            }
        }

        #[test]
        fn fraction_is_a_fraction(b in arb_buckets(), x in -200.0f64..200.0, y in -200.0f64..200.0) {
            // Made monotonic first: with decreasing counts the estimate can leave [0, 1], in
            // Prometheus as here.
            let mut b = b;
            sort_by_upper_bound(&mut b);
            let mut max = 0.0f64;
            for bucket in &mut b {
                max = max.max(bucket.count);
                bucket.count = max;
            }
            let f = bucket_fraction(x, y, &mut b);
            prop_assert!(f.is_nan() || (-1e-9..=1.0 + 1e-9).contains(&f), "{f}");
        }

        #[test]
        fn never_panics(
            pairs in prop::collection::vec((prop::num::f64::ANY, prop::num::f64::ANY), 0..8),
            q in prop::num::f64::ANY,
            x in prop::num::f64::ANY,
        ) {
            let b: Vec<Bucket> =
                pairs.into_iter().map(|(upper_bound, count)| Bucket { upper_bound, count }).collect();
            let _ = bucket_quantile(q, &mut b.clone());
            let _ = bucket_fraction(x, q, &mut b.clone());
        }
    }
}
