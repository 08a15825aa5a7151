//! The UI router over a real socket: the dashboards API reading real files, the SPA fallback,
//! and API prefixes that never answer HTML.

use std::net::SocketAddr;
use std::path::Path;

async fn serve(dir: &Path) -> SocketAddr {
    let app = ui::router(ui::UiConfig {
        dashboards_dir: dir.to_path_buf(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

const CHECKOUT: &str = r#"
title: Checkout
tags: [payments]
range: 6h
refresh: 30s
rows:
  - title: Traffic
    panels:
      - title: Requests
        type: stacked
        expr: sum by (status) (rate(argus_spans_total{service="checkout"}[5m]))
        legend: "{{status}}"
        unit: rate
        thresholds: [{value: 100, label: capacity}]
      - title: Errors
        type: logs
        logs: "service:checkout AND level:error"
        width: 4
"#;

#[tokio::test]
async fn dashboards_are_listed_served_and_errors_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkout.yml"), CHECKOUT).unwrap();
    std::fs::write(
        dir.path().join("infra.json"),
        r#"{"title":"Infra","rows":[{"panels":[{"title":"Up","type":"stat","expr":"up"}]}]}"#,
    )
    .unwrap();
    // Wrong indentation: a YAML error with its position.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "title: x\nrows:\n - panels: [\n",
    )
    .unwrap();
    // Parses, but a log panel with a PromQL query and a bad duration.
    std::fs::write(
        dir.path().join("mixed.yml"),
        "title: M\nrange: soon\nrows: [{panels: [{title: L, type: logs, expr: up}]}]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a dashboard").unwrap();
    let addr = serve(dir.path()).await;
    let client = reqwest::Client::new();

    let listing: serde_json::Value = client
        .get(format!("http://{addr}/api/v1/dashboards"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["status"], "success");
    let ids: Vec<&str> = listing["data"]["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["checkout", "infra"]);
    let errors = listing["data"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0]["file"].as_str().unwrap().ends_with("broken.yaml"));
    assert!(
        errors[0]["message"].as_str().unwrap().contains("line"),
        "{errors:?}"
    );
    let mixed = errors[1]["message"].as_str().unwrap();
    assert!(mixed.contains("range:"), "{mixed}");
    assert!(mixed.contains("rows[0].panels[0]"), "{mixed}");

    let one = client
        .get(format!("http://{addr}/api/v1/dashboards/checkout"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let one: serde_json::Value = one.json().await.unwrap();
    let panels = &one["data"]["rows"][0]["panels"];
    assert_eq!(one["data"]["title"], "Checkout");
    assert_eq!(panels[0]["type"], "stacked");
    assert_eq!(panels[0]["legend"], "{{status}}");
    assert_eq!(panels[0]["thresholds"][0]["value"], 100.0);
    assert_eq!(panels[1]["logs"], "service:checkout AND level:error");

    let missing = client
        .get(format!("http://{addr}/api/v1/dashboards/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(missing["errorType"], "not_found");

    let broken = client
        .get(format!("http://{addr}/api/v1/dashboards/broken"))
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 422);
    let broken: serde_json::Value = broken.json().await.unwrap();
    assert!(
        broken["error"].as_str().unwrap().contains("broken.yaml"),
        "{broken}"
    );
}

#[tokio::test]
async fn a_missing_directory_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(&dir.path().join("absent")).await;
    let listing: serde_json::Value = reqwest::get(format!("http://{addr}/api/v1/dashboards"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["data"]["dashboards"], serde_json::json!([]));
    assert_eq!(listing["data"]["errors"], serde_json::json!([]));
}

#[tokio::test]
async fn the_app_is_served_for_routes_but_never_for_api_paths() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(dir.path()).await;
    let client = reqwest::Client::new();

    for api in ["/api/v1/nothing", "/jaeger/api/nothing", "/es/x"] {
        let r = client
            .get(format!("http://{addr}{api}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{api}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errorType"], "not_found", "{api}");
    }

    let page = client
        .get(format!("http://{addr}/logs"))
        .send()
        .await
        .unwrap();
    if !ui::is_built() {
        assert_eq!(page.status(), 503);
        let text = page.text().await.unwrap();
        assert!(text.contains("run scripts/build-ui"), "{text}");
        return;
    }
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains("<div id=\"app\">"), "{html}");

    // The hashed script the page loads: long-cached, JavaScript, gzip when asked.
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert!(script.starts_with("/assets/"), "{script}");
    let js = client
        .get(format!("http://{addr}{script}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    assert_eq!(js.headers()["content-encoding"], "gzip");

    let stale = client
        .get(format!("http://{addr}/assets/gone-123.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
}
