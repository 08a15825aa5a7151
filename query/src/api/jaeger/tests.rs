//! The Jaeger routes driven without a socket, over an in-memory trace store (and, for
//! `/dependencies`, a real series store in a temporary directory).
#![cfg(test)]

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Value as Json, json};
use storage::{
    AttrValue, KeyValue, Labels, Matcher, Operation, Sample, SeriesId, SeriesRef, SeriesSamples,
    SeriesStoreConfig, SeriesWriter, Span, SpanEvent, SpanId, SpanLink, SpanOrigin, StorageError,
    TraceMatch, TraceQuery, parse_hex_id,
};
use tower::ServiceExt;

use super::*;

/// 2023-11-14T22:13:20Z in ns, µs, ms.
const T0: u64 = 1_700_000_000_000_000_000;
const T0_US: i64 = 1_700_000_000_000_000;
const T0_MS: i64 = 1_700_000_000_000;
const MS: u64 = 1_000_000;

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A 64-bit id, as a Jaeger client makes them.
const TRACE_B: &str = "0000000000000000000000000000beef";
const TRACE_C: &str = "11111111111111111111111111111111";

/// A trace store in memory with the semantics [`TraceReader`] documents.
struct MemoryTraces(Vec<Span>);

impl MemoryTraces {
    fn matches(span: &Span, q: &TraceQuery) -> bool {
        let has_tag = |key: &str, value: &str| {
            span.attributes
                .iter()
                .chain(&span.origin.resource)
                .chain(span.events.iter().flat_map(|e| &e.attributes))
                .any(|kv| kv.key == key && kv.value.to_text() == value)
        };
        q.service.as_ref().is_none_or(|s| *s == span.service)
            && q.operation.as_ref().is_none_or(|o| *o == span.name)
            && q.span_kind.is_none_or(|k| k == span.kind)
            && q.status.is_none_or(|s| s == span.status_code)
            && q.tags.iter().all(|(k, v)| has_tag(k, v))
            && q.min_duration_nanos
                .is_none_or(|d| span.duration_nanos() >= d)
            && q.max_duration_nanos
                .is_none_or(|d| span.duration_nanos() <= d)
            && (q.start_unix_nano..=q.end_unix_nano).contains(&span.start_unix_nano)
    }
}

impl TraceReader for MemoryTraces {
    fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>, StorageError> {
        let mut spans: Vec<Span> = self
            .0
            .iter()
            .filter(|s| s.trace_id == *trace_id)
            .cloned()
            .collect();
        spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
        Ok(spans)
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TraceMatch>, StorageError> {
        let mut found: Vec<TraceMatch> = Vec::new();
        for span in self.0.iter().filter(|s| Self::matches(s, query)) {
            match found.iter_mut().find(|m| m.trace_id == span.trace_id) {
                Some(m) => {
                    m.latest_start_unix_nano = m.latest_start_unix_nano.max(span.start_unix_nano)
                }
                None => found.push(TraceMatch {
                    trace_id: span.trace_id,
                    latest_start_unix_nano: span.start_unix_nano,
                }),
            }
        }
        found.sort_by_key(|m| std::cmp::Reverse(m.latest_start_unix_nano));
        found.truncate(query.limit);
        Ok(found)
    }

    fn services(&self) -> Result<Vec<String>, StorageError> {
        let mut services: Vec<String> = self.0.iter().map(|s| s.service.clone()).collect();
        services.sort();
        services.dedup();
        Ok(services)
    }

    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        let mut ops: Vec<Operation> = self
            .0
            .iter()
            .filter(|s| s.service == service && kind.is_none_or(|k| k == s.kind))
            .map(|s| Operation {
                name: s.name.clone(),
                kind: s.kind,
            })
            .collect();
        ops.sort();
        ops.dedup();
        Ok(ops)
    }
}

/// A store that fails every read.
struct FailingTraces(fn() -> StorageError);

impl TraceReader for FailingTraces {
    fn trace(&self, _: &TraceId) -> Result<Vec<Span>, StorageError> {
        Err(self.0())
    }
    fn find_traces(&self, _: &TraceQuery) -> Result<Vec<TraceMatch>, StorageError> {
        Err(self.0())
    }
    fn services(&self) -> Result<Vec<String>, StorageError> {
        Err(self.0())
    }
    fn operations(&self, _: &str, _: Option<SpanKind>) -> Result<Vec<Operation>, StorageError> {
        Err(self.0())
    }
}

/// A series source without series.
struct NoSeries;

impl SeriesSource for NoSeries {
    fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<SeriesRef>, StorageError> {
        Ok(Vec::new())
    }
    fn samples(&self, _: SeriesId, _: i64, _: i64) -> Result<Vec<Sample>, StorageError> {
        Ok(Vec::new())
    }
}

fn trace_id(s: &str) -> TraceId {
    parse_hex_id(s).unwrap_or_else(|| panic!("{s}"))
}

fn span_id(s: &str) -> SpanId {
    parse_hex_id(s).unwrap_or_else(|| panic!("{s}"))
}

fn kv(key: &str, value: AttrValue) -> KeyValue {
    KeyValue::new(key, value)
}

fn text(s: &str) -> AttrValue {
    AttrValue::String(s.into())
}

fn origin(resource: Vec<KeyValue>, scope: &str, version: &str) -> Arc<SpanOrigin> {
    Arc::new(SpanOrigin {
        resource,
        scope_name: scope.into(),
        scope_version: version.into(),
    })
}

fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    origin: &Arc<SpanOrigin>,
    name: &str,
    kind: SpanKind,
    (start, end): (u64, u64),
) -> Span {
    let service = origin
        .resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .map_or("unknown_service".to_string(), |kv| kv.value.to_text());
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id),
        trace_state: String::new(),
        flags: 0,
        service,
        name: name.into(),
        kind,
        start_unix_nano: start,
        end_unix_nano: end,
        status_code: storage::StatusCode::Unset,
        status_message: String::new(),
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        origin: origin.clone(),
    }
}

/// Trace A: frontend `GET /checkout` (server, every attribute type, events, trace state)
/// → frontend `POST /charge` (client) → payments `charge` (server, error, an exception
/// event, a link to trace B) → payments `SELECT cards` (internal, another scope of the same
/// resource). Trace B: a worker consuming a job, 64-bit id. Trace C: an older frontend
/// request, with a child of no kind.
fn fixture() -> Vec<Span> {
    let frontend = origin(
        vec![
            kv("service.name", text("frontend")),
            kv("host.name", text("web-1")),
            kv("process.pid", AttrValue::Int(4242)),
        ],
        "io.opentelemetry.flask",
        "0.41b0",
    );
    let payments_resource = vec![
        kv("service.name", text("payments")),
        kv("host.name", text("pay-1")),
    ];
    let payments = origin(payments_resource.clone(), "", "");
    let payments_db = origin(payments_resource, "sqlalchemy", "");
    let worker = origin(vec![kv("service.name", text("worker"))], "", "");

    let mut root = span(
        TRACE_A,
        "00f067aa0ba902b7",
        None,
        &frontend,
        "GET /checkout",
        SpanKind::Server,
        (T0, T0 + 50 * MS + 123),
    );
    root.attributes = vec![
        kv("http.method", text("GET")),
        kv("http.status_code", AttrValue::Int(200)),
        kv("sampled", AttrValue::Bool(true)),
        kv("ratio", AttrValue::Double(0.5)),
        kv("payload", AttrValue::Bytes(vec![1, 2, 3])),
        kv(
            "ids",
            AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Int(2)]),
        ),
        kv("headers", AttrValue::Map(vec![kv("accept", text("json"))])),
        kv("big", AttrValue::Int(1 << 60)),
    ];
    root.status_code = storage::StatusCode::Ok;
    root.trace_state = "vendor=1".into();
    root.flags = 0x101;
    root.events = vec![
        SpanEvent {
            time_unix_nano: T0 + MS,
            name: "cache miss".into(),
            attributes: vec![kv("cart", text("42"))],
        },
        SpanEvent {
            time_unix_nano: T0 + 2 * MS,
            name: String::new(),
            attributes: vec![kv("n", AttrValue::Int(1))],
        },
    ];
    let call = span(
        TRACE_A,
        "00f067aa0ba902b8",
        Some("00f067aa0ba902b7"),
        &frontend,
        "POST /charge",
        SpanKind::Client,
        (T0 + 5 * MS, T0 + 45 * MS),
    );
    let mut charge = span(
        TRACE_A,
        "00f067aa0ba902b9",
        Some("00f067aa0ba902b8"),
        &payments,
        "charge",
        SpanKind::Server,
        (T0 + 10 * MS, T0 + 40 * MS),
    );
    charge.status_code = storage::StatusCode::Error;
    charge.status_message = "card declined".into();
    charge.attributes = vec![kv("http.status_code", AttrValue::Int(500))];
    charge.events = vec![SpanEvent {
        time_unix_nano: T0 + 30 * MS,
        name: "exception".into(),
        attributes: vec![kv("exception.type", text("CardError"))],
    }];
    charge.links = vec![SpanLink {
        trace_id: trace_id(TRACE_B),
        span_id: span_id("b7ad6b7169203331"),
        trace_state: String::new(),
        attributes: vec![kv("ignored", AttrValue::Bool(true))],
    }];
    let select = span(
        TRACE_A,
        "00f067aa0ba902ba",
        Some("00f067aa0ba902b9"),
        &payments_db,
        "SELECT cards",
        SpanKind::Internal,
        (T0 + 12 * MS, T0 + 20 * MS),
    );

    let job = span(
        TRACE_B,
        "b7ad6b7169203331",
        None,
        &worker,
        "process job",
        SpanKind::Consumer,
        (T0 + 1000 * MS, T0 + 1002 * MS),
    );
    let job_step = span(
        TRACE_B,
        "b7ad6b7169203332",
        Some("b7ad6b7169203331"),
        &worker,
        "process job",
        SpanKind::Internal,
        (T0 + 1000 * MS, T0 + 1001 * MS),
    );

    // (a resource equal to trace A's frontend, in an origin of its own)
    let frontend_again = origin(frontend.resource.clone(), "", "");
    let old = T0 - 7_200_000 * MS;
    let old_root = span(
        TRACE_C,
        "2222222222222222",
        None,
        &frontend_again,
        "GET /old",
        SpanKind::Server,
        (old, old + MS),
    );
    let render = span(
        TRACE_C,
        "2222222222222223",
        Some("2222222222222222"),
        &frontend_again,
        "render",
        SpanKind::Unspecified,
        (old, old + MS / 2),
    );
    // stored out of order, as a store may hold them
    vec![select, charge, job_step, call, root, old_root, job, render]
}

fn app_over(traces: Arc<dyn TraceReader>, series: Arc<dyn SeriesSource>) -> (Router, JaegerState) {
    let state = JaegerState {
        traces,
        series,
        baseline_ms: 300_000,
        metrics: QueryMetrics::new(&prometheus::Registry::new()),
    };
    (routes(state.clone()), state)
}

fn app() -> Router {
    app_over(Arc::new(MemoryTraces(fixture())), Arc::new(NoSeries)).0
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `traceID`s of the answer's traces.
    fn trace_ids(&self) -> Vec<String> {
        self.json()["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data: {}", self.body))
            .iter()
            .map(|t| t["traceID"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Jaeger's error envelope, byte for byte (in the field order of its `structuredResponse`).
fn error_body(code: u16, msg: &str) -> String {
    format!(
        r#"{{"data":null,"total":0,"limit":0,"offset":0,"errors":[{{"code":{code},"msg":{}}}]}}"#,
        Json::from(msg)
    )
}

#[tokio::test]
async fn a_trace_as_jaeger_writes_it() {
    let app = app();
    let a = get(&app, &format!("/jaeger/api/traces/{TRACE_A}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.content_type, "application/json");
    let body = a.json();
    assert_eq!(
        (
            &body["total"],
            &body["limit"],
            &body["offset"],
            &body["errors"]
        ),
        (&json!(0), &json!(0), &json!(0), &Json::Null)
    );
    let data = body["data"].as_array().expect("data is a list");
    assert_eq!(data.len(), 1);
    let trace = &data[0];
    assert_eq!(trace["traceID"], TRACE_A);
    assert_eq!(trace["warnings"], Json::Null);

    // one process per service and resource, the resource's attributes but service.name
    assert_eq!(
        trace["processes"],
        json!({
            "p1": {"serviceName": "frontend", "tags": [
                {"key": "host.name", "type": "string", "value": "web-1"},
                {"key": "process.pid", "type": "int64", "value": 4242},
            ]},
            "p2": {"serviceName": "payments", "tags": [
                {"key": "host.name", "type": "string", "value": "pay-1"},
            ]},
        })
    );
    // written in that order, too
    let p1 = a.body.find("\"p1\":").expect("p1");
    let p2 = a.body.find("\"p2\":").expect("p2");
    assert!(p1 < p2);

    let spans = trace["spans"].as_array().expect("spans");
    let ids: Vec<&str> = spans.iter().filter_map(|s| s["spanID"].as_str()).collect();
    // by start time
    assert_eq!(
        ids,
        [
            "00f067aa0ba902b7",
            "00f067aa0ba902b8",
            "00f067aa0ba902b9",
            "00f067aa0ba902ba"
        ]
    );
    assert_eq!(
        spans[0],
        json!({
            "traceID": TRACE_A,
            "spanID": "00f067aa0ba902b7",
            "operationName": "GET /checkout",
            "references": [],
            "startTime": T0_US,
            "duration": 50_000,
            "tags": [
                {"key": "otel.scope.name", "type": "string", "value": "io.opentelemetry.flask"},
                {"key": "otel.scope.version", "type": "string", "value": "0.41b0"},
                {"key": "http.method", "type": "string", "value": "GET"},
                {"key": "http.status_code", "type": "int64", "value": 200},
                {"key": "sampled", "type": "bool", "value": true},
                {"key": "ratio", "type": "float64", "value": 0.5},
                {"key": "payload", "type": "binary", "value": "AQID"},
                {"key": "ids", "type": "string", "value": "[1,2]"},
                {"key": "headers", "type": "string", "value": "{\"accept\":\"json\"}"},
                {"key": "big", "type": "int64", "value": "1152921504606846976"},
                {"key": "span.kind", "type": "string", "value": "server"},
                {"key": "otel.status_code", "type": "string", "value": "OK"},
                {"key": "w3c.tracestate", "type": "string", "value": "vendor=1"},
            ],
            "logs": [
                {"timestamp": T0_US + 1000, "fields": [
                    {"key": "event", "type": "string", "value": "cache miss"},
                    {"key": "cart", "type": "string", "value": "42"},
                ]},
                {"timestamp": T0_US + 2000, "fields": [
                    {"key": "n", "type": "int64", "value": 1},
                ]},
            ],
            "processID": "p1",
            "warnings": null,
            "flags": 1,
        })
    );
    assert_eq!(
        spans[1]["references"],
        json!([{"refType": "CHILD_OF", "traceID": TRACE_A, "spanID": "00f067aa0ba902b7"}])
    );
    assert_eq!(
        spans[1]["tags"],
        json!([
            {"key": "otel.scope.name", "type": "string", "value": "io.opentelemetry.flask"},
            {"key": "otel.scope.version", "type": "string", "value": "0.41b0"},
            {"key": "span.kind", "type": "string", "value": "client"},
        ])
    );
    assert_eq!(spans[1]["processID"], "p1");
    assert_eq!(spans[1]["logs"], json!([]));

    // the error span: the OTel status as Jaeger's tags, the parent then the link
    let charge = &spans[2];
    assert_eq!(
        charge["references"],
        json!([
            {"refType": "CHILD_OF", "traceID": TRACE_A, "spanID": "00f067aa0ba902b8"},
            {"refType": "FOLLOWS_FROM", "traceID": TRACE_B, "spanID": "b7ad6b7169203331"},
        ])
    );
    assert_eq!(
        charge["tags"],
        json!([
            {"key": "http.status_code", "type": "int64", "value": 500},
            {"key": "span.kind", "type": "string", "value": "server"},
            {"key": "otel.status_code", "type": "string", "value": "ERROR"},
            {"key": "error", "type": "bool", "value": true},
            {"key": "otel.status_description", "type": "string", "value": "card declined"},
        ])
    );
    assert_eq!(
        charge["logs"],
        json!([{"timestamp": T0_US + 30_000, "fields": [
            {"key": "event", "type": "string", "value": "exception"},
            {"key": "exception.type", "type": "string", "value": "CardError"},
        ]}])
    );
    assert_eq!(
        (&charge["startTime"], &charge["duration"], &charge["flags"]),
        (&json!(T0_US + 10_000), &json!(30_000), &json!(0))
    );
    assert_eq!(charge["processID"], "p2");
    // another scope of the same resource: the same process
    assert_eq!(spans[3]["processID"], "p2");
    assert_eq!(
        spans[3]["tags"],
        json!([
            {"key": "otel.scope.name", "type": "string", "value": "sqlalchemy"},
            {"key": "span.kind", "type": "string", "value": "internal"},
        ])
    );
}

#[tokio::test]
async fn trace_ids_in_every_spelling() {
    let app = app();
    // 64-bit ids: as 16 digits, 32 digits, or upper case; always written with 32
    for id in ["000000000000beef", TRACE_B, "BEEF", "000000000000BEEF"] {
        let a = get(&app, &format!("/jaeger/api/traces/{id}")).await;
        assert_eq!(a.status, StatusCode::OK, "{id}: {}", a.body);
        assert_eq!(a.trace_ids(), [TRACE_B], "{id}");
        let trace = &a.json()["data"][0];
        assert_eq!(trace["spans"][0]["traceID"], TRACE_B);
        assert_eq!(
            trace["processes"],
            json!({"p1": {"serviceName": "worker", "tags": []}})
        );
    }
    let a = get(
        &app,
        &format!("/jaeger/api/traces/{}", TRACE_A.to_uppercase()),
    )
    .await;
    assert_eq!(a.trace_ids(), [TRACE_A]);

    // a resource equal to another trace's is still that trace's p1
    let a = get(&app, &format!("/jaeger/api/traces/{TRACE_C}")).await;
    let trace = &a.json()["data"][0];
    assert_eq!(trace["processes"]["p1"]["serviceName"], "frontend");
    assert_eq!(trace["spans"][1]["processID"], "p1");
    // a span of no kind has no span.kind tag
    assert_eq!(trace["spans"][1]["tags"], json!([]));
}

#[tokio::test]
async fn unknown_and_bad_trace_ids() {
    let (app, state) = app_over(Arc::new(MemoryTraces(fixture())), Arc::new(NoSeries));
    let a = get(&app, "/jaeger/api/traces/0123456789abcdef0123456789abcdef").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.content_type, "application/json");
    assert_eq!(
        a.body,
        r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}"#
    );
    for bad in ["xyz", "0123456789abcdef0123456789abcdef0", "12%2034"] {
        let a = get(&app, &format!("/jaeger/api/traces/{bad}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        let id = form_urlencoded::parse(format!("x={bad}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        assert_eq!(
            a.body,
            error_body(
                400,
                &format!(
                    "invalid parameter \"traceID\": {id:?} is not a trace id (16 or 32 hex digits)"
                )
            ),
            "{bad}"
        );
    }
    let requests = &state.metrics.jaeger_requests;
    assert_eq!(requests.with_label_values(&["trace", "not_found"]).get(), 1);
    assert_eq!(requests.with_label_values(&["trace", "bad_data"]).get(), 3);
    assert_eq!(
        state
            .metrics
            .jaeger_duration
            .with_label_values(&["trace"])
            .get_sample_count(),
        4
    );
}

#[tokio::test]
async fn services_and_operations() {
    let app = app();
    let a = get(&app, "/jaeger/api/services").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        r#"{"data":["frontend","payments","worker"],"total":3,"limit":0,"offset":0,"errors":null}"#
    );

    // names only, each once, whatever the kind
    let a = get(&app, "/jaeger/api/services/worker/operations").await;
    assert_eq!(
        a.json(),
        json!({"data": ["process job"], "total": 1, "limit": 0, "offset": 0, "errors": null})
    );
    let a = get(&app, "/jaeger/api/services/frontend/operations").await;
    assert_eq!(
        a.json()["data"],
        json!(["GET /checkout", "GET /old", "POST /charge", "render"])
    );
    let a = get(&app, "/jaeger/api/services/nobody/operations").await;
    assert_eq!(a.json()["data"], json!([]));
    assert_eq!(a.json()["total"], 0);

    let a = get(&app, "/jaeger/api/operations?service=frontend").await;
    assert_eq!(
        a.json(),
        json!({"data": [
            {"name": "GET /checkout", "spanKind": "server"},
            {"name": "GET /old", "spanKind": "server"},
            {"name": "POST /charge", "spanKind": "client"},
            {"name": "render", "spanKind": ""},
        ], "total": 4, "limit": 0, "offset": 0, "errors": null})
    );
    let a = get(
        &app,
        "/jaeger/api/operations?service=worker&spanKind=internal",
    )
    .await;
    assert_eq!(
        a.json()["data"],
        json!([{"name": "process job", "spanKind": "internal"}])
    );
    let a = get(&app, "/jaeger/api/operations?service=worker&spanKind=").await;
    assert_eq!(a.json()["total"], 2);

    let a = get(&app, "/jaeger/api/operations?spanKind=server").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, error_body(400, "no service parameter provided"));
    let a = get(
        &app,
        "/jaeger/api/operations?service=worker&spanKind=sideways",
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        error_body(
            400,
            "invalid parameter \"spanKind\": \"sideways\" is not a span kind (server, client, \
             producer, consumer, internal, unspecified)"
        )
    );
}

/// `start`/`end` around the fixture, in µs.
fn window() -> String {
    format!(
        "start={}&end={}",
        T0_US - 3 * 3_600_000_000,
        T0_US + 3_600_000_000
    )
}

#[tokio::test]
async fn searches() {
    let app = app();
    let w = window();
    let search = |q: String| {
        let app = app.clone();
        async move {
            let a = get(&app, &format!("/jaeger/api/traces?{q}")).await;
            assert_eq!(a.status, StatusCode::OK, "{q}: {}", a.body);
            a
        }
    };

    // newest first, whole traces
    let a = search(format!("service=frontend&{w}")).await;
    assert_eq!(a.trace_ids(), [TRACE_A, TRACE_C]);
    let body = a.json();
    assert_eq!(body["data"][0]["spans"].as_array().map(Vec::len), Some(4));
    assert_eq!((&body["total"], &body["errors"]), (&json!(0), &Json::Null));
    assert_eq!(
        search(format!("service=frontend&{w}&limit=1"))
            .await
            .trace_ids(),
        [TRACE_A]
    );
    assert_eq!(
        search(format!(
            "service=frontend&{w}&operation={}",
            enc("GET /old")
        ))
        .await
        .trace_ids(),
        [TRACE_C]
    );

    // the error tag is the OTel status; one span must match every condition
    let errors = enc(r#"{"error":"true"}"#);
    assert_eq!(
        search(format!("service=payments&{w}&tags={errors}"))
            .await
            .trace_ids(),
        [TRACE_A]
    );
    assert!(
        search(format!("service=frontend&{w}&tags={errors}"))
            .await
            .trace_ids()
            .is_empty()
    );
    let tags = enc(r#"{"http.status_code":"500","span.kind":"server"}"#);
    assert_eq!(
        search(format!("service=payments&{w}&tags={tags}"))
            .await
            .trace_ids(),
        [TRACE_A]
    );
    // the legacy form; resource attributes count
    assert_eq!(
        search(format!("service=frontend&{w}&tag=http.status_code:200"))
            .await
            .trace_ids(),
        [TRACE_A]
    );
    assert_eq!(
        search(format!("service=frontend&{w}&tag=host.name:web-1"))
            .await
            .trace_ids(),
        [TRACE_A, TRACE_C]
    );
    assert!(
        search(format!(
            "service=frontend&{w}&tag=error:true&tag=otel.status_code:OK"
        ))
        .await
        .trace_ids()
        .is_empty()
    );

    // Go durations
    assert_eq!(
        search(format!("service=frontend&{w}&minDuration=45ms"))
            .await
            .trace_ids(),
        [TRACE_A]
    );
    assert_eq!(
        search(format!("service=frontend&{w}&maxDuration=1ms"))
            .await
            .trace_ids(),
        [TRACE_C]
    );
    assert_eq!(
        search(format!(
            "service=frontend&{w}&minDuration=40ms&maxDuration=0.04s"
        ))
        .await
        .trace_ids(),
        [TRACE_A]
    );

    // µs times, and lookback back from end
    let end = T0_US + 1000;
    assert_eq!(
        search(format!("service=frontend&end={end}&lookback=1h"))
            .await
            .trace_ids(),
        [TRACE_A]
    );
    assert_eq!(
        search(format!("service=frontend&end={end}&lookback=3h"))
            .await
            .trace_ids(),
        [TRACE_A, TRACE_C]
    );
    assert_eq!(
        search(format!(
            "service=frontend&start={}&end={}&lookback=custom",
            T0_US - 7_300_000_000,
            T0_US - 1
        ))
        .await
        .trace_ids(),
        [TRACE_C]
    );
    // the default is the last hour: nothing of 2023
    assert!(
        search("service=frontend".into())
            .await
            .trace_ids()
            .is_empty()
    );
}

#[tokio::test]
async fn search_by_trace_id() {
    let app = app();
    let unknown = "0123456789abcdef0123456789abcdef";
    let a = get(
        &app,
        &format!("/jaeger/api/traces?traceID={TRACE_C}&traceID={unknown}&traceID=beef"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.trace_ids(), [TRACE_C, TRACE_B]);
    assert_eq!(
        a.json()["errors"],
        json!([{"msg": "trace not found", "traceID": unknown}])
    );
}

#[tokio::test]
async fn search_errors_in_jaegers_envelope() {
    let app = app();
    for (q, msg) in [
        ("", "no service parameter provided"),
        ("operation=x&limit=5", "no service parameter provided"),
        (
            "service=a&minDuration=5",
            "invalid parameter \"minDuration\": cannot parse \"5\" as a non-negative duration (e.g. 1.2s, 100ms, 500us)",
        ),
        (
            "service=a&start=1h",
            "invalid parameter \"start\": cannot parse \"1h\" as microseconds since the epoch",
        ),
        (
            "service=a&tag=error",
            "invalid parameter \"tag\": \"error\" is not of the form key:value",
        ),
        (
            "service=a&limit=100000",
            "invalid parameter \"limit\": \"100000\" is not between 1 and 1500",
        ),
        (
            "traceID=nope",
            "invalid parameter \"traceID\": \"nope\" is not a trace id (16 or 32 hex digits)",
        ),
    ] {
        let a = get(&app, &format!("/jaeger/api/traces?{q}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(a.body, error_body(400, msg), "{q}");
    }
    let a = get(&app, "/jaeger/api/traces?service=a&tags=%7Bnope").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let msg = a.json()["errors"][0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.starts_with("invalid parameter \"tags\": \"{nope\" is not a JSON object"),
        "{msg}"
    );
}

#[tokio::test]
async fn store_failures_in_jaegers_envelope() {
    let (app, state) = app_over(
        Arc::new(FailingTraces(|| StorageError::ShuttingDown)),
        Arc::new(NoSeries),
    );
    let a = get(&app, "/jaeger/api/services").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.body, error_body(503, "storage: storage is shutting down"));
    assert_eq!(
        state
            .metrics
            .jaeger_requests
            .with_label_values(&["services", "unavailable"])
            .get(),
        1
    );
    let (app, _) = app_over(
        Arc::new(FailingTraces(|| {
            StorageError::Index("segment missing".into())
        })),
        Arc::new(NoSeries),
    );
    for uri in [
        "/jaeger/api/services".to_string(),
        "/jaeger/api/services/a/operations".into(),
        "/jaeger/api/operations?service=a".into(),
        format!("/jaeger/api/traces?service=a&{}", window()),
        format!("/jaeger/api/traces/{TRACE_A}"),
        format!("/jaeger/api/traces?traceID={TRACE_A}"),
    ] {
        let a = get(&app, &uri).await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert_eq!(
            a.body,
            error_body(500, "storage: search index: segment missing"),
            "{uri}"
        );
    }
}

fn counter(
    labels: &[(&str, &str)],
    samples: impl IntoIterator<Item = (i64, f64)>,
) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(labels.iter().copied()),
        samples: samples.into_iter().map(|(t, v)| Sample { t, v }).collect(),
    }
}

#[tokio::test]
async fn dependencies_from_the_service_graph_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SeriesStoreConfig::new(dir.path());
    config.retention = None;
    let store = SeriesStore::open(config, &prometheus::Registry::new()).expect("store opens");
    // every 15 s for the two hours up to E: one call per sample from frontend to payments,
    // one failure a minute; frontend → cache idle; api → payments only until E - 90m
    let end = T0_MS;
    let times = || (0..=480i64).map(move |k| (k, end - 7_200_000 + k * 15_000));
    let requests = "argus_service_graph_requests_total";
    let failed = "argus_service_graph_request_failed_total";
    let batch = vec![
        counter(
            &[
                ("__name__", requests),
                ("client", "frontend"),
                ("server", "payments"),
            ],
            times().map(|(k, t)| (t, k as f64)),
        ),
        counter(
            &[
                ("__name__", failed),
                ("client", "frontend"),
                ("server", "payments"),
            ],
            times().map(|(k, t)| (t, (k / 4) as f64)),
        ),
        counter(
            &[
                ("__name__", requests),
                ("client", "frontend"),
                ("server", "cache"),
            ],
            times().map(|(_, t)| (t, 5.0)),
        ),
        counter(
            &[
                ("__name__", requests),
                ("client", "api"),
                ("server", "payments"),
            ],
            times().take(120).map(|(k, t)| (t, 2.0 * k as f64)),
        ),
    ];
    let outcome = store.append(batch).expect("append");
    assert_eq!(outcome.rejected_total(), 0, "{outcome:?}");

    let config = QueryConfig::default();
    let app = jaeger_router(Arc::new(MemoryTraces(Vec::new())), store, &config);
    let a = get(
        &app,
        &format!("/jaeger/api/dependencies?endTs={end}&lookback=3600000"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body,
        r#"{"data":[{"parent":"frontend","child":"payments","callCount":240,"errorCount":60}],"total":0,"limit":0,"offset":0,"errors":null}"#
    );

    // the default lookback, a day, sees api → payments too
    let a = get(&app, &format!("/jaeger/api/dependencies?endTs={end}")).await;
    let links = a.json()["data"].clone();
    assert_eq!(
        links,
        json!([
            {"parent": "api", "child": "payments", "callCount": 238, "errorCount": 0},
            {"parent": "frontend", "child": "payments", "callCount": 480, "errorCount": 120},
        ])
    );
    let a = get(
        &app,
        &format!("/jaeger/api/dependencies?endTs={end}&service=api"),
    )
    .await;
    assert_eq!(a.json()["data"].as_array().map(Vec::len), Some(1));
    // no series at that time
    let a = get(&app, "/jaeger/api/dependencies?endTs=1000&lookback=1000").await;
    assert_eq!(a.json()["data"], json!([]));

    let a = get(&app, "/jaeger/api/dependencies?lookback=1h").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        error_body(
            400,
            "invalid parameter \"lookback\": \"1h\" is not a number of milliseconds between 1 \
             and 315360000000 (ten years)"
        )
    );
    let a = get(&app, "/jaeger/api/dependencies?endTs=yesterday").await;
    assert_eq!(
        a.body,
        error_body(
            400,
            "invalid parameter \"endTs\": cannot parse \"yesterday\" as milliseconds since the epoch"
        )
    );
}

fn arb_param() -> impl Strategy<Value = (String, String)> {
    let key = prop::sample::select(vec![
        "service",
        "operation",
        "tags",
        "tag",
        "minDuration",
        "maxDuration",
        "start",
        "end",
        "limit",
        "lookback",
        "traceID",
        "spanKind",
        "endTs",
    ]);
    let value = prop_oneof![
        any::<String>(),
        "[0-9a-fA-F]{0,40}",
        "[-+]?[0-9]{0,22}(\\.[0-9]{0,12})?(ns|us|µs|ms|s|m|h|d|w|x)?",
        "\\{(\"[a-z.]{0,5}\":(\"[a-z0-9]{0,4}\"|[0-9]{1,3}|true|null|\\[\\])?,?){0,3}\\}?",
        "[a-z.]{0,6}:[a-z0-9:]{0,6}",
        prop::sample::select(vec![
            "frontend", "payments", "worker", "custom", "true", "error", "server",
        ])
        .prop_map(str::to_string),
    ];
    (key.prop_map(str::to_string), value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the query string, every route answers Jaeger's envelope: 200 with data, or a
    /// 400/404 naming what was wrong; never a panic or a server error.
    #[test]
    fn any_query_string_gets_an_envelope(
        params in prop::collection::vec(arb_param(), 0..6),
        segment in any::<String>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let segment: String = form_urlencoded::byte_serialize(segment.as_bytes()).collect();
        // (an empty one would be another route, not the handler's)
        let segment = if segment.is_empty() { "x".to_string() } else { segment };
        let app = app();
        let uris = [
            format!("/jaeger/api/services?{query}"),
            format!("/jaeger/api/services/{segment}/operations?{query}"),
            format!("/jaeger/api/operations?{query}"),
            format!("/jaeger/api/traces?{query}"),
            format!("/jaeger/api/traces/{segment}?{query}"),
            format!("/jaeger/api/dependencies?{query}"),
        ];
        for uri in uris {
            let a = runtime.block_on(get(&app, &uri));
            prop_assert!(
                matches!(a.status, StatusCode::OK | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND),
                "{uri}: {} {}", a.status, a.body
            );
            let body = a.json();
            prop_assert!(body.get("data").is_some() && body.get("errors").is_some(), "{uri}: {}", a.body);
            if a.status != StatusCode::OK {
                prop_assert_eq!(&body["errors"][0]["code"], &json!(a.status.as_u16()));
                prop_assert!(body["errors"][0]["msg"].as_str().is_some_and(|m| !m.is_empty()));
            }
        }
    }
}

#[test]
fn counter_increase_is_exact_for_young_series_and_resets() {
    let at = |pairs: &[(i64, f64)]| -> Vec<Sample> {
        pairs.iter().map(|&(t, v)| Sample { t, v }).collect()
    };
    // born in the window: the deriver's 0, then 2 calls (increase() would say 3)
    assert_eq!(counter_increase(&at(&[(999, 0.0), (1000, 2.0)]), 500), 2.0);
    // counted from the last value at or before the window's start
    assert_eq!(
        counter_increase(&at(&[(100, 5.0), (500, 7.0), (900, 10.0)]), 500),
        3.0
    );
    // a restart resets to zero; a staleness marker is no value
    let stale = storage::stale_nan();
    assert_eq!(
        counter_increase(
            &at(&[(100, 5.0), (600, 8.0), (700, stale), (800, 1.0)]),
            500
        ),
        4.0
    );
    assert_eq!(counter_increase(&[], 0), 0.0);
}
