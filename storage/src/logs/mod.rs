//! The log store (being built): log records in tantivy indexes, one per time partition, behind a
//! write-ahead log.

mod api;

pub use api::{
    ErrorGroup, LogAppendOutcome, LogCursor, LogHit, LogOrder, LogQuery, LogRecord,
    LogSearchResult, LogStoreConfig, LogWriter,
};
