//! Span metrics: request count and a latency histogram per service × operation × span kind ×
//! status, cumulative since the group appeared.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::SpanKind;

/// Upper bounds of the latency buckets, in seconds: 1 ms to 60 s in a 1-2-5 progression
/// (each bucket at most 2.5× the previous bound), plus `+Inf`.
pub const BOUNDS: [f64; 16] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];
/// Buckets per histogram, `+Inf` included.
pub(crate) const BUCKETS: usize = BOUNDS.len() + 1;
/// Series one group writes: `argus_spans_total`, the buckets, `_sum` and `_count`.
pub(crate) const SERIES_PER_GROUP: usize = 1 + BUCKETS + 2;

const KINDS: usize = SpanKind::ALL.len();

/// The numbers of one service × operation × kind × status.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Per bucket, not cumulative; the last one is `+Inf`.
    pub(crate) counts: [u64; BUCKETS],
    pub(crate) sum: f64,
    pub(crate) count: u64,
    last_seen: Instant,
    /// Not written yet: the first flush also writes a zero just before, so that `rate()`
    /// and `increase()` see the first spans.
    pub(crate) fresh: bool,
}

/// Every kind × status of one operation: index `kind * 2 + error`.
#[derive(Debug, Default)]
struct Operation {
    slots: [Option<Box<Slot>>; KINDS * 2],
}

/// A group's identity in snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupKey {
    pub(crate) service: Arc<str>,
    pub(crate) operation: Arc<str>,
    pub(crate) kind: SpanKind,
    pub(crate) error: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Red {
    /// service → operation → slots. Keys are shared with snapshots.
    services: HashMap<Arc<str>, HashMap<Arc<str>, Operation>>,
    groups: usize,
}

fn index(kind: SpanKind, error: bool) -> usize {
    let k = SpanKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    k * 2 + usize::from(error)
}

/// The bucket of a duration: the first whose bound is ≥ it (`le` semantics), else `+Inf`.
pub(crate) fn bucket(seconds: f64) -> usize {
    BOUNDS.partition_point(|b| *b < seconds)
}

impl Red {
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// Adds one span. A new group is made only when `may_create` allows it (the caller's
    /// cardinality budget); returns `Err(())` when it was needed and refused, `Ok(true)` when
    /// a group was made.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        service: &str,
        operation: &str,
        kind: SpanKind,
        error: bool,
        seconds: f64,
        now: Instant,
        may_create: bool,
    ) -> Result<bool, ()> {
        let i = index(kind, error);
        let existing = self
            .services
            .get_mut(service)
            .and_then(|ops| ops.get_mut(operation))
            .and_then(|op| op.slots[i].as_deref_mut());
        let (slot, created) = match existing {
            Some(slot) => (slot, false),
            None if !may_create => return Err(()),
            None => {
                let op = self
                    .services
                    .entry(Arc::from(service))
                    .or_default()
                    .entry(Arc::from(operation))
                    .or_default();
                self.groups += 1;
                let slot = op.slots[i].insert(Box::new(Slot {
                    counts: [0; BUCKETS],
                    sum: 0.0,
                    count: 0,
                    last_seen: now,
                    fresh: true,
                }));
                (&mut **slot, true)
            }
        };
        slot.counts[bucket(seconds)] += 1;
        slot.sum += seconds;
        slot.count += 1;
        slot.last_seen = now;
        Ok(created)
    }

    /// Forgets groups without spans for `ttl`; returns how many went.
    pub(crate) fn expire(&mut self, now: Instant, ttl: Duration) -> usize {
        let mut gone = 0;
        self.services.retain(|_, ops| {
            ops.retain(|_, op| {
                for slot in &mut op.slots {
                    if slot
                        .as_ref()
                        .is_some_and(|s| now.saturating_duration_since(s.last_seen) > ttl)
                    {
                        *slot = None;
                        gone += 1;
                    }
                }
                op.slots.iter().any(Option::is_some)
            });
            !ops.is_empty()
        });
        self.groups -= gone;
        gone
    }

    pub(crate) fn snapshot(&self) -> Vec<(GroupKey, Slot)> {
        let mut out = Vec::with_capacity(self.groups);
        for (service, ops) in &self.services {
            for (operation, op) in ops {
                for (i, slot) in op.slots.iter().enumerate() {
                    if let Some(slot) = slot {
                        out.push((
                            GroupKey {
                                service: service.clone(),
                                operation: operation.clone(),
                                kind: SpanKind::ALL[i / 2],
                                error: i % 2 == 1,
                            },
                            Slot::clone(slot),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Marks groups as written (no zero sample any more).
    pub(crate) fn written(&mut self, keys: &[GroupKey]) {
        for key in keys {
            if let Some(slot) = self
                .services
                .get_mut(&*key.service)
                .and_then(|ops| ops.get_mut(&*key.operation))
                .and_then(|op| op.slots[index(key.kind, key.error)].as_deref_mut())
            {
                slot.fresh = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_le() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.001), 0);
        assert_eq!(bucket(0.0011), 1);
        assert_eq!(bucket(60.0), BOUNDS.len() - 1);
        assert_eq!(bucket(61.0), BOUNDS.len());
        assert_eq!(bucket(f64::INFINITY), BOUNDS.len());
        assert!(BOUNDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(SERIES_PER_GROUP, 20);
    }

    #[test]
    fn kinds_and_statuses_are_separate_groups_and_expire() {
        let mut red = Red::default();
        let t0 = Instant::now();
        assert_eq!(
            red.record("a", "op", SpanKind::Server, false, 0.003, t0, true),
            Ok(true)
        );
        assert_eq!(
            red.record("a", "op", SpanKind::Server, false, 0.5, t0, false),
            Ok(false)
        );
        assert_eq!(
            red.record("a", "op", SpanKind::Server, true, 0.5, t0, false),
            Err(())
        );
        assert_eq!(
            red.record("a", "op", SpanKind::Client, true, 0.5, t0, true),
            Ok(true)
        );
        assert_eq!(red.groups(), 2);
        let snap = red.snapshot();
        let ok = snap
            .iter()
            .find(|(k, _)| k.kind == SpanKind::Server && !k.error)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{snap:?}"));
        assert_eq!(ok.count, 2);
        assert_eq!(ok.counts[bucket(0.003)], 1);
        assert_eq!(ok.counts[bucket(0.5)], 1);
        let later = t0 + Duration::from_secs(100);
        red.record("a", "op", SpanKind::Client, true, 0.5, later, false)
            .unwrap_or_else(|()| panic!("exists"));
        assert_eq!(red.expire(later, Duration::from_secs(50)), 1);
        assert_eq!(red.groups(), 1);
        assert_eq!(red.snapshot()[0].0.kind, SpanKind::Client);
    }
}
