//! Scenario `memory`: server RSS per active series.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::http::{self, Payload};
use crate::proto;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int};
use crate::server::{Server, ServerOpts};
use crate::throughput::{aligned_now_ms, shard_series, universe_proto_labels};
use crate::{Ctx, workload};

const TARGET_BYTES_PER_SERIES: f64 = 2048.0;
const SERIES_PER_REQUEST: usize = 1000;

pub(crate) fn run(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let variant = format!(
        "{} series x {} samples",
        fmt_int(o.memory_series as f64),
        o.memory_samples_per_series
    );
    vec![match inner(ctx, &variant) {
        Ok(r) => r,
        Err(e) => ScenarioReport::failed("memory", &variant, format!("{e:#}")),
    }]
}

/// remote_write bodies for series `from..to`, `rounds` samples each, 10 s apart, time-major,
/// one list per client (series dealt `i % clients`, so each series' samples stay in order).
fn payloads(
    labels: &[Vec<proto::Label>],
    from: usize,
    to: usize,
    rounds: usize,
    base_ms: i64,
    clients: usize,
) -> Result<Vec<Vec<Payload>>> {
    let mut out = Vec::new();
    for ids in shard_series(to - from, clients) {
        let mut bodies = Vec::new();
        for r in 0..rounds {
            for chunk in ids.chunks(SERIES_PER_REQUEST) {
                let mut req = proto::WriteRequest::default();
                for &k in chunk {
                    let i = from + k;
                    req.timeseries.push(proto::TimeSeries {
                        labels: labels[i].clone(),
                        samples: vec![proto::Sample {
                            value: workload::universe_value(i, r),
                            timestamp: base_ms + r as i64 * 10_000,
                        }],
                    });
                }
                bodies.push(Payload {
                    body: proto::encode(&req)?,
                    samples: chunk.len() as u64,
                });
            }
        }
        out.push(bodies);
    }
    Ok(out)
}

fn write(ctx: &Ctx, server: &Server, p: Vec<Vec<Payload>>) -> Result<Duration> {
    let expected: u64 = p.iter().flatten().map(|p| p.samples).sum();
    let load = ctx.rt.block_on(http::run_load(
        &ctx.client,
        &format!("{}/api/v1/write", server.base_url()),
        proto::headers(),
        p,
        None,
    ));
    if load.errors > 0 || load.samples_ok != expected {
        bail!(
            "remote_write failed: {} of {} samples acknowledged; first failure: {}",
            load.samples_ok,
            expected,
            load.first_error.unwrap_or_default()
        );
    }
    Ok(load.elapsed)
}

fn inner(ctx: &Ctx, variant: &str) -> Result<ScenarioReport> {
    let o = &ctx.opts;
    let n = o.memory_series.max(2);
    let rounds = o.memory_samples_per_series.max(1);
    let half = n / 2;
    eprintln!(
        "memory: encoding bodies for {} series ...",
        fmt_int(n as f64)
    );
    let labels = universe_proto_labels("bench_mem_", n);
    let base = aligned_now_ms() - rounds as i64 * 10_000;
    let first = payloads(&labels, 0, half, rounds, base, o.memory_clients)?;
    let second = payloads(&labels, half, n, rounds, base, o.memory_clients)?;
    drop(labels);

    let name = format!("memory-{}", ctx.next_id());
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    let base_url = server.base_url();
    // Idle: started, one scrape of /metrics served, then left alone.
    std::thread::sleep(Duration::from_secs(1));
    ctx.rt
        .block_on(http::metrics_text(&ctx.client, &base_url))?;
    std::thread::sleep(o.memory_settle.min(Duration::from_secs(2)));
    let idle = server.mem();
    eprintln!(
        "memory: idle RSS {}; writing the first {} series ...",
        fmt_bytes(idle.rss),
        fmt_int(half as f64)
    );
    let t = Instant::now();
    write(ctx, &server, first)?;
    std::thread::sleep(o.memory_settle);
    let mid = server.mem();
    eprintln!(
        "memory: RSS {} after {} series; writing the other {} ...",
        fmt_bytes(mid.rss),
        fmt_int(half as f64),
        fmt_int((n - half) as f64)
    );
    write(ctx, &server, second)?;
    let write_secs = t.elapsed().as_secs_f64();
    std::thread::sleep(o.memory_settle);
    let full = server.mem();
    let metrics = ctx
        .rt
        .block_on(http::read_metrics(&ctx.client, &base_url))?;
    let series_count = metrics.get("series").copied().flatten();
    let shutdown = server.terminate(Duration::from_secs(120));

    let per_series = full.rss.saturating_sub(idle.rss) as f64 / n as f64;
    let marginal = full.rss.saturating_sub(mid.rss) as f64 / (n - half) as f64;
    let mut r = ScenarioReport::new("memory", variant);
    r.value = Some(per_series);
    r.result = format!(
        "{:.0} bytes/series (RSS {} idle -> {} with {} series)",
        per_series,
        fmt_bytes(idle.rss),
        fmt_bytes(full.rss),
        fmt_int(n as f64)
    );
    r.rss_peak = Some(full.hwm);
    r.target = Some("<= 2 KiB/series".into());
    r.met = Some(per_series <= TARGET_BYTES_PER_SERIES);
    r.details_md = format!(
        "| point | series | RSS | peak RSS (VmHWM) |\n|---|---:|---:|---:|\n\
         | idle | 0 | {} | {} |\n| half | {} | {} | {} |\n| all | {} | {} | {} |\n\n\
         - average: (RSS(all) - RSS(idle)) / N = {:.0} bytes/series; marginal: (RSS(all) - RSS(half)) / (N/2) = {:.0} bytes/series\n\
         - argus_storage_series at the end: {}\n\
         - {} samples per series, {} series per request, written in {:.1} s; RSS read {} s after each phase\n",
        fmt_bytes(idle.rss),
        fmt_bytes(idle.hwm),
        fmt_int(half as f64),
        fmt_bytes(mid.rss),
        fmt_bytes(mid.hwm),
        fmt_int(n as f64),
        fmt_bytes(full.rss),
        fmt_bytes(full.hwm),
        per_series,
        marginal,
        series_count
            .map(fmt_int)
            .unwrap_or_else(|| "not on /metrics".into()),
        rounds,
        SERIES_PER_REQUEST,
        write_secs,
        o.memory_settle.as_secs_f64(),
    );
    if let Some(c) = series_count
        && c < n as f64
    {
        r.notes.push(format!(
            "WARNING: argus_storage_series is {} but {} series were written",
            fmt_int(c),
            fmt_int(n as f64)
        ));
    }
    if let Err(e) = shutdown {
        r.notes.push(format!("shutdown: {e:#}"));
    }
    r.details = serde_json::json!({
        "series": n,
        "samples_per_series": rounds,
        "idle": idle,
        "half": mid,
        "all": full,
        "bytes_per_series": per_series,
        "marginal_bytes_per_series": marginal,
        "argus_storage_series": series_count,
    });
    Ok(r)
}
