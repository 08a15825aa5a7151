//! Black-box tests of `argus check-rules` and `argus rules expand`: the built binary run on
//! rule files under `tests/fixtures/rules/` (Prometheus' documentation examples, the
//! golden_signals shorthand, broken files), checking exit codes, output lines and positions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rules")
        .join(name)
}

fn argus(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_argus"))
        .args(args)
        .args(files)
        .output()
        .expect("run argus")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

#[test]
fn check_rules_accepts_prometheus_examples_and_the_shorthand() {
    let files = [
        fixture("prometheus_recording.yml"),
        fixture("prometheus_alerting.yml"),
        fixture("golden.yml"),
    ];
    let out = argus(&["check-rules"], &files);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "Checking {}\n  SUCCESS: 1 rules found\n\nChecking {}\n  SUCCESS: 3 rules found\n\n\
             Checking {}\n  SUCCESS: 7 rules found\n",
            files[0].display(),
            files[1].display(),
            files[2].display()
        )
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn check_rules_reports_each_mistake_at_its_position() {
    let cases = [
        (
            "bad_promql.yml",
            "5:15: could not parse expression: unclosed left parenthesis",
        ),
        (
            "bad_duration.yml",
            "6:14: invalid duration in 'for': not a valid duration string: \"5 minutes\"",
        ),
        (
            "bad_template.yml",
            "7:20: invalid template in annotation \"summary\": template: __alert:1:22: function \"humanise\" not defined",
        ),
        ("unknown_key.yml", "6:9: unknown field `severity`"),
        (
            "bad_golden.yml",
            "3:18: golden_signals: invalid threshold for latency_p99: \"> 500\": a latency needs a unit, ms or s",
        ),
    ];
    for (name, expected) in cases {
        let file = fixture(name);
        let out = argus(&["check-rules"], std::slice::from_ref(&file));
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(text(&out.stdout), format!("Checking {}\n", file.display()));
        let stderr = text(&out.stderr);
        let mut lines = stderr.lines();
        assert_eq!(lines.next(), Some("  FAILED:"), "{stderr}");
        let error = lines.next().unwrap_or_default();
        let prefix = format!("{}:{expected}", file.display());
        assert!(
            error.starts_with(&prefix),
            "{error}\nshould start with\n{prefix}"
        );
    }
}

#[test]
fn one_bad_file_fails_the_run_but_the_others_are_checked() {
    let files = [
        fixture("bad_promql.yml"),
        fixture("prometheus_recording.yml"),
        fixture("does_not_exist.yml"),
    ];
    let out = argus(&["check-rules"], &files);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Checking {}\n  SUCCESS: 1 rules found",
            files[1].display()
        )),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: cannot read rule file", files[2].display())),
        "{stderr}"
    );
}

#[test]
fn check_rules_needs_a_file() {
    let out = argus(&["check-rules"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn rules_expand_prints_a_rule_file_that_checks_and_reads_the_same() {
    let source = fixture("golden.yml");
    let out = argus(&["rules", "expand"], std::slice::from_ref(&source));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(!yaml.contains("golden_signals:"), "{yaml}");

    let dir = tempfile::tempdir().unwrap();
    let expanded = dir.path().join("expanded.yml");
    std::fs::write(&expanded, &yaml).unwrap();
    let check = argus(&["check-rules"], std::slice::from_ref(&expanded));
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert!(text(&check.stdout).ends_with("  SUCCESS: 7 rules found\n"));

    let groups = alerting::parse_rule_file(&expanded, &yaml).unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        ["own", "golden_signals/checkout", "golden_signals/api"]
    );
    assert_eq!(
        groups[1].rules[0].expr(),
        r#"histogram_quantile(0.99, sum by (le) (rate(argus_span_duration_seconds_bucket{service="checkout",span_kind="server",status="ok"}[5m]))) > 0.5"#
    );
    assert_eq!(
        groups[2].rules[1].expr(),
        r#"sum(rate(http_errors{service="api"}[10m])) / (sum(rate(http_request_duration_count{service="api"}[10m])) > 0) > 0.05"#
    );
    let original =
        alerting::parse_rule_file(&source, &std::fs::read_to_string(&source).unwrap()).unwrap();
    for (a, b) in groups.iter().zip(&original) {
        assert_eq!(a.name, b.name);
        let exprs = |g: &alerting::RuleGroup| {
            g.rules
                .iter()
                .map(|r| r.expr().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(exprs(a), exprs(b));
    }
}

#[test]
fn rules_expand_reports_errors_with_positions() {
    let file = fixture("bad_golden.yml");
    let out = argus(&["rules", "expand"], std::slice::from_ref(&file));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).starts_with(&format!("{}:3:18: golden_signals:", file.display())),
        "{}",
        text(&out.stderr)
    );
    let missing = fixture("does_not_exist.yml");
    let out = argus(&["rules", "expand"], std::slice::from_ref(&missing));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read rule file"));
}
