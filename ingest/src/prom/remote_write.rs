//! Prometheus remote_write 1.0: a snappy block-compressed protobuf `WriteRequest`.
//! The messages are declared here with prost derives (the protocol's `types.proto` subset);
//! fields we do not store are decoded only far enough to count and report them.

use storage::{Labels, Sample, SeriesSamples};

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<RemoteSample>,
    /// Native histograms (field 4); not stored yet, counted and reported.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoteSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A decoded request, ready for storage.
pub(crate) struct Decoded {
    pub(crate) series: Vec<SeriesSamples>,
    pub(crate) samples: u64,
    pub(crate) native_histograms: u64,
}

/// Largest decompressed body accepted (Prometheus sends a few MB at most).
const MAX_DECOMPRESSED: usize = 256 << 20;

pub(crate) fn decode(body: &[u8]) -> Result<Decoded, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("snappy: {e}"))?;
    if len > MAX_DECOMPRESSED {
        return Err(format!(
            "decompressed body of {len} bytes exceeds the {MAX_DECOMPRESSED} byte limit"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    let req = <WriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| format!("protobuf: {e}"))?;
    let mut out = Decoded {
        series: Vec::with_capacity(req.timeseries.len()),
        samples: 0,
        native_histograms: 0,
    };
    for ts in req.timeseries {
        out.native_histograms += ts.histograms.len() as u64;
        if ts.samples.is_empty() {
            continue;
        }
        out.samples += ts.samples.len() as u64;
        let labels = Labels::from_pairs(ts.labels.into_iter().map(|l| (l.name, l.value)));
        let samples = ts
            .samples
            .into_iter()
            .map(|s| Sample {
                t: s.timestamp,
                v: s.value,
            })
            .collect();
        out.series.push(SeriesSamples { labels, samples });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn decodes_snappy_protobuf_and_keeps_stale_markers() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "a".into(),
                    },
                ],
                samples: vec![
                    RemoteSample {
                        value: 1.0,
                        timestamp: 1000,
                    },
                    RemoteSample {
                        value: storage::stale_nan(),
                        timestamp: 2000,
                    },
                ],
                histograms: vec![],
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap();
        let d = decode(&body).unwrap();
        assert_eq!(d.samples, 2);
        assert_eq!(d.series[0].labels.to_string(), "up{job=\"a\"}");
        assert!(storage::is_stale_nan(d.series[0].samples[1].v));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(b"not snappy at all").is_err());
        let body = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff")
            .unwrap();
        assert!(decode(&body).is_err());
    }
}
