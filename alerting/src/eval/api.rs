//! `/api/v1/rules`, `/api/v1/alerts` (Prometheus' JSON, `web/api/v1/api.go`) and
//! `/api/v1/alerts/history`. Errors use query's Prometheus envelope ([`QueryError`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use query::QueryError;
use serde::Serialize;

use super::RuleManager;
use super::group::{Alert, RuleRuntime};
use super::history::{HistoryQuery, Transition};
use crate::alert::LabelSet;
use crate::rules::Rule;

const DEFAULT_HISTORY_LIMIT: usize = 1000;

/// The routes of the rule manager, for the binary to merge:
///
/// - `GET /api/v1/rules`: `type` (`alert` or `record`), `rule_name[]`, `rule_group[]`,
///   `file[]`, `exclude_alerts`
/// - `GET /api/v1/alerts`: every pending and firing alert
/// - `GET /api/v1/alerts/history`: `start`, `end` (RFC 3339 or Unix seconds), `alertname`,
///   `state` (the state entered: `pending`, `firing`, `resolved`, `inactive`), `limit`
///   (default 1000); newest first
pub fn rules_router(manager: Arc<RuleManager>) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/history", get(history))
        .with_state(manager)
}

#[derive(Serialize)]
struct Success<T> {
    status: &'static str,
    data: T,
}

fn success<T: Serialize>(data: T) -> Response {
    Json(Success {
        status: "success",
        data,
    })
    .into_response()
}

/// The query string's pairs, decoded.
fn params(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn all<'a>(params: &'a [(String, String)], name: &str) -> HashSet<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn one<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// Runs `build` on a blocking thread: it locks groups that may be evaluating.
async fn blocking<T: Send + 'static>(
    build: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, QueryError> {
    tokio::task::spawn_blocking(build)
        .await
        .map_err(|e| QueryError::Internal(e.to_string()))?
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiAlert {
    labels: LabelSet,
    annotations: LabelSet,
    state: &'static str,
    active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

impl From<&Alert> for ApiAlert {
    fn from(alert: &Alert) -> ApiAlert {
        ApiAlert {
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            state: alert.state.as_str(),
            active_at: go_time(Some(alert.active_at_ms)),
            keep_firing_since: alert.keep_firing_since_ms.map(|t| go_time(Some(t))),
            value: query::go_float_e(alert.value),
        }
    }
}

/// Go's JSON for a `time.Time`; the zero time when there is none.
fn go_time(ms: Option<i64>) -> String {
    match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => query::format_rfc3339(UNIX_EPOCH + Duration::from_millis(ms)),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    name: String,
    file: String,
    rules: Vec<ApiRule>,
    interval: f64,
    limit: u64,
    evaluation_time: f64,
    last_evaluation: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ApiRule {
    Alerting(ApiAlertingRule),
    Recording(ApiRecordingRule),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiAlertingRule {
    state: &'static str,
    name: String,
    query: String,
    duration: f64,
    keep_firing_for: f64,
    labels: LabelSet,
    annotations: LabelSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<ApiAlert>>,
    health: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    evaluation_time: f64,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiRecordingRule {
    name: String,
    query: String,
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    labels: LabelSet,
    health: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    evaluation_time: f64,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

fn api_rule(rule: &RuleRuntime, with_alerts: bool) -> ApiRule {
    match &rule.rule {
        Rule::Alerting(spec) => ApiRule::Alerting(ApiAlertingRule {
            state: rule.state().as_str(),
            name: spec.name.clone(),
            query: spec.expr.clone(),
            duration: spec.for_.as_secs_f64(),
            keep_firing_for: spec.keep_firing_for.as_secs_f64(),
            labels: rule.labels.clone(),
            annotations: spec.annotations.clone(),
            alerts: with_alerts.then(|| {
                rule.active_alerts()
                    .into_iter()
                    .map(ApiAlert::from)
                    .collect()
            }),
            health: rule.health.as_str(),
            last_error: rule.last_error.clone(),
            evaluation_time: rule.evaluation_seconds,
            last_evaluation: go_time(rule.last_evaluation_ms),
            kind: "alerting",
        }),
        Rule::Recording(spec) => ApiRule::Recording(ApiRecordingRule {
            name: spec.name.clone(),
            query: spec.expr.clone(),
            labels: rule.labels.clone(),
            health: rule.health.as_str(),
            last_error: rule.last_error.clone(),
            evaluation_time: rule.evaluation_seconds,
            last_evaluation: go_time(rule.last_evaluation_ms),
            kind: "recording",
        }),
    }
}

async fn rules(State(manager): State<Arc<RuleManager>>, RawQuery(query): RawQuery) -> Response {
    let params = params(query);
    let built = blocking(move || {
        let kind = one(&params, "type");
        let (alerting, recording) = match kind {
            None => (true, true),
            Some("alert") => (true, false),
            Some("record") => (false, true),
            Some(other) => {
                return Err(QueryError::InvalidParam {
                    param: "type",
                    reason: format!("not supported value {other:?}"),
                });
            }
        };
        let exclude_alerts = match one(&params, "exclude_alerts") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(QueryError::InvalidParam {
                    param: "exclude_alerts",
                    reason: format!("cannot parse {other:?} as a boolean"),
                });
            }
        };
        let names = all(&params, "rule_name[]");
        let groups_wanted = all(&params, "rule_group[]");
        let files = all(&params, "file[]");
        let mut out = Vec::new();
        for group in manager.groups().iter() {
            let file = group.spec.file.display().to_string();
            if (!groups_wanted.is_empty() && !groups_wanted.contains(group.spec.name.as_str()))
                || (!files.is_empty() && !files.contains(file.as_str()))
            {
                continue;
            }
            let runtime = group.runtime.lock();
            let rules: Vec<ApiRule> = runtime
                .rules
                .iter()
                .filter(|r| match r.rule {
                    Rule::Alerting(_) => alerting,
                    Rule::Recording(_) => recording,
                })
                .filter(|r| names.is_empty() || names.contains(r.rule.name()))
                .map(|r| api_rule(r, !exclude_alerts))
                .collect();
            // As Prometheus: a group whose rules were all filtered out is left out.
            if rules.is_empty() {
                continue;
            }
            out.push(ApiGroup {
                name: group.spec.name.clone(),
                file,
                rules,
                interval: group.interval.as_secs_f64(),
                limit: group.spec.limit,
                evaluation_time: runtime.evaluation_seconds,
                last_evaluation: go_time(runtime.last_evaluation_ms),
            });
        }
        Ok(out)
    })
    .await;
    #[derive(Serialize)]
    struct Groups {
        groups: Vec<ApiGroup>,
    }
    match built {
        Ok(groups) => success(Groups { groups }),
        Err(err) => err.into_response(),
    }
}

async fn alerts(State(manager): State<Arc<RuleManager>>) -> Response {
    let built = blocking(move || {
        let mut out = Vec::new();
        for group in manager.groups().iter() {
            let runtime = group.runtime.lock();
            for rule in &runtime.rules {
                out.extend(rule.active_alerts().into_iter().map(ApiAlert::from));
            }
        }
        Ok(out)
    })
    .await;
    #[derive(Serialize)]
    struct Alerts {
        alerts: Vec<ApiAlert>,
    }
    match built {
        Ok(alerts) => success(Alerts { alerts }),
        Err(err) => err.into_response(),
    }
}

#[derive(Serialize)]
struct ApiTransition {
    time: String,
    group: String,
    file: String,
    rule: String,
    labels: LabelSet,
    from: String,
    to: String,
    value: String,
}

impl From<Transition> for ApiTransition {
    fn from(t: Transition) -> ApiTransition {
        ApiTransition {
            time: go_time(Some(t.time_ms)),
            group: t.group,
            file: t.file,
            rule: t.rule,
            labels: t.labels,
            from: t.from,
            to: t.to,
            value: t.value,
        }
    }
}

fn time_param(
    params: &[(String, String)],
    name: &'static str,
    default: i64,
) -> Result<i64, QueryError> {
    match one(params, name) {
        None => Ok(default),
        Some(text) => {
            query::parse_prometheus_time(text).map_err(|reason| QueryError::InvalidParam {
                param: name,
                reason,
            })
        }
    }
}

async fn history(State(manager): State<Arc<RuleManager>>, RawQuery(query): RawQuery) -> Response {
    let params = params(query);
    let built = blocking(move || {
        let start_ms = time_param(&params, "start", i64::MIN)?;
        let end_ms = time_param(&params, "end", i64::MAX)?;
        if end_ms < start_ms {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let limit = match one(&params, "limit") {
            None => DEFAULT_HISTORY_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| QueryError::InvalidParam {
                    param: "limit",
                    reason: format!("{text:?} is not a positive integer"),
                })?,
        };
        let state = one(&params, "state").map(str::to_owned);
        if let Some(state) = &state
            && !["pending", "firing", "resolved", "inactive"].contains(&state.as_str())
        {
            return Err(QueryError::InvalidParam {
                param: "state",
                reason: format!("{state:?} is not one of pending, firing, resolved, inactive"),
            });
        }
        let query = HistoryQuery {
            start_ms,
            end_ms,
            alertname: one(&params, "alertname").map(str::to_owned),
            state,
            limit,
        };
        manager
            .history()
            .read(&query)
            .map_err(|e| QueryError::Internal(e.to_string()))
    })
    .await;
    #[derive(Serialize)]
    struct Entries {
        entries: Vec<ApiTransition>,
    }
    match built {
        Ok(entries) => success(Entries {
            entries: entries.into_iter().map(ApiTransition::from).collect(),
        }),
        Err(err) => err.into_response(),
    }
}
