//! Scenarios `query-rate`, `query-histogram` and `query-selector`: PromQL latency and server
//! memory through `POST /api/v1/query_range` and `POST /api/v1/query` (form bodies, as Grafana
//! sends them), over data written through remote_write with historical timestamps.
//!
//! Each scenario generates its data deterministically, writes it, restarts the server on the
//! same data directory (so the queries read what a long-running server reads: flushed chunks,
//! not the write path's buffers; `--query-no-restart` skips this), then runs every query once
//! to warm up (and checks the answer against the data), then `--query-runs` times measured.
//! Around every run the server's peak RSS (`VmHWM`) is reset through `/proc/PID/clear_refs`,
//! so each run's peak memory above its starting RSS is known.

use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::Ctx;
use crate::http::{self, Payload};
use crate::procfs::{self, DirSize, Mem};
use crate::proto;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int, fmt_ms};
use crate::server::{Server, ServerOpts};
use crate::throughput::shard_series;
use crate::workload::{Rng, round_to};

/// The issue's target: every benchmarked query answers in under 200 ms at the median.
const TARGET_P50_MS: f64 = 200.0;
/// The `[5m]` of the range queries.
const RATE_WINDOW_MS: i64 = 300_000;
/// Prometheus' default lookback of instant-vector selectors (the engine's default too).
const LOOKBACK_MS: i64 = 300_000;
/// Jobs of `query-rate` (`sum by (job)` answers one series per job).
const JOBS: [&str; 10] = [
    "api", "auth", "billing", "cart", "catalog", "checkout", "frontend", "payments", "search",
    "shipping",
];
/// The finite `le` bounds of `query-histogram` (with `+Inf`, 20 buckets per series).
const LE_BOUNDS: [f64; 19] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 10.0,
];
/// Shards of `query-selector`: series `i` has `shard="i % SHARDS"`.
const SHARDS: usize = 100;
/// The quantile of `query-histogram`.
const QUANTILE: f64 = 0.99;
/// Write shape for the 24 h data sets: series per request x consecutive samples per series.
const DAY_SERIES_PER_REQUEST: usize = 250;
const DAY_SAMPLES_PER_REQUEST: usize = 20;
/// Write shape for the selector data set (all samples of a series in one request).
const SELECTOR_SERIES_PER_REQUEST: usize = 1000;
const WRITE_CLIENTS: usize = 2;

// ---------------------------------------------------------------------------------------------
// Data sets.

/// Generated series, all in memory. Series of one scrape target share a timestamp vector.
struct DataSet {
    series: Vec<GenSeries>,
    /// Per scrape target, the timestamps of its samples (ascending).
    timestamps: Vec<Vec<i64>>,
}

struct GenSeries {
    labels: Vec<proto::Label>,
    /// Index into [`DataSet::timestamps`].
    target: usize,
    values: Vec<f64>,
}

impl DataSet {
    fn samples(&self) -> u64 {
        self.series.iter().map(|s| s.values.len() as u64).sum()
    }

    fn ts(&self, i: usize) -> &[i64] {
        &self.timestamps[self.series[i].target]
    }

    /// Samples of series `i` with a timestamp in `(lo, hi]`.
    fn count_in(&self, i: usize, lo: i64, hi: i64) -> u64 {
        let ts = self.ts(i);
        let a = ts.partition_point(|&t| t <= lo);
        let b = ts.partition_point(|&t| t <= hi);
        b.saturating_sub(a) as u64
    }
}

/// The value of label `name` of series `i` (empty when it has none).
fn label_of(ds: &DataSet, i: usize, name: &str) -> String {
    ds.series
        .get(i)
        .and_then(|s| s.labels.iter().find(|l| l.name == name))
        .map(|l| l.value.clone())
        .unwrap_or_default()
}

/// Label set of one series from pairs (`__name__` included), sorted as remote_write sends it.
fn labels(pairs: &[(&str, &str)]) -> Vec<proto::Label> {
    proto::labels(pairs)
}

/// `1 + 0.5 sin(...)`: a daily traffic cycle with the given phase (fraction of a day).
fn daily(t_ms: i64, phase: f64) -> f64 {
    1.0 + 0.5 * (TAU * (t_ms as f64 / 86_400_000.0 + phase)).sin()
}

/// The time layout of the 24 h data sets and their range queries.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct DayLayout {
    /// Scrapes start in `[t0, t0 + interval)` (each target has its own phase).
    t0: i64,
    interval_ms: i64,
    n_samples: usize,
    /// Range query: `start = t0 + step`, `end = start + n_samples * interval`.
    start: i64,
    end: i64,
    step: i64,
}

impl DayLayout {
    fn new(hours: f64, interval: Duration, step: Duration) -> Result<DayLayout> {
        let interval_ms = interval.as_millis() as i64;
        let step_ms = step.as_millis() as i64;
        ensure!(interval_ms > 0, "--query-interval must be positive");
        ensure!(step_ms > 0, "--query-step must be positive");
        let n_samples = ((hours * 3_600_000.0) / interval_ms as f64).round() as usize;
        ensure!(
            n_samples >= 2,
            "--query-hours gives fewer than 2 samples per series"
        );
        let span = n_samples as i64 * interval_ms;
        // The data ends about ten minutes ago, on a step boundary (Grafana aligns to the step).
        let now = crate::throughput::aligned_now_ms();
        let t0 = (now - span - 600_000).div_euclid(step_ms) * step_ms;
        let start = t0 + step_ms;
        Ok(DayLayout {
            t0,
            interval_ms,
            n_samples,
            start,
            end: start + span,
            step: step_ms,
        })
    }

    fn target_timestamps(&self, phase_ms: i64) -> Vec<i64> {
        (0..self.n_samples)
            .map(|k| self.t0 + phase_ms + k as i64 * self.interval_ms)
            .collect()
    }

    /// The steps of the range query.
    fn steps(&self) -> impl Iterator<Item = i64> + '_ {
        (0..)
            .map(move |k| self.start + k * self.step)
            .take_while(move |t| *t <= self.end)
    }
}

/// `query-rate`: `series` counters `bench_requests_total{job, instance}` dealt round-robin to
/// the 10 jobs, Poisson increments around a per-series rate (0.05-200 req/s) with a daily
/// cycle, about 3 % of them reset once (a process restart).
fn rate_data(series: usize, layout: &DayLayout, seed: u64) -> DataSet {
    let mut timestamps = Vec::with_capacity(series);
    let mut out = Vec::with_capacity(series);
    let interval_s = layout.interval_ms as f64 / 1000.0;
    for i in 0..series {
        let mut rng = Rng::new(seed ^ 0x0A7E_0000 ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let job = JOBS[i % JOBS.len()];
        let instance = format!("{job}-{:03}.prod.example.com:8080", i / JOBS.len());
        let phase = rng.below(layout.interval_ms as u64) as i64;
        let ts = layout.target_timestamps(phase);
        let rate = rng.log_uniform(0.05, 200.0);
        let day_phase = (i % JOBS.len()) as f64 / JOBS.len() as f64;
        // Started some time before the day: the counter does not begin at zero.
        let mut v = (rate * rng.uniform(0.0, 86_400.0)).round();
        let reset_at = if rng.f64() < 0.03 {
            Some(1 + rng.below(layout.n_samples as u64 - 1) as usize)
        } else {
            None
        };
        let mut values = Vec::with_capacity(ts.len());
        for (k, &t) in ts.iter().enumerate() {
            if k > 0 {
                let inc = rng.poisson(rate * interval_s * daily(t, day_phase)) as f64;
                v = if reset_at == Some(k) { inc } else { v + inc };
            }
            values.push(v);
        }
        out.push(GenSeries {
            labels: labels(&[
                ("__name__", "bench_requests_total"),
                ("job", job),
                ("instance", &instance),
                ("env", "prod"),
            ]),
            target: i,
            values,
        });
        timestamps.push(ts);
    }
    DataSet {
        series: out,
        timestamps,
    }
}

/// Standard normal CDF (Abramowitz and Stegun 7.1.26 for erf; |error| < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The `le` label value of bucket `b` (19 = `+Inf`), formatted as Prometheus clients do.
fn le_label(b: usize) -> String {
    LE_BOUNDS
        .get(b)
        .map(|v| format!("{v}"))
        .unwrap_or_else(|| "+Inf".into())
}

/// `query-histogram`: `instances` targets, each with the 20 cumulative buckets of
/// `bench_latency_seconds_bucket{job="api", instance, le}`. Every target serves a Poisson
/// number of requests per scrape (2-80 req/s with a daily cycle) with log-normal latencies
/// (median 15-120 ms, sigma 0.4-0.9); the requests of each bucket interval are Poisson with
/// the interval's probability, so every bucket is a monotonic integer counter.
/// Also returns the day's total increase of each bucket over all targets.
fn histogram_data(instances: usize, layout: &DayLayout, seed: u64) -> (DataSet, Vec<f64>) {
    let buckets = LE_BOUNDS.len() + 1;
    let mut timestamps = Vec::with_capacity(instances);
    let mut out = Vec::with_capacity(instances * buckets);
    let mut day_total = vec![0.0; buckets];
    let interval_s = layout.interval_ms as f64 / 1000.0;
    for inst in 0..instances {
        let mut rng = Rng::new(seed ^ 0x4157_0000 ^ (inst as u64).wrapping_mul(0x2545_F491));
        let instance = format!("api-{inst:03}.prod.example.com:8080");
        let phase = rng.below(layout.interval_ms as u64) as i64;
        let ts = layout.target_timestamps(phase);
        let rate = rng.log_uniform(2.0, 80.0);
        let median: f64 = rng.log_uniform(0.015, 0.12);
        let sigma = rng.uniform(0.4, 0.9);
        let day_phase = rng.f64();
        // Probability of each bucket interval (le_{b-1}, le_b].
        let mut p = Vec::with_capacity(buckets);
        let mut prev = 0.0;
        for &le in &LE_BOUNDS {
            let c = normal_cdf((le.ln() - median.ln()) / sigma);
            p.push(c - prev);
            prev = c;
        }
        p.push(1.0 - prev);
        // Counts since the process started, some time before the day.
        let served_before = rate * rng.uniform(0.0, 86_400.0);
        let mut interval_counts: Vec<f64> = p.iter().map(|q| (served_before * q).round()).collect();
        let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(ts.len()); buckets];
        let first = interval_counts.clone();
        for (k, &t) in ts.iter().enumerate() {
            if k > 0 {
                let n = rate * interval_s * daily(t, day_phase);
                for (b, q) in p.iter().enumerate() {
                    interval_counts[b] += rng.poisson(n * q) as f64;
                }
            }
            let mut cum = 0.0;
            for (b, c) in interval_counts.iter().enumerate() {
                cum += c;
                values[b].push(cum);
            }
        }
        let mut cum = 0.0;
        for b in 0..buckets {
            cum += interval_counts[b] - first[b];
            day_total[b] += cum;
        }
        for (b, vals) in values.into_iter().enumerate() {
            let le = le_label(b);
            out.push(GenSeries {
                labels: labels(&[
                    ("__name__", "bench_latency_seconds_bucket"),
                    ("job", "api"),
                    ("instance", &instance),
                    ("le", &le),
                ]),
                target: inst,
                values: vals,
            });
        }
        timestamps.push(ts);
    }
    (
        DataSet {
            series: out,
            timestamps,
        },
        day_total,
    )
}

/// Prometheus' `histogram_quantile` over cumulative bucket counts (the `LE_BOUNDS` then
/// `+Inf`): linear interpolation inside the bucket holding the rank; the lowest bucket starts
/// at 0; a rank in `+Inf` answers the highest finite bound.
fn bucket_quantile(q: f64, cumulative: &[f64]) -> f64 {
    let total = cumulative.last().copied().unwrap_or(0.0);
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let b = cumulative
        .iter()
        .position(|&c| c >= rank)
        .unwrap_or(cumulative.len() - 1);
    if b >= LE_BOUNDS.len() {
        return LE_BOUNDS[LE_BOUNDS.len() - 1];
    }
    let (lo, below) = if b == 0 {
        (0.0, 0.0)
    } else {
        (LE_BOUNDS[b - 1], cumulative[b - 1])
    };
    let in_bucket = cumulative[b] - below;
    if in_bucket <= 0.0 {
        return LE_BOUNDS[b];
    }
    lo + (LE_BOUNDS[b] - lo) * (rank - below) / in_bucket
}

/// `query-selector`: `n` gauges `bench_selector{job="selector", shard, instance}` with
/// `samples` samples each, `interval` apart, the last one at most one interval before `end`.
fn selector_data(n: usize, samples: usize, interval_ms: i64, end: i64, seed: u64) -> DataSet {
    let hosts = n.div_ceil(SHARDS);
    let timestamps: Vec<Vec<i64>> = (0..hosts)
        .map(|h| {
            let mut rng = Rng::new(seed ^ 0x5E1E_C700 ^ h as u64);
            let phase = rng.below(interval_ms as u64) as i64;
            let first = end - samples as i64 * interval_ms + phase;
            (0..samples)
                .map(|k| first + k as i64 * interval_ms)
                .collect()
        })
        .collect();
    let series = (0..n)
        .map(|i| {
            let host = i / SHARDS;
            let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let instance = format!("host-{host:05}.prod.example.com:9100");
            let shard = (i % SHARDS).to_string();
            let base = rng.uniform(0.0, 100.0);
            GenSeries {
                labels: labels(&[
                    ("__name__", "bench_selector"),
                    ("job", "selector"),
                    ("shard", &shard),
                    ("instance", &instance),
                ]),
                target: host,
                values: (0..samples)
                    .map(|_| round_to(base + rng.uniform(-1.0, 1.0), 2))
                    .collect(),
            }
        })
        .collect();
    DataSet { series, timestamps }
}

/// remote_write bodies, one list per client: series dealt to the clients (`i % clients`),
/// every request carries `per_series` consecutive samples of up to `series_per_request` of the
/// client's series, and a client sends a block of time for all its series before the next
/// block, so each series' samples arrive in ascending time (the store's out-of-order window is
/// relative to a series' newest sample).
fn encode(
    ds: &DataSet,
    series_per_request: usize,
    per_series: usize,
    clients: usize,
) -> Result<Vec<Vec<Payload>>> {
    let per_series = per_series.max(1);
    let n = ds.series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for ids in shard_series(ds.series.len(), clients) {
        let mut bodies = Vec::new();
        for from in (0..n).step_by(per_series) {
            for chunk in ids.chunks(series_per_request.max(1)) {
                let mut req = proto::WriteRequest::default();
                let mut count = 0u64;
                for &i in chunk {
                    let s = &ds.series[i];
                    let ts = ds.ts(i);
                    let to = (from + per_series).min(s.values.len());
                    if from >= to {
                        continue;
                    }
                    let samples: Vec<proto::Sample> = (from..to)
                        .map(|k| proto::Sample {
                            value: s.values[k],
                            timestamp: ts[k],
                        })
                        .collect();
                    count += samples.len() as u64;
                    req.timeseries.push(proto::TimeSeries {
                        labels: s.labels.clone(),
                        samples,
                    });
                }
                if count > 0 {
                    bodies.push(Payload {
                        body: proto::encode(&req)?,
                        samples: count,
                    });
                }
            }
        }
        out.push(bodies);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// A server holding a scenario's data, ready for queries.
struct Loaded {
    /// `None` only between a stop and the next start.
    server: Option<Server>,
    name: String,
    samples: u64,
    series: usize,
    encode_seconds: f64,
    body_bytes: u64,
    write_seconds: f64,
    /// Peak RSS of the server that ingested the data.
    ingest_mem: Mem,
    restart_seconds: Option<f64>,
    /// Data directory once the server is ready for queries.
    disk: DirSize,
    /// RSS right before the first query.
    idle: Mem,
    series_metric: Option<f64>,
}

fn load(ctx: &Ctx, scenario: &str, ds: &DataSet, shape: (usize, usize)) -> Result<Loaded> {
    let t = Instant::now();
    let payloads = encode(ds, shape.0, shape.1, WRITE_CLIENTS)?;
    let encode_seconds = t.elapsed().as_secs_f64();
    let body_bytes: u64 = payloads.iter().flatten().map(|p| p.body.len() as u64).sum();
    let samples = ds.samples();
    eprintln!(
        "{scenario}: {} series, {} samples in {} remote_write bodies ({}), encoded in {encode_seconds:.1} s",
        fmt_int(ds.series.len() as f64),
        fmt_int(samples as f64),
        fmt_int(payloads.iter().map(Vec::len).sum::<usize>() as f64),
        fmt_bytes(body_bytes),
    );
    let name = format!("{scenario}-{}", ctx.next_id());
    let data_dir = ctx.data_dir(&name);
    let mut server = ctx.start_server(&name, &ServerOpts::default())?;
    let load = ctx.rt.block_on(http::run_load(
        &ctx.client,
        &format!("{}/api/v1/write", server.base_url()),
        proto::headers(),
        payloads,
        None,
    ));
    if load.errors > 0 || load.samples_ok != samples {
        bail!(
            "writing the data failed: {} of {} samples acknowledged, {} failed requests; first failure: {}",
            load.samples_ok,
            samples,
            load.errors,
            load.first_error.unwrap_or_default()
        );
    }
    let write_seconds = load.elapsed.as_secs_f64();
    let ingest_mem = server.mem();
    eprintln!(
        "{scenario}: written in {write_seconds:.1} s ({} samples/s), server RSS {} (peak {})",
        fmt_int(samples as f64 / write_seconds.max(1e-9)),
        fmt_bytes(ingest_mem.rss),
        fmt_bytes(ingest_mem.hwm)
    );
    let mut restart_seconds = None;
    if !ctx.opts.query_no_restart {
        eprintln!("{scenario}: restarting the server on the same data (SIGTERM, start) ...");
        let t = Instant::now();
        server.terminate(Duration::from_secs(600))?;
        server = ctx.start_server(&name, &ServerOpts::default())?;
        restart_seconds = Some(t.elapsed().as_secs_f64());
    }
    // Let start-up work (WAL replay, compactions) settle before the baseline is read.
    std::thread::sleep(ctx.opts.query_settle);
    let metrics = ctx
        .rt
        .block_on(http::read_metrics(&ctx.client, &server.base_url()))?;
    let series_metric = metrics.get("series").copied().flatten();
    std::thread::sleep(Duration::from_millis(500));
    let idle = server.mem();
    let disk = procfs::dir_size(&data_dir)?;
    Ok(Loaded {
        server: Some(server),
        name,
        samples,
        series: ds.series.len(),
        encode_seconds,
        body_bytes,
        write_seconds,
        ingest_mem,
        restart_seconds,
        disk,
        idle,
        series_metric,
    })
}

impl Loaded {
    fn server(&self) -> Result<&Server> {
        self.server
            .as_ref()
            .ok_or_else(|| anyhow!("the server is not running"))
    }

    /// Stops the server and starts a fresh process on the same data, so the next query starts
    /// from a clean heap: the allocator keeps memory a previous query freed (it is reused, not
    /// returned), which would hide the next query's peak.
    fn restart(&mut self, ctx: &Ctx) -> Result<()> {
        if let Some(old) = self.server.take() {
            old.terminate(Duration::from_secs(600))?;
        }
        self.server = Some(ctx.start_server(&self.name, &ServerOpts::default())?);
        std::thread::sleep(ctx.opts.query_settle);
        Ok(())
    }

    fn details_md(&self, ctx: &Ctx) -> String {
        let mut md = format!(
            "- data: {} series, {} samples ({:.1} bytes/sample on disk: {} in the data directory, {} of it `*.sst`) \
             written through remote_write in {:.1} s ({} samples/s; {} of snappy bodies encoded in {:.1} s, {} clients)\n",
            fmt_int(self.series as f64),
            fmt_int(self.samples as f64),
            self.disk.total as f64 / self.samples.max(1) as f64,
            fmt_bytes(self.disk.total),
            fmt_bytes(self.disk.sst),
            self.write_seconds,
            fmt_int(self.samples as f64 / self.write_seconds.max(1e-9)),
            fmt_bytes(self.body_bytes),
            self.encode_seconds,
            WRITE_CLIENTS,
        );
        md.push_str(&format!(
            "- ingesting server: RSS {} at the end of the writes, peak {}\n",
            fmt_bytes(self.ingest_mem.rss),
            fmt_bytes(self.ingest_mem.hwm)
        ));
        match self.restart_seconds {
            Some(s) => md.push_str(&format!(
                "- then stopped (SIGTERM: flush) and restarted on the same data directory in {s:.1} s; \
                 the first query runs against the restarted server, whose RSS before it was {} \
                 (after a {:.0} s pause), and every further query against a fresh restart of its own \
                 (so no query inherits memory another one left in the allocator)\n",
                fmt_bytes(self.idle.rss),
                ctx.opts.query_settle.as_secs_f64()
            )),
            None => md.push_str(&format!(
                "- queries run against the server that ingested the data (`--query-no-restart`); RSS before the first query {}\n",
                fmt_bytes(self.idle.rss)
            )),
        }
        md.push_str(&format!(
            "- argus_storage_series before the queries: {}\n",
            self.series_metric
                .map(fmt_int)
                .unwrap_or_else(|| "not on /metrics".into())
        ));
        md
    }

    fn details_json(&self) -> serde_json::Value {
        serde_json::json!({
            "server": self.name,
            "series": self.series,
            "samples": self.samples,
            "encode_s": self.encode_seconds,
            "body_bytes": self.body_bytes,
            "write_s": self.write_seconds,
            "write_samples_per_s": self.samples as f64 / self.write_seconds.max(1e-9),
            "ingest_mem": self.ingest_mem,
            "restart_s": self.restart_seconds,
            "disk": self.disk,
            "idle_before_queries": self.idle,
            "argus_storage_series": self.series_metric,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

#[derive(Debug, Clone, Copy, serde::Serialize)]
enum When {
    Range { start: i64, end: i64, step: i64 },
    Instant { time: i64 },
}

type Check = Box<dyn Fn(&Answer) -> Result<String>>;

/// A query selecting one series, run on every fresh server before the measured query: it pays
/// the costs any first query pays (opening RocksDB tables, the query thread's allocator heap),
/// so the measured query's cold peak shows what that query itself needs.
struct Primer {
    promql: String,
    when: When,
}

struct QuerySpec {
    /// Short description of the variant (the query and its range).
    variant: String,
    promql: String,
    when: When,
    /// Series the selectors select.
    series_selected: u64,
    /// Stored samples the query has to read: those of the selected series with a timestamp in
    /// `(start - range or lookback, end]`.
    samples_touched: u64,
    /// Whether the p50 target applies (reference queries have none).
    has_target: bool,
    /// Checks the warm-up answer against the data; says what it found.
    check: Check,
}

/// A parsed query answer.
#[derive(Debug, Default)]
struct Answer {
    result_type: String,
    series: Vec<AnswerSeries>,
    warnings: usize,
}

#[derive(Debug)]
struct AnswerSeries {
    metric: BTreeMap<String, String>,
    /// (milliseconds, value)
    points: Vec<(i64, f64)>,
}

fn parse_answer(body: &[u8]) -> Result<Answer> {
    let v: serde_json::Value = serde_json::from_slice(body).context("the answer is not JSON")?;
    if v["status"] != "success" {
        bail!(
            "status {}: {} {}",
            v["status"],
            v["errorType"],
            http::truncate(&v["error"].to_string(), 300)
        );
    }
    let data = &v["data"];
    let result_type = data["resultType"]
        .as_str()
        .ok_or_else(|| anyhow!("no data.resultType"))?
        .to_string();
    let point = |p: &serde_json::Value| -> Result<(i64, f64)> {
        let t = p[0]
            .as_f64()
            .ok_or_else(|| anyhow!("bad point timestamp {p}"))?;
        let v = http::json_to_f64(&p[1])?;
        Ok(((t * 1000.0).round() as i64, v))
    };
    let metric = |r: &serde_json::Value| -> BTreeMap<String, String> {
        r["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut series = Vec::new();
    match result_type.as_str() {
        "matrix" | "vector" => {
            let result = data["result"]
                .as_array()
                .ok_or_else(|| anyhow!("data.result is not an array"))?;
            for r in result {
                let points = if result_type == "matrix" {
                    r["values"]
                        .as_array()
                        .ok_or_else(|| anyhow!("a matrix series without values"))?
                        .iter()
                        .map(point)
                        .collect::<Result<Vec<_>>>()?
                } else {
                    vec![point(&r["value"])?]
                };
                series.push(AnswerSeries {
                    metric: metric(r),
                    points,
                });
            }
        }
        "scalar" => series.push(AnswerSeries {
            metric: BTreeMap::new(),
            points: vec![point(&data["result"])?],
        }),
        other => bail!("unexpected resultType {other:?}"),
    }
    Ok(Answer {
        result_type,
        series,
        warnings: v["warnings"].as_array().map(Vec::len).unwrap_or(0),
    })
}

fn secs(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
    }
}

/// The endpoint and form body of a query.
fn request(spec: &QuerySpec) -> (&'static str, String) {
    request_for(&spec.promql, spec.when)
}

fn request_for(promql: &str, when: When) -> (&'static str, String) {
    let q = format!("query={}", http::urlencode(promql));
    match when {
        When::Range { start, end, step } => (
            "/api/v1/query_range",
            format!(
                "{q}&start={}&end={}&step={}",
                secs(start),
                secs(end),
                secs(step)
            ),
        ),
        When::Instant { time } => ("/api/v1/query", format!("{q}&time={}", secs(time))),
    }
}

/// One query request: latency from sending to the last byte of the answer.
async fn post(client: &reqwest::Client, url: &str, form: &str) -> Result<(Duration, Bytes)> {
    let t = Instant::now();
    let resp = client
        .post(url)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(form.to_string())
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let elapsed = t.elapsed();
    if !status.is_success() {
        bail!(
            "POST {url}: {status}: {}",
            http::truncate(&String::from_utf8_lossy(&body), 400)
        );
    }
    Ok((elapsed, body))
}

/// What the runs of one query measured.
#[derive(Debug, Default, serde::Serialize)]
struct Measured {
    warmup_ms: f64,
    /// Sorted latencies of the measured runs, ms.
    latencies_ms: Vec<f64>,
    answer: String,
    answer_bytes: usize,
    warnings: usize,
    /// Whether `VmHWM` could be reset before every run (else peaks are lifetime peaks).
    peak_reset: bool,
    /// Peak RSS above the RSS at its start of the one-series primer query run first on this
    /// server process (`None`: the process had already answered queries).
    primer_peak_growth: Option<u64>,
    /// RSS right before the warm-up run and its peak above that (the first, cold run).
    cold_rss_before: u64,
    cold_peak_growth: u64,
    /// Per measured run: peak RSS above the RSS at its start.
    run_peak_growth: Vec<u64>,
    /// RSS before the first and after the last measured run.
    rss_before_runs: u64,
    rss_after_runs: u64,
    /// Highest `VmHWM` read during this query's runs.
    hwm: u64,
    /// Server CPU seconds per measured run.
    cpu_seconds_per_run: f64,
    /// Server CPU over the measured runs, in cores (CPU seconds / wall seconds).
    server_cores: f64,
}

impl Measured {
    fn q(&self, q: f64) -> Option<f64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let n = self.latencies_ms.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.latencies_ms[rank - 1])
    }

    fn median_run_growth(&self) -> u64 {
        let mut g = self.run_peak_growth.clone();
        g.sort_unstable();
        g.get(g.len() / 2).copied().unwrap_or(0)
    }

    fn max_run_growth(&self) -> u64 {
        self.run_peak_growth.iter().copied().max().unwrap_or(0)
    }

    /// RSS kept per measured run: (RSS after the runs - RSS before them) / runs.
    fn retained_per_run(&self) -> f64 {
        (self.rss_after_runs as f64 - self.rss_before_runs as f64)
            / self.latencies_ms.len().max(1) as f64
    }
}

fn measure(
    ctx: &Ctx,
    server: &Server,
    spec: &QuerySpec,
    primer: Option<&Primer>,
) -> Result<Measured> {
    let pid = server.pid();
    let mut m = Measured {
        peak_reset: procfs::reset_peak(pid),
        ..Measured::default()
    };
    if let Some(p) = primer {
        let (path, form) = request_for(&p.promql, p.when);
        let url = format!("{}{path}", server.base_url());
        let before = server.mem();
        let (_, body) = ctx
            .rt
            .block_on(post(&ctx.client, &url, &form))
            .with_context(|| format!("primer query {}", p.promql))?;
        let after = server.mem();
        parse_answer(&body).with_context(|| format!("primer query {}", p.promql))?;
        m.primer_peak_growth = Some(after.hwm.saturating_sub(before.rss));
        procfs::reset_peak(pid);
    }
    let (path, form) = request(spec);
    let url = format!("{}{path}", server.base_url());
    // Warm-up: the first (cold) run; its answer is checked against the data.
    let before = server.mem();
    let (lat, body) = ctx
        .rt
        .block_on(post(&ctx.client, &url, &form))
        .with_context(|| format!("warm-up query {}", spec.promql))?;
    let after = server.mem();
    m.warmup_ms = lat.as_secs_f64() * 1000.0;
    m.cold_rss_before = before.rss;
    m.cold_peak_growth = after.hwm.saturating_sub(before.rss);
    m.hwm = after.hwm;
    m.answer_bytes = body.len();
    let answer = parse_answer(&body).with_context(|| format!("query {}", spec.promql))?;
    m.warnings = answer.warnings;
    m.answer =
        (spec.check)(&answer).with_context(|| format!("the answer to {} is wrong", spec.promql))?;
    drop(body);

    let runs = ctx.opts.query_runs.max(1);
    let budget = ctx.opts.query_max_time;
    let cpu0 = server.cpu_seconds();
    m.rss_before_runs = server.mem().rss;
    let t = Instant::now();
    let mut latencies = Vec::with_capacity(runs);
    while latencies.len() < runs && (latencies.len() < 3 || t.elapsed() < budget) {
        if m.peak_reset {
            procfs::reset_peak(pid);
        }
        let before = server.mem();
        let (lat, body) = ctx
            .rt
            .block_on(post(&ctx.client, &url, &form))
            .with_context(|| format!("query {}", spec.promql))?;
        let after = server.mem();
        if !body.starts_with(b"{\"status\":\"success\"") && !body.starts_with(b"{\"data\"") {
            // Not the cheap prefix test: parse to find out what the error is.
            parse_answer(&body)?;
        }
        latencies.push(lat.as_secs_f64() * 1000.0);
        m.run_peak_growth.push(after.hwm.saturating_sub(before.rss));
        m.hwm = m.hwm.max(after.hwm);
    }
    m.rss_after_runs = server.mem().rss;
    let cpu = server.cpu_seconds() - cpu0;
    m.cpu_seconds_per_run = cpu / latencies.len() as f64;
    m.server_cores = cpu / t.elapsed().as_secs_f64().max(1e-9);
    latencies.sort_by(f64::total_cmp);
    m.latencies_ms = latencies;
    Ok(m)
}

/// Runs every query of a scenario and makes one report row per query; the first row also
/// describes the data.
fn run_queries(
    ctx: &Ctx,
    scenario: &str,
    loaded: &mut Loaded,
    specs: Vec<QuerySpec>,
    primer: &Primer,
    extra_md: &str,
) -> Vec<ScenarioReport> {
    let mut out = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        eprintln!(
            "{scenario}: {} ({} runs after a warm-up) ...",
            spec.variant, ctx.opts.query_runs
        );
        if k > 0
            && !ctx.opts.query_no_restart
            && let Err(e) = loaded.restart(ctx)
        {
            out.push(ScenarioReport::failed(
                scenario,
                &spec.variant,
                format!("restarting the server: {e:#}"),
            ));
            break;
        }
        // A fresh process gets the primer first (with --query-no-restart only the first query).
        let fresh = k == 0 || !ctx.opts.query_no_restart;
        let measured = loaded
            .server()
            .and_then(|s| measure(ctx, s, spec, fresh.then_some(primer)));
        let mut r = match measured {
            Ok(m) => report(scenario, loaded, spec, &m),
            Err(e) => ScenarioReport::failed(scenario, &spec.variant, format!("{e:#}")),
        };
        if k == 0 {
            r.details_md = format!("{}{extra_md}{}", loaded.details_md(ctx), r.details_md);
            if let serde_json::Value::Object(o) = &mut r.details {
                o.insert("data".into(), loaded.details_json());
            } else {
                r.details = serde_json::json!({ "data": loaded.details_json() });
            }
        }
        r.disk_bytes = Some(loaded.disk.total);
        if let Some(e) = &r.error {
            eprintln!("{scenario}: {} failed: {e}", spec.variant);
        }
        out.push(r);
    }
    out
}

fn report(scenario: &str, loaded: &Loaded, spec: &QuerySpec, m: &Measured) -> ScenarioReport {
    let mut r = ScenarioReport::new(scenario, &spec.variant);
    let p50 = m.q(0.5).unwrap_or(f64::NAN);
    let cold = m.cold_peak_growth;
    r.value = Some(p50);
    r.p50_ms = m.q(0.5);
    r.p99_ms = m.q(0.99);
    r.rss_peak = Some(m.hwm);
    r.server_cpu = Some(m.server_cores);
    r.result = format!(
        "{}; p90 {}, max {}; {} samples read, peak RSS +{} (cold run) / +{} (median run)",
        m.answer,
        fmt_ms(m.q(0.9).unwrap_or(f64::NAN)),
        fmt_ms(m.q(1.0).unwrap_or(f64::NAN)),
        fmt_int(spec.samples_touched as f64),
        fmt_bytes(cold),
        fmt_bytes(m.median_run_growth()),
    );
    if spec.has_target {
        r.target = Some(format!("p50 < {TARGET_P50_MS:.0} ms"));
        r.met = Some(p50 < TARGET_P50_MS);
    }
    let per_sample = |b: u64| {
        if spec.samples_touched == 0 {
            "—".to_string()
        } else {
            format!("{:.1}", b as f64 / spec.samples_touched as f64)
        }
    };
    let mut md = String::new();
    md.push_str(&format!(
        "\n`{}` via `POST {}` ({})\n\n",
        spec.promql,
        request(spec).0,
        match spec.when {
            When::Range { start, end, step } => format!(
                "start {}, end {} ({:.1} h), step {} s",
                secs(start),
                secs(end),
                (end - start) as f64 / 3_600_000.0,
                step / 1000
            ),
            When::Instant { time } => format!("time {}", secs(time)),
        }
    ));
    md.push_str(
        "| runs | warm-up | p50 | p90 | p99 | max | server CPU/run | answer | answer size |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|---:|\n",
    );
    md.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {:.0} ms | {} | {} |\n\n",
        m.latencies_ms.len(),
        fmt_ms(m.warmup_ms),
        fmt_ms(p50),
        fmt_ms(m.q(0.9).unwrap_or(f64::NAN)),
        fmt_ms(m.q(0.99).unwrap_or(f64::NAN)),
        fmt_ms(m.q(1.0).unwrap_or(f64::NAN)),
        m.cpu_seconds_per_run * 1000.0,
        m.answer,
        fmt_bytes(m.answer_bytes as u64),
    ));
    md.push_str(
        "| series selected | samples read | store series | store samples | RSS before | first-query cost (primer) | peak above start, cold run (bytes/sample read) | peak above start, median / max run | RSS retained per run |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    md.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} ({}) | {} / {} | {} |\n",
        fmt_int(spec.series_selected as f64),
        fmt_int(spec.samples_touched as f64),
        fmt_int(loaded.series as f64),
        fmt_int(loaded.samples as f64),
        fmt_bytes(m.cold_rss_before),
        m.primer_peak_growth
            .map(|b| format!("+{}", fmt_bytes(b)))
            .unwrap_or_else(|| "—".into()),
        fmt_bytes(cold),
        per_sample(cold),
        fmt_bytes(m.median_run_growth()),
        fmt_bytes(m.max_run_growth()),
        fmt_signed_bytes(m.retained_per_run()),
    ));
    if !m.peak_reset {
        r.notes.push(
            "VmHWM could not be reset (/proc/PID/clear_refs): peaks are since the server's start"
                .into(),
        );
    }
    if m.warnings > 0 {
        r.notes
            .push(format!("the answer carried {} warning(s)", m.warnings));
    }
    r.details_md = md;
    r.details = serde_json::json!({
        "query": spec.promql,
        "when": spec.when,
        "series_selected": spec.series_selected,
        "samples_touched": spec.samples_touched,
        "p50_ms": m.q(0.5),
        "p90_ms": m.q(0.9),
        "p99_ms": m.q(0.99),
        "max_ms": m.q(1.0),
        "measured": m,
    });
    r
}

fn fmt_signed_bytes(b: f64) -> String {
    if b < 0.0 {
        format!("-{}", fmt_bytes((-b) as u64))
    } else {
        fmt_bytes(b as u64)
    }
}

/// Checks that a matrix answer has exactly the steps of the range, in order, with finite
/// values; `expected_points` per series when given.
fn check_matrix_steps(a: &Answer, layout: &DayLayout, expected_points: usize) -> Result<()> {
    ensure!(
        a.result_type == "matrix",
        "resultType {:?}, not \"matrix\"",
        a.result_type
    );
    for s in &a.series {
        ensure!(
            s.points.len() == expected_points,
            "series {:?} has {} points, expected {}",
            s.metric,
            s.points.len(),
            expected_points
        );
        for (k, (t, v)) in s.points.iter().enumerate() {
            let want = layout.start + k as i64 * layout.step;
            ensure!(
                *t == want,
                "series {:?}: point #{k} at {t} ms, expected {want} ms",
                s.metric
            );
            ensure!(
                v.is_finite() && *v >= 0.0,
                "series {:?}: point #{k} is {v}",
                s.metric
            );
        }
    }
    Ok(())
}

fn fmt_points(a: &Answer) -> String {
    let n = a.series.first().map(|s| s.points.len()).unwrap_or(0);
    format!(
        "{} series x {} points",
        fmt_int(a.series.len() as f64),
        fmt_int(n as f64)
    )
}

// ---------------------------------------------------------------------------------------------
// query-rate

pub(crate) fn run_rate(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let title = format!(
        "{} series x {} h at {}",
        fmt_int(o.query_rate_series as f64),
        o.query_hours,
        humantime::format_duration(o.query_interval)
    );
    match rate_inner(ctx) {
        Ok(r) => r,
        Err(e) => vec![ScenarioReport::failed(
            "query-rate",
            &title,
            format!("{e:#}"),
        )],
    }
}

fn rate_inner(ctx: &Ctx) -> Result<Vec<ScenarioReport>> {
    let o = &ctx.opts;
    let layout = DayLayout::new(o.query_hours, o.query_interval, o.query_step)?;
    eprintln!("query-rate: generating the data ...");
    let ds = rate_data(o.query_rate_series.max(1), &layout, o.query_seed);
    let mut loaded = load(
        ctx,
        "query-rate",
        &ds,
        (DAY_SERIES_PER_REQUEST, DAY_SAMPLES_PER_REQUEST),
    )?;

    let job_of = |i: usize| JOBS[i % JOBS.len()];
    let mut specs = Vec::new();
    let hours = (layout.end - layout.start) as f64 / 3_600_000.0;
    let windows: Vec<(String, DayLayout)> = {
        let mut w = vec![(format!("{hours} h"), layout)];
        // The same query over the last hour of the data: 1/24 of the samples.
        if layout.end - layout.start > 3_600_000 {
            let mut last = layout;
            last.start = layout.end - 3_600_000;
            w.push(("last 1 h".into(), last));
        }
        w
    };
    for (selector, only_job) in [
        ("bench_requests_total", None),
        ("bench_requests_total{job=\"api\"}", Some("api")),
    ] {
        for (wi, (wname, l)) in windows.iter().enumerate() {
            if only_job.is_some() && wi > 0 {
                continue;
            }
            let l = *l;
            let promql = format!("sum by (job) (rate({selector}[5m]))");
            let selected: Vec<usize> = (0..ds.series.len())
                .filter(|&i| only_job.is_none_or(|j| job_of(i) == j))
                .collect();
            let samples_touched = selected
                .iter()
                .map(|&i| ds.count_in(i, l.start - RATE_WINDOW_MS, l.end))
                .sum();
            // Expected answer: one series per job with a point at every step where some series
            // of the job has two samples in the window; the mean over the points close to the
            // job's true mean rate.
            let mut jobs: BTreeMap<&str, (Vec<usize>, f64, u64)> = BTreeMap::new();
            for &i in &selected {
                jobs.entry(job_of(i)).or_default().0.push(i);
            }
            for (ids, rate, points) in jobs.values_mut() {
                let mut inc = 0.0;
                for &i in ids.iter() {
                    let ts = ds.ts(i);
                    let v = &ds.series[i].values;
                    let a = ts.partition_point(|&t| t <= l.start - RATE_WINDOW_MS);
                    let b = ts.partition_point(|&t| t <= l.end);
                    let mut series_inc = 0.0;
                    for k in a.max(1)..b {
                        let d = v[k] - v[k - 1];
                        series_inc += if d < 0.0 { v[k] } else { d };
                    }
                    let span = (ts[b - 1] - ts[a]) as f64 / 1000.0;
                    inc += series_inc / span.max(1.0);
                }
                *rate = inc;
                *points = l
                    .steps()
                    .filter(|&t| {
                        ids.iter()
                            .any(|&i| ds.count_in(i, t - RATE_WINDOW_MS, t) >= 2)
                    })
                    .count() as u64;
            }
            let expected_points = jobs.values().map(|j| j.2).max().unwrap_or(0) as usize;
            let check: Check = Box::new(move |a: &Answer| {
                check_matrix_steps(a, &l, expected_points)?;
                ensure!(
                    a.series.len() == jobs.len(),
                    "{} series, expected {} (one per job)",
                    a.series.len(),
                    jobs.len()
                );
                let mut worst: f64 = 0.0;
                for s in &a.series {
                    ensure!(
                        s.metric.len() == 1,
                        "labels {:?}, expected only job",
                        s.metric
                    );
                    let job = s.metric.get("job").map(String::as_str).unwrap_or("");
                    let Some((_, want, _)) = jobs.get(job) else {
                        bail!("unexpected series {:?}", s.metric);
                    };
                    let mean =
                        s.points.iter().map(|p| p.1).sum::<f64>() / s.points.len().max(1) as f64;
                    let rel = (mean - want).abs() / want.max(1e-9);
                    ensure!(
                        rel < 0.1,
                        "job {job}: mean rate {mean:.3}/s over the points, but the data's mean rate is {want:.3}/s"
                    );
                    worst = worst.max(rel);
                }
                Ok(format!(
                    "{}, mean rates within {:.1} % of the data's",
                    fmt_points(a),
                    worst * 100.0
                ))
            });
            specs.push(QuerySpec {
                variant: format!("`{promql}` {wname}, step {} s", l.step / 1000),
                promql,
                when: When::Range {
                    start: l.start,
                    end: l.end,
                    step: l.step,
                },
                series_selected: selected.len() as u64,
                samples_touched,
                has_target: true,
                check,
            });
        }
    }
    let extra = format!(
        "- shape: `bench_requests_total{{job, instance, env}}`, {} jobs, Poisson increments around \
         0.05-200 req/s per series with a daily cycle, ~3 % of the counters reset once; one sample \
         per {} per series (each instance its own scrape phase); seed {}\n",
        JOBS.len(),
        humantime::format_duration(o.query_interval),
        o.query_seed
    );
    let primer = Primer {
        promql: format!(
            "sum(rate(bench_requests_total{{instance=\"{}\"}}[5m]))",
            label_of(&ds, 0, "instance")
        ),
        when: When::Range {
            start: layout.start,
            end: layout.end,
            step: layout.step,
        },
    };
    let out = run_queries(ctx, "query-rate", &mut loaded, specs, &primer, &extra);
    stop(loaded, out)
}

/// Stops the scenario's server; a failed shutdown is noted on the first row.
fn stop(loaded: Loaded, mut out: Vec<ScenarioReport>) -> Result<Vec<ScenarioReport>> {
    if let Some(server) = loaded.server
        && let Err(e) = server.terminate(Duration::from_secs(120))
        && let Some(r) = out.first_mut()
    {
        r.notes.push(format!("shutdown: {e:#}"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// query-histogram

pub(crate) fn run_histogram(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let title = format!(
        "{} series x {} buckets x {} h at {}",
        fmt_int(o.query_hist_series as f64),
        LE_BOUNDS.len() + 1,
        o.query_hours,
        humantime::format_duration(o.query_interval)
    );
    match histogram_inner(ctx) {
        Ok(r) => r,
        Err(e) => vec![ScenarioReport::failed(
            "query-histogram",
            &title,
            format!("{e:#}"),
        )],
    }
}

fn histogram_inner(ctx: &Ctx) -> Result<Vec<ScenarioReport>> {
    let o = &ctx.opts;
    let layout = DayLayout::new(o.query_hours, o.query_interval, o.query_step)?;
    eprintln!("query-histogram: generating the data ...");
    let (ds, day_total) = histogram_data(o.query_hist_series.max(1), &layout, o.query_seed);
    let day_q = bucket_quantile(QUANTILE, &day_total);
    let mut loaded = load(
        ctx,
        "query-histogram",
        &ds,
        (DAY_SERIES_PER_REQUEST, DAY_SAMPLES_PER_REQUEST),
    )?;
    let promql = format!(
        "histogram_quantile({QUANTILE}, sum by (le) (rate(bench_latency_seconds_bucket[5m])))"
    );
    let samples_touched = (0..ds.series.len())
        .map(|i| ds.count_in(i, layout.start - RATE_WINDOW_MS, layout.end))
        .sum();
    let expected_points = layout
        .steps()
        .filter(|&t| (0..ds.timestamps.len()).any(|h| count_in(&ds.timestamps[h], t) >= 2))
        .count();
    let check: Check = Box::new(move |a: &Answer| {
        check_matrix_steps(a, &layout, expected_points)?;
        ensure!(a.series.len() == 1, "{} series, expected 1", a.series.len());
        let s = &a.series[0];
        ensure!(s.metric.is_empty(), "labels {:?}, expected none", s.metric);
        let mut v: Vec<f64> = s.points.iter().map(|p| p.1).collect();
        let top = LE_BOUNDS[LE_BOUNDS.len() - 1];
        ensure!(
            v.iter().all(|x| *x > 0.0 && *x <= top),
            "a quantile outside (0, {top}]"
        );
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        ensure!(
            median > day_q / 2.0 && median < day_q * 2.0,
            "median of the points {median:.4} s, but the whole day's p99 is {day_q:.4} s"
        );
        Ok(format!(
            "{}, median point {:.1} ms (the day's p99: {:.1} ms)",
            fmt_points(a),
            median * 1000.0,
            day_q * 1000.0
        ))
    });
    let specs = vec![QuerySpec {
        variant: format!(
            "`{promql}` {} h, step {} s",
            (layout.end - layout.start) as f64 / 3_600_000.0,
            layout.step / 1000
        ),
        promql,
        when: When::Range {
            start: layout.start,
            end: layout.end,
            step: layout.step,
        },
        series_selected: ds.series.len() as u64,
        samples_touched,
        has_target: true,
        check,
    }];
    let extra = format!(
        "- shape: `bench_latency_seconds_bucket{{job=\"api\", instance, le}}`, {} instances x {} \
         buckets (le 0.001 ... 10, +Inf), cumulative integer counters; 2-80 req/s per instance with a \
         daily cycle, log-normal latencies (median 15-120 ms); one sample per {}; seed {}\n",
        fmt_int(o.query_hist_series as f64),
        LE_BOUNDS.len() + 1,
        humantime::format_duration(o.query_interval),
        o.query_seed
    );
    let primer = Primer {
        promql: format!(
            "rate(bench_latency_seconds_bucket{{instance=\"{}\", le=\"+Inf\"}}[5m])",
            label_of(&ds, 0, "instance")
        ),
        when: When::Range {
            start: layout.start,
            end: layout.end,
            step: layout.step,
        },
    };
    let out = run_queries(ctx, "query-histogram", &mut loaded, specs, &primer, &extra);
    stop(loaded, out)
}

/// Samples of a timestamp vector in the rate window ending at `t`.
fn count_in(ts: &[i64], t: i64) -> usize {
    let a = ts.partition_point(|&x| x <= t - RATE_WINDOW_MS);
    let b = ts.partition_point(|&x| x <= t);
    b - a
}

// ---------------------------------------------------------------------------------------------
// query-selector

pub(crate) fn run_selector(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let title = format!(
        "{} series x {} samples",
        fmt_int(o.query_selector_series as f64),
        o.query_selector_samples
    );
    match selector_inner(ctx) {
        Ok(r) => r,
        Err(e) => vec![ScenarioReport::failed(
            "query-selector",
            &title,
            format!("{e:#}"),
        )],
    }
}

fn selector_inner(ctx: &Ctx) -> Result<Vec<ScenarioReport>> {
    let o = &ctx.opts;
    let n = o.query_selector_series.max(SHARDS);
    let samples = o.query_selector_samples.max(1);
    let interval_ms = o.query_interval.as_millis() as i64;
    ensure!(interval_ms > 0, "--query-interval must be positive");
    let end = crate::throughput::aligned_now_ms();
    eprintln!("query-selector: generating the data ...");
    let ds = selector_data(n, samples, interval_ms, end, o.query_seed);
    let mut loaded = load(
        ctx,
        "query-selector",
        &ds,
        (SELECTOR_SERIES_PER_REQUEST, samples),
    )?;
    // Every series' samples are in (end - samples*interval, end]: all within the lookback.
    let time = end;
    let shard_of = |i: usize| i % SHARDS;
    let touched = |pred: &dyn Fn(usize) -> bool| -> (u64, u64) {
        let ids: Vec<usize> = (0..n).filter(|&i| pred(i)).collect();
        let s = ids
            .iter()
            .map(|&i| ds.count_in(i, time - LOOKBACK_MS, time))
            .sum();
        (ids.len() as u64, s)
    };
    let in_7 = |i: usize| shard_of(i) == 7;
    let in_1x = |i: usize| (10..20).contains(&shard_of(i));
    let per_shard = (0..n).filter(|&i| in_7(i)).count();
    // Last value of each shard-7 series, by instance, for the plain selector's check.
    let last7: BTreeMap<String, f64> = (0..n)
        .filter(|&i| in_7(i))
        .map(|i| {
            let last = ds.series[i].values.last().copied().unwrap_or(f64::NAN);
            (label_of(&ds, i, "instance"), last)
        })
        .collect();
    let mut specs = Vec::new();

    let (sel, tch) = touched(&in_7);
    specs.push(QuerySpec {
        variant: "`count(bench_selector{shard=\"7\"})`".into(),
        promql: "count(bench_selector{shard=\"7\"})".into(),
        when: When::Instant { time },
        series_selected: sel,
        samples_touched: tch,
        has_target: true,
        check: Box::new(move |a: &Answer| {
            ensure!(a.result_type == "vector", "resultType {:?}", a.result_type);
            ensure!(
                a.series.len() == 1,
                "{} samples, expected 1",
                a.series.len()
            );
            let v = a.series[0].points[0].1;
            ensure!(v == per_shard as f64, "count is {v}, expected {per_shard}");
            Ok(format!("1 sample, value {}", fmt_int(v)))
        }),
    });

    let (sel, tch) = touched(&in_7);
    specs.push(QuerySpec {
        variant: "`bench_selector{shard=\"7\"}`".into(),
        promql: "bench_selector{shard=\"7\"}".into(),
        when: When::Instant { time },
        series_selected: sel,
        samples_touched: tch,
        has_target: true,
        check: Box::new(move |a: &Answer| {
            ensure!(a.result_type == "vector", "resultType {:?}", a.result_type);
            ensure!(
                a.series.len() == last7.len(),
                "{} series, expected {}",
                a.series.len(),
                last7.len()
            );
            for s in &a.series {
                ensure!(
                    s.metric.get("__name__").map(String::as_str) == Some("bench_selector")
                        && s.metric.get("shard").map(String::as_str) == Some("7"),
                    "unexpected series {:?}",
                    s.metric
                );
                let inst = s.metric.get("instance").cloned().unwrap_or_default();
                let want = last7.get(&inst).copied();
                ensure!(
                    want == Some(s.points[0].1),
                    "series {:?}: value {}, the latest sample written is {want:?}",
                    s.metric,
                    s.points[0].1
                );
            }
            Ok(format!(
                "{} series, each its latest sample",
                fmt_int(a.series.len() as f64)
            ))
        }),
    });

    let (sel, tch) = touched(&in_1x);
    specs.push(QuerySpec {
        variant: "`count by (shard) (bench_selector{shard=~\"1[0-9]\"})`".into(),
        promql: "count by (shard) (bench_selector{shard=~\"1[0-9]\"})".into(),
        when: When::Instant { time },
        series_selected: sel,
        samples_touched: tch,
        has_target: true,
        check: Box::new(move |a: &Answer| {
            ensure!(a.result_type == "vector", "resultType {:?}", a.result_type);
            ensure!(
                a.series.len() == 10,
                "{} series, expected 10",
                a.series.len()
            );
            for s in &a.series {
                let shard: usize = s
                    .metric
                    .get("shard")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow!("series {:?} without a shard", s.metric))?;
                let want = (0..n).filter(|&i| shard_of(i) == shard).count() as f64;
                ensure!(
                    (10..20).contains(&shard) && s.points[0].1 == want,
                    "series {:?}: {}, expected shard 10-19 with {want}",
                    s.metric,
                    s.points[0].1
                );
            }
            Ok(format!(
                "10 series (shards 10-19), {} each",
                fmt_int(per_shard as f64)
            ))
        }),
    });

    let (sel, tch) = touched(&|_| true);
    specs.push(QuerySpec {
        variant: "`count(bench_selector)` (reference: the whole store)".into(),
        promql: "count(bench_selector)".into(),
        when: When::Instant { time },
        series_selected: sel,
        samples_touched: tch,
        has_target: false,
        check: Box::new(move |a: &Answer| {
            ensure!(a.result_type == "vector", "resultType {:?}", a.result_type);
            ensure!(
                a.series.len() == 1,
                "{} samples, expected 1",
                a.series.len()
            );
            let v = a.series[0].points[0].1;
            ensure!(v == n as f64, "count is {v}, expected {n}");
            Ok(format!("1 sample, value {}", fmt_int(v)))
        }),
    });

    let extra = format!(
        "- shape: `bench_selector{{job=\"selector\", shard=\"0\"..\"{}\", instance}}`, {} series per \
         shard, {} samples per series {} apart ending at the query time; instant queries at that \
         time (lookback 5m); seed {}\n\
         - memory vs store size: the store holds {} series; RSS before the queries {} ({} of data \
         directory). Compare each query's peak above start with the series it selects.\n",
        SHARDS - 1,
        fmt_int(per_shard as f64),
        samples,
        humantime::format_duration(o.query_interval),
        o.query_seed,
        fmt_int(n as f64),
        fmt_bytes(loaded.idle.rss),
        fmt_bytes(loaded.disk.total),
    );
    let primer = Primer {
        promql: format!(
            "bench_selector{{instance=\"{}\", shard=\"0\"}}",
            label_of(&ds, 0, "instance")
        ),
        when: When::Instant { time },
    };
    let out = run_queries(ctx, "query-selector", &mut loaded, specs, &primer, &extra);
    stop(loaded, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn bucket_quantile_interpolates() {
        // 100 requests: 50 in (0, 0.001], 50 in (0.001, 0.0025].
        let mut cum = vec![100.0; LE_BOUNDS.len() + 1];
        cum[0] = 50.0;
        assert!((bucket_quantile(0.5, &cum) - 0.001).abs() < 1e-12);
        assert!((bucket_quantile(0.75, &cum) - 0.00175).abs() < 1e-12);
        let all_inf = {
            let mut c = vec![0.0; LE_BOUNDS.len() + 1];
            c[LE_BOUNDS.len()] = 10.0;
            c
        };
        assert_eq!(bucket_quantile(0.5, &all_inf), 10.0);
    }

    #[test]
    fn rate_data_is_monotonic_except_resets_and_in_time_order() {
        let layout = DayLayout::new(1.0, Duration::from_secs(15), Duration::from_secs(60)).unwrap();
        let ds = rate_data(50, &layout, 1);
        assert_eq!(ds.samples(), 50 * 240);
        let mut resets = 0;
        for (i, s) in ds.series.iter().enumerate() {
            let ts = ds.ts(i);
            assert!(ts.windows(2).all(|w| w[1] > w[0]));
            assert!(ts[0] >= layout.t0 && ts[0] < layout.t0 + 15_000);
            assert!(*ts.last().unwrap() < layout.end);
            resets += s.values.windows(2).filter(|w| w[1] < w[0]).count();
            assert!(s.values.iter().all(|v| v.fract() == 0.0 && *v >= 0.0));
        }
        assert!(resets <= 5);
        assert_eq!(layout.steps().count(), 61);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_monotonic() {
        let layout = DayLayout::new(1.0, Duration::from_secs(15), Duration::from_secs(60)).unwrap();
        let (ds, total) = histogram_data(3, &layout, 1);
        assert_eq!(ds.series.len(), 3 * 20);
        for inst in 0..3 {
            let b = &ds.series[inst * 20..(inst + 1) * 20];
            for k in 0..b[0].values.len() {
                for j in 1..20 {
                    assert!(b[j].values[k] >= b[j - 1].values[k]);
                }
            }
            for s in b {
                assert!(s.values.windows(2).all(|w| w[1] >= w[0]));
            }
            let le = |s: &GenSeries| {
                s.labels
                    .iter()
                    .find(|l| l.name == "le")
                    .map(|l| l.value.clone())
            };
            assert_eq!(le(&b[0]).as_deref(), Some("0.001"));
            assert_eq!(le(&b[15]).as_deref(), Some("1"));
            assert_eq!(le(&b[19]).as_deref(), Some("+Inf"));
        }
        let q = bucket_quantile(0.99, &total);
        assert!(q > 0.01 && q < 10.0, "{q}");
    }

    #[test]
    fn selector_data_shards_and_lookback() {
        let end = 1_700_000_000_000;
        let ds = selector_data(1000, 5, 15_000, end, 3);
        assert_eq!(ds.series.len(), 1000);
        for i in 0..1000 {
            assert_eq!(ds.count_in(i, end - LOOKBACK_MS, end), 5);
            let shard = ds.series[i]
                .labels
                .iter()
                .find(|l| l.name == "shard")
                .unwrap();
            assert_eq!(shard.value, (i % SHARDS).to_string());
        }
        let bodies = encode(&ds, 300, 5, 2).unwrap();
        let total: u64 = bodies.iter().flatten().map(|p| p.samples).sum();
        assert_eq!(total, 5000);
    }

    #[test]
    fn parses_prometheus_answers() {
        let m = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"a"},"values":[[1700000000,"1.5"],[1700000060.5,"NaN"]]}]}}"#;
        let a = parse_answer(m).unwrap();
        assert_eq!(a.result_type, "matrix");
        assert_eq!(a.series[0].metric["job"], "a");
        assert_eq!(a.series[0].points[0], (1_700_000_000_000, 1.5));
        assert_eq!(a.series[0].points[1].0, 1_700_000_060_500);
        let v = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"1000"]}]}}"#;
        assert_eq!(parse_answer(v).unwrap().series[0].points[0].1, 1000.0);
        let e = br#"{"status":"error","errorType":"bad_data","error":"nope"}"#;
        assert!(parse_answer(e).is_err());
    }

    #[test]
    fn form_bodies() {
        let spec = QuerySpec {
            variant: String::new(),
            promql: "sum(rate(x[5m]))".into(),
            when: When::Range {
                start: 1_700_000_000_000,
                end: 1_700_086_400_000,
                step: 60_000,
            },
            series_selected: 0,
            samples_touched: 0,
            has_target: false,
            check: Box::new(|_| Ok(String::new())),
        };
        let (path, body) = request(&spec);
        assert_eq!(path, "/api/v1/query_range");
        assert_eq!(
            body,
            "query=sum%28rate%28x%5B5m%5D%29%29&start=1700000000&end=1700086400&step=60"
        );
    }
}
