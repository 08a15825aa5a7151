//! The job queue in front of an indexer thread, as the log store and the trace store keep
//! it: jobs in arrival order, each with the bytes it holds (counted against the queue's
//! budget and reported in a gauge), popped by the indexer with a deadline (its next commit),
//! and a stop that drops everything at once, as a crash would.
//!
//! How appenders wait for room, and in what order batches may enter, is each store's own:
//! the log store's appenders wait as long as it takes (`logs/mod.rs`), the trace store's give
//! up with [`crate::StorageError::Overloaded`] and its batches enter strictly in sequence
//! order (`traces/queue.rs`). Both do it under this queue's lock, with state of their own
//! beside the jobs (`extra`).

use std::collections::VecDeque;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};
use prometheus::IntGauge;

pub(crate) struct JobQueue<J, X> {
    state: Mutex<State<J, X>>,
    changed: Condvar,
    gauge: IntGauge,
}

pub(crate) struct State<J, X> {
    jobs: VecDeque<(J, usize)>,
    bytes: usize,
    /// The indexer stops at once without committing (as a crash would): the store was
    /// dropped without `close`, or the indexer panicked. Jobs are dropped from then on;
    /// what they held stays in the store's log for the next start.
    stopped: bool,
    /// The store's own state, kept under the same lock.
    pub(crate) extra: X,
}

pub(crate) enum Popped<J> {
    Job(J),
    Timeout,
    Abandon,
}

impl<J, X> State<J, X> {
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes the queued jobs hold.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl<J, X> JobQueue<J, X> {
    pub(crate) fn new(extra: X, gauge: IntGauge) -> JobQueue<J, X> {
        JobQueue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                bytes: 0,
                stopped: false,
                extra,
            }),
            changed: Condvar::new(),
            gauge,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<J, X>> {
        self.state.lock()
    }

    /// Queues `job` holding `bytes` and wakes the indexer; dropped once stopped.
    pub(crate) fn push(&self, job: J, bytes: usize) {
        let mut s = self.state.lock();
        if s.stopped {
            return;
        }
        if bytes > 0 {
            self.hold_locked(&mut s, bytes);
        }
        self.push_held_locked(&mut s, job, bytes);
        self.changed.notify_all();
    }

    /// Counts `bytes` against the budget, under the caller's lock, before their job is
    /// queued (a batch waiting for its turn holds its bytes already).
    pub(crate) fn hold_locked(&self, s: &mut State<J, X>, bytes: usize) {
        s.bytes += bytes;
        self.gauge.set(s.bytes as i64);
    }

    /// Queues, under the caller's lock, a job whose `bytes` [`JobQueue::hold_locked`]
    /// counted; the caller then wakes the indexer ([`JobQueue::notify`]).
    pub(crate) fn push_held_locked(&self, s: &mut State<J, X>, job: J, bytes: usize) {
        s.jobs.push_back((job, bytes));
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Waits while the queue holds more than `max_bytes`, until `deadline` if any. Returns
    /// the lock; the caller checks [`State::stopped`] and, with a deadline, the bytes.
    pub(crate) fn wait_for_room(
        &self,
        max_bytes: usize,
        deadline: Option<Instant>,
    ) -> MutexGuard<'_, State<J, X>> {
        let mut s = self.state.lock();
        while s.bytes > max_bytes && !s.stopped {
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut s, d).timed_out() {
                        break;
                    }
                }
                None => self.changed.wait(&mut s),
            }
        }
        s
    }

    /// The next job, waiting for one until `deadline`; [`Popped::Abandon`] once stopped.
    pub(crate) fn pop(&self, deadline: Instant) -> Popped<J> {
        let mut s = self.state.lock();
        loop {
            if s.stopped {
                return Popped::Abandon;
            }
            if let Some((job, bytes)) = s.jobs.pop_front() {
                if bytes > 0 {
                    s.bytes -= bytes;
                    self.gauge.set(s.bytes as i64);
                    // Appenders may be waiting for room.
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

    /// True when no job is waiting.
    pub(crate) fn is_idle(&self) -> bool {
        self.state.lock().jobs.is_empty()
    }

    /// Stops the queue: drops every job (and, through `clear`, what the store keeps beside
    /// them) and refuses new ones; the indexer's next pop abandons.
    pub(crate) fn stop(&self, clear: impl FnOnce(&mut X)) {
        let dropped = {
            let mut s = self.state.lock();
            s.stopped = true;
            s.bytes = 0;
            clear(&mut s.extra);
            std::mem::take(&mut s.jobs)
        };
        self.gauge.set(0);
        self.changed.notify_all();
        // Waiting callers learn from their dropped reply channels.
        drop(dropped);
    }
}
