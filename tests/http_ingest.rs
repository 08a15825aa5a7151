//! Prometheus text import, remote_write and the read API, over real HTTP.

mod common;

use common::{Argus, last_value};
use ingest::prom::{RemoteLabel, RemoteSample, TimeSeries, WriteRequest};
use prost::Message;

/// One series for a remote_write body: its labels and its (timestamp ms, value) samples.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn remote_write_body(series: &[TestSeries<'_>]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| RemoteLabel {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|&(t, v)| RemoteSample {
                        value: v,
                        timestamp: t,
                    })
                    .collect(),
                histograms: Vec::new(),
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy")
}

async fn post_remote_write(argus: &Argus, body: Vec<u8>) -> reqwest::Response {
    argus
        .client()
        .post(argus.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .expect("remote_write")
}

#[tokio::test]
async fn import_then_read_back_through_every_read_api() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(&dir.path().join("data"), &["--retention", "0"]);
    let body = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
        http_requests_total{job=\"api\",code=\"200\"} 10 1000\n\
        http_requests_total{job=\"api\",code=\"200\"} 25 61000\n\
        http_requests_total{job=\"api\",code=\"500\"} 1 1000\n\
        temperature{room=\"a b\",quote=\"say \\\"hi\\\"\"} -3.5 0\n";
    let resp = argus.import(body).await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());

    let lines = argus.export("http_requests_total{code=\"200\"}").await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["metric"]["job"], "api");
    assert_eq!(lines[0]["values"], serde_json::json!([10, 25]));
    assert_eq!(lines[0]["timestamps"], serde_json::json!([1000, 61000]));
    let temp = argus.export("{__name__=\"temperature\"}").await;
    assert_eq!(temp[0]["metric"]["quote"], "say \"hi\"");
    assert_eq!(
        temp[0]["timestamps"],
        serde_json::json!([0]),
        "1970 is kept with retention 0"
    );

    let series = argus
        .get_json("/api/v1/series?match[]=http_requests_total&start=0&end=100")
        .await;
    assert_eq!(series["status"], "success");
    assert_eq!(series["data"].as_array().unwrap().len(), 2);
    let labels = argus.get_json("/api/v1/labels").await;
    for name in ["__name__", "code", "job", "quote", "room"] {
        assert!(
            labels["data"].as_array().unwrap().iter().any(|v| v == name),
            "{name} in {labels}"
        );
    }
    let values = argus.get_json("/api/v1/label/code/values").await;
    assert_eq!(values["data"], serde_json::json!(["200", "500"]));
    let names = argus.get_json("/api/v1/label/__name__/values").await;
    assert_eq!(
        names["data"],
        serde_json::json!(["http_requests_total", "temperature"])
    );
}

#[tokio::test]
async fn bad_input_is_a_clear_400_and_good_lines_next_to_it_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(&dir.path().join("data"), &["--retention", "0"]);
    let body = "good_metric 1 1000\nbad_metric{x=1} 2\ngood_metric 3 2000\nnot_a_value abc\n";
    let resp = argus.import(body).await;
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"], 2);
    assert!(
        answer["errors"][0].as_str().unwrap().contains("line 2"),
        "{answer}"
    );
    assert_eq!(
        argus.export("good_metric").await[0]["values"],
        serde_json::json!([1, 3])
    );

    let resp = argus.import("}{ 1\n").await;
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["status"], "error");
    assert_eq!(err["errorType"], "bad_data");

    let resp = post_remote_write(&argus, b"definitely not snappy".to_vec()).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("snappy"));

    for bad in [
        "/api/v1/series",
        "/api/v1/series?match[]=up{",
        "/api/v1/labels?start=yesterday",
    ] {
        let resp = argus.client().get(argus.url(bad)).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["errorType"], "bad_data", "{bad}: {err}");
        assert!(!err["error"].as_str().unwrap().is_empty());
    }
    assert!(argus.own_metric("argus_ingest_http_rejects_total").await >= 2.0);
}

#[tokio::test]
async fn remote_write_keeps_stale_markers_and_reports_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(&dir.path().join("data"), &["--retention", "0"]);
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let body = remote_write_body(&[
        (
            &[("__name__", "up"), ("job", "node")],
            &[(1000, 1.0), (2000, 0.0), (3000, stale)],
        ),
        (&[("__name__", "load1"), ("host", "h")], &[(1000, 0.25)]),
    ]);
    let resp = post_remote_write(&argus, body).await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let up = argus.export("up").await;
    assert_eq!(up[0]["timestamps"], serde_json::json!([1000, 2000, 3000]));
    assert_eq!(last_value(&argus.export("load1").await), Some(0.25));
    // A sample far behind the newest one of its series is refused with a reason.
    let body = remote_write_body(&[(
        &[("__name__", "up"), ("job", "node")],
        &[(3000 - 7_200_000, 1.0)],
    )]);
    let resp = post_remote_write(&argus, body).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("out-of-order"));
}

#[tokio::test]
async fn health_metrics_and_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(&dir.path().join("data"), &[]);
    assert_eq!(
        argus
            .client()
            .get(argus.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        argus
            .client()
            .get(argus.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let resp = argus
        .client()
        .get(argus.url("/metrics"))
        .header("User-Agent", "argus-test/1")
        .header("Referer", "http://example/")
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    for name in [
        "argus_storage_series",
        "argus_ingest_statsd_lines_total",
        "argus_storage_wal_fsync_seconds",
        "argus_build_info",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    // e.g. 127.0.0.1 - - [21/Nov/2026:23:20:43 +0000] "GET /metrics HTTP/1.1" 200 1234 "http://example/" "argus-test/1"
    let log = common::eventually(std::time::Duration::from_secs(5), || async {
        let log = argus.stderr();
        log.contains("argus-test/1").then_some(log)
    })
    .await;
    let line = log.lines().find(|l| l.contains("argus-test/1")).unwrap();
    let re = regex::Regex::new(r#"127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /metrics HTTP/1\.1" 200 (\d+|-) "http://example/" "argus-test/1""#).unwrap();
    assert!(re.is_match(line), "not Apache combined: {line}");
}
