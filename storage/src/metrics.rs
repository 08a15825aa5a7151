use prometheus::core::Collector;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Builds Argus' own metrics and registers each as it is made. Every crate's metrics struct
/// uses it (it lives here because every crate depends on storage). Names and help texts are
/// static, so an invalid one is a programming error caught by the first test that builds the
/// struct; registering a name twice (two stores in one test process) keeps the first.
pub struct MetricsRegistrar<'a>(pub &'a Registry);

/// Upper bounds of duration histograms in seconds, 100 µs to about 26 s (×4 each).
const SECONDS_BUCKETS: [f64; 10] = [
    0.0001, 0.0004, 0.0016, 0.0064, 0.0256, 0.1024, 0.4096, 1.6384, 6.5536, 26.2144,
];

/// Metric constructors fail only on invalid names, help texts or label names; ours are
/// literals, and tests build every crate's metrics struct (`storage_metrics_build_twice` here,
/// any test that opens a store or starts a server elsewhere), so a bad one fails the tests.
fn built<M>(metric: prometheus::Result<M>) -> M {
    metric.expect("metric names, help texts and label names are static and valid")
}

impl MetricsRegistrar<'_> {
    fn register<M: Collector + Clone + 'static>(&self, metric: prometheus::Result<M>) -> M {
        let metric = built(metric);
        let _ = self.0.register(Box::new(metric.clone()));
        metric
    }

    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::new(name, help))
    }

    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels))
    }

    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(name, help))
    }

    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels))
    }

    /// A gauge of fractional values (seconds, timestamps) with labels.
    pub fn float_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.register(GaugeVec::new(Opts::new(name, help), labels))
    }

    /// A duration histogram in seconds, 100 µs to about 26 s.
    pub fn seconds(&self, name: &str, help: &str) -> Histogram {
        self.register(Histogram::with_opts(
            HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec()),
        ))
    }

    /// [`MetricsRegistrar::seconds`] with labels.
    pub fn seconds_vec(&self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        self.register(HistogramVec::new(
            HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec()),
            labels,
        ))
    }
}

/// Counts one unit of work in a gauge for as long as it lives (an open connection, a running
/// query): incremented when made, decremented when dropped, however the work ends.
pub struct GaugeGuard(IntGauge);

impl GaugeGuard {
    pub fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The storage crate's own telemetry, every name prefixed `argus_storage_`.
#[derive(Clone)]
pub struct StorageMetrics {
    pub samples_appended: IntCounter,
    pub samples_rejected: IntCounterVec,
    pub series: IntGauge,
    pub series_created: IntCounter,
    pub head_samples: IntGauge,
    pub wal_bytes: IntCounter,
    pub wal_fsync_seconds: Histogram,
    pub wal_queue_depth: IntGauge,
    pub append_seconds: Histogram,
    pub checkpoint_seconds: Histogram,
    pub chunks_written: IntCounter,
    pub compaction_seconds: Histogram,
    pub compacted_chunks: IntCounter,
    pub retention_partitions_dropped: IntCounter,
}

impl StorageMetrics {
    pub fn new(registry: &Registry) -> Self {
        let r = MetricsRegistrar(registry);
        StorageMetrics {
            samples_appended: r.counter(
                "argus_storage_samples_appended_total",
                "Samples accepted into the series store.",
            ),
            samples_rejected: r.counter_vec(
                "argus_storage_samples_rejected_total",
                "Samples the series store refused, by reason.",
                &["reason"],
            ),
            series: r.gauge("argus_storage_series", "Series known to the series store."),
            series_created: r.counter("argus_storage_series_created_total", "Series created."),
            head_samples: r.gauge(
                "argus_storage_head_samples",
                "Samples held in memory awaiting a chunk.",
            ),
            wal_bytes: r.counter(
                "argus_storage_wal_bytes_total",
                "Bytes written to the write-ahead log.",
            ),
            wal_fsync_seconds: r.seconds(
                "argus_storage_wal_fsync_seconds",
                "Duration of write-ahead log fsyncs (one per group commit).",
            ),
            wal_queue_depth: r.gauge(
                "argus_storage_wal_queue_depth",
                "Writes waiting for the write-ahead log.",
            ),
            append_seconds: r.seconds(
                "argus_storage_append_seconds",
                "Duration of durable appends, queueing included.",
            ),
            checkpoint_seconds: r.seconds(
                "argus_storage_checkpoint_seconds",
                "Duration of head checkpoints.",
            ),
            chunks_written: r.counter(
                "argus_storage_chunks_written_total",
                "Chunks written to RocksDB.",
            ),
            compaction_seconds: r.seconds(
                "argus_storage_compaction_seconds",
                "Duration of chunk compaction runs.",
            ),
            compacted_chunks: r.counter(
                "argus_storage_compacted_chunks_total",
                "Chunks merged away by compaction.",
            ),
            retention_partitions_dropped: r.counter(
                "argus_storage_retention_partitions_dropped_total",
                "Time partitions deleted by retention.",
            ),
        }
    }
}

impl StorageMetrics {
    /// The series store's write-ahead log metrics.
    pub(crate) fn wal(&self) -> WalMetrics {
        WalMetrics {
            bytes: self.wal_bytes.clone(),
            fsync_seconds: self.wal_fsync_seconds.clone(),
            queue_depth: self.wal_queue_depth.clone(),
        }
    }
}

/// What a write-ahead log (`wal.rs`) reports; each store passes its own.
#[derive(Clone)]
pub(crate) struct WalMetrics {
    pub(crate) bytes: IntCounter,
    pub(crate) fsync_seconds: Histogram,
    pub(crate) queue_depth: IntGauge,
}

/// The log store's telemetry, every name prefixed `argus_storage_logs_`.
#[derive(Clone)]
pub struct LogMetrics {
    pub records_appended: IntCounter,
    pub bytes_appended: IntCounter,
    pub records_rejected: IntCounterVec,
    pub append_seconds: Histogram,
    pub wal_bytes: IntCounter,
    pub wal_fsync_seconds: Histogram,
    pub wal_queue_depth: IntGauge,
    pub index_queue_bytes: IntGauge,
    pub records_indexed: IntCounter,
    pub commit_seconds: Histogram,
    pub partitions: IntGauge,
    pub index_bytes: IntGauge,
    pub search_seconds: Histogram,
    pub tail_dropped: IntCounter,
    pub retention_partitions_dropped: IntCounter,
    pub index_failures: IntCounter,
}

impl LogMetrics {
    pub fn new(registry: &Registry) -> Self {
        let r = MetricsRegistrar(registry);
        LogMetrics {
            records_appended: r.counter(
                "argus_storage_logs_records_appended_total",
                "Log records written durably to the log store.",
            ),
            bytes_appended: r.counter(
                "argus_storage_logs_bytes_appended_total",
                "Bytes of original events (raw JSON) of the log records appended.",
            ),
            records_rejected: r.counter_vec(
                "argus_storage_logs_records_rejected_total",
                "Log records the log store refused, by reason.",
                &["reason"],
            ),
            append_seconds: r.seconds(
                "argus_storage_logs_append_seconds",
                "Duration of durable log appends, queueing included.",
            ),
            wal_bytes: r.counter(
                "argus_storage_logs_wal_bytes_total",
                "Bytes written to the log store's write-ahead log.",
            ),
            wal_fsync_seconds: r.seconds(
                "argus_storage_logs_wal_fsync_seconds",
                "Duration of the log store's write-ahead log fsyncs (one per group commit).",
            ),
            wal_queue_depth: r.gauge(
                "argus_storage_logs_wal_queue_depth",
                "Appends waiting for the log store's write-ahead log.",
            ),
            index_queue_bytes: r.gauge(
                "argus_storage_logs_index_queue_bytes",
                "Bytes of durable log records waiting for the indexer.",
            ),
            records_indexed: r.counter(
                "argus_storage_logs_records_indexed_total",
                "Log records committed to a tantivy index (searchable).",
            ),
            commit_seconds: r.seconds(
                "argus_storage_logs_commit_seconds",
                "Duration of index commit rounds (commit every dirty partition, reload readers).",
            ),
            partitions: r.gauge(
                "argus_storage_logs_partitions",
                "Time partitions (tantivy indexes) in the log store.",
            ),
            index_bytes: r.gauge(
                "argus_storage_logs_index_bytes",
                "Bytes of the log store's tantivy indexes on disk.",
            ),
            search_seconds: r.seconds(
                "argus_storage_logs_search_seconds",
                "Duration of log searches and error-group queries.",
            ),
            tail_dropped: r.counter(
                "argus_storage_logs_tail_dropped_total",
                "Records live-tail subscribers missed because they fell behind.",
            ),
            retention_partitions_dropped: r.counter(
                "argus_storage_logs_retention_partitions_dropped_total",
                "Log partitions deleted by retention.",
            ),
            index_failures: r.counter(
                "argus_storage_logs_index_failures_total",
                "Failed writes to the log index (and failed attempts to recover): appends are refused until it recovers.",
            ),
        }
    }

    pub(crate) fn wal(&self) -> WalMetrics {
        WalMetrics {
            bytes: self.wal_bytes.clone(),
            fsync_seconds: self.wal_fsync_seconds.clone(),
            queue_depth: self.wal_queue_depth.clone(),
        }
    }
}

/// The trace store's telemetry, every name prefixed `argus_storage_traces_`.
#[derive(Clone)]
pub struct TraceMetrics {
    pub spans_appended: IntCounter,
    pub bytes_appended: IntCounter,
    pub spans_rejected: IntCounterVec,
    pub append_seconds: Histogram,
    pub index_queue_bytes: IntGauge,
    pub spans_indexed: IntCounter,
    pub commit_seconds: Histogram,
    pub partitions: IntGauge,
    pub disk_bytes: IntGauge,
    pub search_seconds: Histogram,
    pub lookup_seconds: Histogram,
    pub retention_partitions_dropped: IntCounter,
    pub catalog_capped: IntCounter,
}

impl TraceMetrics {
    pub fn new(registry: &Registry) -> Self {
        let r = MetricsRegistrar(registry);
        TraceMetrics {
            spans_appended: r.counter(
                "argus_storage_traces_spans_appended_total",
                "Spans written durably to the trace store.",
            ),
            bytes_appended: r.counter(
                "argus_storage_traces_bytes_appended_total",
                "Bytes of the encoded spans appended (before RocksDB's compression).",
            ),
            spans_rejected: r.counter_vec(
                "argus_storage_traces_spans_rejected_total",
                "Spans the trace store refused, by reason.",
                &["reason"],
            ),
            append_seconds: r.seconds(
                "argus_storage_traces_append_seconds",
                "Duration of durable span appends, waiting for the index queue included.",
            ),
            index_queue_bytes: r.gauge(
                "argus_storage_traces_index_queue_bytes",
                "Bytes of durable spans waiting for the trace indexer.",
            ),
            spans_indexed: r.counter(
                "argus_storage_traces_spans_indexed_total",
                "Spans committed to a trace search index (searchable).",
            ),
            commit_seconds: r.seconds(
                "argus_storage_traces_commit_seconds",
                "Duration of trace index commit rounds (commit every dirty partition, reload readers).",
            ),
            partitions: r.gauge(
                "argus_storage_traces_partitions",
                "Time partitions in the trace store.",
            ),
            disk_bytes: r.gauge(
                "argus_storage_traces_disk_bytes",
                "Bytes of the trace store on disk (spans, search indexes, RocksDB's log).",
            ),
            search_seconds: r.seconds(
                "argus_storage_traces_search_seconds",
                "Duration of trace searches.",
            ),
            lookup_seconds: r.seconds(
                "argus_storage_traces_lookup_seconds",
                "Duration of trace lookups by id.",
            ),
            retention_partitions_dropped: r.counter(
                "argus_storage_traces_retention_partitions_dropped_total",
                "Trace partitions deleted by retention.",
            ),
            catalog_capped: r.counter(
                "argus_storage_traces_catalog_capped_total",
                "Spans whose service or operation was not listed because the catalog is full.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_metrics_build_twice() {
        let registry = Registry::new();
        // Building twice on one registry keeps the first registration and does not fail.
        for _ in 0..2 {
            StorageMetrics::new(&registry);
            LogMetrics::new(&registry);
            TraceMetrics::new(&registry);
        }
        assert!(!registry.gather().is_empty());
    }
}
