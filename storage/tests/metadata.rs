//! Metric metadata in the series store: recorded, read back, kept across reopen, capped,
//! filtered and limited.

use std::sync::Arc;
use std::time::Duration;

use storage::{
    METADATA_ENTRIES_PER_FAMILY, METADATA_MAX_TEXT_BYTES, MetricMetadata, MetricType, SeriesStore,
    SeriesStoreConfig, SeriesWriter, StorageError,
};

fn open(dir: &std::path::Path) -> Arc<SeriesStore> {
    let mut c = SeriesStoreConfig::new(dir);
    c.retention = None;
    c.checkpoint_interval = Duration::from_secs(3600);
    SeriesStore::open(c, &prometheus::Registry::new()).expect("store opens")
}

fn md(family: &str, kind: MetricType, help: &str, unit: &str) -> MetricMetadata {
    MetricMetadata {
        metric_family: family.to_string(),
        kind,
        help: help.to_string(),
        unit: unit.to_string(),
    }
}

/// `(type, help, unit)` of a family's entries as the store lists them (newest first).
fn entries(store: &SeriesStore, family: &str) -> Vec<(MetricType, String, String)> {
    store
        .metadata(Some(family), None, None)
        .remove(family)
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            assert_eq!(m.metric_family, family);
            (m.kind, m.help, m.unit)
        })
        .collect()
}

fn e(kind: MetricType, help: &str, unit: &str) -> (MetricType, String, String) {
    (kind, help.to_string(), unit.to_string())
}

#[test]
fn recorded_metadata_is_read_back_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        assert!(store.metadata(None, None, None).is_empty());
        store
            .record_metadata(&[
                md("http_requests_total", MetricType::Counter, "Requests.", ""),
                md(
                    "request_duration_seconds",
                    MetricType::Histogram,
                    "Latency.",
                    "seconds",
                ),
                // the same entry twice in one call, and again later: kept once
                md("http_requests_total", MetricType::Counter, "Requests.", ""),
            ])
            .unwrap();
        store
            .record_metadata(&[md(
                "http_requests_total",
                MetricType::Counter,
                "Requests.",
                "",
            )])
            .unwrap();
        // another help text for the same family is a second entry, listed first
        store
            .record_metadata(&[md(
                "http_requests_total",
                MetricType::Counter,
                "HTTP requests served.",
                "",
            )])
            .unwrap();
        assert_eq!(
            entries(&store, "http_requests_total"),
            vec![
                e(MetricType::Counter, "HTTP requests served.", ""),
                e(MetricType::Counter, "Requests.", ""),
            ]
        );
        // nothing flushed or closed: the writes are durable as they return
    }
    let store = open(dir.path());
    let all = store.metadata(None, None, None);
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["http_requests_total", "request_duration_seconds"]
    );
    assert_eq!(
        entries(&store, "request_duration_seconds"),
        vec![e(MetricType::Histogram, "Latency.", "seconds")]
    );
    assert_eq!(entries(&store, "http_requests_total").len(), 2);
    store.close().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.metadata(None, None, None), all);
}

#[test]
fn through_the_writer_trait() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let writer: Arc<dyn SeriesWriter> = store.clone();
    writer
        .record_metadata(&[md("up", MetricType::Gauge, "Target is up.", "")])
        .unwrap();
    assert_eq!(
        entries(&store, "up"),
        vec![e(MetricType::Gauge, "Target is up.", "")]
    );
    store.close().unwrap();
    assert!(matches!(
        writer.record_metadata(&[md("up", MetricType::Gauge, "other", "")]),
        Err(StorageError::ShuttingDown)
    ));
}

#[test]
fn distinct_entries_are_capped_newest_wins() {
    let dir = tempfile::tempdir().unwrap();
    let total = METADATA_ENTRIES_PER_FAMILY + 3;
    {
        let store = open(dir.path());
        for i in 0..total {
            store
                .record_metadata(&[md("jobs", MetricType::Gauge, &format!("help {i}"), "")])
                .unwrap();
        }
        // type and unit make entries distinct too
        let got = entries(&store, "jobs");
        assert_eq!(got.len(), METADATA_ENTRIES_PER_FAMILY);
        assert_eq!(
            got[0],
            e(MetricType::Gauge, &format!("help {}", total - 1), "")
        );
        assert_eq!(
            got.last().cloned(),
            Some(e(
                MetricType::Gauge,
                &format!("help {}", total - METADATA_ENTRIES_PER_FAMILY),
                ""
            ))
        );
        // one call that overflows the cap by itself keeps its newest entries
        let burst: Vec<MetricMetadata> = (0..total)
            .map(|i| md("burst", MetricType::Counter, "h", &format!("u{i}")))
            .collect();
        store.record_metadata(&burst).unwrap();
        let got = entries(&store, "burst");
        assert_eq!(got.len(), METADATA_ENTRIES_PER_FAMILY);
        assert_eq!(got[0].2, format!("u{}", total - 1));
    }
    let store = open(dir.path());
    let got = entries(&store, "jobs");
    assert_eq!(got.len(), METADATA_ENTRIES_PER_FAMILY);
    assert_eq!(
        got[0],
        e(MetricType::Gauge, &format!("help {}", total - 1), "")
    );
    // a known entry does not come back to the front, nor evict anything
    store
        .record_metadata(&[md(
            "jobs",
            MetricType::Gauge,
            &format!("help {}", total - 2),
            "",
        )])
        .unwrap();
    assert_eq!(entries(&store, "jobs"), got);
    store
        .record_metadata(&[md(
            "jobs",
            MetricType::Summary,
            &format!("help {}", total - 1),
            "",
        )])
        .unwrap();
    assert_eq!(
        entries(&store, "jobs")[0],
        e(MetricType::Summary, &format!("help {}", total - 1), "")
    );
}

#[test]
fn filtering_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut batch = Vec::new();
    for name in ["c_metric", "a_metric", "b_metric", "d_metric"] {
        batch.push(md(name, MetricType::Counter, "first", ""));
        batch.push(md(name, MetricType::Counter, "second", ""));
        batch.push(md(name, MetricType::Counter, "third", ""));
    }
    store.record_metadata(&batch).unwrap();

    let names = |m: &std::collections::BTreeMap<String, Vec<MetricMetadata>>| {
        m.keys().cloned().collect::<Vec<_>>()
    };
    let all = store.metadata(None, None, None);
    assert_eq!(
        names(&all),
        ["a_metric", "b_metric", "c_metric", "d_metric"]
    );
    assert!(all.values().all(|v| v.len() == 3));
    assert_eq!(
        all["a_metric"]
            .iter()
            .map(|m| m.help.as_str())
            .collect::<Vec<_>>(),
        ["third", "second", "first"]
    );

    // limit: the first families by name
    assert_eq!(
        names(&store.metadata(None, Some(2), None)),
        ["a_metric", "b_metric"]
    );
    assert_eq!(store.metadata(None, Some(10), None), all);
    assert!(store.metadata(None, Some(0), None).is_empty());

    // limit_per_metric: the newest entries of each family
    let per = store.metadata(None, None, Some(1));
    assert_eq!(names(&per), names(&all));
    assert!(per.values().all(|v| v.len() == 1 && v[0].help == "third"));
    let both = store.metadata(None, Some(3), Some(2));
    assert_eq!(names(&both), ["a_metric", "b_metric", "c_metric"]);
    assert!(both.values().all(|v| v.len() == 2));

    // metric: exactly that family, or nothing
    let one = store.metadata(Some("c_metric"), None, Some(2));
    assert_eq!(names(&one), ["c_metric"]);
    assert_eq!(one["c_metric"].len(), 2);
    assert!(store.metadata(Some("c_metri"), None, None).is_empty());
    assert!(store.metadata(Some("nope"), None, None).is_empty());
}

#[test]
fn invalid_names_are_ignored_and_long_texts_clipped() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(METADATA_MAX_TEXT_BYTES + 100);
    {
        let store = open(dir.path());
        store
            .record_metadata(&[
                md("", MetricType::Counter, "no name", ""),
                md("not a name", MetricType::Counter, "spaces", ""),
                md(&long, MetricType::Counter, "too long a name", ""),
                md("long_help", MetricType::Info, &long, &long),
            ])
            .unwrap();
        let all = store.metadata(None, None, None);
        assert_eq!(all.keys().collect::<Vec<_>>(), ["long_help"]);
        let m = &all["long_help"][0];
        assert_eq!(m.help.len(), METADATA_MAX_TEXT_BYTES);
        assert_eq!(m.unit.len(), METADATA_MAX_TEXT_BYTES);
        // the same long texts again are the entry already held, not a new one
        store
            .record_metadata(&[md("long_help", MetricType::Info, &long, &long)])
            .unwrap();
        assert_eq!(entries(&store, "long_help").len(), 1);
    }
    let store = open(dir.path());
    assert_eq!(entries(&store, "long_help").len(), 1);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store
                        .record_metadata(&[
                            md("shared", MetricType::Gauge, &format!("t{t}"), ""),
                            md(&format!("own_{t}_{i}"), MetricType::Counter, "", ""),
                        ])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = store.metadata(None, None, None);
    assert_eq!(all.len(), 1 + 4 * 50);
    assert_eq!(all["shared"].len(), 4);
}

#[test]
fn an_undecodable_row_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .record_metadata(&[md("good", MetricType::Gauge, "fine", "")])
            .unwrap();
        store.close().unwrap();
    }
    {
        // the layout of storage/docs/format.md: rows under `metadata/` in the `meta` family
        let opts = rocksdb::Options::default();
        let db = rocksdb::DB::open_cf(
            &opts,
            dir.path().join("series"),
            ["series", "chunks", "meta"],
        )
        .unwrap();
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"metadata/bad", [1u8, 99]).unwrap();
        db.put_cf(meta, b"metadata/\xff\xfe", [0u8]).unwrap();
        db.flush_cf(meta).unwrap();
    }
    let store = open(dir.path());
    let all = store.metadata(None, None, None);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["good"]);
}
