//! statsd_exporter mapping files, read unchanged, and the name escaping statsd_exporter applies.
//!
//! Semantics follow statsd_exporter's `pkg/mapper` (mapper.go, mapping.go, fsm/, escape.go):
//! - glob rules are tried before regex rules, whatever their order in the file; among glob rules
//!   the first in file order wins (`defaults.glob_disable_ordering: true`: the most specific
//!   wins, a literal component beating `*` from left to right); `*` matches exactly one
//!   dot-separated component (possibly empty), never a dot;
//! - regex rules are tried in file order, unanchored (`regexp.Compile` + `FindStringSubmatch`);
//!   `$1`, `${1}`, `$name`, `$0` expand as Go's `Regexp.Expand`;
//! - glob templates expand `$N`/`${N}` (and `$0`, the whole name) like `fsm/formatter.go`: a
//!   reference that is not a capture index expands to nothing, so `$1_total` is empty and
//!   `${1}_total` is what you want;
//! - the mapped name, and an unmapped name, go through [`escape_metric_name`];
//! - unknown keys are ignored (statsd_exporter uses the non-strict `yaml.Unmarshal`); wrong
//!   types, unknown enum values, invalid names, labels, globs and regexes reject the file.
//!
//! One deliberate difference: an observer (`ms`, `h`, `d`) without an `observer_type` (nor
//! `timer_type`, in the mapping or in `defaults`) becomes a histogram, not a summary, because
//! Argus keeps distributions mergeable. A mapping that configures only `quantiles` or
//! `summary_options` still gets a summary, so files written for statsd_exporter's default keep
//! their quantiles.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::parser::MetricClass;
use crate::IngestError;

/// Prometheus client_golang's `DefBuckets`, statsd_exporter's default histogram buckets.
pub(crate) const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// statsd_exporter's default summary objectives.
pub(crate) const DEFAULT_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];
/// client_golang's `DefMaxAge` and `DefAgeBuckets`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
const DEFAULT_AGE_BUCKETS: u32 = 5;

/// How timers, histograms and distributions are exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObserverType {
    Histogram,
    Summary,
}

/// What a matched (or unmatched) name needs from its mapping to build and feed a series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesOptions {
    pub(crate) observer: ObserverType,
    /// Upper bounds, strictly increasing, without `+Inf` (always added).
    pub(crate) buckets: Arc<[f64]>,
    pub(crate) quantiles: Arc<[f64]>,
    pub(crate) max_age: Duration,
    pub(crate) age_buckets: u32,
    /// Idle series expire after this long; `None` never.
    pub(crate) ttl: Option<Duration>,
    /// statsd_exporter's `scale`: every value is multiplied by it.
    pub(crate) scale: Option<f64>,
    /// statsd_exporter's `honor_labels`: tags win over mapping labels.
    pub(crate) honor_labels: bool,
    /// The mapping's `help`, the metric family's help text; `None`: the generic one.
    pub(crate) help: Option<Arc<str>>,
}

impl SeriesOptions {
    /// The options of a name no mapping matches, and of the built-in defaults.
    pub(crate) fn builtin() -> Self {
        SeriesOptions {
            observer: ObserverType::Histogram,
            buckets: Arc::from(&DEFAULT_BUCKETS[..]),
            quantiles: Arc::from(&DEFAULT_QUANTILES[..]),
            max_age: DEFAULT_MAX_AGE,
            age_buckets: DEFAULT_AGE_BUCKETS,
            ttl: None,
            scale: None,
            honor_labels: false,
            help: None,
        }
    }
}

/// The result of looking a StatsD name up in the mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// A rule with `action: drop` matched.
    Drop,
    /// A rule matched: its expanded name (not yet escaped) and labels.
    Mapped {
        name: String,
        labels: Vec<(String, String)>,
        opts: Arc<SeriesOptions>,
    },
    /// No rule matched: the StatsD name is escaped into the metric name.
    Unmapped { opts: Arc<SeriesOptions> },
}

/// A compiled statsd_exporter mapping file.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    rules: Vec<Rule>,
    defaults: Arc<SeriesOptions>,
    glob_disable_ordering: bool,
    has_glob: bool,
    has_regex: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: Matcher,
    class: Option<MetricClass>,
    drop: bool,
    opts: Arc<SeriesOptions>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Glob {
        parts: Vec<GlobPart>,
        name: Template,
        labels: Vec<(String, Template)>,
    },
    Regex {
        re: Regex,
        name: String,
        labels: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum GlobPart {
    Literal(String),
    Star,
}

impl MappingConfig {
    /// Parses and validates a statsd_exporter mapping file's text.
    pub fn from_yaml(text: &str) -> Result<Self, IngestError> {
        Self::compile(text).map_err(|detail| IngestError::Mapping {
            path: "<inline>".to_string(),
            detail,
        })
    }

    /// Reads, parses and validates a statsd_exporter mapping file.
    pub fn load(path: &Path) -> Result<Self, IngestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| IngestError::Mapping {
            path: shown.clone(),
            detail: format!("cannot read: {e}"),
        })?;
        Self::compile(&text).map_err(|detail| IngestError::Mapping {
            path: shown,
            detail,
        })
    }

    /// Number of mapping rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The options for names no rule matches.
    pub(crate) fn defaults(&self) -> &Arc<SeriesOptions> {
        &self.defaults
    }

    fn compile(text: &str) -> Result<Self, String> {
        let raw = parse_yaml(text)?;
        let defaults = raw.defaults.unwrap_or_default();

        // defaults: observer_type, falling back on the deprecated timer_type
        let default_observer = match defaults.observer_type.as_deref() {
            Some(s) => Some(parse_observer_type(s)?),
            None => defaults
                .timer_type
                .as_deref()
                .map(parse_observer_type)
                .transpose()?,
        };
        let mut summary = defaults.summary_options.unwrap_or_default();
        if summary.quantiles.as_ref().is_none_or(Vec::is_empty)
            && defaults.quantiles.as_ref().is_some_and(|q| !q.is_empty())
        {
            // statsd_exporter replaces the whole summary_options with the deprecated quantiles
            summary = RawSummaryOptions {
                quantiles: defaults.quantiles.clone(),
                ..RawSummaryOptions::default()
            };
        }
        let mut histogram = defaults.histogram_options.unwrap_or_default();
        if histogram.buckets.as_ref().is_none_or(Vec::is_empty)
            && defaults.buckets.as_ref().is_some_and(|b| !b.is_empty())
        {
            histogram = RawHistogramOptions {
                buckets: defaults.buckets.clone(),
                ..RawHistogramOptions::default()
            };
        }
        let default_buckets: Arc<[f64]> = match histogram.buckets.as_deref() {
            Some(b) if !b.is_empty() => {
                validate_buckets(b).map_err(|e| format!("defaults: {e}"))?
            }
            _ => Arc::from(&DEFAULT_BUCKETS[..]),
        };
        let default_quantiles: Arc<[f64]> = match summary.quantiles.as_deref() {
            Some(q) if !q.is_empty() => {
                validate_quantiles(q).map_err(|e| format!("defaults: {e}"))?
            }
            _ => Arc::from(&DEFAULT_QUANTILES[..]),
        };
        let default_max_age = summary.max_age.map(|d| d.0).unwrap_or(0);
        let default_age_buckets = summary.age_buckets.unwrap_or(0);
        let default_match_regex = match defaults.match_type.as_deref() {
            Some(s) => parse_match_type(s)?,
            None => false,
        };
        let default_ttl = defaults.ttl.map(|d| d.0).unwrap_or(0);
        let glob_disable_ordering = defaults.glob_disable_ordering.unwrap_or(false);

        let default_opts = Arc::new(SeriesOptions {
            observer: default_observer.unwrap_or(ObserverType::Histogram),
            buckets: default_buckets.clone(),
            quantiles: default_quantiles.clone(),
            max_age: positive_duration(default_max_age).unwrap_or(DEFAULT_MAX_AGE),
            age_buckets: if default_age_buckets == 0 {
                DEFAULT_AGE_BUCKETS
            } else {
                default_age_buckets
            },
            ttl: positive_duration(default_ttl),
            scale: None,
            honor_labels: false,
            help: None,
        });

        let mut rules = Vec::new();
        let (mut has_glob, mut has_regex) = (false, false);
        for (i, m) in raw.mappings.unwrap_or_default().into_iter().enumerate() {
            let match_text = m.r#match.clone().unwrap_or_default();
            let ctx = |e: String| format!("mapping {} (match {match_text:?}): {e}", i + 1);

            let mut labels: Vec<(String, String)> = Vec::new();
            for (k, v) in m.labels.clone().unwrap_or_default() {
                if !is_mapping_label_name(&k) {
                    return Err(ctx(format!("invalid label key: {k}")));
                }
                labels.push((k, v.unwrap_or_default()));
            }
            let name = m.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(ctx("metric mapping didn't set a metric name".to_string()));
            }
            if !is_mapping_metric_name(&name) {
                return Err(ctx(format!(
                    "metric name '{name}' must be letters, digits and underscores (not starting with a digit) \
                     with $N or ${{N}} capture references"
                )));
            }
            let is_regex = match m.match_type.as_deref() {
                Some(s) => parse_match_type(s).map_err(ctx)?,
                None => default_match_regex,
            };
            let drop = match m.action.as_deref() {
                None | Some("") | Some("map") => false,
                Some("drop") => true,
                Some(other) => {
                    return Err(ctx(format!(
                        "invalid action type {other:?} (expected map or drop)"
                    )));
                }
            };
            let class = match m.match_metric_type.as_deref() {
                None => None,
                Some("counter") => Some(MetricClass::Counter),
                Some("gauge") => Some(MetricClass::Gauge),
                Some("observer") => Some(MetricClass::Observer),
                Some(other) => {
                    return Err(ctx(format!(
                        "invalid metric type '{other}' (expected counter, gauge or observer)"
                    )));
                }
            };
            let matcher = if is_regex {
                has_regex = true;
                let re = Regex::new(&match_text)
                    .map_err(|e| ctx(format!("invalid regex {match_text} in mapping: {e}")))?;
                Matcher::Regex { re, name, labels }
            } else {
                has_glob = true;
                if !is_valid_glob(&match_text) {
                    return Err(ctx(format!(
                        "invalid match: {match_text} (a glob is dot-separated components, each `*` or \
                         letters, digits, `_` and `-`, the first not starting with a digit)"
                    )));
                }
                let parts: Vec<GlobPart> = match_text
                    .split('.')
                    .map(|p| {
                        if p == "*" {
                            GlobPart::Star
                        } else {
                            GlobPart::Literal(p.to_string())
                        }
                    })
                    .collect();
                let captures = parts.iter().filter(|p| **p == GlobPart::Star).count();
                let label_templates = labels
                    .iter()
                    .map(|(k, v)| (k.clone(), Template::parse(v, captures)))
                    .collect();
                Matcher::Glob {
                    parts,
                    name: Template::parse(&name, captures),
                    labels: label_templates,
                }
            };

            let observer = match m.observer_type.as_deref() {
                Some(s) => Some(parse_observer_type(s).map_err(ctx)?),
                None => m
                    .timer_type
                    .as_deref()
                    .map(parse_observer_type)
                    .transpose()
                    .map_err(ctx)?,
            }
            .or(default_observer);
            if m.quantiles.is_some()
                && m.summary_options
                    .as_ref()
                    .is_some_and(|s| s.quantiles.is_some())
            {
                return Err(ctx("cannot use quantiles in both the top level and summary options at the same time".into()));
            }
            if m.buckets.is_some()
                && m.histogram_options
                    .as_ref()
                    .is_some_and(|h| h.buckets.is_some())
            {
                return Err(ctx("cannot use buckets in both the top level and histogram options at the same time".into()));
            }
            let wants_summary =
                m.summary_options.is_some() || m.quantiles.as_ref().is_some_and(|q| !q.is_empty());
            let wants_histogram =
                m.histogram_options.is_some() || m.buckets.as_ref().is_some_and(|b| !b.is_empty());
            let observer = match observer {
                Some(ObserverType::Histogram) if m.summary_options.is_some() => {
                    return Err(ctx(
                        "cannot use histogram observer and summary options at the same time".into(),
                    ));
                }
                Some(ObserverType::Summary) if m.histogram_options.is_some() => {
                    return Err(ctx(
                        "cannot use summary observer and histogram options at the same time".into(),
                    ));
                }
                Some(o) => o,
                None if wants_summary && !wants_histogram => ObserverType::Summary,
                None => ObserverType::Histogram,
            };

            let buckets = match (
                m.buckets.as_deref(),
                m.histogram_options
                    .as_ref()
                    .and_then(|h| h.buckets.as_deref()),
            ) {
                (Some(b), _) if !b.is_empty() => validate_buckets(b).map_err(ctx)?,
                (_, Some(b)) if !b.is_empty() => validate_buckets(b).map_err(ctx)?,
                _ => default_buckets.clone(),
            };
            let so = m.summary_options.clone().unwrap_or_default();
            let quantiles = match (m.quantiles.as_deref(), so.quantiles.as_deref()) {
                (Some(q), _) if !q.is_empty() => validate_quantiles(q).map_err(ctx)?,
                (_, Some(q)) if !q.is_empty() => validate_quantiles(q).map_err(ctx)?,
                _ => default_quantiles.clone(),
            };
            let max_age = positive_duration(so.max_age.map(|d| d.0).unwrap_or(0))
                .or(positive_duration(default_max_age))
                .unwrap_or(DEFAULT_MAX_AGE);
            let age_buckets = match so.age_buckets.unwrap_or(0) {
                0 if default_age_buckets == 0 => DEFAULT_AGE_BUCKETS,
                0 => default_age_buckets,
                n => n,
            };
            let ttl_ns = match m.ttl.map(|d| d.0).unwrap_or(0) {
                0 if default_ttl > 0 => default_ttl,
                t => t,
            };
            if let Some(s) = m.scale
                && !s.is_finite()
            {
                return Err(ctx(format!("scale must be a finite number, not {s}")));
            }
            let opts = Arc::new(SeriesOptions {
                observer,
                buckets,
                quantiles,
                max_age,
                age_buckets,
                ttl: positive_duration(ttl_ns),
                scale: m.scale,
                honor_labels: m.honor_labels.unwrap_or(false),
                help: m.help.clone().filter(|h| !h.is_empty()).map(Arc::from),
            });
            rules.push(Rule {
                matcher,
                class,
                drop,
                opts,
            });
        }
        Ok(MappingConfig {
            rules,
            defaults: default_opts,
            glob_disable_ordering,
            has_glob,
            has_regex,
        })
    }

    /// Maps a StatsD name (name-embedded tags removed) of the given class.
    pub(crate) fn lookup(&self, name: &str, class: MetricClass) -> Lookup {
        if self.has_glob {
            if let Some((rule, captures)) = self.glob_match(name, class) {
                if rule.drop {
                    return Lookup::Drop;
                }
                if let Matcher::Glob {
                    name: tpl, labels, ..
                } = &rule.matcher
                {
                    let labels = labels
                        .iter()
                        .map(|(k, t)| (k.clone(), t.format(name, &captures)))
                        .collect();
                    return Lookup::Mapped {
                        name: tpl.format(name, &captures),
                        labels,
                        opts: rule.opts.clone(),
                    };
                }
            }
            if !self.has_regex {
                return Lookup::Unmapped {
                    opts: self.defaults.clone(),
                };
            }
        }
        for rule in &self.rules {
            let Matcher::Regex {
                re,
                name: tpl,
                labels,
            } = &rule.matcher
            else {
                continue;
            };
            let Some(caps) = re.captures(name) else {
                continue;
            };
            if rule.class.is_some_and(|c| c != class) {
                continue;
            }
            if rule.drop {
                return Lookup::Drop;
            }
            let mut mapped = String::new();
            caps.expand(tpl, &mut mapped);
            let labels = labels
                .iter()
                .map(|(k, v)| {
                    let mut out = String::new();
                    caps.expand(v, &mut out);
                    (k.clone(), out)
                })
                .collect();
            return Lookup::Mapped {
                name: mapped,
                labels,
                opts: rule.opts.clone(),
            };
        }
        Lookup::Unmapped {
            opts: self.defaults.clone(),
        }
    }

    fn glob_match<'n>(&self, name: &'n str, class: MetricClass) -> Option<(&Rule, Vec<&'n str>)> {
        let comps: Vec<&str> = name.split('.').collect();
        let mut best: Option<&Rule> = None;
        let mut best_key: Vec<bool> = Vec::new();
        for rule in &self.rules {
            let Matcher::Glob { parts, .. } = &rule.matcher else {
                continue;
            };
            if parts.len() != comps.len() || rule.class.is_some_and(|c| c != class) {
                continue;
            }
            let matches = parts.iter().zip(&comps).all(|(p, c)| match p {
                GlobPart::Star => true,
                GlobPart::Literal(l) => l == c,
            });
            if !matches {
                continue;
            }
            if !self.glob_disable_ordering {
                best = Some(rule);
                break;
            }
            // unordered: the most specific wins, a literal beating `*` from left to right
            let key: Vec<bool> = parts.iter().map(|p| *p == GlobPart::Star).collect();
            if best.is_none() || key < best_key {
                best = Some(rule);
                best_key = key;
            }
        }
        let rule = best?;
        let Matcher::Glob { parts, .. } = &rule.matcher else {
            return None;
        };
        let captures = parts
            .iter()
            .zip(&comps)
            .filter(|(p, _)| **p == GlobPart::Star)
            .map(|(_, c)| *c)
            .collect();
        Some((rule, captures))
    }
}

/// A glob name or label template, as statsd_exporter's `fsm.TemplateFormatter`.
#[derive(Debug, Clone, PartialEq)]
struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// 0: the whole StatsD name; n: the n-th `*`.
    Capture(usize),
}

impl Template {
    /// Splits at references matching `\$\{?([a-zA-Z0-9_\$]+)\}?`; a reference that is not a
    /// number in 0..=captures expands to nothing.
    fn parse(expr: &str, captures: usize) -> Template {
        let b = expr.as_bytes();
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        let mut lit_start = 0;
        while i < b.len() {
            if b[i] != b'$' {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            if j < b.len() && b[j] == b'{' {
                j += 1;
            }
            let mut k = j;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'$') {
                k += 1;
            }
            if k == j {
                // `{` then nothing: retry without the brace, which cannot match either
                i += 1;
                continue;
            }
            let group = &expr[j..k];
            let mut end = k;
            if end < b.len() && b[end] == b'}' {
                end += 1;
            }
            text.push_str(&expr[lit_start..i]);
            if let Ok(idx) = group.parse::<usize>()
                && idx <= captures
            {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Capture(idx));
            }
            i = end;
            lit_start = end;
        }
        text.push_str(&expr[lit_start..]);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Template(pieces)
    }

    fn format(&self, name: &str, captures: &[&str]) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Capture(0) => out.push_str(name),
                Piece::Capture(n) => out.push_str(captures.get(n - 1).copied().unwrap_or("")),
            }
        }
        out
    }
}

/// statsd_exporter's `EscapeMetricName`: every character but `[a-zA-Z0-9_]` becomes `_`, a run
/// of dashes becomes one `_`, and a leading digit gets a `_` prefix. Also applied to tag keys.
pub(crate) fn escape_metric_name(name: &str) -> Cow<'_, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let Some(first) = name.chars().next() else {
        return Cow::Borrowed("");
    };
    if !first.is_ascii_digit() && name.chars().all(valid) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if first.is_ascii_digit() {
        out.push('_');
    }
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if valid(c) {
            out.push(c);
        } else if !(c == '-' && prev == Some('-')) {
            out.push('_');
        }
        prev = Some(c);
    }
    Cow::Owned(out)
}

/// `^[a-zA-Z_][a-zA-Z0-9_]+$` (statsd_exporter's `labelNameRE`: at least two characters).
fn is_mapping_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `^([a-zA-Z_]|\$\{?\d+\}?)([a-zA-Z0-9_]|\$\{?\d+\}?)*$` (statsd_exporter's `metricNameRE`).
fn is_mapping_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            let mut j = i + 1;
            if j < b.len() && b[j] == b'{' {
                j += 1;
            }
            let digits_start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j == digits_start {
                return false;
            }
            if j < b.len() && b[j] == b'}' {
                j += 1;
            }
            i = j;
        } else if c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit()) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    !b.is_empty()
}

/// `^(\*|[a-zA-Z_][a-zA-Z0-9_-]*)(\.\*|\.[a-zA-Z0-9_][a-zA-Z0-9_-]*)*$` (statsd_exporter's
/// `metricLineRE`).
fn is_valid_glob(s: &str) -> bool {
    s.split('.').enumerate().all(|(i, part)| {
        if part == "*" {
            return true;
        }
        let b = part.as_bytes();
        let Some(&first) = b.first() else {
            return false;
        };
        let first_ok =
            first.is_ascii_alphabetic() || first == b'_' || (i > 0 && first.is_ascii_digit());
        first_ok
            && b[1..]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    })
}

fn parse_observer_type(s: &str) -> Result<ObserverType, String> {
    match s {
        "histogram" => Ok(ObserverType::Histogram),
        // statsd_exporter turns an explicit empty value into summary
        "summary" | "" => Ok(ObserverType::Summary),
        other => Err(format!(
            "invalid observer type '{other}' (expected histogram or summary)"
        )),
    }
}

/// Returns whether the match type is regex. statsd_exporter also accepts `fsm`, which it then
/// treats like regex.
fn parse_match_type(s: &str) -> Result<bool, String> {
    match s {
        "glob" | "" => Ok(false),
        "regex" | "fsm" => Ok(true),
        other => Err(format!(
            "invalid match type {other:?} (expected glob or regex)"
        )),
    }
}

fn validate_buckets(b: &[f64]) -> Result<Arc<[f64]>, String> {
    let mut out: Vec<f64> = b.to_vec();
    if out.last() == Some(&f64::INFINITY) {
        out.pop();
    }
    if out.iter().any(|v| v.is_nan()) || out.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "histogram buckets must be numbers in strictly increasing order, got {b:?}"
        ));
    }
    Ok(Arc::from(out))
}

fn validate_quantiles(q: &[RawObjective]) -> Result<Arc<[f64]>, String> {
    let out: Vec<f64> = q.iter().map(|o| o.quantile).collect();
    if let Some(bad) = out.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(format!("quantile {bad} is outside [0, 1]"));
    }
    Ok(Arc::from(out))
}

fn positive_duration(ns: i64) -> Option<Duration> {
    u64::try_from(ns)
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
}

// ---------------------------------------------------------------------------------------------
// The file as statsd_exporter's structs declare it (gopkg.in/yaml.v2, non-strict).

#[derive(Debug, Default, Deserialize)]
struct RawFile {
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    mappings: Option<Vec<RawMapping>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawDefaults {
    #[serde(default)]
    observer_type: Option<String>,
    #[serde(default)]
    timer_type: Option<String>,
    #[serde(default)]
    buckets: Option<Vec<f64>>,
    #[serde(default)]
    quantiles: Option<Vec<RawObjective>>,
    #[serde(default)]
    match_type: Option<String>,
    #[serde(default)]
    glob_disable_ordering: Option<bool>,
    #[serde(default)]
    ttl: Option<GoDuration>,
    #[serde(default)]
    summary_options: Option<RawSummaryOptions>,
    #[serde(default)]
    histogram_options: Option<RawHistogramOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct RawMapping {
    #[serde(default, rename = "match")]
    r#match: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    observer_type: Option<String>,
    #[serde(default)]
    timer_type: Option<String>,
    #[serde(default)]
    buckets: Option<Vec<f64>>,
    #[serde(default)]
    quantiles: Option<Vec<RawObjective>>,
    #[serde(default)]
    match_type: Option<String>,
    #[serde(default)]
    help: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    match_metric_type: Option<String>,
    #[serde(default)]
    ttl: Option<GoDuration>,
    #[serde(default)]
    summary_options: Option<RawSummaryOptions>,
    #[serde(default)]
    histogram_options: Option<RawHistogramOptions>,
    #[serde(default)]
    scale: Option<f64>,
    #[serde(default)]
    honor_labels: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct RawObjective {
    #[serde(default)]
    quantile: f64,
    #[serde(default)]
    #[allow(dead_code)]
    error: f64,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct RawSummaryOptions {
    #[serde(default)]
    quantiles: Option<Vec<RawObjective>>,
    #[serde(default)]
    max_age: Option<GoDuration>,
    #[serde(default)]
    age_buckets: Option<u32>,
    #[serde(default)]
    #[allow(dead_code)]
    buf_cap: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct RawHistogramOptions {
    #[serde(default)]
    buckets: Option<Vec<f64>>,
    /// Accepted for compatibility; Argus writes classic buckets only.
    #[serde(default)]
    #[allow(dead_code)]
    native_histogram_bucket_factor: Option<f64>,
    #[serde(default)]
    #[allow(dead_code)]
    native_histogram_max_buckets: Option<u32>,
}

fn parse_yaml(text: &str) -> Result<RawFile, String> {
    let options = serde_saphyr::options! {
        // yaml.v2's non-strict Unmarshal keeps the last of repeated keys
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let parsed: Option<RawFile> =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| e.to_string())?;
    Ok(parsed.unwrap_or_default())
}

/// A Go `time.Duration` as yaml.v2 decodes it: a string in `time.ParseDuration` syntax
/// (`1m20s`), or a bare integer counted in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct GoDuration(i64);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GoDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as 90s, 1m20s or 1h")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
                Ok(GoDuration(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
                i64::try_from(v)
                    .map(GoDuration)
                    .map_err(|_| E::custom("duration out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoDuration, E> {
                if v.is_finite() && v.abs() < 9.2e18 {
                    Ok(GoDuration(v as i64))
                } else {
                    Err(E::custom("duration out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
                parse_go_duration(v).map(GoDuration).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Go's `time.ParseDuration` in nanoseconds, with the message a mapping file's author needs.
fn parse_go_duration(s: &str) -> Result<i64, String> {
    storage::go_duration_ns(s, false)
        .ok_or_else(|| format!("invalid duration {s:?} (expected e.g. 90s, 1m20s, 1h)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> MappingConfig {
        match MappingConfig::from_yaml(yaml) {
            Ok(c) => c,
            Err(e) => panic!("{yaml}\n{e}"),
        }
    }

    fn err(yaml: &str) -> String {
        match MappingConfig::from_yaml(yaml) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    }

    fn mapped(
        c: &MappingConfig,
        name: &str,
        class: MetricClass,
    ) -> (String, Vec<(String, String)>) {
        match c.lookup(name, class) {
            Lookup::Mapped {
                name, mut labels, ..
            } => {
                labels.sort();
                (name, labels)
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn escape_like_statsd_exporter() {
        // cases from statsd_exporter's escape_test.go
        for (input, want) in [
            ("", ""),
            ("my.metric", "my_metric"),
            ("my_metric", "my_metric"),
            ("9starts_with_number", "_9starts_with_number"),
            ("a_b", "a_b"),
            ("a-b", "a_b"),
            ("a--b", "a_b"),
            ("a---b", "a_b"),
            ("a.-b", "a__b"),
            ("temperature.°C", "temperature__C"),
            ("test.web-server.foo.bar", "test_web_server_foo_bar"),
        ] {
            assert_eq!(escape_metric_name(input), want, "{input}");
        }
    }

    #[test]
    fn simplebank_example() {
        let c = cfg(r#"
mappings:
  - match: simplebank-demo.*.*
    name: "$2"
    labels:
      app: "$1"
      job: "simplebank-demo"
"#);
        assert_eq!(
            mapped(
                &c,
                "simplebank-demo.account-api.request_latency_ms",
                MetricClass::Observer
            ),
            (
                "request_latency_ms".to_string(),
                l(&[("app", "account-api"), ("job", "simplebank-demo")])
            )
        );
        assert!(matches!(
            c.lookup("simplebank-demo.a", MetricClass::Counter),
            Lookup::Unmapped { .. }
        ));
        assert!(matches!(
            c.lookup("other.a.b", MetricClass::Counter),
            Lookup::Unmapped { .. }
        ));
    }

    #[test]
    fn glob_captures_and_ordering() {
        let c = cfg(r#"
mappings:
- match: "test.dispatcher.*.*.*"
  name: "dispatcher_events_total"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: "a.*.c"
  name: "first"
- match: "a.b.c"
  name: "second"
- match: "x.*"
  name: "x_$1_broken"
- match: "y.*"
  name: "y_${1}_ok_$0"
"#);
        assert_eq!(
            mapped(
                &c,
                "test.dispatcher.FooProcessor.send.success",
                MetricClass::Counter
            ),
            (
                "dispatcher_events_total".into(),
                l(&[
                    ("processor", "FooProcessor"),
                    ("action", "send"),
                    ("outcome", "success"),
                    ("job", "test_dispatcher")
                ])
            )
        );
        assert_eq!(
            mapped(
                &c,
                "foo_product.signup.facebook.failure",
                MetricClass::Counter
            ),
            (
                "signup_events_total".into(),
                l(&[
                    ("provider", "facebook"),
                    ("outcome", "failure"),
                    ("job", "foo_product_server")
                ])
            )
        );
        // file order wins among globs
        assert_eq!(mapped(&c, "a.b.c", MetricClass::Gauge).0, "first");
        // `*` never spans a dot, and matches an empty component
        assert!(matches!(
            c.lookup("a.b.b.c", MetricClass::Gauge),
            Lookup::Unmapped { .. }
        ));
        assert_eq!(mapped(&c, "a..c", MetricClass::Gauge).0, "first");
        // `$1_broken` is a reference to capture "1_broken": empty, as in statsd_exporter
        assert_eq!(mapped(&c, "x.q", MetricClass::Gauge).0, "x_");
        assert_eq!(mapped(&c, "y.q", MetricClass::Gauge).0, "y_q_ok_y.q");
    }

    #[test]
    fn glob_disable_ordering_prefers_literals() {
        let c = cfg(r#"
defaults:
  glob_disable_ordering: true
mappings:
- match: "a.*.*"
  name: "star_star"
- match: "a.*.c"
  name: "star_c"
- match: "a.b.*"
  name: "b_star"
"#);
        assert_eq!(mapped(&c, "a.b.c", MetricClass::Counter).0, "b_star");
        assert_eq!(mapped(&c, "a.x.c", MetricClass::Counter).0, "star_c");
        assert_eq!(mapped(&c, "a.x.y", MetricClass::Counter).0, "star_star");
    }

    #[test]
    fn regex_after_glob_with_captures_and_named_groups() {
        let c = cfg(r#"
mappings:
- match: "(.*)\\.(.*)--(.*)\\.status\\.(.*)\\.count"
  match_type: regex
  name: "request_total"
  labels:
    hostname: "$1"
    exec: "$2"
    protocol: "$3"
    code: "$4"
- match: "^svc\\.(?P<service>[^.]+)\\.(?P<op>[^.]+)$"
  match_type: regex
  name: "svc_${2}"
  labels:
    service: "${service}"
    op: "$op"
- match: "svc.*.*"
  name: "glob_wins"
- match: ".+"
  match_type: regex
  name: "$0"
  labels:
    statsd_metric_name: "$0"
"#);
        assert_eq!(
            mapped(
                &c,
                "web01.nginx--http.status.200.count",
                MetricClass::Counter
            ),
            (
                "request_total".into(),
                l(&[
                    ("hostname", "web01"),
                    ("exec", "nginx"),
                    ("protocol", "http"),
                    ("code", "200")
                ])
            )
        );
        // glob rules are tried first whatever their position
        assert_eq!(
            mapped(&c, "svc.api.get", MetricClass::Counter).0,
            "glob_wins"
        );
        let (name, labels) = mapped(&c, "my.statsd_counter", MetricClass::Counter);
        assert_eq!(name, "my.statsd_counter");
        assert_eq!(escape_metric_name(&name), "my_statsd_counter");
        assert_eq!(labels, l(&[("statsd_metric_name", "my.statsd_counter")]));

        let c = cfg(r#"
mappings:
- match: "^svc\\.(?P<service>[^.]+)\\.(?P<op>[^.]+)$"
  match_type: regex
  name: "svc_${2}"
  labels:
    service: "${service}"
    op: "$op"
"#);
        assert_eq!(
            mapped(&c, "svc.api.get", MetricClass::Counter),
            ("svc_get".into(), l(&[("service", "api"), ("op", "get")]))
        );
    }

    #[test]
    fn drop_action_and_metric_type() {
        let c = cfg(r#"
mappings:
- match: "test.foo.*"
  name: "test_foo"
  match_metric_type: counter
  labels:
    provider: "$1"
- match: "test.foo.*"
  name: "test_foo_gauge"
  match_metric_type: gauge
- match: "."
  match_type: regex
  action: drop
  name: "dropped"
"#);
        assert_eq!(mapped(&c, "test.foo.x", MetricClass::Counter).0, "test_foo");
        assert_eq!(
            mapped(&c, "test.foo.x", MetricClass::Gauge).0,
            "test_foo_gauge"
        );
        assert_eq!(c.lookup("test.foo.x", MetricClass::Observer), Lookup::Drop);
        assert_eq!(c.lookup("anything", MetricClass::Counter), Lookup::Drop);
    }

    #[test]
    fn defaults_and_observer_options() {
        let c = cfg(r#"
defaults:
  timer_type: histogram
  buckets: [.005, .01, .025, .05, .1, .25, .5, 1, 2.5]
  match_type: glob
  glob_disable_ordering: false
  ttl: 1m20s
  summary_options:
    max_age: 5m
    age_buckets: 2
mappings:
- match: "test.timing.*.*.*"
  name: "my_timer"
- match: "other.timing.*.*.*"
  timer_type: summary
  name: "other_timer"
  quantiles:
    - quantile: 0.99
      error: 0.001
    - quantile: 0.5
      error: 0.005
- match: "third.*"
  observer_type: histogram
  histogram_options:
    buckets: [1, 2, 3]
  ttl: 0
  name: third
- match: "fourth.*"
  name: fourth
  ttl: 10s
  scale: 0.001
  honor_labels: true
"#);
        let opts = |name: &str| match c.lookup(name, MetricClass::Observer) {
            Lookup::Mapped { opts, .. } | Lookup::Unmapped { opts } => opts,
            Lookup::Drop => panic!("drop"),
        };
        let o = opts("test.timing.a.b.c");
        assert_eq!(o.observer, ObserverType::Histogram);
        assert_eq!(o.buckets.len(), 9);
        assert_eq!(o.ttl, Some(Duration::from_secs(80)));
        let o = opts("other.timing.a.b.c");
        assert_eq!(o.observer, ObserverType::Summary);
        assert_eq!(&o.quantiles[..], &[0.99, 0.5]);
        assert_eq!((o.max_age, o.age_buckets), (Duration::from_secs(300), 2));
        let o = opts("third.x");
        assert_eq!(&o.buckets[..], &[1.0, 2.0, 3.0]);
        assert_eq!(
            o.ttl,
            Some(Duration::from_secs(80)),
            "ttl 0 takes the default"
        );
        let o = opts("fourth.x");
        assert_eq!(
            (o.ttl, o.scale, o.honor_labels),
            (Some(Duration::from_secs(10)), Some(0.001), true)
        );
        let o = opts("unmapped.name");
        assert_eq!((o.observer, o.buckets.len()), (ObserverType::Histogram, 9));

        // without any observer type, histogram unless the mapping configures quantiles only
        let c = cfg(r#"
mappings:
- match: "a.*"
  name: a
- match: "b.*"
  name: b
  summary_options:
    quantiles: [{quantile: 0.75, error: 0.01}]
"#);
        let get = |n: &str| match c.lookup(n, MetricClass::Observer) {
            Lookup::Mapped { opts, .. } => opts,
            other => panic!("{other:?}"),
        };
        assert_eq!(get("a.x").observer, ObserverType::Histogram);
        assert_eq!(&get("a.x").buckets[..], &DEFAULT_BUCKETS[..]);
        assert_eq!(get("b.x").observer, ObserverType::Summary);
        assert_eq!(&get("b.x").quantiles[..], &[0.75]);
        assert_eq!(get("b.x").max_age, Duration::from_secs(600));
    }

    #[test]
    fn realistic_statsd_exporter_file() {
        // the shape of statsd_exporter's example mapping plus keys it accepts but Argus ignores
        let c = cfg(r#"
# This is a modern starter configuration for the statsd_exporter.
defaults:
  observer_type: histogram
  histogram_options:
    native_histogram_bucket_factor: 1.1
    native_histogram_max_buckets: 256
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
  match_type: glob
  glob_disable_ordering: true
  ttl: 0
mappings:
- match: "test.dispatcher.*.*.*"
  name: "dispatcher_events_total"
  help: "Total number of dispatcher events"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: "http.request.*"
  help: "Total number of http requests"
  name: "http_requests_total"
  labels:
    code: "$1"
    status: 200
- match: "test.timing.*.*.*"
  observer_type: summary
  name: "my_timer"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
  summary_options:
    quantiles:
      - quantile: 0.99
        error: 0.001
      - quantile: 0.95
        error: 0.01
    max_age: 30s
    age_buckets: 3
    buf_cap: 1000
- match: "(.*)\\.(.*)--(.*)\\.status\\.(.*)\\.count"
  match_type: regex
  name: "request_total"
  labels:
    hostname: "$1"
    exec: "$2"
    protocol: "$3"
    code: "$4"
- match: "ignored.*"
  action: drop
  name: "dropped"
some_future_key: true
"#);
        assert_eq!(c.len(), 6);
        assert_eq!(
            mapped(&c, "http.request.404", MetricClass::Counter),
            (
                "http_requests_total".into(),
                l(&[("code", "404"), ("status", "200")])
            )
        );
        assert_eq!(c.lookup("ignored.x", MetricClass::Counter), Lookup::Drop);
        let help = |name: &str| match c.lookup(name, MetricClass::Counter) {
            Lookup::Mapped { opts, .. } | Lookup::Unmapped { opts } => opts.help.clone(),
            Lookup::Drop => panic!("drop"),
        };
        assert_eq!(
            help("http.request.404").as_deref(),
            Some("Total number of http requests")
        );
        assert_eq!(help("a.signup.b.c"), None);
        assert_eq!(help("unmapped"), None);
    }

    #[test]
    fn rejects_what_statsd_exporter_rejects() {
        assert!(err("mappings:\n- match: a.b\n").contains("didn't set a metric name"));
        assert!(err("mappings:\n- match: a.b\n  name: 9x\n").contains("metric name"));
        assert!(err("mappings:\n- match: a.b\n  name: a-b\n").contains("metric name"));
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  labels:\n    a: b\n")
                .contains("invalid label key")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  labels:\n    a-b: c\n")
                .contains("invalid label key")
        );
        assert!(err("mappings:\n- match: 'a.pre*.b'\n  name: x\n").contains("invalid match"));
        assert!(err("mappings:\n- match: '9a.b'\n  name: x\n").contains("invalid match"));
        assert!(
            err("mappings:\n- match: '(a'\n  match_type: regex\n  name: x\n")
                .contains("invalid regex")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  match_type: fuzzy\n")
                .contains("invalid match type")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  action: keep\n").contains("invalid action")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  observer_type: gauge\n")
                .contains("invalid observer type")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  match_metric_type: timer\n")
                .contains("invalid metric type")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  ttl: 10\n  buckets: [2, 1]\n")
                .contains("increasing")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  ttl: 10 minutes\n").contains("duration")
        );
        assert!(err("mappings:\n- match: a.b\n  name: x\n  buckets: nope\n").contains("buckets"));
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  observer_type: histogram\n  summary_options: {max_age: 1m}\n")
                .contains("summary options")
        );
        assert!(
            err("mappings:\n- match: a.b\n  name: x\n  buckets: [1]\n  histogram_options: {buckets: [2]}\n")
                .contains("both the top level")
        );
        assert!(
            err("mappings: [1, 2]\n").contains("mappings") || !err("mappings: [1, 2]\n").is_empty()
        );
        assert!(err("- just\n- a list\n").len() > 1);
        // the error names where the problem is
        assert!(
            err("mappings:\n- match: a.b\n  name: ok\n- match: c.d\n")
                .contains("mapping 2 (match \"c.d\")")
        );
    }

    #[test]
    fn accepts_what_statsd_exporter_accepts() {
        assert!(cfg("").is_empty());
        assert!(cfg("# only a comment\n").is_empty());
        assert!(cfg("mappings:\n").is_empty());
        assert!(cfg("unknown: 1\nmappings: []\n").is_empty());
        // a label name with a digit, an empty match_type, timer_type alias, fsm match type
        let c = cfg(r#"
mappings:
- match: a.*
  name: "a_${1}"
  match_type: ""
  timer_type: summary
  labels:
    l2: "$1"
  unknown_key: whatever
- match: "b"
  match_type: fsm
  name: b
"#);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn mapping_durations_are_go_durations() {
        assert_eq!(parse_go_duration("1m20s"), Ok(80_000_000_000));
        let err = parse_go_duration("1d").unwrap_err();
        assert!(err.contains("expected e.g. 90s"), "{err}");
    }

    #[test]
    fn template_parsing() {
        assert_eq!(Template::parse("$1", 1).format("n", &["a"]), "a");
        assert_eq!(
            Template::parse("${1}_total", 1).format("n", &["a"]),
            "a_total"
        );
        assert_eq!(Template::parse("${2}x", 1).format("n", &["a"]), "x");
        assert_eq!(Template::parse("a$$1", 1).format("n", &["a"]), "a");
        assert_eq!(Template::parse("cost$", 1).format("n", &["a"]), "cost$");
        assert_eq!(Template::parse("plain", 0).format("n", &[]), "plain");
    }

    #[test]
    fn name_and_glob_validation() {
        for ok in ["a", "_a", "a_$1", "${1}_total", "$0", "a1", "${12}"] {
            assert!(is_mapping_metric_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "${x}", "$"] {
            assert!(!is_mapping_metric_name(bad), "{bad}");
        }
        for ok in [
            "a",
            "*",
            "a.*",
            "*.b.*",
            "simplebank-demo.*.*",
            "a.9b",
            "a_b-c.d",
        ] {
            assert!(is_valid_glob(ok), "{ok}");
        }
        for bad in ["", "a.", ".a", "9a", "a.b*", "a..b", "a.-b"] {
            assert!(!is_valid_glob(bad), "{bad}");
        }
    }
}
