//! `GET|POST /api/v1/export`: raw samples, one JSON object per series per line, in
//! VictoriaMetrics' JSON line format, so `vmctl` and VictoriaMetrics' `/api/v1/import` read it:
//!
//! ```text
//! {"metric":{"__name__":"up","job":"api"},"values":[1,0,1],"timestamps":[1700000000000,…]}
//! ```
//!
//! Values JSON cannot hold are written as VictoriaMetrics writes them (its `export.qtpl`,
//! `convertValueToSpecialJSON`; VictoriaMetrics PR #2518 and issue #3161): NaN, staleness
//! markers included, as `null`; +Inf as `"Infinity"`; -Inf as `"-Infinity"`. Every line is valid
//! JSON.
//!
//! The answer streams: series are read and encoded a batch at a time on the blocking pool and
//! handed to the response body through a small bounded channel, so memory holds one batch
//! (about [`CHUNK_BYTES`], or one series' samples when a series alone is larger), not the
//! whole export. A storage failure after the first byte aborts the response, so a client sees
//! a broken transfer rather than a silently short one.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use storage::{Labels, METRIC_NAME, Sample, SeriesRef, SeriesStore};
use tokio::sync::mpsc;

use super::AppState;
use super::params::{Params, match_param, non_negative_param, range_params};
use crate::error::QueryError;
use crate::read::{blocking, select_union};

/// VictoriaMetrics' content type for JSON line exports.
const CONTENT_TYPE: &str = "application/stream+json; charset=utf-8";
/// Encoded bytes per chunk handed to the response body.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks buffered between the encoder and a slow client.
const CHANNEL_CHUNKS: usize = 4;

pub(super) async fn export(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, QueryError> {
    let (start, end) = range_params(&params)?;
    let sets = match_param(&params, true)?;
    // VictoriaMetrics' option: split long series over several lines of at most this many samples
    let max_rows_per_line = non_negative_param(&params, "max_rows_per_line")?;

    let series = if start > end {
        Vec::new()
    } else {
        let store = state.store.clone();
        blocking(move || Ok(select_union(&store, &sets, start, end)?)).await?
    };
    state.check_max_series(series.len())?;

    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let job = Export {
        store: state.store.clone(),
        series: series.into(),
        start,
        end,
        max_rows_per_line,
    };
    tokio::spawn(job.run(tx));
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        Body::new(ChannelBody { rx }),
    )
        .into_response())
}

/// One export being streamed.
struct Export {
    store: Arc<SeriesStore>,
    series: Arc<[SeriesRef]>,
    start: i64,
    end: i64,
    max_rows_per_line: Option<usize>,
}

impl Export {
    async fn run(self, tx: mpsc::Sender<io::Result<Bytes>>) {
        let this = Arc::new(self);
        let mut next = 0;
        while next < this.series.len() {
            let job = this.clone();
            match blocking(move || job.encode_from(next)).await {
                Ok((chunk, consumed)) => {
                    next += consumed;
                    if tx.send(Ok(chunk)).await.is_err() {
                        tracing::debug!(
                            series_left = this.series.len() - next,
                            "export client went away"
                        );
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "export aborted");
                    // the client may be gone already; nothing else to tell
                    let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
    }

    /// Encodes series from `first` on until the output reaches [`CHUNK_BYTES`]; returns the
    /// bytes and how many series they hold (at least one).
    fn encode_from(&self, first: usize) -> Result<(Bytes, usize), QueryError> {
        let mut out = Vec::with_capacity(CHUNK_BYTES);
        let mut consumed = 0;
        for series in self.series.get(first..).unwrap_or_default() {
            let samples = self.store.samples(series.id, self.start, self.end)?;
            write_series(&mut out, &series.labels, &samples, self.max_rows_per_line);
            consumed += 1;
            if out.len() >= CHUNK_BYTES {
                break;
            }
        }
        Ok((Bytes::from(out), consumed))
    }
}

/// The response body: chunks as the encoder produces them; an error aborts the response.
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }
}

/// Appends one series as JSON lines of at most `max_rows_per_line` samples (one line when
/// `None`); a series without samples writes nothing, as in VictoriaMetrics.
pub(crate) fn write_series(
    out: &mut Vec<u8>,
    labels: &Labels,
    samples: &[Sample],
    max_rows_per_line: Option<usize>,
) {
    let per_line = max_rows_per_line.unwrap_or(usize::MAX).max(1);
    for line in samples.chunks(per_line) {
        write_line(out, labels, line);
    }
}

fn write_line(out: &mut Vec<u8>, labels: &Labels, samples: &[Sample]) {
    out.extend_from_slice(b"{\"metric\":{");
    // `__name__` first, then the other labels by name, as VictoriaMetrics writes them
    let mut first = true;
    let name = labels.iter().filter(|l| l.name == METRIC_NAME);
    for label in name.chain(labels.iter().filter(|l| l.name != METRIC_NAME)) {
        if !first {
            out.push(b',');
        }
        first = false;
        write_json_string(out, &label.name);
        out.push(b':');
        write_json_string(out, &label.value);
    }
    out.extend_from_slice(b"},\"values\":[");
    for (i, sample) in samples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, sample.v);
    }
    out.extend_from_slice(b"],\"timestamps\":[");
    for (i, sample) in samples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // writing into a Vec cannot fail
        let _ = write!(out, "{}", sample.t);
    }
    out.extend_from_slice(b"]}\n");
}

/// A sample value as a JSON value: integers without a fraction (`1`, as VictoriaMetrics writes
/// them), other finite values in Rust's shortest round-trip form (`0.1`, `1.5e-7`, both JSON
/// numbers), NaN and staleness markers as `null`, infinities as the strings `"Infinity"` and
/// `"-Infinity"`.
fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"null");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v:?}");
    }
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(escape);
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::stale_nan;

    fn line(labels: &Labels, samples: &[Sample]) -> String {
        let mut out = Vec::new();
        write_series(&mut out, labels, samples, None);
        String::from_utf8(out).unwrap_or_default()
    }

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn victoria_metrics_line_format() {
        let labels = Labels::from_pairs([("job", "api"), ("__name__", "up"), ("Zone", "a")]);
        assert_eq!(
            line(&labels, &[s(1000, 1.0), s(2000, 0.5), s(3000, -2.0)]),
            "{\"metric\":{\"__name__\":\"up\",\"Zone\":\"a\",\"job\":\"api\"},\"values\":[1,0.5,-2],\"timestamps\":[1000,2000,3000]}\n"
        );
        assert_eq!(line(&labels, &[]), "");
    }

    #[test]
    fn special_values_stay_valid_json() {
        let labels = Labels::from_pairs([("__name__", "x")]);
        let text = line(
            &labels,
            &[
                s(1, f64::NAN),
                s(2, stale_nan()),
                s(3, f64::INFINITY),
                s(4, f64::NEG_INFINITY),
                s(5, -0.0),
            ],
        );
        assert!(
            text.contains(r#""values":[null,null,"Infinity","-Infinity",0]"#),
            "{text}"
        );
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&text);
        assert!(parsed.is_ok(), "{text}");
    }

    #[test]
    fn finite_values_round_trip() {
        let values = [
            0.1,
            1.0 / 3.0,
            1e15,
            -1e15,
            123456789012345680000.0,
            1.7976931348623157e308,
            f64::MIN_POSITIVE,
            5e-324,
            1e-7,
            -2.5e-5,
            9007199254740993.0,
        ];
        let labels = Labels::from_pairs([("__name__", "x")]);
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| s(i as i64, v))
            .collect();
        let text = line(&labels, &samples);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let got: Vec<f64> = parsed["values"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default();
        assert_eq!(got, values, "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let labels = Labels::from_pairs([("__name__", "x"), ("path", "a\"b\\c\nd\u{1}é")]);
        let text = line(&labels, &[s(1, 1.0)]);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(parsed["metric"]["path"], "a\"b\\c\nd\u{1}é", "{text}");
    }

    #[test]
    fn long_series_split_by_max_rows_per_line() {
        let labels = Labels::from_pairs([("__name__", "x")]);
        let samples: Vec<Sample> = (0..5).map(|i| s(i, i as f64)).collect();
        let mut out = Vec::new();
        write_series(&mut out, &labels, &samples, Some(2));
        let text = String::from_utf8(out).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[2].ends_with(r#""values":[4],"timestamps":[4]}"#),
            "{text}"
        );
    }
}
