//! Logs end to end, against the real binary: logstash json_lines over TCP (with bad lines in
//! between good ones), `POST /api/v1/logs`, Elasticsearch `_bulk` bodies as Fluent Bit and
//! Vector send them, Python's `logging` with `logstash_formatter`, search (full text,
//! `field:value`, cursor paging through 10,000 hits), the error groups, and `kill -9`.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use common::{Argus, eventually, json};

/// Searches and returns the `data` object.
async fn search(argus: &Argus, query: &[(&str, &str)]) -> serde_json::Value {
    let (status, body) = argus.get_text("/api/v1/logs/search", query).await;
    assert_eq!(status, 200, "{body}");
    json(&body)["data"].clone()
}

/// Waits until `q` matches `n` lines in all of time.
async fn wait_for_total(argus: &Argus, q: &str, n: u64) {
    eventually(Duration::from_secs(10), || async {
        let data = search(argus, &[("q", q), ("start", "0"), ("limit", "0")]).await;
        (data["total"].as_u64() == Some(n)).then_some(())
    })
    .await;
}

fn logstash_event(i: usize, level: &str) -> String {
    serde_json::json!({
        "@timestamp": "2026-01-02T03:04:05.678Z",
        "@version": "1",
        "message": format!("order {i} failed: card declined"),
        "levelname": level,
        "source_host": "web-1",
        "name": "market.checkout",
        "funcName": "pay",
        "lineno": 42,
        "uuid": format!("req-{i}"),
        "http": {"status": 402},
    })
    .to_string()
}

#[tokio::test]
async fn json_lines_over_tcp_skip_bad_lines_and_are_searchable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &["--retention", "0"]);
    let mut tcp = std::net::TcpStream::connect(argus.logstash).expect("connects");
    for i in 0..20 {
        let level = if i % 4 == 0 { "ERROR" } else { "INFO" };
        writeln!(tcp, "{}", logstash_event(i, level)).expect("writes");
        if i == 10 {
            // Bad lines between good ones: counted and skipped, the connection stays open.
            tcp.write_all(b"this is not json\n[1,2,3]\n{\"unterminated\": \n")
                .expect("writes");
        }
    }
    tcp.flush().expect("flush");
    wait_for_total(&argus, "", 20).await;

    // A term of the message, a field of the event's own, a nested field, a level.
    let data = search(&argus, &[("q", "declined AND uuid:req-7"), ("start", "0")]).await;
    assert_eq!(data["total"], 1, "{data}");
    let hit = &data["hits"][0];
    assert_eq!(hit["service"], "market.checkout");
    assert_eq!(hit["host"], "web-1");
    assert_eq!(hit["level"], "INFO");
    assert_eq!(hit["timestamp_ms"], 1_767_323_045_678i64);
    // The original event comes back as it was sent.
    assert_eq!(hit["event"], json(&logstash_event(7, "INFO")));
    let data = search(
        &argus,
        &[("q", "http.status:402 AND level:error"), ("start", "0")],
    )
    .await;
    assert_eq!(data["total"], 5, "{data}");
    assert_eq!(data["facets"]["level"][0]["value"], "ERROR");

    // The five ERROR lines are one error group, linked to its lines by a query.
    let errors = argus
        .get_json("/api/v1/errors?start=0&end=1800000000")
        .await;
    let groups = errors["data"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{errors}");
    assert_eq!(groups[0]["count"], 5);
    let q = groups[0]["query"].as_str().expect("query");
    assert_eq!(
        search(&argus, &[("q", q), ("start", "0")]).await["total"],
        5
    );

    let rejected = argus.own_metric("argus_ingest_logs_rejects_total{").await;
    assert!(rejected >= 3.0, "bad lines are counted: {rejected}");
}

#[tokio::test]
async fn http_partial_success_elasticsearch_bulk_and_bad_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &["--retention", "0"]);
    let client = argus.client();

    let resp = client
        .post(argus.url("/api/v1/logs"))
        .body("{\"message\":\"first\",\"service\":\"api\"}\nnot json\n{\"message\":\"second\"}\n")
        .send()
        .await
        .expect("posts");
    assert_eq!(resp.status(), 200);
    let body = json(&resp.text().await.expect("body"));
    assert_eq!(body["accepted"], 2, "{body}");
    assert_eq!(body["rejected"][0]["line"], 2, "{body}");
    let resp = client
        .post(argus.url("/api/v1/logs"))
        .body("nothing good\n")
        .send()
        .await
        .expect("posts");
    assert_eq!(resp.status(), 400);

    // _bulk bodies as Fluent Bit's and Vector's Elasticsearch outputs send them.
    let banner = argus.get_json("/es/").await;
    assert!(banner["version"]["number"].as_str().is_some(), "{banner}");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ingest/tests/fixtures");
    let mut documents = 0;
    for name in ["fluent-bit-bulk.ndjson", "vector-bulk.ndjson"] {
        let body = std::fs::read_to_string(fixtures.join(name)).expect("fixture");
        documents += body.lines().filter(|l| !l.trim().is_empty()).count() / 2;
        let resp = client
            .post(argus.url("/es/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("bulk");
        assert_eq!(resp.status(), 200);
        let answer = json(&resp.text().await.expect("body"));
        assert_eq!(answer["errors"], false, "{name}: {answer}");
    }
    wait_for_total(&argus, "", 2 + documents as u64).await;
    let data = search(&argus, &[("q", "_index:fluent-bit"), ("start", "0")]).await;
    assert!(data["total"].as_u64() > Some(0), "{data}");

    // A query that does not parse is the client's error.
    let (status, body) = argus
        .get_text("/api/v1/logs/search", &[("q", "level:(")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["errorType"], "bad_data");
}

#[tokio::test]
async fn python_logging_with_logstash_formatter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &[]);
    let script = format!(
        r#"
import logging, socket
from logstash_formatter import LogstashFormatterV1
sock = socket.create_connection(("127.0.0.1", {port}))
stream = sock.makefile("w")
handler = logging.StreamHandler(stream)
handler.setFormatter(LogstashFormatterV1())
log = logging.getLogger("market")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.info("checkout started", extra={{"uuid": "py-1"}})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("checkout crashed", extra={{"uuid": "py-2"}})
stream.flush()
sock.close()
"#,
        port = argus.logstash.port()
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3 runs");
    assert!(status.success());
    wait_for_total(&argus, "uuid:py-1 OR uuid:py-2", 2).await;
    let data = search(&argus, &[("q", "uuid:py-2")]).await;
    let hit = &data["hits"][0];
    assert_eq!(hit["level"], "ERROR", "{hit}");
    assert_eq!(hit["service"], "market");
    assert!(hit["fingerprint"].as_str().is_some(), "{hit}");
    // logstash_formatter sends the traceback as a list of lines in `exception`.
    assert!(
        hit["event"]["exception"]
            .to_string()
            .contains("ZeroDivisionError"),
        "{hit}"
    );
    let data = search(&argus, &[("q", "exception:ZeroDivisionError")]).await;
    assert_eq!(data["total"], 1, "the traceback is searchable: {data}");
}

#[tokio::test]
async fn paging_through_ten_thousand_hits_has_no_gaps_or_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &["--retention", "0"]);
    let mut body = String::new();
    for i in 0..10_000 {
        // Many lines share a millisecond, so the order must break ties.
        body.push_str(&format!(
            "{{\"@timestamp\":{},\"message\":\"line {i}\",\"n\":{i}}}\n",
            1_767_323_045_000i64 + i / 7
        ));
    }
    let resp = argus
        .client()
        .post(argus.url("/api/v1/logs"))
        .body(body)
        .send()
        .await
        .expect("posts");
    assert_eq!(resp.status(), 200);
    wait_for_total(&argus, "", 10_000).await;
    for sort in ["newest", "oldest"] {
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut last_time: Option<i64> = None;
        loop {
            let mut query = vec![("start", "0"), ("limit", "997"), ("sort", sort)];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let data = search(&argus, &query).await;
            for hit in data["hits"].as_array().expect("hits") {
                let n = hit["event"]["n"].as_u64().expect("n");
                assert!(seen.insert(n), "{sort}: line {n} twice");
                let t = hit["timestamp_ms"].as_i64().expect("time");
                if let Some(last) = last_time {
                    assert!(
                        if sort == "newest" {
                            t <= last
                        } else {
                            t >= last
                        },
                        "{sort}: out of order"
                    );
                }
                last_time = Some(t);
            }
            match data["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 10_000, "{sort}: every line once");
    }
}

#[tokio::test]
async fn acknowledged_lines_survive_kill_9_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut argus = Argus::start(dir.path(), &["--retention", "0"]);
    let mut acknowledged = 0;
    for batch in 0..20 {
        let body: String = (0..50)
            .map(|i| format!("{{\"message\":\"batch {batch} line {i}\",\"k\":\"kill\"}}\n"))
            .collect();
        let resp = argus
            .client()
            .post(argus.url("/api/v1/logs"))
            .body(body)
            .send()
            .await
            .expect("posts");
        assert_eq!(resp.status(), 200);
        acknowledged += 50;
    }
    // No wait for the indexer: what was acknowledged is in the write-ahead log.
    argus.kill9();
    let argus = Argus::start(dir.path(), &["--retention", "0"]);
    wait_for_total(&argus, "k:kill", acknowledged).await;
    // And stays exactly that: replay does not index anything twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let data = search(&argus, &[("q", "k:kill"), ("start", "0"), ("limit", "0")]).await;
    assert_eq!(data["total"], acknowledged, "{data}");
}

#[tokio::test]
async fn live_tail_streams_new_matching_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let argus = Argus::start(dir.path(), &[]);
    let mut tail = argus
        .client()
        .get(argus.url("/api/v1/logs/tail"))
        .query(&[("q", "service:tailed AND level:error")])
        .send()
        .await
        .expect("tail opens");
    assert_eq!(tail.status(), 200);
    assert!(
        tail.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/event-stream"))
    );
    let body = "{\"message\":\"tail one\",\"service\":\"tailed\",\"level\":\"error\"}\n\
                {\"message\":\"not this\",\"service\":\"tailed\",\"level\":\"info\"}\n\
                {\"message\":\"nor this\",\"service\":\"other\",\"level\":\"error\"}\n\
                {\"message\":\"tail two\",\"service\":\"tailed\",\"level\":\"error\"}\n";
    let resp = argus
        .client()
        .post(argus.url("/api/v1/logs"))
        .body(body)
        .send()
        .await
        .expect("posts");
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while text.matches("event: log").count() < 2 {
        let chunk = tokio::time::timeout_at(deadline, tail.chunk())
            .await
            .expect("two lines within 10 s")
            .expect("stream reads")
            .expect("stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains("tail one") && text.contains("tail two"),
        "{text}"
    );
    assert!(
        !text.contains("not this") && !text.contains("nor this"),
        "{text}"
    );
    let (status, _) = argus
        .get_text("/api/v1/logs/tail", &[("q", "level:(")])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn retention_drops_an_old_partition_and_keeps_the_recent_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut argus = Argus::start(dir.path(), &["--retention", "0"]);
    let now = storage::now_ms();
    let old = now - 10 * 24 * 3600 * 1000;
    let body = format!(
        "{{\"@timestamp\":{old},\"message\":\"ancient line\"}}\n\
         {{\"@timestamp\":{now},\"message\":\"recent line\"}}\n"
    );
    let resp = argus
        .client()
        .post(argus.url("/api/v1/logs"))
        .body(body)
        .send()
        .await
        .expect("posts");
    assert_eq!(resp.status(), 200);
    wait_for_total(&argus, "line", 2).await;
    let partitions = || {
        std::fs::read_dir(dir.path().join("logs/partitions"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(partitions(), 2, "one partition per day");
    assert!(argus.terminate().success());

    // Restarted with a 3-day retention, the 10-day-old partition goes, the recent one stays.
    let argus = Argus::start(dir.path(), &["--retention", "3d"]);
    eventually(Duration::from_secs(10), || async {
        let data = search(&argus, &[("q", "ancient"), ("start", "0"), ("limit", "0")]).await;
        (data["total"] == 0 && partitions() == 1).then_some(())
    })
    .await;
    wait_for_total(&argus, "recent", 1).await;
}

/// While the log index cannot be written (here its partition directory is made immutable,
/// as a full disk would refuse it), `_bulk` answers 503 with `Retry-After`, the TCP
/// listener holds its lines instead of dropping them, and once the directory is writable
/// again every acknowledged line is searchable exactly once, without a restart.
#[tokio::test]
async fn an_index_that_cannot_write_answers_503_and_recovers()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let argus = Argus::start(dir.path(), &["--retention", "0"]);
    let bulk = |n: usize, tag: &str| -> String {
        (0..n)
            .map(|i| format!("{{\"create\":{{}}}}\n{{\"message\":\"line {i}\",\"k\":\"{tag}\"}}\n"))
            .collect()
    };
    let post = |body: String| {
        argus
            .client()
            .post(argus.url("/es/app/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
    };
    assert_eq!(post(bulk(10, "before")).await?.status(), 200);
    wait_for_total(&argus, "k:before", 10).await;
    let partitions: Vec<_> =
        std::fs::read_dir(dir.path().join("logs/partitions"))?.collect::<Result<_, _>>()?;
    let partition = partitions[0].path();
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&partition)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chattr("+i") {
        eprintln!("skipped: chattr +i is not available on this file system");
        return Ok(());
    }
    // Made writable again however the test ends: a tempdir cannot remove an immutable one.
    struct Writable<F: Fn(&str) -> bool>(F);
    impl<F: Fn(&str) -> bool> Drop for Writable<F> {
        fn drop(&mut self) {
            (self.0)("-i");
        }
    }
    let writable = Writable(chattr);

    // Acknowledged (the write-ahead log is elsewhere); the commit that follows fails.
    let mut acknowledged = 0;
    let refused = loop {
        let resp = post(bulk(5, "during")).await?;
        match resp.status().as_u16() {
            200 => acknowledged += 5,
            503 => break resp,
            other => return Err(format!("unexpected status {other}").into()),
        }
        assert!(
            acknowledged < 5000,
            "no 503 while the index cannot be written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(refused.headers().contains_key("retry-after"));
    let body = json(&refused.text().await?);
    assert_eq!(
        body["error"]["type"], "unavailable_shards_exception",
        "{body}"
    );
    // Lines sent over TCP meanwhile wait in the listener.
    let mut tcp = std::net::TcpStream::connect(argus.logstash)?;
    for i in 0..7 {
        writeln!(tcp, "{{\"message\":\"tcp {i}\",\"k\":\"tcp\"}}")?;
    }
    tcp.flush()?;
    // Searches still answer, with what was committed.
    let data = search(&argus, &[("q", "k:before"), ("start", "0"), ("limit", "0")]).await;
    assert_eq!(data["total"], 10, "{data}");

    drop(writable);
    eventually(Duration::from_secs(60), || async {
        let ok = post(bulk(5, "after")).await.ok()?.status() == 200;
        ok.then_some(())
    })
    .await;
    wait_for_total(&argus, "k:during", acknowledged).await;
    wait_for_total(&argus, "k:tcp", 7).await;
    wait_for_total(&argus, "k:after", 5).await;
    wait_for_total(&argus, "*", 10 + acknowledged + 7 + 5).await;
    let failures = argus
        .own_metric("argus_storage_logs_index_failures_total")
        .await;
    assert!(failures >= 1.0, "{failures}");
    Ok(())
}
