//! The read API against a real series store in a temporary directory, driven through the
//! router without a socket.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use query::{QueryConfig, router};
use serde_json::{Value, json};
use storage::{
    Labels, Sample, SeriesSamples, SeriesStore, SeriesStoreConfig, SeriesWriter, stale_nan,
};
use tempfile::TempDir;
use tower::ServiceExt;

/// 2023-11-14T22:13:20Z
const T0: i64 = 1_700_000_000_000;

struct Fixture {
    _dir: TempDir,
    store: Arc<SeriesStore>,
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SeriesStoreConfig::new(dir.path());
    config.retention = None;
    let store = SeriesStore::open(config, &prometheus::Registry::new()).expect("open store");
    let batch = vec![
        series(
            &[("__name__", "up"), ("job", "api"), ("instance", "a:1")],
            &[(T0, 1.0), (T0 + 10_000, 0.0), (T0 + 20_000, 1.0)],
        ),
        series(
            &[("__name__", "up"), ("job", "web"), ("instance", "b:1")],
            &[(T0, 1.0), (T0 + 10_000, 1.0)],
        ),
        series(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ],
            &[
                (T0, 1.5),
                (T0 + 10_000, f64::NAN),
                (T0 + 20_000, f64::INFINITY),
                (T0 + 30_000, stale_nan()),
            ],
        ),
        series(
            &[("__name__", "node_load1"), ("instance", "a:1")],
            &[(T0 + 3_600_000, 0.25)],
        ),
    ];
    let outcome = store.append(batch).expect("append");
    assert_eq!(outcome.rejected_total(), 0, "{outcome:?}");
    Fixture { _dir: dir, store }
}

fn app(f: &Fixture) -> Router {
    router(f.store.clone(), QueryConfig::default())
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(app: Router, req: Request<Body>) -> Answer {
    let resp = app.oneshot(req).await.expect("infallible");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    Answer {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

async fn get(app: Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).expect("request")).await
}

async fn post_form(app: Router, uri: &str, form: &str) -> Answer {
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request");
    send(app, req).await
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn assert_bad_data(a: &Answer, message: &str) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"status": "error", "errorType": "bad_data", "error": message})
    );
}

#[tokio::test]
async fn series_by_name_and_matchers() {
    let f = fixture();
    let a = get(app(&f), "/api/v1/series?match[]=up").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.content_type.starts_with("application/json"));
    assert_eq!(
        a.json(),
        json!({"status": "success", "data": [
            {"__name__": "up", "instance": "a:1", "job": "api"},
            {"__name__": "up", "instance": "b:1", "job": "web"},
        ]})
    );

    let q = format!(
        "/api/v1/series?match[]={}",
        enc(r#"{__name__=~"up|node_.*", instance="a:1"}"#)
    );
    let a = get(app(&f), &q).await;
    assert_eq!(
        a.json()["data"],
        json!([
            {"__name__": "node_load1", "instance": "a:1"},
            {"__name__": "up", "instance": "a:1", "job": "api"},
        ])
    );

    let q = format!("/api/v1/series?match[]={}", enc(r#"up{job!="api"}"#));
    assert_eq!(
        get(app(&f), &q).await.json()["data"],
        json!([{"__name__": "up", "instance": "b:1", "job": "web"}])
    );
}

#[tokio::test]
async fn series_union_of_match_params_without_duplicates() {
    let f = fixture();
    let q = format!(
        "/api/v1/series?match[]=up&match[]={}",
        enc(r#"{job="api"}"#)
    );
    let a = get(app(&f), &q).await;
    let names: Vec<String> = a.json()["data"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["__name__"].as_str().unwrap_or(""),
                s["job"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(names, ["http_requests_total/api", "up/api", "up/web"]);
}

#[tokio::test]
async fn series_time_range_and_limit() {
    let f = fixture();
    let all = format!("/api/v1/series?match[]={}", enc(r#"{__name__=~".+"}"#));
    assert_eq!(
        get(app(&f), &all).await.json()["data"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    // only node_load1 has samples an hour later; RFC 3339 and Unix seconds both work
    let later = format!(
        "{all}&start=2023-11-14T23:00:00Z&end={}",
        (T0 + 7_200_000) / 1000
    );
    assert_eq!(
        get(app(&f), &later).await.json()["data"],
        json!([{"__name__": "node_load1", "instance": "a:1"}])
    );

    // start after end selects nothing
    let backwards = format!("{all}&start={}&end={}", T0 / 1000 + 10, T0 / 1000);
    assert_eq!(get(app(&f), &backwards).await.json()["data"], json!([]));

    let limited = get(app(&f), &format!("{all}&limit=1")).await;
    assert_eq!(
        limited.json(),
        json!({"status": "success", "data": [{"__name__": "http_requests_total", "code": "200", "job": "api"}],
               "warnings": ["results truncated due to limit"]})
    );
}

#[tokio::test]
async fn series_errors_say_which_parameter() {
    let f = fixture();
    assert_bad_data(
        &get(app(&f), "/api/v1/series").await,
        "no match[] parameter provided",
    );
    assert_bad_data(
        &get(app(&f), "/api/v1/series?match[]=up&start=abc").await,
        r#"invalid parameter "start": cannot parse "abc" to a valid timestamp"#,
    );
    assert_bad_data(
        &get(
            app(&f),
            "/api/v1/series?match[]=up&end=2023-13-01T00:00:00Z",
        )
        .await,
        r#"invalid parameter "end": cannot parse "2023-13-01T00:00:00Z" to a valid timestamp"#,
    );
    assert_bad_data(
        &get(
            app(&f),
            &format!("/api/v1/series?match[]={}", enc(r#"{job=~".*"}"#)),
        )
        .await,
        r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#,
    );
    assert_bad_data(
        &get(app(&f), "/api/v1/series?match[]=up&limit=-1").await,
        r#"invalid parameter "limit": limit must be non-negative"#,
    );
    let a = get(
        app(&f),
        &format!("/api/v1/series?match[]={}", enc("up{job=api}")),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let message = a.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        message.starts_with(r#"invalid parameter "match[]": cannot parse "up{job=api}": "#),
        "{message}"
    );
}

#[tokio::test]
async fn labels_and_values() {
    let f = fixture();
    assert_eq!(
        get(app(&f), "/api/v1/labels").await.json(),
        json!({"status": "success", "data": ["__name__", "code", "instance", "job"]})
    );
    assert_eq!(
        get(app(&f), "/api/v1/labels?match[]=node_load1")
            .await
            .json()["data"],
        json!(["__name__", "instance"])
    );
    assert_eq!(
        get(
            app(&f),
            "/api/v1/labels?match[]=node_load1&match[]=http_requests_total"
        )
        .await
        .json()["data"],
        json!(["__name__", "code", "instance", "job"])
    );
    assert_eq!(
        get(app(&f), "/api/v1/labels?limit=2").await.json(),
        json!({"status": "success", "data": ["__name__", "code"], "warnings": ["results truncated due to limit"]})
    );

    assert_eq!(
        get(app(&f), "/api/v1/label/__name__/values").await.json(),
        json!({"status": "success", "data": ["http_requests_total", "node_load1", "up"]})
    );
    assert_eq!(
        get(app(&f), "/api/v1/label/job/values").await.json()["data"],
        json!(["api", "web"])
    );
    let q = format!(
        "/api/v1/label/job/values?match[]={}",
        enc(r#"up{instance="b:1"}"#)
    );
    assert_eq!(get(app(&f), &q).await.json()["data"], json!(["web"]));
    assert_eq!(
        get(app(&f), "/api/v1/label/nope/values").await.json()["data"],
        json!([])
    );
    let q = format!(
        "/api/v1/label/__name__/values?start={}",
        (T0 + 3_000_000) / 1000
    );
    assert_eq!(get(app(&f), &q).await.json()["data"], json!(["node_load1"]));

    assert_bad_data(
        &get(app(&f), "/api/v1/label/a-b/values").await,
        r#"invalid label name: "a-b""#,
    );
    assert_bad_data(
        &get(app(&f), "/api/v1/label/job/values?match[]=%7B%7D").await,
        r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#,
    );
}

#[tokio::test]
async fn form_post_like_grafana() {
    let f = fixture();
    let form = format!(
        "match[]={}&start={}&end={}",
        enc(r#"up{job="api"}"#),
        T0 / 1000,
        T0 / 1000 + 60
    );
    let a = post_form(app(&f), "/api/v1/series", &form).await;
    assert_eq!(
        a.json()["data"],
        json!([{"__name__": "up", "instance": "a:1", "job": "api"}])
    );

    let a = post_form(app(&f), "/api/v1/labels", &format!("match[]={}", enc("up"))).await;
    assert_eq!(a.json()["data"], json!(["__name__", "instance", "job"]));

    let a = post_form(
        app(&f),
        "/api/v1/label/instance/values",
        "match[]=node_load1",
    )
    .await;
    assert_eq!(a.json()["data"], json!(["a:1"]));

    // body values come before those of the URL, as in Go's Request.Form
    let a = post_form(app(&f), "/api/v1/labels?limit=3", "limit=1").await;
    assert_eq!(a.json()["data"], json!(["__name__"]));

    let a = post_form(app(&f), "/api/v1/series", "start=abc&match[]=up").await;
    assert_bad_data(
        &a,
        r#"invalid parameter "start": cannot parse "abc" to a valid timestamp"#,
    );
}

#[tokio::test]
async fn export_streams_json_lines() {
    let f = fixture();
    let q = format!("/api/v1/export?match[]={}", enc(r#"{job="api"}"#));
    let a = get(app(&f), &q).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.content_type, "application/stream+json; charset=utf-8");
    assert_eq!(
        a.body,
        format!(
            "{{\"metric\":{{\"__name__\":\"http_requests_total\",\"code\":\"200\",\"job\":\"api\"}},\
             \"values\":[1.5,null,\"Infinity\",null],\"timestamps\":[{},{},{},{}]}}\n\
             {{\"metric\":{{\"__name__\":\"up\",\"instance\":\"a:1\",\"job\":\"api\"}},\
             \"values\":[1,0,1],\"timestamps\":[{},{},{}]}}\n",
            T0,
            T0 + 10_000,
            T0 + 20_000,
            T0 + 30_000,
            T0,
            T0 + 10_000,
            T0 + 20_000
        )
    );
    for line in a.body.lines() {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "{line}");
    }

    // the time range cuts samples, not just series
    let q = format!(
        "/api/v1/export?match[]=up&start={}&end={}",
        (T0 + 10_000) / 1000,
        (T0 + 20_000) / 1000
    );
    let lines: Vec<Value> = get(app(&f), &q)
        .await
        .body
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["timestamps"], json!([T0 + 10_000, T0 + 20_000]));
    assert_eq!(lines[1]["values"], json!([1]));

    let q = "/api/v1/export?match[]=up&max_rows_per_line=1";
    assert_eq!(get(app(&f), q).await.body.lines().count(), 5);

    let a = post_form(app(&f), "/api/v1/export", "match[]=node_load1").await;
    assert_eq!(a.body.lines().count(), 1);

    assert_bad_data(
        &get(app(&f), "/api/v1/export").await,
        "no match[] parameter provided",
    );
    assert_bad_data(
        &get(app(&f), "/api/v1/export?match[]=up&end=x").await,
        r#"invalid parameter "end": cannot parse "x" to a valid timestamp"#,
    );
}

#[tokio::test]
async fn export_of_many_series_spans_many_chunks() {
    let f = fixture();
    let batch: Vec<SeriesSamples> = (0..3000)
        .map(|i| {
            let samples: Vec<(i64, f64)> = (0..50)
                .map(|j| (T0 + j * 15_000, (i * j) as f64 / 7.0))
                .collect();
            series(&[("__name__", "bulk"), ("i", &format!("{i:05}"))], &samples)
        })
        .collect();
    f.store.append(batch).expect("append");

    let a = get(app(&f), "/api/v1/export?match[]=bulk").await;
    assert!(
        a.body.len() > 1 << 20,
        "expected several 256 KiB chunks, got {} bytes",
        a.body.len()
    );
    let lines: Vec<Value> = a
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3000);
    assert_eq!(lines[0]["metric"]["i"], "00000");
    assert_eq!(lines[2999]["metric"]["i"], "02999");
    assert!(
        lines
            .iter()
            .all(|l| l["values"].as_array().map(Vec::len) == Some(50))
    );
}

#[tokio::test]
async fn max_series_limit() {
    let f = fixture();
    let app = router(
        f.store.clone(),
        QueryConfig {
            max_series: Some(1),
            ..QueryConfig::default()
        },
    );
    let a = get(app.clone(), "/api/v1/series?match[]=up").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["errorType"], "execution");
    assert_eq!(
        get(app.clone(), "/api/v1/series?match[]=up&limit=1")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(app.clone(), "/api/v1/export?match[]=up").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        get(app, "/api/v1/export?match[]=node_load1").await.status,
        StatusCode::OK
    );
}
