//! The trace search collector: the newest `limit` distinct traces among the matching span
//! documents, by the start of each trace's newest matching span.
//!
//! Per segment it reads the `start` column of every matched document and the `trace_id`
//! column (a term ordinal: equal ids share one) only of those that can still make the top:
//! distinct traces are kept in a map from ordinal to newest start, pruned to the best `limit`
//! whenever it grows past a few times that, which raises a threshold below which documents
//! are skipped without looking at their trace. Work is linear in the matched documents and
//! memory bounded by the limit, however many spans match.
//!
//! Turning an ordinal into the trace id reads (and decompresses) a block of the segment's
//! dictionary, which costs more than everything else per trace: it is done only for the
//! final winners ([`resolve`]), walking all segments' candidates newest first until `limit`
//! distinct ids are found.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{BytesColumn, Column};
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::api::TraceId;
use super::schema::{START, TRACE_ID};

/// `(trace id, start of its newest matching span)`, newest first.
pub(crate) type TraceHits = Vec<(TraceId, u64)>;

/// A segment's best trace: its newest matching start, the segment and the trace id's ordinal
/// in that segment's `trace_id` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) start: u64,
    pub(crate) segment: SegmentOrdinal,
    pub(crate) ord: u64,
}

pub(crate) struct TopTraces {
    pub(crate) limit: usize,
}

pub(crate) struct TopTracesSegment {
    segment: SegmentOrdinal,
    limit: usize,
    /// The map is pruned back to `limit` entries when it exceeds this.
    cap: usize,
    columns: Option<(Column<u64>, BytesColumn)>,
    best: HashMap<u64, u64>,
    /// A document starting before this cannot be among the best `limit` traces.
    threshold: u64,
    starts: Vec<Option<u64>>,
    passing: Vec<DocId>,
    passing_starts: Vec<u64>,
    ords: Vec<Option<u64>>,
}

impl Collector for TopTraces {
    /// Each segment's best `limit` traces; a trace found in several segments is in several
    /// lists.
    type Fruit = Vec<Candidate>;
    type Child = TopTracesSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<TopTracesSegment> {
        let fast = reader.fast_fields();
        let columns = match fast.bytes(TRACE_ID)? {
            Some(ids) => Some((fast.u64(START)?, ids)),
            None => None,
        };
        Ok(TopTracesSegment {
            segment,
            limit: self.limit,
            cap: self.limit.saturating_mul(4).max(256),
            columns,
            best: HashMap::new(),
            threshold: 0,
            starts: Vec::new(),
            passing: Vec::new(),
            passing_starts: Vec::new(),
            ords: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Candidate>>) -> tantivy::Result<Vec<Candidate>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

/// The best `limit` distinct traces among `candidates` (from `searcher`'s segments), newest
/// first, ties by trace id.
pub(crate) fn resolve(
    searcher: &Searcher,
    mut candidates: Vec<Candidate>,
    limit: usize,
) -> tantivy::Result<TraceHits> {
    candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.start));
    let mut columns: HashMap<SegmentOrdinal, Option<BytesColumn>> = HashMap::new();
    let mut seen: HashMap<TraceId, u64> = HashMap::new();
    let mut bytes = Vec::with_capacity(16);
    let mut last_start = None;
    for c in candidates {
        // Past the limit only ties with the last one taken matter (for the tie-break).
        if seen.len() >= limit && last_start != Some(c.start) {
            break;
        }
        let column = match columns.get(&c.segment) {
            Some(col) => col,
            None => {
                let col = searcher
                    .segment_reader(c.segment)
                    .fast_fields()
                    .bytes(TRACE_ID)?;
                columns.entry(c.segment).or_insert(col)
            }
        };
        let Some(column) = column else { continue };
        bytes.clear();
        if !column.ord_to_bytes(c.ord, &mut bytes)? {
            continue;
        }
        let Ok(id) = TraceId::try_from(bytes.as_slice()) else {
            continue;
        };
        // Candidates come newest first: a trace's first one is its newest.
        if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(id) {
            e.insert(c.start);
            last_start = Some(c.start);
        }
    }
    Ok(merge(vec![seen.into_iter().collect()], limit))
}

/// Merges partial results (partitions): each trace once with its newest start, the best
/// `limit`, newest first (ties by trace id, so results are deterministic).
pub(crate) fn merge(parts: Vec<TraceHits>, limit: usize) -> TraceHits {
    let mut best: HashMap<TraceId, u64> = HashMap::new();
    for (id, start) in parts.into_iter().flatten() {
        let e = best.entry(id).or_insert(start);
        *e = (*e).max(start);
    }
    let mut out: TraceHits = best.into_iter().collect();
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

impl TopTracesSegment {
    /// Keeps the best `limit` traces and raises the threshold to the worst of them.
    fn prune(&mut self) {
        if self.best.len() <= self.limit {
            return;
        }
        let mut all: Vec<(u64, u64)> = self.best.drain().collect();
        let by_rank = |a: &(u64, u64), b: &(u64, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
        if self.limit > 0 {
            all.select_nth_unstable_by(self.limit - 1, by_rank);
        }
        all.truncate(self.limit);
        self.threshold = all.iter().map(|(_, s)| *s).min().unwrap_or(u64::MAX);
        self.best.extend(all);
    }
}

impl SegmentCollector for TopTracesSegment {
    type Fruit = Vec<Candidate>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let Some((start, ids)) = &self.columns else {
            return;
        };
        self.starts.clear();
        self.starts.resize(docs.len(), None);
        start.first_vals(docs, &mut self.starts);
        self.passing.clear();
        self.passing_starts.clear();
        for (doc, s) in docs.iter().zip(&self.starts) {
            if let Some(s) = *s
                && s >= self.threshold
            {
                self.passing.push(*doc);
                self.passing_starts.push(s);
            }
        }
        if self.passing.is_empty() {
            return;
        }
        self.ords.clear();
        self.ords.resize(self.passing.len(), None);
        ids.ords().first_vals(&self.passing, &mut self.ords);
        for (ord, s) in self.ords.iter().zip(&self.passing_starts) {
            let Some(ord) = *ord else { continue };
            let e = self.best.entry(ord).or_insert(*s);
            *e = (*e).max(*s);
        }
        if self.best.len() > self.cap {
            self.prune();
        }
    }

    fn harvest(mut self) -> Vec<Candidate> {
        self.prune();
        let segment = self.segment;
        self.best
            .into_iter()
            .map(|(ord, start)| Candidate {
                start,
                segment,
                ord,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_each_trace_once_with_its_newest_start() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        let c = [3u8; 16];
        let merged = merge(vec![vec![(a, 5), (b, 9)], vec![(a, 10), (c, 1)]], 2);
        assert_eq!(merged, vec![(a, 10), (b, 9)]);
    }
}
