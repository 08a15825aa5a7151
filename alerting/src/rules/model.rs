//! The validated rule-file model. Serializes back to Prometheus' rule-file YAML.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::duration::format_duration;

/// A rule file as Prometheus writes one: `groups:` at the top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together, in order, on one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleGroup {
    pub name: String,
    /// `None`: the global evaluation interval.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_duration"
    )]
    pub interval: Option<Duration>,
    /// Maximum number of alerts or series a rule may produce; 0 means no limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
    /// `None`: the global query offset.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_duration"
    )]
    pub query_offset: Option<Duration>,
    /// Added to every rule's result, rule labels taking precedence.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
    /// The file the group came from.
    #[serde(skip)]
    pub file: PathBuf,
    /// The line of the group in its file.
    #[serde(skip)]
    pub line: u64,
}

/// An alerting or a recording rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

impl Rule {
    /// The alert name or the recorded metric name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Alerting(rule) => &rule.name,
            Rule::Recording(rule) => &rule.name,
        }
    }

    /// The PromQL expression, already checked to parse.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Alerting(rule) => &rule.expr,
            Rule::Recording(rule) => &rule.expr,
        }
    }

    /// The line of the rule in its file.
    pub fn line(&self) -> u64 {
        match self {
            Rule::Alerting(rule) => rule.line,
            Rule::Recording(rule) => rule.line,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertingRule {
    #[serde(rename = "alert")]
    pub name: String,
    pub expr: String,
    /// How long the condition must hold before the alert fires (pending until then).
    #[serde(
        rename = "for",
        skip_serializing_if = "Duration::is_zero",
        serialize_with = "serialize_duration"
    )]
    pub for_: Duration,
    /// How long the alert keeps firing after the condition stops holding.
    #[serde(
        skip_serializing_if = "Duration::is_zero",
        serialize_with = "serialize_duration"
    )]
    pub keep_firing_for: Duration,
    /// Label values may hold templates (checked to parse when the file is loaded).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip)]
    pub line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingRule {
    #[serde(rename = "record")]
    pub name: String,
    pub expr: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip)]
    pub line: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn serialize_duration<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*value))
}

fn serialize_opt_duration<S: Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serialize_duration(duration, serializer),
        None => serializer.serialize_none(),
    }
}
