use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};
use storage::MetricsRegistrar;

/// The ingest crate's own telemetry, every name prefixed `argus_ingest_`.
#[derive(Clone)]
pub struct IngestMetrics {
    /// StatsD lines received, by transport (`udp`, `tcp`).
    pub statsd_lines: IntCounterVec,
    /// StatsD packets (UDP datagrams) received.
    pub statsd_packets: IntCounter,
    /// StatsD lines rejected, by reason (`parse_*`, `cardinality_limit`, ...).
    pub statsd_rejects: IntCounterVec,
    /// StatsD lines dropped on purpose by a mapping's `action: drop`.
    pub statsd_dropped_by_mapping: IntCounter,
    /// Open StatsD TCP connections.
    pub statsd_tcp_connections: IntGauge,
    /// Series held by the StatsD aggregator.
    pub statsd_aggregator_series: IntGauge,
    /// Duration of a StatsD flush (snapshot plus durable write).
    pub statsd_flush_seconds: Histogram,
    /// Samples handed to storage, by source (`statsd`, `import`, `remote_write`).
    pub samples_written: IntCounterVec,
    /// Samples or lines rejected by the HTTP ingest paths, by source and reason.
    pub http_rejects: IntCounterVec,
    /// Work waiting in ingest queues, by queue.
    pub queue_depth: IntGaugeVec,
    /// Log lines (events) received, by transport (`tcp`, `http`, `es_bulk`), rejected ones
    /// included.
    pub logs_lines: IntCounterVec,
    /// Log lines rejected, by transport and reason (`invalid_json`, `not_an_object`,
    /// `line_too_long`, `invalid_utf8`, `unsupported_action`, `storage_rejected`,
    /// `storage_error`).
    pub logs_rejects: IntCounterVec,
    /// Bytes of log events received (after decompression, line breaks included), by transport.
    pub logs_bytes: IntCounterVec,
    /// Log records written durably, by transport.
    pub logs_written: IntCounterVec,
    /// Open logstash json_lines TCP connections.
    pub logs_tcp_connections: IntGauge,
    /// Logstash TCP connections closed at once because the connection limit was reached.
    pub logs_tcp_connections_refused: IntCounter,
    /// Duration of one durable log append (a TCP batch or an HTTP request).
    pub logs_append_seconds: Histogram,
    /// OTLP export requests, by signal (`traces`, `logs`, `metrics`), transport (`grpc`,
    /// `http`) and outcome (`ok`, `partial`, `invalid`, `too_large`,
    /// `unsupported_media_type`, `overloaded`, `unavailable`, `internal`).
    pub otlp_requests: IntCounterVec,
    /// Spans, log records and data points stored, by signal.
    pub otlp_accepted: IntCounterVec,
    /// Spans, log records and data points rejected, by signal and reason.
    pub otlp_rejected: IntCounterVec,
    /// Series held by the delta-to-cumulative accumulator of OTLP metrics.
    pub otlp_delta_series: IntGauge,
    /// Series the span deriver holds (span metrics and service-graph edges).
    pub derive_series: IntGauge,
    /// Span observations (or service-graph edges) not aggregated, by reason
    /// (`cardinality_limit`, `service_limit`).
    pub derive_dropped: IntCounterVec,
    /// Duration of a span-deriver flush (snapshot plus durable write).
    pub derive_flush_seconds: Histogram,
    /// Service graph: parent spans that child spans are waiting for.
    pub service_graph_pending: IntGauge,
    /// Service graph: recently seen spans remembered as possible parents.
    pub service_graph_recent: IntGauge,
    /// Service graph: children whose parent did not arrive within the wait.
    pub service_graph_expired: IntCounter,
    /// Service graph: entries pushed out before their time because a map was full, by map
    /// (`pending`, `recent`).
    pub service_graph_evicted: IntCounterVec,
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> Self {
        let r = MetricsRegistrar(registry);
        let m = IngestMetrics {
            statsd_lines: r.counter_vec(
                "argus_ingest_statsd_lines_total",
                "StatsD lines received, by transport.",
                &["transport"],
            ),
            statsd_packets: r.counter(
                "argus_ingest_statsd_packets_total",
                "StatsD UDP datagrams received.",
            ),
            statsd_rejects: r.counter_vec(
                "argus_ingest_statsd_rejects_total",
                "StatsD lines rejected, by reason.",
                &["reason"],
            ),
            statsd_dropped_by_mapping: r.counter(
                "argus_ingest_statsd_dropped_by_mapping_total",
                "StatsD lines dropped by a mapping rule with action: drop.",
            ),
            statsd_tcp_connections: r.gauge(
                "argus_ingest_statsd_tcp_connections",
                "Open StatsD TCP connections.",
            ),
            statsd_aggregator_series: r.gauge(
                "argus_ingest_statsd_aggregator_series",
                "Series held by the StatsD aggregator.",
            ),
            statsd_flush_seconds: r.seconds(
                "argus_ingest_statsd_flush_seconds",
                "Duration of StatsD flushes.",
            ),
            samples_written: r.counter_vec(
                "argus_ingest_samples_written_total",
                "Samples handed to storage, by source.",
                &["source"],
            ),
            http_rejects: r.counter_vec(
                "argus_ingest_http_rejects_total",
                "Samples or lines rejected by HTTP ingest, by source and reason.",
                &["source", "reason"],
            ),
            queue_depth: r.gauge_vec(
                "argus_ingest_queue_depth",
                "Work waiting in ingest queues.",
                &["queue"],
            ),
            logs_lines: r.counter_vec(
                "argus_ingest_logs_lines_total",
                "Log lines received, by transport.",
                &["transport"],
            ),
            logs_rejects: r.counter_vec(
                "argus_ingest_logs_rejects_total",
                "Log lines rejected, by transport and reason.",
                &["transport", "reason"],
            ),
            logs_bytes: r.counter_vec(
                "argus_ingest_logs_bytes_total",
                "Bytes of log events received after decompression, by transport.",
                &["transport"],
            ),
            logs_written: r.counter_vec(
                "argus_ingest_logs_written_total",
                "Log records written durably, by transport.",
                &["transport"],
            ),
            logs_tcp_connections: r.gauge(
                "argus_ingest_logs_tcp_connections",
                "Open logstash json_lines TCP connections.",
            ),
            logs_tcp_connections_refused: r.counter(
                "argus_ingest_logs_tcp_connections_refused_total",
                "Logstash TCP connections refused at the connection limit.",
            ),
            logs_append_seconds: r.seconds(
                "argus_ingest_logs_append_seconds",
                "Duration of durable log appends.",
            ),
            otlp_requests: r.counter_vec(
                "argus_ingest_otlp_requests_total",
                "OTLP export requests, by signal, transport and outcome.",
                &["signal", "transport", "outcome"],
            ),
            otlp_accepted: r.counter_vec(
                "argus_ingest_otlp_accepted_total",
                "OTLP spans, log records and data points stored, by signal.",
                &["signal"],
            ),
            otlp_rejected: r.counter_vec(
                "argus_ingest_otlp_rejected_total",
                "OTLP spans, log records and data points rejected, by signal and reason.",
                &["signal", "reason"],
            ),
            otlp_delta_series: r.gauge(
                "argus_ingest_otlp_delta_series",
                "Series held by the delta-to-cumulative accumulator of OTLP metrics.",
            ),
            derive_series: r.gauge(
                "argus_ingest_derive_series",
                "Series held by the span deriver (span metrics and service-graph edges).",
            ),
            derive_dropped: r.counter_vec(
                "argus_ingest_derive_dropped_total",
                "Span observations or service-graph edges not aggregated, by reason.",
                &["reason"],
            ),
            derive_flush_seconds: r.seconds(
                "argus_ingest_derive_flush_seconds",
                "Duration of span-deriver flushes.",
            ),
            service_graph_pending: r.gauge(
                "argus_ingest_service_graph_pending",
                "Parent spans that child spans are waiting for (service graph).",
            ),
            service_graph_recent: r.gauge(
                "argus_ingest_service_graph_recent_spans",
                "Recently seen spans remembered as possible parents.",
            ),
            service_graph_expired: r.counter(
                "argus_ingest_service_graph_expired_total",
                "Child spans whose parent span did not arrive within the wait.",
            ),
            service_graph_evicted: r.counter_vec(
                "argus_ingest_service_graph_evicted_total",
                "Service-graph entries pushed out early because a map was full, by map.",
                &["map"],
            ),
        };
        // Known label values exist from the start, at 0, so a scrape before the first event
        // (or a rate() over the first minutes) sees the series.
        for transport in ["udp", "tcp"] {
            m.statsd_lines.with_label_values(&[transport]);
        }
        for source in ["statsd", "import", "remote_write", "otlp", "span_derive"] {
            m.samples_written.with_label_values(&[source]);
        }
        for transport in ["tcp", "http", "es_bulk", "otlp"] {
            m.logs_lines.with_label_values(&[transport]);
            m.logs_bytes.with_label_values(&[transport]);
            m.logs_written.with_label_values(&[transport]);
        }
        for signal in ["traces", "logs", "metrics"] {
            m.otlp_accepted.with_label_values(&[signal]);
            for transport in ["grpc", "http"] {
                m.otlp_requests
                    .with_label_values(&[signal, transport, "ok"]);
            }
        }
        for map in ["pending", "recent"] {
            m.service_graph_evicted.with_label_values(&[map]);
        }
        m.derive_dropped.with_label_values(&["cardinality_limit"]);
        m
    }
}
