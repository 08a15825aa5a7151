//! The bare tantivy indexer the log store's indexing is compared with: `storage::BareLogIndex`,
//! the store's own schema, tokenizers, settings, record encoding and writer without anything
//! around them (sockets, parsing, the write-ahead log, the queue, the periodic commits).

use std::path::Path;

use anyhow::Result;
use storage::{BareLogIndex, LogRecord, LogStoreConfig};

/// The store's default memory budget of a partition writer.
pub(crate) fn writer_memory_bytes() -> usize {
    LogStoreConfig::new(".").writer_memory_bytes
}

/// The number of indexing threads the log store gives a partition writer on this machine.
pub(crate) fn argus_indexing_threads() -> usize {
    storage::log_indexing_threads(writer_memory_bytes())
}

/// An index in `dir` with `threads` indexing threads, built as the store builds one.
pub(crate) struct BareIndexer(BareLogIndex);

impl BareIndexer {
    pub(crate) fn create(dir: &Path, threads: usize) -> Result<BareIndexer> {
        Ok(BareIndexer(BareLogIndex::create(dir, threads)?))
    }

    pub(crate) fn add(&mut self, record: &mut LogRecord) -> Result<()> {
        Ok(self.0.add(record)?)
    }

    pub(crate) fn commit(&mut self) -> Result<()> {
        Ok(self.0.commit()?)
    }

    /// Waits for the merges the commit started.
    pub(crate) fn finish(self) -> Result<()> {
        Ok(self.0.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut ix = BareIndexer::create(dir.path(), 1).unwrap();
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
        let index = tantivy::Index::open_in_dir(dir.path()).unwrap();
        let reader = index.reader().unwrap();
        assert_eq!(reader.searcher().num_docs(), 100);
    }
}
