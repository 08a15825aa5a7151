//! Functions over a range vector's window of samples (`rate`, `*_over_time`, …).

use storage::Sample;

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
        todo!("{name}")
    }

    /// The function's value for one window, or `None` for no output sample.
    ///
    /// `window`: the samples with `range_start < t <= range_end` (ms), sorted by time, without
    /// staleness markers. `params`: the scalar arguments at this step, in call order without
    /// the range vector (`predict_linear`: `[t]`; `quantile_over_time`: `[q]`;
    /// `double_exponential_smoothing`: `[sf, tf]`), already validated by the evaluator.
    pub(crate) fn apply(
        self,
        window: &[Sample],
        range_start: i64,
        range_end: i64,
        params: &[f64],
    ) -> Option<f64> {
        todo!("{self:?} {window:?} {range_start} {range_end} {params:?}")
    }
}
