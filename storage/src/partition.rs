//! Tantivy indexes partitioned by time, as the log store and the trace store keep them: one
//! index per partition in `<dir>/<start ms>/`, each with a manually reloaded reader and the
//! sequence number its last commit covers ([`Partitions`], [`Partition`]); the indexer
//! thread's writers and its commit round, whose payload names that sequence number
//! ([`Writers`]); the writer settings and merge policy every partition gets
//! ([`new_writer`]); and the small pieces both stores' indexers and searches use alike
//! (partition arithmetic, the conjunction of a partition's clauses, a request answered by
//! the indexer thread).
//!
//! What differs between the stores is data, in [`IndexSpec`]: the schema, settings and
//! tokenizers, the commit payload's key, the reader's document cache. What each store does
//! around a commit (the write-ahead log, the pending rows, live tail, metrics) stays in it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use prometheus::IntGauge;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query};
use tantivy::schema::Schema;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{
    Executor, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument,
};

use crate::StorageError;

/// A partition writer that received nothing for this long is closed (frees its threads).
const IDLE_WRITER: Duration = Duration::from_secs(120);
/// tantivy's smallest indexing budget per thread.
const MIN_THREAD_MEMORY: usize = 15_000_000;
const MAX_THREAD_MEMORY: usize = u32::MAX as usize - 1_000_000;
/// Segments a partition may collect while merges are held back.
const MAX_SEGMENTS_UNDER_BACKLOG: usize = 64;

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

pub(crate) fn index_err(e: tantivy::TantivyError) -> StorageError {
    match e {
        tantivy::TantivyError::InvalidArgument(m) => StorageError::InvalidQuery(m),
        e => StorageError::Index(e.to_string()),
    }
}

/// The start of the partition of length `len_ms` holding time `t_ms`.
pub(crate) fn start_of(t_ms: i64, len_ms: i64) -> i64 {
    t_ms.div_euclid(len_ms).saturating_mul(len_ms)
}

/// Data older than this is outside `retention` (`None` or zero: kept forever).
pub(crate) fn retention_cutoff(retention: Option<Duration>, now_ms: i64) -> Option<i64> {
    retention
        .filter(|r| !r.is_zero())
        .map(|r| now_ms.saturating_sub(duration_ms(r)))
}

/// The highest sequence number a commit may claim: every number below the oldest one not
/// in a writer (`oldest_missing`) is in one.
pub(crate) fn commit_mark(oldest_missing: Option<u64>, received: u64) -> u64 {
    match oldest_missing {
        Some(first) => first.saturating_sub(1).min(received),
        None => received,
    }
}

/// All of `clauses` (everything when there are none).
pub(crate) fn all_of(mut clauses: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses.pop().unwrap_or_else(|| Box::new(AllQuery)),
        _ => Box::new(BooleanQuery::new(
            clauses.into_iter().map(|q| (Occur::Must, q)).collect(),
        )),
    }
}

/// Sends a request the indexer thread answers (flush, retention) and waits for the answer;
/// [`StorageError::ShuttingDown`] when the thread drops it unanswered.
pub(crate) fn ask<T>(
    send: impl FnOnce(SyncSender<Result<T, StorageError>>) -> Result<(), StorageError>,
) -> Result<T, StorageError> {
    let (tx, rx) = sync_channel(1);
    send(tx)?;
    rx.recv().map_err(|_| StorageError::ShuttingDown)?
}

/// A commit's payload: `{"<key>":<seq>}`. Each store has its own key (`wal_seq` for logs,
/// `seq` for traces), fixed by the indexes already on disk.
fn commit_payload(key: &str, seq: u64) -> String {
    let mut payload = serde_json::Map::new();
    payload.insert(key.to_string(), seq.into());
    serde_json::Value::Object(payload).to_string()
}

fn parse_payload(key: &str, p: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(p)
        .ok()?
        .get(key)?
        .as_u64()
}

/// What a store's partition indexes are made of.
pub(crate) struct IndexSpec {
    /// The store, as errors and log lines name it: `log` or `trace`.
    pub(crate) store: &'static str,
    /// The key of the commit payload's sequence number (see [`commit_payload`]).
    pub(crate) payload_key: &'static str,
    pub(crate) schema: Schema,
    pub(crate) settings: IndexSettings,
    pub(crate) tokenizers: TokenizerManager,
    /// Blocks of the document store each reader caches; `None`: tantivy's default.
    pub(crate) doc_cache_blocks: Option<usize>,
}

/// One time partition's index.
pub(crate) struct Partition {
    pub(crate) start: i64,
    pub(crate) dir: PathBuf,
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    /// Every document of this partition with a sequence number up to this one is committed
    /// (the last commit's payload); 0 before the first commit.
    pub(crate) committed: AtomicU64,
}

/// A store's partition indexes, by start. Only the indexer thread adds or removes one;
/// searches take the ones they need.
pub(crate) struct Partitions {
    spec: IndexSpec,
    dir: PathBuf,
    map: RwLock<BTreeMap<i64, Arc<Partition>>>,
    /// Searches run a partition's segments on this pool, shared by all partitions.
    executor: Executor,
    /// Set to the number of partitions whenever it changes, where the store counts its
    /// partitions by their indexes.
    gauge: Option<IntGauge>,
}

impl Partitions {
    /// The partitions in `dir` (none open yet: see [`Partitions::load`]), searched by a pool
    /// of threads named `search_threads`.
    pub(crate) fn new(
        spec: IndexSpec,
        dir: PathBuf,
        search_threads: &'static str,
        gauge: Option<IntGauge>,
    ) -> Result<Partitions, StorageError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let executor = Executor::multi_thread(cpus.min(4), search_threads).map_err(index_err)?;
        Ok(Partitions {
            spec,
            dir,
            map: RwLock::new(BTreeMap::new()),
            executor,
            gauge,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the index of every directory whose start `keep` accepts; removes the others and
    /// those without an index (a creation cut short, a deletion cut short).
    pub(crate) fn load(&self, keep: impl Fn(i64) -> bool) -> Result<(), StorageError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))?;
        let mut found = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io(&self.dir, e))?;
            let Some(start) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            let opened = if keep(start) {
                self.open(start, false)?
            } else {
                None
            };
            match opened {
                Some(p) => {
                    found.insert(start, Arc::new(p));
                }
                None => {
                    let path = entry.path();
                    std::fs::remove_dir_all(&path).map_err(|e| StorageError::io(&path, e))?;
                }
            }
        }
        let mut map = self.map.write();
        *map = found;
        self.count(&map);
        Ok(())
    }

    /// The index of partition `start`, opened or (with `create`) created; `None` when it
    /// does not exist and `create` is false.
    fn open(&self, start: i64, create: bool) -> Result<Option<Partition>, StorageError> {
        let spec = &self.spec;
        let dir = self.dir.join(start.to_string());
        let exists = dir.join("meta.json").exists();
        if !exists && !create {
            return Ok(None);
        }
        let mut index = if exists {
            let mut index = Index::open_in_dir(&dir).map_err(index_err)?;
            index.set_tokenizers(spec.tokenizers.clone());
            if index.schema() != spec.schema {
                return Err(StorageError::Corruption {
                    path: dir,
                    detail: format!("{} partition has a different schema", spec.store),
                });
            }
            index
        } else {
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            crate::files::sync_dir(&self.dir)?;
            Index::builder()
                .schema(spec.schema.clone())
                .settings(spec.settings.clone())
                .tokenizers(spec.tokenizers.clone())
                .create_in_dir(&dir)
                .map_err(index_err)?
        };
        index.set_executor(self.executor.clone());
        let committed = match index.load_metas().map_err(index_err)?.payload {
            Some(p) => {
                parse_payload(spec.payload_key, &p).ok_or_else(|| StorageError::Corruption {
                    path: dir.clone(),
                    detail: format!("unknown commit payload {p:?}"),
                })?
            }
            None => 0,
        };
        let mut reader = index.reader_builder().reload_policy(ReloadPolicy::Manual);
        if let Some(blocks) = spec.doc_cache_blocks {
            reader = reader.doc_store_cache_num_blocks(blocks);
        }
        let reader = reader.try_into().map_err(index_err)?;
        Ok(Some(Partition {
            start,
            dir,
            index,
            reader,
            committed: AtomicU64::new(committed),
        }))
    }

    pub(crate) fn get(&self, start: i64) -> Option<Arc<Partition>> {
        self.map.read().get(&start).cloned()
    }

    /// The partition of `start`, opened or created.
    pub(crate) fn get_or_create(&self, start: i64) -> Result<Arc<Partition>, StorageError> {
        if let Some(p) = self.get(start) {
            return Ok(p);
        }
        // `open` with `create` returns a partition or an error; `None` would be a bug there.
        let p = Arc::new(self.open(start, true)?.ok_or_else(|| {
            StorageError::Index(format!("{} partition not created", self.spec.store))
        })?);
        let mut map = self.map.write();
        map.insert(start, p.clone());
        self.count(&map);
        Ok(p)
    }

    pub(crate) fn remove(&self, start: i64) -> Option<Arc<Partition>> {
        let mut map = self.map.write();
        let removed = map.remove(&start);
        self.count(&map);
        removed
    }

    fn count(&self, map: &BTreeMap<i64, Arc<Partition>>) {
        if let Some(g) = &self.gauge {
            g.set(map.len() as i64);
        }
    }

    /// The partitions starting in `[first, last]`, oldest first.
    pub(crate) fn range(&self, first: i64, last: i64) -> Vec<Arc<Partition>> {
        if first > last {
            return Vec::new();
        }
        self.map
            .read()
            .range(first..=last)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Every partition, oldest first.
    pub(crate) fn all(&self) -> Vec<Arc<Partition>> {
        self.map.read().values().cloned().collect()
    }

    /// Each partition's committed sequence number, by start.
    pub(crate) fn committed(&self) -> HashMap<i64, u64> {
        self.map
            .read()
            .iter()
            .map(|(s, p)| (*s, p.committed.load(Ordering::SeqCst)))
            .collect()
    }

    /// Documents committed (searchable) in all partitions.
    pub(crate) fn doc_count(&self) -> u64 {
        self.map
            .read()
            .values()
            .map(|p| p.reader.searcher().num_docs())
            .sum()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.read().len()
    }
}

/// A partition's writer, owned by the indexer thread.
pub(crate) struct OpenWriter {
    pub(crate) writer: IndexWriter,
    /// Documents added since the last commit.
    uncommitted: u64,
    last_used: Instant,
}

impl OpenWriter {
    pub(crate) fn add(&mut self, doc: TantivyDocument) -> tantivy::Result<()> {
        self.writer.add_document(doc)?;
        self.uncommitted += 1;
        self.last_used = Instant::now();
        Ok(())
    }
}

/// What a commit round did.
pub(crate) struct Round {
    /// Some partition had documents to commit.
    pub(crate) any: bool,
    /// Documents committed.
    pub(crate) docs: u64,
    /// The last partition's failure, if any (each is logged).
    pub(crate) result: Result<(), StorageError>,
}

/// The indexer thread's open partition writers.
pub(crate) struct Writers {
    open: HashMap<i64, OpenWriter>,
    memory: usize,
    /// Merges are held back while this is set (see [`new_writer`]).
    backlog: Option<Arc<AtomicBool>>,
}

impl Writers {
    pub(crate) fn new(memory: usize, backlog: Option<Arc<AtomicBool>>) -> Writers {
        Writers {
            open: HashMap::new(),
            memory,
            backlog,
        }
    }

    /// The writer of partition `start`, opened (and its index created) unless it is open.
    pub(crate) fn get(
        &mut self,
        partitions: &Partitions,
        start: i64,
    ) -> Result<&mut OpenWriter, StorageError> {
        if !self.open.contains_key(&start) {
            let p = partitions.get_or_create(start)?;
            let writer = new_writer(&p.index, self.memory, None, self.backlog.clone())?;
            self.open.insert(
                start,
                OpenWriter {
                    writer,
                    uncommitted: 0,
                    last_used: Instant::now(),
                },
            );
        }
        self.open.get_mut(&start).ok_or_else(|| {
            StorageError::Index(format!(
                "{} partition writer missing",
                partitions.spec.store
            ))
        })
    }

    /// Drops the writer of `start` and its uncommitted documents.
    pub(crate) fn remove(&mut self, start: i64) {
        self.open.remove(&start);
    }

    pub(crate) fn clear(&mut self) {
        self.open.clear();
    }

    pub(crate) fn close_idle(&mut self) {
        self.open
            .retain(|_, w| w.uncommitted > 0 || w.last_used.elapsed() < IDLE_WRITER);
    }

    /// Commits every partition with new documents, its payload naming `mark`, and reloads
    /// its reader (the documents become searchable). A partition whose commit fails keeps
    /// its documents uncommitted for the next round.
    pub(crate) fn commit(&mut self, partitions: &Partitions, mark: u64) -> Round {
        let payload = commit_payload(partitions.spec.payload_key, mark);
        let mut round = Round {
            any: false,
            docs: 0,
            result: Ok(()),
        };
        for (start, w) in &mut self.open {
            if w.uncommitted == 0 {
                continue;
            }
            round.any = true;
            let committed = w.writer.prepare_commit().and_then(|mut c| {
                c.set_payload(&payload);
                c.commit()
            });
            let Some(p) = partitions.get(*start) else {
                continue;
            };
            match committed.and_then(|_| p.reader.reload()) {
                Ok(()) => {
                    p.committed.store(mark, Ordering::SeqCst);
                    round.docs += w.uncommitted;
                    w.uncommitted = 0;
                }
                Err(e) => {
                    tracing::error!(error = %e, store = partitions.spec.store, partition = start, "partition commit failed");
                    round.result = Err(index_err(e));
                }
            }
        }
        round
    }
}

/// Indexing threads of a partition writer with this memory budget on this machine.
pub fn indexing_threads(writer_memory_bytes: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.min(8)
        .min(writer_memory_bytes.max(MIN_THREAD_MEMORY) / MIN_THREAD_MEMORY)
        .max(1)
}

/// A writer of `index` as every partition gets one: `threads` indexing threads (by default
/// [`indexing_threads`]) sharing the memory budget, merge threads for half the cores, and
/// the merge policy below, held back while `backlog` is set (`None`: never held back).
pub(crate) fn new_writer(
    index: &Index,
    writer_memory_bytes: usize,
    threads: Option<usize>,
    backlog: Option<Arc<AtomicBool>>,
) -> Result<IndexWriter, StorageError> {
    let memory = writer_memory_bytes.max(MIN_THREAD_MEMORY);
    let threads = threads.unwrap_or_else(|| indexing_threads(memory)).max(1);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = IndexWriterOptions::builder()
        .num_worker_threads(threads)
        .memory_budget_per_thread((memory / threads).min(MAX_THREAD_MEMORY))
        .num_merge_threads((cpus / 2).clamp(1, 4))
        .build();
    let writer: IndexWriter = index.writer_with_options(options).map_err(index_err)?;
    // Commits every half second make many small segments; merging them in larger first
    // batches rewrites each document fewer times (the default merges every 8).
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_num_segments(16);
    policy.set_min_layer_size(100_000);
    match backlog {
        Some(backlog) => writer.set_merge_policy(Box::new(BacklogAwareMergePolicy {
            inner: policy,
            backlog,
        })),
        None => writer.set_merge_policy(Box::new(policy)),
    }
    Ok(writer)
}

/// tantivy's log merge policy, except that no merge starts while documents wait for the
/// indexer (until a partition has [`MAX_SEGMENTS_UNDER_BACKLOG`] segments): a merge rewrites
/// every document once more and, on a busy machine, takes its cores from indexing, so under
/// a burst the store indexes first and merges when it has caught up (tantivy considers
/// merges again at each commit and each new segment).
#[derive(Debug)]
struct BacklogAwareMergePolicy {
    inner: tantivy::merge_policy::LogMergePolicy,
    backlog: Arc<AtomicBool>,
}

impl tantivy::merge_policy::MergePolicy for BacklogAwareMergePolicy {
    fn compute_merge_candidates(
        &self,
        segments: &[tantivy::SegmentMeta],
    ) -> Vec<tantivy::merge_policy::MergeCandidate> {
        if self.backlog.load(Ordering::Relaxed) && segments.len() < MAX_SEGMENTS_UNDER_BACKLOG {
            return Vec::new();
        }
        self.inner.compute_merge_candidates(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payloads the indexes on disk carry: changing them orphans every commit.
    #[test]
    fn commit_payloads_keep_each_stores_format() {
        assert_eq!(commit_payload("wal_seq", 42), r#"{"wal_seq":42}"#);
        assert_eq!(commit_payload("seq", 7), r#"{"seq":7}"#);
        assert_eq!(parse_payload("wal_seq", r#"{"wal_seq":42}"#), Some(42));
        assert_eq!(parse_payload("seq", r#"{"seq":7}"#), Some(7));
        assert_eq!(parse_payload("seq", r#"{"wal_seq":7}"#), None);
    }

    #[test]
    fn partitions_and_marks() {
        assert_eq!(start_of(-1, 10), -10);
        assert_eq!(start_of(25, 10), 20);
        assert_eq!(commit_mark(None, 9), 9);
        assert_eq!(commit_mark(Some(5), 9), 4);
        assert_eq!(commit_mark(Some(20), 9), 9);
        assert_eq!(retention_cutoff(Some(Duration::ZERO), 100), None);
        assert_eq!(
            retention_cutoff(Some(Duration::from_millis(30)), 100),
            Some(70)
        );
    }
}
