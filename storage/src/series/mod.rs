//! The time-series store.
//!
//! Write path: [`SeriesStore::append`] resolves label sets to series ids (creating series in
//! the in-memory index), writes one record to our write-ahead log and waits for its group
//! commit, then adds the samples to the series' in-memory heads. A head is cut into a
//! compressed chunk (see `codec.rs`) when it is full or crosses a partition boundary; the
//! periodic checkpoint writes every head out, records the log position it covers and
//! deletes older log segments. Background compaction merges a series' small chunks inside a
//! partition; retention deletes whole partitions (a RocksDB key range).
//!
//! Read path: the head is read before RocksDB, and a run being written out stays visible in
//! the head until its RocksDB write returns, so a reader never misses samples in flight; it
//! may see them twice, and duplicates (same timestamp) are dropped on read.
//!
//! Metric metadata (type, help and unit per metric family, `metadata.rs`) is kept beside the
//! series: in memory for reads, in the `meta` column family for restarts.

mod api;
mod bits;
mod codec;
mod index;
mod keys;
mod metadata;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rocksdb::{
    ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};

use crate::varint::{self, get_uvarint, get_varint, put_uvarint, put_varint};
use crate::wal;
pub use api::{AppendOutcome, SeriesId, SeriesRef, SeriesStoreConfig, SeriesWriter, reject};
use index::Index;
use keys::{CF_CHUNKS, CF_META, CF_SERIES};
pub use metadata::{
    METADATA_ENTRIES_PER_FAMILY, METADATA_MAX_FAMILIES, METADATA_MAX_TEXT_BYTES, MetricMetadata,
    MetricType,
};

use crate::{Labels, Matcher, Sample, SeriesSamples, StorageError, StorageMetrics, now_ms};

/// Chunks that compaction produces hold at most this many samples.
const COMPACTED_CHUNK_SAMPLES: usize = 1024;
/// In the partition still being written, a series' chunks are merged once it has this many.
const OPEN_PARTITION_MERGE_AT: usize = 8;
/// Chunk sequence numbers one process may use; far more than it can write.
const CHUNK_SEQ_RESERVATION: u64 = 1 << 48;
const BACKGROUND_TICK: Duration = Duration::from_secs(1);
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// A series as the store holds it in memory.
pub(crate) struct MemSeries {
    pub(crate) id: SeriesId,
    pub(crate) labels: Arc<Labels>,
    head: Mutex<Head>,
}

struct Head {
    /// In-order samples not yet in a chunk; all in one partition.
    samples: Vec<Sample>,
    /// Out-of-order samples (inside the window) not yet in a chunk; any order.
    ooo: Vec<Sample>,
    /// Runs on their way to RocksDB, still visible to readers until written.
    in_flight: Vec<(u64, Arc<[Sample]>)>,
    /// Oldest and newest sample time ever accepted (`i64::MAX`/`i64::MIN` when none).
    min_t: i64,
    max_t: i64,
    /// The series row (labels, time range) needs writing at the next checkpoint.
    dirty: bool,
}

impl Head {
    fn new(min_t: i64, max_t: i64, dirty: bool) -> Self {
        Head {
            samples: Vec::new(),
            ooo: Vec::new(),
            in_flight: Vec::new(),
            min_t,
            max_t,
            dirty,
        }
    }

    fn buffered(&self) -> usize {
        self.samples.len() + self.ooo.len()
    }
}

/// A chunk as read from RocksDB: key and value.
type RawChunk = (Box<[u8]>, Box<[u8]>);

/// A run of samples of one series leaving a head for RocksDB.
struct Run {
    series: Arc<MemSeries>,
    token: u64,
    samples: Arc<[Sample]>,
}

pub struct SeriesStore {
    config: SeriesStoreConfig,
    db: DB,
    wal: Mutex<Option<Arc<wal::Wal>>>,
    wal_dir: PathBuf,
    index: RwLock<Index>,
    /// Appends hold it shared from their log write until their heads are updated; a
    /// checkpoint holds it exclusively to cut the log at a clean position.
    gate: RwLock<()>,
    next_id: AtomicU64,
    next_token: AtomicU64,
    /// Partition start → dirty (received chunks since its last compaction).
    partitions: Mutex<BTreeMap<i64, bool>>,
    compaction: Mutex<()>,
    metrics: StorageMetrics,
    /// Metric metadata (type, help, unit per family), persisted in `meta`.
    metadata: metadata::MetadataRegistry,
    closed: AtomicBool,
    background: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SeriesStore {
    /// Opens (or creates) the store in `config.dir`, replays the write-ahead log and starts
    /// the background checkpoint, compaction and retention thread.
    pub fn open(
        config: SeriesStoreConfig,
        registry: &prometheus::Registry,
    ) -> Result<Arc<SeriesStore>, StorageError> {
        let metrics = StorageMetrics::new(registry);
        let db_dir = config.dir.join("series");
        let wal_dir = config.dir.join("wal");
        std::fs::create_dir_all(&db_dir).map_err(|e| StorageError::io(&db_dir, e))?;

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(3);
        opts.set_log_level(rocksdb::LogLevel::Warn);
        opts.set_max_total_wal_size(128 << 20);
        let mut chunk_opts = Options::default();
        chunk_opts.set_compression_type(DBCompressionType::Lz4);
        chunk_opts.set_level_compaction_dynamic_level_bytes(true);
        chunk_opts.set_write_buffer_size(64 << 20);
        let mut small_opts = Options::default();
        small_opts.set_compression_type(DBCompressionType::Lz4);
        let cfs = vec![
            ColumnFamilyDescriptor::new(CF_SERIES, small_opts.clone()),
            ColumnFamilyDescriptor::new(CF_CHUNKS, chunk_opts),
            ColumnFamilyDescriptor::new(CF_META, small_opts),
        ];
        let db = DB::open_cf_descriptors(&opts, &db_dir, cfs)?;

        let store = SeriesStore {
            config,
            db,
            wal: Mutex::new(None),
            wal_dir,
            index: RwLock::new(Index::default()),
            gate: RwLock::new(()),
            next_id: AtomicU64::new(1),
            next_token: AtomicU64::new(0),
            partitions: Mutex::new(BTreeMap::new()),
            compaction: Mutex::new(()),
            metrics,
            metadata: metadata::MetadataRegistry::default(),
            closed: AtomicBool::new(false),
            background: Mutex::new(None),
        };
        store.check_format()?;
        store.reserve_chunk_sequences()?;
        store.load_series()?;
        store.load_partitions()?;
        store.metadata.load(&store.db, store.cf(CF_META)?)?;
        let replayed = store.replay()?;
        let store = Arc::new(store);
        if replayed > 0 {
            store.checkpoint()?;
        }
        store.start_background();
        Ok(store)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Corruption {
                path: self.config.dir.clone(),
                detail: format!("missing column family {name}"),
            })
    }

    fn check_format(&self) -> Result<(), StorageError> {
        let meta = self.cf(CF_META)?;
        match self.db.get_cf(meta, keys::META_FORMAT)? {
            None => self
                .db
                .put_cf(meta, keys::META_FORMAT, keys::FORMAT_VERSION)?,
            Some(v) if v == keys::FORMAT_VERSION => {}
            Some(v) => {
                return Err(StorageError::Corruption {
                    path: self.config.dir.clone(),
                    detail: format!(
                        "unknown series store format {:?}",
                        String::from_utf8_lossy(&v)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Chunk keys carry a sequence number so that two chunks of a series starting at the same
    /// millisecond never share a key. Sequences must not repeat across restarts (a repeat would
    /// overwrite a chunk), so each open starts past a floor persisted by the previous one.
    fn reserve_chunk_sequences(&self) -> Result<(), StorageError> {
        let meta = self.cf(CF_META)?;
        let floor = self
            .db
            .get_cf(meta, keys::META_CHUNK_SEQ_FLOOR)?
            .and_then(|v| {
                v.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
            })
            .unwrap_or(0);
        let start = floor.max(1);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(
            meta,
            keys::META_CHUNK_SEQ_FLOOR,
            start.saturating_add(CHUNK_SEQ_RESERVATION).to_le_bytes(),
            &wo,
        )?;
        self.next_token.store(start, Ordering::SeqCst);
        Ok(())
    }

    fn load_series(&self) -> Result<(), StorageError> {
        let cf = self.cf(CF_SERIES)?;
        let mut index = self.index.write();
        let mut max_id = 0;
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item?;
            let (id, row) = keys::series_id_of(&k)
                .zip(SeriesRow::decode(&v))
                .ok_or_else(|| StorageError::Corruption {
                    path: self.config.dir.clone(),
                    detail: "bad series row".into(),
                })?;
            max_id = max_id.max(id);
            index.insert(Arc::new(MemSeries {
                id,
                labels: Arc::new(row.labels),
                head: Mutex::new(Head::new(row.min_t, row.max_t, false)),
            }));
        }
        self.next_id.store(max_id + 1, Ordering::SeqCst);
        self.metrics.series.set(index.len() as i64);
        Ok(())
    }

    /// Finds the partitions present by skipping from one partition prefix to the next.
    fn load_partitions(&self) -> Result<(), StorageError> {
        let cf = self.cf(CF_CHUNKS)?;
        let mut parts = self.partitions.lock();
        let mut iter = self.db.raw_iterator_cf(cf);
        iter.seek_to_first();
        while let Some(k) = iter.key() {
            let Some(p) = keys::unflip(k) else { break };
            // Dirty: a crash may have left it uncompacted.
            parts.insert(p, true);
            match p.checked_add(1) {
                Some(next) => iter.seek(keys::flip(next)),
                None => break,
            }
        }
        iter.status()?;
        Ok(())
    }

    /// Replays the log above the last checkpoint into the heads. Two passes, because a record
    /// may use a series that a concurrent append created in a record logged after it.
    fn replay(&self) -> Result<u64, StorageError> {
        let from = self
            .db
            .get_cf(self.cf(CF_META)?, keys::META_WAL_CHECKPOINT)?
            .and_then(|v| {
                v.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
            })
            .unwrap_or(0);
        let corrupt = |detail: &str| StorageError::Corruption {
            path: self.wal_dir.clone(),
            detail: detail.into(),
        };
        let mut bad = 0u64;
        wal::replay(&self.wal_dir, from, |_, payload| {
            if self.replay_series(payload).is_none() {
                bad += 1;
            }
        })?;
        let mut outcome = AppendOutcome::default();
        let mut runs = Vec::new();
        let stats = wal::replay(&self.wal_dir, from, |_, payload| {
            if self
                .replay_samples(payload, &mut outcome, &mut runs)
                .is_none()
            {
                bad += 1;
            }
        })?;
        if bad > 0 {
            return Err(corrupt(&format!(
                "{bad} undecodable write-ahead log records"
            )));
        }
        self.write_runs(runs, false)?;
        let next_seq = stats.max_seq.map_or(from, |m| m + 1).max(from);
        *self.wal.lock() = Some(Arc::new(wal::Wal::open(
            &self.wal_dir,
            next_seq,
            self.metrics.wal(),
            None,
        )?));
        if stats.records > 0 {
            tracing::info!(
                records = stats.records,
                samples = outcome.samples_appended,
                torn = stats.torn,
                "replayed write-ahead log"
            );
        }
        Ok(stats.records)
    }

    fn replay_series(&self, mut payload: &[u8]) -> Option<()> {
        let n_new = get_uvarint(&mut payload)?;
        let mut index = self.index.write();
        for _ in 0..n_new {
            let id = get_uvarint(&mut payload)?;
            let labels = Labels::decode(varint::get_bytes(&mut payload)?)?;
            if index.by_id(id).is_none() {
                index.insert(Arc::new(MemSeries {
                    id,
                    labels: Arc::new(labels),
                    head: Mutex::new(Head::new(i64::MAX, i64::MIN, true)),
                }));
                self.next_id.fetch_max(id + 1, Ordering::SeqCst);
            }
        }
        self.metrics.series.set(index.len() as i64);
        Some(())
    }

    fn replay_samples(
        &self,
        mut payload: &[u8],
        outcome: &mut AppendOutcome,
        runs: &mut Vec<Run>,
    ) -> Option<()> {
        let n_new = get_uvarint(&mut payload)?;
        for _ in 0..n_new {
            get_uvarint(&mut payload)?;
            varint::get_bytes(&mut payload)?;
        }
        let entries = decode_entries(payload)?;
        let index = self.index.read();
        for (id, samples) in entries {
            let series = index.by_id(id)?.clone();
            self.apply(&series, &samples, outcome, runs);
        }
        Some(())
    }

    fn start_background(self: &Arc<Self>) {
        let (tx, rx) = channel::<()>();
        let weak = Arc::downgrade(self);
        let handle = std::thread::Builder::new()
            .name("argus-series-maintenance".into())
            .spawn(move || {
                let mut last_checkpoint = Instant::now();
                let mut last_maintenance = Instant::now();
                loop {
                    match rx.recv_timeout(BACKGROUND_TICK) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let Some(store) = weak.upgrade() else { return };
                    if last_checkpoint.elapsed() >= store.config.checkpoint_interval {
                        last_checkpoint = Instant::now();
                        if let Err(e) = store.checkpoint() {
                            tracing::error!(error = %e, "series checkpoint failed");
                        }
                    }
                    if last_maintenance.elapsed() >= MAINTENANCE_INTERVAL {
                        last_maintenance = Instant::now();
                        if let Err(e) = store.enforce_retention(now_ms()) {
                            tracing::error!(error = %e, "retention failed");
                        }
                        if let Err(e) = store.compact() {
                            tracing::error!(error = %e, "compaction failed");
                        }
                    }
                }
            });
        match handle {
            Ok(h) => *self.background.lock() = Some((tx, h)),
            Err(e) => tracing::error!(error = %e, "could not start the series maintenance thread"),
        }
    }

    fn partition_of(&self, t: i64) -> i64 {
        let p = duration_ms(self.config.partition_duration).max(1);
        t.div_euclid(p).saturating_mul(p)
    }

    // ------------------------------------------------------------------ write path

    /// The series of these labels, created (after validation) if it is new.
    fn resolve(
        &self,
        labels: Labels,
        created: &mut Vec<Arc<MemSeries>>,
    ) -> Result<Arc<MemSeries>, StorageError> {
        if let Some(s) = self.index.read().get(&labels) {
            return Ok(s.clone());
        }
        labels.validate()?;
        let mut index = self.index.write();
        if let Some(s) = index.get(&labels) {
            return Ok(s.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let series = Arc::new(MemSeries {
            id,
            labels: Arc::new(labels),
            head: Mutex::new(Head::new(i64::MAX, i64::MIN, true)),
        });
        index.insert(series.clone());
        self.metrics.series.set(index.len() as i64);
        self.metrics.series_created.inc();
        created.push(series.clone());
        Ok(series)
    }

    fn append_batch(&self, batch: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError> {
        let started = Instant::now();
        let _gate = self.gate.read();
        if self.closed.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        let mut outcome = AppendOutcome::default();
        let cutoff = self
            .config
            .retention
            .map(|r| now_ms().saturating_sub(duration_ms(r)));
        let mut created = Vec::new();
        let mut resolved: Vec<(Arc<MemSeries>, Vec<Sample>)> = Vec::with_capacity(batch.len());
        // Known series are found under one read lock for the whole batch; only new ones go
        // through `resolve` and its write lock.
        let mut new_series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        {
            let index = self.index.read();
            for SeriesSamples {
                labels,
                mut samples,
            } in batch
            {
                if let Some(cutoff) = cutoff {
                    samples.retain(|s| {
                        let keep = s.t >= cutoff;
                        if !keep {
                            outcome.reject(reject::OUTSIDE_RETENTION, || {
                                format!("sample of {labels} at {} ms is older than the retention period", s.t)
                            });
                        }
                        keep
                    });
                }
                if samples.is_empty() {
                    continue;
                }
                match index.get(&labels) {
                    Some(series) => resolved.push((series.clone(), samples)),
                    None => new_series.push((labels, samples)),
                }
            }
        }
        for (labels, samples) in new_series {
            match self.resolve(labels, &mut created) {
                Ok(series) => resolved.push((series, samples)),
                Err(e) => {
                    for _ in &samples {
                        outcome.reject(reject::INVALID_LABELS, || e.to_string());
                    }
                }
            }
        }
        if !resolved.is_empty() {
            let payload = encode_record(&created, &resolved);
            // Cloned out of the lock: concurrent appends must wait on the fsync together.
            let wal = self.wal.lock().clone().ok_or(StorageError::ShuttingDown)?;
            wal.append(payload, 1, ())?;
        }
        outcome.series_created = created.len() as u64;
        let mut runs = Vec::new();
        for (series, samples) in &resolved {
            self.apply(series, samples, &mut outcome, &mut runs);
        }
        self.write_runs(runs, false)?;
        self.metrics
            .samples_appended
            .inc_by(outcome.samples_appended);
        for (reason, n) in &outcome.rejected {
            self.metrics
                .samples_rejected
                .with_label_values(&[reason])
                .inc_by(*n);
        }
        self.metrics
            .append_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    /// Adds samples to a series' head; full heads become runs for RocksDB.
    fn apply(
        &self,
        series: &Arc<MemSeries>,
        samples: &[Sample],
        outcome: &mut AppendOutcome,
        runs: &mut Vec<Run>,
    ) {
        let ooo_window = duration_ms(self.config.out_of_order_window);
        let max_samples = self.config.max_head_samples.max(1);
        let mut head = series.head.lock();
        let before = head.buffered();
        for &s in samples {
            if head.max_t == i64::MIN || s.t > head.max_t {
                let cut = head
                    .samples
                    .first()
                    .is_some_and(|f| self.partition_of(f.t) != self.partition_of(s.t))
                    || head.samples.len() >= max_samples;
                if cut {
                    let taken = std::mem::take(&mut head.samples);
                    runs.push(self.start_run(series, &mut head, taken));
                }
                head.samples.push(s);
                head.max_t = s.t;
                head.min_t = head.min_t.min(s.t);
                head.dirty = true;
                outcome.samples_appended += 1;
            } else if head.samples.last().is_some_and(|l| l.t == s.t) {
                if head
                    .samples
                    .last()
                    .is_some_and(|l| l.v.to_bits() == s.v.to_bits())
                {
                    outcome.samples_appended += 1;
                } else {
                    outcome.reject(reject::DUPLICATE_TIMESTAMP, || {
                        format!("sample of {} at {} ms has a different value than the one already stored", series.labels, s.t)
                    });
                }
            } else if s.t < head.max_t.saturating_sub(ooo_window) {
                outcome.reject(reject::TOO_OLD, || {
                    format!(
                        "sample of {} at {} ms is older than the out-of-order window ({} ms before the newest sample at {} ms)",
                        series.labels, s.t, ooo_window, head.max_t
                    )
                });
            } else {
                head.ooo.push(s);
                if s.t < head.min_t {
                    head.min_t = s.t;
                    head.dirty = true;
                }
                outcome.samples_appended += 1;
                if head.ooo.len() >= max_samples {
                    let taken = std::mem::take(&mut head.ooo);
                    runs.push(self.start_run(series, &mut head, taken));
                }
            }
        }
        let after = head.buffered();
        self.metrics.head_samples.add(after as i64 - before as i64);
    }

    fn start_run(&self, series: &Arc<MemSeries>, head: &mut Head, samples: Vec<Sample>) -> Run {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        // Shared with the head's in-flight list: readers see the run until it is written.
        let samples: Arc<[Sample]> = samples.into();
        head.in_flight.push((token, samples.clone()));
        self.metrics.head_samples.sub(samples.len() as i64);
        Run {
            series: series.clone(),
            token,
            samples,
        }
    }

    /// Writes runs as chunks (split by partition, sorted, deduplicated), then drops them from
    /// the heads' in-flight lists.
    fn write_runs(&self, runs: Vec<Run>, sync: bool) -> Result<(), StorageError> {
        if runs.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_CHUNKS)?;
        let mut batch = WriteBatch::default();
        let mut touched = BTreeSet::new();
        let mut chunks = 0u64;
        for run in &runs {
            for (partition, part) in self.split_by_partition(&run.samples) {
                let first = part[0].t;
                let key = keys::chunk_key(
                    partition,
                    run.series.id,
                    first,
                    self.next_token.fetch_add(1, Ordering::Relaxed),
                );
                batch.put_cf(cf, key, encode_chunk_value(&part));
                touched.insert(partition);
                chunks += 1;
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo)?;
        self.metrics.chunks_written.inc_by(chunks);
        {
            let mut parts = self.partitions.lock();
            for p in touched {
                parts.insert(p, true);
            }
        }
        for run in runs {
            run.series
                .head
                .lock()
                .in_flight
                .retain(|(t, _)| *t != run.token);
        }
        Ok(())
    }

    fn split_by_partition(&self, samples: &[Sample]) -> Vec<(i64, Vec<Sample>)> {
        let mut samples = samples.to_vec();
        sort_dedup(&mut samples);
        let mut out: Vec<(i64, Vec<Sample>)> = Vec::new();
        for s in samples {
            let p = self.partition_of(s.t);
            match out.last_mut() {
                Some((lp, v)) if *lp == p && v.len() < COMPACTED_CHUNK_SAMPLES => v.push(s),
                _ => out.push((p, vec![s])),
            }
        }
        out
    }

    /// Writes every head out as chunks, persists the series rows that changed, records the
    /// log position this covers, and deletes the log segments below it.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let started = Instant::now();
        let (seq, runs, rows) = {
            let _gate = self.gate.write();
            let wal = self.wal.lock().clone().ok_or(StorageError::ShuttingDown)?;
            let seq = wal.rotate()?;
            let index = self.index.read();
            let mut runs = Vec::new();
            let mut rows = Vec::new();
            for series in index.all() {
                let mut head = series.head.lock();
                for taken in [
                    std::mem::take(&mut head.samples),
                    std::mem::take(&mut head.ooo),
                ] {
                    if !taken.is_empty() {
                        runs.push(self.start_run(series, &mut head, taken));
                    }
                }
                if head.dirty {
                    head.dirty = false;
                    rows.push((
                        series.id,
                        SeriesRow {
                            labels: (*series.labels).clone(),
                            min_t: head.min_t,
                            max_t: head.max_t,
                        },
                    ));
                }
            }
            (seq, runs, rows)
        };
        // Rows and the checkpoint mark go in one synced batch; a synced RocksDB write also
        // makes every earlier unsynced one durable, the chunks written above included.
        self.write_runs(runs, false)?;
        let mut batch = WriteBatch::default();
        let series_cf = self.cf(CF_SERIES)?;
        let mut buf = Vec::new();
        for (id, row) in &rows {
            buf.clear();
            row.encode(&mut buf);
            batch.put_cf(series_cf, keys::series_key(*id), &buf);
        }
        batch.put_cf(
            self.cf(CF_META)?,
            keys::META_WAL_CHECKPOINT,
            seq.to_le_bytes(),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        let wal = self.wal.lock().clone();
        if let Some(wal) = wal {
            wal.remove_before(seq)?;
        }
        self.metrics
            .checkpoint_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    // ------------------------------------------------------------------ read path

    /// Series matching all matchers with samples in `[mint, maxt]` (ms), sorted by labels.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesRef>, StorageError> {
        let found = self.index.read().select(matchers);
        let mut out: Vec<SeriesRef> = found
            .into_iter()
            .filter(|s| {
                let h = s.head.lock();
                h.min_t <= maxt && h.max_t >= mint
            })
            .map(|s| SeriesRef {
                id: s.id,
                labels: s.labels.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Samples of one series in `[mint, maxt]`, sorted by time, one per timestamp.
    pub fn samples(&self, id: SeriesId, mint: i64, maxt: i64) -> Result<Vec<Sample>, StorageError> {
        let Some(series) = self.index.read().by_id(id).cloned() else {
            return Ok(Vec::new());
        };
        let in_range = |s: &&Sample| s.t >= mint && s.t <= maxt;
        // The head first: a run leaving it is in RocksDB before it leaves `in_flight`.
        let mut out: Vec<Sample> = {
            let head = series.head.lock();
            if head.min_t > maxt || head.max_t < mint {
                return Ok(Vec::new());
            }
            head.samples
                .iter()
                .chain(head.ooo.iter())
                .chain(head.in_flight.iter().flat_map(|(_, v)| v.iter()))
                .filter(in_range)
                .copied()
                .collect()
        };
        let partitions: Vec<i64> = {
            let first = self.partition_of(mint);
            self.partitions
                .lock()
                .range(first..=maxt)
                .map(|(p, _)| *p)
                .collect()
        };
        let cf = self.cf(CF_CHUNKS)?;
        let mut decoded = Vec::new();
        for p in partitions {
            let prefix = keys::chunk_prefix(p, id);
            let mut ro = ReadOptions::default();
            ro.set_iterate_upper_bound(prefix_upper_bound(&prefix));
            for item in
                self.db
                    .iterator_cf_opt(cf, ro, IteratorMode::From(&prefix, Direction::Forward))
            {
                let (k, v) = item?;
                let Some(key) = keys::parse_chunk_key(&k) else {
                    break;
                };
                if key.min_t > maxt {
                    break;
                }
                let (max_t, body) =
                    decode_chunk_header(&v).ok_or_else(|| self.corrupt_chunk(&k))?;
                if max_t < mint {
                    continue;
                }
                decoded.clear();
                codec::decode(body, &mut decoded).ok_or_else(|| self.corrupt_chunk(&k))?;
                out.extend(decoded.iter().filter(in_range));
            }
        }
        sort_dedup(&mut out);
        Ok(out)
    }

    fn corrupt_chunk(&self, key: &[u8]) -> StorageError {
        StorageError::Corruption {
            path: self.config.dir.join("series"),
            detail: format!("undecodable chunk {key:02x?}"),
        }
    }

    /// Label names of the series matching `matchers` (all series if none) in the range.
    pub fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() && mint == i64::MIN && maxt == i64::MAX {
            return Ok(self.index.read().label_names());
        }
        let mut names = BTreeSet::new();
        for s in self.select(matchers, mint, maxt)? {
            names.extend(s.labels.iter().map(|l| l.name.clone()));
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` over the series matching `matchers` (all if none) in the range.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        if matchers.is_empty() && mint == i64::MIN && maxt == i64::MAX {
            return Ok(self.index.read().label_values(name));
        }
        let mut values = BTreeSet::new();
        for s in self.select(matchers, mint, maxt)? {
            if let Some(v) = s.labels.get(name) {
                values.insert(v.to_string());
            }
        }
        Ok(values.into_iter().collect())
    }

    /// Records metric metadata (see [`MetricMetadata`]). Entries already known cost an
    /// in-memory lookup; a new one is written to RocksDB (synced) before this returns.
    pub fn record_metadata(&self, metadata: &[MetricMetadata]) -> Result<(), StorageError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        self.metadata
            .record(metadata, &self.db, || self.cf(CF_META))
    }

    /// Metric metadata by family name: every family (or only `metric`), at most `limit`
    /// families (the first by name) and `limit_per_metric` entries each (newest first).
    pub fn metadata(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> BTreeMap<String, Vec<MetricMetadata>> {
        self.metadata.query(metric, limit, limit_per_metric)
    }

    pub fn series_count(&self) -> usize {
        self.index.read().len()
    }

    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
    }

    /// Bytes the store occupies on disk (RocksDB files and the write-ahead log).
    pub fn disk_usage(&self) -> Result<u64, StorageError> {
        crate::files::dir_size(&self.config.dir)
    }

    // ------------------------------------------------------------------ maintenance

    /// Merges each series' small chunks inside a partition into chunks of up to
    /// [`COMPACTED_CHUNK_SAMPLES`], dropping duplicates. A partition still open for writes is
    /// only touched where a series has piled up [`OPEN_PARTITION_MERGE_AT`] chunks, so recent
    /// data is not rewritten at every checkpoint.
    pub fn compact(&self) -> Result<u64, StorageError> {
        let _only_one = self.compaction.lock();
        let started = Instant::now();
        let now = now_ms();
        let part_len = duration_ms(self.config.partition_duration);
        let horizon = now.saturating_sub(duration_ms(self.config.out_of_order_window));
        let dirty: Vec<i64> = self
            .partitions
            .lock()
            .iter()
            .filter(|(_, d)| **d)
            .map(|(p, _)| *p)
            .collect();
        let cf = self.cf(CF_CHUNKS)?;
        let mut merged_away = 0u64;
        for p in dirty {
            let closed = p.saturating_add(part_len) <= horizon;
            // Cleared before reading, so chunks written meanwhile mark it dirty again.
            if closed {
                self.partitions.lock().insert(p, false);
            }
            let mut ro = ReadOptions::default();
            let start = keys::flip(p);
            ro.set_iterate_upper_bound(prefix_upper_bound(&start));
            let mut group: Vec<RawChunk> = Vec::new();
            let mut group_series = None;
            let before = merged_away;
            for item in
                self.db
                    .iterator_cf_opt(cf, ro, IteratorMode::From(&start, Direction::Forward))
            {
                let (k, v) = item?;
                let Some(key) = keys::parse_chunk_key(&k) else {
                    continue;
                };
                if group_series != Some(key.series) {
                    merged_away += self.merge_group(p, std::mem::take(&mut group), closed)?;
                    group_series = Some(key.series);
                }
                group.push((k, v));
            }
            merged_away += self.merge_group(p, group, closed)?;
            if closed && merged_away > before {
                // Reclaim the replaced chunks' space now rather than whenever RocksDB gets to it.
                self.db.compact_range_cf(
                    cf,
                    Some(&start[..]),
                    Some(&prefix_upper_bound(&start)[..]),
                );
            }
        }
        self.metrics.compacted_chunks.inc_by(merged_away);
        self.metrics
            .compaction_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(merged_away)
    }

    fn merge_group(
        &self,
        partition: i64,
        group: Vec<RawChunk>,
        closed: bool,
    ) -> Result<u64, StorageError> {
        let small = group
            .iter()
            .filter(|(_, v)| chunk_len_hint(v) < COMPACTED_CHUNK_SAMPLES)
            .count();
        let worth_it = if closed {
            small >= 2 || (small >= 1 && group.len() >= 2)
        } else {
            small >= OPEN_PARTITION_MERGE_AT
        };
        if group.len() < 2 || !worth_it {
            return Ok(0);
        }
        let mut samples = Vec::new();
        let mut series = None;
        for (k, v) in &group {
            let (_, body) = decode_chunk_header(v).ok_or_else(|| self.corrupt_chunk(k))?;
            codec::decode(body, &mut samples).ok_or_else(|| self.corrupt_chunk(k))?;
            series = keys::parse_chunk_key(k).map(|c| c.series);
        }
        let Some(series) = series else { return Ok(0) };
        sort_dedup(&mut samples);
        let cf = self.cf(CF_CHUNKS)?;
        let mut batch = WriteBatch::default();
        for (k, _) in &group {
            batch.delete_cf(cf, k);
        }
        let mut written = 0u64;
        for part in samples.chunks(COMPACTED_CHUNK_SAMPLES) {
            let key = keys::chunk_key(
                partition,
                series,
                part[0].t,
                self.next_token.fetch_add(1, Ordering::Relaxed),
            );
            batch.put_cf(cf, key, encode_chunk_value(part));
            written += 1;
        }
        self.db.write(batch)?;
        Ok((group.len() as u64).saturating_sub(written))
    }

    /// Deletes every partition that ended before `now - retention`, and forgets series with
    /// no sample left. Returns the number of partitions dropped.
    pub fn enforce_retention(&self, now: i64) -> Result<usize, StorageError> {
        let Some(retention) = self.config.retention else {
            return Ok(0);
        };
        let cutoff = now.saturating_sub(duration_ms(retention));
        let part_len = duration_ms(self.config.partition_duration);
        let expired: Vec<i64> = self
            .partitions
            .lock()
            .keys()
            .copied()
            .filter(|p| p.saturating_add(part_len) <= cutoff)
            .collect();
        let cf = self.cf(CF_CHUNKS)?;
        for &p in &expired {
            let (from, to) = (keys::flip(p).to_vec(), prefix_upper_bound(&keys::flip(p)));
            self.db.delete_file_in_range_cf(cf, &from, &to)?;
            self.db.delete_range_cf(cf, &from, &to)?;
            self.partitions.lock().remove(&p);
            self.metrics.retention_partitions_dropped.inc();
            tracing::info!(partition_start_ms = p, "retention dropped a partition");
        }
        let gone: Vec<SeriesId> = {
            let _gate = self.gate.write();
            let mut index = self.index.write();
            let gone: Vec<SeriesId> = index
                .all()
                .filter(|s| {
                    let h = s.head.lock();
                    h.max_t != i64::MIN
                        && h.max_t < cutoff
                        && h.buffered() == 0
                        && h.in_flight.is_empty()
                })
                .map(|s| s.id)
                .collect();
            for id in &gone {
                index.remove(*id);
            }
            self.metrics.series.set(index.len() as i64);
            gone
        };
        if !gone.is_empty() {
            let scf = self.cf(CF_SERIES)?;
            let mut batch = WriteBatch::default();
            for id in &gone {
                batch.delete_cf(scf, keys::series_key(*id));
            }
            self.db.write(batch)?;
            tracing::info!(
                series = gone.len(),
                "retention forgot series with no samples left"
            );
        }
        Ok(expired.len())
    }

    /// Stops background work, writes every head out and closes the log. Appends after this
    /// fail with [`StorageError::ShuttingDown`].
    pub fn close(&self) -> Result<(), StorageError> {
        if let Some((tx, handle)) = self.background.lock().take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
        {
            let _gate = self.gate.write();
            if self.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
        }
        self.checkpoint()?;
        if let Some(wal) = self.wal.lock().take() {
            wal.close();
        }
        self.compact()?;
        // Every column family, so that no memtable pins RocksDB's own log files on disk.
        for name in [CF_CHUNKS, CF_SERIES, CF_META] {
            self.db.flush_cf(self.cf(name)?)?;
        }
        self.db.flush()?;
        Ok(())
    }
}

impl SeriesWriter for SeriesStore {
    fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError> {
        self.append_batch(batch)
    }

    fn record_metadata(&self, metadata: &[MetricMetadata]) -> Result<(), StorageError> {
        SeriesStore::record_metadata(self, metadata)
    }
}

impl Drop for SeriesStore {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.background.lock().take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
    }
}

/// The series table's row: time range first (it changes), labels after.
struct SeriesRow {
    labels: Labels,
    min_t: i64,
    max_t: i64,
}

impl SeriesRow {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.min_t);
        put_varint(out, self.max_t);
        self.labels.encode(out);
    }

    fn decode(mut buf: &[u8]) -> Option<SeriesRow> {
        let min_t = get_varint(&mut buf)?;
        let max_t = get_varint(&mut buf)?;
        Some(SeriesRow {
            labels: Labels::decode(buf)?,
            min_t,
            max_t,
        })
    }
}

/// Log record: new series (id, labels), then per series its samples (time deltas, raw bits).
fn encode_record(created: &[Arc<MemSeries>], entries: &[(Arc<MemSeries>, Vec<Sample>)]) -> Vec<u8> {
    let samples: usize = entries.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(samples * 11 + entries.len() * 4 + created.len() * 64 + 8);
    put_uvarint(&mut out, created.len() as u64);
    let mut labels = Vec::new();
    for s in created {
        put_uvarint(&mut out, s.id);
        labels.clear();
        s.labels.encode(&mut labels);
        varint::put_bytes(&mut out, &labels);
    }
    put_uvarint(&mut out, entries.len() as u64);
    for (series, samples) in entries {
        put_uvarint(&mut out, series.id);
        put_uvarint(&mut out, samples.len() as u64);
        let mut prev = 0i64;
        for s in samples {
            put_varint(&mut out, s.t.wrapping_sub(prev));
            prev = s.t;
            out.extend_from_slice(&s.v.to_bits().to_le_bytes());
        }
    }
    out
}

fn decode_entries(mut buf: &[u8]) -> Option<Vec<(SeriesId, Vec<Sample>)>> {
    let n = get_uvarint(&mut buf)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let id = get_uvarint(&mut buf)?;
        let count = get_uvarint(&mut buf)?;
        if count > buf.len() as u64 {
            return None;
        }
        let mut samples = Vec::with_capacity(count as usize);
        let mut prev = 0i64;
        for _ in 0..count {
            prev = prev.wrapping_add(get_varint(&mut buf)?);
            let v = f64::from_bits(varint::get_u64_le(&mut buf)?);
            samples.push(Sample { t: prev, v });
        }
        out.push((id, samples));
    }
    Some(out)
}

/// Chunk value: `[uvarint last - first time][uvarint sample count][codec bytes]`, so range
/// checks and compaction decisions need no decoding.
fn encode_chunk_value(samples: &[Sample]) -> Vec<u8> {
    let body = codec::encode(samples);
    let mut out = Vec::with_capacity(body.len() + 8);
    let span = samples.last().map_or(0, |l| l.t.wrapping_sub(samples[0].t));
    put_uvarint(&mut out, span as u64);
    put_uvarint(&mut out, samples.len() as u64);
    out.extend_from_slice(&body);
    out
}

/// (max time, codec bytes) of a chunk value. The min time is the codec's first timestamp.
fn decode_chunk_header(v: &[u8]) -> Option<(i64, &[u8])> {
    let mut buf = v;
    let span = get_uvarint(&mut buf)? as i64;
    get_uvarint(&mut buf)?;
    Some((codec::first_time(buf)?.wrapping_add(span), buf))
}

fn chunk_len_hint(v: &[u8]) -> usize {
    let mut buf = v;
    let _ = get_uvarint(&mut buf);
    get_uvarint(&mut buf).map_or(0, |n| n as usize)
}

fn sort_dedup(samples: &mut Vec<Sample>) {
    samples.sort_by_key(|s| s.t);
    samples.dedup_by_key(|s| s.t);
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_upper_bound(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}
