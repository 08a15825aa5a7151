//! The trace store: spans grouped by trace in RocksDB, one column family per time partition,
//! and a tantivy search index per partition.
//!
//! Write path: [`TraceStore::append_spans`] refuses spans with a zero trace or span id, older
//! than the retention period or with attributes nested too deeply (`reject`), encodes the
//! rest (`codec.rs`) under keys `trace id · start · span id` in the column family of their
//! partition (`p<start ms>`, created on first use; partitions by span start), builds each
//! span's search document, takes the next sequence number from the index queue (waiting
//! while the queue is over its byte budget) and writes ONE RocksDB batch with `sync`: the
//! spans, a `pending/<seq>` row naming their keys, and any new service/operation rows. RocksDB
//! groups concurrent synced writers into one log write and one fsync. When the write returns
//! the spans are durable and readable by id; the documents then go to the indexer's queue,
//! which hands batches out strictly in sequence order (`queue.rs`).
//!
//! The indexer thread owns the partitions' `IndexWriter`s: it adds each batch's documents to
//! the index of their partition (`index/<start ms>/`, created on demand) and every
//! `commit_interval` commits every partition that received documents, each commit carrying
//! the highest sequence number handed to the indexer so far as its payload, reloads the
//! readers (spans become searchable) and deletes the `pending` rows up to that number. The
//! partition indexes, their writers and the commit round are `crate::partition`'s, shared
//! with the log store; what is the trace store's own (RocksDB, the pending rows, rebuilding
//! an index from its column family) is here and in `indexer.rs`.
//!
//! Recovery: RocksDB replays its own log (the spans and pending rows of every acknowledged
//! append). Each partition's committed sequence number is its last commit's payload; every
//! `pending` row left is replayed, skipping the spans whose partition has committed the row's
//! number, so nothing acknowledged is missing from search and nothing is indexed twice. A
//! partition whose index is missing (a crash before its first commit, or a deleted
//! directory) is rebuilt from its column family instead.
//!
//! Read path: a trace is one prefix seek per partition (a 16-byte prefix extractor with bloom
//! filters makes partitions without the trace cost no I/O). A search runs on the partitions
//! overlapping its time range, newest first, with one collector pass (`collect.rs`) keeping
//! the newest `limit` distinct traces, and stops as soon as older partitions cannot change
//! the answer. Services and operations are in memory (`catalog.rs`).
//!
//! Retention: every minute (and [`TraceStore::enforce_retention`]) the partitions whose end is
//! before `now − retention` are deleted whole: their column family dropped, their index
//! directory removed, the catalog entries seen only there forgotten.
//!
//! Why RocksDB's log rather than ours (`crate::wal`): a span must be readable by id the
//! moment its append returns, so it goes into RocksDB before the acknowledgement either way.
//! Logging it in our log too would write every span twice before the acknowledgement, and
//! our log could only be truncated after RocksDB flushed its memtables. RocksDB's write path
//! already does group commit: concurrent synced writers join one write group, one log write
//! and one fsync. What our log gave the log store, a replay source for the search index, is
//! here the `pending` rows, written in the same atomic batch as the spans.

mod api;
mod catalog;
mod codec;
mod collect;
mod indexer;
mod queue;
mod schema;

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, Cache, ColumnFamilyDescriptor, DBCompressionType,
    DBWithThreadMode, MultiThreaded, Options, ReadOptions, SliceTransform, WriteBatch,
    WriteOptions,
};
use tantivy::Term;
use tantivy::query::{Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TokenizerManager;

pub use api::{
    AttrValue, KeyValue, Operation, Span, SpanAppendOutcome, SpanEvent, SpanId, SpanKind, SpanLink,
    SpanOrigin, StatusCode, TraceId, TraceMatch, TraceQuery, TraceReader, TraceStoreConfig,
    TraceWriter, hex, parse_hex_id,
};

use crate::metrics::TraceMetrics;
use crate::partition::{self, IndexSpec, Partition, Partitions, duration_ms, index_err};
use crate::{StorageError, now_ms};
use catalog::Catalog;
use codec::{KEY_LEN, MAX_DEPTH, OriginCache, PREFIX_LEN, SpanKey};
use collect::{TopTraces, TraceHits};
use queue::{IndexQueue, Job};
use schema::TraceSchema;

type Db = DBWithThreadMode<MultiThreaded>;

const FORMAT_VERSION: &[u8] = b"1";
const CF_META: &str = "meta";
const CF_PENDING: &str = "pending";
const META_FORMAT: &[u8] = b"format_version";
const META_PARTITION_MS: &[u8] = b"partition_ms";
/// Documents of durable spans waiting for the indexer, in (estimated) bytes, before appends
/// wait.
const MAX_QUEUE_BYTES: usize = 64 << 20;
/// How long an append waits for room in the index queue before it gives up with
/// [`StorageError::Overloaded`]: well inside the 10 s OTLP exporters wait for an answer, so
/// they see a retryable refusal rather than a timeout.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Estimated bytes of a span's search document beyond its encoded size.
const DOC_OVERHEAD: usize = 128;
const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// Larger blocks compress better (spans of one service repeat their attribute keys and
/// resource): measured on realistic spans (727 bytes encoded), 185 bytes per span on disk
/// with 16 KiB blocks, 156 with 64 KiB, for 38 µs against 52 µs per trace lookup (p50).
const BLOCK_BYTES: usize = 64 << 10;

/// Reasons a span is refused, as counted in `argus_storage_traces_spans_rejected_total` and
/// reported in [`SpanAppendOutcome::rejected`].
pub mod reject {
    /// The trace id is all zeros.
    pub const INVALID_TRACE_ID: &str = "invalid_trace_id";
    /// The span id is all zeros.
    pub const INVALID_SPAN_ID: &str = "invalid_span_id";
    /// The span started before `now − retention` (or in a partition retention deleted).
    pub const OUTSIDE_RETENTION: &str = "outside_retention";
    /// An attribute value nests arrays or maps more than 32 levels deep.
    pub const TOO_DEEP: &str = "attribute_too_deep";
    /// The span starts more than a day after now: a broken clock, which would otherwise
    /// create partitions that retention does not reach for years.
    pub const FUTURE: &str = "too_far_in_future";
}

/// Spans may start up to this long after now (clock skew).
const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// The trace store. See the module documentation.
pub struct TraceStore {
    shared: Arc<Shared>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    /// Appends hold it shared from their check of `closed` until their batch is queued, so
    /// `close`, holding it exclusively, knows no append is in flight.
    gate: RwLock<()>,
    closed: AtomicBool,
}

/// What the indexer thread and the store's callers share.
struct Shared {
    config: TraceStoreConfig,
    /// The partition length in ms, fixed when the store was created.
    partition_ms: i64,
    dir: PathBuf,
    db: Db,
    cf_options: Options,
    sync_write: WriteOptions,
    schema: TraceSchema,
    /// Partitions with a span column family.
    cfs: RwLock<BTreeSet<i64>>,
    /// Held while creating or dropping a column family.
    cf_change: Mutex<()>,
    /// The partitions' search indexes in `index/`.
    indexes: Partitions,
    /// Retention deleted every partition starting before this (`i64::MIN`: none yet).
    dropped_below: AtomicI64,
    catalog: Catalog,
    queue: Arc<IndexQueue>,
    metrics: TraceMetrics,
}

fn ns_to_ms(ns: u64) -> i64 {
    // u64::MAX ns is about 1.8e13 ms: always fits.
    (ns / 1_000_000) as i64
}

fn cf_name(partition: i64) -> String {
    format!("p{partition}")
}

fn partition_of_cf(name: &str) -> Option<i64> {
    name.strip_prefix('p')?.parse().ok()
}

fn db_options() -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_max_background_jobs(2);
    o.set_keep_log_file_num(3);
    o.set_log_level(rocksdb::LogLevel::Warn);
    // Several column families share RocksDB's log: past this size the ones holding the
    // oldest log file are flushed so it can go.
    o.set_max_total_wal_size(256 << 20);
    // All memtables together, whatever the number of partitions written.
    o.set_db_write_buffer_size(256 << 20);
    o.set_enable_pipelined_write(true);
    o
}

/// Options of a partition's column family: a 16-byte (trace id) prefix extractor with bloom
/// filters on prefixes, so a lookup in a partition without the trace reads no block.
fn partition_options(cache: &Cache) -> Options {
    let mut t = BlockBasedOptions::default();
    t.set_block_size(BLOCK_BYTES);
    t.set_block_cache(cache);
    t.set_bloom_filter(10.0, false);
    t.set_whole_key_filtering(false);
    let mut o = Options::default();
    o.set_block_based_table_factory(&t);
    o.set_prefix_extractor(SliceTransform::create_fixed_prefix(PREFIX_LEN));
    o.set_memtable_prefix_bloom_ratio(0.1);
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_write_buffer_size(64 << 20);
    o.set_level_compaction_dynamic_level_bytes(true);
    o
}

fn small_options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_write_buffer_size(8 << 20);
    o
}

impl Shared {
    fn partition_of_ms(&self, ms: i64) -> i64 {
        partition::start_of(ms, self.partition_ms)
    }

    fn partition_of_key(&self, key: &[u8]) -> Option<i64> {
        let (_, start, _) = codec::parse_key(key)?;
        Some(self.partition_of_ms(ns_to_ms(start)))
    }

    fn retention_cutoff(&self, now: i64) -> Option<i64> {
        partition::retention_cutoff(self.config.retention, now)
    }

    fn cf(&self, name: &str) -> Result<Arc<BoundColumnFamily<'_>>, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Corruption {
                path: self.dir.join("spans"),
                detail: format!("missing column family {name}"),
            })
    }

    /// The column family of `partition`, created unless it exists. `None` when retention
    /// has deleted the partition meanwhile.
    fn partition_cf(
        &self,
        partition: i64,
    ) -> Result<Option<Arc<BoundColumnFamily<'_>>>, StorageError> {
        let name = cf_name(partition);
        if !self.cfs.read().contains(&partition) {
            let _change = self.cf_change.lock();
            if partition < self.dropped_below.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if !self.cfs.read().contains(&partition) {
                self.db.create_cf(&name, &self.cf_options)?;
                let mut cfs = self.cfs.write();
                cfs.insert(partition);
                self.metrics.partitions.set(cfs.len() as i64);
            }
        }
        Ok(self.db.cf_handle(&name))
    }

    /// The conditions of `q` other than time, as index clauses.
    fn clauses(&self, q: &TraceQuery) -> Vec<Box<dyn Query>> {
        let s = &self.schema;
        let term =
            |t: Term| -> Box<dyn Query> { Box::new(TermQuery::new(t, IndexRecordOption::Basic)) };
        let mut out = Vec::new();
        if let Some(service) = &q.service {
            out.push(term(Term::from_field_text(s.service, service)));
        }
        if let Some(op) = &q.operation {
            out.push(term(Term::from_field_text(s.operation, op)));
        }
        if let Some(kind) = q.span_kind {
            out.push(term(Term::from_field_u64(
                s.kind,
                u64::from(codec::kind_number(kind)),
            )));
        }
        if let Some(status) = q.status {
            out.push(term(Term::from_field_u64(
                s.status,
                u64::from(codec::status_number(status)),
            )));
        }
        for (k, v) in &q.tags {
            out.push(term(s.tag_query_term(k, v)));
        }
        if q.min_duration_nanos.is_some() || q.max_duration_nanos.is_some() {
            let bound = |v: Option<u64>| match v {
                Some(v) => Bound::Included(Term::from_field_u64(s.duration, v)),
                None => Bound::Unbounded,
            };
            out.push(Box::new(RangeQuery::new(
                bound(q.min_duration_nanos),
                bound(q.max_duration_nanos),
            )));
        }
        out
    }

    /// The query for one partition: the conditions AND the time range, the range left out
    /// when the partition lies inside it.
    fn partition_query(
        &self,
        clauses: &[Box<dyn Query>],
        start: i64,
        q: &TraceQuery,
    ) -> Box<dyn Query> {
        let from_ns = i128::from(start) * 1_000_000;
        let to_ns = (i128::from(start) + i128::from(self.partition_ms)) * 1_000_000 - 1;
        let mut all: Vec<Box<dyn Query>> = clauses.iter().map(|c| c.box_clone()).collect();
        if i128::from(q.start_unix_nano) > from_ns || i128::from(q.end_unix_nano) < to_ns {
            all.push(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(self.schema.start, q.start_unix_nano)),
                Bound::Included(Term::from_field_u64(self.schema.start, q.end_unix_nano)),
            )));
        }
        partition::all_of(all)
    }
}

/// A span accepted into an append, with its index in the batch, its partition and key.
struct Accepted {
    index: usize,
    span: Span,
    partition: i64,
    key: SpanKey,
}

impl TraceStore {
    /// Opens (or creates) the store in `config.dir`: opens RocksDB (which replays its log),
    /// the partitions' indexes, re-indexes what they had not committed, and starts the
    /// indexer.
    pub fn open(
        config: TraceStoreConfig,
        registry: &prometheus::Registry,
    ) -> Result<Arc<TraceStore>, StorageError> {
        let metrics = TraceMetrics::new(registry);
        let dir = config.dir.clone();
        let db_dir = dir.join("spans");
        for d in [&dir, &db_dir, &dir.join("index")] {
            std::fs::create_dir_all(d).map_err(|e| StorageError::io(d, e))?;
        }
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cf_options = partition_options(&cache);
        let db_opts = db_options();
        let existing = if db_dir.join("CURRENT").exists() {
            Db::list_cf(&db_opts, &db_dir)?
        } else {
            Vec::new()
        };
        let mut descriptors = vec![
            ColumnFamilyDescriptor::new(CF_META, small_options()),
            ColumnFamilyDescriptor::new(CF_PENDING, small_options()),
        ];
        let mut partitions = BTreeSet::new();
        for name in &existing {
            if let Some(p) = partition_of_cf(name) {
                partitions.insert(p);
                descriptors.push(ColumnFamilyDescriptor::new(name, cf_options.clone()));
            } else if ![CF_META, CF_PENDING, rocksdb::DEFAULT_COLUMN_FAMILY_NAME]
                .contains(&name.as_str())
            {
                // RocksDB opens a database only with all its column families named.
                tracing::warn!(column_family = %name, "unknown column family in the trace store");
                descriptors.push(ColumnFamilyDescriptor::new(name, Options::default()));
            }
        }
        let db = Db::open_cf_descriptors(&db_opts, &db_dir, descriptors)?;
        let partition_ms = check_meta(&db, &db_dir, duration_ms(config.partition))?;
        let catalog = Catalog::default();
        load_catalog(&db, &catalog)?;
        // Rows of partitions retention dropped just before a crash (partitions go oldest
        // first, so an entry whose newest partition is gone has no span left).
        let stale = catalog.forget(|p| !partitions.contains(&p));
        if !stale.is_empty()
            && let Some(meta) = db.cf_handle(CF_META)
        {
            let mut batch = WriteBatch::default();
            for k in stale {
                batch.delete_cf(&meta, k);
            }
            db.write(batch)?;
        }
        let schema = TraceSchema::new();
        let spec = IndexSpec {
            store: "trace",
            payload_key: "seq",
            schema: schema.schema.clone(),
            settings: schema::index_settings(),
            tokenizers: TokenizerManager::default(),
            doc_cache_blocks: None,
        };
        // The partition gauge counts column families, so the indexes keep none.
        let indexes = Partitions::new(spec, dir.join("index"), "argus-trace-search-", None)?;
        let mut sync_write = WriteOptions::default();
        sync_write.set_sync(true);
        // A write racing with retention into a partition just dropped is dropped with it.
        sync_write.set_ignore_missing_column_families(true);
        metrics.partitions.set(partitions.len() as i64);
        let shared = Arc::new(Shared {
            queue: Arc::new(IndexQueue::new(1, MAX_QUEUE_BYTES, metrics.clone())),
            partition_ms,
            dir,
            db,
            cf_options,
            sync_write,
            schema,
            cfs: RwLock::new(partitions),
            cf_change: Mutex::new(()),
            indexes,
            dropped_below: AtomicI64::new(i64::MIN),
            catalog,
            metrics,
            config,
        });
        let mut indexer = indexer::Indexer::new(shared.clone());
        indexer.load_indexes()?;
        let next_seq = indexer.recover()?;
        shared.queue.start_at(next_seq);
        indexer.update_disk_bytes();
        let indexer_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("argus-trace-indexer".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(move || indexer.run());
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!(
                        "the trace indexer panicked; new spans stay pending until the next start"
                    );
                    indexer_shared.queue.stop();
                }
            })
            .map_err(|e| StorageError::io(&shared.dir, e))?;
        Ok(Arc::new(TraceStore {
            shared,
            indexer: Mutex::new(Some(handle)),
            gate: RwLock::new(()),
            closed: AtomicBool::new(false),
        }))
    }

    fn append(&self, spans: Vec<Span>) -> Result<SpanAppendOutcome, StorageError> {
        let started = Instant::now();
        let _gate = self.gate.read();
        if self.closed.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        let sh = &self.shared;
        let m = &sh.metrics;
        let mut outcome = SpanAppendOutcome::default();
        let now = now_ms();
        let cutoff = sh.retention_cutoff(now);
        let latest_ms = now.saturating_add(MAX_FUTURE_MS);
        let dropped_below = sh.dropped_below.load(Ordering::SeqCst);
        let mut accepted = Vec::with_capacity(spans.len());
        for (i, span) in spans.into_iter().enumerate() {
            let start_ms = ns_to_ms(span.start_unix_nano);
            let partition = sh.partition_of_ms(start_ms);
            let refused = if span.trace_id == [0; 16] {
                Some((
                    reject::INVALID_TRACE_ID,
                    "the trace id is all zeros".to_string(),
                ))
            } else if span.span_id == [0; 8] {
                Some((
                    reject::INVALID_SPAN_ID,
                    "the span id is all zeros".to_string(),
                ))
            } else if cutoff.is_some_and(|c| start_ms < c) || partition < dropped_below {
                Some((
                    reject::OUTSIDE_RETENTION,
                    format!(
                        "span starting at {} ns is older than the retention period",
                        span.start_unix_nano
                    ),
                ))
            } else if start_ms > latest_ms {
                Some((
                    reject::FUTURE,
                    format!(
                        "span starting at {} ns is more than a day in the future",
                        span.start_unix_nano
                    ),
                ))
            } else if codec::nesting_depth(&span) > MAX_DEPTH {
                Some((
                    reject::TOO_DEEP,
                    format!("an attribute nests arrays or maps more than {MAX_DEPTH} levels deep"),
                ))
            } else {
                None
            };
            match refused {
                Some((reason, message)) => {
                    m.spans_rejected.with_label_values(&[reason]).inc();
                    outcome.rejected.push((i, message));
                }
                None => {
                    let key = codec::span_key(&span.trace_id, span.start_unix_nano, &span.span_id);
                    accepted.push(Accepted {
                        index: i,
                        span,
                        partition,
                        key,
                    });
                }
            }
        }
        if accepted.is_empty() {
            return Ok(outcome);
        }
        let mut cfs: HashMap<i64, Option<Arc<BoundColumnFamily<'_>>>> = HashMap::new();
        for a in &accepted {
            if let std::collections::hash_map::Entry::Vacant(e) = cfs.entry(a.partition) {
                e.insert(sh.partition_cf(a.partition)?);
            }
        }
        let mut batch = WriteBatch::default();
        let mut docs = Vec::with_capacity(accepted.len());
        let mut value = Vec::with_capacity(1024);
        let mut tag = String::new();
        let mut bytes = 0usize;
        let mut written = 0u64;
        let mut keys = Vec::with_capacity(accepted.len());
        let mut kept = Vec::with_capacity(accepted.len());
        for a in &accepted {
            let Some(Some(cf)) = cfs.get(&a.partition) else {
                // Retention deleted the partition since the check above.
                m.spans_rejected
                    .with_label_values(&[reject::OUTSIDE_RETENTION])
                    .inc();
                outcome.rejected.push((
                    a.index,
                    "the span's partition was just deleted by retention".to_string(),
                ));
                continue;
            };
            value.clear();
            codec::encode_value(&a.span, &mut value);
            batch.put_cf(cf, a.key, &value);
            bytes += value.len();
            written += 1;
            keys.push(a.key);
            docs.push((a.partition, sh.schema.document(&a.span, &mut tag)));
            kept.push((&a.span, a.partition));
        }
        if written == 0 {
            outcome.rejected.sort_unstable_by_key(|(i, _)| *i);
            return Ok(outcome);
        }
        let (entries, capped) = sh.catalog.changes(kept.into_iter());
        if capped > 0 {
            m.catalog_capped.inc_by(capped);
        }
        let meta = sh.cf(CF_META)?;
        for e in &entries {
            batch.put_cf(&meta, e.key(), e.value());
        }
        let pending = sh.cf(CF_PENDING)?;
        let ticket = sh.queue.reserve(MAX_QUEUE_WAIT)?;
        batch.put_cf(
            &pending,
            ticket.seq().to_be_bytes(),
            codec::encode_pending(keys.iter()),
        );
        // On an error the ticket is dropped: the queue learns the number carries nothing.
        sh.db.write_opt(batch, &sh.sync_write)?;
        sh.catalog.apply(entries);
        let doc_bytes = bytes + docs.len() * DOC_OVERHEAD;
        ticket.send(docs, doc_bytes);
        outcome.rejected.sort_unstable_by_key(|(i, _)| *i);
        outcome.accepted = written;
        m.spans_appended.inc_by(written);
        m.bytes_appended.inc_by(bytes as u64);
        m.append_seconds.observe(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    /// Commits what has been appended so far and makes it searchable, without waiting for
    /// the next commit interval.
    pub fn flush(&self) -> Result<(), StorageError> {
        partition::ask(|tx| self.send(Job::Flush(tx)))
    }

    /// Deletes every partition that ends before `now_ms - retention`; returns how many.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        partition::ask(|tx| self.send(Job::Retention(now_ms, tx)))
    }

    fn send(&self, job: Job) -> Result<(), StorageError> {
        if self.closed.load(Ordering::SeqCst) || self.indexer.lock().is_none() {
            return Err(StorageError::ShuttingDown);
        }
        self.shared.queue.push(job);
        Ok(())
    }

    /// Waits for appends in flight, indexes and commits everything queued and stops the
    /// indexer. Appends after this fail with [`StorageError::ShuttingDown`]; reads go on
    /// working until the store is dropped. Idempotent; dropping the store without it is what
    /// a crash does (nothing acknowledged is lost: the next open re-indexes).
    pub fn close(&self) -> Result<(), StorageError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // Appends in flight finish and queue their batches before the indexer stops.
        drop(self.gate.write());
        self.shared.queue.push(Job::Stop);
        if let Some(h) = self.indexer.lock().take() {
            h.join()
                .map_err(|_| StorageError::Index("the trace indexer panicked".into()))?;
        }
        // The pending rows' deletions were written without sync.
        self.shared.db.flush_wal(true)?;
        Ok(())
    }

    /// Bytes the store occupies on disk (spans, indexes and RocksDB's log).
    pub fn disk_usage(&self) -> Result<u64, StorageError> {
        crate::files::dir_size(&self.shared.dir)
    }

    /// Spans committed to the search indexes (searchable), all partitions together. A span
    /// appended twice (a client's retry) counts twice here, and is stored once.
    pub fn span_count(&self) -> u64 {
        self.shared.indexes.doc_count()
    }

    /// Number of time partitions.
    pub fn partition_count(&self) -> usize {
        self.shared.cfs.read().len()
    }

    pub fn metrics(&self) -> &TraceMetrics {
        &self.shared.metrics
    }

    fn lookup(&self, trace_id: &TraceId) -> Result<Vec<Span>, StorageError> {
        let started = Instant::now();
        let sh = &self.shared;
        let partitions: Vec<i64> = sh.cfs.read().iter().copied().collect();
        let mut spans = Vec::new();
        let mut origins = OriginCache::default();
        let mut bad = 0u64;
        for p in partitions {
            // Gone: retention dropped it since the list was taken.
            let Some(cf) = sh.db.cf_handle(&cf_name(p)) else {
                continue;
            };
            let mut ro = ReadOptions::default();
            ro.set_prefix_same_as_start(true);
            let mut it = sh.db.raw_iterator_cf_opt(&cf, ro);
            it.seek(trace_id);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k.len() != KEY_LEN || !k.starts_with(trace_id) {
                    break;
                }
                match codec::decode_span(k, v, &mut origins) {
                    Some(span) => spans.push(span),
                    None => bad += 1,
                }
                it.next();
            }
            it.status()?;
        }
        if bad > 0 {
            tracing::warn!(trace_id = %hex(trace_id), spans = bad, "undecodable spans skipped");
        }
        // Partitions are by start time, so this is in order already unless the partition
        // length changed; sorting a sorted run is linear.
        spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
        sh.metrics
            .lookup_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(spans)
    }

    fn search(&self, q: &TraceQuery) -> Result<Vec<TraceMatch>, StorageError> {
        let started = Instant::now();
        let sh = &self.shared;
        let empty = q.limit == 0
            || q.start_unix_nano > q.end_unix_nano
            || q.min_duration_nanos
                .zip(q.max_duration_nanos)
                .is_some_and(|(lo, hi)| lo > hi);
        if empty {
            return Ok(Vec::new());
        }
        let clauses = sh.clauses(q);
        let first = sh.partition_of_ms(ns_to_ms(q.start_unix_nano));
        let last = ns_to_ms(q.end_unix_nano);
        let partitions: Vec<Arc<Partition>> = sh.indexes.range(first, last);
        let collector = TopTraces { limit: q.limit };
        let mut parts: Vec<TraceHits> = Vec::new();
        let mut found = std::collections::HashSet::new();
        // Newest first: once `limit` traces are found, an older partition (all of whose spans
        // start before any found) cannot change the answer.
        for p in partitions.iter().rev() {
            if found.len() >= q.limit {
                break;
            }
            let query = sh.partition_query(&clauses, p.start, q);
            let searcher = p.reader.searcher();
            let candidates = searcher
                .search(query.as_ref(), &collector)
                .map_err(index_err)?;
            let hits = collect::resolve(&searcher, candidates, q.limit).map_err(index_err)?;
            found.extend(hits.iter().map(|(id, _)| *id));
            parts.push(hits);
        }
        let out = collect::merge(parts, q.limit)
            .into_iter()
            .map(|(trace_id, latest_start_unix_nano)| TraceMatch {
                trace_id,
                latest_start_unix_nano,
            })
            .collect();
        sh.metrics
            .search_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(out)
    }
}

/// Checks the format version and returns the partition length the store was created with
/// (a different configured one is ignored with a warning: existing partitions are fixed).
fn check_meta(db: &Db, path: &std::path::Path, configured_ms: i64) -> Result<i64, StorageError> {
    let meta = db
        .cf_handle(CF_META)
        .ok_or_else(|| StorageError::Corruption {
            path: path.to_path_buf(),
            detail: format!("missing column family {CF_META}"),
        })?;
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    match db.get_cf(&meta, META_FORMAT)? {
        None => db.put_cf_opt(&meta, META_FORMAT, FORMAT_VERSION, &sync)?,
        Some(v) if v == FORMAT_VERSION => {}
        Some(v) => {
            return Err(StorageError::Corruption {
                path: path.to_path_buf(),
                detail: format!(
                    "unknown trace store format {:?}",
                    String::from_utf8_lossy(&v)
                ),
            });
        }
    }
    match db.get_cf(&meta, META_PARTITION_MS)? {
        None => {
            db.put_cf_opt(&meta, META_PARTITION_MS, configured_ms.to_be_bytes(), &sync)?;
            Ok(configured_ms)
        }
        Some(v) => {
            let stored = <[u8; 8]>::try_from(v.as_slice())
                .map(i64::from_be_bytes)
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| StorageError::Corruption {
                    path: path.to_path_buf(),
                    detail: "bad partition length".into(),
                })?;
            if stored != configured_ms {
                tracing::warn!(
                    stored_ms = stored,
                    configured_ms,
                    "the trace store keeps the partition length it was created with"
                );
            }
            Ok(stored)
        }
    }
}

fn load_catalog(db: &Db, catalog: &Catalog) -> Result<(), StorageError> {
    let Some(meta) = db.cf_handle(CF_META) else {
        return Ok(());
    };
    let prefix = codec::catalog_prefix();
    let mut entries = Vec::new();
    let mut it = db.raw_iterator_cf(&meta);
    it.seek(prefix);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(&prefix) {
            break;
        }
        let partition = <[u8; 8]>::try_from(v).map(i64::from_be_bytes).ok();
        match (codec::parse_catalog_key(k), partition) {
            (Some((service, kind, name)), Some(partition)) => entries.push(catalog::Entry {
                service,
                kind,
                name,
                partition,
            }),
            _ => tracing::warn!("undecodable trace catalog row skipped"),
        }
        it.next();
    }
    it.status()?;
    catalog.apply(entries);
    Ok(())
}

impl TraceWriter for TraceStore {
    fn append_spans(&self, spans: Vec<Span>) -> Result<SpanAppendOutcome, StorageError> {
        self.append(spans)
    }
}

impl TraceReader for TraceStore {
    fn trace(&self, trace_id: &TraceId) -> Result<Vec<Span>, StorageError> {
        self.lookup(trace_id)
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TraceMatch>, StorageError> {
        self.search(query)
    }

    fn services(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.shared.catalog.services())
    }

    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        Ok(self.shared.catalog.operations(service, kind))
    }
}

impl Drop for TraceStore {
    /// Without [`TraceStore::close`]: stops the indexer without committing, as a crash
    /// would; the pending rows hold everything acknowledged and the next open re-indexes it.
    fn drop(&mut self) {
        if let Some(h) = self.indexer.lock().take() {
            self.shared.queue.stop();
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000_000_000;

    fn span(trace: u8, id: u8, start: u64) -> Span {
        Span {
            trace_id: [trace; 16],
            span_id: [id; 8],
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            service: "svc".into(),
            name: "op".into(),
            kind: SpanKind::Server,
            start_unix_nano: start,
            end_unix_nano: start + 1,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            attributes: vec![],
            events: vec![],
            links: vec![],
            origin: Arc::new(SpanOrigin::default()),
        }
    }

    fn open(dir: &std::path::Path) -> Arc<TraceStore> {
        let mut c = TraceStoreConfig::new(dir);
        c.retention = None;
        c.commit_interval = Duration::from_secs(3600);
        c.writer_memory_bytes = 16 << 20;
        TraceStore::open(c, &prometheus::Registry::new()).unwrap()
    }

    fn found(store: &TraceStore) -> usize {
        let q = TraceQuery {
            start_unix_nano: 0,
            end_unix_nano: u64::MAX,
            limit: 1000,
            ..TraceQuery::default()
        };
        store.find_traces(&q).unwrap().len()
    }

    /// A crash between an index commit and the deletion of the pending rows it covers (the
    /// deletion is not synced) leaves rows the payload already covers: they are skipped.
    #[test]
    fn pending_rows_a_commit_covers_are_not_indexed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let first: Vec<Span> = (1..=10).map(|i| span(1, i, T0 + u64::from(i))).collect();
        store.append_spans(first.clone()).unwrap();
        store.flush().unwrap();
        // Put back the row the commit deleted, as if its deletion never reached the disk.
        let keys: Vec<SpanKey> = first
            .iter()
            .map(|s| codec::span_key(&s.trace_id, s.start_unix_nano, &s.span_id))
            .collect();
        let sh = &store.shared;
        let pending = sh.cf(CF_PENDING).unwrap();
        let mut it = sh.db.raw_iterator_cf(&pending);
        it.seek_to_first();
        assert!(it.key().is_none(), "the commit deleted its pending row");
        drop(it);
        sh.db
            .put_cf(
                &pending,
                1u64.to_be_bytes(),
                codec::encode_pending(keys.iter()),
            )
            .unwrap();
        drop(pending);
        // And a batch the index never committed.
        store.append_spans(vec![span(2, 1, T0)]).unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.span_count(), 11);
        assert_eq!(found(&store), 2);
        store.close().unwrap();
    }

    #[test]
    fn a_partition_whose_index_is_missing_is_rebuilt_from_its_spans() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store
            .append_spans((1..=20).map(|i| span(i, 1, T0)).collect())
            .unwrap();
        store.close().unwrap();
        drop(store);
        let index = dir.path().join("index");
        for entry in std::fs::read_dir(&index).unwrap() {
            std::fs::remove_dir_all(entry.unwrap().path()).unwrap();
        }
        let store = open(dir.path());
        assert_eq!(store.span_count(), 20);
        assert_eq!(found(&store), 20);
        // Rebuilt once: a restart does not add them again.
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.span_count(), 20);
        store.close().unwrap();
    }
}
