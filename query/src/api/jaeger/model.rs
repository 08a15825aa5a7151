//! Spans as Jaeger's JSON model (`model/json/model.go` of jaegertracing/jaeger) writes them
//! (trace ids always with 32 hex digits), converted the way Jaeger's OTLP translator (`pkg/translator/jaeger` of
//! opentelemetry-collector-contrib) turns OpenTelemetry spans into Jaeger spans:
//!
//! - span tags: `otel.scope.name`, `otel.scope.version` (when set), the span's attributes,
//!   then `span.kind` (unless unspecified), `otel.status_code` (`OK` / `ERROR`, unless unset),
//!   `error: true` (status error), `otel.status_description` (when set), `w3c.tracestate`
//!   (when set);
//! - references: the parent as `CHILD_OF` first, then every link as `FOLLOWS_FROM`;
//! - logs: one per event, its name as the `event` field, then its attributes;
//! - processes: one per distinct service and resource, `p1`, `p2`, … in order of first use,
//!   tagged with the resource's attributes but `service.name`;
//! - values: strings, booleans, `int64` (a string beyond ±2^53, which JavaScript cannot hold
//!   exactly), `float64`, `binary` as base64 (Go's encoding of bytes), arrays and maps as
//!   `string` holding their JSON.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use storage::{AttrValue, KeyValue, Span, SpanKind, SpanOrigin, StatusCode, TraceId, hex};

/// Largest integer a JavaScript number holds exactly; Jaeger writes larger ones as strings.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The spans of one trace (all of the same trace, as the store answers them) as the JSON of
/// one Jaeger trace.
pub(super) fn encode_trace(
    trace_id: &TraceId,
    spans: &[Span],
) -> Result<Vec<u8>, serde_json::Error> {
    // Always 32 digits, unlike Jaeger's `TraceID.String` (16 when the high half is zero): the
    // form OTel SDKs, the logs' `trace_id` and every other Argus API use, so links between
    // them hold for any id.
    let trace_id = hex(trace_id);
    let mut processes = Processes::default();
    let process_of: Vec<usize> = spans.iter().map(|s| processes.index_of(s)).collect();
    let process_ids: Vec<String> = (1..=processes.list.len())
        .map(|n| format!("p{n}"))
        .collect();
    let json = TraceJson {
        trace_id: &trace_id,
        spans: spans
            .iter()
            .zip(process_of)
            .map(|(span, p)| span_json(span, &trace_id, &process_ids[p]))
            .collect(),
        processes: ProcessesJson(
            processes
                .list
                .iter()
                .map(|(service, origin)| ProcessJson {
                    service_name: service,
                    tags: origin
                        .resource
                        .iter()
                        .filter(|kv| kv.key != "service.name")
                        .map(attribute_tag)
                        .collect(),
                })
                .collect(),
            &process_ids,
        ),
        warnings: None,
    };
    serde_json::to_vec(&json)
}

/// The distinct processes (service and resource) of a trace, in order of first use.
#[derive(Default)]
struct Processes<'a> {
    list: Vec<(&'a str, &'a SpanOrigin)>,
    /// Spans of one OTLP batch share their origin: most look-ups end here.
    by_origin: HashMap<*const SpanOrigin, usize>,
}

impl<'a> Processes<'a> {
    fn index_of(&mut self, span: &'a Span) -> usize {
        let ptr = Arc::as_ptr(&span.origin);
        if let Some(&i) = self.by_origin.get(&ptr) {
            // (the same origin always resolves to the same service)
            if self.list[i].0 == span.service {
                return i;
            }
        }
        // Origins that differ only in scope, or batches sent separately, are one process.
        let i = match self.list.iter().position(|(service, origin)| {
            *service == span.service && origin.resource == span.origin.resource
        }) {
            Some(i) => i,
            None => {
                self.list.push((&span.service, &span.origin));
                self.list.len() - 1
            }
        };
        self.by_origin.insert(ptr, i);
        i
    }
}

#[derive(Serialize)]
struct TraceJson<'a> {
    #[serde(rename = "traceID")]
    trace_id: &'a str,
    spans: Vec<SpanJson<'a>>,
    processes: ProcessesJson<'a>,
    warnings: Option<Vec<String>>,
}

/// `{"p1": {…}, "p2": {…}}`, in that order.
struct ProcessesJson<'a>(Vec<ProcessJson<'a>>, &'a [String]);

impl Serialize for ProcessesJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, process) in self.1.iter().zip(&self.0) {
            map.serialize_entry(id, process)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessJson<'a> {
    service_name: &'a str,
    tags: Vec<Tag<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpanJson<'a> {
    #[serde(rename = "traceID")]
    trace_id: &'a str,
    #[serde(rename = "spanID")]
    span_id: String,
    operation_name: &'a str,
    references: Vec<Reference<'a>>,
    /// Microseconds since the epoch.
    start_time: u64,
    /// Microseconds.
    duration: u64,
    tags: Vec<Tag<'a>>,
    logs: Vec<Log<'a>>,
    #[serde(rename = "processID")]
    process_id: &'a str,
    warnings: Option<Vec<String>>,
    flags: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reference<'a> {
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: std::borrow::Cow<'a, str>,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Serialize)]
struct Log<'a> {
    /// Microseconds since the epoch.
    timestamp: u64,
    fields: Vec<Tag<'a>>,
}

/// A Jaeger `KeyValue`: `{"key", "type", "value"}`.
#[derive(Debug, PartialEq, Serialize)]
pub(super) struct Tag<'a> {
    key: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    value: TagValue<'a>,
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
enum TagValue<'a> {
    Str(&'a str),
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

fn string_tag<'a>(key: &'a str, value: &'a str) -> Tag<'a> {
    Tag {
        key,
        kind: "string",
        value: TagValue::Str(value),
    }
}

fn attribute_tag(kv: &KeyValue) -> Tag<'_> {
    value_tag(&kv.key, &kv.value)
}

/// An attribute as Jaeger types it.
pub(super) fn value_tag<'a>(key: &'a str, value: &'a AttrValue) -> Tag<'a> {
    let (kind, value) = match value {
        AttrValue::String(s) => ("string", TagValue::Str(s)),
        AttrValue::Bool(b) => ("bool", TagValue::Bool(*b)),
        AttrValue::Int(i) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
            ("int64", TagValue::Int(*i))
        }
        AttrValue::Int(i) => ("int64", TagValue::Text(i.to_string())),
        // JSON has no NaN or infinity: written as text, as a too-large int64 is
        AttrValue::Double(d) if d.is_finite() => ("float64", TagValue::Float(*d)),
        AttrValue::Double(d) => ("float64", TagValue::Text(d.to_string())),
        AttrValue::Bytes(b) => ("binary", TagValue::Text(base64(b))),
        AttrValue::Array(_) | AttrValue::Map(_) => ("string", TagValue::Text(value.to_text())),
    };
    Tag { key, kind, value }
}

fn span_json<'a>(span: &'a Span, trace_id: &'a str, process_id: &'a str) -> SpanJson<'a> {
    let mut references = Vec::with_capacity(span.links.len() + 1);
    if let Some(parent) = &span.parent_span_id {
        references.push(Reference {
            ref_type: "CHILD_OF",
            trace_id: trace_id.into(),
            span_id: hex(parent),
        });
    }
    references.extend(span.links.iter().map(|link| Reference {
        ref_type: "FOLLOWS_FROM",
        trace_id: hex(&link.trace_id).into(),
        span_id: hex(&link.span_id),
    }));
    SpanJson {
        trace_id,
        span_id: hex(&span.span_id),
        operation_name: &span.name,
        references,
        start_time: span.start_unix_nano / 1000,
        duration: span.duration_nanos() / 1000,
        tags: span_tags(span),
        logs: span
            .events
            .iter()
            .map(|event| Log {
                timestamp: event.time_unix_nano / 1000,
                fields: (!event.name.is_empty())
                    .then(|| string_tag("event", &event.name))
                    .into_iter()
                    .chain(event.attributes.iter().map(attribute_tag))
                    .collect(),
            })
            .collect(),
        process_id,
        warnings: None,
        // Jaeger's flag 1 is W3C's sampled bit; the other OTLP bits (W3C's random flag,
        // parent-is-remote) would read as Jaeger's debug and firehose flags.
        flags: span.flags & 1,
    }
}

fn span_tags(span: &Span) -> Vec<Tag<'_>> {
    let origin = &span.origin;
    let mut tags = Vec::with_capacity(span.attributes.len() + 7);
    if !origin.scope_name.is_empty() {
        tags.push(string_tag("otel.scope.name", &origin.scope_name));
    }
    if !origin.scope_version.is_empty() {
        tags.push(string_tag("otel.scope.version", &origin.scope_version));
    }
    tags.extend(span.attributes.iter().map(attribute_tag));
    if span.kind != SpanKind::Unspecified {
        tags.push(string_tag("span.kind", span.kind.as_str()));
    }
    match span.status_code {
        StatusCode::Unset => {}
        StatusCode::Ok => tags.push(string_tag("otel.status_code", "OK")),
        StatusCode::Error => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(Tag {
                key: "error",
                kind: "bool",
                value: TagValue::Bool(true),
            });
        }
    }
    if !span.status_message.is_empty() {
        tags.push(string_tag("otel.status_description", &span.status_message));
    }
    if !span.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &span.trace_state));
    }
    tags
}

/// Standard base64 with padding, what Go's `encoding/json` writes for `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_go_writes_it() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn value_types() {
        let json = |v: AttrValue| {
            serde_json::to_value(value_tag("k", &v)).unwrap_or_else(|e| panic!("{e}"))
        };
        use serde_json::json;
        assert_eq!(
            json(AttrValue::String("x".into())),
            json!({"key":"k","type":"string","value":"x"})
        );
        assert_eq!(
            json(AttrValue::Bool(false)),
            json!({"key":"k","type":"bool","value":false})
        );
        assert_eq!(
            json(AttrValue::Int(-42)),
            json!({"key":"k","type":"int64","value":-42})
        );
        assert_eq!(
            json(AttrValue::Int(JS_MAX_SAFE_INTEGER)),
            json!({"key":"k","type":"int64","value":9_007_199_254_740_991_i64})
        );
        assert_eq!(
            json(AttrValue::Int(i64::MAX)),
            json!({"key":"k","type":"int64","value":"9223372036854775807"})
        );
        assert_eq!(
            json(AttrValue::Double(0.25)),
            json!({"key":"k","type":"float64","value":0.25})
        );
        assert_eq!(
            json(AttrValue::Double(f64::NAN)),
            json!({"key":"k","type":"float64","value":"NaN"})
        );
        assert_eq!(
            json(AttrValue::Bytes(b"foo".to_vec())),
            json!({"key":"k","type":"binary","value":"Zm9v"})
        );
        assert_eq!(
            json(AttrValue::Array(vec![
                AttrValue::Int(1),
                AttrValue::String("a".into())
            ])),
            json!({"key":"k","type":"string","value":"[1,\"a\"]"})
        );
        assert_eq!(
            json(AttrValue::Map(vec![KeyValue::new(
                "a",
                AttrValue::Bool(true)
            )])),
            json!({"key":"k","type":"string","value":"{\"a\":true}"})
        );
    }
}
