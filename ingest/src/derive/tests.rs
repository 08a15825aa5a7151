#![cfg(test)]
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::{SpanOrigin, StatusCode};

use super::*;
use crate::otlp::testutil::MemSeries;

fn metrics() -> IngestMetrics {
    IngestMetrics::new(&prometheus::Registry::new())
}

fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    name: &str,
    status: StatusCode,
    millis: u64,
) -> Span {
    let start = 1_700_000_000_000_000_000;
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: parent.map(|p| [p; 8]),
        trace_state: String::new(),
        flags: 0,
        service: service.into(),
        name: name.into(),
        kind: SpanKind::Server,
        start_unix_nano: start,
        end_unix_nano: start + millis * 1_000_000,
        status_code: status,
        status_message: String::new(),
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        origin: Arc::new(SpanOrigin::default()),
    }
}

fn facts(spans: &[Span]) -> Vec<SpanFacts> {
    spans.iter().map(SpanFacts::of).collect()
}

const OK: StatusCode = StatusCode::Ok;
const UNSET: StatusCode = StatusCode::Unset;
const ERR: StatusCode = StatusCode::Error;

fn base(service: &str, op: &str, status: &str) -> String {
    format!("operation=\"{op}\", service=\"{service}\", span_kind=\"server\", status=\"{status}\"")
}

#[test]
fn ok_and_error_latencies_are_separate_histograms() {
    let d = SpanDeriver::new(DeriveConfig::default(), &metrics());
    d.observe(&[
        span(1, 1, None, "api", "GET /", OK, 3),
        span(1, 2, None, "api", "GET /", UNSET, 40),
        span(1, 3, None, "api", "GET /", ERR, 5000),
    ]);
    assert_eq!(d.series(), 2 * red::SERIES_PER_GROUP);
    let w = MemSeries::default();
    assert_eq!(d.flush(&w).ok(), Some(2 * red::SERIES_PER_GROUP));
    let ok = base("api", "GET /", "ok");
    let err = base("api", "GET /", "error");
    let v = |s: String| {
        w.value(&s)
            .unwrap_or_else(|| panic!("{s} in {:?}", w.latest()))
    };
    assert_eq!(v(format!("argus_spans_total{{{ok}}}")), 2.0);
    assert_eq!(v(format!("argus_spans_total{{{err}}}")), 1.0);
    let bucket = |b: &str, le: &str| {
        v(format!(
            "argus_span_duration_seconds_bucket{{le=\"{le}\", {b}}}"
        ))
    };
    assert_eq!(bucket(&ok, "0.002"), 0.0);
    assert_eq!(bucket(&ok, "0.005"), 1.0);
    assert_eq!(bucket(&ok, "0.05"), 2.0);
    assert_eq!(bucket(&ok, "60"), 2.0);
    assert_eq!(bucket(&ok, "+Inf"), 2.0);
    // the failed request is only in the error histogram
    assert_eq!(bucket(&err, "2"), 0.0);
    assert_eq!(bucket(&err, "5"), 1.0);
    assert_eq!(v(format!("argus_span_duration_seconds_count{{{ok}}}")), 2.0);
    assert!((v(format!("argus_span_duration_seconds_sum{{{ok}}}")) - 0.043).abs() < 1e-9);
    assert_eq!(v(format!("argus_span_duration_seconds_sum{{{err}}}")), 5.0);
    // every le, in order
    let les: Vec<String> = (0..red::BUCKETS).map(le_text).collect();
    assert_eq!(les.first().map(String::as_str), Some("0.001"));
    assert_eq!(les.last().map(String::as_str), Some("+Inf"));
    assert_eq!(les.len(), 17);
    // metadata once, with the first write
    let families: Vec<String> = w
        .metadata
        .lock()
        .iter()
        .map(|m| format!("{} {} {}", m.metric_family, m.kind, m.unit))
        .collect();
    assert_eq!(
        families,
        vec![
            "argus_spans_total counter ",
            "argus_span_duration_seconds histogram seconds",
            "argus_service_graph_requests_total counter ",
            "argus_service_graph_request_failed_total counter ",
        ]
    );
}

#[test]
fn new_series_start_with_a_zero_and_stay_cumulative() {
    let d = SpanDeriver::new(DeriveConfig::default(), &metrics());
    d.observe(&[span(1, 1, None, "api", "op", OK, 1)]);
    let w = MemSeries::default();
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    let total = format!("argus_spans_total{{{}}}", base("api", "op", "ok"));
    let samples = |w: &MemSeries| -> Vec<f64> {
        w.batches
            .lock()
            .iter()
            .flatten()
            .filter(|s| s.labels.to_string() == total)
            .flat_map(|s| s.samples.iter().map(|x| x.v))
            .collect()
    };
    assert_eq!(samples(&w), vec![0.0, 1.0]);
    let first_t: Vec<i64> = w.batches.lock()[0][0].samples.iter().map(|s| s.t).collect();
    assert_eq!(first_t[0] + 1, first_t[1]);
    d.observe(&[span(1, 2, None, "api", "op", OK, 1)]);
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    // no second zero; the value keeps growing
    assert_eq!(samples(&w), vec![0.0, 1.0, 2.0]);
    assert_eq!(w.metadata.lock().len(), 4, "metadata is recorded once");
    // a flush with nothing new writes the totals again
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(samples(&w), vec![0.0, 1.0, 2.0, 2.0]);
}

#[test]
fn failed_flush_loses_nothing() {
    let d = SpanDeriver::new(DeriveConfig::default(), &metrics());
    d.observe(&[span(1, 1, None, "api", "op", OK, 1)]);
    let w = MemSeries::default();
    w.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(d.flush(&w).is_err());
    w.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    let total = format!("argus_spans_total{{{}}}", base("api", "op", "ok"));
    assert_eq!(w.value(&total), Some(1.0));
    // the zero sample is still written with the first successful flush
    assert_eq!(w.batches.lock()[0][0].samples.len(), 2);
    assert_eq!(w.metadata.lock().len(), 4);
}

fn edges(w: &MemSeries) -> Vec<String> {
    w.latest()
        .into_iter()
        .filter(|l| l.starts_with("argus_service_graph"))
        .collect()
}

#[test]
fn service_graph_edge_whichever_arrives_first() {
    let m = metrics();
    let d = SpanDeriver::new(DeriveConfig::default(), &m);
    // trace 1: the child (db, failed) arrives before its parent (api)
    d.observe(&[span(1, 2, Some(1), "db", "SELECT", ERR, 2)]);
    assert_eq!(m.service_graph_pending.get(), 1);
    d.observe(&[span(1, 1, None, "api", "GET /", OK, 5)]);
    assert_eq!(m.service_graph_pending.get(), 0);
    // trace 2: the parent arrives first, the child in a later batch
    d.observe(&[span(2, 1, None, "api", "GET /", OK, 5)]);
    d.observe(&[span(2, 2, Some(1), "db", "SELECT", OK, 2)]);
    // trace 3: both in one batch, child first; and a child of the same service (no edge)
    d.observe(&[
        span(3, 3, Some(2), "db", "fetch", OK, 1),
        span(3, 2, Some(1), "db", "SELECT", OK, 2),
        span(3, 1, None, "web", "GET /", OK, 9),
    ]);
    let w = MemSeries::default();
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        edges(&w),
        vec![
            "argus_service_graph_request_failed_total{client=\"api\", server=\"db\"} 1",
            "argus_service_graph_request_failed_total{client=\"web\", server=\"db\"} 0",
            "argus_service_graph_requests_total{client=\"api\", server=\"db\"} 2",
            "argus_service_graph_requests_total{client=\"web\", server=\"db\"} 1",
        ]
    );
    assert_eq!(m.service_graph_expired.get(), 0);
}

#[test]
fn pending_children_expire_and_are_counted() {
    let m = metrics();
    let config = DeriveConfig {
        graph_wait: Duration::from_secs(30),
        ..DeriveConfig::default()
    };
    let d = SpanDeriver::new(config, &m);
    let t0 = Instant::now();
    d.observe_at(
        &facts(&[
            span(1, 2, Some(1), "db", "SELECT", OK, 2),
            span(1, 3, Some(1), "db", "SELECT", OK, 2),
        ]),
        t0,
    );
    assert_eq!(m.service_graph_pending.get(), 1);
    // the parent comes too late: the children were forgotten, no edge
    d.observe_at(
        &facts(&[span(1, 1, None, "api", "GET /", OK, 5)]),
        t0 + Duration::from_secs(31),
    );
    assert_eq!(m.service_graph_expired.get(), 2);
    assert_eq!(m.service_graph_pending.get(), 0);
    // and a parent is only remembered for the wait too
    d.observe_at(
        &facts(&[span(1, 4, Some(1), "db", "SELECT", OK, 2)]),
        t0 + Duration::from_secs(62),
    );
    let w = MemSeries::default();
    d.flush_at(&w, t0 + Duration::from_secs(62))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(edges(&w).is_empty(), "{:?}", edges(&w));
    assert_eq!(m.service_graph_pending.get(), 1);
    // the flush expires what waited too long as well
    d.flush_at(&w, t0 + Duration::from_secs(100))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.service_graph_pending.get(), 0);
    assert_eq!(m.service_graph_expired.get(), 3);
}

#[test]
fn full_maps_evict_the_oldest() {
    let m = metrics();
    let config = DeriveConfig {
        graph_max_pending: 2,
        graph_max_recent: 3,
        ..DeriveConfig::default()
    };
    let d = SpanDeriver::new(config, &m);
    // three children of three unseen parents: the first is pushed out
    d.observe(&[
        span(1, 10, Some(1), "db", "q", OK, 1),
        span(2, 10, Some(1), "db", "q", OK, 1),
        span(3, 10, Some(1), "db", "q", OK, 1),
    ]);
    assert_eq!(m.service_graph_pending.get(), 2);
    assert_eq!(
        m.service_graph_evicted
            .with_label_values(&["pending"])
            .get(),
        1
    );
    assert_eq!(
        m.service_graph_evicted.with_label_values(&["recent"]).get(),
        0
    );
    d.observe(&[span(4, 1, None, "api", "a", OK, 1)]);
    assert_eq!(
        m.service_graph_evicted.with_label_values(&["recent"]).get(),
        1
    );
    assert_eq!(m.service_graph_recent.get(), 3);
    // the parent of trace 1 finds nothing; those of traces 2 and 3 make edges
    d.observe(&[
        span(1, 1, None, "api", "a", OK, 1),
        span(2, 1, None, "api", "a", OK, 1),
        span(3, 1, None, "api", "a", OK, 1),
    ]);
    let w = MemSeries::default();
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        edges(&w).contains(
            &"argus_service_graph_requests_total{client=\"api\", server=\"db\"} 2".to_string()
        ),
        "{:?}",
        edges(&w)
    );
}

#[test]
fn cardinality_cap_drops_and_counts() {
    let m = metrics();
    let config = DeriveConfig {
        // room for one group and one edge
        max_series: red::SERIES_PER_GROUP + 2,
        ..DeriveConfig::default()
    };
    let d = SpanDeriver::new(config, &m);
    d.observe(&[span(1, 1, None, "api", "a", OK, 1)]);
    d.observe(&[
        span(1, 2, None, "api", "b", OK, 1),
        span(1, 3, None, "api", "a", ERR, 1),
        span(1, 4, None, "api", "a", OK, 1),
    ]);
    assert_eq!(
        m.derive_dropped
            .with_label_values(&["cardinality_limit"])
            .get(),
        2
    );
    assert_eq!(d.series(), red::SERIES_PER_GROUP);
    // one edge fits, the second does not
    d.observe(&[
        span(5, 1, None, "web", "a", OK, 1),
        span(5, 2, Some(1), "x", "a", OK, 1),
        span(5, 3, Some(1), "y", "a", OK, 1),
    ]);
    assert_eq!(d.series(), red::SERIES_PER_GROUP + 2);
    assert_eq!(
        m.derive_dropped
            .with_label_values(&["cardinality_limit"])
            .get(),
        2 + 3 + 1
    );
    assert_eq!(m.derive_series.get(), (red::SERIES_PER_GROUP + 2) as i64);
    let w = MemSeries::default();
    d.flush(&w).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        w.latest()
            .iter()
            .filter(|l| l.starts_with("argus_spans_total"))
            .count(),
        1
    );
    assert_eq!(edges(&w).len(), 2);
}

#[test]
fn idle_groups_and_edges_expire() {
    let m = metrics();
    let config = DeriveConfig {
        idle_ttl: Some(Duration::from_secs(60)),
        ..DeriveConfig::default()
    };
    let d = SpanDeriver::new(config, &m);
    let t0 = Instant::now();
    d.observe_at(
        &facts(&[
            span(1, 1, None, "api", "a", OK, 1),
            span(1, 2, Some(1), "db", "q", OK, 1),
        ]),
        t0,
    );
    assert_eq!(d.series(), 2 * red::SERIES_PER_GROUP + 2);
    let w = MemSeries::default();
    assert_eq!(d.flush_at(&w, t0 + Duration::from_secs(61)).ok(), Some(0));
    assert_eq!(d.series(), 0);
    assert_eq!(m.derive_series.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_flushes_periodically_and_at_shutdown() {
    let config = DeriveConfig {
        flush_interval: Duration::from_millis(50),
        ..DeriveConfig::default()
    };
    let d = SpanDeriver::new(config, &metrics());
    let w = Arc::new(MemSeries::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(d.clone().run(w.clone(), async move {
        let _ = rx.await;
    }));
    d.observe(&[span(1, 1, None, "api", "a", OK, 1)]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!w.batches.lock().is_empty(), "periodic flush");
    d.observe(&[span(1, 2, None, "api", "a", OK, 1)]);
    let _ = tx.send(());
    let result = task.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(result.is_ok());
    let total = format!("argus_spans_total{{{}}}", base("api", "a", "ok"));
    assert_eq!(
        w.value(&total),
        Some(2.0),
        "the final flush has the last span"
    );
}
