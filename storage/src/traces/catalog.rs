//! Services and their operations, in memory for Jaeger's `services` and `operations`
//! listings, persisted in the `meta` column family (one row per service, kind and operation,
//! written in the same batch as the spans that brought it) so they survive a restart.
//!
//! Each entry remembers the newest partition holding one of its spans; when retention drops
//! partitions, entries whose newest partition is gone are forgotten (they have no span left).
//! The number of services and of operations per service is capped so that span names with
//! ids in them cannot grow memory without bound; spans beyond the cap are stored and
//! searchable as any other, only not listed.

use std::collections::BTreeMap;

use parking_lot::RwLock;

use super::api::{Operation, Span, SpanKind};
use super::codec::{catalog_key, kind_number};

pub(crate) const MAX_SERVICES: usize = 10_000;
pub(crate) const MAX_OPERATIONS_PER_SERVICE: usize = 10_000;

/// Per operation name, the newest partition holding a span of each kind (by kind number).
type Kinds = [Option<i64>; 6];

#[derive(Default)]
pub(crate) struct Catalog {
    services: RwLock<BTreeMap<String, BTreeMap<String, Kinds>>>,
}

/// A catalog row to write: service, kind, operation and the partition it was seen in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    pub(crate) service: String,
    pub(crate) kind: SpanKind,
    pub(crate) name: String,
    pub(crate) partition: i64,
}

impl Entry {
    pub(crate) fn key(&self) -> Vec<u8> {
        catalog_key(&self.service, self.kind, &self.name)
    }

    pub(crate) fn value(&self) -> [u8; 8] {
        self.partition.to_be_bytes()
    }
}

impl Catalog {
    /// The rows the spans (with their partitions) add or move to a newer partition, each
    /// once; and how many were left out by the caps.
    pub(crate) fn changes<'a>(
        &self,
        spans: impl Iterator<Item = (&'a Span, i64)>,
    ) -> (Vec<Entry>, u64) {
        let services = self.services.read();
        let mut out: Vec<Entry> = Vec::new();
        let mut capped = 0;
        let mut new_services = 0;
        for (span, partition) in spans {
            let ops = services.get(span.service.as_str());
            let known = ops
                .and_then(|ops| ops.get(span.name.as_str()))
                .and_then(|kinds| kinds[usize::from(kind_number(span.kind))]);
            if known.is_some_and(|p| p >= partition) {
                continue;
            }
            // Batches usually repeat a handful of operations: a linear scan is the cheapest.
            if let Some(e) = out
                .iter_mut()
                .find(|e| e.kind == span.kind && e.name == span.name && e.service == span.service)
            {
                e.partition = e.partition.max(partition);
                continue;
            }
            if known.is_none() {
                let full = match ops {
                    Some(ops) => {
                        !ops.contains_key(span.name.as_str())
                            && ops.len() >= MAX_OPERATIONS_PER_SERVICE
                    }
                    None => {
                        let first_in_batch = !out.iter().any(|e| e.service == span.service);
                        if first_in_batch {
                            new_services += 1;
                        }
                        services.len() + new_services > MAX_SERVICES
                    }
                };
                if full {
                    capped += 1;
                    continue;
                }
            }
            out.push(Entry {
                service: span.service.clone(),
                kind: span.kind,
                name: span.name.clone(),
                partition,
            });
        }
        (out, capped)
    }

    /// Records rows (written durably, or loaded at open).
    pub(crate) fn apply(&self, entries: impl IntoIterator<Item = Entry>) {
        let mut services = self.services.write();
        for e in entries {
            let kinds = services
                .entry(e.service)
                .or_default()
                .entry(e.name)
                .or_default();
            let slot = &mut kinds[usize::from(kind_number(e.kind))];
            *slot = Some(slot.map_or(e.partition, |p| p.max(e.partition)));
        }
    }

    /// Forgets the entries whose newest partition starts before `floor` and returns them (for
    /// deleting their rows).
    pub(crate) fn expire(&self, floor: i64) -> Vec<Vec<u8>> {
        self.forget(|p| p < floor)
    }

    /// Forgets the entries whose newest partition is `gone` and returns their rows' keys.
    pub(crate) fn forget(&self, is_gone: impl Fn(i64) -> bool) -> Vec<Vec<u8>> {
        let mut services = self.services.write();
        let mut gone = Vec::new();
        services.retain(|service, ops| {
            ops.retain(|name, kinds| {
                for (kind, slot) in SpanKind::ALL.iter().zip(kinds.iter_mut()) {
                    if slot.is_some_and(&is_gone) {
                        *slot = None;
                        gone.push(catalog_key(service, *kind, name));
                    }
                }
                kinds.iter().any(Option::is_some)
            });
            !ops.is_empty()
        });
        gone
    }

    pub(crate) fn services(&self) -> Vec<String> {
        self.services.read().keys().cloned().collect()
    }

    pub(crate) fn operations(&self, service: &str, kind: Option<SpanKind>) -> Vec<Operation> {
        let services = self.services.read();
        let Some(ops) = services.get(service) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, kinds) in ops {
            for (k, slot) in SpanKind::ALL.iter().zip(kinds) {
                if slot.is_some() && kind.is_none_or(|want| want == *k) {
                    out.push(Operation {
                        name: name.clone(),
                        kind: *k,
                    });
                }
            }
        }
        // Names are in order and kinds in order within a name: `Operation`'s order already.
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::traces::api::{SpanOrigin, StatusCode};

    fn span(service: &str, name: &str, kind: SpanKind) -> Span {
        Span {
            trace_id: [1; 16],
            span_id: [1; 8],
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            service: service.into(),
            name: name.into(),
            kind,
            start_unix_nano: 0,
            end_unix_nano: 0,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            attributes: vec![],
            events: vec![],
            links: vec![],
            origin: Arc::new(SpanOrigin::default()),
        }
    }

    #[test]
    fn changes_are_new_or_newer_entries_once() {
        let c = Catalog::default();
        let a = span("cart", "GET", SpanKind::Server);
        let b = span("cart", "GET", SpanKind::Client);
        let (rows, capped) = c.changes([(&a, 10), (&a, 20), (&b, 10)].into_iter());
        assert_eq!(capped, 0);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].partition, 20);
        c.apply(rows);
        assert!(c.changes([(&a, 20), (&a, 10)].into_iter()).0.is_empty());
        assert_eq!(c.changes([(&a, 30)].into_iter()).0.len(), 1);
        assert_eq!(c.services(), vec!["cart".to_string()]);
        assert_eq!(
            c.operations("cart", None),
            vec![
                Operation {
                    name: "GET".into(),
                    kind: SpanKind::Server
                },
                Operation {
                    name: "GET".into(),
                    kind: SpanKind::Client
                },
            ]
        );
        assert_eq!(c.operations("cart", Some(SpanKind::Client)).len(), 1);
        // Retention below 20 forgets the client entry (newest at 10), keeps the server one.
        assert_eq!(c.expire(15).len(), 1);
        assert_eq!(c.operations("cart", None).len(), 1);
        assert_eq!(c.expire(100).len(), 1);
        assert!(c.services().is_empty());
    }

    #[test]
    fn operations_per_service_are_capped() {
        let c = Catalog::default();
        let spans: Vec<Span> = (0..MAX_OPERATIONS_PER_SERVICE + 5)
            .map(|i| span("s", &format!("op{i}"), SpanKind::Server))
            .collect();
        let (rows, _) = c.changes(spans[..MAX_OPERATIONS_PER_SERVICE].iter().map(|s| (s, 0)));
        c.apply(rows);
        let (rows, capped) = c.changes(spans.iter().map(|s| (s, 0)));
        assert!(rows.is_empty());
        assert_eq!(capped, 5);
    }
}
