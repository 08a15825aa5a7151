//! One rule group at run time: its rules' state (health, series written last time, active
//! alerts) and one evaluation of the group, rule after rule, as Prometheus' `Group.Eval`,
//! `RecordingRule.Eval` and `AlertingRule.Eval` do it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use query::promql::{ParsedQuery, QueryOptions, Value};
use serde::{Deserialize, Serialize};
use storage::{Labels, METRIC_NAME, Sample, SeriesSamples, SeriesWriter, stale_nan};

use super::RuleManager;
use super::history::Transition;
use super::render::ParsedTemplate;
use super::state::{RuleKey, StateFile};
use crate::alert::{AlertState, LabelSet, NotifyAlert};
use crate::error::AlertingError;
use crate::rules::logs_expr::{LogsExpr, is_logs_expr, parse_logs_expr};
use crate::rules::{Rule, RuleGroup};
use crate::template::AlertTemplateData;

/// How long a resolved alert is kept and re-sent (Prometheus' `resolvedRetention`).
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

pub(crate) const ALERTS: &str = "ALERTS";
pub(crate) const ALERTS_FOR_STATE: &str = "ALERTS_FOR_STATE";

/// One alert of an alerting rule (Prometheus' `rules.Alert`). Times in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alert {
    pub(crate) labels: LabelSet,
    pub(crate) annotations: LabelSet,
    pub(crate) state: AlertState,
    /// Written as text, so that NaN and infinities survive JSON.
    #[serde(with = "float_text")]
    pub(crate) value: f64,
    pub(crate) active_at_ms: i64,
    #[serde(default)]
    pub(crate) fired_at_ms: Option<i64>,
    #[serde(default)]
    pub(crate) resolved_at_ms: Option<i64>,
    #[serde(default)]
    pub(crate) keep_firing_since_ms: Option<i64>,
}

mod float_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule's expression, parsed once per load.
enum RuleExpr {
    Promql(ParsedQuery),
    Logs(LogsExpr),
    /// The loader accepted it but it does not parse here: every evaluation fails with this.
    Invalid(String),
}

impl RuleExpr {
    fn parse(text: &str) -> RuleExpr {
        let parsed = if is_logs_expr(text) {
            parse_logs_expr(text).map(RuleExpr::Logs)
        } else {
            query::promql::parse(text)
                .map(RuleExpr::Promql)
                .map_err(|e| e.to_string())
        };
        parsed.unwrap_or_else(RuleExpr::Invalid)
    }
}

pub(crate) struct RuleRuntime {
    pub(crate) rule: Rule,
    expr: RuleExpr,
    /// The group's labels overridden by the rule's own.
    pub(crate) labels: LabelSet,
    pub(crate) health: Health,
    pub(crate) last_error: Option<String>,
    pub(crate) last_evaluation_ms: Option<i64>,
    pub(crate) evaluation_seconds: f64,
    /// Series written by the last successful evaluation (Prometheus' `seriesInPreviousEval`),
    /// so that those that disappear get a staleness marker.
    previous_series: HashSet<Labels>,
    /// Alerts by label set; empty for recording rules.
    pub(crate) active: HashMap<LabelSet, Alert>,
    /// `labels` and, for alerting rules, the annotations, parsed as templates once.
    label_templates: Vec<ParsedTemplate>,
    annotation_templates: Vec<ParsedTemplate>,
}

impl RuleRuntime {
    fn new(rule: Rule, group_labels: &BTreeMap<String, String>) -> RuleRuntime {
        let own = match &rule {
            Rule::Alerting(r) => &r.labels,
            Rule::Recording(r) => &r.labels,
        };
        let mut labels = group_labels.clone();
        labels.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        let templates = |texts: &BTreeMap<String, String>| -> Vec<ParsedTemplate> {
            texts
                .iter()
                .map(|(name, text)| ParsedTemplate::new(name, text))
                .collect()
        };
        let (label_templates, annotation_templates) = match &rule {
            Rule::Alerting(r) => (templates(&labels), templates(&r.annotations)),
            Rule::Recording(_) => (Vec::new(), Vec::new()),
        };
        RuleRuntime {
            label_templates,
            annotation_templates,
            expr: RuleExpr::parse(rule.expr()),
            rule,
            labels,
            health: Health::Unknown,
            last_error: None,
            last_evaluation_ms: None,
            evaluation_seconds: 0.0,
            previous_series: HashSet::new(),
            active: HashMap::new(),
        }
    }

    pub(crate) fn key(&self, group: &RuleGroup) -> RuleKey {
        RuleKey {
            file: group.file.clone(),
            group: group.name.clone(),
            rule: self.rule.name().to_owned(),
            expr: self.rule.expr().to_owned(),
            labels: self.labels.clone(),
        }
    }

    /// The rule's state: the most advanced of its alerts' (Prometheus' `AlertingRule.State`).
    pub(crate) fn state(&self) -> AlertState {
        let mut state = AlertState::Inactive;
        for alert in self.active.values() {
            match alert.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => state = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        state
    }

    /// Pending and firing alerts, sorted by labels (resolved ones are kept only for
    /// notification).
    pub(crate) fn active_alerts(&self) -> Vec<&Alert> {
        let mut alerts: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alerts
    }
}

pub(crate) struct GroupRuntime {
    pub(crate) rules: Vec<RuleRuntime>,
    /// Series of rules removed by a reload, to be marked stale at the next evaluation.
    stale_series: Vec<Labels>,
    pub(crate) last_evaluation_ms: Option<i64>,
    pub(crate) evaluation_seconds: f64,
}

pub(crate) struct Group {
    pub(crate) spec: RuleGroup,
    /// `file;name`, the `rule_group` label of the group's metrics.
    pub(crate) key: String,
    pub(crate) interval: Duration,
    pub(crate) query_offset: Duration,
    pub(crate) runtime: Mutex<GroupRuntime>,
    /// Set when a reload replaced or removed the group: it must not evaluate again.
    retired: AtomicBool,
}

/// What one evaluation leaves for the manager to hand on.
pub(crate) struct Evaluated {
    pub(crate) notify: Vec<NotifyAlert>,
    pub(crate) transitions: Vec<Transition>,
}

impl Group {
    pub(crate) fn new(spec: RuleGroup, interval: Duration, query_offset: Duration) -> Group {
        let rules = spec
            .rules
            .iter()
            .map(|rule| RuleRuntime::new(rule.clone(), &spec.labels))
            .collect();
        Group {
            key: format!("{};{}", spec.file.display(), spec.name),
            spec,
            interval,
            query_offset,
            runtime: Mutex::new(GroupRuntime {
                rules,
                stale_series: Vec::new(),
                last_evaluation_ms: None,
                evaluation_seconds: 0.0,
            }),
            retired: AtomicBool::new(false),
        }
    }

    /// Prometheus' `copyState`: rules matched by name, expression and labels, in order,
    /// take the previous rules' alerts, series and health; series of unmatched previous rules
    /// are marked stale at the next evaluation. Retires `previous`.
    pub(crate) fn take_state_from(&self, previous: &Group) {
        let mut old = previous.runtime.lock();
        previous.retired.store(true, Ordering::SeqCst);
        let mut new = self.runtime.lock();
        let mut taken = vec![false; old.rules.len()];
        for rule in &mut new.rules {
            let matched = old.rules.iter().enumerate().position(|(i, o)| {
                !taken[i]
                    && o.rule.name() == rule.rule.name()
                    && o.rule.expr() == rule.rule.expr()
                    && o.labels == rule.labels
            });
            if let Some(i) = matched {
                taken[i] = true;
                let from = &mut old.rules[i];
                rule.previous_series = std::mem::take(&mut from.previous_series);
                rule.active = std::mem::take(&mut from.active);
                rule.health = from.health;
                rule.last_error = from.last_error.take();
                rule.last_evaluation_ms = from.last_evaluation_ms;
                rule.evaluation_seconds = from.evaluation_seconds;
            }
        }
        let mut stale = std::mem::take(&mut old.stale_series);
        for (i, rule) in old.rules.iter_mut().enumerate() {
            if !taken[i] {
                stale.extend(rule.previous_series.drain());
            }
        }
        new.stale_series = stale;
        new.last_evaluation_ms = old.last_evaluation_ms;
        new.evaluation_seconds = old.evaluation_seconds;
    }

    /// Takes the alerts that `state.json` held for this group's rules (after a restart).
    pub(crate) fn restore(&self, state: &StateFile) {
        let mut runtime = self.runtime.lock();
        for rule in &mut runtime.rules {
            if matches!(rule.rule, Rule::Alerting(_)) {
                for alert in state.take(&rule.key(&self.spec)) {
                    rule.active.insert(alert.labels.clone(), alert);
                }
            }
        }
    }

    /// Stops the group for good; returns the series it wrote last, to be marked stale.
    pub(crate) fn retire(&self) -> Vec<Labels> {
        let mut runtime = self.runtime.lock();
        self.retired.store(true, Ordering::SeqCst);
        let mut stale = std::mem::take(&mut runtime.stale_series);
        for rule in &mut runtime.rules {
            stale.extend(rule.previous_series.drain());
        }
        stale
    }

    /// One evaluation (Prometheus' `Group.Eval`); `None` when the group is retired.
    pub(crate) fn evaluate(&self, manager: &RuleManager, slot_ms: i64) -> Option<Evaluated> {
        let started = Instant::now();
        let mut runtime = self.runtime.lock();
        if self.retired.load(Ordering::SeqCst) {
            return None;
        }
        let eval_ms = slot_ms - super::duration_ms(self.query_offset);
        let mut ctx = EvalContext {
            manager,
            group: self,
            slot_ms,
            eval_ms,
            pending_writes: Vec::new(),
            transitions: Vec::new(),
        };
        for rule in &mut runtime.rules {
            // ALERTS of earlier rules are written with the next write or at the end; a rule
            // that reads them gets them written first, as Prometheus commits rule by rule.
            if !ctx.pending_writes.is_empty() && rule.rule.expr().contains(ALERTS) {
                ctx.flush();
            }
            let rule_started = Instant::now();
            let result = ctx.evaluate_rule(rule);
            rule.evaluation_seconds = rule_started.elapsed().as_secs_f64();
            rule.last_evaluation_ms = Some(slot_ms);
            manager.metrics.evaluation(&self.key, result.is_err());
            match result {
                Ok(()) => {
                    rule.health = Health::Ok;
                    rule.last_error = None;
                }
                Err(err) => {
                    tracing::warn!(group = %self.key, rule = rule.rule.name(), error = %err, "rule evaluation failed");
                    rule.health = Health::Err;
                    rule.last_error = Some(err.to_string());
                }
            }
        }
        let stale = std::mem::take(&mut runtime.stale_series);
        ctx.pending_writes.extend(stale_samples(stale, eval_ms));
        ctx.flush();
        let notify = runtime
            .rules
            .iter()
            .filter_map(|rule| match &rule.rule {
                Rule::Alerting(_) => Some(ctx.notifications(rule)),
                Rule::Recording(_) => None,
            })
            .flatten()
            .collect();
        let transitions = std::mem::take(&mut ctx.transitions);
        let elapsed = started.elapsed().as_secs_f64();
        runtime.last_evaluation_ms = Some(slot_ms);
        runtime.evaluation_seconds = elapsed;
        manager.metrics.group_evaluated(&self.key, slot_ms, elapsed);
        Some(Evaluated {
            notify,
            transitions,
        })
    }
}

struct EvalContext<'a> {
    manager: &'a RuleManager,
    group: &'a Group,
    slot_ms: i64,
    /// Slot minus the group's query offset: the time queries run at and samples are written.
    eval_ms: i64,
    /// Alert series (and markers) not yet written.
    pending_writes: Vec<SeriesSamples>,
    transitions: Vec<Transition>,
}

impl EvalContext<'_> {
    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.pending_writes);
        if batch.is_empty() {
            return;
        }
        if let Err(err) = write(self.manager.writer.as_ref(), batch, "ALERTS") {
            tracing::warn!(group = %self.group.key, error = %err, "cannot write alert series");
        }
    }

    fn evaluate_rule(&mut self, rule: &mut RuleRuntime) -> Result<(), AlertingError> {
        let samples = self.query(&rule.expr, rule.rule.expr())?;
        let limit = self.group.spec.limit;
        let written = match &rule.rule {
            Rule::Recording(spec) => {
                let mut out = Vec::with_capacity(samples.len());
                for (mut labels, value) in samples {
                    labels.set(METRIC_NAME, spec.name.clone());
                    for (name, v) in &rule.labels {
                        labels.set(name, v.clone());
                    }
                    out.push((labels, value));
                }
                let distinct: HashSet<&Labels> = out.iter().map(|(l, _)| l).collect();
                if distinct.len() != out.len() {
                    return Err(AlertingError::DuplicateLabelSet { what: "rule" });
                }
                if limit > 0 && out.len() as u64 > limit {
                    return Err(AlertingError::LimitExceeded {
                        limit,
                        count: out.len(),
                        what: "series",
                    });
                }
                out
            }
            Rule::Alerting(_) => self.evaluate_alerts(rule, samples)?,
        };
        let current: HashSet<Labels> = written.iter().map(|(l, _)| l.clone()).collect();
        let mut batch: Vec<SeriesSamples> = written
            .into_iter()
            .map(|(labels, v)| SeriesSamples {
                labels,
                samples: vec![Sample { t: self.eval_ms, v }],
            })
            .collect();
        let gone: Vec<Labels> = rule
            .previous_series
            .iter()
            .filter(|l| !current.contains(*l))
            .cloned()
            .collect();
        batch.extend(stale_samples(gone, self.eval_ms));
        rule.previous_series = current;
        match rule.rule {
            // Recording rules are written before the next rule runs, which may read them.
            Rule::Recording(_) => {
                self.flush();
                write(self.manager.writer.as_ref(), batch, rule.rule.name())
            }
            Rule::Alerting(_) => {
                self.pending_writes.extend(batch);
                Ok(())
            }
        }
    }

    /// The expression's result as samples, a scalar as one sample without labels.
    fn query(&self, expr: &RuleExpr, text: &str) -> Result<Vec<(Labels, f64)>, AlertingError> {
        match expr {
            RuleExpr::Promql(parsed) => {
                let output =
                    self.manager
                        .engine
                        .instant(parsed, self.eval_ms, &QueryOptions::default())?;
                match output.value {
                    Value::Vector(samples) => {
                        Ok(samples.into_iter().map(|s| (s.labels, s.v)).collect())
                    }
                    Value::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
                    Value::String { .. } | Value::Matrix(_) => Err(AlertingError::NotAVector),
                }
            }
            RuleExpr::Logs(logs) => {
                let counter = self
                    .manager
                    .logs
                    .as_deref()
                    .ok_or(AlertingError::NoLogStore)?;
                super::logs::evaluate(counter, logs, self.eval_ms)
            }
            RuleExpr::Invalid(reason) => Err(AlertingError::InvalidExpr {
                expr: text.to_owned(),
                reason: reason.clone(),
            }),
        }
    }

    /// Prometheus' `AlertingRule.Eval`: the state machine, then the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples of every pending or firing alert.
    fn evaluate_alerts(
        &mut self,
        rule: &mut RuleRuntime,
        samples: Vec<(Labels, f64)>,
    ) -> Result<Vec<(Labels, f64)>, AlertingError> {
        let Rule::Alerting(spec) = &rule.rule else {
            return Ok(Vec::new());
        };
        let now = self.slot_ms;
        let config = &self.manager.config;
        let mut results: HashMap<LabelSet, Alert> = HashMap::with_capacity(samples.len());
        for (labels, value) in samples {
            let mut alert_labels: LabelSet = labels
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let data = AlertTemplateData {
                labels: &alert_labels,
                value,
                external_labels: &config.external_labels,
                external_url: &config.external_url,
            };
            let expanded: Vec<(String, String)> = rule
                .label_templates
                .iter()
                .map(|t| (t.name.clone(), t.render(&data)))
                .collect();
            let annotations: LabelSet = rule
                .annotation_templates
                .iter()
                .map(|t| (t.name.clone(), t.render(&data)))
                .collect();
            for (name, value) in expanded {
                if value.is_empty() {
                    alert_labels.remove(&name);
                } else {
                    alert_labels.insert(name, value);
                }
            }
            alert_labels.insert("alertname".to_owned(), spec.name.clone());
            if results.contains_key(&alert_labels) {
                return Err(AlertingError::DuplicateLabelSet { what: "alert" });
            }
            results.insert(
                alert_labels.clone(),
                Alert {
                    labels: alert_labels,
                    annotations,
                    state: AlertState::Pending,
                    value,
                    active_at_ms: now,
                    fired_at_ms: None,
                    resolved_at_ms: None,
                    keep_firing_since_ms: None,
                },
            );
        }
        for (labels, alert) in results.iter() {
            match rule.active.get_mut(labels) {
                Some(known) if known.state != AlertState::Inactive => {
                    known.value = alert.value;
                    known.annotations = alert.annotations.clone();
                }
                _ => {
                    rule.active.insert(labels.clone(), alert.clone());
                    self.transition(spec.name.as_str(), alert, AlertState::Inactive);
                }
            }
        }
        let hold = super::duration_ms(spec.for_);
        let keep_firing_for = super::duration_ms(spec.keep_firing_for);
        let mut out = Vec::new();
        let mut active_count = 0usize;
        let mut transitions = Vec::new();
        rule.active.retain(|labels, alert| {
            if !results.contains_key(labels) {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && keep_firing_for > 0 {
                    let since = *alert.keep_firing_since_ms.get_or_insert(now);
                    keep_firing = now - since < keep_firing_for;
                }
                let drop = alert.state == AlertState::Pending
                    || alert
                        .resolved_at_ms
                        .is_some_and(|at| now - at > RESOLVED_RETENTION_MS);
                if alert.state != AlertState::Inactive && !keep_firing {
                    let from = alert.state;
                    alert.state = AlertState::Inactive;
                    alert.resolved_at_ms = Some(now);
                    transitions.push((alert.clone(), from));
                }
                if !keep_firing {
                    return !drop;
                }
            } else {
                alert.keep_firing_since_ms = None;
            }
            active_count += 1;
            if alert.state == AlertState::Pending && now - alert.active_at_ms >= hold {
                alert.state = AlertState::Firing;
                alert.fired_at_ms = Some(now);
                transitions.push((alert.clone(), AlertState::Pending));
            }
            out.push(alert_series(alert));
            out.push(for_state_series(alert));
            true
        });
        for (alert, from) in transitions {
            self.transition(spec.name.as_str(), &alert, from);
        }
        let limit = self.group.spec.limit;
        if limit > 0 && active_count as u64 > limit {
            rule.active.clear();
            return Err(AlertingError::LimitExceeded {
                limit,
                count: active_count,
                what: "alerts",
            });
        }
        Ok(out)
    }

    fn transition(&mut self, rule: &str, alert: &Alert, from: AlertState) {
        self.transitions.push(Transition {
            time_ms: self.slot_ms,
            group: self.group.spec.name.clone(),
            file: self.group.spec.file.display().to_string(),
            rule: rule.to_owned(),
            labels: alert.labels.clone(),
            from: from.as_str().to_owned(),
            // A pending alert that ends never fired: it goes back to inactive.
            to: match (from, alert.state) {
                (AlertState::Pending, AlertState::Inactive) => "inactive",
                (_, AlertState::Inactive) => "resolved",
                (_, state) => state.as_str(),
            }
            .to_owned(),
            value: alert.value.to_string(),
        });
    }

    /// Firing alerts and those resolved within the retention, as notification gets them.
    fn notifications(&self, rule: &RuleRuntime) -> Vec<NotifyAlert> {
        let config = &self.manager.config;
        rule.active
            .values()
            .filter(|a| {
                a.state == AlertState::Firing
                    || (a.state == AlertState::Inactive && a.fired_at_ms.is_some())
            })
            .map(|alert| {
                let mut labels = config.external_labels.clone();
                labels.extend(alert.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                NotifyAlert {
                    labels,
                    annotations: alert.annotations.clone(),
                    starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
                    ends_at_ms: match alert.state {
                        AlertState::Inactive => alert.resolved_at_ms,
                        _ => None,
                    },
                    generator_url: generator_url(&config.external_url, rule.rule.expr()),
                    value: alert.value,
                }
            })
            .collect()
    }
}

/// `{external_url}/graph?g0.expr=<expr>&g0.tab=1`, as Prometheus links an alert to its rule.
pub(crate) fn generator_url(external_url: &str, expr: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!(
        "{}/graph?g0.expr={encoded}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

fn alert_series(alert: &Alert) -> (Labels, f64) {
    let mut labels = to_labels(&alert.labels);
    labels.set(METRIC_NAME, ALERTS);
    labels.set("alertstate", alert.state.as_str());
    (labels, 1.0)
}

fn for_state_series(alert: &Alert) -> (Labels, f64) {
    let mut labels = to_labels(&alert.labels);
    labels.set(METRIC_NAME, ALERTS_FOR_STATE);
    (labels, alert.active_at_ms as f64 / 1000.0)
}

pub(crate) fn to_labels(set: &LabelSet) -> Labels {
    Labels::from_pairs(set.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn stale_samples(series: Vec<Labels>, t: i64) -> impl Iterator<Item = SeriesSamples> {
    series.into_iter().map(move |labels| SeriesSamples {
        labels,
        samples: vec![Sample { t, v: stale_nan() }],
    })
}

/// Writes staleness markers for `series` at `t`.
pub(crate) fn write_stale(
    writer: &dyn SeriesWriter,
    series: Vec<Labels>,
    t: i64,
) -> Result<(), AlertingError> {
    write(writer, stale_samples(series, t).collect(), "stale markers")
}

fn write(
    writer: &dyn SeriesWriter,
    batch: Vec<SeriesSamples>,
    what: &str,
) -> Result<(), AlertingError> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcome = writer.append(batch)?;
    if outcome.rejected_total() > 0 {
        return Err(AlertingError::WriteRejected {
            rule: what.to_owned(),
            rejected: outcome.rejected_total(),
            detail: outcome.first_rejection.unwrap_or_default(),
        });
    }
    Ok(())
}
