//! Alerting end to end: rule files in `--rules DIR`, receivers and routes in the config file,
//! metrics and logs pushed over the real ingest sockets, webhooks caught by a real HTTP
//! receiver. Every rule group here evaluates every second.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::webhook::Receiver;
use common::{Argus, eventually, json};

const WAIT: Duration = Duration::from_secs(30);
/// The rule groups' evaluation interval in these tests.
const INTERVAL: Duration = Duration::from_secs(1);

/// A data dir, a rules dir and a config file whose one receiver posts to `receiver`.
struct Setup {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    rules: PathBuf,
    config: PathBuf,
}

impl Setup {
    fn new(receiver: &Receiver, rule_files: &[(&str, &str)]) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let rules = tmp.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        for (name, text) in rule_files {
            std::fs::write(rules.join(name), text).unwrap();
        }
        let config = tmp.path().join("argus.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[alerting]
external_url = "http://argus.test:8080"

[[alerting.receivers]]
name = "hook"
url = "{url}"
headers = {{ Authorization = "Bearer t0ken" }}
timeout = "2s"
send_resolved = true

[alerting.route]
receiver = "hook"
group_by = ["alertname"]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "1h"
"#,
                url = receiver.url()
            ),
        )
        .unwrap();
        Setup {
            data: tmp.path().join("data"),
            _tmp: tmp,
            rules,
            config,
        }
    }

    fn start(&self) -> Argus {
        Argus::start(
            &self.data,
            &[
                "--rules",
                self.rules.to_str().unwrap(),
                "--config",
                self.config.to_str().unwrap(),
                "--statsd-flush-interval",
                "200ms",
            ],
        )
    }
}

/// `name > threshold`, firing after `for_`, on a series imported through the text API.
fn threshold_rule(alert: &str, metric: &str, for_: &str, keep_firing_for: &str) -> String {
    format!(
        r#"groups:
  - name: thresholds
    interval: 1s
    rules:
      - alert: {alert}
        expr: {metric} > 1
        for: {for_}
        keep_firing_for: {keep_firing_for}
        labels:
          severity: page
        annotations:
          summary: "{metric} is {{{{ $value }}}} on {{{{ $labels.instance }}}}"
"#
    )
}

async fn set_gauge(argus: &Argus, metric: &str, value: f64) {
    let resp = argus
        .import(format!("{metric}{{instance=\"web-1\"}} {value}\n"))
        .await;
    assert!(resp.status().is_success(), "import: {}", resp.status());
}

/// The alerts `/api/v1/alerts` lists with this alertname.
async fn alerts_named(argus: &Argus, name: &str) -> Vec<serde_json::Value> {
    let body = argus.get_json("/api/v1/alerts").await;
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .cloned()
        .collect()
}

async fn wait_alert_state(argus: &Argus, name: &str, state: &str) -> serde_json::Value {
    eventually(WAIT, || async {
        alerts_named(argus, name)
            .await
            .into_iter()
            .find(|a| a["state"] == state)
    })
    .await
}

fn rfc3339(text: &str) -> SystemTime {
    humantime::parse_rfc3339_weak(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Sends 200 `checkout` StatsD timer observations of `millis` a second until aborted.
fn keep_sending_timers(statsd: SocketAddr, millis: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let payload = format!("checkout.latency:{millis}|ms|#service:checkout\n").repeat(20);
        loop {
            sock.send_to(payload.as_bytes(), statsd).unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

const P99_RULES: &str = r#"groups:
  - name: latency
    interval: 1s
    rules:
      - alert: CheckoutSlow
        expr: histogram_quantile(0.99, sum by (le) (rate(checkout_latency_bucket{service="checkout"}[5s]))) > 0.5
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "checkout p99 is {{ $value | humanizeDuration }}"
"#;

/// The issue's first scenario: a StatsD timer above a p99 threshold fires exactly one
/// webhook within `interval + 1 s` of the `for` expiring, and one resolved webhook once the
/// latency drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statsd_p99_above_threshold_fires_once_then_resolves() {
    let receiver = Receiver::start(0).await;
    let setup = Setup::new(&receiver, &[("latency.yml", P99_RULES)]);
    let argus = setup.start();

    // Slow requests until the alert fires.
    let slow = keep_sending_timers(argus.statsd, 700);
    let pending = wait_alert_state(&argus, "CheckoutSlow", "pending").await;
    let active_at = rfc3339(pending["activeAt"].as_str().unwrap());
    let fired = receiver.wait_delivered("firing", 1, WAIT).await;
    slow.abort();

    let for_expired = active_at + Duration::from_secs(2);
    let late = fired[0]
        .at_system
        .duration_since(for_expired)
        .unwrap_or(Duration::ZERO);
    eprintln!("firing webhook arrived {late:?} after the `for` expired");
    assert!(
        late <= INTERVAL + Duration::from_secs(1),
        "the firing webhook came {late:?} after the `for` expired"
    );
    let body = &fired[0].body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["externalURL"], "http://argus.test:8080");
    assert_eq!(body["groupLabels"]["alertname"], "CheckoutSlow");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("checkout p99 is "),
        "{alert}"
    );
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://argus.test:8080/graph?g0.expr="),
        "{alert}"
    );
    assert_eq!(fired[0].authorization.as_deref(), Some("Bearer t0ken"));

    // Fast requests: the p99 falls under the threshold once the slow ones leave the window.
    let fast = keep_sending_timers(argus.statsd, 10);
    let resolved = receiver.wait_delivered("resolved", 1, WAIT).await;
    fast.abort();
    assert_eq!(resolved[0].body["alerts"][0]["status"], "resolved");
    assert_ne!(
        resolved[0].body["alerts"][0]["endsAt"],
        "0001-01-01T00:00:00Z"
    );

    // Nothing more: one firing and one resolved notification in all.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.delivered("firing").await.len(), 1);
    assert_eq!(receiver.delivered("resolved").await.len(), 1);
    let history = argus
        .get_json("/api/v1/alerts/history?alertname=CheckoutSlow")
        .await;
    let states: Vec<String> = history["data"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap().to_string())
        .collect();
    for state in ["pending", "firing", "resolved"] {
        assert!(
            states.iter().any(|s| s == state),
            "history lacks {state}: {history}"
        );
    }
}

/// A condition that stops holding for less than `keep_firing_for` and comes back sends
/// nothing: no resolved notification, no second firing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_within_keep_firing_for_sends_nothing() {
    let receiver = Receiver::start(0).await;
    let rules = threshold_rule("Flappy", "flappy_gauge", "0s", "10s");
    let setup = Setup::new(&receiver, &[("flappy.yml", &rules)]);
    let argus = setup.start();

    set_gauge(&argus, "flappy_gauge", 5.0).await;
    receiver.wait_delivered("firing", 1, WAIT).await;
    for value in [0.0, 5.0, 0.0, 5.0] {
        set_gauge(&argus, "flappy_gauge", value).await;
        tokio::time::sleep(INTERVAL * 2).await;
        assert_eq!(
            alerts_named(&argus, "Flappy").await[0]["state"],
            "firing",
            "the alert keeps firing through the flaps"
        );
    }
    tokio::time::sleep(INTERVAL * 2).await;
    assert_eq!(receiver.delivered("firing").await.len(), 1);
    assert!(receiver.delivered("resolved").await.is_empty());
}

/// A silence matching the alert suppresses its notification; expiring the silence lets it
/// through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_suppresses_until_it_is_expired() {
    let receiver = Receiver::start(0).await;
    let rules = threshold_rule("Silenced", "silenced_gauge", "0s", "0s");
    let setup = Setup::new(&receiver, &[("silenced.yml", &rules)]);
    let argus = setup.start();

    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let later =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3600)).to_string();
    let silence = serde_json::json!({
        "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": false, "isEqual": true}],
        "startsAt": now,
        "endsAt": later,
        "createdBy": "tests",
        "comment": "maintenance",
    });
    let resp = argus
        .client()
        .post(argus.url("/api/v1/silences"))
        .json(&silence)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let created = json(&resp.text().await.unwrap());
    assert!(status.is_success(), "{status}: {created}");
    let id = created["silenceID"].as_str().unwrap().to_string();

    set_gauge(&argus, "silenced_gauge", 5.0).await;
    wait_alert_state(&argus, "Silenced", "firing").await;
    tokio::time::sleep(INTERVAL * 4).await;
    assert!(
        receiver.all().await.is_empty(),
        "a silenced alert was notified"
    );

    let listed = argus.get_json("/api/v1/silences").await;
    assert!(
        listed.to_string().contains(&id),
        "the silence is listed: {listed}"
    );
    let resp = argus
        .client()
        .delete(argus.url(&format!("/api/v1/silences/{id}")))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    receiver.wait_delivered("firing", 1, WAIT).await;
}

/// A receiver that answers 500 twice gets the notification on the third try, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_notification_on_the_third_try() {
    let receiver = Receiver::start(2).await;
    let rules = threshold_rule("Retried", "retried_gauge", "0s", "0s");
    let setup = Setup::new(&receiver, &[("retried.yml", &rules)]);
    let argus = setup.start();

    set_gauge(&argus, "retried_gauge", 5.0).await;
    let delivered = receiver.wait_delivered("firing", 1, WAIT).await;
    let all = receiver.all().await;
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], &[500, 500, 200], "{statuses:?}");
    assert_eq!(
        all[0].body, delivered[0].body,
        "a retry sends the same body"
    );
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(receiver.delivered("firing").await.len(), 1);
    assert!(argus.own_metric("argus_notifications_failed_total").await >= 2.0);
}

/// `kill -9` while an alert fires: after the restart the alert is still firing, with the
/// same start, and the receiver is not told again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_firing_does_not_repeat_the_notification() {
    let receiver = Receiver::start(0).await;
    let rules = threshold_rule("Persistent", "persistent_gauge", "1s", "0s");
    let setup = Setup::new(&receiver, &[("persistent.yml", &rules)]);
    let mut argus = setup.start();

    set_gauge(&argus, "persistent_gauge", 5.0).await;
    let first = receiver.wait_delivered("firing", 1, WAIT).await;
    let started = first[0].body["alerts"][0]["startsAt"].clone();
    let before = wait_alert_state(&argus, "Persistent", "firing").await;
    argus.kill9();

    let argus = setup.start();
    let after = wait_alert_state(&argus, "Persistent", "firing").await;
    assert_eq!(after["activeAt"], before["activeAt"], "state was restored");
    tokio::time::sleep(INTERVAL * 5).await;
    let firing = receiver.delivered("firing").await;
    assert_eq!(firing.len(), 1, "re-notified after a restart: {firing:?}");
    assert_eq!(firing[0].body["alerts"][0]["startsAt"], started);
}

/// `kill -9` while a notification waits for a receiver that is down: after the restart it
/// is delivered, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_a_queued_notification_delivers_it_once_after_restart() {
    // The receiver fails often enough that the notification is still queued at the kill.
    let receiver = Receiver::start(1_000_000).await;
    let rules = threshold_rule("Queued", "queued_gauge", "0s", "0s");
    let setup = Setup::new(&receiver, &[("queued.yml", &rules)]);
    let mut argus = setup.start();

    set_gauge(&argus, "queued_gauge", 5.0).await;
    eventually(WAIT, || async {
        (!receiver.all().await.is_empty()).then_some(())
    })
    .await;
    argus.kill9();

    let healthy = Receiver::start(0).await;
    // Same receiver name, new URL: the queued notification goes to the receiver's current
    // address, as the configuration says after the restart.
    let config = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace(&receiver.url(), &healthy.url());
    std::fs::write(&setup.config, config).unwrap();
    let _argus = setup.start();
    healthy.wait_delivered("firing", 1, WAIT).await;
    tokio::time::sleep(INTERVAL * 4).await;
    let got = healthy.delivered("firing").await;
    assert_eq!(got.len(), 1, "delivered more than once: {got:?}");
    assert_eq!(got[0].body["alerts"][0]["labels"]["alertname"], "Queued");
}

/// A log-based rule counts ERROR lines and fires without any metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_rule_fires_on_error_lines() {
    let receiver = Receiver::start(0).await;
    let rules = r#"groups:
  - name: logs
    interval: 1s
    rules:
      - alert: MarketErrors
        expr: logs_count("level:ERROR AND service:market", 5m) > 3
        labels:
          severity: ticket
        annotations:
          summary: "{{ $value }} errors in 5 minutes"
"#;
    let setup = Setup::new(&receiver, &[("logs.yml", rules)]);
    let argus = setup.start();

    let lines: String = (0..5)
        .map(|i| {
            format!(
                "{{\"@timestamp\":\"{}\",\"message\":\"payment {i} failed\",\"levelname\":\"ERROR\",\"service\":\"market\"}}\n",
                humantime::format_rfc3339_millis(SystemTime::now())
            )
        })
        .collect();
    let resp = argus
        .client()
        .post(argus.url("/api/v1/logs"))
        .header("Content-Type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let fired = receiver.wait_delivered("firing", 1, WAIT).await;
    let alert = &fired[0].body["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "MarketErrors");
    assert_eq!(alert["annotations"]["summary"], "5 errors in 5 minutes");
}

/// The rules `/api/v1/rules` lists, as `group/rule` names.
async fn rule_names(argus: &Argus) -> Vec<String> {
    let body = argus.get_json("/api/v1/rules").await;
    let mut names = Vec::new();
    for group in body["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            names.push(format!(
                "{}/{}",
                group["name"].as_str().unwrap(),
                rule["name"].as_str().unwrap()
            ));
        }
    }
    names
}

fn write_rules(dir: &Path, name: &str, text: &str) {
    // Written beside and renamed, as editors and config management do, so a reload never
    // reads half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn sighup(argus: &Argus) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &argus.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// SIGHUP with a broken file keeps the old rules running and reports the error; a fixed
/// file is picked up on the next SIGHUP, and `POST /-/reload` answers with the errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_a_broken_file_keeps_the_last_good_rules() {
    let receiver = Receiver::start(0).await;
    let rules = threshold_rule("Old", "old_gauge", "0s", "0s");
    let setup = Setup::new(&receiver, &[("rules.yml", &rules)]);
    let argus = setup.start();
    assert_eq!(rule_names(&argus).await, ["thresholds/Old"]);

    write_rules(
        &setup.rules,
        "rules.yml",
        "groups:\n  - name: broken\n    rules:\n      - alert: New\n        expr: rate(x[5m]\n",
    );
    sighup(&argus);
    eventually(WAIT, || async {
        argus.stderr().contains("rules.yml:5:").then_some(())
    })
    .await;
    assert_eq!(rule_names(&argus).await, ["thresholds/Old"]);
    assert_eq!(
        argus.own_metric("argus_rules_last_reload_successful").await,
        0.0
    );
    let resp = argus
        .client()
        .post(argus.url("/-/reload"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!((400..500).contains(&status), "{status}: {text}");
    assert!(text.contains("rules.yml:5:"), "{text}");

    write_rules(
        &setup.rules,
        "rules.yml",
        &threshold_rule("New", "new_gauge", "0s", "0s"),
    );
    sighup(&argus);
    eventually(WAIT, || async {
        (rule_names(&argus).await == ["thresholds/New"]).then_some(())
    })
    .await;
    assert_eq!(
        argus.own_metric("argus_rules_last_reload_successful").await,
        1.0
    );
}

/// A file written into the rules directory is picked up without a signal, and
/// `POST /-/reload` reloads on demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_files_reload_on_change_and_on_request() {
    let receiver = Receiver::start(0).await;
    let setup = Setup::new(
        &receiver,
        &[("a.yml", &threshold_rule("A", "a_gauge", "0s", "0s"))],
    );
    let argus = setup.start();
    write_rules(
        &setup.rules,
        "b.yaml",
        &threshold_rule("B", "b_gauge", "0s", "0s").replace("thresholds", "more"),
    );
    let started = Instant::now();
    eventually(WAIT, || async {
        (rule_names(&argus).await.len() == 2).then_some(())
    })
    .await;
    eprintln!("file change picked up after {:?}", started.elapsed());

    std::fs::remove_file(setup.rules.join("b.yaml")).unwrap();
    let resp = argus
        .client()
        .post(argus.url("/-/reload"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(rule_names(&argus).await, ["thresholds/A"]);
}

/// `/api/v1/rules` and `/api/v1/alerts` answer in Prometheus' JSON, as Grafana reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_alerts_apis_speak_prometheus_json() {
    let receiver = Receiver::start(0).await;
    let rules = format!(
        "{}  - name: recorded\n    interval: 1s\n    rules:\n      - record: job:api_gauge:sum\n        expr: sum(api_gauge)\n",
        threshold_rule("Api", "api_gauge", "1h", "0s")
    );
    let setup = Setup::new(&receiver, &[("api.yml", &rules)]);
    let argus = setup.start();
    set_gauge(&argus, "api_gauge", 5.0).await;
    let pending = wait_alert_state(&argus, "Api", "pending").await;
    assert_eq!(pending["labels"]["severity"], "page");
    assert_eq!(pending["labels"]["instance"], "web-1");
    assert_eq!(pending["annotations"]["summary"], "api_gauge is 5 on web-1");
    assert_eq!(pending["value"], "5e+00");

    let body = argus.get_json("/api/v1/rules").await;
    let groups = body["data"]["groups"].as_array().unwrap();
    let thresholds = groups.iter().find(|g| g["name"] == "thresholds").unwrap();
    assert!(thresholds["file"].as_str().unwrap().ends_with("api.yml"));
    assert_eq!(thresholds["interval"], 1.0);
    let rule = &thresholds["rules"][0];
    assert_eq!(rule["type"], "alerting");
    assert_eq!(rule["name"], "Api");
    assert_eq!(rule["query"], "api_gauge > 1");
    assert_eq!(rule["duration"], 3600.0);
    assert_eq!(rule["state"], "pending");
    assert_eq!(rule["health"], "ok");
    assert_eq!(rule["alerts"].as_array().unwrap().len(), 1);

    let recorded = groups.iter().find(|g| g["name"] == "recorded").unwrap();
    assert_eq!(recorded["rules"][0]["type"], "recording");
    let (status, text) = argus
        .get_text("/api/v1/query", &[("query", "job:api_gauge:sum")])
        .await;
    assert_eq!(status, 200, "{text}");
    eventually(WAIT, || async {
        let (_, text) = argus
            .get_text("/api/v1/query", &[("query", "job:api_gauge:sum")])
            .await;
        (json(&text)["data"]["result"][0]["value"][1] == "5").then_some(())
    })
    .await;
    let (_, text) = argus
        .get_text("/api/v1/query", &[("query", "ALERTS{alertname=\"Api\"}")])
        .await;
    assert_eq!(
        json(&text)["data"]["result"][0]["metric"]["alertstate"],
        "pending",
        "{text}"
    );
    let (status, text) = argus.get_text("/api/v1/rules", &[("type", "record")]).await;
    assert_eq!(status, 200);
    let only_recorded = json(&text);
    assert!(
        only_recorded["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["rules"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["type"] == "recording")),
        "{text}"
    );
    assert!(argus.own_metric("argus_rule_group_iterations_total").await >= 1.0);
}
