//! `ExportTraceServiceRequest` → [`storage::Span`]s, and the export itself: the durable
//! append, then the span deriver.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span as OtlpSpan};
use storage::{Span, SpanEvent, SpanKind, SpanLink, SpanOrigin, StatusCode, TraceWriter, hex};

use super::common::{ExportOutcome, Rejections, Signal, attributes, span_id, text_of, trace_id};
use crate::IngestError;
use crate::IngestMetrics;
use crate::derive::{SpanDeriver, SpanFacts};

/// The service of spans whose resource has no `service.name`, as the SDKs name it.
pub(crate) const UNKNOWN_SERVICE: &str = "unknown_service";

/// The spans of a request that can be stored, and what was wrong with the others.
#[derive(Debug, Default)]
pub(crate) struct ConvertedSpans {
    pub(crate) spans: Vec<Span>,
    pub(crate) rejected: Rejections,
}

/// Converts a request, consuming it (no attribute is copied). Never panics; a span that
/// cannot be stored is counted in `rejected` with the reason.
pub(crate) fn convert(req: ExportTraceServiceRequest) -> ConvertedSpans {
    let mut out = ConvertedSpans::default();
    for rs in req.resource_spans {
        convert_resource(rs, &mut out);
    }
    out
}

fn convert_resource(rs: ResourceSpans, out: &mut ConvertedSpans) {
    let resource = attributes(rs.resource.map(|r| r.attributes).unwrap_or_default());
    let service = text_of(&resource, "service.name").unwrap_or_else(|| UNKNOWN_SERVICE.into());
    for ss in rs.scope_spans {
        if ss.spans.is_empty() {
            continue;
        }
        let (scope_name, scope_version) = ss.scope.map(|s| (s.name, s.version)).unwrap_or_default();
        let origin = Arc::new(SpanOrigin {
            resource: resource.clone(),
            scope_name,
            scope_version,
        });
        out.spans.reserve(ss.spans.len());
        for span in ss.spans {
            match convert_span(span, &service, &origin) {
                Ok(span) => out.spans.push(span),
                Err((reason, detail)) => out.rejected.reject(reason, || detail),
            }
        }
    }
}

fn convert_span(
    s: OtlpSpan,
    service: &str,
    origin: &Arc<SpanOrigin>,
) -> Result<Span, (&'static str, String)> {
    let which = |e: String| format!("span {:?} of service {service:?}: {e}", s.name);
    let trace = trace_id(&s.trace_id).map_err(|e| ("invalid_trace_id", which(e)))?;
    let id = span_id(&s.span_id).map_err(|e| ("invalid_span_id", which(e)))?;
    let parent = match s.parent_span_id.len() {
        // Some converters write a root's parent as zeros rather than leaving it empty: the
        // all-zero id is refused, so that root is a root here too.
        0 | 8 => span_id(&s.parent_span_id).ok(),
        n => {
            return Err((
                "invalid_parent_span_id",
                which(format!("parent_span_id must be 8 bytes or empty, got {n}")),
            ));
        }
    };
    if s.start_time_unix_nano == 0 {
        return Err((
            "missing_start_time",
            which("start_time_unix_nano is 0".into()),
        ));
    }
    let (status_code, status_message) = s
        .status
        .map(|st| (StatusCode::from_otlp(st.code), st.message))
        .unwrap_or_default();
    Ok(Span {
        trace_id: trace,
        span_id: id,
        parent_span_id: parent,
        trace_state: s.trace_state,
        flags: s.flags,
        service: service.to_string(),
        name: s.name,
        kind: SpanKind::from_otlp(s.kind),
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        status_code,
        status_message,
        attributes: attributes(s.attributes),
        events: s.events.into_iter().map(event).collect(),
        links: s.links.into_iter().filter_map(link).collect(),
        origin: origin.clone(),
    })
}

fn event(e: Event) -> SpanEvent {
    SpanEvent {
        time_unix_nano: e.time_unix_nano,
        name: e.name,
        attributes: attributes(e.attributes),
    }
}

/// A link to a span with invalid ids points nowhere and is dropped; the span is kept.
fn link(l: Link) -> Option<SpanLink> {
    Some(SpanLink {
        trace_id: trace_id(&l.trace_id).ok()?,
        span_id: span_id(&l.span_id).ok()?,
        trace_state: l.trace_state,
        attributes: attributes(l.attributes),
    })
}

/// Converts, appends durably, and feeds the spans the store accepted to the deriver.
/// Blocking: runs on the admission's blocking threads.
pub(crate) fn export(
    writer: &dyn TraceWriter,
    deriver: Option<&SpanDeriver>,
    metrics: &IngestMetrics,
    req: ExportTraceServiceRequest,
) -> Result<ExportOutcome, IngestError> {
    let ConvertedSpans {
        spans,
        mut rejected,
    } = convert(req);
    if spans.is_empty() {
        return Ok(ExportOutcome::new(metrics, Signal::Traces, 0, &rejected));
    }
    // What the deriver needs is copied out before the spans move into the store.
    let facts: Vec<SpanFacts> = match deriver {
        Some(_) => spans.iter().map(SpanFacts::of).collect(),
        None => Vec::new(),
    };
    let ids: Vec<(storage::TraceId, storage::SpanId)> =
        spans.iter().map(|s| (s.trace_id, s.span_id)).collect();
    let outcome = writer.append_spans(spans)?;
    let mut refused = vec![false; ids.len()];
    for (i, reason) in &outcome.rejected {
        if let Some(slot) = refused.get_mut(*i) {
            *slot = true;
        }
        rejected.reject("storage_rejected", || {
            let (t, s) = ids.get(*i).copied().unwrap_or_default();
            format!("span {} of trace {}: {reason}", hex(&s), hex(&t))
        });
    }
    if let Some(deriver) = deriver {
        // only what the store kept is derived from
        let kept: Vec<SpanFacts> = facts
            .into_iter()
            .zip(refused)
            .filter_map(|(f, refused)| (!refused).then_some(f))
            .collect();
        deriver.observe_facts(&kept);
    }
    Ok(ExportOutcome::new(
        metrics,
        Signal::Traces,
        outcome.accepted,
        &rejected,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Status};
    use storage::{AttrValue, KeyValue};

    use super::*;

    pub(crate) fn kv(key: &str, v: &str) -> OtlpKeyValue {
        OtlpKeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            key_strindex: 0,
        }
    }

    pub(crate) fn otlp_span(trace: u8, id: u8, parent: Option<u8>, name: &str) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            ..OtlpSpan::default()
        }
    }

    pub(crate) fn request(
        service: Option<&str>,
        spans: Vec<OtlpSpan>,
    ) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: service
                        .map(|s| vec![kv("service.name", s), kv("host.name", "h1")])
                        .unwrap_or_default(),
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.2".into(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn spans_convert_with_service_origin_kind_and_status() {
        let mut s = otlp_span(1, 2, Some(3), "GET /users");
        s.kind = 3;
        s.status = Some(Status {
            message: "boom".into(),
            code: 2,
        });
        s.attributes = vec![kv("http.method", "GET")];
        s.events = vec![Event {
            time_unix_nano: 5,
            name: "exception".into(),
            attributes: vec![kv("exception.type", "E")],
            dropped_attributes_count: 0,
        }];
        s.links = vec![
            Link {
                trace_id: vec![9; 16],
                span_id: vec![8; 8],
                ..Link::default()
            },
            Link {
                trace_id: vec![9; 3],
                span_id: vec![8; 8],
                ..Link::default()
            },
        ];
        let mut root = otlp_span(1, 3, None, "root");
        root.status = Some(Status {
            message: String::new(),
            code: 1,
        });
        root.kind = 99;
        let mut zero_parent = otlp_span(1, 4, None, "zero parent");
        zero_parent.parent_span_id = vec![0; 8];
        let out = convert(request(Some("api"), vec![s, root, zero_parent]));
        assert_eq!(out.rejected.total(), 0);
        let [child, root, zero] = &out.spans[..] else {
            panic!("{:?}", out.spans)
        };
        assert_eq!(child.service, "api");
        assert_eq!(child.trace_id, [1; 16]);
        assert_eq!(child.span_id, [2; 8]);
        assert_eq!(child.parent_span_id, Some([3; 8]));
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(child.status_code, StatusCode::Error);
        assert_eq!(child.status_message, "boom");
        assert!(child.is_error());
        assert_eq!(child.duration_nanos(), 250_000_000);
        assert_eq!(
            child.attributes,
            vec![KeyValue::new(
                "http.method",
                AttrValue::String("GET".into())
            )]
        );
        assert_eq!(child.events[0].name, "exception");
        assert_eq!(
            child.links.len(),
            1,
            "the link with a bad trace id is dropped"
        );
        assert_eq!(child.origin.scope_name, "lib");
        assert_eq!(child.origin.scope_version, "1.2");
        assert_eq!(child.origin.resource.len(), 2);
        // one origin per scope, shared
        assert!(Arc::ptr_eq(&child.origin, &root.origin));
        assert_eq!(root.parent_span_id, None);
        assert_eq!(root.kind, SpanKind::Unspecified);
        assert_eq!(root.status_code, StatusCode::Ok);
        assert_eq!(zero.parent_span_id, None);
    }

    #[test]
    fn missing_service_name_is_unknown_service() {
        let out = convert(request(None, vec![otlp_span(1, 2, None, "x")]));
        assert_eq!(out.spans[0].service, UNKNOWN_SERVICE);
        let mut req = request(Some(""), vec![otlp_span(1, 2, None, "x")]);
        req.resource_spans[0].resource = None;
        assert_eq!(convert(req).spans[0].service, UNKNOWN_SERVICE);
    }

    #[test]
    fn bad_ids_and_times_are_rejected_with_reasons() {
        let mut short_trace = otlp_span(1, 2, None, "a");
        short_trace.trace_id = vec![1; 8];
        let zero_trace = otlp_span(0, 2, None, "b");
        let zero_span = otlp_span(1, 0, None, "c");
        let mut bad_parent = otlp_span(1, 2, None, "d");
        bad_parent.parent_span_id = vec![1; 4];
        let mut no_start = otlp_span(1, 2, None, "e");
        no_start.start_time_unix_nano = 0;
        let good = otlp_span(1, 5, None, "f");
        let out = convert(request(
            Some("api"),
            vec![
                short_trace,
                zero_trace,
                zero_span,
                bad_parent,
                no_start,
                good,
            ],
        ));
        assert_eq!(out.spans.len(), 1);
        assert_eq!(out.rejected.total(), 5);
        assert_eq!(out.rejected.count("invalid_trace_id"), 2);
        assert_eq!(out.rejected.count("invalid_span_id"), 1);
        assert_eq!(out.rejected.count("invalid_parent_span_id"), 1);
        assert_eq!(out.rejected.count("missing_start_time"), 1);
        let msg = out.rejected.message(Signal::Traces);
        assert!(
            msg.starts_with("5 spans rejected (invalid_parent_span_id: 1, invalid_span_id: 1, invalid_trace_id: 2, missing_start_time: 1): span \"a\" of service \"api\": trace_id must be 16 bytes, got 8"),
            "{msg}"
        );
    }

    #[test]
    fn empty_request_converts_to_nothing() {
        let out = convert(ExportTraceServiceRequest::default());
        assert!(out.spans.is_empty());
        assert_eq!(out.rejected.total(), 0);
    }
}
