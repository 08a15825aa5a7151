//! The indexer thread: adds durable spans' documents to their partition's index, commits
//! every `commit_interval` with the sequence number it covers, deletes the pending rows that
//! commit covers, recovers at open, and runs retention. The writers and the commit round
//! itself are `crate::partition`'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rocksdb::{IteratorMode, ReadOptions, WriteBatch};

use super::codec::{self, OriginCache};
use super::queue::{Doc, Job, Popped};
use super::{CF_PENDING, Shared, cf_name};
use crate::partition::{self, Partition, Writers};
use crate::{StorageError, now_ms};

const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
const DISK_BYTES_INTERVAL: Duration = Duration::from_secs(10);

pub(super) struct Indexer {
    shared: Arc<Shared>,
    writers: Writers,
    /// Highest sequence number received (all lower ones received too).
    received: u64,
    /// Documents that could not be added (an I/O error creating their partition's index,
    /// say): retried each round; commits claim nothing at or above the oldest of them.
    failed: BTreeMap<u64, Vec<Doc>>,
    /// The oldest batch with a document a failed writer lost: no commit claims it until the
    /// next start re-indexes it.
    lost: Option<u64>,
    /// Highest sequence number committed everywhere; pending rows up to it are deleted.
    covered: u64,
    last_commit: Instant,
    last_retention: Instant,
    last_disk_bytes: Instant,
}

impl Indexer {
    pub(super) fn new(shared: Arc<Shared>) -> Indexer {
        let now = Instant::now();
        let writers = Writers::new(shared.config.writer_memory_bytes, None);
        Indexer {
            shared,
            writers,
            received: 0,
            failed: BTreeMap::new(),
            lost: None,
            covered: 0,
            last_commit: now,
            // Due at the first tick: a restart with a shorter retention deletes at once.
            last_retention: now.checked_sub(RETENTION_INTERVAL).unwrap_or(now),
            last_disk_bytes: now,
        }
    }

    /// Opens the partitions' indexes. Directories without an index (a creation cut short)
    /// or without a column family (retention cut short) are removed.
    pub(super) fn load_indexes(&mut self) -> Result<(), StorageError> {
        let cfs = self.shared.cfs.read().clone();
        self.shared.indexes.load(|start| cfs.contains(&start))
    }

    /// Re-indexes what the indexes have not committed and returns the next sequence number:
    /// partitions without an index are rebuilt from their column family, and the pending
    /// rows are replayed, skipping spans whose partition committed the row.
    pub(super) fn recover(&mut self) -> Result<u64, StorageError> {
        let sh = self.shared.clone();
        let mut committed: HashMap<i64, u64> = sh.indexes.committed();
        let max_committed = committed.values().copied().max().unwrap_or(0);
        let cutoff = sh.retention_cutoff(now_ms());
        let expired = |p: i64| cutoff.is_some_and(|c| p.saturating_add(sh.partition_ms) <= c);
        let cfs: Vec<i64> = sh.cfs.read().iter().copied().collect();
        let mut rebuilt = 0u64;
        for p in cfs {
            if committed.contains_key(&p) || expired(p) {
                continue;
            }
            rebuilt += self.rebuild(p)?;
            // Everything in the column family is in the writer now: no pending row applies.
            committed.insert(p, u64::MAX);
        }
        let pending = sh.cf(CF_PENDING)?;
        let mut max_seq = 0u64;
        let mut replayed = 0u64;
        let mut skipped = 0u64;
        let mut bad = 0u64;
        let mut tag = String::new();
        for item in sh.db.iterator_cf(&pending, IteratorMode::Start) {
            let (k, v) = item?;
            let (Some(seq), Some(keys)) = (
                <[u8; 8]>::try_from(&*k).ok().map(u64::from_be_bytes),
                codec::decode_pending(&v),
            ) else {
                bad += 1;
                continue;
            };
            max_seq = max_seq.max(seq);
            let mut docs = Vec::new();
            let mut origins = OriginCache::default();
            for key in keys {
                let Some(p) = sh.partition_of_key(&key) else {
                    continue;
                };
                if committed.get(&p).is_some_and(|c| *c >= seq) || expired(p) {
                    skipped += 1;
                    continue;
                }
                // Gone with its partition (retention), or never existed.
                let Some(cf) = sh.db.cf_handle(&cf_name(p)) else {
                    skipped += 1;
                    continue;
                };
                let Some(value) = sh.db.get_pinned_cf(&cf, key)? else {
                    skipped += 1;
                    continue;
                };
                match codec::decode_span(&key, &value, &mut origins) {
                    Some(span) => {
                        docs.push((p, sh.schema.document(&span, &mut tag)));
                        replayed += 1;
                    }
                    None => bad += 1,
                }
            }
            if !docs.is_empty() {
                self.add(seq, docs);
            }
        }
        if bad > 0 {
            tracing::warn!(
                rows = bad,
                "undecodable pending trace rows or spans skipped"
            );
        }
        self.received = max_seq.max(max_committed);
        if replayed > 0 || rebuilt > 0 {
            self.commit_round()?;
            tracing::info!(
                spans = replayed,
                rebuilt,
                skipped,
                "re-indexed spans the trace indexes had not committed"
            );
        } else {
            self.covered = self.received;
            self.delete_pending()?;
        }
        Ok(self.received.saturating_add(1).max(1))
    }

    /// Indexes every span of partition `p` (its index is missing).
    fn rebuild(&mut self, p: i64) -> Result<u64, StorageError> {
        let sh = self.shared.clone();
        let Some(cf) = sh.db.cf_handle(&cf_name(p)) else {
            return Ok(0);
        };
        let mut n = 0u64;
        let mut docs = Vec::new();
        let mut origins = OriginCache::default();
        let mut tag = String::new();
        // A whole-range scan: the prefix extractor must not cut it at the first trace.
        let mut ro = ReadOptions::default();
        ro.set_total_order_seek(true);
        for item in sh.db.iterator_cf_opt(&cf, ro, IteratorMode::Start) {
            let (k, v) = item?;
            if let Some(span) = codec::decode_span(&k, &v, &mut origins) {
                docs.push((p, sh.schema.document(&span, &mut tag)));
                n += 1;
            }
            if docs.len() >= 4096 {
                self.add(0, std::mem::take(&mut docs));
            }
        }
        if !docs.is_empty() {
            self.add(0, docs);
        }
        if n > 0 {
            tracing::warn!(
                partition = p,
                spans = n,
                "rebuilt a trace index from its spans"
            );
        }
        Ok(n)
    }

    pub(super) fn run(mut self) {
        loop {
            let deadline = self.last_commit + self.shared.config.commit_interval;
            match self.shared.queue.pop(deadline) {
                Popped::Abandon => return,
                Popped::Timeout => {}
                Popped::Job(Job::Batch { seq, docs }) => {
                    self.add(seq, docs);
                    self.received = self.received.max(seq);
                }
                Popped::Job(Job::Flush(reply)) => {
                    let _ = reply.send(self.commit_round());
                    self.last_commit = Instant::now();
                }
                Popped::Job(Job::Retention(now, reply)) => {
                    let _ = reply.send(self.retention(now));
                }
                Popped::Job(Job::Stop) => {
                    if let Err(e) = self.commit_round() {
                        tracing::error!(error = %e, "final trace index commit failed; the pending spans are re-indexed at the next start");
                    }
                    self.writers.clear();
                    self.update_disk_bytes();
                    return;
                }
            }
            if Instant::now() >= deadline {
                if let Err(e) = self.commit_round() {
                    tracing::error!(error = %e, "trace index commit failed");
                }
                self.last_commit = Instant::now();
                self.maintenance();
            }
        }
    }

    /// Adds a batch's documents to their partitions' writers. Documents whose partition's
    /// index cannot be opened are kept for the next round; documents of partitions retention
    /// deleted are dropped.
    fn add(&mut self, seq: u64, docs: Vec<Doc>) {
        let dropped_below = self.shared.dropped_below.load(Ordering::SeqCst);
        for (p, doc) in docs {
            if p < dropped_below {
                continue;
            }
            let w = match self.writers.get(&self.shared.indexes, p) {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(error = %e, seq, partition = p, "could not open a trace index; will retry");
                    self.failed.entry(seq).or_default().push((p, doc));
                    continue;
                }
            };
            if let Err(e) = w.add(doc) {
                // Only a writer whose threads died refuses a document, and it took the
                // document with it: the span stays pending, no commit claims it, and the
                // next start re-indexes it.
                tracing::error!(error = %e, seq, partition = p, "a trace index writer failed");
                self.lost = Some(self.lost.map_or(seq, |l| l.min(seq)));
                self.writers.remove(p);
            }
        }
    }

    /// Commits every partition with new documents, reloads their readers and deletes the
    /// pending rows all committed.
    fn commit_round(&mut self) -> Result<(), StorageError> {
        let started = Instant::now();
        for (seq, docs) in std::mem::take(&mut self.failed) {
            self.add(seq, docs);
        }
        // A batch a failed writer lost is missing too.
        let oldest_missing = self
            .failed
            .keys()
            .next()
            .copied()
            .into_iter()
            .chain(self.lost)
            .min();
        let mark = partition::commit_mark(oldest_missing, self.received);
        let round = self.writers.commit(&self.shared.indexes, mark);
        if round.any {
            self.shared.metrics.spans_indexed.inc_by(round.docs);
            self.shared
                .metrics
                .commit_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        round.result?;
        if mark > self.covered {
            self.covered = mark;
            self.delete_pending()?;
        }
        Ok(())
    }

    /// Deletes the pending rows up to `covered`. Not synced: a row that comes back after a
    /// crash is skipped by the commit payloads.
    fn delete_pending(&self) -> Result<(), StorageError> {
        let pending = self.shared.cf(CF_PENDING)?;
        let end = self.covered.saturating_add(1);
        self.shared
            .db
            .delete_range_cf(&pending, 0u64.to_be_bytes(), end.to_be_bytes())?;
        Ok(())
    }

    /// Periodic work between commits: closing idle writers, retention, size metric.
    fn maintenance(&mut self) {
        self.writers.close_idle();
        if self.last_retention.elapsed() >= RETENTION_INTERVAL {
            self.last_retention = Instant::now();
            if let Err(e) = self.retention(now_ms()) {
                tracing::error!(error = %e, "trace retention failed");
            }
        }
        if self.last_disk_bytes.elapsed() >= DISK_BYTES_INTERVAL {
            self.update_disk_bytes();
        }
    }

    pub(super) fn update_disk_bytes(&mut self) {
        self.last_disk_bytes = Instant::now();
        if let Ok(bytes) = crate::files::dir_size(&self.shared.dir) {
            self.shared.metrics.disk_bytes.set(bytes as i64);
        }
    }

    fn retention(&mut self, now: i64) -> Result<usize, StorageError> {
        let sh = self.shared.clone();
        let Some(cutoff) = sh.retention_cutoff(now) else {
            return Ok(0);
        };
        let len = sh.partition_ms;
        let is_expired = |p: &i64| p.saturating_add(len) <= cutoff;
        let mut expired: Vec<i64> = sh.cfs.read().iter().copied().filter(is_expired).collect();
        expired.extend(sh.indexes.all().iter().map(|p| p.start).filter(is_expired));
        expired.sort_unstable();
        expired.dedup();
        let Some(newest) = expired.last() else {
            return Ok(0);
        };
        let floor = newest.saturating_add(len);
        {
            // Appends creating a column family check the floor under this lock.
            let _change = sh.cf_change.lock();
            sh.dropped_below.fetch_max(floor, Ordering::SeqCst);
        }
        for p in &expired {
            self.writers.remove(*p);
            for docs in self.failed.values_mut() {
                docs.retain(|(dp, _)| dp != p);
            }
            let index: Option<Arc<Partition>> = sh.indexes.remove(*p);
            let had_cf = {
                let _change = sh.cf_change.lock();
                let had = sh.cfs.write().remove(p);
                if had {
                    sh.db.drop_cf(&cf_name(*p))?;
                }
                had
            };
            let dir = index
                .map(|i| i.dir.clone())
                .unwrap_or_else(|| sh.indexes.dir().join(p.to_string()));
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            }
            if had_cf {
                sh.metrics.retention_partitions_dropped.inc();
            }
            tracing::info!(partition = p, "retention deleted a trace partition");
        }
        self.failed.retain(|_, docs| !docs.is_empty());
        sh.metrics.partitions.set(sh.cfs.read().len() as i64);
        crate::files::sync_dir(sh.indexes.dir())?;
        let gone = sh.catalog.expire(floor);
        if !gone.is_empty() {
            let meta = sh.cf(super::CF_META)?;
            let mut batch = WriteBatch::default();
            for k in gone {
                batch.delete_cf(&meta, k);
            }
            sh.db.write_opt(batch, &sh.sync_write)?;
        }
        self.update_disk_bytes();
        Ok(expired.len())
    }
}
