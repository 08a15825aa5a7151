//! What the three signals share: attribute values, ids, times, and the tally of rejected
//! items that becomes an OTLP partial-success answer.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as OtlpKeyValue};
use storage::{AttrValue, KeyValue, SpanId, TraceId};

use crate::IngestMetrics;

/// Rejection details spelled out in a partial-success `error_message`; the rest are counted.
const MAX_DETAILS: usize = 5;

/// The signal an export carries: the `signal` label of the OTLP metrics and the noun of
/// partial-success messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// What one item of the signal is called in messages.
    fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
        }
    }
}

/// An OTLP `AnyValue` as a stored attribute value; `None` for an empty value (no field set,
/// or the profiling-only string-table reference).
pub(crate) fn attr_value(value: Option<AnyValue>) -> Option<AttrValue> {
    Some(match value?.value? {
        Value::StringValue(s) => AttrValue::String(s),
        Value::BoolValue(b) => AttrValue::Bool(b),
        Value::IntValue(i) => AttrValue::Int(i),
        Value::DoubleValue(d) => AttrValue::Double(d),
        Value::BytesValue(b) => AttrValue::Bytes(b),
        // An empty element keeps its place in the array, as an empty string.
        Value::ArrayValue(a) => AttrValue::Array(
            a.values
                .into_iter()
                .map(|v| attr_value(Some(v)).unwrap_or(AttrValue::String(String::new())))
                .collect(),
        ),
        Value::KvlistValue(kv) => AttrValue::Map(attributes(kv.values)),
        Value::StringValueStrindex(_) => return None,
    })
}

/// OTLP key-values as stored ones; pairs with an empty value or an empty key are dropped.
pub(crate) fn attributes(kvs: Vec<OtlpKeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .filter(|kv| !kv.key.is_empty())
        .filter_map(|kv| attr_value(kv.value).map(|v| KeyValue::new(kv.key, v)))
        .collect()
}

/// The text of attribute `key` (as [`AttrValue::to_text`] writes it), if present and not
/// empty.
pub(crate) fn text_of(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.to_text())
        .filter(|s| !s.is_empty())
}

/// A trace id: exactly 16 bytes, not all zero.
pub(crate) fn trace_id(bytes: &[u8]) -> Result<TraceId, String> {
    let id: TraceId = bytes
        .try_into()
        .map_err(|_| format!("trace_id must be 16 bytes, got {}", bytes.len()))?;
    if id == [0; 16] {
        return Err("trace_id is all zeros".into());
    }
    Ok(id)
}

/// A span id: exactly 8 bytes, not all zero.
pub(crate) fn span_id(bytes: &[u8]) -> Result<SpanId, String> {
    let id: SpanId = bytes
        .try_into()
        .map_err(|_| format!("span_id must be 8 bytes, got {}", bytes.len()))?;
    if id == [0; 8] {
        return Err("span_id is all zeros".into());
    }
    Ok(id)
}

/// Nanoseconds since the epoch as milliseconds; `None` for 0, which OTLP uses for "unknown".
pub(crate) fn nanos_to_ms(nanos: u64) -> Option<i64> {
    // u64::MAX / 1e6 fits an i64 comfortably
    (nanos != 0).then_some((nanos / 1_000_000) as i64)
}

/// The items of one export request that were not stored, by reason, with the first few
/// explained: the `rejected_*` count and `error_message` of the partial-success answer.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    total: u64,
    by_reason: BTreeMap<&'static str, u64>,
    details: Vec<String>,
}

impl Rejections {
    /// Counts one rejected item; `reason` is a metric label, `detail` says which and why.
    pub(crate) fn reject(&mut self, reason: &'static str, detail: impl FnOnce() -> String) {
        self.reject_many(reason, 1, detail);
    }

    pub(crate) fn reject_many(
        &mut self,
        reason: &'static str,
        n: u64,
        detail: impl FnOnce() -> String,
    ) {
        if n == 0 {
            return;
        }
        self.total += n;
        *self.by_reason.entry(reason).or_default() += n;
        if self.details.len() < MAX_DETAILS {
            self.details.push(detail());
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    #[cfg(test)]
    pub(crate) fn count(&self, reason: &str) -> u64 {
        self.by_reason.get(reason).copied().unwrap_or(0)
    }

    /// `3 data points rejected (exponential_histogram: 2, invalid_histogram: 1): …; …`, or
    /// empty when nothing was rejected.
    pub(crate) fn message(&self, signal: Signal) -> String {
        if self.total == 0 {
            return String::new();
        }
        let reasons = self
            .by_reason
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!("{} {} rejected ({reasons})", self.total, signal.items());
        if !self.details.is_empty() {
            out.push_str(": ");
            out.push_str(&self.details.join("; "));
        }
        out
    }

    /// Adds the rejections to `argus_ingest_otlp_rejected_total`.
    pub(crate) fn record(&self, metrics: &IngestMetrics, signal: Signal) {
        for (reason, n) in &self.by_reason {
            metrics
                .otlp_rejected
                .with_label_values(&[signal.as_str(), reason])
                .inc_by(*n);
        }
    }
}

/// What an export did: the numbers of the partial-success answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ExportOutcome {
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    /// Empty when nothing was rejected.
    pub(crate) message: String,
}

impl ExportOutcome {
    /// Counts the outcome in the OTLP metrics and builds it.
    pub(crate) fn new(
        metrics: &IngestMetrics,
        signal: Signal,
        accepted: u64,
        rejections: &Rejections,
    ) -> Self {
        metrics
            .otlp_accepted
            .with_label_values(&[signal.as_str()])
            .inc_by(accepted);
        rejections.record(metrics, signal);
        if rejections.total() > 0 {
            tracing::debug!(
                signal = signal.as_str(),
                rejected = rejections.total(),
                message = %rejections.message(signal),
                "otlp items rejected"
            );
        }
        ExportOutcome {
            accepted,
            rejected: rejections.total(),
            message: rejections.message(signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    use super::*;

    fn any(v: Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(v) })
    }

    fn okv(key: &str, v: Value) -> OtlpKeyValue {
        OtlpKeyValue {
            key: key.into(),
            value: any(v),
            key_strindex: 0,
        }
    }

    #[test]
    fn every_any_value_variant() {
        assert_eq!(
            attr_value(any(Value::StringValue("s".into()))),
            Some(AttrValue::String("s".into()))
        );
        assert_eq!(
            attr_value(any(Value::BoolValue(true))),
            Some(AttrValue::Bool(true))
        );
        assert_eq!(
            attr_value(any(Value::IntValue(-3))),
            Some(AttrValue::Int(-3))
        );
        assert_eq!(
            attr_value(any(Value::DoubleValue(1.5))),
            Some(AttrValue::Double(1.5))
        );
        assert_eq!(
            attr_value(any(Value::BytesValue(vec![0xab, 1]))),
            Some(AttrValue::Bytes(vec![0xab, 1]))
        );
        assert_eq!(
            attr_value(any(Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::IntValue(1))
                    },
                    AnyValue { value: None },
                ]
            }))),
            Some(AttrValue::Array(vec![
                AttrValue::Int(1),
                AttrValue::String(String::new())
            ]))
        );
        assert_eq!(
            attr_value(any(Value::KvlistValue(KeyValueList {
                values: vec![
                    okv("a", Value::StringValue("x".into())),
                    OtlpKeyValue {
                        key: "empty".into(),
                        value: None,
                        key_strindex: 0
                    },
                ]
            }))),
            Some(AttrValue::Map(vec![KeyValue::new(
                "a",
                AttrValue::String("x".into())
            )]))
        );
        assert_eq!(attr_value(any(Value::StringValueStrindex(4))), None);
        assert_eq!(attr_value(Some(AnyValue { value: None })), None);
        assert_eq!(attr_value(None), None);
    }

    #[test]
    fn attributes_drop_empty_keys_and_values() {
        let attrs = attributes(vec![
            okv("", Value::IntValue(1)),
            okv("k", Value::IntValue(2)),
            OtlpKeyValue {
                key: "none".into(),
                value: None,
                key_strindex: 0,
            },
        ]);
        assert_eq!(attrs, vec![KeyValue::new("k", AttrValue::Int(2))]);
        assert_eq!(text_of(&attrs, "k").as_deref(), Some("2"));
        assert_eq!(text_of(&attrs, "x"), None);
    }

    #[test]
    fn ids_are_checked() {
        assert!(trace_id(&[1; 16]).is_ok());
        assert_eq!(
            trace_id(&[1; 15]).err().as_deref(),
            Some("trace_id must be 16 bytes, got 15")
        );
        assert_eq!(
            trace_id(&[0; 16]).err().as_deref(),
            Some("trace_id is all zeros")
        );
        assert!(span_id(&[7; 8]).is_ok());
        assert!(span_id(&[]).is_err());
        assert!(span_id(&[0; 8]).is_err());
        assert_eq!(nanos_to_ms(0), None);
        assert_eq!(
            nanos_to_ms(1_700_000_000_123_456_789),
            Some(1_700_000_000_123)
        );
        assert!(nanos_to_ms(u64::MAX).is_some());
    }

    #[test]
    fn rejection_message() {
        let mut r = Rejections::default();
        assert_eq!(r.message(Signal::Traces), "");
        r.reject("invalid_span_id", || {
            "span \"a\": span_id is all zeros".into()
        });
        r.reject_many("storage_rejected", 2, || "too old".into());
        r.reject_many("nothing", 0, || unreachable!());
        assert_eq!(r.total(), 3);
        assert_eq!(
            r.message(Signal::Traces),
            "3 spans rejected (invalid_span_id: 1, storage_rejected: 2): \
             span \"a\": span_id is all zeros; too old"
        );
    }
}
