//! The series store against a model: what comes out after checkpoints, compaction and a
//! reopen equals what went in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use storage::{
    Labels, MatchOp, Matcher, Sample, SeriesSamples, SeriesStore, SeriesStoreConfig, SeriesWriter,
    reject, stale_nan,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn config(dir: &std::path::Path) -> SeriesStoreConfig {
    let mut c = SeriesStoreConfig::new(dir);
    c.retention = None;
    c.checkpoint_interval = Duration::from_secs(3600);
    c
}

fn open(dir: &std::path::Path) -> Arc<SeriesStore> {
    SeriesStore::open(config(dir), &prometheus::Registry::new()).expect("store opens")
}

fn labels(name: &str, extra: &[(&str, &str)]) -> Labels {
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Labels::from_pairs(pairs)
}

fn read_all(store: &SeriesStore, l: &Labels) -> Vec<Sample> {
    let matchers: Vec<Matcher> = l
        .iter()
        .map(|x| Matcher::equal(&x.name, &x.value))
        .collect();
    let found = store.select(&matchers, i64::MIN, i64::MAX).unwrap();
    let found: Vec<_> = found.into_iter().filter(|s| *s.labels == *l).collect();
    assert!(found.len() <= 1);
    found
        .first()
        .map(|s| store.samples(s.id, i64::MIN, i64::MAX).unwrap())
        .unwrap_or_default()
}

fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
}

#[test]
fn appends_are_read_back_across_checkpoint_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels("http_requests_total", &[("job", "api"), ("code", "200")]);
    let b = labels("cpu", &[("host", "h1")]);
    let base = 1_700_000_000_000i64;
    let a_samples: Vec<Sample> = (0..500)
        .map(|i| Sample {
            t: base + i * 10_000,
            v: (i * 3) as f64,
        })
        .collect();
    let mut b_samples: Vec<Sample> = (0..300)
        .map(|i| Sample {
            t: base + i * 15_000,
            v: 0.5 + i as f64 / 10.0,
        })
        .collect();
    b_samples[7].v = stale_nan();
    {
        let store = open(dir.path());
        let out = store
            .append(vec![
                SeriesSamples {
                    labels: a.clone(),
                    samples: a_samples[..250].to_vec(),
                },
                SeriesSamples {
                    labels: b.clone(),
                    samples: b_samples.clone(),
                },
            ])
            .unwrap();
        assert_eq!(out.samples_appended, 550);
        assert_eq!(out.series_created, 2);
        store.checkpoint().unwrap();
        store
            .append(vec![SeriesSamples {
                labels: a.clone(),
                samples: a_samples[250..].to_vec(),
            }])
            .unwrap();
        assert_eq!(bits(&read_all(&store, &a)), bits(&a_samples));
        store.compact().unwrap();
        assert_eq!(bits(&read_all(&store, &a)), bits(&a_samples));
        store.close().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(bits(&read_all(&store, &a)), bits(&a_samples));
    assert_eq!(bits(&read_all(&store, &b)), bits(&b_samples));
    assert_eq!(store.series_count(), 2);
}

#[test]
fn unclean_stop_replays_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let l = labels("up", &[("job", "x")]);
    let samples: Vec<Sample> = (0..50)
        .map(|i| Sample {
            t: 1_000_000 + i * 1000,
            v: 1.0,
        })
        .collect();
    {
        let store = open(dir.path());
        store
            .append(vec![SeriesSamples {
                labels: l.clone(),
                samples: samples.clone(),
            }])
            .unwrap();
        // Dropped without close(): nothing but the log holds these samples.
    }
    let store = open(dir.path());
    assert_eq!(bits(&read_all(&store, &l)), bits(&samples));
}

/// Every window of a series reads exactly what a model holds, whether its samples sit in the
/// head, in flight or in chunks: while runs are cut into chunks, after checkpoints, after
/// unclean stops whose log replays samples that runs had already written, and after a clean
/// reopen.
#[test]
fn windows_read_the_same_from_head_and_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let l = labels("requests", &[("job", "api")]);
    let base = 1_700_000_000_000i64;
    let sample = |i: i64| Sample {
        t: base + i * 10_000,
        v: i as f64,
    };
    let check = |store: &SeriesStore, upto: i64| {
        let id = store
            .select(&[Matcher::equal("job", "api")], i64::MIN, i64::MAX)
            .unwrap()[0]
            .id;
        for first in (0..upto).step_by(7) {
            for len in [1, 30, 150, 400] {
                let (mint, maxt) = (base + first * 10_000, base + (first + len) * 10_000);
                let want: Vec<Sample> = (first..=(first + len).min(upto - 1)).map(sample).collect();
                let got = store.samples(id, mint, maxt).unwrap();
                assert_eq!(bits(&got), bits(&want), "window {first}+{len} of {upto}");
            }
        }
    };
    let append = |store: &SeriesStore, from: i64, to: i64| {
        for i in (from..to).step_by(10) {
            store
                .append(vec![SeriesSamples {
                    labels: l.clone(),
                    samples: (i..(i + 10).min(to)).map(sample).collect(),
                }])
                .unwrap();
        }
    };
    {
        let store = open(dir.path());
        append(&store, 0, 300);
        check(&store, 300);
        store.checkpoint().unwrap();
        append(&store, 300, 500);
        check(&store, 500);
        // Dropped without close(): samples after the checkpoint, some already in chunks
        // written by runs, come back from the log.
    }
    {
        let store = open(dir.path());
        check(&store, 500);
        store.checkpoint().unwrap();
        // Fewer than a run's worth after the checkpoint: after the next unclean stop the
        // replay cuts no run, so only the series row says what the chunks hold.
        append(&store, 500, 560);
        check(&store, 560);
    }
    {
        let store = open(dir.path());
        check(&store, 560);
        append(&store, 560, 700);
        check(&store, 700);
        store.close().unwrap();
    }
    // Nothing to replay: only the series row says what the chunks hold.
    let store = open(dir.path());
    check(&store, 700);
}

#[test]
fn out_of_order_inside_window_is_kept_and_older_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let l = labels("g", &[]);
    let t0 = 10 * DAY;
    let s = |t: i64, v: f64| Sample { t, v };
    store
        .append(vec![SeriesSamples {
            labels: l.clone(),
            samples: vec![s(t0, 1.0), s(t0 + 60_000, 2.0)],
        }])
        .unwrap();
    let out = store
        .append(vec![SeriesSamples {
            labels: l.clone(),
            samples: vec![
                s(t0 + 30_000, 1.5),
                s(t0 - 2 * HOUR, 0.0),
                s(t0 + 60_000, 2.0),
                s(t0 + 60_000, 9.0),
            ],
        }])
        .unwrap();
    assert_eq!(out.samples_appended, 2);
    assert_eq!(out.rejected.get(reject::TOO_OLD), Some(&1));
    assert_eq!(out.rejected.get(reject::DUPLICATE_TIMESTAMP), Some(&1));
    assert!(out.first_rejection.is_some());
    let got: Vec<(i64, f64)> = read_all(&store, &l).iter().map(|x| (x.t, x.v)).collect();
    assert_eq!(got, vec![(t0, 1.0), (t0 + 30_000, 1.5), (t0 + 60_000, 2.0)]);
}

#[test]
fn matchers_follow_prometheus_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let one = |l: Labels| SeriesSamples {
        labels: l,
        samples: vec![Sample { t: 1000, v: 1.0 }],
    };
    store
        .append(vec![
            one(labels("m", &[("job", "api"), ("env", "prod")])),
            one(labels("m", &[("job", "web"), ("env", "dev")])),
            one(labels("m", &[("job", "db")])),
            one(labels("other", &[("job", "api")])),
        ])
        .unwrap();
    let count = |ms: Vec<Matcher>| store.select(&ms, i64::MIN, i64::MAX).unwrap().len();
    let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
    assert_eq!(count(vec![m("__name__", MatchOp::Equal, "m")]), 3);
    assert_eq!(
        count(vec![
            m("__name__", MatchOp::Equal, "m"),
            m("env", MatchOp::Equal, "")
        ]),
        1
    );
    assert_eq!(
        count(vec![
            m("__name__", MatchOp::Equal, "m"),
            m("env", MatchOp::NotEqual, "prod")
        ]),
        2
    );
    assert_eq!(count(vec![m("job", MatchOp::RegexMatch, "api|web")]), 3);
    assert_eq!(count(vec![m("job", MatchOp::RegexMatch, "ap")]), 0);
    assert_eq!(
        count(vec![
            m("__name__", MatchOp::Equal, "m"),
            m("env", MatchOp::RegexNoMatch, "p.*")
        ]),
        2
    );
    assert_eq!(
        count(vec![
            m("__name__", MatchOp::RegexMatch, ".+"),
            m("job", MatchOp::Equal, "api")
        ]),
        2
    );
    assert_eq!(
        store
            .select(&[m("job", MatchOp::Equal, "api")], 2000, 3000)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store.label_values("job", &[], i64::MIN, i64::MAX).unwrap(),
        vec!["api", "db", "web"]
    );
    assert_eq!(
        store
            .label_names(&[m("job", MatchOp::Equal, "db")], i64::MIN, i64::MAX)
            .unwrap(),
        vec!["__name__", "job"]
    );
}

#[test]
fn retention_drops_whole_partitions_and_forgets_empty_series() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention = Some(Duration::from_secs(2 * 86_400));
    let store = SeriesStore::open(c, &prometheus::Registry::new()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let old = labels("old", &[]);
    let new = labels("new", &[]);
    let out = store
        .append(vec![
            SeriesSamples {
                labels: old.clone(),
                samples: vec![Sample {
                    t: now - 40 * HOUR,
                    v: 1.0,
                }],
            },
            SeriesSamples {
                labels: new.clone(),
                samples: vec![Sample { t: now, v: 1.0 }],
            },
            SeriesSamples {
                labels: new.clone(),
                samples: vec![Sample {
                    t: now - 3 * DAY,
                    v: 1.0,
                }],
            },
        ])
        .unwrap();
    assert_eq!(out.rejected.get(reject::OUTSIDE_RETENTION), Some(&1));
    store.checkpoint().unwrap();
    assert_eq!(read_all(&store, &old).len(), 1);
    let dropped = store.enforce_retention(now + 2 * DAY).unwrap();
    assert!(dropped >= 1);
    assert!(read_all(&store, &old).is_empty());
    assert_eq!(
        store
            .select(&[Matcher::equal("__name__", "old")], i64::MIN, i64::MAX)
            .unwrap()
            .len(),
        0
    );
}

/// Realistic noise: request counters with random increments, gauges read off an instrument
/// with one decimal, as a random walk. The target is at most 1.5 bytes per sample on disk.
#[test]
fn counters_and_gauges_compress_well() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let base = 1_700_000_000_000i64;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut batch = Vec::new();
    for s in 0..100 {
        let mut total = 0.0f64;
        let mut gauge = 500i64;
        let mut counter = Vec::new();
        let mut g = Vec::new();
        for i in 0..8640i64 {
            total += next(100) as f64;
            gauge = (gauge + next(21) as i64 - 10).clamp(0, 1000);
            counter.push(Sample {
                t: base + i * 10_000,
                v: total,
            });
            g.push(Sample {
                t: base + i * 10_000,
                v: gauge as f64 / 10.0,
            });
        }
        batch.push(SeriesSamples {
            labels: labels("c", &[("i", &s.to_string())]),
            samples: counter,
        });
        batch.push(SeriesSamples {
            labels: labels("g", &[("i", &s.to_string())]),
            samples: g,
        });
    }
    store.append(batch).unwrap();
    store.close().unwrap();
    drop(store);
    let bytes: u64 = walk(dir.path()).iter().map(|(_, n)| n).sum();
    let per_sample = bytes as f64 / (200.0 * 8640.0);
    eprintln!("{bytes} bytes, {per_sample:.3} bytes/sample");
    assert!(per_sample < 1.5, "{per_sample} bytes per sample");
}

fn walk(p: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push((e.path(), m.len()));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn store_matches_a_model(
        ops in proptest::collection::vec((0usize..4, -3i64..200, 0u8..10), 1..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.partition_duration = Duration::from_secs(3600);
        c.max_head_samples = 7;
        c.out_of_order_window = Duration::from_secs(3600 * 1000);
        let mut store = SeriesStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
        let series: Vec<Labels> = (0..4).map(|i| labels("m", &[("i", &i.to_string())])).collect();
        let mut model: Vec<BTreeMap<i64, u64>> = vec![BTreeMap::new(); 4];
        for (s, t, action) in ops {
            let t = t * 1_000_000;
            // A function of (series, time): a repeated timestamp repeats its value, so the
            // model does not depend on which copy of a duplicate the store keeps.
            let v = ((t / 1_000_000) * 37 % 101 + s as i64) as f64 / 8.0;
            let out = store.append(vec![SeriesSamples { labels: series[s].clone(), samples: vec![Sample { t, v }] }]).unwrap();
            if out.samples_appended == 1 {
                model[s].entry(t).or_insert(v.to_bits());
            }
            match action {
                0 => store.checkpoint().unwrap(),
                1 => { store.compact().unwrap(); }
                2 => {
                    store.close().unwrap();
                    drop(store);
                    store = SeriesStore::open(c.clone(), &prometheus::Registry::new()).unwrap();
                }
                _ => {}
            }
        }
        for (i, l) in series.iter().enumerate() {
            let got = bits(&read_all(&store, l));
            let want: Vec<(i64, u64)> = model[i].iter().map(|(t, v)| (*t, *v)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
