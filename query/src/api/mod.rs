//! The HTTP routes of the query crate and the Prometheus JSON envelope they answer with.
//!
//! One module per group of endpoints: [`labels`] (series, label names, label values),
//! [`export`] (raw samples as JSON lines). PromQL's `query`/`query_range` will sit beside them.

mod export;
mod labels;
mod params;

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

/// The routes this crate serves, for the binary to merge into its HTTP server:
///
/// - `GET|POST /api/v1/series`: `match[]` (required, repeated), `start`, `end`, `limit`
/// - `GET|POST /api/v1/labels`: `match[]` (optional, repeated), `start`, `end`, `limit`
/// - `GET|POST /api/v1/label/{name}/values`: the same parameters
/// - `GET|POST /api/v1/export`: `match[]` (required), `start`, `end`, `max_rows_per_line`;
///   raw samples as JSON lines, streamed
///
/// POST takes the parameters as an `application/x-www-form-urlencoded` body, as Grafana sends
/// them. Answers use Prometheus' envelope, `{"status":"success","data":…}` or
/// `{"status":"error","errorType":…,"error":…}`.
pub fn router(store: Arc<SeriesStore>, config: QueryConfig) -> Router {
    let state = AppState {
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
        .with_state(state)
}

#[derive(Clone)]
struct AppState {
    store: Arc<SeriesStore>,
    config: Arc<QueryConfig>,
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
