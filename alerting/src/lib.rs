//! Alerting for Argus: Prometheus-compatible rule files, and (to come) their scheduling, alert
//! state, notifications (webhooks) and HTTP API. Depends on `query` (today for Prometheus'
//! duration syntax; for PromQL evaluation once rules are evaluated).
//!
//! What exists today is the rule-file layer: [`load_rule_files`] reads Prometheus rule files
//! (`groups` of alerting and recording rules), refuses unknown keys and validates them the way
//! `promtool check rules` does, reporting every error with its file, line and column.
//!
//! [`Template`] is Go's `text/template` as Prometheus renders alert labels and annotations
//! ([`render_alert_template`]) and Alertmanager renders notifications; rule validation checks
//! every label and annotation template with [`check_alert_template`].
//!
//! The `golden_signals` shorthand (a service and thresholds with units, beside `groups:`) is
//! expanded to ordinary alerting rules inside [`parse_rule_file`], so every consumer sees
//! plain rules; [`expand_golden_signals`] writes the expansion back as a rule file.
//!
//! Next (issue 6): log-based rules (`logs_count(…)`), group
//! evaluation on aligned intervals, alert state (pending → firing → resolved, persisted),
//! notifications with retries, reload (SIGHUP, file change, `POST /-/reload`), the
//! `/api/v1/rules` and `/api/v1/alerts` routes, and `argus check-rules` in the binary.

mod alert;
mod rules;
mod template;

pub use alert::{AlertSink, AlertState, LabelSet, NotifyAlert, fingerprint, fingerprint_hex};

pub use rules::{
    AlertingRule, ErrorKind, RecordingRule, Rule, RuleFile, RuleFileError, RuleGroup,
    expand_golden_signals, format_duration, load_rule_files, parse_duration, parse_rule_file,
};
pub use template::{
    AlertTemplateData, Template, TemplateError, check_alert_template, render_alert_template,
};
