//! `histogram_quantile` and `histogram_fraction` over classic `_bucket` series.

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
}

/// Prometheus' `bucketQuantile` over buckets in any order.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> BucketQuantile {
    todo!("{q} {buckets:?}")
}

/// Prometheus' `histogram_fraction` for classic buckets: the estimated fraction of
/// observations between `lower` and `upper`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    todo!("{lower} {upper} {buckets:?}")
}
