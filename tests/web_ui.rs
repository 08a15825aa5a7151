//! The web UI in the real binary: the app (or the "not built" answer) at `/` and on client
//! routes, the dashboards of `--dashboards DIR`, and the UI's fallback never shadowing the
//! APIs merged before it.

mod common;

use common::Argus;

#[tokio::test]
async fn the_ui_is_served_last_and_reads_the_dashboards_flag() {
    let dir = tempfile::tempdir().unwrap();
    let dashboards = dir.path().join("boards");
    std::fs::create_dir_all(&dashboards).unwrap();
    std::fs::write(
        dashboards.join("ops.yml"),
        "title: Ops\nrows: [{panels: [{title: Up, type: stat, expr: up}]}]\n",
    )
    .unwrap();
    let argus = Argus::start(
        &dir.path().join("data"),
        &["--dashboards", dashboards.to_str().unwrap()],
    );

    let listing = argus.get_json("/api/v1/dashboards").await;
    assert_eq!(listing["data"]["dashboards"][0]["id"], "ops", "{listing}");
    let one = argus.get_json("/api/v1/dashboards/ops").await;
    assert_eq!(one["data"]["rows"][0]["panels"][0]["type"], "stat");

    // Routes of the other routers still answer as before.
    let (status, body) = argus.get_text("/api/v1/query", &[("query", "1+1")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"resultType\":\"scalar\""), "{body}");
    let (status, body) = argus.get_text("/jaeger/api/services", &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = argus.get_text("/metrics", &[]).await;
    assert_eq!(status, 200);
    // An unknown API path is a JSON 404, not the app.
    let (status, body) = argus.get_text("/api/v1/nope", &[]).await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"), "{body}");

    for page in ["/", "/logs", "/dashboards/service/checkout"] {
        let (status, body) = argus.get_text(page, &[]).await;
        if ui::is_built() {
            assert_eq!(status, 200, "{page}");
            assert!(body.contains("<div id=\"app\">"), "{page}: {body}");
        } else {
            assert_eq!(status, 503, "{page}");
            assert!(body.contains("run scripts/build-ui"), "{page}: {body}");
        }
    }
}
