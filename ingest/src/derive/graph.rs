//! The service graph: an edge `client → server` for every span whose parent span belongs to
//! another service, found whichever of the two arrives first.
//!
//! Two bounded maps, each in arrival order so that the oldest entry is the first to go:
//! - `recent`: spans seen lately (trace id + span id → service, per xxHash64 of the ids), the
//!   parents later children look up;
//! - `pending`: children whose parent was not seen yet (trace id + parent span id → the
//!   children's services with their request and failure counts), resolved when the parent
//!   arrives.
//!
//! Entries live for the configured wait. A pending entry that expires (the parent never came:
//! it was not sampled, or its service is not instrumented) is counted in
//! `argus_ingest_service_graph_expired_total`; one pushed out because its map is full in
//! `argus_ingest_service_graph_evicted_total{map}`.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::{SpanId, TraceId};

/// A map that remembers insertion order and forgets entries after a time or beyond a size.
#[derive(Debug)]
pub(crate) struct FifoMap<K, V> {
    map: HashMap<K, (u64, V)>,
    /// Insertion order; entries whose generation no longer matches the map's were removed or
    /// replaced and are skipped.
    order: VecDeque<(K, u64, Instant)>,
    next_gen: u64,
    max: usize,
}

impl<K: Hash + Eq + Copy, V> FifoMap<K, V> {
    pub(crate) fn new(max: usize) -> Self {
        FifoMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            next_gen: 0,
            max: max.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k).map(|(_, v)| v)
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|(_, v)| v)
    }

    /// Inserts or replaces `k` as the newest entry; returns the entries pushed out to stay
    /// within the size.
    pub(crate) fn insert(&mut self, k: K, v: V, now: Instant) -> Vec<V> {
        let generation = self.next_gen;
        self.next_gen += 1;
        self.map.insert(k, (generation, v));
        self.order.push_back((k, generation, now));
        let mut evicted = Vec::new();
        while self.map.len() > self.max {
            match self.pop_front() {
                Some(v) => evicted.push(v),
                None => break,
            }
        }
        // Removed entries leave their place in `order` behind: keep it proportionate.
        if self.order.len() > 2 * self.max + 1024 {
            let map = &self.map;
            self.order
                .retain(|(k, g, _)| map.get(k).is_some_and(|(live, _)| live == g));
        }
        evicted
    }

    /// Removes and returns the entries older than `ttl`.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<V> {
        let mut out = Vec::new();
        while let Some((_, _, t)) = self.order.front() {
            if now.saturating_duration_since(*t) <= ttl {
                break;
            }
            if let Some(v) = self.pop_front() {
                out.push(v);
            }
        }
        out
    }

    /// Pops the oldest entry of `order`, returning its value when it was still live.
    fn pop_front(&mut self) -> Option<V> {
        while let Some((k, generation, _)) = self.order.pop_front() {
            if self.map.get(&k).is_some_and(|(g, _)| *g == generation) {
                return self.map.remove(&k).map(|(_, v)| v);
            }
        }
        None
    }
}

/// A span remembered as a possible parent.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) service: Arc<str>,
}

/// Children of one not-yet-seen parent, by service: (service, requests, failed).
pub(crate) type Waiting = Vec<(Arc<str>, u64, u64)>;

/// An edge: (client service, server service).
pub(crate) type EdgeKey = (Arc<str>, Arc<str>);

/// An edge's counts.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    last_seen: Instant,
    pub(crate) fresh: bool,
}

/// What observing a batch did to the maps, for the metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GraphEvents {
    pub(crate) expired: u64,
    pub(crate) evicted_pending: u64,
    pub(crate) evicted_recent: u64,
    pub(crate) dropped_edges: u64,
}

#[derive(Debug)]
pub(crate) struct Graph {
    pub(crate) recent: FifoMap<u64, Seen>,
    pub(crate) pending: FifoMap<u64, Waiting>,
    pub(crate) edges: HashMap<EdgeKey, Edge>,
}

/// The map key of a span: its ids hashed (a collision would at worst add one wrong edge).
pub(crate) fn key(trace: &TraceId, span: &SpanId) -> u64 {
    let mut buf = [0u8; 24];
    buf[..16].copy_from_slice(trace);
    buf[16..].copy_from_slice(span);
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

impl Graph {
    pub(crate) fn new(max_recent: usize, max_pending: usize) -> Self {
        Graph {
            recent: FifoMap::new(max_recent),
            pending: FifoMap::new(max_pending),
            edges: HashMap::new(),
        }
    }

    /// Remembers a span as a possible parent and resolves the children waiting for it.
    /// `may_create(n)` says whether `n` new edges fit the cardinality budget.
    pub(crate) fn parent_seen(
        &mut self,
        key: u64,
        service: &Arc<str>,
        now: Instant,
        events: &mut GraphEvents,
        may_create: &mut dyn FnMut() -> bool,
    ) {
        let evicted = self.recent.insert(
            key,
            Seen {
                service: service.clone(),
            },
            now,
        );
        events.evicted_recent += evicted.len() as u64;
        if let Some(children) = self.pending.remove(&key) {
            for (child, requests, failed) in children {
                if child != *service {
                    self.add_edge(service, &child, requests, failed, now, events, may_create);
                }
            }
        }
    }

    /// A child span whose parent is `parent_key`: an edge now if the parent is known,
    /// otherwise it waits for the parent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn child_seen(
        &mut self,
        parent_key: u64,
        service: &Arc<str>,
        error: bool,
        now: Instant,
        events: &mut GraphEvents,
        may_create: &mut dyn FnMut() -> bool,
    ) {
        if let Some(parent) = self.recent.get(&parent_key) {
            if parent.service != *service {
                let client = parent.service.clone();
                self.add_edge(
                    &client,
                    service,
                    1,
                    u64::from(error),
                    now,
                    events,
                    may_create,
                );
            }
            return;
        }
        if let Some(waiting) = self.pending.get_mut(&parent_key) {
            match waiting.iter_mut().find(|(s, _, _)| s == service) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += u64::from(error);
                }
                None => waiting.push((service.clone(), 1, u64::from(error))),
            }
            return;
        }
        let evicted = self.pending.insert(
            parent_key,
            vec![(service.clone(), 1, u64::from(error))],
            now,
        );
        events.evicted_pending += evicted.iter().map(children).sum::<u64>();
    }

    #[allow(clippy::too_many_arguments)]
    fn add_edge(
        &mut self,
        client: &Arc<str>,
        server: &Arc<str>,
        requests: u64,
        failed: u64,
        now: Instant,
        events: &mut GraphEvents,
        may_create: &mut dyn FnMut() -> bool,
    ) {
        let key = (client.clone(), server.clone());
        let edge = match self.edges.get_mut(&key) {
            Some(edge) => edge,
            None if may_create() => self.edges.entry(key).or_insert(Edge {
                requests: 0,
                failed: 0,
                last_seen: now,
                fresh: true,
            }),
            None => {
                events.dropped_edges += requests;
                return;
            }
        };
        edge.requests += requests;
        edge.failed += failed;
        edge.last_seen = now;
    }

    /// Forgets what is older than the wait; counts the children that waited in vain.
    pub(crate) fn expire(&mut self, now: Instant, wait: Duration, events: &mut GraphEvents) {
        self.recent.expire(now, wait);
        events.expired += self
            .pending
            .expire(now, wait)
            .iter()
            .map(children)
            .sum::<u64>();
    }

    /// Forgets edges without requests for `ttl`; returns how many went.
    pub(crate) fn expire_edges(&mut self, now: Instant, ttl: Duration) -> usize {
        let before = self.edges.len();
        self.edges
            .retain(|_, e| now.saturating_duration_since(e.last_seen) <= ttl);
        before - self.edges.len()
    }

    pub(crate) fn pending_children(&self) -> usize {
        self.pending.len()
    }

    /// Marks edges as written (no zero sample any more).
    pub(crate) fn written(&mut self, keys: &[EdgeKey]) {
        for k in keys {
            if let Some(e) = self.edges.get_mut(k) {
                e.fresh = false;
            }
        }
    }
}

fn children(w: &Waiting) -> u64 {
    w.iter().map(|(_, n, _)| n).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_map_expires_evicts_and_skips_removed_entries() {
        let t0 = Instant::now();
        let mut m: FifoMap<u32, &str> = FifoMap::new(2);
        assert!(m.insert(1, "a", t0).is_empty());
        assert!(m.insert(2, "b", t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(m.remove(&1), Some("a"));
        assert!(m.insert(3, "c", t0 + Duration::from_secs(2)).is_empty());
        // full: the oldest live entry goes
        assert_eq!(m.insert(4, "d", t0 + Duration::from_secs(3)), vec!["b"]);
        assert_eq!(m.len(), 2);
        // replacing keeps one live entry per key
        assert!(m.insert(3, "c2", t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(m.get(&3), Some(&"c2"));
        assert_eq!(
            m.expire(t0 + Duration::from_secs(10), Duration::from_secs(6)),
            vec!["d"]
        );
        assert_eq!(m.len(), 1);
        assert_eq!(
            m.expire(t0 + Duration::from_secs(20), Duration::from_secs(6)),
            vec!["c2"]
        );
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn order_stays_bounded_under_churn() {
        let t0 = Instant::now();
        let mut m: FifoMap<u32, ()> = FifoMap::new(4);
        for i in 0..10_000 {
            m.insert(i % 3, (), t0);
            m.remove(&(i % 3));
        }
        assert!(m.order.len() <= 2 * 4 + 1025);
    }
}
