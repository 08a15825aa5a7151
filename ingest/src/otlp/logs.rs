//! `ExportLogsServiceRequest` → [`storage::LogRecord`]s, with the levels and error
//! fingerprints of the other log paths.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpLogRecord, ResourceLogs};
use serde_json::{Map, Value};
use storage::{AttrValue, CompactString, LogRecord, LogWriter, hex};

use super::common::{
    ExportOutcome, Rejections, Signal, attr_value, attributes, nanos_to_ms, span_id, text_of,
    trace_id,
};
use crate::logs::{fingerprint, is_error_level, normalize_level};
use crate::{IngestError, IngestMetrics};

/// The key in `fields` of the resource's attributes, the instrumentation scope, and a
/// structured body.
const RESOURCE_FIELD: &str = "resource";
const SCOPE_FIELD: &str = "scope";
const BODY_FIELD: &str = "body";
const EVENT_NAME_FIELD: &str = "event.name";

#[derive(Debug, Default)]
pub(crate) struct ConvertedLogs {
    pub(crate) records: Vec<LogRecord>,
    pub(crate) rejected: Rejections,
}

/// Converts a request. `now_ms` is the time of records that carry none. Never panics.
pub(crate) fn convert(req: ExportLogsServiceRequest, now_ms: i64) -> ConvertedLogs {
    let mut out = ConvertedLogs::default();
    for rl in req.resource_logs {
        convert_resource(rl, now_ms, &mut out);
    }
    out
}

fn attrs_json(attrs: &[storage::KeyValue]) -> Map<String, Value> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.to_json()))
        .collect()
}

fn convert_resource(rl: ResourceLogs, now_ms: i64, out: &mut ConvertedLogs) {
    let resource = attributes(rl.resource.map(|r| r.attributes).unwrap_or_default());
    let service = text_of(&resource, "service.name").map(CompactString::from);
    let host = text_of(&resource, "host.name").map(CompactString::from);
    let resource_json = attrs_json(&resource);
    for sl in rl.scope_logs {
        let scope = sl.scope.map(|s| {
            let mut m = Map::new();
            if !s.name.is_empty() {
                m.insert("name".into(), Value::String(s.name));
            }
            if !s.version.is_empty() {
                m.insert("version".into(), Value::String(s.version));
            }
            m.extend(attrs_json(&attributes(s.attributes)));
            m
        });
        out.records.reserve(sl.log_records.len());
        for record in sl.log_records {
            match convert_record(
                record,
                now_ms,
                &service,
                &host,
                &resource_json,
                scope.as_ref(),
            ) {
                Ok(r) => out.records.push(r),
                Err(e) => out.rejected.reject("invalid_record", || e),
            }
        }
    }
}

/// The level of a record: its severity number (OpenTelemetry's normalised scale) when set,
/// else its severity text through the logstash path's normalisation.
fn level(number: i32, text: &str) -> Option<CompactString> {
    let word = match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return normalize_level(&Value::String(text.to_string())),
    };
    Some(CompactString::const_new(word))
}

fn convert_record(
    record: OtlpLogRecord,
    now_ms: i64,
    service: &Option<CompactString>,
    host: &Option<CompactString>,
    resource: &Map<String, Value>,
    scope: Option<&Map<String, Value>>,
) -> Result<LogRecord, String> {
    let raw = serde_json::to_string(&record)
        .map_err(|e| format!("log record cannot be written as OTLP/JSON: {e}"))?;
    let time_ms = nanos_to_ms(record.time_unix_nano)
        .or_else(|| nanos_to_ms(record.observed_time_unix_nano))
        .unwrap_or(now_ms);
    let level = level(record.severity_number, &record.severity_text);
    let trace_id = trace_id(&record.trace_id).ok().map(|id| hex(&id).into());
    let span_id = span_id(&record.span_id).ok().map(|id| hex(&id).into());
    let mut fields = attrs_json(&attributes(record.attributes));
    let message = match attr_value(record.body) {
        None => String::new(),
        Some(AttrValue::String(s)) => s,
        Some(v @ (AttrValue::Map(_) | AttrValue::Array(_))) => {
            let json = v.to_json();
            let text = json.to_string();
            fields.insert(BODY_FIELD.into(), json);
            text
        }
        Some(v) => v.to_text(),
    };
    if !record.event_name.is_empty() {
        fields.insert(EVENT_NAME_FIELD.into(), Value::String(record.event_name));
    }
    if !resource.is_empty() {
        fields.insert(RESOURCE_FIELD.into(), Value::Object(resource.clone()));
    }
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        fields.insert(SCOPE_FIELD.into(), Value::Object(scope.clone()));
    }
    let is_error = is_error_level(level.as_deref());
    let fingerprint = fingerprint(&fields, &message, is_error);
    Ok(LogRecord {
        time_ms,
        level,
        service: service.clone(),
        host: host.clone(),
        message,
        trace_id,
        span_id,
        fingerprint: fingerprint.map(CompactString::from),
        fields: LogRecord::fields_text(&fields),
        raw,
    })
}

/// Converts and appends durably. Blocking.
pub(crate) fn export(
    writer: &dyn LogWriter,
    metrics: &IngestMetrics,
    req: ExportLogsServiceRequest,
) -> Result<ExportOutcome, IngestError> {
    let ConvertedLogs {
        records,
        mut rejected,
    } = convert(req, storage::now_ms());
    if records.is_empty() {
        return Ok(ExportOutcome::new(metrics, Signal::Logs, 0, &rejected));
    }
    metrics
        .logs_lines
        .with_label_values(&["otlp"])
        .inc_by(records.len() as u64);
    let started = std::time::Instant::now();
    let outcome = writer.append_logs(records);
    metrics
        .logs_append_seconds
        .observe(started.elapsed().as_secs_f64());
    let outcome = outcome?;
    metrics
        .logs_written
        .with_label_values(&["otlp"])
        .inc_by(outcome.accepted);
    for (i, reason) in &outcome.rejected {
        rejected.reject("storage_rejected", || format!("log record {i}: {reason}"));
    }
    Ok(ExportOutcome::new(
        metrics,
        Signal::Logs,
        outcome.accepted,
        &rejected,
    ))
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue as OtlpKeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::ScopeLogs;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use serde_json::json;

    use super::*;

    fn kv(key: &str, v: V) -> OtlpKeyValue {
        OtlpKeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            key_strindex: 0,
        }
    }

    fn s(v: &str) -> V {
        V::StringValue(v.into())
    }

    pub(crate) fn request(records: Vec<OtlpLogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s("checkout")),
                        kv("host.name", s("node-1")),
                        kv("k8s.pod.name", s("checkout-7d9")),
                    ],
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app.logger".into(),
                        ..InstrumentationScope::default()
                    }),
                    log_records: records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn record_fields_levels_ids_and_raw() {
        let record = OtlpLogRecord {
            time_unix_nano: 1_700_000_000_123_000_000,
            severity_number: 17,
            severity_text: "Err".into(),
            body: Some(AnyValue {
                value: Some(s("payment failed for order 42")),
            }),
            attributes: vec![
                kv("http.route", s("/pay")),
                kv("retries", V::IntValue(3)),
                kv("exception.type", s("PaymentError")),
            ],
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            ..OtlpLogRecord::default()
        };
        let out = convert(request(vec![record]), 5);
        assert_eq!(out.rejected.total(), 0);
        let r = &out.records[0];
        assert_eq!(r.time_ms, 1_700_000_000_123);
        assert_eq!(r.level.as_deref(), Some("ERROR"));
        assert_eq!(r.service.as_deref(), Some("checkout"));
        assert_eq!(r.host.as_deref(), Some("node-1"));
        assert_eq!(r.message, "payment failed for order 42");
        assert_eq!(
            r.trace_id.as_deref(),
            Some("abababababababababababababababab")
        );
        assert_eq!(r.span_id.as_deref(), Some("0101010101010101"));
        assert_eq!(r.fields_map()["http.route"], "/pay");
        assert_eq!(r.fields_map()["retries"], 3);
        assert_eq!(
            r.fields_map()["resource"],
            json!({"service.name": "checkout", "host.name": "node-1", "k8s.pod.name": "checkout-7d9"})
        );
        assert_eq!(r.fields_map()["scope"], json!({"name": "app.logger"}));
        assert!(r.fingerprint.is_some());
        // the same error with another number groups with it
        let mut other = out.records[0].clone();
        other.message = "payment failed for order 43".into();
        assert_eq!(
            fingerprint(&other.fields_map(), &other.message, true).as_deref(),
            r.fingerprint.as_deref()
        );
        // raw is the record as OTLP/JSON
        let raw: Value = serde_json::from_str(&r.raw).unwrap_or_default();
        assert_eq!(raw["traceId"], "abababababababababababababababab");
        assert_eq!(raw["timeUnixNano"], "1700000000123000000");
        assert_eq!(raw["severityNumber"], 17);
        assert_eq!(
            raw["body"],
            json!({"stringValue": "payment failed for order 42"})
        );
        assert_eq!(
            raw["attributes"][1],
            json!({"key": "retries", "value": {"intValue": "3"}})
        );
    }

    #[test]
    fn levels_from_number_or_text() {
        assert_eq!(level(1, "").as_deref(), Some("TRACE"));
        assert_eq!(level(8, "").as_deref(), Some("DEBUG"));
        assert_eq!(level(9, "whatever").as_deref(), Some("INFO"));
        assert_eq!(level(15, "").as_deref(), Some("WARN"));
        assert_eq!(level(24, "").as_deref(), Some("FATAL"));
        assert_eq!(level(0, "warning").as_deref(), Some("WARN"));
        assert_eq!(level(0, "CRITICAL").as_deref(), Some("FATAL"));
        assert_eq!(level(99, "notice").as_deref(), Some("INFO"));
        assert_eq!(level(0, "").as_deref(), None);
    }

    #[test]
    fn bodies_times_and_bad_ids() {
        let map_body = OtlpLogRecord {
            observed_time_unix_nano: 2_000_000,
            body: Some(AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: vec![kv("user", s("ann")), kv("n", V::DoubleValue(1.5))],
                })),
            }),
            trace_id: vec![0; 16],
            span_id: vec![1; 3],
            event_name: "login".into(),
            ..OtlpLogRecord::default()
        };
        let bool_body = OtlpLogRecord {
            body: Some(AnyValue {
                value: Some(V::BoolValue(true)),
            }),
            ..OtlpLogRecord::default()
        };
        let empty = OtlpLogRecord::default();
        let out = convert(request(vec![map_body, bool_body, empty]), 77);
        let [m, b, e] = &out.records[..] else {
            panic!("{:?}", out.records)
        };
        assert_eq!(m.time_ms, 2);
        assert_eq!(m.message, r#"{"n":1.5,"user":"ann"}"#);
        assert_eq!(m.fields_map()["body"]["user"], "ann");
        assert_eq!(m.fields_map()["event.name"], "login");
        assert_eq!(m.trace_id, None);
        assert_eq!(m.span_id, None);
        assert_eq!(m.fingerprint, None);
        assert_eq!(b.message, "true");
        assert_eq!(b.time_ms, 77);
        assert_eq!(e.message, "");
        assert_eq!(e.level, None);
    }

    #[test]
    fn records_without_resource() {
        let mut req = request(vec![OtlpLogRecord::default()]);
        req.resource_logs[0].resource = None;
        req.resource_logs[0].scope_logs[0].scope = None;
        let out = convert(req, 1);
        let r = &out.records[0];
        assert_eq!(r.service, None);
        assert_eq!(r.host, None);
        assert!(r.fields.is_empty(), "{:?}", r.fields);
    }
}
