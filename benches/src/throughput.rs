//! Scenarios `import` and `remote_write`: samples/s through the HTTP ingest paths, closed-loop
//! with concurrent clients, bodies encoded before the clock starts.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use crate::http::{self, LoadResult, Payload};
use crate::procfs;
use crate::proto;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int, fmt_ms};
use crate::server::ServerOpts;
use crate::workload;
use crate::{Ctx, Shape};

const INTERVAL_MS: i64 = 10_000;

/// Milliseconds since the epoch, rounded down to a whole scrape interval.
pub(crate) fn aligned_now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    now - now % INTERVAL_MS
}

pub(crate) fn run_import(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let variant = format!(
        "{} lines/request, {} clients",
        fmt_int(o.import_batch_lines as f64),
        o.import_clients
    );
    eprintln!("import: encoding bodies ...");
    let t = Instant::now();
    let payloads = import_payloads(
        o.import_series,
        o.import_batch_lines,
        o.import_max_samples,
        o.import_clients,
    );
    eprintln!(
        "import: {} bodies, {} in {:.1} s",
        payloads.iter().map(Vec::len).sum::<usize>(),
        fmt_bytes(payloads.iter().flatten().map(|p| p.body.len() as u64).sum()),
        t.elapsed().as_secs_f64()
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    let r = run_throughput(
        ctx,
        "import",
        &variant,
        "/api/v1/import/prometheus",
        headers,
        payloads,
        o.import_duration,
        None,
    );
    vec![r]
}

pub(crate) fn run_remote_write(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let mut out = Vec::new();
    for shape in &o.rw_shapes {
        let variant = format!(
            "{} series x {} sample{}/request, {} clients",
            shape.series,
            shape.samples,
            if shape.samples == 1 { "" } else { "s" },
            o.rw_clients
        );
        eprintln!("remote_write: {variant}: encoding bodies ...");
        let t = Instant::now();
        let payloads = match rw_payloads(o.rw_series, *shape, o.rw_max_samples, o.rw_clients) {
            Ok(p) => p,
            Err(e) => {
                out.push(ScenarioReport::failed(
                    "remote_write",
                    &variant,
                    format!("{e:#}"),
                ));
                continue;
            }
        };
        eprintln!(
            "remote_write: {} bodies, {} in {:.1} s",
            payloads.iter().map(Vec::len).sum::<usize>(),
            fmt_bytes(payloads.iter().flatten().map(|p| p.body.len() as u64).sum()),
            t.elapsed().as_secs_f64()
        );
        out.push(run_throughput(
            ctx,
            "remote_write",
            &variant,
            "/api/v1/write",
            proto::headers(),
            payloads,
            o.rw_duration,
            Some(1_000_000.0),
        ));
    }
    out
}

/// Series `0..n` dealt to `shards` clients (`i % shards`), like Prometheus' remote_write shards:
/// each series is sent by one client only, so its samples arrive in time order.
pub(crate) fn shard_series(n: usize, shards: usize) -> Vec<Vec<usize>> {
    let shards = shards.max(1);
    (0..shards)
        .map(|s| (s..n).step_by(shards).collect())
        .collect()
}

/// Text exposition bodies: the universe's series, one sample per series per 10 s round, rounds
/// ending now, `batch_lines` lines per body, about `max_samples` samples in all, one body list
/// per client.
fn import_payloads(
    series: usize,
    batch_lines: usize,
    max_samples: u64,
    shards: usize,
) -> Vec<Vec<Payload>> {
    let series = series.max(1);
    let batch_lines = batch_lines.max(1);
    let rounds = (max_samples as usize).div_ceil(series);
    let base = aligned_now_ms() - rounds as i64 * INTERVAL_MS;
    let prefixes: Vec<String> = (0..series)
        .map(|i| workload::text_series(&workload::universe_labels("bench_import_", i)))
        .collect();
    let cap = max_samples.div_ceil(shards.max(1) as u64);
    shard_series(series, shards)
        .into_iter()
        .map(|ids| {
            let mut out = Vec::new();
            let mut body = String::with_capacity(batch_lines * 128);
            let mut lines = 0u64;
            let mut count = 0u64;
            'rounds: for r in 0..rounds {
                for &i in &ids {
                    if count == cap {
                        break 'rounds;
                    }
                    let v = workload::universe_value(i, r);
                    let ts = base + r as i64 * INTERVAL_MS;
                    body.push_str(&prefixes[i]);
                    body.push_str(&format!(" {v} {ts}\n"));
                    lines += 1;
                    count += 1;
                    if lines as usize == batch_lines {
                        out.push(Payload {
                            body: Bytes::from(std::mem::take(&mut body).into_bytes()),
                            samples: lines,
                        });
                        body.reserve(batch_lines * 128);
                        lines = 0;
                    }
                }
            }
            if lines > 0 {
                out.push(Payload {
                    body: Bytes::from(body.into_bytes()),
                    samples: lines,
                });
            }
            out
        })
        .collect()
}

/// remote_write bodies of `shape.series` series x `shape.samples` samples, time-major over each
/// client's series (every series gets `shape.samples` consecutive 10 s samples before time moves
/// on), about `max_samples` samples in all, one body list per client.
fn rw_payloads(
    series: usize,
    shape: Shape,
    max_samples: u64,
    shards: usize,
) -> Result<Vec<Vec<Payload>>> {
    let series = series.max(1);
    if shape.series == 0 || shape.samples == 0 {
        bail!("empty shape");
    }
    let per_block = (series * shape.samples) as u64;
    let blocks = max_samples.div_ceil(per_block).max(1) as usize;
    let rounds = blocks * shape.samples;
    let base = aligned_now_ms() - rounds as i64 * INTERVAL_MS;
    let labels = universe_proto_labels("bench_rw_", series);
    let cap = max_samples.div_ceil(shards.max(1) as u64);
    let mut out = Vec::new();
    for ids in shard_series(series, shards) {
        let mut bodies = Vec::new();
        let mut total = 0u64;
        'blocks: for b in 0..blocks {
            for chunk in ids.chunks(shape.series) {
                let mut req = proto::WriteRequest::default();
                let mut n = 0u64;
                for &i in chunk {
                    let samples = (0..shape.samples)
                        .map(|s| {
                            let r = b * shape.samples + s;
                            proto::Sample {
                                value: workload::universe_value(i, r),
                                timestamp: base + r as i64 * INTERVAL_MS,
                            }
                        })
                        .collect::<Vec<_>>();
                    n += samples.len() as u64;
                    req.timeseries.push(proto::TimeSeries {
                        labels: labels[i].clone(),
                        samples,
                    });
                }
                bodies.push(Payload {
                    body: proto::encode(&req)?,
                    samples: n,
                });
                total += n;
                if total >= cap {
                    break 'blocks;
                }
            }
        }
        out.push(bodies);
    }
    Ok(out)
}

/// Protobuf labels of the first `n` universe series.
pub(crate) fn universe_proto_labels(prefix: &str, n: usize) -> Vec<Vec<proto::Label>> {
    (0..n)
        .map(|i| {
            let pairs = workload::universe_labels(prefix, i);
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            proto::labels(&refs)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn run_throughput(
    ctx: &Ctx,
    scenario: &str,
    variant: &str,
    path: &str,
    headers: HeaderMap,
    payloads: Vec<Vec<Payload>>,
    duration: Duration,
    target: Option<f64>,
) -> ScenarioReport {
    match throughput_inner(
        ctx, scenario, variant, path, headers, payloads, duration, target,
    ) {
        Ok(r) => r,
        Err(e) => ScenarioReport::failed(scenario, variant, format!("{e:#}")),
    }
}

#[allow(clippy::too_many_arguments)]
fn throughput_inner(
    ctx: &Ctx,
    scenario: &str,
    variant: &str,
    path: &str,
    headers: HeaderMap,
    payloads: Vec<Vec<Payload>>,
    duration: Duration,
    target: Option<f64>,
) -> Result<ScenarioReport> {
    let pool_samples: u64 = payloads.iter().flatten().map(|p| p.samples).sum();
    let clients = payloads.len();
    let name = format!("{scenario}-{}", ctx.next_id());
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    let base = server.base_url();
    std::thread::sleep(Duration::from_millis(300));
    let m0 = ctx.rt.block_on(http::read_metrics(&ctx.client, &base))?;
    let cpu0 = server.cpu_seconds();
    let own0 = procfs::own_cpu_seconds();
    eprintln!(
        "{scenario}: {variant}: sending for up to {:.0} s ...",
        duration.as_secs_f64()
    );
    let url = format!("{base}{path}");
    let load: LoadResult = ctx.rt.block_on(http::run_load(
        &ctx.client,
        &url,
        headers,
        payloads,
        Some(duration),
    ));
    let secs = load.elapsed.as_secs_f64();
    let server_cpu = (server.cpu_seconds() - cpu0) / secs;
    let bench_cpu = (procfs::own_cpu_seconds() - own0) / secs;

    // Cross-check: the server's own count of appended samples should reach what it acknowledged.
    let appended0 = m0.get("samples_appended").copied().flatten();
    let mut appended = None;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let m = ctx.rt.block_on(http::read_metrics(&ctx.client, &base))?;
        appended = m
            .get("samples_appended")
            .copied()
            .flatten()
            .map(|a| a - appended0.unwrap_or(0.0));
        if appended.is_none_or(|a| a >= load.samples_ok as f64) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let mem = server.mem();
    let shutdown = server.terminate(Duration::from_secs(120));
    let disk = procfs::dir_size(&ctx.data_dir(&name)).ok();

    let rate = load.samples_ok as f64 / secs;
    let mut r = ScenarioReport::new(scenario, variant);
    r.value = Some(rate);
    r.result = format!("{} samples/s", fmt_int(rate));
    if load.errors > 0 {
        r.result
            .push_str(&format!(" ({} failed requests)", load.errors));
    }
    r.p50_ms = http::quantile_ms(&load.latencies, 0.5);
    r.p99_ms = http::quantile_ms(&load.latencies, 0.99);
    r.rss_peak = Some(mem.hwm);
    r.server_cpu = Some(server_cpu);
    r.disk_bytes = disk.map(|d| d.total);
    if let Some(t) = target {
        r.target = Some(format!(">= {} samples/s", fmt_int(t)));
        r.met = Some(rate >= t && load.errors == 0);
    }
    let p999 = http::quantile_ms(&load.latencies, 0.999);
    let max = load.latencies.last().map(|d| d.as_secs_f64() * 1000.0);
    r.details_md = format!(
        "| samples acked | requests ok | failed | 429/503 retried | elapsed | samples/s | p50 | p99 | p99.9 | max | server CPU | bench CPU | RSS / peak |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {:.2} s | {} | {} | {} | {} | {} | {:.2} cores | {:.2} cores | {} / {} |\n",
        fmt_int(load.samples_ok as f64),
        fmt_int(load.requests_ok as f64),
        load.errors,
        load.backpressure,
        secs,
        fmt_int(rate),
        r.p50_ms.map(fmt_ms).unwrap_or_default(),
        r.p99_ms.map(fmt_ms).unwrap_or_default(),
        p999.map(fmt_ms).unwrap_or_default(),
        max.map(fmt_ms).unwrap_or_default(),
        server_cpu,
        bench_cpu,
        fmt_bytes(mem.rss),
        fmt_bytes(mem.hwm),
    );
    if let Some(e) = &load.first_error {
        r.notes.push(format!("first failure: {e}"));
    }
    if load.pool_exhausted {
        r.notes.push(format!(
            "all {} pre-encoded samples were sent before the {:.0} s deadline; the rate is over \
             the shorter run (raise the --*-max-samples option for a longer one)",
            fmt_int(pool_samples as f64),
            duration.as_secs_f64()
        ));
    }
    match appended {
        Some(a) if a + 0.5 < load.samples_ok as f64 => r.notes.push(format!(
            "WARNING: the server acknowledged {} samples but argus_storage_samples_appended_total \
             rose by only {} within 10 s",
            fmt_int(load.samples_ok as f64),
            fmt_int(a)
        )),
        Some(a) => r.notes.push(format!(
            "argus_storage_samples_appended_total rose by {} (acknowledged {})",
            fmt_int(a),
            fmt_int(load.samples_ok as f64)
        )),
        None => r
            .notes
            .push("argus_storage_samples_appended_total not found on /metrics".into()),
    }
    if let Err(e) = shutdown {
        r.notes.push(format!("shutdown: {e:#}"));
    }
    r.notes.push(format!(
        "client and server share this machine's {} cores; the client ran {} connection(s) on {} \
         runtime thread(s)",
        ctx.machine_cores(),
        clients,
        ctx.opts.client_threads
    ));
    r.details = serde_json::json!({
        "samples_acked": load.samples_ok,
        "requests_ok": load.requests_ok,
        "failed_requests": load.errors,
        "backpressure_retries": load.backpressure,
        "elapsed_s": secs,
        "samples_per_s": rate,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "p999_ms": p999,
        "max_ms": max,
        "server_cpu_cores": server_cpu,
        "bench_cpu_cores": bench_cpu,
        "rss": mem.rss,
        "rss_peak": mem.hwm,
        "appended_delta": appended,
        "pool_samples": pool_samples,
        "pool_exhausted": load.pool_exhausted,
        "data_dir": disk,
    });
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn import_bodies_have_the_requested_lines() {
        let shards = import_payloads(100, 30, 95, 1);
        assert_eq!(shards.len(), 1);
        let p = &shards[0];
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].samples, 30);
        assert_eq!(p[3].samples, 5);
        let text = std::str::from_utf8(&p[0].body).unwrap();
        assert_eq!(text.lines().count(), 30);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("bench_import_node_cpu_seconds_total{"));
        assert_eq!(first.split(' ').count(), 3);
    }

    #[test]
    fn rw_bodies_decode() {
        let shape = Shape {
            series: 10,
            samples: 3,
        };
        let shards = rw_payloads(25, shape, 200, 1).unwrap();
        let p = &shards[0];
        let total: u64 = p.iter().map(|p| p.samples).sum();
        assert!(total >= 200);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&p[2].body)
            .unwrap();
        let req = proto::WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 5);
        assert_eq!(req.timeseries[0].samples.len(), 3);
        let ts: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(ts[1] - ts[0], INTERVAL_MS);
    }

    #[test]
    fn shards_partition_series() {
        let s = shard_series(10, 3);
        assert_eq!(s, vec![vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]);
        let shards = import_payloads(10, 4, 40, 3);
        let total: u64 = shards.iter().flatten().map(|p| p.samples).sum();
        assert_eq!(total, 14 + 12 + 12);
    }
}
