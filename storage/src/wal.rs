//! The write-ahead log shared by the series store and the log store: every append is written
//! and fsynced here before it is acknowledged.
//!
//! One thread owns the log file. Appenders hand it encoded records over a bounded channel and
//! wait; it drains whatever is queued, writes it, issues ONE `fdatasync` for the lot (group
//! commit) and wakes them all. A record reserves one or more sequence numbers (the log store
//! gives each log line of a batch its own); the record carries the first. Once a group is on
//! disk, and before any of its appenders is woken, the writer hands each record's item to the
//! optional sink in sequence order: the log store's indexer receives its batches that way, in
//! the order of their sequence numbers, which is what lets it name one "everything up to here"
//! position in its commits. A store persists everything below some sequence elsewhere (the
//! series store's checkpoint, the log store's index commits), after which the segments holding
//! only older records are deleted.
//!
//! Segment files are `<dir>/<first seq, 20 digits>.log`; a record is
//! `[u32 LE payload length][u32 LE crc32 of payload][payload]`, the payload starting with the
//! record's (first) sequence number as a varint. A torn record at the tail (a crash mid-write)
//! ends replay; it was never acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;

use crate::StorageError;
use crate::metrics::WalMetrics;
use crate::varint::{get_uvarint, put_uvarint};

/// Largest record accepted on replay; anything larger is corruption.
const MAX_RECORD: usize = 1 << 30;
/// Bytes a group commit gathers before it writes and syncs.
const MAX_GROUP_BYTES: usize = 8 << 20;
const QUEUE_CAPACITY: usize = 1024;

type Reply = SyncSender<Result<u64, StorageError>>;

/// Receives `(first sequence number, item)` of every record once it is durable, in sequence
/// order, on the writer thread, before the record's appender is woken.
pub(crate) type Sink<T> = Box<dyn FnMut(u64, T) + Send>;

enum Command<T> {
    Append {
        payload: Bytes,
        /// Sequence numbers the record reserves (at least 1).
        seqs: u64,
        item: T,
        reply: Reply,
    },
    /// Start a new segment at the next sequence number; replies with that number.
    Rotate { reply: Reply },
}

/// The log, generic over the item handed to the sink with each durable record (`()` when
/// there is no sink).
pub(crate) struct Wal<T: Send + 'static = ()> {
    dir: PathBuf,
    tx: parking_lot::Mutex<Option<SyncSender<Command<T>>>>,
    thread: parking_lot::Mutex<Option<JoinHandle<()>>>,
    metrics: WalMetrics,
}

impl<T: Send + 'static> Wal<T> {
    /// Opens the log for appending, starting a fresh segment at `next_seq`.
    pub(crate) fn open(
        dir: &Path,
        next_seq: u64,
        metrics: WalMetrics,
        sink: Option<Sink<T>>,
    ) -> Result<Wal<T>, StorageError> {
        fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let file = create_segment(dir, next_seq)?;
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        let next = Arc::new(AtomicU64::new(next_seq));
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            next_seq: next,
            metrics: metrics.clone(),
            sink,
        };
        let thread = std::thread::Builder::new()
            .name("argus-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StorageError::io(dir, e))?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            tx: parking_lot::Mutex::new(Some(tx)),
            thread: parking_lot::Mutex::new(Some(thread)),
            metrics,
        })
    }

    /// Appends one record (payload without the sequence number) reserving `seqs` sequence
    /// numbers, and returns the first of them once the record is on disk (and `item` is with
    /// the sink).
    pub(crate) fn append(
        &self,
        payload: impl Into<Bytes>,
        seqs: u64,
        item: T,
    ) -> Result<u64, StorageError> {
        let payload = payload.into();
        // Replay would take a larger record for corruption: refuse it before acknowledging.
        if payload.len() + 10 > MAX_RECORD {
            return Err(StorageError::io(
                &self.dir,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "write-ahead log record of {} bytes is too large",
                        payload.len()
                    ),
                ),
            ));
        }
        self.request(|reply| Command::Append {
            payload,
            seqs: seqs.max(1),
            item,
            reply,
        })
    }

    /// Closes the current segment and starts a new one; returns the new segment's first
    /// sequence number. Every record below it is in an older segment.
    pub(crate) fn rotate(&self) -> Result<u64, StorageError> {
        self.request(|reply| Command::Rotate { reply })
    }

    fn request(&self, make: impl FnOnce(Reply) -> Command<T>) -> Result<u64, StorageError> {
        let tx = self.tx.lock().clone().ok_or(StorageError::ShuttingDown)?;
        let (reply, rx) = sync_channel(1);
        self.metrics.queue_depth.inc();
        let sent = tx.send(make(reply));
        if sent.is_err() {
            self.metrics.queue_depth.dec();
            return Err(StorageError::ShuttingDown);
        }
        rx.recv().map_err(|_| StorageError::ShuttingDown)?
    }

    /// Deletes every segment whose records all lie below `seq`.
    pub(crate) fn remove_before(&self, seq: u64) -> Result<(), StorageError> {
        let segments = list_segments(&self.dir)?;
        for pair in segments.windows(2) {
            let (_, path) = &pair[0];
            let (next_first, _) = pair[1];
            if next_first <= seq {
                fs::remove_file(path).map_err(|e| StorageError::io(path, e))?;
            }
        }
        Ok(())
    }

    /// After [`Wal::close`], when every record the log holds is kept elsewhere: starts an
    /// empty segment at `next_seq` and deletes every segment before it, so a clean stop
    /// leaves no log behind. The next open continues at `next_seq` (it reads the segment's
    /// name).
    pub(crate) fn seal(&self, next_seq: u64) -> Result<(), StorageError> {
        if self.thread.lock().is_some() {
            return Err(StorageError::io(
                &self.dir,
                std::io::Error::other("the write-ahead log is sealed only once closed"),
            ));
        }
        create_segment(&self.dir, next_seq)?;
        self.remove_before(next_seq)
    }

    /// Stops the writer thread after it has written and synced everything queued.
    pub(crate) fn close(&self) {
        self.tx.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl<T: Send + 'static> Drop for Wal<T> {
    fn drop(&mut self) {
        self.close();
    }
}

struct Writer<T> {
    dir: PathBuf,
    file: File,
    next_seq: Arc<AtomicU64>,
    metrics: WalMetrics,
    sink: Option<Sink<T>>,
}

/// An appender waiting for its group's fsync: its reply, first sequence number and item.
type Waiting<T> = Vec<(Reply, u64, T)>;

impl<T> Writer<T> {
    fn run(mut self, rx: Receiver<Command<T>>) {
        let mut buf = Vec::with_capacity(MAX_GROUP_BYTES);
        let mut waiting: Waiting<T> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                self.metrics.queue_depth.dec();
                match cmd {
                    Command::Append {
                        payload,
                        seqs,
                        item,
                        reply,
                    } => {
                        let seq = self.next_seq.fetch_add(seqs, Ordering::SeqCst);
                        let mut seq_bytes = Vec::with_capacity(10);
                        put_uvarint(&mut seq_bytes, seq);
                        let mut crc = crc32fast::Hasher::new();
                        crc.update(&seq_bytes);
                        crc.update(&payload);
                        let len = seq_bytes.len() + payload.len();
                        buf.extend_from_slice(&(len as u32).to_le_bytes());
                        buf.extend_from_slice(&crc.finalize().to_le_bytes());
                        buf.extend_from_slice(&seq_bytes);
                        buf.extend_from_slice(&payload);
                        waiting.push((reply, seq, item));
                    }
                    Command::Rotate { reply } => {
                        // Everything gathered so far belongs to the old segment.
                        self.commit(&mut buf, &mut waiting);
                        let seq = self.next_seq.load(Ordering::SeqCst);
                        let result = create_segment(&self.dir, seq).map(|f| {
                            self.file = f;
                            seq
                        });
                        let _ = reply.send(result);
                    }
                }
                if buf.len() < MAX_GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(&mut buf, &mut waiting);
        }
        let _ = self.file.sync_data();
    }

    fn commit(&mut self, buf: &mut Vec<u8>, waiting: &mut Waiting<T>) {
        if waiting.is_empty() {
            return;
        }
        let started = Instant::now();
        let result = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        self.metrics
            .fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.bytes.inc_by(buf.len() as u64);
        buf.clear();
        match result {
            Ok(()) => {
                for (reply, seq, item) in waiting.drain(..) {
                    if let Some(sink) = &mut self.sink {
                        sink(seq, item);
                    }
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write-ahead log write failed");
                let msg = e.to_string();
                for (reply, _, _) in waiting.drain(..) {
                    let _ = reply.send(Err(StorageError::io(
                        &self.dir,
                        std::io::Error::other(msg.clone()),
                    )));
                }
            }
        }
    }
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.log"))
}

fn create_segment(dir: &Path, first_seq: u64) -> Result<File, StorageError> {
    let path = segment_path(dir, first_seq);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    // The new file's directory entry must be durable too, or a crash could lose the segment.
    crate::files::sync_dir(dir)?;
    Ok(file)
}

/// Segments sorted by first sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if let Ok(seq) = stem.parse::<u64>() {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Calls `f(seq, payload)` for every intact record with `seq >= from`, oldest first. Stops
/// at the first torn or corrupt record of a segment (logged) and goes on with the next.
pub(crate) fn replay(
    dir: &Path,
    from: u64,
    f: impl FnMut(u64, &[u8]),
) -> Result<ReplayStats, StorageError> {
    replay_range(dir, from, None, f)
}

/// [`replay`] of the records numbered `from..=until` of a log that is still being written
/// (a store re-indexing what it acknowledged): reading stops at the first record above
/// `until`, and a torn record is the one being written, not damage, so it is not logged.
pub(crate) fn replay_until(
    dir: &Path,
    from: u64,
    until: u64,
    f: impl FnMut(u64, &[u8]),
) -> Result<ReplayStats, StorageError> {
    replay_range(dir, from, Some(until), f)
}

fn replay_range(
    dir: &Path,
    from: u64,
    until: Option<u64>,
    mut f: impl FnMut(u64, &[u8]),
) -> Result<ReplayStats, StorageError> {
    let mut stats = ReplayStats::default();
    let torn = |stats: &mut ReplayStats, path: &Path, what: &str| {
        stats.torn += 1;
        if until.is_none() {
            tracing::warn!(path = %path.display(), "{what}; rest of segment skipped");
        }
    };
    'segments: for (_, path) in list_segments(dir)? {
        let file = File::open(&path).map_err(|e| StorageError::io(&path, e))?;
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut header = [0u8; 8];
        let mut body = Vec::new();
        loop {
            // A clean end of segment is no bytes at all; a partial header is a torn write.
            if r.fill_buf()
                .map_err(|e| StorageError::io(&path, e))?
                .is_empty()
            {
                break;
            }
            if r.read_exact(&mut header).is_err() {
                torn(&mut stats, &path, "torn write-ahead log record header");
                break;
            }
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if len > MAX_RECORD {
                torn(
                    &mut stats,
                    &path,
                    &format!("write-ahead log record of {len} bytes is too large"),
                );
                break;
            }
            body.resize(len, 0);
            if r.read_exact(&mut body).is_err() || crc32fast::hash(&body) != crc {
                torn(&mut stats, &path, "torn or corrupt write-ahead log record");
                break;
            }
            let mut payload = body.as_slice();
            let Some(seq) = get_uvarint(&mut payload) else {
                stats.torn += 1;
                break;
            };
            if until.is_some_and(|u| seq > u) {
                break 'segments;
            }
            stats.max_seq = Some(stats.max_seq.map_or(seq, |m: u64| m.max(seq)));
            if seq >= from {
                stats.records += 1;
                f(seq, payload);
            }
        }
    }
    Ok(stats)
}

#[derive(Debug, Default)]
pub(crate) struct ReplayStats {
    pub(crate) records: u64,
    pub(crate) torn: u64,
    pub(crate) max_seq: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> WalMetrics {
        crate::StorageMetrics::new(&prometheus::Registry::new()).wal()
    }

    #[test]
    fn appends_replay_in_order_and_rotation_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let wal: Wal = Wal::open(dir.path(), 0, metrics(), None).unwrap();
        assert_eq!(wal.append(b"a".to_vec(), 1, ()).unwrap(), 0);
        assert_eq!(wal.append(b"b".to_vec(), 1, ()).unwrap(), 1);
        let rotated = wal.rotate().unwrap();
        assert_eq!(rotated, 2);
        assert_eq!(wal.append(b"c".to_vec(), 1, ()).unwrap(), 2);
        let mut seen = Vec::new();
        replay(dir.path(), 1, |seq, p| seen.push((seq, p.to_vec()))).unwrap();
        assert_eq!(seen, vec![(1, b"b".to_vec()), (2, b"c".to_vec())]);
        wal.remove_before(2).unwrap();
        wal.close();
        let mut seen = Vec::new();
        replay(dir.path(), 0, |seq, _| seen.push(seq)).unwrap();
        assert_eq!(seen, vec![2]);
    }

    #[test]
    fn torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let wal: Wal = Wal::open(dir.path(), 5, metrics(), None).unwrap();
        wal.append(b"whole".to_vec(), 1, ()).unwrap();
        wal.close();
        let path = segment_path(dir.path(), 5);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        let mut seen = Vec::new();
        let stats = replay(dir.path(), 0, |seq, p| seen.push((seq, p.to_vec()))).unwrap();
        assert_eq!(seen, vec![(5, b"whole".to_vec())]);
        assert_eq!(stats.torn, 1);
    }

    #[test]
    fn concurrent_appends_share_fsyncs_and_get_unique_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let wal: Arc<Wal> = Arc::new(Wal::open(dir.path(), 0, metrics(), None).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| wal.append(vec![i], 1, ()).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        seqs.sort();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    }

    #[test]
    fn records_reserve_seq_ranges_and_the_sink_sees_them_in_order_before_the_ack() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let sink: Sink<u64> = Box::new(move |seq, n| sink_seen.lock().push((seq, n)));
        let wal = Arc::new(Wal::open(dir.path(), 10, metrics(), Some(sink)).unwrap());
        let handles: Vec<_> = (1..=6u64)
            .map(|n| {
                let wal = wal.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let first = wal.append(vec![n as u8], n, n).unwrap();
                    // Acknowledged only after the sink has the record.
                    assert!(seen.lock().contains(&(first, n)));
                    (first, n)
                })
            })
            .collect();
        let mut acked: Vec<(u64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        acked.sort();
        let seen = seen.lock().clone();
        assert_eq!(seen, acked, "the sink sees records in sequence order");
        // The ranges tile 10.. without gaps or overlaps.
        let mut next = 10;
        for (first, n) in &acked {
            assert_eq!(*first, next);
            next += n;
        }
        assert_eq!(wal.rotate().unwrap(), next);
        let mut replayed = Vec::new();
        replay(dir.path(), 0, |seq, p| {
            replayed.push((seq, u64::from(p[0])))
        })
        .unwrap();
        assert_eq!(replayed, acked);
    }
}
