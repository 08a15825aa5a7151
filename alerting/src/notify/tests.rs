#![cfg(test)]
//! End-to-end tests of the notifier against a real webhook receiver: an axum server on
//! `127.0.0.1:0` that records what it gets and can be told to fail or stall.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use parking_lot::Mutex;
use serde_json::Value;
use tower::ServiceExt;

use super::*;

use crate::testing::TestResult;

// ------------------------------------------------------------------ the test receiver

#[derive(Default)]
struct Recorder {
    /// Bodies answered with 2xx.
    bodies: Mutex<Vec<String>>,
    headers: Mutex<Vec<HeaderMap>>,
    attempts: AtomicUsize,
    /// Answer 500 to this many requests first.
    fail_next: AtomicUsize,
    /// Stall this many requests first (past any client timeout), then answer 200 unrecorded.
    stall_next: AtomicUsize,
    /// Answer every request with this status (0 = behave).
    always: AtomicUsize,
}

impl Recorder {
    fn bodies(&self) -> TestResult<Vec<Value>> {
        let bodies = self
            .bodies
            .lock()
            .iter()
            .map(|b| serde_json::from_str(b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(bodies)
    }

    fn count(&self) -> usize {
        self.bodies.lock().len()
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

async fn record(
    State(rec): State<Arc<Recorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, (StatusCode, String)> {
    rec.attempts.fetch_add(1, Ordering::SeqCst);
    rec.headers.lock().push(headers);
    let take = |counter: &AtomicUsize| {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    if take(&rec.stall_next) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        return Ok(StatusCode::OK);
    }
    if take(&rec.fail_next) {
        return Ok(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let bad = |e: &dyn std::fmt::Display| (StatusCode::IM_A_TEAPOT, e.to_string());
    match rec.always.load(Ordering::SeqCst) {
        0 => {}
        code => return StatusCode::from_u16(code as u16).map_err(|e| bad(&e)),
    }
    let text = String::from_utf8(body.to_vec()).map_err(|e| bad(&e))?;
    rec.bodies.lock().push(text);
    Ok(StatusCode::OK)
}

/// Starts a receiver; answers its recorder and URL.
async fn receiver() -> TestResult<(Arc<Recorder>, String)> {
    let rec = Arc::new(Recorder::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(record))
        .with_state(Arc::clone(&rec));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("test receiver stopped: {e}");
        }
    });
    Ok((rec, format!("http://{addr}/hook")))
}

// ------------------------------------------------------------------ helpers

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(pairs: &[(&str, &str)]) -> NotifyAlert {
    NotifyAlert {
        labels: labels(pairs),
        annotations: labels(&[("summary", "something is wrong")]),
        starts_at_ms: now_ms(),
        ends_at_ms: None,
        generator_url: "http://argus:8080/graph".to_owned(),
        value: 1.5,
    }
}

fn resolved(mut alert: NotifyAlert) -> NotifyAlert {
    alert.ends_at_ms = Some(now_ms());
    alert
}

fn config(toml_text: &str) -> TestResult<NotifyConfig> {
    Ok(toml::from_str(toml_text)?)
}

/// One receiver `ops` at `url` and a root route with these extra settings.
fn simple(url: &str, receiver_extra: &str, route_extra: &str) -> TestResult<NotifyConfig> {
    config(&format!(
        r#"
        [[receivers]]
        name = "ops"
        url = "{url}"
        {receiver_extra}

        [route]
        receiver = "ops"
        {route_extra}
        "#
    ))
}

struct Running {
    notifier: Arc<Notifier>,
    registry: prometheus::Registry,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn start(config: NotifyConfig, dir: &Path) -> TestResult<Running> {
        let registry = prometheus::Registry::new();
        let notifier = Notifier::open(config, dir, "http://argus.example:8080/", &registry)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(Arc::clone(&notifier).run(async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            notifier,
            registry,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Ends the run the way a crash would: no stop signal, the task is just gone.
    async fn crash(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn stop(mut self) -> TestResult {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await?;
        }
        Ok(())
    }

    /// The value of a counter or gauge sample with these labels (0 when absent).
    fn metric(&self, name: &str, label_pairs: &[(&str, &str)]) -> f64 {
        self.registry
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().iter())
            .filter(|m| {
                label_pairs.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            // a sample is a counter or a gauge; the other part reads 0
            .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
            .sum()
    }
}

/// Polls `condition` until it holds or `limit` passes; answers whether it held.
async fn eventually(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// `eventually` for a condition that can fail: an error ends the wait and is returned.
async fn try_eventually(
    limit: Duration,
    condition: impl Fn() -> TestResult<bool>,
) -> TestResult<bool> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition()? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

const SOON: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------ bodies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_v4_body_matches_alertmanager_fixture() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(&url, "", "group_by = [\"alertname\"]\ngroup_wait = \"0s\"")?,
        dir.path(),
    )?;
    let generator = "http://argus.example:8080/graph?g0.expr=latency";
    let firing = NotifyAlert {
        labels: labels(&[
            ("alertname", "HighLatency"),
            ("service", "api"),
            ("severity", "page"),
        ]),
        annotations: labels(&[
            ("summary", "p99 above 1s"),
            ("runbook", "http://runbooks/latency"),
        ]),
        starts_at_ms: 1_700_000_000_123,
        ends_at_ms: None,
        generator_url: generator.to_owned(),
        value: 1.2,
    };
    let gone = NotifyAlert {
        labels: labels(&[
            ("alertname", "HighLatency"),
            ("service", "web"),
            ("severity", "page"),
        ]),
        annotations: labels(&[("summary", "p99 above 1s")]),
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: Some(1_700_000_060_000),
        generator_url: generator.to_owned(),
        value: 0.3,
    };
    // (the external URL is given with a trailing slash, which the notifier trims)
    running.notifier.send(vec![gone, firing]);
    assert!(eventually(SOON, || rec.count() == 1).await);
    let fixture = include_str!("testdata/webhook_v4.json").trim();
    let body = rec.bodies.lock()[0].clone();
    // Same text: same field names, same order, same time formats.
    assert_eq!(body, fixture);
    let headers = rec.headers.lock()[0].clone();
    assert_eq!(headers["content-type"], "application/json");
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_and_slack_bodies_and_headers() -> TestResult {
    let (grafana, grafana_url) = receiver().await?;
    let (slack, slack_url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let cfg = config(&format!(
        r#"
        [[receivers]]
        name = "grafana"
        url = "{grafana_url}"
        body = "grafana"
        headers = {{ Authorization = "Bearer s3cr3t" }}

        [[receivers]]
        name = "slack"
        url = "{slack_url}"
        body = "slack"
        max_alerts = 1

        [route]
        receiver = "grafana"
        group_wait = "0s"
        group_interval = "200ms"
        group_by = ["alertname"]
        [[route.routes]]
        matchers = ['alertname=~".+"']
        receiver = "grafana"
        continue = true
        [[route.routes]]
        matchers = ['alertname=~".+"']
        receiver = "slack"
        "#
    ))?;
    let running = Running::start(cfg, dir.path())?;
    let a = alert(&[("alertname", "DiskFull"), ("host", "a")]);
    let b = alert(&[("alertname", "DiskFull"), ("host", "b")]);
    running.notifier.send(vec![a.clone(), b.clone()]);
    assert!(eventually(SOON, || grafana.count() == 1 && slack.count() == 1).await);

    let g = &grafana.bodies()?[0];
    assert_eq!(g["title"], "[Alerting] DiskFull");
    assert_eq!(g["ruleName"], "DiskFull");
    assert_eq!(g["state"], "alerting");
    assert_eq!(g["message"], "something is wrong");
    assert_eq!(g["ruleUrl"], "http://argus:8080/graph");
    assert_eq!(
        g["evalMatches"]
            .as_array()
            .ok_or("evalMatches is not an array")?
            .len(),
        2
    );
    assert_eq!(g["evalMatches"][0]["value"], 1.5);
    assert_eq!(g["evalMatches"][0]["tags"]["host"], "a");
    assert!(g["ruleId"].is_u64());
    assert_eq!(grafana.headers.lock()[0]["authorization"], "Bearer s3cr3t");

    let s = &slack.bodies()?[0];
    assert_eq!(s["text"], "[FIRING:1] DiskFull");
    assert_eq!(s["attachments"][0]["color"], "danger");
    assert!(
        s["attachments"][0]["text"]
            .as_str()
            .ok_or("attachment text is not a string")?
            .contains("host=\"a\"")
    );

    // all resolved: Grafana's "ok" without matches, Slack's green attachment
    running.notifier.send(vec![resolved(a), resolved(b)]);
    assert!(eventually(SOON, || grafana.count() == 2 && slack.count() == 2).await);
    let g = &grafana.bodies()?[1];
    assert_eq!(g["state"], "ok");
    assert_eq!(g["title"], "[OK] DiskFull");
    assert_eq!(g["evalMatches"], serde_json::json!([]));
    let s = &slack.bodies()?[1];
    assert_eq!(s["text"], "[RESOLVED:1] DiskFull");
    assert_eq!(s["attachments"][0]["color"], "good");
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_body_renders_alertmanager_data() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let receiver_extra = r#"
        body = "template"
        content_type = "text/plain"
        body_template = '''{{ .Status }} {{ .Receiver }} {{ .CommonAnnotations.summary }}: {{ len .FiringAlerts }} firing, {{ len .ResolvedAlerts }} resolved;{{ range .Alerts }} {{ .Labels.host }}={{ .Status }}@{{ .StartsAt }}{{ end }} {{ .GroupLabels.alertname }} {{ .ExternalURL }}'''
    "#;
    let running = Running::start(
        simple(
            &url,
            receiver_extra,
            "group_by = [\"alertname\"]\ngroup_wait = \"0s\"",
        )?,
        dir.path(),
    )?;
    let mut a = alert(&[("alertname", "Disk"), ("host", "a")]);
    a.starts_at_ms = 1_700_000_000_000;
    let mut b = alert(&[("alertname", "Disk"), ("host", "b")]);
    b.starts_at_ms = 1_700_000_000_500;
    b.ends_at_ms = Some(1_700_000_100_000);
    running.notifier.send(vec![b, a]);
    assert!(eventually(SOON, || rec.count() == 1).await);
    assert_eq!(
        rec.bodies.lock()[0],
        "firing ops something is wrong: 1 firing, 1 resolved; a=firing@2023-11-14T22:13:20Z \
         b=resolved@2023-11-14T22:13:20.5Z Disk http://argus.example:8080"
    );
    assert_eq!(rec.headers.lock()[0]["content-type"], "text/plain");
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_never_blocks_and_counts_overflow() -> TestResult {
    let dir = tempfile::tempdir()?;
    let registry = prometheus::Registry::new();
    // not running: nothing drains the input
    let notifier = Notifier::open(
        NotifyConfig::default(),
        dir.path(),
        "http://argus",
        &registry,
    )?;
    for i in 0..INPUT_CAPACITY + 5 {
        notifier.send(vec![alert(&[
            ("alertname", "Flood"),
            ("n", &i.to_string()),
        ])]);
    }
    let running = Running {
        notifier,
        registry,
        stop: None,
        task: None,
    };
    assert_eq!(
        running.metric("argus_notifications_alerts_dropped_total", &[]),
        5.0
    );
    assert_eq!(
        running.metric("argus_notifications_alerts_received_total", &[]),
        (INPUT_CAPACITY + 5) as f64
    );
    Ok(())
}

// ------------------------------------------------------------------ grouping and timing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_wait_zero_sends_at_once() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let running = Running::start(simple(&url, "", "group_wait = \"0s\"")?, dir.path())?;
    let started = Instant::now();
    running.notifier.send(vec![alert(&[("alertname", "Up")])]);
    assert!(eventually(SOON, || rec.count() == 1).await);
    // generous: the point is "not after group_wait's default of 30 s"
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(rec.bodies()?[0]["status"], "firing");
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_of_a_group_go_out_together() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(
            &url,
            "",
            "group_by = [\"alertname\"]\ngroup_wait = \"400ms\"\ngroup_interval = \"1h\"",
        )?,
        dir.path(),
    )?;
    running
        .notifier
        .send(vec![alert(&[("alertname", "Disk"), ("host", "a")])]);
    running
        .notifier
        .send(vec![alert(&[("alertname", "Disk"), ("host", "b")])]);
    running
        .notifier
        .send(vec![alert(&[("alertname", "Cpu"), ("host", "a")])]);
    assert!(eventually(SOON, || rec.count() == 2).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sizes: Vec<(String, usize)> = Vec::new();
    for b in rec.bodies()?.iter() {
        sizes.push((
            b["groupLabels"]["alertname"]
                .as_str()
                .ok_or("groupLabels.alertname is not a string")?
                .to_owned(),
            b["alerts"]
                .as_array()
                .ok_or("alerts is not an array")?
                .len(),
        ));
    }
    sizes.sort();
    assert_eq!(sizes, vec![("Cpu".to_owned(), 1), ("Disk".to_owned(), 2)]);
    assert_eq!(
        running.metric("argus_notifications_alerts_received_total", &[]),
        3.0
    );
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_interval_sends_changes_and_repeat_interval_repeats() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(
            &url,
            "",
            "group_wait = \"0s\"\ngroup_interval = \"200ms\"\nrepeat_interval = \"1500ms\"",
        )?,
        dir.path(),
    )?;
    let started = Instant::now();
    running.notifier.send(vec![alert(&[("alertname", "A")])]);
    assert!(eventually(SOON, || rec.count() == 1).await);
    // unchanged: the flushes every 200 ms have nothing new
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rec.count(), 1);
    // a new alert: the next group_interval sends both
    running.notifier.send(vec![alert(&[("alertname", "B")])]);
    assert!(eventually(SOON, || rec.count() == 2).await);
    assert_eq!(
        rec.bodies()?[1]["alerts"]
            .as_array()
            .ok_or("alerts is not an array")?
            .len(),
        2
    );
    // nothing changes: repeated after repeat_interval
    assert!(eventually(SOON, || rec.count() == 3).await);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(
        rec.bodies()?[2]["alerts"]
            .as_array()
            .ok_or("alerts is not an array")?
            .len(),
        2
    );
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_resolved_true_and_false() -> TestResult {
    let (with, with_url) = receiver().await?;
    let (without, without_url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let cfg = config(&format!(
        r#"
        [[receivers]]
        name = "with"
        url = "{with_url}"
        [[receivers]]
        name = "without"
        url = "{without_url}"
        send_resolved = false

        [route]
        receiver = "with"
        group_wait = "0s"
        group_interval = "200ms"
        [[route.routes]]
        matchers = ['alertname="Flap"']
        receiver = "with"
        continue = true
        [[route.routes]]
        matchers = ['alertname="Flap"']
        receiver = "without"
        "#
    ))?;
    let running = Running::start(cfg, dir.path())?;
    let firing = alert(&[("alertname", "Flap"), ("host", "a")]);
    let other = alert(&[("alertname", "Flap"), ("host", "b")]);
    running.notifier.send(vec![firing.clone(), other.clone()]);
    assert!(eventually(SOON, || with.count() == 1 && without.count() == 1).await);

    // one of two resolves: only the send_resolved receiver hears of it
    running.notifier.send(vec![resolved(firing), other.clone()]);
    assert!(eventually(SOON, || with.count() == 2).await);
    let second = &with.bodies()?[1];
    assert_eq!(second["status"], "firing");
    assert_eq!(second["alerts"][0]["status"], "resolved");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(without.count(), 1);

    // all resolved: a resolved notification for one, nothing for the other
    running.notifier.send(vec![resolved(other)]);
    assert!(eventually(SOON, || with.count() == 3).await);
    assert_eq!(with.bodies()?[2]["status"], "resolved");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(without.count(), 1);
    assert_eq!(with.count(), 3);
    running.stop().await?;
    Ok(())
}

// ------------------------------------------------------------------ delivery

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_twice_then_delivered_once_on_the_third_try() -> TestResult {
    let (rec, url) = receiver().await?;
    rec.fail_next.store(2, Ordering::SeqCst);
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(&url, "", "group_wait = \"0s\"\ngroup_interval = \"200ms\"")?,
        dir.path(),
    )?;
    running
        .notifier
        .send(vec![alert(&[("alertname", "Retry")])]);
    assert!(eventually(Duration::from_secs(10), || rec.count() == 1).await);
    assert_eq!(rec.attempts(), 3);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rec.count(), 1);
    assert_eq!(rec.attempts(), 3);
    assert_eq!(
        running.metric("argus_notifications_retries_total", &[("receiver", "ops")]),
        2.0
    );
    assert_eq!(
        running.metric(
            "argus_notifications_failed_total",
            &[("receiver", "ops"), ("reason", "status_5xx")]
        ),
        2.0
    );
    assert_eq!(
        running.metric("argus_notifications_sent_total", &[("receiver", "ops")]),
        1.0
    );
    assert_eq!(running.metric("argus_notifications_queue_length", &[]), 0.0);
    assert_eq!(std::fs::read_dir(dir.path().join("queue"))?.count(), 0);
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_error_is_not_retried() -> TestResult {
    let (rec, url) = receiver().await?;
    rec.always.store(400, Ordering::SeqCst);
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(&url, "", "group_wait = \"0s\"\ngroup_interval = \"1h\"")?,
        dir.path(),
    )?;
    running.notifier.send(vec![alert(&[("alertname", "Bad")])]);
    assert!(eventually(SOON, || rec.attempts() == 1).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rec.attempts(), 1);
    assert_eq!(
        running.metric(
            "argus_notifications_failed_total",
            &[("receiver", "ops"), ("reason", "status_4xx")]
        ),
        1.0
    );
    assert_eq!(std::fs::read_dir(dir.path().join("queue"))?.count(), 0);
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_retried() -> TestResult {
    let (rec, url) = receiver().await?;
    rec.stall_next.store(1, Ordering::SeqCst);
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(&url, "timeout = \"300ms\"", "group_wait = \"0s\"")?,
        dir.path(),
    )?;
    running.notifier.send(vec![alert(&[("alertname", "Slow")])]);
    assert!(eventually(Duration::from_secs(10), || rec.count() == 1).await);
    assert_eq!(rec.attempts(), 2);
    assert_eq!(
        running.metric(
            "argus_notifications_failed_total",
            &[("receiver", "ops"), ("reason", "timeout")]
        ),
        1.0
    );
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_notification_survives_a_restart_and_is_delivered_once() -> TestResult {
    let (rec, url) = receiver().await?;
    rec.always.store(503, Ordering::SeqCst);
    let dir = tempfile::tempdir()?;
    let cfg = simple(&url, "", "group_wait = \"0s\"")?;
    let first = Running::start(cfg.clone(), dir.path())?;
    first.notifier.send(vec![alert(&[("alertname", "Queued")])]);
    assert!(eventually(SOON, || rec.attempts() >= 1).await);
    first.crash().await;
    assert_eq!(std::fs::read_dir(dir.path().join("queue"))?.count(), 1);
    // as if the crash came between the queue file and the notification log
    std::fs::remove_file(dir.path().join("nflog.json"))?;

    rec.always.store(0, Ordering::SeqCst);
    let second = Running::start(cfg, dir.path())?;
    assert!(eventually(SOON, || rec.count() == 1).await);
    // evaluation re-sends the firing alert after the restart: no second notification
    second
        .notifier
        .send(vec![alert(&[("alertname", "Queued")])]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rec.count(), 1);
    assert_eq!(std::fs::read_dir(dir.path().join("queue"))?.count(), 0);
    second.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_notification_is_not_repeated_after_a_restart() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let cfg = simple(
        &url,
        "",
        "group_wait = \"0s\"\ngroup_interval = \"100ms\"\nrepeat_interval = \"1h\"",
    )?;
    let firing = alert(&[("alertname", "Once")]);
    let first = Running::start(cfg.clone(), dir.path())?;
    first.notifier.send(vec![firing.clone()]);
    assert!(eventually(SOON, || rec.count() == 1).await);
    first.stop().await?;

    let second = Running::start(cfg, dir.path())?;
    second.notifier.send(vec![firing.clone()]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rec.count(), 1);
    // and it still notices the resolution
    second.notifier.send(vec![resolved(firing)]);
    assert!(eventually(SOON, || rec.count() == 2).await);
    assert_eq!(rec.bodies()?[1]["status"], "resolved");
    second.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_notification_supersedes_a_queued_one() -> TestResult {
    let (rec, url) = receiver().await?;
    rec.always.store(503, Ordering::SeqCst);
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(&url, "", "group_wait = \"0s\"\ngroup_interval = \"200ms\"")?,
        dir.path(),
    )?;
    let firing = alert(&[("alertname", "Gone")]);
    running.notifier.send(vec![firing.clone()]);
    assert!(eventually(SOON, || rec.attempts() >= 1).await);
    running.notifier.send(vec![resolved(firing)]);
    // the resolved notification replaces the firing one in the queue
    assert!(
        try_eventually(SOON, || {
            let mut files: Vec<String> = Vec::new();
            for e in std::fs::read_dir(dir.path().join("queue"))? {
                if let Ok(text) = std::fs::read_to_string(e?.path()) {
                    files.push(text);
                }
            }
            Ok(files.len() == 1 && files[0].contains("\\\"status\\\":\\\"resolved\\\""))
        })
        .await?
    );
    rec.always.store(0, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(10), || rec.count() == 1).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rec.count(), 1);
    assert_eq!(rec.bodies()?[0]["status"], "resolved");
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_queue_files_are_set_aside() -> TestResult {
    let dir = tempfile::tempdir()?;
    let queue = dir.path().join("queue");
    std::fs::create_dir_all(&queue)?;
    std::fs::write(queue.join("0000-bad.json"), "{not json")?;
    std::fs::write(queue.join("0001-cut.json.tmp"), "{\"id\":")?;
    let registry = prometheus::Registry::new();
    Notifier::open(
        NotifyConfig::default(),
        dir.path(),
        "http://argus",
        &registry,
    )?;
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&queue)? {
        let name = e?
            .file_name()
            .into_string()
            .map_err(|n| format!("file name is not UTF-8: {n:?}"))?;
        names.push(name);
    }
    names.sort();
    assert_eq!(names, vec!["0000-bad.corrupt"]);
    Ok(())
}

// ------------------------------------------------------------------ silences

fn silence_json(matchers: Value, starts_at_ms: i64, ends_at_ms: i64) -> String {
    serde_json::json!({
        "matchers": matchers,
        "startsAt": super::body::go_time(starts_at_ms),
        "endsAt": super::body::go_time(ends_at_ms),
        "createdBy": "tests",
        "comment": "maintenance",
    })
    .to_string()
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: String,
) -> TestResult<(StatusCode, Value)> {
    let response = router
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .header("content-type", "application/json")
                .body(Body::from(body))?,
        )
        .await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_suppresses_until_it_expires() -> TestResult {
    let (rec, url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let running = Running::start(
        simple(&url, "", "group_wait = \"0s\"\ngroup_interval = \"200ms\"")?,
        dir.path(),
    )?;
    let router = silences_router(Arc::clone(&running.notifier));
    let now = now_ms();
    let (status, created) = call(
        &router,
        "POST",
        "/api/v1/silences",
        silence_json(
            serde_json::json!([{"name": "alertname", "value": "Noisy", "isRegex": false}]),
            now,
            now + 1500,
        ),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{created}");
    let noisy = alert(&[("alertname", "Noisy")]);
    assert!(running.notifier.is_silenced(&noisy.labels));
    running.notifier.send(vec![noisy.clone()]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(rec.count(), 0);
    // expired: the next group_interval lets it through
    assert!(eventually(SOON, || rec.count() == 1).await);
    assert!(!running.notifier.is_silenced(&noisy.labels));
    let id = created["silenceID"].as_str().ok_or("no silenceID")?;
    let (_, listed) = call(
        &router,
        "GET",
        &format!("/api/v1/silences/{id}"),
        String::new(),
    )
    .await?;
    assert_eq!(listed["status"]["state"], "expired");
    running.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_api_shapes_and_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let registry = prometheus::Registry::new();
    let notifier = Notifier::open(
        NotifyConfig::default(),
        dir.path(),
        "http://argus:8080",
        &registry,
    )?;
    let router = silences_router(Arc::clone(&notifier));
    let now = now_ms();
    let matchers = serde_json::json!([
        {"name": "service", "value": "check.*", "isRegex": true, "isEqual": true},
        {"name": "env", "value": "dev", "isRegex": false, "isEqual": false}
    ]);
    let (status, created) = call(
        &router,
        "POST",
        "/api/v1/silences",
        silence_json(matchers.clone(), now, now + 3_600_000),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let id = created["silenceID"]
        .as_str()
        .ok_or("no silenceID")?
        .to_owned();
    assert_eq!(id.len(), 36);
    let (_, pending) = call(
        &router,
        "POST",
        "/api/v1/silences",
        silence_json(matchers.clone(), now + 600_000, now + 3_600_000),
    )
    .await?;
    let pending_id = pending["silenceID"]
        .as_str()
        .ok_or("no silenceID")?
        .to_owned();

    let (status, list) = call(&router, "GET", "/api/v1/silences", String::new()).await?;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().ok_or("the list is not an array")?;
    assert_eq!(list.len(), 2);
    let first = list
        .iter()
        .find(|s| s["id"] == id.as_str())
        .ok_or("created silence not listed")?;
    assert_eq!(first["status"]["state"], "active");
    assert_eq!(first["matchers"], matchers);
    assert_eq!(first["createdBy"], "tests");
    assert!(
        first["updatedAt"]
            .as_str()
            .ok_or("updatedAt is not a string")?
            .ends_with('Z')
    );
    let second = list
        .iter()
        .find(|s| s["id"] == pending_id.as_str())
        .ok_or("pending silence not listed")?;
    assert_eq!(second["status"]["state"], "pending");

    assert!(notifier.is_silenced(&labels(&[("service", "checkout"), ("env", "prod")])));
    assert!(!notifier.is_silenced(&labels(&[("service", "checkout"), ("env", "dev")])));

    // bad input: 400 with a message
    for body in [
        "not json".to_owned(),
        silence_json(serde_json::json!([]), now, now + 1000),
        silence_json(
            serde_json::json!([{"name": "a", "value": ".*", "isRegex": true}]),
            now,
            now + 1000,
        ),
        silence_json(
            serde_json::json!([{"name": "a", "value": "x", "isRegex": false}]),
            now + 1000,
            now,
        ),
        serde_json::json!({"matchers": [{"name": "a", "value": "x", "isRegex": false}],
            "startsAt": "yesterday", "endsAt": "tomorrow", "createdBy": "t", "comment": ""})
        .to_string(),
    ] {
        let (status, error) = call(&router, "POST", "/api/v1/silences", body.clone()).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            !error["error"]
                .as_str()
                .ok_or("error is not a string")?
                .is_empty()
        );
    }

    let (status, _) = call(&router, "GET", "/api/v1/silences/nope", String::new()).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&router, "DELETE", "/api/v1/silences/nope", String::new()).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call(
        &router,
        "DELETE",
        &format!("/api/v1/silences/{id}"),
        String::new(),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, one) = call(
        &router,
        "GET",
        &format!("/api/v1/silences/{id}"),
        String::new(),
    )
    .await?;
    assert_eq!(one["status"]["state"], "expired");
    assert!(!notifier.is_silenced(&labels(&[("service", "checkout"), ("env", "prod")])));

    // persisted
    drop(router);
    drop(notifier);
    let reopened = Notifier::open(
        NotifyConfig::default(),
        dir.path(),
        "http://argus:8080",
        &registry,
    )?;
    assert_eq!(reopened.silences().len(), 2);
    Ok(())
}

// ------------------------------------------------------------------ config and routing

#[test]
fn routes_choose_receivers_with_matchers_and_continue() -> TestResult {
    let cfg = config(
        r#"
        [[receivers]]
        name = "default"
        url = "http://127.0.0.1:1/a"
        [[receivers]]
        name = "pager"
        url = "http://127.0.0.1:1/b"
        [[receivers]]
        name = "checks"
        url = "http://127.0.0.1:1/c"
        [[receivers]]
        name = "db"
        url = "http://127.0.0.1:1/d"

        [route]
        receiver = "default"
        group_by = ["alertname"]
        [[route.routes]]
        matchers = ['severity="page"']
        receiver = "pager"
        [[route.routes]]
        matchers = ['service=~"check.*"']
        receiver = "checks"
        continue = true
        group_by = ["..."]
        [[route.routes]]
        matchers = ['team="db"']
        receiver = "db"
        group_wait = "1s"
        [[route.routes.routes]]
        matchers = ['env!="prod"']
        "#,
    )?;
    let compiled = Compiled::new(&cfg)?;
    let root = compiled.route.ok_or("no root route")?;
    let receivers = |pairs: &[(&str, &str)]| -> Vec<String> {
        root.matching(&labels(pairs))
            .iter()
            .map(|r| r.receiver.clone())
            .collect()
    };
    assert_eq!(
        receivers(&[
            ("severity", "page"),
            ("service", "checkout"),
            ("team", "db")
        ]),
        vec!["pager"]
    );
    assert_eq!(
        receivers(&[("service", "checkout"), ("team", "db"), ("env", "prod")]),
        vec!["checks", "db"]
    );
    assert_eq!(receivers(&[("alertname", "X")]), vec!["default"]);

    // the nested route inherits receiver and timings; the group key names the path
    let alert = labels(&[("alertname", "Lag"), ("team", "db"), ("env", "dev")]);
    let routes = root.matching(&alert);
    assert_eq!(routes.len(), 1);
    let nested = &routes[0];
    assert_eq!(nested.receiver, "db");
    assert_eq!(nested.group_wait, Duration::from_secs(1));
    assert_eq!(nested.repeat_interval, Duration::from_secs(4 * 3600));
    assert_eq!(
        nested.group_key(&nested.group_labels(&alert)),
        "{}/{team=\"db\"}/{env!=\"prod\"}:{alertname=\"Lag\"}"
    );
    let checks = &root.matching(&labels(&[("service", "check"), ("a", "1")]))[0];
    assert_eq!(
        checks.group_labels(&labels(&[("service", "check"), ("a", "1")])),
        labels(&[("service", "check"), ("a", "1")])
    );
    Ok(())
}

#[test]
fn config_validation_names_what_is_wrong() -> TestResult {
    let receiver = |name: &str| format!("[[receivers]]\nname = \"{name}\"\nurl = \"http://h/x\"\n");
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{}{}[route]\nreceiver = \"a\"", receiver("a"), receiver("a")),
            "receiver \"a\" is defined more than once",
        ),
        (
            format!("{}[route]\nreceiver = \"b\"", receiver("a")),
            "route route: unknown receiver \"b\"",
        ),
        (
            format!(
                "{}[route]\nreceiver = \"a\"\n[[route.routes]]\nreceiver = \"zz\"",
                receiver("a")
            ),
            "route route.routes[0]: unknown receiver \"zz\"",
        ),
        (
            format!(
                "{}[route]\nreceiver = \"a\"\n[[route.routes]]\nmatchers = ['sev=~\"(\"']",
                receiver("a")
            ),
            "invalid matcher",
        ),
        (
            format!("{}[route]\nreceiver = \"a\"\ngroup_wait = \"5 minutes\"", receiver("a")),
            "route route: group_wait: not a valid duration string",
        ),
        (
            format!("{}[route]\nreceiver = \"a\"\nmatchers = ['a=\"b\"']", receiver("a")),
            "the root route cannot have matchers",
        ),
        (
            format!("{}[route]\nreceiver = \"a\"\ngroup_by = [\"...\", \"x\"]", receiver("a")),
            "cannot be combined",
        ),
        (receiver("a"), "there is no [alerting.route]"),
        (
            "[[receivers]]\nname = \"a\"\nurl = \"ftp://h/x\"\n[route]\nreceiver = \"a\"".to_owned(),
            "is not http or https",
        ),
        (
            "[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\ntimeout = \"0s\"\n[route]\nreceiver = \"a\"".to_owned(),
            "timeout must be positive",
        ),
        (
            "[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\nheaders = { \"bad header\" = \"x\" }\n[route]\nreceiver = \"a\"".to_owned(),
            "header name",
        ),
        (
            "[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\nbody = \"template\"\nbody_template = \"{{ .Status \"\n[route]\nreceiver = \"a\"".to_owned(),
            "receiver \"a\": body_template:",
        ),
        (
            "[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\nbody = \"template\"\n[route]\nreceiver = \"a\"".to_owned(),
            "needs a body_template",
        ),
        (
            "[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\nbody_template = \"x\"\n[route]\nreceiver = \"a\"".to_owned(),
            "only used with body = \"template\"",
        ),
    ];
    for (text, expected) in cases {
        let error = config(&text)?
            .validate()
            .err()
            .ok_or_else(|| format!("config should be refused: {text}"))?
            .to_string();
        assert!(
            error.contains(expected),
            "{text}\n→ {error}\n(expected {expected:?})"
        );
    }
    // unknown keys are refused at deserialization
    let typo: Result<NotifyConfig, _> =
        toml::from_str("[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\nsend_resovled = true");
    assert!(
        typo.err()
            .ok_or("the typo should be refused")?
            .to_string()
            .contains("send_resovled")
    );
    assert!(NotifyConfig::default().validate().is_ok());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reroutes_without_resending() -> TestResult {
    let (a, a_url) = receiver().await?;
    let (b, b_url) = receiver().await?;
    let dir = tempfile::tempdir()?;
    let running = Running::start(simple(&a_url, "", "group_wait = \"0s\"")?, dir.path())?;
    running.notifier.send(vec![alert(&[("alertname", "R")])]);
    assert!(eventually(SOON, || a.count() == 1).await);

    // a bad config is refused and changes nothing
    let bad =
        config("[[receivers]]\nname = \"x\"\nurl = \"http://h/x\"\n[route]\nreceiver = \"y\"")?;
    assert!(running.notifier.reload(bad).is_err());
    // the root now sends to "new": the held alert is routed again and reaches it; "ops"
    // is not notified again
    let moved = config(&format!(
        r#"
        [[receivers]]
        name = "ops"
        url = "{a_url}"
        [[receivers]]
        name = "new"
        url = "{b_url}"
        [route]
        receiver = "new"
        group_wait = "0s"
        "#
    ))?;
    running.notifier.reload(moved)?;
    assert!(eventually(SOON, || b.count() == 1).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.count(), 1);
    assert_eq!(b.count(), 1);
    assert_eq!(running.notifier.alerts().len(), 1);
    running.stop().await?;
    Ok(())
}
