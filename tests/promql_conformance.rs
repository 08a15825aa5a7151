//! PromQL conformance: Prometheus' own PromQL test files (`tests/conformance/promql/*.test`,
//! copied unchanged from `promql/promqltest/testdata/`, language described in `FORMAT.md`
//! beside them) run against our engine over a real series store, followed by Argus' own cases
//! in the same language (`tests/promql/*.test`) for documented behaviour the upstream files
//! leave open.
//!
//! Each file (and each `clear` in it) gets a fresh [`storage::SeriesStore`] in a temporary
//! directory. `load` appends its samples with exact values (stale markers as
//! [`storage::stale_nan`]), fails loudly if the store rejects any, and checkpoints so queries
//! also read the chunk path. Each `eval` is checked the way the reference runner
//! (`promql/promqltest/test.go`) checks it:
//!
//! * values compare with `almost.Equal` (relative epsilon 1e-6, NaN equals NaN), vectors and
//!   matrices by label set, matrices must come sorted by labels, `expect ordered` (and
//!   `eval_ordered`) also checks positions;
//! * `expect fail` (+ `msg:` / `regex:` against the error's `Display`), `expect warn|info`
//!   (each expectation must match an annotation, and then every annotation of that type must
//!   match an expectation), `expect no_warn|no_info`, `expect string`, `expect range vector`,
//!   and the deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`,
//!   `expected_fail_message`, `expected_fail_regexp`;
//! * an instant query is also run with `@ <eval time>` set on every selector and subquery
//!   without a timestamp, at the times the reference uses (`-10t, 0, t/5, t, 10t`, or `-1s, 0,
//!   1s` at t = 0), unless it calls a function whose value depends on the evaluation time
//!   (`time`, `timestamp`, the date functions, `predict_linear`, and `start`/`end`, see
//!   `rewrite.rs`); and every one of those
//!   instant queries is re-run as a range query from t-1m to t+1m step 1m whose middle step
//!   must match too, unless it has `expect string`, `expect range vector` or mentions
//!   `start()`, `end()`, `range()` or `step()` (for `ordered` evals only its success counts).
//!
//! The reference engine (`promqltest.NewTestEngine`, used by Prometheus' `TestEvaluations`)
//! runs with: lookback delta 5m (the default; the test passes 0), `MaxSamples` 10000, timeout
//! 100s, subquery step 1m when none is given (`NoStepSubqueryIntervalFn`), `EnableAtModifier`,
//! `EnableNegativeOffset`, `EnableDelayedNameRemoval` (the `__name__` label is dropped at the
//! end of evaluation, not by each function, so e.g. `label_replace(rate(x[1m]), "__name__", …)`
//! and `sort_by_label(…, "__name__")` behave as in the files), `EnablePerStepStats` off,
//! `UseStartTimestamps`, and a parser with every experimental option of
//! `promqltest.TestParserOpts`: `EnableExperimentalFunctions` (limitk, limit_ratio,
//! mad_over_time, first_over_time, ts_of_*_over_time, sort_by_label(_desc),
//! double_exponential_smoothing, info, start/end/range/step, min_of/max_of, …),
//! `ExperimentalDurationExpr`, `EnableExtendedRangeSelectors` (`anchored`, `smoothed`) and
//! `EnableBinopFillModifiers` (`fill`, `fill_left`, `fill_right`). Its storage runs with
//! out-of-order samples accepted. We use the same lookback and timeout; the sample limit is the
//! engine default, as our columnar evaluator counts samples across all steps at once.
//!
//! Skipped (counted per file with the reason, decided from the test text only): native
//! histograms (evals expecting `{{…}}` values, evals whose selectors could match a series
//! loaded with `{{…}}` points, evals after a `load_with_nhcb` until the next `clear`), and the
//! feature-flagged syntax we do not implement: extended range selectors
//! (`anchored`/`smoothed`), binop fill modifiers, `info()`, and duration expressions
//! (arithmetic or functions inside `[…]`, after `offset` or after `@`). Experimental functions
//! that are ordinary float functions are run, not skipped.
//!
//! `PROMQL_TEST_FILE=functions.test` runs one file, `PROMQL_TEST_LINE=123` one eval (the loads
//! before it still run), `PROMQL_TEST_VERBOSE=1` also lists every skipped eval. A table and
//! every failure go to stderr; any failure (or a load the store rejects) fails the test.

#[path = "promql_conformance/compare.rs"]
mod compare;
#[path = "promql_conformance/rewrite.rs"]
mod rewrite;
#[path = "promql_conformance/runner.rs"]
mod runner;
#[path = "promql_conformance/script.rs"]
mod script;
#[path = "promql_conformance/skip.rs"]
mod skip;

use std::path::{Path, PathBuf};

use runner::{FileReport, Filter};

fn test_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/promql")
}

/// Argus' own cases in the same language, for documented behaviour the upstream files leave
/// open.
fn own_test_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql")
}

fn test_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [test_dir(), own_test_dir()] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{} exists: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "test"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Cuts `s` to at most `max` characters.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

#[test]
fn promql_conformance() {
    let only_file = std::env::var("PROMQL_TEST_FILE").ok();
    let filter = Filter {
        line: std::env::var("PROMQL_TEST_LINE")
            .ok()
            .map(|l| l.parse().expect("PROMQL_TEST_LINE is a line number")),
    };
    let files: Vec<PathBuf> = test_files()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            only_file
                .as_deref()
                .is_none_or(|f| name == f || name.strip_suffix(".test") == Some(f))
        })
        .collect();
    assert!(!files.is_empty(), "no test file matches {only_file:?}");

    let started = std::time::Instant::now();
    // Files are independent and most of a file's time is spent waiting for its stores to be
    // created, so they run concurrently.
    let reports: Vec<(String, FileReport)> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                let text = std::fs::read_to_string(path).expect("test file reads");
                let parsed = script::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                scope.spawn(move || (name, runner::run_script(&parsed, filter)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("file runner thread"))
            .collect()
    });

    if std::env::var_os("PROMQL_TEST_VERBOSE").is_some() {
        for (name, r) in &reports {
            for s in &r.skips {
                eprintln!(
                    "{name}:{}  {}  — skipped: {}",
                    s.line,
                    truncate(&s.query, 120),
                    s.reason
                );
            }
        }
        eprintln!();
    }
    let mut failures = 0;
    for (name, r) in &reports {
        for f in r.load_errors.iter().chain(&r.failures) {
            failures += 1;
            eprintln!(
                "{name}:{}  {}  — {}",
                f.line,
                truncate(&f.query, 120),
                truncate(&f.message, 400)
            );
        }
    }
    if failures > 0 {
        eprintln!();
    }
    eprintln!(
        "{:<22} {:>6} {:>7} {:>7} {:>8}  skip reasons",
        "file", "evals", "passed", "failed", "skipped"
    );
    let mut total = FileReport::default();
    let mut load_errors = 0;
    for (name, r) in &reports {
        let reasons: Vec<String> = r.skipped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        eprintln!(
            "{name:<22} {:>6} {:>7} {:>7} {:>8}  {}",
            r.evals,
            r.passed,
            r.failed,
            r.skipped_total(),
            reasons.join("; ")
        );
        total.evals += r.evals;
        total.passed += r.passed;
        total.failed += r.failed;
        for (k, v) in &r.skipped {
            *total.skipped.entry(k).or_default() += v;
        }
        load_errors += r.load_errors.len();
    }
    eprintln!(
        "{:<22} {:>6} {:>7} {:>7} {:>8}  ({:.1}s)",
        "total",
        total.evals,
        total.passed,
        total.failed,
        total.skipped_total(),
        started.elapsed().as_secs_f64()
    );
    if let Some(line) = filter.line {
        assert!(total.evals > 0, "no eval starts at line {line}");
    }
    assert!(
        total.failed == 0 && load_errors == 0,
        "{} of {} PromQL conformance evals failed, {load_errors} loads were rejected (see above)",
        total.failed,
        total.evals,
    );
}

mod unit {
    use promql_parser::parser::parse;
    use storage::{Labels, is_stale_nan};

    use crate::compare::almost_equal;
    use crate::rewrite::{at_modifier_cases, renders_faithfully, uses_query_context_funcs};
    use crate::script::{
        self, Command, SeqValue, parse_duration, parse_series_labels, parse_values,
    };
    use crate::skip;

    fn vals(s: &str) -> Vec<SeqValue> {
        parse_values(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn floats(s: &str) -> Vec<f64> {
        vals(s)
            .into_iter()
            .map(|v| match v {
                SeqValue::Value(v) => v,
                SeqValue::Omitted => panic!("omitted value in {s}"),
            })
            .collect()
    }

    #[test]
    fn expands_series_values() {
        assert_eq!(floats("1 2 3"), [1.0, 2.0, 3.0]);
        assert_eq!(floats("1+2x3"), [1.0, 3.0, 5.0, 7.0]);
        assert_eq!(floats("1-1x3"), [1.0, 0.0, -1.0, -2.0]);
        assert_eq!(floats("-1x5"), [-1.0; 6]);
        assert_eq!(floats("0+10x2 5"), [0.0, 10.0, 20.0, 5.0]);
        assert_eq!(floats("1x0"), [1.0]);
        assert_eq!(floats("-2-2x2"), [-2.0, -4.0, -6.0]);
        assert_eq!(floats("1.5e1 .5 -0.25"), [15.0, 0.5, -0.25]);
        assert_eq!(floats("1e+2+1e1x1"), [100.0, 110.0]);
        assert_eq!(
            floats("Inf -Inf +Inf"),
            [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]
        );
        assert_eq!(floats("Infx1"), [f64::INFINITY; 2]);
        let nan = floats("NaN nan NaNx1");
        assert_eq!(nan.len(), 4);
        assert!(nan.iter().all(|v| v.is_nan() && !is_stale_nan(*v)));
        // Repeated addition, as the reference does, not multiplication.
        let mut want = Vec::new();
        let mut v = 0.0;
        for _ in 0..=10 {
            want.push(v);
            v += 0.1;
        }
        assert_eq!(floats("0+0.1x10"), want);
    }

    #[test]
    fn expands_omitted_and_stale_values() {
        assert_eq!(
            vals("1 _ _x3 2"),
            [
                SeqValue::Value(1.0),
                SeqValue::Omitted,
                SeqValue::Omitted,
                SeqValue::Omitted,
                SeqValue::Omitted,
                SeqValue::Value(2.0)
            ]
        );
        assert!(vals("_x0").is_empty());
        let v = vals("stale 1");
        assert!(matches!(v[0], SeqValue::Value(x) if is_stale_nan(x)));
        assert_eq!(v[1], SeqValue::Value(1.0));
        for bad in ["1+2", "1x", "x3", "1+2y3", "abc", "1x-3", "_x"] {
            assert!(parse_values(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn parses_series_descriptors() {
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        assert_eq!(
            parse_series_labels(r#"metric{a="b", c="d"}"#).unwrap(),
            l(&[("__name__", "metric"), ("a", "b"), ("c", "d")])
        );
        assert_eq!(
            parse_series_labels(r#"{__name__="x", a="b"}"#).unwrap(),
            l(&[("__name__", "x"), ("a", "b")])
        );
        assert_eq!(
            parse_series_labels(r#"{"utf8.metric", "a.b"="c"}"#).unwrap(),
            l(&[("__name__", "utf8.metric"), ("a.b", "c")])
        );
        assert_eq!(parse_series_labels("{}").unwrap(), Labels::default());
        assert_eq!(parse_series_labels("up").unwrap(), l(&[("__name__", "up")]));
        assert_eq!(
            parse_series_labels(r#"{a=""}"#).unwrap(),
            Labels::default(),
            "an empty value is an absent label"
        );
        assert!(parse_series_labels(r#"x{a=~"b"}"#).is_err());
        assert_eq!(
            script::split_series_line(r#"m{a="x y}", b="{{"} 1 2"#),
            (r#"m{a="x y}", b="{{"}"#, "1 2")
        );
        assert_eq!(script::split_series_line("m\t1+1x3"), ("m", "1+1x3"));
        assert_eq!(script::split_series_line("{} 5"), ("{}", "5"));
    }

    #[test]
    fn parses_durations_and_numbers() {
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("5m").unwrap(), 300_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("10s53ms").unwrap(), 10_053);
        assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
        for bad in ["", "5", "m", "30m1h", "5x", "1.5m", "-1m"] {
            assert!(parse_duration(bad).is_err(), "{bad} should not parse");
        }
        assert_eq!(script::parse_number("3").unwrap(), 3.0);
        assert_eq!(script::parse_number("-0x10").unwrap(), -16.0);
        assert_eq!(script::parse_number("1e3").unwrap(), 1000.0);
        assert!(script::parse_number("NaN").unwrap().is_nan());
        assert_eq!(script::parse_number("-Inf").unwrap(), f64::NEG_INFINITY);
        assert!(script::parse_number("{} 1").is_err());
        assert!(script::parse_number("metric").is_err());
        assert_eq!(script::go_unquote("`Foo`").as_deref(), Some("Foo"));
        assert_eq!(
            script::go_unquote(r#"" F\"o\n""#).as_deref(),
            Some(" F\"o\n")
        );
        assert_eq!(script::go_unquote(r#""\x41\u00e9""#).as_deref(), Some("Aé"));
        assert_eq!(script::go_unquote("\"\"").as_deref(), Some(""));
        assert!(script::go_unquote("Foo").is_none());
        assert!(script::go_unquote("\"Foo").is_none());
    }

    #[test]
    fn almost_equal_follows_prometheus() {
        let eps = 1e-6;
        assert!(almost_equal(f64::NAN, f64::NAN, eps));
        assert!(almost_equal(storage::stale_nan(), f64::NAN, eps));
        assert!(!almost_equal(f64::NAN, 1.0, eps));
        assert!(!almost_equal(1.0, f64::NAN, eps));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, eps));
        assert!(almost_equal(f64::NEG_INFINITY, f64::NEG_INFINITY, eps));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, eps));
        assert!(!almost_equal(f64::INFINITY, f64::MAX, eps));
        assert!(!almost_equal(1e300, f64::INFINITY, eps));
        assert!(almost_equal(0.0, -0.0, eps));
        assert!(almost_equal(1.0, 1.0 + 1e-7, eps));
        assert!(!almost_equal(1.0, 1.0 + 1e-5, eps));
        // Relative to the sum of magnitudes: 1e-6 of 2e9.
        assert!(almost_equal(1e9, 1e9 + 1000.0, eps));
        assert!(!almost_equal(1e9, 1e9 + 3000.0, eps));
        assert!(almost_equal(-2.0, -2.000001, eps));
        // Near zero only differences below eps * the smallest normal number are equal.
        assert!(!almost_equal(0.0, 1e-300, eps));
        assert!(almost_equal(0.0, 1e-320, eps));
        assert!(!almost_equal(1e-10, 2e-10, eps));
        assert!(almost_equal(f64::MAX, f64::MAX, eps));
    }

    #[test]
    fn parses_eval_blocks() {
        let text = "\
load 5m
  m{a=\"1\"} 0+1x2
  m{a=\"1\"} 5
  h {{schema:0 sum:1 count:1}}

# comment
eval instant at 10m sum(m)
  expect no_warn
  expect warn msg: PromQL warning: x (1:1)
  {} 3

eval range from 0 to 10m step 5m m
  m{a=\"1\"} 0 _ 2
  # a comment ends the block

eval_fail instant at 0 foo
  expected_fail_message boom

eval instant at 1m \"x\"
  expect string `x`

eval instant at 1m m[1m]
  expect range vector from 10s to 1m step 10s
  m{a=\"1\"} 1 2 3
";
        let err = script::parse(text).unwrap_err();
        assert!(err.contains("warn and no_warn"), "{err}");
        let s = script::parse(&text.replace("  expect no_warn\n", "")).unwrap();
        assert_eq!(s.commands.len(), 6);
        let Command::Load(load) = &s.commands[0] else {
            panic!()
        };
        assert_eq!(load.gap_ms, 300_000);
        assert_eq!(load.series.len(), 2);
        let m = &load.series[&parse_series_labels("m{a=\"1\"}").unwrap()];
        assert_eq!(
            m.values,
            [SeqValue::Value(5.0)],
            "a later line replaces an earlier one"
        );
        assert!(load.series[&parse_series_labels("h").unwrap()].histogram);
        let Command::Eval(e) = &s.commands[1] else {
            panic!()
        };
        assert_eq!(
            (e.line, e.eval_time, e.expr.as_str()),
            (7, 600_000, "sum(m)")
        );
        assert_eq!(e.expects.len(), 1);
        assert_eq!(e.expected[&Labels::default()].pos, 1);
        let Command::Eval(e) = &s.commands[2] else {
            panic!()
        };
        assert_eq!((e.start, e.end, e.step), (0, 600_000, 300_000));
        let Command::Eval(e) = &s.commands[3] else {
            panic!()
        };
        assert!(e.is_fail());
        assert_eq!(e.expected_fail_message.as_deref(), Some("boom"));
        let Command::Eval(e) = &s.commands[4] else {
            panic!()
        };
        assert_eq!(e.expected_string, "x");
        assert!(e.exclude_from_range_query);
        let Command::Eval(e) = &s.commands[5] else {
            panic!()
        };
        assert_eq!(
            (e.start, e.end, e.step, e.eval_time),
            (10_000, 60_000, 10_000, 60_000)
        );
        assert_eq!(e.expected.values().next().unwrap().pos, 2);
        assert!(script::parse("eval instant at 1m m\n  m 1 2\n").is_err());
    }

    #[test]
    fn at_modifier_rewrite() {
        let case = |q: &str, t: i64| at_modifier_cases(q, t).unwrap();
        let (q, times) = case("sum(rate(m[5m])) + m offset 1m", 60_000).unwrap();
        assert_eq!(q, "sum(rate(m[5m] @ 60.000)) + m @ 60.000 offset 1m");
        assert_eq!(times, [-600_000, 0, 12_000, 60_000, 600_000]);
        let (q, times) = case("m @ 10 + m @ start()", 0).unwrap();
        assert_eq!(q, "m @ 10.000 + m @ 0.000");
        assert_eq!(times, [-1000, 0, 1000]);
        // A subquery gets the timestamp; what is inside it is left alone.
        let (q, _) = case("max_over_time(rate(m[1m])[5m:1m])", 1000).unwrap();
        assert_eq!(q, "max_over_time(rate(m[1m])[5m:1m] @ 1.000)");
        assert!(case("time() + m", 1000).is_none());
        assert!(case("timestamp(m)", 1000).is_none());
        assert!(case("start()", 1000).is_none());
        assert!(case("vector(end())", 1000).is_none());
        assert!(
            case("m @ start()", 1000).is_some(),
            "a modifier, not a call"
        );
        // Inside a timestamped subquery nothing is inspected, as in the reference.
        assert!(case("max_over_time(timestamp(m)[5m:1m] @ 100)", 1000).is_some());
        // `ignoring ()` renders as nothing: harmless alone, unparsable with `group_left`.
        assert!(case("a + ignoring() b", 1000).is_some());
        assert!(at_modifier_cases("a * ignoring() group_left(x) b", 1000).is_err());
        assert!(uses_query_context_funcs("m @ start()"));
        assert!(uses_query_context_funcs("vector(step())"));
        assert!(!uses_query_context_funcs("rate(m[5m])"));
    }

    #[test]
    fn feature_flag_skips() {
        use skip::unsupported_feature as f;
        assert_eq!(f("rate(m[5m] anchored)"), Some(skip::EXTENDED_RANGE));
        assert_eq!(f("m smoothed"), Some(skip::EXTENDED_RANGE));
        assert_eq!(f("sum(smoothed)"), None);
        assert_eq!(f("a and smoothed"), None);
        assert_eq!(f("a + on(x) fill(0) b"), Some(skip::FILL_MODIFIERS));
        assert_eq!(f("a + fill_left(1) b"), Some(skip::FILL_MODIFIERS));
        assert_eq!(f("fill + 1"), None);
        assert_eq!(f("info(up)"), Some(skip::INFO_FUNCTION));
        assert_eq!(f("m[step()]"), Some(skip::DURATION_EXPR));
        assert_eq!(f("m[5m+1m]"), Some(skip::DURATION_EXPR));
        assert_eq!(f("m[min_of(5m, 1m):]"), Some(skip::DURATION_EXPR));
        assert_eq!(f("m offset (1m * 2)"), Some(skip::DURATION_EXPR));
        assert_eq!(f("m offset -(1m)"), Some(skip::DURATION_EXPR));
        assert_eq!(f("m @ (10 + 1)"), Some(skip::DURATION_EXPR));
        assert_eq!(f(r#"m{a="[x+y]"}[5m:1m] offset -5m @ 100"#), None);
        assert_eq!(f("m @ start() + m @ end()"), None);
        // Experimental functions gated by EnableExperimentalFunctions are run, not skipped.
        assert_eq!(f("step() + vector(range()) + end() - start()"), None);
        assert_eq!(f("max_of(3, NaN) + min_of(1, 2)"), None);
        assert_eq!(f("sum by (start, step) (m)"), None);
        assert_eq!(f("m:rate5m[5m:1m]"), None);
        assert_eq!(f("limitk(1, m) + mad_over_time(m[5m])"), None);
    }

    #[test]
    fn histogram_selector_skips() {
        let hist = vec![Labels::from_pairs([("__name__", "h"), ("job", "a")])];
        assert!(skip::selects_histogram("rate(h[5m])", &hist));
        assert!(skip::selects_histogram(r#"{job="a"}"#, &hist));
        assert!(skip::selects_histogram(r#"{__name__=~"h|x"}"#, &hist));
        assert!(skip::selects_histogram(r#"sum(x) + h{job!="b"}"#, &hist));
        assert!(!skip::selects_histogram(r#"h{job="b"}"#, &hist));
        assert!(!skip::selects_histogram("x", &hist));
        assert!(!skip::selects_histogram("h", &[]));
    }

    /// The runner reports what is wrong and passes what is right, against the real engine.
    #[test]
    fn runner_detects_mismatches() {
        let text = "\
load 1m
  m{a=\"1\"} 1 2 3
  m{a=\"2\"} 4 5 6

eval instant at 2m m
  m{a=\"1\"} 3
  m{a=\"2\"} 6

eval instant at 2m m
  m{a=\"1\"} 3
  m{a=\"2\"} 7

eval instant at 2m m
  m{a=\"1\"} 3

eval range from 0 to 2m step 1m m{a=\"1\"}
  m{a=\"1\"} 1 2 4

eval instant at 2m m
  expect fail

eval instant at 2m m
  expect warn
  m{a=\"1\"} 3
  m{a=\"2\"} 6

eval instant at 2m sort(m)
  expect ordered
  m{a=\"2\"} 6
  m{a=\"1\"} 3

eval instant at 2m sort_desc(m)
  expect ordered
  m{a=\"2\"} 6
  m{a=\"1\"} 3

eval instant at 2m 1 +
  expect fail

eval range from 0 to 2m step 1m m{a=\"1\"} * 2
  {a=\"1\"} 2 _ 6
";
        let s = script::parse(text).unwrap();
        let r = crate::runner::run_script(&s, crate::runner::Filter::default());
        let failed: Vec<usize> = r.failures.iter().map(|f| f.line).collect();
        assert_eq!(failed, [9, 13, 16, 19, 22, 27, 40], "{:#?}", r.failures);
        assert_eq!((r.evals, r.passed, r.failed), (10, 3, 7));
        assert!(r.load_errors.is_empty());
    }

    /// Every query in the test files, and its `@`-rewritten form, survives promql-parser's
    /// rendering: render, parse again, same AST up to [`rewrite::canonical`]'s differences.
    /// The `@` step-invariance check depends on it.
    #[test]
    fn rendering_round_trips_every_query() {
        let mut unfaithful = Vec::new();
        for path in super::test_files() {
            let text = std::fs::read_to_string(&path).unwrap();
            let s = script::parse(&text).unwrap();
            for cmd in &s.commands {
                let Command::Eval(e) = cmd else { continue };
                let Ok(ast) = parse(&e.expr) else { continue };
                let rendered = ast.to_string();
                if !renders_faithfully(&ast, &rendered) {
                    unfaithful.push(format!(
                        "{}:{} {} => {rendered}",
                        path.display(),
                        e.line,
                        e.expr
                    ));
                }
                if let Err(err) = at_modifier_cases(&e.expr, e.eval_time) {
                    unfaithful.push(format!("{}:{} {err}", path.display(), e.line));
                }
            }
        }
        assert!(unfaithful.is_empty(), "{unfaithful:#?}");
    }
}
