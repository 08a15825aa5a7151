//! Request bodies of a notification: Alertmanager's webhook payload version 4 (the default, so
//! every existing webhook receiver works), Grafana's legacy alerting webhook, a Slack
//! incoming-webhook message, and a Go template over Alertmanager's template data. All start
//! from the same group data, after `max_alerts`.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use super::config::{BodyKind, Receiver};
use super::route::label_set_string;
use crate::alert::{LabelSet, NotifyAlert, fingerprint, fingerprint_hex};

/// Go's zero `time.Time` in JSON: the `endsAt` of an alert still firing.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// What one notification is about: a group's alerts as one receiver gets them (resolved ones
/// already left out for `send_resolved = false`), sorted by labels.
pub(crate) struct GroupData<'a> {
    pub(crate) receiver: &'a str,
    pub(crate) group_key: &'a str,
    pub(crate) group_labels: &'a LabelSet,
    pub(crate) alerts: Vec<&'a NotifyAlert>,
    pub(crate) external_url: &'a str,
}

/// The body for this receiver.
pub(crate) fn render(receiver: &Receiver, data: &GroupData<'_>) -> Result<String, String> {
    let (alerts, truncated) = truncate(&data.alerts, receiver.max_alerts);
    let view = View::new(data, alerts, truncated);
    let bytes = match receiver.body {
        BodyKind::Alertmanager => serde_json::to_string(&view.webhook_v4()),
        BodyKind::Grafana => serde_json::to_string(&view.grafana()),
        BodyKind::Slack => serde_json::to_string(&view.slack()),
        BodyKind::Template => {
            let template = receiver
                .template
                .as_ref()
                .ok_or_else(|| "body = \"template\" without a parsed template".to_owned())?;
            let vars = [("externalURL", Value::from(data.external_url))];
            return template
                .render(&view.template_data(), &vars)
                .map_err(|e| format!("cannot render the body template: {e}"));
        }
    };
    bytes.map_err(|e| format!("cannot encode the body: {e}"))
}

fn truncate<'a>(alerts: &[&'a NotifyAlert], max: usize) -> (Vec<&'a NotifyAlert>, usize) {
    if max == 0 || alerts.len() <= max {
        (alerts.to_vec(), 0)
    } else {
        (alerts[..max].to_vec(), alerts.len() - max)
    }
}

/// Go's JSON form of a `time.Time` in UTC (RFC 3339, fraction without trailing zeros).
pub(crate) fn go_time(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(ms) => query::format_rfc3339(UNIX_EPOCH + Duration::from_millis(ms)),
        Err(_) => GO_ZERO_TIME.to_owned(),
    }
}

/// The labels (or annotations) every alert has with the same value.
fn common(alerts: &[&NotifyAlert], of: impl Fn(&NotifyAlert) -> &LabelSet) -> LabelSet {
    let Some((first, rest)) = alerts.split_first() else {
        return LabelSet::new();
    };
    of(first)
        .iter()
        .filter(|(name, value)| rest.iter().all(|a| of(a).get(*name) == Some(*value)))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn status_of(alert: &NotifyAlert) -> &'static str {
    if alert.is_resolved() {
        "resolved"
    } else {
        "firing"
    }
}

struct View<'a> {
    data: &'a GroupData<'a>,
    alerts: Vec<&'a NotifyAlert>,
    truncated: usize,
    common_labels: LabelSet,
    common_annotations: LabelSet,
    firing: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookV4<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: Vec<AlertV4<'a>>,
    group_labels: &'a LabelSet,
    common_labels: &'a LabelSet,
    common_annotations: &'a LabelSet,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertV4<'a> {
    status: &'static str,
    labels: &'a LabelSet,
    annotations: &'a LabelSet,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Grafana<'a> {
    title: String,
    rule_id: u64,
    rule_name: String,
    state: &'static str,
    eval_matches: Vec<EvalMatch<'a>>,
    message: String,
    rule_url: &'a str,
    tags: &'a LabelSet,
}

#[derive(Serialize)]
struct EvalMatch<'a> {
    metric: String,
    tags: &'a LabelSet,
    /// `null` for NaN and infinities, which JSON cannot carry.
    value: Option<f64>,
}

#[derive(Serialize)]
struct Slack {
    text: String,
    attachments: Vec<SlackAttachment>,
}

#[derive(Serialize)]
struct SlackAttachment {
    color: &'static str,
    title: String,
    title_link: String,
    text: String,
    fallback: String,
    mrkdwn_in: [&'static str; 1],
}

impl<'a> View<'a> {
    fn new(data: &'a GroupData<'a>, alerts: Vec<&'a NotifyAlert>, truncated: usize) -> Self {
        let firing = alerts.iter().any(|a| !a.is_resolved());
        View {
            common_labels: common(&alerts, |a| &a.labels),
            common_annotations: common(&alerts, |a| &a.annotations),
            data,
            alerts,
            truncated,
            firing,
        }
    }

    fn status(&self) -> &'static str {
        if self.firing { "firing" } else { "resolved" }
    }

    fn webhook_v4(&self) -> WebhookV4<'_> {
        WebhookV4 {
            receiver: self.data.receiver,
            status: self.status(),
            alerts: self
                .alerts
                .iter()
                .map(|alert| AlertV4 {
                    status: status_of(alert),
                    labels: &alert.labels,
                    annotations: &alert.annotations,
                    starts_at: go_time(alert.starts_at_ms),
                    ends_at: alert
                        .ends_at_ms
                        .map_or_else(|| GO_ZERO_TIME.to_owned(), go_time),
                    generator_url: &alert.generator_url,
                    fingerprint: fingerprint_hex(&alert.labels),
                })
                .collect(),
            group_labels: self.data.group_labels,
            common_labels: &self.common_labels,
            common_annotations: &self.common_annotations,
            external_url: self.data.external_url,
            version: "4",
            group_key: self.data.group_key,
            truncated_alerts: self.truncated,
        }
    }

    /// The name a human reads for the group: the common `alertname`, else the group labels.
    fn name(&self) -> String {
        self.common_labels
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| label_set_string(self.data.group_labels))
    }

    /// The common `summary`, else `description`, else `message` annotation; else empty.
    fn message(&self) -> String {
        ["summary", "description", "message"]
            .iter()
            .find_map(|key| self.common_annotations.get(*key))
            .cloned()
            .unwrap_or_default()
    }

    fn link(&self) -> &'a str {
        self.alerts
            .first()
            .map(|a| a.generator_url.as_str())
            .filter(|url| !url.is_empty())
            .unwrap_or(self.data.external_url)
    }

    fn grafana(&self) -> Grafana<'_> {
        let (state, prefix) = if self.firing {
            ("alerting", "[Alerting]")
        } else {
            ("ok", "[OK]")
        };
        let name = self.name();
        Grafana {
            title: format!("{prefix} {name}"),
            // Grafana's rule ids are integers; a stable one per group, within JSON's exact range.
            rule_id: fingerprint(self.data.group_labels) & ((1 << 53) - 1),
            rule_name: name,
            state,
            eval_matches: self
                .alerts
                .iter()
                .filter(|a| !a.is_resolved())
                .map(|alert| EvalMatch {
                    metric: label_set_string(&alert.labels),
                    tags: &alert.labels,
                    value: Some(alert.value).filter(|v| v.is_finite()),
                })
                .collect(),
            message: self.message(),
            rule_url: self.link(),
            tags: &self.common_labels,
        }
    }

    /// Alertmanager's template data (`template.Data`) as JSON, Go's field names; a JSON array
    /// cannot carry Go's `.Alerts.Firing` method, so the lists are `.FiringAlerts` and
    /// `.ResolvedAlerts`. Times are strings in Go's JSON form.
    fn template_data(&self) -> Value {
        let alert = |alert: &&NotifyAlert| {
            json!({
                "Status": status_of(alert),
                "Labels": alert.labels,
                "Annotations": alert.annotations,
                "StartsAt": go_time(alert.starts_at_ms),
                "EndsAt": alert.ends_at_ms.map_or_else(|| GO_ZERO_TIME.to_owned(), go_time),
                "GeneratorURL": alert.generator_url,
                "Fingerprint": fingerprint_hex(&alert.labels),
                "Value": Some(alert.value).filter(|v| v.is_finite()),
            })
        };
        let list = |keep: &dyn Fn(&&&NotifyAlert) -> bool| -> Vec<Value> {
            self.alerts.iter().filter(keep).map(alert).collect()
        };
        json!({
            "Receiver": self.data.receiver,
            "Status": self.status(),
            "Alerts": list(&|_| true),
            "FiringAlerts": list(&|a| !a.is_resolved()),
            "ResolvedAlerts": list(&|a| a.is_resolved()),
            "GroupLabels": self.data.group_labels,
            "CommonLabels": self.common_labels,
            "CommonAnnotations": self.common_annotations,
            "ExternalURL": self.data.external_url,
            "GroupKey": self.data.group_key,
            "TruncatedAlerts": self.truncated,
        })
    }

    fn slack(&self) -> Slack {
        let headline = |status: &str, count: usize| {
            format!("[{}:{count}] {}", status.to_uppercase(), self.name())
        };
        let text = headline(self.status(), self.alerts.len());
        let mut attachments = Vec::new();
        for (resolved, color) in [(false, "danger"), (true, "good")] {
            let alerts: Vec<&&NotifyAlert> = self
                .alerts
                .iter()
                .filter(|a| a.is_resolved() == resolved)
                .collect();
            if alerts.is_empty() {
                continue;
            }
            let status = if resolved { "resolved" } else { "firing" };
            let lines: Vec<String> = alerts
                .iter()
                .map(|alert| {
                    let about = ["summary", "description"]
                        .iter()
                        .find_map(|key| alert.annotations.get(*key))
                        .map_or(String::new(), |text| format!(" {text}"));
                    format!(
                        "*{}*{about}\n`{}`",
                        status_of(alert),
                        label_set_string(&alert.labels)
                    )
                })
                .collect();
            attachments.push(SlackAttachment {
                color,
                title: headline(status, alerts.len()),
                title_link: self.link().to_owned(),
                text: lines.join("\n"),
                fallback: headline(status, alerts.len()),
                mrkdwn_in: ["text"],
            });
        }
        Slack { text, attachments }
    }
}
