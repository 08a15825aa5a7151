//! What every HTTP ingest path shares: body decoding with size limits, admission to
//! storage with backpressure, and the one mapping from [`IngestError`] to a response.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::IngestError;
use crate::error::Failure;

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, error_type) = match self.failure() {
            Failure::Invalid => (StatusCode::BAD_REQUEST, "bad_data"),
            Failure::Overloaded => (StatusCode::TOO_MANY_REQUESTS, "unavailable"),
            Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Failure::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let body = serde_json::json!({"status": "error", "errorType": error_type, "error": self.to_string()});
        with_retry_after((status, axum::Json(body)).into_response())
    }
}

/// The request body, gunzipped when `Content-Encoding: gzip`, at most `limit` bytes.
pub(crate) fn decoded_body(
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len() * 4);
            let read = flate2::read::MultiGzDecoder::new(body)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| IngestError::BadRequest(format!("invalid gzip body: {e}")))?;
            if read > limit {
                return Err(IngestError::BadRequest(format!(
                    "decompressed body exceeds the {limit} byte limit"
                )));
            }
            Ok(out)
        }
        other => Err(IngestError::BadRequest(format!(
            "unsupported Content-Encoding {other:?} (use gzip or none)"
        ))),
    }
}

/// Bounds the ingest work in flight (decoding and the durable storage write). A request that
/// cannot start within `wait` is answered 429 with `Retry-After` instead of queueing without
/// bound.
#[derive(Clone)]
pub struct WriteAdmission {
    permits: Arc<Semaphore>,
    wait: Duration,
    queue_depth: prometheus::IntGauge,
}

impl WriteAdmission {
    pub fn new(max_in_flight: usize, wait: Duration, metrics: &crate::IngestMetrics) -> Self {
        WriteAdmission {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            wait,
            queue_depth: metrics
                .queue_depth
                .with_label_values(&["http_write_admission"]),
        }
    }

    /// Runs blocking work `f` (decoding, storage writes) once admitted, off the async workers.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, IngestError> {
        self.queue_depth.inc();
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
        self.queue_depth.dec();
        let permit = match permit {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(IngestError::Storage(storage::StorageError::ShuttingDown)),
            Err(_) => {
                return Err(IngestError::Overloaded(
                    "storage is behind; retry later".into(),
                ));
            }
        };
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| IngestError::Io(std::io::Error::other(e)))?;
        Ok(result)
    }
}

/// Adds `Retry-After: 1` to an overload answer (429, 503), which clients and shippers honour
/// before retrying.
pub(crate) fn with_retry_after(mut resp: Response) -> Response {
    if matches!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}
