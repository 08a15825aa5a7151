//! The alerting crate's error type: every failure outside rule-file loading (which has its own
//! positioned [`crate::RuleFileError`]): evaluation, notification configuration, state files,
//! log counting and the APIs, with the context that makes each message actionable, and the
//! one place that maps it to an HTTP status.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use query::promql::PromqlError;
use storage::StorageError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertingError {
    /// A file or directory of the alerting data directory could not be read, written or synced.
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A state file exists but does not hold what this version writes.
    #[error("corrupt state file {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// A store failed (a log count, a write of rule results, a shared file helper).
    #[error("storage: {0}")]
    Storage(#[from] StorageError),

    /// The PromQL engine failed a rule's query.
    #[error(transparent)]
    Query(#[from] PromqlError),
    /// A rule's result is not something a rule can record or alert on.
    #[error("rule result is not a vector or scalar")]
    NotAVector,
    /// Two results of one rule have the same label set once the rule's labels are applied.
    #[error("vector contains metrics with the same labelset after applying {what} labels")]
    DuplicateLabelSet { what: &'static str },
    /// A rule produced more alerts or series than its group's `limit` allows (Prometheus'
    /// wording).
    #[error("exceeded limit of {limit} with {count} {what}")]
    LimitExceeded {
        limit: u64,
        count: usize,
        what: &'static str,
    },
    /// A `logs_count` rule is loaded but this manager was given no log store.
    #[error("logs_count needs a log store, and this rule manager has none")]
    NoLogStore,
    /// An expression that the rule loader should have refused.
    #[error("invalid expression {expr:?}: {reason}")]
    InvalidExpr { expr: String, reason: String },
    /// The store refused samples the rule wrote (e.g. a sample older than it accepts).
    #[error("{rejected} samples of rule {rule:?} were refused by the store: {detail}")]
    WriteRejected {
        rule: String,
        rejected: u64,
        detail: String,
    },

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
