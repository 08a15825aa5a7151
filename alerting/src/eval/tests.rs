//! Rule manager tests against a real series store and log store in a temporary directory,
//! time driven through `evaluate_group_at` (and `run` with short intervals for the schedule).
#![cfg(test)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use parking_lot::Mutex;
use query::promql::{Engine, EngineConfig, QueryOptions, Value};
use storage::{
    Labels, LogRecord, LogStore, LogStoreConfig, LogWriter, Sample, SeriesSamples, SeriesStore,
    SeriesStoreConfig, SeriesWriter, is_stale_nan,
};
use tower::ServiceExt;

use super::*;
use crate::alert::{AlertSink, NotifyAlert};
use crate::rules::parse_rule_file;

use crate::testing::TestResult;

/// A sink that keeps every batch it is sent.
#[derive(Default)]
struct RecordingSink(Mutex<Vec<Vec<NotifyAlert>>>);

impl AlertSink for RecordingSink {
    fn send(&self, alerts: Vec<NotifyAlert>) {
        self.0.lock().push(alerts);
    }
}

impl RecordingSink {
    fn take(&self) -> Vec<Vec<NotifyAlert>> {
        std::mem::take(&mut *self.0.lock())
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<SeriesStore>,
    logs: Arc<LogStore>,
    sink: Arc<RecordingSink>,
    /// A base time half an hour ago, on a whole minute.
    t0: i64,
}

impl Fixture {
    fn new() -> TestResult<Fixture> {
        let dir = tempfile::tempdir()?;
        let mut config = SeriesStoreConfig::new(dir.path().join("series"));
        config.retention = None;
        let store = SeriesStore::open(config, &prometheus::Registry::new())?;
        let logs = LogStore::open(
            LogStoreConfig::new(dir.path().join("logs")),
            &prometheus::Registry::new(),
        )?;
        let now = storage::now_ms();
        Ok(Fixture {
            dir,
            store,
            logs,
            sink: Arc::new(RecordingSink::default()),
            t0: now - now % 60_000 - 30 * 60_000,
        })
    }

    fn open(&self, registry: &prometheus::Registry) -> TestResult<Arc<RuleManager>> {
        let config = EvalConfig {
            data_dir: self.dir.path().join("alerting/eval"),
            default_interval: Duration::from_secs(10),
            default_query_offset: Duration::ZERO,
            external_url: "http://argus.example:8080".into(),
            external_labels: LabelSet::from([("cluster".to_owned(), "eu1".to_owned())]),
            engine: EngineConfig::default(),
            history_retention: Duration::from_secs(30 * 24 * 3600),
        };
        Ok(RuleManager::open(
            config,
            EvalDeps {
                source: self.store.clone(),
                writer: self.store.clone(),
                logs: Some(self.logs.clone()),
                sink: self.sink.clone(),
                registry,
            },
        )?)
    }

    fn manager(&self, rules: &str) -> TestResult<Arc<RuleManager>> {
        let manager = self.open(&prometheus::Registry::new())?;
        manager.apply(groups(rules)?);
        Ok(manager)
    }

    /// `temp{host=…}` samples at `t`.
    fn temps(&self, t: i64, values: &[(&str, f64)]) -> TestResult {
        let batch = values
            .iter()
            .map(|(host, v)| SeriesSamples {
                labels: Labels::from_pairs([("__name__", "temp"), ("host", host)]),
                samples: vec![Sample { t, v: *v }],
            })
            .collect();
        let outcome = self.store.append(batch)?;
        assert_eq!(outcome.rejected_total(), 0, "{outcome:?}");
        Ok(())
    }

    /// An instant query's series and values, sorted by labels.
    fn query(&self, expr: &str, t: i64) -> TestResult<Vec<(Labels, f64)>> {
        let engine = Engine::new(self.store.clone(), EngineConfig::default());
        match engine
            .instant_query(expr, t, &QueryOptions::default())?
            .value
        {
            Value::Vector(samples) => Ok(samples.into_iter().map(|s| (s.labels, s.v)).collect()),
            other => panic!("{expr}: not a vector: {other:?}"),
        }
    }
}

fn groups(text: &str) -> TestResult<Vec<RuleGroup>> {
    parse_rule_file(Path::new("rules.yml"), text)
        .map_err(|errors| format!("rule file errors: {errors:?}").into())
}

fn evaluate(manager: &RuleManager, t: i64) {
    for group in manager.groups().iter() {
        manager.evaluate_group_at(group, t);
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn rule_states(manager: &RuleManager) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for group in manager.groups().iter() {
        for rule in &group.runtime.lock().rules {
            out.push((
                rule.rule.name().to_owned(),
                rule.health.as_str().to_owned(),
                rule.last_error.clone(),
            ));
        }
    }
    out
}

fn alert_states(manager: &RuleManager) -> Vec<(LabelSet, AlertState, i64)> {
    let mut out = Vec::new();
    for group in manager.groups().iter() {
        for rule in &group.runtime.lock().rules {
            for alert in rule.active_alerts() {
                out.push((alert.labels.clone(), alert.state, alert.active_at_ms));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

const HOT: &str = r#"
groups:
  - name: temps
    rules:
      - alert: Hot
        expr: temp > 50
        for: 1m
        labels:
          severity: page
        annotations:
          summary: too hot
"#;

use crate::alert::AlertState;

#[test]
fn pending_fires_after_for_then_resolves() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(HOT)?;
    let t0 = fx.t0;
    let hot = LabelSet::from([
        ("alertname".to_owned(), "Hot".to_owned()),
        ("host".to_owned(), "a".to_owned()),
        ("severity".to_owned(), "page".to_owned()),
    ]);

    fx.temps(t0, &[("a", 60.0), ("b", 10.0)])?;
    evaluate(&manager, t0);
    assert_eq!(
        alert_states(&manager),
        [(hot.clone(), AlertState::Pending, t0)]
    );
    assert!(fx.sink.take().is_empty(), "pending alerts are not sent");
    assert_eq!(
        fx.query("ALERTS", t0)?,
        [(
            labels(&[
                ("__name__", "ALERTS"),
                ("alertname", "Hot"),
                ("alertstate", "pending"),
                ("host", "a"),
                ("severity", "page")
            ]),
            1.0
        )]
    );

    fx.temps(t0 + 30_000, &[("a", 70.0)])?;
    evaluate(&manager, t0 + 30_000);
    assert_eq!(alert_states(&manager)[0].1, AlertState::Pending);

    fx.temps(t0 + 60_000, &[("a", 80.0)])?;
    evaluate(&manager, t0 + 60_000);
    assert_eq!(alert_states(&manager)[0].1, AlertState::Firing);
    let sent = fx.sink.take();
    assert_eq!(sent.len(), 1);
    let alert = &sent[0][0];
    assert_eq!(alert.starts_at_ms, t0 + 60_000);
    assert_eq!(alert.ends_at_ms, None);
    assert_eq!(alert.value, 80.0);
    assert_eq!(alert.labels["cluster"], "eu1", "external labels are added");
    assert_eq!(alert.annotations["summary"], "too hot");
    assert_eq!(
        alert.generator_url,
        "http://argus.example:8080/graph?g0.expr=temp+%3E+50&g0.tab=1"
    );
    // The pending series got a staleness marker when the alert moved on.
    let series = fx.query("ALERTS", t0 + 60_000)?;
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].0.get("alertstate"), Some("firing"));
    let for_state = fx.query("ALERTS_FOR_STATE", t0 + 60_000)?;
    assert_eq!(for_state[0].1, (t0 / 1000) as f64);
    let raw = raw_samples(&fx.store, "ALERTS", "pending")?;
    assert!(
        is_stale_nan(raw.last().ok_or("no raw ALERTS sample")?.v),
        "{raw:?}"
    );

    fx.temps(t0 + 90_000, &[("a", 20.0)])?;
    evaluate(&manager, t0 + 90_000);
    assert!(alert_states(&manager).is_empty());
    let sent = fx.sink.take();
    assert_eq!(sent[0][0].ends_at_ms, Some(t0 + 90_000));
    assert_eq!(sent[0][0].starts_at_ms, t0 + 60_000);
    assert!(fx.query("ALERTS", t0 + 90_000)?.is_empty());
    assert!(fx.query("ALERTS_FOR_STATE", t0 + 90_000)?.is_empty());

    // Resolved alerts are re-sent for 15 minutes, then dropped.
    fx.temps(t0 + 120_000, &[("a", 20.0)])?;
    evaluate(&manager, t0 + 120_000);
    assert_eq!(fx.sink.take().len(), 1);
    evaluate(&manager, t0 + 90_000 + 15 * 60_000 + 1_000);
    assert!(fx.sink.take().is_empty());

    let history = manager.history().read(&history::HistoryQuery {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
        alertname: None,
        state: None,
        limit: 100,
    })?;
    let steps: Vec<(i64, &str, &str)> = history
        .iter()
        .map(|t| (t.time_ms - t0, t.from.as_str(), t.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (90_000, "firing", "resolved"),
            (60_000, "pending", "firing"),
            (0, "inactive", "pending"),
        ]
    );
    assert_eq!(history[0].labels, hot);
    // A resolved alert keeps the last value it had while the condition held.
    assert_eq!(history[0].value, "80");
    Ok(())
}

fn raw_samples(store: &SeriesStore, name: &str, alertstate: &str) -> TestResult<Vec<Sample>> {
    let matchers = [
        storage::Matcher::new("__name__", storage::MatchOp::Equal, name)?,
        storage::Matcher::new("alertstate", storage::MatchOp::Equal, alertstate)?,
    ];
    let series = store.select(&matchers, i64::MIN, i64::MAX)?;
    assert_eq!(series.len(), 1);
    Ok(store.samples(series[0].id, i64::MIN, i64::MAX)?)
}

#[test]
fn pending_alert_that_ends_goes_back_to_inactive() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(HOT)?;
    fx.temps(fx.t0, &[("a", 60.0)])?;
    evaluate(&manager, fx.t0);
    fx.temps(fx.t0 + 30_000, &[("a", 10.0)])?;
    evaluate(&manager, fx.t0 + 30_000);
    assert!(alert_states(&manager).is_empty());
    assert!(
        fx.sink.take().is_empty(),
        "an alert that never fired is not sent"
    );
    let history = manager.history().read(&history::HistoryQuery {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
        alertname: Some("Hot".into()),
        state: Some("inactive".into()),
        limit: 10,
    })?;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from, "pending");
    Ok(())
}

#[test]
fn keep_firing_for_suppresses_flaps() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(
        r#"
groups:
  - name: temps
    rules:
      - alert: Hot
        expr: temp > 50
        keep_firing_for: 1m
"#,
    )?;
    let t0 = fx.t0;
    let step = |dt: i64, v: f64| -> TestResult<Option<AlertState>> {
        fx.temps(t0 + dt, &[("a", v)])?;
        evaluate(&manager, t0 + dt);
        let states = alert_states(&manager);
        Ok(states.first().map(|s| s.1))
    };
    assert_eq!(
        step(0, 60.0)?,
        Some(AlertState::Firing),
        "no `for`: fires at once"
    );
    assert_eq!(step(30_000, 10.0)?, Some(AlertState::Firing));
    {
        let groups = manager.groups();
        let runtime = groups[0].runtime.lock();
        let alert = runtime.rules[0].active_alerts()[0].clone();
        assert_eq!(alert.keep_firing_since_ms, Some(t0 + 30_000));
    }
    assert_eq!(
        step(60_000, 60.0)?,
        Some(AlertState::Firing),
        "back: kept, not re-fired"
    );
    assert_eq!(step(90_000, 10.0)?, Some(AlertState::Firing));
    assert_eq!(step(120_000, 10.0)?, Some(AlertState::Firing));
    assert_eq!(
        step(150_000, 10.0)?,
        None,
        "a minute after it stopped holding"
    );
    let sent = fx.sink.take();
    assert!(sent.iter().all(|batch| batch[0].starts_at_ms == t0));
    assert_eq!(
        sent.last().ok_or("nothing sent")?[0].ends_at_ms,
        Some(t0 + 150_000)
    );
    let firing = manager.history().read(&history::HistoryQuery {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
        alertname: None,
        state: Some("firing".into()),
        limit: 10,
    })?;
    assert_eq!(firing.len(), 1, "one firing transition through the flaps");
    Ok(())
}

#[test]
fn recording_rule_feeds_a_later_rule_and_goes_stale() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(
        r#"
groups:
  - name: chain
    labels:
      team: ops
    rules:
      - record: host:temp:hot
        expr: temp > 50
        labels:
          source: rule
      - alert: ManyHot
        expr: count(host:temp:hot) >= 2
"#,
    )?;
    let t0 = fx.t0;
    fx.temps(t0, &[("a", 60.0), ("b", 70.0)])?;
    evaluate(&manager, t0);
    assert_eq!(
        fx.query("host:temp:hot", t0)?,
        [
            (
                labels(&[
                    ("__name__", "host:temp:hot"),
                    ("host", "a"),
                    ("source", "rule"),
                    ("team", "ops")
                ]),
                60.0
            ),
            (
                labels(&[
                    ("__name__", "host:temp:hot"),
                    ("host", "b"),
                    ("source", "rule"),
                    ("team", "ops")
                ]),
                70.0
            ),
        ]
    );
    let states = alert_states(&manager);
    assert_eq!(
        states.len(),
        1,
        "the alert saw the record of the same evaluation"
    );
    assert_eq!(states[0].1, AlertState::Firing);
    assert_eq!(states[0].0["team"], "ops", "group labels apply to alerts");

    fx.temps(t0 + 10_000, &[("a", 60.0), ("b", 10.0)])?;
    evaluate(&manager, t0 + 10_000);
    let hot = fx.query("host:temp:hot", t0 + 10_000)?;
    assert_eq!(
        hot.len(),
        1,
        "b's record is stale, not looked back to: {hot:?}"
    );
    assert_eq!(hot[0].0.get("host"), Some("a"));
    assert!(alert_states(&manager).is_empty());
    Ok(())
}

#[test]
fn state_survives_a_restart() -> TestResult {
    let fx = Fixture::new()?;
    let rules = r#"
groups:
  - name: temps
    rules:
      - alert: SlowHot
        expr: temp > 50
        for: 5m
      - alert: FastHot
        expr: temp > 50
"#;
    let t0 = fx.t0;
    {
        let manager = fx.manager(rules)?;
        fx.temps(t0, &[("a", 60.0)])?;
        evaluate(&manager, t0);
        fx.temps(t0 + 60_000, &[("a", 60.0)])?;
        evaluate(&manager, t0 + 60_000);
        let sent = fx.sink.take();
        assert_eq!(sent.last().ok_or("nothing sent")?[0].starts_at_ms, t0);
    }
    let manager = fx.manager(rules)?;
    let states = alert_states(&manager);
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(
        states.iter().all(|s| s.2 == t0),
        "active-at kept: {states:?}"
    );
    fx.temps(t0 + 300_000, &[("a", 60.0)])?;
    evaluate(&manager, t0 + 300_000);
    let states = alert_states(&manager);
    assert!(
        states.iter().all(|s| s.1 == AlertState::Firing),
        "the pending alert kept its `for` progress: {states:?}"
    );
    let sent = fx.sink.take();
    let fast = sent[0]
        .iter()
        .find(|a| a.labels["alertname"] == "FastHot")
        .ok_or("no FastHot alert sent")?;
    assert_eq!(fast.starts_at_ms, t0, "not announced as new");
    let slow = sent[0]
        .iter()
        .find(|a| a.labels["alertname"] == "SlowHot")
        .ok_or("no SlowHot alert sent")?;
    assert_eq!(slow.starts_at_ms, t0 + 300_000);
    Ok(())
}

#[test]
fn corrupt_state_file_is_set_aside() -> TestResult {
    let fx = Fixture::new()?;
    let dir = fx.dir.path().join("alerting/eval");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("state.json"), b"{not json")?;
    let manager = fx.manager(HOT)?;
    assert!(alert_states(&manager).is_empty());
    let names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(
        names.iter().any(|n| n.starts_with("state.json.corrupt-")),
        "{names:?}"
    );
    Ok(())
}

#[test]
fn apply_keeps_state_of_surviving_rules() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(HOT)?;
    let t0 = fx.t0;
    fx.temps(t0, &[("a", 60.0)])?;
    evaluate(&manager, t0);
    let old_group = manager.groups()[0].clone();

    // Reload: the same rule plus a new group.
    let reloaded = format!(
        "{HOT}  - name: extra\n    rules:\n      - record: temp:max\n        expr: max(temp)\n"
    );
    manager.apply(groups(&reloaded)?);
    assert_eq!(manager.groups().len(), 2);
    // The replaced group object no longer evaluates.
    assert!(old_group.evaluate(&manager, t0 + 10_000).is_none());
    fx.temps(t0 + 60_000, &[("a", 60.0)])?;
    evaluate(&manager, t0 + 60_000);
    assert_eq!(
        alert_states(&manager)[0].1,
        AlertState::Firing,
        "`for` progress survived the reload"
    );

    // A changed expression is a new rule: its state starts over, the old series go stale.
    manager.apply(groups(&HOT.replace("temp > 50", "temp > 55"))?);
    assert!(alert_states(&manager).is_empty());
    fx.temps(t0 + 70_000, &[("a", 60.0)])?;
    evaluate(&manager, t0 + 70_000);
    assert_eq!(alert_states(&manager)[0].1, AlertState::Pending);
    assert_eq!(alert_states(&manager)[0].2, t0 + 70_000);
    // The removed group's record is stale.
    assert!(fx.query("temp:max", storage::now_ms())?.is_empty());
    Ok(())
}

#[test]
fn limits_fail_the_rule_with_prometheus_message() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(
        r#"
groups:
  - name: limited
    limit: 1
    rules:
      - alert: Hot
        expr: temp > 50
      - record: hot
        expr: temp > 50
      - alert: One
        expr: max(temp) > 50
"#,
    )?;
    fx.temps(fx.t0, &[("a", 60.0), ("b", 70.0)])?;
    evaluate(&manager, fx.t0);
    assert_eq!(
        rule_states(&manager),
        [
            (
                "Hot".into(),
                "err".into(),
                Some("exceeded limit of 1 with 2 alerts".into())
            ),
            (
                "hot".into(),
                "err".into(),
                Some("exceeded limit of 1 with 2 series".into())
            ),
            ("One".into(), "ok".into(), None),
        ]
    );
    assert!(fx.query("hot", fx.t0)?.is_empty());
    Ok(())
}

#[test]
fn duplicate_label_sets_after_templating_fail_the_rule() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(
        r#"
groups:
  - name: dup
    rules:
      - record: same
        expr: temp
        labels:
          host: one
"#,
    )?;
    fx.temps(fx.t0, &[("a", 60.0), ("b", 70.0)])?;
    evaluate(&manager, fx.t0);
    assert_eq!(
        rule_states(&manager)[0].2.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    Ok(())
}

fn log_line(t: i64, level: &str, service: &str, message: &str) -> LogRecord {
    LogRecord {
        time_ms: t,
        level: Some(level.into()),
        service: Some(service.into()),
        host: Some("h1".into()),
        message: message.into(),
        trace_id: None,
        span_id: None,
        fingerprint: None,
        fields: Default::default(),
        raw: format!("{{\"message\":\"{message}\"}}"),
    }
}

#[test]
fn logs_count_counts_real_log_lines() -> TestResult {
    let fx = Fixture::new()?;
    let t0 = fx.t0;
    let mut lines = Vec::new();
    for i in 0..12 {
        lines.push(log_line(
            t0 - 60_000 + i * 1000,
            "ERROR",
            "market",
            "order failed",
        ));
    }
    for i in 0..3 {
        lines.push(log_line(t0 - 30_000 + i, "ERROR", "auth", "login failed"));
    }
    for i in 0..5 {
        lines.push(log_line(t0 - 20_000 + i, "INFO", "market", "order ok"));
    }
    // Outside the 5m window.
    lines.push(log_line(t0 - 400_000, "ERROR", "market", "old failure"));
    let mut no_service = log_line(t0 - 1000, "ERROR", "x", "anonymous failure");
    no_service.service = None;
    lines.push(no_service);
    fx.logs.append_logs(lines)?;
    fx.logs.flush()?;

    let counter: &dyn LogCounter = fx.logs.as_ref();
    let mut by_both = counter.count("", t0 - 300_000, t0, &["service".into(), "level".into()])?;
    by_both.sort();
    let set = |pairs: &[(&str, &str)]| -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        by_both,
        [
            (set(&[("level", "ERROR")]), 1),
            (set(&[("level", "ERROR"), ("service", "auth")]), 3),
            (set(&[("level", "ERROR"), ("service", "market")]), 12),
            (set(&[("level", "INFO"), ("service", "market")]), 5),
        ]
    );
    assert_eq!(
        counter.count("level:ERROR", t0 - 300_000, t0, &[])?,
        [(LabelSet::new(), 16)]
    );

    let manager = fx.manager(
        r#"
groups:
  - name: logs
    rules:
      - alert: ManyErrors
        expr: logs_count("level:ERROR", 5m) by (service) > 10
      - record: errors:5m
        expr: logs_count("level:ERROR AND service:auth", 5m)
"#,
    )?;
    evaluate(&manager, t0);
    let states = alert_states(&manager);
    assert_eq!(states.len(), 1, "{:?}", rule_states(&manager));
    assert_eq!(states[0].0["service"], "market");
    assert_eq!(fx.sink.take()[0][0].value, 12.0);
    let recorded = fx.query("errors:5m", t0)?;
    assert_eq!(recorded, [(labels(&[("__name__", "errors:5m")]), 3.0)]);
    Ok(())
}

#[test]
fn logs_count_without_a_log_store_is_a_rule_error() -> TestResult {
    let fx = Fixture::new()?;
    let config = EvalConfig {
        data_dir: fx.dir.path().join("eval"),
        default_interval: Duration::from_secs(10),
        default_query_offset: Duration::ZERO,
        external_url: String::new(),
        external_labels: LabelSet::new(),
        engine: EngineConfig::default(),
        history_retention: Duration::from_secs(3600),
    };
    let manager = RuleManager::open(
        config,
        EvalDeps {
            source: fx.store.clone(),
            writer: fx.store.clone(),
            logs: None,
            sink: fx.sink.clone(),
            registry: &prometheus::Registry::new(),
        },
    )?;
    manager.apply(groups(
        "groups:\n  - name: l\n    rules:\n      - record: e\n        expr: logs_count(\"x\", 1m)\n",
    )?);
    evaluate(&manager, fx.t0);
    assert_eq!(
        rule_states(&manager)[0].2.as_deref(),
        Some("logs_count needs a log store, and this rule manager has none")
    );
    Ok(())
}

async fn get_json(
    manager: &Arc<RuleManager>,
    uri: &str,
) -> TestResult<(StatusCode, serde_json::Value)> {
    let response = rules_router(manager.clone())
        .oneshot(Request::get(uri).body(Body::empty())?)
        .await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    Ok((status, serde_json::from_slice(&body)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_answers_prometheus_json() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(
        r#"
groups:
  - name: temps
    interval: 30s
    rules:
      - record: temp:max
        expr: max(temp)
      - alert: Hot
        expr: temp > 50
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: too hot
"#,
    )?;
    let t0 = fx.t0;
    fx.temps(t0, &[("a", 60.5)])?;
    evaluate(&manager, t0);

    let (status, rules) = get_json(&manager, "/api/v1/rules").await?;
    assert_eq!(status, StatusCode::OK);
    let active_at =
        query::format_rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(t0)?));
    let expected = serde_json::json!({
        "status": "success",
        "data": {"groups": [{
            "name": "temps",
            "file": "rules.yml",
            "interval": 30.0,
            "limit": 0,
            "evaluationTime": rules["data"]["groups"][0]["evaluationTime"],
            "lastEvaluation": active_at,
            "rules": [
                {
                    "name": "temp:max",
                    "query": "max(temp)",
                    "health": "ok",
                    "evaluationTime": rules["data"]["groups"][0]["rules"][0]["evaluationTime"],
                    "lastEvaluation": active_at,
                    "type": "recording"
                },
                {
                    "state": "firing",
                    "name": "Hot",
                    "query": "temp > 50",
                    "duration": 0.0,
                    "keepFiringFor": 300.0,
                    "labels": {"severity": "page"},
                    "annotations": {"summary": "too hot"},
                    "alerts": [{
                        "labels": {"alertname": "Hot", "host": "a", "severity": "page"},
                        "annotations": {"summary": "too hot"},
                        "state": "firing",
                        "activeAt": active_at,
                        "value": "6.05e+01"
                    }],
                    "health": "ok",
                    "evaluationTime": rules["data"]["groups"][0]["rules"][1]["evaluationTime"],
                    "lastEvaluation": active_at,
                    "type": "alerting"
                }
            ]
        }]}
    });
    assert_eq!(rules, expected);
    assert!(rules["data"]["groups"][0]["evaluationTime"].is_f64());

    let (_, only_alerts) =
        get_json(&manager, "/api/v1/rules?type=alert&exclude_alerts=true").await?;
    let only = &only_alerts["data"]["groups"][0]["rules"];
    assert_eq!(only.as_array().ok_or("not a JSON array")?.len(), 1);
    assert!(only[0].get("alerts").is_none());
    let (_, none) = get_json(&manager, "/api/v1/rules?rule_name[]=Nope").await?;
    assert_eq!(none["data"]["groups"], serde_json::json!([]));
    let (_, by_group) = get_json(
        &manager,
        "/api/v1/rules?rule_group[]=temps&file[]=rules.yml",
    )
    .await?;
    assert_eq!(
        by_group["data"]["groups"][0]["rules"]
            .as_array()
            .ok_or("not a JSON array")?
            .len(),
        2
    );

    let (status, alerts) = get_json(&manager, "/api/v1/alerts").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alerts,
        serde_json::json!({"status": "success", "data": {"alerts": [{
            "labels": {"alertname": "Hot", "host": "a", "severity": "page"},
            "annotations": {"summary": "too hot"},
            "state": "firing",
            "activeAt": active_at,
            "value": "6.05e+01"
        }]}})
    );

    // keepFiringSince appears once the condition stops holding.
    fx.temps(t0 + 30_000, &[("a", 10.0)])?;
    evaluate(&manager, t0 + 30_000);
    let (_, alerts) = get_json(&manager, "/api/v1/alerts").await?;
    assert!(alerts["data"]["alerts"][0]["keepFiringSince"].is_string());

    let (status, history) = get_json(
        &manager,
        &format!(
            "/api/v1/alerts/history?alertname=Hot&state=firing&start={}&end={}",
            t0 / 1000,
            t0 / 1000 + 60
        ),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let entries = history["data"]["entries"]
        .as_array()
        .ok_or("not a JSON array")?;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["from"], "pending");
    assert_eq!(entries[0]["to"], "firing");
    assert_eq!(entries[0]["time"], active_at);
    assert_eq!(entries[0]["value"], "60.5");
    let (_, all) = get_json(&manager, "/api/v1/alerts/history?limit=1").await?;
    assert_eq!(
        all["data"]["entries"]
            .as_array()
            .ok_or("not a JSON array")?
            .len(),
        1
    );

    let (status, error) = get_json(&manager, "/api/v1/rules?type=nope").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["status"], "error");
    assert_eq!(error["errorType"], "bad_data");
    assert!(
        error["error"]
            .as_str()
            .ok_or("not a JSON string")?
            .contains("\"nope\"")
    );
    let (status, error) = get_json(&manager, "/api/v1/alerts/history?start=yesterday").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]
            .as_str()
            .ok_or("not a JSON string")?
            .contains("start")
    );
    let (status, _) = get_json(&manager, "/api/v1/alerts/history?limit=0").await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    Ok(())
}

#[test]
fn schedule_slots_are_aligned_to_the_offset() {
    let interval = 10_000;
    let offset = schedule_offset(Path::new("a.yml"), "g", interval);
    assert_eq!(offset, schedule_offset(Path::new("a.yml"), "g", interval));
    assert!((0..interval).contains(&offset));
    for now in [0, 1, 9_999, 10_000, 1_700_000_000_123] {
        let slot = next_slot(now, interval, offset);
        assert!(slot >= now && slot - now < interval, "{now} → {slot}");
        assert_eq!(slot.rem_euclid(interval), offset);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_evaluates_on_aligned_slots_and_stops() -> TestResult {
    let fx = Fixture::new()?;
    let registry = prometheus::Registry::new();
    let manager = fx.open(&registry)?;
    manager.apply(groups(
        "groups:\n  - name: fast\n    interval: 200ms\n    rules:\n      - record: one\n        expr: vector(1)\n",
    )?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(manager.clone().run(async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let _ = stop_tx.send(());
    task.await?;

    let group = manager.groups()[0].clone();
    let last = group
        .runtime
        .lock()
        .last_evaluation_ms
        .ok_or("group never evaluated")?;
    let offset = schedule_offset(Path::new("rules.yml"), "fast", 200);
    assert_eq!(last.rem_euclid(200), offset);
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather())?;
    let iterations = metric(
        &text,
        "argus_rule_group_iterations_total{rule_group=\"rules.yml;fast\"}",
    );
    assert!((4.0..=6.0).contains(&iterations), "{iterations}\n{text}");
    assert_eq!(
        metric(
            &text,
            "argus_rule_evaluations_total{rule_group=\"rules.yml;fast\"}"
        ),
        iterations
    );
    assert_eq!(
        metric(
            &text,
            "argus_rule_group_interval_seconds{rule_group=\"rules.yml;fast\"}"
        ),
        0.2
    );
    let recorded = fx.query("one", last)?;
    assert_eq!(recorded.len(), 1);

    // After stop nothing evaluates any more.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(group.runtime.lock().last_evaluation_ms, Some(last));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_picks_up_applied_groups() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.open(&prometheus::Registry::new())?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(manager.clone().run(async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    manager.apply(groups(
        "groups:\n  - name: late\n    interval: 100ms\n    rules:\n      - record: two\n        expr: vector(2)\n",
    )?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(());
    task.await?;
    assert!(
        manager.groups()[0]
            .runtime
            .lock()
            .last_evaluation_ms
            .is_some()
    );
    Ok(())
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in\n{text}"))
}

#[test]
fn history_drops_entries_beyond_retention_and_skips_a_torn_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let now = storage::now_ms();
    let entry = |time_ms: i64| history::Transition {
        time_ms,
        group: "g".into(),
        file: "rules.yml".into(),
        rule: "Hot".into(),
        labels: LabelSet::from([("alertname".to_owned(), "Hot".to_owned())]),
        from: "pending".into(),
        to: "firing".into(),
        value: "NaN".into(),
    };
    let all = history::HistoryQuery {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
        alertname: None,
        state: None,
        limit: 10,
    };
    {
        let history = History::open(dir.path(), Duration::from_secs(3600))?;
        history.append(&[entry(now - 2 * 3600 * 1000), entry(now - 600_000)])?;
        assert_eq!(history.read(&all)?.len(), 2);
    }
    // A crash in the middle of an append leaves a partial line.
    let path = dir.path().join("history.jsonl");
    let mut text = std::fs::read(&path)?;
    text.extend_from_slice(b"{\"time_ms\":12");
    std::fs::write(&path, text)?;
    let history = History::open(dir.path(), Duration::from_secs(3600))?;
    assert_eq!(history.read(&all)?, [entry(now - 600_000)]);
    history.append(&[entry(now)])?;
    assert_eq!(
        history.read(&all)?,
        [entry(now), entry(now - 600_000)],
        "the entry after the torn line is whole"
    );
    drop(history);
    // Without anything to prune, a torn line is kept but ended before the next append.
    std::fs::write(&path, b"{\"time_ms\":12")?;
    let history = History::open(dir.path(), Duration::from_secs(3600 * 24 * 365 * 100))?;
    history.append(&[entry(now)])?;
    assert_eq!(history.read(&all)?, [entry(now)]);
    Ok(())
}

#[test]
fn templates_render_per_alert_and_duplicates_fail() -> TestResult {
    let fx = Fixture::new()?;
    let manager = fx.manager(
        r#"
groups:
  - name: tmpl
    rules:
      - alert: Hot
        expr: temp > 50
        labels:
          where: "{{ $labels.host }}-{{ $externalLabels.cluster }}"
        annotations:
          summary: "{{ $labels.host }} at {{ $value }} ({{ $externalURL }})"
      - alert: Merged
        expr: temp > 50
        labels:
          host: everywhere
"#,
    )?;
    fx.temps(fx.t0, &[("a", 60.0), ("b", 70.5)])?;
    evaluate(&manager, fx.t0);
    let sent = fx.sink.take();
    let mut hot: Vec<(String, String)> = sent[0]
        .iter()
        .map(|a| (a.labels["where"].clone(), a.annotations["summary"].clone()))
        .collect();
    hot.sort();
    assert_eq!(
        hot,
        [
            (
                "a-eu1".to_owned(),
                "a at 60 (http://argus.example:8080)".to_owned()
            ),
            (
                "b-eu1".to_owned(),
                "b at 70.5 (http://argus.example:8080)".to_owned()
            ),
        ]
    );
    assert_eq!(
        rule_states(&manager)[1].2.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
    Ok(())
}
