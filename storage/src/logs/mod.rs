//! The log store: log records in tantivy indexes, one per time partition, behind a
//! write-ahead log.
//!
//! Write path: [`LogStore::append_logs`] drops records older than the retention period,
//! encodes the rest (`codec.rs`), writes them as one record of the shared write-ahead log
//! (`crate::wal`, group commit, fsync) reserving one sequence number per log line, and
//! returns once that is on disk. The log's writer thread hands each durable batch, in
//! sequence order, to the indexer's queue (bounded in bytes: a full queue makes appends wait
//! before they write). Nothing on the append path touches tantivy.
//!
//! The indexer thread owns the partitions' `IndexWriter`s: it adds each record to the index
//! of its partition (`partitions/<start ms>/`, created on demand) and every
//! `commit_interval` (while a backlog of records waits, up to four intervals: a commit
//! pauses indexing) commits every partition that received documents, each commit carrying
//! the highest sequence number handed to the indexer so far as its payload, then reloads the
//! readers (records become searchable) and publishes the records to live-tail subscribers.
//! A store nobody reads is search-idle (as an Elasticsearch shard is): no search or error
//! listing for `SEARCH_IDLE_AFTER` and no live-tail subscriber. It commits only every
//! `IDLE_COMMIT_INTERVAL`, and the first read after the idle spell asks for a commit and
//! waits for it, so a reader still sees every record acknowledged before it asked. A commit
//! costs tantivy work whether anyone reads or not (committing every 500 ms made a bare
//! indexer spend about 8 % more CPU per line); under ingest alone that work is skipped.
//! Write-ahead log segments whose records are all committed are deleted. tantivy's merges
//! run in its own threads. The partition indexes, their writers, the commit round and the
//! merge policy are `crate::partition`'s, the queue's core `crate::jobs`'s (both shared with
//! the trace store); this module owns what is the log store's own around them: the
//! write-ahead log, the commit cadence and its back-off, replay, live tail, the retention
//! floor and the searches.
//!
//! Recovery: each partition's committed sequence number is its last commit's payload; the
//! log is replayed skipping every record whose partition has committed it, so nothing is
//! indexed twice and nothing acknowledged is lost, then the replayed records are committed
//! and the old segments deleted. The same replay, bounded by the records received, brings
//! a running store back after a write to its index failed (a full disk kills tantivy's
//! writer): every writer is dropped with what it had not committed, appends are refused
//! ([`StorageError::Unavailable`]) until a retry re-indexes those records from the log and
//! commits them (see `Indexer::fail`).
//!
//! Read path: a search opens only the partitions overlapping its time range, runs the
//! parsed query (`query.rs`) AND the time range on each, with one collector pass
//! (`collect.rs`) computing the page, total, histogram and facets, and merges the
//! partitions' results.

mod api;
mod codec;
mod collect;
mod query;
mod schema;
mod tail;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tantivy::query::{BooleanQuery, ExistsQuery, Occur, Query, RangeQuery};
use tantivy::schema::{Term, Value};
use tantivy::{Index, IndexWriter, Searcher, TantivyDocument};

pub use api::{
    ErrorGroup, LogAppendOutcome, LogCursor, LogHit, LogOrder, LogQuery, LogRecord,
    LogSearchResult, LogStoreConfig, LogWriter,
};
pub use tail::{LogSubscription, TAIL_CAPACITY, TailBatch};

use crate::jobs::{JobQueue, Popped};
use crate::metrics::LogMetrics;
use crate::partition::{
    self, IndexSpec, Partition, Partitions, Writers, duration_ms, index_err, new_writer,
};
use crate::wal::{self, Wal};
use crate::{StorageError, now_ms};
use collect::{GroupCollector, GroupPart, SearchCollector, SearchFruit, SeqCollector, rank};
use schema::LogSchema;

/// `dir/FORMAT` names the layout; a directory holding something else is refused.
const FORMAT: &str = "argus-logs 1\n";
/// The write-ahead log's directory in `dir`.
const WAL_DIR: &str = "wal";
/// Durable records waiting for the indexer, in encoded bytes, before appends wait.
const MAX_QUEUE_BYTES: usize = 64 << 20;
/// Under a backlog, commits wait up to this many commit intervals (see `Indexer::run`).
const COMMIT_BACKOFF: u32 = 4;
/// A store without a read for this long is search-idle (see the module documentation).
const SEARCH_IDLE_AFTER_MS: i64 = 30_000;
/// The commit interval of a search-idle store: it bounds the records a crash replays and the
/// write-ahead log kept on disk.
const IDLE_COMMIT_INTERVAL: Duration = Duration::from_secs(5);
/// How often the write-ahead log starts a new segment, so committed ones can be deleted.
const WAL_ROTATE_INTERVAL: Duration = Duration::from_secs(10);
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
const INDEX_BYTES_INTERVAL: Duration = Duration::from_secs(10);
/// Blocks of the document store each partition reader caches.
const DOC_CACHE_BLOCKS: usize = 32;
/// After an index write fails, the first attempt to recover waits this long; each attempt
/// that fails doubles the wait, up to [`RECOVERY_DELAY_MAX`].
const RECOVERY_DELAY_FIRST: Duration = Duration::from_millis(500);
const RECOVERY_DELAY_MAX: Duration = Duration::from_secs(30);

pub mod reject {
    /// The record's time is older than the retention period.
    pub const OUTSIDE_RETENTION: &str = "outside_retention";
}

/// The log store. See the module documentation.
pub struct LogStore {
    shared: Arc<Shared>,
    wal: Mutex<Option<Arc<Wal<Durable>>>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

/// What the indexer thread and the store's callers share.
struct Shared {
    config: LogStoreConfig,
    dir: PathBuf,
    schema: LogSchema,
    queries: query::QueryBuilder,
    /// The partitions' indexes in `partitions/`.
    partitions: Partitions,
    queue: IndexQueue,
    hub: Arc<tail::TailHub>,
    metrics: LogMetrics,
    /// Set while records wait for the indexer; merges are held back meanwhile (see
    /// [`partition::new_writer`]).
    backlog: Arc<AtomicBool>,
    /// When a search or error listing last ran, ms since the epoch (0: never).
    last_read_ms: AtomicI64,
    /// Why the index cannot be written, while it cannot (see [`Indexer::fail`]): appends are
    /// refused meanwhile.
    write_failure: Mutex<Option<String>>,
}

/// Durable records on their way to the indexer: the write-ahead log payload they were
/// written in, which the indexer decodes ([`codec::decode_batch`]). The records themselves
/// were dropped by the appender: the records of a batch are allocated by one ingest thread,
/// and freeing them there rather than on the indexer's thread keeps both on the allocator's
/// fast path.
struct Durable {
    payload: Bytes,
    records: u64,
}

enum Job {
    Batch {
        first_seq: u64,
        batch: Durable,
    },
    Flush(SyncSender<Result<(), StorageError>>),
    Retention(i64, SyncSender<Result<usize, StorageError>>),
    /// Index everything queued, commit, and stop.
    Stop,
}

/// The indexer's queue. Batches arrive from the write-ahead log's thread and never wait;
/// appenders wait for room before they write (see [`wait_for_room`]), which bounds it. Once
/// stopped, the records of the jobs it drops stay in the write-ahead log for the next start.
type IndexQueue = JobQueue<Job, ()>;

/// Blocks while the queue holds more than [`MAX_QUEUE_BYTES`] (the indexer is behind).
/// An error once the indexer has stopped.
fn wait_for_room(queue: &IndexQueue) -> Result<(), StorageError> {
    if queue.wait_for_room(MAX_QUEUE_BYTES, None).stopped() {
        return Err(StorageError::Index("the log indexer has stopped".into()));
    }
    Ok(())
}

impl Shared {
    fn wal_dir(&self) -> PathBuf {
        self.dir.join(WAL_DIR)
    }

    /// `Ok` when appends are taken, [`StorageError::Unavailable`] while the index cannot be
    /// written (see [`Indexer::fail`]).
    fn writable(&self) -> Result<(), StorageError> {
        match &*self.write_failure.lock() {
            None => Ok(()),
            Some(why) => Err(StorageError::Unavailable(format!(
                "the log index cannot be written ({why}); retrying"
            ))),
        }
    }

    /// No read for [`SEARCH_IDLE_AFTER_MS`] and no live-tail subscriber.
    fn search_idle(&self) -> bool {
        let last = self.last_read_ms.load(Ordering::Relaxed);
        now_ms().saturating_sub(last) >= SEARCH_IDLE_AFTER_MS && !self.hub.has_subscribers()
    }

    fn partition_len(&self) -> i64 {
        duration_ms(self.config.partition)
    }

    fn partition_of(&self, t: i64) -> i64 {
        partition::start_of(t, self.partition_len())
    }

    fn retention_cutoff(&self, now: i64) -> Option<i64> {
        partition::retention_cutoff(self.config.retention, now)
    }

    /// Partitions overlapping `[start, end]`, oldest first.
    fn overlapping(&self, start: i64, end: i64) -> Vec<Arc<Partition>> {
        if start > end {
            return Vec::new();
        }
        self.partitions.range(self.partition_of(start), end)
    }

    /// The query for one partition: the user's query AND the time range, the range left out
    /// when the partition lies inside it.
    fn partition_query(
        &self,
        user: Option<&dyn Query>,
        partition: &Partition,
        start: i64,
        end: i64,
    ) -> Box<dyn Query> {
        let p_end = partition.start.saturating_add(self.partition_len() - 1);
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        if start > partition.start || end < p_end {
            clauses.push(Box::new(RangeQuery::new(
                std::ops::Bound::Included(Term::from_field_i64(self.schema.time, start)),
                std::ops::Bound::Included(Term::from_field_i64(self.schema.time, end)),
            )));
        }
        if let Some(q) = user {
            clauses.push(q.box_clone());
        }
        partition::all_of(clauses)
    }

    /// The stored record of a document.
    fn fetch(
        &self,
        searcher: &Searcher,
        address: tantivy::DocAddress,
    ) -> Result<LogRecord, StorageError> {
        let doc: TantivyDocument = searcher.doc(address).map_err(index_err)?;
        doc.get_first(self.schema.record)
            .and_then(|v| v.as_bytes())
            .and_then(codec::decode_record)
            .ok_or_else(|| StorageError::Corruption {
                path: self.partitions.dir().to_path_buf(),
                detail: "undecodable stored log record".into(),
            })
    }
}

impl LogStore {
    /// Opens (or creates) the store in `config.dir`: opens the partitions, replays the
    /// write-ahead log above what they committed, commits that, and starts the indexer.
    pub fn open(
        config: LogStoreConfig,
        registry: &prometheus::Registry,
    ) -> Result<Arc<LogStore>, StorageError> {
        let metrics = LogMetrics::new(registry);
        let dir = config.dir.clone();
        let wal_dir = dir.join(WAL_DIR);
        for d in [&dir, &dir.join("partitions"), &wal_dir] {
            std::fs::create_dir_all(d).map_err(|e| StorageError::io(d, e))?;
        }
        check_format(&dir)?;
        let schema = LogSchema::new();
        let spec = IndexSpec {
            store: "log",
            payload_key: "wal_seq",
            schema: schema.schema.clone(),
            settings: schema::index_settings(),
            tokenizers: schema::tokenizers(),
            doc_cache_blocks: Some(DOC_CACHE_BLOCKS),
        };
        let partitions = Partitions::new(
            spec,
            dir.join("partitions"),
            "argus-log-search-",
            Some(metrics.partitions.clone()),
        )?;
        let shared = Arc::new(Shared {
            queries: query::QueryBuilder::new(&schema),
            schema,
            dir,
            partitions,
            queue: JobQueue::new((), metrics.index_queue_bytes.clone()),
            hub: tail::TailHub::new(metrics.tail_dropped.clone()),
            metrics,
            config,
            backlog: Arc::new(AtomicBool::new(false)),
            last_read_ms: AtomicI64::new(0),
            write_failure: Mutex::new(None),
        });
        let mut indexer = Indexer::new(shared.clone());
        // Directories without an index were created but never made one (a crash in
        // between): their records are still in the log.
        shared.partitions.load(|_| true)?;
        let next_seq = indexer.replay(&wal_dir)?;
        let sink_shared = shared.clone();
        let sink: wal::Sink<Durable> = Box::new(move |first_seq, batch: Durable| {
            let bytes = batch.payload.len();
            sink_shared
                .queue
                .push(Job::Batch { first_seq, batch }, bytes);
        });
        let log = Arc::new(Wal::open(
            &wal_dir,
            next_seq,
            shared.metrics.wal(),
            Some(sink),
        )?);
        // Every older segment is committed now.
        log.remove_before(next_seq)?;
        indexer.wal = Some(log.clone());
        indexer.update_index_bytes();
        let indexer_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("argus-log-indexer".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(move || indexer.run());
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!(
                        "the log indexer panicked; new records stay in the write-ahead log until the next start"
                    );
                    indexer_shared.queue.stop(|_| ());
                }
            })
            .map_err(|e| StorageError::io(&wal_dir, e))?;
        Ok(Arc::new(LogStore {
            shared,
            wal: Mutex::new(Some(log)),
            indexer: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
        }))
    }

    fn append_batch(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
        let started = Instant::now();
        if self.closed.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        self.shared.writable()?;
        let m = &self.shared.metrics;
        let mut outcome = LogAppendOutcome::default();
        let cutoff = self.shared.retention_cutoff(now_ms());
        let too_old = |r: &LogRecord| cutoff.is_some_and(|c| r.time_ms < c);
        // Moved only when something is refused: a batch holds thousands of records.
        let kept = if records.iter().any(too_old) {
            let (kept, refused): (Vec<_>, Vec<_>) = records
                .into_iter()
                .enumerate()
                .partition(|(_, r)| !too_old(r));
            m.records_rejected
                .with_label_values(&[reject::OUTSIDE_RETENTION])
                .inc_by(refused.len() as u64);
            outcome.rejected = refused
                .into_iter()
                .map(|(i, r)| {
                    let reason = format!(
                        "record at {} ms is older than the retention period",
                        r.time_ms
                    );
                    (i, reason)
                })
                .collect();
            kept.into_iter().map(|(_, r)| r).collect()
        } else {
            records
        };
        if kept.is_empty() {
            return Ok(outcome);
        }
        let raw_bytes: u64 = kept.iter().map(|r| r.raw.len() as u64).sum();
        let n = kept.len() as u64;
        let payload = Bytes::from(codec::encode_batch(&kept));
        // Freed here, by the thread that made them (see `Durable`).
        drop(kept);
        wait_for_room(&self.shared.queue)?;
        // Cloned out of the lock: concurrent appends must wait on the fsync together.
        let log = self.wal.lock().clone().ok_or(StorageError::ShuttingDown)?;
        let batch = Durable {
            payload: payload.clone(),
            records: n,
        };
        log.append(payload, n, batch)?;
        outcome.accepted = n;
        m.records_appended.inc_by(n);
        m.bytes_appended.inc_by(raw_bytes);
        m.append_seconds.observe(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    /// Runs a search. A query that does not parse is [`StorageError::InvalidQuery`].
    pub fn search(&self, q: &LogQuery) -> Result<LogSearchResult, StorageError> {
        let started = Instant::now();
        let sh = &self.shared;
        let user = sh.queries.parse(&q.query)?;
        // After the parse: a query that is refused does not make the indexer commit.
        self.read_fresh()?;
        let keep = if q.limit == 0 {
            0
        } else {
            q.limit.saturating_add(1)
        };
        let after = q.after.map(|c| rank(q.order, c.time_ms, c.seq));
        let bucket = q.histogram_bucket_ms.filter(|w| *w > 0);
        let mut parts = Vec::new();
        for p in sh.overlapping(q.start_ms, q.end_ms) {
            let searcher = p.reader.searcher();
            let query = sh.partition_query(user.as_deref(), &p, q.start_ms, q.end_ms);
            let p_end = p.start.saturating_add(sh.partition_len() - 1);
            let collector = SearchCollector {
                order: q.order,
                after,
                keep,
                histogram: bucket.map(|w| (w, q.start_ms.max(p.start), q.end_ms.min(p_end))),
                facets: q.facet_limit > 0,
            };
            let fruit = searcher
                .search(query.as_ref(), &collector)
                .map_err(index_err)?;
            parts.push((searcher, fruit));
        }
        // Tag each hit with its partition before merging.
        let mut top = Vec::new();
        let mut fruits = Vec::with_capacity(parts.len());
        for (i, (_, fruit)) in parts.iter_mut().enumerate() {
            top.extend(std::mem::take(&mut fruit.top).into_iter().map(|h| (h, i)));
            fruits.push(std::mem::take(fruit));
        }
        top.sort_unstable_by_key(|(h, _)| std::cmp::Reverse(h.0));
        top.truncate(keep);
        let more = top.len() > q.limit;
        top.truncate(q.limit);
        let merged: SearchFruit = collect::merge_search_fruits(fruits, 0);
        let mut hits = Vec::with_capacity(top.len());
        for ((_, _, seq, address), i) in &top {
            let record = sh.fetch(&parts[*i].0, *address)?;
            hits.push(LogHit { seq: *seq, record });
        }
        let next = if more {
            hits.last().map(|h| LogCursor {
                time_ms: h.record.time_ms,
                seq: h.seq,
            })
        } else {
            None
        };
        let mut histogram: Vec<(i64, u64)> = merged.histogram.into_iter().collect();
        histogram.sort_unstable();
        let mut facets = BTreeMap::new();
        if q.facet_limit > 0 {
            for (name, counts) in collect::FACETS.iter().zip(merged.facets) {
                let mut values: Vec<(String, u64)> = counts.into_iter().collect();
                values.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                values.truncate(q.facet_limit);
                facets.insert((*name).to_string(), values);
            }
        }
        sh.metrics
            .search_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(LogSearchResult {
            hits,
            total: merged.total,
            next,
            histogram,
            facets,
        })
    }

    /// Error groups (records with a fingerprint) in `[start_ms, end_ms]`, most frequent
    /// first (then most recently seen), at most `limit`.
    pub fn error_groups(
        &self,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<ErrorGroup>, StorageError> {
        let started = Instant::now();
        self.read_fresh()?;
        let sh = &self.shared;
        let has_fingerprint: Box<dyn Query> =
            Box::new(ExistsQuery::new(schema::FINGERPRINT.to_string(), false));
        let mut searchers = Vec::new();
        let mut groups: HashMap<String, (GroupPart, usize)> = HashMap::new();
        for p in sh.overlapping(start_ms, end_ms) {
            let searcher = p.reader.searcher();
            let query = sh.partition_query(Some(has_fingerprint.as_ref()), &p, start_ms, end_ms);
            let fruit = searcher
                .search(query.as_ref(), &GroupCollector)
                .map_err(index_err)?;
            let i = searchers.len();
            searchers.push(searcher);
            for (fp, part) in fruit {
                match groups.get_mut(&fp) {
                    Some((acc, at)) => {
                        if part.newest.0 > acc.newest.0 {
                            *at = i;
                        }
                        acc.merge(part);
                    }
                    None => {
                        groups.insert(fp, (part, i));
                    }
                }
            }
        }
        let mut groups: Vec<(String, (GroupPart, usize))> = groups.into_iter().collect();
        groups.sort_unstable_by(|a, b| {
            b.1.0
                .count
                .cmp(&a.1.0.count)
                .then_with(|| b.1.0.last_ms.cmp(&a.1.0.last_ms))
                .then_with(|| a.0.cmp(&b.0))
        });
        groups.truncate(limit);
        let mut out = Vec::with_capacity(groups.len());
        for (fingerprint, (part, i)) in groups {
            let (_, seq, address) = part.newest;
            let record = sh.fetch(&searchers[i], address)?;
            let mut services = part.services;
            services.sort_unstable();
            out.push(ErrorGroup {
                fingerprint,
                count: part.count,
                first_seen_ms: part.first_ms,
                last_seen_ms: part.last_ms,
                services,
                example: LogHit { seq, record },
            });
        }
        sh.metrics
            .search_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(out)
    }

    /// A live-tail subscription: every record committed (searchable) from now on. See
    /// [`LogSubscription`]; filter its records with [`LogStore::filter_hits`].
    pub fn subscribe(&self) -> LogSubscription {
        let subscription = self.shared.hub.subscribe();
        // A search-idle indexer waits for its long interval; with a subscriber it is not
        // idle any more, and this wakes it to commit (and publish) at once. Not waited for:
        // the subscription sees what is committed from now on either way.
        let (tx, _) = std::sync::mpsc::sync_channel(1);
        let _ = self.send(Job::Flush(tx));
        subscription
    }

    /// The hits among `hits` (committed records, e.g. from a [`LogSubscription`]) that match
    /// `query`, in their order: the same parser and index as [`LogStore::search`], run over
    /// just their time and sequence range.
    pub fn filter_hits(
        &self,
        query: &str,
        hits: Vec<Arc<LogHit>>,
    ) -> Result<Vec<Arc<LogHit>>, StorageError> {
        let sh = &self.shared;
        let Some(user) = sh.queries.parse(query)? else {
            return Ok(hits);
        };
        let (Some(min_t), Some(max_t), Some(min_s), Some(max_s)) = (
            hits.iter().map(|h| h.record.time_ms).min(),
            hits.iter().map(|h| h.record.time_ms).max(),
            hits.iter().map(|h| h.seq).min(),
            hits.iter().map(|h| h.seq).max(),
        ) else {
            return Ok(hits);
        };
        let seq_range: Box<dyn Query> = Box::new(RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_u64(sh.schema.seq, min_s)),
            std::ops::Bound::Included(Term::from_field_u64(sh.schema.seq, max_s)),
        ));
        let both: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, user),
            (Occur::Must, seq_range),
        ]));
        let mut matched = HashSet::new();
        for p in sh.overlapping(min_t, max_t) {
            let searcher = p.reader.searcher();
            let q = sh.partition_query(Some(both.as_ref()), &p, min_t, max_t);
            matched.extend(
                searcher
                    .search(q.as_ref(), &SeqCollector)
                    .map_err(index_err)?,
            );
        }
        Ok(hits
            .into_iter()
            .filter(|h| matched.contains(&h.seq))
            .collect())
    }

    /// Commits what has been appended so far and makes it searchable, without waiting for
    /// the next commit interval.
    pub fn flush(&self) -> Result<(), StorageError> {
        partition::ask(|tx| self.send(Job::Flush(tx)))
    }

    /// Notes a read; the first read after a search-idle spell commits first (see the module
    /// documentation). A closed store, or one whose index cannot be written now, is read as
    /// it was last committed.
    fn read_fresh(&self) -> Result<(), StorageError> {
        let now = now_ms();
        let last = self.shared.last_read_ms.swap(now, Ordering::Relaxed);
        if now.saturating_sub(last) < SEARCH_IDLE_AFTER_MS {
            return Ok(());
        }
        match self.flush() {
            Err(StorageError::ShuttingDown) => Ok(()),
            Err(e @ StorageError::Unavailable(_)) => {
                tracing::warn!(error = %e, "a log search reads what the index last committed");
                Ok(())
            }
            other => other,
        }
    }

    /// Deletes every partition that ends before `now_ms - retention`; returns how many.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        partition::ask(|tx| self.send(Job::Retention(now_ms, tx)))
    }

    fn send(&self, job: Job) -> Result<(), StorageError> {
        if self.closed.load(Ordering::SeqCst) || self.indexer.lock().is_none() {
            return Err(StorageError::ShuttingDown);
        }
        self.shared.queue.push(job, 0);
        Ok(())
    }

    /// Writes out what is queued, commits every partition, stops the indexer and closes the
    /// log; live-tail subscriptions end. Appends after this fail with
    /// [`StorageError::ShuttingDown`].
    pub fn close(&self) -> Result<(), StorageError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // Appends in flight finish and reach the queue before the log's thread stops.
        let log = self.wal.lock().take();
        if let Some(log) = &log {
            log.close();
        }
        self.shared.queue.push(Job::Stop, 0);
        if let Some(h) = self.indexer.lock().take() {
            h.join()
                .map_err(|_| StorageError::Index("the log indexer panicked".into()))?;
        }
        self.shared.hub.close();
        Ok(())
    }

    /// Bytes the store occupies on disk (indexes and write-ahead log).
    pub fn disk_usage(&self) -> Result<u64, StorageError> {
        crate::files::dir_size(&self.shared.dir)
    }

    /// Records committed (searchable) in all partitions.
    pub fn record_count(&self) -> u64 {
        self.shared.partitions.doc_count()
    }

    /// Number of time partitions.
    pub fn partition_count(&self) -> usize {
        self.shared.partitions.len()
    }

    pub fn metrics(&self) -> &LogMetrics {
        &self.shared.metrics
    }
}

impl LogWriter for LogStore {
    fn append_logs(&self, records: Vec<LogRecord>) -> Result<LogAppendOutcome, StorageError> {
        self.append_batch(records)
    }

    fn writable(&self) -> Result<(), StorageError> {
        self.shared.writable()
    }
}

impl Drop for LogStore {
    /// Without [`LogStore::close`]: stops the indexer without committing, as a crash would;
    /// the write-ahead log holds everything acknowledged and the next open replays it.
    fn drop(&mut self) {
        if let Some(h) = self.indexer.lock().take() {
            self.shared.queue.stop(|_| ());
            let _ = h.join();
        }
        if let Some(log) = self.wal.lock().take() {
            log.close();
        }
        self.shared.hub.close();
    }
}

/// `dir/RETENTION_FLOOR`: `<end ms> <seq>`: retention deleted every record with a sequence
/// number up to `seq` and a time before `end` (the end of the newest partition it deleted).
fn read_floor(dir: &Path) -> Result<Option<(i64, u64)>, StorageError> {
    let path = dir.join("RETENTION_FLOOR");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .split_once(' ')
            .and_then(|(t, q)| Some((t.parse().ok()?, q.trim().parse().ok()?)))
            .map(Some)
            .ok_or_else(|| StorageError::Corruption {
                path,
                detail: format!("bad retention floor {s:?}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

fn write_floor(dir: &Path, end_ms: i64, seq: u64) -> Result<(), StorageError> {
    crate::files::write_atomically(
        dir,
        "RETENTION_FLOOR",
        format!("{end_ms} {seq}\n").as_bytes(),
    )
}

fn check_format(dir: &Path) -> Result<(), StorageError> {
    let path = dir.join("FORMAT");
    match std::fs::read_to_string(&path) {
        Ok(s) if s == FORMAT => Ok(()),
        Ok(s) => Err(StorageError::Corruption {
            path,
            detail: format!("unknown log store format {s:?}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::files::write_atomically(dir, "FORMAT", FORMAT.as_bytes())
        }
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

// ------------------------------------------------------------------ indexer

/// The indexer's state while the index cannot be written.
struct Broken {
    /// When the next attempt to recover is due.
    retry_at: Instant,
    /// The wait before that attempt; doubled by each one that fails.
    delay: Duration,
}

/// What [`Indexer::reindex`] did.
#[derive(Default)]
struct Reindexed {
    /// Records added to the writers.
    records: u64,
    /// Records their partition had committed, or retention had deleted.
    skipped: u64,
    /// Torn records at a segment's end.
    torn: u64,
}

struct Indexer {
    shared: Arc<Shared>,
    wal: Option<Arc<Wal<Durable>>>,
    writers: Writers,
    /// Highest sequence number received (all lower ones received too).
    received: u64,
    /// Set while the index cannot be written (see [`Indexer::fail`]).
    broken: Option<Broken>,
    /// Highest sequence number committed everywhere.
    covered: u64,
    /// Records committed in the current round, for live tail.
    tail: Vec<Arc<LogHit>>,
    last_commit: Instant,
    last_rotate: Instant,
    last_retention: Instant,
    last_index_bytes: Instant,
}

impl Indexer {
    fn new(shared: Arc<Shared>) -> Indexer {
        let now = Instant::now();
        let writers = Writers::new(
            shared.config.writer_memory_bytes,
            Some(shared.backlog.clone()),
        );
        Indexer {
            shared,
            wal: None,
            writers,
            received: 0,
            broken: None,
            covered: 0,
            tail: Vec::new(),
            last_commit: now,
            last_rotate: now,
            // Due at the first tick: a restart with a shorter retention deletes at once.
            last_retention: now.checked_sub(RETENTION_INTERVAL).unwrap_or(now),
            last_index_bytes: now,
        }
    }

    /// Indexes the log's records that their partitions have not committed, commits them and
    /// returns the next sequence number.
    fn replay(&mut self, wal_dir: &Path) -> Result<u64, StorageError> {
        let max_committed = self.shared.partitions.committed().values().copied().max();
        let replayed = self.reindex(wal_dir, None)?;
        self.received = self.received.max(max_committed.unwrap_or(0));
        self.covered = self.received;
        if replayed.records > 0 {
            self.commit_round()?;
            tracing::info!(
                records = replayed.records,
                skipped = replayed.skipped,
                torn = replayed.torn,
                "replayed the log store's write-ahead log"
            );
        }
        let last_segment = wal::list_segments(wal_dir)?
            .last()
            .map_or(0, |(first, _)| *first);
        Ok((self.received + 1).max(last_segment).max(1))
    }

    /// Adds to the writers every record of the log up to `until` (all of it when `None`)
    /// that its partition has not committed, skipping records retention deleted or expired.
    /// Without `until` (at open), `received` becomes the log's last sequence number.
    fn reindex(&mut self, wal_dir: &Path, until: Option<u64>) -> Result<Reindexed, StorageError> {
        let committed = self.shared.partitions.committed();
        // Partitions retention deleted: the log must not bring their records back.
        let floor = read_floor(&self.shared.dir)?;
        let deleted = |seq: u64, time_ms: i64| floor.is_some_and(|(t, s)| seq <= s && time_ms < t);
        let cutoff = self.shared.retention_cutoff(now_ms());
        let mut bad = 0u64;
        let mut out = Reindexed::default();
        let mut error = None;
        let mut batch = |first_seq: u64, payload: &[u8]| {
            let Some(records) = codec::decode_batch(payload) else {
                bad += 1;
                return;
            };
            let n = records.len() as u64;
            for (i, encoded) in records.into_iter().enumerate() {
                let seq = first_seq + i as u64;
                let Some(record) = codec::decode_view(encoded) else {
                    bad += 1;
                    continue;
                };
                let p = self.shared.partition_of(record.time_ms);
                if committed.get(&p).is_some_and(|c| *c >= seq)
                    || cutoff.is_some_and(|c| record.time_ms < c)
                    || deleted(seq, record.time_ms)
                {
                    out.skipped += 1;
                    continue;
                }
                match self.add(seq, &record, encoded) {
                    Ok(()) => out.records += 1,
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
            if until.is_none() {
                self.received = self.received.max(first_seq + n.max(1) - 1);
            }
        };
        let stats = match until {
            None => wal::replay(wal_dir, 0, &mut batch)?,
            Some(until) => wal::replay_until(wal_dir, 0, until, &mut batch)?,
        };
        out.torn = stats.torn;
        if let Some(e) = error {
            return Err(e);
        }
        if bad > 0 {
            return Err(StorageError::Corruption {
                path: wal_dir.to_path_buf(),
                detail: format!("{bad} undecodable write-ahead log records"),
            });
        }
        Ok(out)
    }

    fn run(mut self) {
        loop {
            let interval = if self.shared.search_idle() {
                self.shared.config.commit_interval.max(IDLE_COMMIT_INTERVAL)
            } else {
                self.shared.config.commit_interval
            };
            let deadline = match &self.broken {
                Some(b) => b.retry_at,
                None => self.last_commit + interval,
            };
            match self.shared.queue.pop(deadline) {
                Popped::Abandon => return,
                Popped::Timeout => {}
                Popped::Job(Job::Batch { first_seq, batch }) => {
                    // Received even when not indexed now: recovery re-reads it from the log.
                    self.received = self.received.max(first_seq + batch.records.max(1) - 1);
                    if self.broken.is_none()
                        && let Err(e) = self.add_batch(first_seq, &batch.payload)
                    {
                        self.fail(&e);
                    }
                }
                Popped::Job(Job::Flush(reply)) => {
                    let _ = reply.send(self.commit_or_fail());
                    self.last_commit = Instant::now();
                }
                Popped::Job(Job::Retention(now, reply)) => {
                    let _ = reply.send(self.retention(now));
                }
                Popped::Job(Job::Stop) => {
                    match self.commit_or_fail() {
                        Ok(()) => self.seal_log(),
                        Err(e) => {
                            tracing::error!(error = %e, "final log commit failed; the log is replayed at the next start");
                        }
                    }
                    self.writers.clear();
                    self.update_index_bytes();
                    return;
                }
            }
            let backlog = !self.shared.queue.is_idle();
            self.shared.backlog.store(backlog, Ordering::Relaxed);
            let now = Instant::now();
            if let Some(b) = &self.broken {
                if now >= b.retry_at {
                    self.recover();
                    self.last_commit = Instant::now();
                }
                continue;
            }
            // A commit stops indexing until the partitions' segments are written (a quarter
            // of a second under full load). While a backlog remains, the records waiting
            // would not become searchable sooner by committing on time, so commits back off,
            // up to COMMIT_BACKOFF intervals; once caught up, the indexer commits at once.
            let due = now >= deadline
                && (!backlog || now >= self.last_commit + interval * COMMIT_BACKOFF);
            if due {
                // A failure is logged and recovered from by `fail`.
                let _ = self.commit_or_fail();
                self.last_commit = Instant::now();
                self.maintenance();
            }
        }
    }

    /// Commits (see [`Indexer::commit_round`]); a failure is handed to [`Indexer::fail`].
    /// While the index cannot be written there is nothing to commit: the answer says why.
    fn commit_or_fail(&mut self) -> Result<(), StorageError> {
        if self.broken.is_some() {
            return self.shared.writable();
        }
        let committed = self.commit_round();
        if let Err(e) = &committed {
            self.fail(e);
        }
        committed
    }

    /// After a write to the index failed (tantivy killed a writer whose thread hit an I/O
    /// error, a commit or a partition's creation failed: a full disk, say). A writer that
    /// failed has lost the documents it held, and one that has not may have lost some, so
    /// every writer is dropped with what it had not committed. Those records are in the
    /// write-ahead log: [`Indexer::recover`] adds them again, after a wait that doubles
    /// while recovering fails. Meanwhile appends are refused (callers keep the data and
    /// retry; nothing piles up in the log) and batches already received are only counted.
    /// tantivy itself never replaces a killed writer, and before this the indexer retried
    /// the dead one forever while appends waited for a queue that no longer drained.
    fn fail(&mut self, e: &StorageError) {
        let delay = self.broken.as_ref().map_or(RECOVERY_DELAY_FIRST, |b| {
            (b.delay * 2).min(RECOVERY_DELAY_MAX)
        });
        tracing::error!(error = %e, retry_in = ?delay, "could not write the log index; appends are refused until it recovers from the write-ahead log");
        self.writers.clear();
        self.tail.clear();
        self.broken = Some(Broken {
            retry_at: Instant::now() + delay,
            delay,
        });
        self.shared.metrics.index_failures.inc();
        *self.shared.write_failure.lock() = Some(e.to_string());
    }

    /// Adds every record received that its partition has not committed from the log again,
    /// and commits. On success appends are taken again; on failure see [`Indexer::fail`].
    fn recover(&mut self) {
        let wal_dir = self.shared.wal_dir();
        let recovered = self
            .reindex(&wal_dir, Some(self.received))
            .and_then(|reindexed| self.commit_round().map(|()| reindexed));
        match recovered {
            Ok(reindexed) => {
                self.broken = None;
                *self.shared.write_failure.lock() = None;
                tracing::info!(
                    records = reindexed.records,
                    "the log index is written again; acknowledged records were re-indexed from the write-ahead log"
                );
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Adds the records of a write-ahead log payload, numbered from `first_seq`. A payload
    /// that does not decode was made by this process: that is a bug, and it fails the index
    /// as a write would (its records stay in the log).
    fn add_batch(&mut self, first_seq: u64, payload: &[u8]) -> Result<(), StorageError> {
        let undecodable = |shared: &Shared| StorageError::Corruption {
            path: shared.wal_dir(),
            detail: format!("undecodable log records from sequence number {first_seq}"),
        };
        let Some(records) = codec::decode_batch(payload) else {
            return Err(undecodable(&self.shared));
        };
        for (i, encoded) in records.into_iter().enumerate() {
            let Some(record) = codec::decode_view(encoded) else {
                return Err(undecodable(&self.shared));
            };
            self.add(first_seq + i as u64, &record, encoded)?;
        }
        Ok(())
    }

    /// Adds a record (`encoded` decoded) to its partition's writer. A failure means the
    /// writers cannot be trusted with the records they hold (see [`Indexer::fail`]).
    fn add(
        &mut self,
        seq: u64,
        record: &codec::RecordView<'_>,
        encoded: &[u8],
    ) -> Result<(), StorageError> {
        let start = self.shared.partition_of(record.time_ms);
        let w = self.writers.get(&self.shared.partitions, start)?;
        let doc = self.shared.schema.document(seq, record, encoded);
        w.add(doc).map_err(index_err)?;
        if self.shared.hub.has_subscribers()
            && let Some(record) = record.to_record()
        {
            self.tail.push(Arc::new(LogHit { seq, record }));
        }
        Ok(())
    }

    /// Commits every partition with new documents, reloads their readers, publishes the
    /// round's records to live tail and deletes the log segments all committed.
    fn commit_round(&mut self) -> Result<(), StorageError> {
        let started = Instant::now();
        let mark = self.received;
        let round = self.writers.commit(&self.shared.partitions, mark);
        if !round.any {
            return Ok(());
        }
        self.shared.metrics.records_indexed.inc_by(round.docs);
        self.shared
            .metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        round.result?;
        self.covered = mark;
        self.shared.hub.publish(std::mem::take(&mut self.tail));
        if let Some(log) = &self.wal {
            if self.last_rotate.elapsed() >= WAL_ROTATE_INTERVAL {
                self.last_rotate = Instant::now();
                // Closed at shutdown: the last segment stays for the next start to skip.
                match log.rotate() {
                    Ok(_) | Err(StorageError::ShuttingDown) => {}
                    Err(e) => return Err(e),
                }
            }
            log.remove_before(self.covered.saturating_add(1))?;
        }
        Ok(())
    }

    /// After the last commit at shutdown (the log is closed: nothing more arrives): when
    /// every record the log holds is committed, only an empty segment named by the next
    /// sequence number stays. Without this, up to a rotation interval of records (a gigabyte
    /// under full load) stayed on disk until the next start.
    fn seal_log(&mut self) {
        if self.broken.is_some() || self.covered < self.received {
            return;
        }
        if let Some(log) = &self.wal
            && let Err(e) = log.seal(self.received + 1)
        {
            tracing::warn!(error = %e, "could not remove the log store's committed write-ahead log at shutdown; the next start skips it");
        }
    }

    /// Periodic work between commits: closing idle writers, retention, size metric.
    fn maintenance(&mut self) {
        self.writers.close_idle();
        if self.last_retention.elapsed() >= RETENTION_INTERVAL {
            self.last_retention = Instant::now();
            if let Err(e) = self.retention(now_ms()) {
                tracing::error!(error = %e, "log retention failed");
            }
        }
        if self.last_index_bytes.elapsed() >= INDEX_BYTES_INTERVAL {
            self.update_index_bytes();
        }
    }

    fn update_index_bytes(&mut self) {
        self.last_index_bytes = Instant::now();
        if let Ok(bytes) = crate::files::dir_size(self.shared.partitions.dir()) {
            self.shared.metrics.index_bytes.set(bytes as i64);
        }
    }

    fn retention(&mut self, now: i64) -> Result<usize, StorageError> {
        let Some(cutoff) = self.shared.retention_cutoff(now) else {
            return Ok(0);
        };
        let len = self.shared.partition_len();
        let expired: Vec<Arc<Partition>> = self
            .shared
            .partitions
            .all()
            .into_iter()
            .filter(|p| p.start.saturating_add(len) <= cutoff)
            .collect();
        for p in &expired {
            // Its uncommitted documents are expired too.
            self.writers.remove(p.start);
            self.shared.partitions.remove(p.start);
            std::fs::remove_dir_all(&p.dir).map_err(|e| StorageError::io(&p.dir, e))?;
            self.shared.metrics.retention_partitions_dropped.inc();
            tracing::info!(partition = p.start, "retention deleted a log partition");
        }
        if let Some(end) = expired.iter().map(|p| p.start.saturating_add(len)).max() {
            crate::files::sync_dir(self.shared.partitions.dir())?;
            // Every record received so far that belonged to them is gone with them.
            let floor = read_floor(&self.shared.dir)?.map_or(end, |(f, _)| f.max(end));
            write_floor(&self.shared.dir, floor, self.received)?;
            self.update_index_bytes();
        }
        Ok(expired.len())
    }
}

/// One tantivy index with the log store's schema, tokenizers, settings, record encoding and
/// writer, and nothing around it: no write-ahead log, queue, partitions or periodic commits.
/// It is the ceiling the store's indexing is measured against (`argus-bench
/// logs-bare-tantivy`).
pub struct BareLogIndex {
    schema: LogSchema,
    writer: IndexWriter,
    encoded: Vec<u8>,
    seq: u64,
}

impl BareLogIndex {
    /// Creates the index in `dir` with a writer of `threads` indexing threads and the
    /// store's default memory budget.
    pub fn create(dir: &Path, threads: usize) -> Result<BareLogIndex, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let schema = LogSchema::new();
        let index = Index::builder()
            .schema(schema.schema.clone())
            .settings(schema::index_settings())
            .tokenizers(schema::tokenizers())
            .create_in_dir(dir)
            .map_err(index_err)?;
        let memory = LogStoreConfig::new(dir).writer_memory_bytes;
        let writer = new_writer(&index, memory, Some(threads), None)?;
        Ok(BareLogIndex {
            schema,
            writer,
            encoded: Vec::with_capacity(1024),
            seq: 0,
        })
    }

    /// Encodes the record as the store stores it and adds its document.
    pub fn add(&mut self, record: &LogRecord) -> Result<(), StorageError> {
        self.encoded.clear();
        codec::encode_record(record, &mut self.encoded);
        self.seq += 1;
        // As the store's indexer does: the document is made from the decoded encoding.
        let view = codec::decode_view(&self.encoded)
            .ok_or_else(|| StorageError::Index("a log record's encoding does not decode".into()))?;
        let doc = self.schema.document(self.seq, &view, &self.encoded);
        self.writer.add_document(doc).map_err(index_err)?;
        Ok(())
    }

    pub fn commit(&mut self) -> Result<(), StorageError> {
        self.writer.commit().map_err(index_err)?;
        Ok(())
    }

    /// Waits for the merges the commits started.
    pub fn finish(self) -> Result<(), StorageError> {
        self.writer.wait_merging_threads().map_err(index_err)
    }
}
