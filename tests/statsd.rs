//! StatsD over real UDP and TCP into the real binary, read back over HTTP.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

use common::{Argus, eventually, last_value};

const WAIT: Duration = Duration::from_secs(15);

fn send_udp(argus: &Argus, payload: &str) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(payload.as_bytes(), argus.statsd).unwrap();
}

/// Waits until some stored sample of the series equals `want` (sets are per interval, so
/// their latest value may already be the next, empty, interval's).
async fn seen_value(argus: &Argus, selector: &str, want: f64) {
    eventually(WAIT, || async {
        let lines = argus.export(selector).await;
        let values = lines.first()?["values"].as_array()?.clone();
        values
            .iter()
            .any(|v| v.as_f64().is_some_and(|v| (v - want).abs() < 1e-9))
            .then_some(())
    })
    .await
}

async fn value_of(argus: &Argus, selector: &str, want: f64) -> f64 {
    eventually(WAIT, || async {
        let v = last_value(&argus.export(selector).await)?;
        ((v - want).abs() < 1e-9).then_some(v)
    })
    .await
}

#[tokio::test]
async fn every_statsd_type_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(
        &dir.path().join("data"),
        &["--statsd-flush-interval", "200ms"],
    );
    // Several metrics per packet, with a bad line in the middle that must not spoil the rest.
    send_udp(
        &argus,
        "app.requests:1|c\napp.requests:2|c|@0.5\nbroken line\napp.queue:10|g\napp.queue:-3|g\napp.queue:+1|g\n\
         app.users:alice|s\napp.users:bob|s\napp.users:alice|s\napp.latency:320|ms\napp.latency:80|ms\n\
         app.size:2048|h|#region:eu,canary\napp.payload:7|d|#region:us\n",
    );
    value_of(&argus, "app_requests", 5.0).await;
    value_of(&argus, "app_queue", 8.0).await;
    seen_value(&argus, "app_users", 2.0).await;
    value_of(&argus, "app_latency_count", 2.0).await;
    value_of(&argus, "app_latency_sum", 0.4).await;
    value_of(&argus, "app_latency_bucket{le=\"0.1\"}", 1.0).await;
    value_of(&argus, "app_latency_bucket{le=\"0.5\"}", 2.0).await;
    value_of(&argus, "app_latency_bucket{le=\"+Inf\"}", 2.0).await;
    value_of(&argus, "app_size_count{region=\"eu\"}", 1.0).await;
    value_of(&argus, "app_payload_sum{region=\"us\"}", 7.0).await;

    // Counters are cumulative across flushes, so rate() works.
    send_udp(&argus, "app.requests:10|c\n");
    value_of(&argus, "app_requests", 15.0).await;
    let lines = argus.export("app_requests").await;
    let values: Vec<f64> = lines[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[1] >= w[0]),
        "counter never decreases: {values:?}"
    );

    // The bad line was counted by reason; the good ones around it were counted as lines.
    let rejects = eventually(WAIT, || async {
        let n = argus.own_metric("argus_ingest_statsd_rejects_total").await;
        (n >= 1.0).then_some(n)
    })
    .await;
    assert_eq!(rejects, 1.0);
    assert!(
        argus
            .own_metric("argus_ingest_statsd_lines_total{transport=\"udp\"}")
            .await
            >= 13.0
    );
}

#[tokio::test]
async fn newline_delimited_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(
        &dir.path().join("data"),
        &["--statsd-flush-interval", "200ms"],
    );
    let mut conn = std::net::TcpStream::connect(argus.statsd).unwrap();
    for _ in 0..100 {
        conn.write_all(b"tcp.hits:1|c\n").unwrap();
    }
    // A line split across writes is still one line.
    conn.write_all(b"tcp.gau").unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    conn.write_all(b"ge:42|g\n").unwrap();
    value_of(&argus, "tcp_hits", 100.0).await;
    value_of(&argus, "tcp_gauge", 42.0).await;
}

#[tokio::test]
async fn statsd_exporter_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("mapping.yml");
    std::fs::write(
        &mapping,
        r#"
defaults:
  observer_type: histogram
  buckets: [0.01, 0.1, 1]
mappings:
  - match: "simplebank-demo.*.*"
    name: "$2"
    labels:
      app: "$1"
      job: "simplebank-demo"
  - match: "noise.*"
    action: drop
    name: "dropped"
  - match: 'api\.(\w+)\.duration'
    match_type: regex
    name: "api_duration_seconds"
    labels:
      endpoint: "$1"
"#,
    )
    .unwrap();
    let argus = Argus::start(
        &dir.path().join("data"),
        &[
            "--statsd-flush-interval",
            "200ms",
            "--statsd-mapping",
            mapping.to_str().unwrap(),
        ],
    );
    send_udp(
        &argus,
        "simplebank-demo.account.requests:3|c\nnoise.x:1|c\napi.login.duration:50|ms\n",
    );
    let lines = eventually(WAIT, || async {
        let l = argus.export("requests{job=\"simplebank-demo\"}").await;
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(lines[0]["metric"]["app"], "account");
    assert_eq!(last_value(&lines), Some(3.0));
    value_of(
        &argus,
        "api_duration_seconds_bucket{endpoint=\"login\",le=\"0.1\"}",
        1.0,
    )
    .await;
    value_of(
        &argus,
        "api_duration_seconds_bucket{endpoint=\"login\",le=\"0.01\"}",
        0.0,
    )
    .await;
    assert!(
        argus
            .export("{__name__=~\"noise.*|dropped\"}")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn sigterm_flushes_the_current_interval() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A flush interval longer than the test: only the shutdown flush can write this.
    let mut argus = Argus::start(&data, &["--statsd-flush-interval", "1h"]);
    send_udp(&argus, "late.counter:7|c\n");
    eventually(WAIT, || async {
        (argus.own_metric("argus_ingest_statsd_lines_total").await >= 1.0).then_some(())
    })
    .await;
    let status = argus.terminate();
    assert!(status.success(), "exit status {status}");
    let argus = Argus::start(&data, &[]);
    assert_eq!(last_value(&argus.export("late_counter").await), Some(7.0));
}

#[tokio::test]
async fn python_statsd_client() {
    let dir = tempfile::tempdir().unwrap();
    let argus = Argus::start(
        &dir.path().join("data"),
        &["--statsd-flush-interval", "200ms"],
    );
    let script = format!(
        r#"
import statsd
udp = statsd.StatsClient("127.0.0.1", {port}, prefix="py")
udp.incr("orders", 3)
udp.incr("orders", 2)
udp.gauge("temperature", 20)
udp.gauge("temperature", -5, delta=True)
udp.timing("render", 250)
udp.set("visitors", "ann")
udp.set("visitors", "bob")
with udp.pipeline() as pipe:
    for _ in range(10):
        pipe.incr("batched")
tcp = statsd.TCPStatsClient("127.0.0.1", {port}, prefix="pytcp")
tcp.incr("hits", 4)
tcp.close()
"#,
        port = argus.statsd.port()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python statsd client failed (run scripts/test, which installs tests/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    value_of(&argus, "py_orders", 5.0).await;
    value_of(&argus, "py_temperature", 15.0).await;
    value_of(&argus, "py_render_sum", 0.25).await;
    seen_value(&argus, "py_visitors", 2.0).await;
    value_of(&argus, "py_batched", 10.0).await;
    value_of(&argus, "pytcp_hits", 4.0).await;
}
