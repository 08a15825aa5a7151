//! Argus storage: the data model shared by every crate (labels, samples, matchers, log
//! records, spans) and the stores that keep it.
//!
//! - The time-series store ([`SeriesStore`]) on RocksDB: in-memory head buffers, compressed
//!   chunks partitioned by time, an in-memory inverted index rebuilt from the series table at
//!   start-up, retention by whole partitions and background compaction. Writers reach it
//!   through the [`SeriesWriter`] trait.
//! - The log store ([`LogStore`]) on tantivy: one index per time partition, a background
//!   indexer committing every `commit_interval` (the commit payload names the write-ahead log
//!   position it covers, so recovery replays exactly what is missing), Lucene-syntax search with
//!   cursor paging, histogram and facets, error groups, live tail ([`LogSubscription`]) and
//!   retention by whole partitions. Writers reach it through the [`LogWriter`] trait.
//! - The trace store ([`TraceStore`]): spans in RocksDB keyed by trace id, one column family
//!   per time partition (a trace is one prefix scan; retention drops whole partitions), a
//!   tantivy index per partition for search by service, operation, kind, status, attributes,
//!   duration and time (Jaeger's semantics, newest distinct traces first), services and
//!   operations in memory. Writers reach it through the [`TraceWriter`] trait, readers
//!   through [`TraceReader`].
//!
//! The series and log stores acknowledge a write only once it is in a write-ahead log of our
//! own (one piece of code, `wal.rs`: group commit, one fsync per group) and replay that log
//! at start-up; the trace store writes each append as one synced RocksDB batch (RocksDB
//! groups concurrent writers into one fsync) with a row naming what its search index has
//! yet to commit. The log and trace stores keep their search indexes alike, with one piece
//! of code: `partition.rs` (a tantivy index per time partition, the indexer's writers and
//! its commit round, whose payload names the sequence number it covers) and `jobs.rs` (the
//! byte-bounded queue in front of each indexer thread). The writer traits are the seam where a stream-backed writer stands in for
//! a store in cluster mode. The on-disk layouts are written down in
//! `storage/docs/format.md`.

mod calendar;
mod error;
mod files;
mod go_duration;
mod jobs;
pub mod json;
mod logs;
mod metrics;
mod model;
mod partition;
mod series;
mod traces;
mod varint;
mod wal;

pub use calendar::{civil_from_days, days_from_civil, days_in_month};
/// The string type of a log record's short parts (see [`LogRecord`]).
pub use compact_str::CompactString;
pub use error::StorageError;
pub use files::{sync_dir, write_atomically};
pub use go_duration::go_duration_ns;
pub use logs::{
    BareLogIndex, ErrorGroup, LogAppendOutcome, LogCursor, LogHit, LogOrder, LogQuery, LogRecord,
    LogSearchResult, LogStore, LogStoreConfig, LogSubscription, LogWriter, TAIL_CAPACITY,
    TailBatch, reject as log_reject,
};
pub use metrics::{GaugeGuard, LogMetrics, MetricsRegistrar, StorageMetrics, TraceMetrics};
pub use model::{
    Label, Labels, METRIC_NAME, MatchOp, Matcher, STALE_NAN_BITS, Sample, SeriesSamples,
    is_stale_nan, is_valid_label_name, is_valid_metric_name, now_ms, stale_nan,
};
pub use partition::indexing_threads as log_indexing_threads;
pub use series::{
    AppendOutcome, METADATA_ENTRIES_PER_FAMILY, METADATA_MAX_FAMILIES, METADATA_MAX_TEXT_BYTES,
    MetricMetadata, MetricType, SeriesId, SeriesRef, SeriesStore, SeriesStoreConfig, SeriesWriter,
    reject,
};
pub use traces::{
    AttrValue, KeyValue, Operation, Span, SpanAppendOutcome, SpanEvent, SpanId, SpanKind, SpanLink,
    SpanOrigin, StatusCode, TraceId, TraceMatch, TraceQuery, TraceReader, TraceStore,
    TraceStoreConfig, TraceWriter, hex, parse_hex_id, reject as trace_reject,
};
