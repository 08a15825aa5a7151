//! The HTTP routes and gRPC services end to end (real protobuf and JSON bodies, a real tonic
//! server and client), and property tests that no input makes the decoders or the
//! conversions panic.
#![cfg(test)]

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value, json};

use super::status::RpcStatus;
use super::testutil::{MemLogs, MemSeries, MemTraces};
use super::traces::tests::{otlp_span, request as trace_request};
use super::*;

struct Harness {
    otlp: OtlpIngest,
    traces: Arc<MemTraces>,
    logs: Arc<MemLogs>,
    series: Arc<MemSeries>,
    deriver: Arc<SpanDeriver>,
    metrics: IngestMetrics,
}

fn harness_with(config: OtlpConfig, permits: usize) -> Harness {
    let metrics = IngestMetrics::new(&prometheus::Registry::new());
    let traces = Arc::new(MemTraces::default());
    let logs = Arc::new(MemLogs::default());
    let series = Arc::new(MemSeries::default());
    let deriver = SpanDeriver::new(crate::derive::DeriveConfig::default(), &metrics);
    let admission = WriteAdmission::new(permits, Duration::from_millis(100), &metrics);
    let otlp = OtlpIngest::new(
        OtlpWriters {
            traces: traces.clone(),
            logs: logs.clone(),
            series: series.clone(),
        },
        Some(deriver.clone()),
        metrics.clone(),
        admission,
        config,
    );
    Harness {
        otlp,
        traces,
        logs,
        series,
        deriver,
        metrics,
    }
}

fn harness() -> Harness {
    harness_with(OtlpConfig::default(), 4)
}

async fn post(
    app: &axum::Router,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    crate::logs::http::tests::call(app, Method::POST, path, headers, body).await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

const PB: (&str, &str) = ("content-type", "application/x-protobuf");
const JS: (&str, &str) = ("content-type", "application/json");

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn http_protobuf_traces_are_stored_and_derived() {
    let h = harness();
    let app = h.otlp.http_router();
    let req = trace_request(
        Some("api"),
        vec![
            otlp_span(1, 1, None, "GET /"),
            otlp_span(1, 2, Some(1), "query"),
        ],
    );
    let (status, headers, body) = post(&app, "/v1/traces", &[PB], req.encode_to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let resp = ExportTraceServiceResponse::decode(body.as_slice()).expect("response");
    assert_eq!(resp.partial_success, None);
    assert_eq!(h.traces.spans.lock().len(), 2);
    assert_eq!(h.deriver.series(), crate::derive::SERIES_PER_GROUP * 2);
    assert_eq!(
        h.metrics.otlp_accepted.with_label_values(&["traces"]).get(),
        2
    );
    assert_eq!(
        h.metrics
            .otlp_requests
            .with_label_values(&["traces", "http", "ok"])
            .get(),
        1
    );
}

#[tokio::test]
async fn http_json_traces_with_partial_success() {
    let h = harness();
    let app = h.otlp.http_router();
    // OTLP/JSON as an SDK writes it: hex ids, camelCase, 64-bit integers as strings, enums
    // as numbers
    let body = json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "checkout"}},
                {"key": "pid", "value": {"intValue": "4242"}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "my.lib", "version": "1.0.0"},
                "spans": [{
                    "traceId": "5B8EFFF798038103D269B633813FC60C",
                    "spanId": "EEE19B7EC3C1B174",
                    "parentSpanId": "EEE19B7EC3C1B173",
                    "name": "I'm a server span",
                    "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": "1544712661000000000",
                    "kind": 2,
                    "attributes": [
                        {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                        {"key": "n", "value": {"intValue": 7}},
                        {"key": "b", "value": {"bytesValue": "AQI="}}
                    ],
                    "status": {"code": 2, "message": "boom"}
                }, {
                    "traceId": "",
                    "spanId": "EEE19B7EC3C1B175",
                    "name": "no trace id",
                    "startTimeUnixNano": "1544712660000000000"
                }, {
                    "traceId": "5B8EFFF798038103D269B633813FC60C",
                    "spanId": "EEE19B7EC3C1B176",
                    "name": "refuse me",
                    "startTimeUnixNano": "1544712660000000000"
                }]
            }]
        }]
    });
    let (status, headers, resp) = post(
        &app,
        "/v1/traces",
        &[("content-type", "application/json; charset=utf-8")],
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(headers["content-type"], "application/json");
    let resp = json_of(&resp);
    assert_eq!(resp["partialSuccess"]["rejectedSpans"], "2");
    let msg = resp["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or("");
    assert!(
        msg.starts_with("2 spans rejected (invalid_trace_id: 1, storage_rejected: 1)"),
        "{msg}"
    );
    let spans = h.traces.spans.lock();
    let s = &spans[0];
    assert_eq!(
        storage::hex(&s.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(
        s.parent_span_id.map(|p| storage::hex(&p)).as_deref(),
        Some("eee19b7ec3c1b173")
    );
    assert_eq!(s.service, "checkout");
    assert_eq!(s.kind, storage::SpanKind::Server);
    assert!(s.is_error());
    assert_eq!(s.duration_nanos(), 1_000_000_000);
    assert_eq!(s.attributes[1].value, storage::AttrValue::Int(7));
    assert_eq!(s.attributes[2].value, storage::AttrValue::Bytes(vec![1, 2]));
    assert_eq!(s.origin.resource[1].value, storage::AttrValue::Int(4242));
    assert_eq!(
        h.metrics
            .otlp_requests
            .with_label_values(&["traces", "http", "partial"])
            .get(),
        1
    );
    assert_eq!(
        h.metrics
            .otlp_rejected
            .with_label_values(&["traces", "invalid_trace_id"])
            .get(),
        1
    );
    // the refused span did not reach the deriver
    assert_eq!(h.deriver.series(), crate::derive::SERIES_PER_GROUP);
}

fn logs_request() -> ExportLogsServiceRequest {
    let kv = |k: &str, v: &str| OtlpKeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(V::StringValue(v.into())),
        }),
        key_strindex: 0,
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "api"), kv("host.name", "h1")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        severity_text: "warning".into(),
                        body: Some(AnyValue {
                            value: Some(V::StringValue("disk almost full".into())),
                        }),
                        attributes: vec![kv("disk", "/dev/sda")],
                        ..LogRecord::default()
                    },
                    LogRecord {
                        body: Some(AnyValue {
                            value: Some(V::StringValue("refuse me".into())),
                        }),
                        ..LogRecord::default()
                    },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[tokio::test]
async fn http_gzip_protobuf_logs_with_a_refused_record() {
    let h = harness();
    let app = h.otlp.http_router();
    let (status, _, body) = post(
        &app,
        "/v1/logs",
        &[PB, ("content-encoding", "gzip")],
        gzip(&logs_request().encode_to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let resp = ExportLogsServiceResponse::decode(body.as_slice()).expect("response");
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("refused by the test store"));
    let records = h.logs.records.lock();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].level.as_deref(), Some("WARN"));
    assert_eq!(records[0].service.as_deref(), Some("api"));
    assert_eq!(records[0].message, "disk almost full");
    assert_eq!(h.metrics.logs_written.with_label_values(&["otlp"]).get(), 1);
}

#[tokio::test]
async fn http_json_metrics() {
    let h = harness();
    let app = h.otlp.http_router();
    let body = json!({
        "resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
            "scopeMetrics": [{
                "metrics": [{
                    "name": "http.server.active_requests",
                    "unit": "{request}",
                    "sum": {
                        "dataPoints": [{"asInt": "3", "timeUnixNano": "1700000000000000000",
                                        "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}]}],
                        "aggregationTemporality": 2,
                        "isMonotonic": false
                    }
                }, {
                    "name": "latency",
                    "unit": "ms",
                    "histogram": {
                        "dataPoints": [{"timeUnixNano": "1700000000000000000", "count": "3", "sum": 12.5,
                                        "bucketCounts": ["1", "2"], "explicitBounds": [5]}],
                        "aggregationTemporality": 2
                    }
                }, {
                    "name": "exp",
                    "exponentialHistogram": {"dataPoints": [{}], "aggregationTemporality": 2}
                }]
            }]
        }]
    });
    let (status, _, resp) = post(&app, "/v1/metrics", &[JS], body.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
    let resp = json_of(&resp);
    assert_eq!(resp["partialSuccess"]["rejectedDataPoints"], "1");
    let values = h.series.latest();
    assert!(
        values.contains(
            &"http_server_active_requests{http_method=\"GET\", job=\"api\"} 3".to_string()
        ),
        "{values:?}"
    );
    assert!(
        values.contains(&"latency_milliseconds_bucket{job=\"api\", le=\"5\"} 1".to_string()),
        "{values:?}"
    );
    assert!(
        values.contains(&"latency_milliseconds_bucket{job=\"api\", le=\"+Inf\"} 3".to_string()),
        "{values:?}"
    );
    assert_eq!(
        h.metrics
            .otlp_accepted
            .with_label_values(&["metrics"])
            .get(),
        2
    );
}

#[tokio::test]
async fn http_empty_requests_are_ok() {
    let h = harness();
    let app = h.otlp.http_router();
    for path in ["/v1/traces", "/v1/logs", "/v1/metrics"] {
        let (status, _, body) = post(&app, path, &[PB], Vec::new()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.is_empty(), "an empty response message");
        for json_body in ["", "{}"] {
            let (status, _, body) = post(&app, path, &[JS], json_body.into()).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(json_of(&body), json!({}));
        }
    }
}

#[tokio::test]
async fn http_bad_requests() {
    let h = harness_with(
        OtlpConfig {
            max_message_bytes: 1000,
            ..OtlpConfig::default()
        },
        4,
    );
    let app = h.otlp.http_router();
    // other content types, or none: 415
    for headers in [vec![("content-type", "text/plain")], vec![]] {
        let (status, _, body) = post(&app, "/v1/traces", &headers, b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            json_of(&body)["message"]
                .as_str()
                .unwrap_or("")
                .contains("application/x-protobuf")
        );
    }
    // malformed protobuf: 400 with a google.rpc.Status in protobuf
    let (status, headers, body) =
        post(&app, "/v1/traces", &[PB], b"\xff\xff\xff\xff".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let st = RpcStatus::decode(body.as_slice()).expect("status");
    assert_eq!(st.code, tonic::Code::InvalidArgument as i32);
    assert!(st.message.contains("invalid protobuf"), "{}", st.message);
    // malformed JSON: 400 with the reason
    let (status, _, body) = post(&app, "/v1/logs", &[JS], b"{\"resourceLogs\": 5}".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = json_of(&body);
    assert_eq!(body["code"], 3);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("invalid OTLP/JSON"),
        "{body}"
    );
    // bad gzip
    let (status, _, _) = post(
        &app,
        "/v1/metrics",
        &[PB, ("content-encoding", "gzip")],
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // too large as sent, and once decompressed: 413
    let (status, _, _) = post(&app, "/v1/traces", &[PB], vec![0; 2000]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, body) = post(
        &app,
        "/v1/traces",
        &[JS, ("content-encoding", "gzip")],
        gzip(&vec![b' '; 5000]),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        json_of(&body)["message"]
            .as_str()
            .unwrap_or("")
            .contains("1000 byte limit")
    );
    for (outcome, n) in [
        ("unsupported_media_type", 2),
        ("invalid", 1),
        ("too_large", 2),
    ] {
        assert_eq!(
            h.metrics
                .otlp_requests
                .with_label_values(&["traces", "http", outcome])
                .get(),
            n,
            "{outcome}"
        );
    }
    assert!(h.traces.spans.lock().is_empty());
}

#[tokio::test]
async fn http_storage_failure_is_503_with_retry_after() {
    let h = harness();
    let app = h.otlp.http_router();
    h.traces.fail.store(true, Ordering::SeqCst);
    let req = trace_request(Some("api"), vec![otlp_span(1, 1, None, "a")]);
    let (status, headers, body) = post(&app, "/v1/traces", &[PB], req.encode_to_vec()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    let st = RpcStatus::decode(body.as_slice()).expect("status");
    assert_eq!(st.code, tonic::Code::Unavailable as i32);
    assert_eq!(st.details.len(), 1, "RetryInfo");
    assert_eq!(h.deriver.series(), 0, "nothing stored, nothing derived");
}

/// Blocks every append until released, to fill the admission.
struct BlockingTraces {
    release: parking_lot::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl storage::TraceWriter for BlockingTraces {
    fn append_spans(
        &self,
        spans: Vec<storage::Span>,
    ) -> Result<storage::SpanAppendOutcome, storage::StorageError> {
        if let Some(rx) = self.release.lock().take() {
            let _ = rx.recv();
        }
        Ok(storage::SpanAppendOutcome {
            accepted: spans.len() as u64,
            rejected: Vec::new(),
        })
    }
}

fn blocking_harness() -> (OtlpIngest, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let metrics = IngestMetrics::new(&prometheus::Registry::new());
    let otlp = OtlpIngest::new(
        OtlpWriters {
            traces: Arc::new(BlockingTraces {
                release: parking_lot::Mutex::new(Some(rx)),
            }),
            logs: Arc::new(MemLogs::default()),
            series: Arc::new(MemSeries::default()),
        },
        None,
        metrics.clone(),
        WriteAdmission::new(1, Duration::from_millis(100), &metrics),
        OtlpConfig::default(),
    );
    (otlp, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_overload_is_429_with_retry_after() {
    let (otlp, release) = blocking_harness();
    let app = otlp.http_router();
    let body = trace_request(Some("api"), vec![otlp_span(1, 1, None, "a")]).encode_to_vec();
    let first = tokio::spawn({
        let app = app.clone();
        let body = body.clone();
        async move { post(&app, "/v1/traces", &[PB], body).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, headers, body2) = post(&app, "/v1/traces", &[JS], b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        json_of(&body2)["code"],
        tonic::Code::ResourceExhausted as i32
    );
    let _ = release.send(());
    let (status, _, _) = first.await.expect("first");
    assert_eq!(status, StatusCode::OK);
}

fn gauge_request() -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest
{
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics: vec![Metric {
                    name: "temperature".into(),
                    unit: "Cel".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            value: Some(N::AsDouble(21.5)),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

async fn grpc_server(otlp: &OtlpIngest) -> (String, tokio::sync::oneshot::Sender<()>) {
    let server = OtlpGrpcServer::bind("127.0.0.1:0".parse().expect("addr"), otlp)
        .await
        .expect("bind");
    let url = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (url, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exports_over_a_real_server() {
    let h = harness();
    let (url, stop) = grpc_server(&h.otlp).await;
    let mut traces = TraceServiceClient::connect(url.clone())
        .await
        .expect("connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut bad = otlp_span(1, 3, None, "bad");
    bad.span_id = vec![1; 3];
    let resp = traces
        .export(trace_request(
            Some("api"),
            vec![otlp_span(1, 1, None, "a"), bad],
        ))
        .await
        .expect("export")
        .into_inner();
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("span_id must be 8 bytes"));
    assert_eq!(h.traces.spans.lock().len(), 1);

    let mut logs = LogsServiceClient::connect(url.clone())
        .await
        .expect("connect");
    let resp = logs
        .export(logs_request())
        .await
        .expect("export")
        .into_inner();
    assert_eq!(
        resp.partial_success.map(|p| p.rejected_log_records),
        Some(1)
    );

    let mut metrics = MetricsServiceClient::connect(url.clone())
        .await
        .expect("connect");
    let resp: ExportMetricsServiceResponse = metrics
        .export(gauge_request())
        .await
        .expect("export")
        .into_inner();
    assert_eq!(resp.partial_success, None);
    assert!(!h.series.latest().is_empty());

    // an empty request is fine
    let resp = traces
        .export(ExportTraceServiceRequest::default())
        .await
        .expect("export")
        .into_inner();
    assert_eq!(resp.partial_success, None);

    // storage down: UNAVAILABLE with RetryInfo
    h.traces.fail.store(true, Ordering::SeqCst);
    let err = traces
        .export(trace_request(Some("api"), vec![otlp_span(2, 1, None, "a")]))
        .await
        .expect_err("unavailable");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let details = RpcStatus::decode(err.details()).expect("details");
    assert_eq!(details.details.len(), 1);
    assert_eq!(
        h.metrics
            .otlp_requests
            .with_label_values(&["traces", "grpc", "unavailable"])
            .get(),
        1
    );
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_limits_and_overload() {
    let h = harness_with(
        OtlpConfig {
            max_message_bytes: 2000,
            ..OtlpConfig::default()
        },
        4,
    );
    let (url, stop) = grpc_server(&h.otlp).await;
    let mut client = TraceServiceClient::connect(url.clone())
        .await
        .expect("connect");
    let mut big = otlp_span(1, 1, None, "a");
    big.name = "x".repeat(5000);
    let err = client
        .export(trace_request(Some("api"), vec![big.clone()]))
        .await
        .expect_err("too large");
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    // the limit holds once decompressed too
    let mut gz = TraceServiceClient::connect(url)
        .await
        .expect("connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let err = gz
        .export(trace_request(Some("api"), vec![big]))
        .await
        .expect_err("too large");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    let _ = stop.send(());

    let (otlp, release) = blocking_harness();
    let (url, stop) = grpc_server(&otlp).await;
    let first = tokio::spawn({
        let url = url.clone();
        async move {
            let mut c = TraceServiceClient::connect(url).await.expect("connect");
            c.export(trace_request(Some("api"), vec![otlp_span(1, 1, None, "a")]))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut c = TraceServiceClient::connect(url).await.expect("connect");
    let err = c
        .export(trace_request(Some("api"), vec![otlp_span(1, 2, None, "a")]))
        .await
        .expect_err("overloaded");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    let details = RpcStatus::decode(err.details()).expect("retry info");
    assert_eq!(details.details.len(), 1);
    let _ = release.send(());
    assert!(first.await.expect("first").is_ok());
    let _ = stop.send(());
}

mod fuzz {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point;
    use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
        Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;

    use super::*;
    use crate::otlp::http::{Format, decode};

    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            Just(None),
            ".{0,8}".prop_map(|s| Some(V::StringValue(s))),
            any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(V::IntValue(i))),
            any::<f64>().prop_map(|d| Some(V::DoubleValue(d))),
            prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| Some(V::BytesValue(b))),
            any::<i32>().prop_map(|i| Some(V::StringValueStrindex(i))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                    value: Some(V::ArrayValue(ArrayValue { values }))
                }),
                prop::collection::vec(("[a-z._]{0,6}", inner), 0..4).prop_map(|kvs| AnyValue {
                    value: Some(V::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, v)| OtlpKeyValue {
                                key,
                                value: Some(v),
                                key_strindex: 0
                            })
                            .collect()
                    }))
                }),
            ]
        })
    }

    fn attrs() -> impl Strategy<Value = Vec<OtlpKeyValue>> {
        prop::collection::vec(
            (
                prop_oneof![
                    "[a-z._]{0,10}",
                    "\\PC{0,6}",
                    Just("service.name".to_string())
                ],
                prop::option::of(any_value()),
            )
                .prop_map(|(key, value)| OtlpKeyValue {
                    key,
                    value,
                    key_strindex: 0,
                }),
            0..5,
        )
    }

    fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), len),
            Just(vec![0; len]),
            prop::collection::vec(any::<u8>(), 0..20),
        ]
    }

    fn span() -> impl Strategy<Value = Span> {
        (
            (id(16), id(8), id(8), ".{0,10}", any::<i32>()),
            (any::<u64>(), any::<u64>(), attrs()),
            prop::option::of((".{0,5}", any::<i32>())),
            prop::collection::vec((any::<u64>(), ".{0,5}", attrs()), 0..2),
            prop::collection::vec((id(16), id(8), attrs()), 0..2),
        )
            .prop_map(
                |(
                    (trace_id, span_id, parent_span_id, name, kind),
                    (start, end, attributes),
                    status,
                    events,
                    links,
                )| Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    name,
                    kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    status: status.map(|(message, code)| Status { message, code }),
                    events: events
                        .into_iter()
                        .map(|(time_unix_nano, name, attributes)| Event {
                            time_unix_nano,
                            name,
                            attributes,
                            dropped_attributes_count: 0,
                        })
                        .collect(),
                    links: links
                        .into_iter()
                        .map(|(trace_id, span_id, attributes)| Link {
                            trace_id,
                            span_id,
                            attributes,
                            ..Link::default()
                        })
                        .collect(),
                    ..Span::default()
                },
            )
    }

    fn trace_requests() -> impl Strategy<Value = ExportTraceServiceRequest> {
        prop::collection::vec(
            (
                prop::option::of(attrs()),
                prop::collection::vec(
                    (
                        prop::option::of(("\\PC{0,5}", ".{0,3}")),
                        prop::collection::vec(span(), 0..4),
                    ),
                    0..3,
                ),
            ),
            0..3,
        )
        .prop_map(|resources| ExportTraceServiceRequest {
            resource_spans: resources
                .into_iter()
                .map(|(resource, scopes)| ResourceSpans {
                    resource: resource.map(|attributes| Resource {
                        attributes,
                        ..Resource::default()
                    }),
                    scope_spans: scopes
                        .into_iter()
                        .map(|(scope, spans)| ScopeSpans {
                            scope: scope.map(|(name, version)| InstrumentationScope {
                                name,
                                version,
                                ..InstrumentationScope::default()
                            }),
                            spans,
                            schema_url: String::new(),
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        })
    }

    fn number_point() -> impl Strategy<Value = NumberDataPoint> {
        (
            attrs(),
            any::<u64>(),
            any::<u32>(),
            prop_oneof![
                Just(None),
                any::<f64>().prop_map(|d| Some(number_data_point::Value::AsDouble(d))),
                any::<i64>().prop_map(|i| Some(number_data_point::Value::AsInt(i))),
            ],
        )
            .prop_map(
                |(attributes, time_unix_nano, flags, value)| NumberDataPoint {
                    attributes,
                    time_unix_nano,
                    flags,
                    value,
                    ..NumberDataPoint::default()
                },
            )
    }

    fn histogram_point() -> impl Strategy<Value = HistogramDataPoint> {
        (
            attrs(),
            any::<u64>(),
            any::<u32>(),
            prop::collection::vec(any::<u64>(), 0..5),
            prop::collection::vec(any::<f64>(), 0..4),
            prop::option::of(any::<f64>()),
            any::<u64>(),
        )
            .prop_map(
                |(
                    attributes,
                    time_unix_nano,
                    flags,
                    bucket_counts,
                    explicit_bounds,
                    sum,
                    count,
                )| {
                    HistogramDataPoint {
                        attributes,
                        time_unix_nano,
                        flags,
                        bucket_counts,
                        explicit_bounds,
                        sum,
                        count,
                        ..HistogramDataPoint::default()
                    }
                },
            )
    }

    fn metric() -> impl Strategy<Value = Metric> {
        let data = prop_oneof![
            Just(None),
            prop::collection::vec(number_point(), 0..3)
                .prop_map(|data_points| Some(Data::Gauge(Gauge { data_points }))),
            (
                prop::collection::vec(number_point(), 0..3),
                0..4i32,
                any::<bool>()
            )
                .prop_map(|(data_points, aggregation_temporality, is_monotonic)| Some(
                    Data::Sum(Sum {
                        data_points,
                        aggregation_temporality,
                        is_monotonic
                    })
                )),
            (prop::collection::vec(histogram_point(), 0..3), 0..4i32).prop_map(
                |(data_points, aggregation_temporality)| Some(Data::Histogram(Histogram {
                    data_points,
                    aggregation_temporality
                }))
            ),
            (0..3usize).prop_map(|n| Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default(); n],
                aggregation_temporality: 1
            }))),
            prop::collection::vec(
                (
                    attrs(),
                    any::<u64>(),
                    any::<f64>(),
                    prop::collection::vec((any::<f64>(), any::<f64>()), 0..3)
                ),
                0..3
            )
            .prop_map(|points| Some(Data::Summary(Summary {
                data_points: points
                    .into_iter()
                    .map(|(attributes, count, sum, qs)| SummaryDataPoint {
                        attributes,
                        count,
                        sum,
                        quantile_values: qs
                            .into_iter()
                            .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                            .collect(),
                        ..SummaryDataPoint::default()
                    })
                    .collect()
            }))),
        ];
        (
            prop_oneof!["[a-z._]{0,12}", "\\PC{0,8}"],
            prop_oneof!["", "s", "By/s", "1", "\\PC{0,4}"],
            data,
        )
            .prop_map(|(name, unit, data)| Metric {
                name,
                unit,
                data,
                ..Metric::default()
            })
    }

    fn metric_requests() -> impl Strategy<Value = ExportMetricsServiceRequest> {
        prop::collection::vec(
            (
                prop::option::of(attrs()),
                prop::option::of(attrs()),
                prop::collection::vec(metric(), 0..4),
            ),
            0..3,
        )
        .prop_map(|resources| ExportMetricsServiceRequest {
            resource_metrics: resources
                .into_iter()
                .map(|(resource, scope, metrics)| ResourceMetrics {
                    resource: resource.map(|attributes| Resource {
                        attributes,
                        ..Resource::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: scope.map(|attributes| InstrumentationScope {
                            name: "s".into(),
                            attributes,
                            ..InstrumentationScope::default()
                        }),
                        metrics,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        })
    }

    fn log_requests() -> impl Strategy<Value = ExportLogsServiceRequest> {
        prop::collection::vec(
            (
                any::<u64>(),
                any::<u64>(),
                any::<i32>(),
                "\\PC{0,8}",
                prop::option::of(any_value()),
                attrs(),
                id(16),
                id(8),
            )
                .prop_map(
                    |(
                        time,
                        observed,
                        severity_number,
                        severity_text,
                        body,
                        attributes,
                        trace_id,
                        span_id,
                    )| LogRecord {
                        time_unix_nano: time,
                        observed_time_unix_nano: observed,
                        severity_number,
                        severity_text,
                        body,
                        attributes,
                        trace_id,
                        span_id,
                        ..LogRecord::default()
                    },
                ),
            0..6,
        )
        .prop_map(|log_records| ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: None,
                scope_logs: vec![ScopeLogs {
                    scope: None,
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        })
    }

    fn accumulator() -> crate::otlp::delta::DeltaAccumulator {
        crate::otlp::delta::DeltaAccumulator::new(
            DeltaConfig::default(),
            prometheus::IntGauge::new("d", "d").unwrap_or_else(|e| panic!("{e}")),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_trace_request_converts_without_panic(req in trace_requests()) {
            let sent: usize = req.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
            // the binary form decodes to the same request
            let bytes = req.encode_to_vec();
            let back = ExportTraceServiceRequest::decode(bytes.as_slice()).map(|r| r.encode_to_vec());
            prop_assert_eq!(back.ok(), Some(bytes));
            let out = traces::convert(req);
            prop_assert_eq!(out.spans.len() as u64 + out.rejected.total(), sent as u64);
            for s in &out.spans {
                prop_assert!(s.trace_id != [0; 16] && s.span_id != [0; 8]);
                prop_assert!(s.parent_span_id != Some([0; 8]));
                prop_assert!(!s.service.is_empty());
            }
        }

        #[test]
        fn any_metric_request_converts_to_valid_series(req in metric_requests()) {
            let out = series::convert(req, &MetricLabelConfig { promote_all_resource_attributes: true, ..MetricLabelConfig::default() }, &accumulator(), 1);
            for s in &out.series {
                prop_assert!(s.labels.validate().is_ok(), "{}", s.labels);
            }
            prop_assert!(out.rejected.total() <= out.points);
        }

        #[test]
        fn any_log_request_converts_without_panic(req in log_requests()) {
            let sent = req.resource_logs[0].scope_logs[0].log_records.len();
            let out = logs::convert(req, 1);
            prop_assert_eq!(out.records.len() as u64 + out.rejected.total(), sent as u64);
            for r in &out.records {
                prop_assert!(r.trace_id.as_ref().is_none_or(|t| t.len() == 32));
                prop_assert!(serde_json::from_str::<Value>(&r.raw).is_ok());
            }
        }

        #[test]
        fn any_bytes_through_the_http_decoders(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let h = harness();
            for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
                for format in [Format::Protobuf, Format::Json] {
                    if let Ok(payload) = decode(signal, format, &bytes) {
                        let _ = h.otlp.inner.export(payload);
                    }
                }
            }
        }

        #[test]
        fn mutated_protobuf_never_panics(req in trace_requests(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
            let mut bytes = req.encode_to_vec();
            if !bytes.is_empty() {
                for (i, b) in flips {
                    let i = i.index(bytes.len());
                    bytes[i] ^= b;
                }
            }
            let h = harness();
            if let Ok(payload) = decode(Signal::Traces, Format::Protobuf, &bytes) {
                let _ = h.otlp.inner.export(payload);
            }
        }

        #[test]
        fn otlp_json_round_trips_through_the_json_decoder(req in trace_requests()) {
            // finite doubles only: JSON has no NaN
            let json = serde_json::to_vec(&req).unwrap_or_default();
            if let Ok(Payload::Traces(back)) = decode(Signal::Traces, Format::Json, &json) {
                let a = traces::convert(req);
                let b = traces::convert(back);
                prop_assert_eq!(a.spans.len(), b.spans.len());
                for (x, y) in a.spans.iter().zip(&b.spans) {
                    prop_assert_eq!(x.trace_id, y.trace_id);
                    prop_assert_eq!(x.span_id, y.span_id);
                    prop_assert_eq!(x.start_unix_nano, y.start_unix_nano);
                    prop_assert_eq!(&x.name, &y.name);
                }
            }
        }
    }
}
