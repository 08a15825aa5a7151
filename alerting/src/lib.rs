//! Alerting for Argus: Prometheus-compatible rule files, and (to come) their scheduling, alert
//! state, notifications (webhooks) and HTTP API. Depends on `query` (today for Prometheus'
//! duration syntax; for PromQL evaluation once rules are evaluated).
//!
//! What exists today is the rule-file layer: [`load_rule_files`] reads Prometheus rule files
//! (`groups` of alerting and recording rules), refuses unknown keys and validates them the way
//! `promtool check rules` does, reporting every error with its file, line and column.
//!
//! Notifications ([`Notifier`], `notify/`): receivers and a routing tree from
//! [`NotifyConfig`], Alertmanager-style grouping, deduplication and silences, webhook bodies
//! (Alertmanager v4, Grafana legacy, Slack), durable delivery with retries
//! (`docs/notifications.md`).
//!
//! Next (issue 6): template rendering (`$labels`, `$value`, `humanize`, …), the
//! `golden_signals` shorthand and its expansion, log-based rules (`logs_count(…)`), group
//! evaluation on aligned intervals, alert state (pending → firing → resolved, persisted),
//! notifications with retries, reload (SIGHUP, file change, `POST /-/reload`), the
//! `/api/v1/rules` and `/api/v1/alerts` routes, and `argus check-rules` in the binary.

mod alert;
mod error;
mod notify;
mod rules;

pub use alert::{AlertSink, AlertState, LabelSet, NotifyAlert, fingerprint, fingerprint_hex};
pub use error::AlertingError;
pub use notify::{
    BodyKind, Notifier, NotifyConfig, ReceiverConfig, RouteConfig, Silence, SilenceMatcher,
    SilenceState, silences_router,
};

pub use rules::{
    AlertingRule, ErrorKind, RecordingRule, Rule, RuleFile, RuleFileError, RuleGroup,
    format_duration, load_rule_files, parse_duration, parse_rule_file,
};
