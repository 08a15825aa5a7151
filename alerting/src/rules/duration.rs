//! Prometheus duration syntax (`model.ParseDuration`): units `y w d h m s ms`, each at most
//! once and in that order, e.g. `30s`, `5m`, `1h30m`, `1d`, `1w`; `0` alone is zero.

use std::time::Duration;

/// Units largest first, as Prometheus prints them, with their length in milliseconds.
const UNITS: [(&str, u128); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration (query's parser, the one the query API uses); the error says
/// what is wrong in a sentence fragment.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("empty duration string".to_owned());
    }
    query::prometheus_duration_ns(text)
        .and_then(|ns| u64::try_from(ns).ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| {
            format!(
                "not a valid duration string: {text:?} (expected e.g. 30s, 5m, 1h30m, 1d, 1w; \
                 at most 292y)"
            )
        })
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `0s`); sub-millisecond parts are
/// dropped, as Prometheus durations have millisecond resolution.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let count = millis / size;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(unit);
            millis -= count * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::TestResult;

    #[test]
    fn parses_prometheus_durations() {
        let cases = [
            ("0", 0),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("1m500ms", 60_500),
            ("250ms", 250),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_durations() {
        for text in [
            "",
            "5",
            "m",
            "1.5h",
            "30m1h",
            "1h1h",
            "-1s",
            "1 h",
            "1H",
            "5min",
            "1s ",
            "99999999y",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn formats_like_prometheus() -> TestResult {
        for text in ["0s", "30s", "5m", "1h30m", "1d", "1w", "1y2w3d4h5m6s7ms"] {
            let parsed = parse_duration(text)?;
            assert_eq!(format_duration(parsed), text);
        }
        Ok(())
    }
}
