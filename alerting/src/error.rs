//! The alerting crate's error type: every failure outside rule-file loading (which has its own
//! positioned [`crate::RuleFileError`]), with the context that makes its message actionable,
//! and the one place that maps it to an HTTP status.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the alerting crate's configuration, state files and APIs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertingError {
    /// Two receivers share a name.
    #[error("receiver {name:?} is defined more than once")]
    DuplicateReceiver { name: String },
    /// A receiver's settings are unusable (URL, header, timeout, body, template).
    #[error("receiver {receiver:?}: {reason}")]
    InvalidReceiver { receiver: String, reason: String },
    /// A route names a receiver that is not defined.
    #[error("route {route}: unknown receiver {receiver:?}")]
    UnknownReceiver { route: String, receiver: String },
    /// A route's settings are unusable (missing receiver, matchers on the root, duration).
    #[error("route {route}: {reason}")]
    InvalidRoute { route: String, reason: String },
    /// A label matcher that does not parse or whose regex does not compile.
    #[error("invalid matcher {matcher:?}: {reason}")]
    InvalidMatcher { matcher: String, reason: String },
    /// A silence refused by validation (the API answers 400).
    #[error("invalid silence: {reason}")]
    InvalidSilence { reason: String },
    /// No silence has this id (the API answers 404).
    #[error("silence {id} not found")]
    SilenceNotFound { id: String },
    /// A state file could not be read, written or synced.
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A state file exists but does not hold what this version writes.
    #[error("corrupt state file {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// A file helper shared with the stores failed (atomic write, directory sync).
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    /// The HTTP client for webhooks could not be built.
    #[error("webhook client: {0}")]
    HttpClient(String),
}

impl AlertingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AlertingError::Io {
            path: path.into(),
            source,
        }
    }

    /// The HTTP status an API answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            AlertingError::InvalidSilence { .. } | AlertingError::InvalidMatcher { .. } => {
                StatusCode::BAD_REQUEST
            }
            AlertingError::SilenceNotFound { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AlertingError {
    fn into_response(self) -> Response {
        error_response(self.status(), &self.to_string())
    }
}

/// An error body in the envelope of Argus' Prometheus-style APIs:
/// `{"status":"error","errorType":…,"error":…}`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    let error_type = match status {
        StatusCode::BAD_REQUEST => "bad_data",
        StatusCode::NOT_FOUND => "not_found",
        _ => "internal",
    };
    (
        status,
        axum::Json(serde_json::json!({
            "status": "error",
            "errorType": error_type,
            "error": message,
        })),
    )
        .into_response()
}
