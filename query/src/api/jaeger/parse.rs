//! The parameters of the Jaeger API as Jaeger's query service reads them
//! (`cmd/query/app/query_parser.go`): times in microseconds (milliseconds for
//! `/dependencies`), durations as Go writes them (`1.2s`, `100ms`, `500us`), tags as a JSON
//! object or as repeated `tag=key:value`.

use std::collections::BTreeMap;

use storage::{SpanKind, StatusCode, TraceId, TraceQuery, parse_hex_id};

use crate::api::params::Params;
use crate::error::QueryError;

/// Traces a search answers unless `limit` says otherwise: what the Jaeger UI asks for.
pub(super) const DEFAULT_LIMIT: usize = 20;
/// Most traces one search answers: every one is read in full and encoded.
pub(super) const MAX_LIMIT: usize = 1500;
/// How far back a search looks without `start` and a `lookback` (the Jaeger UI's default).
const DEFAULT_LOOKBACK_NS: i64 = 3600 * NS_PER_SEC;
/// How far back `/dependencies` looks without `lookback` (Jaeger's
/// `defaultDependencyLookbackDuration`).
const DEFAULT_DEPENDENCY_LOOKBACK_MS: i64 = 24 * 3600 * 1000;
/// Longest `/dependencies` lookback: ten years, far more than any retention, and small enough
/// that the PromQL range it becomes cannot overflow.
const MAX_DEPENDENCY_LOOKBACK_MS: i64 = 3650 * 24 * 3600 * 1000;

const NS_PER_SEC: i64 = 1_000_000_000;

/// What `/jaeger/api/traces` was asked for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Search {
    /// `traceID=` given (repeated): those traces, in the order asked, each once.
    ByIds(Vec<TraceId>),
    /// A search over the store.
    Query(TraceQuery),
    /// A search whose conditions contradict each other (`error=true` with
    /// `otel.status_code=OK`): no span can match, so nothing is read.
    Nothing,
}

/// The parameters of `/jaeger/api/traces`. `now_ns` is the default `end`.
pub(super) fn search(params: &Params, now_ns: i64) -> Result<Search, QueryError> {
    let ids = trace_ids(params)?;
    if !ids.is_empty() {
        return Ok(Search::ByIds(ids));
    }
    let service = params
        .get("service")
        .ok_or(QueryError::MissingParam { param: "service" })?;

    let end = micros_param(params, "end")?.unwrap_or(now_ns);
    let lookback = match params.get("lookback") {
        // what the Jaeger UI and Grafana send along with explicit start and end
        None | Some("custom") => DEFAULT_LOOKBACK_NS,
        Some(s) => storage::go_duration_ns(s, true)
            .filter(|&ns| ns > 0)
            .ok_or_else(|| {
                QueryError::invalid_param(
                    "lookback",
                    format!("cannot parse {s:?} as a positive duration (e.g. 1h, 2d)"),
                )
            })?,
    };
    let start = micros_param(params, "start")?.unwrap_or(end.saturating_sub(lookback));
    if end < start {
        return Err(QueryError::invalid_param(
            "end",
            "end time must not be before start time",
        ));
    }

    let min = duration_param(params, "minDuration")?;
    let max = duration_param(params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min, max)
        && max < min
    {
        return Err(QueryError::invalid_param(
            "maxDuration",
            "maxDuration must not be less than minDuration",
        ));
    }

    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<i64>() {
            Ok(0) => DEFAULT_LIMIT,
            Ok(n) if n > 0 && n <= MAX_LIMIT as i64 => n as usize,
            Ok(_) => {
                return Err(QueryError::invalid_param(
                    "limit",
                    format!("{s:?} is not between 1 and {MAX_LIMIT}"),
                ));
            }
            Err(_) => {
                return Err(QueryError::invalid_param(
                    "limit",
                    format!("cannot parse {s:?} as an integer"),
                ));
            }
        },
    };

    let mut query = TraceQuery {
        service: Some(service.to_string()),
        operation: params.get("operation").map(str::to_string),
        min_duration_nanos: min,
        max_duration_nanos: max,
        start_unix_nano: u64::try_from(start).unwrap_or(0),
        end_unix_nano: u64::try_from(end).unwrap_or(0),
        limit,
        ..TraceQuery::default()
    };
    let mut contradiction = false;
    for (key, value) in tags(params)? {
        apply_tag(&mut query, key, value, &mut contradiction);
    }
    Ok(if contradiction {
        Search::Nothing
    } else {
        Search::Query(query)
    })
}

/// Moves the tags Jaeger's OTLP translator makes up (`error`, `otel.status_code`,
/// `span.kind`) to the span fields they were made from; every other tag is an attribute
/// condition.
fn apply_tag(query: &mut TraceQuery, key: String, value: String, contradiction: &mut bool) {
    let status = match (key.as_str(), value.as_str()) {
        ("error", v) if v.eq_ignore_ascii_case("true") => Some(StatusCode::Error),
        ("otel.status_code", v) if v.eq_ignore_ascii_case("error") => Some(StatusCode::Error),
        ("otel.status_code", v) if v.eq_ignore_ascii_case("ok") => Some(StatusCode::Ok),
        ("otel.status_code", v) if v.eq_ignore_ascii_case("unset") => Some(StatusCode::Unset),
        _ => None,
    };
    if let Some(status) = status {
        narrow(&mut query.status, status, contradiction);
        return;
    }
    if key == "span.kind"
        && let Some(kind) = SpanKind::parse(&value)
    {
        narrow(&mut query.span_kind, kind, contradiction);
        return;
    }
    query.tags.push((key, value));
}

/// Sets a condition; a second, different value for it can match no span.
fn narrow<T: PartialEq>(slot: &mut Option<T>, value: T, contradiction: &mut bool) {
    match slot {
        Some(existing) if *existing != value => *contradiction = true,
        _ => *slot = Some(value),
    }
}

/// `tag=key:value` (repeated) and `tags={"key":"value",…}` (repeated), merged by key as Jaeger
/// merges them (a JSON tag overrides a `tag=` of the same key), sorted by key.
fn tags(params: &Params) -> Result<BTreeMap<String, String>, QueryError> {
    let mut tags = BTreeMap::new();
    for tag in params.all("tag").filter(|t| !t.is_empty()) {
        let (key, value) = tag.split_once(':').ok_or_else(|| {
            QueryError::invalid_param("tag", format!("{tag:?} is not of the form key:value"))
        })?;
        tags.insert(key.to_string(), value.to_string());
    }
    for json in params.all("tags").filter(|t| !t.is_empty()) {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| {
                QueryError::invalid_param(
                    "tags",
                    format!(
                        "{json:?} is not a JSON object of tag values such as \
                         {{\"http.status_code\":\"500\"}}: {e}"
                    ),
                )
            })?;
        for (key, value) in object {
            // Jaeger takes strings only; numbers and booleans mean their text, as a
            // hand-written `{"http.status_code":500}` intends.
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(QueryError::invalid_param(
                        "tags",
                        format!("the value of tag {key:?} is {other}, not a string"),
                    ));
                }
            };
            tags.insert(key, text);
        }
    }
    Ok(tags)
}

/// Every `traceID=` value, parsed, without repeats.
fn trace_ids(params: &Params) -> Result<Vec<TraceId>, QueryError> {
    let mut ids = Vec::new();
    for s in params.all("traceID").filter(|s| !s.is_empty()) {
        let id = trace_id(s).map_err(|reason| QueryError::invalid_param("traceID", reason))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// A trace id of up to 32 hex digits (Jaeger clients send 64-bit ids as 16); the reason it
/// is not one on failure.
pub(super) fn trace_id(s: &str) -> Result<TraceId, String> {
    parse_hex_id::<16>(s).ok_or_else(|| format!("{s:?} is not a trace id (16 or 32 hex digits)"))
}

/// A time in microseconds since the epoch, in nanoseconds.
fn micros_param(params: &Params, name: &'static str) -> Result<Option<i64>, QueryError> {
    params
        .get(name)
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map(|us| us.saturating_mul(1000))
                .map_err(|_| {
                    QueryError::invalid_param(
                        name,
                        format!("cannot parse {s:?} as microseconds since the epoch"),
                    )
                })
        })
        .transpose()
}

/// A non-negative Go duration, in nanoseconds.
fn duration_param(params: &Params, name: &'static str) -> Result<Option<u64>, QueryError> {
    params
        .get(name)
        .map(|s| {
            storage::go_duration_ns(s, false)
                .and_then(|ns| u64::try_from(ns).ok())
                .ok_or_else(|| {
                    QueryError::invalid_param(
                        name,
                        format!(
                            "cannot parse {s:?} as a non-negative duration (e.g. 1.2s, 100ms, 500us)"
                        ),
                    )
                })
        })
        .transpose()
}

/// The parameters of `/jaeger/api/dependencies`: `endTs` (ms since the epoch, default
/// `now_ms`) and `lookback` (ms, default 24h), as Jaeger reads them; `(end_ms, lookback_ms)`.
pub(super) fn dependencies(params: &Params, now_ms: i64) -> Result<(i64, i64), QueryError> {
    let end = match params.get("endTs") {
        None => now_ms,
        Some(s) => s.trim().parse::<i64>().map_err(|_| {
            QueryError::invalid_param(
                "endTs",
                format!("cannot parse {s:?} as milliseconds since the epoch"),
            )
        })?,
    };
    let lookback = match params.get("lookback") {
        None => DEFAULT_DEPENDENCY_LOOKBACK_MS,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|ms| (1..=MAX_DEPENDENCY_LOOKBACK_MS).contains(ms))
            .ok_or_else(|| {
                QueryError::invalid_param(
                    "lookback",
                    format!(
                        "{s:?} is not a number of milliseconds between 1 and \
                         {MAX_DEPENDENCY_LOOKBACK_MS} (ten years)"
                    ),
                )
            })?,
    };
    Ok((end, lookback))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> TraceQuery {
        match search(&Params::from_query(q), 10_000_000 * NS_PER_SEC) {
            Ok(Search::Query(query)) => query,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn reason(q: &str) -> String {
        match search(&Params::from_query(q), 10_000_000 * NS_PER_SEC) {
            Err(e) => e.to_string(),
            Ok(s) => panic!("{q}: accepted as {s:?}"),
        }
    }

    #[test]
    fn search_defaults() {
        let q = query("service=api");
        assert_eq!(q.service.as_deref(), Some("api"));
        assert_eq!(q.operation, None);
        assert_eq!(q.limit, DEFAULT_LIMIT);
        let end = 10_000_000 * NS_PER_SEC as u64;
        assert_eq!(q.end_unix_nano, end);
        assert_eq!(q.start_unix_nano, end - 3600 * NS_PER_SEC as u64);
        assert_eq!((q.min_duration_nanos, q.max_duration_nanos), (None, None));
        assert!(q.tags.is_empty());
        // empty values are absent, as Go's FormValue reads them
        assert_eq!(
            query("service=api&operation=&minDuration=&limit=&tags=&lookback=custom"),
            q
        );
        assert_eq!(query("service=api&limit=0").limit, DEFAULT_LIMIT);
    }

    #[test]
    fn search_parameters() {
        let q = query(
            "service=api&operation=GET%20%2Fusers&start=1700000000000000&end=1700000060000000\
             &minDuration=1.2s&maxDuration=2s&limit=5&lookback=1h",
        );
        assert_eq!(q.operation.as_deref(), Some("GET /users"));
        assert_eq!(q.start_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(q.end_unix_nano, 1_700_000_060_000_000_000);
        assert_eq!(q.min_duration_nanos, Some(1_200_000_000));
        assert_eq!(q.max_duration_nanos, Some(2_000_000_000));
        assert_eq!(q.limit, 5);

        // lookback counts back from end when start is absent
        let q = query("service=api&end=1700000060000000&lookback=2d");
        assert_eq!(
            q.start_unix_nano,
            1_700_000_060_000_000_000 - 2 * 86_400 * NS_PER_SEC as u64
        );
        let q = query("service=api&end=1700000060000000&lookback=15m");
        assert_eq!(
            q.start_unix_nano,
            1_700_000_060_000_000_000 - 900 * NS_PER_SEC as u64
        );
    }

    #[test]
    fn search_tags() {
        let q = query(
            "service=api&tags=%7B%22http.status_code%22%3A%22500%22%2C%22error%22%3A%22true%22%7D",
        );
        assert_eq!(q.status, Some(StatusCode::Error));
        assert_eq!(q.tags, vec![("http.status_code".into(), "500".into())]);

        // the legacy form; the value may hold colons; JSON wins over it for the same key
        let q = query(
            "service=api&tag=peer.address:10.0.0.1:80&tag=region:eu\
             &tags=%7B%22region%22%3A%22us%22%2C%22retries%22%3A3%2C%22cached%22%3Afalse%7D",
        );
        assert_eq!(
            q.tags,
            vec![
                ("cached".into(), "false".into()),
                ("peer.address".into(), "10.0.0.1:80".into()),
                ("region".into(), "us".into()),
                ("retries".into(), "3".into()),
            ]
        );
        assert_eq!(q.status, None);

        // the tags Jaeger's translator makes up become the fields they come from
        let q = query("service=api&tag=span.kind:server&tag=otel.status_code:OK");
        assert_eq!(q.span_kind, Some(SpanKind::Server));
        assert_eq!(q.status, Some(StatusCode::Ok));
        assert!(q.tags.is_empty());
        // error=false is no status: an attribute condition, as in Jaeger
        let q = query("service=api&tag=error:false&tag=span.kind:sideways");
        assert_eq!(q.status, None);
        assert_eq!(
            q.tags,
            vec![
                ("error".into(), "false".into()),
                ("span.kind".into(), "sideways".into())
            ]
        );
        assert_eq!(
            search(
                &Params::from_query("service=api&tag=error:true&tag=otel.status_code:OK"),
                0
            )
            .ok(),
            Some(Search::Nothing)
        );
    }

    #[test]
    fn search_by_trace_ids() {
        let s = search(
            &Params::from_query(
                "traceID=00000000000000000000000000000abc&traceID=abc&traceID=ABCDEF0123456789",
            ),
            0,
        );
        let mut a = [0u8; 16];
        a[14] = 0x0a;
        a[15] = 0xbc;
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&[0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89]);
        assert_eq!(s.ok(), Some(Search::ByIds(vec![a, b])));
        assert_eq!(
            reason("traceID=xyz"),
            r#"invalid parameter "traceID": "xyz" is not a trace id (16 or 32 hex digits)"#
        );
    }

    #[test]
    fn search_errors_name_the_parameter() {
        assert_eq!(reason(""), "no service parameter provided");
        assert_eq!(reason("operation=x"), "no service parameter provided");
        for (q, param) in [
            ("service=a&start=yesterday", "start"),
            ("service=a&end=1.5", "end"),
            ("service=a&start=20&end=10", "end"),
            ("service=a&minDuration=10", "minDuration"),
            ("service=a&minDuration=-1s", "minDuration"),
            ("service=a&maxDuration=1d", "maxDuration"),
            ("service=a&minDuration=2s&maxDuration=1s", "maxDuration"),
            ("service=a&limit=-1", "limit"),
            ("service=a&limit=many", "limit"),
            ("service=a&limit=1501", "limit"),
            ("service=a&lookback=forever", "lookback"),
            ("service=a&lookback=0", "lookback"),
            ("service=a&tag=novalue", "tag"),
            ("service=a&tags=%5B1%5D", "tags"),
            ("service=a&tags=%7B%22a%22%3A%5B1%5D%7D", "tags"),
            ("service=a&tags=%7B", "tags"),
        ] {
            let r = reason(q);
            assert!(
                r.starts_with(&format!("invalid parameter {param:?}: ")),
                "{q}: {r}"
            );
        }
    }

    #[test]
    fn dependency_parameters() {
        let p = |q: &str| dependencies(&Params::from_query(q), 5_000);
        assert_eq!(p("").ok(), Some((5_000, 86_400_000)));
        assert_eq!(
            p("endTs=1700000000000&lookback=3600000").ok(),
            Some((1_700_000_000_000, 3_600_000))
        );
        for (q, param) in [
            ("endTs=now", "endTs"),
            ("lookback=1h", "lookback"),
            ("lookback=0", "lookback"),
            ("lookback=-5", "lookback"),
            ("lookback=315360000001", "lookback"),
        ] {
            let e = p(q).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                e.starts_with(&format!("invalid parameter {param:?}: ")),
                "{q}: {e}"
            );
        }
    }
}
