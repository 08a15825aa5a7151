use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

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
}

fn histogram(name: &str, help: &str) -> Histogram {
    let buckets = prometheus::exponential_buckets(0.0001, 4.0, 10).unwrap_or_default();
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("static histogram options are valid")
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> Self {
        let m = IngestMetrics {
            statsd_lines: IntCounterVec::new(
                Opts::new(
                    "argus_ingest_statsd_lines_total",
                    "StatsD lines received, by transport.",
                ),
                &["transport"],
            )
            .expect("valid metric"),
            statsd_packets: IntCounter::new(
                "argus_ingest_statsd_packets_total",
                "StatsD UDP datagrams received.",
            )
            .expect("valid metric"),
            statsd_rejects: IntCounterVec::new(
                Opts::new(
                    "argus_ingest_statsd_rejects_total",
                    "StatsD lines rejected, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            statsd_dropped_by_mapping: IntCounter::new(
                "argus_ingest_statsd_dropped_by_mapping_total",
                "StatsD lines dropped by a mapping rule with action: drop.",
            )
            .expect("valid metric"),
            statsd_tcp_connections: IntGauge::new(
                "argus_ingest_statsd_tcp_connections",
                "Open StatsD TCP connections.",
            )
            .expect("valid metric"),
            statsd_aggregator_series: IntGauge::new(
                "argus_ingest_statsd_aggregator_series",
                "Series held by the StatsD aggregator.",
            )
            .expect("valid metric"),
            statsd_flush_seconds: histogram(
                "argus_ingest_statsd_flush_seconds",
                "Duration of StatsD flushes.",
            ),
            samples_written: IntCounterVec::new(
                Opts::new(
                    "argus_ingest_samples_written_total",
                    "Samples handed to storage, by source.",
                ),
                &["source"],
            )
            .expect("valid metric"),
            http_rejects: IntCounterVec::new(
                Opts::new(
                    "argus_ingest_http_rejects_total",
                    "Samples or lines rejected by HTTP ingest, by source and reason.",
                ),
                &["source", "reason"],
            )
            .expect("valid metric"),
            queue_depth: IntGaugeVec::new(
                Opts::new("argus_ingest_queue_depth", "Work waiting in ingest queues."),
                &["queue"],
            )
            .expect("valid metric"),
        };
        let _ = registry.register(Box::new(m.statsd_lines.clone()));
        let _ = registry.register(Box::new(m.statsd_packets.clone()));
        let _ = registry.register(Box::new(m.statsd_rejects.clone()));
        let _ = registry.register(Box::new(m.statsd_dropped_by_mapping.clone()));
        let _ = registry.register(Box::new(m.statsd_tcp_connections.clone()));
        let _ = registry.register(Box::new(m.statsd_aggregator_series.clone()));
        let _ = registry.register(Box::new(m.statsd_flush_seconds.clone()));
        let _ = registry.register(Box::new(m.samples_written.clone()));
        let _ = registry.register(Box::new(m.http_rejects.clone()));
        let _ = registry.register(Box::new(m.queue_depth.clone()));
        m
    }
}
