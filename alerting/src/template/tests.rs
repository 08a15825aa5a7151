//! Template tests: Prometheus' `template/template_test.go` cases (those that need no query
//! engine and no HTML mode), cases after Go's `text/template` `exec_test.go` and
//! `fmt_test.go`, errors with positions, and properties (no input panics; rendering is
//! bounded).
#![cfg(test)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;

use crate::testing::{TestResult, error_of};

fn render(text: &str, dot: serde_json::Value) -> Result<String, String> {
    let vars = [("externalURL", json!("http://testhost:9090/path/prefix"))];
    Template::parse_named_for_tests(text)
        .map_err(|e| e.to_string())?
        .render(&dot, &vars)
        .map_err(|e| e.to_string())
}

fn ok(text: &str, dot: serde_json::Value, want: &str) {
    assert_eq!(render(text, dot).as_deref(), Ok(want), "{text}");
}

fn fails(text: &str, dot: serde_json::Value, want: &str) {
    assert_eq!(render(text, dot).err().as_deref(), Some(want), "{text}");
}

impl Template {
    fn parse_named_for_tests(text: &str) -> Result<Template, TemplateError> {
        Template::parse_inner("test", text, None)
    }
}

/// From Prometheus' `template/template_test.go` (`TestTemplateExpansion`).
#[test]
fn prometheus_expansion_cases() {
    ok("plain text", json!(null), "plain text");
    ok("{{ 1 }}", json!(null), "1");
    ok("{{ \"<b>\" }}", json!(null), "<b>");
    ok(
        "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
        json!(null),
        "1 2",
    );
    for (input, want) in [
        ("foo.example.com", "foo.example.com"),
        ("foo.example.com:12345", "foo.example.com"),
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1"),
        ("2001:0DB8::1", "2001:0DB8::1"),
        ("[2001:0DB8::1]:12345", "2001:0DB8::1"),
        ("[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345"),
    ] {
        ok(
            &format!("{{{{ {input:?} | stripPort }}}}"),
            json!(null),
            want,
        );
    }
    ok("{{ .Foo }}", json!(null), "<no value>");
    fails("{{", json!(null), "template: test:1:0: unclosed action");
    ok(
        "{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}",
        json!(null),
        "xa",
    );
    let range = |f: &str| format!("{{{{ range . }}}}{{{{ {f} . }}}}:{{{{ end }}}}");
    ok(
        &range("humanize"),
        json!([0.0, 1.0, 1234567.0, 0.12]),
        "0:1:1.235M:120m:",
    );
    ok(
        &range("humanize"),
        json!(["0.0", "1.0", "1234567.0", ".12"]),
        "0:1:1.235M:120m:",
    );
    fails(
        "{{ humanize \"one\" }}",
        json!(null),
        "template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax",
    );
    ok(
        &range("humanize"),
        json!([0, -1, 1, 1234567, i64::MAX]),
        "0:-1:1:1.235M:9.223E:",
    );
    ok(
        &range("humanize"),
        json!([0u64, 1u64, 1234567u64, u64::MAX]),
        "0:1:1.235M:18.45E:",
    );
    ok(
        &range("humanize1024"),
        json!([0.0, 1.0, 1048576.0, 0.12]),
        "0:1:1Mi:0.12:",
    );
    ok(
        &range("humanize1024"),
        json!(["0.0", "1.0", "1048576.0", ".12"]),
        "0:1:1Mi:0.12:",
    );
    ok(
        &range("humanize1024"),
        json!([0, -1, 1, 1234567, i64::MAX]),
        "0:-1:1:1.177Mi:8Ei:",
    );
    ok(
        &range("humanize1024"),
        json!([0u64, 1u64, 1234567u64, u64::MAX]),
        "0:1:1.177Mi:16Ei:",
    );
    ok(
        &range("humanizeDuration"),
        json!([
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99
        ]),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
    );
    ok(
        &range("humanizeDuration"),
        json!(["0", "1", "60", "3600", "86400"]),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
    );
    ok(
        &range("humanizeDuration"),
        json!([0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    );
    ok(
        &range("humanizeDuration"),
        json!([".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    );
    ok(
        &range("humanizeDuration"),
        json!([0, -1, 1, 1234567]),
        "0s:-1s:1s:14d 6h 56m 7s:",
    );
    ok(
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
        json!(["+Inf", "-Inf", "NaN"]),
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    );
    ok(
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
        json!(null),
        "-22.22%:0%:12.35%:123.5%",
    );
    ok(
        &range("humanizePercentage"),
        json!([0, -1, 1, 1234567, i64::MAX]),
        "0%:-100%:100%:1.235e+08%:9.223e+20%:",
    );
    ok(
        &range("humanizePercentage"),
        json!([0u64, 1u64, 1234567u64, u64::MAX]),
        "0%:100%:1.235e+08%:1.845e+21%:",
    );
    ok(
        r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#,
        json!(null),
        "-22.22%:0%:12.35%:123.5%",
    );
    fails(
        r#"{{ "one" | humanizePercentage }}"#,
        json!(null),
        r#"template: test:1:11: executing "test" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#,
    );
    ok(
        &range("humanizeTimestamp"),
        json!([0, -1, 1, 1234567, 9223372036i64]),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
    );
    fails(
        &range("humanizeTimestamp"),
        json!([i64::MIN, i64::MAX]),
        "template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
    );
    fails(
        &range("humanizeTimestamp"),
        json!([u64::MAX]),
        "template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64",
    );
    ok(
        "{{ 1435065584.128 | humanizeTimestamp }}",
        json!(null),
        "2015-06-23 13:19:44.128 +0000 UTC",
    );
    ok(
        r#"{{ "1435065584.128" | humanizeTimestamp }}"#,
        json!(null),
        "2015-06-23 13:19:44.128 +0000 UTC",
    );
    ok(
        r#"{{ (1435065584.128 | toTime).Format "2006" }}"#,
        json!(null),
        "2015",
    );
    ok(
        r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#,
        json!(null),
        "2015",
    );
    ok("{{ \"aa bb CC\" | title }}", json!(null), "Aa Bb CC");
    ok("{{ \"aa bb CC\" | toUpper }}", json!(null), "AA BB CC");
    ok("{{ \"aA bB CC\" | toLower }}", json!(null), "aa bb cc");
    ok(
        "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
        json!(null),
        "true false",
    );
    ok(
        "{{ graphLink \"up\" }}",
        json!(null),
        "/graph?g0.expr=up&g0.tab=0",
    );
    ok(
        "{{ tableLink \"up\" }}",
        json!(null),
        "/graph?g0.expr=up&g0.tab=1",
    );
    ok("{{ pathPrefix }}", json!(null), "/path/prefix");
    ok(
        "{{ externalURL }}",
        json!(null),
        "http://testhost:9090/path/prefix",
    );
    ok(
        "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
        json!(null),
        "3720.01",
    );
    for (input, want) in [
        ("foo.example.com", "foo"),
        ("foo.example.com:12345", "foo:12345"),
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1"),
        ("[2001:0DB8::1]:12345", "[2001:0DB8::1]:12345"),
        ("[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345"),
    ] {
        ok(
            &format!("{{{{ {input:?} | stripDomain }}}}"),
            json!(null),
            want,
        );
    }
}

#[test]
fn query_functions_are_refused_at_parse_time() -> TestResult {
    for name in [
        "query",
        "first",
        "label",
        "value",
        "sortByLabel",
        "strvalue",
    ] {
        let err = error_of(render(&format!("{{{{ {name} \"up\" }}}}"), json!(null)))?;
        assert_eq!(
            err,
            format!("template: test:1:3: function {name:?} not supported in Argus templates")
        );
    }
    assert_eq!(
        error_of(render("a\n  {{ nosuch 1 }}", json!(null)))?,
        "template: test:2:5: function \"nosuch\" not defined"
    );
    Ok(())
}

/// Alert templates as Prometheus renders them (`rules/alerting.go`).
#[test]
fn alert_templates() -> TestResult {
    let labels: LabelSet = [
        ("instance", "host:9100"),
        ("job", "node"),
        ("alertname", "Down"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let external: LabelSet = BTreeMap::from([("dc".to_owned(), "eu1".to_owned())]);
    let data = AlertTemplateData {
        labels: &labels,
        external_labels: &external,
        external_url: "https://argus.example.com/x",
        value: 1234567.0,
    };
    let render = |text: &str| render_alert_template(text, &data);
    assert_eq!(render("no actions")?, "no actions");
    assert_eq!(
        render(
            "{{ $labels.instance }} of {{ .Labels.job }} in {{ $externalLabels.dc }}: {{ $value }} ({{ $value | humanize }})"
        )?,
        "host:9100 of node in eu1: 1.234567e+06 (1.235M)"
    );
    assert_eq!(render("[{{ $labels.missing }}]")?, "[]");
    assert_eq!(
        render("{{ .Value }} {{ $externalURL }}")?,
        "1.234567e+06 https://argus.example.com/x"
    );
    assert_eq!(render("{{ pathPrefix }}")?, "/x");
    assert_eq!(
        error_of(render("{{ $nope }}"))?.to_string(),
        "template: __alert_Down:1:3: undefined variable \"$nope\""
    );
    assert!(check_alert_template("{{ $labels.job | toUpper }}").is_ok());
    assert_eq!(
        error_of(check_alert_template("{{ if $value }}x"))?.to_string(),
        "template: __alert:1:3: unexpected EOF in {{if}}"
    );
    let values = [
        (0.0, "0"),
        (100.0, "100"),
        (0.1, "0.1"),
        (1e6, "1e+06"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (-1.5e-7, "-1.5e-07"),
        (123456.0, "123456"),
    ];
    let parsed = Template::parse_alert("{{ $value }}")?;
    for (value, want) in values {
        let data = AlertTemplateData { value, ..data };
        assert_eq!(render_alert_template("{{ $value }}", &data)?, want);
        assert_eq!(parsed.render_alert(&data)?, want);
    }
    Ok(())
}

/// After Go's `text/template` `exec_test.go`.
#[test]
fn go_exec_cases() {
    let data = json!({
        "I": 17, "U": 16, "X": "x", "F": 1.5, "T": true, "Z": false, "Empty": [],
        "SI": [3, 4, 5], "SB": [true, false], "MSI": {"one": 1, "two": 2, "three": 3},
        "MSS": {"a": "b", "c": "d"}, "Nil": null, "Deep": {"A": {"B": "deep"}},
    });
    let cases: &[(&str, &str)] = &[
        (
            "{{.}}",
            "map[Deep:map[A:map[B:deep]] Empty:[] F:1.5 I:17 MSI:map[one:1 three:3 two:2] MSS:map[a:b c:d] Nil:<nil> SB:[true false] SI:[3 4 5] T:true U:16 X:x Z:false]",
        ),
        ("{{.X}}", "x"),
        ("{{.Deep.A.B}}", "deep"),
        ("{{.Nil}}", "<no value>"),
        (
            "{{.MSI.one}} {{.MSS.a}} [{{.MSS.zz}}] {{.MSI.zz}}",
            "1 b [] <no value>",
        ),
        ("{{$x := 23}}{{$x}}", "23"),
        ("{{$x := .X}}{{$x = \"y\"}}{{$x}}", "y"),
        ("{{with $x := .I}}{{$x}}{{end}}", "17"),
        ("{{$.I}}", "17"),
        ("{{if .T}}T{{else}}F{{end}}", "T"),
        ("{{if .Z}}T{{else if .I}}I{{else}}F{{end}}", "I"),
        ("{{if .Empty}}x{{else}}empty{{end}}", "empty"),
        (
            "{{if and .T .I}}and{{end}} {{and .T 0 .I}} {{or 0 \"\" .X}} {{or 0 \"\"}}",
            "and 0 x ",
        ),
        ("{{if not .Z}}not{{end}}", "not"),
        ("{{range .SI}}<{{.}}>{{end}}", "<3><4><5>"),
        (
            "{{range $i, $v := .SI}}{{$i}}={{$v}} {{end}}",
            "0=3 1=4 2=5 ",
        ),
        (
            "{{range $k, $v := .MSI}}{{$k}}={{$v}} {{end}}",
            "one=1 three=3 two=2 ",
        ),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        (
            "{{range .SI}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}",
            "3",
        ),
        (
            "{{range .SI}}{{if eq . 4}}{{continue}}{{end}}{{.}}{{end}}",
            "35",
        ),
        ("{{range 3}}{{.}}{{end}}", "012"),
        (
            "{{with .X}}{{.}}{{end}}{{with .Z}}no{{else}}else{{end}}",
            "xelse",
        ),
        ("{{with .Z}}no{{else with .X}}{{.}}{{end}}", "x"),
        ("{{len .SI}} {{len .X}} {{len .MSI}}", "3 1 3"),
        (
            "{{index .SI 1}} {{index .MSI \"two\"}} {{index .MSS \"zz\"}}|",
            "4 2 |",
        ),
        (
            "{{slice .SI 1}} {{slice .SI 1 2}} {{slice .X 0 1}}",
            "[4 5] [4] x",
        ),
        (
            "{{eq .I 17}} {{eq .I 1 2 17}} {{ne .X \"y\"}} {{lt .I 20}} {{le 1 1}} {{gt .F 1.0}} {{ge \"b\" \"a\"}}",
            "true true true true true true true",
        ),
        ("{{eq .I .U}}", "false"),
        ("{{print 1 2 \"a\" \"b\" 3}}", "1 2ab3"),
        ("{{println 1 \"a\"}}", "1 a\n"),
        (
            "{{html \"<a href='x'>&\\\"\"}}",
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;",
        ),
        (
            "{{js \"a'b\\\"<>&=\\n\"}}",
            "a\\'b\\\"\\u003C\\u003E\\u0026\\u003D\\u000A",
        ),
        ("{{urlquery \"a b&c/d\"}}", "a+b%26c%2Fd"),
        ("{{\"x\" | printf \"%s-%s\" \"y\"}}", "y-x"),
        ("{{(printf \"%d\" 3) | len}}", "1"),
        ("a {{- \" b \" -}} c", "a b c"),
        ("a  {{- /* comment */ -}}  b{{/* another */}}", "ab"),
        ("{{`raw\\n`}}", "raw\\n"),
        (
            "{{'a'}} {{0x10}} {{0o17}} {{0b11}} {{1_000}} {{1e3}} {{-2.5}}",
            "97 16 15 3 1000 1000 -2.5",
        ),
        ("{{\"\\u00e9\\t\\x41\"}}", "é\tA"),
        (
            "{{define \"T\"}}[{{.}}]{{end}}{{template \"T\" .X}}{{template \"T\"}}",
            "[x][<no value>]",
        ),
        ("{{block \"B\" .I}}<{{.}}>{{end}}", "<17>"),
        ("{{print nil}}", "<nil>"),
        ("{{ .MSS | len }}", "2"),
        (
            "{{ join \",\" (stringSlice \"a\" \"b\") }} {{ trimSpace \"  x \" }} {{ urlUnescape \"a%20b+c\" }}",
            "a,b x a b c",
        ),
        (
            "{{ date \"2006-01-02T15:04:05Z07:00 Mon Jan _2 03:04:05.000 PM\" (toTime 1435065584.128) }}",
            "2015-06-23T13:19:44Z Tue Jun 23 01:19:44.128 PM",
        ),
        (
            "{{ (toTime 1.5).Unix }} {{ toTime 1.5 }}",
            "1 1970-01-01 00:00:01.5 +0000 UTC",
        ),
        (
            "{{ toDuration 3723.5 }} {{ (toDuration 90).Minutes }} {{ humanizeDuration (toDuration 90) }}",
            "1h2m3.5s 1.5 1m 30s",
        ),
        ("{{ date \"2006\" \"2024-02-29T12:00:00Z\" }}", "2024"),
        (
            "{{ tz \"UTC\" (toTime 0) }}",
            "1970-01-01 00:00:00 +0000 UTC",
        ),
        ("{{-3}} x {{- 3 -}} y", "-3 x3y"),
        (
            "{{ $x := 1 }}{{ range .SI }}{{ $x = . }}{{ end }}{{ $x }}",
            "5",
        ),
        ("{{ with .Nil }}x{{ else }}y{{ end }}", "y"),
        ("{{ (.Deep).A.B }} {{ (index .Deep \"A\").B }}", "deep deep"),
        ("{{ index .MSI \"one\" | printf \"%03d\" }}", "001"),
        (
            "{{ or .Nil \"default\" }} {{ and 1 0 | not }} {{ if and .T (not .Z) }}ok{{ end }}",
            "default true ok",
        ),
        ("{{ printf \"%v|%s\" .Nil .X }}", "<nil>|x"),
        (
            "{{ define \"x\" }}<{{ . }}>{{ end }}{{ range .SI }}{{ template \"x\" . }}{{ end }}",
            "<3><4><5>",
        ),
        (
            "{{ range $k, $v := .MSS }}{{ $k }}{{ $v }}{{ end }} {{ len \"h\\u00e9\" }}",
            "abcd 3",
        ),
        ("{{ range .SI }}{{ $.X }}{{ end }}", "xxx"),
        (
            "{{ if .Z }}a{{ else if .Nil }}b{{ else if eq .X \"x\" }}c{{ else }}d{{ end }}",
            "c",
        ),
        ("{{ .I | printf \"%d-%s\" 1 }}", "1-%!s(int=17)"),
        (
            "{{ \"title case, ok\" | title }} {{ \"ÉCOLE\" | toLower }}",
            "Title Case, Ok école",
        ),
    ];
    for (text, want) in cases {
        ok(text, data.clone(), want);
    }
}

/// Alertmanager's notification data (`template.Data`) as JSON, with the methods its default
/// templates call.
#[test]
fn alertmanager_data() {
    let data = json!({
        "Status": "firing",
        "Receiver": "team-x",
        "GroupLabels": {"alertname": "Down"},
        "CommonLabels": {"alertname": "Down", "job": "node", "severity": "page"},
        "CommonAnnotations": {},
        "ExternalURL": "http://am:9093",
        "Alerts": [
            {"Status": "firing", "Labels": {"instance": "a"}, "StartsAt": "2024-05-01T10:00:00.5Z"},
            {"Status": "resolved", "Labels": {"instance": "b"}, "StartsAt": "2024-05-01T09:00:00Z"},
            {"Status": "firing", "Labels": {"instance": "c"}, "StartsAt": "2024-05-01T11:00:00+02:00"},
        ],
    });
    let subject = concat!(
        r#"[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] "#,
        r#"{{ .GroupLabels.SortedPairs.Values | join " " }} "#,
        r#"{{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}"#,
    );
    ok(subject, data.clone(), "[FIRING:2] Down (node page)");
    ok(
        "{{ range .Alerts.Firing }}{{ .Labels.instance }}@{{ .StartsAt.Format \"15:04:05.000\" }} {{ end }}",
        data.clone(),
        "a@10:00:00.500 c@09:00:00.000 ",
    );
    ok(
        "{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}",
        data.clone(),
        "alertname=Down;job=node;severity=page;",
    );
    ok(
        "{{ len .Alerts.Resolved }} {{ .CommonLabels.Names }}",
        data,
        "1 [alertname job severity]",
    );
}

/// After Go's `fmt_test.go`, the verbs templates use.
#[test]
fn printf_matches_go() -> TestResult {
    let cases: &[(&str, serde_json::Value, &str)] = &[
        (
            "%s|%v|%q",
            json!(["abc", "abc", "a\"b\n"]),
            "abc|abc|\"a\\\"b\\n\"",
        ),
        (
            "%5s|%-5s|%.2s|%05s",
            json!(["ab", "ab", "abc", "ab"]),
            "   ab|ab   |ab|000ab",
        ),
        (
            "%d|%5d|%-5d|%05d|%+d|% d|%x|%X|%o|%b|%c|%U",
            json!([42, 42, 42, -42, 42, 42, 255, 255, 8, 5, 65, 233]),
            "42|   42|42   |-0042|+42| 42|ff|FF|10|101|A|U+00E9",
        ),
        (
            "%f|%.2f|%5.1f|%-8.3f|%+.1f|%08.3f|%e|%.3e|%E",
            json!([
                2.34567, 2.34567, 2.34567, 2.34567, 3.0, -2.34567, 1234.5678, 1234.5678, 0.000123
            ]),
            "2.345670|2.35|  2.3|2.346   |+3.0|-002.346|1.234568e+03|1.235e+03|1.230000E-04",
        ),
        (
            "%g|%g|%g|%g|%.3g|%g|%G",
            json!([100000.0, 1000000.0, 0.0001, 0.00001, 1234.5678, 1.5, 1e-10]),
            "100000|1e+06|0.0001|1e-05|1.23e+03|1.5|1E-10",
        ),
        (
            "%v|%v|%v|%v",
            json!([1.0, 0.1, 123456789.0, 1e21]),
            "1|0.1|1.23456789e+08|1e+21",
        ),
        ("%t|%v", json!([true, false]), "true|false"),
        ("%x|% x|%#x", json!(["hi", "hi", "hi"]), "6869|68 69|0x6869"),
        ("%d%%", json!([50]), "50%"),
        ("%d", json!([1.5]), "%!d(float64=1.5)"),
        ("%s", json!([5]), "%!s(int=5)"),
        ("%f", json!(["x"]), "%!f(string=x)"),
        ("%d %d", json!([1]), "1 %!d(MISSING)"),
        ("%d", json!([1, "a"]), "1%!(EXTRA string=a)"),
        ("%v %d", json!([null, null]), "<nil> %!d(<nil>)"),
        ("%v|%d", json!([[1, 2], [3, 4]]), "[1 2]|[3 4]"),
        ("%v", json!([{"a": 1, "b": "c"}]), "map[a:1 b:c]"),
        ("%[2]d %[1]d", json!([1, 2]), "2 1"),
        (
            "%*d|%-*d|%.*f",
            json!([4, 7, 3, 7, 2, 2.34567]),
            "   7|7  |2.35",
        ),
        ("%-6.2f|%+6.2f", json!([2.0, 2.0]), "2.00  | +2.00"),
        ("%", json!([]), "%!(NOVERB)"),
        ("%z", json!([1]), "%!z(int=1)"),
    ];
    for (format, args, want) in cases {
        let args: Vec<value::Value> = args
            .as_array()
            .ok_or("printf case arguments are not an array")?
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => value::Value::Nil,
                v => value::Value::from_json(v),
            })
            .collect();
        assert_eq!(fmt::sprintf(format, &args), *want, "{format}");
    }
    // Floats that JSON cannot carry.
    let specials = [
        value::Value::Float(f64::INFINITY),
        value::Value::Float(f64::NEG_INFINITY),
        value::Value::Float(f64::NAN),
        value::Value::Float(f64::NAN),
    ];
    assert_eq!(
        fmt::sprintf("%v %05.1f %6.2f %+v", &specials),
        "+Inf  -Inf    NaN +NaN"
    );
    Ok(())
}

#[test]
fn errors_name_their_position() -> TestResult {
    let cases: &[(&str, &str)] = &[
        ("{{ .X", "template: test:1:0: unclosed action"),
        (
            "ok\n{{ if .X }}",
            "template: test:2:3: unexpected EOF in {{if}}",
        ),
        ("{{ end }}", "template: test:1:3: unexpected {{end}}"),
        ("{{ else }}", "template: test:1:3: unexpected {{else}}"),
        ("{{ }}", "template: test:1:3: missing value for command"),
        (
            "{{ \"abc }}",
            "template: test:1:3: unterminated quoted string",
        ),
        (
            "{{ 1 | 2 }}",
            "template: test:1:7: non executable command in pipeline stage 2",
        ),
        (
            "{{ break }}",
            "template: test:1:3: {{break}} outside {{range}}",
        ),
        (
            "{{/* x */ 1 }}",
            "template: test:1:0: comment ends before closing delimiter",
        ),
        ("{{ 3x }}", "template: test:1:3: bad number syntax: \"3x\""),
        ("{{ ( 1 }}", "template: test:1:7: unclosed left paren"),
        (
            "{{ \u{a0} }}",
            "template: test:1:3: unrecognized character in action: U+00A0",
        ),
        (
            "{{ template \"nope\" }}",
            "template: test:1:3: executing \"test\" at <template \"nope\">: no such template \"nope\"",
        ),
        (
            "{{ .X.Y.Z }}",
            "template: test:1:3: executing \"test\" at <.X.Y.Z>: can't evaluate field Y in type string",
        ),
        (
            "{{ index .L 5 }}",
            "template: test:1:3: executing \"test\" at <index .L 5>: error calling index: index out of range: 5",
        ),
        (
            "{{ eq 1.5 1 }}",
            "template: test:1:3: executing \"test\" at <eq 1.5 1>: error calling eq: incompatible types for comparison",
        ),
        (
            "{{ toUpper 1 }}",
            "template: test:1:3: executing \"test\" at <toUpper 1>: wrong type for value; expected string; got int",
        ),
        (
            "{{ humanize 1 2 }}",
            "template: test:1:3: executing \"test\" at <humanize 1 2>: wrong number of args for humanize: want 1 got 2",
        ),
        (
            "{{ $x }}",
            "template: test:1:3: executing \"test\" at <$x>: undefined variable: $x",
        ),
        (
            "{{ nil }}",
            "template: test:1:3: executing \"test\" at <nil>: nil is not a command",
        ),
        (
            "{{ reReplaceAll \"(\" \"\" \"x\" }}",
            "template: test:1:3: executing \"test\" at <reReplaceAll \"(\" \"\" ...>: error calling reReplaceAll: error parsing regexp: unclosed group: `(`",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            error_of(render(text, json!({"X": "x", "L": [1]})))?,
            *want,
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn rendering_is_bounded() -> TestResult {
    let recursive = "{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}";
    assert!(
        error_of(render(recursive, json!(null)))?.contains("exceeded maximum template depth (50)")
    );
    let doubling =
        "{{define \"d\"}}{{.}}{{.}}{{.}}{{.}}{{end}}{{template \"d\" \"xxxxxxxxxxxxxxxx\"}}";
    assert!(render(doubling, json!(null)).is_ok());
    let big: Vec<u32> = (0..2000).collect();
    let nested = "{{range .}}{{range $}}{{range $}}{{end}}{{end}}{{end}}";
    let err = error_of(render(nested, json!(big)))?;
    assert!(err.contains("steps"), "{err}");
    let output =
        "{{range .}}{{range $}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{end}}{{end}}";
    let err = error_of(render(output, json!(big)))?;
    assert!(err.contains("output exceeds"), "{err}");
    assert!(render(&"(".repeat(1000), json!(null)).is_ok());
    let err = error_of(render("{{ range 1000000000000 }}{{ end }}", json!(null)))?;
    assert!(err.contains("steps"), "{err}");
    let doubling =
        "{{ $x := \"xxxxxxxx\" }}{{ range 40 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}";
    let err = error_of(render(doubling, json!(null)))?;
    assert!(err.contains("result of printf exceeds"), "{err}");
    let replaced =
        "{{ $x := \"xxxxxxxxxxxxxxxx\" }}{{ range 12 }}{{ $x = reReplaceAll \"\" $x $x }}{{ end }}";
    let err = error_of(render(replaced, json!(null)))?;
    assert!(
        err.contains("error calling reReplaceAll: result exceeds"),
        "{err}"
    );
    let padded = render("{{ printf \"%99999999d\" 1 | len }}", json!(null))?;
    assert_eq!(padded, "65536");
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(1000), ")".repeat(1000));
    assert!(error_of(render(&deep, json!(null)))?.contains("nested too deeply"));
    let deep_if = "{{if 1}}".repeat(1000);
    assert!(error_of(render(&deep_if, json!(null)))?.contains("nested too deeply"));
    Ok(())
}

#[test]
fn deep_recursion_fails_cleanly() -> TestResult {
    // Nesting at every level the parser allows, in a template that calls itself.
    let ifs = "{{if 1}}".repeat(49);
    let parens = format!("{}1{}", "(".repeat(49), ")".repeat(49));
    let ends = "{{end}}".repeat(49);
    let text = format!(
        "{{{{define \"r\"}}}}{ifs}{{{{print {parens}}}}}{{{{template \"r\" .}}}}{ends}{{{{end}}}}{{{{template \"r\" .}}}}"
    );
    let err = error_of(render(&text, json!(null)))?;
    assert!(err.contains("nested too deeply"), "{err}");
    Ok(())
}

#[test]
fn text_without_actions_is_kept_as_is() -> TestResult {
    let template = Template::parse("a } b {")?;
    assert!(template.tree.is_none());
    assert_eq!(template.render(&json!(null), &[])?, "a } b {");
    Ok(())
}

#[test]
fn template_is_shareable() {
    fn shareable<T: Clone + Send + Sync + std::fmt::Debug>() {}
    shareable::<Template>();
}

proptest! {
    #[test]
    fn arbitrary_time_layouts_never_panic(layout in "\\PC{0,24}", secs in -1e10f64..1e10) {
        let text = format!("{{{{ date {} (toTime {secs}) }}}}", fmt::quote(&layout));
        let _ = render(&text, json!(null));
    }

    #[test]
    fn arbitrary_printf_formats_never_panic(format in "[%0-9.*+# \\[\\]a-zA-Z]{0,16}") {
        let args = [value::Value::Int(-3), value::Value::str("é"), value::Value::Float(2.5)];
        let _ = fmt::sprintf(&format, &args);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        if let Ok(template) = Template::parse(&text) {
            let _ = template.render(&json!({"a": [1, "x", {"b": 2.5}]}), &[("v", json!(1))]);
        }
    }

    #[test]
    fn arbitrary_actions_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("{{"), Just("}}"), Just("{{-"), Just(" -}}"), Just(" "), Just("."), Just("$"),
                Just("$x"), Just(":="), Just("="), Just("|"), Just("("), Just(")"), Just("\""),
                Just("if"), Just("else"), Just("end"), Just("range"), Just("with"), Just("define"),
                Just("template"), Just("block"), Just("break"), Just("\"t\""), Just("printf"),
                Just("\"%d %s %5.2f\""), Just("index"), Just("slice"), Just("len"), Just("1"),
                Just("-1.5e3"), Just("'a'"), Just(".a"), Just(".b"), Just("humanize"), Just(","),
                Just("/*"), Just("*/"), Just("eq"), Just("and"), Just("nil"), Just("toTime"),
                Just("humanizeDuration"), Just("date"), Just("`r`"), Just("0x1F"),
            ],
            0..40,
        )
    ) {
        let text = parts.concat();
        if let Ok(template) = Template::parse(&text) {
            let _ = template.render(&json!({"a": [1, "x", {"b": 2.5}], "b": "s"}), &[("x", json!(3))]);
        }
    }
}
