//! Deterministic OpenTelemetry traces shaped like a microservice shop's: 20 services (2 entry
//! services, 18 behind them) with 10 HTTP operations each; a trace is a root server span of an
//! entry service that calls other services (a client span in the caller, a server span in the
//! callee, nested up to 3 deep), some server spans querying a database (a client span with
//! `db.*` attributes). Every span carries 10 attributes and 2 events; every resource 11
//! attributes (service, version, host, Kubernetes pod, SDK). About 1.5 % of the spans are
//! errors (HTTP 500 and their callers). 11.6 spans per trace on average.
//!
//! Trace `t` is a pure function of the seed and `t` (its root starts at a time fixed by `t`), so
//! any trace of a run can be generated again on its own, and the generator knows exactly what
//! a benchmark lookup or search must find. [`Batcher`] cuts the spans of consecutive traces into
//! OTLP `ExportTraceServiceRequest`s of a fixed number of spans, grouped by resource and scope
//! as an SDK's or a Collector's batch exporter sends them, and encodes them.

use std::fmt::Write as _;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use crate::workload::Rng;

/// Service names; the first [`ENTRY_SERVICES`] receive the requests from outside.
pub(crate) const SERVICES: [&str; 20] = [
    "frontend",
    "api-gateway",
    "cart",
    "catalog",
    "checkout",
    "payments",
    "users",
    "auth",
    "search",
    "orders",
    "inventory",
    "pricing",
    "shipping",
    "recommendations",
    "reviews",
    "notifications",
    "currency",
    "fraud",
    "media",
    "email",
];
pub(crate) const ENTRY_SERVICES: usize = 2;
/// Pods (resources) per service.
pub(crate) const PODS: usize = 3;
/// HTTP operations per service: `(method, route)`; `{s}` is the service name. Drawn with
/// Zipf weights 1/(j+1), so the first is the most frequent.
const ROUTES: [(&str, &str); 10] = [
    ("GET", "/api/{s}/{id}"),
    ("GET", "/api/{s}"),
    ("POST", "/api/{s}"),
    ("PUT", "/api/{s}/{id}"),
    ("GET", "/api/{s}/search"),
    ("DELETE", "/api/{s}/{id}"),
    ("POST", "/api/{s}/{id}/validate"),
    ("GET", "/api/{s}/{id}/history"),
    ("POST", "/api/{s}/batch"),
    ("GET", "/api/{s}/stats"),
];
pub(crate) const OPERATIONS: usize = ROUTES.len();
/// The average number of spans per trace (checked by a test against the generator): a root,
/// 2.5 calls from it, 0.7 from each of those, 0.2 from the next level, each call a client and
/// a server span; a database span under 30 % of the non-root server spans.
pub(crate) const MEAN_SPANS_PER_TRACE: f64 = 11.58;

const LANGUAGES: [(&str, &str, &str, &str); 4] = [
    (
        "go",
        "1.28.0",
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "Go-http-client/1.1",
    ),
    (
        "java",
        "1.42.1",
        "io.opentelemetry.tomcat-10.0",
        "Apache-HttpClient/4.5.14 (Java/17.0.8)",
    ),
    (
        "python",
        "1.27.0",
        "opentelemetry.instrumentation.flask",
        "python-requests/2.32.3",
    ),
    (
        "nodejs",
        "1.26.0",
        "@opentelemetry/instrumentation-http",
        "node-fetch/1.0",
    ),
];
const DB_SCOPES: [&str; 4] = [
    "go.opentelemetry.io/contrib/instrumentation/database/sql/otelsql",
    "io.opentelemetry.jdbc",
    "opentelemetry.instrumentation.psycopg2",
    "@opentelemetry/instrumentation-pg",
];
const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
];
const TABLES: [&str; 6] = [
    "orders",
    "order_items",
    "users",
    "inventory_levels",
    "payments",
    "audit_log",
];
const EXCEPTIONS: [(&str, &str); 3] = [
    ("java.net.SocketTimeoutException", "Read timed out"),
    (
        "ConnectionResetError",
        "[Errno 104] Connection reset by peer",
    ),
    ("context.DeadlineExceeded", "context deadline exceeded"),
];

const US: u64 = 1_000;
const MS: u64 = 1_000_000;

/// What a benchmark needs to know about a generated span, besides the span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanFacts {
    pub(crate) service: usize,
    pub(crate) pod: usize,
    /// 0: HTTP instrumentation, 1: database instrumentation.
    pub(crate) scope: usize,
    /// The operation of a server span (index into the service's operations); `None` for client
    /// and database spans, whose names are not operations of [`ROUTES`].
    pub(crate) server_op: Option<usize>,
    /// `http.status_code` (0 for database spans).
    pub(crate) http_status: u16,
}

#[derive(Debug, Clone)]
pub(crate) struct GenSpan {
    pub(crate) span: Span,
    pub(crate) facts: SpanFacts,
}

/// One generated trace; its spans in the order they end (children before parents), as SDKs
/// export them.
#[derive(Debug, Clone)]
pub(crate) struct GenTrace {
    pub(crate) index: u64,
    pub(crate) id: [u8; 16],
    /// `request.id` of every span of the trace (an `x-request-id` propagated with the calls).
    pub(crate) request_id: String,
    pub(crate) spans: Vec<GenSpan>,
}

impl GenTrace {
    /// The start of the trace's last span.
    pub(crate) fn last_start_ns(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.span.start_time_unix_nano)
            .max()
            .unwrap_or(0)
    }
}

/// Traces `0..traces` with roots spread evenly over `[start_ns, start_ns + span_ns)`.
#[derive(Debug, Clone)]
pub(crate) struct SpanGen {
    pub(crate) seed: u64,
    pub(crate) traces: u64,
    pub(crate) start_ns: u64,
    pub(crate) span_ns: u64,
    /// Operation names per service: `"GET /api/cart/{id}"`.
    ops: Vec<Vec<String>>,
    /// Cumulative Zipf weights of the operations.
    op_cdf: [f64; OPERATIONS],
    resources: Vec<Resource>,
}

/// A call into a server span: who calls, with which id as parent.
struct Call {
    parent: [u8; 8],
    peer: String,
    user_agent: &'static str,
}

impl SpanGen {
    /// About `spans` spans (a whole number of traces) over `[start_ns, start_ns + span_ns)`.
    pub(crate) fn new(seed: u64, spans: u64, start_ns: u64, span_ns: u64) -> SpanGen {
        let traces = ((spans as f64 / MEAN_SPANS_PER_TRACE).round() as u64).max(1);
        let ops = SERVICES
            .iter()
            .map(|s| {
                ROUTES
                    .iter()
                    .map(|(m, r)| format!("{m} {}", r.replace("{s}", s)))
                    .collect()
            })
            .collect();
        let mut op_cdf = [0.0; OPERATIONS];
        let total: f64 = (1..=OPERATIONS).map(|j| 1.0 / j as f64).sum();
        let mut acc = 0.0;
        for (j, c) in op_cdf.iter_mut().enumerate() {
            acc += 1.0 / (j + 1) as f64 / total;
            *c = acc;
        }
        let mut resources = Vec::new();
        for (s, name) in SERVICES.iter().enumerate() {
            for pod in 0..PODS {
                resources.push(resource(s, name, pod));
            }
        }
        SpanGen {
            seed,
            traces,
            start_ns,
            span_ns,
            ops,
            op_cdf,
            resources,
        }
    }

    /// The root span's start of trace `t` (before its sub-microsecond jitter).
    pub(crate) fn trace_time_ns(&self, t: u64) -> u64 {
        self.start_ns + (u128::from(t) * u128::from(self.span_ns) / u128::from(self.traces)) as u64
    }

    pub(crate) fn operation(&self, service: usize, op: usize) -> &str {
        &self.ops[service][op]
    }

    /// The resource of a service's pod.
    fn resource_of(&self, service: usize, pod: usize) -> &Resource {
        &self.resources[service * PODS + pod]
    }

    pub(crate) fn trace(&self, t: u64) -> GenTrace {
        let mut r = Rng::new(self.seed ^ t.wrapping_mul(0x9FB2_1C65_1E98_DF25));
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&r.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&(r.next_u64() | 1).to_be_bytes());
        let (a, b) = (r.next_u64(), r.next_u64());
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        );
        let mut trace = GenTrace {
            index: t,
            id,
            request_id,
            spans: Vec::with_capacity(16),
        };
        let user = format!("user-{}", r.below(200_000));
        let entry = usize::from(r.below(10) >= 6); // frontend 60 %, api-gateway 40 %
        let start = self.trace_time_ns(t) + r.below(US);
        let call = Call {
            parent: [0; 8],
            peer: format!(
                "203.0.113.{}",
                1 + r.below(254) // documentation range: the outside world
            ),
            user_agent: BROWSERS[r.below(BROWSERS.len() as u64) as usize],
        };
        let op = self.pick_op(&mut r);
        let pod = r.below(PODS as u64) as usize;
        self.server(&mut r, &mut trace, &user, (entry, pod, op), call, start, 0);
        trace
    }

    fn pick_op(&self, r: &mut Rng) -> usize {
        let u = r.f64();
        self.op_cdf
            .iter()
            .position(|c| u < *c)
            .unwrap_or(OPERATIONS - 1)
    }

    /// A service behind the entry services, skewed to the first ones, never `caller`.
    fn pick_callee(r: &mut Rng, caller: usize) -> usize {
        let n = SERVICES.len() - ENTRY_SERVICES;
        let u = r.f64();
        let mut s = ENTRY_SERVICES + ((u * u) * n as f64) as usize % n;
        if s == caller {
            s = ENTRY_SERVICES + (s - ENTRY_SERVICES + 1) % n;
        }
        s
    }

    /// A server span and everything under it, pushed children first; returns its end, its
    /// `http.status_code` and its id.
    #[allow(clippy::too_many_arguments)]
    fn server(
        &self,
        r: &mut Rng,
        trace: &mut GenTrace,
        user: &str,
        (service, pod, op): (usize, usize, usize),
        call: Call,
        start: u64,
        depth: u32,
    ) -> (u64, u16, [u8; 8]) {
        let id = span_id(r);
        let (method, route) = ROUTES[op];
        let route = route.replace("{s}", SERVICES[service]);
        let mut status: u16 = match r.below(1000) {
            0..15 => 500,
            15..45 => 404,
            45..55 => 400,
            _ => match method {
                "POST" => 201,
                "DELETE" => 204,
                _ => 200,
            },
        };
        let mut cursor = start + 50 * US + r.below(450 * US);
        if depth >= 1 && r.below(100) < 30 {
            cursor = self.db_span(r, trace, user, (service, pod), id, cursor) + 50 * US;
        }
        let calls = match depth {
            0 => 1 + r.below(4),
            1 => [0, 0, 0, 0, 0, 1, 1, 1, 2, 2][r.below(10) as usize],
            2 => u64::from(r.below(10) < 2),
            _ => 0,
        };
        let lang = LANGUAGES[service % LANGUAGES.len()];
        let peer = pod_ip(service, pod);
        for _ in 0..calls {
            let callee = Self::pick_callee(r, service);
            let callee_op = self.pick_op(r);
            let callee_pod = r.below(PODS as u64) as usize;
            let client_id = span_id(r);
            let client_start = cursor;
            let server_start = client_start + 100 * US + r.below(300 * US);
            let (server_end, callee_status, _) = self.server(
                r,
                trace,
                user,
                (callee, callee_pod, callee_op),
                Call {
                    parent: client_id,
                    peer: peer.clone(),
                    user_agent: lang.3,
                },
                server_start,
                depth + 1,
            );
            let client_end = server_end + 100 * US + r.below(300 * US);
            let (cm, croute) = ROUTES[callee_op];
            let path = croute
                .replace("{s}", SERVICES[callee])
                .replace("{id}", &r.below(1_000_000).to_string());
            let host = format!("{}.shop.svc.cluster.local", SERVICES[callee]);
            let attributes = vec![
                kv_str("http.method", cm),
                kv_str("http.url", format!("http://{host}:8080{path}")),
                kv_int("http.status_code", i64::from(callee_status)),
                kv_str("net.peer.name", host),
                kv_int("net.peer.port", 8080),
                kv_str("http.flavor", "1.1"),
                kv_str("enduser.id", user),
                kv_str("request.id", trace.request_id.as_str()),
                kv_int("http.request_content_length", r.below(4000) as i64),
                kv_str("thread.name", format!("worker-{}", r.below(16))),
            ];
            let events = message_events(r, client_start, client_end, "SENT", callee_status);
            trace.spans.push(GenSpan {
                span: Span {
                    trace_id: trace.id.to_vec(),
                    span_id: client_id.to_vec(),
                    parent_span_id: id.to_vec(),
                    flags: 0x101,
                    name: format!("HTTP {cm}"),
                    kind: SpanKind::Client as i32,
                    start_time_unix_nano: client_start,
                    end_time_unix_nano: client_end,
                    attributes,
                    events,
                    status: http_status(callee_status),
                    ..Span::default()
                },
                facts: SpanFacts {
                    service,
                    pod,
                    scope: 0,
                    server_op: None,
                    http_status: callee_status,
                },
            });
            cursor = client_end + 20 * US + r.below(180 * US);
            // An entry service fails half the requests whose first-level call failed.
            if depth == 0 && callee_status == 500 && r.below(2) == 0 {
                status = 500;
            }
        }
        let end = cursor + (r.log_uniform(0.2, 15.0) * MS as f64) as u64;
        let target = route.replace("{id}", &r.below(1_000_000).to_string());
        let attributes = vec![
            kv_str("http.method", method),
            kv_str("http.route", route),
            kv_str("http.target", target),
            kv_int("http.status_code", i64::from(status)),
            kv_str("net.peer.name", call.peer),
            kv_str("http.user_agent", call.user_agent),
            kv_str("enduser.id", user),
            kv_str("request.id", trace.request_id.as_str()),
            kv_int(
                "http.response_content_length",
                if status == 204 {
                    0
                } else {
                    r.log_uniform(40.0, 200_000.0) as i64
                },
            ),
            kv_int("net.host.port", 8080),
        ];
        let events = message_events(r, start, end, "RECEIVED", status);
        trace.spans.push(GenSpan {
            span: Span {
                trace_id: trace.id.to_vec(),
                span_id: id.to_vec(),
                parent_span_id: if depth == 0 {
                    Vec::new()
                } else {
                    call.parent.to_vec()
                },
                flags: 0x101,
                name: self.ops[service][op].clone(),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events,
                status: http_status(status),
                ..Span::default()
            },
            facts: SpanFacts {
                service,
                pod,
                scope: 0,
                server_op: Some(op),
                http_status: status,
            },
        });
        (end, status, id)
    }

    /// A database query of `service` under `parent`; returns its end.
    fn db_span(
        &self,
        r: &mut Rng,
        trace: &mut GenTrace,
        user: &str,
        (service, pod): (usize, usize),
        parent: [u8; 8],
        start: u64,
    ) -> u64 {
        let table = TABLES[r.below(TABLES.len() as u64) as usize];
        let (operation, statement) = match r.below(10) {
            0..6 => (
                "SELECT",
                format!("SELECT * FROM {table} WHERE id = $1 LIMIT 50"),
            ),
            6..8 => (
                "UPDATE",
                format!("UPDATE {table} SET status = $1, updated_at = now() WHERE id = $2"),
            ),
            _ => (
                "INSERT",
                format!("INSERT INTO {table} (id, payload, created_at) VALUES ($1, $2, now())"),
            ),
        };
        let end = start + (r.log_uniform(0.2, 20.0) * MS as f64) as u64;
        let failed = r.below(1000) < 3;
        let wait = start + r.below(100 * US);
        let attributes = vec![
            kv_str("db.system", "postgresql"),
            kv_str("db.name", "shop"),
            kv_str("db.statement", statement),
            kv_str("db.operation", operation),
            kv_str("db.sql.table", table),
            kv_str("net.peer.name", "postgres-main.shop.svc.cluster.local"),
            kv_int("net.peer.port", 5432),
            kv_str("enduser.id", user),
            kv_str("request.id", trace.request_id.as_str()),
            kv_int("db.rows_affected", r.below(50) as i64),
        ];
        let events = vec![
            Event {
                time_unix_nano: wait,
                name: "connection.acquired".into(),
                attributes: vec![
                    kv_str("db.pool.name", "primary"),
                    kv_int("db.pool.wait_us", (wait - start) as i64 / 1000),
                ],
                ..Event::default()
            },
            if failed {
                Event {
                    time_unix_nano: end,
                    name: "exception".into(),
                    attributes: vec![
                        kv_str("exception.type", "DeadlockDetected"),
                        kv_str(
                            "exception.message",
                            "deadlock detected while waiting for ShareLock",
                        ),
                    ],
                    ..Event::default()
                }
            } else {
                Event {
                    time_unix_nano: end,
                    name: "rows.fetched".into(),
                    attributes: vec![
                        kv_int("db.rows", r.below(50) as i64),
                        kv_str("db.cursor", "none"),
                    ],
                    ..Event::default()
                }
            },
        ];
        trace.spans.push(GenSpan {
            span: Span {
                trace_id: trace.id.to_vec(),
                span_id: span_id(r).to_vec(),
                parent_span_id: parent.to_vec(),
                flags: 0x101,
                name: format!("{operation} {table}"),
                kind: SpanKind::Client as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events,
                status: failed.then(|| Status {
                    message: "deadlock detected".into(),
                    code: StatusCode::Error as i32,
                }),
                ..Span::default()
            },
            facts: SpanFacts {
                service,
                pod,
                scope: 1,
                server_op: None,
                http_status: 0,
            },
        });
        end
    }
}

/// A random span id, never all zeros.
fn span_id(r: &mut Rng) -> [u8; 8] {
    (r.next_u64() | 1 << 63).to_be_bytes()
}

fn pod_ip(service: usize, pod: usize) -> String {
    format!("10.42.{}.{}", service, 10 + pod * 17)
}

fn http_status(code: u16) -> Option<Status> {
    (code >= 500).then(|| Status {
        message: format!("HTTP {code}"),
        code: StatusCode::Error as i32,
    })
}

/// The two events of an HTTP span: the message received or sent at the start, and at the end
/// the answer, or an exception for a failure.
fn message_events(r: &mut Rng, start: u64, end: u64, first: &str, status: u16) -> Vec<Event> {
    let second = if status >= 500 {
        let (t, m) = EXCEPTIONS[r.below(EXCEPTIONS.len() as u64) as usize];
        Event {
            time_unix_nano: end,
            name: "exception".into(),
            attributes: vec![kv_str("exception.type", t), kv_str("exception.message", m)],
            ..Event::default()
        }
    } else {
        Event {
            time_unix_nano: end,
            name: "message".into(),
            attributes: vec![
                kv_str(
                    "message.type",
                    if first == "SENT" { "RECEIVED" } else { "SENT" },
                ),
                kv_int("message.uncompressed_size", r.below(100_000) as i64),
            ],
            ..Event::default()
        }
    };
    vec![
        Event {
            time_unix_nano: start + r.below(20 * US),
            name: "message".into(),
            attributes: vec![
                kv_str("message.type", first),
                kv_int("message.uncompressed_size", r.below(8_000) as i64),
            ],
            ..Event::default()
        },
        second,
    ]
}

fn kv_str(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

fn resource(service: usize, name: &str, pod: usize) -> Resource {
    let (lang, sdk, _, _) = LANGUAGES[service % LANGUAGES.len()];
    let mut pod_name = format!("{name}-7d9f8b6c4-");
    let mut r = Rng::new((service * PODS + pod) as u64);
    for _ in 0..5 {
        let _ = write!(pod_name, "{}", (b'a' + r.below(26) as u8) as char);
    }
    Resource {
        attributes: vec![
            kv_str("service.name", name),
            kv_str("service.namespace", "shop"),
            kv_str("service.version", format!("1.{}.{}", 4 + service % 7, pod)),
            kv_str("service.instance.id", format!("{:016x}", r.next_u64())),
            kv_str(
                "host.name",
                format!("node-{:02}", (service * 3 + pod * 5) % 12),
            ),
            kv_str("k8s.pod.name", pod_name),
            kv_str("k8s.namespace.name", "shop"),
            kv_str("k8s.deployment.name", name),
            kv_str("telemetry.sdk.name", "opentelemetry"),
            kv_str("telemetry.sdk.language", lang),
            kv_str("telemetry.sdk.version", sdk),
        ],
        ..Resource::default()
    }
}

/// One encoded export request.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    /// `ExportTraceServiceRequest`, protobuf.
    pub(crate) body: Bytes,
    pub(crate) spans: u64,
    /// The root span of the last trace that ends in this batch, if one does.
    pub(crate) probe: Option<Probe>,
}

/// A root span to search for: only it has its service, operation and `request.id` (client
/// spans of the entry service are named `HTTP <method>`, and `request.id` is per trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) service: usize,
    pub(crate) operation: String,
    pub(crate) request_id: String,
    pub(crate) trace_id: [u8; 16],
}

/// Cuts the spans of traces `0..generator.traces`, in order, into requests of `batch` spans
/// (the last one shorter; a trace may straddle two requests, as with any batching exporter),
/// grouped by resource and scope in order of first appearance.
pub(crate) struct Batcher<'a> {
    generator: &'a SpanGen,
    batch: usize,
    next_trace: u64,
    pending: Vec<GenSpan>,
}

impl<'a> Batcher<'a> {
    pub(crate) fn new(generator: &'a SpanGen, batch: usize) -> Batcher<'a> {
        Batcher {
            generator,
            batch: batch.max(1),
            next_trace: 0,
            pending: Vec::new(),
        }
    }

    /// The next request, or `None` when every trace was sent; `observe` sees every trace as
    /// it is generated.
    pub(crate) fn next_batch(&mut self, mut observe: impl FnMut(&GenTrace)) -> Option<Batch> {
        while self.pending.len() < self.batch && self.next_trace < self.generator.traces {
            let t = self.generator.trace(self.next_trace);
            self.next_trace += 1;
            observe(&t);
            self.pending.extend(t.spans);
        }
        if self.pending.is_empty() {
            return None;
        }
        let take = self.pending.len().min(self.batch);
        let rest = self.pending.split_off(take);
        let spans = std::mem::replace(&mut self.pending, rest);
        let probe = spans
            .iter()
            .rev()
            .find(|s| s.span.parent_span_id.is_empty())
            .map(|root| Probe {
                service: root.facts.service,
                operation: root.span.name.clone(),
                request_id: request_id_of(&root.span),
                trace_id: root.span.trace_id.as_slice().try_into().unwrap_or([0; 16]),
            });
        let n = spans.len() as u64;
        Some(Batch {
            body: Bytes::from(self.encode(spans).encode_to_vec()),
            spans: n,
            probe,
        })
    }

    fn encode(&self, spans: Vec<GenSpan>) -> ExportTraceServiceRequest {
        let mut groups: Vec<((usize, usize), ResourceSpans)> = Vec::new();
        for s in spans {
            let f = s.facts;
            let key = (f.service, f.pod);
            let i = match groups.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    groups.push((
                        key,
                        ResourceSpans {
                            resource: Some(self.generator.resource_of(f.service, f.pod).clone()),
                            ..ResourceSpans::default()
                        },
                    ));
                    groups.len() - 1
                }
            };
            let rs = &mut groups[i].1;
            let (scope_name, scope_version) = scope(f.service, f.scope);
            let j = match rs
                .scope_spans
                .iter()
                .position(|ss| ss.scope.as_ref().is_some_and(|s| s.name == scope_name))
            {
                Some(j) => j,
                None => {
                    rs.scope_spans.push(ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: scope_name.into(),
                            version: scope_version.into(),
                            ..InstrumentationScope::default()
                        }),
                        ..ScopeSpans::default()
                    });
                    rs.scope_spans.len() - 1
                }
            };
            rs.scope_spans[j].spans.push(s.span);
        }
        ExportTraceServiceRequest {
            resource_spans: groups.into_iter().map(|(_, rs)| rs).collect(),
        }
    }
}

fn scope(service: usize, scope: usize) -> (&'static str, &'static str) {
    let l = service % LANGUAGES.len();
    if scope == 0 {
        (LANGUAGES[l].2, "0.53.0")
    } else {
        (DB_SCOPES[l], "0.27.0")
    }
}

fn request_id_of(span: &Span) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key == "request.id")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(spans: u64) -> SpanGen {
        SpanGen::new(5, spans, 1_700_000_000_000 * MS, 3_600_000 * MS)
    }

    #[test]
    fn traces_have_the_documented_shape() {
        let g = generator(200_000);
        let mut spans = 0u64;
        let mut errors = 0u64;
        for t in 0..g.traces {
            let tr = g.trace(t);
            assert_eq!(tr.index, t);
            let roots: Vec<_> = tr
                .spans
                .iter()
                .filter(|s| s.span.parent_span_id.is_empty())
                .collect();
            assert_eq!(roots.len(), 1, "one root");
            assert!(roots[0].facts.service < ENTRY_SERVICES);
            assert!(
                tr.spans
                    .last()
                    .is_some_and(|last| std::ptr::eq(roots[0], last)),
                "root last"
            );
            let ids: std::collections::HashSet<&[u8]> =
                tr.spans.iter().map(|s| s.span.span_id.as_slice()).collect();
            assert_eq!(ids.len(), tr.spans.len(), "distinct span ids");
            for s in &tr.spans {
                assert_eq!(s.span.attributes.len(), 10);
                assert_eq!(s.span.events.len(), 2);
                assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
                assert!(
                    s.span.parent_span_id.is_empty()
                        || ids.contains(s.span.parent_span_id.as_slice()),
                    "parent in the trace"
                );
                if s.span.status.is_some() {
                    errors += 1;
                }
            }
            spans += tr.spans.len() as u64;
        }
        let mean = spans as f64 / g.traces as f64;
        assert!(
            (mean / MEAN_SPANS_PER_TRACE - 1.0).abs() < 0.02,
            "mean {mean} spans per trace"
        );
        let error_share = errors as f64 / spans as f64;
        assert!((0.01..0.025).contains(&error_share), "errors {error_share}");
        assert_eq!(
            g.trace(77).spans[0].span,
            generator(200_000).trace(77).spans[0].span
        );
    }

    #[test]
    fn batches_hold_every_span_once_grouped_by_resource() -> Result<(), Box<dyn std::error::Error>>
    {
        let g = generator(20_000);
        let mut b = Batcher::new(&g, 512);
        let mut traces = 0u64;
        let mut sent = 0u64;
        let mut expected = 0u64;
        while let Some(batch) = b.next_batch(|t| {
            traces += 1;
            expected += t.spans.len() as u64;
        }) {
            let req = ExportTraceServiceRequest::decode(batch.body.clone())?;
            let n: usize = req
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            assert_eq!(n as u64, batch.spans);
            assert!(batch.spans <= 512);
            let mut names: Vec<String> = req
                .resource_spans
                .iter()
                .map(|rs| format!("{:?}", rs.resource.as_ref().map(|r| &r.attributes[5])))
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), req.resource_spans.len(), "one group per pod");
            let probe = batch.probe.ok_or("every batch of 512 spans ends a trace")?;
            assert!(!probe.request_id.is_empty());
            assert!(probe.service < ENTRY_SERVICES);
            sent += batch.spans;
        }
        assert_eq!(traces, g.traces);
        assert_eq!(sent, expected);
        // 1,727 traces of ~11.6 spans: within a few percent of the size asked for.
        assert!((sent as f64 / 20_000.0 - 1.0).abs() < 0.05, "{sent}");
        Ok(())
    }
}
