//! The trace store: spans grouped by trace, with a search index by service, operation, kind,
//! status, attributes, duration and time.

mod api;

pub use api::{
    AttrValue, KeyValue, Operation, Span, SpanAppendOutcome, SpanEvent, SpanId, SpanKind, SpanLink,
    SpanOrigin, StatusCode, TraceId, TraceMatch, TraceQuery, TraceReader, TraceStoreConfig,
    TraceWriter, hex, parse_hex_id,
};
