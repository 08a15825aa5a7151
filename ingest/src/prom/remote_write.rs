//! Prometheus remote_write 1.0: a snappy block-compressed protobuf `WriteRequest`.
//! The messages are declared here with prost derives (the protocol's `types.proto` subset);
//! fields we do not store are decoded only far enough to count and report them.

use storage::{Labels, Sample, SeriesSamples};

/// The series of a `WriteRequest` (field 1). Its metadata (field 3, [`MetricMetadata`]) is
/// decoded too, but declared on a separate, internal message so that this struct's fields stay
/// what existing callers build; a client sending metadata encodes field 3 itself (protobuf
/// messages concatenate: a `WriteRequest` followed by `MetricMetadata` entries as field 3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// What the decoder reads: `WriteRequest` with its metadata.
#[derive(Clone, PartialEq, prost::Message)]
struct FullWriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    metadata: Vec<MetricMetadata>,
}

/// `prometheus.MetricMetadata`: what a scrape said about a metric family.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// A [`MetricType`] value; unknown values read as `Unknown`.
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    GaugeHistogram = 4,
    Summary = 5,
    Info = 6,
    StateSet = 7,
}

impl From<MetricType> for storage::MetricType {
    fn from(t: MetricType) -> Self {
        match t {
            MetricType::Unknown => storage::MetricType::Unknown,
            MetricType::Counter => storage::MetricType::Counter,
            MetricType::Gauge => storage::MetricType::Gauge,
            MetricType::Histogram => storage::MetricType::Histogram,
            MetricType::GaugeHistogram => storage::MetricType::GaugeHistogram,
            MetricType::Summary => storage::MetricType::Summary,
            MetricType::Info => storage::MetricType::Info,
            MetricType::StateSet => storage::MetricType::StateSet,
        }
    }
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
    /// The request's metric metadata, for [`storage::SeriesWriter::record_metadata`].
    pub(crate) metadata: Vec<storage::MetricMetadata>,
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
    let req = <FullWriteRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| format!("protobuf: {e}"))?;
    let mut out = Decoded {
        series: Vec::with_capacity(req.timeseries.len()),
        samples: 0,
        native_histograms: 0,
        metadata: req
            .metadata
            .into_iter()
            .map(|m| storage::MetricMetadata {
                kind: MetricType::try_from(m.r#type)
                    .unwrap_or(MetricType::Unknown)
                    .into(),
                metric_family: m.metric_family_name,
                help: m.help,
                unit: m.unit,
            })
            .collect(),
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
    fn decodes_metadata_only_requests_and_mixed_ones() {
        let meta = |t: MetricType, name: &str, help: &str| MetricMetadata {
            r#type: t as i32,
            metric_family_name: name.into(),
            help: help.into(),
            unit: String::new(),
        };
        let mut req = FullWriteRequest {
            timeseries: vec![],
            metadata: vec![
                meta(MetricType::Counter, "http_requests_total", "Requests."),
                meta(MetricType::StateSet, "feature", ""),
                MetricMetadata {
                    r#type: 42,
                    unit: "bytes".into(),
                    ..meta(MetricType::Gauge, "future_type", "?")
                },
            ],
        };
        let body = |req: &FullWriteRequest| {
            snap::raw::Encoder::new()
                .compress_vec(&req.encode_to_vec())
                .unwrap()
        };
        let d = decode(&body(&req)).unwrap();
        assert!(d.series.is_empty());
        assert_eq!(
            d.metadata,
            vec![
                storage::MetricMetadata {
                    metric_family: "http_requests_total".into(),
                    kind: storage::MetricType::Counter,
                    help: "Requests.".into(),
                    unit: String::new(),
                },
                storage::MetricMetadata {
                    metric_family: "feature".into(),
                    kind: storage::MetricType::StateSet,
                    help: String::new(),
                    unit: String::new(),
                },
                storage::MetricMetadata {
                    metric_family: "future_type".into(),
                    kind: storage::MetricType::Unknown,
                    help: "?".into(),
                    unit: "bytes".into(),
                },
            ]
        );
        // the public WriteRequest and metadata, concatenated, are one request
        req.timeseries.push(TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "up".into(),
            }],
            samples: vec![RemoteSample {
                value: 1.0,
                timestamp: 5,
            }],
            histograms: vec![],
        });
        let public = WriteRequest {
            timeseries: req.timeseries.clone(),
        };
        let mut raw = public.encode_to_vec();
        raw.extend(
            FullWriteRequest {
                timeseries: vec![],
                metadata: req.metadata.clone(),
            }
            .encode_to_vec(),
        );
        let d = decode(&snap::raw::Encoder::new().compress_vec(&raw).unwrap()).unwrap();
        assert_eq!(d.samples, 1);
        assert_eq!(d.metadata.len(), 3);
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
