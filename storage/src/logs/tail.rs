//! Live tail: newly committed records, broadcast to subscribers.
//!
//! One bounded ring buffer shared by every subscriber (a record is held once however many
//! subscribers there are) behind a `parking_lot` mutex. The indexer appends each commit
//! round's records once they are searchable; a subscriber keeps its own position in the
//! ring. A subscriber that falls more than [`TAIL_CAPACITY`] records behind loses the oldest
//! (drop-oldest) and is told how many. Nothing is buffered while no one subscribes.
//!
//! Waiting needs no async runtime in storage: [`LogSubscription::poll_recv`] registers the
//! caller's `Waker` (use it from any executor with `std::future::poll_fn`), and
//! [`LogSubscription::recv_timeout`] blocks on a condition variable for synchronous callers.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use prometheus::IntCounter;

use super::api::LogHit;

/// Records the ring holds; a subscriber further behind loses the oldest.
pub const TAIL_CAPACITY: usize = 32_768;
/// Largest batch one receive returns.
const MAX_BATCH: usize = 4096;

pub(crate) struct TailHub {
    state: Mutex<HubState>,
    cond: Condvar,
    dropped_metric: IntCounter,
}

struct HubState {
    ring: VecDeque<Arc<LogHit>>,
    /// Position (count of records ever published) of `ring[0]`.
    first: u64,
    subscribers: usize,
    next_id: u64,
    wakers: HashMap<u64, Waker>,
    closed: bool,
}

impl HubState {
    fn end(&self) -> u64 {
        self.first + self.ring.len() as u64
    }
}

impl TailHub {
    pub(crate) fn new(dropped_metric: IntCounter) -> Arc<TailHub> {
        Arc::new(TailHub {
            state: Mutex::new(HubState {
                ring: VecDeque::new(),
                first: 0,
                subscribers: 0,
                next_id: 0,
                wakers: HashMap::new(),
                closed: false,
            }),
            cond: Condvar::new(),
            dropped_metric,
        })
    }

    /// Whether anyone listens (the indexer keeps records for the tail only then).
    pub(crate) fn has_subscribers(&self) -> bool {
        self.state.lock().subscribers > 0
    }

    pub(crate) fn publish(&self, hits: Vec<Arc<LogHit>>) {
        if hits.is_empty() {
            return;
        }
        let wakers: Vec<Waker> = {
            let mut s = self.state.lock();
            if s.subscribers == 0 || s.closed {
                return;
            }
            s.ring.extend(hits);
            let excess = s.ring.len().saturating_sub(TAIL_CAPACITY);
            s.ring.drain(..excess);
            s.first += excess as u64;
            s.wakers.drain().map(|(_, w)| w).collect()
        };
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Ends every subscription (once the records already published are received).
    pub(crate) fn close(&self) {
        let wakers: Vec<Waker> = {
            let mut s = self.state.lock();
            s.closed = true;
            s.wakers.drain().map(|(_, w)| w).collect()
        };
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    pub(crate) fn subscribe(self: &Arc<Self>) -> LogSubscription {
        let mut s = self.state.lock();
        s.subscribers += 1;
        let id = s.next_id;
        s.next_id += 1;
        LogSubscription {
            hub: self.clone(),
            id,
            next: s.end(),
            dropped: 0,
            missed: 0,
        }
    }
}

/// A batch of newly committed records, oldest commit first (within a commit, in sequence
/// order).
#[derive(Debug, Clone, Default)]
pub struct TailBatch {
    pub hits: Vec<Arc<LogHit>>,
    /// Records this subscriber missed, since its previous batch, because it fell more than
    /// [`TAIL_CAPACITY`] records behind.
    pub dropped: u64,
}

/// A live-tail subscription from [`crate::LogStore::subscribe`]: every record committed after
/// it was made, in commit order. Dropping it unsubscribes.
pub struct LogSubscription {
    hub: Arc<TailHub>,
    id: u64,
    /// Position of the next record to receive.
    next: u64,
    /// Missed records not yet reported.
    dropped: u64,
    /// Missed records, all told.
    missed: u64,
}

impl LogSubscription {
    /// What has arrived since the last call, without waiting. `None` once the store is closed
    /// and everything published was received; an empty batch when nothing is new.
    pub fn try_recv(&mut self) -> Option<TailBatch> {
        let hub = self.hub.clone();
        let mut s = hub.state.lock();
        self.take(&mut s)
    }

    /// For async callers: `Ready(Some(batch))` with at least one record (or a drop count),
    /// `Ready(None)` when the store closed, otherwise `Pending` with the waker registered.
    /// `std::future::poll_fn(|cx| sub.poll_recv(cx)).await` works on any executor.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<TailBatch>> {
        let hub = self.hub.clone();
        let mut s = hub.state.lock();
        match self.take(&mut s) {
            Some(b) if b.hits.is_empty() && b.dropped == 0 => {
                s.wakers.insert(self.id, cx.waker().clone());
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }

    /// Blocks until something arrives or `timeout` passes (then an empty batch). `None` when
    /// the store closed.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<TailBatch> {
        let deadline = Instant::now() + timeout;
        let hub = self.hub.clone();
        let mut s = hub.state.lock();
        loop {
            match self.take(&mut s) {
                Some(b) if b.hits.is_empty() && b.dropped == 0 => {
                    if hub.cond.wait_until(&mut s, deadline).timed_out() {
                        return self.take(&mut s);
                    }
                }
                other => return other,
            }
        }
    }

    /// Records this subscription has missed so far, reported or not.
    pub fn missed(&self) -> u64 {
        let s = self.hub.state.lock();
        self.missed + s.first.saturating_sub(self.next)
    }

    fn take(&mut self, s: &mut HubState) -> Option<TailBatch> {
        if self.next < s.first {
            let missed = s.first - self.next;
            self.hub.dropped_metric.inc_by(missed);
            self.dropped += missed;
            self.missed += missed;
            self.next = s.first;
        }
        let from = (self.next - s.first) as usize;
        let n = (s.ring.len() - from).min(MAX_BATCH);
        if n == 0 && self.dropped == 0 && s.closed {
            return None;
        }
        let hits: Vec<Arc<LogHit>> = s.ring.range(from..from + n).cloned().collect();
        self.next += n as u64;
        let dropped = std::mem::take(&mut self.dropped);
        Some(TailBatch { hits, dropped })
    }
}

impl Drop for LogSubscription {
    fn drop(&mut self) {
        let mut s = self.hub.state.lock();
        s.subscribers -= 1;
        s.wakers.remove(&self.id);
        if s.subscribers == 0 {
            let n = s.ring.len() as u64;
            s.ring.clear();
            s.first += n;
        }
    }
}

impl std::fmt::Debug for LogSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSubscription")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogRecord;

    fn hit(seq: u64) -> Arc<LogHit> {
        Arc::new(LogHit {
            seq,
            record: LogRecord::default(),
        })
    }

    fn hub() -> Arc<TailHub> {
        TailHub::new(IntCounter::new("t", "t").unwrap())
    }

    #[test]
    fn subscribers_see_what_is_published_after_they_subscribe() {
        let hub = hub();
        hub.publish(vec![hit(1)]);
        let mut a = hub.subscribe();
        hub.publish(vec![hit(2), hit(3)]);
        let mut b = hub.subscribe();
        hub.publish(vec![hit(4)]);
        let seqs = |batch: TailBatch| batch.hits.iter().map(|h| h.seq).collect::<Vec<_>>();
        assert_eq!(seqs(a.try_recv().unwrap()), vec![2, 3, 4]);
        assert_eq!(seqs(b.try_recv().unwrap()), vec![4]);
        assert!(a.try_recv().unwrap().hits.is_empty());
        hub.close();
        assert!(a.try_recv().is_none());
        assert!(a.recv_timeout(Duration::from_secs(5)).is_none());
    }

    #[test]
    fn a_slow_subscriber_loses_the_oldest_and_is_told() {
        let hub = hub();
        let mut s = hub.subscribe();
        let n = TAIL_CAPACITY as u64 + 10;
        hub.publish((0..n).map(hit).collect());
        let first = s.try_recv().unwrap();
        assert_eq!(first.dropped, 10);
        assert_eq!(first.hits[0].seq, 10);
        let mut got = first.hits.len() as u64;
        while let Some(b) = s.try_recv() {
            if b.hits.is_empty() {
                break;
            }
            assert_eq!(b.dropped, 0);
            got += b.hits.len() as u64;
        }
        assert_eq!(got, TAIL_CAPACITY as u64);
        assert_eq!(s.missed(), 10);
    }

    #[test]
    fn poll_recv_wakes_the_waiting_task() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let hub = hub();
        let mut s = hub.subscribe();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(s.poll_recv(&mut cx).is_pending());
        hub.publish(vec![hit(7)]);
        assert!(flag.0.load(Ordering::SeqCst));
        match s.poll_recv(&mut cx) {
            Poll::Ready(Some(b)) => assert_eq!(b.hits[0].seq, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recv_timeout_wakes_on_publish() {
        let hub = hub();
        let mut s = hub.subscribe();
        let h = hub.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            h.publish(vec![hit(9)]);
        });
        let b = s.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(b.hits[0].seq, 9);
        t.join().unwrap();
    }
}
