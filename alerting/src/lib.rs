//! Alerting for Argus: Prometheus-compatible rule files, their evaluation, alert state,
//! notifications and the HTTP API for them. Depends on `query` (PromQL evaluation,
//! Prometheus' duration and time syntax, the API's error envelope) and `storage` (where rule results are written,
//! what `logs_count` counts).
//!
//! - `rules/`: [`load_rule_files`] reads Prometheus rule files (`groups` of alerting and
//!   recording rules), refuses unknown keys and validates them the way `promtool check rules`
//!   does, reporting every error with its file, line and column; log expressions
//!   (`logs_count("<Lucene>", 5m) > 10`, `alerting/docs/logs-rules.md`) are checked there too.
//!   The `golden_signals` shorthand (a service and thresholds with units, beside `groups:`,
//!   `alerting/docs/golden-signals.md`) is expanded to ordinary alerting rules inside
//!   [`parse_rule_file`], so every consumer sees plain rules; [`expand_golden_signals`]
//!   writes the expansion back as a rule file.
//! - `eval/`: the [`RuleManager`] runs each group on its aligned interval, writes recording
//!   rules' series and `ALERTS`/`ALERTS_FOR_STATE`, keeps alert state (pending → firing →
//!   resolved, persisted across restarts), the transition history, and hands alerts to an
//!   [`AlertSink`]; [`rules_router`] serves `/api/v1/rules`, `/api/v1/alerts` and
//!   `/api/v1/alerts/history`.
//! - `notify/`: the [`Notifier`] takes receivers and a routing tree from [`NotifyConfig`],
//!   groups, deduplicates and silences alerts as Alertmanager does, renders webhook bodies
//!   (Alertmanager v4, Grafana legacy, Slack, a Go template) and delivers them durably with
//!   retries (`docs/notifications.md`); [`silences_router`] serves `/api/v1/silences`.
//!
//! - `template/`: [`Template`] is Go's `text/template` as Prometheus renders alert labels and
//!   annotations ([`render_alert_template`]) and Alertmanager renders notifications; rule
//!   validation checks every label and annotation template with [`check_alert_template`].
//!
//! The crate is cut as `alerting/docs/design.md` says.

mod alert;
mod error;
mod eval;
mod notify;
mod rules;
mod template;
mod testing;

pub use alert::{AlertSink, AlertState, LabelSet, NotifyAlert, fingerprint, fingerprint_hex};
pub use error::AlertingError;
pub use eval::{EvalConfig, EvalDeps, LogCounter, RuleManager, rules_router};
pub use notify::{
    BodyKind, Notifier, NotifyConfig, ReceiverConfig, RouteConfig, Silence, SilenceMatcher,
    SilenceState, silences_router,
};

pub use rules::{
    AlertingRule, ErrorKind, RecordingRule, Rule, RuleFile, RuleFileError, RuleGroup,
    expand_golden_signals, format_duration, load_rule_files, parse_duration, parse_rule_file,
};
pub use template::{
    AlertTemplateData, Template, TemplateError, check_alert_template, render_alert_template,
};
