//! Golden signals derived from spans: request rate, errors and latency per service ×
//! operation × span kind × status, and the service graph, aggregated in memory and written
//! to the series store every flush interval as cumulative series (like StatsD).
//!
//! The series, labels, buckets and limits are documented in `ingest/docs/otlp.md`.
//!
//! # Wiring (what the binary does)
//!
//! ```ignore
//! let deriver = ingest::derive::SpanDeriver::new(ingest::derive::DeriveConfig::default(),
//!                                                &ingest_metrics);
//! // hand it to the OTLP ingest, which feeds it every span the trace store accepted
//! let otlp = ingest::otlp::OtlpIngest::new(writers, Some(deriver.clone()), …);
//! // flush every interval, and once more when `stop` resolves
//! let derive_task = tokio::spawn(deriver.clone().run(series_writer.clone(), stop));
//! // at shutdown: stop the OTLP servers first, then resolve `stop` and await `derive_task`,
//! // then close storage
//! ```
//!
//! Tests and other span sources call [`SpanDeriver::observe`] and [`SpanDeriver::flush`]
//! directly.

mod graph;
mod red;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use storage::{
    Labels, METRIC_NAME, MetricMetadata, MetricType, Sample, SeriesSamples, SeriesWriter, Span,
    SpanId, SpanKind, TraceId, now_ms,
};

use crate::{IngestError, IngestMetrics};

pub use red::BOUNDS as DURATION_BUCKETS;
#[cfg(test)]
pub(crate) use red::SERIES_PER_GROUP;

/// Request count per service, operation, span kind and status.
pub const SPANS_TOTAL: &str = "argus_spans_total";
/// The latency histogram family (`_bucket`, `_sum`, `_count`).
pub const SPAN_DURATION: &str = "argus_span_duration_seconds";
/// Requests between two services.
pub const GRAPH_REQUESTS: &str = "argus_service_graph_requests_total";
/// Failed requests between two services (the server-side span is an error).
pub const GRAPH_FAILED: &str = "argus_service_graph_request_failed_total";

/// Distinct services the service graph tracks; spans of further services do not take part
/// in it (counted as `service_limit`).
const MAX_GRAPH_SERVICES: usize = 10_000;

/// Settings of the [`SpanDeriver`].
#[derive(Debug, Clone)]
pub struct DeriveConfig {
    /// How often the aggregates are written (default 10 s).
    pub flush_interval: Duration,
    /// Most series held at once, span metrics (20 series per service × operation × kind ×
    /// status) and service-graph edges (2 each) together (default 200,000); observations
    /// that would need a new group beyond are dropped and counted (`cardinality_limit`).
    pub max_series: usize,
    /// A group or edge without spans for this long is forgotten and its series are no longer
    /// written (default 1 h; `None` keeps them).
    pub idle_ttl: Option<Duration>,
    /// How long a span waits for its parent (or is remembered as a parent) to form a
    /// service-graph edge (default 30 s).
    pub graph_wait: Duration,
    /// Most spans remembered as possible parents (default 200,000, about 100 bytes each).
    pub graph_max_recent: usize,
    /// Most parent spans with children waiting for them (default 100,000).
    pub graph_max_pending: usize,
}

impl Default for DeriveConfig {
    fn default() -> Self {
        DeriveConfig {
            flush_interval: Duration::from_secs(10),
            max_series: 200_000,
            idle_ttl: Some(Duration::from_secs(3600)),
            graph_wait: Duration::from_secs(30),
            graph_max_recent: 200_000,
            graph_max_pending: 100_000,
        }
    }
}

/// What the deriver needs of a span, copied out before the span goes to the store.
#[derive(Debug, Clone)]
pub(crate) struct SpanFacts {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    service: String,
    operation: String,
    kind: SpanKind,
    error: bool,
    duration_nanos: u64,
}

impl SpanFacts {
    pub(crate) fn of(span: &Span) -> Self {
        SpanFacts {
            trace_id: span.trace_id,
            span_id: span.span_id,
            parent: span.parent_span_id,
            service: span.service.clone(),
            operation: span.name.clone(),
            kind: span.kind,
            error: span.is_error(),
            duration_nanos: span.duration_nanos(),
        }
    }
}

struct State {
    red: red::Red,
    graph: graph::Graph,
    /// Services of the graph, each allocated once.
    services: std::collections::HashSet<Arc<str>>,
    metadata_recorded: bool,
}

impl State {
    fn series(&self) -> usize {
        self.red.groups() * red::SERIES_PER_GROUP + self.graph.edges.len() * 2
    }

    fn service(&mut self, name: &str) -> Option<Arc<str>> {
        if let Some(s) = self.services.get(name) {
            return Some(s.clone());
        }
        if self.services.len() >= MAX_GRAPH_SERVICES {
            return None;
        }
        let s: Arc<str> = Arc::from(name);
        self.services.insert(s.clone());
        Some(s)
    }
}

/// Turns spans into golden-signal series. One per process; cheap to share (`Arc`).
pub struct SpanDeriver {
    state: Mutex<State>,
    config: DeriveConfig,
    metrics: IngestMetrics,
    /// Time of the last flush: flush times strictly increase even if the clock steps back.
    last_flush_ms: AtomicI64,
}

impl std::fmt::Debug for SpanDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanDeriver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SpanDeriver {
    pub fn new(config: DeriveConfig, metrics: &IngestMetrics) -> Arc<Self> {
        Arc::new(SpanDeriver {
            state: Mutex::new(State {
                red: red::Red::default(),
                graph: graph::Graph::new(config.graph_max_recent, config.graph_max_pending),
                services: Default::default(),
                metadata_recorded: false,
            }),
            config,
            metrics: metrics.clone(),
            last_flush_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// Adds spans that storage accepted. Cheap: one short lock per call, no I/O.
    pub fn observe(&self, spans: &[Span]) {
        let facts: Vec<SpanFacts> = spans.iter().map(SpanFacts::of).collect();
        self.observe_facts(&facts);
    }

    pub(crate) fn observe_facts(&self, facts: &[SpanFacts]) {
        self.observe_at(facts, Instant::now());
    }

    fn observe_at(&self, facts: &[SpanFacts], now: Instant) {
        if facts.is_empty() {
            return;
        }
        let max = self.config.max_series;
        let mut dropped = 0u64;
        let mut no_service = 0u64;
        let mut events = graph::GraphEvents::default();
        let mut state = self.state.lock();
        let state = &mut *state;
        state.graph.expire(now, self.config.graph_wait, &mut events);
        for f in facts {
            let fits = state.series() + red::SERIES_PER_GROUP <= max;
            let seconds = f.duration_nanos as f64 / 1e9;
            if state
                .red
                .record(
                    &f.service,
                    &f.operation,
                    f.kind,
                    f.error,
                    seconds,
                    now,
                    fits,
                )
                .is_err()
            {
                dropped += 1;
            }
        }
        // Parents first, so that a child whose parent is in the same batch finds it.
        let mut services: Vec<Option<Arc<str>>> = Vec::with_capacity(facts.len());
        for f in facts {
            let service = state.service(&f.service);
            if let Some(service) = &service {
                let mut may_create = edge_budget(state.series(), max);
                state.graph.parent_seen(
                    graph::key(&f.trace_id, &f.span_id),
                    service,
                    now,
                    &mut events,
                    &mut may_create,
                );
            } else {
                no_service += 1;
            }
            services.push(service);
        }
        for (f, service) in facts.iter().zip(services) {
            let (Some(parent), Some(service)) = (f.parent, service) else {
                continue;
            };
            let mut may_create = edge_budget(state.series(), max);
            state.graph.child_seen(
                graph::key(&f.trace_id, &parent),
                &service,
                f.error,
                now,
                &mut events,
                &mut may_create,
            );
        }
        self.publish(state, &events);
        let m = &self.metrics;
        if dropped + events.dropped_edges > 0 {
            m.derive_dropped
                .with_label_values(&["cardinality_limit"])
                .inc_by(dropped + events.dropped_edges);
        }
        if no_service > 0 {
            m.derive_dropped
                .with_label_values(&["service_limit"])
                .inc_by(no_service);
        }
    }

    /// Updates the gauges and counters of the maps.
    fn publish(&self, state: &State, events: &graph::GraphEvents) {
        let m = &self.metrics;
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        m.derive_series.set(gauge(state.series()));
        m.service_graph_pending
            .set(gauge(state.graph.pending_children()));
        m.service_graph_recent.set(gauge(state.graph.recent.len()));
        m.service_graph_expired.inc_by(events.expired);
        m.service_graph_evicted
            .with_label_values(&["pending"])
            .inc_by(events.evicted_pending);
        m.service_graph_evicted
            .with_label_values(&["recent"])
            .inc_by(events.evicted_recent);
    }

    /// Series currently held (span metrics and service-graph edges).
    pub fn series(&self) -> usize {
        self.state.lock().series()
    }

    /// Writes every held series at the current time (cumulative values), and the families'
    /// metadata with the first write. Blocking: call it from a blocking thread. A failed
    /// write loses nothing: the next flush writes the same totals, grown.
    pub fn flush(&self, writer: &dyn SeriesWriter) -> Result<usize, IngestError> {
        let started = Instant::now();
        let result = self.flush_at(writer, Instant::now());
        self.metrics
            .derive_flush_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }

    fn flush_at(&self, writer: &dyn SeriesWriter, now: Instant) -> Result<usize, IngestError> {
        let t = self.next_flush_ms();
        let (groups, edges, record_metadata) = {
            let mut state = self.state.lock();
            let mut events = graph::GraphEvents::default();
            state.graph.expire(now, self.config.graph_wait, &mut events);
            if let Some(ttl) = self.config.idle_ttl {
                state.red.expire(now, ttl);
                state.graph.expire_edges(now, ttl);
            }
            self.publish(&state, &events);
            let edges: Vec<(graph::EdgeKey, graph::Edge)> = state
                .graph
                .edges
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            (state.red.snapshot(), edges, !state.metadata_recorded)
        };
        let fresh_groups: Vec<red::GroupKey> = groups
            .iter()
            .filter(|(_, s)| s.fresh)
            .map(|(k, _)| k.clone())
            .collect();
        let fresh_edges: Vec<graph::EdgeKey> = edges
            .iter()
            .filter(|(_, e)| e.fresh)
            .map(|(k, _)| k.clone())
            .collect();
        let batch = build_batch(&groups, &edges, t);
        let series = batch.len();
        if batch.is_empty() {
            return Ok(0);
        }
        let outcome = writer.append(batch)?;
        if record_metadata {
            writer.record_metadata(&metadata())?;
        }
        {
            let mut state = self.state.lock();
            state.metadata_recorded = true;
            state.red.written(&fresh_groups);
            state.graph.written(&fresh_edges);
        }
        self.metrics
            .samples_written
            .with_label_values(&["span_derive"])
            .inc_by(outcome.samples_appended);
        if outcome.rejected_total() > 0 {
            tracing::warn!(
                rejected = outcome.rejected_total(),
                first = outcome.first_rejection.as_deref().unwrap_or(""),
                "storage rejected span-derived samples"
            );
        }
        tracing::debug!(series, "span-derived series flushed");
        Ok(series)
    }

    fn next_flush_ms(&self) -> i64 {
        let now = now_ms();
        let previous = self.last_flush_ms.fetch_max(now, Ordering::Relaxed);
        if previous >= now {
            let next = previous.saturating_add(1);
            self.last_flush_ms.store(next, Ordering::Relaxed);
            next
        } else {
            now
        }
    }

    /// Flushes every [`DeriveConfig::flush_interval`] until `shutdown` resolves, then once
    /// more, and returns that last flush's result. A failed periodic flush is logged; the
    /// next one writes the totals again.
    pub async fn run(
        self: Arc<Self>,
        writer: Arc<dyn SeriesWriter>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), IngestError> {
        let period = self.config.flush_interval.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => {
                    if let Err(e) = self.flush_blocking(&writer).await {
                        tracing::error!(error = %e, "span-derived series flush failed");
                    }
                }
            }
        }
        self.flush_blocking(&writer).await.map(|_| ())
    }

    async fn flush_blocking(
        self: &Arc<Self>,
        writer: &Arc<dyn SeriesWriter>,
    ) -> Result<usize, IngestError> {
        let this = self.clone();
        let writer = writer.clone();
        tokio::task::spawn_blocking(move || this.flush(&*writer))
            .await
            .map_err(|e| {
                IngestError::Io(std::io::Error::other(format!("derive flush task: {e}")))
            })?
    }
}

/// Whether one more edge (two series) fits, for the edges one call may create.
fn edge_budget(series: usize, max: usize) -> impl FnMut() -> bool {
    let mut left = max.saturating_sub(series);
    move || {
        let fits = left >= 2;
        if fits {
            left -= 2;
        }
        fits
    }
}

/// The metadata of the four families.
fn metadata() -> Vec<MetricMetadata> {
    let md = |name: &str, kind, help: &str, unit: &str| MetricMetadata {
        metric_family: name.to_string(),
        kind,
        help: help.to_string(),
        unit: unit.to_string(),
    };
    vec![
        md(
            SPANS_TOTAL,
            MetricType::Counter,
            "Spans ingested, by service, operation, span kind and status (ok or error).",
            "",
        ),
        md(
            SPAN_DURATION,
            MetricType::Histogram,
            "Duration of ingested spans, by service, operation, span kind and status.",
            "seconds",
        ),
        md(
            GRAPH_REQUESTS,
            MetricType::Counter,
            "Requests from a client service to a server service, from parent and child spans.",
            "",
        ),
        md(
            GRAPH_FAILED,
            MetricType::Counter,
            "Requests from a client service to a server service whose server span is an error.",
            "",
        ),
    ]
}

fn le_text(i: usize) -> String {
    red::BOUNDS
        .get(i)
        .map(|b| b.to_string())
        .unwrap_or_else(|| "+Inf".to_string())
}

/// The samples of a flush at `t`: one per series, and a zero at `t - 1` before the first
/// sample of a new series.
fn build_batch(
    groups: &[(red::GroupKey, red::Slot)],
    edges: &[(graph::EdgeKey, graph::Edge)],
    t: i64,
) -> Vec<SeriesSamples> {
    let mut batch = Vec::with_capacity(groups.len() * red::SERIES_PER_GROUP + edges.len() * 2);
    let mut push = |labels: Labels, v: f64, fresh: bool| {
        let mut samples = Vec::with_capacity(2);
        if fresh {
            samples.push(Sample { t: t - 1, v: 0.0 });
        }
        samples.push(Sample { t, v });
        batch.push(SeriesSamples { labels, samples });
    };
    for (key, slot) in groups {
        let base = Labels::from_pairs([
            ("service", &*key.service),
            ("operation", &*key.operation),
            ("span_kind", key.kind.as_str()),
            ("status", if key.error { "error" } else { "ok" }),
        ]);
        let named = |name: &str| {
            let mut l = base.clone();
            l.set(METRIC_NAME, name);
            l
        };
        push(named(SPANS_TOTAL), slot.count as f64, slot.fresh);
        let bucket_name = format!("{SPAN_DURATION}_bucket");
        let mut cumulative = 0u64;
        for (i, c) in slot.counts.iter().enumerate() {
            cumulative += c;
            let mut l = named(&bucket_name);
            l.set("le", le_text(i));
            push(l, cumulative as f64, slot.fresh);
        }
        push(named(&format!("{SPAN_DURATION}_sum")), slot.sum, slot.fresh);
        push(
            named(&format!("{SPAN_DURATION}_count")),
            slot.count as f64,
            slot.fresh,
        );
    }
    for ((client, server), edge) in edges {
        let labels = |name: &str| {
            Labels::from_pairs([
                (METRIC_NAME, name),
                ("client", &**client),
                ("server", &**server),
            ])
        };
        push(labels(GRAPH_REQUESTS), edge.requests as f64, edge.fresh);
        push(labels(GRAPH_FAILED), edge.failed as f64, edge.fresh);
    }
    batch
}

#[cfg(test)]
mod tests;
