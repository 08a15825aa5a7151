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
        };
        // Known label values exist from the start, at 0, so a scrape before the first event
        // (or a rate() over the first minutes) sees the series.
        for transport in ["udp", "tcp"] {
            m.statsd_lines.with_label_values(&[transport]);
        }
        for source in ["statsd", "import", "remote_write"] {
            m.samples_written.with_label_values(&[source]);
        }
        for transport in ["tcp", "http", "es_bulk"] {
            m.logs_lines.with_label_values(&[transport]);
            m.logs_bytes.with_label_values(&[transport]);
            m.logs_written.with_label_values(&[transport]);
        }
        m
    }
}
