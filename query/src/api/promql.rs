//! The PromQL side of Prometheus' HTTP API: `/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/query_exemplars`, `/api/v1/format_query` and the `/api/v1/status/*` pages, with
//! Prometheus 3's parameters, validation, messages and JSON (`web/api/v1/api.go`,
//! `util/jsonutil/marshal.go`).
//!
//! Queries run on [`crate::promql::Engine`]. At most `max_concurrent_queries` evaluate at once;
//! the others wait for a slot, and the wait counts against the query's timeout (the smaller of
//! its `timeout` parameter and `query_timeout`): one that cannot get a slot in time answers 503
//! `unavailable`. Evaluation blocks, so it runs on tokio's blocking pool together with the
//! encoding of its answer, which is written by hand straight into one buffer (no intermediate
//! JSON tree): a 1,000-series × 1,441-step matrix is one pass over its samples.
//!
//! # What Grafana calls
//!
//! Grafana's Prometheus data source (grafana/grafana) talks to the server from its Go backend,
//! `pkg/promlib/`, with the data source's HTTP method (POST by default: a form-encoded body),
//! and forwards the browser's "resource" calls from `packages/grafana-prometheus/src/`:
//!
//! - **Save & test**: `pkg/promlib/healthcheck.go` (`healthcheck`) runs the instant query `1+1`
//!   through `pkg/promlib/querydata/request.go` → `pkg/promlib/client/client.go`
//!   (`QueryInstant`): `POST /api/v1/query` with `query=1+1&time=4`; then
//!   `pkg/promlib/heuristics.go` (`getHeuristics`) reads `GET /api/v1/status/buildinfo` (a
//!   non-empty `features` object there would make Grafana take the server for Mimir).
//! - **Panels and Explore**: `client.go` `QueryRange` → `POST /api/v1/query_range` (`query`,
//!   `start`, `end`, `step` in float seconds, `timeout` when configured); `QueryInstant` →
//!   `POST /api/v1/query` (`query`, `time`); with "Exemplars" on, `QueryExemplars` →
//!   `POST /api/v1/query_exemplars` (`query`, `start`, `end`).
//! - **Configuration page**: `PromSettings` asks the `version-detect` resource
//!   (`pkg/promlib/library.go`, `resource.DetectVersion`): `GET /api/v1/status/buildinfo`.
//! - **Data source start-up** (`datasource.ts` `init`): `areExemplarsAvailable` →
//!   `/api/v1/query_exemplars?query=test&start=…&end=…` (wants `"status":"success"`; note the
//!   times are in milliseconds, read as seconds far in the future); `loadRules` →
//!   `GET /api/v1/rules` (failure ignored; that route belongs to the alerting crate).
//! - **Code editor, metrics browser, query builder** (`language_provider.ts`,
//!   `resource_clients.ts`, `components/metrics-browser/`, `querybuilder/`):
//!   `GET /api/v1/label/__name__/values` (`start`, `end`, `limit=40000`, optional `match[]`),
//!   `GET /api/v1/label/{name}/values` with `match[]`, `/api/v1/labels` (`start`, `end`,
//!   `limit`, optional `match[]`), `/api/v1/series` (`match[]`, e.g. `{__name__!=""}`, `start`,
//!   `end`, `limit`), `GET /api/v1/metadata` (served by `metadata.rs`). The `suggestions`
//!   resource (`pkg/promlib/resource/resource.go`, `GetSuggestions`) becomes `/api/v1/labels`
//!   or `/api/v1/label/{name}/values` with `match[]`, `start`, `end`, `limit`.
//! - **Ad-hoc filters and template variables** (`datasource.ts` `getTagKeys`/`getTagValues`,
//!   `metric_find_query.ts`): the same labels, label values and series calls, and
//!   `query_result()` → `/api/v1/query` (`query`, `time`) reading vector, scalar and string
//!   results.
//!
//! Resource calls go out as POST with a form body except to the GET-only paths of
//! `client.go`'s `endpointsSupportOnlyGet` (label values, metadata, `status/*`, rules, …), and
//! are retried as GET on 400 or 405. Grafana does not call `format_query` or
//! `status/runtimeinfo|flags|config`; Prometheus' own UI and other tools do, so they answer
//! briefly and truthfully.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};
use serde::Serialize;
use storage::{Labels, SeriesStore, now_ms};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::params::{
    Params, duration_param, format_rfc3339, limit_param, parse_duration, parse_time, time_param,
};
use super::{AppState, TRUNCATED_WARNING, success};
use crate::config::QueryConfig;
use crate::error::QueryError;
use storage::GaugeGuard;

use crate::metrics::{QueryMetrics, record_request};
use crate::promql::{Engine, EngineConfig, PromqlError, QueryOptions, QueryOutput, Value};
use crate::read::{MAX_TIME_MS, MIN_TIME_MS};

/// The Prometheus version `/api/v1/status/buildinfo` claims. Grafana reads `version` as a
/// Prometheus version to pick features (label matchers on `/api/v1/labels` from 2.24, and so
/// on), so answering Argus' own `0.1.0` would make it fall back to the oldest Prometheus
/// behaviour. Argus implements the API of Prometheus 3 (`limit`, `lookback_delta`, `infos`),
/// minus native histograms; its own version is in the extra `argusVersion` field.
const PROMETHEUS_COMPATIBLE_VERSION: &str = "3.5.0";

/// Prometheus' cap on steps per series of a range query (`web/api/v1/api.go`).
const MAX_POINTS_PER_SERIES: i128 = 11_000;
const MAX_POINTS_MESSAGE: &str = "exceeded maximum resolution of 11,000 points per timeseries. \
     Try decreasing the query resolution (?step=XX)";
const NEGATIVE_STEP_MESSAGE: &str =
    "zero or negative query resolution step widths are not accepted. Try a positive integer";

/// Most warnings, and most infos, one answer lists (Prometheus' `AsStrings(query, 10, 10)`).
const MAX_ANNOTATIONS: usize = 10;

/// The engine, its query slots and its hooks, shared by the PromQL handlers.
pub(super) struct PromqlState {
    engine: Arc<Engine<Arc<SeriesStore>>>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    query_timeout: Duration,
    lookback_delta: Duration,
    max_samples: usize,
    storage_retention: Option<Duration>,
    started: SystemTime,
    metrics: QueryMetrics,
}

impl PromqlState {
    pub(super) fn new(store: Arc<SeriesStore>, config: &QueryConfig) -> Self {
        let max_concurrent = config.max_concurrent_queries.max(1);
        let engine = Engine::new(
            store,
            EngineConfig {
                lookback_delta: config.lookback_delta,
                timeout: config.query_timeout,
                max_samples: config.max_samples,
                max_series: config.max_series,
            },
        );
        PromqlState {
            engine: Arc::new(engine),
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            query_timeout: config.query_timeout,
            lookback_delta: config.lookback_delta,
            max_samples: config.max_samples,
            storage_retention: config.storage_retention,
            started: SystemTime::now(),
            metrics: config.metrics.clone(),
        }
    }

    /// Evaluates a validated request: waits for a slot within the query's deadline, then
    /// evaluates and encodes on the blocking pool.
    async fn execute(
        &self,
        request: QueryRequest,
        received: Instant,
    ) -> Result<Response, QueryError> {
        let timeout = match request.timeout_ns {
            None => self.query_timeout,
            Some(ns) => {
                Duration::from_nanos(u64::try_from(ns).unwrap_or(0)).min(self.query_timeout)
            }
        };
        // (capped so that no configured timeout overflows an `Instant` or tokio's timer)
        let timeout = timeout.min(Duration::from_secs(365 * 86_400));
        let deadline = received + timeout;
        let is_instant = matches!(request.eval, Eval::Instant { .. });
        // Refused before waiting for a slot, as Prometheus does (it parses in
        // `NewInstantQuery`, ahead of its query queue).
        let parsed =
            crate::promql::parse(&request.query).map_err(|e| engine_error(e, is_instant))?;
        let slot = self.acquire_slot(deadline, timeout).await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            // what Prometheus answers when the deadline passes before evaluation starts
            return Err(PromqlError::Timeout {
                stage: "query queue",
            }
            .into());
        }

        let engine = self.engine.clone();
        let running = GaugeGuard::enter(&self.metrics.in_flight);
        let job = move || {
            let _slot = slot;
            let _running = running;
            let options = QueryOptions {
                timeout: Some(remaining),
                lookback_delta: request.lookback_delta,
            };
            let output = match request.eval {
                Eval::Instant { time } => engine.instant(&parsed, time, &options),
                Eval::Range { start, end, step } => {
                    engine.range(&parsed, start, end, step, &options)
                }
            }?;
            Ok(encode_query_output(output, request.limit))
        };
        let body = tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| QueryError::Internal(format!("query task failed: {e}")))?
            .map_err(|e| engine_error(e, is_instant))?;
        Ok(json_response(body))
    }

    /// A query slot, waiting for one at most until `deadline`.
    async fn acquire_slot(
        &self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<OwnedSemaphorePermit, QueryError> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        let _waiting = GaugeGuard::enter(&self.metrics.waiting);
        let wait = self.slots.clone().acquire_owned();
        match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), wait).await {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_closed)) => Err(QueryError::Internal("the query slots are closed".into())),
            Err(_elapsed) => Err(QueryError::TooManyQueries {
                limit: self.max_concurrent,
                waited: timeout,
            }),
        }
    }

    /// Counts a finished request and turns it into the answer.
    fn finish(
        &self,
        endpoint: &'static str,
        received: Instant,
        result: Result<Response, QueryError>,
    ) -> Response {
        record_request(
            &self.metrics.requests,
            &self.metrics.duration,
            endpoint,
            received,
            &result,
        );
        result.into_response()
    }
}

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`, `lookback_delta`,
/// `limit`; `stats` is accepted and ignored.
pub(super) async fn query(State(state): State<AppState>, params: Params) -> Response {
    let received = Instant::now();
    let result = match parse_instant(&params, now_ms()) {
        Ok(request) => state.promql.execute(request, received).await,
        Err(e) => Err(e),
    };
    state.promql.finish("query", received, result)
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step` (float seconds or a
/// duration), `timeout`, `lookback_delta`, `limit`; `stats` is accepted and ignored.
pub(super) async fn query_range(State(state): State<AppState>, params: Params) -> Response {
    let received = Instant::now();
    let result = match parse_range(&params) {
        Ok(request) => state.promql.execute(request, received).await,
        Err(e) => Err(e),
    };
    state.promql.finish("query_range", received, result)
}

/// `GET|POST /api/v1/query_exemplars`: validated as Prometheus validates it; Argus stores no
/// exemplars, so a query with selectors answers `[]` (and one without, like Prometheus, 204).
pub(super) async fn query_exemplars(params: Params) -> Result<Response, QueryError> {
    let start = time_param(&params, "start", MIN_TIME_MS)?;
    let end = time_param(&params, "end", MAX_TIME_MS)?;
    if end < start {
        return Err(QueryError::BadData(
            "end timestamp must not be before start timestamp".into(),
        ));
    }
    let expr = parse_expr(params.get("query").unwrap_or_default()).map_err(QueryError::BadData)?;
    if !has_selector(&expr) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(success(Vec::<()>::new(), Vec::new()))
}

/// `GET|POST /api/v1/format_query`: the query, pretty-printed by the parser.
pub(super) async fn format_query(params: Params) -> Result<Response, QueryError> {
    let expr = parse_expr(params.get("query").unwrap_or_default())
        .map_err(|reason| QueryError::invalid_param("query", reason))?;
    Ok(success(expr.prettify(), Vec::new()))
}

/// `GET /api/v1/status/buildinfo`, in Prometheus' shape.
pub(super) async fn buildinfo() -> Response {
    success(BuildInfo::current(), Vec::new())
}

/// `GET /api/v1/status/runtimeinfo`: Prometheus' fields, filled with what applies to Argus
/// (tokio tasks and workers stand in for goroutines and `GOMAXPROCS`).
pub(super) async fn runtimeinfo(State(state): State<AppState>) -> Response {
    let state = &state.promql;
    let started = format_rfc3339(state.started);
    let (tasks, workers) = tokio::runtime::Handle::try_current().map_or((0, 0), |h| {
        let m = h.metrics();
        (m.num_alive_tasks(), m.num_workers())
    });
    let info = RuntimeInfo {
        start_time: started.clone(),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        reload_config_success: true,
        // settings are read once, at start-up
        last_config_time: started,
        corruption_count: 0,
        goroutine_count: tasks,
        gomaxprocs: workers,
        gogc: "",
        godebug: "",
        storage_retention: state
            .storage_retention
            .map_or_else(|| "forever".to_string(), prometheus_duration),
    };
    success(info, Vec::new())
}

/// `GET /api/v1/status/flags`: the Prometheus flags whose meaning Argus implements, with
/// Argus' values for them.
pub(super) async fn flags(State(state): State<AppState>) -> Response {
    let state = &state.promql;
    let mut flags = BTreeMap::new();
    flags.insert(
        "query.lookback-delta",
        prometheus_duration(state.lookback_delta),
    );
    flags.insert("query.max-concurrency", state.max_concurrent.to_string());
    flags.insert("query.max-samples", state.max_samples.to_string());
    flags.insert("query.timeout", prometheus_duration(state.query_timeout));
    flags.insert(
        "storage.tsdb.retention.time",
        state
            .storage_retention
            .map_or_else(|| "0s".to_string(), prometheus_duration),
    );
    success(flags, Vec::new())
}

/// `GET /api/v1/status/config`: Argus scrapes nothing and reads no Prometheus configuration,
/// so the YAML says so.
pub(super) async fn config() -> Response {
    #[derive(Serialize)]
    struct Config {
        yaml: &'static str,
    }
    success(
        Config {
            yaml: "# Argus has no Prometheus configuration: it scrapes no targets and is fed by \
                   remote_write, import and StatsD.\n# Its query settings are at \
                   /api/v1/status/flags.\n",
        },
        Vec::new(),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    go_version: &'static str,
    /// Not in Prometheus' answer: the version of Argus itself.
    argus_version: &'static str,
}

impl BuildInfo {
    fn current() -> Self {
        BuildInfo {
            version: PROMETHEUS_COMPATIBLE_VERSION,
            revision: "unknown",
            branch: "unknown",
            build_user: "unknown",
            build_date: "unknown",
            go_version: "none (Argus is written in Rust)",
            argus_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: u64,
    #[serde(rename = "goroutineCount")]
    goroutine_count: usize,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOGC")]
    gogc: &'static str,
    #[serde(rename = "GODEBUG")]
    godebug: &'static str,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

/// A validated `/api/v1/query` or `/api/v1/query_range` request.
#[derive(Debug, Clone, PartialEq)]
struct QueryRequest {
    query: String,
    eval: Eval,
    limit: Option<usize>,
    /// The `timeout` parameter in ns, as Go's signed `time.Duration` (≤ 0: already expired).
    timeout_ns: Option<i64>,
    /// The `lookback_delta` parameter; `None` (absent, zero or negative) keeps the engine's.
    lookback_delta: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eval {
    Instant {
        time: i64,
    },
    /// Milliseconds; `step` truncated from the parameter's nanoseconds as Prometheus does.
    Range {
        start: i64,
        end: i64,
        step: i64,
    },
}

/// `/api/v1/query`'s parameters, checked in Prometheus' order.
fn parse_instant(params: &Params, now: i64) -> Result<QueryRequest, QueryError> {
    let limit = limit_param(params)?;
    let time = time_param(params, "time", now)?;
    let timeout_ns = duration_param(params, "timeout")?;
    let lookback_delta = lookback_delta_param(params)?;
    Ok(QueryRequest {
        query: params.get("query").unwrap_or_default().to_string(),
        eval: Eval::Instant { time },
        limit,
        timeout_ns,
        lookback_delta,
    })
}

/// `/api/v1/query_range`'s parameters, checked in Prometheus' order.
fn parse_range(params: &Params) -> Result<QueryRequest, QueryError> {
    let limit = limit_param(params)?;
    let start = required_time(params, "start")?;
    let end = required_time(params, "end")?;
    if end < start {
        return Err(QueryError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns = parse_duration(params.get("step").unwrap_or_default())
        .map_err(|reason| QueryError::invalid_param("step", reason))?;
    if step_ns <= 0 {
        return Err(QueryError::invalid_param("step", NEGATIVE_STEP_MESSAGE));
    }
    // `end.Sub(start)/step > 11000` on Go durations: nanoseconds, the span saturating
    let span_ns = ((i128::from(end) - i128::from(start)) * 1_000_000).min(i128::from(i64::MAX));
    if span_ns / i128::from(step_ns) > MAX_POINTS_PER_SERIES {
        return Err(QueryError::BadData(MAX_POINTS_MESSAGE.into()));
    }
    let timeout_ns = duration_param(params, "timeout")?;
    let lookback_delta = lookback_delta_param(params)?;
    Ok(QueryRequest {
        query: params.get("query").unwrap_or_default().to_string(),
        eval: Eval::Range {
            start,
            end,
            step: step_ns / 1_000_000,
        },
        limit,
        timeout_ns,
        lookback_delta,
    })
}

/// `start` and `end` of a range query: required (absent reads as `""`, which does not parse).
fn required_time(params: &Params, name: &'static str) -> Result<i64, QueryError> {
    parse_time(params.get(name).unwrap_or_default())
        .map_err(|reason| QueryError::invalid_param(name, reason))
}

/// Prometheus' `extractQueryOpts`: a bad value is `bad_data` with its own wording.
fn lookback_delta_param(params: &Params) -> Result<Option<Duration>, QueryError> {
    let Some(s) = params.get("lookback_delta") else {
        return Ok(None);
    };
    let ns = parse_duration(s).map_err(|reason| {
        QueryError::BadData(format!("error parsing lookback delta duration: {reason}"))
    })?;
    Ok(u64::try_from(ns)
        .ok()
        .filter(|&ns| ns > 0)
        .map(Duration::from_nanos))
}

/// Parses a query outside an evaluation, the message worded as the engine words it.
fn parse_expr(query: &str) -> Result<Expr, String> {
    crate::promql::parse(query)
        .map(|q| q.expr().clone())
        .map_err(|e| e.to_string())
}

/// Whether a query has a vector selector (an exemplar query without one selects nothing).
fn has_selector(expr: &Expr) -> bool {
    struct Find(bool);
    impl ExprVisitor for Find {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
            if matches!(expr, Expr::VectorSelector(_) | Expr::MatrixSelector(_)) {
                self.0 = true;
            }
            Ok(!self.0)
        }
    }
    let mut find = Find(false);
    let _ = walk_expr(&mut find, expr);
    find.0
}

/// An engine error as the API reports it: Prometheus reports an instant query's parse error as
/// a bad `query` parameter, a range query's as it is.
fn engine_error(e: PromqlError, is_instant: bool) -> QueryError {
    match e {
        PromqlError::Parse { message } if is_instant => QueryError::invalid_param("query", message),
        e => QueryError::Promql(e),
    }
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Prometheus' success envelope around a query result:
/// `{"status":"success","data":{"resultType":…,"result":…},"warnings":[…],"infos":[…]}`, the
/// lists left out when empty; `limit` cuts a vector or matrix to that many series, with a
/// warning.
fn encode_query_output(output: QueryOutput, limit: Option<usize>) -> Vec<u8> {
    let QueryOutput {
        mut value,
        mut warnings,
        infos,
    } = output;
    if let Some(limit) = limit {
        let truncated = match &mut value {
            Value::Vector(samples) if samples.len() > limit => {
                samples.truncate(limit);
                true
            }
            Value::Matrix(series) if series.len() > limit => {
                series.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push(TRUNCATED_WARNING.to_string());
        }
    }
    let warnings = cap_annotations(warnings, "warning");
    let infos = cap_annotations(infos, "info");

    let mut out = Vec::with_capacity(encoded_size_hint(&value));
    let result_type = match &value {
        Value::Scalar { .. } => "scalar",
        Value::String { .. } => "string",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
    };
    out.extend_from_slice(br#"{"status":"success","data":{"resultType":""#);
    out.extend_from_slice(result_type.as_bytes());
    out.extend_from_slice(br#"","result":"#);
    write_value(&mut out, &value);
    out.push(b'}');
    for (key, list) in [("warnings", &warnings), ("infos", &infos)] {
        if list.is_empty() {
            continue;
        }
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":[");
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, item, Escape::Html);
        }
        out.push(b']');
    }
    out.push(b'}');
    out
}

/// At most [`MAX_ANNOTATIONS`], then a count of the rest, in Prometheus' words.
fn cap_annotations(mut list: Vec<String>, kind: &str) -> Vec<String> {
    if list.len() > MAX_ANNOTATIONS {
        let omitted = list.len() - MAX_ANNOTATIONS;
        list.truncate(MAX_ANNOTATIONS);
        list.push(format!("{omitted} more {kind} annotations omitted"));
    }
    list
}

/// Roughly the encoded size, so that the buffer grows at most once or twice.
fn encoded_size_hint(value: &Value) -> usize {
    let labels = |l: &Labels| {
        l.iter()
            .map(|l| l.name.len() + l.value.len() + 6)
            .sum::<usize>()
    };
    128 + match value {
        Value::Scalar { .. } => 0,
        Value::String { s, .. } => s.len() + 32,
        Value::Vector(samples) => samples.iter().map(|s| labels(&s.labels) + 64).sum(),
        Value::Matrix(series) => series
            .iter()
            .map(|s| labels(&s.labels) + 32 + s.samples.len() * 28)
            .sum(),
    }
}

/// A result as Prometheus writes it: scalar and string `[t,"v"]`, vector
/// `[{"metric":{…},"value":[t,"v"]},…]`, matrix `[{"metric":{…},"values":[[t,"v"],…]},…]`.
///
/// Scalars and strings go through their Go `MarshalJSON` (`promql/value.go`): `encoding/json`
/// of `[float64(t)/1000, v]`, so their time is Go's shortest float (`1.5`, not `1.500`), a
/// scalar's value is always `FormatFloat(v, 'f', -1, 64)` (no exponent form) and a string is
/// escaped by `encoding/json`. Samples of vectors and matrices go through `jsonutil`.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Scalar { t, v } => {
            out.push(b'[');
            write_go_seconds(out, *t);
            out.extend_from_slice(b",\"");
            write_go_float_f(out, *v);
            out.extend_from_slice(b"\"]");
        }
        Value::String { t, s } => {
            out.push(b'[');
            write_go_seconds(out, *t);
            out.push(b',');
            write_str(out, s, Escape::GoJson);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.push(b'[');
            for (i, sample) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(out, &sample.labels);
                out.extend_from_slice(br#","value":"#);
                write_point(out, sample.t, sample.v);
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.push(b'[');
            for (i, series) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(out, &series.labels);
                // as Prometheus: no "values" key for a series without float samples
                if !series.samples.is_empty() {
                    out.extend_from_slice(br#","values":["#);
                    for (j, sample) in series.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_point(out, sample.t, sample.v);
                    }
                    out.push(b']');
                }
                out.push(b'}');
            }
            out.push(b']');
        }
    }
}

fn write_point(out: &mut Vec<u8>, t: i64, v: f64) {
    out.push(b'[');
    write_timestamp(out, t);
    out.push(b',');
    write_float(out, v);
    out.push(b']');
}

/// `{"name":"value",…}` in label order (the store keeps labels sorted by name).
fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &label.name, Escape::Plain);
        out.push(b':');
        write_str(out, &label.value, Escape::Plain);
    }
    out.push(b'}');
}

/// Milliseconds as Prometheus' `jsonutil.MarshalTimestamp` writes them: seconds, then a dot
/// and exactly three digits unless they are all zero (`1435781451.781`, `1.500`, `7`).
fn write_timestamp(out: &mut Vec<u8>, t: i64) {
    if t < 0 {
        out.push(b'-');
    }
    let ms = t.unsigned_abs();
    write_u64(out, ms / 1000);
    let frac = ms % 1000;
    if frac != 0 {
        out.extend_from_slice(&[
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ]);
    }
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `float64(t)/1000` as Go's `encoding/json` writes a float64: the shortest decimal that reads
/// back, without exponent for any millisecond time (the exponent form needs < 1e-6 or ≥ 1e21).
fn write_go_seconds(out: &mut Vec<u8>, t: i64) {
    let _ = write!(out, "{}", t as f64 / 1000.0);
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: `NaN`, `+Inf`, `-Inf`, or the shortest decimal
/// that reads back, never in exponent form (Rust's `Display` for finite values).
fn write_go_float_f(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // whole numbers (counters, most gauges) without the formatting machinery; exact, as
        // they are below 2^53; `-0` keeps its sign, as in Go
        if v.is_sign_negative() {
            out.push(b'-');
        }
        write_u64(out, v.abs() as u64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A sample value as Prometheus' `jsonutil.MarshalFloat` writes it: a JSON string holding
/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` (the shortest digits that read back as `v`),
/// or its `'e'` format below 1e-6 and from 1e21 in magnitude (`1e-07`, `1.5e+21`); `NaN`,
/// `+Inf`, `-Inf`.
fn write_float(out: &mut Vec<u8>, v: f64) {
    out.push(b'"');
    let abs = v.abs();
    if abs.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        write_go_exponent(out, v);
    } else {
        write_go_float_f(out, v);
    }
    out.push(b'"');
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)` as a string (`1.5e+01`, `0e+00`, `NaN`,
/// `+Inf`, `-Inf`): how Prometheus' `/api/v1/alerts` writes an alert's value.
pub fn go_float_e(v: f64) -> String {
    let mut out = Vec::new();
    if v.is_finite() {
        write_go_exponent(&mut out, v);
    } else {
        write_go_float_f(&mut out, v);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `'e'` format with precision -1: Rust's `{:e}` digits, the exponent signed and at
/// least two digits long (`1.5e-7` → `1.5e-07`).
fn write_go_exponent(out: &mut Vec<u8>, v: f64) {
    let formatted = format!("{v:e}");
    let (mantissa, exponent) = formatted
        .split_once('e')
        .unwrap_or((formatted.as_str(), "0"));
    out.extend_from_slice(mantissa.as_bytes());
    out.push(b'e');
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => (b'-', digits),
        None => (b'+', exponent),
    };
    out.push(sign);
    if digits.len() < 2 {
        out.push(b'0');
    }
    out.extend_from_slice(digits.as_bytes());
}

/// Which of Prometheus' three JSON string encoders a string goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// jsoniter's `Stream.WriteString`, which `marshalLabelsJSON` uses for label names and
    /// values: `\"`, `\\`, `\n`, `\r`, `\t`, other control characters as `\u00XX`; nothing
    /// else.
    Plain,
    /// jsoniter's standard-library-compatible string encoder, for the strings of the envelope
    /// (`warnings`, `infos`): also `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`, and U+2028,
    /// U+2029 as `\u2028`, `\u2029`.
    Html,
    /// Go's `encoding/json`, which `promql.String.MarshalJSON` uses for a string result: as
    /// `Html`, and `\b`, `\f` as such (Go 1.22 and later).
    GoJson,
}

/// A JSON string, escaped as the Prometheus encoder for its place escapes it.
fn write_str(out: &mut Vec<u8>, s: &str, mode: Escape) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let html = mode != Escape::Plain;
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut plain_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (escape, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 if mode == Escape::GoJson => (b"\\b", 1),
            0x0c if mode == Escape::GoJson => (b"\\f", 1),
            0x00..=0x1f => (&[], 1),
            b'<' | b'>' | b'&' if html => (&[], 1),
            0xe2 if html
                && bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                (&[], 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        if !escape.is_empty() {
            out.extend_from_slice(escape);
        } else if len == 3 {
            out.extend_from_slice(b"\\u202");
            out.push(if bytes[i + 2] == 0xa8 { b'8' } else { b'9' });
        } else {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        i += len;
        plain_from = i;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// A duration as Prometheus' `model.Duration` prints it: `5m`, `2m`, `2w1d`, `1h30m`, `0s`.
fn prometheus_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use storage::Sample;

    use super::*;
    use crate::promql::{InstantSample, RangeSeries};

    fn encoded(value: Value) -> String {
        let output = QueryOutput {
            value,
            warnings: Vec::new(),
            infos: Vec::new(),
        };
        String::from_utf8(encode_query_output(output, None)).unwrap_or_default()
    }

    fn float(v: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, v);
        String::from_utf8(out).unwrap_or_default()
    }

    fn timestamp(t: i64) -> String {
        let mut out = Vec::new();
        write_timestamp(&mut out, t);
        String::from_utf8(out).unwrap_or_default()
    }

    fn string(s: &str, mode: Escape) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s, mode);
        String::from_utf8(out).unwrap_or_default()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn floats_as_go_formats_them() {
        // expected strings from Go's strconv.FormatFloat via Prometheus' MarshalFloat
        for (v, s) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (400.0, "400"),
            (-3.0, "-3"),
            (999_999_999_999_999.0, "999999999999999"),
            (1e15, "1000000000000000"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-6, "0.000001"),
            (123456.789, "123456.789"),
            (1e20, "100000000000000000000"),
            (9.999999999999999e20, "999999999999999900000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-1e-7, "-1e-07"),
            (1.2345e-10, "1.2345e-10"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(float(v), format!("\"{s}\""), "{v:e}");
        }
        assert_eq!(float(storage::stale_nan()), "\"NaN\"");
    }

    #[test]
    fn timestamps_as_prometheus_writes_them() {
        for (t, s) in [
            (0, "0"),
            (1_435_781_451_781, "1435781451.781"),
            (1_500, "1.500"),
            (1_050, "1.050"),
            (1_005, "1.005"),
            (7_000, "7"),
            (-1_500, "-1.500"),
            (-999, "-0.999"),
            (i64::MAX, "9223372036854775.807"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            assert_eq!(timestamp(t), s, "{t}");
        }
    }

    #[test]
    fn strings_escaped_as_go() {
        use Escape::{GoJson, Html, Plain};
        for mode in [Plain, Html, GoJson] {
            assert_eq!(string("plain", mode), r#""plain""#);
            assert_eq!(string("a\"b\\c", mode), r#""a\"b\\c""#);
            assert_eq!(string("\n\r\t\u{1}\u{1f}", mode), r#""\n\r\t\u0001\u001f""#);
            assert_eq!(string("é€😀\u{2027}", mode), "\"é€😀\u{2027}\"");
            // and it is JSON
            let s = string("a\"\u{0}<\u{8}\u{2028}é", mode);
            assert_eq!(
                serde_json::from_str::<String>(&s).ok().as_deref(),
                Some("a\"\u{0}<\u{8}\u{2028}é"),
                "{mode:?}"
            );
        }
        // labels: jsoniter's WriteString leaves HTML characters and separators alone
        assert_eq!(
            string("<a&b>\u{2028}\u{8}", Plain),
            "\"<a&b>\u{2028}\\u0008\""
        );
        // the envelope's strings: jsoniter's HTML-safe encoder
        assert_eq!(
            string("<a&b>\u{2028}\u{2029}\u{8}", Html),
            r#""\u003ca\u0026b\u003e\u2028\u2029\u0008""#
        );
        // string results: encoding/json
        assert_eq!(
            string("<a&b>\u{2028}\u{8}\u{c}", GoJson),
            r#""\u003ca\u0026b\u003e\u2028\b\f""#
        );
    }

    #[test]
    fn result_shapes() {
        assert_eq!(
            encoded(Value::Scalar {
                t: 1_435_781_451_781,
                v: 2.0
            }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"2"]}}"#
        );
        assert_eq!(
            encoded(Value::String {
                t: 4_000,
                s: "hi \"there\" <&>".into()
            }),
            r#"{"status":"success","data":{"resultType":"string","result":[4,"hi \"there\" \u003c\u0026\u003e"]}}"#
        );
        // a scalar's time is Go's shortest float, its value never in exponent form
        assert_eq!(
            encoded(Value::Scalar { t: 1_500, v: 1e21 }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"1000000000000000000000"]}}"#
        );
        assert_eq!(
            encoded(Value::Scalar { t: -20, v: -1e-7 }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[-0.02,"-0.0000001"]}}"#
        );
        assert_eq!(
            encoded(Value::Scalar {
                t: 0,
                v: f64::NEG_INFINITY
            }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[0,"-Inf"]}}"#
        );
        assert_eq!(
            encoded(Value::Vector(vec![
                InstantSample {
                    labels: labels(&[("job", "<a&b>"), ("__name__", "up")]),
                    t: 1_000,
                    v: 1.0
                },
                InstantSample {
                    labels: Labels::default(),
                    t: 1_000,
                    v: f64::NAN
                },
            ])),
            concat!(
                r#"{"status":"success","data":{"resultType":"vector","result":["#,
                r#"{"metric":{"__name__":"up","job":"<a&b>"},"value":[1,"1"]},"#,
                r#"{"metric":{},"value":[1,"NaN"]}]}}"#
            )
        );
        assert_eq!(
            encoded(Value::Vector(Vec::new())),
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
        );
        assert_eq!(
            encoded(Value::Matrix(vec![
                RangeSeries {
                    labels: labels(&[("job", "a")]),
                    samples: vec![Sample { t: 0, v: 0.5 }, Sample { t: 15_000, v: -1.0 }],
                },
                RangeSeries {
                    labels: labels(&[("job", "b")]),
                    samples: Vec::new(),
                },
            ])),
            concat!(
                r#"{"status":"success","data":{"resultType":"matrix","result":["#,
                r#"{"metric":{"job":"a"},"values":[[0,"0.5"],[15,"-1"]]},"#,
                r#"{"metric":{"job":"b"}}]}}"#
            )
        );
    }

    #[test]
    fn limit_and_annotations() {
        let series = |job: &str| RangeSeries {
            labels: labels(&[("job", job)]),
            samples: vec![Sample { t: 0, v: 1.0 }],
        };
        let output = QueryOutput {
            value: Value::Matrix(vec![series("a"), series("b"), series("c")]),
            warnings: vec!["PromQL warning: w".into()],
            infos: (0..12).map(|i| format!("PromQL info: {i}")).collect(),
        };
        let body = String::from_utf8(encode_query_output(output, Some(2))).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(json["data"]["result"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            json["warnings"],
            serde_json::json!(["PromQL warning: w", "results truncated due to limit"])
        );
        let infos = json["infos"].as_array().cloned().unwrap_or_default();
        assert_eq!(infos.len(), 11);
        assert_eq!(infos[10], "2 more info annotations omitted");
        // the envelope's key order is Prometheus'
        assert!(body.starts_with(r#"{"status":"success","data":{"resultType":"matrix""#));
        assert!(body.contains(r#"}]},"warnings":["#), "{body}");

        // a limit that cuts nothing warns about nothing; scalars are never cut
        let output = QueryOutput {
            value: Value::Scalar { t: 0, v: 1.0 },
            warnings: Vec::new(),
            infos: Vec::new(),
        };
        let body = String::from_utf8(encode_query_output(output, Some(1))).unwrap_or_default();
        assert!(!body.contains("warnings"), "{body}");
    }

    #[test]
    fn big_matrix_encodes_quickly() {
        // 1,000 series × 1,441 steps (a day at 1m): one pass into one buffer
        let matrix = Value::Matrix(
            (0..1000)
                .map(|i| RangeSeries {
                    labels: labels(&[
                        ("__name__", "http_requests_total"),
                        ("instance", &format!("host-{i}:9100")),
                        ("job", "api"),
                    ]),
                    samples: (0..1441)
                        .map(|s| Sample {
                            t: 1_700_000_000_000 + s * 60_000,
                            v: f64::from(i as u32) * 1.25 + s as f64 / 7.0,
                        })
                        .collect(),
                })
                .collect(),
        );
        let output = QueryOutput {
            value: matrix,
            warnings: Vec::new(),
            infos: Vec::new(),
        };
        let started = Instant::now();
        let body = encode_query_output(output, None);
        let elapsed = started.elapsed();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(json["data"]["result"].as_array().map(Vec::len), Some(1000));
        assert_eq!(
            json["data"]["result"][999]["values"][1440][0].as_f64(),
            Some(1_700_086_400.0)
        );
        // generous, for unoptimised test builds on a shared machine
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

    #[test]
    fn instant_parameters() {
        let parse = |q: &str| parse_instant(&Params::from_query(q), 42_000);
        let ok =
            parse("query=up&time=1700000000.5&timeout=30s&lookback_delta=1m&limit=3&stats=all")
                .ok();
        assert_eq!(
            ok,
            Some(QueryRequest {
                query: "up".into(),
                eval: Eval::Instant {
                    time: 1_700_000_000_500
                },
                limit: Some(3),
                timeout_ns: Some(30_000_000_000),
                lookback_delta: Some(Duration::from_secs(60)),
            })
        );
        let defaults = parse("query=1%2B1").ok();
        assert_eq!(
            defaults.map(|r| (r.query, r.eval, r.limit, r.timeout_ns, r.lookback_delta)),
            Some((
                "1+1".into(),
                Eval::Instant { time: 42_000 },
                None,
                None,
                None
            ))
        );
        let err = |q: &str| parse(q).err().map(|e| (e.error_type(), e.to_string()));
        assert_eq!(
            err("query=up&time=yesterday"),
            Some((
                "bad_data",
                r#"invalid parameter "time": cannot parse "yesterday" to a valid timestamp"#.into()
            ))
        );
        assert_eq!(
            err("query=up&timeout=soon"),
            Some((
                "bad_data",
                r#"invalid parameter "timeout": cannot parse "soon" to a valid duration"#.into()
            ))
        );
        assert_eq!(
            err("query=up&lookback_delta=x"),
            Some((
                "bad_data",
                r#"error parsing lookback delta duration: cannot parse "x" to a valid duration"#
                    .into()
            ))
        );
        assert_eq!(
            err("query=up&limit=-1"),
            Some((
                "bad_data",
                r#"invalid parameter "limit": limit must be non-negative"#.into()
            ))
        );
        // a zero or negative lookback keeps the engine's
        assert_eq!(
            parse("query=up&lookback_delta=0")
                .ok()
                .map(|r| r.lookback_delta),
            Some(None)
        );
        assert_eq!(
            parse("query=up&lookback_delta=-5")
                .ok()
                .map(|r| r.lookback_delta),
            Some(None)
        );
    }

    #[test]
    fn range_parameters() {
        let parse = |q: &str| parse_range(&Params::from_query(q));
        assert_eq!(
            parse("query=up&start=1700000000&end=1700003600&step=15").ok(),
            Some(QueryRequest {
                query: "up".into(),
                eval: Eval::Range {
                    start: 1_700_000_000_000,
                    end: 1_700_003_600_000,
                    step: 15_000
                },
                limit: None,
                timeout_ns: None,
                lookback_delta: None,
            })
        );
        assert_eq!(
            parse("query=up&start=2023-11-14T22:13:20Z&end=2023-11-14T23:13:20Z&step=1m")
                .ok()
                .map(|r| r.eval),
            Some(Eval::Range {
                start: 1_700_000_000_000,
                end: 1_700_003_600_000,
                step: 60_000
            })
        );
        assert_eq!(
            parse("query=up&start=0&end=1&step=0.0005")
                .ok()
                .map(|r| r.eval),
            Some(Eval::Range {
                start: 0,
                end: 1000,
                step: 0
            })
        );
        // exactly 11,000 steps pass; one more does not
        assert!(parse("query=up&start=0&end=11000&step=1").is_ok());
        let err = |q: &str| parse(q).err().map(|e| (e.error_type(), e.to_string()));
        let bad = |msg: &str| Some(("bad_data", msg.to_string()));
        assert_eq!(
            err("query=up&start=0&end=11001&step=1"),
            bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the \
                 query resolution (?step=XX)"
            )
        );
        assert_eq!(
            err("query=up&start=-9e12&end=9e12&step=1ms"),
            bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the \
                 query resolution (?step=XX)"
            )
        );
        assert_eq!(
            err("query=up&end=10&step=1"),
            bad(r#"invalid parameter "start": cannot parse "" to a valid timestamp"#)
        );
        assert_eq!(
            err("query=up&start=10&step=1"),
            bad(r#"invalid parameter "end": cannot parse "" to a valid timestamp"#)
        );
        assert_eq!(
            err("query=up&start=10&end=5&step=1"),
            bad(r#"invalid parameter "end": end timestamp must not be before start time"#)
        );
        assert_eq!(
            err("query=up&start=0&end=5"),
            bad(r#"invalid parameter "step": cannot parse "" to a valid duration"#)
        );
        assert_eq!(
            err("query=up&start=0&end=5&step=1ns"),
            bad(r#"invalid parameter "step": cannot parse "1ns" to a valid duration"#)
        );
        for step in ["0", "-15", "-1e-9"] {
            assert_eq!(
                err(&format!("query=up&start=0&end=5&step={step}")),
                bad(
                    "invalid parameter \"step\": zero or negative query resolution step widths \
                     are not accepted. Try a positive integer"
                ),
                "{step}"
            );
        }
        assert_eq!(
            err("query=up&start=0&end=5&step=1&timeout=x"),
            bad(r#"invalid parameter "timeout": cannot parse "x" to a valid duration"#)
        );
        // limit comes first, as in Prometheus
        assert_eq!(
            err("limit=x&start=x"),
            bad(r#"invalid parameter "limit": cannot parse "x" to a valid integer"#)
        );
    }

    #[test]
    fn selectors_found() {
        let has = |q: &str| promql_parser::parser::parse(q).map(|e| has_selector(&e));
        assert_eq!(has("up"), Ok(true));
        assert_eq!(has("sum(rate(x[5m])) by (job)"), Ok(true));
        assert_eq!(has("1 + 2 * time()"), Ok(false));
        assert_eq!(has("vector(1) + y offset 5m"), Ok(true));
        assert_eq!(has("\"a\""), Ok(false));
    }

    #[test]
    fn durations_and_times_for_status_pages() {
        assert_eq!(prometheus_duration(Duration::from_secs(300)), "5m");
        assert_eq!(
            prometheus_duration(Duration::from_secs(15 * 86_400)),
            "2w1d"
        );
        assert_eq!(
            prometheus_duration(Duration::from_millis(5_400_250)),
            "1h30m250ms"
        );
        assert_eq!(prometheus_duration(Duration::ZERO), "0s");
        assert_eq!(
            format_rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            format_rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_120)),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            format_rfc3339(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
    }

    /// A state over an empty store, recording what its hooks are told.
    struct Harness {
        state: PromqlState,
        _dir: tempfile::TempDir,
    }

    fn harness(max_concurrent_queries: usize) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SeriesStore::open(
            storage::SeriesStoreConfig::new(dir.path()),
            &prometheus::Registry::new(),
        )
        .expect("store opens");
        let config = QueryConfig {
            max_concurrent_queries,
            ..QueryConfig::default()
        };
        Harness {
            state: PromqlState::new(store, &config),
            _dir: dir,
        }
    }

    fn instant(query: &str) -> QueryRequest {
        parse_instant(&Params::from_query(query), 0).expect("valid parameters")
    }

    #[tokio::test]
    async fn a_query_waits_for_a_slot_within_its_timeout() {
        let h = harness(1);
        let held = h
            .state
            .slots
            .clone()
            .try_acquire_owned()
            .expect("a free slot");

        // every slot stays busy for the query's whole timeout: 503 unavailable
        let received = Instant::now();
        let err = h
            .state
            .execute(instant("query=1&timeout=0.05"), received)
            .await
            .err();
        assert!(received.elapsed() >= Duration::from_millis(50));
        let err = err.expect("no slot, no answer");
        assert!(
            matches!(err, QueryError::TooManyQueries { limit: 1, .. }),
            "{err:?}"
        );
        assert_eq!(err.error_type(), "unavailable");
        let metrics = &h.state.metrics;
        assert_eq!((metrics.waiting.get(), metrics.in_flight.get()), (0, 0));

        // a slot that frees within the timeout: the query waits for it, then runs
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(held);
        });
        let result = h
            .state
            .execute(instant("query=1&timeout=30"), Instant::now())
            .await;
        release.await.expect("released");
        // (what the evaluator answers is its business; it was reached)
        assert!(
            !matches!(result, Err(QueryError::TooManyQueries { .. })),
            "{result:?}"
        );
        assert_eq!((metrics.waiting.get(), metrics.in_flight.get()), (0, 0));
        // and the slot is free again
        assert_eq!(h.state.slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_query_that_does_not_parse_needs_no_slot() {
        let h = harness(1);
        let _held = h
            .state
            .slots
            .clone()
            .try_acquire_owned()
            .expect("a free slot");
        let err = h
            .state
            .execute(instant("query=sum(&timeout=10"), Instant::now())
            .await
            .expect_err("does not parse");
        assert_eq!(err.error_type(), "bad_data");
        assert!(
            err.to_string().starts_with("invalid parameter \"query\": ")
                && err.to_string().contains("parse error"),
            "{err}"
        );
        let range = parse_range(&Params::from_query("query=sum(&start=0&end=60&step=15"))
            .expect("valid parameters");
        let err = h
            .state
            .execute(range, Instant::now())
            .await
            .expect_err("does not parse");
        assert_eq!(err.error_type(), "bad_data");
        let message = err.to_string();
        assert!(
            message.contains("parse error") && !message.starts_with("invalid parameter"),
            "{message}"
        );
        assert_eq!(h.state.metrics.in_flight.get(), 0);
    }

    #[tokio::test]
    async fn a_deadline_passed_before_evaluation_is_a_timeout() {
        let h = harness(2);
        let err = h
            .state
            .execute(instant("query=1&timeout=0.000000001"), Instant::now())
            .await
            .expect_err("1ns is over before evaluation starts");
        assert_eq!(err.error_type(), "timeout");
        assert_eq!(err.to_string(), "query timed out in query queue");
        // a negative timeout is expired too, as in Go
        let err = h
            .state
            .execute(instant("query=1&timeout=-1"), Instant::now())
            .await
            .err();
        assert_eq!(err.map(|e| e.error_type()), Some("timeout"));
        assert_eq!(h.state.metrics.in_flight.get(), 0);
    }

    #[tokio::test]
    async fn outcomes_are_counted() {
        let h = harness(2);
        let received = Instant::now();
        let result = Err(QueryError::BadData("x".into()));
        let response = h.state.finish("query_range", received, result);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = h
            .state
            .finish("query", received, Ok(json_response(b"{}".to_vec())));
        assert_eq!(response.status(), StatusCode::OK);
        let requests = &h.state.metrics.requests;
        assert_eq!(
            requests
                .with_label_values(&["query_range", "bad_data"])
                .get(),
            1
        );
        assert_eq!(requests.with_label_values(&["query", "success"]).get(), 1);
    }
}
