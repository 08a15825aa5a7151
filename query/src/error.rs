//! The crate's one error type, and the one place it becomes an HTTP answer.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use storage::StorageError;

/// Everything a query request can fail with. Each variant says what was wrong with which
/// input; [`IntoResponse`] maps it to a status code and one of Prometheus' `errorType` values.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is present but malformed. `param` is the name the client used.
    #[error("invalid parameter {param:?}: {reason}")]
    InvalidParam { param: &'static str, reason: String },

    /// A required parameter is absent.
    #[error("no {param} parameter provided")]
    MissingParam { param: &'static str },

    /// The `{name}` of `/api/v1/label/{name}/values` is not a label name.
    #[error("invalid label name: {name:?}")]
    InvalidLabelName { name: String },

    /// The form-encoded request body could not be read.
    #[error("error parsing form values: {reason}")]
    Form { reason: String },

    /// The request selects more series than [`crate::QueryConfig::max_series`] allows.
    #[error(
        "the request selects {selected} series, more than the limit of {limit} \
         (max_series); narrow match[] or the time range"
    )]
    TooManySeries { selected: usize, limit: usize },

    /// The series store failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),

    /// A bug or a crashed task: nothing the client can fix.
    #[error("internal error: {0}")]
    Internal(String),
}

impl QueryError {
    pub(crate) fn invalid_param(param: &'static str, reason: impl Into<String>) -> Self {
        QueryError::InvalidParam {
            param,
            reason: reason.into(),
        }
    }

    /// The HTTP status and Prometheus `errorType` of this error.
    fn kind(&self) -> (StatusCode, &'static str) {
        match self {
            QueryError::InvalidParam { .. }
            | QueryError::MissingParam { .. }
            | QueryError::InvalidLabelName { .. }
            | QueryError::Form { .. }
            | QueryError::Storage(StorageError::InvalidMatcher(_)) => {
                (StatusCode::BAD_REQUEST, "bad_data")
            }
            QueryError::TooManySeries { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            QueryError::Storage(StorageError::ShuttingDown) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            QueryError::Storage(_) | QueryError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    status: &'static str,
    error_type: &'static str,
    error: &'a str,
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.kind();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::error!(error = %message, error_type, "query request failed");
        } else {
            tracing::debug!(error = %message, error_type, "query request rejected");
        }
        let body = ErrorBody {
            status: "error",
            error_type,
            error: &message,
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_parameter() {
        let e = QueryError::invalid_param("start", "cannot parse \"abc\" to a valid timestamp");
        assert_eq!(
            e.to_string(),
            r#"invalid parameter "start": cannot parse "abc" to a valid timestamp"#
        );
        assert_eq!(
            QueryError::MissingParam { param: "match[]" }.to_string(),
            "no match[] parameter provided"
        );
        assert_eq!(
            QueryError::InvalidLabelName { name: "a-b".into() }.to_string(),
            r#"invalid label name: "a-b""#
        );
    }

    #[test]
    fn status_and_error_type() {
        assert_eq!(
            QueryError::invalid_param("end", "x").kind(),
            (StatusCode::BAD_REQUEST, "bad_data")
        );
        assert_eq!(
            QueryError::Storage(StorageError::InvalidMatcher("x".into())).kind(),
            (StatusCode::BAD_REQUEST, "bad_data")
        );
        assert_eq!(
            QueryError::Storage(StorageError::ShuttingDown).kind(),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        );
        assert_eq!(
            QueryError::Internal("boom".into()).kind(),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        assert_eq!(
            QueryError::TooManySeries {
                selected: 2,
                limit: 1
            }
            .kind(),
            (StatusCode::UNPROCESSABLE_ENTITY, "execution")
        );
    }
}
