//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, binary protobuf or OTLP/JSON,
//! answered in the request's encoding.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde_json::json;

use super::common::{ExportOutcome, Signal};
use super::grpc::{log_failure, partial};
use super::status::{code, retryable, rpc_status};
use super::{OtlpIngest, Payload};
use crate::IngestError;
use crate::http::with_retry_after;
use crate::logs::{BodyError, decode_body};

const TRANSPORT: &str = "http";
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// How the body is encoded, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn from_headers(headers: &HeaderMap) -> Option<Format> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let mime = value.split(';').next()?.trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Format::Protobuf),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

pub(crate) fn router(ingest: OtlpIngest) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .with_state(ingest)
}

async fn traces(State(ingest): State<OtlpIngest>, headers: HeaderMap, body: Body) -> Response {
    handle(ingest, Signal::Traces, headers, body).await
}

async fn logs(State(ingest): State<OtlpIngest>, headers: HeaderMap, body: Body) -> Response {
    handle(ingest, Signal::Logs, headers, body).await
}

async fn metrics(State(ingest): State<OtlpIngest>, headers: HeaderMap, body: Body) -> Response {
    handle(ingest, Signal::Metrics, headers, body).await
}

/// Decodes a (decompressed) body of `signal` in `format`.
pub(crate) fn decode(signal: Signal, format: Format, body: &[u8]) -> Result<Payload, String> {
    fn pb<M: prost::Message + Default>(body: &[u8]) -> Result<M, String> {
        M::decode(body).map_err(|e| format!("invalid protobuf: {e}"))
    }
    fn js<M: serde::de::DeserializeOwned>(body: &[u8]) -> Result<M, String> {
        serde_json::from_slice(body).map_err(|e| format!("invalid OTLP/JSON: {e}"))
    }
    // An empty body is an empty request in either encoding.
    if body.iter().all(u8::is_ascii_whitespace) && format == Format::Json {
        return Ok(match signal {
            Signal::Traces => Payload::Traces(ExportTraceServiceRequest::default()),
            Signal::Logs => Payload::Logs(ExportLogsServiceRequest::default()),
            Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest::default()),
        });
    }
    Ok(match (signal, format) {
        (Signal::Traces, Format::Protobuf) => Payload::Traces(pb(body)?),
        (Signal::Traces, Format::Json) => Payload::Traces(js(body)?),
        (Signal::Logs, Format::Protobuf) => Payload::Logs(pb(body)?),
        (Signal::Logs, Format::Json) => Payload::Logs(js(body)?),
        (Signal::Metrics, Format::Protobuf) => Payload::Metrics(pb(body)?),
        (Signal::Metrics, Format::Json) => Payload::Metrics(js(body)?),
    })
}

/// A request that failed before or during the export.
enum Failed {
    UnsupportedMediaType,
    TooLarge(String),
    Ingest(IngestError),
}

async fn handle(ingest: OtlpIngest, signal: Signal, headers: HeaderMap, body: Body) -> Response {
    let result = receive(&ingest, signal, &headers, body).await;
    let (label, response) = match result {
        Ok((format, outcome)) => {
            let label = if outcome.rejected > 0 {
                "partial"
            } else {
                "ok"
            };
            (label, success(signal, format, outcome))
        }
        Err((format, Failed::UnsupportedMediaType)) => (
            "unsupported_media_type",
            failure(
                format,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code(crate::error::Failure::Invalid),
                format!(
                    "unsupported Content-Type {:?}: use {PROTOBUF} or {JSON}",
                    headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                ),
                false,
            ),
        ),
        Err((format, Failed::TooLarge(e))) => (
            "too_large",
            failure(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                code(crate::error::Failure::Invalid),
                e,
                false,
            ),
        ),
        Err((format, Failed::Ingest(e))) => {
            log_failure(signal, &e);
            let f = e.failure();
            let status = match f {
                crate::error::Failure::Invalid => StatusCode::BAD_REQUEST,
                crate::error::Failure::Overloaded => StatusCode::TOO_MANY_REQUESTS,
                crate::error::Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                crate::error::Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (
                super::failure_label(f),
                failure(format, status, code(f), e.to_string(), retryable(f)),
            )
        }
    };
    ingest.count_request(signal, TRANSPORT, label);
    response
}

async fn receive(
    ingest: &OtlpIngest,
    signal: Signal,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Format, ExportOutcome), (Format, Failed)> {
    let Some(format) = Format::from_headers(headers) else {
        return Err((Format::Json, Failed::UnsupportedMediaType));
    };
    let limit = ingest.max_message_bytes();
    let body: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        (
            format,
            Failed::TooLarge(format!("body exceeds the {limit} byte limit")),
        )
    })?;
    let headers = headers.clone();
    // Decompression and decoding are CPU work: they run admitted, off the async workers.
    let admitted = ingest
        .admitted(move |inner| {
            let body = match decode_body(&headers, body, limit) {
                Ok(b) => b,
                Err(BodyError::TooLarge(e)) => return Err(Failed::TooLarge(e)),
                Err(BodyError::Invalid(e)) => {
                    return Err(Failed::Ingest(IngestError::BadRequest(e)));
                }
            };
            let payload = decode(signal, format, &body)
                .map_err(|e| Failed::Ingest(IngestError::BadRequest(e)))?;
            drop(body);
            inner.export(payload).map_err(Failed::Ingest)
        })
        .await;
    match admitted {
        Ok(Ok(outcome)) => Ok((format, outcome)),
        Ok(Err(failed)) => Err((format, failed)),
        Err(e) => Err((format, Failed::Ingest(e))),
    }
}

fn response(format: Format, status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    with_retry_after(resp)
}

/// 200 with the export's response message, a partial success when something was rejected.
/// In OTLP/JSON, 64-bit integers are strings.
fn success(signal: Signal, format: Format, outcome: ExportOutcome) -> Response {
    let partial = partial(outcome);
    let body = match format {
        Format::Json => {
            let value = match (&partial, signal) {
                (None, _) => json!({}),
                (Some((n, msg)), Signal::Traces) => {
                    json!({"partialSuccess": {"rejectedSpans": n.to_string(), "errorMessage": msg}})
                }
                (Some((n, msg)), Signal::Logs) => {
                    json!({"partialSuccess": {"rejectedLogRecords": n.to_string(), "errorMessage": msg}})
                }
                (Some((n, msg)), Signal::Metrics) => {
                    json!({"partialSuccess": {"rejectedDataPoints": n.to_string(), "errorMessage": msg}})
                }
            };
            value.to_string().into_bytes()
        }
        Format::Protobuf => match signal {
            Signal::Traces => prost::Message::encode_to_vec(&ExportTraceServiceResponse {
                partial_success: partial.map(|(rejected_spans, error_message)| {
                    ExportTracePartialSuccess {
                        rejected_spans,
                        error_message,
                    }
                }),
            }),
            Signal::Logs => prost::Message::encode_to_vec(&ExportLogsServiceResponse {
                partial_success: partial.map(|(rejected_log_records, error_message)| {
                    ExportLogsPartialSuccess {
                        rejected_log_records,
                        error_message,
                    }
                }),
            }),
            Signal::Metrics => prost::Message::encode_to_vec(&ExportMetricsServiceResponse {
                partial_success: partial.map(|(rejected_data_points, error_message)| {
                    ExportMetricsPartialSuccess {
                        rejected_data_points,
                        error_message,
                    }
                }),
            }),
        },
    };
    response(format, StatusCode::OK, body)
}

/// A failure answered with a `google.rpc.Status` in the request's encoding (JSON when the
/// encoding is unknown), and `Retry-After` when a retry may succeed.
fn failure(
    format: Format,
    status: StatusCode,
    code: tonic::Code,
    message: String,
    retry: bool,
) -> Response {
    let rpc = rpc_status(code, message, retry);
    let body = match format {
        Format::Protobuf => prost::Message::encode_to_vec(&rpc),
        Format::Json => {
            let details: Vec<serde_json::Value> = rpc
                .details
                .iter()
                .map(|_| {
                    json!({
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": format!("{}s", super::status::RETRY_AFTER_SECS),
                    })
                })
                .collect();
            json!({"code": rpc.code, "message": rpc.message, "details": details})
                .to_string()
                .into_bytes()
        }
    };
    response(format, status, body)
}
