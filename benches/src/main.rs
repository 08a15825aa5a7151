//! `argus-bench`: benchmarks of the `argus` binary over real sockets.
//!
//! `cargo run --release -p argus-benches --bin argus-bench -- all` builds (or finds) the release
//! `argus`, runs every scenario against fresh servers on 127.0.0.1 and prints a markdown report.
//! See `benches/README.md`.

/// As in the `argus` binary. Under glibc's malloc the bare tantivy indexer ran 10–30 % slower
/// than under mimalloc, and its rate swung by a quarter between runs: a ceiling measured under
/// another allocator than Argus' was lower than the library's own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod alerting;
mod bare;
mod disk;
mod http;
mod loggen;
mod logs;
mod memory;
mod procfs;
mod proto;
mod query;
mod report;
mod server;
mod spangen;
mod statsd;
mod throughput;
mod traces;
mod workload;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use crate::report::{Report, ScenarioReport};
use crate::server::{Server, ServerOpts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Every scenario below, in this order.
    All,
    /// StatsD UDP lines/s sustained with < 0.1 % loss (10 and 1 lines per packet).
    Statsd,
    /// Samples/s through POST /api/v1/import/prometheus.
    Import,
    /// Samples/s through POST /api/v1/write (remote_write 1.0).
    RemoteWrite,
    /// Bytes per sample on disk for 1,000 series x 24 h at 10 s, with full read-back.
    Disk,
    /// Server RSS per active series.
    Memory,
    /// PromQL `sum by (job) (rate(...[5m]))` over 1,000 counters x 24 h (query_range).
    QueryRate,
    /// PromQL `histogram_quantile(0.99, sum by (le) (rate(..._bucket[5m])))` over 100 x 20
    /// buckets x 24 h (query_range).
    QueryHistogram,
    /// PromQL instant selectors picking 1,000 of 100,000 series (query).
    QuerySelector,
    /// The log ingest ceiling: a bare tantivy indexer in this process fed the same normalized
    /// events, with the store's schema and as many indexing threads as Argus uses.
    LogsBareTantivy,
    /// Log lines/s and MB/s over logstash json_lines TCP until searchable.
    LogsTcp,
    /// Log lines/s and MB/s through POST /es/_bulk until searchable.
    LogsBulk,
    /// Log search latency (term, phrase, level AND service, broad) over 10 M lines; index bytes
    /// per line.
    LogsSearch,
    /// Spans/s through OTLP gRPC (batches of 512 realistic spans) until searchable; bytes on
    /// disk per span.
    TracesOtlp,
    /// Jaeger API latency over 10 M stored spans: trace by id, search by service + operation +
    /// tag over the last hour, services and operations; bytes on disk per span.
    TracesQuery,
    /// Rule evaluation in this process: 10,000 alerting rules in 100 groups over 100,000
    /// series every 10 s; group and round evaluation times, misses, CPU, RSS.
    AlertingEval,
}

const ALL: [Scenario; 15] = [
    Scenario::Statsd,
    Scenario::Import,
    Scenario::RemoteWrite,
    Scenario::Disk,
    Scenario::Memory,
    Scenario::QueryRate,
    Scenario::QueryHistogram,
    Scenario::QuerySelector,
    Scenario::LogsBareTantivy,
    Scenario::LogsTcp,
    Scenario::LogsBulk,
    Scenario::LogsSearch,
    Scenario::TracesOtlp,
    Scenario::TracesQuery,
    Scenario::AlertingEval,
];

/// A remote_write request shape: `SERIESxSAMPLES` (series per request x samples per series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) series: usize,
    pub(crate) samples: usize,
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Shape, String> {
        let (a, b) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("{s:?}: expected SERIESxSAMPLES, e.g. 1000x1"))?;
        let series = a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
        let samples = b.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
        if series == 0 || samples == 0 {
            return Err(format!("{s:?}: both numbers must be positive"));
        }
        Ok(Shape { series, samples })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))
}

/// Benchmarks of the argus binary: StatsD, import, remote_write, disk, memory, PromQL queries,
/// logs (ingest over TCP and _bulk against bare tantivy, search) and traces (OTLP gRPC ingest,
/// Jaeger API lookups and searches).
///
/// Every scenario starts its own `argus serve` on 127.0.0.1 port 0 with a fresh data directory
/// and `--retention 0`, drives it over real sockets, and stops it with SIGTERM.
#[derive(Debug, Clone, Parser)]
#[command(name = "argus-bench", version)]
pub(crate) struct Opts {
    /// Scenarios to run, in the order given.
    #[arg(value_enum, required = true)]
    scenarios: Vec<Scenario>,

    /// The argus binary to benchmark (used as is, never built). Default: build the workspace's
    /// release binary with cargo, then use it.
    #[arg(long)]
    argus: Option<PathBuf>,
    /// Do not run `cargo build --release --bin argus`; look for an existing release binary in
    /// $CARGO_TARGET_DIR/release, target/release, and next to this executable.
    #[arg(long)]
    no_build: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Directory for data directories and server logs (a fresh subdirectory is made).
    /// Default: the system temporary directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the data directories and server logs instead of deleting them.
    #[arg(long)]
    keep_data: bool,
    /// Run the chosen scenarios this many times, one round after another. With more than
    /// one, each round's rows are marked with it, and logs-tcp and logs-bulk get a row with
    /// the median of their rounds' ratios to the bare indexer (one run's ratio moves by
    /// ±0.15 on a shared machine).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Smoke test of the benchmark itself (e.g. against a debug build): seconds instead of
    /// minutes, small sizes. Overrides the size and duration options; its figures mean nothing.
    #[arg(long)]
    quick: bool,
    /// Tokio worker threads of the HTTP load generator.
    #[arg(long, default_value_t = 1)]
    pub(crate) client_threads: usize,

    /// StatsD: seconds of sending per rate step.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) statsd_duration: Duration,
    /// StatsD: target rates in lines/s, tried in order until one loses >= 0.1 %.
    #[arg(long, value_delimiter = ',', default_values_t = [250_000u64, 500_000, 1_000_000, 1_500_000, 2_000_000])]
    pub(crate) statsd_rates: Vec<u64>,
    /// StatsD: lines per UDP packet, one ramp each.
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 1])]
    pub(crate) statsd_lines_per_packet: Vec<usize>,
    /// StatsD: distinct counter names the lines cycle through.
    #[arg(long, default_value_t = 1000)]
    pub(crate) statsd_counters: usize,
    /// StatsD: sender threads (each paced at rate / threads).
    #[arg(long, default_value_t = 1)]
    pub(crate) statsd_senders: usize,
    /// StatsD: the server's --statsd-flush-interval during the benchmark.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub(crate) statsd_flush_interval: Duration,

    /// Import: how long to send.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) import_duration: Duration,
    /// Import: lines (samples) per request.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) import_batch_lines: usize,
    /// Import: concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub(crate) import_clients: usize,
    /// Import: distinct series.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) import_series: usize,
    /// Import: samples encoded before the run (bounds the run; about 110 bytes each).
    #[arg(long, default_value_t = 5_000_000)]
    pub(crate) import_max_samples: u64,

    /// remote_write: how long to send per shape.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) rw_duration: Duration,
    /// remote_write: request shapes SERIESxSAMPLES, one run each.
    #[arg(long, value_delimiter = ',', default_values = ["1000x1", "100x10"])]
    pub(crate) rw_shapes: Vec<Shape>,
    /// remote_write: concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub(crate) rw_clients: usize,
    /// remote_write: distinct series.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) rw_series: usize,
    /// remote_write: samples encoded before each run (bounds the run).
    #[arg(long, default_value_t = 10_000_000)]
    pub(crate) rw_max_samples: u64,

    /// Disk: series (half counters, half gauges with the default mix).
    #[arg(long, default_value_t = 1000)]
    pub(crate) disk_series: usize,
    /// Disk: hours of data per series.
    #[arg(long, default_value_t = 24.0)]
    pub(crate) disk_hours: f64,
    /// Disk: sample interval.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) disk_interval: Duration,
    /// Disk: which kinds of series.
    #[arg(long, value_enum, default_value_t = workload::Mix::All)]
    pub(crate) disk_mix: workload::Mix,
    /// Disk: uniform +-jitter of scrape timestamps in ms (0: perfectly regular, as Prometheus
    /// produces with its default timestamp alignment).
    #[arg(long, default_value_t = 0)]
    pub(crate) disk_ts_jitter_ms: i64,
    /// Disk: seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    pub(crate) disk_seed: u64,
    /// Disk: consecutive samples per series in one remote_write request (all series in each).
    #[arg(long, default_value_t = 10)]
    pub(crate) disk_samples_per_request: usize,
    /// Disk: concurrent clients.
    #[arg(long, default_value_t = 2)]
    pub(crate) disk_clients: usize,

    /// Memory: active series to create.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) memory_series: usize,
    /// Memory: samples per series (10 s apart).
    #[arg(long, default_value_t = 5)]
    pub(crate) memory_samples_per_series: usize,
    /// Memory: pause before reading RSS after each phase.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) memory_settle: Duration,
    /// Memory: concurrent clients.
    #[arg(long, default_value_t = 2)]
    pub(crate) memory_clients: usize,

    /// Queries: measured runs of each query (after one warm-up run).
    #[arg(long, default_value_t = 20)]
    pub(crate) query_runs: usize,
    /// Queries: stop measuring a query after this long (at least 3 runs are made).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) query_max_time: Duration,
    /// Queries: hours of data of query-rate and query-histogram (and the range queried).
    #[arg(long, default_value_t = 24.0)]
    pub(crate) query_hours: f64,
    /// Queries: scrape interval of the generated data.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub(crate) query_interval: Duration,
    /// Queries: step of the range queries.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) query_step: Duration,
    /// query-rate: counter series (dealt to 10 jobs).
    #[arg(long, default_value_t = 1000)]
    pub(crate) query_rate_series: usize,
    /// query-histogram: histograms (instances), 20 bucket series each.
    #[arg(long, default_value_t = 100)]
    pub(crate) query_hist_series: usize,
    /// query-selector: series in the store (1/100 of them per shard).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) query_selector_series: usize,
    /// query-selector: samples per series (all within the 5m lookback).
    #[arg(long, default_value_t = 5)]
    pub(crate) query_selector_samples: usize,
    /// Queries: query the server that ingested the data instead of restarting it first.
    #[arg(long)]
    pub(crate) query_no_restart: bool,
    /// Queries: pause between the server being ready and the first query.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub(crate) query_settle: Duration,
    /// Queries: seed of the data generators.
    #[arg(long, default_value_t = 7)]
    pub(crate) query_seed: u64,

    /// Logs: events sent by logs-tcp and logs-bulk and indexed by logs-bare-tantivy (about
    /// 400 bytes each, generated before the clock starts).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) logs_events: u64,
    /// Logs: seed of the event generator.
    #[arg(long, default_value_t = 11)]
    pub(crate) logs_seed: u64,
    /// logs-tcp: concurrent json_lines connections.
    #[arg(long, default_value_t = 4)]
    pub(crate) logs_tcp_connections: usize,
    /// logs-bulk and logs-search: concurrent _bulk clients.
    #[arg(long, default_value_t = 4)]
    pub(crate) logs_bulk_clients: usize,
    /// logs-bulk and logs-search: _bulk body size in bytes (Fluent Bit-style create actions).
    #[arg(long, default_value_t = 4 << 20)]
    pub(crate) logs_bulk_bytes: usize,
    /// logs-tcp and logs-bulk: also search the store this often while sending (a reader
    /// keeps it out of search-idle, so it commits every 500 ms as under a dashboard); 0: no
    /// reader until everything is sent.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub(crate) logs_reader_every: Duration,
    /// logs-search: lines loaded before searching.
    #[arg(long, default_value_t = 10_000_000)]
    pub(crate) logs_search_events: u64,
    /// logs-search: hours the loaded lines are spread over (ending a minute before the run).
    #[arg(long, default_value_t = 24.0)]
    pub(crate) logs_search_hours: f64,
    /// logs-search: measured runs per query (after one checked warm-up; at most 60 s each).
    #[arg(long, default_value_t = 20)]
    pub(crate) logs_search_runs: usize,

    /// Traces: seed of the span generator.
    #[arg(long, default_value_t = 13)]
    pub(crate) traces_seed: u64,
    /// traces-otlp: spans sent (whole traces of 11.6 spans on average; about 650 bytes of
    /// protobuf each, encoded before the clock starts).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) traces_spans: u64,
    /// Traces: concurrent OTLP gRPC clients (one HTTP/2 connection each).
    #[arg(long, default_value_t = 4)]
    pub(crate) traces_clients: usize,
    /// Traces: spans per ExportTraceServiceRequest.
    #[arg(long, default_value_t = 512)]
    pub(crate) traces_batch: usize,
    /// traces-query: spans loaded (over the last hour) before querying.
    #[arg(long, default_value_t = 10_000_000)]
    pub(crate) traces_search_spans: u64,
    /// traces-query: random known traces fetched by id (one at a time).
    #[arg(long, default_value_t = 200)]
    pub(crate) traces_lookups: usize,
    /// traces-query: measured runs per search and per services/operations request (after one
    /// checked warm-up; at most 60 s each).
    #[arg(long, default_value_t = 100)]
    pub(crate) traces_search_runs: usize,

    /// alerting-eval: metric names (6 in 10 counters, 2 gauges, 2 histograms).
    #[arg(long, default_value_t = 1000)]
    pub(crate) alerting_metrics: usize,
    /// alerting-eval: label sets per metric name (a histogram: a tenth as many instances of
    /// 10 buckets).
    #[arg(long, default_value_t = 100)]
    pub(crate) alerting_sets: usize,
    /// alerting-eval: rule groups.
    #[arg(long, default_value_t = 100)]
    pub(crate) alerting_groups: usize,
    /// alerting-eval: alerting rules per group.
    #[arg(long, default_value_t = 100)]
    pub(crate) alerting_rules_per_group: usize,
    /// alerting-eval: evaluation interval of every group.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) alerting_interval: Duration,
    /// alerting-eval: how long the rules run.
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    pub(crate) alerting_duration: Duration,
    /// alerting-eval: hours of 10 s samples loaded before the rules start.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) alerting_hours: f64,
}

/// What every scenario needs: the binary, a place for data, an HTTP client and its runtime.
pub(crate) struct Ctx {
    pub(crate) opts: Opts,
    pub(crate) argus: PathBuf,
    work: PathBuf,
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) client: reqwest::Client,
    ids: Cell<u32>,
    cores: usize,
}

impl Ctx {
    /// Starts a server whose data directory and log are named `name` under the work directory.
    pub(crate) fn start_server(&self, name: &str, opts: &ServerOpts) -> Result<Server> {
        Server::start(
            &self.argus,
            &self.data_dir(name),
            &self.work.join(format!("{name}.log")),
            opts,
        )
    }

    pub(crate) fn data_dir(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    pub(crate) fn next_id(&self) -> u32 {
        let id = self.ids.get() + 1;
        self.ids.set(id);
        id
    }

    pub(crate) fn machine_cores(&self) -> usize {
        self.cores
    }
}

fn main() {
    let opts = Opts::parse();
    match run(opts) {
        Ok(all_ok) => std::process::exit(if all_ok { 0 } else { 1 }),
        Err(e) => {
            eprintln!("argus-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the chosen scenarios and prints the report; `Ok(false)` when a scenario errored.
fn run(mut opts: Opts) -> Result<bool> {
    if opts.quick {
        let two = Duration::from_secs(2);
        opts.statsd_duration = two;
        opts.statsd_rates = vec![50_000, 100_000];
        opts.import_duration = two;
        opts.import_max_samples = 200_000;
        opts.rw_duration = two;
        opts.rw_max_samples = 500_000;
        opts.disk_series = 100;
        opts.disk_hours = 1.0;
        opts.memory_series = 10_000;
        opts.memory_settle = Duration::from_secs(1);
        opts.query_runs = 5;
        opts.query_max_time = two;
        opts.query_hours = 2.0;
        opts.query_rate_series = 100;
        opts.query_hist_series = 10;
        opts.query_selector_series = 10_000;
        opts.query_settle = Duration::from_secs(1);
        opts.logs_events = 30_000;
        opts.logs_search_events = 200_000;
        opts.logs_search_runs = 5;
        opts.traces_spans = 20_000;
        opts.traces_search_spans = 100_000;
        opts.traces_lookups = 20;
        opts.traces_search_runs = 5;
        opts.alerting_metrics = 100;
        opts.alerting_groups = 10;
        opts.alerting_duration = Duration::from_secs(25);
        opts.alerting_hours = 0.25;
    }
    let mut order = Vec::new();
    for s in &opts.scenarios {
        let expand: &[Scenario] = if *s == Scenario::All {
            &ALL
        } else {
            std::slice::from_ref(s)
        };
        for e in expand {
            if !order.contains(e) {
                order.push(*e);
            }
        }
    }
    let started = now_secs();
    let argus = server::locate_argus(opts.argus.as_deref(), !opts.no_build)?;
    eprintln!("argus-bench: benchmarking {}", argus.display());
    let work_parent = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&work_parent)
        .with_context(|| format!("creating {}", work_parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("argus-bench-")
        .tempdir_in(&work_parent)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads.max(1))
        .enable_all()
        .build()?;
    let client = rt.block_on(async { http::client() })?;
    let machine = procfs::machine();
    let ctx = Ctx {
        work: tmp.path().to_path_buf(),
        argus: argus.clone(),
        rt,
        client,
        ids: Cell::new(0),
        cores: machine.cores,
        opts,
    };
    eprintln!("argus-bench: data and logs under {}", ctx.work.display());

    let mut scenarios: Vec<ScenarioReport> = Vec::new();
    let rounds = ctx.opts.rounds;
    for round in 1..=rounds {
        let mut this_round = run_round(&ctx, &order);
        logs::compare_with_bare(&mut this_round);
        if rounds > 1 {
            for r in &mut this_round {
                r.variant = format!("{} (round {round} of {rounds})", r.variant);
            }
        }
        scenarios.extend(this_round);
    }
    if rounds > 1 {
        let medians = logs::median_bare_ratios(&scenarios);
        scenarios.extend(medians);
    }

    let report = Report {
        started_utc: report::utc(started),
        argus_binary: argus.display().to_string(),
        argus_binary_modified_utc: std::fs::metadata(&argus)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| report::utc(d.as_secs())),
        git_revision: git_revision(&server::workspace_root()),
        machine,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick: ctx.opts.quick,
        scenarios,
    };
    print!("{}", report.markdown());
    if let Some(path) = &ctx.opts.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("argus-bench: JSON report written to {}", path.display());
    }
    let all_ok = report.scenarios.iter().all(|s| s.error.is_none());
    if ctx.opts.keep_data || !all_ok {
        // On failure the servers' logs are the first thing to read: keep them.
        let kept = tmp.keep();
        eprintln!("argus-bench: data and logs kept in {}", kept.display());
    } else {
        drop(tmp);
    }
    if report.scenarios.is_empty() {
        bail!("no scenario ran");
    }
    Ok(all_ok)
}

/// Runs `order`'s scenarios once each, in that order.
fn run_round(ctx: &Ctx, order: &[Scenario]) -> Vec<ScenarioReport> {
    let mut scenarios = Vec::new();
    for &s in order {
        let t = std::time::Instant::now();
        let reports = match s {
            Scenario::Statsd => statsd::run(ctx),
            Scenario::Import => throughput::run_import(ctx),
            Scenario::RemoteWrite => throughput::run_remote_write(ctx),
            Scenario::Disk => disk::run(ctx),
            Scenario::Memory => memory::run(ctx),
            Scenario::QueryRate => query::run_rate(ctx),
            Scenario::QueryHistogram => query::run_histogram(ctx),
            Scenario::QuerySelector => query::run_selector(ctx),
            Scenario::LogsBareTantivy => logs::run_bare(ctx),
            Scenario::LogsTcp => logs::run_tcp(ctx),
            Scenario::LogsBulk => logs::run_bulk(ctx),
            Scenario::LogsSearch => logs::run_search(ctx),
            Scenario::TracesOtlp => traces::run_otlp(ctx),
            Scenario::TracesQuery => traces::run_query(ctx),
            Scenario::AlertingEval => alerting::run(ctx),
            Scenario::All => Vec::new(),
        };
        eprintln!(
            "argus-bench: {s:?} done in {:.0} s",
            t.elapsed().as_secs_f64()
        );
        for r in &reports {
            if let Some(e) = &r.error {
                eprintln!("argus-bench: {} / {} failed: {e}", r.scenario, r.variant);
            }
        }
        scenarios.extend(reports);
    }
    scenarios
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn git_revision(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}
