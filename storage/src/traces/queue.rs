//! The indexer's queue: durable batches on their way to the search index, bounded in bytes,
//! handed out strictly in sequence order.
//!
//! Every append that writes takes the next sequence number just before its RocksDB write, and
//! concurrent writes finish in any order. A batch that arrives early waits here until every
//! lower number has arrived (its batch, or a void notice for a write that failed), so the
//! indexer sees one gap-free sequence and "everything up to N" is well defined for its commit
//! payloads. A [`Ticket`] makes the notice certain: dropped unused (an error, a panic), it
//! sends the void itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tantivy::TantivyDocument;

use crate::StorageError;
use crate::metrics::TraceMetrics;

/// One span's document and its partition.
pub(crate) type Doc = (i64, TantivyDocument);

pub(crate) enum Job {
    /// The documents of the batch with this sequence number; empty for a write that failed.
    Batch {
        seq: u64,
        docs: Vec<Doc>,
    },
    Flush(SyncSender<Result<(), StorageError>>),
    Retention(i64, SyncSender<Result<usize, StorageError>>),
    /// Index everything queued, commit, and stop.
    Stop,
}

pub(crate) struct IndexQueue {
    state: Mutex<State>,
    changed: Condvar,
    max_bytes: usize,
    metrics: TraceMetrics,
}

struct State {
    jobs: VecDeque<(Job, usize)>,
    /// Batches that arrived before a lower sequence number, by number, with their bytes.
    early: BTreeMap<u64, (Vec<Doc>, usize)>,
    /// The sequence number the next batch handed out must have.
    next: u64,
    /// The next sequence number to reserve.
    reserved: u64,
    bytes: usize,
    /// The indexer stops at once without committing (as a crash would): the store was
    /// dropped without `close`, or the indexer panicked. Jobs are dropped from then on; their
    /// spans stay in the pending column family for the next start.
    stopped: bool,
}

pub(crate) enum Popped {
    Job(Job),
    Timeout,
    Abandon,
}

/// A reserved sequence number. [`Ticket::send`] hands its batch to the queue; dropping it
/// unsent tells the queue the number carries nothing.
pub(crate) struct Ticket {
    queue: Arc<IndexQueue>,
    seq: u64,
    sent: bool,
}

impl Ticket {
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn send(mut self, docs: Vec<Doc>, bytes: usize) {
        self.sent = true;
        self.queue.arrive(self.seq, docs, bytes);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.sent {
            self.queue.arrive(self.seq, Vec::new(), 0);
        }
    }
}

impl IndexQueue {
    pub(crate) fn new(next: u64, max_bytes: usize, metrics: TraceMetrics) -> IndexQueue {
        IndexQueue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                early: BTreeMap::new(),
                next,
                reserved: next,
                bytes: 0,
                stopped: false,
            }),
            changed: Condvar::new(),
            max_bytes,
            metrics,
        }
    }

    /// Sets the first sequence number to hand out (recovery found the ones below used).
    pub(crate) fn start_at(&self, next: u64) {
        let mut s = self.state.lock();
        s.next = next;
        s.reserved = next;
    }

    /// Waits (at most `timeout`) until the queue holds at most its byte budget, then reserves
    /// the next sequence number. [`StorageError::Overloaded`] when the indexer stays behind
    /// that long; [`StorageError::ShuttingDown`] once it has stopped.
    pub(crate) fn reserve(self: &Arc<Self>, timeout: Duration) -> Result<Ticket, StorageError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.state.lock();
        while s.bytes > self.max_bytes && !s.stopped {
            if self.changed.wait_until(&mut s, deadline).timed_out() && s.bytes > self.max_bytes {
                return Err(StorageError::Overloaded(format!(
                    "the trace indexer is behind by {} bytes of spans",
                    s.bytes
                )));
            }
        }
        if s.stopped {
            return Err(StorageError::ShuttingDown);
        }
        let seq = s.reserved;
        s.reserved += 1;
        Ok(Ticket {
            queue: self.clone(),
            seq,
            sent: false,
        })
    }

    fn arrive(&self, seq: u64, docs: Vec<Doc>, bytes: usize) {
        let mut s = self.state.lock();
        // A number already handed out cannot arrive again; holding it would hold its bytes
        // (and block appends) forever.
        if s.stopped || seq < s.next {
            return;
        }
        s.bytes += bytes;
        self.metrics.index_queue_bytes.set(s.bytes as i64);
        if seq != s.next {
            s.early.insert(seq, (docs, bytes));
            return;
        }
        s.jobs.push_back((Job::Batch { seq, docs }, bytes));
        s.next += 1;
        loop {
            let next = s.next;
            let Some((docs, bytes)) = s.early.remove(&next) else {
                break;
            };
            s.jobs.push_back((Job::Batch { seq: next, docs }, bytes));
            s.next += 1;
        }
        self.changed.notify_all();
    }

    /// Queues a control job (flush, retention, stop) behind the batches that arrived.
    pub(crate) fn push(&self, job: Job) {
        let mut s = self.state.lock();
        if s.stopped {
            return;
        }
        s.jobs.push_back((job, 0));
        self.changed.notify_all();
    }

    pub(crate) fn pop(&self, deadline: Instant) -> Popped {
        let mut s = self.state.lock();
        loop {
            if s.stopped {
                return Popped::Abandon;
            }
            if let Some((job, bytes)) = s.jobs.pop_front() {
                if bytes > 0 {
                    s.bytes -= bytes;
                    self.metrics.index_queue_bytes.set(s.bytes as i64);
                    self.changed.notify_all();
                }
                return Popped::Job(job);
            }
            if self.changed.wait_until(&mut s, deadline).timed_out() && s.jobs.is_empty() {
                return if s.stopped {
                    Popped::Abandon
                } else {
                    Popped::Timeout
                };
            }
        }
    }

    pub(crate) fn stop(&self) {
        let dropped = {
            let mut s = self.state.lock();
            s.stopped = true;
            s.bytes = 0;
            s.early.clear();
            std::mem::take(&mut s.jobs)
        };
        self.metrics.index_queue_bytes.set(0);
        self.changed.notify_all();
        // Waiting callers learn from their dropped reply channels.
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(max_bytes: usize) -> Arc<IndexQueue> {
        let metrics = TraceMetrics::new(&prometheus::Registry::new());
        let q = Arc::new(IndexQueue::new(0, max_bytes, metrics));
        q.start_at(5);
        q
    }

    fn doc() -> Vec<Doc> {
        vec![(0, TantivyDocument::new())]
    }

    fn popped_seq(q: &IndexQueue) -> Option<(u64, usize)> {
        match q.pop(Instant::now()) {
            Popped::Job(Job::Batch { seq, docs }) => Some((seq, docs.len())),
            _ => None,
        }
    }

    #[test]
    fn batches_are_handed_out_in_sequence_order_with_voids_filling_gaps() {
        let q = queue(1 << 20);
        let tickets: Vec<Ticket> = (0..4).map(|_| q.reserve(Duration::ZERO).unwrap()).collect();
        assert_eq!(
            tickets.iter().map(Ticket::seq).collect::<Vec<_>>(),
            vec![5, 6, 7, 8]
        );
        let mut tickets = tickets.into_iter();
        let (t5, t6, t7, t8) = (
            tickets.next().unwrap(),
            tickets.next().unwrap(),
            tickets.next().unwrap(),
            tickets.next().unwrap(),
        );
        t8.send(doc(), 10);
        t6.send(doc(), 10);
        // 5 has not arrived: nothing is handed out yet.
        assert_eq!(popped_seq(&q), None);
        drop(t5); // a failed write: a void
        assert_eq!(popped_seq(&q), Some((5, 0)));
        assert_eq!(popped_seq(&q), Some((6, 1)));
        assert_eq!(popped_seq(&q), None);
        t7.send(doc(), 10);
        assert_eq!(popped_seq(&q), Some((7, 1)));
        assert_eq!(popped_seq(&q), Some((8, 1)));
        assert_eq!(q.reserve(Duration::ZERO).unwrap().seq(), 9);
    }

    #[test]
    fn a_full_queue_makes_reservations_wait_then_refuse() {
        let q = queue(100);
        q.reserve(Duration::ZERO).unwrap().send(doc(), 150);
        let started = Instant::now();
        let refused = q.reserve(Duration::from_millis(50));
        assert!(matches!(refused, Err(StorageError::Overloaded(_))));
        assert!(started.elapsed() >= Duration::from_millis(50));
        // The indexer catching up lets a waiting append in.
        let waiting = {
            let q = q.clone();
            std::thread::spawn(move || q.reserve(Duration::from_secs(10)).map(|t| t.seq()))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(popped_seq(&q), Some((5, 1)));
        assert_eq!(waiting.join().unwrap().unwrap(), 6);
        q.stop();
        assert!(matches!(
            q.reserve(Duration::ZERO),
            Err(StorageError::ShuttingDown)
        ));
    }
}
