//! The tantivy schema of a log partition, its tokenizers and index settings, and the mapping
//! of a record (as the indexer decodes it, `codec::RecordView`) to a document.
//!
//! | field | kind | what for |
//! | --- | --- | --- |
//! | `time` | i64, fast | range filter, sort, histogram |
//! | `seq` | u64, fast | sort tie-break, cursor, tail filter |
//! | `level`, `service`, `host` | keyword, lower-cased in the index; fast (as given) | `level:error`, facets |
//! | `trace_id`, `span_id` | keyword, lower-cased in the index | exact match |
//! | `fingerprint` | keyword (exact), fast | error groups |
//! | `message` | text (`default` tokenizer), positions | full text, phrases |
//! | `fields` | JSON, text with positions, dots expanded | `user.id:42`, `http.status:[500 TO 599]` |
//! | `record` | stored bytes: the record's `codec.rs` encoding | rebuilding a hit (original event included) |

use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, JsonObjectOptions, NumericOptions, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
    TokenizerManager,
};
use tantivy::{IndexSettings, TantivyDocument};

use super::codec::RecordView;
use crate::json::JsonTape;

/// Keyword fields: the whole value is one token, lower-cased, so `level:error` finds `ERROR`.
pub(crate) const KEYWORD_TOKENIZER: &str = "argus_keyword";
/// Values in `fields`: words as `default` splits them, except that `-` and `_` between two
/// letters or digits join (ids such as UUIDs, `request_id` values and host names stay one
/// token), lower-cased, tokens of 100 bytes or more dropped.
pub(crate) const VALUE_TOKENIZER: &str = "argus_value";
/// The document store's block size: larger blocks compress better (log lines repeat their
/// keys, services and hosts), at the cost of decompressing more per hit fetched.
const DOCSTORE_BLOCK_BYTES: usize = 256 << 10;
const ZSTD_LEVEL: i32 = 3;

#[derive(Clone)]
pub(crate) struct LogSchema {
    pub(crate) schema: Schema,
    pub(crate) time: Field,
    pub(crate) seq: Field,
    pub(crate) level: Field,
    pub(crate) service: Field,
    pub(crate) host: Field,
    pub(crate) trace_id: Field,
    pub(crate) span_id: Field,
    pub(crate) fingerprint: Field,
    pub(crate) message: Field,
    pub(crate) fields: Field,
    pub(crate) record: Field,
}

pub(crate) const TIME: &str = "time";
pub(crate) const SEQ: &str = "seq";
pub(crate) const LEVEL: &str = "level";
pub(crate) const SERVICE: &str = "service";
pub(crate) const HOST: &str = "host";
pub(crate) const FINGERPRINT: &str = "fingerprint";
pub(crate) const FIELDS: &str = "fields";

impl LogSchema {
    pub(crate) fn new() -> LogSchema {
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
        let time = b.add_i64_field(TIME, NumericOptions::default().set_fast());
        let seq = b.add_u64_field(SEQ, NumericOptions::default().set_fast());
        // Fast columns keep the value as ingest gave it (facets show `ERROR`, not `error`).
        let level = b.add_text_field(LEVEL, keyword(KEYWORD_TOKENIZER).set_fast("raw"));
        let service = b.add_text_field(SERVICE, keyword(KEYWORD_TOKENIZER).set_fast("raw"));
        let host = b.add_text_field(HOST, keyword(KEYWORD_TOKENIZER).set_fast("raw"));
        let trace_id = b.add_text_field("trace_id", keyword(KEYWORD_TOKENIZER));
        let span_id = b.add_text_field("span_id", keyword(KEYWORD_TOKENIZER));
        let fingerprint = b.add_text_field(FINGERPRINT, keyword("raw").set_fast("raw"));
        let message = b.add_text_field(
            "message",
            TextOptions::default().set_indexing_options(text.clone()),
        );
        let fields = b.add_json_field(
            FIELDS,
            JsonObjectOptions::default()
                .set_indexing_options(text.set_tokenizer(VALUE_TOKENIZER))
                .set_expand_dots_enabled(),
        );
        let record = b.add_bytes_field("record", BytesOptions::default().set_stored());
        LogSchema {
            schema: b.build(),
            time,
            seq,
            level,
            service,
            host,
            trace_id,
            span_id,
            fingerprint,
            message,
            fields,
            record,
        }
    }

    /// The document of a record: indexed fields from `record`, and `stored` (its encoding)
    /// as the one stored field. Fields whose text is not a JSON object (no writer makes
    /// such) are left out of the index; the record keeps them.
    pub(crate) fn document(
        &self,
        seq: u64,
        record: &RecordView<'_>,
        stored: &[u8],
    ) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_i64(self.time, record.time_ms);
        doc.add_u64(self.seq, seq);
        for (field, value) in [
            (self.level, &record.level),
            (self.service, &record.service),
            (self.host, &record.host),
            (self.trace_id, &record.trace_id),
            (self.span_id, &record.span_id),
            (self.fingerprint, &record.fingerprint),
        ] {
            if let Some(v) = value {
                doc.add_text(field, v);
            }
        }
        doc.add_text(self.message, record.message);
        if !record.fields.is_empty()
            && let Ok(tape) = JsonTape::parse(record.fields)
            && tape.root().is_object()
        {
            doc.add_field_value(self.fields, tape.root());
        }
        doc.add_bytes(self.record, stored);
        doc
    }
}

/// Tokenizers every partition index and the query parser use: tantivy's defaults plus the
/// keyword tokenizer.
pub(crate) fn tokenizers() -> TokenizerManager {
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

/// See [`VALUE_TOKENIZER`].
#[derive(Clone, Default)]
pub(crate) struct ValueTokenizer {
    token: Token,
}

pub(crate) struct ValueTokenStream<'a> {
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

pub(crate) fn index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(ZSTD_LEVEL),
        }),
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..IndexSettings::default()
    }
}
