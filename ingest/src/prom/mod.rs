//! Prometheus ingest over HTTP: `POST /api/v1/import/prometheus` (text exposition lines)
//! and `POST /api/v1/write` (remote_write 1.0). Both record the metric metadata they carry
//! (`# TYPE`/`# HELP`/`# UNIT` lines, `WriteRequest.metadata`) through
//! [`SeriesWriter::record_metadata`].

mod remote_write;
mod text;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use storage::{AppendOutcome, Labels, MetricMetadata, SeriesSamples, SeriesWriter};

pub use remote_write::{
    Label as RemoteLabel, MetricMetadata as RemoteMetadata, MetricType as RemoteMetricType,
    RemoteSample, TimeSeries, WriteRequest,
};
pub use text::{LineError, TextMetadata, TextSample, parse_line, parse_metadata_line};

use crate::http::{WriteAdmission, decoded_body};
use crate::{IngestError, IngestMetrics};
use storage::now_ms;

/// Errors listed in a partial-success answer; the rest are only counted.
const MAX_REPORTED_ERRORS: usize = 10;

#[derive(Clone)]
pub struct PromIngestConfig {
    /// Largest request body, compressed or not.
    pub max_body_bytes: usize,
}

impl Default for PromIngestConfig {
    fn default() -> Self {
        PromIngestConfig {
            max_body_bytes: 64 << 20,
        }
    }
}

#[derive(Clone)]
struct AppState {
    writer: Arc<dyn SeriesWriter>,
    metrics: IngestMetrics,
    admission: WriteAdmission,
    config: PromIngestConfig,
}

/// The routes of Prometheus ingest, to be merged into the server's router.
pub fn router(
    writer: Arc<dyn SeriesWriter>,
    metrics: IngestMetrics,
    admission: WriteAdmission,
    config: PromIngestConfig,
) -> Router {
    let limit = config.max_body_bytes;
    Router::new()
        .route("/api/v1/import/prometheus", post(import))
        .route("/api/v1/write", post(remote_write))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(AppState {
            writer,
            metrics,
            admission,
            config,
        })
}

async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngestError> {
    let writer = state.writer.clone();
    let limit = state.config.max_body_bytes;
    // Decompression and parsing are CPU work: they run admitted, off the async workers.
    let (outcome, bad_lines, errors) = state
        .admission
        .run(move || -> Result<_, IngestError> {
            let body = decoded_body(&headers, &body, limit)?;
            let parsed = parse_text(&body, now_ms());
            let outcome = append_batch(&*writer, parsed.batch)?;
            record_metadata(&*writer, &parsed.metadata)?;
            Ok((outcome, parsed.bad_lines, parsed.errors))
        })
        .await??;
    if bad_lines > 0 {
        state
            .metrics
            .http_rejects
            .with_label_values(&["import", "parse_error"])
            .inc_by(bad_lines);
        tracing::debug!(bad_lines, first = %errors.first().map(String::as_str).unwrap_or(""), "import lines rejected");
    }
    record(&state, &outcome, "import");
    Ok(answer(outcome, bad_lines, errors))
}

/// Sample lines of a text body grouped by series, the metadata its `# TYPE`, `# HELP` and
/// `# UNIT` lines give, and what was wrong with the other lines.
struct ParsedText {
    batch: Vec<SeriesSamples>,
    /// One entry per family named by a metadata line (type `unknown`, empty help and unit
    /// unless given); a family's later line of a kind replaces an earlier one.
    metadata: Vec<MetricMetadata>,
    bad_lines: u64,
    errors: Vec<String>,
}

/// A parsed line of a text body.
enum TextLine {
    Sample(TextSample),
    Metadata(TextMetadata),
}

fn parse_text_line(line: &str, now: i64) -> Result<Option<TextLine>, LineError> {
    if let Some(m) = parse_metadata_line(line)? {
        return Ok(Some(TextLine::Metadata(m)));
    }
    Ok(parse_line(line, now)?.map(TextLine::Sample))
}

fn parse_text(body: &[u8], now: i64) -> ParsedText {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut families: HashMap<String, usize> = HashMap::new();
    let mut parsed = ParsedText {
        batch: Vec::new(),
        metadata: Vec::new(),
        bad_lines: 0,
        errors: Vec::new(),
    };
    for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = match std::str::from_utf8(raw) {
            Ok(line) => parse_text_line(line, now)
                .map_err(|e| format!("line {}, column {}: {}", n + 1, e.column, e.message)),
            Err(_) => Err(format!("line {}: not valid UTF-8", n + 1)),
        };
        match line {
            Ok(None) => {}
            Ok(Some(TextLine::Metadata(m))) => {
                let metric = match &m {
                    TextMetadata::Help { metric, .. }
                    | TextMetadata::Type { metric, .. }
                    | TextMetadata::Unit { metric, .. } => metric,
                };
                let i = match families.get(metric.as_str()) {
                    Some(&i) => i,
                    None => {
                        families.insert(metric.clone(), parsed.metadata.len());
                        parsed.metadata.push(MetricMetadata {
                            metric_family: metric.clone(),
                            kind: storage::MetricType::Unknown,
                            help: String::new(),
                            unit: String::new(),
                        });
                        parsed.metadata.len() - 1
                    }
                };
                let family = &mut parsed.metadata[i];
                match m {
                    TextMetadata::Help { help, .. } => family.help = help,
                    TextMetadata::Type { kind, .. } => family.kind = kind,
                    TextMetadata::Unit { unit, .. } => family.unit = unit,
                }
            }
            Ok(Some(TextLine::Sample(TextSample { labels, sample }))) => match index.get(&labels) {
                Some(&i) => parsed.batch[i].samples.push(sample),
                None => {
                    index.insert(labels.clone(), parsed.batch.len());
                    parsed.batch.push(SeriesSamples {
                        labels,
                        samples: vec![sample],
                    });
                }
            },
            Err(e) => {
                parsed.bad_lines += 1;
                if parsed.errors.len() < MAX_REPORTED_ERRORS {
                    parsed.errors.push(e);
                }
            }
        }
    }
    parsed
}

async fn remote_write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngestError> {
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    if let Some(enc) = encoding
        && !enc.eq_ignore_ascii_case("snappy")
    {
        return Err(IngestError::BadRequest(format!(
            "remote_write body must be snappy-compressed, got Content-Encoding {enc:?}"
        )));
    }
    let writer = state.writer.clone();
    let decoded = state
        .admission
        .run(move || -> Result<_, String> {
            let decoded = remote_write::decode(&body)?;
            let histograms = decoded.native_histograms;
            let metadata = decoded.metadata;
            // Prometheus sends metadata in requests of their own, without series.
            Ok(append_batch(&*writer, decoded.series).and_then(|outcome| {
                record_metadata(&*writer, &metadata)?;
                Ok((outcome, histograms))
            }))
        })
        .await?;
    let (mut outcome, histograms) = match decoded {
        Ok(result) => result?,
        Err(e) => {
            state
                .metrics
                .http_rejects
                .with_label_values(&["remote_write", "malformed"])
                .inc();
            return Err(IngestError::BadRequest(format!(
                "invalid remote_write request: {e}"
            )));
        }
    };
    record(&state, &outcome, "remote_write");
    if histograms > 0 {
        state
            .metrics
            .http_rejects
            .with_label_values(&["remote_write", "native_histogram"])
            .inc_by(histograms);
        outcome.reject_many(
            "native_histogram",
            histograms,
            "native histograms are not supported yet (classic histograms are)",
        );
    }
    if outcome.rejected_total() > 0 {
        // Prometheus drops a batch answered 4xx instead of retrying it; the accepted samples
        // are stored either way.
        return Err(IngestError::BadRequest(format!(
            "{} samples stored, {} rejected ({}); first: {}",
            outcome.samples_appended,
            outcome.rejected_total(),
            reasons(&outcome),
            outcome.first_rejection.as_deref().unwrap_or("")
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn append_batch(
    writer: &dyn SeriesWriter,
    batch: Vec<SeriesSamples>,
) -> Result<AppendOutcome, IngestError> {
    if batch.is_empty() {
        return Ok(AppendOutcome::default());
    }
    Ok(writer.append(batch)?)
}

fn record_metadata(
    writer: &dyn SeriesWriter,
    metadata: &[MetricMetadata],
) -> Result<(), IngestError> {
    if metadata.is_empty() {
        return Ok(());
    }
    Ok(writer.record_metadata(metadata)?)
}

fn record(state: &AppState, outcome: &AppendOutcome, source: &'static str) {
    state
        .metrics
        .samples_written
        .with_label_values(&[source])
        .inc_by(outcome.samples_appended);
    for (reason, n) in &outcome.rejected {
        state
            .metrics
            .http_rejects
            .with_label_values(&[source, reason])
            .inc_by(*n);
    }
}

fn reasons(outcome: &AppendOutcome) -> String {
    outcome
        .rejected
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 204 when everything was stored; 200 with the reasons when some of it was; 400 when
/// nothing was.
fn answer(outcome: AppendOutcome, bad_lines: u64, mut errors: Vec<String>) -> Response {
    let rejected = bad_lines + outcome.rejected_total();
    if rejected == 0 {
        return StatusCode::NO_CONTENT.into_response();
    }
    if let Some(first) = outcome.first_rejection.clone()
        && errors.len() < MAX_REPORTED_ERRORS
    {
        errors.push(first);
    }
    let summary = format!(
        "{} samples stored, {rejected} rejected",
        outcome.samples_appended
    );
    if outcome.samples_appended == 0 {
        return IngestError::BadRequest(format!("{summary}: {}", errors.join("; ")))
            .into_response();
    }
    let body = serde_json::json!({
        "status": "partial",
        "accepted": outcome.samples_appended,
        "rejected": rejected,
        "errors": errors,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use storage::MetricType;

    use super::*;

    #[test]
    fn text_metadata_is_collected_per_family() {
        let body = b"# HELP http_requests_total Requests\\nserved.\n\
            # TYPE http_requests_total counter\n\
            http_requests_total{code=\"200\"} 3 1000\n\
            # TYPE temperature gauge\r\n\
            # UNIT temperature celsius\n\
            # just a comment\n\
            temperature 21 1000\n\
            # HELP only_help Help without a type.\n\
            # TYPE broken sometype\n";
        let parsed = parse_text(body, 0);
        assert_eq!(parsed.batch.len(), 2);
        assert_eq!(parsed.bad_lines, 1);
        assert!(parsed.errors[0].starts_with("line 9, column 15: invalid metric type"));
        let md = |name: &str, kind, help: &str, unit: &str| MetricMetadata {
            metric_family: name.into(),
            kind,
            help: help.into(),
            unit: unit.into(),
        };
        assert_eq!(
            parsed.metadata,
            vec![
                md(
                    "http_requests_total",
                    MetricType::Counter,
                    "Requests\nserved.",
                    ""
                ),
                md("temperature", MetricType::Gauge, "", "celsius"),
                md("only_help", MetricType::Unknown, "Help without a type.", ""),
            ]
        );
    }
}
