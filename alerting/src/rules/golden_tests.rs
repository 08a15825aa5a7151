//! Golden-signals tests: every signal × source expands to the PromQL documented in
//! `docs/golden-signals.md` (which parses), the expansion writes back as a rule file that reads
//! the same, default annotations render, and mistakes are reported at their line and column.
#![cfg(test)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::{AlertTemplateData, render_alert_template};

use crate::testing::TestResult;

fn parse(text: &str) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    parse_rule_file(Path::new("golden.yml"), text)
}

fn alerts(group: &RuleGroup) -> Vec<&AlertingRule> {
    group
        .rules
        .iter()
        .map(|rule| match rule {
            Rule::Alerting(rule) => rule,
            Rule::Recording(rule) => panic!("unexpected recording rule {}", rule.name),
        })
        .collect()
}

const SPANS: &str = r#"
golden_signals:
  - service: checkout
    latency_p50: "> 100ms"
    latency_p90: "> 250ms"
    latency_p95: ">= 0.3s"
    latency_p99: "> 500ms"
    error_ratio: "> 1%"
    traffic: "< 1/s"
    saturation:
      expr: max(process_open_fds{job="checkout"} / process_max_fds{job="checkout"})
      threshold: "> 80%"
    for: 5m
    keep_firing_for: 10m
    interval: 30s
    labels:
      severity: page
    annotations:
      runbook_url: https://runbooks.example.com/checkout
"#;

/// The expansions of `docs/golden-signals.md`, section "Source spans".
const SPANS_EXPANDED: [(&str, &str, &str); 7] = [
    (
        "GoldenSignalLatencyP50",
        "latency",
        r#"histogram_quantile(0.5, sum by (le) (rate(argus_span_duration_seconds_bucket{service="checkout",span_kind="server",status="ok"}[5m]))) > 0.1"#,
    ),
    (
        "GoldenSignalLatencyP90",
        "latency",
        r#"histogram_quantile(0.9, sum by (le) (rate(argus_span_duration_seconds_bucket{service="checkout",span_kind="server",status="ok"}[5m]))) > 0.25"#,
    ),
    (
        "GoldenSignalLatencyP95",
        "latency",
        r#"histogram_quantile(0.95, sum by (le) (rate(argus_span_duration_seconds_bucket{service="checkout",span_kind="server",status="ok"}[5m]))) >= 0.3"#,
    ),
    (
        "GoldenSignalLatencyP99",
        "latency",
        r#"histogram_quantile(0.99, sum by (le) (rate(argus_span_duration_seconds_bucket{service="checkout",span_kind="server",status="ok"}[5m]))) > 0.5"#,
    ),
    (
        "GoldenSignalErrorRatio",
        "errors",
        r#"sum(rate(argus_spans_total{service="checkout",span_kind="server",status="error"}[5m])) / (sum(rate(argus_spans_total{service="checkout",span_kind="server"}[5m])) > 0) > 0.01"#,
    ),
    (
        "GoldenSignalTraffic",
        "traffic",
        r#"(sum(rate(argus_spans_total{service="checkout",span_kind="server"}[5m])) or vector(0)) < 1"#,
    ),
    (
        "GoldenSignalSaturation",
        "saturation",
        r#"(max(process_open_fds{job="checkout"} / process_max_fds{job="checkout"})) > 0.8"#,
    ),
];

#[test]
fn spans_source_expands_to_the_documented_rules() -> TestResult {
    let groups = parse(SPANS).map_err(|e| format!("{e:?}"))?;
    assert_eq!(groups.len(), 1);
    let group = &groups[0];
    assert_eq!(group.name, "golden_signals/checkout");
    assert_eq!(group.interval, Some(Duration::from_secs(30)));
    assert_eq!(group.line, 3);
    let rules = alerts(group);
    assert_eq!(rules.len(), SPANS_EXPANDED.len());
    for (rule, (name, signal, expr)) in rules.iter().zip(SPANS_EXPANDED) {
        assert_eq!(rule.name, name);
        assert_eq!(rule.expr, expr, "{name}");
        promql_parser::parser::parse(&rule.expr)?;
        assert_eq!(rule.for_, Duration::from_secs(300));
        assert_eq!(rule.keep_firing_for, Duration::from_secs(600));
        let labels: BTreeMap<&str, &str> = rule
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            BTreeMap::from([
                ("service", "checkout"),
                ("severity", "page"),
                ("signal", signal)
            ])
        );
        assert_eq!(
            rule.annotations["runbook_url"],
            "https://runbooks.example.com/checkout"
        );
        assert!(rule.annotations.contains_key("summary"));
        assert!(rule.annotations.contains_key("description"));
    }
    assert_eq!(rules[3].line, 7);
    Ok(())
}

#[test]
fn statsd_source_expands_to_the_documented_rules() {
    let text = r#"
golden_signals:
  - service: api
    source: statsd
    statsd:
      latency: http_request_duration
      errors: http_errors
    latency_p99: "> 1s"
    error_ratio: "> 0.05"
    traffic: "> 1000/s"
  - service: web
    source: statsd
    window: 10m
    statsd:
      requests: requests
      error_matchers: status=~"5.."
      service_label: app
    error_ratio: ">= 2%"
    traffic: "< 10/m"
  - service: batch
    source: statsd
    statsd:
      latency: job_duration
      selector: 'job="batch",env="prod"'
    latency_p50: "> 2s"
    traffic: "<= 1/h"
"#;
    let groups = parse(text).unwrap_or_else(|e| panic!("{e:?}"));
    let exprs: Vec<Vec<String>> = groups
        .iter()
        .map(|g| alerts(g).iter().map(|r| r.expr.clone()).collect())
        .collect();
    assert_eq!(
        exprs,
        [
            vec![
                r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_bucket{service="api"}[5m]))) > 1"#,
                r#"sum(rate(http_errors{service="api"}[5m])) / (sum(rate(http_request_duration_count{service="api"}[5m])) > 0) > 0.05"#,
                r#"sum(rate(http_request_duration_count{service="api"}[5m])) > 1000"#,
            ],
            vec![
                r#"sum(rate(requests{app="web",status=~"5.."}[10m])) / (sum(rate(requests{app="web"}[10m])) > 0) >= 0.02"#,
                r#"(sum(rate(requests{app="web"}[10m])) or vector(0)) * 60 < 10"#,
            ],
            vec![
                r#"histogram_quantile(0.5, sum by (le) (rate(job_duration_bucket{job="batch",env="prod"}[5m]))) > 2"#,
                r#"(sum(rate(job_duration_count{job="batch",env="prod"}[5m])) or vector(0)) * 3600 <= 1"#,
            ],
        ]
    );
    for expr in exprs.iter().flatten() {
        promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    }
    let latency = alerts(&groups[0])[0];
    assert_eq!(
        latency.annotations["description"],
        "The p99 latency of api's requests over the last 5m is {{ $value | humanizeDuration }} \
         (threshold > 1s)."
    );
}

#[test]
fn expansion_writes_back_as_an_equivalent_rule_file() -> TestResult {
    let text = format!(
        "groups:\n  - name: own\n    rules:\n      - alert: Up\n        expr: up == 0\n{SPANS}"
    );
    let yaml =
        expand_golden_signals(Path::new("golden.yml"), &text).map_err(|e| format!("{e:?}"))?;
    assert!(!yaml.contains("golden_signals:"), "{yaml}");
    let again = parse(&yaml).unwrap_or_else(|e| panic!("{yaml}\n{e:?}"));
    let original = parse(&text).map_err(|e| format!("{e:?}"))?;
    let strip = |groups: Vec<RuleGroup>| -> Vec<(String, Vec<Rule>)> {
        groups
            .into_iter()
            .map(|g| {
                let rules = g
                    .rules
                    .into_iter()
                    .map(|rule| match rule {
                        Rule::Alerting(rule) => Rule::Alerting(AlertingRule { line: 0, ..rule }),
                        other => other,
                    })
                    .collect();
                (g.name, rules)
            })
            .collect()
    };
    assert_eq!(strip(again), strip(original), "{yaml}");
    Ok(())
}

#[test]
fn default_annotations_render() -> TestResult {
    let groups = parse(SPANS).map_err(|e| format!("{e:?}"))?;
    let rules = alerts(&groups[0]);
    let labels = rules[3].labels.clone();
    let empty = BTreeMap::new();
    let render = |text: &str, value: f64| -> TestResult<String> {
        Ok(render_alert_template(
            text,
            &AlertTemplateData {
                labels: &labels,
                external_labels: &empty,
                external_url: "",
                value,
            },
        )?)
    };
    assert_eq!(
        render(&rules[3].annotations["summary"], 0.75)?,
        "checkout: p99 latency > 500ms"
    );
    assert_eq!(
        render(&rules[3].annotations["description"], 0.75)?,
        "The p99 latency of checkout's successful requests over the last 5m is 750ms (threshold > 500ms)."
    );
    assert_eq!(
        render(&rules[4].annotations["description"], 0.0234)?,
        "2.34% of checkout's requests failed over the last 5m (threshold > 1%)."
    );
    assert_eq!(
        render(&rules[5].annotations["description"], 0.5)?,
        "checkout receives 500m requests/s over the last 5m (threshold < 1/s)."
    );
    assert_eq!(
        render(&rules[6].annotations["description"], 0.9)?,
        "checkout is 90% saturated (threshold > 80%)."
    );
    Ok(())
}

/// Each case: the file, the line and column of the first error, a piece of its message.
#[test]
fn mistakes_are_reported_at_their_position() -> TestResult {
    let cases: &[(&str, u64, u64, &str)] = &[
        (
            "golden_signals:\n  - service: a\n    latency_p99: \"> 5\"\n",
            3,
            18,
            "invalid threshold for latency_p99: \"> 5\": a latency needs a unit, ms or s",
        ),
        (
            "golden_signals:\n  - service: a\n    latency_p99: \"500ms\"\n",
            3,
            18,
            "must start with a comparison",
        ),
        (
            "golden_signals:\n  - service: a\n    error_ratio: \"> 150%\"\n",
            3,
            18,
            "a ratio is between 0 and 1",
        ),
        (
            "golden_signals:\n  - service: a\n    traffic: \"< 1/d\"\n",
            3,
            14,
            "unknown rate unit /d",
        ),
        (
            "golden_signals:\n  - service: a\n    latency: \"> 1s\"\n",
            3,
            5,
            "unknown field `latency`",
        ),
        (
            "golden_signals:\n  - latency_p99: \"> 1s\"\n",
            2,
            5,
            "a golden_signals entry needs a 'service'",
        ),
        (
            "golden_signals:\n  - service: a\n    for: 5m\n",
            2,
            5,
            "has no signal",
        ),
        (
            "golden_signals:\n  - service: a\n    source: statsd\n    statsd:\n      errors: e\n    latency_p99: \"> 1s\"\n",
            6,
            18,
            "latency_p99 with source statsd needs statsd.latency",
        ),
        (
            "golden_signals:\n  - service: a\n    source: logs\n    traffic: \"< 1/s\"\n",
            3,
            13,
            "unknown source \"logs\"",
        ),
        (
            "golden_signals:\n  - service: a\n    traffic: \"< 1/s\"\n    window: 5min\n",
            4,
            13,
            "invalid duration in 'window'",
        ),
        (
            "golden_signals:\n  - service: a\n    traffic: \"< 1/s\"\n    labels:\n      signal: x\n",
            5,
            15,
            "label \"signal\" is set by the shorthand",
        ),
        (
            "golden_signals:\n  - service: a\n    traffic: \"< 1/s\"\n    annotations:\n      summary: \"{{ $value | nope }}\"\n",
            5,
            16,
            "function \"nope\" not defined",
        ),
        (
            "golden_signals:\n  - service: a\n    saturation:\n      expr: \"rate(x[5m]\"\n      threshold: \"> 90%\"\n",
            4,
            13,
            "could not parse expression",
        ),
        (
            "golden_signals:\n  - service: a\n    traffic: \"< 1/s\"\n  - service: a\n    traffic: \"< 2/s\"\n",
            4,
            5,
            "group name \"golden_signals/a\" is repeated",
        ),
        (
            "golden_signals:\n  - service: a\n    source: statsd\n    statsd:\n      latency: my-timer\n    latency_p99: \"> 1s\"\n",
            5,
            16,
            "\"my-timer\" is not a metric name",
        ),
    ];
    for (text, line, column, message) in cases {
        super::tests::first_error_at("golden.yml", text, (*line, *column, message))?;
    }
    Ok(())
}

proptest::proptest! {
    #[test]
    fn arbitrary_thresholds_never_panic(
        latency in "\\PC{0,12}",
        ratio in "[<>=%/0-9.smh ]{0,10}",
        traffic in "[<>=%/0-9.smh ]{0,10}",
        service in "\\PC{0,12}",
    ) {
        let quote = |s: &str| serde_json::to_string(s).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()));
        let text = format!(
            "golden_signals:\n  - service: {}\n    latency_p99: {}\n    error_ratio: {}\n    traffic: {}\n",
            quote(&service)?,
            quote(&latency)?,
            quote(&ratio)?,
            quote(&traffic)?
        );
        if let Ok(groups) = parse(&text) {
            for group in &groups {
                for rule in &group.rules {
                    proptest::prop_assert!(promql_parser::parser::parse(rule.expr()).is_ok(), "{}", rule.expr());
                }
            }
        }
    }
}

/// The documented expansions do what the docs say when the real PromQL engine runs them over
/// span-derived series in a real series store: latency from the `ok` buckets, the error
/// ratio, and "too little traffic" firing for a service that sends nothing at all.
#[test]
fn expansions_behave_over_real_series() -> TestResult {
    use query::promql::{Engine, EngineConfig, QueryOptions, Value};
    use storage::{Labels, Sample, SeriesSamples, SeriesStore, SeriesStoreConfig, SeriesWriter};

    let dir = tempfile::tempdir()?;
    let mut config = SeriesStoreConfig::new(dir.path().join("series"));
    config.retention = None;
    let store = SeriesStore::open(config, &prometheus::Registry::new())?;
    let now = storage::now_ms();
    let t0 = now - now % 60_000 - 10 * 60_000;
    // Counters growing at `per_second` for the ten minutes before `t0`, a sample every 15 s.
    let counter = |pairs: &[(&str, &str)], per_second: f64| SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: (0..=40)
            .map(|i| Sample {
                t: t0 - 600_000 + i * 15_000,
                v: per_second * (i * 15) as f64,
            })
            .collect(),
    };
    let span = |name: &'static str, status: &'static str, le: Option<&'static str>| {
        let mut pairs = vec![
            ("__name__", name),
            ("service", "checkout"),
            ("operation", "GET /cart"),
            ("span_kind", "server"),
            ("status", status),
        ];
        pairs.extend(le.map(|le| ("le", le)));
        pairs
    };
    let batch = vec![
        counter(&span("argus_spans_total", "ok", None), 2.0),
        counter(&span("argus_spans_total", "error", None), 0.1),
        // Of 2 ok requests a second: 1 within 100 ms, 5/3 within 500 ms, all within 1 s.
        counter(
            &span("argus_span_duration_seconds_bucket", "ok", Some("0.1")),
            1.0,
        ),
        counter(
            &span("argus_span_duration_seconds_bucket", "ok", Some("0.5")),
            5.0 / 3.0,
        ),
        counter(
            &span("argus_span_duration_seconds_bucket", "ok", Some("1")),
            2.0,
        ),
        counter(
            &span("argus_span_duration_seconds_bucket", "ok", Some("+Inf")),
            2.0,
        ),
    ];
    let outcome = store.append(batch)?;
    assert_eq!(outcome.rejected_total(), 0, "{outcome:?}");

    let text = r#"
golden_signals:
  - service: checkout
    latency_p50: "> 100ms"
    latency_p99: "> 500ms"
    error_ratio: "> 1%"
    traffic: "< 1/s"
  - service: idle
    traffic: "< 1/s"
    error_ratio: "> 1%"
"#;
    let groups = parse(text).map_err(|e| format!("{e:?}"))?;
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let values = |expr: &str| -> TestResult<Vec<f64>> {
        Ok(
            match engine
                .instant_query(expr, t0, &QueryOptions::default())?
                .value
            {
                Value::Vector(samples) => samples.into_iter().map(|s| s.v).collect(),
                other => panic!("{expr}: not a vector: {other:?}"),
            },
        )
    };
    let checkout: Vec<Vec<f64>> = groups[0]
        .rules
        .iter()
        .map(|r| values(r.expr()))
        .collect::<Result<_, _>>()?;
    // p50 is 100 ms exactly, not above; p99 interpolates in (0.5, 1]: 0.5 + 0.5 * (1.98 - 5/3) / (1/3).
    assert!(checkout[0].is_empty(), "p50: {:?}", checkout[0]);
    assert_eq!(checkout[1].len(), 1);
    assert!(
        (checkout[1][0] - 0.97).abs() < 1e-9,
        "p99: {:?}",
        checkout[1]
    );
    assert_eq!(checkout[2].len(), 1);
    assert!(
        (checkout[2][0] - 0.1 / 2.1).abs() < 1e-9,
        "errors: {:?}",
        checkout[2]
    );
    assert!(
        checkout[3].is_empty(),
        "2.1 requests/s is not < 1/s: {:?}",
        checkout[3]
    );
    let idle: Vec<Vec<f64>> = groups[1]
        .rules
        .iter()
        .map(|r| values(r.expr()))
        .collect::<Result<_, _>>()?;
    // Errors come before traffic in a group.
    assert!(
        idle[0].is_empty(),
        "no requests, no error ratio: {:?}",
        idle[0]
    );
    assert_eq!(idle[1], [0.0], "a silent service has no traffic");
    Ok(())
}
