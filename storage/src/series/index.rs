//! The in-memory inverted index: label name → value → sorted series ids, plus the label set
//! → id map that appends resolve against. Rebuilt at start-up from the series table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{MemSeries, SeriesId};
use crate::{Labels, Matcher};

/// Every append looks its series up by labels; SipHash was a tenth of the remote_write
/// profile. foldhash is seeded per process, so crafted labels cannot force collisions.
type LabelsMap = HashMap<Arc<Labels>, Arc<MemSeries>, foldhash::fast::RandomState>;

#[derive(Default)]
pub(crate) struct Index {
    by_labels: LabelsMap,
    by_id: BTreeMap<SeriesId, Arc<MemSeries>>,
    /// name → value → ids, ascending (ids only grow, so pushes keep the order).
    postings: BTreeMap<String, BTreeMap<String, Vec<SeriesId>>>,
}

impl Index {
    pub(crate) fn get(&self, labels: &Labels) -> Option<&Arc<MemSeries>> {
        self.by_labels.get(labels)
    }

    pub(crate) fn by_id(&self, id: SeriesId) -> Option<&Arc<MemSeries>> {
        self.by_id.get(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<MemSeries>> {
        self.by_id.values()
    }

    pub(crate) fn insert(&mut self, series: Arc<MemSeries>) {
        for l in series.labels.iter() {
            let ids = self
                .postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default();
            match ids.last() {
                Some(&last) if last > series.id => {
                    if let Err(pos) = ids.binary_search(&series.id) {
                        ids.insert(pos, series.id);
                    }
                }
                _ => ids.push(series.id),
            }
        }
        self.by_id.insert(series.id, series.clone());
        self.by_labels.insert(series.labels.clone(), series);
    }

    pub(crate) fn remove(&mut self, id: SeriesId) {
        let Some(series) = self.by_id.remove(&id) else {
            return;
        };
        self.by_labels.remove(&series.labels);
        for l in series.labels.iter() {
            if let Some(values) = self.postings.get_mut(&l.name) {
                if let Some(ids) = values.get_mut(&l.value) {
                    if let Ok(pos) = ids.binary_search(&id) {
                        ids.remove(pos);
                    }
                    if ids.is_empty() {
                        values.remove(&l.value);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&l.name);
                }
            }
        }
    }

    /// Series matching every matcher, ascending by id. Matchers that reject the empty value
    /// narrow the candidates through the postings; the others filter the survivors.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let (narrowing, filtering): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| !m.matches_empty());
        let mut lists: Vec<Vec<SeriesId>> =
            narrowing.iter().map(|m| self.postings_for(m)).collect();
        lists.sort_by_key(Vec::len);
        let candidates: Box<dyn Iterator<Item = SeriesId> + '_> = match lists.split_first() {
            None => Box::new(self.by_id.keys().copied()),
            Some((smallest, rest)) => {
                let mut ids = smallest.clone();
                for other in rest {
                    ids = intersect(&ids, other);
                    if ids.is_empty() {
                        break;
                    }
                }
                Box::new(ids.into_iter())
            }
        };
        candidates
            .filter_map(|id| self.by_id.get(&id))
            .filter(|s| {
                filtering
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .cloned()
            .collect()
    }

    fn postings_for(&self, m: &Matcher) -> Vec<SeriesId> {
        let Some(values) = self.postings.get(&m.name) else {
            return Vec::new();
        };
        if m.op == crate::MatchOp::Equal {
            return values.get(&m.value).cloned().unwrap_or_default();
        }
        let mut out: Vec<SeriesId> = Vec::new();
        for (value, ids) in values {
            if m.matches(value) {
                out.extend_from_slice(ids);
            }
        }
        out.sort_unstable();
        out
    }

    /// Every label name in use, sorted.
    pub(crate) fn label_names(&self) -> Vec<String> {
        self.postings.keys().cloned().collect()
    }

    /// Every value of a label in use, sorted.
    pub(crate) fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
