//! The trace store's public types: what ingest writes (spans), what trace search asks and
//! answers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::StorageError;

/// A W3C / OpenTelemetry trace id. All zeros is invalid.
pub type TraceId = [u8; 16];
/// A W3C / OpenTelemetry span id. All zeros is invalid.
pub type SpanId = [u8; 8];

/// The span kinds of OpenTelemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub const ALL: [SpanKind; 6] = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// Lower-case name as Jaeger spells it (`spanKind` parameter, `span.kind` tag) and as the
    /// `span_kind` label of the span-derived series carries it; `unspecified` for none.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// The inverse of [`SpanKind::as_str`], case-insensitive.
    pub fn parse(s: &str) -> Option<SpanKind> {
        SpanKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    /// From OTLP's `Span.SpanKind` number; unknown numbers are `Unspecified`.
    pub fn from_otlp(n: i32) -> SpanKind {
        match n {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// A span's status code, as OpenTelemetry defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    /// `unset`, `ok`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }

    /// From OTLP's `Status.StatusCode` number; unknown numbers are `Unset`.
    pub fn from_otlp(n: i32) -> StatusCode {
        match n {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

/// An attribute value, as OpenTelemetry's `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    Map(Vec<KeyValue>),
}

impl AttrValue {
    /// The value as text, the form tag search compares with (`key=value`): strings as they
    /// are, numbers and booleans written out (doubles in Rust's shortest round-trip form),
    /// bytes as lower-case hex, arrays and maps as compact JSON.
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::String(s) => s.clone(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Double(d) => d.to_string(),
            AttrValue::Bytes(b) => hex(b),
            AttrValue::Array(_) | AttrValue::Map(_) => self.to_json().to_string(),
        }
    }

    /// The value as JSON (bytes as hex text, non-finite doubles as their text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            AttrValue::String(s) => Value::String(s.clone()),
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(i) => Value::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(d.to_string())),
            AttrValue::Bytes(b) => Value::String(hex(b)),
            AttrValue::Array(items) => Value::Array(items.iter().map(AttrValue::to_json).collect()),
            AttrValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Lower-case hex of `bytes` (trace and span ids are written this way everywhere).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses lower- or upper-case hex into exactly `N` bytes. A shorter string is left-padded
/// with zeros (Jaeger clients send 64-bit trace ids as 16 digits); a longer one is refused.
pub fn parse_hex_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>width$}", width = 2 * N);
    let mut out = [0u8; N];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: AttrValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AttrValue) -> Self {
        KeyValue {
            key: key.into(),
            value,
        }
    }
}

/// The resource and instrumentation scope a span was recorded under. Shared by every span of
/// one OTLP `ScopeSpans`, so a batch holds each once in memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanOrigin {
    /// Resource attributes (`service.name`, `host.name`, …), as sent.
    pub resource: Vec<KeyValue>,
    pub scope_name: String,
    pub scope_version: String,
}

/// An event (Jaeger: a log) of a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time_unix_nano: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
}

/// One span, as OTLP describes it, with its service resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    pub trace_state: String,
    pub flags: u32,
    /// The resource's `service.name`; `unknown_service` when it has none (as the SDKs do).
    pub service: String,
    /// The operation name.
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub status_code: StatusCode,
    pub status_message: String,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    pub origin: Arc<SpanOrigin>,
}

impl Span {
    /// End minus start; zero when the end is before the start.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }

    pub fn is_error(&self) -> bool {
        self.status_code == StatusCode::Error
    }
}

/// What an append did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanAppendOutcome {
    /// Spans written durably.
    pub accepted: u64,
    /// Spans refused by the store, with the reason, by index into the batch.
    pub rejected: Vec<(usize, String)>,
}

/// Durable span writes: when `append_spans` returns `Ok`, every accepted span survives a
/// crash, is returned by [`TraceStore`](crate::TraceStore)'s trace lookup at once and found
/// by search within about a second. Blocking: call it from a blocking thread.
pub trait TraceWriter: Send + Sync {
    fn append_spans(&self, spans: Vec<Span>) -> Result<SpanAppendOutcome, StorageError>;
}

/// Trace reads, the seam the query layer uses (a cluster merges several readers' answers).
/// Blocking: call it from a blocking thread.
pub trait TraceReader: Send + Sync {
    /// Every span of the trace, ordered by start time then span id; empty when unknown.
    fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>, StorageError>;
    /// Traces with a span matching `query`, newest first, at most `query.limit`.
    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TraceMatch>, StorageError>;
    /// Every service with spans in the store, sorted.
    fn services(&self) -> Result<Vec<String>, StorageError>;
    /// The operations of `service` (of one kind when `kind` is given), sorted.
    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError>;
}

/// Settings of a [`TraceStore`](crate::TraceStore).
#[derive(Debug, Clone)]
pub struct TraceStoreConfig {
    /// Directory of the trace store.
    pub dir: PathBuf,
    /// Spans that started longer ago than this are deleted, a whole partition at a time;
    /// `None` keeps all.
    pub retention: Option<Duration>,
    /// Length of a partition, by span start time.
    pub partition: Duration,
    /// How often new spans are committed to the search index and become searchable.
    pub commit_interval: Duration,
    /// Memory budget of the search index writer of a partition.
    pub writer_memory_bytes: usize,
}

impl TraceStoreConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TraceStoreConfig {
            dir: dir.into(),
            retention: Some(Duration::from_secs(15 * 24 * 3600)),
            partition: Duration::from_secs(24 * 3600),
            commit_interval: Duration::from_millis(500),
            writer_memory_bytes: 64 << 20,
        }
    }
}

/// A trace search, Jaeger's semantics: a trace is found when at least one of its spans
/// matches every condition given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub service: Option<String>,
    /// Span name.
    pub operation: Option<String>,
    pub span_kind: Option<SpanKind>,
    pub status: Option<StatusCode>,
    /// `key=value`: a span attribute, a resource attribute or an event attribute with this
    /// key whose [`AttrValue::to_text`] equals the value.
    pub tags: Vec<(String, String)>,
    /// Bounds on the span's duration, both inclusive.
    pub min_duration_nanos: Option<u64>,
    pub max_duration_nanos: Option<u64>,
    /// The matching span's start time lies in `[start, end]`.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Most traces to return.
    pub limit: usize,
}

/// A trace found by search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceMatch {
    pub trace_id: TraceId,
    /// Start time of the newest matching span; results are ordered newest first by it.
    pub latest_start_unix_nano: u64,
}

/// One operation of a service, for Jaeger's `operations` listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub name: String,
    pub kind: SpanKind,
}
