//! Scenario `disk`: bytes per sample on disk for a realistic day of data, with full read-back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::Ctx;
use crate::http::{self, Payload};
use crate::procfs::{self, DirSize};
use crate::proto;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int};
use crate::server::ServerOpts;
use crate::throughput::{aligned_now_ms, shard_series};
use crate::workload::{self, DiskWorkload};

const TARGET_BYTES_PER_SAMPLE: f64 = 1.5;

pub(crate) fn run(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let variant = format!(
        "{} series x {} h at {} ({:?} mix)",
        fmt_int(o.disk_series as f64),
        o.disk_hours,
        humantime::format_duration(o.disk_interval),
        o.disk_mix
    )
    .to_lowercase();
    vec![match inner(ctx, &variant) {
        Ok(r) => r,
        Err(e) => ScenarioReport::failed("disk", &variant, format!("{e:#}")),
    }]
}

#[derive(Debug, Default, serde::Serialize)]
struct Verify {
    series_expected: usize,
    series_found: usize,
    series_unexpected: usize,
    samples_read: u64,
    count_mismatches: usize,
    timestamp_mismatches: usize,
    value_mismatches: u64,
    examples: Vec<String>,
    read_seconds: f64,
}

impl Verify {
    fn ok(&self) -> bool {
        self.series_found == self.series_expected
            && self.series_unexpected == 0
            && self.count_mismatches == 0
            && self.timestamp_mismatches == 0
            && self.value_mismatches == 0
    }
}

fn inner(ctx: &Ctx, variant: &str) -> Result<ScenarioReport> {
    let o = &ctx.opts;
    let interval_ms = o.disk_interval.as_millis() as i64;
    if interval_ms <= 0 {
        bail!("--disk-interval must be positive");
    }
    let n_samples = ((o.disk_hours * 3_600_000.0) / interval_ms as f64).round() as usize;
    // The day ends ten minutes ago: all of it is history, none of it in the future.
    let start_ms = aligned_now_ms() - n_samples as i64 * interval_ms - 600_000;
    eprintln!("disk: generating {variant} ...");
    let t = Instant::now();
    let w = workload::disk_workload(
        o.disk_series,
        n_samples,
        interval_ms,
        start_ms,
        o.disk_ts_jitter_ms,
        o.disk_seed,
        o.disk_mix,
    );
    let total = w.samples();
    let payloads = encode(&w, o.disk_samples_per_request, o.disk_clients)?;
    eprintln!(
        "disk: {} samples in {} bodies ({}), prepared in {:.1} s",
        fmt_int(total as f64),
        payloads.iter().map(Vec::len).sum::<usize>(),
        fmt_bytes(payloads.iter().flatten().map(|p| p.body.len() as u64).sum()),
        t.elapsed().as_secs_f64()
    );

    let name = format!("disk-{}", ctx.next_id());
    let data_dir = ctx.data_dir(&name);
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    let base = server.base_url();
    let m0 = ctx.rt.block_on(http::read_metrics(&ctx.client, &base))?;
    eprintln!("disk: writing through remote_write ...");
    let load = ctx.rt.block_on(http::run_load(
        &ctx.client,
        &format!("{base}/api/v1/write"),
        proto::headers(),
        payloads,
        None,
    ));
    if load.errors > 0 || load.samples_ok != total {
        bail!(
            "writing the workload failed: {} of {} samples acknowledged, {} failed requests; first failure: {}",
            load.samples_ok,
            total,
            load.errors,
            load.first_error.unwrap_or_default()
        );
    }
    let write_rate = total as f64 / load.elapsed.as_secs_f64();
    let m1 = ctx.rt.block_on(http::read_metrics(&ctx.client, &base))?;
    let appended = match (
        m1.get("samples_appended").copied().flatten(),
        m0.get("samples_appended").copied().flatten(),
    ) {
        (Some(a), b) => Some(a - b.unwrap_or(0.0)),
        _ => None,
    };
    let before = procfs::dir_size(&data_dir)?;
    let mem = server.mem();
    eprintln!(
        "disk: {} samples written at {} samples/s; stopping the server (SIGTERM) ...",
        fmt_int(total as f64),
        fmt_int(write_rate)
    );
    let shutdown = server.terminate(Duration::from_secs(600))?;
    let after = procfs::dir_size(&data_dir)?;

    eprintln!("disk: restarting on the same data directory and reading everything back ...");
    let server = ctx.start_server(&name, &ServerOpts::default())?;
    let verify = ctx
        .rt
        .block_on(verify(ctx, &server.base_url(), &w, interval_ms))?;
    let after_restart = procfs::dir_size(&data_dir)?;
    let _ = server.terminate(Duration::from_secs(600));

    let counters = w.series.iter().filter(|s| s.kind.is_counter()).count();
    let bps = after.total as f64 / total as f64;
    let mut r = ScenarioReport::new("disk", variant);
    r.value = Some(bps);
    r.result = format!(
        "{:.3} bytes/sample ({} for {} samples){}",
        bps,
        fmt_bytes(after.total),
        fmt_int(total as f64),
        if verify.ok() {
            ", read-back exact"
        } else {
            ", READ-BACK FAILED"
        }
    );
    r.disk_bytes = Some(after.total);
    r.rss_peak = Some(mem.hwm);
    r.target = Some(format!("<= {TARGET_BYTES_PER_SAMPLE} bytes/sample"));
    r.met = Some(bps <= TARGET_BYTES_PER_SAMPLE && verify.ok());
    let row = |stage: &str, d: &DirSize| -> String {
        format!(
            "| {stage} | {} | {:.3} | {:.3} | {} | {} | {} | {} | {} |\n",
            fmt_bytes(d.total),
            d.total as f64 / total as f64,
            (d.total - d.info_log) as f64 / total as f64,
            fmt_bytes(d.sst),
            fmt_bytes(d.wal),
            fmt_bytes(d.info_log),
            fmt_bytes(d.other),
            d.files,
        )
    };
    let mut md = String::new();
    md.push_str(
        "| stage | data dir | bytes/sample | bytes/sample without info LOG | *.sst | *.log/*.wal | info LOG | other | files |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    md.push_str(&row("after ingest, server running", &before));
    md.push_str(&row("after SIGTERM (flushed, compacted)", &after));
    md.push_str(&row("after restart and full read-back", &after_restart));
    md.push_str(&format!(
        "\n- written: {} samples ({} series: {} counters, {} gauges; x {} samples) through remote_write in {:.1} s = {} samples/s, {} samples/request, {} clients\n",
        fmt_int(total as f64),
        w.series.len(),
        counters,
        w.series.len() - counters,
        n_samples,
        load.elapsed.as_secs_f64(),
        fmt_int(write_rate),
        o.disk_samples_per_request * w.series.len().div_ceil(o.disk_clients.max(1)),
        o.disk_clients,
    ));
    md.push_str(&format!(
        "- shutdown after SIGTERM took {:.1} s; server RSS at end of ingest {} (peak {})\n",
        shutdown.as_secs_f64(),
        fmt_bytes(mem.rss),
        fmt_bytes(mem.hwm)
    ));
    if let Some(a) = appended {
        md.push_str(&format!(
            "- argus_storage_samples_appended_total rose by {}\n",
            fmt_int(a)
        ));
    }
    md.push_str(&format!(
        "- read-back after restart: {}/{} series, {} samples in {:.1} s ({} samples/s through /api/v1/export); count mismatches {}, timestamp mismatches {}, value mismatches {}, unexpected series {}\n",
        verify.series_found,
        verify.series_expected,
        fmt_int(verify.samples_read as f64),
        verify.read_seconds,
        fmt_int(verify.samples_read as f64 / verify.read_seconds.max(1e-9)),
        verify.count_mismatches,
        verify.timestamp_mismatches,
        verify.value_mismatches,
        verify.series_unexpected,
    ));
    for e in &verify.examples {
        md.push_str(&format!("  - {e}\n"));
    }
    r.details_md = md;
    r.notes.push(format!(
        "workload: per scrape target of {} series, 10 counters (5 request counts with Poisson \
         increments and a daily cycle, 3 byte counters, 2 CPU-seconds counters with 2 decimals; \
         ~3 % of counters reset once) and 10 noisy gauges (4 CPU percent with 1-2 decimals, 3 \
         memory byte counts, 2 latencies in seconds at ns resolution, 1 in ms with 3 decimals); \
         seed {}, timestamp jitter +-{} ms",
        workload::SERIES_PER_TARGET,
        o.disk_seed,
        o.disk_ts_jitter_ms
    ));
    r.details = serde_json::json!({
        "samples": total,
        "series": w.series.len(),
        "counter_series": counters,
        "bytes_per_sample": bps,
        "before_shutdown": before,
        "after_shutdown": after,
        "after_restart": after_restart,
        "write_samples_per_s": write_rate,
        "shutdown_s": shutdown.as_secs_f64(),
        "rss": mem.rss,
        "rss_peak": mem.hwm,
        "appended_delta": appended,
        "verify": verify,
    });
    Ok(r)
}

/// Time-major remote_write bodies, one list per client: the series are dealt to the clients
/// (`i % clients`, like Prometheus' shards) and every request carries `per_series` consecutive
/// samples of each of its client's series, so each series' timestamps only ever increase.
fn encode(w: &DiskWorkload, per_series: usize, clients: usize) -> Result<Vec<Vec<Payload>>> {
    let per_series = per_series.max(1);
    let labels: Vec<Vec<proto::Label>> = w
        .series
        .iter()
        .map(|s| {
            let refs: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            proto::labels(&refs)
        })
        .collect();
    let n = w.series.first().map(|s| s.values.len()).unwrap_or(0);
    let mut out = Vec::new();
    for ids in shard_series(w.series.len(), clients) {
        let mut bodies = Vec::new();
        for from in (0..n).step_by(per_series) {
            let to = (from + per_series).min(n);
            let mut req = proto::WriteRequest::default();
            let mut count = 0u64;
            for &i in &ids {
                let s = &w.series[i];
                let ts = &w.timestamps[s.target];
                let samples: Vec<proto::Sample> = (from..to)
                    .map(|k| proto::Sample {
                        value: s.values[k],
                        timestamp: ts[k],
                    })
                    .collect();
                count += samples.len() as u64;
                req.timeseries.push(proto::TimeSeries {
                    labels: labels[i].clone(),
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
        out.push(bodies);
    }
    Ok(out)
}

async fn verify(ctx: &Ctx, base: &str, w: &DiskWorkload, interval_ms: i64) -> Result<Verify> {
    let index: HashMap<Vec<(String, String)>, usize> = w
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut l = s.labels.clone();
            l.sort();
            (l, i)
        })
        .collect();
    let first = w.timestamps.iter().filter_map(|t| t.first()).min().copied();
    let last = w.timestamps.iter().filter_map(|t| t.last()).max().copied();
    let (Some(first), Some(last)) = (first, last) else {
        bail!("empty workload");
    };
    let start_s = (first - interval_ms) as f64 / 1000.0;
    let end_s = (last + interval_ms) as f64 / 1000.0;
    let mut v = Verify {
        series_expected: w.series.len(),
        ..Verify::default()
    };
    let mut seen = vec![false; w.series.len()];
    let t = Instant::now();
    http::export_each(
        &ctx.client,
        base,
        "{__name__=~\"bench_disk_.*\"}",
        Some(start_s),
        Some(end_s),
        |s| {
            v.samples_read += s.values.len() as u64;
            let key: Vec<(String, String)> = s.metric.into_iter().collect();
            let Some(&i) = index.get(&key) else {
                v.series_unexpected += 1;
                if v.examples.len() < 5 {
                    v.examples.push(format!("unexpected series {key:?}"));
                }
                return Ok(());
            };
            if seen[i] {
                v.series_unexpected += 1;
                if v.examples.len() < 5 {
                    v.examples
                        .push(format!("series {key:?} exported more than once"));
                }
                return Ok(());
            }
            seen[i] = true;
            v.series_found += 1;
            let want_v = &w.series[i].values;
            let want_t = &w.timestamps[w.series[i].target];
            if s.values.len() != want_v.len() || s.timestamps.len() != want_t.len() {
                v.count_mismatches += 1;
                if v.examples.len() < 5 {
                    v.examples.push(format!(
                        "{key:?}: {} values / {} timestamps read, {} written",
                        s.values.len(),
                        s.timestamps.len(),
                        want_v.len()
                    ));
                }
                return Ok(());
            }
            if s.timestamps != *want_t {
                v.timestamp_mismatches += 1;
                if v.examples.len() < 5
                    && let Some(k) = (0..want_t.len()).find(|&k| s.timestamps[k] != want_t[k])
                {
                    v.examples.push(format!(
                        "{key:?}: timestamp #{k} is {} but {} was written",
                        s.timestamps[k], want_t[k]
                    ));
                }
            }
            for (k, (got, want)) in s.values.iter().zip(want_v).enumerate() {
                if got != want && !(got.is_nan() && want.is_nan()) {
                    v.value_mismatches += 1;
                    if v.examples.len() < 5 {
                        v.examples.push(format!(
                            "{key:?}: value #{k} is {got:?} but {want:?} was written"
                        ));
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    v.read_seconds = t.elapsed().as_secs_f64();
    if v.series_found < v.series_expected
        && v.examples.len() < 5
        && let Some(i) = seen.iter().position(|s| !s)
    {
        v.examples
            .push(format!("missing series {:?}", w.series[i].labels));
    }
    Ok(v)
}
