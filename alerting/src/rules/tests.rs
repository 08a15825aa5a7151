//! Loader tests: a valid file round-trips, each mistake is reported at its line, and no input
//! panics the loader.
#![cfg(test)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;

use super::*;

use crate::testing::{TestResult, error_of};

fn parse(text: &str) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    parse_rule_file(Path::new("rules.yml"), text)
}

/// The first error `text` gives as the file `file`, checked to be at `line`:`column` and to
/// say `message`.
pub(super) fn first_error_at(
    file: &str,
    text: &str,
    (line, column, message): (u64, u64, &str),
) -> TestResult<RuleFileError> {
    let errors =
        error_of(parse_rule_file(Path::new(file), text)).map_err(|e| format!("{text}: {e}"))?;
    let first = &errors[0];
    assert_eq!(
        (first.line, first.column),
        (line, column),
        "{text}\n{errors:?}"
    );
    assert!(
        first.to_string().contains(message),
        "{text}\n{first}\nshould contain {message:?}"
    );
    Ok(first.clone())
}

/// Adapted from the examples in Prometheus' documentation (recording and alerting rules).
const VALID: &str = r#"# comment
groups:
  - name: example
    interval: 30s
    limit: 10
    query_offset: 1m
    labels:
      team: market
    rules:
      - record: code:prometheus_http_requests_total:sum
        expr: sum by (code) (prometheus_http_requests_total)
        labels:
          source: recording
      - alert: HighRequestLatency
        expr: job:request_latency_seconds:mean5m{job="myjob"} > 0.5
        for: 10m
        keep_firing_for: 1h30m
        labels:
          severity: page
        annotations:
          summary: "Instance {{ $labels.instance }} latency is {{ $value | humanize }}s"
  - name: second
    rules:
      - alert: InstanceDown
        expr: up == 0
"#;

/// Forgets where things came from, so that groups parsed from different text compare equal.
fn without_positions(mut groups: Vec<RuleGroup>) -> Vec<RuleGroup> {
    for group in &mut groups {
        group.line = 0;
        group.file = PathBuf::new();
        for rule in &mut group.rules {
            match rule {
                Rule::Alerting(rule) => rule.line = 0,
                Rule::Recording(rule) => rule.line = 0,
            }
        }
    }
    groups
}

#[test]
fn valid_file_parses_and_round_trips() -> TestResult {
    let groups = parse(VALID).map_err(|e| format!("{e:?}"))?;
    assert_eq!(groups.len(), 2);
    let group = &groups[0];
    assert_eq!(group.name, "example");
    assert_eq!(group.line, 3);
    assert_eq!(group.interval, Some(Duration::from_secs(30)));
    assert_eq!(group.limit, 10);
    assert_eq!(group.query_offset, Some(Duration::from_secs(60)));
    assert_eq!(group.labels["team"], "market");
    assert_eq!(group.file, Path::new("rules.yml"));
    let Rule::Recording(record) = &group.rules[0] else {
        panic!("first rule should be a recording rule");
    };
    assert_eq!(record.name, "code:prometheus_http_requests_total:sum");
    assert_eq!(record.labels["source"], "recording");
    assert_eq!(record.line, 10);
    let Rule::Alerting(alert) = &group.rules[1] else {
        panic!("second rule should be an alerting rule");
    };
    assert_eq!(alert.name, "HighRequestLatency");
    assert_eq!(alert.for_, Duration::from_secs(600));
    assert_eq!(alert.keep_firing_for, Duration::from_secs(5400));
    assert_eq!(alert.labels["severity"], "page");
    assert!(alert.annotations["summary"].contains("{{ $labels.instance }}"));
    assert_eq!(alert.line, 14);
    assert_eq!(groups[1].interval, None);
    assert_eq!(groups[1].rules[0].name(), "InstanceDown");

    let yaml = serde_saphyr::to_string(&RuleFile {
        groups: groups.clone(),
    })?;
    let again = parse(&yaml).unwrap_or_else(|e| panic!("{yaml}\n{e:?}"));
    assert_eq!(
        without_positions(again),
        without_positions(groups),
        "{yaml}"
    );
    Ok(())
}

#[test]
fn recording_rule_labels_are_not_templates() -> TestResult {
    let text = "groups:\n- name: a\n  rules:\n  - record: x:y\n    expr: up\n    labels:\n      raw: \"{{ not a template\"\n";
    let groups = parse(text).map_err(|e| format!("{e:?}"))?;
    let Rule::Recording(rule) = &groups[0].rules[0] else {
        panic!("a recording rule");
    };
    assert_eq!(rule.labels["raw"], "{{ not a template");
    Ok(())
}

#[test]
fn empty_file_has_no_groups() {
    assert_eq!(parse(""), Ok(vec![]));
    assert_eq!(parse("# nothing yet\n"), Ok(vec![]));
    assert_eq!(parse("groups: []\n"), Ok(vec![]));
}

/// Each case: the file, the expected line and column of the first error, a piece of its message.
#[test]
fn mistakes_are_reported_at_their_line() -> TestResult {
    let cases: &[(&str, u64, u64, &str)] = &[
        (
            "groups:\n- name: a\n  bogus: 1\n",
            3,
            3,
            "unknown field `bogus`",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    fro: 5m\n",
            6,
            5,
            "unknown field `fro`",
        ),
        ("groups: [\n", 1, 9, "unclosed bracket"),
        ("groups:\n- name: a\n  limit: -1\n", 3, 10, ""),
        (
            "groups:\n- name: a\n  rules: []\n- name: b\n- name: a\n",
            5,
            9,
            "group name \"a\" is repeated in the same file (first defined at line 2)",
        ),
        (
            "groups:\n- rules: []\n",
            2,
            3,
            "group name must not be empty",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - expr: up\n",
            4,
            5,
            "one of 'record' or 'alert' must be set",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    record: b\n    expr: up\n",
            5,
            13,
            "only one of 'record' and 'alert' must be set",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n",
            4,
            5,
            "field 'expr' must be set in rule",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: sum(up\n",
            5,
            11,
            "could not parse expression",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - record: 1bad\n    expr: up\n",
            4,
            13,
            "invalid recording rule name: \"1bad\"",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n    for: 5m\n",
            6,
            10,
            "invalid field 'for' in recording rule",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n    annotations:\n      x: y\n",
            7,
            10,
            "invalid field 'annotations' in recording rule",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      bad-name: x\n",
            7,
            17,
            "invalid label name: \"bad-name\"",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      9x: y\n",
            7,
            11,
            "invalid annotation name: \"9x\"",
        ),
        (
            "groups:\n- name: a\n  interval: 5 minutes\n",
            3,
            13,
            "invalid duration in 'interval': not a valid duration string",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    for: 1.5h\n",
            6,
            10,
            "invalid duration in 'for'",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    keep_firing_for: 30m1h\n",
            6,
            22,
            "invalid duration in 'keep_firing_for'",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      summary: \"{{ $labels.job is down\"\n",
            7,
            16,
            "invalid template in annotation \"summary\": template: __alert:1:0: unclosed action",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      x: \"{{ $value | nosuch }}\"\n",
            7,
            10,
            "invalid template in label \"x\": template: __alert:1:12: function \"nosuch\" not defined",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      s: \"{{ query \\\"up\\\" }}\"\n",
            7,
            10,
            "template: __alert:1:3: function \"query\" not supported in Argus templates",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      s: \"{{ $undefined }}\"\n",
            7,
            10,
            "undefined variable \"$undefined\"",
        ),
        (
            "groups:\n- name: a\n  labels:\n    team: \"{{ {{ }}\"\n",
            4,
            11,
            "invalid template in group label \"team\"",
        ),
    ];
    for (text, line, column, message) in cases {
        let first = first_error_at("rules.yml", text, (*line, *column, message))?;
        assert!(
            first
                .to_string()
                .starts_with(&format!("rules.yml:{line}:{column}: "))
        );
    }
    Ok(())
}

#[test]
fn all_errors_of_a_file_are_reported() -> TestResult {
    let text = "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: sum(\n  - record: 1x\n    expr: up\n    for: 1m\n";
    let errors = error_of(parse(text))?;
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [5, 6, 8], "{errors:?}");
    Ok(())
}

#[test]
fn loader_collects_errors_across_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    let binary = dir.path().join("binary.yml");
    let missing = dir.path().join("missing.yml");
    std::fs::write(&good, VALID)?;
    std::fs::write(&bad, "groups:\n- name: a\n  rules:\n  - alert: A\n")?;
    std::fs::write(&binary, [0xff, 0xfe, 0x00])?;

    assert_eq!(
        load_rule_files(std::slice::from_ref(&good))
            .map_err(|e| format!("{e:?}"))?
            .len(),
        2
    );
    let errors = error_of(load_rule_files(&[
        good,
        bad.clone(),
        binary.clone(),
        missing.clone(),
    ]))?;
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0].path, bad);
    assert_eq!(errors[0].line, 4);
    assert_eq!(errors[1].path, binary);
    assert_eq!(errors[1].kind, ErrorKind::NotUtf8);
    assert_eq!(errors[2].path, missing);
    assert!(matches!(errors[2].kind, ErrorKind::Read(_)));
    assert!(
        errors[2]
            .to_string()
            .starts_with(&format!("{}: cannot read", missing.display()))
    );
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_rule_bytes(Path::new("fuzz.yml"), &bytes);
    }

    /// Text made of rule-file fragments reaches deeper than random bytes.
    #[test]
    fn rule_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("groups:\n"), Just("- name: a\n"), Just("  rules:\n"), Just("  - alert: A\n"),
                Just("    expr: up\n"), Just("    for: 5m\n"), Just("  - record: r\n"),
                Just("    labels:\n"), Just("      x: \"{{ y\"\n"), Just("  interval: 1h30m\n"),
                Just("    expr: sum(\n"), Just("&a "), Just("*a\n"), Just("<<: *a\n"), Just("[{"),
                Just("    keep_firing_for: 99999999999y\n"), Just("\t"), Just("---\n"),
            ],
            0..24,
        )
    ) {
        let text: String = parts.concat();
        let _ = parse(&text);
    }
}
