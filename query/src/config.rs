//! Typed settings of the read APIs; the binary fills them from its own configuration.

use std::fmt;
use std::time::Duration;

use crate::metrics::QueryMetrics;

/// Settings of the query crate's HTTP APIs.
///
/// Build it with `QueryConfig::default()` and override fields as needed.
#[derive(Clone)]
pub struct QueryConfig {
    /// Most series one `/api/v1/series` answer or one `/api/v1/export` stream may hold. A
    /// request over it fails with 422 `execution` and says so, rather than building an answer
    /// of unbounded size. `None` (the default) means no limit, as in Prometheus.
    pub max_series: Option<usize>,
    /// How far back an instant-vector selector looks for a sample; a query's `lookback_delta`
    /// parameter overrides it. Prometheus' `--query.lookback-delta`, 5m by default.
    pub lookback_delta: Duration,
    /// Longest a PromQL query may take, waiting for a query slot included; a query's `timeout`
    /// parameter may only shorten it. Prometheus' `--query.timeout`, 2m by default.
    pub query_timeout: Duration,
    /// Most samples one PromQL query may hold in memory. Prometheus' `--query.max-samples`,
    /// 50,000,000 by default.
    pub max_samples: usize,
    /// PromQL queries evaluated at once; more wait for a slot (within their timeout).
    /// Prometheus' `--query.max-concurrency`, 20 by default. At least 1.
    pub max_concurrent_queries: usize,
    /// How long samples are kept (`None`: forever), as `/api/v1/status/runtimeinfo` reports it.
    pub storage_retention: Option<Duration>,
    /// The query APIs' telemetry (PromQL, Jaeger). The default registers nowhere; the binary
    /// passes metrics registered in its own registry.
    pub metrics: QueryMetrics,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            max_series: None,
            lookback_delta: Duration::from_secs(5 * 60),
            query_timeout: Duration::from_secs(2 * 60),
            max_samples: 50_000_000,
            max_concurrent_queries: 20,
            storage_retention: Some(Duration::from_secs(15 * 86_400)),
            metrics: QueryMetrics::new(&prometheus::Registry::new()),
        }
    }
}

impl fmt::Debug for QueryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryConfig")
            .field("max_series", &self.max_series)
            .field("lookback_delta", &self.lookback_delta)
            .field("query_timeout", &self.query_timeout)
            .field("max_samples", &self.max_samples)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("storage_retention", &self.storage_retention)
            .finish()
    }
}
