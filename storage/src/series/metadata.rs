//! Metric metadata: per metric family, the distinct `{type, help, unit}` entries ingest has
//! reported, as Prometheus' `/api/v1/metadata` lists them.
//!
//! Prometheus keeps one entry per scrape target and forgets it with the target; Argus has no
//! targets, so it keeps the distinct entries of each family, at most
//! [`METADATA_ENTRIES_PER_FAMILY`], and when a new one arrives at the cap the oldest goes
//! (newest wins). Entries are listed newest first.
//!
//! Ingest reports metadata with every batch, so recording is built for the unchanged case: a
//! read lock and a hash lookup by `&str` per item, no allocation, no I/O. Only an entry the
//! registry has not seen takes the slow path: the family's whole entry list is rewritten in
//! the `meta` column family (key `metadata/<family>`, see `storage/docs/format.md`) with a
//! synced write, and the in-memory map is updated after the write succeeded. Everything is
//! loaded at open.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use parking_lot::{Mutex, RwLock};
use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use crate::varint::{get_bytes, get_uvarint, put_bytes, put_uvarint};
use crate::{StorageError, is_valid_metric_name};

/// Distinct entries kept per metric family; a new entry beyond it evicts the oldest.
pub const METADATA_ENTRIES_PER_FAMILY: usize = 10;
/// Metric families the registry holds at most; metadata of further families is dropped.
pub const METADATA_MAX_FAMILIES: usize = 100_000;
/// Longest help or unit kept, in bytes; longer ones are cut at a character boundary.
pub const METADATA_MAX_TEXT_BYTES: usize = 1024;

/// Key prefix of metadata rows in the `meta` column family, and the first key after them.
const KEY_PREFIX: &[u8] = b"metadata/";
const KEY_END: &[u8] = b"metadata0";

/// A metric family's type, spelled as Prometheus spells it (`textparse.MetricType`, the
/// `type` field of `/api/v1/metadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    pub const ALL: [MetricType; 8] = [
        MetricType::Unknown,
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
    ];

    /// Prometheus' spelling: `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`,
    /// `info`, `stateset`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }

    /// The type Prometheus spells `s` (exactly, lower case); `None` for anything else.
    pub fn parse(s: &str) -> Option<MetricType> {
        MetricType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The on-disk code; the same numbering as remote_write's `MetricMetadata.MetricType`.
    fn code(self) -> u8 {
        match self {
            MetricType::Unknown => 0,
            MetricType::Counter => 1,
            MetricType::Gauge => 2,
            MetricType::Histogram => 3,
            MetricType::GaugeHistogram => 4,
            MetricType::Summary => 5,
            MetricType::Info => 6,
            MetricType::StateSet => 7,
        }
    }

    fn from_code(code: u8) -> Option<MetricType> {
        MetricType::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about a metric family: its type, help text and unit (empty when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricMetadata {
    pub metric_family: String,
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}

/// One stored entry of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: MetricType,
    help: Box<str>,
    unit: Box<str>,
}

impl Entry {
    fn is(&self, kind: MetricType, help: &str, unit: &str) -> bool {
        self.kind == kind && *self.help == *help && *self.unit == *unit
    }
}

/// Family name → entries, oldest first. foldhash: the unchanged path is one lookup per item.
type Families = HashMap<Box<str>, Vec<Entry>, foldhash::fast::RandomState>;

#[derive(Default)]
pub(crate) struct MetadataRegistry {
    families: RwLock<Families>,
    /// Serialises the slow path, so that two writers never rewrite a family from the same
    /// old entry list and lose one another's entry.
    writer: Mutex<()>,
}

/// `s` cut to at most [`METADATA_MAX_TEXT_BYTES`], at a character boundary.
fn clip(s: &str) -> &str {
    if s.len() <= METADATA_MAX_TEXT_BYTES {
        return s;
    }
    let mut end = METADATA_MAX_TEXT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn acceptable(m: &MetricMetadata) -> bool {
    m.metric_family.len() <= METADATA_MAX_TEXT_BYTES && is_valid_metric_name(&m.metric_family)
}

fn known(families: &Families, m: &MetricMetadata) -> bool {
    let (help, unit) = (clip(&m.help), clip(&m.unit));
    families
        .get(m.metric_family.as_str())
        .is_some_and(|entries| entries.iter().any(|e| e.is(m.kind, help, unit)))
}

impl MetadataRegistry {
    /// Reads every metadata row of the `meta` column family. A row that does not decode is
    /// skipped with a warning: metadata only annotates series, it must not keep them from
    /// being served.
    pub(crate) fn load(&self, db: &DB, meta: &ColumnFamily) -> Result<usize, StorageError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(KEY_END);
        let mut families = self.families.write();
        let mut bad = 0usize;
        for item in db.iterator_cf_opt(meta, ro, IteratorMode::From(KEY_PREFIX, Direction::Forward))
        {
            let (key, value) = item?;
            let Some(name) = key.strip_prefix(KEY_PREFIX) else {
                break;
            };
            match (std::str::from_utf8(name), decode_entries(&value)) {
                (Ok(name), Some(entries)) if !entries.is_empty() => {
                    families.insert(name.into(), entries);
                }
                _ => bad += 1,
            }
        }
        if bad > 0 {
            tracing::warn!(rows = bad, "skipped undecodable metric metadata rows");
        }
        Ok(families.len())
    }

    /// Records what ingest knows about some metric families. Entries already known cost a
    /// lookup each; new ones are written (synced) before they become visible. Items whose
    /// family name is not a valid metric name are ignored, and so are new families once
    /// [`METADATA_MAX_FAMILIES`] are held.
    pub(crate) fn record<'db>(
        &self,
        items: &[MetricMetadata],
        db: &'db DB,
        meta: impl FnOnce() -> Result<&'db ColumnFamily, StorageError>,
    ) -> Result<(), StorageError> {
        {
            let families = self.families.read();
            if items.iter().all(|m| known(&families, m) || !acceptable(m)) {
                return Ok(());
            }
        }
        let _writer = self.writer.lock();
        // Family → its new entry list, for the families this call changes.
        let mut changed: Vec<(&str, Vec<Entry>)> = Vec::new();
        let mut changed_at: HashMap<&str, usize> = HashMap::new();
        let mut dropped = 0usize;
        {
            let families = self.families.read();
            let mut new_families = 0usize;
            for m in items {
                if !acceptable(m) {
                    continue;
                }
                let name = m.metric_family.as_str();
                let (help, unit) = (clip(&m.help), clip(&m.unit));
                let current: &[Entry] = match changed_at.get(name) {
                    Some(&i) => &changed[i].1,
                    None => families.get(name).map_or(&[], Vec::as_slice),
                };
                if current.iter().any(|e| e.is(m.kind, help, unit)) {
                    continue;
                }
                if !changed_at.contains_key(name) && !families.contains_key(name) {
                    if families.len() + new_families >= METADATA_MAX_FAMILIES {
                        dropped += 1;
                        continue;
                    }
                    new_families += 1;
                }
                let mut entries = current.to_vec();
                if entries.len() >= METADATA_ENTRIES_PER_FAMILY {
                    entries.drain(..=entries.len() - METADATA_ENTRIES_PER_FAMILY);
                }
                entries.push(Entry {
                    kind: m.kind,
                    help: help.into(),
                    unit: unit.into(),
                });
                match changed_at.get(name) {
                    Some(&i) => changed[i].1 = entries,
                    None => {
                        changed_at.insert(name, changed.len());
                        changed.push((name, entries));
                    }
                }
            }
        }
        if dropped > 0 {
            tracing::warn!(
                families = dropped,
                limit = METADATA_MAX_FAMILIES,
                "metric metadata of new families dropped: the registry is full"
            );
        }
        if changed.is_empty() {
            return Ok(());
        }
        let cf = meta()?;
        let mut batch = WriteBatch::default();
        let mut key = Vec::new();
        let mut value = Vec::new();
        for (name, entries) in &changed {
            key.clear();
            key.extend_from_slice(KEY_PREFIX);
            key.extend_from_slice(name.as_bytes());
            value.clear();
            encode_entries(entries, &mut value);
            batch.put_cf(cf, &key, &value);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        db.write_opt(batch, &wo)?;
        let mut families = self.families.write();
        for (name, entries) in changed {
            families.insert(name.into(), entries);
        }
        Ok(())
    }

    /// The entries of every family (or of `metric` only), families sorted by name and at most
    /// `limit` of them, entries newest first and at most `limit_per_metric` per family. A
    /// limit of `Some(0)` leaves nothing.
    pub(crate) fn query(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> BTreeMap<String, Vec<MetricMetadata>> {
        let limit = limit.unwrap_or(usize::MAX);
        let per_metric = limit_per_metric.unwrap_or(usize::MAX);
        let mut out = BTreeMap::new();
        if limit == 0 || per_metric == 0 {
            return out;
        }
        let render = |name: &str, entries: &[Entry]| -> Vec<MetricMetadata> {
            entries
                .iter()
                .rev()
                .take(per_metric)
                .map(|e| MetricMetadata {
                    metric_family: name.to_string(),
                    kind: e.kind,
                    help: e.help.to_string(),
                    unit: e.unit.to_string(),
                })
                .collect()
        };
        let families = self.families.read();
        match metric {
            Some(name) => {
                if let Some(entries) = families.get(name) {
                    out.insert(name.to_string(), render(name, entries));
                }
            }
            None => {
                let mut names: Vec<&str> = families.keys().map(|k| &**k).collect();
                if limit < names.len() {
                    names.select_nth_unstable(limit);
                    names.truncate(limit);
                }
                for name in names {
                    if let Some(entries) = families.get(name) {
                        out.insert(name.to_string(), render(name, entries));
                    }
                }
            }
        }
        out
    }
}

/// A family's row: `uvarint count`, then per entry, oldest first, `u8 type`, `bytes help`,
/// `bytes unit`.
fn encode_entries(entries: &[Entry], out: &mut Vec<u8>) {
    put_uvarint(out, entries.len() as u64);
    for e in entries {
        out.push(e.kind.code());
        put_bytes(out, e.help.as_bytes());
        put_bytes(out, e.unit.as_bytes());
    }
}

fn decode_entries(mut buf: &[u8]) -> Option<Vec<Entry>> {
    let n = get_uvarint(&mut buf)?;
    // Each entry takes at least three bytes: a corrupt count cannot make us allocate much.
    let mut out = Vec::with_capacity(usize::try_from(n).ok()?.min(buf.len() / 3));
    for _ in 0..n {
        let (&code, rest) = buf.split_first()?;
        buf = rest;
        let kind = MetricType::from_code(code)?;
        let help = std::str::from_utf8(get_bytes(&mut buf)?).ok()?;
        let unit = std::str::from_utf8(get_bytes(&mut buf)?).ok()?;
        out.push(Entry {
            kind,
            help: help.into(),
            unit: unit.into(),
        });
    }
    buf.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn type_names_round_trip() {
        for t in MetricType::ALL {
            assert_eq!(MetricType::parse(t.as_str()), Some(t));
            assert_eq!(MetricType::from_code(t.code()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(MetricType::parse("Counter"), None);
        assert_eq!(MetricType::parse("untyped"), None);
        assert_eq!(MetricType::from_code(8), None);
    }

    #[test]
    fn clip_keeps_char_boundaries() {
        let long = "é".repeat(METADATA_MAX_TEXT_BYTES);
        let clipped = clip(&long);
        assert!(clipped.len() <= METADATA_MAX_TEXT_BYTES);
        assert!(clipped.len() >= METADATA_MAX_TEXT_BYTES - 1);
        assert_eq!(clip("short"), "short");
    }

    proptest! {
        #[test]
        fn rows_round_trip(entries in proptest::collection::vec((0u8..8, ".{0,20}", ".{0,5}"), 0..12)) {
            let entries: Vec<Entry> = entries
                .into_iter()
                .map(|(c, h, u)| Entry {
                    kind: MetricType::from_code(c).unwrap_or_default(),
                    help: h.into(),
                    unit: u.into(),
                })
                .collect();
            let mut buf = Vec::new();
            encode_entries(&entries, &mut buf);
            prop_assert_eq!(decode_entries(&buf), Some(entries));
        }

        #[test]
        fn garbage_rows_are_none_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_entries(&bytes);
        }
    }
}
