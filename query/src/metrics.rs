//! The query crate's own telemetry, every name prefixed `argus_query_`.

use prometheus::{HistogramVec, IntCounterVec, IntGauge, Registry};
use storage::MetricsRegistrar;

/// The PromQL endpoints the metrics are labelled with.
pub(crate) const ENDPOINTS: [&str; 2] = ["query", "query_range"];

#[derive(Clone)]
pub struct QueryMetrics {
    /// PromQL request durations by endpoint, waiting for a query slot included.
    pub duration: HistogramVec,
    /// PromQL requests by endpoint and outcome (`success` or Prometheus' `errorType`).
    pub requests: IntCounterVec,
    /// PromQL queries being evaluated.
    pub in_flight: IntGauge,
    /// PromQL queries waiting for a query slot.
    pub waiting: IntGauge,
}

impl QueryMetrics {
    pub fn new(registry: &Registry) -> Self {
        let r = MetricsRegistrar(registry);
        let m = QueryMetrics {
            duration: r.seconds_vec(
                "argus_query_duration_seconds",
                "PromQL request durations by endpoint, waiting for a query slot included.",
                &["endpoint"],
            ),
            requests: r.counter_vec(
                "argus_query_requests_total",
                "PromQL requests by endpoint and outcome (success or Prometheus' errorType).",
                &["endpoint", "outcome"],
            ),
            in_flight: r.gauge("argus_query_in_flight", "PromQL queries being evaluated."),
            waiting: r.gauge(
                "argus_query_waiting",
                "PromQL queries waiting for a query slot (max_concurrent_queries).",
            ),
        };
        // Exported at zero from the start, so dashboards and rates see them before traffic.
        for endpoint in ENDPOINTS {
            m.duration.with_label_values(&[endpoint]);
            m.requests.with_label_values(&[endpoint, "success"]);
        }
        m
    }
}
