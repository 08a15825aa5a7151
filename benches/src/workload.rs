//! Deterministic data generators: a small PRNG, the synthetic series universe of the throughput
//! scenarios, and the realistic 24-hour workload of the disk scenario.

use std::f64::consts::TAU;
use std::fmt::Write as _;

/// SplitMix64: tiny, fast, deterministic; plenty for load generation.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        r.next_u64();
        r
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Log-uniform in [lo, hi).
    pub(crate) fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.uniform(lo.ln(), hi.ln()).exp()
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Standard normal (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }

    /// Poisson-distributed count with the given mean.
    pub(crate) fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 40.0 {
            let limit = (-mean).exp();
            let mut k = 0u64;
            let mut p = self.f64();
            while p > limit {
                k += 1;
                p *= self.f64();
            }
            k
        } else {
            (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64
        }
    }
}

/// `x` rounded to `decimals` decimal places; the result is the double nearest to that decimal,
/// exactly what parsing its text form gives.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

// ---------------------------------------------------------------------------------------------
// Synthetic universe for throughput scenarios (import, remote_write, memory).

const UNIVERSE_METRICS: [&str; 20] = [
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_filesystem_avail_bytes",
    "node_load1",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "go_goroutines",
    "go_memstats_heap_alloc_bytes",
    "http_requests_total",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "grpc_server_handled_total",
    "up",
    "scrape_duration_seconds",
    "container_memory_working_set_bytes",
];

const REGIONS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"];

/// The label pairs of series `i` of the synthetic universe (about 110 bytes of label text over
/// six labels, like a typical node_exporter series). `prefix` namespaces the metric names.
pub(crate) fn universe_labels(prefix: &str, i: usize) -> Vec<(String, String)> {
    let m = i % UNIVERSE_METRICS.len();
    let host = i / UNIVERSE_METRICS.len();
    vec![
        (
            "__name__".into(),
            format!("{prefix}{}", UNIVERSE_METRICS[m]),
        ),
        ("env".into(), "prod".into()),
        (
            "instance".into(),
            format!("host-{host:05}.prod.example.com:9100"),
        ),
        ("job".into(), "node".into()),
        ("region".into(), REGIONS[host % REGIONS.len()].into()),
        ("team".into(), format!("team-{}", host % 17)),
    ]
}

/// A value for series `i` at round `r`: counters count up, gauges wander (two decimals).
pub(crate) fn universe_value(i: usize, r: usize) -> f64 {
    let m = i % UNIVERSE_METRICS.len();
    if UNIVERSE_METRICS[m].ends_with("_total") || UNIVERSE_METRICS[m].ends_with("_count") {
        ((i % 1000) * 1000 + r * (1 + i % 7)) as f64
    } else {
        let mut rng = Rng::new(((i as u64) << 20) ^ r as u64);
        round_to(50.0 + (i % 50) as f64 + rng.uniform(-5.0, 5.0), 2)
    }
}

/// The Prometheus text form `name{k="v",...}` of a label set (without `__name__` in braces).
pub(crate) fn text_series(labels: &[(String, String)]) -> String {
    let mut name = "";
    let mut out = String::new();
    let mut first = true;
    for (k, v) in labels {
        if k == "__name__" {
            name = v;
            continue;
        }
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
    }
    if !first {
        out.push('}');
    }
    format!("{name}{out}")
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

// ---------------------------------------------------------------------------------------------
// The realistic disk workload.

/// Which kinds of series the disk workload contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub(crate) enum Mix {
    /// Half counters, half noisy gauges (the figure the targets refer to).
    All,
    /// Counters only (to see what each half costs).
    Counters,
    /// Noisy gauges only.
    Gauges,
}

/// Kinds of series in the disk workload. Each scrape target exposes 20 series: 10 counters
/// (5 request counts, 3 byte counts, 2 CPU-seconds) and 10 gauges (4 CPU percent, 3 memory
/// bytes, 3 latencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) enum Kind {
    /// Integer request counts: Poisson increments around a per-series rate (0.02-300 req/s)
    /// with a daily cycle.
    Requests,
    /// Integer byte counts (2 kB/s-50 MB/s) with log-normal noise.
    Bytes,
    /// CPU seconds with two decimals (like node_cpu_seconds_total).
    CpuSeconds,
    /// CPU percent: mean-reverting random walk plus noise, one or two decimals.
    CpuPercent,
    /// Memory bytes: integers, either page-sized RSS with jitter or a GC saw-tooth heap.
    MemBytes,
    /// Latency in seconds with nanosecond resolution (Go client quantiles).
    LatencyNs,
    /// Latency in milliseconds with three decimals.
    LatencyMs,
}

const TARGET_KINDS: [Kind; 20] = [
    Kind::Requests,
    Kind::Requests,
    Kind::Requests,
    Kind::Requests,
    Kind::Requests,
    Kind::Bytes,
    Kind::Bytes,
    Kind::Bytes,
    Kind::CpuSeconds,
    Kind::CpuSeconds,
    Kind::CpuPercent,
    Kind::CpuPercent,
    Kind::CpuPercent,
    Kind::CpuPercent,
    Kind::MemBytes,
    Kind::MemBytes,
    Kind::MemBytes,
    Kind::LatencyNs,
    Kind::LatencyNs,
    Kind::LatencyMs,
];

pub(crate) const SERIES_PER_TARGET: usize = TARGET_KINDS.len();

impl Kind {
    pub(crate) fn is_counter(self) -> bool {
        matches!(self, Kind::Requests | Kind::Bytes | Kind::CpuSeconds)
    }

    fn for_slot(slot: usize, mix: Mix) -> Kind {
        match mix {
            Mix::All => TARGET_KINDS[slot % 20],
            Mix::Counters => TARGET_KINDS[slot % 10],
            Mix::Gauges => TARGET_KINDS[10 + slot % 10],
        }
    }
}

/// One generated series with all its samples.
pub(crate) struct DiskSeries {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) kind: Kind,
    /// Index into [`DiskWorkload::timestamps`] (one timestamp vector per scrape target).
    pub(crate) target: usize,
    pub(crate) values: Vec<f64>,
}

/// The whole disk workload: series and, per scrape target, the shared scrape timestamps.
pub(crate) struct DiskWorkload {
    pub(crate) series: Vec<DiskSeries>,
    pub(crate) timestamps: Vec<Vec<i64>>,
}

impl DiskWorkload {
    pub(crate) fn samples(&self) -> u64 {
        self.series.iter().map(|s| s.values.len() as u64).sum()
    }
}

/// Generates `n_series` series of `n_samples` samples each, `interval_ms` apart from
/// `start_ms` (every target gets its own phase within the interval, like a Prometheus scrape
/// pool), with `jitter_ms` of uniform timestamp jitter per scrape. Deterministic for a seed.
pub(crate) fn disk_workload(
    n_series: usize,
    n_samples: usize,
    interval_ms: i64,
    start_ms: i64,
    jitter_ms: i64,
    seed: u64,
    mix: Mix,
) -> DiskWorkload {
    let n_targets = n_series.div_ceil(SERIES_PER_TARGET);
    let mut timestamps = Vec::with_capacity(n_targets);
    for t in 0..n_targets {
        let mut rng = Rng::new(seed ^ 0x5EED_0000 ^ t as u64);
        let phase = rng.below(interval_ms.max(1) as u64) as i64;
        let mut ts = Vec::with_capacity(n_samples);
        for k in 0..n_samples {
            let j = if jitter_ms > 0 {
                rng.below(2 * jitter_ms as u64 + 1) as i64 - jitter_ms
            } else {
                0
            };
            ts.push(start_ms + phase + k as i64 * interval_ms + j);
        }
        timestamps.push(ts);
    }
    let mut series = Vec::with_capacity(n_series);
    for i in 0..n_series {
        let target = i / SERIES_PER_TARGET;
        let slot = i % SERIES_PER_TARGET;
        let kind = Kind::for_slot(slot, mix);
        let mut rng = Rng::new(seed.wrapping_mul(1_000_003) ^ (i as u64).wrapping_mul(0x2545_F491));
        let labels = disk_labels(i, target, slot, kind);
        let values = generate(kind, slot, &timestamps[target], &mut rng);
        series.push(DiskSeries {
            labels,
            kind,
            target,
            values,
        });
    }
    DiskWorkload { series, timestamps }
}

fn disk_labels(i: usize, target: usize, slot: usize, kind: Kind) -> Vec<(String, String)> {
    const METHODS: [&str; 5] = ["GET", "GET", "POST", "PUT", "DELETE"];
    const CODES: [&str; 5] = ["200", "200", "201", "404", "500"];
    const HANDLERS: [&str; 4] = ["/api/v1/orders", "/api/v1/users", "/login", "/healthz"];
    const MODES: [&str; 2] = ["user", "system"];
    let instance = format!("app-{target:03}.prod.example.com:8080");
    let mut l: Vec<(String, String)> = vec![
        ("job".into(), "shop-api".into()),
        ("instance".into(), instance),
    ];
    let name = match kind {
        Kind::Requests => {
            l.push(("method".into(), METHODS[slot % 5].into()));
            l.push(("code".into(), CODES[slot % 5].into()));
            l.push(("handler".into(), HANDLERS[i % 4].into()));
            "bench_disk_http_requests_total"
        }
        Kind::Bytes => {
            l.push(("device".into(), format!("eth{}", slot % 3)));
            "bench_disk_network_receive_bytes_total"
        }
        Kind::CpuSeconds => {
            l.push(("cpu".into(), "0".into()));
            l.push(("mode".into(), MODES[slot % 2].into()));
            "bench_disk_cpu_seconds_total"
        }
        Kind::CpuPercent => {
            l.push(("core".into(), (slot % 4).to_string()));
            "bench_disk_cpu_percent"
        }
        Kind::MemBytes => {
            l.push(("area".into(), format!("a{}", slot % 3)));
            "bench_disk_memory_bytes"
        }
        Kind::LatencyNs => {
            l.push(("quantile".into(), ["0.5", "0.99"][slot % 2].into()));
            l.push(("handler".into(), HANDLERS[i % 4].into()));
            "bench_disk_request_duration_seconds"
        }
        Kind::LatencyMs => {
            l.push(("handler".into(), HANDLERS[i % 4].into()));
            "bench_disk_db_latency_ms"
        }
    };
    // A unique slot label keeps every series distinct whatever the mix.
    l.push(("slot".into(), slot.to_string()));
    l.push(("__name__".into(), name.into()));
    l.sort();
    l
}

/// Daily load cycle: 1 +- amplitude, peaking at a per-series hour.
fn diurnal(ts_ms: i64, amplitude: f64, phase: f64) -> f64 {
    let day = (ts_ms as f64 / 86_400_000.0) * TAU;
    1.0 + amplitude * (day + phase).sin()
}

fn generate(kind: Kind, slot: usize, ts: &[i64], rng: &mut Rng) -> Vec<f64> {
    let n = ts.len();
    let mut out = Vec::with_capacity(n);
    let amp = rng.uniform(0.2, 0.6);
    let phase = rng.uniform(0.0, TAU);
    // A few counters restart once during the day (process restarts reset them).
    let reset_at = if kind.is_counter() && rng.f64() < 0.03 {
        Some(rng.below(n as u64) as usize)
    } else {
        None
    };
    match kind {
        Kind::Requests => {
            let rate = rng.log_uniform(0.02, 300.0);
            let mut v = (rng.f64() * rate * 86_400.0 * 20.0).floor();
            for (k, &t) in ts.iter().enumerate() {
                if Some(k) == reset_at {
                    v = 0.0;
                }
                let noise = (0.1 * rng.normal()).exp();
                v += rng.poisson(rate * 10.0 * diurnal(t, amp, phase) * noise) as f64;
                out.push(v);
            }
        }
        Kind::Bytes => {
            let rate = rng.log_uniform(2e3, 5e7);
            let mut v = (rng.f64() * rate * 86_400.0 * 10.0).floor();
            for (k, &t) in ts.iter().enumerate() {
                if Some(k) == reset_at {
                    v = 0.0;
                }
                let inc = rate * 10.0 * diurnal(t, amp, phase) * (0.3 * rng.normal()).exp();
                v += inc.round().max(0.0);
                out.push(v);
            }
        }
        Kind::CpuSeconds => {
            // Cumulative hundredths of a second; the value carries two decimals.
            let mut cents = (rng.f64() * 1e8).floor();
            let mut util = rng.uniform(0.02, 0.6);
            let mean = util;
            for (k, &t) in ts.iter().enumerate() {
                if Some(k) == reset_at {
                    cents = 0.0;
                }
                util += 0.1 * (mean - util) + 0.02 * rng.normal();
                util = util.clamp(0.001, 1.0);
                let u = (util * diurnal(t, amp, phase)).clamp(0.0, 1.0);
                cents += (u * 1000.0).round();
                out.push(cents / 100.0);
            }
        }
        Kind::CpuPercent => {
            let decimals = if slot.is_multiple_of(2) { 1 } else { 2 };
            let base = rng.uniform(5.0, 70.0);
            let mut x = base;
            for &t in ts {
                let mean = (base * diurnal(t, amp, phase)).clamp(0.0, 100.0);
                x += 0.05 * (mean - x) + 1.5 * rng.normal();
                let measured = (x + 2.0 * rng.normal()).clamp(0.0, 100.0);
                out.push(round_to(measured, decimals));
            }
        }
        Kind::MemBytes => {
            let base = rng.log_uniform(5e7, 8e9);
            if slot.is_multiple_of(2) {
                // RSS in whole pages: slow drift plus jitter.
                let mut drift = 0.0f64;
                for _ in ts {
                    drift += 0.02 * (0.0 - drift) + 0.003 * rng.normal();
                    let bytes = base * (1.0 + drift + 0.002 * rng.normal());
                    out.push(((bytes / 4096.0).round() * 4096.0).max(0.0));
                }
            } else {
                // A garbage-collected heap: grows, then drops back after a collection.
                let growth = base * rng.uniform(0.002, 0.03);
                let mut heap = base;
                for _ in ts {
                    heap += growth * (0.5 + rng.f64());
                    if heap > base * 2.0 {
                        heap = base * (1.0 + 0.05 * rng.normal().abs());
                    }
                    out.push(heap.round());
                }
            }
        }
        Kind::LatencyNs | Kind::LatencyMs => {
            let median = rng.log_uniform(0.001, 0.3);
            for &t in ts {
                let load = diurnal(t, amp, phase).sqrt();
                let secs = median * load * (0.25 * rng.normal()).exp();
                out.push(if kind == Kind::LatencyNs {
                    round_to(secs, 9)
                } else {
                    round_to(secs * 1000.0, 3)
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_deterministic_and_sane() {
        let a = disk_workload(40, 100, 10_000, 1_700_000_000_000, 0, 7, Mix::All);
        let b = disk_workload(40, 100, 10_000, 1_700_000_000_000, 0, 7, Mix::All);
        assert_eq!(a.samples(), 4000);
        for (x, y) in a.series.iter().zip(&b.series) {
            assert_eq!(x.values, y.values);
            assert_eq!(x.labels, y.labels);
        }
        for s in &a.series {
            if s.kind.is_counter() {
                // Monotonic except at most one reset.
                let drops = s.values.windows(2).filter(|w| w[1] < w[0]).count();
                assert!(drops <= 1, "{:?}", s.kind);
            }
            assert!(s.values.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        let mut names: Vec<_> = a.series.iter().map(|s| s.labels.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 40);
    }

    #[test]
    fn round_to_matches_parsing() {
        assert_eq!(round_to(12.3456, 2), "12.35".parse::<f64>().unwrap());
        assert_eq!(round_to(0.1 + 0.2, 1), 0.3);
    }

    #[test]
    fn text_series_form() {
        let l = universe_labels("p_", 21);
        let s = text_series(&l);
        assert!(s.starts_with("p_node_memory_MemAvailable_bytes{env=\"prod\","));
        assert!(s.ends_with('}'));
    }

    #[test]
    fn poisson_mean() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let sum: u64 = (0..n).map(|_| r.poisson(3.0)).sum();
        let mean = sum as f64 / n as f64;
        assert!((mean - 3.0).abs() < 0.1, "{mean}");
    }
}
