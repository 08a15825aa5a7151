//! Argus storage: the data model shared by every crate (labels, samples, matchers) and the
//! stores that keep it. Today that is the time-series store ([`SeriesStore`]) on RocksDB:
//! a write-ahead log of our own with group commit, in-memory head buffers, compressed
//! chunks partitioned by time, an in-memory inverted index rebuilt from the series table at
//! start-up, retention by whole partitions and background compaction. Writers reach it
//! through the [`SeriesWriter`] trait so that a stream-backed writer can stand in for it in
//! cluster mode. The on-disk layout is written down in `storage/docs/format.md`.

mod error;
mod logs;
mod metrics;
mod model;
mod series;

pub use error::StorageError;
pub use logs::{
    ErrorGroup, LogAppendOutcome, LogCursor, LogHit, LogOrder, LogQuery, LogRecord,
    LogSearchResult, LogStoreConfig, LogWriter,
};
pub use metrics::{MetricsRegistrar, StorageMetrics};
pub use model::{
    Label, Labels, METRIC_NAME, MatchOp, Matcher, STALE_NAN_BITS, Sample, SeriesSamples,
    is_stale_nan, is_valid_label_name, is_valid_metric_name, now_ms, stale_nan,
};
pub use series::{
    AppendOutcome, METADATA_ENTRIES_PER_FAMILY, METADATA_MAX_FAMILIES, METADATA_MAX_TEXT_BYTES,
    MetricMetadata, MetricType, SeriesId, SeriesRef, SeriesStore, SeriesStoreConfig, SeriesWriter,
    reject,
};
