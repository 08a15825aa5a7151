//! The crate's one error type, and the one place it becomes an HTTP answer.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use storage::StorageError;

use crate::promql::PromqlError;

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

    /// The request is malformed in a way that is not one parameter's fault (`end` before
    /// `start` of `/api/v1/query_exemplars`, too many points per series, a bad
    /// `lookback_delta`); the message is Prometheus' own.
    #[error("{0}")]
    BadData(String),

    /// The PromQL engine refused or failed the query; the message is the engine's.
    #[error(transparent)]
    Promql(#[from] PromqlError),

    /// Every query slot stayed busy for the query's whole timeout.
    #[error(
        "too many concurrent queries: all {limit} query slots (max_concurrent_queries) stayed \
         busy for {waited:?}, the query's timeout; retry later or raise max_concurrent_queries"
    )]
    TooManyQueries { limit: usize, waited: Duration },

    /// A trace looked up by id is not in the store. The message is Jaeger's own
    /// (`spanstore.ErrTraceNotFound`), which its UI shows as is.
    #[error("trace not found")]
    TraceNotFound,

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

    /// Prometheus' `errorType` of this error (`bad_data`, `execution`, `timeout`, …).
    pub(crate) fn error_type(&self) -> &'static str {
        self.kind().1
    }

    /// The HTTP status of this error, for APIs with an envelope of their own (Jaeger's).
    pub(crate) fn status(&self) -> StatusCode {
        self.kind().0
    }

    /// The HTTP status and Prometheus `errorType` of this error, as Prometheus' `respondError`
    /// pairs them (`bad_data` 400, `execution` 422, `timeout` and `unavailable` 503,
    /// `internal` 500).
    fn kind(&self) -> (StatusCode, &'static str) {
        const BAD_DATA: (StatusCode, &str) = (StatusCode::BAD_REQUEST, "bad_data");
        const EXECUTION: (StatusCode, &str) = (StatusCode::UNPROCESSABLE_ENTITY, "execution");
        const UNAVAILABLE: (StatusCode, &str) = (StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        const INTERNAL: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "internal");
        match self {
            QueryError::InvalidParam { .. }
            | QueryError::MissingParam { .. }
            | QueryError::InvalidLabelName { .. }
            | QueryError::Form { .. }
            | QueryError::BadData(_)
            | QueryError::Storage(StorageError::InvalidMatcher(_))
            | QueryError::Storage(StorageError::InvalidQuery(_)) => BAD_DATA,
            QueryError::TooManySeries { .. } => EXECUTION,
            QueryError::TraceNotFound => (StatusCode::NOT_FOUND, "not_found"),
            QueryError::TooManyQueries { .. } => UNAVAILABLE,
            QueryError::Promql(e) => match e {
                PromqlError::Parse { .. }
                | PromqlError::BadQuery(_)
                | PromqlError::Storage(StorageError::InvalidMatcher(_)) => BAD_DATA,
                PromqlError::Execution(_)
                | PromqlError::TooManySamples { .. }
                | PromqlError::TooManySeries { .. }
                | PromqlError::Unsupported(_) => EXECUTION,
                PromqlError::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
                PromqlError::Storage(StorageError::ShuttingDown) => UNAVAILABLE,
                PromqlError::Storage(_) => INTERNAL,
            },
            QueryError::Storage(
                StorageError::ShuttingDown
                | StorageError::Overloaded(_)
                | StorageError::Unavailable(_),
            ) => UNAVAILABLE,
            QueryError::Storage(_) | QueryError::Internal(_) => INTERNAL,
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
            QueryError::Storage(StorageError::Overloaded("indexer behind".into())).kind(),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        );
        assert_eq!(
            QueryError::TraceNotFound.kind(),
            (StatusCode::NOT_FOUND, "not_found")
        );
        assert_eq!(QueryError::TraceNotFound.to_string(), "trace not found");
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

    #[test]
    fn promql_errors() {
        let kind = |e: PromqlError| QueryError::from(e).kind();
        assert_eq!(
            kind(PromqlError::Parse {
                message: "unexpected end of input".into()
            }),
            (StatusCode::BAD_REQUEST, "bad_data")
        );
        assert_eq!(
            kind(PromqlError::BadQuery("x".into())),
            (StatusCode::BAD_REQUEST, "bad_data")
        );
        for e in [
            PromqlError::Execution("x".into()),
            PromqlError::Unsupported("x".into()),
            PromqlError::TooManySamples {
                stage: "eval",
                limit: 1,
            },
        ] {
            assert_eq!(kind(e), (StatusCode::UNPROCESSABLE_ENTITY, "execution"));
        }
        assert_eq!(
            kind(PromqlError::Timeout { stage: "eval" }),
            (StatusCode::SERVICE_UNAVAILABLE, "timeout")
        );
        assert_eq!(
            kind(PromqlError::Storage(StorageError::ShuttingDown)),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        );
        assert_eq!(
            kind(PromqlError::Storage(StorageError::InvalidLabels(
                "x".into()
            ))),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        // the engine's message, unwrapped
        let e = QueryError::from(PromqlError::Parse {
            message: "1:5: parse error: unexpected end of input".into(),
        });
        assert_eq!(e.to_string(), "1:5: parse error: unexpected end of input");
        let e = QueryError::TooManyQueries {
            limit: 20,
            waited: Duration::from_secs(120),
        };
        assert_eq!(e.kind(), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
        assert!(e.to_string().contains("max_concurrent_queries"), "{e}");
    }
}
