//! The trace store end to end, on real files: round trips of every field, large traces,
//! every search condition with Jaeger's semantics, services and operations, durability
//! across crashes (dropped stores and a real `kill -9`), retention, rejects and metrics.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use storage::{
    AttrValue, KeyValue, Operation, Span, SpanEvent, SpanKind, SpanLink, SpanOrigin, StatusCode,
    StorageError, TraceId, TraceQuery, TraceReader, TraceStore, TraceStoreConfig, TraceWriter,
    now_ms, trace_reject,
};

const MS: u64 = 1_000_000;
const HOUR: u64 = 3_600_000 * MS;
const DAY: u64 = 24 * HOUR;
/// 2023-11-14T22:13:20Z, in ns.
const T0: u64 = 1_700_000_000_000 * MS;

fn config(dir: &Path) -> TraceStoreConfig {
    let mut c = TraceStoreConfig::new(dir);
    c.retention = None;
    c.commit_interval = Duration::from_millis(50);
    c.writer_memory_bytes = 32 << 20;
    c
}

fn open(dir: &Path) -> Arc<TraceStore> {
    TraceStore::open(config(dir), &prometheus::Registry::new()).unwrap()
}

fn tid(n: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&0xA5A5_0000_0000_0000u64.to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    id
}

fn sid(n: u64) -> [u8; 8] {
    (n | 1 << 62).to_be_bytes()
}

fn origin(service: &str) -> Arc<SpanOrigin> {
    Arc::new(SpanOrigin {
        resource: vec![
            KeyValue::new("service.name", AttrValue::String(service.into())),
            KeyValue::new("host.name", AttrValue::String("web-1".into())),
        ],
        scope_name: "io.opentelemetry.http".into(),
        scope_version: "1.2.0".into(),
    })
}

fn span(trace: u64, id: u64, start: u64, service: &str, name: &str) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: sid(id),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 1,
        service: service.into(),
        name: name.into(),
        kind: SpanKind::Server,
        start_unix_nano: start,
        end_unix_nano: start + 5 * MS,
        status_code: StatusCode::Unset,
        status_message: String::new(),
        attributes: vec![KeyValue::new("n", AttrValue::Int(id as i64))],
        events: vec![],
        links: vec![],
        origin: origin(service),
    }
}

fn query(start: u64, end: u64) -> TraceQuery {
    TraceQuery {
        start_unix_nano: start,
        end_unix_nano: end,
        limit: 100,
        ..TraceQuery::default()
    }
}

fn ids(store: &TraceStore, q: &TraceQuery) -> Vec<TraceId> {
    store
        .find_traces(q)
        .unwrap()
        .into_iter()
        .map(|m| m.trace_id)
        .collect()
}

// ------------------------------------------------------------------ round trips

/// A span using every field and every kind of attribute value.
fn full_span() -> Span {
    let nested = AttrValue::Map(vec![
        KeyValue::new(
            "a",
            AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Bool(false)]),
        ),
        KeyValue::new(
            "b",
            AttrValue::Map(vec![KeyValue::new("c", AttrValue::Double(-0.5))]),
        ),
    ]);
    Span {
        trace_id: tid(1),
        span_id: sid(2),
        parent_span_id: Some(sid(1)),
        trace_state: "rojo=00f067aa0ba902b7".into(),
        flags: 0x301,
        service: "checkout".into(),
        name: "POST /cart/{id}".into(),
        kind: SpanKind::Client,
        start_unix_nano: T0 + 123_456_789,
        end_unix_nano: T0 + 987_654_321,
        status_code: StatusCode::Error,
        status_message: "upstream reset ✗".into(),
        attributes: vec![
            KeyValue::new("s", AttrValue::String("text".into())),
            KeyValue::new("b", AttrValue::Bool(true)),
            KeyValue::new("i", AttrValue::Int(i64::MIN)),
            KeyValue::new("d", AttrValue::Double(1.5e300)),
            KeyValue::new("bytes", AttrValue::Bytes(vec![0, 255, 7])),
            KeyValue::new(
                "arr",
                AttrValue::Array(vec![AttrValue::String("x".into()), nested.clone()]),
            ),
            KeyValue::new("map", nested),
            KeyValue::new("", AttrValue::String(String::new())),
        ],
        events: vec![
            SpanEvent {
                time_unix_nano: T0 + 200_000_000,
                name: "exception".into(),
                attributes: vec![KeyValue::new(
                    "exception.type",
                    AttrValue::String("IOError".into()),
                )],
            },
            SpanEvent {
                // Before the span's start: clocks disagree.
                time_unix_nano: T0,
                name: String::new(),
                attributes: vec![],
            },
        ],
        links: vec![SpanLink {
            trace_id: tid(99),
            span_id: sid(98),
            trace_state: "k=v".into(),
            attributes: vec![KeyValue::new(
                "link.kind",
                AttrValue::String("follows".into()),
            )],
        }],
        origin: Arc::new(SpanOrigin {
            resource: vec![
                KeyValue::new("service.name", AttrValue::String("checkout".into())),
                KeyValue::new("k8s.pod.uid", AttrValue::Bytes(vec![1, 2, 3])),
            ],
            scope_name: "scope".into(),
            scope_version: "0.1".into(),
        }),
    }
}

#[test]
fn every_field_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let full = full_span();
    let mut root = span(1, 1, T0, "frontend", "GET /");
    root.end_unix_nano = T0 - 1; // end before start is kept as sent
    let outcome = store
        .append_spans(vec![full.clone(), root.clone()])
        .unwrap();
    assert_eq!(outcome.accepted, 2);
    assert!(outcome.rejected.is_empty());
    // Readable at once, before any commit, in start order.
    assert_eq!(
        store.trace(&tid(1)).unwrap(),
        vec![root.clone(), full.clone()]
    );
    assert!(store.trace(&tid(2)).unwrap().is_empty());
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.trace(&tid(1)).unwrap(), vec![root, full]);
    store.close().unwrap();
}

#[test]
fn a_trace_of_ten_thousand_spans_reads_back_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rng = StdRng::seed_from_u64(3);
    // Starting an hour before midnight and lasting two: it spans two partitions.
    let midnight = (T0 / DAY + 1) * DAY;
    let mut spans: Vec<Span> = (0..10_000u64)
        .map(|i| {
            let start = midnight - HOUR + rng.random_range(0..2 * HOUR);
            let mut s = span(7, i, start, "svc", "op");
            s.parent_span_id = Some(sid(i / 2));
            s
        })
        .collect();
    // Some share a start time: the span id orders them.
    for i in 0..100 {
        spans[i * 2 + 1].start_unix_nano = spans[i * 2].start_unix_nano;
    }
    spans.shuffle(&mut rng);
    for chunk in spans.chunks(512) {
        store.append_spans(chunk.to_vec()).unwrap();
    }
    // Other traces around it must not leak in.
    store
        .append_spans(vec![
            span(6, 1, midnight, "svc", "op"),
            span(8, 1, midnight, "svc", "op"),
        ])
        .unwrap();
    spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
    let t = Instant::now();
    let got = store.trace(&tid(7)).unwrap();
    println!("10,000-span trace read in {:?}", t.elapsed());
    assert_eq!(got.len(), 10_000);
    assert!(got == spans, "spans differ or are out of order");
    assert_eq!(store.partition_count(), 2);
    store.close().unwrap();
}

// ------------------------------------------------------------------ search

/// Three traces whose spans differ in one condition each.
fn search_corpus() -> Vec<Span> {
    // Trace 1: frontend server span, ok, 100 ms, with http.method=GET and an event attribute.
    let mut a = span(1, 1, T0, "frontend", "GET /cart");
    a.end_unix_nano = T0 + 100 * MS;
    a.status_code = StatusCode::Ok;
    a.attributes = vec![
        KeyValue::new("http.method", AttrValue::String("GET".into())),
        KeyValue::new("http.status_code", AttrValue::Int(200)),
        KeyValue::new("retry", AttrValue::Bool(true)),
        KeyValue::new("ratio", AttrValue::Double(0.25)),
        KeyValue::new("db.statement", AttrValue::String("SELECT ".repeat(100))),
    ];
    a.events = vec![SpanEvent {
        time_unix_nano: T0 + MS,
        name: "cache".into(),
        attributes: vec![KeyValue::new("cache.hit", AttrValue::Bool(false))],
    }];
    // ... and a client span of the same trace in another service, error, 2 s.
    let mut b = span(1, 2, T0 + 10 * MS, "cart", "redis GET");
    b.kind = SpanKind::Client;
    b.status_code = StatusCode::Error;
    b.end_unix_nano = b.start_unix_nano + 2_000 * MS;
    b.attributes = vec![KeyValue::new(
        "db.system",
        AttrValue::String("redis".into()),
    )];
    // Trace 2: frontend, same operation, later, 5 ms, POST, resource host web-2.
    let mut c = span(2, 1, T0 + HOUR, "frontend", "GET /cart");
    c.attributes = vec![KeyValue::new(
        "http.method",
        AttrValue::String("POST".into()),
    )];
    c.origin = Arc::new(SpanOrigin {
        resource: vec![KeyValue::new(
            "host.name",
            AttrValue::String("web-2".into()),
        )],
        ..SpanOrigin::default()
    });
    // Trace 3: another service altogether, the next day.
    let mut d = span(3, 1, T0 + DAY, "billing", "charge");
    d.kind = SpanKind::Consumer;
    vec![a, b, c, d]
}

#[test]
fn every_condition_finds_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append_spans(search_corpus()).unwrap();
    store.flush().unwrap();
    let all = query(T0 - DAY, T0 + 2 * DAY);
    let with = |f: &dyn Fn(&mut TraceQuery)| {
        let mut q = all.clone();
        f(&mut q);
        ids(&store, &q)
    };
    let tag = |k: &str, v: &str| (k.to_string(), v.to_string());
    // Nothing but time: everything, newest first.
    assert_eq!(with(&|_| {}), vec![tid(3), tid(2), tid(1)]);
    assert_eq!(
        with(&|q| q.service = Some("frontend".into())),
        vec![tid(2), tid(1)]
    );
    assert_eq!(with(&|q| q.service = Some("cart".into())), vec![tid(1)]);
    assert!(
        with(&|q| q.service = Some("Frontend".into())).is_empty(),
        "exact match"
    );
    assert_eq!(with(&|q| q.operation = Some("charge".into())), vec![tid(3)]);
    assert_eq!(
        with(&|q| q.span_kind = Some(SpanKind::Client)),
        vec![tid(1)]
    );
    assert_eq!(
        with(&|q| q.span_kind = Some(SpanKind::Consumer)),
        vec![tid(3)]
    );
    assert_eq!(with(&|q| q.status = Some(StatusCode::Error)), vec![tid(1)]);
    assert_eq!(
        with(&|q| q.status = Some(StatusCode::Unset)),
        vec![tid(3), tid(2)]
    );
    // Tags: span attributes of every type, resource attributes, event attributes, long values.
    assert_eq!(
        with(&|q| q.tags = vec![tag("http.method", "GET")]),
        vec![tid(1)]
    );
    assert_eq!(
        with(&|q| q.tags = vec![tag("http.status_code", "200")]),
        vec![tid(1)]
    );
    assert_eq!(with(&|q| q.tags = vec![tag("retry", "true")]), vec![tid(1)]);
    assert_eq!(with(&|q| q.tags = vec![tag("ratio", "0.25")]), vec![tid(1)]);
    assert_eq!(
        with(&|q| q.tags = vec![tag("cache.hit", "false")]),
        vec![tid(1)]
    );
    assert_eq!(
        with(&|q| q.tags = vec![tag("host.name", "web-2")]),
        vec![tid(2)]
    );
    assert_eq!(
        with(&|q| q.tags = vec![tag("host.name", "web-1")]),
        vec![tid(3), tid(1)]
    );
    assert_eq!(
        with(&|q| q.tags = vec![tag("db.statement", &"SELECT ".repeat(100))]),
        vec![tid(1)]
    );
    assert!(with(&|q| q.tags = vec![tag("db.statement", &"SELECT ".repeat(99))]).is_empty());
    assert!(with(&|q| q.tags = vec![tag("http.method", "get")]).is_empty());
    // Durations, both bounds inclusive.
    assert_eq!(
        with(&|q| q.min_duration_nanos = Some(100 * MS)),
        vec![tid(1)]
    );
    assert_eq!(
        with(&|q| q.min_duration_nanos = Some(2_000 * MS)),
        vec![tid(1)]
    );
    assert!(with(&|q| q.min_duration_nanos = Some(2_000 * MS + 1)).is_empty());
    assert_eq!(
        with(&|q| q.max_duration_nanos = Some(5 * MS)),
        vec![tid(3), tid(2)]
    );
    assert_eq!(
        with(&|q| {
            q.min_duration_nanos = Some(50 * MS);
            q.max_duration_nanos = Some(150 * MS);
        }),
        vec![tid(1)]
    );
    // Time range: the matching span's start lies in it, both ends inclusive.
    assert_eq!(ids(&store, &query(T0 + HOUR, T0 + HOUR)), vec![tid(2)]);
    assert_eq!(ids(&store, &query(T0, T0 + 10 * MS)), vec![tid(1)]);
    assert!(ids(&store, &query(T0 + 1, T0 + 10 * MS - 1)).is_empty());
    assert_eq!(
        ids(&store, &query(T0 + 2 * HOUR, T0 + 2 * DAY)),
        vec![tid(3)]
    );
    assert!(
        ids(&store, &query(T0 + 2 * DAY, T0 + 1)).is_empty(),
        "start after end"
    );
    // Jaeger semantics: every condition on ONE span.
    assert_eq!(
        with(&|q| {
            q.service = Some("frontend".into());
            q.tags = vec![tag("http.method", "GET"), tag("cache.hit", "false")];
            q.span_kind = Some(SpanKind::Server);
            q.status = Some(StatusCode::Ok);
        }),
        vec![tid(1)]
    );
    // Trace 1 has a frontend span and an error span, but no span that is both.
    assert!(
        with(&|q| {
            q.service = Some("frontend".into());
            q.status = Some(StatusCode::Error);
        })
        .is_empty()
    );
    assert!(
        with(&|q| q.tags = vec![tag("http.method", "GET"), tag("db.system", "redis")]).is_empty()
    );
    assert!(
        with(&|q| {
            q.service = Some("cart".into());
            q.max_duration_nanos = Some(100 * MS);
        })
        .is_empty()
    );
    // The match's time is the newest matching span's start.
    let mut q = all.clone();
    q.service = Some("cart".into());
    assert_eq!(
        store.find_traces(&q).unwrap()[0].latest_start_unix_nano,
        T0 + 10 * MS
    );
    q.service = None;
    q.limit = 0;
    assert!(store.find_traces(&q).unwrap().is_empty());
    store.close().unwrap();
}

#[test]
fn results_are_the_newest_distinct_traces_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rng = StdRng::seed_from_u64(5);
    // 300 traces over three days, each with 20 matching spans and some that do not match.
    let mut newest: HashMap<TraceId, u64> = HashMap::new();
    let mut batch = Vec::new();
    for t in 0..300u64 {
        for i in 0..25u64 {
            let start = T0 + rng.random_range(0..3 * DAY);
            let service = if i < 20 { "api" } else { "db" };
            let s = span(t, i, start, service, "op");
            if i < 20 {
                let e = newest.entry(s.trace_id).or_insert(0);
                *e = (*e).max(start);
            }
            batch.push(s);
        }
    }
    batch.shuffle(&mut rng);
    for chunk in batch.chunks(700) {
        store.append_spans(chunk.to_vec()).unwrap();
        // Several segments per partition.
        store.flush().unwrap();
    }
    let mut expected: Vec<(TraceId, u64)> = newest.into_iter().collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for limit in [1usize, 7, 20, 150, 299, 300, 1000] {
        let mut q = query(T0, T0 + 3 * DAY);
        q.service = Some("api".into());
        q.limit = limit;
        let got: Vec<(TraceId, u64)> = store
            .find_traces(&q)
            .unwrap()
            .into_iter()
            .map(|m| (m.trace_id, m.latest_start_unix_nano))
            .collect();
        let want: Vec<(TraceId, u64)> = expected.iter().take(limit).copied().collect();
        assert_eq!(got, want, "limit {limit}");
    }
    // A window inside the range: the newest matching span inside it.
    let (from, to) = (T0 + DAY / 2, T0 + DAY + DAY / 3);
    let mut q = query(from, to);
    q.service = Some("api".into());
    q.limit = 40;
    let mut within: HashMap<TraceId, u64> = HashMap::new();
    for s in &batch {
        if s.service == "api" && (from..=to).contains(&s.start_unix_nano) {
            let e = within.entry(s.trace_id).or_insert(0);
            *e = (*e).max(s.start_unix_nano);
        }
    }
    let mut want: Vec<(TraceId, u64)> = within.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(40);
    let got: Vec<(TraceId, u64)> = store
        .find_traces(&q)
        .unwrap()
        .into_iter()
        .map(|m| (m.trace_id, m.latest_start_unix_nano))
        .collect();
    assert_eq!(got, want);
    store.close().unwrap();
}

#[test]
fn spans_are_searchable_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.commit_interval = TraceStoreConfig::new(dir.path()).commit_interval;
    let store = TraceStore::open(c, &prometheus::Registry::new()).unwrap();
    let started = Instant::now();
    store
        .append_spans(vec![span(1, 1, T0, "svc", "op")])
        .unwrap();
    let q = query(T0, T0);
    while ids(&store, &q).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not searchable after 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("searchable after {:?}", started.elapsed());
    store.close().unwrap();
}

// ------------------------------------------------------------------ services and operations

#[test]
fn services_and_operations_are_listed_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.services().unwrap().is_empty());
    store.append_spans(search_corpus()).unwrap();
    let mut extra = span(9, 1, T0, "frontend", "GET /cart");
    extra.kind = SpanKind::Client;
    store.append_spans(vec![extra]).unwrap();
    let check = |store: &TraceStore| {
        assert_eq!(
            store.services().unwrap(),
            vec!["billing", "cart", "frontend"]
        );
        assert_eq!(
            store.operations("frontend", None).unwrap(),
            vec![
                Operation {
                    name: "GET /cart".into(),
                    kind: SpanKind::Server
                },
                Operation {
                    name: "GET /cart".into(),
                    kind: SpanKind::Client
                },
            ]
        );
        assert_eq!(
            store
                .operations("frontend", Some(SpanKind::Client))
                .unwrap(),
            vec![Operation {
                name: "GET /cart".into(),
                kind: SpanKind::Client
            }]
        );
        assert!(
            store
                .operations("frontend", Some(SpanKind::Producer))
                .unwrap()
                .is_empty()
        );
        assert!(store.operations("nobody", None).unwrap().is_empty());
    };
    check(&store);
    // After a crash as after a clean close.
    drop(store);
    let store = open(dir.path());
    check(&store);
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    check(&store);
    store.close().unwrap();
}

// ------------------------------------------------------------------ durability

/// The spans a search finds for each trace, by the `n` attribute, and the total indexed.
fn check_exactly(store: &TraceStore, acked: &HashMap<u64, HashSet<u64>>, context: &str) {
    store.flush().unwrap();
    let total: usize = acked.values().map(HashSet::len).sum();
    // Indexed exactly once each: the number of documents equals the spans acknowledged.
    assert_eq!(store.span_count(), total as u64, "{context}: indexed spans");
    for (trace, spans) in acked {
        let got: HashSet<u64> = store
            .trace(&tid(*trace))
            .unwrap()
            .iter()
            .map(|s| u64::from_be_bytes(s.span_id) & !(1 << 62))
            .collect();
        assert_eq!(&got, spans, "{context}: trace {trace} by id");
        let mut q = query(0, u64::MAX);
        q.tags = vec![("trace".into(), trace.to_string())];
        assert_eq!(
            ids(store, &q),
            vec![tid(*trace)],
            "{context}: trace {trace} by search"
        );
    }
}

fn numbered(trace: u64, id: u64, start: u64) -> Span {
    let mut s = span(trace, id, start, "svc", "op");
    s.attributes
        .push(KeyValue::new("trace", AttrValue::Int(trace as i64)));
    s
}

#[test]
fn a_crash_without_close_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Only the explicit flush commits: everything after it is re-indexed from pending rows.
    let mut c = config(dir.path());
    c.commit_interval = Duration::from_secs(3600);
    let store = TraceStore::open(c, &prometheus::Registry::new()).unwrap();
    let mut acked: HashMap<u64, HashSet<u64>> = HashMap::new();
    for round in 0..4u64 {
        let handles: Vec<_> = (0..4u64)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let trace = round * 10 + thread;
                    let batch: Vec<Span> = (0..250)
                        .map(|i| numbered(trace, i, T0 + (i % 3) * DAY + i))
                        .collect();
                    store.append_spans(batch).unwrap();
                    (trace, (0..250).collect::<HashSet<u64>>())
                })
            })
            .collect();
        for h in handles {
            let (trace, spans) = h.join().unwrap();
            acked.insert(trace, spans);
        }
        if round == 1 {
            store.flush().unwrap();
        }
    }
    drop(store); // no close: uncommitted documents are lost, the pending rows are not
    let store = open(dir.path());
    check_exactly(&store, &acked, "after a crash");
    // Crash again right after the recovery, then close and reopen: still exactly once.
    drop(store);
    let store = open(dir.path());
    store.append_spans(vec![numbered(99, 1, T0)]).unwrap();
    acked.insert(99, HashSet::from([1]));
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    check_exactly(&store, &acked, "after a clean restart");
    store.close().unwrap();
}

/// Random interleavings of appends, commits, crashes (drop without close) and clean
/// restarts: after every restart the store holds exactly the acknowledged spans.
#[test]
fn random_crashes_and_restarts_keep_exactly_the_acknowledged_spans() {
    for seed in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = open(dir.path());
        let mut acked: HashMap<u64, HashSet<u64>> = HashMap::new();
        let mut next_id = 0u64;
        for step in 0..25 {
            match rng.random_range(0..10) {
                0..=5 => {
                    let n = rng.random_range(1..200);
                    let batch: Vec<Span> = (0..n)
                        .map(|i| {
                            let trace = rng.random_range(0..20);
                            acked.entry(trace).or_default().insert(next_id + i);
                            let start =
                                T0 + rng.random_range(0..4) * DAY + rng.random_range(0..DAY);
                            numbered(trace, next_id + i, start)
                        })
                        .collect();
                    store.append_spans(batch).unwrap();
                    next_id += n;
                }
                6 => store.flush().unwrap(),
                7 => std::thread::sleep(Duration::from_millis(rng.random_range(0..80))),
                8 => {
                    drop(store);
                    store = open(dir.path());
                    check_exactly(&store, &acked, &format!("seed {seed} step {step} crash"));
                }
                _ => {
                    store.close().unwrap();
                    drop(store);
                    store = open(dir.path());
                    check_exactly(&store, &acked, &format!("seed {seed} step {step} restart"));
                }
            }
        }
        drop(store);
        let store = open(dir.path());
        check_exactly(&store, &acked, &format!("seed {seed} end"));
        store.close().unwrap();
    }
}

/// The child half of [`kill_minus_9_loses_nothing_acknowledged`]: appends numbered spans
/// from two threads forever, printing each acknowledged batch.
#[test]
fn kill_minus_9_child() {
    let Ok(dir) = std::env::var("ARGUS_TRACE_KILL_CHILD_DIR") else {
        return;
    };
    let store = open(Path::new(&dir));
    let start: u64 = std::env::var("ARGUS_TRACE_KILL_CHILD_START")
        .unwrap()
        .parse()
        .unwrap();
    let handles: Vec<_> = (0..2u64)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Trace numbers interleave between the threads; each batch is one trace.
                let mut trace = start + thread;
                loop {
                    let batch: Vec<Span> = (0..50).map(|i| numbered(trace, i, T0 + i)).collect();
                    store.append_spans(batch).unwrap();
                    println!("acked {trace}");
                    trace += 2;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// A real `kill -9` of a process appending as fast as it can, at a random moment, three
/// times in a row: every acknowledged span is there after the restart, by id and by search,
/// none twice.
#[test]
fn kill_minus_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut start = 0u64;
    let mut acked_all: HashSet<u64> = HashSet::new();
    for _round in 0..3 {
        let target = rng.random_range(20..200);
        let mut acked = 0;
        acked_all.extend(common::kill_child(
            "ARGUS_TRACE_KILL_CHILD",
            dir.path(),
            start,
            |_| {
                acked += 1;
                acked >= target
            },
        ));
        let store = open(dir.path());
        store.flush().unwrap();
        let mut q = query(0, u64::MAX);
        q.limit = 1_000_000;
        let found: Vec<TraceId> = ids(&store, &q);
        let found_set: HashSet<TraceId> = found.iter().copied().collect();
        for trace in &acked_all {
            assert_eq!(
                store.trace(&tid(*trace)).unwrap().len(),
                50,
                "trace {trace} by id"
            );
            assert!(found_set.contains(&tid(*trace)), "trace {trace} by search");
        }
        // Batches past the last acknowledgement may or may not have made it, whole, once.
        assert_eq!(
            store.span_count(),
            found.len() as u64 * 50,
            "indexed exactly once"
        );
        let max = found
            .iter()
            .map(|id| u64::from_be_bytes(id[8..].try_into().unwrap()))
            .max()
            .unwrap_or(0);
        start = (max + 1).next_multiple_of(2);
        store.close().unwrap();
    }
    assert!(!acked_all.is_empty());
}

// ------------------------------------------------------------------ retention and rejects

#[test]
fn retention_drops_whole_old_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention = Some(Duration::from_secs(7 * 24 * 3600));
    let now = now_ms();
    let day_ms = (DAY / MS) as i64;
    let store = TraceStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
    let now_ns = now as u64 * MS;
    let old = span(1, 1, now_ns - 6 * DAY, "old-service", "old-op");
    let mut mixed_old = span(2, 1, now_ns - 6 * DAY, "kept", "old-op");
    mixed_old.kind = SpanKind::Client;
    let fresh = span(2, 2, now_ns, "kept", "new-op");
    store.append_spans(vec![old, mixed_old, fresh]).unwrap();
    store.flush().unwrap();
    assert_eq!(store.partition_count(), 2);
    assert_eq!(store.enforce_retention(now).unwrap(), 0);
    // Two days later the six-day-old partition is past the seven days.
    let later = now + 2 * day_ms;
    assert_eq!(store.enforce_retention(later).unwrap(), 1);
    assert_eq!(store.partition_count(), 1);
    assert!(store.trace(&tid(1)).unwrap().is_empty());
    assert_eq!(store.trace(&tid(2)).unwrap().len(), 1);
    assert_eq!(ids(&store, &query(0, u64::MAX)), vec![tid(2)]);
    assert_eq!(store.services().unwrap(), vec!["kept"]);
    assert_eq!(
        store.operations("kept", None).unwrap(),
        vec![Operation {
            name: "new-op".into(),
            kind: SpanKind::Server
        }]
    );
    // Spans for the deleted partition are refused rather than bringing it back.
    let outcome = store
        .append_spans(vec![span(3, 1, now_ns - 6 * DAY, "x", "y")])
        .unwrap();
    assert_eq!(outcome.accepted, 0);
    assert_eq!(store.partition_count(), 1);
    store.close().unwrap();
    drop(store);
    let store = TraceStore::open(c, &prometheus::Registry::new()).unwrap();
    assert_eq!(store.partition_count(), 1);
    assert_eq!(store.services().unwrap(), vec!["kept"]);
    assert!(store.trace(&tid(1)).unwrap().is_empty());
    store.close().unwrap();
}

#[test]
fn invalid_and_expired_spans_are_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention = Some(Duration::from_secs(24 * 3600));
    let registry = prometheus::Registry::new();
    let store = TraceStore::open(c, &registry).unwrap();
    let now = now_ms() as u64 * MS;
    let good = span(1, 1, now, "svc", "op");
    let mut zero_trace = good.clone();
    zero_trace.trace_id = [0; 16];
    let mut zero_span = good.clone();
    zero_span.span_id = [0; 8];
    let expired = span(1, 2, now - 2 * DAY, "svc", "op");
    let mut deep = span(1, 3, now, "svc", "op");
    let mut v = AttrValue::Int(1);
    for _ in 0..40 {
        v = AttrValue::Array(vec![v]);
    }
    deep.attributes.push(KeyValue::new("deep", v));
    let future = span(1, 4, now + 2 * DAY, "svc", "op");
    let outcome = store
        .append_spans(vec![
            zero_trace,
            good.clone(),
            zero_span,
            expired,
            deep,
            future,
        ])
        .unwrap();
    assert_eq!(outcome.accepted, 1);
    let rejected: Vec<usize> = outcome.rejected.iter().map(|(i, _)| *i).collect();
    assert_eq!(rejected, vec![0, 2, 3, 4, 5]);
    assert!(outcome.rejected[0].1.contains("trace id"));
    assert_eq!(store.trace(&tid(1)).unwrap(), vec![good]);
    let family = registry
        .gather()
        .into_iter()
        .find(|f| f.name() == "argus_storage_traces_spans_rejected_total")
        .unwrap();
    let mut by_reason = BTreeMap::new();
    for m in family.get_metric() {
        by_reason.insert(
            m.get_label()[0].value().to_string(),
            m.get_counter().get_value() as u64,
        );
    }
    for reason in [
        trace_reject::INVALID_TRACE_ID,
        trace_reject::INVALID_SPAN_ID,
        trace_reject::OUTSIDE_RETENTION,
        trace_reject::TOO_DEEP,
        trace_reject::FUTURE,
    ] {
        assert_eq!(by_reason.get(reason), Some(&1), "{reason}");
    }
    // An empty batch and an all-rejected one are fine.
    assert_eq!(store.append_spans(vec![]).unwrap().accepted, 0);
    store.close().unwrap();
    assert!(matches!(
        store.append_spans(vec![span(1, 9, now, "svc", "op")]),
        Err(StorageError::ShuttingDown)
    ));
    store.close().unwrap(); // idempotent
}

#[test]
fn metrics_are_registered_and_move() {
    let dir = tempfile::tempdir().unwrap();
    let registry = prometheus::Registry::new();
    let store = TraceStore::open(config(dir.path()), &registry).unwrap();
    store.append_spans(search_corpus()).unwrap();
    store.flush().unwrap();
    store.find_traces(&query(0, u64::MAX)).unwrap();
    store.trace(&tid(1)).unwrap();
    let names = common::metric_values(&registry);
    for (name, min) in [
        ("argus_storage_traces_spans_appended_total", 4.0),
        ("argus_storage_traces_bytes_appended_total", 100.0),
        ("argus_storage_traces_append_seconds", 1.0),
        ("argus_storage_traces_spans_indexed_total", 4.0),
        ("argus_storage_traces_commit_seconds", 1.0),
        ("argus_storage_traces_partitions", 2.0),
        ("argus_storage_traces_search_seconds", 1.0),
        ("argus_storage_traces_lookup_seconds", 1.0),
    ] {
        let v = names
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(v >= min, "{name} = {v}");
    }
    for name in [
        "argus_storage_traces_index_queue_bytes",
        "argus_storage_traces_disk_bytes",
        "argus_storage_traces_retention_partitions_dropped_total",
    ] {
        assert!(names.contains_key(name), "{name} missing");
    }
    assert!(store.disk_usage().unwrap() > 0);
    store.close().unwrap();
}

// ------------------------------------------------------------------ property test

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            "\\PC{0,12}".prop_map(AttrValue::String),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::Int),
            (-1e12f64..1e12).prop_map(AttrValue::Double),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(AttrValue::Bytes),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(AttrValue::Array),
                proptest::collection::vec(("[a-z]{0,4}", inner), 0..3).prop_map(|kvs| {
                    AttrValue::Map(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
                }),
            ]
        })
    }

    fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(("\\PC{0,8}", value()), 0..4)
            .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
    }

    prop_compose! {
        fn arb_span(trace: u64)(
            id in 1u64..u64::MAX, start in 0u64..T0, len in any::<u64>(),
            kind in 0usize..6, status in 0i32..3, parent in proptest::option::of(any::<[u8; 8]>()),
            name in "\\PC{0,16}", service in "\\PC{0,8}", attributes in attrs(),
            events in proptest::collection::vec((any::<u64>(), "\\PC{0,6}", attrs()), 0..3),
            links in proptest::collection::vec((any::<[u8; 16]>(), any::<[u8; 8]>(), attrs()), 0..2),
            resource in attrs(),
        ) -> Span {
            Span {
                trace_id: tid(trace),
                span_id: id.to_be_bytes(),
                parent_span_id: parent,
                trace_state: String::new(),
                flags: 0,
                service,
                name,
                kind: SpanKind::ALL[kind],
                start_unix_nano: start,
                end_unix_nano: start.wrapping_add(len),
                status_code: StatusCode::from_otlp(status),
                status_message: String::new(),
                attributes,
                events: events.into_iter().map(|(time_unix_nano, name, attributes)| SpanEvent {
                    time_unix_nano, name, attributes,
                }).collect(),
                links: links.into_iter().map(|(trace_id, span_id, attributes)| SpanLink {
                    trace_id, span_id, trace_state: "t".into(), attributes,
                }).collect(),
                origin: Arc::new(SpanOrigin { resource, scope_name: "s".into(), scope_version: String::new() }),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever goes in comes out of the store, in (start, span id) order, after a restart.
        #[test]
        fn arbitrary_spans_round_trip_through_the_store(
            spans in proptest::collection::vec(arb_span(1), 1..20)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut c = config(dir.path());
            // Random starts land in thousands of partitions: make them few.
            c.partition = Duration::from_secs(1 << 31);
            let store = TraceStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
            let outcome = store.append_spans(spans.clone()).unwrap();
            prop_assert!(outcome.rejected.is_empty());
            let mut want: BTreeMap<(u64, [u8; 8]), Span> = BTreeMap::new();
            for s in spans {
                // The same key twice: the later write wins.
                want.insert((s.start_unix_nano, s.span_id), s);
            }
            let want: Vec<Span> = want.into_values().collect();
            prop_assert_eq!(&store.trace(&tid(1)).unwrap(), &want);
            store.close().unwrap();
            drop(store);
            let store = TraceStore::open(c, &prometheus::Registry::new()).unwrap();
            prop_assert_eq!(&store.trace(&tid(1)).unwrap(), &want);
            store.close().unwrap();
        }
    }
}

// ------------------------------------------------------------------ measurements

const SERVICES: [&str; 8] = [
    "frontend", "cart", "checkout", "payment", "shipping", "email", "currency", "ad",
];

/// The resources of a few pods per service, shared by their spans as a batch shares them.
fn resources() -> Vec<Arc<SpanOrigin>> {
    let mut out = Vec::new();
    for s in SERVICES {
        for pod in 0..3 {
            let attr = |k: &str, v: &str| KeyValue::new(k, AttrValue::String(v.into()));
            out.push(Arc::new(SpanOrigin {
                resource: vec![
                    attr("service.name", s),
                    attr("service.version", "1.14.2"),
                    attr("host.name", &format!("node-{}", pod * 7 % 5)),
                    attr("k8s.pod.name", &format!("{s}-7d9f8b6c4-{pod}x{pod}z")),
                    attr("k8s.namespace.name", "shop"),
                    attr("telemetry.sdk.name", "opentelemetry"),
                    attr("telemetry.sdk.language", "go"),
                    attr("telemetry.sdk.version", "1.28.0"),
                ],
                scope_name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".into(),
                scope_version: "0.53.0".into(),
            }));
        }
    }
    out
}

/// A realistic trace: `n` spans over several services, each with 10 attributes and 2
/// events.
fn realistic_trace(
    rng: &mut StdRng,
    trace: u64,
    start: u64,
    n: u64,
    origins: &[Arc<SpanOrigin>],
) -> Vec<Span> {
    let mut trace_id = [0u8; 16];
    rng.fill(&mut trace_id[..]);
    trace_id[..8].copy_from_slice(&trace.to_be_bytes());
    (0..n)
        .map(|i| {
            let o = &origins[rng.random_range(0..origins.len())];
            let service = match &o.resource[0].value {
                AttrValue::String(s) => s.clone(),
                _ => unreachable!(),
            };
            let begin = start + i * 3 * MS + rng.random_range(0..MS);
            let len = rng.random_range(100_000..200 * MS);
            let status = [200, 200, 200, 200, 200, 200, 404, 500][rng.random_range(0..8)];
            let id: u64 = rng.random_range(1..1_000_000);
            let route = [
                "/api/cart",
                "/api/products/{id}",
                "/api/checkout",
                "/api/currency",
                "/api/ads",
            ][rng.random_range(0..5)];
            let s = |v: &str| AttrValue::String(v.into());
            let mut request_id = [0u8; 16];
            rng.fill(&mut request_id);
            Span {
                trace_id,
                span_id: rng.random_range(1..u64::MAX).to_be_bytes(),
                parent_span_id: (i > 0).then(|| rng.random_range(1..u64::MAX).to_be_bytes()),
                trace_state: String::new(),
                flags: 1,
                name: format!("{} {route}", if i % 3 == 0 { "GET" } else { "POST" }),
                service,
                kind: if i % 2 == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                start_unix_nano: begin,
                end_unix_nano: begin + len,
                status_code: if status == 500 {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                status_message: if status == 500 {
                    "internal error".into()
                } else {
                    String::new()
                },
                attributes: vec![
                    KeyValue::new("http.method", s(if i % 3 == 0 { "GET" } else { "POST" })),
                    KeyValue::new("http.route", s(route)),
                    KeyValue::new("http.status_code", AttrValue::Int(status)),
                    KeyValue::new(
                        "http.url",
                        s(&format!(
                            "http://shop.internal{}?id={id}",
                            route.replace("{id}", &id.to_string())
                        )),
                    ),
                    KeyValue::new("net.peer.name", s(&format!("10.0.{}.{}", id % 7, id % 250))),
                    KeyValue::new("user.id", AttrValue::Int((id % 50_000) as i64)),
                    KeyValue::new("request.id", s(&storage::hex(&request_id))),
                    KeyValue::new("component", s("http")),
                    KeyValue::new("thread.name", s(&format!("worker-{}", id % 16))),
                    KeyValue::new(
                        "http.response_content_length",
                        AttrValue::Int(rng.random_range(0..100_000)),
                    ),
                ],
                events: vec![
                    SpanEvent {
                        time_unix_nano: begin + 1000,
                        name: "message".into(),
                        attributes: vec![
                            KeyValue::new("message.type", s("RECEIVED")),
                            KeyValue::new(
                                "message.uncompressed_size",
                                AttrValue::Int(rng.random_range(0..10_000)),
                            ),
                        ],
                    },
                    SpanEvent {
                        time_unix_nano: begin + len - 1000,
                        name: "message".into(),
                        attributes: vec![
                            KeyValue::new("message.type", s("SENT")),
                            KeyValue::new(
                                "message.uncompressed_size",
                                AttrValue::Int(rng.random_range(0..10_000)),
                            ),
                        ],
                    },
                ],
                links: vec![],
                origin: o.clone(),
            }
        })
        .collect()
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize]
}

/// Ingest, size and query figures (`ARGUS_TRACE_BENCH_SPANS`, default 1,000,000 spans, in
/// traces of 12 over the last hour, from 4 threads in batches of 512; the threads also make
/// the spans, on the same cores). Run in release:
/// `cargo test -p storage --release --test trace_store measure -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_ingest_lookup_and_search() {
    let total: u64 = std::env::var("ARGUS_TRACE_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let threads = 4u64;
    let per_trace = 12u64;
    // `ARGUS_TRACE_BENCH_DIR` keeps the data: a second run with the same directory only
    // queries (the spans' times are stored in `now` next to them).
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("ARGUS_TRACE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    let mut c = config(&dir);
    c.commit_interval = TraceStoreConfig::new(&dir).commit_interval;
    c.writer_memory_bytes = TraceStoreConfig::new(&dir).writer_memory_bytes;
    let now_file = dir.join("bench-now");
    let now = match std::fs::read_to_string(&now_file) {
        Ok(s) => s.trim().parse().unwrap(),
        Err(_) => {
            let now = now_ms() as u64 * MS;
            ingest(&c, now, total, threads, per_trace);
            std::fs::write(&now_file, now.to_string()).unwrap();
            now
        }
    };
    let store = TraceStore::open(c, &prometheus::Registry::new()).unwrap();
    let n = store.span_count();
    let spans_bytes = common::dir_size(&dir.join("spans"));
    let index_bytes = common::dir_size(&dir.join("index"));
    println!(
        "on disk: spans {:.1} B/span, index {:.1} B/span, total {:.1} B/span",
        spans_bytes as f64 / n as f64,
        index_bytes as f64 / n as f64,
        store.disk_usage().unwrap() as f64 / n as f64
    );
    // Lookups of random traces.
    let mut rng = StdRng::seed_from_u64(42);
    let found = {
        let mut q = query(now - 2 * HOUR, now + HOUR);
        q.limit = 2000;
        store.find_traces(&q).unwrap()
    };
    let mut lookups = Vec::new();
    for _ in 0..500 {
        let m = &found[rng.random_range(0..found.len())];
        let at = Instant::now();
        let spans = store.trace(&m.trace_id).unwrap();
        lookups.push(at.elapsed());
        assert_eq!(spans.len() as u64, per_trace);
    }
    println!(
        "trace by id: p50 {:?} p99 {:?}",
        percentile(lookups.clone(), 0.5),
        percentile(lookups, 0.99)
    );
    let cases: Vec<(&str, TraceQuery)> = vec![
        (
            "service, last hour",
            TraceQuery {
                service: Some("cart".into()),
                ..query(now - HOUR, now)
            },
        ),
        (
            "service+operation+tag, last hour",
            TraceQuery {
                service: Some("cart".into()),
                operation: Some("GET /api/cart".into()),
                tags: vec![("http.status_code".into(), "500".into())],
                limit: 20,
                ..query(now - HOUR, now)
            },
        ),
        (
            "service+tag+min duration, last hour",
            TraceQuery {
                service: Some("payment".into()),
                tags: vec![("http.method".into(), "POST".into())],
                min_duration_nanos: Some(150 * MS),
                limit: 20,
                ..query(now - HOUR, now)
            },
        ),
        (
            "rare tag (one user), last hour",
            TraceQuery {
                tags: vec![("user.id".into(), "4242".into())],
                limit: 20,
                ..query(now - HOUR, now)
            },
        ),
        (
            "everything, last 15 min",
            TraceQuery {
                limit: 20,
                ..query(now - HOUR / 4, now)
            },
        ),
    ];
    for (name, q) in cases {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..21 {
            let at = Instant::now();
            hits = store.find_traces(&q).unwrap().len();
            times.push(at.elapsed());
        }
        println!(
            "search {name}: {hits} traces, p50 {:?}",
            percentile(times, 0.5)
        );
    }
    let at = Instant::now();
    let services = store.services().unwrap();
    let ops = store.operations("cart", None).unwrap();
    println!(
        "services ({}) and operations ({}) in {:?}",
        services.len(),
        ops.len(),
        at.elapsed()
    );
    store.close().unwrap();
}

/// Appends `total` realistic spans from `threads` threads in batches of 512 and reports the
/// rates.
fn ingest(c: &TraceStoreConfig, now: u64, total: u64, threads: u64, per_trace: u64) {
    let store = TraceStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
    let traces = total / per_trace;
    let step = HOUR / traces.max(1);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let origins = resources();
                let mut rng = StdRng::seed_from_u64(t);
                let mut batch = Vec::with_capacity(1024);
                let mut latencies = Vec::new();
                let mut trace = t;
                while trace < traces {
                    let start = now - HOUR + trace * step;
                    batch.extend(realistic_trace(&mut rng, trace, start, per_trace, &origins));
                    if batch.len() >= 512 {
                        let b: Vec<Span> = batch.drain(..512).collect();
                        let at = Instant::now();
                        store.append_spans(b).unwrap();
                        latencies.push(at.elapsed());
                    }
                    trace += threads;
                }
                store.append_spans(batch).unwrap();
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.join().unwrap());
    }
    let acked = started.elapsed();
    store.flush().unwrap();
    let indexed = started.elapsed();
    let n = store.span_count();
    let m = store.metrics();
    println!(
        "encoded {:.1} B/span; {} commits taking {:.2} s",
        m.bytes_appended.get() as f64 / n as f64,
        m.commit_seconds.get_sample_count(),
        m.commit_seconds.get_sample_sum(),
    );
    println!(
        "{n} spans: acknowledged in {acked:.2?} ({:.0} spans/s), indexed in {indexed:.2?} ({:.0} spans/s); append p50 {:?} p99 {:?}",
        n as f64 / acked.as_secs_f64(),
        n as f64 / indexed.as_secs_f64(),
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99),
    );
    store.close().unwrap();
}
