//! The Prometheus query API over real HTTP, driven the way Grafana's Prometheus data source
//! drives it (see `query/src/api/promql.rs` for where in Grafana each call comes from): the
//! data-source check, the label browser, Explore's range and instant queries sent as form
//! POSTs, and the errors, with the JSON compared byte for byte where Prometheus' is known.

mod common;

use common::{Argus, form_body, json};
use serde_json::json;

/// The first sample's time, in seconds; samples follow every 15 s for an hour.
const BASE: i64 = 1_700_000_000;
const STEPS: i64 = 240;

/// Prometheus text lines with millisecond timestamps:
/// - `http_requests_total{code="200",instance="a:9100",job="api"}`: 10 × i
/// - `http_requests_total{code="500",instance="b:9100",job="api"}`: i
/// - `node_load1{instance="a:9100",job="node"}`: (i mod 7) × 0.25
/// - `build_info{version="<1.0&beta>"}`: 1 (a value JSON encoders escape)
fn dataset() -> String {
    let mut lines = String::new();
    for i in 0..=STEPS {
        let t = (BASE + i * 15) * 1000;
        lines.push_str(&format!(
            "http_requests_total{{job=\"api\",instance=\"a:9100\",code=\"200\"}} {} {t}\n\
             http_requests_total{{job=\"api\",instance=\"b:9100\",code=\"500\"}} {i} {t}\n\
             node_load1{{job=\"node\",instance=\"a:9100\"}} {} {t}\n\
             build_info{{version=\"<1.0&beta>\"}} 1 {t}\n",
            10 * i,
            (i % 7) as f64 * 0.25,
        ));
    }
    lines
}

async fn start_with_data(dir: &std::path::Path, extra: &[&str]) -> Argus {
    let mut flags = vec!["--retention", "0"];
    flags.extend_from_slice(extra);
    let argus = Argus::start(&dir.join("data"), &flags);
    let resp = argus.import(dataset()).await;
    assert!(resp.status().is_success(), "import: {}", resp.status());
    argus
}

fn secs(s: i64) -> String {
    s.to_string()
}

/// Asserts a success answer and returns its JSON.
fn ok(answer: (u16, String)) -> serde_json::Value {
    let (status, body) = answer;
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["status"], "success", "{body}");
    v
}

/// Asserts an error answer in Prometheus' shape (exactly `status`, `errorType`, `error`) and
/// returns its message.
fn error(answer: (u16, String), status: u16, error_type: &str) -> String {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    let v = json(&body);
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["error", "errorType", "status"], "{body}");
    assert_eq!(v["status"], "error", "{body}");
    assert_eq!(v["errorType"], error_type, "{body}");
    v["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn grafana_data_source_check_label_browser_and_explore() {
    let dir = tempfile::tempdir().unwrap();
    let argus = start_with_data(dir.path(), &[]).await;

    // -- Save & test: buildinfo (heuristics), then the instant query 1+1 at time=4 --
    let build = ok(argus.get_text("/api/v1/status/buildinfo", &[]).await);
    let data = build["data"].as_object().cloned().unwrap_or_default();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "argusVersion",
            "branch",
            "buildDate",
            "buildUser",
            "goVersion",
            "revision",
            "version"
        ]
    );
    // a semver Prometheus version Grafana's feature checks understand; no `features` (that
    // would mean Mimir to Grafana)
    assert_eq!(build["data"]["version"], "3.5.0");
    assert_eq!(build["data"]["argusVersion"], env!("CARGO_PKG_VERSION"));

    let health = argus
        .post_form("/api/v1/query", &[("query", "1+1"), ("time", "4")])
        .await;
    assert_eq!(
        health,
        (
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#.into()
        )
    );
    // the same as a GET (Grafana's "HTTP method: GET")
    assert_eq!(
        argus
            .get_text("/api/v1/query", &[("query", "1+1"), ("time", "4")])
            .await,
        health
    );
    // what the form encoder made of it: `+` escaped, so it is not a space
    assert_eq!(form_body(&[("query", "1+1")]), "query=1%2B1");

    // -- data source start-up: exemplars probe with millisecond times --
    let now_ms = (BASE + 3600) * 1000;
    assert_eq!(
        argus
            .get_text(
                "/api/v1/query_exemplars",
                &[
                    ("query", "test"),
                    ("start", &(now_ms - 1_800_000).to_string()),
                    ("end", &now_ms.to_string()),
                ],
            )
            .await,
        (200, r#"{"status":"success","data":[]}"#.into())
    );

    // -- label browser / metrics browser --
    let (start, end) = (secs(BASE - 60), secs(BASE + 3700));
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let names = ok(argus
        .get_text(
            "/api/v1/label/__name__/values",
            &[range[0], range[1], ("limit", "40000")],
        )
        .await);
    assert_eq!(
        names["data"],
        json!(["build_info", "http_requests_total", "node_load1"])
    );
    let labels = ok(argus
        .post_form("/api/v1/labels", &[range[0], range[1], ("limit", "40000")])
        .await);
    assert_eq!(
        labels["data"],
        json!(["__name__", "code", "instance", "job", "version"])
    );
    let labels = ok(argus
        .post_form(
            "/api/v1/labels",
            &[range[0], range[1], ("match[]", "http_requests_total")],
        )
        .await);
    assert_eq!(
        labels["data"],
        json!(["__name__", "code", "instance", "job"])
    );
    let instances = ok(argus
        .get_text(
            "/api/v1/label/instance/values",
            &[range[0], range[1], ("match[]", "http_requests_total")],
        )
        .await);
    assert_eq!(instances["data"], json!(["a:9100", "b:9100"]));
    let codes = ok(argus
        .get_text(
            "/api/v1/label/code/values",
            &[("match[]", r#"{job="api",__name__="http_requests_total"}"#)],
        )
        .await);
    assert_eq!(codes["data"], json!(["200", "500"]));
    let series = ok(argus
        .post_form(
            "/api/v1/series",
            &[
                range[0],
                range[1],
                ("match[]", r#"{__name__!=""}"#),
                ("limit", "40000"),
            ],
        )
        .await);
    assert_eq!(
        series["data"],
        json!([
            {"__name__": "build_info", "version": "<1.0&beta>"},
            {"__name__": "http_requests_total", "code": "200", "instance": "a:9100", "job": "api"},
            {"__name__": "http_requests_total", "code": "500", "instance": "b:9100", "job": "api"},
            {"__name__": "node_load1", "instance": "a:9100", "job": "node"},
        ])
    );

    // -- Explore: a range query as Grafana's backend sends it (form POST, float seconds) --
    let expected_matrix = format!(
        concat!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":"#,
            r#"{{"__name__":"node_load1","instance":"a:9100","job":"node"}},"values":["#,
            r#"[{},"0"],[{},"1"],[{},"0.25"],[{},"1.25"],[{},"0.5"],[{},"1.5"]]}}]}}}}"#
        ),
        BASE,
        BASE + 60,
        BASE + 120,
        BASE + 180,
        BASE + 240,
        BASE + 300,
    );
    let (start, end) = (secs(BASE), secs(BASE + 300));
    for step in ["60", "1m", "60.0"] {
        let answer = argus
            .post_form(
                "/api/v1/query_range",
                &[
                    ("query", "node_load1"),
                    ("start", &start),
                    ("end", &end),
                    ("step", step),
                    ("timeout", "30s"),
                ],
            )
            .await;
        assert_eq!(answer, (200, expected_matrix.clone()), "step={step}");
    }
    // RFC 3339 times work too
    let answer = argus
        .get_text(
            "/api/v1/query_range",
            &[
                ("query", "node_load1"),
                ("start", "2023-11-14T22:13:20Z"),
                ("end", "2023-11-14T22:18:20Z"),
                ("step", "60"),
            ],
        )
        .await;
    assert_eq!(answer, (200, expected_matrix));

    // a graph of an aggregation, with millisecond-fraction times
    let sum = ok(argus
        .post_form(
            "/api/v1/query_range",
            &[
                ("query", "sum by (job) (http_requests_total)"),
                ("start", &format!("{BASE}.5")),
                ("end", &format!("{}.5", BASE + 30)),
                ("step", "15"),
            ],
        )
        .await);
    assert_eq!(
        sum["data"],
        json!({"resultType": "matrix", "result": [
            {"metric": {"job": "api"}, "values": [
                [BASE as f64 + 0.5, "0"], [BASE as f64 + 15.5, "11"], [BASE as f64 + 30.5, "22"]
            ]}
        ]})
    );

    // -- Explore's instant query: a vector --
    let at = secs(BASE + 600);
    let vector = argus
        .post_form(
            "/api/v1/query",
            &[("query", "http_requests_total"), ("time", &at)],
        )
        .await;
    assert_eq!(
        vector,
        (
            200,
            format!(
                concat!(
                    r#"{{"status":"success","data":{{"resultType":"vector","result":["#,
                    r#"{{"metric":{{"__name__":"http_requests_total","code":"200","#,
                    r#""instance":"a:9100","job":"api"}},"value":[{t},"400"]}},"#,
                    r#"{{"metric":{{"__name__":"http_requests_total","code":"500","#,
                    r#""instance":"b:9100","job":"api"}},"value":[{t},"40"]}}]}}}}"#
                ),
                t = BASE + 600
            )
        )
    );
    // `limit` cuts the series and says so
    let limited = ok(argus
        .post_form(
            "/api/v1/query",
            &[
                ("query", "http_requests_total"),
                ("time", &at),
                ("limit", "1"),
            ],
        )
        .await);
    assert_eq!(limited["data"]["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        limited["warnings"],
        json!(["results truncated due to limit"])
    );
    // label values written as Prometheus writes them (jsoniter, no HTML escaping)
    let (status, body) = argus
        .get_text("/api/v1/query", &[("query", "build_info"), ("time", &at)])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""version":"<1.0&beta>""#), "{body}");
    assert_eq!(
        json(&body)["data"]["result"][0]["metric"]["version"],
        "<1.0&beta>"
    );

    // -- a template variable's query_result(): scalar, string and aggregated vector (a
    // scalar's and a string's time is Go's shortest float, a vector's has three decimals) --
    assert_eq!(
        argus
            .post_form("/api/v1/query", &[("query", "2 * 3.5"), ("time", "1.5")])
            .await,
        (
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"7"]}}"#.into()
        )
    );
    assert_eq!(
        argus
            .post_form(
                "/api/v1/query",
                &[("query", "\"a \\\"b\\\"\""), ("time", "4")]
            )
            .await,
        (
            200,
            r#"{"status":"success","data":{"resultType":"string","result":[4,"a \"b\""]}}"#.into()
        )
    );
    let count = ok(argus
        .post_form(
            "/api/v1/query",
            &[("query", "count(http_requests_total)"), ("time", &at)],
        )
        .await);
    assert_eq!(
        count["data"],
        json!({"resultType": "vector", "result": [{"metric": {}, "value": [BASE + 600, "2"]}]})
    );
    // `stats` is accepted and changes nothing
    let with_stats = ok(argus
        .post_form(
            "/api/v1/query",
            &[
                ("query", "count(http_requests_total)"),
                ("time", &at),
                ("stats", "all"),
            ],
        )
        .await);
    assert_eq!(with_stats, count);

    // special values are strings Prometheus' way
    let special = ok(argus
        .post_form(
            "/api/v1/query",
            &[("query", "vector(1) / vector(0)"), ("time", "4")],
        )
        .await);
    assert_eq!(special["data"]["result"][0]["value"], json!([4, "+Inf"]));
}

#[tokio::test]
async fn errors_limits_status_pages_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let argus = start_with_data(
        dir.path(),
        &[
            "--query-timeout",
            "30s",
            "--lookback-delta",
            "1m",
            "--max-concurrent-queries",
            "3",
            "--max-samples",
            "1000000",
        ],
    )
    .await;
    let (b, b300) = (secs(BASE), secs(BASE + 300));

    // -- a query that does not parse: 400 bad_data with the parser's message --
    let instant = error(
        argus.post_form("/api/v1/query", &[("query", "sum(")]).await,
        400,
        "bad_data",
    );
    assert!(
        instant.starts_with("invalid parameter \"query\": ") && instant.contains("parse error"),
        "{instant}"
    );
    let range = error(
        argus
            .post_form(
                "/api/v1/query_range",
                &[
                    ("query", "sum("),
                    ("start", &b),
                    ("end", &b300),
                    ("step", "60"),
                ],
            )
            .await,
        400,
        "bad_data",
    );
    // a range query's parse error is not wrapped (as in Prometheus)
    assert!(range.contains("parse error"), "{range}");
    assert_eq!(format!("invalid parameter \"query\": {range}"), instant);
    error(
        argus.post_form("/api/v1/query", &[("query", "")]).await,
        400,
        "bad_data",
    );
    error(
        argus
            .post_form("/api/v1/query", &[("query", "no_such_function(up)")])
            .await,
        400,
        "bad_data",
    );

    // -- parameters, with Prometheus' messages --
    let range_error = |form: &[(&str, &str)]| {
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argus = &argus;
        async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            error(
                argus.post_form("/api/v1/query_range", &pairs).await,
                400,
                "bad_data",
            )
        }
    };
    assert_eq!(
        range_error(&[
            ("query", "up"),
            ("start", "0"),
            ("end", "100000"),
            ("step", "1")
        ])
        .await,
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query \
         resolution (?step=XX)"
    );
    assert_eq!(
        range_error(&[
            ("query", "up"),
            ("start", &b300),
            ("end", &b),
            ("step", "60")
        ])
        .await,
        r#"invalid parameter "end": end timestamp must not be before start time"#
    );
    assert_eq!(
        range_error(&[
            ("query", "up"),
            ("start", &b),
            ("end", &b300),
            ("step", "0")
        ])
        .await,
        "invalid parameter \"step\": zero or negative query resolution step widths are not \
         accepted. Try a positive integer"
    );
    assert_eq!(
        range_error(&[("query", "up"), ("start", &b), ("end", &b300)]).await,
        r#"invalid parameter "step": cannot parse "" to a valid duration"#
    );
    assert_eq!(
        range_error(&[("query", "up"), ("end", &b300), ("step", "60")]).await,
        r#"invalid parameter "start": cannot parse "" to a valid timestamp"#
    );
    assert_eq!(
        range_error(&[
            ("query", "up"),
            ("start", "soon"),
            ("end", &b300),
            ("step", "60")
        ])
        .await,
        r#"invalid parameter "start": cannot parse "soon" to a valid timestamp"#
    );
    // Prometheus durations have no nanoseconds; float seconds do
    assert_eq!(
        error(
            argus
                .post_form("/api/v1/query", &[("query", "up"), ("timeout", "1ns")])
                .await,
            400,
            "bad_data"
        ),
        r#"invalid parameter "timeout": cannot parse "1ns" to a valid duration"#
    );
    assert_eq!(
        error(
            argus
                .post_form(
                    "/api/v1/query",
                    &[("query", "up"), ("lookback_delta", "forever")]
                )
                .await,
            400,
            "bad_data"
        ),
        r#"error parsing lookback delta duration: cannot parse "forever" to a valid duration"#
    );
    assert_eq!(
        error(
            argus
                .post_form("/api/v1/query", &[("query", "up"), ("limit", "-1")])
                .await,
            400,
            "bad_data"
        ),
        r#"invalid parameter "limit": limit must be non-negative"#
    );

    // -- a timeout of one nanosecond: a timeout, or (on a very fast path) an answer --
    let (status, body) = argus
        .post_form(
            "/api/v1/query_range",
            &[
                ("query", "sum(rate(http_requests_total[5m]))"),
                ("start", &b),
                ("end", &secs(BASE + 3600)),
                ("step", "15"),
                ("timeout", "0.000000001"),
            ],
        )
        .await;
    if status != 200 {
        let message = error((status, body), 503, "timeout");
        assert!(message.starts_with("query timed out in "), "{message}");
    }

    // -- evaluation errors: 422 execution --
    error(
        argus
            .post_form(
                "/api/v1/query",
                &[
                    ("query", "http_requests_total + on(job) http_requests_total"),
                    ("time", &secs(BASE + 600)),
                ],
            )
            .await,
        422,
        "execution",
    );

    // -- lookback_delta: 1m (the flag) hides a sample 90 s old; the parameter widens it --
    let after = secs(BASE + 3600 + 90);
    let stale = ok(argus
        .post_form(
            "/api/v1/query",
            &[("query", "node_load1"), ("time", &after)],
        )
        .await);
    assert_eq!(stale["data"]["result"], json!([]));
    let found = ok(argus
        .post_form(
            "/api/v1/query",
            &[
                ("query", "node_load1"),
                ("time", &after),
                ("lookback_delta", "2m"),
            ],
        )
        .await);
    assert_eq!(found["data"]["result"].as_array().map(Vec::len), Some(1));

    // -- exemplars: validated like Prometheus, never any --
    assert_eq!(
        error(
            argus
                .get_text(
                    "/api/v1/query_exemplars",
                    &[("query", "up"), ("start", "10"), ("end", "5")]
                )
                .await,
            400,
            "bad_data"
        ),
        "end timestamp must not be before start timestamp"
    );
    error(
        argus
            .get_text("/api/v1/query_exemplars", &[("query", "rate(up[")])
            .await,
        400,
        "bad_data",
    );
    assert_eq!(
        argus
            .get_text("/api/v1/query_exemplars", &[("query", "1")])
            .await,
        (204, String::new())
    );
    assert_eq!(
        argus
            .post_form(
                "/api/v1/query_exemplars",
                &[("query", "rate(http_requests_total[5m])")]
            )
            .await,
        (200, r#"{"status":"success","data":[]}"#.into())
    );

    // -- format_query --
    assert_eq!(
        argus
            .post_form(
                "/api/v1/format_query",
                &[("query", "sum( http_requests_total{job=\"api\"} )")]
            )
            .await,
        (
            200,
            r#"{"status":"success","data":"sum(http_requests_total{job=\"api\"})"}"#.into()
        )
    );
    error(
        argus
            .get_text("/api/v1/format_query", &[("query", "sum(")])
            .await,
        400,
        "bad_data",
    );

    // -- status pages: Prometheus' shapes, Argus' settings --
    let flags = ok(argus.get_text("/api/v1/status/flags", &[]).await);
    assert_eq!(
        flags["data"],
        json!({
            "query.lookback-delta": "1m",
            "query.max-concurrency": "3",
            "query.max-samples": "1000000",
            "query.timeout": "30s",
            "storage.tsdb.retention.time": "0s",
        })
    );
    let runtime = ok(argus.get_text("/api/v1/status/runtimeinfo", &[]).await);
    for key in [
        "startTime",
        "CWD",
        "reloadConfigSuccess",
        "lastConfigTime",
        "corruptionCount",
        "goroutineCount",
        "GOMAXPROCS",
        "GOGC",
        "GODEBUG",
        "storageRetention",
    ] {
        assert!(runtime["data"].get(key).is_some(), "{key}: {runtime}");
    }
    assert_eq!(runtime["data"]["storageRetention"], "forever");
    assert!(
        runtime["data"]["startTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "{runtime}"
    );
    let config = ok(argus.get_text("/api/v1/status/config", &[]).await);
    assert!(config["data"]["yaml"].is_string(), "{config}");

    // -- Argus' own metrics about all of the above --
    let count = |endpoint: &'static str| {
        let argus = &argus;
        async move {
            argus
                .own_metric(&format!(
                    "argus_query_duration_seconds_count{{endpoint=\"{endpoint}\"}}"
                ))
                .await
        }
    };
    assert!(count("query").await >= 8.0);
    assert!(count("query_range").await >= 7.0);
    assert!(
        argus
            .own_metric("argus_query_requests_total{endpoint=\"query\",outcome=\"bad_data\"}")
            .await
            >= 5.0
    );
    assert!(
        argus
            .own_metric("argus_query_requests_total{endpoint=\"query\",outcome=\"execution\"}")
            .await
            >= 1.0
    );
    // nothing is running or waiting once every answer is in
    assert_eq!(argus.own_metric("argus_query_in_flight ").await, 0.0);
    assert_eq!(argus.own_metric("argus_query_waiting ").await, 0.0);
}
