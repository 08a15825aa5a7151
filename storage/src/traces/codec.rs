//! The binary forms of the trace store's RocksDB rows: span keys, span values, pending-index
//! entries and catalog (service/operation) keys. Written down in `storage/docs/format.md`.
//!
//! Span key (32 bytes): `trace_id[16] · start_unix_nano u64 BE · span_id[8]`, so the spans of
//! a trace are one contiguous key range (one prefix scan) in start order, span id breaking
//! ties.
//!
//! Span value (everything the key does not hold):
//!
//! ```text
//! u8       format version (1)
//! u8       bits: 1 has parent · kind << 1 (3 bits) · status << 4 (2 bits)
//! [8]      parent span id, when bit 1 is set
//! uvarint  flags
//! uvarint  zigzag(end − start)             wrapping u64 difference read as i64
//! bytes    service, name, trace_state, status_message
//! attrs    attributes
//! uvarint  event count, each: uvarint zigzag(time − start), bytes name, attrs
//! uvarint  link count, each: [16] trace id, [8] span id, bytes trace_state, attrs
//! origin:  attrs resource, bytes scope_name, bytes scope_version   (to the end of the value)
//!
//! attrs:   uvarint count, each: bytes key, value
//! value:   u8 tag, then: 0 string: bytes · 1 false · 2 true · 3 int: varint · 4 double: u64 LE
//!          bits · 5 bytes: bytes · 6 array: uvarint n, n values · 7 map: attrs
//! ```
//!
//! The origin comes last so that a reader can compare it as one byte slice with the previous
//! span's and share one `Arc<SpanOrigin>` between the spans of a trace from the same process.

use std::sync::Arc;

use super::api::{
    AttrValue, KeyValue, Span, SpanEvent, SpanId, SpanKind, SpanLink, SpanOrigin, StatusCode,
    TraceId,
};
use crate::varint::{
    get_bytes, get_u64_le, get_uvarint, get_varint, put_bytes, put_uvarint, put_varint,
};

pub(crate) const KEY_LEN: usize = 32;
/// The span keys of one trace share this prefix (the trace id): RocksDB's prefix extractor
/// and bloom filters work on it.
pub(crate) const PREFIX_LEN: usize = 16;
const VERSION: u8 = 1;
/// Arrays and maps nest at most this deep. Deeper values are refused at append
/// (`reject::TOO_DEEP`), so decoding never recurses further, whatever the bytes.
pub(crate) const MAX_DEPTH: usize = 32;

pub(crate) type SpanKey = [u8; KEY_LEN];

pub(crate) fn span_key(trace_id: &TraceId, start_unix_nano: u64, span_id: &SpanId) -> SpanKey {
    let mut k = [0u8; KEY_LEN];
    k[..16].copy_from_slice(trace_id);
    k[16..24].copy_from_slice(&start_unix_nano.to_be_bytes());
    k[24..].copy_from_slice(span_id);
    k
}

/// `(trace id, start, span id)` of a span key; `None` when it is not 32 bytes.
pub(crate) fn parse_key(key: &[u8]) -> Option<(TraceId, u64, SpanId)> {
    let key: &[u8; KEY_LEN] = key.try_into().ok()?;
    let (trace, rest) = key.split_first_chunk::<16>()?;
    let (start, span) = rest.split_first_chunk::<8>()?;
    let span: SpanId = span.try_into().ok()?;
    Some((*trace, u64::from_be_bytes(*start), span))
}

/// The kind's number in the span value, the catalog key and the search index (OTLP's).
pub(crate) fn kind_number(k: SpanKind) -> u8 {
    match k {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn kind_of(c: u8) -> Option<SpanKind> {
    SpanKind::ALL.get(usize::from(c)).copied()
}

pub(crate) fn status_number(s: StatusCode) -> u8 {
    match s {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

fn status_of(c: u8) -> Option<StatusCode> {
    match c {
        0 => Some(StatusCode::Unset),
        1 => Some(StatusCode::Ok),
        2 => Some(StatusCode::Error),
        _ => None,
    }
}

fn zigzag_diff(v: u64, base: u64) -> u64 {
    crate::varint::zigzag(v.wrapping_sub(base) as i64)
}

fn undiff(z: u64, base: u64) -> u64 {
    base.wrapping_add(crate::varint::unzigzag(z) as u64)
}

/// Appends the value encoding of `span` to `out`.
pub(crate) fn encode_value(span: &Span, out: &mut Vec<u8>) {
    out.push(VERSION);
    let bits = u8::from(span.parent_span_id.is_some())
        | kind_number(span.kind) << 1
        | status_number(span.status_code) << 4;
    out.push(bits);
    if let Some(p) = &span.parent_span_id {
        out.extend_from_slice(p);
    }
    put_uvarint(out, u64::from(span.flags));
    put_uvarint(out, zigzag_diff(span.end_unix_nano, span.start_unix_nano));
    put_bytes(out, span.service.as_bytes());
    put_bytes(out, span.name.as_bytes());
    put_bytes(out, span.trace_state.as_bytes());
    put_bytes(out, span.status_message.as_bytes());
    put_attrs(out, &span.attributes);
    put_uvarint(out, span.events.len() as u64);
    for e in &span.events {
        put_uvarint(out, zigzag_diff(e.time_unix_nano, span.start_unix_nano));
        put_bytes(out, e.name.as_bytes());
        put_attrs(out, &e.attributes);
    }
    put_uvarint(out, span.links.len() as u64);
    for l in &span.links {
        out.extend_from_slice(&l.trace_id);
        out.extend_from_slice(&l.span_id);
        put_bytes(out, l.trace_state.as_bytes());
        put_attrs(out, &l.attributes);
    }
    put_attrs(out, &span.origin.resource);
    put_bytes(out, span.origin.scope_name.as_bytes());
    put_bytes(out, span.origin.scope_version.as_bytes());
}

fn put_attrs(out: &mut Vec<u8>, attrs: &[KeyValue]) {
    put_uvarint(out, attrs.len() as u64);
    for kv in attrs {
        put_bytes(out, kv.key.as_bytes());
        put_value(out, &kv.value);
    }
}

fn put_value(out: &mut Vec<u8>, v: &AttrValue) {
    match v {
        AttrValue::String(s) => {
            out.push(0);
            put_bytes(out, s.as_bytes());
        }
        AttrValue::Bool(b) => out.push(if *b { 2 } else { 1 }),
        AttrValue::Int(i) => {
            out.push(3);
            put_varint(out, *i);
        }
        AttrValue::Double(d) => {
            out.push(4);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        AttrValue::Bytes(b) => {
            out.push(5);
            put_bytes(out, b);
        }
        AttrValue::Array(items) => {
            out.push(6);
            put_uvarint(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
        AttrValue::Map(entries) => {
            out.push(7);
            put_attrs(out, entries);
        }
    }
}

/// How deeply arrays and maps nest in the span's attributes (resource, event and link ones
/// included); 0 when none holds an array or map.
pub(crate) fn nesting_depth(span: &Span) -> usize {
    fn attrs(a: &[KeyValue]) -> usize {
        a.iter().map(|kv| value(&kv.value)).max().unwrap_or(0)
    }
    fn value(v: &AttrValue) -> usize {
        match v {
            AttrValue::Array(items) => 1 + items.iter().map(value).max().unwrap_or(0),
            AttrValue::Map(entries) => 1 + attrs(entries),
            _ => 0,
        }
    }
    let events = span.events.iter().map(|e| attrs(&e.attributes));
    let links = span.links.iter().map(|l| attrs(&l.attributes));
    events
        .chain(links)
        .chain([attrs(&span.attributes), attrs(&span.origin.resource)])
        .max()
        .unwrap_or(0)
}

/// Shares one [`SpanOrigin`] between consecutive decoded spans whose origin bytes are equal.
#[derive(Default)]
pub(crate) struct OriginCache {
    last: Option<(Vec<u8>, Arc<SpanOrigin>)>,
}

/// Decodes the span stored under `key` with `value`; `None` when they are not a span.
pub(crate) fn decode_span(key: &[u8], value: &[u8], origins: &mut OriginCache) -> Option<Span> {
    let (trace_id, start, span_id) = parse_key(key)?;
    let mut buf = value;
    let (&version, rest) = buf.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&bits, rest) = rest.split_first()?;
    buf = rest;
    if bits & !0b11_1111 != 0 {
        return None;
    }
    let parent_span_id = if bits & 1 != 0 {
        let (p, rest) = buf.split_first_chunk::<8>()?;
        buf = rest;
        Some(*p)
    } else {
        None
    };
    let kind = kind_of((bits >> 1) & 0b111)?;
    let status_code = status_of(bits >> 4)?;
    let flags = u32::try_from(get_uvarint(&mut buf)?).ok()?;
    let end = undiff(get_uvarint(&mut buf)?, start);
    let service = get_string(&mut buf)?;
    let name = get_string(&mut buf)?;
    let trace_state = get_string(&mut buf)?;
    let status_message = get_string(&mut buf)?;
    let attributes = get_attrs(&mut buf, 0)?;
    let n = get_count(&mut buf)?;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let time = undiff(get_uvarint(&mut buf)?, start);
        events.push(SpanEvent {
            time_unix_nano: time,
            name: get_string(&mut buf)?,
            attributes: get_attrs(&mut buf, 0)?,
        });
    }
    let n = get_count(&mut buf)?;
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        let (t, rest) = buf.split_first_chunk::<16>()?;
        let (s, rest) = rest.split_first_chunk::<8>()?;
        buf = rest;
        links.push(SpanLink {
            trace_id: *t,
            span_id: *s,
            trace_state: get_string(&mut buf)?,
            attributes: get_attrs(&mut buf, 0)?,
        });
    }
    let origin = match &origins.last {
        Some((bytes, origin)) if bytes.as_slice() == buf => origin.clone(),
        _ => {
            let origin_bytes = buf;
            let resource = get_attrs(&mut buf, 0)?;
            let scope_name = get_string(&mut buf)?;
            let scope_version = get_string(&mut buf)?;
            if !buf.is_empty() {
                return None;
            }
            let origin = Arc::new(SpanOrigin {
                resource,
                scope_name,
                scope_version,
            });
            origins.last = Some((origin_bytes.to_vec(), origin.clone()));
            origin
        }
    };
    Some(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        flags,
        service,
        name,
        kind,
        start_unix_nano: start,
        end_unix_nano: end,
        status_code,
        status_message,
        attributes,
        events,
        links,
        origin,
    })
}

/// A count of items that each take at least one byte: larger than what is left is corrupt,
/// which also keeps allocations bounded by the input.
fn get_count(buf: &mut &[u8]) -> Option<usize> {
    let n = usize::try_from(get_uvarint(buf)?).ok()?;
    (n <= buf.len()).then_some(n)
}

fn get_string(buf: &mut &[u8]) -> Option<String> {
    std::str::from_utf8(get_bytes(buf)?).ok().map(str::to_owned)
}

fn get_attrs(buf: &mut &[u8], depth: usize) -> Option<Vec<KeyValue>> {
    let n = get_count(buf)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = get_string(buf)?;
        let value = get_value(buf, depth)?;
        out.push(KeyValue { key, value });
    }
    Some(out)
}

fn get_value(buf: &mut &[u8], depth: usize) -> Option<AttrValue> {
    let (&tag, rest) = buf.split_first()?;
    *buf = rest;
    Some(match tag {
        0 => AttrValue::String(get_string(buf)?),
        1 => AttrValue::Bool(false),
        2 => AttrValue::Bool(true),
        3 => AttrValue::Int(get_varint(buf)?),
        4 => AttrValue::Double(f64::from_bits(get_u64_le(buf)?)),
        5 => AttrValue::Bytes(get_bytes(buf)?.to_vec()),
        6 if depth < MAX_DEPTH => {
            let n = get_count(buf)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(get_value(buf, depth + 1)?);
            }
            AttrValue::Array(items)
        }
        7 if depth < MAX_DEPTH => AttrValue::Map(get_attrs(buf, depth + 1)?),
        _ => return None,
    })
}

/// A pending-index entry: the keys of the spans one append wrote.
pub(crate) fn encode_pending<'a>(keys: impl ExactSizeIterator<Item = &'a SpanKey>) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.len() * KEY_LEN + 3);
    put_uvarint(&mut out, keys.len() as u64);
    for k in keys {
        out.extend_from_slice(k);
    }
    out
}

pub(crate) fn decode_pending(mut buf: &[u8]) -> Option<Vec<SpanKey>> {
    let n = usize::try_from(get_uvarint(&mut buf)?).ok()?;
    if buf.len() != n.checked_mul(KEY_LEN)? {
        return None;
    }
    Some(
        buf.chunks_exact(KEY_LEN)
            .filter_map(|c| c.try_into().ok())
            .collect(),
    )
}

/// Catalog rows in the `meta` column family: `o · bytes service · u8 kind · name`.
const CATALOG_TAG: u8 = b'o';

pub(crate) fn catalog_key(service: &str, kind: SpanKind, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(service.len() + name.len() + 4);
    k.push(CATALOG_TAG);
    put_bytes(&mut k, service.as_bytes());
    k.push(kind_number(kind));
    k.extend_from_slice(name.as_bytes());
    k
}

pub(crate) fn catalog_prefix() -> [u8; 1] {
    [CATALOG_TAG]
}

pub(crate) fn parse_catalog_key(key: &[u8]) -> Option<(String, SpanKind, String)> {
    let (&tag, mut rest) = key.split_first()?;
    if tag != CATALOG_TAG {
        return None;
    }
    let service = get_string(&mut rest)?;
    let (&kind, name) = rest.split_first()?;
    Some((
        service,
        kind_of(kind)?,
        std::str::from_utf8(name).ok()?.to_owned(),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            "\\PC{0,12}".prop_map(AttrValue::String),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::Int),
            // Bit patterns, so NaN payloads and -0.0 are covered; compared bitwise below.
            any::<u64>().prop_map(|b| AttrValue::Double(f64::from_bits(b))),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(AttrValue::Bytes),
        ]
    }

    pub(crate) fn attr_value() -> impl Strategy<Value = AttrValue> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttrValue::Array),
                proptest::collection::vec(("[a-z.]{0,6}", inner), 0..4).prop_map(|kvs| {
                    AttrValue::Map(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
                }),
            ]
        })
    }

    fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(("\\PC{0,10}", attr_value()), 0..5)
            .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
    }

    prop_compose! {
        pub(crate) fn arb_span()(
            trace_id in any::<[u8; 16]>(), span_id in any::<[u8; 8]>(),
            parent in proptest::option::of(any::<[u8; 8]>()),
            trace_state in "\\PC{0,8}", flags in any::<u32>(),
            service in "\\PC{0,12}", name in "\\PC{0,16}",
            kind in 0u8..6, status in 0u8..3,
            start in any::<u64>(), end in any::<u64>(),
            status_message in "\\PC{0,8}",
            attributes in attrs(),
            events in proptest::collection::vec((any::<u64>(), "\\PC{0,8}", attrs()), 0..3),
            links in proptest::collection::vec(
                (any::<[u8; 16]>(), any::<[u8; 8]>(), "\\PC{0,8}", attrs()), 0..3),
            resource in attrs(), scope_name in "\\PC{0,8}", scope_version in "\\PC{0,4}",
        ) -> Span {
            Span {
                trace_id, span_id, parent_span_id: parent, trace_state, flags, service, name,
                kind: kind_of(kind).unwrap_or_default(),
                start_unix_nano: start, end_unix_nano: end,
                status_code: status_of(status).unwrap_or_default(),
                status_message, attributes,
                events: events.into_iter().map(|(time_unix_nano, name, attributes)| SpanEvent {
                    time_unix_nano, name, attributes,
                }).collect(),
                links: links.into_iter().map(|(trace_id, span_id, trace_state, attributes)| SpanLink {
                    trace_id, span_id, trace_state, attributes,
                }).collect(),
                origin: Arc::new(SpanOrigin { resource, scope_name, scope_version }),
            }
        }
    }

    /// Equality that compares doubles by their bits (NaN payloads included), which `==`
    /// cannot: the same key fields, the same encoding and the same structure.
    fn same(a: &Span, b: &Span) -> bool {
        let encoded = |s: &Span| {
            let mut out = Vec::new();
            encode_value(s, &mut out);
            out
        };
        (a.trace_id, a.span_id, a.start_unix_nano) == (b.trace_id, b.span_id, b.start_unix_nano)
            && encoded(a) == encoded(b)
            && format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn spans_round_trip(span in arb_span()) {
            let mut value = Vec::new();
            encode_value(&span, &mut value);
            let key = span_key(&span.trace_id, span.start_unix_nano, &span.span_id);
            let back = decode_span(&key, &value, &mut OriginCache::default());
            prop_assert!(back.as_ref().is_some_and(|b| same(b, &span)), "{span:?}\n{back:?}");
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            key in proptest::collection::vec(any::<u8>(), 0..40),
            value in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = decode_span(&key, &value, &mut OriginCache::default());
            let _ = decode_pending(&value);
            let _ = parse_catalog_key(&value);
        }

        #[test]
        fn truncated_values_are_refused_not_misread(span in arb_span(), cut in any::<prop::sample::Index>()) {
            let mut value = Vec::new();
            encode_value(&span, &mut value);
            let key = span_key(&span.trace_id, span.start_unix_nano, &span.span_id);
            let at = cut.index(value.len());
            prop_assert!(decode_span(&key, &value[..at], &mut OriginCache::default()).is_none());
        }

        #[test]
        fn mutated_values_never_panic(span in arb_span(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut value = Vec::new();
            encode_value(&span, &mut value);
            let i = at.index(value.len());
            value[i] = byte;
            let key = span_key(&span.trace_id, span.start_unix_nano, &span.span_id);
            let _ = decode_span(&key, &value, &mut OriginCache::default());
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing() {
        // A value claiming 10,000 nested arrays.
        let mut value = vec![VERSION, 0, 0, 0, 0, 0, 0, 0, 1, 1, b'k'];
        value.extend(std::iter::repeat_n([6u8, 1], 10_000).flatten());
        value.push(1);
        let key = [1u8; KEY_LEN];
        assert!(decode_span(&key, &value, &mut OriginCache::default()).is_none());
    }

    #[test]
    fn consecutive_equal_origins_share_one_arc() {
        let origin = Arc::new(SpanOrigin {
            resource: vec![KeyValue::new(
                "service.name",
                AttrValue::String("cart".into()),
            )],
            scope_name: "otel".into(),
            scope_version: "1".into(),
        });
        let span = |id: u8| Span {
            trace_id: [1; 16],
            span_id: [id; 8],
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            service: "cart".into(),
            name: "op".into(),
            kind: SpanKind::Server,
            start_unix_nano: 10,
            end_unix_nano: 20,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            attributes: vec![],
            events: vec![],
            links: vec![],
            origin: origin.clone(),
        };
        let mut cache = OriginCache::default();
        let decoded: Vec<Span> = [1u8, 2]
            .iter()
            .map(|id| {
                let s = span(*id);
                let mut v = Vec::new();
                encode_value(&s, &mut v);
                decode_span(&span_key(&s.trace_id, 10, &s.span_id), &v, &mut cache).unwrap()
            })
            .collect();
        assert!(Arc::ptr_eq(&decoded[0].origin, &decoded[1].origin));
        assert_eq!(*decoded[0].origin, *origin);
    }

    #[test]
    fn keys_sort_by_trace_then_start_then_span() {
        let a = span_key(&[1; 16], 5, &[9; 8]);
        let b = span_key(&[1; 16], 6, &[0; 8]);
        let c = span_key(&[2; 16], 0, &[0; 8]);
        assert!(a < b && b < c);
        assert_eq!(parse_key(&b), Some(([1; 16], 6, [0; 8])));
        assert_eq!(parse_key(&b[..31]), None);
    }

    #[test]
    fn catalog_keys_round_trip() {
        let k = catalog_key("cart\u{0}x", SpanKind::Client, "GET /a");
        assert_eq!(
            parse_catalog_key(&k),
            Some(("cart\u{0}x".into(), SpanKind::Client, "GET /a".into()))
        );
        let keys = [[3u8; KEY_LEN], [4u8; KEY_LEN]];
        assert_eq!(
            decode_pending(&encode_pending(keys.iter())),
            Some(keys.to_vec())
        );
    }
}
