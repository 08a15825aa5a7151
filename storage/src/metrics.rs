use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

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

fn histogram(name: &str, help: &str) -> Histogram {
    let buckets = prometheus::exponential_buckets(0.0001, 4.0, 10).unwrap_or_default();
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("static histogram options are valid")
}

impl StorageMetrics {
    pub fn new(registry: &Registry) -> Self {
        let m = StorageMetrics {
            samples_appended: IntCounter::new(
                "argus_storage_samples_appended_total",
                "Samples accepted into the series store.",
            )
            .expect("valid metric"),
            samples_rejected: IntCounterVec::new(
                Opts::new(
                    "argus_storage_samples_rejected_total",
                    "Samples the series store refused, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            series: IntGauge::new("argus_storage_series", "Series known to the series store.")
                .expect("valid metric"),
            series_created: IntCounter::new(
                "argus_storage_series_created_total",
                "Series created.",
            )
            .expect("valid metric"),
            head_samples: IntGauge::new(
                "argus_storage_head_samples",
                "Samples held in memory awaiting a chunk.",
            )
            .expect("valid metric"),
            wal_bytes: IntCounter::new(
                "argus_storage_wal_bytes_total",
                "Bytes written to the write-ahead log.",
            )
            .expect("valid metric"),
            wal_fsync_seconds: histogram(
                "argus_storage_wal_fsync_seconds",
                "Duration of write-ahead log fsyncs (one per group commit).",
            ),
            wal_queue_depth: IntGauge::new(
                "argus_storage_wal_queue_depth",
                "Writes waiting for the write-ahead log.",
            )
            .expect("valid metric"),
            append_seconds: histogram(
                "argus_storage_append_seconds",
                "Duration of durable appends, queueing included.",
            ),
            checkpoint_seconds: histogram(
                "argus_storage_checkpoint_seconds",
                "Duration of head checkpoints.",
            ),
            chunks_written: IntCounter::new(
                "argus_storage_chunks_written_total",
                "Chunks written to RocksDB.",
            )
            .expect("valid metric"),
            compaction_seconds: histogram(
                "argus_storage_compaction_seconds",
                "Duration of chunk compaction runs.",
            ),
            compacted_chunks: IntCounter::new(
                "argus_storage_compacted_chunks_total",
                "Chunks merged away by compaction.",
            )
            .expect("valid metric"),
            retention_partitions_dropped: IntCounter::new(
                "argus_storage_retention_partitions_dropped_total",
                "Time partitions deleted by retention.",
            )
            .expect("valid metric"),
        };
        // Registering twice (a second store in one process, as in tests) is harmless: the
        // duplicate is simply not exported.
        let _ = registry.register(Box::new(m.samples_appended.clone()));
        let _ = registry.register(Box::new(m.samples_rejected.clone()));
        let _ = registry.register(Box::new(m.series.clone()));
        let _ = registry.register(Box::new(m.series_created.clone()));
        let _ = registry.register(Box::new(m.head_samples.clone()));
        let _ = registry.register(Box::new(m.wal_bytes.clone()));
        let _ = registry.register(Box::new(m.wal_fsync_seconds.clone()));
        let _ = registry.register(Box::new(m.wal_queue_depth.clone()));
        let _ = registry.register(Box::new(m.append_seconds.clone()));
        let _ = registry.register(Box::new(m.checkpoint_seconds.clone()));
        let _ = registry.register(Box::new(m.chunks_written.clone()));
        let _ = registry.register(Box::new(m.compaction_seconds.clone()));
        let _ = registry.register(Box::new(m.compacted_chunks.clone()));
        let _ = registry.register(Box::new(m.retention_partitions_dropped.clone()));
        m
    }
}
