//! A bare tantivy indexer: the ceiling the log store's indexing is compared with. It mirrors
//! `storage/src/logs/schema.rs` (fields, tokenizers, index settings) and the store's writer
//! options (`storage/src/logs/mod.rs`, `open_writer`), and stores each document's record in the
//! store's encoding (`storage/src/logs/codec.rs`); what it leaves out is everything around
//! tantivy: sockets, parsing, the write-ahead log, the queue and the periodic commits.

use std::path::Path;

use anyhow::Result;
use storage::LogRecord;
use tantivy::indexer::IndexWriterOptions;
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, JsonObjectOptions, NumericOptions, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
    TokenizerManager,
};
use tantivy::{Index, IndexSettings, IndexWriter, TantivyDocument};

const KEYWORD_TOKENIZER: &str = "argus_keyword";
const VALUE_TOKENIZER: &str = "argus_value";
const DOCSTORE_BLOCK_BYTES: usize = 256 << 10;
const ZSTD_LEVEL: i32 = 3;
/// The log store's defaults: `LogStoreConfig::writer_memory_bytes`, tantivy's smallest budget
/// per indexing thread.
pub(crate) const WRITER_MEMORY_BYTES: usize = 64 << 20;
const MIN_THREAD_MEMORY: usize = 15_000_000;

/// The number of indexing threads the log store gives a partition writer on this machine.
pub(crate) fn argus_indexing_threads(cpus: usize) -> usize {
    // The store's `cpus.min(8).min(memory / MIN_THREAD_MEMORY).max(1)`.
    cpus.clamp(1, 8.min(WRITER_MEMORY_BYTES / MIN_THREAD_MEMORY))
}

struct LogSchema {
    schema: Schema,
    time: Field,
    seq: Field,
    keyword: [Field; 6],
    message: Field,
    fields: Field,
    record: Field,
}

fn log_schema() -> LogSchema {
    let mut b = Schema::builder();
    let keyword = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
    };
    let text = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions)
        .set_fieldnorms(false);
    let time = b.add_i64_field("time", NumericOptions::default().set_fast());
    let seq = b.add_u64_field("seq", NumericOptions::default().set_fast());
    let level = b.add_text_field("level", keyword(KEYWORD_TOKENIZER).set_fast("raw"));
    let service = b.add_text_field("service", keyword(KEYWORD_TOKENIZER).set_fast("raw"));
    let host = b.add_text_field("host", keyword(KEYWORD_TOKENIZER).set_fast("raw"));
    let trace_id = b.add_text_field("trace_id", keyword(KEYWORD_TOKENIZER));
    let span_id = b.add_text_field("span_id", keyword(KEYWORD_TOKENIZER));
    let fingerprint = b.add_text_field("fingerprint", keyword("raw").set_fast("raw"));
    let message = b.add_text_field(
        "message",
        TextOptions::default().set_indexing_options(text.clone()),
    );
    let fields = b.add_json_field(
        "fields",
        JsonObjectOptions::default()
            .set_indexing_options(text.set_tokenizer(VALUE_TOKENIZER))
            .set_expand_dots_enabled(),
    );
    let record = b.add_bytes_field("record", BytesOptions::default().set_stored());
    LogSchema {
        schema: b.build(),
        time,
        seq,
        keyword: [level, service, host, trace_id, span_id, fingerprint],
        message,
        fields,
        record,
    }
}

impl LogSchema {
    fn document(&self, seq: u64, r: &mut LogRecord, stored: &[u8]) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_i64(self.time, r.time_ms);
        doc.add_u64(self.seq, seq);
        for (field, value) in self.keyword.iter().zip([
            &r.level,
            &r.service,
            &r.host,
            &r.trace_id,
            &r.span_id,
            &r.fingerprint,
        ]) {
            if let Some(v) = value {
                doc.add_text(*field, v);
            }
        }
        doc.add_text(self.message, &r.message);
        if !r.fields.is_empty() {
            let object = serde_json::Value::Object(std::mem::take(&mut r.fields));
            doc.add_field_value(self.fields, &object);
            if let serde_json::Value::Object(map) = object {
                r.fields = map;
            }
        }
        doc.add_bytes(self.record, stored);
        doc
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The store's record encoding (`codec.rs`), which is also what its documents store.
pub(crate) fn encode_record(r: &LogRecord, out: &mut Vec<u8>) {
    put_uvarint(out, ((r.time_ms << 1) ^ (r.time_ms >> 63)) as u64);
    let optional = [
        &r.level,
        &r.service,
        &r.host,
        &r.trace_id,
        &r.span_id,
        &r.fingerprint,
    ];
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
    if r.fields.is_empty() {
        put_uvarint(out, 0);
    } else {
        let json = serde_json::to_vec(&r.fields).unwrap_or_default();
        put_bytes(out, &json);
    }
    put_bytes(out, r.raw.as_bytes());
}

fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(
        KEYWORD_TOKENIZER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        VALUE_TOKENIZER,
        TextAnalyzer::builder(ValueTokenizer::default())
            .filter(RemoveLongFilter::limit(100))
            .filter(LowerCaser)
            .build(),
    );
    manager
}

/// The store's `argus_value` tokenizer: `default`'s words, except that `-` and `_` between two
/// letters or digits join.
#[derive(Clone, Default)]
struct ValueTokenizer {
    token: Token,
}

struct ValueTokenStream<'a> {
    text: &'a str,
    at: usize,
    token: &'a mut Token,
}

impl Tokenizer for ValueTokenizer {
    type TokenStream<'a> = ValueTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ValueTokenStream<'a> {
        self.token.reset();
        ValueTokenStream {
            text,
            at: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for ValueTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        let rest = &self.text[self.at..];
        let Some((skip, _)) = rest.char_indices().find(|(_, c)| c.is_alphanumeric()) else {
            self.at = self.text.len();
            return false;
        };
        let from = self.at + skip;
        let mut to = from;
        let mut chars = self.text[from..].char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let joins =
                matches!(c, '-' | '_') && chars.peek().is_some_and(|(_, n)| n.is_alphanumeric());
            if !(c.is_alphanumeric() || joins) {
                break;
            }
            to = from + i + c.len_utf8();
        }
        self.at = to;
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.text.push_str(&self.text[from..to]);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

fn index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(ZSTD_LEVEL),
        }),
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..IndexSettings::default()
    }
}

/// An index in `dir` with the store's schema and a writer with `threads` indexing threads
/// sharing the store's memory budget, and merge threads as the store sets them.
pub(crate) struct BareIndexer {
    schema: LogSchema,
    writer: IndexWriter<TantivyDocument>,
    buf: Vec<u8>,
    seq: u64,
}

impl BareIndexer {
    pub(crate) fn create(dir: &Path, threads: usize, cpus: usize) -> Result<BareIndexer> {
        std::fs::create_dir_all(dir)?;
        let schema = log_schema();
        let index = Index::builder()
            .schema(schema.schema.clone())
            .settings(index_settings())
            .tokenizers(tokenizers())
            .create_in_dir(dir)?;
        let threads = threads.max(1);
        let options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread(WRITER_MEMORY_BYTES.max(MIN_THREAD_MEMORY) / threads)
            .num_merge_threads((cpus / 2).clamp(1, 4))
            .build();
        let writer = index.writer_with_options(options)?;
        Ok(BareIndexer {
            schema,
            writer,
            buf: Vec::with_capacity(1024),
            seq: 0,
        })
    }

    /// Encodes the record for the document store and adds its document.
    pub(crate) fn add(&mut self, record: &mut LogRecord) -> Result<()> {
        self.buf.clear();
        encode_record(record, &mut self.buf);
        self.seq += 1;
        let doc = self.schema.document(self.seq, record, &self.buf);
        self.writer.add_document(doc)?;
        Ok(())
    }

    pub(crate) fn commit(&mut self) -> Result<()> {
        self.writer.commit()?;
        Ok(())
    }

    /// Waits for the merges the commit started.
    pub(crate) fn finish(self) -> Result<()> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_tokenizer_joins_ids() {
        let mut t = ValueTokenizer::default();
        let mut s = t.token_stream("req 550e8400-e29b_41d4 - x-");
        let mut out = Vec::new();
        while s.advance() {
            out.push(s.token().text.clone());
        }
        assert_eq!(out, ["req", "550e8400-e29b_41d4", "x"]);
    }

    #[test]
    fn indexes_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = BareIndexer::create(dir.path(), 1, 1).unwrap();
        let normalizer = ingest::logs::Normalizer::new(&ingest::logs::LogIngestConfig::default());
        let g = crate::loggen::LogGen {
            seed: 1,
            n: 100,
            start_ms: 1_700_000_000_000,
            span_ms: 60_000,
        };
        for e in g.all() {
            let mut r = normalizer.event(e.json, 0).unwrap();
            assert_eq!(r.time_ms, e.time_ms);
            ix.add(&mut r).unwrap();
        }
        ix.commit().unwrap();
        ix.finish().unwrap();
        let index = Index::open_in_dir(dir.path()).unwrap();
        let reader = index.reader().unwrap();
        assert_eq!(reader.searcher().num_docs(), 100);
    }
}
