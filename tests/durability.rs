//! Nothing acknowledged is lost: `kill -9` after a 2xx, restart, read everything back.

mod common;

use common::Argus;

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
        let resp = argus
            .client()
            .post(argus.url("/api/v1/import/prometheus"))
            .body(body)
            .send()
            .await
            .unwrap();
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
        let resp = argus
            .client()
            .post(argus.url("/api/v1/import/prometheus"))
            .body(body)
            .send()
            .await
            .unwrap();
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
