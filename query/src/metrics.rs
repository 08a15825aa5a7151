//! The query crate's own telemetry, every name prefixed `argus_query_`.

use prometheus::{HistogramVec, IntCounterVec, IntGauge, Registry};
use storage::MetricsRegistrar;

/// The PromQL endpoints the metrics are labelled with.
pub(crate) const ENDPOINTS: [&str; 2] = ["query", "query_range"];

/// The Jaeger API endpoints the metrics are labelled with (`operations` counts both
/// `/operations` and `/services/{service}/operations`).
pub(crate) const JAEGER_ENDPOINTS: [&str; 5] =
    ["services", "operations", "traces", "trace", "dependencies"];

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
    /// Jaeger API request durations by endpoint.
    pub jaeger_duration: HistogramVec,
    /// Jaeger API requests by endpoint and outcome (`success` or the error's Prometheus
    /// `errorType`: `bad_data`, `not_found`, `internal`, …).
    pub jaeger_requests: IntCounterVec,
}

/// Counts one finished request of an API in `requests` (by endpoint and outcome: `success` or
/// the error's Prometheus `errorType`) and its time in `duration`.
pub(crate) fn record_request<T>(
    requests: &IntCounterVec,
    duration: &HistogramVec,
    endpoint: &str,
    received: std::time::Instant,
    result: &Result<T, crate::error::QueryError>,
) {
    let outcome = match result {
        Ok(_) => "success",
        Err(e) => e.error_type(),
    };
    requests.with_label_values(&[endpoint, outcome]).inc();
    duration
        .with_label_values(&[endpoint])
        .observe(received.elapsed().as_secs_f64());
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
            jaeger_duration: r.seconds_vec(
                "argus_query_jaeger_request_duration_seconds",
                "Jaeger API request durations by endpoint.",
                &["endpoint"],
            ),
            jaeger_requests: r.counter_vec(
                "argus_query_jaeger_requests_total",
                "Jaeger API requests by endpoint and outcome (success or the error type).",
                &["endpoint", "outcome"],
            ),
        };
        // Exported at zero from the start, so dashboards and rates see them before traffic.
        for endpoint in ENDPOINTS {
            m.duration.with_label_values(&[endpoint]);
            m.requests.with_label_values(&[endpoint, "success"]);
        }
        for endpoint in JAEGER_ENDPOINTS {
            m.jaeger_duration.with_label_values(&[endpoint]);
            m.jaeger_requests.with_label_values(&[endpoint, "success"]);
        }
        m
    }
}
