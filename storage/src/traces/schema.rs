//! The tantivy schema of a trace partition's search index: one small document per span,
//! nothing stored (the spans themselves are in RocksDB).
//!
//! | field | kind | what for |
//! | --- | --- | --- |
//! | `service`, `operation` | raw string (exact), basic postings | `service=`, `operation=` |
//! | `kind`, `status` | u64, indexed | span kind, status code (their numbers) |
//! | `tag` | raw string, multi-valued: `key=value` | tag search on span, resource and event attributes |
//! | `tag_hash` | u64, indexed, multi-valued | the same for `key=value` longer than [`MAX_TAG_TERM`] bytes |
//! | `start` | u64 fast (ns) | time range, newest first |
//! | `duration` | u64 fast (ns) | duration bounds |
//! | `trace_id` | bytes fast | collecting distinct traces |

use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{IndexSettings, TantivyDocument, Term};

use super::api::{AttrValue, KeyValue, Span};
use super::codec::{kind_number, status_number};

pub(crate) const START: &str = "start";
pub(crate) const TRACE_ID: &str = "trace_id";
/// `key=value` terms up to this many bytes are indexed as they are; longer ones (SQL
/// statements, long URLs) as a 64-bit hash in `tag_hash`, so the term dictionary stays small
/// while an exact search for a long value still finds it.
pub(crate) const MAX_TAG_TERM: usize = 256;

#[derive(Clone)]
pub(crate) struct TraceSchema {
    pub(crate) schema: Schema,
    pub(crate) service: Field,
    pub(crate) operation: Field,
    pub(crate) kind: Field,
    pub(crate) status: Field,
    pub(crate) tag: Field,
    pub(crate) tag_hash: Field,
    pub(crate) start: Field,
    pub(crate) duration: Field,
    pub(crate) trace_id: Field,
}

/// One term of the `tag` or `tag_hash` field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TagTerm<'a> {
    Text(&'a str),
    Hash(u64),
}

/// How `key=value` (in `buf`) is indexed and searched.
pub(crate) fn tag_term(buf: &str) -> TagTerm<'_> {
    if buf.len() <= MAX_TAG_TERM {
        TagTerm::Text(buf)
    } else {
        TagTerm::Hash(fnv1a(buf.as_bytes()))
    }
}

/// FNV-1a, 64 bits: stable across versions and platforms (the hashes are on disk).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes `key=<value as text>` into `buf`.
pub(crate) fn write_tag(buf: &mut String, key: &str, value: &AttrValue) {
    buf.clear();
    buf.push_str(key);
    buf.push('=');
    match value {
        AttrValue::String(s) => buf.push_str(s),
        other => buf.push_str(&other.to_text()),
    }
}

impl TraceSchema {
    pub(crate) fn new() -> TraceSchema {
        let mut b = Schema::builder();
        let raw = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        );
        let indexed = NumericOptions::default().set_indexed();
        let fast = NumericOptions::default().set_fast();
        let service = b.add_text_field("service", raw.clone());
        let operation = b.add_text_field("operation", raw.clone());
        let kind = b.add_u64_field("kind", indexed.clone());
        let status = b.add_u64_field("status", indexed.clone());
        let tag = b.add_text_field("tag", raw);
        let tag_hash = b.add_u64_field("tag_hash", indexed);
        let start = b.add_u64_field(START, fast.clone());
        let duration = b.add_u64_field("duration", fast);
        let trace_id = b.add_bytes_field(TRACE_ID, BytesOptions::default().set_fast());
        TraceSchema {
            schema: b.build(),
            service,
            operation,
            kind,
            status,
            tag,
            tag_hash,
            start,
            duration,
            trace_id,
        }
    }

    /// The document of a span. `buf` is scratch space for the tag terms.
    pub(crate) fn document(&self, span: &Span, buf: &mut String) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_text(self.service, &span.service);
        doc.add_text(self.operation, &span.name);
        doc.add_u64(self.kind, u64::from(kind_number(span.kind)));
        doc.add_u64(self.status, u64::from(status_number(span.status_code)));
        doc.add_u64(self.start, span.start_unix_nano);
        doc.add_u64(self.duration, span.duration_nanos());
        doc.add_bytes(self.trace_id, &span.trace_id);
        let events = span.events.iter().flat_map(|e| &e.attributes);
        let all = span
            .attributes
            .iter()
            .chain(&span.origin.resource)
            .chain(events);
        for KeyValue { key, value } in all {
            write_tag(buf, key, value);
            match tag_term(buf) {
                TagTerm::Text(t) => doc.add_text(self.tag, t),
                TagTerm::Hash(h) => doc.add_u64(self.tag_hash, h),
            }
        }
        doc
    }

    /// The term a search for `key=value` looks up.
    pub(crate) fn tag_query_term(&self, key: &str, value: &str) -> Term {
        let text = format!("{key}={value}");
        match tag_term(&text) {
            TagTerm::Text(t) => Term::from_field_text(self.tag, t),
            TagTerm::Hash(h) => Term::from_field_u64(self.tag_hash, h),
        }
    }
}

/// Index settings of a partition: tantivy's defaults (there is no document store to tune).
pub(crate) fn index_settings() -> IndexSettings {
    IndexSettings::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tags_are_hashed_short_ones_kept() {
        let mut buf = String::new();
        write_tag(&mut buf, "http.status_code", &AttrValue::Int(200));
        assert_eq!(tag_term(&buf), TagTerm::Text("http.status_code=200"));
        let long = "x".repeat(MAX_TAG_TERM);
        write_tag(&mut buf, "db.statement", &AttrValue::String(long.clone()));
        let TagTerm::Hash(h) = tag_term(&buf) else {
            panic!("a long tag is hashed");
        };
        assert_eq!(h, fnv1a(format!("db.statement={long}").as_bytes()));
        // The published FNV-1a test vector: the hash must never change.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
