//! Numerics shared by range functions and aggregation operators.

/// Prometheus' `quantile`: φ-quantile of `values` (reordered in place) with linear
/// interpolation; NaN when empty, -Inf for φ < 0, +Inf for φ > 1.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    todo!("{q} {values:?}")
}
