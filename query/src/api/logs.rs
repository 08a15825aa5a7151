//! The log search API over the log store:
//!
//! - `GET|POST /api/v1/logs/search`: `q` (Lucene syntax as tantivy reads it; empty matches
//!   everything), `start`/`end` (Unix seconds or RFC 3339; default the last hour), `limit`
//!   (default 100, at most 10,000), `sort` (`newest`, the default, or `oldest`), `cursor` (the
//!   `next_cursor` of the previous page), `buckets` (histogram buckets over the range, default
//!   60, 0 for none), `facets` (top values per facet, default 10, 0 for none).
//! - `GET /api/v1/logs/tail`: `q`; Server-Sent Events, one `log` event per new matching line
//!   as the store commits it, oldest first, from the moment of the request.
//! - `GET|POST /api/v1/errors`: `start`, `end`, `limit` (default 100): error groups, each with
//!   the search query that lists its lines.
//!
//! Answers use the Prometheus envelope (`{"status":"success","data":…}`). A hit carries the
//! normalised fields and `event`, the original event as it came.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use storage::{LogCursor, LogHit, LogOrder, LogQuery, LogStore, LogSubscription, now_ms};

use super::params::{Params, time_param};
use super::success;
use crate::error::QueryError;
use crate::read::blocking;

/// Hits per page unless `limit` says otherwise, and the most a page may hold.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;
/// Default look-back of a search without `start`.
const DEFAULT_RANGE_MS: i64 = 3600 * 1000;

/// The log routes, for the binary to merge into its HTTP server.
pub fn logs_router(store: Arc<LogStore>) -> Router {
    Router::new()
        .route("/api/v1/logs/search", get(search).post(search))
        .route("/api/v1/logs/tail", get(tail))
        .route("/api/v1/errors", get(errors).post(errors))
        .with_state(store)
}

fn int_param(
    params: &Params,
    name: &'static str,
    default: usize,
    max: usize,
) -> Result<usize, QueryError> {
    match params.get(name) {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            Ok(_) => Err(QueryError::invalid_param(name, format!("at most {max}"))),
            Err(_) => Err(QueryError::invalid_param(
                name,
                format!("{s:?} is not a non-negative integer"),
            )),
        },
    }
}

/// `start`/`end` of the log APIs: default the last hour up to now.
fn time_range(params: &Params) -> Result<(i64, i64), QueryError> {
    let now = now_ms();
    let end = time_param(params, "end", now)?;
    let start = time_param(params, "start", end.saturating_sub(DEFAULT_RANGE_MS))?;
    if end < start {
        return Err(QueryError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

/// A cursor as the API hands it out: `<time ms>.<seq>`.
fn format_cursor(c: LogCursor) -> String {
    format!("{}.{}", c.time_ms, c.seq)
}

fn parse_cursor(s: &str) -> Result<LogCursor, QueryError> {
    let bad = || QueryError::invalid_param("cursor", format!("{s:?} is not a cursor of this API"));
    let (t, seq) = s.split_once('.').ok_or_else(bad)?;
    Ok(LogCursor {
        time_ms: t.parse().map_err(|_| bad())?,
        seq: seq.parse().map_err(|_| bad())?,
    })
}

fn log_query(params: &Params) -> Result<LogQuery, QueryError> {
    let (start_ms, end_ms) = time_range(params)?;
    let order = match params.get("sort") {
        None | Some("newest" | "desc") => LogOrder::NewestFirst,
        Some("oldest" | "asc") => LogOrder::OldestFirst,
        Some(other) => {
            return Err(QueryError::invalid_param(
                "sort",
                format!("{other:?}: use newest or oldest"),
            ));
        }
    };
    let buckets = int_param(params, "buckets", 60, 1000)?;
    let width = (end_ms - start_ms + 1).max(1) as u64;
    Ok(LogQuery {
        query: params.get("q").unwrap_or("").to_string(),
        start_ms,
        end_ms,
        limit: int_param(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?,
        order,
        after: params.get("cursor").map(parse_cursor).transpose()?,
        // Round the width up to a whole second so buckets line up with what a chart labels.
        histogram_bucket_ms: (buckets > 0)
            .then(|| (width.div_ceil(buckets as u64).div_ceil(1000) * 1000) as i64),
        facet_limit: int_param(params, "facets", 10, 1000)?,
    })
}

#[derive(Serialize)]
struct HitJson {
    /// RFC 3339 in UTC, with milliseconds.
    time: String,
    timestamp_ms: i64,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// The original event; its raw text when it no longer parses as JSON.
    event: Json,
}

fn hit_json(hit: LogHit) -> HitJson {
    let r = hit.record;
    let event = serde_json::from_str(&r.raw).unwrap_or(Json::String(r.raw));
    HitJson {
        time: humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + Duration::from_millis(r.time_ms.max(0) as u64),
        )
        .to_string(),
        timestamp_ms: r.time_ms,
        seq: hit.seq,
        level: r.level.map(String::from),
        service: r.service.map(String::from),
        host: r.host.map(String::from),
        message: r.message,
        trace_id: r.trace_id.map(String::from),
        span_id: r.span_id.map(String::from),
        fingerprint: r.fingerprint.map(String::from),
        event,
    }
}

#[derive(Serialize)]
struct Bucket {
    start_ms: i64,
    count: u64,
}

#[derive(Serialize)]
struct FacetValue {
    value: String,
    count: u64,
}

#[derive(Serialize)]
struct SearchJson {
    total: u64,
    hits: Vec<HitJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    histogram: Vec<Bucket>,
    facets: Map<String, Json>,
}

async fn search(
    State(store): State<Arc<LogStore>>,
    params: Params,
) -> Result<Response, QueryError> {
    let query = log_query(&params)?;
    let result = blocking(move || Ok(store.search(&query)?)).await?;
    let facets = result
        .facets
        .into_iter()
        .map(|(field, values)| {
            let values: Vec<FacetValue> = values
                .into_iter()
                .map(|(value, count)| FacetValue { value, count })
                .collect();
            (field, serde_json::to_value(values).unwrap_or_default())
        })
        .collect();
    let body = SearchJson {
        total: result.total,
        hits: result.hits.into_iter().map(hit_json).collect(),
        next_cursor: result.next.map(format_cursor),
        histogram: result
            .histogram
            .into_iter()
            .map(|(start_ms, count)| Bucket { start_ms, count })
            .collect(),
        facets,
    };
    Ok(success(body, Vec::new()))
}

/// Live tail: records as the store commits them (about a second after they are written), the
/// ones matching `q` sent as `log` events, oldest first. A client that falls behind the store's
/// tail buffer gets a `dropped` event with the number of lines it missed.
async fn tail(State(store): State<Arc<LogStore>>, params: Params) -> Result<Response, QueryError> {
    let q = params.get("q").unwrap_or("").to_string();
    // Subscribe before validating, so nothing committed in between is missed; a bad query
    // answers 400 rather than an empty stream.
    let subscription = store.subscribe();
    {
        let (store, q) = (store.clone(), q.clone());
        blocking(move || Ok(store.filter_hits(&q, Vec::new())?)).await?;
    }
    let state = TailState {
        store,
        q,
        subscription,
        pending: std::collections::VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.pending.pop_front() {
                return Some((Ok::<_, Infallible>(event), state));
            }
            let batch = std::future::poll_fn(|cx| state.subscription.poll_recv(cx)).await?;
            if batch.dropped > 0 {
                state.pending.push_back(
                    Event::default()
                        .event("dropped")
                        .data(batch.dropped.to_string()),
                );
            }
            let (store, q) = (state.store.clone(), state.q.clone());
            let matched =
                tokio::task::spawn_blocking(move || store.filter_hits(&q, batch.hits)).await;
            match matched {
                Ok(Ok(hits)) => state.pending.extend(hits.into_iter().map(|hit| {
                    Event::default()
                        .event("log")
                        .json_data(hit_json(hit.as_ref().clone()))
                        .unwrap_or_else(|_| Event::default().comment("unencodable line"))
                })),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "live tail filter failed");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live tail task failed");
                    return None;
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

struct TailState {
    store: Arc<LogStore>,
    q: String,
    subscription: LogSubscription,
    pending: std::collections::VecDeque<Event>,
}

#[derive(Serialize)]
struct ErrorGroupJson {
    fingerprint: String,
    count: u64,
    first_seen_ms: i64,
    last_seen_ms: i64,
    services: Vec<String>,
    /// The search that lists the group's lines.
    query: String,
    example: HitJson,
}

async fn errors(
    State(store): State<Arc<LogStore>>,
    params: Params,
) -> Result<Response, QueryError> {
    let (start, end) = time_range(&params)?;
    let limit = int_param(&params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let groups = blocking(move || Ok(store.error_groups(start, end, limit)?)).await?;
    let body: Vec<ErrorGroupJson> = groups
        .into_iter()
        .map(|g| ErrorGroupJson {
            query: format!("fingerprint:{}", g.fingerprint),
            fingerprint: g.fingerprint,
            count: g.count,
            first_seen_ms: g.first_seen_ms,
            last_seen_ms: g.last_seen_ms,
            services: g.services,
            example: hit_json(g.example),
        })
        .collect();
    Ok(success(body, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = LogCursor {
            time_ms: 1_700_000_000_123,
            seq: 42,
        };
        assert_eq!(parse_cursor(&format_cursor(c)).ok(), Some(c));
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor("1.x").is_err());
    }

    #[test]
    fn search_parameters() {
        let q = log_query(&Params::from_query(
            "q=level:ERROR&start=1000&end=1060&limit=5&sort=oldest&buckets=6&cursor=1000500.7",
        ))
        .expect("valid");
        assert_eq!(q.query, "level:ERROR");
        assert_eq!((q.start_ms, q.end_ms), (1_000_000, 1_060_000));
        assert_eq!(q.limit, 5);
        assert_eq!(q.order, LogOrder::OldestFirst);
        assert_eq!(q.histogram_bucket_ms, Some(11_000));
        assert_eq!(
            q.after,
            Some(LogCursor {
                time_ms: 1_000_500,
                seq: 7
            })
        );
        assert!(log_query(&Params::from_query("limit=100000")).is_err());
        assert!(log_query(&Params::from_query("sort=sideways")).is_err());
        assert!(log_query(&Params::from_query("start=20&end=10")).is_err());
    }
}
