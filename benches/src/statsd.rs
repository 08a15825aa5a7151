//! Scenario `statsd`: the highest StatsD UDP line rate the server sustains with < 0.1 % loss.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::http;
use crate::procfs;
use crate::report::{ScenarioReport, fmt_bytes, fmt_int, fmt_pct};
use crate::server::ServerOpts;
use crate::{Ctx, Opts};

const LOSS_LIMIT: f64 = 0.001;

#[derive(Debug, Clone, Serialize)]
struct Step {
    lines_per_packet: usize,
    target_lines_per_s: u64,
    achieved_lines_per_s: f64,
    lines_sent: u64,
    packets_sent: u64,
    send_errors: u64,
    /// Sum of the counters' latest totals read back through /api/v1/export.
    lines_stored: Option<f64>,
    series_read_back: usize,
    /// `argus_ingest_statsd_lines_total{transport="udp"}`.
    lines_counted: Option<f64>,
    rejects: Option<f64>,
    loss_storage: Option<f64>,
    loss_metrics: Option<f64>,
    kernel_rcvbuf_drops: u64,
    server_cpu_cores: f64,
    bench_cpu_cores: f64,
    rss: u64,
    rss_peak: u64,
    passed: bool,
    note: Option<String>,
}

/// Runs every configured packing (lines per packet), stepping the rate up per packing.
pub(crate) fn run(ctx: &Ctx) -> Vec<ScenarioReport> {
    let o = &ctx.opts;
    let mut out = Vec::new();
    for &lpp in &o.statsd_lines_per_packet {
        let variant = format!("{lpp} line{} per packet", if lpp == 1 { "" } else { "s" });
        let mut steps = Vec::new();
        let mut error = None;
        for &rate in &o.statsd_rates {
            eprintln!(
                "statsd: {variant}, target {} lines/s ...",
                fmt_int(rate as f64)
            );
            match run_step(ctx, lpp, rate) {
                Ok(step) => {
                    eprintln!(
                        "statsd:   achieved {} lines/s, loss storage {} / metrics {}, {}",
                        fmt_int(step.achieved_lines_per_s),
                        opt_pct(step.loss_storage),
                        opt_pct(step.loss_metrics),
                        if step.passed { "pass" } else { "FAIL" }
                    );
                    let passed = step.passed;
                    let sender_bound = step.achieved_lines_per_s < 0.9 * rate as f64;
                    steps.push(step);
                    if !passed {
                        break;
                    }
                    if sender_bound {
                        eprintln!("statsd:   the sender cannot go faster; stopping the ramp");
                        break;
                    }
                }
                Err(e) => {
                    error = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        out.push(summarise(o, lpp, variant, steps, error));
    }
    out
}

fn opt_pct(v: Option<f64>) -> String {
    v.map(fmt_pct).unwrap_or_else(|| "n/a".into())
}

fn summarise(
    o: &Opts,
    lpp: usize,
    variant: String,
    steps: Vec<Step>,
    error: Option<String>,
) -> ScenarioReport {
    let best = steps
        .iter()
        .filter(|s| s.passed)
        .max_by(|a, b| a.achieved_lines_per_s.total_cmp(&b.achieved_lines_per_s));
    let mut r = ScenarioReport::new("statsd", &variant);
    r.error = error;
    if let Some(b) = best {
        r.value = Some(b.achieved_lines_per_s);
        r.result = format!(
            "{} lines/s sustained (loss {})",
            fmt_int(b.achieved_lines_per_s),
            opt_pct(b.loss_storage.or(b.loss_metrics))
        );
        r.rss_peak = Some(b.rss_peak);
        r.server_cpu = Some(b.server_cpu_cores);
    } else if r.error.is_none() {
        r.result = "no rate passed".into();
    }
    if lpp == 10 {
        r.target = Some(">= 1,000,000 lines/s, < 0.1 % loss".into());
        r.met = Some(best.is_some_and(|b| b.achieved_lines_per_s >= 1_000_000.0));
    }
    if steps
        .last()
        .is_some_and(|s| s.passed && s.achieved_lines_per_s < 0.9 * s.target_lines_per_s as f64)
    {
        r.notes.push(
            "the ramp stopped because the single sender could not reach the next rate: \
             the figure is a lower bound set by the load generator on this machine"
                .into(),
        );
    }
    r.notes.push(format!(
        "{} sender thread(s), {} counters, {} s per step, flush interval {}; sender and server \
         share this machine's cores",
        o.statsd_senders,
        o.statsd_counters,
        o.statsd_duration.as_secs_f64(),
        humantime::format_duration(o.statsd_flush_interval)
    ));
    let mut md = String::new();
    md.push_str(
        "| target lines/s | achieved lines/s | lines sent | loss (storage read-back) | loss (/metrics) | kernel rcvbuf drops | rejects | server CPU (cores) | bench CPU (cores) | server RSS / peak | pass |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|\n",
    );
    for s in &steps {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} / {} | {} |\n",
            fmt_int(s.target_lines_per_s as f64),
            fmt_int(s.achieved_lines_per_s),
            fmt_int(s.lines_sent as f64),
            opt_pct(s.loss_storage),
            opt_pct(s.loss_metrics),
            fmt_int(s.kernel_rcvbuf_drops as f64),
            s.rejects.map(fmt_int).unwrap_or_else(|| "n/a".into()),
            s.server_cpu_cores,
            s.bench_cpu_cores,
            fmt_bytes(s.rss),
            fmt_bytes(s.rss_peak),
            if s.passed { "yes" } else { "no" },
        ));
    }
    for s in &steps {
        if let Some(n) = &s.note {
            md.push_str(&format!(
                "\n- at {} lines/s: {n}",
                fmt_int(s.target_lines_per_s as f64)
            ));
        }
    }
    r.details_md = md;
    r.details = serde_json::to_value(&steps).unwrap_or_default();
    r
}

fn run_step(ctx: &Ctx, lpp: usize, rate: u64) -> Result<Step> {
    let o = &ctx.opts;
    let name = format!("statsd-{lpp}lpp-{rate}");
    let server = ctx.start_server(
        &name,
        &ServerOpts {
            flush_interval: o.statsd_flush_interval,
            ..ServerOpts::default()
        },
    )?;
    let addr = server
        .statsd
        .context("the ready line has no \"statsd\" address")?;
    let base = server.base_url();
    std::thread::sleep(Duration::from_millis(500));

    let packets = Arc::new(build_packets(o.statsd_counters, lpp));
    let before_metrics = ctx.rt.block_on(http::read_metrics(&ctx.client, &base))?;
    let udp0 = procfs::udp_counters();
    let cpu0 = server.cpu_seconds();
    let own0 = procfs::own_cpu_seconds();
    let t0 = Instant::now();
    let senders = o.statsd_senders.max(1);
    let per_sender = rate as f64 / senders as f64;
    let handles: Vec<_> = (0..senders)
        .map(|k| {
            let packets = packets.clone();
            let duration = o.statsd_duration;
            std::thread::spawn(move || {
                send_paced(
                    addr,
                    &packets,
                    k * packets.len() / senders,
                    lpp,
                    per_sender,
                    duration,
                )
            })
        })
        .collect();
    let mut sent = SendStats::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| anyhow::anyhow!("sender thread panicked"))??;
        sent.packets += s.packets;
        sent.lines += s.lines;
        sent.errors += s.errors;
    }
    let send_elapsed = t0.elapsed();
    let server_cpu = (server.cpu_seconds() - cpu0) / send_elapsed.as_secs_f64();
    let bench_cpu = (procfs::own_cpu_seconds() - own0) / send_elapsed.as_secs_f64();

    // Wait for the flushes that carry the last lines, until the read-back stops changing.
    let selector = "{__name__=~\"bench_statsd_c[0-9]+.*\"}";
    let start_s = unix_now_s() - send_elapsed.as_secs_f64() - 600.0;
    let min_wait = o.statsd_flush_interval * 2 + Duration::from_millis(300);
    let max_wait = (o.statsd_flush_interval * 6).max(Duration::from_secs(15));
    let waited = Instant::now();
    let mut last: Option<(f64, usize)> = None;
    let mut stable = 0;
    let mut readback: Result<(f64, usize)> = Err(anyhow::anyhow!("no read-back yet"));
    while waited.elapsed() < max_wait {
        std::thread::sleep(Duration::from_millis(500));
        readback = ctx
            .rt
            .block_on(read_counters(ctx, &base, selector, start_s));
        if let Ok((total, n)) = readback {
            if last.is_some_and(|(t, _)| t == total) {
                stable += 1;
            } else {
                stable = 0;
            }
            last = Some((total, n));
            let done = total >= sent.lines as f64 || stable >= 2;
            if done && waited.elapsed() >= min_wait {
                break;
            }
        }
    }
    let after_metrics = ctx.rt.block_on(http::read_metrics(&ctx.client, &base))?;
    let udp = procfs::udp_counters().delta(udp0);
    let mem = server.mem();
    let shutdown = server.terminate(Duration::from_secs(60));

    let delta = |k: &str| -> Option<f64> {
        let a = after_metrics.get(k).copied().flatten()?;
        let b = before_metrics.get(k).copied().flatten().unwrap_or(0.0);
        Some(a - b)
    };
    let lines_counted = delta("statsd_lines_udp");
    let rejects = delta("statsd_rejects");
    let sent_f = sent.lines as f64;
    let loss = |got: f64| {
        if sent_f > 0.0 {
            1.0 - got / sent_f
        } else {
            0.0
        }
    };
    let (lines_stored, series_read_back, mut note) = match readback {
        Ok((t, n)) => (Some(t), n, None),
        Err(e) => (None, 0, Some(format!("storage read-back failed: {e:#}"))),
    };
    let loss_storage = lines_stored.map(loss);
    let loss_metrics = lines_counted.map(loss);
    let decisive = loss_storage.or(loss_metrics);
    let mut passed = decisive.is_some_and(|l| l < LOSS_LIMIT) && sent.errors == 0;
    if lines_stored.is_some_and(|t| t > sent_f) {
        passed = false;
        note = Some(format!(
            "storage holds MORE increments ({}) than were sent ({}): counters double-count",
            fmt_int(lines_stored.unwrap_or(0.0)),
            fmt_int(sent_f)
        ));
    }
    if series_read_back > 0 && series_read_back != o.statsd_counters {
        let msg = format!(
            "{} counter series read back, {} sent",
            series_read_back, o.statsd_counters
        );
        note = Some(match note {
            Some(n) => format!("{n}; {msg}"),
            None => msg,
        });
    }
    if let Err(e) = shutdown {
        let msg = format!("shutdown: {e:#}");
        note = Some(match note {
            Some(n) => format!("{n}; {msg}"),
            None => msg,
        });
    }
    Ok(Step {
        lines_per_packet: lpp,
        target_lines_per_s: rate,
        achieved_lines_per_s: sent_f / send_elapsed.as_secs_f64(),
        lines_sent: sent.lines,
        packets_sent: sent.packets,
        send_errors: sent.errors,
        lines_stored,
        series_read_back,
        lines_counted,
        rejects,
        loss_storage,
        loss_metrics,
        kernel_rcvbuf_drops: udp.rcvbuf_errors,
        server_cpu_cores: server_cpu,
        bench_cpu_cores: bench_cpu,
        rss: mem.rss,
        rss_peak: mem.hwm,
        passed,
        note,
    })
}

/// Sum of the latest value of every counter series, and the number of series.
async fn read_counters(
    ctx: &Ctx,
    base: &str,
    selector: &str,
    start_s: f64,
) -> Result<(f64, usize)> {
    let mut total = 0.0;
    http::export_each(
        &ctx.client,
        base,
        selector,
        Some(start_s),
        Some(unix_now_s() + 600.0),
        |s| {
            let latest = s
                .timestamps
                .iter()
                .zip(&s.values)
                .max_by_key(|(t, _)| **t)
                .map(|(_, v)| *v);
            if s.timestamps.len() != s.values.len() {
                bail!(
                    "export: {} values but {} timestamps",
                    s.values.len(),
                    s.timestamps.len()
                );
            }
            total += latest.unwrap_or(0.0);
            Ok(())
        },
    )
    .await
    .map(|n| (total, n))
}

pub(crate) fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Packets of `lpp` lines each, cycling over `counters` names so that every name appears
/// equally often; each line is a `+1` increment.
fn build_packets(counters: usize, lpp: usize) -> Vec<Vec<u8>> {
    let counters = counters.max(1);
    let lpp = lpp.max(1);
    // Enough packets that the cycle covers every counter a whole number of times.
    let n_lines = counters * lpp / gcd(counters, lpp);
    let mut packets = Vec::with_capacity(n_lines / lpp);
    let mut packet = Vec::new();
    for i in 0..n_lines {
        if !packet.is_empty() {
            packet.push(b'\n');
        }
        packet.extend_from_slice(format!("bench_statsd_c{}:1|c", i % counters).as_bytes());
        if (i + 1) % lpp == 0 {
            packets.push(std::mem::take(&mut packet));
        }
    }
    packets
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[derive(Debug, Default)]
struct SendStats {
    packets: u64,
    lines: u64,
    errors: u64,
}

/// Sends packets at `lines_per_s` for `duration`, paced in bursts of at most ~0.5 ms worth of
/// packets, sleeping (never spinning) when ahead so the sender leaves CPU to the server.
fn send_paced(
    addr: SocketAddr,
    packets: &[Vec<u8>],
    offset: usize,
    lpp: usize,
    lines_per_s: f64,
    duration: Duration,
) -> Result<SendStats> {
    if packets.is_empty() {
        bail!("no packets");
    }
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(addr)?;
    let packet_rate = lines_per_s / lpp.max(1) as f64;
    let max_burst = ((packet_rate / 2000.0).ceil() as u64).max(1);
    let mut stats = SendStats::default();
    let mut idx = offset % packets.len();
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let due = (elapsed.as_secs_f64() * packet_rate) as u64 + 1;
        if stats.packets + stats.errors < due {
            let n = (due - stats.packets - stats.errors).min(max_burst);
            for _ in 0..n {
                match sock.send(&packets[idx]) {
                    Ok(_) => {
                        stats.packets += 1;
                        stats.lines += lpp as u64;
                    }
                    Err(_) => stats.errors += 1,
                }
                idx += 1;
                if idx == packets.len() {
                    idx = 0;
                }
            }
        } else {
            let next_due_s = (stats.packets + stats.errors) as f64 / packet_rate;
            let wait = next_due_s - elapsed.as_secs_f64();
            std::thread::sleep(Duration::from_secs_f64(wait.clamp(0.0002, 0.002)));
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_cover_counters_evenly() {
        let p = build_packets(1000, 10);
        assert_eq!(p.len(), 100);
        assert!(p[0].starts_with(b"bench_statsd_c0:1|c\nbench_statsd_c1:1|c"));
        assert_eq!(p[0].iter().filter(|b| **b == b'\n').count(), 9);
        let p = build_packets(1000, 1);
        assert_eq!(p.len(), 1000);
        let p = build_packets(7, 3);
        assert_eq!(p.len(), 7);
    }
}
