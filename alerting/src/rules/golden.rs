//! The `golden_signals` shorthand: a top-level list beside `groups:` whose entries (a service
//! and thresholds with units: `latency_p99: "> 500ms"`, `error_ratio: "> 1%"`,
//! `traffic: "< 1/s"`, `saturation: {expr, threshold}`) expand to ordinary alerting rules
//! over the span-derived series or the StatsD-mapped series, one group per entry. What each
//! signal expands to is written down in `alerting/docs/golden-signals.md`; the tests hold
//! the code to it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::duration::format_duration;
use super::error::ErrorKind;
use super::model::{AlertingRule, Rule, RuleGroup};
use super::parse::{Errors, annotations, duration, labels};
use storage::{is_valid_label_name, is_valid_metric_name};

/// The rate window when an entry sets none.
const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Prefix of the generated groups' names: `golden_signals/<service>`.
const GROUP_PREFIX: &str = "golden_signals/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGolden {
    service: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    statsd: Option<Spanned<RawStatsd>>,
    latency_p50: Option<Spanned<String>>,
    latency_p90: Option<Spanned<String>>,
    latency_p95: Option<Spanned<String>>,
    latency_p99: Option<Spanned<String>>,
    error_ratio: Option<Spanned<String>>,
    traffic: Option<Spanned<String>>,
    saturation: Option<Spanned<RawSaturation>>,
    window: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    keep_firing_for: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

/// Where the StatsD-mapped series of a service are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatsd {
    /// A timer (histogram): `NAME_bucket` for latency, `NAME_count` for requests.
    latency: Option<Spanned<String>>,
    /// A counter of all requests (default: the timer's `NAME_count`).
    requests: Option<Spanned<String>>,
    /// A counter of failed requests.
    errors: Option<Spanned<String>>,
    /// Or: matchers that pick the failed requests out of `requests`, e.g. `status=~"5.."`.
    error_matchers: Option<Spanned<String>>,
    /// The label holding the service name (default `service`).
    service_label: Option<Spanned<String>>,
    /// Or: matchers selecting the service's series, e.g. `app="checkout",env="prod"`.
    selector: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSaturation {
    expr: Option<Spanned<String>>,
    threshold: Option<Spanned<String>>,
}

/// A comparison and its threshold, in the series' unit (seconds, a 0..1 ratio, per second).
#[derive(Debug, Clone, PartialEq)]
struct Threshold {
    op: &'static str,
    value: f64,
    /// As the user wrote it, for messages (`> 500ms`).
    text: String,
}

/// How `traffic` is counted: requests per second or per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PerUnit {
    Second,
    Minute,
    Hour,
}

impl PerUnit {
    fn seconds(self) -> u32 {
        match self {
            PerUnit::Second => 1,
            PerUnit::Minute => 60,
            PerUnit::Hour => 3600,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            PerUnit::Second => "/s",
            PerUnit::Minute => "/m",
            PerUnit::Hour => "/h",
        }
    }
}

fn split_comparison(text: &str) -> Result<(&'static str, &str), String> {
    let text = text.trim();
    for op in [">=", "<=", ">", "<"] {
        if let Some(rest) = text.strip_prefix(op) {
            return Ok((op, rest.trim()));
        }
    }
    Err(format!(
        "{text:?} must start with a comparison: >, >=, < or <= (e.g. \"> 500ms\")"
    ))
}

fn number(text: &str, whole: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("{whole:?}: {text:?} is not a non-negative number")),
    }
}

/// `> 500ms`, `>= 1.5s`: a latency in seconds.
fn latency_threshold(text: &str) -> Result<Threshold, String> {
    let (op, rest) = split_comparison(text)?;
    let value = if let Some(ms) = rest.strip_suffix("ms") {
        number(ms, text)? / 1000.0
    } else if let Some(s) = rest.strip_suffix('s') {
        number(s, text)?
    } else {
        return Err(format!(
            "{text:?}: a latency needs a unit, ms or s (e.g. \"> 500ms\")"
        ));
    };
    Ok(Threshold {
        op,
        value,
        text: format!("{op} {rest}"),
    })
}

/// `> 1%` or `> 0.01`: a ratio between 0 and 1.
fn ratio_threshold(text: &str) -> Result<Threshold, String> {
    let (op, rest) = split_comparison(text)?;
    let value = match rest.strip_suffix('%') {
        Some(percent) => number(percent, text)? / 100.0,
        None => number(rest, text)?,
    };
    if value > 1.0 {
        return Err(format!(
            "{text:?}: a ratio is between 0 and 1 (or 0% and 100%)"
        ));
    }
    Ok(Threshold {
        op,
        value,
        text: format!("{op} {rest}"),
    })
}

/// `< 1/s`, `> 1000/s`, `< 10/m`: requests per second, minute or hour.
fn traffic_threshold(text: &str) -> Result<(Threshold, PerUnit), String> {
    let (op, rest) = split_comparison(text)?;
    let (count, unit) = rest.split_once('/').ok_or_else(|| {
        format!("{text:?}: traffic is a rate with a unit, /s, /m or /h (e.g. \"< 1/s\")")
    })?;
    let unit = match unit.trim() {
        "s" => PerUnit::Second,
        "m" => PerUnit::Minute,
        "h" => PerUnit::Hour,
        other => {
            return Err(format!(
                "{text:?}: unknown rate unit /{other} (expected /s, /m or /h)"
            ));
        }
    };
    Ok((
        Threshold {
            op,
            value: number(count, text)?,
            text: format!("{op} {rest}"),
        },
        unit,
    ))
}

/// A PromQL string literal.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A threshold as a PromQL number (shortest form that reads back the same).
fn promql_number(value: f64) -> String {
    format!("{value}")
}

/// Where a service's series are.
enum Source {
    Spans,
    Statsd(StatsdSource),
}

struct StatsdSource {
    latency: Option<String>,
    requests: Option<String>,
    errors: Option<String>,
    error_matchers: Option<String>,
    /// The matchers selecting the service's series (without braces).
    matchers: String,
}

/// One latency signal: its key, its quantile, its threshold.
struct Latency {
    key: &'static str,
    quantile: &'static str,
    name: &'static str,
    threshold: Threshold,
    at: Location,
}

/// Expands one entry into its group, or records why it cannot be expanded.
pub(crate) fn expand_entry(
    raw: RawGolden,
    at: Location,
    errors: &mut Errors<'_>,
) -> Option<RuleGroup> {
    let before = errors.errors.len();
    let service = match raw.service {
        Some(service) if !service.value.trim().is_empty() => {
            if service.value.contains("{{") {
                errors.push(
                    service.referenced,
                    ErrorKind::GoldenSignal(
                        "the service name must not contain \"{{\" (it is written into the annotations)".to_owned(),
                    ),
                );
            }
            service.value
        }
        Some(service) => {
            errors.push(
                service.referenced,
                ErrorKind::GoldenSignal("'service' must not be empty".to_owned()),
            );
            return None;
        }
        None => {
            errors.push(
                at,
                ErrorKind::GoldenSignal("a golden_signals entry needs a 'service'".to_owned()),
            );
            return None;
        }
    };

    let source = source(&raw.source, raw.statsd, &service, at, errors);
    let window = raw
        .window
        .and_then(|d| duration(d, "window", errors))
        .unwrap_or(DEFAULT_WINDOW);
    if window.is_zero() {
        errors.push(
            at,
            ErrorKind::GoldenSignal("'window' must be longer than 0s".to_owned()),
        );
    }
    let for_ = raw
        .for_
        .and_then(|d| duration(d, "for", errors))
        .unwrap_or_default();
    let keep_firing_for = raw
        .keep_firing_for
        .and_then(|d| duration(d, "keep_firing_for", errors))
        .unwrap_or_default();
    let interval = raw.interval.and_then(|d| duration(d, "interval", errors));

    for (name, value) in &raw.labels {
        if name == "service" || name == "signal" {
            errors.push(
                value.referenced,
                ErrorKind::GoldenSignal(format!(
                    "label {name:?} is set by the shorthand; choose another name"
                )),
            );
        }
    }
    let labels = labels(raw.labels, "label", true, errors);
    let annotations = annotations(raw.annotations, errors);

    let mut latencies = Vec::new();
    for (key, quantile, name, raw) in [
        (
            "latency_p50",
            "0.5",
            "GoldenSignalLatencyP50",
            raw.latency_p50,
        ),
        (
            "latency_p90",
            "0.9",
            "GoldenSignalLatencyP90",
            raw.latency_p90,
        ),
        (
            "latency_p95",
            "0.95",
            "GoldenSignalLatencyP95",
            raw.latency_p95,
        ),
        (
            "latency_p99",
            "0.99",
            "GoldenSignalLatencyP99",
            raw.latency_p99,
        ),
    ] {
        if let Some(raw) = raw {
            match latency_threshold(&raw.value) {
                Ok(threshold) => latencies.push(Latency {
                    key,
                    quantile,
                    name,
                    threshold,
                    at: raw.referenced,
                }),
                Err(message) => errors.push(raw.referenced, threshold_error(key, message)),
            }
        }
    }
    let error_ratio = signal_threshold(raw.error_ratio, "error_ratio", ratio_threshold, errors);
    let traffic = signal_threshold(raw.traffic, "traffic", traffic_threshold, errors);
    let saturation = raw
        .saturation
        .and_then(|raw| saturation(raw.value, raw.referenced, errors));
    if latencies.is_empty()
        && error_ratio.is_none()
        && traffic.is_none()
        && saturation.is_none()
        && errors.errors.len() == before
    {
        errors.push(
            at,
            ErrorKind::GoldenSignal(format!(
                "the entry for service {service:?} has no signal: set latency_p50, latency_p90, \
                 latency_p95, latency_p99, error_ratio, traffic or saturation"
            )),
        );
    }
    let source = source?;

    let window_text = format_duration(window);
    let ctx = Context {
        service: &service,
        source: &source,
        window: &window_text,
        for_,
        keep_firing_for,
        labels: &labels,
        annotations: &annotations,
    };
    let mut rules: Vec<Rule> = latencies
        .iter()
        .filter_map(|latency| ctx.latency_rule(latency, errors))
        .collect();
    rules.extend(
        error_ratio
            .as_ref()
            .and_then(|(threshold, at)| ctx.error_ratio_rule(threshold, *at, errors)),
    );
    rules.extend(
        traffic
            .as_ref()
            .and_then(|((threshold, per), at)| ctx.traffic_rule(threshold, *per, *at, errors)),
    );
    rules.extend(
        saturation
            .as_ref()
            .map(|(inner, threshold, at)| ctx.saturation_rule(inner, threshold, *at, errors)),
    );
    (errors.errors.len() == before).then(|| RuleGroup {
        name: format!("{GROUP_PREFIX}{service}"),
        interval,
        limit: 0,
        query_offset: None,
        labels: BTreeMap::new(),
        rules,
        file: Default::default(),
        line: at.line(),
    })
}

/// A signal's threshold parsed with its position, or its error recorded under `key`.
fn signal_threshold<T>(
    raw: Option<Spanned<String>>,
    key: &str,
    parse: fn(&str) -> Result<T, String>,
    errors: &mut Errors<'_>,
) -> Option<(T, Location)> {
    let raw = raw?;
    match parse(&raw.value) {
        Ok(threshold) => Some((threshold, raw.referenced)),
        Err(message) => {
            errors.push(raw.referenced, threshold_error(key, message));
            None
        }
    }
}

fn threshold_error(key: &str, message: String) -> ErrorKind {
    ErrorKind::GoldenSignal(format!("invalid threshold for {key}: {message}"))
}

fn span_matchers(service: &str) -> String {
    format!("service={},span_kind=\"server\"", quote(service))
}

/// The counter of all requests: `statsd.requests`, or the timer's `_count`.
fn statsd_requests(
    statsd: &StatsdSource,
    key: &str,
    at: Location,
    errors: &mut Errors<'_>,
) -> Option<String> {
    let name = match (&statsd.requests, &statsd.latency) {
        (Some(requests), _) => requests.clone(),
        (None, Some(timer)) => format!("{timer}_count"),
        (None, None) => {
            errors.push(
                at,
                ErrorKind::GoldenSignal(format!(
                    "{key} with source statsd needs statsd.requests (a counter of requests) or \
                     statsd.latency (a timer, whose _count counts requests)"
                )),
            );
            return None;
        }
    };
    Some(format!("{name}{{{}}}", statsd.matchers))
}

/// The failed and the total requests' series for the error ratio.
fn statsd_error_series(
    statsd: &StatsdSource,
    at: Location,
    errors: &mut Errors<'_>,
) -> Option<(String, String)> {
    let total = statsd_requests(statsd, "error_ratio", at, errors)?;
    let failed = match (&statsd.errors, &statsd.error_matchers) {
        (Some(name), _) => format!("{name}{{{}}}", statsd.matchers),
        (None, Some(matchers)) => {
            let base = total.strip_suffix('}').unwrap_or(&total);
            let sep = if base.ends_with('{') { "" } else { "," };
            format!("{base}{sep}{matchers}}}")
        }
        (None, None) => {
            errors.push(
                at,
                ErrorKind::GoldenSignal(
                    "error_ratio with source statsd needs statsd.errors (a counter of failed \
                     requests) or statsd.error_matchers (e.g. 'status=~\"5..\"')"
                        .to_owned(),
                ),
            );
            return None;
        }
    };
    Some((failed, total))
}

fn saturation(
    raw: RawSaturation,
    at: Location,
    errors: &mut Errors<'_>,
) -> Option<(String, Threshold, Location)> {
    let expr = match raw.expr {
        Some(expr) if !expr.value.trim().is_empty() => {
            if let Err(message) = promql_parser::parser::parse(&expr.value) {
                errors.push(expr.referenced, ErrorKind::InvalidExpr(message));
                return None;
            }
            expr.value.trim().to_owned()
        }
        _ => {
            errors.push(
                at,
                ErrorKind::GoldenSignal(
                    "saturation needs 'expr': PromQL giving a 0..1 ratio (e.g. used / limit)"
                        .to_owned(),
                ),
            );
            return None;
        }
    };
    let Some(threshold) = raw.threshold else {
        errors.push(
            at,
            ErrorKind::GoldenSignal("saturation needs 'threshold' (e.g. \"> 80%\")".to_owned()),
        );
        return None;
    };
    match ratio_threshold(&threshold.value) {
        Ok(parsed) => Some((expr, parsed, at)),
        Err(message) => {
            errors.push(threshold.referenced, threshold_error("saturation", message));
            None
        }
    }
}

fn source(
    raw: &Option<Spanned<String>>,
    statsd: Option<Spanned<RawStatsd>>,
    service: &str,
    at: Location,
    errors: &mut Errors<'_>,
) -> Option<Source> {
    let name = raw.as_ref().map_or("spans", |s| s.value.as_str());
    match name {
        "spans" => {
            if let Some(statsd) = statsd {
                errors.push(
                    statsd.referenced,
                    ErrorKind::GoldenSignal("'statsd' is only for source: statsd".to_owned()),
                );
                return None;
            }
            Some(Source::Spans)
        }
        "statsd" => {
            let Some(statsd) = statsd else {
                errors.push(
                    raw.as_ref().map_or(at, |s| s.referenced),
                    ErrorKind::GoldenSignal(
                        "source: statsd needs a 'statsd' map naming the series (latency, \
                         requests, errors)"
                            .to_owned(),
                    ),
                );
                return None;
            };
            statsd_source(statsd.value, service, errors).map(Source::Statsd)
        }
        other => {
            errors.push(
                raw.as_ref().map_or(at, |s| s.referenced),
                ErrorKind::GoldenSignal(format!(
                    "unknown source {other:?} (expected spans or statsd)"
                )),
            );
            None
        }
    }
}

fn statsd_source(raw: RawStatsd, service: &str, errors: &mut Errors<'_>) -> Option<StatsdSource> {
    let before = errors.errors.len();
    let mut metric = |raw: Option<Spanned<String>>| {
        let raw = raw?;
        if !is_valid_metric_name(&raw.value) {
            errors.push(
                raw.referenced,
                ErrorKind::GoldenSignal(format!(
                    "{:?} is not a metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)",
                    raw.value
                )),
            );
        }
        Some(raw.value)
    };
    let latency = metric(raw.latency);
    let requests = metric(raw.requests);
    let errors_metric = metric(raw.errors);
    let matchers = match (raw.selector, raw.service_label) {
        (Some(selector), None) => {
            let matchers = selector
                .value
                .trim()
                .trim_start_matches('{')
                .trim_end_matches('}');
            if promql_parser::parser::parse(&format!("up{{{matchers}}}")).is_err() {
                errors.push(
                    selector.referenced,
                    ErrorKind::GoldenSignal(format!(
                        "selector {:?} is not a list of label matchers (e.g. app=\"checkout\",env=\"prod\")",
                        selector.value
                    )),
                );
            }
            matchers.to_owned()
        }
        (None, label) => {
            let label = label.map_or_else(
                || "service".to_owned(),
                |l| {
                    if !is_valid_label_name(&l.value) {
                        errors.push(l.referenced, ErrorKind::InvalidLabelName(l.value.clone()));
                    }
                    l.value
                },
            );
            format!("{label}={}", quote(service))
        }
        (Some(selector), Some(_)) => {
            errors.push(
                selector.referenced,
                ErrorKind::GoldenSignal(
                    "set either statsd.selector or statsd.service_label, not both".to_owned(),
                ),
            );
            String::new()
        }
    };
    let error_matchers = raw.error_matchers.map(|m| {
        if promql_parser::parser::parse(&format!("up{{{}}}", m.value)).is_err() {
            errors.push(
                m.referenced,
                ErrorKind::GoldenSignal(format!(
                    "error_matchers {:?} is not a list of label matchers (e.g. status=~\"5..\")",
                    m.value
                )),
            );
        }
        m.value
    });
    (errors.errors.len() == before).then_some(StatsdSource {
        latency,
        requests,
        errors: errors_metric,
        error_matchers,
        matchers,
    })
}

/// What every rule of an entry shares.
struct Context<'a> {
    service: &'a str,
    source: &'a Source,
    /// The rate window as PromQL writes it (`5m`).
    window: &'a str,
    for_: Duration,
    keep_firing_for: Duration,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
}

/// One signal's rule before the entry's shared parts are added.
struct Expansion<'a> {
    name: &'a str,
    signal: &'a str,
    expr: String,
    at: Location,
    summary: String,
    description: String,
}

impl Context<'_> {
    fn latency_rule(&self, latency: &Latency, errors: &mut Errors<'_>) -> Option<Rule> {
        let (service, window) = (self.service, self.window);
        let buckets = match self.source {
            Source::Spans => format!(
                "argus_span_duration_seconds_bucket{{{},status=\"ok\"}}",
                span_matchers(service)
            ),
            Source::Statsd(statsd) => match &statsd.latency {
                Some(name) => format!("{name}_bucket{{{}}}", statsd.matchers),
                None => {
                    errors.push(
                        latency.at,
                        ErrorKind::GoldenSignal(format!(
                            "{} with source statsd needs statsd.latency (the timer's metric name)",
                            latency.key
                        )),
                    );
                    return None;
                }
            },
        };
        // Span latency counts successful requests only; StatsD timers time whatever they time.
        let requests = match self.source {
            Source::Spans => "successful requests",
            Source::Statsd(_) => "requests",
        };
        let percentile = &latency.key["latency_".len()..];
        let threshold = &latency.threshold;
        Some(self.rule(
            Expansion {
                name: latency.name,
                signal: "latency",
                expr: format!(
                    "histogram_quantile({}, sum by (le) (rate({buckets}[{window}]))) {} {}",
                    latency.quantile,
                    threshold.op,
                    promql_number(threshold.value)
                ),
                at: latency.at,
                summary: format!("{service}: {percentile} latency {}", threshold.text),
                description: format!(
                    "The {percentile} latency of {service}'s {requests} over the last {window} \
                     is {{{{ $value | humanizeDuration }}}} (threshold {}).",
                    threshold.text
                ),
            },
            errors,
        ))
    }

    fn error_ratio_rule(
        &self,
        threshold: &Threshold,
        at: Location,
        errors: &mut Errors<'_>,
    ) -> Option<Rule> {
        let (service, window) = (self.service, self.window);
        let (failed, total) = match self.source {
            Source::Spans => (
                format!(
                    "argus_spans_total{{{},status=\"error\"}}",
                    span_matchers(service)
                ),
                format!("argus_spans_total{{{}}}", span_matchers(service)),
            ),
            Source::Statsd(statsd) => statsd_error_series(statsd, at, errors)?,
        };
        Some(self.rule(
            Expansion {
                name: "GoldenSignalErrorRatio",
                signal: "errors",
                expr: format!(
                    "sum(rate({failed}[{window}])) / (sum(rate({total}[{window}])) > 0) {} {}",
                    threshold.op,
                    promql_number(threshold.value)
                ),
                at,
                summary: format!("{service}: error ratio {}", threshold.text),
                description: format!(
                    "{{{{ $value | humanizePercentage }}}} of {service}'s requests failed over \
                     the last {window} (threshold {}).",
                    threshold.text
                ),
            },
            errors,
        ))
    }

    fn traffic_rule(
        &self,
        threshold: &Threshold,
        per: PerUnit,
        at: Location,
        errors: &mut Errors<'_>,
    ) -> Option<Rule> {
        let (service, window) = (self.service, self.window);
        let requests = match self.source {
            Source::Spans => format!("argus_spans_total{{{}}}", span_matchers(service)),
            Source::Statsd(statsd) => statsd_requests(statsd, "traffic", at, errors)?,
        };
        let mut rate = format!("sum(rate({requests}[{window}]))");
        // A service that sends nothing has no series at all: count it as 0 so that a "too
        // little traffic" alert fires for it.
        if threshold.op.starts_with('<') {
            rate = format!("({rate} or vector(0))");
        }
        if per != PerUnit::Second {
            rate = format!("{rate} * {}", per.seconds());
        }
        Some(self.rule(
            Expansion {
                name: "GoldenSignalTraffic",
                signal: "traffic",
                expr: format!("{rate} {} {}", threshold.op, promql_number(threshold.value)),
                at,
                summary: format!("{service}: traffic {}", threshold.text),
                description: format!(
                    "{service} receives {{{{ $value | humanize }}}} requests{} over the last \
                     {window} (threshold {}).",
                    per.suffix(),
                    threshold.text
                ),
            },
            errors,
        ))
    }

    fn saturation_rule(
        &self,
        inner: &str,
        threshold: &Threshold,
        at: Location,
        errors: &mut Errors<'_>,
    ) -> Rule {
        let service = self.service;
        self.rule(
            Expansion {
                name: "GoldenSignalSaturation",
                signal: "saturation",
                expr: format!(
                    "({inner}) {} {}",
                    threshold.op,
                    promql_number(threshold.value)
                ),
                at,
                summary: format!("{service}: saturation {}", threshold.text),
                description: format!(
                    "{service} is {{{{ $value | humanizePercentage }}}} saturated (threshold {}).",
                    threshold.text
                ),
            },
            errors,
        )
    }

    fn rule(&self, expansion: Expansion<'_>, errors: &mut Errors<'_>) -> Rule {
        let Expansion {
            name,
            signal,
            expr,
            at,
            summary,
            description,
        } = expansion;
        // The parts are checked one by one; the whole must parse too (a saturation expression
        // that only parses alone, say).
        if let Err(message) = promql_parser::parser::parse(&expr) {
            errors.push(
                at,
                ErrorKind::InvalidExpr(format!("{message} (in the expansion {expr:?})")),
            );
        }
        let mut labels = self.labels.clone();
        labels.insert("service".to_owned(), self.service.to_owned());
        labels.insert("signal".to_owned(), signal.to_owned());
        let mut annotations = BTreeMap::from([
            ("summary".to_owned(), summary),
            ("description".to_owned(), description),
        ]);
        annotations.extend(self.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
        Rule::Alerting(AlertingRule {
            name: name.to_owned(),
            expr,
            for_: self.for_,
            keep_firing_for: self.keep_firing_for,
            labels,
            annotations,
            line: at.line(),
        })
    }
}
