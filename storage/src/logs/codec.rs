//! The binary form of a [`LogRecord`]: one encoding for the write-ahead log and for the copy
//! each index keeps in its document store, so a hit is rebuilt by the same decoder that
//! replays the log.
//!
//! ```text
//! varint   time_ms
//! u8       presence bits: 1 level, 2 service, 4 host, 8 trace_id, 16 span_id, 32 fingerprint
//! bytes    each present optional field, in that order
//! bytes    message
//! bytes    fields (the text of a JSON object; zero bytes for none)
//! bytes    raw
//! ```
//!
//! A write-ahead log record is a batch: `uvarint count`, then `count` × `bytes record`.

use compact_str::CompactString;

use super::api::LogRecord;
use crate::varint::{
    get_bytes, get_uvarint, get_varint, put_bytes, put_uvarint, put_varint, zigzag,
};

/// Appends the encoding of `r` to `out`.
pub(crate) fn encode_record(r: &LogRecord, out: &mut Vec<u8>) {
    put_varint(out, r.time_ms);
    let optional = optional_fields(r);
    let mut bits = 0u8;
    for (i, v) in optional.iter().enumerate() {
        if v.is_some() {
            bits |= 1 << i;
        }
    }
    out.push(bits);
    for v in optional.into_iter().flatten() {
        put_bytes(out, v.as_bytes());
    }
    put_bytes(out, r.message.as_bytes());
    put_bytes(out, r.fields.as_bytes());
    put_bytes(out, r.raw.as_bytes());
}

fn optional_fields(r: &LogRecord) -> [Option<&CompactString>; 6] {
    [
        r.level.as_ref(),
        r.service.as_ref(),
        r.host.as_ref(),
        r.trace_id.as_ref(),
        r.span_id.as_ref(),
        r.fingerprint.as_ref(),
    ]
}

/// A record decoded without copying: its text borrows the encoding. The indexer builds a
/// document from this, so the [`LogRecord`] an append encoded is dropped by the thread that
/// made it, and nothing of a record is allocated again on the indexer's thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RecordView<'a> {
    pub(crate) time_ms: i64,
    pub(crate) level: Option<&'a str>,
    pub(crate) service: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) trace_id: Option<&'a str>,
    pub(crate) span_id: Option<&'a str>,
    pub(crate) fingerprint: Option<&'a str>,
    pub(crate) message: &'a str,
    pub(crate) fields: &'a str,
    /// Not indexed, so checked to be UTF-8 only when the record is made ([`Self::to_record`]).
    raw: &'a [u8],
}

impl RecordView<'_> {
    /// The record; `None` when its `raw` is not UTF-8 (its encoding was damaged).
    pub(crate) fn to_record(self) -> Option<LogRecord> {
        let owned = |v: Option<&str>| v.map(CompactString::from);
        Some(LogRecord {
            time_ms: self.time_ms,
            level: owned(self.level),
            service: owned(self.service),
            host: owned(self.host),
            message: self.message.to_owned(),
            trace_id: owned(self.trace_id),
            span_id: owned(self.span_id),
            fingerprint: owned(self.fingerprint),
            fields: self.fields.to_owned(),
            raw: std::str::from_utf8(self.raw).ok()?.to_owned(),
        })
    }
}

/// Decodes one record as a view of `buf`; `None` when the bytes are not a record.
pub(crate) fn decode_view(mut buf: &[u8]) -> Option<RecordView<'_>> {
    let time_ms = get_varint(&mut buf)?;
    let (&bits, rest) = buf.split_first()?;
    buf = rest;
    let mut optional: [Option<&str>; 6] = [None; 6];
    for (i, slot) in optional.iter_mut().enumerate() {
        if bits & (1 << i) != 0 {
            *slot = Some(get_str(&mut buf)?);
        }
    }
    let message = get_str(&mut buf)?;
    let fields = get_str(&mut buf)?;
    let raw = get_bytes(&mut buf)?;
    let [level, service, host, trace_id, span_id, fingerprint] = optional;
    Some(RecordView {
        time_ms,
        level,
        service,
        host,
        trace_id,
        span_id,
        fingerprint,
        message,
        fields,
        raw,
    })
}

/// Decodes one record; `None` when the bytes are not a record.
pub(crate) fn decode_record(buf: &[u8]) -> Option<LogRecord> {
    decode_view(buf)?.to_record()
}

fn get_str<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(get_bytes(buf)?).ok()
}

/// The write-ahead log payload of a batch of records. The indexer reads the records from it
/// ([`decode_batch`]) and keeps each one's encoding as its document's stored bytes, so
/// nothing is encoded twice.
pub(crate) fn encode_batch(records: &[LogRecord]) -> Vec<u8> {
    let estimate: usize = records
        .iter()
        .map(|r| r.raw.len() + r.message.len() + r.fields.len() + 96)
        .sum();
    let mut out = Vec::with_capacity(estimate + 10);
    put_uvarint(&mut out, records.len() as u64);
    for r in records {
        // The length prefix comes first: it is computed, so the record is written once.
        put_uvarint(&mut out, encoded_len(r) as u64);
        encode_record(r, &mut out);
    }
    out
}

/// The length of [`encode_record`]'s output for `r`.
fn encoded_len(r: &LogRecord) -> usize {
    let bytes = |len: usize| uvarint_len(len as u64) + len;
    let optional: usize = optional_fields(r)
        .into_iter()
        .flatten()
        .map(|v| bytes(v.len()))
        .sum();
    uvarint_len(zigzag(r.time_ms))
        + 1
        + optional
        + bytes(r.message.len())
        + bytes(r.fields.len())
        + bytes(r.raw.len())
}

fn uvarint_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

/// The encoded records of a write-ahead log payload; `None` when it does not decode.
pub(crate) fn decode_batch(mut buf: &[u8]) -> Option<Vec<&[u8]>> {
    let n = usize::try_from(get_uvarint(&mut buf)?).ok()?;
    let mut out = Vec::with_capacity(n.min(buf.len()));
    for _ in 0..n {
        out.push(get_bytes(&mut buf)?);
    }
    buf.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opt() -> impl Strategy<Value = Option<CompactString>> {
        proptest::option::of("\\PC{0,40}".prop_map(CompactString::from))
    }

    proptest! {
        #[test]
        fn records_round_trip(
            time_ms in any::<i64>(),
            level in opt(), service in opt(), host in opt(),
            trace_id in opt(), span_id in opt(), fingerprint in opt(),
            message in "\\PC{0,40}", raw in "\\PC{0,40}",
            key in "[a-z.]{1,8}", value in any::<i64>(), with_fields in any::<bool>(),
        ) {
            let fields = if with_fields {
                serde_json::json!({key: {"n": value, "s": "x"}}).to_string()
            } else {
                String::new()
            };
            let r = LogRecord {
                time_ms, level, service, host, message, trace_id, span_id, fingerprint, fields, raw,
            };
            let mut buf = Vec::new();
            encode_record(&r, &mut buf);
            prop_assert_eq!(encoded_len(&r), buf.len());
            prop_assert_eq!(decode_record(&buf), Some(r.clone()));
            prop_assert_eq!(decode_view(&buf).and_then(RecordView::to_record), Some(r.clone()));
            let batch = encode_batch(&[r.clone(), r]);
            prop_assert_eq!(decode_batch(&batch), Some(vec![buf.as_slice(), buf.as_slice()]));
        }

        #[test]
        fn garbage_does_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_record(&bytes);
            let _ = decode_view(&bytes);
            let _ = decode_batch(&bytes);
        }
    }
}
