//! Request parameters as the Prometheus HTTP API reads them: from the URL query and, for a
//! form POST, from the `application/x-www-form-urlencoded` body; plus the parsers of the
//! parameter types (timestamps, limits, `match[]`).

use std::time::SystemTime;

use axum::body::to_bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use storage::{Matcher, days_from_civil, days_in_month};

use crate::error::QueryError;
use crate::read::{MAX_TIME_MS, MIN_TIME_MS};
use crate::selector::parse_match_param;

/// The two bounds as Go formats them in RFC 3339; Prometheus' client libraries send these.
const MIN_TIME_RFC3339: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_RFC3339: &str = "292277025-08-18T07:12:54.999999999Z";

/// Largest form body read, as Go's `http.Request.ParseForm` (10 MiB).
const MAX_FORM_BYTES: usize = 10 << 20;

/// All parameters of a request, in Go's `Request.Form` order: body values first, then those of
/// the URL query. Single-valued parameters use the first value, as Go's `FormValue` does.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    #[cfg(test)]
    pub(crate) fn from_query(query: &str) -> Self {
        Params {
            pairs: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// The first value of `name`; an empty value counts as absent, as in Prometheus.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of a repeated parameter such as `match[]`, in order.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = QueryError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut pairs = Vec::new();
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if is_form && matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            let bytes = to_bytes(body, MAX_FORM_BYTES)
                .await
                .map_err(|e| QueryError::Form {
                    reason: format!(
                        "cannot read the request body (at most {MAX_FORM_BYTES} bytes): {e}"
                    ),
                })?;
            pairs.extend(form_urlencoded::parse(&bytes).into_owned());
        }
        if let Some(query) = parts.uri.query() {
            pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        Ok(Params { pairs })
    }
}

/// A time parameter in ms since the epoch, or `default` when absent.
pub(crate) fn time_param(
    params: &Params,
    name: &'static str,
    default: i64,
) -> Result<i64, QueryError> {
    match params.get(name) {
        None => Ok(default),
        Some(s) => parse_time(s).map_err(|reason| QueryError::invalid_param(name, reason)),
    }
}

/// `start` and `end` of the series, label and export APIs: absent, they are Prometheus' min and
/// max time; present, they are clamped to that range (earlier than the earliest time is the
/// earliest time), which keeps every later computation on them free of overflow.
pub(crate) fn range_params(params: &Params) -> Result<(i64, i64), QueryError> {
    let start = time_param(params, "start", MIN_TIME_MS)?;
    let end = time_param(params, "end", MAX_TIME_MS)?;
    Ok((
        start.clamp(MIN_TIME_MS, MAX_TIME_MS),
        end.clamp(MIN_TIME_MS, MAX_TIME_MS),
    ))
}

/// Prometheus' `limit`: absent or `0` means no limit; negative values are rejected.
pub(crate) fn limit_param(params: &Params) -> Result<Option<usize>, QueryError> {
    non_negative_param(params, "limit")
}

/// An optional non-negative integer parameter where `0` means "no limit".
pub(crate) fn non_negative_param(
    params: &Params,
    name: &'static str,
) -> Result<Option<usize>, QueryError> {
    let Some(s) = params.get(name) else {
        return Ok(None);
    };
    match s.parse::<i128>() {
        Ok(n) if n < 0 => Err(QueryError::invalid_param(
            name,
            format!("{name} must be non-negative"),
        )),
        Ok(0) => Ok(None),
        // beyond usize::MAX is as good as unlimited
        Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Err(_) => Err(QueryError::invalid_param(
            name,
            format!("cannot parse {s:?} to a valid integer"),
        )),
    }
}

/// The matcher sets of every `match[]` value, in order. With `required`, at least one value
/// must be present (`/api/v1/series`, `/api/v1/export`); otherwise none means "all series".
pub(crate) fn match_param(
    params: &Params,
    required: bool,
) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let mut sets = Vec::new();
    let mut seen = false;
    for value in params.all("match[]") {
        seen = true;
        sets.extend(
            parse_match_param(value)
                .map_err(|reason| QueryError::invalid_param("match[]", reason))?,
        );
    }
    if required && !seen {
        return Err(QueryError::MissingParam { param: "match[]" });
    }
    Ok(sets)
}

/// Parses a Prometheus API timestamp into ms since the epoch: Unix seconds with an optional
/// fraction (rounded to the millisecond, as Prometheus does) or RFC 3339 with an optional
/// fraction (truncated to the millisecond). The reason on failure is Prometheus' wording.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let parsed = match s.parse::<f64>() {
        Ok(seconds) => seconds_to_ms(seconds),
        Err(_) => parse_rfc3339(s),
    };
    parsed
        .or(match s {
            MIN_TIME_RFC3339 => Some(MIN_TIME_MS),
            MAX_TIME_RFC3339 => Some(MAX_TIME_MS),
            _ => None,
        })
        .ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Whole seconds, plus the fraction rounded to milliseconds: Prometheus' `parseTime` for floats.
fn seconds_to_ms(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.trunc();
    if whole.abs() > (i64::MAX / 1000) as f64 {
        return None;
    }
    let frac_ms = ((seconds - whole) * 1000.0).round() as i64;
    (whole as i64).checked_mul(1000)?.checked_add(frac_ms)
}

/// RFC 3339 in UTC, as Go's JSON writes a `time.Time` (RFC3339Nano: the fraction without
/// trailing zeros, none when zero): `2024-05-01T12:00:00.12Z`.
pub fn format_rfc3339(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_millis(t).to_string();
    // "2024-05-01T12:00:00.120Z" → Go's "2024-05-01T12:00:00.12Z"
    match text.strip_suffix('Z') {
        Some(body) => format!("{}Z", body.trim_end_matches('0').trim_end_matches('.')),
        None => text,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the layout Go's `time.RFC3339Nano` parses, to ms
/// since the epoch (the fraction truncated to the millisecond).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let sep = |i: usize, c: u8| b[i] == c;
    if !(sep(4, b'-')
        && sep(7, b'-')
        && matches!(b[10], b'T' | b't')
        && sep(13, b':')
        && sep(16, b':'))
    {
        return None;
    }
    let year = number(&b[0..4])?;
    let month = number(&b[5..7])?;
    let day = number(&b[8..10])?;
    let hour = number(&b[11..13])?;
    let minute = number(&b[14..16])?;
    let second = number(&b[17..19])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let [b'.' | b',', tail @ ..] = rest {
        let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // like Go: any number of digits, nanosecond precision, the rest truncated
        for i in 0..9 {
            nanos = nanos * 10
                + tail
                    .get(i)
                    .filter(|_| i < digits)
                    .map_or(0, |c| i64::from(c - b'0'));
        }
        rest = &tail[digits..];
    }
    let offset_seconds = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = number(&[*h1, *h2])?;
            let minutes = number(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Some(seconds * 1000 + nanos / 1_000_000)
}

fn number(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

/// A duration parameter as Prometheus' `parseDuration` reads it, in nanoseconds (Go's
/// `time.Duration`, signed): float seconds (`15`, `0.5`, `1e-3`) or a Prometheus duration
/// (`1h30m`, `5m`, `250ms`; units `y w d h m s ms`, largest first, each at most once). The
/// reason on failure is Prometheus' wording.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(seconds) = s.parse::<f64>() {
        let ns = seconds * 1e9;
        if ns.is_nan() {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        // as Go: compared with the int64 bounds as floats, then truncated toward zero
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    prometheus_duration_ns(s).ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// An optional duration parameter (absent or empty: `None`), in nanoseconds.
pub(crate) fn duration_param(
    params: &Params,
    name: &'static str,
) -> Result<Option<i64>, QueryError> {
    params
        .get(name)
        .map(parse_duration)
        .transpose()
        .map_err(|reason| QueryError::invalid_param(name, reason))
}

/// `model.ParseDuration` of prometheus/common: `0`, or digits and a unit, repeated, units in
/// decreasing size; at most `i64::MAX` ns. Also the duration syntax of rule files.
pub fn prometheus_duration_ns(s: &str) -> Option<i64> {
    const MS: u64 = 1_000_000;
    // (unit, its size in ns), largest first: the order they must appear in
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000 * MS),
        ("w", 7 * 86_400_000 * MS),
        ("d", 86_400_000 * MS),
        ("h", 3_600_000 * MS),
        ("m", 60_000 * MS),
        ("s", 1_000 * MS),
        ("ms", MS),
    ];
    if s == "0" {
        return Some(0);
    }
    let mut rest = s.as_bytes();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let value: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.iter().take_while(|c| !c.is_ascii_digit()).count();
        let unit = std::str::from_utf8(&rest[..unit_len]).ok()?;
        rest = &rest[unit_len..];
        let position = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)?;
        let (_, size) = UNITS[next_unit + position];
        next_unit += position + 1;
        total = total.checked_add(value.checked_mul(size)?)?;
    }
    i64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> i64 {
        parse_time(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("1700000000"), 1_700_000_000_000);
        assert_eq!(ok("1700000000.123"), 1_700_000_000_123);
        assert_eq!(ok("1700000000.1234"), 1_700_000_000_123);
        assert_eq!(ok("1700000000.1236"), 1_700_000_000_124);
        assert_eq!(ok("1.5e9"), 1_500_000_000_000);
        assert_eq!(ok("-1.5"), -1500);
        assert_eq!(ok("+12"), 12_000);
        assert_eq!(ok(".5"), 500);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(ok("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ok("2023-11-14T22:13:20Z"), 1_700_000_000_000);
        assert_eq!(ok("2023-11-14T22:13:20.5Z"), 1_700_000_000_500);
        assert_eq!(ok("2023-11-14T22:13:20.123456789Z"), 1_700_000_000_123);
        assert_eq!(ok("2023-11-14T22:13:20.1239999999999Z"), 1_700_000_000_123);
        assert_eq!(ok("2023-11-15T00:13:20+02:00"), 1_700_000_000_000);
        assert_eq!(ok("2023-11-14T20:43:20-01:30"), 1_700_000_000_000);
        assert_eq!(ok("1969-12-31T23:59:59.9Z"), -100);
        assert_eq!(ok("2024-02-29T00:00:00Z"), 1_709_164_800_000);
        assert_eq!(ok("0000-01-01T00:00:00Z"), -62_167_219_200_000);
    }

    #[test]
    fn prometheus_bounds_round_trip() {
        assert_eq!(ok(MIN_TIME_RFC3339), MIN_TIME_MS);
        assert_eq!(ok(MAX_TIME_RFC3339), MAX_TIME_MS);
        // and the constants are what their RFC 3339 spelling says
        let min_s = days_from_civil(-292_273_086, 5, 16) * 86_400 + 16 * 3600 + 47 * 60 + 6;
        assert_eq!(min_s * 1000, MIN_TIME_MS);
        let max_s = days_from_civil(292_277_025, 8, 18) * 86_400 + 7 * 3600 + 12 * 60 + 54;
        assert_eq!(max_s * 1000 + 999, MAX_TIME_MS);
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for s in [
            "abc",
            "",
            "NaN",
            "Inf",
            "-inf",
            "1e300",
            "2023-11-14",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:60:00Z",
            "2023-11-14T22:13:60Z",
            "2023-11-14T22:13:20+2:00",
            "2023-11-14T22:13:20+24:00",
            "2023-11-14T22:13:20Zjunk",
            "１２３",
        ] {
            assert_eq!(
                parse_time(s),
                Err(format!("cannot parse {s:?} to a valid timestamp")),
                "{s}"
            );
        }
    }

    #[test]
    fn time_param_defaults_and_errors() {
        let p = Params::from_query("start=abc&end=&x=1");
        assert_eq!(time_param(&p, "end", MAX_TIME_MS).ok(), Some(MAX_TIME_MS));
        assert_eq!(time_param(&p, "time", 7).ok(), Some(7));
        let e = time_param(&p, "start", MIN_TIME_MS)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(r#"invalid parameter "start": cannot parse "abc" to a valid timestamp"#)
        );
        // first value wins, as Go's FormValue
        let p = Params::from_query("start=10&start=abc");
        assert_eq!(time_param(&p, "start", 0).ok(), Some(10_000));
    }

    #[test]
    fn range_defaults_and_clamping() {
        let range = |q: &str| range_params(&Params::from_query(q)).ok();
        assert_eq!(range(""), Some((MIN_TIME_MS, MAX_TIME_MS)));
        assert_eq!(range("start=1&end=2"), Some((1000, 2000)));
        assert_eq!(
            range("start=-9.22336e15&end=9.22336e15"),
            Some((MIN_TIME_MS, MAX_TIME_MS))
        );
        assert_eq!(range("start=2&end=1"), Some((2000, 1000)));
    }

    #[test]
    fn limits() {
        let limit = |q: &str| limit_param(&Params::from_query(q)).map_err(|e| e.to_string());
        assert_eq!(limit(""), Ok(None));
        assert_eq!(limit("limit=0"), Ok(None));
        assert_eq!(limit("limit=5"), Ok(Some(5)));
        assert_eq!(limit("limit=99999999999999999999999"), Ok(Some(usize::MAX)));
        assert_eq!(
            limit("limit=-1"),
            Err(r#"invalid parameter "limit": limit must be non-negative"#.into())
        );
        assert_eq!(
            limit("limit=x"),
            Err(r#"invalid parameter "limit": cannot parse "x" to a valid integer"#.into())
        );
    }

    #[test]
    fn match_params() {
        let p = Params::from_query("match[]=up&match[]=%7Bjob%3D%22a%22%7D");
        let sets = match_param(&p, true).unwrap_or_default();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1][0].name, "job");

        let none = Params::from_query("start=1");
        assert_eq!(match_param(&none, false).map(|s| s.len()).ok(), Some(0));
        let e = match_param(&none, true).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("no match[] parameter provided"));

        let bad = Params::from_query("match[]=up&match[]=%7B%7D");
        let e = match_param(&bad, true).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#
            )
        );
        let bad = Params::from_query("match[]=rate(up%5B5m%5D)");
        let e = match_param(&bad, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with(
                r#"invalid parameter "match[]": "rate(up[5m])" is not a series selector"#
            ),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        let ok = |s: &str| parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        const S: i64 = 1_000_000_000;
        assert_eq!(ok("15"), 15 * S);
        assert_eq!(ok("0.5"), S / 2);
        assert_eq!(ok("1e-9"), 1);
        assert_eq!(ok("-2"), -2 * S);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("250ms"), S / 4);
        assert_eq!(ok("5m"), 300 * S);
        assert_eq!(ok("1h30m"), 5400 * S);
        assert_eq!(
            ok("1y2w3d4h5m6s7ms"),
            (((365 + 14 + 3) * 24 + 4) * 3600 + 5 * 60 + 6) * S + 7_000_000
        );
        assert_eq!(ok("292y"), 292 * 365 * 86_400 * S);
        for bad in [
            "", "abc", "1ns", "1us", "m", "1m1h", "1s1s", "1.5h", "-1h", "1h ", "NaN", "293y",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(format!("cannot parse {bad:?} to a valid duration")),
                "{bad}"
            );
        }
        for overflow in ["1e10", "-1e10", "inf", "-Inf"] {
            assert_eq!(
                parse_duration(overflow),
                Err(format!(
                    "cannot parse {overflow:?} to a valid duration. It overflows int64"
                )),
                "{overflow}"
            );
        }
        let p = Params::from_query("step=abc&timeout=");
        assert_eq!(duration_param(&p, "timeout").ok(), Some(None));
        let e = duration_param(&p, "step").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(r#"invalid parameter "step": cannot parse "abc" to a valid duration"#)
        );
    }
}
