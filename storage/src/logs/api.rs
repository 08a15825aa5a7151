//! The log store's public types: what ingest writes, what search asks and answers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use compact_str::CompactString;

use crate::StorageError;

/// One log line after ingest normalised it. The original event is kept verbatim in `raw`, so
/// search can return it as it came; the other fields are what search filters on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    /// The event's time (`@timestamp`), ms since the epoch.
    pub time_ms: i64,
    /// Normalised level: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`, or the event's own
    /// word upper-cased when it is none of these.
    ///
    /// The short parts are `CompactString`s, kept inline up to 24 bytes: ingest makes a
    /// record for every line, and the allocations were a tenth of its own CPU under load when
    /// every part was a `String`.
    pub level: Option<CompactString>,
    pub service: Option<CompactString>,
    pub host: Option<CompactString>,
    /// Full-text field.
    pub message: String,
    /// Exact-match fields.
    pub trace_id: Option<CompactString>,
    pub span_id: Option<CompactString>,
    /// Error group of an error line (ERROR level or above, or carrying an exception), `None`
    /// for other lines.
    pub fingerprint: Option<CompactString>,
    /// Every other field of the event, as the text of a JSON object (`{"a":1,"b":{"c":"d"}}`),
    /// nested objects kept (searchable as `a.b:value`); empty when there is none. Text, not a
    /// tree: ingest copies the members out of the event as they came, and the index reads
    /// them with one pass of [`crate::json::JsonTape`].
    pub fields: String,
    /// The original event, as received.
    pub raw: String,
}

impl LogRecord {
    /// The fields as a map; empty when there are none (or, which no writer does, when the
    /// text is not a JSON object).
    pub fn fields_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&self.fields) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }

    /// The `fields` text of a map: empty for an empty map.
    pub fn fields_text(map: &serde_json::Map<String, serde_json::Value>) -> String {
        if map.is_empty() {
            return String::new();
        }
        // Writing a map of JSON values into a String cannot fail.
        serde_json::to_string(map).unwrap_or_default()
    }

    /// Sets the top-level field `key`, replacing one of that name.
    pub fn insert_field(&mut self, key: &str, value: serde_json::Value) {
        let is_new_key = || {
            crate::json::JsonTape::parse(&self.fields)
                .is_ok_and(|tape| tape.root().is_object() && tape.root().get(key).is_none())
        };
        if self.fields.is_empty() || !is_new_key() {
            let mut map = self.fields_map();
            map.insert(key.to_string(), value);
            self.fields = LogRecord::fields_text(&map);
            return;
        }
        // The common case, a new key: written in front of the members as they came.
        let mut out = String::with_capacity(self.fields.len() + key.len() + 32);
        out.push('{');
        out.push_str(&serde_json::Value::from(key).to_string());
        out.push(':');
        out.push_str(&value.to_string());
        // An object's text: `{` after any whitespace.
        let members = self
            .fields
            .trim_start()
            .strip_prefix('{')
            .unwrap_or_default();
        if !members.trim_start().starts_with('}') {
            out.push(',');
        }
        out.push_str(members);
        self.fields = out;
    }
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

    /// Whether appends would be taken now: [`StorageError::Unavailable`] while the store
    /// cannot write (and recovers by itself). A source without acknowledgements (TCP) asks
    /// before it hands over records it could not send again.
    fn writable(&self) -> Result<(), StorageError> {
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::LogRecord;

    fn record(fields: &str) -> LogRecord {
        LogRecord {
            fields: fields.to_string(),
            ..LogRecord::default()
        }
    }

    #[test]
    fn insert_field_adds_or_replaces() -> Result<(), serde_json::Error> {
        for (fields, want) in [
            ("", json!({"_index": "x"})),
            ("{}", json!({"_index": "x"})),
            (" { } ", json!({"_index": "x"})),
            (r#"{"a":1}"#, json!({"_index": "x", "a": 1})),
            (
                r#" { "a" : {"b":[1]} } "#,
                json!({"_index": "x", "a": {"b": [1]}}),
            ),
            (r#"{"_index":"old","a":1}"#, json!({"_index": "x", "a": 1})),
        ] {
            let mut r = record(fields);
            r.insert_field("_index", json!("x"));
            assert_eq!(
                serde_json::from_str::<Value>(&r.fields)?,
                want,
                "{fields:?}"
            );
        }
        Ok(())
    }
}
