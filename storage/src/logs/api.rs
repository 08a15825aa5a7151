//! The log store's public types: what ingest writes, what search asks and answers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::StorageError;

/// One log line after ingest normalised it. The original event is kept verbatim in `raw`, so
/// search can return it as it came; the other fields are what search filters on.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// The event's time (`@timestamp`), ms since the epoch.
    pub time_ms: i64,
    /// Normalised level: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`, or the event's own
    /// word upper-cased when it is none of these.
    pub level: Option<String>,
    pub service: Option<String>,
    pub host: Option<String>,
    /// Full-text field.
    pub message: String,
    /// Exact-match fields.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    /// Error group of an error line (ERROR level or above, or carrying an exception), `None`
    /// for other lines.
    pub fingerprint: Option<String>,
    /// Every other field of the event, nested objects kept (searchable as `a.b:value`).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The original event, as received.
    pub raw: String,
}

/// What an append did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogAppendOutcome {
    /// Records written durably.
    pub accepted: u64,
    /// Records refused by the store, with the reason, by index into the batch.
    pub rejected: Vec<(usize, String)>,
}

/// Durable log writes: when `append_logs` returns `Ok`, every accepted record survives a crash
/// and becomes searchable within about a second. Blocking.
pub trait LogWriter: Send + Sync {
    fn append_logs(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError>;
}

/// Settings of a [`crate::LogStore`].
#[derive(Debug, Clone)]
pub struct LogStoreConfig {
    /// Directory of the log store (its WAL and one index per partition).
    pub dir: PathBuf,
    /// Records older than this are deleted, a whole partition at a time; `None` keeps all.
    pub retention: Option<Duration>,
    /// Length of a partition (one tantivy index).
    pub partition: Duration,
    /// How often new records are committed and made searchable.
    pub commit_interval: Duration,
    /// Memory budget of the tantivy index writer of a partition.
    pub writer_memory_bytes: usize,
}

impl LogStoreConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogStoreConfig {
            dir: dir.into(),
            retention: Some(Duration::from_secs(15 * 24 * 3600)),
            partition: Duration::from_secs(24 * 3600),
            commit_interval: Duration::from_millis(500),
            writer_memory_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Where a page of hits ended: the last hit's time and sequence number. The next page starts
/// strictly after it in the search's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor {
    pub time_ms: i64,
    pub seq: u64,
}

/// A log search.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Lucene syntax as tantivy's query parser reads it; empty matches everything.
    pub query: String,
    /// Time range, ms, both inclusive.
    pub start_ms: i64,
    pub end_ms: i64,
    pub limit: usize,
    pub order: LogOrder,
    pub after: Option<LogCursor>,
    /// Width of a histogram bucket; `None` for no histogram.
    pub histogram_bucket_ms: Option<i64>,
    /// How many top values of `level`, `service` and `host` to count; 0 for no facets.
    pub facet_limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    /// The store's sequence number of the record: unique, assigned at append.
    pub seq: u64,
    pub record: LogRecord,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogSearchResult {
    pub hits: Vec<LogHit>,
    /// All records matching the query in the range, not just this page.
    pub total: u64,
    /// Set when more hits follow this page.
    pub next: Option<LogCursor>,
    /// `(bucket start ms, count)` over the whole matched set, buckets aligned to the width.
    pub histogram: Vec<(i64, u64)>,
    /// Top values per facet field (`level`, `service`, `host`) over the matched set.
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
}

/// One error group, for `/api/v1/errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroup {
    pub fingerprint: String,
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub services: Vec<String>,
    /// The newest line of the group.
    pub example: LogHit,
}
