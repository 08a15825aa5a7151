//! From YAML text to validated groups: serde-saphyr with `Spanned` values for positions, then
//! the checks of `promtool check rules`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use storage::{is_valid_label_name, is_valid_metric_name};

use super::duration::parse_duration;
use super::error::{ErrorKind, RuleFileError};
use super::golden::{RawGolden, expand_entry};
use super::logs_expr::{is_logs_expr, parse_logs_expr};
use super::model::{AlertingRule, RecordingRule, Rule, RuleGroup};
use crate::template::check_alert_template;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<Spanned<RawGroup>>,
    /// The shorthand (`golden.rs`), expanded to groups of ordinary alerting rules.
    #[serde(default)]
    golden_signals: Vec<Spanned<RawGolden>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    limit: Option<u64>,
    query_offset: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

/// One struct for both kinds, as in Prometheus, so that a misplaced field gets a precise
/// message ("invalid field 'for' in recording rule") rather than "unknown field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    alert: Option<Spanned<String>>,
    record: Option<Spanned<String>>,
    expr: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

/// Collects the errors of one file.
pub(crate) struct Errors<'a> {
    path: &'a Path,
    pub(crate) errors: Vec<RuleFileError>,
}

impl Errors<'_> {
    pub(crate) fn push(&mut self, at: Location, kind: ErrorKind) {
        self.errors.push(RuleFileError {
            path: self.path.to_path_buf(),
            line: at.line(),
            column: at.column(),
            kind,
        });
    }
}

/// Parses and validates one rule file's text. `path` is only used in errors and in
/// [`RuleGroup::file`].
pub fn parse_rule_file(path: &Path, text: &str) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    let mut errors = Errors {
        path,
        errors: Vec::new(),
    };
    // An empty file (or one with only comments) has no groups, as in Prometheus.
    let raw: RawFile = if is_blank_yaml(text) {
        RawFile {
            groups: Vec::new(),
            golden_signals: Vec::new(),
        }
    } else {
        let options = serde_saphyr::options! { with_snippet: false };
        match serde_saphyr::from_str_with_options(text, options) {
            Ok(raw) => raw,
            Err(err) => {
                let at = err.location().unwrap_or(Location::UNKNOWN);
                let mut message = err.without_snippet().to_string();
                // The position is in the error already; do not repeat it in the message.
                let suffix = format!(" at line {}, column {}", at.line(), at.column());
                if at != Location::UNKNOWN && message.ends_with(&suffix) {
                    message.truncate(message.len() - suffix.len());
                }
                errors.push(at, ErrorKind::Yaml(message));
                return Err(errors.errors);
            }
        }
    };

    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut groups = Vec::with_capacity(raw.groups.len());
    for group in raw.groups {
        let group_at = group.referenced;
        if let Some(group) = validate_group(group.value, group_at, &mut seen, &mut errors) {
            groups.push(RuleGroup {
                file: path.to_path_buf(),
                line: group_at.line(),
                ..group
            });
        }
    }
    for entry in raw.golden_signals {
        let at = entry.referenced;
        if let Some(group) = expand_entry(entry.value, at, &mut errors) {
            if let Some(first_line) = seen.get(&group.name) {
                errors.push(
                    at,
                    ErrorKind::DuplicateGroup {
                        name: group.name.clone(),
                        first_line: *first_line,
                    },
                );
                continue;
            }
            seen.insert(group.name.clone(), at.line());
            groups.push(RuleGroup {
                file: path.to_path_buf(),
                ..group
            });
        }
    }
    if errors.errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors.errors)
    }
}

fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

fn validate_group(
    raw: RawGroup,
    at: Location,
    seen: &mut HashMap<String, u64>,
    errors: &mut Errors<'_>,
) -> Option<RuleGroup> {
    let before = errors.errors.len();
    let name = match raw.name {
        Some(name) if !name.value.is_empty() => {
            if let Some(first_line) = seen.get(&name.value) {
                errors.push(
                    name.referenced,
                    ErrorKind::DuplicateGroup {
                        name: name.value.clone(),
                        first_line: *first_line,
                    },
                );
            } else {
                seen.insert(name.value.clone(), name.referenced.line());
            }
            name.value
        }
        Some(name) => {
            errors.push(name.referenced, ErrorKind::EmptyGroupName);
            String::new()
        }
        None => {
            errors.push(at, ErrorKind::EmptyGroupName);
            String::new()
        }
    };
    let interval = raw.interval.and_then(|d| duration(d, "interval", errors));
    let query_offset = raw
        .query_offset
        .and_then(|d| duration(d, "query_offset", errors));
    // Group labels join every rule's, alerting rules' included, whose labels are templates.
    let labels = labels(raw.labels, "group label", true, errors);
    let rules = raw
        .rules
        .into_iter()
        .filter_map(|rule| validate_rule(rule.value, rule.referenced, errors))
        .collect();
    (errors.errors.len() == before).then_some(RuleGroup {
        name,
        interval,
        limit: raw.limit.unwrap_or(0),
        query_offset,
        labels,
        rules,
        file: Default::default(),
        line: at.line(),
    })
}

fn validate_rule(raw: RawRule, at: Location, errors: &mut Errors<'_>) -> Option<Rule> {
    let before = errors.errors.len();
    // Prometheus treats an empty name like an absent one.
    let alert = raw.alert.filter(|a| !a.value.is_empty());
    let record = raw.record.filter(|r| !r.value.is_empty());
    match (&alert, &record) {
        (None, None) => errors.push(at, ErrorKind::NoAlertOrRecord),
        (Some(_), Some(r)) => errors.push(r.referenced, ErrorKind::BothAlertAndRecord),
        _ => {}
    }
    let expr = match raw.expr.filter(|e| !e.value.trim().is_empty()) {
        None => {
            errors.push(at, ErrorKind::MissingExpr);
            String::new()
        }
        Some(expr) => {
            let checked = if is_logs_expr(&expr.value) {
                parse_logs_expr(&expr.value).map(|_| ())
            } else {
                promql_parser::parser::parse(&expr.value).map(|_| ())
            };
            if let Err(message) = checked {
                errors.push(expr.referenced, ErrorKind::InvalidExpr(message));
            }
            expr.value
        }
    };
    let for_at = raw.for_.as_ref().map(|d| d.referenced);
    let keep_firing_for_at = raw.keep_firing_for.as_ref().map(|d| d.referenced);
    let for_ = raw.for_.and_then(|d| duration(d, "for", errors));
    let keep_firing_for = raw
        .keep_firing_for
        .and_then(|d| duration(d, "keep_firing_for", errors));

    if let Some(record) = &record {
        if !is_valid_metric_name(&record.value) {
            errors.push(
                record.referenced,
                ErrorKind::InvalidRecordName(record.value.clone()),
            );
        }
        if let Some(first) = raw.annotations.values().next() {
            errors.push(
                first.referenced,
                ErrorKind::FieldInRecordingRule("annotations"),
            );
        }
        if let Some(for_at) = for_at {
            errors.push(for_at, ErrorKind::FieldInRecordingRule("for"));
        }
        if let Some(keep_firing_for_at) = keep_firing_for_at {
            errors.push(
                keep_firing_for_at,
                ErrorKind::FieldInRecordingRule("keep_firing_for"),
            );
        }
    }
    // Prometheus renders the labels of alerting rules only; a recording rule's are plain text.
    let labels = labels(raw.labels, "label", alert.is_some(), errors);
    let annotations = annotations(raw.annotations, errors);
    if errors.errors.len() != before {
        return None;
    }
    let line = at.line();
    match (alert, record) {
        (Some(alert), None) => Some(Rule::Alerting(AlertingRule {
            name: alert.value,
            expr,
            for_: for_.unwrap_or(Duration::ZERO),
            keep_firing_for: keep_firing_for.unwrap_or(Duration::ZERO),
            labels,
            annotations,
            line,
        })),
        (None, Some(record)) => Some(Rule::Recording(RecordingRule {
            name: record.value,
            expr,
            labels,
            line,
        })),
        _ => None,
    }
}

/// Parses a duration, recording an error at its position when it is invalid.
pub(crate) fn duration(
    raw: Spanned<String>,
    field: &'static str,
    errors: &mut Errors<'_>,
) -> Option<Duration> {
    match parse_duration(&raw.value) {
        Ok(duration) => Some(duration),
        Err(message) => {
            errors.push(
                raw.referenced,
                ErrorKind::InvalidDuration { field, message },
            );
            None
        }
    }
}

/// Checks annotation names and templates; returns the plain map.
pub(crate) fn annotations(
    raw: BTreeMap<String, Spanned<String>>,
    errors: &mut Errors<'_>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if !is_valid_label_name(&name) {
            errors.push(
                value.referenced,
                ErrorKind::InvalidAnnotationName(name.clone()),
            );
        }
        check_template(&value, &format!("annotation {name:?}"), errors);
        out.insert(name, value.value);
    }
    out
}

fn check_template(value: &Spanned<String>, field: &str, errors: &mut Errors<'_>) {
    if let Err(error) = check_alert_template(&value.value) {
        errors.push(
            value.referenced,
            ErrorKind::InvalidTemplate {
                field: field.to_owned(),
                message: error.to_string(),
            },
        );
    }
}

/// Checks label names and, when `templated`, the templates in label values; returns the plain
/// map.
pub(crate) fn labels(
    raw: BTreeMap<String, Spanned<String>>,
    what: &str,
    templated: bool,
    errors: &mut Errors<'_>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if !is_valid_label_name(&name) || name == "__name__" {
            errors.push(value.referenced, ErrorKind::InvalidLabelName(name.clone()));
        }
        if templated {
            check_template(&value, &format!("{what} {name:?}"), errors);
        }
        out.insert(name, value.value);
    }
    out
}
