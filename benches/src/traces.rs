//! Trace scenarios: `traces-otlp` (spans/s through OTLP gRPC until searchable, bytes per span)
//! and `traces-query` (trace by id, search by service + operation + tag, services and
//! operations through the Jaeger API over millions of stored spans, after a restart).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Status};

use crate::Ctx;
use crate::http;
use crate::procfs;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int, fmt_ms};
use crate::server::{Server, ServerOpts};
use crate::spangen::{self, Batch, Batcher, GenTrace, Probe, SpanGen};

const MB: f64 = 1e6;
const MS: u64 = 1_000_000;
const HOUR_NS: u64 = 3_600 * 1_000 * MS;
/// The gRPC method of `TraceServiceClient::export`.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// Pause before retrying a request answered `RESOURCE_EXHAUSTED` or `UNAVAILABLE`.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The Jaeger UI's page of search results.
const SEARCH_LIMIT: usize = 20;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The spans of `spans` (about) spread over the hour that ended a minute ago.
fn generator(ctx: &Ctx, spans: u64) -> SpanGen {
    let end = now_ns() - 60_000 * MS;
    SpanGen::new(ctx.opts.traces_seed, spans, end - HOUR_NS, HOUR_NS)
}

// ---------------------------------------------------------------------------------------------
// OTLP gRPC export

/// Sends `ExportTraceServiceRequest`s encoded before the clock started: on the wire exactly
/// what `TraceServiceClient::export` sends (same method, same protobuf), without encoding
/// while measuring. Answers are decoded as `ExportTraceServiceResponse`.
#[derive(Debug, Clone, Copy, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("undecodable export answer: {e}")))
    }
}

/// What the exporters achieved.
#[derive(Debug)]
struct Exported {
    /// When the last request was acknowledged.
    done: Instant,
    latencies: Vec<Duration>,
    requests: u64,
    spans: u64,
    encoded_bytes: u64,
    retried: Attempts,
    /// Per client, the probe of the last request it sent that ended a trace.
    last_probes: Vec<Probe>,
}

/// Attempts answered `RESOURCE_EXHAUSTED` / `UNAVAILABLE` (retried).
#[derive(Debug, Default)]
struct Attempts {
    overloaded: u64,
    unavailable: u64,
}

/// One export until it is acknowledged without rejected spans (`RESOURCE_EXHAUSTED` and
/// `UNAVAILABLE` retried after [`RETRY_PAUSE`]); the latency of the successful attempt.
async fn export_one(
    grpc: &mut Grpc<Channel>,
    body: Bytes,
    attempts: &mut Attempts,
) -> Result<Duration> {
    loop {
        grpc.ready().await.context("gRPC channel not ready")?;
        let path = Uri::from_static(EXPORT_PATH)
            .path_and_query()
            .cloned()
            .context("export path")?;
        let t = Instant::now();
        match grpc
            .unary(tonic::Request::new(body.clone()), path, PreEncoded)
            .await
        {
            Ok(resp) => {
                let took = t.elapsed();
                if let Some(p) = resp.into_inner().partial_success {
                    ensure!(
                        p.rejected_spans == 0 && p.error_message.is_empty(),
                        "partial success: {} spans rejected: {}",
                        p.rejected_spans,
                        p.error_message
                    );
                }
                return Ok(took);
            }
            Err(s) if matches!(s.code(), Code::ResourceExhausted | Code::Unavailable) => {
                if s.code() == Code::ResourceExhausted {
                    attempts.overloaded += 1;
                } else {
                    attempts.unavailable += 1;
                }
                ensure!(
                    attempts.overloaded + attempts.unavailable < 6000,
                    "gave up after 6000 retried answers; last {:?}: {}",
                    s.code(),
                    s.message()
                );
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(s) => bail!("export answered {:?}: {}", s.code(), s.message()),
        }
    }
}

/// Sends every batch from `rx` with `clients` closed-loop exporters, each on its own HTTP/2
/// connection.
async fn export_all(
    addr: SocketAddr,
    rx: tokio::sync::mpsc::Receiver<Batch>,
    clients: usize,
) -> Result<Exported> {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let rx = rx.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let mut grpc = Grpc::new(endpoint.connect().await.context("connecting")?);
            let mut lat = Vec::new();
            let mut attempts = Attempts::default();
            let (mut spans, mut bytes) = (0u64, 0u64);
            let mut last_probe = None;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(batch) = next else { break };
                lat.push(export_one(&mut grpc, batch.body.clone(), &mut attempts).await?);
                spans += batch.spans;
                bytes += batch.body.len() as u64;
                if batch.probe.is_some() {
                    last_probe = batch.probe;
                }
            }
            Ok::<_, anyhow::Error>((lat, attempts, spans, bytes, last_probe))
        }));
    }
    let mut out = Exported {
        done: Instant::now(),
        latencies: Vec::new(),
        requests: 0,
        spans: 0,
        encoded_bytes: 0,
        retried: Attempts::default(),
        last_probes: Vec::new(),
    };
    for t in tasks {
        let (lat, attempts, spans, bytes, probe) = t.await??;
        out.requests += lat.len() as u64;
        out.latencies.extend(lat);
        out.retried.overloaded += attempts.overloaded;
        out.retried.unavailable += attempts.unavailable;
        out.spans += spans;
        out.encoded_bytes += bytes;
        out.last_probes.extend(probe);
    }
    out.done = Instant::now();
    out.latencies.sort_unstable();
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Jaeger API

/// A search window in microseconds, as the Jaeger API takes it.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_us: u64,
    end_us: u64,
}

fn search_url(
    base: &str,
    service: &str,
    operation: &str,
    tags: &serde_json::Value,
    w: Window,
    limit: usize,
) -> String {
    // As the Jaeger UI sends it: lookback next to an explicit start and end (which win).
    format!(
        "{base}/jaeger/api/traces?service={}&operation={}&tags={}&start={}&end={}&lookback=1h&limit={limit}",
        http::urlencode(service),
        http::urlencode(operation),
        http::urlencode(&tags.to_string()),
        w.start_us,
        w.end_us,
    )
}

/// The trace ids of a search answer, in order.
fn trace_ids(body: &[u8]) -> Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    let data = v["data"].as_array().ok_or_else(|| {
        anyhow!(
            "answer without data: {}",
            http::truncate(&v.to_string(), 300)
        )
    })?;
    data.iter()
        .map(|t| {
            t["traceID"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("trace without traceID"))
        })
        .collect()
}

fn probe_url(base: &str, p: &Probe, w: Window) -> String {
    search_url(
        base,
        spangen::SERVICES[p.service],
        &p.operation,
        &serde_json::json!({ "request.id": p.request_id }),
        w,
        1,
    )
}

/// Polls every 50 ms until each probe's trace is found by a tag search and (with `indexed`)
/// the store says that many spans are committed to its search index; returns when.
fn wait_searchable(
    ctx: &Ctx,
    server: &Server,
    probes: &[Probe],
    w: Window,
    indexed: Option<u64>,
    timeout: Duration,
) -> Result<Instant> {
    let base = server.base_url();
    let t = Instant::now();
    let mut missing: Vec<&Probe> = probes.iter().collect();
    let mut count = 0.0;
    loop {
        let mut still = Vec::new();
        for p in missing {
            let found = ctx
                .rt
                .block_on(http::get_timed(
                    &ctx.client,
                    &probe_url(&base, p, w),
                    Duration::from_secs(60),
                ))
                .ok()
                .and_then(|(_, body)| trace_ids(&body).ok())
                .is_some_and(|ids| ids.first() == Some(&storage::hex(&p.trace_id)));
            if !found {
                still.push(p);
            }
        }
        missing = still;
        if missing.is_empty() {
            match indexed {
                None => return Ok(Instant::now()),
                Some(n) => {
                    count = ctx
                        .rt
                        .block_on(trace_metrics(&ctx.client, &base))
                        .map(|m| m["indexed"])
                        .unwrap_or(count);
                    if count >= n as f64 {
                        return Ok(Instant::now());
                    }
                }
            }
        }
        if t.elapsed() > timeout {
            bail!(
                "not searchable {:.0} s after sending ended: {} of {} probe traces missing, {} of {:?} spans indexed",
                timeout.as_secs_f64(),
                missing.len(),
                probes.len(),
                count,
                indexed
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The trace store's directory: the spans' RocksDB (tables, its log, the rest) and the search
/// indexes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct TraceDisk {
    traces_dir: u64,
    spans_sst: u64,
    spans_wal: u64,
    /// MANIFEST, OPTIONS, RocksDB's info LOG.
    spans_other: u64,
    index: u64,
}

fn trace_disk(data_dir: &Path) -> TraceDisk {
    let traces = data_dir.join("traces");
    let spans = procfs::dir_size(&traces.join("spans")).unwrap_or_default();
    TraceDisk {
        traces_dir: procfs::dir_size(&traces).map(|d| d.total).unwrap_or(0),
        spans_sst: spans.sst,
        spans_wal: spans.wal,
        spans_other: spans.info_log + spans.other,
        index: procfs::dir_size(&traces.join("index"))
            .map(|d| d.total)
            .unwrap_or(0),
    }
}

impl TraceDisk {
    /// Span tables and search indexes: what the spans take once RocksDB has flushed its
    /// memtables (until then the newest spans are in its log, uncompressed).
    fn tables_and_index(&self) -> u64 {
        self.spans_sst + self.index
    }

    fn describe(&self, spans: u64) -> String {
        let per = |b: u64| b as f64 / spans.max(1) as f64;
        format!(
            "{} = {:.1} bytes/span (span tables {:.1}, search index {:.1}, RocksDB log {:.1}, other {:.1})",
            fmt_bytes(self.traces_dir),
            per(self.traces_dir),
            per(self.spans_sst),
            per(self.index),
            per(self.spans_wal),
            per(self.spans_other),
        )
    }
}

async fn trace_metrics(
    client: &reqwest::Client,
    base: &str,
) -> Result<BTreeMap<&'static str, f64>> {
    let text = http::metrics_text(client, base).await?;
    let get = |name, filter| http::metric_sum(&text, name, filter).unwrap_or(0.0);
    Ok(BTreeMap::from([
        (
            "otlp_accepted",
            get(
                "argus_ingest_otlp_accepted_total",
                Some(("signal", "traces")),
            ),
        ),
        (
            "otlp_rejected",
            get(
                "argus_ingest_otlp_rejected_total",
                Some(("signal", "traces")),
            ),
        ),
        (
            "store_rejected",
            get("argus_storage_traces_spans_rejected_total", None),
        ),
        (
            "indexed",
            get("argus_storage_traces_spans_indexed_total", None),
        ),
    ]))
}

// ---------------------------------------------------------------------------------------------
// traces-otlp

pub(crate) fn run_otlp(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let variant = format!(
        "OTLP gRPC, {} spans/request, {} clients",
        o.traces_batch, o.traces_clients
    );
    vec![
        otlp_inner(ctx, &variant)
            .unwrap_or_else(|e| ScenarioReport::failed("traces-otlp", &variant, format!("{e:#}"))),
    ]
}

fn otlp_inner(ctx: &Ctx, variant: &str) -> Result<ScenarioReport> {
    let o = &ctx.opts;
    let g = generator(ctx, o.traces_spans);
    let t = Instant::now();
    let mut batcher = Batcher::new(&g, o.traces_batch);
    let mut batches = Vec::new();
    let mut last_start = 0;
    while let Some(b) = batcher.next_batch(|t| last_start = last_start.max(t.last_start_ns())) {
        batches.push(b);
    }
    let n: u64 = batches.iter().map(|b| b.spans).sum();
    let encoded: u64 = batches.iter().map(|b| b.body.len() as u64).sum();
    eprintln!(
        "traces-otlp: generated {} spans in {} traces, {} requests ({:.1} MB, {:.0} bytes/span) in {:.1} s",
        fmt_int(n as f64),
        fmt_int(g.traces as f64),
        batches.len(),
        encoded as f64 / MB,
        encoded as f64 / n.max(1) as f64,
        t.elapsed().as_secs_f64()
    );
    let window = Window {
        start_us: g.start_ns / 1000,
        end_us: last_start.div_ceil(1000),
    };
    let name = format!("traces-otlp-{}", ctx.next_id());
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    let base = server.base_url();
    let addr = server
        .otlp_grpc
        .ok_or_else(|| anyhow!("the ready line has no otlp_grpc address"))?;
    std::thread::sleep(Duration::from_millis(300));
    let (tx, rx) = tokio::sync::mpsc::channel(batches.len().max(1));
    let requests = batches.len();
    for b in batches {
        tx.try_send(b).map_err(|_| anyhow!("batch queue full"))?;
    }
    drop(tx);
    let cpu0 = server.cpu_seconds();
    let own0 = procfs::own_cpu_seconds();
    eprintln!(
        "traces-otlp: {variant}: sending {} spans in {requests} requests ...",
        fmt_int(n as f64)
    );
    let t0 = Instant::now();
    let sent = ctx.rt.block_on(export_all(addr, rx, o.traces_clients))?;
    let send_s = sent.done.duration_since(t0).as_secs_f64();
    let cpu_sent = server.cpu_seconds();
    eprintln!("traces-otlp: acknowledged in {send_s:.1} s; waiting until searchable ...");
    let timeout = Duration::from_secs_f64((send_s * 5.0).max(120.0));
    let searchable_at = wait_searchable(ctx, &server, &sent.last_probes, window, Some(n), timeout)?;
    let cpu1 = server.cpu_seconds();
    let own1 = procfs::own_cpu_seconds();
    let total_s = searchable_at.duration_since(t0).as_secs_f64();
    let lag_s = searchable_at.duration_since(sent.done).as_secs_f64();
    let m = ctx.rt.block_on(trace_metrics(&ctx.client, &base))?;
    let mem = server.mem();
    let running = trace_disk(&ctx.data_dir(&name));
    let shutdown = server.terminate(Duration::from_secs(600));
    let closed = trace_disk(&ctx.data_dir(&name));
    ensure!(sent.spans == n, "{} spans acknowledged of {n}", sent.spans);

    let rate = n as f64 / total_s;
    let ack_rate = n as f64 / send_s;
    let server_cpu = (cpu1 - cpu0) / total_s;
    let bench_cpu = (own1 - own0) / total_s;
    let per_span = closed.traces_dir as f64 / n as f64;
    let mut r = ScenarioReport::new("traces-otlp", variant);
    r.value = Some(rate);
    r.result = format!(
        "{} spans/s until searchable ({} spans/s acknowledged); {per_span:.0} bytes/span on disk \
         ({:.0} in span tables + index)",
        fmt_int(rate),
        fmt_int(ack_rate),
        closed.tables_and_index() as f64 / n as f64,
    );
    r.p50_ms = http::quantile_ms(&sent.latencies, 0.5);
    r.p99_ms = http::quantile_ms(&sent.latencies, 0.99);
    r.disk_bytes = Some(closed.traces_dir);
    r.rss_peak = Some(mem.hwm);
    r.server_cpu = Some(server_cpu);
    r.details_md = format!(
        "| spans | traces | requests | encoded | acknowledged in | acknowledged spans/s | searchable after | spans/s | server CPU | server CPU s/M spans | bench CPU | RSS / peak | traces dir after close | bytes/span |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {:.1} MB ({:.0} B/span) | {send_s:.2} s | {} | {total_s:.2} s | {} | {server_cpu:.2} cores | {:.1} | {bench_cpu:.2} cores | {} / {} | {} | {per_span:.1} |\n",
        fmt_int(n as f64),
        fmt_int(g.traces as f64),
        sent.requests,
        encoded as f64 / MB,
        encoded as f64 / n as f64,
        fmt_int(ack_rate),
        fmt_int(rate),
        (cpu1 - cpu0) / (n as f64 / 1e6),
        fmt_bytes(mem.rss),
        fmt_bytes(mem.hwm),
        fmt_bytes(closed.traces_dir),
    );
    r.notes.push(format!(
        "spans/s is over the whole run: from the first request sent until the root span of the \
         last trace each client sent was found by a tag search (`GET /jaeger/api/traces`, polled \
         every 50 ms) and `argus_storage_traces_spans_indexed_total` reached {}; searchable \
         {lag_s:.2} s after the last acknowledgement; server CPU while sending: {:.2} cores",
        fmt_int(n as f64),
        (cpu_sent - cpu0) / send_s
    ));
    r.notes.push(format!(
        "request latency (p50/p99 above) p90 {}, max {}; {} attempts answered RESOURCE_EXHAUSTED \
         and {} UNAVAILABLE, retried after {} ms",
        http::quantile_ms(&sent.latencies, 0.9)
            .map(fmt_ms)
            .unwrap_or_default(),
        http::quantile_ms(&sent.latencies, 1.0)
            .map(fmt_ms)
            .unwrap_or_default(),
        sent.retried.overloaded,
        sent.retried.unavailable,
        RETRY_PAUSE.as_millis()
    ));
    r.notes.push(format!(
        "on disk after close: {}; while running: {}",
        closed.describe(n),
        running.describe(n)
    ));
    if m["otlp_accepted"] != n as f64 || m["otlp_rejected"] > 0.0 || m["store_rejected"] > 0.0 {
        r.notes.push(format!(
            "WARNING: the server counted {} spans accepted of {}, {} rejected by OTLP, {} by the store",
            m["otlp_accepted"], n, m["otlp_rejected"], m["store_rejected"]
        ));
    }
    if let Err(e) = shutdown {
        r.notes.push(format!("shutdown: {e:#}"));
    }
    r.notes.push(format!(
        "client and server share this machine's {} cores; requests are encoded before the \
         clock starts",
        ctx.machine_cores()
    ));
    r.details = serde_json::json!({
        "spans": n,
        "traces": g.traces,
        "requests": sent.requests,
        "encoded_bytes": encoded,
        "send_s": send_s,
        "searchable_s": total_s,
        "searchable_after_last_s": lag_s,
        "spans_per_s": rate,
        "acked_spans_per_s": ack_rate,
        "server_cpu_cores": server_cpu,
        "server_cpu_s": cpu1 - cpu0,
        "bench_cpu_cores": bench_cpu,
        "rss": mem.rss,
        "rss_peak": mem.hwm,
        "disk_running": running,
        "disk_closed": closed,
        "bytes_per_span": per_span,
        "latency_p50_ms": r.p50_ms,
        "latency_p99_ms": r.p99_ms,
        "retried_resource_exhausted": sent.retried.overloaded,
        "retried_unavailable": sent.retried.unavailable,
        "server_metrics": m,
    });
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// traces-query

/// What the loaded data must answer, gathered while generating it.
#[derive(Debug, Default)]
struct Expected {
    spans: u64,
    traces: u64,
    max_start_ns: u64,
    /// Per `service * OPERATIONS + op`: `(start, trace)` of every server span answering 500.
    errors: Vec<Vec<(u64, u64)>>,
    /// The same for the broad search: [`BROAD`]'s server spans answering 200.
    broad: Vec<(u64, u64)>,
}

/// The service and operation of the broad search: the most called ones.
const BROAD: (usize, usize) = (spangen::ENTRY_SERVICES, 0);

impl Expected {
    fn observe(&mut self, t: &GenTrace) {
        self.traces += 1;
        self.spans += t.spans.len() as u64;
        self.max_start_ns = self.max_start_ns.max(t.last_start_ns());
        for s in &t.spans {
            let start = s.span.start_time_unix_nano;
            let Some(op) = s.facts.server_op else {
                continue;
            };
            match s.facts.http_status {
                500 => {
                    self.errors[s.facts.service * spangen::OPERATIONS + op].push((start, t.index))
                }
                200 if (s.facts.service, op) == BROAD => self.broad.push((start, t.index)),
                _ => {}
            }
        }
    }
}

/// Traces with a matching span, newest first by their newest matching span; and how many.
fn newest_traces(matches: &[(u64, u64)], limit: usize) -> (Vec<u64>, usize) {
    let mut m = matches.to_vec();
    m.sort_unstable_by(|a, b| b.cmp(a));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (_, t) in m {
        if seen.insert(t) && out.len() < limit {
            out.push(t);
        }
    }
    (out, seen.len())
}

struct SearchSpec {
    name: String,
    service: usize,
    op: usize,
    status: u16,
    /// Trace indexes the answer must list, in order.
    expected: Vec<u64>,
    /// Distinct traces matching in the window.
    matching: usize,
}

pub(crate) fn run_query(ctx: &Ctx) -> Vec<ScenarioReport> {
    match query_inner(ctx) {
        Ok(r) => r,
        Err(e) => vec![ScenarioReport::failed(
            "traces-query",
            &format!("{} spans", fmt_int(ctx.opts.traces_search_spans as f64)),
            format!("{e:#}"),
        )],
    }
}

fn query_inner(ctx: &Ctx) -> Result<Vec<ScenarioReport>> {
    let o = &ctx.opts;
    let g = generator(ctx, o.traces_search_spans);
    let name = format!("traces-query-{}", ctx.next_id());
    let data_dir = ctx.data_dir(&name);
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    let addr = server
        .otlp_grpc
        .ok_or_else(|| anyhow!("the ready line has no otlp_grpc address"))?;
    eprintln!(
        "traces-query: loading {} traces (about {} spans) over the last hour through OTLP gRPC \
         (generated while sending) ...",
        fmt_int(g.traces as f64),
        fmt_int(o.traces_search_spans as f64)
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(16);
    let producer = {
        let g = g.clone();
        let batch = o.traces_batch;
        std::thread::spawn(move || -> Expected {
            let mut x = Expected {
                errors: vec![Vec::new(); spangen::SERVICES.len() * spangen::OPERATIONS],
                ..Expected::default()
            };
            let mut b = Batcher::new(&g, batch);
            while let Some(batch) = b.next_batch(|t| x.observe(t)) {
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
            x
        })
    };
    let cpu0 = server.cpu_seconds();
    let own0 = procfs::own_cpu_seconds();
    let t0 = Instant::now();
    let sent = ctx.rt.block_on(export_all(addr, rx, o.traces_clients));
    let expected = producer
        .join()
        .map_err(|_| anyhow!("generator thread panicked"))?;
    let sent = sent?;
    let n = expected.spans;
    ensure!(sent.spans == n, "{} spans acknowledged of {n}", sent.spans);
    let send_s = sent.done.duration_since(t0).as_secs_f64();
    let window = Window {
        start_us: g.start_ns / 1000,
        end_us: expected.max_start_ns.div_ceil(1000),
    };
    eprintln!(
        "traces-query: {} spans acknowledged in {send_s:.0} s; waiting until searchable ...",
        fmt_int(n as f64)
    );
    let searchable_at = wait_searchable(
        ctx,
        &server,
        &sent.last_probes,
        window,
        Some(n),
        Duration::from_secs(1800),
    )?;
    let load_s = searchable_at.duration_since(t0).as_secs_f64();
    let load_cpu = server.cpu_seconds() - cpu0;
    let bench_cpu = procfs::own_cpu_seconds() - own0;
    let load_mem = server.mem();
    let m = ctx
        .rt
        .block_on(trace_metrics(&ctx.client, &server.base_url()))?;
    eprintln!("traces-query: searchable after {load_s:.0} s; stopping the server (SIGTERM) ...");
    let shutdown_s = server.terminate(Duration::from_secs(900))?.as_secs_f64();
    let disk = trace_disk(&data_dir);
    let per_span = disk.traces_dir as f64 / n as f64;

    let mut size = ScenarioReport::new(
        "traces-query",
        &format!(
            "{} spans over 1 h via OTLP gRPC ({} clients)",
            fmt_int(n as f64),
            o.traces_clients
        ),
    );
    size.value = Some(per_span);
    size.result = format!(
        "{per_span:.1} bytes/span on disk ({:.1} in span tables + index); loaded at {} spans/s \
         until searchable",
        disk.tables_and_index() as f64 / n as f64,
        fmt_int(n as f64 / load_s)
    );
    size.disk_bytes = Some(disk.traces_dir);
    size.rss_peak = Some(load_mem.hwm);
    size.server_cpu = Some(load_cpu / load_s);
    let ms = |q: f64| {
        http::quantile_ms(&sent.latencies, q)
            .map(fmt_ms)
            .unwrap_or_default()
    };
    size.details_md = format!(
        "| spans | traces | encoded | acknowledged in | searchable after | shutdown | traces dir after close | span tables | search index | RocksDB log | other | bytes/span |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {:.1} MB | {send_s:.1} s | {load_s:.1} s | {shutdown_s:.1} s | {} | {} | {} | {} | {} | {per_span:.1} |\n",
        fmt_int(n as f64),
        fmt_int(expected.traces as f64),
        sent.encoded_bytes as f64 / MB,
        fmt_bytes(disk.traces_dir),
        fmt_bytes(disk.spans_sst),
        fmt_bytes(disk.index),
        fmt_bytes(disk.spans_wal),
        fmt_bytes(disk.spans_other),
    );
    size.notes
        .push(format!("on disk after close: {}", disk.describe(n)));
    size.notes.push(format!(
        "loading: export requests p50 {}, p99 {}; {} attempts retried after \
         RESOURCE_EXHAUSTED, {} after UNAVAILABLE; server {:.2} cores, benchmark {:.2} cores \
         (generating and encoding the spans while sending)",
        ms(0.5),
        ms(0.99),
        sent.retried.overloaded,
        sent.retried.unavailable,
        load_cpu / load_s,
        bench_cpu / load_s,
    ));
    if m["otlp_accepted"] != n as f64 || m["store_rejected"] > 0.0 {
        size.notes.push(format!(
            "WARNING: the server counted {} spans accepted of {n}, {} rejected by the store",
            m["otlp_accepted"], m["store_rejected"]
        ));
    }
    size.details = serde_json::json!({
        "spans": n,
        "traces": expected.traces,
        "encoded_bytes": sent.encoded_bytes,
        "ack_s": send_s,
        "searchable_s": load_s,
        "shutdown_s": shutdown_s,
        "disk": disk,
        "bytes_per_span": per_span,
        "load_server_cpu_s": load_cpu,
        "load_bench_cpu_s": bench_cpu,
        "export_p50_ms": http::quantile_ms(&sent.latencies, 0.5),
        "export_p99_ms": http::quantile_ms(&sent.latencies, 0.99),
        "requests": sent.requests,
        "retried_resource_exhausted": sent.retried.overloaded,
        "retried_unavailable": sent.retried.unavailable,
        "server_metrics": m,
    });

    eprintln!("traces-query: restarting on the same data ...");
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    wait_searchable(
        ctx,
        &server,
        &sent.last_probes,
        window,
        None,
        Duration::from_secs(300),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let mut out = vec![size];
    let mut add = |variant: &str, r: Result<Vec<ScenarioReport>>| match r {
        Ok(r) => out.extend(r),
        Err(e) => out.push(ScenarioReport::failed(
            "traces-query",
            variant,
            format!("{e:#}"),
        )),
    };
    add("trace by id", measure_lookups(ctx, &server, &g));
    for spec in search_specs(&expected) {
        add(
            &spec.name,
            measure_search(ctx, &server, &g, &spec, window).map(|r| vec![r]),
        );
    }
    add("services and operations", measure_catalog(ctx, &server, &g));
    if let Err(e) = server.terminate(Duration::from_secs(300)) {
        out[0].notes.push(format!("shutdown: {e:#}"));
    }
    let reopened = trace_disk(&data_dir);
    out[0].notes.push(format!(
        "after the restart (RocksDB recovers its log into tables at open), the queries and a \
         second close: {}",
        reopened.describe(n)
    ));
    if let Some(d) = out[0].details.as_object_mut() {
        d.insert("disk_after_restart".into(), serde_json::to_value(reopened)?);
    }
    Ok(out)
}

/// The searches: service + operation + `http.status_code`, one common and one rare error
/// combination and a broad one, each over the data's hour.
fn search_specs(x: &Expected) -> Vec<SearchSpec> {
    let ops = spangen::OPERATIONS;
    let counted: Vec<(usize, Vec<u64>, usize)> = x
        .errors
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let (top, n) = newest_traces(m, SEARCH_LIMIT);
            (k, top, n)
        })
        .collect();
    let common = counted.iter().max_by_key(|c| (c.2, usize::MAX - c.0));
    // The combination matching closest to 10 traces: fewer than a page, but not none.
    let rare = counted
        .iter()
        .filter(|c| c.2 > 0)
        .min_by_key(|c| (c.2.abs_diff(10), c.0));
    let mut specs = Vec::new();
    for (label, c) in [("common", common), ("rare", rare)] {
        if let Some((k, top, n)) = c {
            specs.push(SearchSpec {
                name: format!("search: service + operation + error tag ({label})"),
                service: k / ops,
                op: k % ops,
                status: 500,
                expected: top.clone(),
                matching: *n,
            });
        }
    }
    let (top, n) = newest_traces(&x.broad, SEARCH_LIMIT);
    specs.push(SearchSpec {
        name: "search: service + operation + tag of most spans (broad)".into(),
        service: BROAD.0,
        op: BROAD.1,
        status: 200,
        expected: top,
        matching: n,
    });
    specs
}

/// Runs `f` `runs` times one at a time (at least 3, stopping after 60 s); sorted latencies.
fn timed_runs(runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Vec<Duration>> {
    let mut lat = Vec::new();
    let t = Instant::now();
    for i in 0..runs.max(1) {
        if i >= 3 && t.elapsed() > Duration::from_secs(60) {
            break;
        }
        lat.push(f()?);
    }
    lat.sort_unstable();
    Ok(lat)
}

/// A latency row: p50/p99 in the summary; runs, cold, p50, p90, p99, max and server CPU per run
/// in the details.
fn latency_row(
    variant: &str,
    result: String,
    lat: &[Duration],
    cold: Option<Duration>,
    cpu_per_run: f64,
    server: &Server,
) -> ScenarioReport {
    let q = |p: f64| http::quantile_ms(lat, p);
    let mut r = ScenarioReport::new("traces-query", variant);
    r.value = q(0.5);
    r.result = result;
    r.p50_ms = q(0.5);
    r.p99_ms = q(0.99);
    r.rss_peak = Some(server.mem().hwm);
    let ms = |v: Option<f64>| v.map(fmt_ms).unwrap_or_else(|| "—".into());
    r.details_md = format!(
        "| runs | cold | p50 | p90 | p99 | max | server CPU/run |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} | {} | {} |\n",
        lat.len(),
        ms(cold.map(|d| d.as_secs_f64() * 1000.0)),
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(q(1.0)),
        fmt_ms(cpu_per_run * 1000.0),
    );
    r.details = serde_json::json!({
        "runs": lat.len(),
        "cold_ms": cold.map(|d| d.as_secs_f64() * 1000.0),
        "p50_ms": q(0.5),
        "p90_ms": q(0.9),
        "p99_ms": q(0.99),
        "max_ms": q(1.0),
        "server_cpu_s_per_run": cpu_per_run,
    });
    r
}

/// `GET /jaeger/api/traces/{id}` of random known traces, one at a time; every answer must be
/// the whole trace.
fn measure_lookups(ctx: &Ctx, server: &Server, g: &SpanGen) -> Result<Vec<ScenarioReport>> {
    let base = server.base_url();
    let timeout = Duration::from_secs(60);
    let mut r = crate::workload::Rng::new(ctx.opts.traces_seed ^ 0x100C_0B5E);
    let picks: Vec<u64> = (0..ctx.opts.traces_lookups.max(1))
        .map(|_| r.below(g.traces))
        .collect();
    let fetch = |t: u64| -> Result<(Duration, usize)> {
        let id = storage::hex(&g.trace(t).id);
        let (took, body) = ctx.rt.block_on(http::get_timed(
            &ctx.client,
            &format!("{base}/jaeger/api/traces/{id}"),
            timeout,
        ))?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        ensure!(
            v["data"][0]["traceID"] == id.as_str(),
            "trace {id}: another trace answered"
        );
        let spans = v["data"][0]["spans"].as_array().map(Vec::len).unwrap_or(0);
        Ok((took, spans))
    };
    // Warm-up (connection, first query on the process), not counted.
    let (cold, _) = fetch(r.below(g.traces))?;
    let mut spans_total = 0usize;
    let cpu0 = server.cpu_seconds();
    let mut i = 0;
    let lat = timed_runs(picks.len(), || {
        let t = picks[i];
        i += 1;
        let (took, spans) = fetch(t)?;
        let want = g.trace(t).spans.len();
        ensure!(
            spans == want,
            "trace {t}: {spans} spans answered, {want} stored"
        );
        spans_total += spans;
        Ok(took)
    })?;
    let cpu = (server.cpu_seconds() - cpu0) / lat.len() as f64;
    let row = latency_row(
        "trace by id",
        format!(
            "`GET /jaeger/api/traces/{{id}}` of {} random traces of {} ({:.1} spans each), every one whole",
            lat.len(),
            fmt_int(g.traces as f64),
            spans_total as f64 / lat.len() as f64
        ),
        &lat,
        Some(cold),
        cpu,
        server,
    );
    Ok(vec![row])
}

fn measure_search(
    ctx: &Ctx,
    server: &Server,
    g: &SpanGen,
    spec: &SearchSpec,
    w: Window,
) -> Result<ScenarioReport> {
    let base = server.base_url();
    let service = spangen::SERVICES[spec.service];
    let operation = g.operation(spec.service, spec.op);
    let tags = serde_json::json!({ "http.status_code": spec.status.to_string() });
    let url = search_url(&base, service, operation, &tags, w, SEARCH_LIMIT);
    let timeout = Duration::from_secs(120);
    let (cold, body) = ctx
        .rt
        .block_on(http::get_timed(&ctx.client, &url, timeout))?;
    let got = trace_ids(&body)?;
    let want: Vec<String> = spec
        .expected
        .iter()
        .map(|t| storage::hex(&g.trace(*t).id))
        .collect();
    ensure!(
        got == want,
        "{}: answered {} traces {:?}..., expected {} {:?}... ({} match)",
        spec.name,
        got.len(),
        got.first(),
        want.len(),
        want.first(),
        spec.matching
    );
    let cpu0 = server.cpu_seconds();
    let lat = timed_runs(ctx.opts.traces_search_runs, || {
        Ok(ctx
            .rt
            .block_on(http::get_timed(&ctx.client, &url, timeout))?
            .0)
    })?;
    let cpu = (server.cpu_seconds() - cpu0) / lat.len() as f64;
    let mut r = latency_row(
        &spec.name,
        format!(
            "`service={service}&operation={operation}&tags={tags}`, 1 h, limit {SEARCH_LIMIT}: \
             {} traces answered of {} matching",
            got.len(),
            fmt_int(spec.matching as f64)
        ),
        &lat,
        Some(cold),
        cpu,
        server,
    );
    r.notes.push(format!(
        "checked on the warm-up run: the {} trace ids equal the generator's newest matching traces, in order",
        got.len()
    ));
    if let Some(d) = r.details.as_object_mut() {
        d.insert("url".into(), url.into());
        d.insert("matching_traces".into(), spec.matching.into());
        d.insert("answered".into(), got.len().into());
    }
    Ok(r)
}

/// A catalog request and the names its answer must list.
struct CatalogCase {
    name: &'static str,
    path: String,
    /// The names are `data[*][field]`, or the strings `data[*]` without one.
    field: Option<&'static str>,
    want: Vec<String>,
    /// Exactly `want` (in any order), or at least `want`.
    exact: bool,
}

impl CatalogCase {
    fn check(&self, v: &serde_json::Value) -> bool {
        let Some(entries) = v["data"].as_array() else {
            return false;
        };
        let mut got: Vec<&str> = entries
            .iter()
            .filter_map(|e| match self.field {
                Some(f) => e[f].as_str(),
                None => e.as_str(),
            })
            .collect();
        got.sort_unstable();
        let mut want: Vec<&str> = self.want.iter().map(String::as_str).collect();
        want.sort_unstable();
        if self.exact {
            got == want
        } else {
            want.iter().all(|w| got.binary_search(w).is_ok())
        }
    }
}

/// `services`, a service's `operations` (both routes), each checked against the generator.
fn measure_catalog(ctx: &Ctx, server: &Server, g: &SpanGen) -> Result<Vec<ScenarioReport>> {
    let base = server.base_url();
    let service = spangen::SERVICES[BROAD.0];
    let server_ops: Vec<String> = (0..spangen::OPERATIONS)
        .map(|j| g.operation(BROAD.0, j).to_string())
        .collect();
    let cases = [
        CatalogCase {
            name: "services",
            path: "/jaeger/api/services".into(),
            field: None,
            want: spangen::SERVICES.iter().map(|s| s.to_string()).collect(),
            exact: true,
        },
        // Its server operations, and the names of its client and database spans.
        CatalogCase {
            name: "operations of a service",
            path: format!("/jaeger/api/services/{service}/operations"),
            field: None,
            want: server_ops.clone(),
            exact: false,
        },
        CatalogCase {
            name: "operations of a service, server spans",
            path: format!("/jaeger/api/operations?service={service}&spanKind=server"),
            field: Some("name"),
            want: server_ops,
            exact: true,
        },
    ];
    let timeout = Duration::from_secs(60);
    let mut out = Vec::new();
    for case in &cases {
        let url = format!("{base}{}", case.path);
        let (cold, body) = ctx
            .rt
            .block_on(http::get_timed(&ctx.client, &url, timeout))?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        ensure!(
            case.check(&v),
            "{}: unexpected answer {}",
            case.name,
            http::truncate(&v.to_string(), 300)
        );
        let entries = v["data"].as_array().map(Vec::len).unwrap_or(0);
        let cpu0 = server.cpu_seconds();
        let lat = timed_runs(ctx.opts.traces_search_runs, || {
            Ok(ctx
                .rt
                .block_on(http::get_timed(&ctx.client, &url, timeout))?
                .0)
        })?;
        let cpu = (server.cpu_seconds() - cpu0) / lat.len() as f64;
        let mut r = latency_row(
            case.name,
            format!("`{}`: {entries} entries, checked", case.path),
            &lat,
            Some(cold),
            cpu,
            server,
        );
        if let Some(d) = r.details.as_object_mut() {
            d.insert("path".into(), case.path.clone().into());
            d.insert("entries".into(), entries.into());
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_traces_dedupes_and_orders() {
        let m = [(10, 1), (50, 2), (40, 1), (30, 3), (20, 2)];
        assert_eq!(newest_traces(&m, 2), (vec![2, 1], 3));
        assert_eq!(newest_traces(&m, 20), (vec![2, 1, 3], 3));
        assert_eq!(newest_traces(&[], 20), (vec![], 0));
    }
}
