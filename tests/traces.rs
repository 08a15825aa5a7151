//! Traces end to end, against the real binary: the real Python OpenTelemetry SDK exports one
//! trace across two services (gRPC and HTTP/protobuf exporters), found through the Jaeger API
//! by service, operation, tag and duration and fetched whole by id; the service dependency
//! edge; the span-derived series through PromQL (an error span counted as an error and kept
//! out of the latency of successes); trace-to-logs; OTLP metrics; `kill -9` with acknowledged
//! spans; bad payloads.

mod common;

use std::time::Duration;

use common::{Argus, eventually, json};

/// Runs `tests/otlp_client.py` against `argus` and returns the trace id it made.
fn run_python_client(argus: &Argus, run_id: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(argus.otlp_grpc.to_string())
        .arg(&argus.otlp_http)
        .arg(run_id)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "otlp_client.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let line = printed.lines().last().expect("the client prints its ids");
    json(line)["trace_id"]
        .as_str()
        .expect("trace_id")
        .to_string()
}

/// GET on the Jaeger API; the status and the parsed body.
async fn jaeger(argus: &Argus, path: &str, query: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let (status, body) = argus.get_text(path, query).await;
    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    (status, value)
}

/// The trace ids a Jaeger search answered.
async fn found(argus: &Argus, query: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = jaeger(argus, "/jaeger/api/traces", query).await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|t| t["traceID"].as_str().expect("traceID").to_string())
        .collect()
}

/// The value of an instant PromQL query with one series in its answer, if it has one.
async fn promql_value(argus: &Argus, query: &str) -> Option<f64> {
    let data = argus
        .get_json(&format!("/api/v1/query?query={}", urlencode(query)))
        .await;
    let result = data["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

fn urlencode(s: &str) -> String {
    let mut url = reqwest::Url::parse("http://x.invalid/").expect("static URL");
    url.query_pairs_mut().append_pair("q", s);
    url.query()
        .and_then(|q| q.strip_prefix("q="))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn python_sdk_trace_across_two_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &["--span-metrics-interval", "500ms"]);
    let trace_id = run_python_client(&argus, "t1");
    let wait = Duration::from_secs(15);

    // Found by service, operation, tag and duration (Jaeger semantics: on one span).
    eventually(wait, || async {
        found(&argus, &[("service", "frontend"), ("lookback", "1h")])
            .await
            .contains(&trace_id)
            .then_some(())
    })
    .await;
    let by = |q: &'static [(&'static str, &'static str)]| {
        let argus = &argus;
        async move { found(argus, q).await }
    };
    assert_eq!(
        by(&[("service", "payments"), ("operation", "POST /pay")]).await,
        vec![trace_id.clone()]
    );
    assert_eq!(
        by(&[
            ("service", "payments"),
            ("tags", r#"{"http.status_code":"502"}"#)
        ])
        .await,
        vec![trace_id.clone()]
    );
    assert_eq!(
        by(&[("service", "payments"), ("tags", r#"{"error":"true"}"#)]).await,
        vec![trace_id.clone()]
    );
    assert!(
        by(&[
            ("service", "payments"),
            ("tags", r#"{"http.status_code":"404"}"#)
        ])
        .await
        .is_empty()
    );
    assert_eq!(
        by(&[("service", "payments"), ("minDuration", "40ms")]).await,
        vec![trace_id.clone()]
    );
    // `charge card` took ~10 ms: no span of payments is both that and longer than 40 ms.
    assert!(
        by(&[
            ("service", "payments"),
            ("operation", "charge card"),
            ("minDuration", "40ms")
        ])
        .await
        .is_empty()
    );
    assert!(by(&[("service", "nobody")]).await.is_empty());

    // The whole trace by id: four spans, parents linked, one process per service.
    let (status, body) = jaeger(&argus, &format!("/jaeger/api/traces/{trace_id}"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let t = &body["data"][0];
    assert_eq!(t["traceID"], trace_id.as_str());
    let spans = t["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 4, "{t}");
    let processes = t["processes"].as_object().expect("processes");
    let service_of = |span: &serde_json::Value| {
        processes[span["processID"].as_str().expect("processID")]["serviceName"]
            .as_str()
            .expect("serviceName")
            .to_string()
    };
    let span = |name: &str, service: &str| {
        spans
            .iter()
            .find(|s| s["operationName"] == name && service_of(s) == service)
            .unwrap_or_else(|| panic!("no span {name} of {service} in {t}"))
            .clone()
    };
    let root = span("GET /checkout", "frontend");
    let client = span("POST /pay", "frontend");
    let server = span("POST /pay", "payments");
    let failed = span("charge card", "payments");
    assert_eq!(root["references"].as_array().map(Vec::len), Some(0));
    let parent_of = |s: &serde_json::Value| s["references"][0]["spanID"].clone();
    assert_eq!(parent_of(&client), root["spanID"]);
    assert_eq!(parent_of(&server), client["spanID"]);
    assert_eq!(parent_of(&failed), client["spanID"]);
    assert_eq!(server["references"][0]["refType"], "CHILD_OF");
    assert!(
        server["duration"].as_u64().expect("µs") >= 50_000,
        "{server}"
    );
    let has_tag = |s: &serde_json::Value, key: &str, value: serde_json::Value| {
        s["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| t["key"] == key && t["value"] == value))
    };
    assert!(
        has_tag(&failed, "error", serde_json::json!(true)),
        "{failed}"
    );
    assert!(
        has_tag(&server, "span.kind", serde_json::json!("server")),
        "{server}"
    );
    assert!(
        root["logs"]
            .as_array()
            .is_some_and(|l| !l.is_empty() && l[0]["fields"].to_string().contains("cart loaded")),
        "{root}"
    );
    let (status, _) = jaeger(
        &argus,
        "/jaeger/api/traces/0123456789abcdef0123456789abcdef",
        &[],
    )
    .await;
    assert_eq!(status, 404);

    // Services, operations, the dependency edge.
    let (_, services) = jaeger(&argus, "/jaeger/api/services", &[]).await;
    let services: Vec<&str> = services["data"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(services.contains(&"frontend") && services.contains(&"payments"));
    let (_, ops) = jaeger(&argus, "/jaeger/api/services/payments/operations", &[]).await;
    let mut ops: Vec<&str> = ops["data"]
        .as_array()
        .expect("operations")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    ops.sort_unstable();
    assert_eq!(ops, vec!["POST /pay", "charge card"]);
    // The deriver flushes every 500 ms here: wait for the edge's first samples.
    eventually(wait, || async {
        let now_ms = storage::now_ms().to_string();
        let (_, deps) = jaeger(
            &argus,
            "/jaeger/api/dependencies",
            &[("endTs", now_ms.as_str()), ("lookback", "3600000")],
        )
        .await;
        deps["data"]
            .as_array()?
            .iter()
            .any(|d| d["parent"] == "frontend" && d["child"] == "payments" && d["callCount"] == 2)
            .then_some(())
    })
    .await;

    // Span-derived series: the error counted, and kept out of the latency of successes.
    eventually(wait, || async {
        promql_value(
            &argus,
            r#"sum(argus_spans_total{service="payments",status="error"})"#,
        )
        .await
        .filter(|v| *v == 1.0)
    })
    .await;
    assert_eq!(
        promql_value(&argus, r#"sum(argus_spans_total{service="payments"})"#).await,
        Some(2.0)
    );
    assert_eq!(
        promql_value(
            &argus,
            r#"sum(argus_span_duration_seconds_count{service="payments",status="ok"})"#
        )
        .await,
        Some(1.0)
    );
    // The one successful payments span took ≥ 50 ms: its p99 bucket lies above 0.05 s.
    let p99 = promql_value(
        &argus,
        r#"histogram_quantile(0.99, sum by (le) (argus_span_duration_seconds_bucket{service="payments",status="ok"}))"#,
    )
    .await
    .expect("a p99");
    assert!(p99 > 0.05 && p99 <= 0.1, "p99 {p99}");

    // Trace to logs: the log record sent inside the trace.
    let (status, body) = argus
        .get_text(
            "/api/v1/logs/search",
            &[("q", &format!("trace_id:{trace_id}")), ("start", "0")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &json(&body)["data"];
    assert_eq!(data["total"], 1, "{data}");
    assert_eq!(data["hits"][0]["service"], "frontend");

    // OTLP metrics: a counter and a histogram, `job` from service.name.
    assert_eq!(
        promql_value(&argus, r#"orders_total{job="frontend",run="t1"}"#).await,
        Some(7.0)
    );
    assert_eq!(
        promql_value(
            &argus,
            r#"checkout_duration_seconds_count{job="frontend",run="t1"}"#
        )
        .await,
        Some(1.0)
    );
}

/// One OTLP/JSON export request with `n` spans of trace `trace` (32 hex digits).
fn otlp_json_spans(trace: &str, n: usize) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    let spans: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "traceId": trace,
                "spanId": format!("{:016x}", i + 1),
                "name": format!("op-{}", i % 3),
                "kind": 2,
                "startTimeUnixNano": (now - 1_000_000 * (n - i) as u128).to_string(),
                "endTimeUnixNano": (now - 1_000_000 * (n - i) as u128 + 500_000).to_string(),
                "attributes": [{"key": "i", "value": {"intValue": i.to_string()}}],
            })
        })
        .collect();
    serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "crash"}}]},
            "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
        }]
    })
    .to_string()
}

#[tokio::test]
async fn acknowledged_spans_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut argus = Argus::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let traces: Vec<String> = (0..40).map(|i| format!("{:032x}", 0xabc000 + i)).collect();
    for trace in &traces {
        let resp = client
            .post(format!("{}/v1/traces", argus.otlp_http))
            .header("content-type", "application/json")
            .body(otlp_json_spans(trace, 25))
            .send()
            .await
            .expect("export");
        assert_eq!(
            resp.status(),
            200,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    argus.kill9();
    let argus = Argus::start(dir.path(), &[]);
    for trace in &traces {
        let (status, body) = jaeger(&argus, &format!("/jaeger/api/traces/{trace}"), &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["spans"].as_array().map(Vec::len), Some(25));
    }
    // Searchable again once re-indexed, each trace once.
    let found = eventually(Duration::from_secs(15), || async {
        let ids = found(
            &argus,
            &[("service", "crash"), ("limit", "100"), ("lookback", "1h")],
        )
        .await;
        (ids.len() == traces.len()).then_some(ids)
    })
    .await;
    let mut found = found;
    found.sort();
    assert_eq!(found, traces);
}

#[tokio::test]
async fn bad_otlp_payloads_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    let post = |content_type: &'static str, body: Vec<u8>| {
        let client = client.clone();
        let url = format!("{}/v1/traces", argus.otlp_http);
        async move {
            let gzipped = body.len() > 1 << 20;
            let body = if gzipped {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut gz, &body).expect("gzip");
                gz.finish().expect("gzip")
            } else {
                body
            };
            let mut req = client.post(url).header("content-type", content_type);
            if gzipped {
                req = req.header("content-encoding", "gzip");
            }
            let resp = req.body(body).send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
    };
    let (status, body) = post("application/x-protobuf", vec![0xff, 0xff, 0xff, 0x0f]).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.is_empty());
    let (status, body) = post("application/json", b"{\"resourceSpans\": [".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post("text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 415);
    // More than the 16 MiB limit once decompressed (sent gzipped, so the client is not cut
    // off mid-upload as it would be sending that much as is).
    let (status, body) = post("application/json", vec![b' '; 17 << 20]).await;
    assert_eq!(status, 413, "{body}");
    // The server is still serving good requests.
    let (status, body) = post(
        "application/json",
        otlp_json_spans(&format!("{:032x}", 7), 1).into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
