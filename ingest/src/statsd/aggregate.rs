//! Aggregation of StatsD samples per flush interval.
//!
//! Hot path: a sample's raw identity (type, name part, DogStatsD tag sections, as sent) is
//! looked up in `index`, a hash map from those bytes to a series slot; a hit updates the slot in
//! place without allocating. A miss takes the slow path once: name-embedded tags, mapping
//! (cached per name), label building, type-conflict and cardinality checks, then the raw key
//! is remembered. Several raw keys can lead to one series (tags in another order, two names
//! mapped to one metric): series are identified by their final label set.
//!
//! A flush ([`Aggregator::snapshot`]) copies the numbers out under the caller's lock, resets what
//! is per interval (sets), expires idle series (`ttl`), and the caller turns the snapshot into
//! [`SeriesSamples`] outside the lock ([`build_batch`]).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use prometheus::IntCounter;
use storage::{Label, Labels, METRIC_NAME, Sample as StorageSample, SeriesSamples};

use super::mapping::{Lookup, MappingConfig, ObserverType, SeriesOptions, escape_metric_name};
use super::parser::{self, MetricClass, Reject, Sample, StatType, parse_line};
use super::summary::{self, Window};
use crate::IngestMetrics;

/// Mapping results kept per StatsD name before the cache is cleared.
const MAPPING_CACHE_CAP: usize = 16_384;
/// Distinct members one set tracks per interval; beyond, the count saturates.
const SET_CAP: usize = 100_000;

/// Limits of the aggregator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_series: usize,
    pub(crate) max_new_series_per_flush: usize,
}

/// What a series is, decided by its StatsD type and mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Set,
    Histogram,
    Summary,
}

/// The identity of a series, shared with flush snapshots.
#[derive(Debug)]
pub(crate) struct SeriesMeta {
    /// The metric name (escaped).
    pub(crate) name: String,
    /// All labels, `__name__` included (shared with the aggregator's index by labels).
    pub(crate) labels: Arc<Labels>,
}

#[derive(Debug)]
enum State {
    Counter(f64),
    Gauge(f64),
    Set(HashSet<u64>),
    Histogram(Box<Histo>),
    Summary(Box<Summ>),
}

#[derive(Debug)]
struct Histo {
    bounds: Arc<[f64]>,
    /// Per bucket (not cumulative), the last one for `+Inf`.
    counts: Box<[u64]>,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
struct Summ {
    quantiles: Arc<[f64]>,
    window: Window,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
struct Slot {
    meta: Arc<SeriesMeta>,
    state: State,
    last_seen_ms: i64,
    /// 0: never expires.
    ttl_ms: i64,
}

/// Where a raw key leads.
#[derive(Debug, Clone, Copy)]
enum Target {
    Series {
        slot: u32,
        scale: Option<f64>,
        ttl_ms: i64,
    },
    Drop,
}

/// The numbers of one series at a flush.
#[derive(Debug)]
pub(crate) enum Snap {
    Value(f64),
    Histogram {
        bounds: Arc<[f64]>,
        counts: Box<[u64]>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Arc<[f64]>,
        values: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

/// Pre-resolved counters for the hot path.
struct Counters {
    rejects: Vec<IntCounter>,
    dropped: IntCounter,
}

/// At most one warning per second about rejected lines, with the number left unsaid.
struct RejectLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RejectLog {
    fn record(&mut self, reason: Reject, line: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t).as_secs() < 1)
        {
            self.suppressed += 1;
            return;
        }
        let shown: String = line.chars().take(200).collect();
        tracing::warn!(
            reason = reason.as_str(),
            line = %shown.escape_debug(),
            suppressed = self.suppressed,
            "statsd line rejected"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

pub(crate) struct Aggregator {
    mapping: Option<Arc<MappingConfig>>,
    defaults: Arc<SeriesOptions>,
    limits: Limits,
    index: HashMap<Box<[u8]>, Target>,
    index_cap: usize,
    key: Vec<u8>,
    map_cache: HashMap<Box<str>, [Option<Arc<Lookup>>; 3]>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_labels: HashMap<Arc<Labels>, u32>,
    name_kinds: HashMap<String, (Kind, u32)>,
    live: usize,
    new_this_interval: usize,
    now_ms: i64,
    set_hasher: RandomState,
    seed: u64,
    counters: Counters,
    log: RejectLog,
    series_gauge: prometheus::IntGauge,
}

impl Aggregator {
    pub(crate) fn new(
        mapping: Option<Arc<MappingConfig>>,
        limits: Limits,
        metrics: &IngestMetrics,
    ) -> Self {
        let defaults = mapping
            .as_ref()
            .map(|m| m.defaults().clone())
            .unwrap_or_else(|| Arc::new(SeriesOptions::builtin()));
        let rejects = Reject::ALL
            .iter()
            .map(|r| metrics.statsd_rejects.with_label_values(&[r.as_str()]))
            .collect();
        let set_hasher = RandomState::new();
        let seed = set_hasher.hash_one(0x5eed_u64);
        Aggregator {
            mapping,
            defaults,
            limits,
            index: HashMap::new(),
            index_cap: limits.max_series.saturating_mul(2).max(1024),
            key: Vec::with_capacity(256),
            map_cache: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            by_labels: HashMap::new(),
            name_kinds: HashMap::new(),
            live: 0,
            new_this_interval: 0,
            now_ms: 0,
            set_hasher,
            seed,
            counters: Counters {
                rejects,
                dropped: metrics.statsd_dropped_by_mapping.clone(),
            },
            log: RejectLog {
                last: None,
                suppressed: 0,
            },
            series_gauge: metrics.statsd_aggregator_series.clone(),
        }
    }

    /// Live series.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Ingests newline-separated lines (a UDP datagram or complete TCP lines) received at
    /// `now_ms`; lines longer than `max_line` bytes are rejected. Returns the number of
    /// non-empty lines.
    pub(crate) fn ingest(&mut self, packet: &[u8], max_line: Option<usize>, now_ms: i64) -> u64 {
        self.now_ms = now_ms;
        let max = max_line.unwrap_or(usize::MAX);
        let mut lines = 0u64;
        if let Ok(text) = std::str::from_utf8(packet) {
            for line in text.split('\n') {
                if line.is_empty() || line == "\r" {
                    continue;
                }
                lines += 1;
                if line.len() > max {
                    self.reject(Reject::LineTooLong, line);
                    continue;
                }
                self.ingest_line(line);
            }
        } else {
            for raw in packet.split(|b| *b == b'\n') {
                if raw.is_empty() || raw == b"\r" {
                    continue;
                }
                lines += 1;
                match std::str::from_utf8(raw) {
                    Ok(line) if line.len() > max => self.reject(Reject::LineTooLong, line),
                    Ok(line) => self.ingest_line(line),
                    Err(_) => {
                        let shown = String::from_utf8_lossy(raw);
                        self.reject(Reject::InvalidUtf8, &shown);
                    }
                }
            }
        }
        lines
    }

    /// Counts and logs (rate-limited) one rejected line or sample.
    pub(crate) fn reject(&mut self, reason: Reject, line: &str) {
        if let Some(c) = self.counters.rejects.get(reason.index()) {
            c.inc();
        }
        self.log.record(reason, line);
    }

    fn ingest_line(&mut self, line: &str) {
        parse_line(line, &mut |name, parsed| match parsed {
            Ok(sample) => {
                if let Err(reason) = self.ingest_sample(name, &sample) {
                    self.reject(reason, line);
                }
            }
            Err(reason) => self.reject(reason, line),
        });
    }

    fn ingest_sample(&mut self, name: &str, sample: &Sample<'_>) -> Result<(), Reject> {
        self.key.clear();
        self.key.push(sample.ty.code());
        self.key.extend_from_slice(name.as_bytes());
        self.key.push(0xff); // never in UTF-8
        for section in sample.tag_sections() {
            self.key.push(b'#');
            self.key.extend_from_slice(section.as_bytes());
        }
        let target = match self.index.get(self.key.as_slice()) {
            Some(t) => *t,
            None => {
                let t = self.resolve(name, sample)?;
                if self.index.len() < self.index_cap {
                    self.index.insert(self.key.clone().into_boxed_slice(), t);
                }
                t
            }
        };
        match target {
            Target::Drop => {
                self.counters.dropped.inc();
                Ok(())
            }
            Target::Series {
                slot,
                scale,
                ttl_ms,
            } => self.apply(slot, scale, ttl_ms, sample),
        }
    }

    fn apply(
        &mut self,
        slot: u32,
        scale: Option<f64>,
        ttl_ms: i64,
        s: &Sample<'_>,
    ) -> Result<(), Reject> {
        let now = self.now_ms;
        let set_hash = if s.ty == StatType::Set {
            self.set_hasher.hash_one(s.raw_value.as_bytes())
        } else {
            0
        };
        let Some(Some(slot)) = self.slots.get_mut(slot as usize) else {
            return Ok(());
        };
        let scaled = |v: f64| match scale {
            Some(k) => v * k,
            None => v,
        };
        match &mut slot.state {
            State::Counter(total) => {
                let v = scaled(if s.rate < 1.0 {
                    s.value / s.rate
                } else {
                    s.value
                });
                if v < 0.0 {
                    return Err(Reject::NegativeCounter);
                }
                *total += v;
            }
            State::Gauge(g) => {
                let v = scaled(s.value);
                if s.relative {
                    *g += v;
                } else {
                    *g = v;
                }
            }
            State::Set(members) => {
                if members.len() < SET_CAP {
                    members.insert(set_hash);
                }
            }
            State::Histogram(h) => {
                let v = scaled(if s.ty == StatType::Timer {
                    s.value / 1000.0
                } else {
                    s.value
                });
                let w = weight(s.rate);
                let i = h.bounds.partition_point(|b| *b < v);
                if let Some(c) = h.counts.get_mut(i) {
                    *c = c.saturating_add(w);
                }
                h.sum += v * w as f64;
                h.count = h.count.saturating_add(w);
            }
            State::Summary(sm) => {
                let v = scaled(if s.ty == StatType::Timer {
                    s.value / 1000.0
                } else {
                    s.value
                });
                let w = weight(s.rate);
                sm.window.observe(v, now);
                sm.sum += v * w as f64;
                sm.count = sm.count.saturating_add(w);
            }
        }
        slot.last_seen_ms = now;
        slot.ttl_ms = ttl_ms;
        Ok(())
    }

    /// The slow path: decides which series a raw key feeds, creating it if needed.
    fn resolve(&mut self, raw_name: &str, sample: &Sample<'_>) -> Result<Target, Reject> {
        let split = parser::split_name_tags(raw_name);
        let mut labels: Vec<(String, String)> = Vec::new();
        if let Some(tags) = split.tags {
            parser::parse_name_tags(tags, &mut labels);
        }
        if sample.has_tags() && !labels.is_empty() {
            return Err(Reject::MixedTaggingStyles);
        }
        for section in sample.tag_sections() {
            parser::parse_dog_tags(section, &mut labels);
        }

        let lookup = self.lookup(&split.name, sample.ty.class());
        let (name, opts) = match lookup.as_ref() {
            Lookup::Drop => return Ok(Target::Drop),
            Lookup::Mapped {
                name,
                labels: mapped,
                opts,
            } => {
                for (k, v) in mapped {
                    match labels.iter_mut().find(|(n, _)| n == k) {
                        Some(_) if opts.honor_labels => {}
                        Some(existing) => existing.1 = v.clone(),
                        None => labels.push((k.clone(), v.clone())),
                    }
                }
                (escape_metric_name(name).into_owned(), opts.clone())
            }
            Lookup::Unmapped { opts } => {
                (escape_metric_name(&split.name).into_owned(), opts.clone())
            }
        };
        if name.is_empty() {
            return Err(Reject::EmptyMetricName);
        }
        let kind = match sample.ty {
            StatType::Counter => Kind::Counter,
            StatType::Gauge => Kind::Gauge,
            StatType::Set => Kind::Set,
            StatType::Timer | StatType::Histogram | StatType::Distribution => match opts.observer {
                ObserverType::Histogram => Kind::Histogram,
                ObserverType::Summary => Kind::Summary,
            },
        };
        for (k, _) in &labels {
            let reserved = k.starts_with("__")
                || (kind == Kind::Histogram && k == "le")
                || (kind == Kind::Summary && k == "quantile");
            if reserved {
                return Err(Reject::InvalidLabel);
            }
        }
        if let Some((existing, _)) = self.name_kinds.get(&name)
            && *existing != kind
        {
            return Err(Reject::TypeConflict);
        }
        let ttl_ms = opts
            .ttl
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1))
            .unwrap_or(0);
        let scale = opts.scale;
        let label_set = Labels::from_pairs(
            labels
                .into_iter()
                .chain(std::iter::once((METRIC_NAME.to_string(), name.clone()))),
        );
        if let Some(slot) = self.by_labels.get(&label_set) {
            return Ok(Target::Series {
                slot: *slot,
                scale,
                ttl_ms,
            });
        }
        if self.live >= self.limits.max_series
            || self.new_this_interval >= self.limits.max_new_series_per_flush
        {
            return Err(Reject::CardinalityLimit);
        }
        let slot = self.create(name, label_set, kind, &opts, ttl_ms);
        Ok(Target::Series {
            slot,
            scale,
            ttl_ms,
        })
    }

    fn lookup(&mut self, name: &str, class: MetricClass) -> Arc<Lookup> {
        let Some(mapping) = &self.mapping else {
            return Arc::new(Lookup::Unmapped {
                opts: self.defaults.clone(),
            });
        };
        if let Some(hit) = self
            .map_cache
            .get(name)
            .and_then(|e| e[class.index()].clone())
        {
            return hit;
        }
        let result = Arc::new(mapping.lookup(name, class));
        if self.map_cache.len() >= MAPPING_CACHE_CAP && !self.map_cache.contains_key(name) {
            self.map_cache.clear();
        }
        let entry = self.map_cache.entry(name.into()).or_default();
        entry[class.index()] = Some(result.clone());
        result
    }

    fn create(
        &mut self,
        name: String,
        labels: Labels,
        kind: Kind,
        opts: &SeriesOptions,
        ttl_ms: i64,
    ) -> u32 {
        let state = match kind {
            Kind::Counter => State::Counter(0.0),
            Kind::Gauge => State::Gauge(0.0),
            Kind::Set => State::Set(HashSet::new()),
            Kind::Histogram => State::Histogram(Box::new(Histo {
                bounds: opts.buckets.clone(),
                counts: vec![0; opts.buckets.len() + 1].into_boxed_slice(),
                sum: 0.0,
                count: 0,
            })),
            Kind::Summary => {
                self.seed = self
                    .seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let max_age_ms = i64::try_from(opts.max_age.as_millis()).unwrap_or(i64::MAX);
                State::Summary(Box::new(Summ {
                    quantiles: opts.quantiles.clone(),
                    window: Window::new(max_age_ms, opts.age_buckets, self.now_ms, self.seed),
                    sum: 0.0,
                    count: 0,
                }))
            }
        };
        self.name_kinds.entry(name.clone()).or_insert((kind, 0)).1 += 1;
        let labels = Arc::new(labels);
        let meta = Arc::new(SeriesMeta {
            name,
            labels: labels.clone(),
        });
        let slot = Slot {
            meta,
            state,
            last_seen_ms: self.now_ms,
            ttl_ms,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = Some(slot);
                }
                i
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.by_labels.insert(labels, idx);
        self.live += 1;
        self.new_this_interval += 1;
        self.series_gauge
            .set(i64::try_from(self.live).unwrap_or(i64::MAX));
        idx
    }

    /// Expires idle series, snapshots every live one and starts a new interval.
    pub(crate) fn snapshot(&mut self, now_ms: i64) -> Vec<(Arc<SeriesMeta>, Snap)> {
        self.now_ms = now_ms;
        self.expire(now_ms);
        let mut out = Vec::with_capacity(self.live);
        for slot in self.slots.iter_mut().flatten() {
            let snap = match &mut slot.state {
                State::Counter(v) | State::Gauge(v) => Snap::Value(*v),
                State::Set(members) => {
                    let n = members.len();
                    if members.capacity() > 1024 {
                        *members = HashSet::new();
                    } else {
                        members.clear();
                    }
                    Snap::Value(n as f64)
                }
                State::Histogram(h) => Snap::Histogram {
                    bounds: h.bounds.clone(),
                    counts: h.counts.clone(),
                    sum: h.sum,
                    count: h.count,
                },
                State::Summary(s) => Snap::Summary {
                    quantiles: s.quantiles.clone(),
                    values: s.window.weighted_values(now_ms),
                    sum: s.sum,
                    count: s.count,
                },
            };
            out.push((slot.meta.clone(), snap));
        }
        self.new_this_interval = 0;
        self.series_gauge
            .set(i64::try_from(self.live).unwrap_or(i64::MAX));
        out
    }

    fn expire(&mut self, now_ms: i64) {
        let mut expired: HashSet<u32> = HashSet::new();
        for (i, entry) in self.slots.iter_mut().enumerate() {
            let Some(slot) = entry else { continue };
            if slot.ttl_ms > 0 && now_ms.saturating_sub(slot.last_seen_ms) > slot.ttl_ms {
                let meta = slot.meta.clone();
                *entry = None;
                self.by_labels.remove(meta.labels.as_ref());
                if let Some(nk) = self.name_kinds.get_mut(&meta.name) {
                    nk.1 = nk.1.saturating_sub(1);
                    if nk.1 == 0 {
                        self.name_kinds.remove(&meta.name);
                    }
                }
                let idx = u32::try_from(i).unwrap_or(u32::MAX);
                self.free.push(idx);
                expired.insert(idx);
                self.live -= 1;
            }
        }
        if !expired.is_empty() {
            tracing::debug!(
                expired = expired.len(),
                live = self.live,
                "statsd series expired"
            );
            self.index
                .retain(|_, t| !matches!(t, Target::Series { slot, .. } if expired.contains(slot)));
        }
    }
}

/// How many observations a sampled timer/histogram value stands for: `1/rate` truncated, as
/// statsd_exporter repeats the event `int(1/rate)` times.
fn weight(rate: f64) -> u64 {
    if rate >= 1.0 {
        1
    } else {
        // rate is in (0, 1): at least 1, saturating for absurdly small rates
        ((1.0 / rate) as u64).max(1)
    }
}

/// Turns a snapshot into the batch written at `t_ms`.
pub(crate) fn build_batch(snapshot: Vec<(Arc<SeriesMeta>, Snap)>, t_ms: i64) -> Vec<SeriesSamples> {
    let mut batch = Vec::with_capacity(snapshot.len());
    let one = |labels: Labels, v: f64| SeriesSamples {
        labels,
        samples: vec![StorageSample { t: t_ms, v }],
    };
    for (meta, snap) in snapshot {
        match snap {
            Snap::Value(v) => batch.push(one(Labels::clone(&meta.labels), v)),
            Snap::Histogram {
                bounds,
                counts,
                sum,
                count,
            } => {
                let bucket = format!("{}_bucket", meta.name);
                let mut cumulative = 0u64;
                for (i, c) in counts.iter().enumerate() {
                    cumulative = cumulative.saturating_add(*c);
                    let le = bounds
                        .get(i)
                        .map(|b| go_float(*b))
                        .unwrap_or_else(|| "+Inf".to_string());
                    batch.push(one(
                        derived(&meta.labels, &bucket, Some(("le", le))),
                        cumulative as f64,
                    ));
                }
                batch.push(one(
                    derived(&meta.labels, &format!("{}_sum", meta.name), None),
                    sum,
                ));
                batch.push(one(
                    derived(&meta.labels, &format!("{}_count", meta.name), None),
                    count as f64,
                ));
            }
            Snap::Summary {
                quantiles,
                values,
                sum,
                count,
            } => {
                let qv = summary::quantiles(values, &quantiles);
                for (q, v) in quantiles.iter().zip(qv) {
                    batch.push(one(
                        derived(&meta.labels, &meta.name, Some(("quantile", go_float(*q)))),
                        v,
                    ));
                }
                batch.push(one(
                    derived(&meta.labels, &format!("{}_sum", meta.name), None),
                    sum,
                ));
                batch.push(one(
                    derived(&meta.labels, &format!("{}_count", meta.name), None),
                    count as f64,
                ));
            }
        }
    }
    batch
}

/// The series' labels with another metric name and maybe one more label.
fn derived(labels: &Labels, name: &str, extra: Option<(&str, String)>) -> Labels {
    let mut pairs: Vec<(String, String)> = labels
        .iter()
        .map(|Label { name: n, value }| {
            if n == METRIC_NAME {
                (n.clone(), name.to_string())
            } else {
                (n.clone(), value.clone())
            }
        })
        .collect();
    if let Some((k, v)) = extra {
        pairs.push((k.to_string(), v));
    }
    Labels::from_pairs(pairs)
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which is how statsd_exporter
/// (client_golang) writes `le` and `quantile` label values: `0.005`, `1`, `2.5`, `1e+06`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".to_string()
        } else {
            "0".to_string()
        };
    }
    let e = format!("{f:e}");
    let Some((mantissa, exp)) = e.split_once('e') else {
        return format!("{f}");
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    // Go switches to the exponent form below 1e-4 and, for the shortest form, from 1e+06 on
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> IngestMetrics {
        IngestMetrics::new(&prometheus::Registry::new())
    }

    fn agg_with(mapping: Option<&str>, limits: Limits) -> Aggregator {
        let m = mapping.map(|y| match MappingConfig::from_yaml(y) {
            Ok(m) => Arc::new(m),
            Err(e) => panic!("{e}"),
        });
        Aggregator::new(m, limits, &metrics())
    }

    fn agg(mapping: Option<&str>) -> Aggregator {
        agg_with(
            mapping,
            Limits {
                max_series: 1000,
                max_new_series_per_flush: 1000,
            },
        )
    }

    /// Flushes and renders `name{labels} value` lines, sorted.
    fn flush(a: &mut Aggregator, now_ms: i64) -> Vec<String> {
        let batch = build_batch(a.snapshot(now_ms), now_ms);
        let mut out: Vec<String> = batch
            .iter()
            .map(|s| {
                assert_eq!(s.samples.len(), 1);
                assert_eq!(s.samples[0].t, now_ms);
                format!("{} {}", s.labels, s.samples[0].v)
            })
            .collect();
        out.sort();
        out
    }

    fn feed(a: &mut Aggregator, text: &str, now_ms: i64) {
        a.ingest(text.as_bytes(), None, now_ms);
    }

    #[test]
    fn counters_are_cumulative_with_sample_rate() {
        let mut a = agg(None);
        feed(
            &mut a,
            "hits:1|c\nhits:2|c|@0.5\napi.requests:3|c|#env:prod",
            0,
        );
        assert_eq!(
            flush(&mut a, 10_000),
            vec!["api_requests{env=\"prod\"} 3", "hits{} 5"]
        );
        feed(&mut a, "hits:1|c", 11_000);
        assert_eq!(
            flush(&mut a, 20_000),
            vec!["api_requests{env=\"prod\"} 3", "hits{} 6"]
        );
        // negative increments are rejected
        feed(&mut a, "hits:-1|c", 21_000);
        assert_eq!(flush(&mut a, 30_000)[1], "hits{} 6");
    }

    #[test]
    fn gauges_set_and_apply_deltas() {
        let mut a = agg(None);
        feed(&mut a, "temp:10|g\ntemp:+5|g\ntemp:-3|g\nnew:-2|g", 0);
        assert_eq!(flush(&mut a, 1), vec!["new{} -2", "temp{} 12"]);
        feed(&mut a, "temp:4|g", 2);
        assert_eq!(flush(&mut a, 3), vec!["new{} -2", "temp{} 4"]);
    }

    #[test]
    fn sets_count_distinct_per_interval() {
        let mut a = agg(None);
        feed(
            &mut a,
            "users:alice|s\nusers:bob|s\nusers:alice|s\nusers:carol|s|#region:eu",
            0,
        );
        assert_eq!(
            flush(&mut a, 1),
            vec!["users{region=\"eu\"} 1", "users{} 2"]
        );
        feed(&mut a, "users:dave|s", 2);
        assert_eq!(
            flush(&mut a, 3),
            vec!["users{region=\"eu\"} 0", "users{} 1"]
        );
    }

    #[test]
    fn timers_become_histograms_in_seconds() {
        let mut a = agg(None);
        feed(&mut a, "rt:4|ms\nrt:30|ms\nrt:700|ms|@0.5\nrt:20000|ms", 0);
        let out = flush(&mut a, 1);
        let get = |needle: &str| {
            out.iter()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("{needle} in {out:?}"))
                .clone()
        };
        assert_eq!(get("rt_bucket{le=\"0.005\"}"), "rt_bucket{le=\"0.005\"} 1");
        assert_eq!(get("rt_bucket{le=\"0.025\"}"), "rt_bucket{le=\"0.025\"} 1");
        assert_eq!(get("rt_bucket{le=\"0.05\"}"), "rt_bucket{le=\"0.05\"} 2");
        assert_eq!(get("rt_bucket{le=\"1\"}"), "rt_bucket{le=\"1\"} 4");
        assert_eq!(get("rt_bucket{le=\"10\"}"), "rt_bucket{le=\"10\"} 4");
        assert_eq!(get("rt_bucket{le=\"+Inf\"}"), "rt_bucket{le=\"+Inf\"} 5");
        assert_eq!(get("rt_count"), "rt_count{} 5");
        let sum: f64 = get("rt_sum")
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(
            (sum - (0.004 + 0.03 + 0.7 * 2.0 + 20.0)).abs() < 1e-9,
            "{sum}"
        );
        assert_eq!(out.len(), 11 + 1 + 2);
        // h and d are not converted
        feed(&mut a, "size:3|h\nsize:7|d", 2);
        let out = flush(&mut a, 3);
        assert!(
            out.contains(&"size_bucket{le=\"2.5\"} 0".to_string()),
            "{out:?}"
        );
        assert!(
            out.contains(&"size_bucket{le=\"5\"} 1".to_string()),
            "{out:?}"
        );
        assert!(out.contains(&"size_sum{} 10".to_string()), "{out:?}");
        // cumulative since start
        feed(&mut a, "rt:4|ms", 4);
        assert!(flush(&mut a, 5).contains(&"rt_count{} 6".to_string()));
    }

    #[test]
    fn summaries_report_window_quantiles() {
        let mut a = agg(Some(
            r#"
mappings:
- match: "api.*.latency"
  name: "api_latency_seconds"
  observer_type: summary
  labels:
    endpoint: "$1"
"#,
        ));
        let mut text = String::new();
        for i in 1..=100 {
            text.push_str(&format!("api.users.latency:{}|ms\n", i * 10));
        }
        feed(&mut a, &text, 0);
        let out = flush(&mut a, 1000);
        assert!(
            out.contains(&"api_latency_seconds_count{endpoint=\"users\"} 100".to_string()),
            "{out:?}"
        );
        assert!(
            out.contains(
                &"api_latency_seconds{endpoint=\"users\", quantile=\"0.5\"} 0.5".to_string()
            ),
            "{out:?}"
        );
        assert!(
            out.contains(
                &"api_latency_seconds{endpoint=\"users\", quantile=\"0.9\"} 0.9".to_string()
            ),
            "{out:?}"
        );
        assert!(
            out.contains(
                &"api_latency_seconds{endpoint=\"users\", quantile=\"0.99\"} 0.99".to_string()
            ),
            "{out:?}"
        );
        // after max_age without observations the quantiles are NaN, sum and count stay
        let out = flush(&mut a, 1000 + 11 * 60_000);
        assert!(
            out.contains(
                &"api_latency_seconds{endpoint=\"users\", quantile=\"0.5\"} NaN".to_string()
            ),
            "{out:?}"
        );
        assert!(
            out.contains(&"api_latency_seconds_count{endpoint=\"users\"} 100".to_string()),
            "{out:?}"
        );
    }

    #[test]
    fn mapping_labels_drop_and_tags() {
        let mut a = agg(Some(
            r#"
mappings:
- match: simplebank-demo.*.*
  name: "$2"
  labels:
    app: "$1"
    job: "simplebank-demo"
- match: "noisy.*"
  name: noisy
  action: drop
- match: "honor.*"
  name: honor
  honor_labels: true
  labels:
    env: "mapped"
- match: "scaled.*"
  name: scaled
  scale: 1000
"#,
        ));
        feed(
            &mut a,
            "simplebank-demo.accounts.requests:1|c|#job:from-tag,region:eu\n\
             noisy.x:1|c\n\
             honor.a:1|g|#env:tagged\n\
             honor.b:1|g\n\
             scaled.x:2|ms",
            0,
        );
        let out = flush(&mut a, 1);
        assert!(
            out.contains(
                &"requests{app=\"accounts\", job=\"simplebank-demo\", region=\"eu\"} 1".to_string()
            ),
            "{out:?}"
        );
        assert!(
            out.contains(&"honor{env=\"tagged\"} 1".to_string()),
            "{out:?}"
        );
        assert!(out.iter().all(|l| !l.starts_with("noisy")));
        assert!(out.contains(&"scaled_sum{} 2".to_string()), "{out:?}");
        // honor.a and honor.b: different label sets, one metric
        assert_eq!(
            out.iter().filter(|l| l.starts_with("honor{")).count(),
            2,
            "{out:?}"
        );
    }

    #[test]
    fn tag_order_and_name_styles_share_series() {
        let mut a = agg(None);
        feed(
            &mut a,
            "m:1|c|#a:1,b:2\nm:1|c|#b:2,a:1\nm,a=1,b=2:1|c\nm#a=1,b=2:1|c\nm[a=1,b=2]:1|c",
            0,
        );
        assert_eq!(flush(&mut a, 1), vec!["m{a=\"1\", b=\"2\"} 5"]);
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn type_conflicts_and_bad_labels_are_rejected() {
        let m = metrics();
        let mut a = Aggregator::new(
            None,
            Limits {
                max_series: 100,
                max_new_series_per_flush: 100,
            },
            &m,
        );
        feed(
            &mut a,
            "x:1|c\nx:1|g\nx:1|ms\nh:1|ms|#le:5\nq:1|c|#__name__:y\nm,a=1:1|c|#b:2",
            0,
        );
        assert_eq!(flush(&mut a, 1), vec!["x{} 1"]);
        let rej = |r: &str| m.statsd_rejects.with_label_values(&[r]).get();
        assert_eq!(rej("type_conflict"), 2);
        assert_eq!(rej("invalid_label"), 2);
        assert_eq!(rej("mixed_tagging_styles"), 1);
    }

    #[test]
    fn cardinality_limits() {
        let m = metrics();
        let mut a = Aggregator::new(
            None,
            Limits {
                max_series: 5,
                max_new_series_per_flush: 3,
            },
            &m,
        );
        let lines: String = (0..10).map(|i| format!("c{i}:1|c\n")).collect();
        feed(&mut a, &lines, 0);
        assert_eq!(a.len(), 3);
        assert_eq!(
            m.statsd_rejects
                .with_label_values(&["cardinality_limit"])
                .get(),
            7
        );
        flush(&mut a, 1);
        feed(&mut a, &lines, 2);
        assert_eq!(a.len(), 5);
        // existing series keep counting
        feed(&mut a, "c0:1|c", 3);
        assert!(flush(&mut a, 4).contains(&"c0{} 3".to_string()));
    }

    #[test]
    fn ttl_expires_idle_series_and_frees_capacity() {
        let m = metrics();
        let mapping = Arc::new(match MappingConfig::from_yaml("defaults:\n  ttl: 10s\n") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        });
        let mut a = Aggregator::new(
            Some(mapping),
            Limits {
                max_series: 1,
                max_new_series_per_flush: 10,
            },
            &m,
        );
        feed(&mut a, "a:1|c", 0);
        feed(&mut a, "b:1|c", 0);
        assert_eq!(flush(&mut a, 5_000), vec!["a{} 1"]);
        assert_eq!(flush(&mut a, 10_000), vec!["a{} 1"]);
        assert!(flush(&mut a, 10_001).is_empty());
        feed(&mut a, "b:1|c", 10_002);
        assert_eq!(flush(&mut a, 10_003), vec!["b{} 1"]);
        feed(&mut a, "a:1|g", 10_004);
        assert_eq!(
            m.statsd_rejects
                .with_label_values(&["cardinality_limit"])
                .get(),
            2
        );
    }

    #[test]
    fn bad_input_is_counted_and_good_lines_survive() {
        let m = metrics();
        let mut a = Aggregator::new(
            None,
            Limits {
                max_series: 100,
                max_new_series_per_flush: 100,
            },
            &m,
        );
        let mut packet = b"ok:1|c\nbad\n\xff\xfe:1|c\r\nok:2|c\r\nlong:1|c|#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:b\n".to_vec();
        packet.extend_from_slice(b"\n\n");
        let lines = a.ingest(&packet, Some(40), 0);
        assert_eq!(lines, 5);
        assert_eq!(flush(&mut a, 1), vec!["ok{} 3"]);
        let rej = |r: &str| m.statsd_rejects.with_label_values(&[r]).get();
        assert_eq!(
            (
                rej("malformed_line"),
                rej("invalid_utf8"),
                rej("line_too_long")
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn go_float_format() {
        for (f, s) in [
            (0.005, "0.005"),
            (0.01, "0.01"),
            (1.0, "1"),
            (2.5, "2.5"),
            (10.0, "10"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.99, "0.99"),
            (0.0, "0"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(go_float(f), s, "{f}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
            #[test]
            fn arbitrary_packets_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut a = agg(Some("mappings:\n- match: a.*\n  name: x_$1\n- match: '(.*)'\n  match_type: regex\n  name: r\n  labels:\n    raw: $1\n"));
                a.ingest(&packet, Some(100), 0);
                let _ = build_batch(a.snapshot(1), 1);
            }

            #[test]
            fn statsd_shaped_packets_never_panic(lines in proptest::collection::vec("[a-c.]{1,6}(\\[[a-c=,]{0,6}\\])?:[-+]?[0-9.]{1,5}(:[0-9]{1,3})?\\|(c|g|ms|h|d|s|x)(\\|@0?\\.[0-9])?(\\|#[a-c:,#]{0,8})?", 0..20)) {
                let mut a = agg(None);
                a.ingest(lines.join("\n").as_bytes(), None, 0);
                let batch = build_batch(a.snapshot(1), 1);
                for s in &batch {
                    prop_assert!(s.labels.validate().is_ok(), "{}", s.labels);
                }
            }
        }
    }
}

/// Throughput of the hot path without sockets. Run optimised:
/// `cargo test -p ingest --config profile.dev.package.ingest.opt-level=3
/// --config profile.dev.package.ingest.debug-assertions=false
/// --config profile.dev.package.ingest.overflow-checks=false
/// statsd::aggregate::bench -- --ignored --nocapture`
#[cfg(test)]
pub(crate) use bench::packets_of as bench_packets;

#[cfg(test)]
mod bench {
    use super::*;

    /// 10 lines per packet over 1,000 series of mixed types, with tags on half of them.
    pub(crate) fn packets(count: usize) -> Vec<Vec<u8>> {
        packets_of(count, 10)
    }

    /// `per_packet` lines per packet over 1,000 series of mixed types.
    pub(crate) fn packets_of(count: usize, per_packet: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(count);
        let mut n = 0usize;
        for _ in 0..count {
            let mut p = String::new();
            for _ in 0..per_packet {
                let s = n % 1000;
                let line = match s % 5 {
                    0 => format!("app.requests.{s}:1|c|#env:prod,host:web-{}\n", s % 7),
                    1 => format!("app.latency.{s}:{}|ms|@0.5\n", n % 900),
                    2 => format!("app.queue.depth.{s}:{}|g\n", n % 50),
                    3 => format!("app.errors.{s}:1|c\n"),
                    _ => format!("app.payload.{s}:{}|h|#route:/api/v1/items\n", n % 4096),
                };
                p.push_str(&line);
                n += 1;
            }
            out.push(p.into_bytes());
        }
        out
    }

    #[test]
    #[ignore = "benchmark: run optimised with --ignored --nocapture"]
    fn hot_path_lines_per_second() {
        let metrics = IngestMetrics::new(&prometheus::Registry::new());
        let mut agg = Aggregator::new(
            None,
            Limits {
                max_series: 100_000,
                max_new_series_per_flush: 100_000,
            },
            &metrics,
        );
        let packets = packets(10_000);
        for p in &packets {
            agg.ingest(p, None, 0);
        }
        let rounds = 50;
        let started = Instant::now();
        let mut lines = 0u64;
        for r in 0..rounds {
            for p in &packets {
                lines += agg.ingest(p, None, r);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let flush_started = Instant::now();
        let batch = build_batch(agg.snapshot(1), 1);
        println!(
            "statsd hot path: {lines} lines in {secs:.3} s = {:.0} lines/s (one thread, 10 lines/packet, {} series); \
             flush of {} samples took {:?}",
            lines as f64 / secs,
            agg.len(),
            batch.len(),
            flush_started.elapsed()
        );
    }
}
