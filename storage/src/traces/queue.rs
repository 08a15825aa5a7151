//! The indexer's queue: durable batches on their way to the search index, bounded in bytes,
//! handed out strictly in sequence order.
//!
//! Every append that writes takes the next sequence number just before its RocksDB write, and
//! concurrent writes finish in any order. A batch that arrives early waits here until every
//! lower number has arrived (its batch, or a void notice for a write that failed), so the
//! indexer sees one gap-free sequence and "everything up to N" is well defined for its commit
//! payloads. A [`Ticket`] makes the notice certain: dropped unused (an error, a panic), it
//! sends the void itself. The jobs, their byte count, popping and stopping are the queue
//! core both stores share (`crate::jobs`); the reservation with a time limit and the order
//! are this store's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use tantivy::TantivyDocument;

use crate::StorageError;
use crate::jobs::{self, JobQueue};
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
    jobs: JobQueue<Job, Order>,
    max_bytes: usize,
}

/// What the queue keeps beside its jobs to hand batches out in sequence order.
struct Order {
    /// Batches that arrived before a lower sequence number, by number, with their bytes
    /// (counted in the queue's bytes already).
    early: BTreeMap<u64, (Vec<Doc>, usize)>,
    /// The sequence number the next batch handed out must have.
    next: u64,
    /// The next sequence number to reserve.
    reserved: u64,
}

pub(crate) type Popped = jobs::Popped<Job>;

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
        let order = Order {
            early: BTreeMap::new(),
            next,
            reserved: next,
        };
        IndexQueue {
            jobs: JobQueue::new(order, metrics.index_queue_bytes.clone()),
            max_bytes,
        }
    }

    /// Sets the first sequence number to hand out (recovery found the ones below used).
    pub(crate) fn start_at(&self, next: u64) {
        let mut s = self.jobs.lock();
        s.extra.next = next;
        s.extra.reserved = next;
    }

    /// Waits (at most `timeout`) until the queue holds at most its byte budget, then reserves
    /// the next sequence number. [`StorageError::Overloaded`] when the indexer stays behind
    /// that long; [`StorageError::ShuttingDown`] once it has stopped.
    pub(crate) fn reserve(self: &Arc<Self>, timeout: Duration) -> Result<Ticket, StorageError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.jobs.wait_for_room(self.max_bytes, Some(deadline));
        if s.stopped() {
            return Err(StorageError::ShuttingDown);
        }
        if s.bytes() > self.max_bytes {
            return Err(StorageError::Overloaded(format!(
                "the trace indexer is behind by {} bytes of spans",
                s.bytes()
            )));
        }
        let seq = s.extra.reserved;
        s.extra.reserved += 1;
        Ok(Ticket {
            queue: self.clone(),
            seq,
            sent: false,
        })
    }

    fn arrive(&self, seq: u64, docs: Vec<Doc>, bytes: usize) {
        let mut s = self.jobs.lock();
        // A number already handed out cannot arrive again; holding it would hold its bytes
        // (and block appends) forever.
        if s.stopped() || seq < s.extra.next {
            return;
        }
        self.jobs.hold_locked(&mut s, bytes);
        if seq != s.extra.next {
            s.extra.early.insert(seq, (docs, bytes));
            return;
        }
        self.jobs
            .push_held_locked(&mut s, Job::Batch { seq, docs }, bytes);
        s.extra.next += 1;
        loop {
            let next = s.extra.next;
            let Some((docs, bytes)) = s.extra.early.remove(&next) else {
                break;
            };
            self.jobs
                .push_held_locked(&mut s, Job::Batch { seq: next, docs }, bytes);
            s.extra.next += 1;
        }
        self.jobs.notify();
    }

    /// Queues a control job (flush, retention, stop) behind the batches that arrived.
    pub(crate) fn push(&self, job: Job) {
        self.jobs.push(job, 0);
    }

    pub(crate) fn pop(&self, deadline: Instant) -> Popped {
        self.jobs.pop(deadline)
    }

    pub(crate) fn stop(&self) {
        self.jobs.stop(|order| order.early.clear());
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
