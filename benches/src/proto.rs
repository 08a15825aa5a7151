//! Prometheus remote_write 1.0 messages (the subset Argus reads) and their wire encoding.

use anyhow::Result;
use bytes::Bytes;
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Label {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Sample {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// Labels from `(name, value)` pairs, sorted by name as Prometheus sends them.
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut out: Vec<Label> = pairs
        .iter()
        .map(|(n, v)| Label {
            name: (*n).to_string(),
            value: (*v).to_string(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Protobuf, then snappy block compression (not the framed format), as remote_write 1.0 does.
pub(crate) fn encode(req: &WriteRequest) -> Result<Bytes> {
    let raw = req.encode_to_vec();
    let compressed = snap::raw::Encoder::new().compress_vec(&raw)?;
    Ok(Bytes::from(compressed))
}

/// The headers of a remote_write 1.0 request.
pub(crate) fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(
        "x-prometheus-remote-write-version",
        HeaderValue::from_static("0.1.0"),
    );
    h.insert("user-agent", HeaderValue::from_static("argus-bench"));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: labels(&[("job", "j"), ("__name__", "m")]),
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 1_700_000_000_000,
                }],
            }],
        };
        assert_eq!(req.timeseries[0].labels[0].name, "__name__");
        let body = encode(&req).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), req);
    }
}
