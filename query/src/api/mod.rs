//! The HTTP routes of the query crate and the Prometheus JSON envelope they answer with.
//!
//! One module per group of endpoints: [`labels`] (series, label names, label values),
//! [`export`] (raw samples as JSON lines), [`promql`] (PromQL queries and the status pages),
//! [`logs`] (log search, tail, error groups), [`jaeger`] (the Jaeger query API, with its own
//! envelope).

mod export;
mod jaeger;
mod labels;
mod logs;
mod metadata;
mod params;
mod promql;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use storage::{Labels, SeriesStore};

use crate::config::QueryConfig;
use crate::error::QueryError;

pub use jaeger::jaeger_router;
pub use logs::logs_router;
pub use params::{
    format_rfc3339, parse_rfc3339, parse_time as parse_prometheus_time, prometheus_duration_ns,
};
pub use promql::go_float_e;

/// The routes this crate serves, for the binary to merge into its HTTP server:
///
/// - `GET|POST /api/v1/series`: `match[]` (required, repeated), `start`, `end`, `limit`
/// - `GET|POST /api/v1/labels`: `match[]` (optional, repeated), `start`, `end`, `limit`
/// - `GET|POST /api/v1/label/{name}/values`: the same parameters
/// - `GET|POST /api/v1/export`: `match[]` (required), `start`, `end`, `max_rows_per_line`;
///   raw samples as JSON lines, streamed
/// - `GET|POST /api/v1/query`: `query`, `time`, `timeout`, `lookback_delta`, `limit`
/// - `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`,
///   `lookback_delta`, `limit`
/// - `GET|POST /api/v1/query_exemplars`: `query`, `start`, `end` (always no exemplars)
/// - `GET|POST /api/v1/format_query`: `query`
/// - `GET /api/v1/status/buildinfo`, `/runtimeinfo`, `/flags`, `/config`
///
/// POST takes the parameters as an `application/x-www-form-urlencoded` body, as Grafana sends
/// them. Answers use Prometheus' envelope, `{"status":"success","data":…}` or
/// `{"status":"error","errorType":…,"error":…}`.
pub fn router(store: Arc<SeriesStore>, config: QueryConfig) -> Router {
    let state = AppState {
        promql: Arc::new(promql::PromqlState::new(store.clone(), &config)),
        store,
        config: Arc::new(config),
    };
    Router::new()
        .route("/api/v1/series", get(labels::series).post(labels::series))
        .route(
            "/api/v1/labels",
            get(labels::label_names).post(labels::label_names),
        )
        .route(
            "/api/v1/label/{name}/values",
            get(labels::label_values).post(labels::label_values),
        )
        .route("/api/v1/export", get(export::export).post(export::export))
        .route(
            "/api/v1/metadata",
            get(metadata::metadata).post(metadata::metadata),
        )
        .route("/api/v1/query", get(promql::query).post(promql::query))
        .route(
            "/api/v1/query_range",
            get(promql::query_range).post(promql::query_range),
        )
        .route(
            "/api/v1/query_exemplars",
            get(promql::query_exemplars).post(promql::query_exemplars),
        )
        .route(
            "/api/v1/format_query",
            get(promql::format_query).post(promql::format_query),
        )
        .route("/api/v1/status/buildinfo", get(promql::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(promql::runtimeinfo))
        .route("/api/v1/status/flags", get(promql::flags))
        .route("/api/v1/status/config", get(promql::config))
        .with_state(state)
}

#[derive(Clone)]
struct AppState {
    store: Arc<SeriesStore>,
    config: Arc<QueryConfig>,
    promql: Arc<promql::PromqlState>,
}

impl AppState {
    /// Enforces [`QueryConfig::max_series`] on a selection of `selected` series.
    fn check_max_series(&self, selected: usize) -> Result<(), QueryError> {
        match self.config.max_series {
            Some(limit) if selected > limit => Err(QueryError::TooManySeries { selected, limit }),
            _ => Ok(()),
        }
    }
}

/// Prometheus' success envelope.
#[derive(Serialize)]
struct Success<T> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

fn success<T: Serialize>(data: T, warnings: Vec<String>) -> Response {
    Json(Success {
        status: "success",
        data,
        warnings,
    })
    .into_response()
}

/// What Prometheus warns when `limit` cut an answer short.
const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// Applies a `limit` parameter to a result list, adding Prometheus' warning when it cuts.
fn truncate<T>(items: &mut Vec<T>, limit: Option<usize>, warnings: &mut Vec<String>) {
    if let Some(limit) = limit
        && items.len() > limit
    {
        items.truncate(limit);
        warnings.push(TRUNCATED_WARNING.to_string());
    }
}

/// A label set as a JSON object, `{"__name__":"up","job":"api"}`, keys sorted by name.
struct LabelsJson<'a>(&'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for label in self.0.iter() {
            map.serialize_entry(&label.name, &label.value)?;
        }
        map.end()
    }
}
