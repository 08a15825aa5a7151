//! OTLP metric and attribute names → Prometheus names, as Prometheus' own OTLP receiver writes
//! them with its default translation strategy (`UnderscoreEscapingWithSuffixes`, the
//! `otlptranslator` package): the name split into words at every character other than
//! `[A-Za-z0-9:]` and joined with `_`, the unit appended as a word (`ms` → `milliseconds`,
//! `By` → `bytes`, `By/s` → `bytes_per_second`, units in braces dropped), `_total` for
//! monotonic sums, `_ratio` for gauges of unit `1`, `_` before a leading digit.

/// The kind of metric a name is built for: it decides the type suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A monotonic sum: `_total`.
    Counter,
    /// A gauge (or a non-monotonic sum written as one): `_ratio` when the unit is `1`.
    Gauge,
    /// Histograms and summaries: no type suffix (theirs come with the series).
    Distribution,
}

/// The Prometheus word of an OTLP (UCUM) unit, as `otlptranslator`'s unit map has it.
fn unit_word(unit: &str) -> &str {
    match unit {
        // time
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        // bytes
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        // SI
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        // misc
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// The word of the unit after `/`.
fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Characters outside `[A-Za-z0-9:]` become `_`, runs of `_` one, none at either end.
fn clean_unit(unit: &str) -> String {
    unit.split(|c: char| !is_name_char(c))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// A unit part as a word to append: empty when blank or an annotation (`{requests}`).
fn unit_part(part: &str, map: fn(&str) -> &str) -> String {
    let part = part.trim();
    if part.is_empty() || part.contains(['{', '}']) {
        return String::new();
    }
    clean_unit(map(part))
}

/// The Prometheus unit of metric metadata: the main unit's word (`seconds`, `bytes`), with
/// `_per_…` when the unit has one.
pub(crate) fn prom_unit(unit: &str) -> String {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let main = unit_part(main, unit_word);
    let per = per.map(|p| unit_part(p, per_unit_word)).unwrap_or_default();
    match (main.is_empty(), per.is_empty()) {
        (_, true) => main,
        (true, false) => format!("per_{per}"),
        (false, false) => format!("{main}_per_{per}"),
    }
}

/// The Prometheus name of an OTLP metric; empty when the name has no usable character.
pub(crate) fn metric_name(name: &str, unit: &str, kind: NameKind) -> String {
    let mut words: Vec<String> = name
        .split(|c: char| !is_name_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        return String::new();
    }
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let main = unit_part(main, unit_word);
    if !main.is_empty() && !words.contains(&main) {
        words.push(main);
    }
    if let Some(per) = per {
        let per = unit_part(per, per_unit_word);
        if !per.is_empty() {
            let per = format!("per_{per}");
            if !words.contains(&per) {
                words.push(per);
            }
        }
    }
    match kind {
        NameKind::Counter => {
            words.retain(|w| w != "total");
            words.push("total".into());
        }
        NameKind::Gauge if unit == "1" => {
            words.retain(|w| w != "ratio");
            words.push("ratio".into());
        }
        _ => {}
    }
    let mut out = words.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The label name of an attribute key: characters outside `[A-Za-z0-9_]` become `_`; a
/// leading digit gets `key_` before it, a leading `__` (reserved for Prometheus' own labels)
/// `key`. Empty for an empty key.
pub(crate) fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_follow_prometheus_otlp_translation() {
        use NameKind::*;
        let cases = [
            (
                "http.server.request.duration",
                "s",
                Distribution,
                "http_server_request_duration_seconds",
            ),
            (
                "http.server.duration",
                "ms",
                Distribution,
                "http_server_duration_milliseconds",
            ),
            (
                "system.network.io",
                "By",
                Counter,
                "system_network_io_bytes_total",
            ),
            ("requests", "{request}", Counter, "requests_total"),
            ("requests.total", "1", Counter, "requests_total"),
            ("cpu.utilization", "1", Gauge, "cpu_utilization_ratio"),
            ("cpu.ratio", "1", Gauge, "cpu_ratio"),
            ("queue.size", "{item}", Gauge, "queue_size"),
            ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
            ("rate", "1/s", Gauge, "rate_per_second"),
            ("rate", "{req}/s", Gauge, "rate_per_second"),
            ("latency_seconds", "s", Distribution, "latency_seconds"),
            ("2xx.responses", "", Counter, "_2xx_responses_total"),
            ("weird__name--x", "", Gauge, "weird_name_x"),
            ("ns:metric", "", Gauge, "ns:metric"),
            ("temperature", "Cel", Gauge, "temperature_celsius"),
            (
                "custom",
                "widgets per hour",
                Gauge,
                "custom_widgets_per_hour",
            ),
            ("…", "s", Gauge, ""),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(metric_name(name, unit, kind), want, "{name} {unit}");
        }
    }

    #[test]
    fn metadata_units() {
        assert_eq!(prom_unit("s"), "seconds");
        assert_eq!(prom_unit("By/s"), "bytes_per_second");
        assert_eq!(prom_unit("{request}"), "");
        assert_eq!(prom_unit("1"), "");
        assert_eq!(prom_unit("1/s"), "per_second");
        assert_eq!(prom_unit(""), "");
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(label_name("http.request.method"), "http_request_method");
        assert_eq!(label_name("k8s.pod.name"), "k8s_pod_name");
        assert_eq!(label_name("0day"), "key_0day");
        assert_eq!(label_name("__name__"), "key__name__");
        assert_eq!(label_name("_private"), "_private");
        assert_eq!(label_name("ünïcode"), "_n_code");
        assert_eq!(label_name(""), "");
    }

    proptest! {
        #[test]
        fn translated_names_are_valid(name in "\\PC{0,40}", unit in "\\PC{0,12}") {
            for kind in [NameKind::Counter, NameKind::Gauge, NameKind::Distribution] {
                let n = metric_name(&name, &unit, kind);
                prop_assert!(n.is_empty() || storage::is_valid_metric_name(&n), "{n:?}");
            }
            let l = label_name(&name);
            prop_assert!(l.is_empty() || storage::is_valid_label_name(&l), "{l:?}");
            prop_assert!(!l.starts_with("__"));
        }
    }
}
