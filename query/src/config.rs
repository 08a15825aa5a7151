//! Typed settings of the read APIs; the binary fills them from its own configuration.

/// Settings of the query crate's HTTP APIs.
///
/// Build it with `QueryConfig::default()` and override fields as needed; later issues add the
/// PromQL settings here (lookback delta, query timeout, sample and concurrency limits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryConfig {
    /// Most series one `/api/v1/series` answer or one `/api/v1/export` stream may hold. A
    /// request over it fails with 422 `execution` and says so, rather than building an answer
    /// of unbounded size. `None` (the default) means no limit, as in Prometheus.
    pub max_series: Option<usize>,
}
