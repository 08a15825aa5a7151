//! The Jaeger query HTTP API (the one the Jaeger UI and Grafana's Jaeger data source call,
//! jaegertracing/jaeger `cmd/query/app/http_handler.go`) over the trace store, under
//! `/jaeger/api/`:
//!
//! - `GET /jaeger/api/services`: service names.
//! - `GET /jaeger/api/services/{service}/operations`: operation names of a service.
//! - `GET /jaeger/api/operations`: `service` (required), `spanKind`; `[{"name","spanKind"}]`.
//! - `GET /jaeger/api/traces`: `service` (required), `operation`, `tags` (a JSON object) and
//!   `tag=key:value` (repeated), `minDuration`/`maxDuration` (Go durations), `start`/`end`
//!   (µs since the epoch; default `lookback`, 1h, up to now), `limit` (default 20, at most
//!   1500); or `traceID` (repeated) to fetch traces by id.
//! - `GET /jaeger/api/traces/{traceID}`: one trace; 404 when unknown.
//! - `GET /jaeger/api/dependencies`: `endTs`, `lookback` (ms); service-graph edges computed by
//!   PromQL over the span-derived `argus_service_graph_*` series.
//!
//! Every answer is Jaeger's envelope, `{"data":…,"total":N,"limit":0,"offset":0,"errors":…}`,
//! errors included (`errors: [{"code":400,"msg":"…"}]`). Traces are Jaeger's JSON model
//! ([`model`]); parameters are read as Jaeger reads them ([`parse`]). Store reads block, so
//! they run on tokio's blocking pool, and the traces a search finds are read and encoded there
//! several at a time. `query/docs/jaeger.md` has the details and the deviations from Jaeger.

mod model;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use storage::{METRIC_NAME, Matcher, Sample, SeriesStore, SpanKind, TraceId, TraceReader, now_ms};
use tokio::sync::Semaphore;

use super::params::Params;
use crate::config::QueryConfig;
use crate::error::QueryError;
use crate::metrics::{QueryMetrics, record_request};
use crate::promql::SeriesSource;
use crate::read::blocking;

use parse::Search;

/// Traces of one search read and encoded at once, each on a blocking thread: enough to
/// overlap the store's I/O, few enough that one search does not take over the machine.
static FETCH_PARALLELISM: LazyLock<usize> = LazyLock::new(|| {
    std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).clamp(2, 16))
});

/// The Jaeger routes, for the binary to merge into its HTTP server. `series` is the store the
/// span-derived series are in (`/dependencies` reads its service-graph counters, looking
/// `config.lookback_delta` before the window for their starting values); `config.metrics`
/// counts the requests.
pub fn jaeger_router(
    traces: Arc<dyn TraceReader>,
    series: Arc<SeriesStore>,
    config: &QueryConfig,
) -> Router {
    routes(JaegerState {
        traces,
        series,
        baseline_ms: i64::try_from(config.lookback_delta.as_millis()).unwrap_or(i64::MAX),
        metrics: config.metrics.clone(),
    })
}

fn routes(state: JaegerState) -> Router {
    Router::new()
        .route("/jaeger/api/services", get(services))
        .route(
            "/jaeger/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/jaeger/api/operations", get(operations))
        .route("/jaeger/api/traces", get(search))
        .route("/jaeger/api/traces/{trace_id}", get(trace))
        .route("/jaeger/api/dependencies", get(dependencies))
        .with_state(state)
}

#[derive(Clone)]
struct JaegerState {
    traces: Arc<dyn TraceReader>,
    series: Arc<dyn SeriesSource>,
    /// How far before a dependency window a counter's starting value is looked for.
    baseline_ms: i64,
    metrics: QueryMetrics,
}

impl JaegerState {
    /// Counts a finished request and turns it into the answer, errors in Jaeger's envelope.
    fn finish(
        &self,
        endpoint: &'static str,
        received: Instant,
        result: Result<Response, QueryError>,
    ) -> Response {
        record_request(
            &self.metrics.jaeger_requests,
            &self.metrics.jaeger_duration,
            endpoint,
            received,
            &result,
        );
        result.unwrap_or_else(error_response)
    }
}

/// Jaeger's `structuredResponse`.
#[derive(Serialize)]
struct Envelope<'a, T> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<&'a [ErrorJson]>,
}

/// Jaeger's `structuredError`: a failed request has a `code`; a trace of a `traceID=` lookup
/// that is not there has its `traceID` instead.
#[derive(Serialize)]
struct ErrorJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn envelope<T: Serialize>(data: T, total: usize) -> Result<Response, QueryError> {
    let body = serde_json::to_vec(&Envelope {
        data,
        total,
        limit: 0,
        offset: 0,
        errors: None,
    })
    .map_err(|e| QueryError::Internal(format!("encoding the answer: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}

/// The envelope around traces already encoded (on the blocking pool), `total` 0 as Jaeger
/// answers searches.
fn traces_envelope(traces: &[Vec<u8>], errors: &[ErrorJson]) -> Result<Response, QueryError> {
    let errors = serde_json::to_vec(&(!errors.is_empty()).then_some(errors))
        .map_err(|e| QueryError::Internal(format!("encoding the answer: {e}")))?;
    let size = traces.iter().map(|t| t.len() + 1).sum::<usize>() + errors.len() + 64;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"data\":[");
    for (i, trace) in traces.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(trace);
    }
    body.extend_from_slice(b"],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":");
    body.extend_from_slice(&errors);
    body.push(b'}');
    Ok(json_response(StatusCode::OK, body))
}

fn error_response(e: QueryError) -> Response {
    let status = e.status();
    let message = e.to_string();
    if status.is_server_error() {
        tracing::error!(error = %message, "jaeger api request failed");
    } else {
        tracing::debug!(error = %message, "jaeger api request rejected");
    }
    let errors = [ErrorJson {
        code: Some(status.as_u16()),
        msg: message,
        trace_id: None,
    }];
    let body = Envelope {
        data: (),
        total: 0,
        limit: 0,
        offset: 0,
        errors: Some(&errors),
    };
    match serde_json::to_vec(&body) {
        Ok(body) => json_response(status, body),
        // (a unit, three integers and strings: serde_json cannot fail on them)
        Err(_) => status.into_response(),
    }
}

/// `GET /jaeger/api/services`.
async fn services(State(state): State<JaegerState>) -> Response {
    let received = Instant::now();
    let reader = state.traces.clone();
    let result = async {
        let services = blocking(move || Ok(reader.services()?)).await?;
        envelope(&services, services.len())
    }
    .await;
    state.finish("services", received, result)
}

/// `GET /jaeger/api/services/{service}/operations`: names only, every kind, each once.
async fn service_operations(
    State(state): State<JaegerState>,
    service: Result<Path<String>, PathRejection>,
) -> Response {
    let received = Instant::now();
    let result = async {
        let Path(service) =
            service.map_err(|e| QueryError::invalid_param("service", e.body_text()))?;
        let reader = state.traces.clone();
        let operations = blocking(move || Ok(reader.operations(&service, None)?)).await?;
        let mut names: Vec<&str> = operations.iter().map(|op| op.name.as_str()).collect();
        names.dedup();
        envelope(&names, names.len())
    }
    .await;
    state.finish("operations", received, result)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperationJson<'a> {
    name: &'a str,
    span_kind: &'static str,
}

/// `GET /jaeger/api/operations?service=&spanKind=`.
async fn operations(State(state): State<JaegerState>, params: Params) -> Response {
    let received = Instant::now();
    let result = async {
        let service = params
            .get("service")
            .ok_or(QueryError::MissingParam { param: "service" })?
            .to_string();
        let kind = params
            .get("spanKind")
            .map(|s| {
                SpanKind::parse(s).ok_or_else(|| {
                    QueryError::invalid_param(
                        "spanKind",
                        format!(
                            "{s:?} is not a span kind (server, client, producer, consumer, \
                             internal, unspecified)"
                        ),
                    )
                })
            })
            .transpose()?;
        let reader = state.traces.clone();
        let operations = blocking(move || Ok(reader.operations(&service, kind)?)).await?;
        let data: Vec<OperationJson> = operations
            .iter()
            .map(|op| OperationJson {
                name: &op.name,
                // Jaeger's operations of spans without a kind have none
                span_kind: match op.kind {
                    SpanKind::Unspecified => "",
                    kind => kind.as_str(),
                },
            })
            .collect();
        envelope(&data, data.len())
    }
    .await;
    state.finish("operations", received, result)
}

/// `GET /jaeger/api/traces/{traceID}`.
async fn trace(
    State(state): State<JaegerState>,
    trace_id: Result<Path<String>, PathRejection>,
) -> Response {
    let received = Instant::now();
    let result = async {
        let Path(trace_id) =
            trace_id.map_err(|e| QueryError::invalid_param("traceID", e.body_text()))?;
        let id = parse::trace_id(&trace_id)
            .map_err(|reason| QueryError::invalid_param("traceID", reason))?;
        match fetch_traces(&state.traces, vec![id]).await?.pop().flatten() {
            Some(trace) => traces_envelope(&[trace], &[]),
            None => Err(QueryError::TraceNotFound),
        }
    }
    .await;
    state.finish("trace", received, result)
}

/// `GET /jaeger/api/traces`: a search, or a look-up by `traceID`.
async fn search(State(state): State<JaegerState>, params: Params) -> Response {
    let received = Instant::now();
    let result = async {
        match parse::search(&params, now_ns())? {
            Search::Nothing => traces_envelope(&[], &[]),
            Search::ByIds(ids) => {
                let found = fetch_traces(&state.traces, ids.clone()).await?;
                let mut traces = Vec::with_capacity(found.len());
                let mut missing = Vec::new();
                for (id, trace) in ids.iter().zip(found) {
                    match trace {
                        Some(trace) => traces.push(trace),
                        None => missing.push(ErrorJson {
                            code: None,
                            msg: QueryError::TraceNotFound.to_string(),
                            trace_id: Some(storage::hex(id)),
                        }),
                    }
                }
                traces_envelope(&traces, &missing)
            }
            Search::Query(query) => {
                let limit = query.limit;
                let reader = state.traces.clone();
                let matches = blocking(move || Ok(reader.find_traces(&query)?)).await?;
                let ids = matches.iter().take(limit).map(|m| m.trace_id).collect();
                // a trace gone between search and read (retention) is left out
                let traces: Vec<Vec<u8>> = fetch_traces(&state.traces, ids)
                    .await?
                    .into_iter()
                    .flatten()
                    .collect();
                traces_envelope(&traces, &[])
            }
        }
    }
    .await;
    state.finish("traces", received, result)
}

/// Reads and encodes traces, at most [`FETCH_PARALLELISM`] at once, each on a blocking
/// thread; in the order of `ids`, `None` for a trace the store does not have.
async fn fetch_traces(
    reader: &Arc<dyn TraceReader>,
    ids: Vec<TraceId>,
) -> Result<Vec<Option<Vec<u8>>>, QueryError> {
    let slots = Arc::new(Semaphore::new(*FETCH_PARALLELISM));
    let mut tasks = Vec::with_capacity(ids.len());
    for id in ids {
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| QueryError::Internal("trace read slots closed".into()))?;
        let reader = reader.clone();
        tasks.push(tokio::task::spawn_blocking(
            move || -> Result<Option<Vec<u8>>, QueryError> {
                let _slot = slot;
                let spans = reader.trace(&id)?;
                if spans.is_empty() {
                    return Ok(None);
                }
                model::encode_trace(&id, &spans)
                    .map(Some)
                    .map_err(|e| QueryError::Internal(format!("encoding a trace: {e}")))
            },
        ));
    }
    let mut traces = Vec::with_capacity(tasks.len());
    for task in tasks {
        let trace = task
            .await
            .map_err(|e| QueryError::Internal(format!("trace read task failed: {e}")))??;
        traces.push(trace);
    }
    Ok(traces)
}

/// Jaeger's `DependencyLink`, with the failed calls too.
#[derive(Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct DependencyJson {
    parent: String,
    child: String,
    call_count: u64,
    error_count: u64,
}

/// `GET /jaeger/api/dependencies?endTs=&lookback=`: the service graph over `lookback` ms up to
/// `endTs`: how much each span-derived edge counter grew in the window, summed per edge;
/// `service` keeps the edges of that service.
async fn dependencies(State(state): State<JaegerState>, params: Params) -> Response {
    let received = Instant::now();
    let result = async {
        let (end_ms, lookback_ms) = parse::dependencies(&params, now_ms())?;
        let service = params.get("service").map(str::to_string);
        let source = state.series.clone();
        let baseline_ms = state.baseline_ms;
        let links = blocking(move || {
            let start_ms = end_ms.saturating_sub(lookback_ms);
            let read_from = start_ms.saturating_sub(baseline_ms);
            let mut edges: BTreeMap<(String, String), DependencyJson> = BTreeMap::new();
            for (metric, is_error) in [
                ("argus_service_graph_requests_total", false),
                ("argus_service_graph_request_failed_total", true),
            ] {
                let matchers = [Matcher::equal(METRIC_NAME, metric)];
                for series in source.select(&matchers, read_from, end_ms)? {
                    let labels = &series.labels;
                    let (Some(client), Some(server)) = (labels.get("client"), labels.get("server"))
                    else {
                        continue;
                    };
                    if let Some(service) = &service
                        && client != service
                        && server != service
                    {
                        continue;
                    }
                    let samples = source.samples(series.id, read_from, end_ms)?;
                    // (`as` saturates; counters never decrease, so this is a whole count)
                    let count = counter_increase(&samples, start_ms).round().max(0.0) as u64;
                    let edge = edges
                        .entry((client.to_string(), server.to_string()))
                        .or_insert_with(|| DependencyJson {
                            parent: client.to_string(),
                            child: server.to_string(),
                            ..DependencyJson::default()
                        });
                    if is_error {
                        edge.error_count += count;
                    } else {
                        edge.call_count += count;
                    }
                }
            }
            // an edge without calls in the window is no dependency of it
            Ok(edges
                .into_values()
                .filter(|e| e.call_count > 0)
                .collect::<Vec<_>>())
        })
        .await?;
        envelope(&links, 0)
    }
    .await;
    state.finish("dependencies", received, result)
}

/// How much a counter grew after `start_ms`: from its last sample at or before `start_ms` (or,
/// for a series born in the window, from its first, which the span deriver writes as 0), a
/// decrease counting as a reset to zero. Unlike PromQL's `increase()` it does not extrapolate
/// to the window's edges: a young edge with 2 calls shows 2, not 3.
fn counter_increase(samples: &[Sample], start_ms: i64) -> f64 {
    let split = samples.partition_point(|s| s.t <= start_ms);
    let (before, after) = samples.split_at(split);
    // NaN: Prometheus' staleness marker, no value
    let mut previous = before.iter().rev().map(|s| s.v).find(|v| !v.is_nan());
    let mut total = 0.0;
    for v in after.iter().map(|s| s.v).filter(|v| !v.is_nan()) {
        if let Some(p) = previous {
            total += if v >= p { v - p } else { v };
        }
        previous = Some(v);
    }
    total
}

/// Now, in nanoseconds since the epoch.
fn now_ns() -> i64 {
    now_ms().saturating_mul(1_000_000)
}
