//! `POST /api/v1/logs`, and what the HTTP log endpoints share: the state, body decoding with
//! limits, and the accounted append.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::value::RawValue;
use storage::{LogAppendOutcome, LogRecord, LogWriter, StorageError, now_ms};

use super::normalize::Normalizer;
use crate::{IngestError, IngestMetrics, WriteAdmission};

/// Rejections listed in an answer; the rest are only counted.
const MAX_LISTED_REJECTIONS: usize = 1000;

/// What the HTTP log routes share.
#[derive(Clone)]
pub(crate) struct LogsState {
    pub(crate) writer: Arc<dyn LogWriter>,
    pub(crate) metrics: IngestMetrics,
    pub(crate) admission: WriteAdmission,
    pub(crate) normalizer: Normalizer,
    pub(crate) max_body_bytes: usize,
}

pub(crate) fn routes(state: LogsState) -> Router {
    Router::new()
        .route("/api/v1/logs", post(post_logs))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

/// A request body that cannot be used at all.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over the limit once decompressed (413).
    TooLarge(String),
    /// Bad encoding or framing (400).
    Invalid(String),
}

/// The body, gunzipped when `Content-Encoding: gzip`, at most `limit` bytes.
pub(crate) fn decode_body(
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(BodyError::TooLarge(format!(
                    "body exceeds the {limit} byte limit"
                )));
            }
            Ok(body)
        }
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| BodyError::Invalid(format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(BodyError::TooLarge(format!(
                    "decompressed body exceeds the {limit} byte limit"
                )));
            }
            Ok(Bytes::from(out))
        }
        other => Err(BodyError::Invalid(format!(
            "unsupported Content-Encoding {other:?} (use gzip or none)"
        ))),
    }
}

/// Counts one rejected line.
pub(crate) fn count_reject(metrics: &IngestMetrics, transport: &str, reason: &str) {
    metrics
        .logs_rejects
        .with_label_values(&[transport, reason])
        .inc();
}

/// Appends `records` durably, timing the append and counting what was written and refused.
pub(crate) fn append(
    writer: &dyn LogWriter,
    metrics: &IngestMetrics,
    transport: &str,
    records: Vec<LogRecord>,
) -> Result<LogAppendOutcome, StorageError> {
    if records.is_empty() {
        return Ok(LogAppendOutcome::default());
    }
    let n = records.len() as u64;
    let started = Instant::now();
    let result = writer.append_logs(records);
    metrics
        .logs_append_seconds
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(outcome) => {
            metrics
                .logs_written
                .with_label_values(&[transport])
                .inc_by(outcome.accepted);
            if !outcome.rejected.is_empty() {
                metrics
                    .logs_rejects
                    .with_label_values(&[transport, "storage_rejected"])
                    .inc_by(outcome.rejected.len() as u64);
            }
        }
        Err(_) => metrics
            .logs_rejects
            .with_label_values(&[transport, "storage_error"])
            .inc_by(n),
    }
    result
}

/// The answer of `POST /api/v1/logs`.
#[derive(Debug, Serialize, PartialEq)]
struct LogsAnswer {
    accepted: u64,
    rejected: Vec<RejectedLine>,
    rejected_count: usize,
    /// What was wrong with the body as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
struct RejectedLine {
    line: usize,
    reason: String,
}

impl LogsAnswer {
    fn body_error(status: StatusCode, error: String) -> Response {
        let answer = LogsAnswer {
            accepted: 0,
            rejected: Vec::new(),
            rejected_count: 0,
            error: Some(error),
        };
        (status, axum::Json(answer)).into_response()
    }
}

enum LogsError {
    Body(BodyError),
    Storage(StorageError),
}

async fn post_logs(State(state): State<LogsState>, headers: HeaderMap, body: Bytes) -> Response {
    let admitted = state.clone();
    let result = state
        .admission
        .run(move || process(&admitted, &headers, body))
        .await;
    match result {
        Err(e) => e.into_response(),
        Ok(Err(LogsError::Body(BodyError::TooLarge(e)))) => {
            LogsAnswer::body_error(StatusCode::PAYLOAD_TOO_LARGE, e)
        }
        Ok(Err(LogsError::Body(BodyError::Invalid(e)))) => {
            LogsAnswer::body_error(StatusCode::BAD_REQUEST, e)
        }
        Ok(Err(LogsError::Storage(e))) => {
            tracing::error!(error = %e, "log append failed");
            IngestError::Storage(e).into_response()
        }
        Ok(Ok(answer)) => {
            let status = if answer.accepted > 0 {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, axum::Json(answer)).into_response()
        }
    }
}

/// How a body holds its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    NdJson,
    Array,
    /// `application/json` starting with `{`: one object, perhaps over several lines, or else
    /// NDJSON.
    ObjectOrNdJson,
}

fn framing(headers: &HeaderMap, body: &[u8]) -> Framing {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if matches!(
        content_type.as_str(),
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
    ) {
        return Framing::NdJson;
    }
    match first_non_blank(body) {
        Some(b'[') => Framing::Array,
        Some(b'{') if content_type == "application/json" => Framing::ObjectOrNdJson,
        _ => Framing::NdJson,
    }
}

fn first_non_blank(body: &[u8]) -> Option<u8> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// One event of a body: its 1-based line (or array position) and its text.
type BodyEvent = (usize, Vec<u8>);

/// Splits a body into its events. `Err` when an array body is not valid JSON.
fn split_events(headers: &HeaderMap, body: &[u8]) -> Result<Vec<BodyEvent>, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match framing(headers, body) {
        Framing::Array => {
            let elements: Vec<&RawValue> =
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON array: {e}"))?;
            Ok(elements
                .into_iter()
                .enumerate()
                .map(|(i, raw)| (i + 1, raw.get().as_bytes().to_vec()))
                .collect())
        }
        Framing::ObjectOrNdJson => {
            let lines = ndjson_events(body);
            if lines.len() > 1
                && let Ok(serde_json::Value::Object(_)) =
                    serde_json::from_slice::<serde_json::Value>(body)
            {
                return Ok(vec![(1, body.trim_ascii().to_vec())]);
            }
            Ok(lines)
        }
        Framing::NdJson => Ok(ndjson_events(body)),
    }
}

fn ndjson_events(body: &[u8]) -> Vec<BodyEvent> {
    ndjson_lines(body)
        .map(|(n, line)| (n, line.to_vec()))
        .collect()
}

/// The lines of an NDJSON body that are not blank, each with its 1-based line number and
/// without its `\r\n` or `\n`. Found with `memchr`: a request is megabytes of lines.
pub(crate) fn ndjson_lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut from = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    ends.enumerate()
        .filter_map(move |(i, end)| {
            let line = body.get(from..end)?;
            from = end + 1;
            Some((i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        })
        .filter(|(_, line)| !line.trim_ascii().is_empty())
}

fn process(state: &LogsState, headers: &HeaderMap, body: Bytes) -> Result<LogsAnswer, LogsError> {
    const TRANSPORT: &str = "http";
    let body = decode_body(headers, body, state.max_body_bytes).map_err(LogsError::Body)?;
    state
        .metrics
        .logs_bytes
        .with_label_values(&[TRANSPORT])
        .inc_by(body.len() as u64);
    let events =
        split_events(headers, &body).map_err(|e| LogsError::Body(BodyError::Invalid(e)))?;
    drop(body);
    if events.is_empty() {
        return Err(LogsError::Body(BodyError::Invalid(
            "no events in the body".into(),
        )));
    }
    state
        .metrics
        .logs_lines
        .with_label_values(&[TRANSPORT])
        .inc_by(events.len() as u64);
    let now = now_ms();
    let mut records = Vec::with_capacity(events.len());
    let mut origin = Vec::with_capacity(events.len());
    let mut rejected: Vec<(usize, String)> = Vec::new();
    for (line, event) in events {
        match state.normalizer.line(event, now) {
            Ok(record) => {
                records.push(record);
                origin.push(line);
            }
            Err(reject) => {
                count_reject(&state.metrics, TRANSPORT, reject.reason());
                rejected.push((line, reject.to_string()));
            }
        }
    }
    let outcome =
        append(&*state.writer, &state.metrics, TRANSPORT, records).map_err(LogsError::Storage)?;
    for (i, reason) in outcome.rejected {
        let line = origin.get(i).copied().unwrap_or(0);
        rejected.push((line, format!("storage_rejected: {reason}")));
    }
    if !rejected.is_empty() {
        rejected.sort_by_key(|(line, _)| *line);
        tracing::debug!(
            rejected = rejected.len(),
            first = %rejected[0].1,
            "log lines rejected"
        );
    }
    let rejected_count = rejected.len();
    Ok(LogsAnswer {
        accepted: outcome.accepted,
        rejected: rejected
            .into_iter()
            .take(MAX_LISTED_REJECTIONS)
            .map(|(line, reason)| RejectedLine { line, reason })
            .collect(),
        rejected_count,
        error: (outcome.accepted == 0).then(|| "no event was accepted".to_string()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    proptest! {
        /// `ndjson_lines` splits as `split` on `\n` does, without blank lines.
        #[test]
        fn ndjson_lines_split_like_split(body in "[a \r\n{}]{0,60}") {
            let body = body.as_bytes();
            let want: Vec<(usize, &[u8])> = body
                .split(|b| *b == b'\n')
                .enumerate()
                .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
                .filter(|(_, l)| !l.trim_ascii().is_empty())
                .collect();
            prop_assert_eq!(super::ndjson_lines(body).collect::<Vec<_>>(), want);
        }
    }

    use std::io::Write;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Method, Request};
    use parking_lot::Mutex;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::logs::{LogIngestConfig, router};

    /// Records every batch it is given, as a store would receive them; refuses the records
    /// whose message is `refuse me`, and fails every append when `fail` is set.
    #[derive(Default)]
    pub(crate) struct RecordingWriter {
        pub(crate) batches: Mutex<Vec<Vec<LogRecord>>>,
        pub(crate) fail: std::sync::atomic::AtomicBool,
    }

    impl LogWriter for RecordingWriter {
        fn append_logs(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StorageError::ShuttingDown);
            }
            let rejected: Vec<(usize, String)> = records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.message == "refuse me")
                .map(|(i, _)| (i, "refused by the test store".to_string()))
                .collect();
            let outcome = LogAppendOutcome {
                accepted: (records.len() - rejected.len()) as u64,
                rejected,
            };
            self.batches.lock().push(records);
            Ok(outcome)
        }
    }

    impl RecordingWriter {
        pub(crate) fn records(&self) -> Vec<LogRecord> {
            self.batches.lock().iter().flatten().cloned().collect()
        }
    }

    pub(crate) fn app(
        writer: Arc<RecordingWriter>,
        config: LogIngestConfig,
    ) -> (Router, IngestMetrics) {
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let admission = WriteAdmission::new(2, Duration::from_millis(200), &metrics);
        (router(writer, metrics.clone(), admission, config), metrics)
    }

    pub(crate) async fn call(
        app: &Router,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, bytes.to_vec())
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("gzip");
        enc.finish().expect("gzip")
    }

    fn json_body(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("JSON answer")
    }

    #[tokio::test]
    async fn ndjson_with_bad_lines_is_a_partial_success() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, metrics) = app(writer.clone(), LogIngestConfig::default());
        let body = "{\"message\":\"one\",\"level\":\"info\",\"service\":\"api\"}\r\n\
                    not json\n\
                    \n\
                    [1]\n\
                    {\"message\":\"refuse me\"}\n\
                    {\"msg\":\"two\",\"@timestamp\":\"2024-05-01T12:00:00Z\"}";
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[("content-type", "application/x-ndjson")],
            body.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let resp = json_body(&resp);
        assert_eq!(resp["accepted"], 2);
        assert_eq!(resp["rejected_count"], 3);
        let rejected = resp["rejected"].as_array().expect("array");
        let lines: Vec<u64> = rejected
            .iter()
            .map(|r| r["line"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(lines, [2, 4, 5]);
        assert!(
            rejected[0]["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("invalid_json: ")
        );
        assert_eq!(
            rejected[1]["reason"],
            "not_an_object: expected a JSON object, got an array"
        );
        assert_eq!(
            rejected[2]["reason"],
            "storage_rejected: refused by the test store"
        );
        assert_eq!(resp.get("error"), None);
        let records = writer.records();
        assert_eq!(records.len(), 3);
        assert_eq!(
            records[0].raw,
            "{\"message\":\"one\",\"level\":\"info\",\"service\":\"api\"}"
        );
        assert_eq!(records[0].service.as_deref(), Some("api"));
        assert_eq!(records[2].time_ms, 1_714_564_800_000);
        assert_eq!(metrics.logs_lines.with_label_values(&["http"]).get(), 5);
        assert_eq!(metrics.logs_written.with_label_values(&["http"]).get(), 2);
        assert_eq!(
            metrics
                .logs_rejects
                .with_label_values(&["http", "invalid_json"])
                .get(),
            1
        );
        assert_eq!(
            metrics
                .logs_rejects
                .with_label_values(&["http", "storage_rejected"])
                .get(),
            1
        );
        assert_eq!(
            metrics.logs_bytes.with_label_values(&["http"]).get(),
            body.len() as u64
        );
    }

    #[tokio::test]
    async fn json_array_gzip_and_single_object() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let body = br#"  [ {"message": "a", "n": 1}, {"message":"b"}, "nope" ]"#;
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(body),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let resp = json_body(&resp);
        assert_eq!(resp["accepted"], 2);
        assert_eq!(resp["rejected"][0]["line"], 3);
        let records = writer.records();
        // each element's exact text is kept
        assert_eq!(records[0].raw, r#"{"message": "a", "n": 1}"#);
        assert_eq!(records[1].message, "b");

        // a pretty-printed object is one event
        let pretty = "{\n  \"message\": \"pretty\",\n  \"level\": \"warn\"\n}\n";
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[("content-type", "application/json")],
            pretty.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
        let last = writer.records().pop().expect("record");
        assert_eq!(last.message, "pretty");
        assert_eq!(last.raw, pretty.trim());
        // NDJSON sent as application/json is still NDJSON
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[("content-type", "application/json")],
            "{\"message\":\"x\"}\n{\"message\":\"y\"}\n".into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_body(&resp)["accepted"], 2);
    }

    #[tokio::test]
    async fn nothing_accepted_is_400_with_the_same_shape() {
        let writer = Arc::new(RecordingWriter::default());
        let (app, _) = app(writer.clone(), LogIngestConfig::default());
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[],
            b"oops\n42\n".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let resp = json_body(&resp);
        assert_eq!(resp["accepted"], 0);
        assert_eq!(resp["rejected_count"], 2);
        assert_eq!(resp["rejected"][1]["line"], 2);
        assert_eq!(resp["error"], "no event was accepted");

        for (headers, body, want) in [
            (vec![], Vec::new(), "no events in the body"),
            (vec![], b"[{\"a\":1},".to_vec(), "invalid JSON array"),
            (
                vec![("content-encoding", "gzip")],
                b"not gzip".to_vec(),
                "invalid gzip body",
            ),
            (
                vec![("content-encoding", "br")],
                b"{}".to_vec(),
                "unsupported Content-Encoding",
            ),
        ] {
            let (status, _, resp) = call(&app, Method::POST, "/api/v1/logs", &headers, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let resp = json_body(&resp);
            assert!(
                resp["error"].as_str().unwrap_or("").starts_with(want),
                "{resp}"
            );
            assert_eq!(resp["accepted"], 0);
        }
        assert!(writer.records().is_empty());
    }

    #[tokio::test]
    async fn limits_and_storage_failures() {
        let writer = Arc::new(RecordingWriter::default());
        let config = LogIngestConfig {
            max_body_bytes: 1000,
            max_line_bytes: 100,
            ..LogIngestConfig::default()
        };
        let (app, _) = app(writer.clone(), config);
        // over the limit as sent
        let (status, _, _) = call(&app, Method::POST, "/api/v1/logs", &[], vec![b' '; 2000]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // over the limit once decompressed
        let big = format!("{{\"message\":\"{}\"}}", "x".repeat(5000));
        let (status, _, resp) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[("content-encoding", "gzip")],
            gzip(big.as_bytes()),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            json_body(&resp)["error"]
                .as_str()
                .unwrap_or("")
                .contains("1000 byte limit")
        );
        // a line over the line limit
        let body = format!(
            "{{\"message\":\"{}\"}}\n{{\"message\":\"ok\"}}",
            "y".repeat(200)
        );
        let (status, _, resp) = call(&app, Method::POST, "/api/v1/logs", &[], body.into()).await;
        assert_eq!(status, StatusCode::OK);
        let resp = json_body(&resp);
        assert!(
            resp["rejected"][0]["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("line_too_long")
        );
        // the store fails: nothing is acknowledged
        writer.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let (status, headers, _) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[],
            b"{\"message\":\"m\"}".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            headers.get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }

    /// Blocks every append until released, to fill the admission.
    struct BlockingWriter {
        release: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    }

    impl LogWriter for BlockingWriter {
        fn append_logs(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
            if let Some(rx) = self.release.lock().take() {
                let _ = rx.recv();
            }
            Ok(LogAppendOutcome {
                accepted: records.len() as u64,
                rejected: Vec::new(),
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_admission_is_429_with_retry_after() {
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = Arc::new(BlockingWriter {
            release: Mutex::new(Some(rx)),
        });
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let admission = WriteAdmission::new(1, Duration::from_millis(100), &metrics);
        let app = router(writer, metrics, admission, LogIngestConfig::default());
        let first = tokio::spawn({
            let app = app.clone();
            async move {
                call(
                    &app,
                    Method::POST,
                    "/api/v1/logs",
                    &[],
                    b"{\"message\":\"a\"}".to_vec(),
                )
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, headers, _) = call(
            &app,
            Method::POST,
            "/api/v1/logs",
            &[],
            b"{\"message\":\"b\"}".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            headers.get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let _ = tx.send(());
        let (status, _, _) = first.await.expect("first request");
        assert_eq!(status, StatusCode::OK);
    }
}
