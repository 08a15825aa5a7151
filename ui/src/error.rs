//! The crate's error type and the one place it becomes an HTTP answer (Prometheus' error
//! envelope, like every other `/api/v1` route).

use std::path::PathBuf;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a dashboards request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No file of the dashboards directory has this id (its name without extension).
    #[error("dashboard {id:?} not found in {}", dir.display())]
    DashboardNotFound { id: String, dir: PathBuf },

    /// The file exists but does not parse or validate; `message` says where and why.
    #[error("{}: {message}", file.display())]
    InvalidDashboard { file: PathBuf, message: String },

    /// The dashboards directory exists but cannot be listed.
    #[error("reading the dashboards directory {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The blocking task that reads the files did not finish (the runtime shut down).
    #[error("reading dashboards was interrupted: {reason}")]
    Interrupted { reason: String },
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            UiError::DashboardNotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            UiError::InvalidDashboard { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "bad_data"),
            UiError::ReadDir { .. } | UiError::Interrupted { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let body = serde_json::json!({
            "status": "error",
            "errorType": kind,
            "error": self.to_string(),
        });
        (status, Json(body)).into_response()
    }
}
