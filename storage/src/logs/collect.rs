//! Collectors over the fast fields of one partition: one pass over the matched documents
//! computes the page of hits (top N by time and sequence after the cursor), the total, the
//! histogram and the facets; another the error groups; a third the sequence numbers matched
//! (live-tail filtering). Documents are read in blocks (`collect_block`), their columns with
//! `first_vals`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use super::api::LogOrder;
use super::schema::{FINGERPRINT, HOST, LEVEL, SEQ, SERVICE, TIME};

/// Facet fields, in the order of [`SearchFruit::facets`].
pub(crate) const FACETS: [&str; 3] = [LEVEL, SERVICE, HOST];
/// Histograms with at most this many buckets in a partition count in a flat array.
const DENSE_BUCKETS: i64 = 1 << 16;
/// Facet fields with at most this many distinct values in a segment count in a flat array.
const DENSE_TERMS: usize = 1 << 16;
/// Services listed per error group.
pub(crate) const MAX_GROUP_SERVICES: usize = 64;

/// A hit's place in the search order: higher ranks come first. Newest-first ranks by
/// (time, seq), oldest-first by the complement, so one comparison serves both.
pub(crate) fn rank(order: LogOrder, time_ms: i64, seq: u64) -> u128 {
    let base = (u128::from((time_ms as u64) ^ (1 << 63)) << 64) | u128::from(seq);
    match order {
        LogOrder::NewestFirst => base,
        LogOrder::OldestFirst => !base,
    }
}

fn str_column(reader: &SegmentReader, name: &str) -> tantivy::Result<Option<StrColumn>> {
    reader.fast_fields().str(name)
}

fn fill<T: Copy>(buf: &mut Vec<Option<T>>, n: usize) -> &mut [Option<T>] {
    buf.clear();
    buf.resize(n, None);
    &mut buf[..]
}

// ------------------------------------------------------------------ search

pub(crate) struct SearchCollector {
    pub(crate) order: LogOrder,
    /// Only hits ranked below this (strictly after the cursor) are kept for the page.
    pub(crate) after: Option<u128>,
    /// Hits to keep: the page size plus one, to learn whether more follow.
    pub(crate) keep: usize,
    /// Bucket width and the partition's slice of the searched range.
    pub(crate) histogram: Option<(i64, i64, i64)>,
    pub(crate) facets: bool,
}

#[derive(Default)]
pub(crate) struct SearchFruit {
    pub(crate) total: u64,
    /// `(rank, time, seq, address)`, best first after merging.
    pub(crate) top: Vec<(u128, i64, u64, DocAddress)>,
    pub(crate) histogram: HashMap<i64, u64>,
    pub(crate) facets: [HashMap<String, u64>; 3],
}

enum Counts {
    Dense(Vec<u64>),
    Sparse(HashMap<u64, u64>),
}

impl Counts {
    fn new(size: usize) -> Counts {
        if size <= DENSE_TERMS {
            Counts::Dense(vec![0; size])
        } else {
            Counts::Sparse(HashMap::new())
        }
    }

    fn add(&mut self, key: u64) {
        match self {
            Counts::Dense(v) => {
                if let Some(c) = v.get_mut(key as usize) {
                    *c += 1;
                }
            }
            Counts::Sparse(m) => *m.entry(key).or_default() += 1,
        }
    }

    fn nonzero(&self) -> Vec<(u64, u64)> {
        match self {
            Counts::Dense(v) => v
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(k, c)| (k as u64, *c))
                .collect(),
            Counts::Sparse(m) => m.iter().map(|(k, c)| (*k, *c)).collect(),
        }
    }
}

struct Histogram {
    width: i64,
    first_bucket: i64,
    dense: Vec<u64>,
    sparse: HashMap<i64, u64>,
}

pub(crate) struct SearchSegment {
    segment_ord: SegmentOrdinal,
    time: Column<i64>,
    seq: Column<u64>,
    order: LogOrder,
    after: Option<u128>,
    keep: usize,
    heap: BinaryHeap<Reverse<(u128, i64, u64, DocId)>>,
    total: u64,
    histogram: Option<Histogram>,
    facets: Vec<(StrColumn, Counts)>,
    facet_missing: [bool; 3],
    times: Vec<Option<i64>>,
    seqs: Vec<Option<u64>>,
    ords: Vec<Option<u64>>,
}

impl Collector for SearchCollector {
    type Fruit = SearchFruit;
    type Child = SearchSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SearchSegment> {
        let fast = reader.fast_fields();
        let histogram = self.histogram.map(|(width, start, end)| {
            let first_bucket = start.div_euclid(width);
            let n = end
                .div_euclid(width)
                .saturating_sub(first_bucket)
                .saturating_add(1);
            Histogram {
                width,
                first_bucket,
                dense: if n <= DENSE_BUCKETS {
                    vec![0; n as usize]
                } else {
                    Vec::new()
                },
                sparse: HashMap::new(),
            }
        });
        let mut facets = Vec::new();
        let mut facet_missing = [false; 3];
        if self.facets {
            for (i, name) in FACETS.iter().enumerate() {
                match str_column(reader, name)? {
                    Some(col) => {
                        let n = col.num_terms();
                        facets.push((col, Counts::new(n)));
                    }
                    None => facet_missing[i] = true,
                }
            }
        }
        Ok(SearchSegment {
            segment_ord,
            time: fast.i64(TIME)?,
            seq: fast.u64(SEQ)?,
            order: self.order,
            after: self.after,
            keep: self.keep,
            heap: BinaryHeap::with_capacity(self.keep.min(4096) + 1),
            total: 0,
            histogram,
            facets,
            facet_missing,
            times: Vec::new(),
            seqs: Vec::new(),
            ords: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SearchFruit>) -> tantivy::Result<SearchFruit> {
        Ok(merge_search_fruits(fruits, self.keep))
    }
}

/// Merges partial results (segments of a partition, or partitions), keeping the best `keep`
/// hits.
pub(crate) fn merge_search_fruits(fruits: Vec<SearchFruit>, keep: usize) -> SearchFruit {
    let mut out = SearchFruit::default();
    for f in fruits {
        out.total += f.total;
        out.top.extend(f.top);
        for (k, v) in f.histogram {
            *out.histogram.entry(k).or_default() += v;
        }
        for (acc, part) in out.facets.iter_mut().zip(f.facets) {
            for (k, v) in part {
                *acc.entry(k).or_default() += v;
            }
        }
    }
    out.top.sort_unstable_by_key(|h| Reverse(h.0));
    out.top.truncate(keep);
    out
}

impl SegmentCollector for SearchSegment {
    type Fruit = SearchFruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len() as u64;
        let need_time = self.keep > 0 || self.histogram.is_some();
        if need_time {
            self.time
                .first_vals(docs, fill(&mut self.times, docs.len()));
        }
        if self.keep > 0 {
            self.seq.first_vals(docs, fill(&mut self.seqs, docs.len()));
            for (i, &doc) in docs.iter().enumerate() {
                let (Some(t), Some(s)) = (self.times[i], self.seqs[i]) else {
                    continue;
                };
                let r = rank(self.order, t, s);
                if self.after.is_some_and(|a| r >= a) {
                    continue;
                }
                if self.heap.len() < self.keep {
                    self.heap.push(Reverse((r, t, s, doc)));
                } else if self.heap.peek().is_some_and(|Reverse(worst)| r > worst.0) {
                    self.heap.pop();
                    self.heap.push(Reverse((r, t, s, doc)));
                }
            }
        }
        if let Some(h) = &mut self.histogram {
            for t in self.times.iter().flatten() {
                let b = t.div_euclid(h.width);
                match usize::try_from(b.wrapping_sub(h.first_bucket))
                    .ok()
                    .and_then(|i| h.dense.get_mut(i))
                {
                    Some(c) => *c += 1,
                    None => *h.sparse.entry(b).or_default() += 1,
                }
            }
        }
        for (col, counts) in &mut self.facets {
            col.ords()
                .first_vals(docs, fill(&mut self.ords, docs.len()));
            for o in self.ords.iter().flatten() {
                counts.add(*o);
            }
        }
    }

    fn harvest(self) -> SearchFruit {
        let segment_ord = self.segment_ord;
        let top = self
            .heap
            .into_iter()
            .map(|Reverse((r, t, s, doc_id))| {
                (
                    r,
                    t,
                    s,
                    DocAddress {
                        segment_ord,
                        doc_id,
                    },
                )
            })
            .collect();
        let mut histogram = HashMap::new();
        if let Some(h) = self.histogram {
            for (i, c) in h.dense.iter().enumerate() {
                if *c > 0 {
                    histogram.insert((h.first_bucket + i as i64).saturating_mul(h.width), *c);
                }
            }
            for (b, c) in h.sparse {
                *histogram.entry(b.saturating_mul(h.width)).or_default() += c;
            }
        }
        let mut facets: [HashMap<String, u64>; 3] = Default::default();
        let mut cols = self.facets.into_iter();
        for (i, missing) in self.facet_missing.iter().enumerate() {
            if *missing {
                continue;
            }
            let Some((col, counts)) = cols.next() else {
                break;
            };
            let mut name = String::new();
            for (ord, c) in counts.nonzero() {
                name.clear();
                if col.ord_to_str(ord, &mut name).unwrap_or(false) {
                    *facets[i].entry(name.clone()).or_default() += c;
                }
            }
        }
        SearchFruit {
            total: self.total,
            top,
            histogram,
            facets,
        }
    }
}

// ------------------------------------------------------------------ error groups

pub(crate) struct GroupCollector;

/// One error group as seen in part of the data.
pub(crate) struct GroupPart {
    pub(crate) count: u64,
    pub(crate) first_ms: i64,
    pub(crate) last_ms: i64,
    /// The newest line: its rank (newest first), sequence number and address.
    pub(crate) newest: (u128, u64, DocAddress),
    pub(crate) services: Vec<String>,
}

impl GroupPart {
    pub(crate) fn merge(&mut self, other: GroupPart) {
        self.count += other.count;
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
        if other.newest.0 > self.newest.0 {
            self.newest = other.newest;
        }
        for s in other.services {
            if self.services.len() >= MAX_GROUP_SERVICES {
                break;
            }
            if !self.services.contains(&s) {
                self.services.push(s);
            }
        }
    }
}

struct GroupAcc {
    count: u64,
    first_ms: i64,
    last_ms: i64,
    newest: (u128, u64, DocId),
    services: Vec<u64>,
}

pub(crate) struct GroupSegment {
    segment_ord: SegmentOrdinal,
    fingerprint: Option<StrColumn>,
    service: Option<StrColumn>,
    time: Column<i64>,
    seq: Column<u64>,
    groups: HashMap<u64, GroupAcc>,
}

impl Collector for GroupCollector {
    type Fruit = HashMap<String, GroupPart>;
    type Child = GroupSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<GroupSegment> {
        let fast = reader.fast_fields();
        Ok(GroupSegment {
            segment_ord,
            fingerprint: str_column(reader, FINGERPRINT)?,
            service: str_column(reader, SERVICE)?,
            time: fast.i64(TIME)?,
            seq: fast.u64(SEQ)?,
            groups: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<HashMap<String, GroupPart>>,
    ) -> tantivy::Result<HashMap<String, GroupPart>> {
        Ok(merge_groups(fruits))
    }
}

pub(crate) fn merge_groups(
    fruits: impl IntoIterator<Item = HashMap<String, GroupPart>>,
) -> HashMap<String, GroupPart> {
    let mut out: HashMap<String, GroupPart> = HashMap::new();
    for f in fruits {
        for (k, part) in f {
            match out.get_mut(&k) {
                Some(acc) => acc.merge(part),
                None => {
                    out.insert(k, part);
                }
            }
        }
    }
    out
}

impl SegmentCollector for GroupSegment {
    type Fruit = HashMap<String, GroupPart>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(fp) = self.fingerprint.as_ref().and_then(|c| c.ords().first(doc)) else {
            return;
        };
        let (Some(t), Some(s)) = (self.time.first(doc), self.seq.first(doc)) else {
            return;
        };
        let service = self.service.as_ref().and_then(|c| c.ords().first(doc));
        let r = rank(LogOrder::NewestFirst, t, s);
        let acc = self.groups.entry(fp).or_insert(GroupAcc {
            count: 0,
            first_ms: t,
            last_ms: t,
            newest: (r, s, doc),
            services: Vec::new(),
        });
        acc.count += 1;
        acc.first_ms = acc.first_ms.min(t);
        acc.last_ms = acc.last_ms.max(t);
        if r > acc.newest.0 {
            acc.newest = (r, s, doc);
        }
        if let Some(sv) = service
            && acc.services.len() < MAX_GROUP_SERVICES
            && !acc.services.contains(&sv)
        {
            acc.services.push(sv);
        }
    }

    fn harvest(self) -> HashMap<String, GroupPart> {
        let mut out = HashMap::with_capacity(self.groups.len());
        let Some(fp_col) = self.fingerprint else {
            return out;
        };
        let segment_ord = self.segment_ord;
        for (fp, acc) in self.groups {
            let mut name = String::new();
            if !fp_col.ord_to_str(fp, &mut name).unwrap_or(false) {
                continue;
            }
            let services = acc
                .services
                .iter()
                .filter_map(|o| {
                    let mut s = String::new();
                    let col = self.service.as_ref()?;
                    col.ord_to_str(*o, &mut s).ok()?.then_some(s)
                })
                .collect();
            let (r, s, doc_id) = acc.newest;
            out.insert(
                name,
                GroupPart {
                    count: acc.count,
                    first_ms: acc.first_ms,
                    last_ms: acc.last_ms,
                    newest: (
                        r,
                        s,
                        DocAddress {
                            segment_ord,
                            doc_id,
                        },
                    ),
                    services,
                },
            );
        }
        out
    }
}

// ------------------------------------------------------------------ sequence numbers

/// The sequence numbers of the matched documents.
pub(crate) struct SeqCollector;

pub(crate) struct SeqSegment {
    seq: Column<u64>,
    out: Vec<u64>,
}

impl Collector for SeqCollector {
    type Fruit = Vec<u64>;
    type Child = SeqSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SeqSegment> {
        Ok(SeqSegment {
            seq: reader.fast_fields().u64(SEQ)?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<u64>>) -> tantivy::Result<Vec<u64>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SeqSegment {
    type Fruit = Vec<u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.out.extend(self.seq.first(doc));
    }

    fn harvest(self) -> Vec<u64> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_orders_both_ways() {
        let n = |t, s| rank(LogOrder::NewestFirst, t, s);
        assert!(n(5, 1) > n(4, 9));
        assert!(n(5, 2) > n(5, 1));
        assert!(n(-1, 0) < n(0, 0));
        assert!(n(i64::MIN, 0) < n(i64::MAX, 0));
        let o = |t, s| rank(LogOrder::OldestFirst, t, s);
        assert!(o(4, 9) > o(5, 1));
        assert!(o(5, 1) > o(5, 2));
    }
}
