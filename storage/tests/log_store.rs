//! The log store end to end: durability across crashes, every query kind, paging, histogram,
//! facets, retention, error groups, live tail, and index size.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use storage::{
    LogCursor, LogOrder, LogQuery, LogRecord, LogStore, LogStoreConfig, LogWriter, StorageError,
    now_ms,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn config(dir: &Path) -> LogStoreConfig {
    let mut c = LogStoreConfig::new(dir);
    c.retention = None;
    c.commit_interval = Duration::from_millis(50);
    c.writer_memory_bytes = 32 << 20;
    c
}

fn open(dir: &Path) -> Arc<LogStore> {
    LogStore::open(config(dir), &prometheus::Registry::new()).unwrap()
}

/// A record as ingest would build it from a logstash event: the event is `raw`, the known
/// keys normalised, the rest in `fields`.
fn event(time_ms: i64, level: &str, service: &str, message: &str, extra: Value) -> LogRecord {
    let mut raw = json!({
        "@timestamp": time_ms,
        "@version": "1",
        "levelname": level,
        "name": service,
        "message": message,
    });
    let mut fields = serde_json::Map::new();
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            raw[k.as_str()] = v.clone();
            fields.insert(k, v);
        }
    }
    LogRecord {
        time_ms,
        level: Some(level.into()),
        service: Some(service.into()),
        host: Some("web-1".into()),
        message: message.to_string(),
        trace_id: None,
        span_id: None,
        fingerprint: None,
        fields: serde_json::Value::Object(fields).to_string(),
        raw: raw.to_string(),
    }
}

fn query(q: &str, start_ms: i64, end_ms: i64) -> LogQuery {
    LogQuery {
        query: q.to_string(),
        start_ms,
        end_ms,
        limit: 100,
        order: LogOrder::NewestFirst,
        after: None,
        histogram_bucket_ms: None,
        facet_limit: 0,
    }
}

/// Every record's `id` field in the whole time range, counted.
fn id_counts(store: &LogStore) -> HashMap<u64, u32> {
    let mut counts = HashMap::new();
    let mut q = query("", i64::MIN / 2, i64::MAX / 2);
    q.limit = 5000;
    loop {
        let page = store.search(&q).unwrap();
        for h in &page.hits {
            let id = h.record.fields_map()["id"].as_u64().unwrap();
            *counts.entry(id).or_default() += 1;
        }
        match page.next {
            Some(c) => q.after = Some(c),
            None => return counts,
        }
    }
}

fn numbered(id: u64, time_ms: i64) -> LogRecord {
    event(
        time_ms,
        "INFO",
        "svc",
        &format!("line {id}"),
        json!({ "id": id }),
    )
}

// ------------------------------------------------------------------ queries

fn corpus(t0: i64) -> Vec<LogRecord> {
    let mut v = vec![
        event(
            t0,
            "ERROR",
            "market",
            "upstream timeout after 30 s",
            json!({"user": {"id": 42, "name": "alice"}, "http": {"status": 504, "method": "GET"}, "latency": 30.5}),
        ),
        event(
            t0 + 1,
            "ERROR",
            "billing",
            "connection reset by peer",
            json!({"user": {"id": 7, "name": "bob"}, "http": {"status": 500}, "latency": 0.75}),
        ),
        event(
            t0 + 2,
            "INFO",
            "market",
            "order placed",
            json!({"user": {"id": 42}, "http": {"status": 200}, "latency": 1.25, "host": {"name": "web-7"}}),
        ),
        event(
            t0 + 3,
            "WARN",
            "market",
            "connection refused, retrying",
            json!({"http": {"status": 503}, "status": 599}),
        ),
        event(t0 + 4, "DEBUG", "auth", "token message issued", json!({})),
        event(
            t0 + 5,
            "INFO",
            "auth",
            "peer reset the connection",
            json!({"http.status": 404, "big": 18446744073709551615u64}),
        ),
    ];
    v[0].trace_id = Some("ABC123def".into());
    v[0].span_id = Some("s1".into());
    v[1].fingerprint = Some("fp-reset".into());
    v[2].host = Some("web-2".into());
    v
}

#[test]
fn every_query_kind_finds_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t0 = 1_700_000_000_000;
    let records = corpus(t0);
    assert_eq!(store.append_logs(records.clone()).unwrap().accepted, 6);
    store.flush().unwrap();
    let find = |q: &str| -> Vec<i64> {
        let mut r: Vec<i64> = store
            .search(&query(q, t0, t0 + 10))
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .hits
            .iter()
            .map(|h| h.record.time_ms - t0)
            .collect();
        r.sort();
        r
    };
    let cases: &[(&str, &[i64])] = &[
        ("", &[0, 1, 2, 3, 4, 5]),
        ("*", &[0, 1, 2, 3, 4, 5]),
        // Terms search the message.
        ("timeout", &[0]),
        ("TIMEOUT", &[0]),
        ("connection", &[1, 3, 5]),
        // Terms combine with AND unless told otherwise.
        ("connection reset", &[1, 5]),
        ("connection OR timeout", &[0, 1, 3, 5]),
        ("\"connection reset\"", &[1]),
        ("\"reset by peer\"", &[1]),
        ("\"connection reset\"~2", &[1]),
        // Keyword fields, case-insensitive.
        ("level:ERROR AND service:market", &[0]),
        ("level:error", &[0, 1]),
        ("service:MARKET", &[0, 2, 3]),
        ("host:web-2", &[2]),
        ("trace_id:abc123DEF", &[0]),
        ("span_id:s1", &[0]),
        ("fingerprint:fp-reset", &[1]),
        ("level:ERROR -service:market", &[1]),
        ("NOT level:INFO", &[0, 1, 3, 4]),
        ("-level:INFO -level:DEBUG", &[0, 1, 3]),
        ("(level:WARN OR level:DEBUG) AND service:auth", &[4]),
        ("level: IN [warn debug]", &[3, 4]),
        // Keys of `fields`, with or without the `fields.` prefix, nested or dotted.
        ("user.id:42", &[0, 2]),
        ("fields.user.id:42", &[0, 2]),
        ("user.name:alice", &[0]),
        ("http.status:500", &[1]),
        ("http.status:404", &[5]),
        ("http.method:get", &[0]),
        ("host.name:web-7", &[2]),
        ("big:18446744073709551615", &[5]),
        // Ranges over numbers of any kind.
        ("http.status:[500 TO 599]", &[0, 1, 3]),
        ("fields.status:[500 TO 599]", &[3]),
        ("http.status:{500 TO 504]", &[0, 3]),
        ("http.status:>=503", &[0, 3]),
        ("http.status:<300", &[2]),
        ("latency:[0.5 TO 1.5]", &[1, 2]),
        ("latency:>30", &[0]),
        ("big:[18446744073709551000 TO *]", &[5]),
        ("user.name:[a TO b}", &[0]),
        ("time:[1700000000002 TO 1700000000003]", &[2, 3]),
        // Wildcards and prefixes.
        ("timeo*", &[0]),
        ("time*", &[0]),
        ("conn?ction", &[1, 3, 5]),
        ("*eset", &[1, 5]),
        ("service:mark*", &[0, 2, 3]),
        ("service:MAR*", &[0, 2, 3]),
        ("user.name:al*", &[0]),
        ("fields:bo?", &[1]),
        ("\"connection res\"*", &[1]),
        // Presence.
        ("trace_id:*", &[0]),
        ("user.id:*", &[0, 1, 2]),
        ("user.name:*", &[0, 1]),
        ("fingerprint:*", &[1]),
        // Regular expressions on keyword and text fields.
        ("service:/m.*t/", &[0, 2, 3]),
    ];
    let mut failures = Vec::new();
    for (q, want) in cases {
        let got = find(q);
        if got != *want {
            failures.push(format!("{q:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A hit is the record as appended, original event included.
    let hit = &store.search(&query("timeout", t0, t0)).unwrap().hits[0];
    assert_eq!(hit.record, records[0]);

    // Bad syntax is the caller's mistake, with tantivy's word for it.
    for bad in ["level:(ERROR", "http.status:[1 TO", "\"unclosed"] {
        match store.search(&query(bad, t0, t0 + 10)) {
            Err(StorageError::InvalidQuery(msg)) => assert!(!msg.is_empty()),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Validated even when no partition overlaps the range.
    assert!(matches!(
        store.search(&query("level:(", 0, 0)),
        Err(StorageError::InvalidQuery(_))
    ));
    store.close().unwrap();
}

#[test]
fn records_are_searchable_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.commit_interval = LogStoreConfig::new(dir.path()).commit_interval;
    let store = LogStore::open(c, &prometheus::Registry::new()).unwrap();
    let t = now_ms();
    store.append_logs(vec![numbered(1, t)]).unwrap();
    let started = Instant::now(); // acknowledged
    while store.search(&query("", t, t)).unwrap().total == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not searchable after 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("searchable after {:?}", started.elapsed());
    store.close().unwrap();
}

/// A store nobody has read commits for its first reader (search-idle, as an Elasticsearch
/// shard); a store being read relies on its commit interval, here an hour.
#[test]
fn first_read_after_an_idle_spell_sees_every_acknowledged_record() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut c = config(dir.path());
    c.commit_interval = Duration::from_secs(3600);
    let store = LogStore::open(c, &prometheus::Registry::new())?;
    let t = now_ms();
    store.append_logs((0..10).map(|i| numbered(i, t)).collect())?;
    assert_eq!(store.search(&query("", t, t))?.total, 10);
    store.append_logs((10..15).map(|i| numbered(i, t)).collect())?;
    // Read a moment ago: no commit on read, and the interval is an hour.
    assert_eq!(store.search(&query("", t, t))?.total, 10);
    store.flush()?;
    assert_eq!(store.search(&query("", t, t))?.total, 15);
    store.close()?;
    Ok(())
}

// ------------------------------------------------------------------ paging

#[test]
fn paging_through_ten_thousand_hits_has_no_duplicates_or_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.partition = Duration::from_secs(3600);
    let store = LogStore::open(c, &prometheus::Registry::new()).unwrap();
    let t0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR;
    // Three partitions, many records per millisecond, appended out of time order.
    let mut rng = StdRng::seed_from_u64(7);
    let mut records: Vec<LogRecord> = (0..10_000u64)
        .map(|i| numbered(i, t0 + rng.random_range(0..3 * HOUR)))
        .collect();
    // Plenty of exact ties.
    for r in records.iter_mut().step_by(3) {
        r.time_ms -= r.time_ms % 1000;
    }
    for chunk in records.chunks(700) {
        store.append_logs(chunk.to_vec()).unwrap();
    }
    store.flush().unwrap();
    assert!(store.partition_count() >= 3, "{}", store.partition_count());
    let (start, end) = (t0 - HOUR, t0 + 4 * HOUR);
    for order in [LogOrder::NewestFirst, LogOrder::OldestFirst] {
        let mut q = query("", start, end);
        q.order = order;
        q.limit = 97;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.search(&q).unwrap();
            assert_eq!(page.total, 10_000);
            pages += 1;
            seen.extend(page.hits.iter().map(|h| {
                (
                    h.record.time_ms,
                    h.seq,
                    h.record.fields_map()["id"].as_u64().unwrap(),
                )
            }));
            match page.next {
                Some(c) => {
                    let last = page.hits.last().unwrap();
                    assert_eq!(
                        c,
                        LogCursor {
                            time_ms: last.record.time_ms,
                            seq: last.seq
                        }
                    );
                    q.after = Some(c);
                }
                None => break,
            }
        }
        assert_eq!(pages, 10_000usize.div_ceil(97));
        assert_eq!(seen.len(), 10_000);
        let keys: Vec<(i64, u64)> = seen.iter().map(|(t, s, _)| (*t, *s)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if order == LogOrder::NewestFirst {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{order:?}: not in order");
        let ids: HashSet<u64> = seen.iter().map(|(_, _, id)| *id).collect();
        assert_eq!(ids.len(), 10_000, "{order:?}: duplicates or gaps");
    }
    // Paging a filtered query works the same way.
    let mut q = query("line", start, end);
    q.limit = 1000;
    let mut n = 0;
    loop {
        let page = store.search(&q).unwrap();
        n += page.hits.len();
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    assert_eq!(n, 10_000);
    store.close().unwrap();
}

// ------------------------------------------------------------------ histogram, facets

#[test]
fn histogram_and_facets_cover_the_whole_matched_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
    let mut records = Vec::new();
    for i in 0..300i64 {
        let level = ["INFO", "INFO", "ERROR"][(i % 3) as usize];
        let service = ["market", "billing", "auth", "search", "cart"][(i % 5) as usize];
        let mut r = event(
            t0 + i * 1000,
            level,
            service,
            "request handled",
            json!({"i": i}),
        );
        r.host = Some(format!("web-{}", i % 4).into());
        records.push(r);
    }
    // Outside the searched range: counted nowhere.
    records.push(event(
        t0 + 1_000_000,
        "ERROR",
        "market",
        "request handled",
        json!({}),
    ));
    store.append_logs(records).unwrap();
    store.flush().unwrap();
    let mut q = query("request", t0, t0 + 299_999);
    q.limit = 5;
    q.histogram_bucket_ms = Some(60_000);
    q.facet_limit = 3;
    let r = store.search(&q).unwrap();
    assert_eq!(r.total, 300);
    assert_eq!(r.hits.len(), 5);
    assert_eq!(
        r.histogram,
        (0..5).map(|m| (t0 + m * 60_000, 60)).collect::<Vec<_>>()
    );
    assert_eq!(
        r.facets["level"],
        vec![("INFO".to_string(), 200), ("ERROR".to_string(), 100)]
    );
    assert_eq!(r.facets["service"].len(), 3);
    assert!(r.facets["service"].iter().all(|(_, n)| *n == 60));
    assert_eq!(r.facets["host"].len(), 3);
    assert!(r.facets["host"].iter().all(|(_, n)| *n == 75));

    // The facets follow the query.
    let mut q2 = q.clone();
    q2.query = "level:error".into();
    let r = store.search(&q2).unwrap();
    assert_eq!(r.total, 100);
    assert_eq!(r.facets["level"], vec![("ERROR".to_string(), 100)]);
    assert_eq!(r.histogram.iter().map(|(_, n)| n).sum::<u64>(), 100);

    // Buckets align to their width, not to the range's start.
    let mut q3 = q.clone();
    q3.start_ms = t0 + 30_000;
    q3.histogram_bucket_ms = Some(100_000);
    let r = store.search(&q3).unwrap();
    assert_eq!(r.total, 270);
    assert_eq!(
        r.histogram,
        vec![(t0, 70), (t0 + 100_000, 100), (t0 + 200_000, 100)]
    );
    store.close().unwrap();
}

// ------------------------------------------------------------------ retention

#[test]
fn retention_drops_whole_old_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention = Some(Duration::from_secs(2 * 24 * 3600));
    let store = LogStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
    let now = now_ms();
    let old = now - DAY - DAY / 2;
    store
        .append_logs(vec![
            numbered(1, old),
            numbered(2, now),
            numbered(3, now - 3 * DAY),
        ])
        .map(|o| {
            assert_eq!(o.accepted, 2);
            assert_eq!(o.rejected.len(), 1);
            assert_eq!(o.rejected[0].0, 2);
        })
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.partition_count(), 2);
    assert_eq!(store.enforce_retention(now).unwrap(), 0);
    // 36 h later the older partition ended more than two days ago, the newer did not.
    assert_eq!(store.enforce_retention(now + DAY + DAY / 2).unwrap(), 1);
    assert_eq!(store.partition_count(), 1);
    let ids: Vec<u64> = id_counts(&store).into_keys().collect();
    assert_eq!(ids, vec![2]);
    let partitions = std::fs::read_dir(dir.path().join("partitions"))
        .unwrap()
        .count();
    assert_eq!(partitions, 1);
    // A record appended afterwards into the deleted range is kept, through a crash too.
    store.append_logs(vec![numbered(4, old)]).unwrap();
    drop(store);
    // The log does not bring the deleted records back.
    let store = LogStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
    let mut ids: Vec<u64> = id_counts(&store).into_keys().collect();
    ids.sort();
    assert_eq!(ids, vec![2, 4]);
    store.close().unwrap();
    let store = LogStore::open(c, &prometheus::Registry::new()).unwrap();
    assert_eq!(id_counts(&store).len(), 2);
    store.close().unwrap();
}

// ------------------------------------------------------------------ durability

#[test]
fn a_crash_without_close_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000;
    let store = open(dir.path());
    let mut acked = 0u64;
    // Some committed, some not, across two partitions, from several threads.
    for round in 0..4u64 {
        let handles: Vec<_> = (0..4u64)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let base = round * 10_000 + thread * 1000;
                    let batch: Vec<LogRecord> = (0..250)
                        .map(|i| numbered(base + i, t0 + ((base + i) % 3) as i64 * DAY))
                        .collect();
                    store.append_logs(batch).unwrap().accepted
                })
            })
            .collect();
        for h in handles {
            acked += h.join().unwrap();
        }
        if round == 1 {
            store.flush().unwrap();
        }
    }
    drop(store); // no close: uncommitted documents are lost, the log is not
    let store = open(dir.path());
    let counts = id_counts(&store);
    assert_eq!(counts.len() as u64, acked);
    assert!(counts.values().all(|n| *n == 1), "duplicates after replay");
    assert_eq!(store.record_count(), acked);
    // Crash again right after the replay, then close and reopen: still exactly once.
    drop(store);
    let store = open(dir.path());
    store.append_logs(vec![numbered(99_999, t0)]).unwrap();
    store.close().unwrap();
    let store = open(dir.path());
    let counts = id_counts(&store);
    assert_eq!(counts.len() as u64, acked + 1);
    assert!(counts.values().all(|n| *n == 1));
    // The log holds nothing committed beyond its last segment.
    let wal_files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert!(wal_files <= 2, "{wal_files} log segments left");
    store.close().unwrap();
}

/// A clean stop leaves one empty log segment, named by the next sequence number; the store
/// then continues after it, through a crash too, with nothing lost or doubled.
#[test]
fn a_clean_stop_leaves_no_log_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t0 = 1_700_000_000_000;
    let wal_dir = dir.path().join("wal");
    let segments = || -> std::io::Result<Vec<(String, u64)>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&wal_dir)? {
            let e = e?;
            v.push((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata()?.len(),
            ));
        }
        v.sort();
        Ok(v)
    };
    let reopen = || LogStore::open(config(dir.path()), &prometheus::Registry::new());
    let store = reopen()?;
    store.append_logs((0..500).map(|i| numbered(i, t0 + i as i64)).collect())?;
    store.close()?;
    let left = segments()?;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, 0, "the segment left is empty: {left:?}");
    assert_eq!(left[0].0, format!("{:020}.log", 501));
    // Reopened, it continues from there; a crash then loses nothing and doubles nothing.
    let store = reopen()?;
    assert_eq!(store.record_count(), 500);
    store.append_logs((500..700).map(|i| numbered(i, t0 + i as i64)).collect())?;
    drop(store);
    let store = reopen()?;
    let counts = id_counts(&store);
    assert_eq!(counts.len(), 700);
    assert!(counts.values().all(|n| *n == 1), "duplicates after replay");
    store.close()?;
    assert_eq!(segments()?.len(), 1);
    Ok(())
}

/// Keeps a directory immutable while alive (`chattr +i`: not even root may create a file in
/// it), so that writes into it fail as they do on a full disk or a read-only mount.
struct Immutable(std::path::PathBuf);

impl Immutable {
    /// `None` where the file system or the process cannot set the attribute.
    fn set(dir: &Path) -> std::io::Result<Option<Immutable>> {
        let set = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status();
        Ok(match set {
            Ok(status) if status.success() => Some(Immutable(dir.to_path_buf())),
            _ => None,
        })
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// An index that cannot be written (tantivy kills a writer whose thread hits an I/O error
/// and never replaces it): appends are refused at once, searches still read what was
/// committed, and once the directory is writable again the store recovers by itself, with
/// every acknowledged record indexed exactly once, before and after a restart.
#[test]
fn a_failed_index_write_refuses_appends_and_recovers_from_the_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    let reopen = || LogStore::open(config(dir.path()), &prometheus::Registry::new());
    let store = reopen()?;
    let t = now_ms();
    store.append_logs((0..100).map(|i| numbered(i, t)).collect())?;
    store.flush()?;
    let partitions: Vec<_> =
        std::fs::read_dir(dir.path().join("partitions"))?.collect::<Result<_, _>>()?;
    assert_eq!(partitions.len(), 1);
    let Some(immutable) = Immutable::set(&partitions[0].path())? else {
        eprintln!("skipped: chattr +i is not available on this file system");
        return Ok(());
    };
    // Durable (the write-ahead log is elsewhere), but their commit cannot write a segment.
    store.append_logs((100..200).map(|i| numbered(i, t)).collect())?;
    let flushed = store.flush();
    assert!(flushed.is_err(), "{flushed:?}");
    let refused = store.append_logs(vec![numbered(1000, t)]);
    assert!(
        matches!(refused, Err(StorageError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(store.search(&query("", t, t))?.total, 100);
    drop(immutable);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match store.append_logs((200..300).map(|i| numbered(i, t)).collect()) {
            Ok(_) => break,
            Err(StorageError::Unavailable(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
    store.flush()?;
    let exactly_once = |store: &LogStore| {
        let counts = id_counts(store);
        assert_eq!(counts.len(), 300);
        assert!(counts.values().all(|n| *n == 1), "indexed twice");
    };
    exactly_once(&store);
    store.close()?;
    let store = reopen()?;
    exactly_once(&store);
    Ok(())
}

/// Random interleavings of appends, commits, crashes (drop without close) and clean
/// restarts: after every restart the store holds exactly the acknowledged records.
#[test]
fn random_crashes_and_restarts_keep_exactly_the_acknowledged_records() {
    for seed in 0..6u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let t0 = 1_600_000_000_000;
        let mut store = open(dir.path());
        let mut acked: HashSet<u64> = HashSet::new();
        let mut next_id = 0u64;
        for _ in 0..25 {
            match rng.random_range(0..10) {
                0..=5 => {
                    let n = rng.random_range(1..200);
                    let batch: Vec<LogRecord> = (0..n)
                        .map(|i| {
                            numbered(
                                next_id + i,
                                t0 + rng.random_range(-3..4) * DAY + rng.random_range(0..DAY),
                            )
                        })
                        .collect();
                    store.append_logs(batch).unwrap();
                    acked.extend(next_id..next_id + n);
                    next_id += n;
                }
                6 => store.flush().unwrap(),
                7 => std::thread::sleep(Duration::from_millis(rng.random_range(0..80))),
                8 => {
                    drop(store);
                    store = open(dir.path());
                    check_exactly(&store, &acked, seed);
                }
                _ => {
                    store.close().unwrap();
                    drop(store);
                    store = open(dir.path());
                    check_exactly(&store, &acked, seed);
                }
            }
        }
        drop(store);
        let store = open(dir.path());
        check_exactly(&store, &acked, seed);
        store.close().unwrap();
    }
}

fn check_exactly(store: &LogStore, acked: &HashSet<u64>, seed: u64) {
    let counts = id_counts(store);
    let got: HashSet<u64> = counts.keys().copied().collect();
    assert_eq!(&got, acked, "seed {seed}: lost or invented records");
    assert!(counts.values().all(|n| *n == 1), "seed {seed}: duplicates");
}

/// The child half of [`kill_minus_9_loses_nothing_acknowledged`]: appends numbered records
/// forever, printing each acknowledged batch.
#[test]
fn kill_minus_9_child() {
    let Ok(dir) = std::env::var("ARGUS_LOG_KILL_CHILD_DIR") else {
        return;
    };
    let store = open(Path::new(&dir));
    let start: u64 = std::env::var("ARGUS_LOG_KILL_CHILD_START")
        .unwrap()
        .parse()
        .unwrap();
    let t0 = now_ms();
    let mut id = start;
    loop {
        let batch: Vec<LogRecord> = (id..id + 50)
            .map(|i| numbered(i, t0 + (i % 1000) as i64))
            .collect();
        store.append_logs(batch).unwrap();
        id += 50;
        println!("acked {id}");
    }
}

/// A real `kill -9` of a process appending as fast as it can, at a random moment, three
/// times in a row: every acknowledged record is there after the restart, none twice.
#[test]
fn kill_minus_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut acked_up_to = 0u64;
    let mut start = 0u64;
    for _round in 0..3 {
        let target = start + rng.random_range(500..5000);
        let acked = common::kill_child("ARGUS_LOG_KILL_CHILD", dir.path(), start, |n| n >= target);
        acked_up_to = acked.last().copied().unwrap_or(start);
        let store = open(dir.path());
        let counts = id_counts(&store);
        assert!(counts.values().all(|n| *n == 1), "duplicates after kill -9");
        for id in 0..acked_up_to {
            assert!(counts.contains_key(&id), "acknowledged record {id} lost");
        }
        // Records past the last acknowledgement may or may not have made it, once at most.
        start = counts.keys().max().map_or(0, |m| m + 1).max(acked_up_to);
        store.close().unwrap();
    }
    assert!(acked_up_to > 0);
}

// ------------------------------------------------------------------ error groups

#[test]
fn error_groups_count_and_show_the_newest_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
    let mut records = Vec::new();
    for i in 0..50i64 {
        let (fp, service) = match i % 5 {
            0..=2 => ("fp-timeout", ["market", "billing"][(i % 2) as usize]),
            3 => ("fp-npe", "auth"),
            _ => continue,
        };
        let mut r = event(
            t0 + i * HOUR,
            "ERROR",
            service,
            &format!("error {i}"),
            json!({"i": i}),
        );
        r.fingerprint = Some(fp.into());
        records.push(r);
    }
    records.push(event(t0, "INFO", "market", "fine", json!({})));
    store.append_logs(records).unwrap();
    store.flush().unwrap();
    let groups = store.error_groups(t0, t0 + 100 * HOUR, 10).unwrap();
    assert_eq!(groups.len(), 2);
    let g = &groups[0];
    assert_eq!(g.fingerprint, "fp-timeout");
    assert_eq!(g.count, 30);
    assert_eq!(g.first_seen_ms, t0);
    assert_eq!(g.last_seen_ms, t0 + 47 * HOUR);
    assert_eq!(
        g.services,
        vec!["billing".to_string(), "market".to_string()]
    );
    assert_eq!(g.example.record.message, "error 47");
    assert_eq!(groups[1].fingerprint, "fp-npe");
    assert_eq!(groups[1].count, 10);
    assert_eq!(groups[1].services, vec!["auth".to_string()]);
    // The range limits the groups; so does the limit.
    let early = store.error_groups(t0, t0 + 3 * HOUR, 10).unwrap();
    assert_eq!(early.iter().map(|g| g.count).sum::<u64>(), 4);
    assert_eq!(store.error_groups(t0, t0 + 100 * HOUR, 1).unwrap().len(), 1);
    // A group's lines are one search away.
    let lines = store
        .search(&query("fingerprint:fp-npe", t0, t0 + 100 * HOUR))
        .unwrap();
    assert_eq!(lines.total, 10);
    store.close().unwrap();
}

// ------------------------------------------------------------------ live tail

#[test]
fn tail_subscribers_receive_committed_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = now_ms();
    store.append_logs(vec![numbered(0, t)]).unwrap();
    store.flush().unwrap();
    // Only what is committed after subscribing.
    let mut sub = store.subscribe();
    for i in 1..=3 {
        store
            .append_logs(
                (0..100)
                    .map(|j| numbered(i * 100 + j, t - j as i64))
                    .collect(),
            )
            .unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 300 && Instant::now() < deadline {
        let batch = sub.recv_timeout(Duration::from_millis(200)).unwrap();
        assert_eq!(batch.dropped, 0);
        got.extend(batch.hits);
    }
    let ids: Vec<u64> = got
        .iter()
        .map(|h| h.record.fields_map()["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (100..400).collect::<Vec<_>>());
    let seqs: Vec<u64> = got.iter().map(|h| h.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // Everything it received is searchable already.
    assert_eq!(store.search(&query("", t - 1000, t)).unwrap().total, 301);
    // The query filter: the same language as search.
    let matching = store
        .filter_hits("id:[150 TO 159] OR id:399", got.clone())
        .unwrap();
    let ids: Vec<u64> = matching
        .iter()
        .map(|h| h.record.fields_map()["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (150..160).chain([399]).collect::<Vec<_>>());
    assert_eq!(store.filter_hits("", got.clone()).unwrap().len(), 300);
    assert!(matches!(
        store.filter_hits("(", got),
        Err(StorageError::InvalidQuery(_))
    ));
    store.close().unwrap();
    assert!(
        sub.recv_timeout(Duration::from_secs(1)).is_none(),
        "closed store ends the tail"
    );
}

// ------------------------------------------------------------------ size

/// A realistic logstash event (~400 bytes) as Python's `logstash_formatter` writes it.
fn logstash_event(rng: &mut StdRng, i: u64, t: i64) -> LogRecord {
    let services = ["market", "billing", "auth", "search", "cart", "gateway"];
    let service = services[rng.random_range(0..services.len())];
    let host = format!("{service}-{}", rng.random_range(0..8));
    let (level, message) = match rng.random_range(0..20) {
        0 => (
            "ERROR",
            format!(
                "upstream request to http://inventory:8080/api/items/{} timed out after {} ms",
                rng.random_range(1..100_000),
                rng.random_range(1000..30_000)
            ),
        ),
        1..=2 => (
            "WARNING",
            format!(
                "slow query on orders took {} ms, rows={}",
                rng.random_range(200..5000),
                rng.random_range(1..10_000)
            ),
        ),
        3..=5 => (
            "DEBUG",
            format!(
                "cache miss for key user:{}:profile",
                rng.random_range(1..1_000_000)
            ),
        ),
        _ => (
            "INFO",
            format!(
                "{} /api/v1/{}/{} completed with status {} in {} ms",
                ["GET", "POST", "PUT"][rng.random_range(0..3)],
                ["orders", "users", "carts", "items"][rng.random_range(0..4)],
                rng.random_range(1..1_000_000),
                [200, 201, 204, 404][rng.random_range(0..4)],
                rng.random_range(1..900)
            ),
        ),
    };
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.random::<u32>(),
        rng.random::<u16>(),
        rng.random::<u16>() & 0xfff,
        rng.random::<u16>(),
        rng.random::<u64>() & 0xffff_ffff_ffff
    );
    let func = [
        "handle_request",
        "process_order",
        "fetch_profile",
        "charge_card",
    ][rng.random_range(0..4)];
    let raw = json!({
        "@timestamp": format!("2024-05-01T12:{:02}:{:02}.{:03}Z", (i / 60_000) % 60, (i / 1000) % 60, i % 1000),
        "@version": "1",
        "message": message,
        "levelname": level,
        "source_host": host,
        "name": format!("{service}.api"),
        "funcName": func,
        "lineno": rng.random_range(10..900),
        "path": format!("/srv/app/{service}/api.py"),
        "process": rng.random_range(1000..1100),
        "threadName": "MainThread",
        "uuid": uuid,
        "user_id": rng.random_range(1..100_000),
    });
    let mut fields = raw.as_object().unwrap().clone();
    for k in [
        "@timestamp",
        "@version",
        "message",
        "levelname",
        "source_host",
    ] {
        fields.remove(k);
    }
    LogRecord {
        time_ms: t,
        level: Some(if level == "WARNING" { "WARN" } else { level }.into()),
        service: Some(service.into()),
        host: Some(host.into()),
        message,
        trace_id: None,
        span_id: None,
        fingerprint: (level == "ERROR").then(|| "fp-upstream-timeout".into()),
        fields: serde_json::Value::Object(fields).to_string(),
        raw: raw.to_string(),
    }
}

/// Index bytes per record against the raw JSON, original event included (printed; the
/// target is at most half).
#[test]
fn index_bytes_per_record_against_raw_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.commit_interval = Duration::from_secs(3600);
    c.writer_memory_bytes = 64 << 20;
    let store = LogStore::open(c, &prometheus::Registry::new()).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let n = 50_000u64;
    let t0 = 1_714_564_800_000;
    let mut raw_bytes = 0u64;
    let mut batch = Vec::new();
    for i in 0..n {
        let r = logstash_event(&mut rng, i, t0 + i as i64 * 10);
        raw_bytes += r.raw.len() as u64;
        batch.push(r);
        if batch.len() == 1000 {
            store.append_logs(std::mem::take(&mut batch)).unwrap();
        }
    }
    store.flush().unwrap();
    store.close().unwrap();
    let index_bytes = common::dir_size(&dir.path().join("partitions"));
    let per_record = index_bytes as f64 / n as f64;
    let raw_per_record = raw_bytes as f64 / n as f64;
    println!(
        "{n} records: raw JSON {raw_per_record:.1} B/record, index {per_record:.1} B/record ({:.1}% of raw)",
        100.0 * index_bytes as f64 / raw_bytes as f64
    );
    assert!(
        index_bytes * 2 <= raw_bytes,
        "index is more than half the raw JSON: {index_bytes} vs {raw_bytes}"
    );
    // And every event comes back as it came.
    let store = open(dir.path());
    let mut q = query("", t0, t0 + n as i64 * 10);
    q.limit = 3;
    let hits = store.search(&q).unwrap().hits;
    let v: Value = serde_json::from_str(&hits[0].record.raw).unwrap();
    assert_eq!(v["@version"], "1");
    store.close().unwrap();
}

#[test]
fn metrics_are_registered_and_move() {
    let dir = tempfile::tempdir().unwrap();
    let registry = prometheus::Registry::new();
    let store = LogStore::open(config(dir.path()), &registry).unwrap();
    store
        .append_logs(vec![numbered(1, 1_700_000_000_000)])
        .unwrap();
    store.flush().unwrap();
    store.search(&query("line", 0, i64::MAX / 2)).unwrap();
    let names = common::metric_values(&registry);
    for (name, min) in [
        ("argus_storage_logs_records_appended_total", 1.0),
        ("argus_storage_logs_bytes_appended_total", 10.0),
        ("argus_storage_logs_wal_fsync_seconds", 1.0),
        ("argus_storage_logs_commit_seconds", 1.0),
        ("argus_storage_logs_records_indexed_total", 1.0),
        ("argus_storage_logs_partitions", 1.0),
        ("argus_storage_logs_search_seconds", 1.0),
    ] {
        let v = names
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(v >= min, "{name} = {v}");
    }
    assert!(names.contains_key("argus_storage_logs_index_bytes"));
    store.close().unwrap();
}
