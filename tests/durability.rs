//! Nothing acknowledged is lost: `kill -9` after a 2xx, restart, read everything back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Argus;
use ingest::prom::{RemoteLabel, RemoteSample, TimeSeries, WriteRequest};
use prost::Message;

#[tokio::test]
async fn acknowledged_imports_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut argus = Argus::start(&data, &["--retention", "0"]);
    let mut expected = 0;
    for batch in 0..20 {
        let mut body = String::new();
        for i in 0..500 {
            let t = 1_700_000_000_000i64 + (batch * 500 + i) * 1000;
            body.push_str(&format!(
                "durable{{shard=\"{}\"}} {} {}\n",
                i % 10,
                batch * 500 + i,
                t
            ));
        }
        let resp = argus.import(body).await;
        assert_eq!(resp.status(), 204);
        expected += 500;
    }
    argus.kill9();

    let argus = Argus::start(&data, &["--retention", "0"]);
    let lines = argus.export("durable").await;
    assert_eq!(lines.len(), 10);
    let got: usize = lines
        .iter()
        .map(|l| l["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        got, expected,
        "every acknowledged sample is back, none twice"
    );
    drop(argus);
}

#[tokio::test]
async fn repeated_crashes_and_restarts_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut total = 0usize;
    for round in 0..3i64 {
        let mut argus = Argus::start(&data, &["--retention", "0"]);
        let mut body = String::new();
        for i in 0..300i64 {
            body.push_str(&format!(
                "crashy {} {}\n",
                round * 300 + i,
                (round * 300 + i) * 10_000
            ));
        }
        let resp = argus.import(body).await;
        assert_eq!(resp.status(), 204);
        total += 300;
        let lines = argus.export("crashy").await;
        assert_eq!(lines[0]["values"].as_array().unwrap().len(), total);
        if round % 2 == 0 {
            argus.kill9();
        } else {
            assert!(argus.terminate().success());
        }
    }
    let argus = Argus::start(&data, &["--retention", "0"]);
    let lines = argus.export("crashy").await;
    let values: Vec<f64> = lines[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values, (0..900).map(f64::from).collect::<Vec<_>>());
}

/// Writers hammer the server with remote_write and import requests from several connections;
/// the server is killed with -9 while requests are in flight. Every batch that was answered
/// 2xx must be there after a restart; unanswered ones may or may not be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_concurrent_load_keeps_every_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut argus = Argus::start(&data, &["--retention", "0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..6u32 {
        let client = argus.client().clone();
        let url = argus.url(if writer % 2 == 0 {
            "/api/v1/write"
        } else {
            "/api/v1/import/prometheus"
        });
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut batch = 0i64;
            while !stop.load(Ordering::SeqCst) {
                // 50 series x 1 sample per batch; the batch number is the timestamp.
                let request = if writer % 2 == 0 {
                    let req = WriteRequest {
                        timeseries: (0..50)
                            .map(|s| TimeSeries {
                                labels: vec![
                                    RemoteLabel {
                                        name: "__name__".into(),
                                        value: "load".into(),
                                    },
                                    RemoteLabel {
                                        name: "writer".into(),
                                        value: writer.to_string(),
                                    },
                                    RemoteLabel {
                                        name: "s".into(),
                                        value: s.to_string(),
                                    },
                                ],
                                samples: vec![RemoteSample {
                                    value: batch as f64,
                                    timestamp: batch * 1000,
                                }],
                                histograms: Vec::new(),
                            })
                            .collect(),
                    };
                    client.post(&url).header("Content-Encoding", "snappy").body(
                        snap::raw::Encoder::new()
                            .compress_vec(&req.encode_to_vec())
                            .unwrap(),
                    )
                } else {
                    let body: String = (0..50)
                        .map(|s| {
                            format!(
                                "load{{writer=\"{writer}\",s=\"{s}\"}} {batch} {}\n",
                                batch * 1000
                            )
                        })
                        .collect();
                    client.post(&url).body(body)
                };
                match request.send().await {
                    Ok(resp) if resp.status().is_success() => acked.push(batch),
                    Ok(resp) => panic!("writer {writer}: unexpected {}", resp.status()),
                    Err(_) => break, // the server is gone
                }
                batch += 1;
            }
            (writer, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    argus.kill9();
    stop.store(true, Ordering::SeqCst);
    let mut results = Vec::new();
    for w in writers {
        results.push(w.await.unwrap());
    }
    let argus = Argus::start(&data, &["--retention", "0"]);
    let mut checked = 0;
    for (writer, acked) in results {
        assert!(
            !acked.is_empty(),
            "writer {writer} got nothing acknowledged before the kill"
        );
        let lines = argus.export(&format!("load{{writer=\"{writer}\"}}")).await;
        assert_eq!(lines.len(), 50, "writer {writer}: every series is back");
        for line in &lines {
            let stored: std::collections::HashSet<i64> = line["timestamps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap() / 1000)
                .collect();
            for batch in &acked {
                assert!(
                    stored.contains(batch),
                    "writer {writer}: acknowledged batch {batch} lost ({})",
                    line["metric"]
                );
                checked += 1;
            }
        }
    }
    eprintln!("{checked} acknowledged (series, batch) pairs verified after kill -9");
    assert!(checked > 0);
}
