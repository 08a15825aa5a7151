//! `alerting-eval`: the rule manager evaluating 10,000 alerting rules (100 groups of 100) over
//! 100,000 series every 10 s, in this process (there is no wire to measure): a real series
//! store loaded with an hour of 10 s samples and fed a new sample per series every 10 s while
//! the rules run on their real schedule (`RuleManager::run`). Group evaluation times come from
//! the manager's own `/metrics` gauges, read as each evaluation ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alerting::{AlertSink, EvalConfig, EvalDeps, NotifyAlert, RuleManager};
use anyhow::{Context, Result, anyhow};
use query::promql::{Engine, EngineConfig, QueryOptions, Value};
use storage::{Labels, Sample, SeriesSamples, SeriesStore, SeriesStoreConfig, SeriesWriter};

use crate::Ctx;
use crate::http::quantile_ms;
use crate::procfs;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int, fmt_ms};

const SCENARIO: &str = "alerting-eval";
const STEP_MS: i64 = 10_000;
/// Series written per append while loading.
const LOAD_SERIES_PER_APPEND: usize = 5_000;
/// Histogram bucket bounds; every histogram metric has `sets / 10` instances of these.
const LE: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
/// Share of a histogram's observations at or below each bound.
const CDF: [f64; 10] = [0.05, 0.15, 0.35, 0.6, 0.8, 0.9, 0.95, 0.985, 0.995, 1.0];

/// A sink that only counts: notification is not what is measured.
#[derive(Default)]
struct CountingSink {
    batches: std::sync::atomic::AtomicU64,
}

impl AlertSink for CountingSink {
    fn send(&self, _alerts: Vec<NotifyAlert>) {
        self.batches.fetch_add(1, Ordering::Relaxed);
    }
}

/// The series of the workload: `metrics` names of three kinds, `sets` label sets each.
struct Workload {
    metrics: usize,
    sets: usize,
    series: Vec<(Labels, Kind, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    /// A bucket series with its index into [`LE`].
    Bucket(usize),
}

fn kind_of(metric: usize) -> &'static str {
    match metric % 10 {
        0..=5 => "counter",
        6 | 7 => "gauge",
        _ => "histogram",
    }
}

impl Workload {
    fn new(metrics: usize, sets: usize) -> Workload {
        let mut series = Vec::with_capacity(metrics * sets);
        for m in 0..metrics {
            for s in 0..sets {
                let (labels, kind) = match kind_of(m) {
                    "counter" => (
                        Labels::from_pairs([
                            ("__name__", format!("bench_c{m}_total")),
                            ("instance", format!("i{s}")),
                            ("job", format!("j{}", s % 10)),
                        ]),
                        Kind::Counter,
                    ),
                    "gauge" => (
                        Labels::from_pairs([
                            ("__name__", format!("bench_g{m}")),
                            ("instance", format!("i{s}")),
                            ("job", format!("j{}", s % 10)),
                        ]),
                        Kind::Gauge,
                    ),
                    _ => (
                        Labels::from_pairs([
                            ("__name__", format!("bench_h{m}_seconds_bucket")),
                            ("instance", format!("i{}", s / 10)),
                            ("le", LE[s % 10].to_string()),
                        ]),
                        Kind::Bucket(s % 10),
                    ),
                };
                series.push((labels, kind, s));
            }
        }
        Workload {
            metrics,
            sets,
            series,
        }
    }

    /// The value of series `i` at step `k` (steps are 10 s apart): counters grow 1–11/s,
    /// gauges sit at 0–99 with a small wave, buckets count 10 + instance observations/s.
    fn value(&self, i: usize, k: i64) -> f64 {
        let (_, kind, set) = &self.series[i];
        let spread = ((i * 7919) % 100) as f64;
        match kind {
            Kind::Counter => k as f64 * 10.0 * (1.0 + spread / 10.0),
            Kind::Gauge => spread + ((k as f64) / 6.0).sin(),
            Kind::Bucket(b) => {
                let per_second = 10.0 + (*set / 10) as f64;
                (k as f64 * 10.0 * per_second * CDF[*b]).floor()
            }
        }
    }

    fn batch(
        &self,
        range: std::ops::Range<usize>,
        steps: std::ops::Range<i64>,
    ) -> Vec<SeriesSamples> {
        range
            .map(|i| SeriesSamples {
                labels: self.series[i].0.clone(),
                samples: steps
                    .clone()
                    .map(|k| Sample {
                        t: k * STEP_MS,
                        v: self.value(i, k),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Rule `r` of the workload: thresholds on rates, sums by label, gauges, histogram
/// quantiles, a third of them with `for: 1m`. One rule in twenty has a threshold that some of
/// its series cross (a few alerts each, some flapping with the gauges' wave); the others' are
/// out of reach, as most rules of a healthy system are.
fn rule_yaml(r: usize, metrics: usize) -> String {
    let m = r % metrics;
    let variant = r / metrics;
    let hot = r.is_multiple_of(20);
    let pick = |firing: &str, quiet: &str| {
        if hot {
            firing.to_owned()
        } else {
            quiet.to_owned()
        }
    };
    let expr = match (kind_of(m), variant % 2) {
        ("counter", 0) => format!("rate(bench_c{m}_total[5m]) > {}", pick("10.5", "20")),
        ("counter", _) => format!(
            "sum by (job) (rate(bench_c{m}_total[5m])) > {}",
            pick("60", "500")
        ),
        ("gauge", 0) => format!("bench_g{m} > {}", pick("97", "150")),
        ("gauge", _) => format!("avg by (job) (bench_g{m}) > {}", pick("45", "150")),
        (_, 0) => format!(
            "histogram_quantile(0.99, sum by (le) (rate(bench_h{m}_seconds_bucket[5m]))) > {}",
            pick("1", "5")
        ),
        (_, _) => format!(
            "histogram_quantile(0.9, sum by (le, instance) (rate(bench_h{m}_seconds_bucket[5m]))) > {}",
            pick("0.2", "5")
        ),
    };
    let for_line = if variant.is_multiple_of(3) {
        "        for: 1m\n"
    } else {
        ""
    };
    format!(
        "      - alert: Bench{r}\n        expr: '{expr}'\n{for_line}        labels:\n          severity: page\n        annotations:\n          summary: rule {r} over threshold\n"
    )
}

fn rules_file(groups: usize, per_group: usize, metrics: usize, interval: Duration) -> String {
    let mut text = String::from("groups:\n");
    for g in 0..groups {
        text.push_str(&format!(
            "  - name: bench{g}\n    interval: {}\n    rules:\n",
            alerting::format_duration(interval)
        ));
        for q in 0..per_group {
            text.push_str(&rule_yaml(g * per_group + q, metrics));
        }
    }
    text
}

pub(crate) fn run(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let variant = format!(
        "{} rules in {} groups over {} series every {}",
        fmt_int((o.alerting_groups * o.alerting_rules_per_group) as f64),
        o.alerting_groups,
        fmt_int((o.alerting_metrics * o.alerting_sets) as f64),
        humantime::format_duration(o.alerting_interval)
    );
    run_inner(ctx, &variant)
        .unwrap_or_else(|e| vec![ScenarioReport::failed(SCENARIO, &variant, format!("{e:#}"))])
}

/// One finished group evaluation: its slot and how long it took.
struct Evaluation {
    slot_ms: i64,
    seconds: f64,
}

fn run_inner(ctx: &Ctx, variant: &str) -> Result<Vec<ScenarioReport>> {
    let o = &ctx.opts;
    let dir = ctx.data_dir(&format!("{SCENARIO}-{}", ctx.next_id()));
    let registry = prometheus::Registry::new();
    let mut config = SeriesStoreConfig::new(dir.join("series"));
    config.retention = None;
    let store = SeriesStore::open(config, &registry).context("opening the series store")?;

    let workload = Workload::new(o.alerting_metrics.max(10), o.alerting_sets.max(10));
    let steps = ((o.alerting_hours * 3600.0 * 1000.0) as i64 / STEP_MS).max(31);
    let now_step = storage::now_ms() / STEP_MS;
    let first_step = now_step - steps;
    eprintln!(
        "{SCENARIO}: loading {} series x {} samples ...",
        fmt_int(workload.series.len() as f64),
        fmt_int(steps as f64)
    );
    let load_started = Instant::now();
    // Time-major in blocks of 30 steps (5 minutes), so heads fill in time order.
    let mut k = first_step;
    while k < now_step {
        let end = (k + 30).min(now_step);
        for start in (0..workload.series.len()).step_by(LOAD_SERIES_PER_APPEND) {
            let stop = (start + LOAD_SERIES_PER_APPEND).min(workload.series.len());
            let outcome = store.append(workload.batch(start..stop, k..end))?;
            if outcome.rejected_total() > 0 {
                return Err(anyhow!(
                    "store refused samples: {:?}",
                    outcome.first_rejection
                ));
            }
        }
        // Keeps the write-ahead log (16 bytes a sample) small while loading; while the rules
        // run, the store checkpoints on its own default schedule.
        store.checkpoint()?;
        k = end;
    }
    let load_s = load_started.elapsed().as_secs_f64();
    let samples = workload.series.len() as f64 * steps as f64;
    eprintln!(
        "{SCENARIO}: loaded {} samples in {load_s:.1} s",
        fmt_int(samples)
    );

    let groups = alerting::parse_rule_file(
        std::path::Path::new("bench.yml"),
        &rules_file(
            o.alerting_groups,
            o.alerting_rules_per_group,
            workload.metrics,
            o.alerting_interval,
        ),
    )
    .map_err(|errors| anyhow!("bench rules do not load: {}", errors[0]))?;
    let sink = Arc::new(CountingSink::default());
    let manager = RuleManager::open(
        EvalConfig {
            data_dir: dir.join("alerting/eval"),
            default_interval: o.alerting_interval,
            default_query_offset: Duration::ZERO,
            external_url: "http://127.0.0.1:8080".into(),
            external_labels: BTreeMap::new(),
            engine: EngineConfig::default(),
            history_retention: Duration::from_secs(24 * 3600),
        },
        EvalDeps {
            source: store.clone(),
            writer: store.clone(),
            logs: None,
            sink: sink.clone(),
            registry: &registry,
        },
    )?;
    manager.apply(groups);

    let pid = std::process::id();
    let rss_before = procfs::mem(pid).unwrap_or_default();
    procfs::reset_peak(pid);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cpu0 = procfs::own_cpu_seconds();
    let wall = Instant::now();
    let running = rt.spawn(manager.clone().run(async move {
        let _ = stop_rx.await;
    }));

    // Ingest keeps going: one sample per series every 10 s, as scrapes would bring.
    let ingesting = Arc::new(AtomicBool::new(true));
    let ingest = {
        let store = store.clone();
        let ingesting = ingesting.clone();
        let workload = Arc::new(workload);
        let w = workload.clone();
        let handle = std::thread::spawn(move || -> Result<f64> {
            let mut next = now_step;
            let mut busy = 0.0;
            while ingesting.load(Ordering::SeqCst) {
                if storage::now_ms() >= next * STEP_MS {
                    let t = Instant::now();
                    for start in (0..w.series.len()).step_by(LOAD_SERIES_PER_APPEND * 4) {
                        let stop = (start + LOAD_SERIES_PER_APPEND * 4).min(w.series.len());
                        store.append(w.batch(start..stop, next..next + 1))?;
                    }
                    busy += t.elapsed().as_secs_f64();
                    next += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Ok(busy)
        });
        (handle, workload)
    };

    // Every evaluation's duration, read from the manager's gauges as it changes.
    eprintln!(
        "{SCENARIO}: evaluating for {} ...",
        humantime::format_duration(o.alerting_duration)
    );
    let mut last_seen: HashMap<String, f64> = HashMap::new();
    let mut evaluations: Vec<Evaluation> = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    while wall.elapsed() < o.alerting_duration {
        std::thread::sleep(Duration::from_millis(50));
        let text = encoder.encode_to_string(&registry.gather())?;
        let slots = gauge_values(&text, "argus_rule_group_last_evaluation_timestamp_seconds");
        let durations = gauge_values(&text, "argus_rule_group_last_duration_seconds");
        for (group, slot) in slots {
            if last_seen.get(&group) != Some(&slot) {
                last_seen.insert(group.clone(), slot);
                if let Some(seconds) = durations.get(&group) {
                    evaluations.push(Evaluation {
                        slot_ms: (slot * 1000.0) as i64,
                        seconds: *seconds,
                    });
                }
            }
        }
    }
    let _ = stop_tx.send(());
    rt.block_on(running)?;
    let wall_s = wall.elapsed().as_secs_f64();
    let cpu = procfs::own_cpu_seconds() - cpu0;
    let mem = procfs::mem(pid).unwrap_or_default();
    ingesting.store(false, Ordering::SeqCst);
    let ingest_busy = ingest
        .0
        .join()
        .map_err(|_| anyhow!("ingest thread panicked"))??;

    let text = encoder.encode_to_string(&registry.gather())?;
    let missed: f64 = gauge_values(&text, "argus_rule_group_iterations_missed_total")
        .values()
        .fold(0.0, |a, b| a + b);
    let failures: f64 = gauge_values(&text, "argus_rule_evaluation_failures_total")
        .values()
        .fold(0.0, |a, b| a + b);
    let rule_evaluations: f64 = gauge_values(&text, "argus_rule_evaluations_total")
        .values()
        .fold(0.0, |a, b| a + b);
    let engine = Engine::new(store.clone(), EngineConfig::default());
    let firing = match engine
        .instant_query(
            "count(ALERTS{alertstate=\"firing\"})",
            storage::now_ms(),
            &QueryOptions::default(),
        )?
        .value
    {
        Value::Vector(v) => v.first().map_or(0.0, |s| s.v),
        _ => 0.0,
    };

    let mut group_times: Vec<Duration> = evaluations
        .iter()
        .map(|e| Duration::from_secs_f64(e.seconds))
        .collect();
    group_times.sort_unstable();
    let interval_ms = i64::try_from(o.alerting_interval.as_millis()).unwrap_or(STEP_MS);
    let mut rounds: BTreeMap<i64, (f64, f64, usize)> = BTreeMap::new();
    for e in &evaluations {
        let round = rounds.entry(e.slot_ms.div_euclid(interval_ms)).or_default();
        round.0 += e.seconds;
        round.1 = round.1.max(e.seconds);
        round.2 += 1;
    }
    // Only rounds in which every group ran (the first and last are cut by the start and stop).
    let complete: Vec<Duration> = {
        let mut v: Vec<Duration> = rounds
            .values()
            .filter(|r| r.2 == o.alerting_groups)
            .map(|r| Duration::from_secs_f64(r.0))
            .collect();
        v.sort_unstable();
        v
    };
    let g50 = quantile_ms(&group_times, 0.5);
    let g99 = quantile_ms(&group_times, 0.99);
    let gmax = group_times.last().map(|d| d.as_secs_f64() * 1000.0);
    let r50 = quantile_ms(&complete, 0.5);
    let r99 = quantile_ms(&complete, 0.99);
    let rmax = complete.last().map(|d| d.as_secs_f64() * 1000.0);
    let opt_ms = |v: Option<f64>| v.map_or_else(|| "—".to_string(), fmt_ms);
    // The rule manager runs at most this many group evaluations at once.
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut r = ScenarioReport::new(SCENARIO, variant);
    r.value = g99;
    r.p50_ms = g50;
    r.p99_ms = g99;
    r.rss_peak = Some(mem.hwm);
    r.server_cpu = Some(cpu / wall_s);
    r.target = Some(format!(
        "group p99 well under {} (< 1/10), no missed slot",
        humantime::format_duration(o.alerting_interval)
    ));
    r.met = g99.map(|p| p < interval_ms as f64 / 10.0 && missed == 0.0);
    r.result = format!(
        "group evaluation p50 {} / p99 {} / max {}; {missed} missed; evaluation work per interval \
         p50 {} / p99 {} (sum of group times, {parallel} at once); {} firing",
        opt_ms(g50),
        opt_ms(g99),
        opt_ms(gmax),
        opt_ms(r50),
        opt_ms(r99),
        fmt_int(firing)
    );
    r.details_md = format!(
        "| group evaluations | group p50 | group p99 | group max | complete rounds | round p50 | round p99 | round max | missed | rule failures | CPU (process) | ingest busy | RSS before → peak | firing alerts | load |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} | {} | {} | {} | {missed} | {failures} | {:.2} cores | {:.1} % | {} → {} | {} | {} samples in {load_s:.0} s |\n",
        fmt_int(evaluations.len() as f64),
        opt_ms(g50),
        opt_ms(g99),
        opt_ms(gmax),
        complete.len(),
        opt_ms(r50),
        opt_ms(r99),
        opt_ms(rmax),
        cpu / wall_s,
        100.0 * ingest_busy / wall_s,
        fmt_bytes(rss_before.rss),
        fmt_bytes(mem.hwm),
        fmt_int(firing),
        fmt_int(samples),
    );
    r.notes.push(
        "in this process: a real series store, the rule manager's own schedule (`run`), a \
         sink that only counts; a round is the sum of the group evaluation times of one \
         interval (groups are spread over it by their offsets, at most one evaluation per \
         core at once), i.e. the evaluation work per interval"
            .into(),
    );
    r.notes.push(format!(
        "CPU is this whole process over {wall_s:.0} s: evaluation, ALERTS writes, and the \
         ingest of one sample per series every 10 s ({:.1} % of the wall time)",
        100.0 * ingest_busy / wall_s
    ));
    r.details = serde_json::json!({
        "series": ingest.1.series.len(),
        "sets_per_metric": ingest.1.sets,
        "groups": o.alerting_groups,
        "rules_per_group": o.alerting_rules_per_group,
        "interval_s": o.alerting_interval.as_secs_f64(),
        "wall_s": wall_s,
        "group_evaluations": evaluations.len(),
        "rule_evaluations": rule_evaluations,
        "group_p50_ms": g50,
        "group_p99_ms": g99,
        "group_max_ms": gmax,
        "complete_rounds": complete.len(),
        "round_p50_ms": r50,
        "round_p99_ms": r99,
        "round_max_ms": rmax,
        "missed": missed,
        "rule_failures": failures,
        "cpu_cores": cpu / wall_s,
        "ingest_busy_share": ingest_busy / wall_s,
        "rss_before": rss_before.rss,
        "rss_peak": mem.hwm,
        "firing": firing,
        "notify_batches": sink.batches.load(Ordering::Relaxed),
        "load_samples": samples,
        "load_s": load_s,
    });
    drop(manager);
    store.close()?;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(vec![r])
}

/// `name{rule_group="…"} value` lines of the text exposition, by group.
fn gauge_values(text: &str, name: &str) -> HashMap<String, f64> {
    let prefix = format!("{name}{{rule_group=\"");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (group, value) = rest.split_once("\"} ")?;
            Some((group.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_rules_load_and_cover_every_kind() -> Result<(), Vec<alerting::RuleFileError>> {
        let text = rules_file(2, 10, 10, Duration::from_secs(10));
        let groups = alerting::parse_rule_file(std::path::Path::new("b.yml"), &text)?;
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].rules.len(), 10);
        assert!(text.contains("histogram_quantile"));
        assert!(text.contains("sum by (job)"));
        assert!(text.contains("for: 1m"));
        Ok(())
    }

    #[test]
    fn workload_has_sets_per_metric() {
        let w = Workload::new(10, 20);
        assert_eq!(w.series.len(), 200);
        // Buckets are cumulative: a higher bound never counts fewer observations.
        let buckets: Vec<f64> = (180..190).map(|i| w.value(i, 100)).collect();
        assert!(buckets.windows(2).all(|p| p[0] <= p[1]), "{buckets:?}");
    }
}
