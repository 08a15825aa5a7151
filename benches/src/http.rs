//! HTTP side: a client for 127.0.0.1, `/metrics` parsing, streaming `/api/v1/export`, and the
//! closed-loop load runner used by the import and remote_write scenarios.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use reqwest::header::HeaderMap;

/// An HTTP/1.1 client without proxies (the targets are always 127.0.0.1).
pub(crate) fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// Percent-encodes a query-string component.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// GET `url`; the time from sending the request to the last byte of the answer, and the
/// answer. A status other than 2xx is an error carrying the start of the body.
pub(crate) async fn get_timed(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(Duration, Bytes)> {
    let t = Instant::now();
    let resp = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let took = t.elapsed();
    if !status.is_success() {
        bail!(
            "GET {url}: {status}: {}",
            truncate(&String::from_utf8_lossy(&body), 300)
        );
    }
    Ok((took, body))
}

/// Fetches `/metrics`.
pub(crate) async fn metrics_text(client: &reqwest::Client, base: &str) -> Result<String> {
    let resp = client.get(format!("{base}/metrics")).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("GET /metrics: {status}: {}", truncate(&body, 300));
    }
    Ok(body)
}

/// Sum of the samples of metric `name` in Prometheus text, optionally only those carrying the
/// label `filter.0="filter.1"`. `None` when no such sample exists.
pub(crate) fn metric_sum(text: &str, name: &str, filter: Option<(&str, &str)>) -> Option<f64> {
    let mut sum = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value_part) = if let Some(after) = rest.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                continue;
            };
            (&after[..end], &after[end + 1..])
        } else if rest.starts_with(' ') || rest.starts_with('\t') {
            ("", rest)
        } else {
            continue; // a longer metric name sharing the prefix
        };
        if let Some((k, v)) = filter {
            let want = format!("{k}=\"{v}\"");
            if !labels.split(',').any(|l| l.trim() == want) {
                continue;
            }
        }
        let Some(value) = value_part.split_whitespace().next() else {
            continue;
        };
        if let Ok(v) = parse_prom_float(value) {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

fn parse_prom_float(s: &str) -> Result<f64, std::num::ParseFloatError> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse(),
    }
}

/// Reads the named metrics from `/metrics`; missing ones are `None`.
pub(crate) async fn read_metrics(
    client: &reqwest::Client,
    base: &str,
) -> Result<BTreeMap<&'static str, Option<f64>>> {
    let text = metrics_text(client, base).await?;
    let mut out = BTreeMap::new();
    out.insert(
        "statsd_lines_udp",
        metric_sum(
            &text,
            "argus_ingest_statsd_lines_total",
            Some(("transport", "udp")),
        ),
    );
    out.insert(
        "statsd_rejects",
        metric_sum(&text, "argus_ingest_statsd_rejects_total", None),
    );
    out.insert(
        "samples_appended",
        metric_sum(&text, "argus_storage_samples_appended_total", None),
    );
    out.insert("series", metric_sum(&text, "argus_storage_series", None));
    Ok(out)
}

/// One series as `/api/v1/export` returns it.
#[derive(Debug, Clone)]
pub(crate) struct ExportedSeries {
    pub(crate) metric: BTreeMap<String, String>,
    pub(crate) values: Vec<f64>,
    pub(crate) timestamps: Vec<i64>,
}

#[derive(serde::Deserialize)]
struct ExportLine {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<serde_json::Value>,
    #[serde(default)]
    timestamps: Vec<i64>,
}

/// Streams `GET /api/v1/export?match[]=SELECTOR&start=&end=` and hands every series to `f`.
/// `start` and `end` are Unix seconds. Returns the number of series.
pub(crate) async fn export_each(
    client: &reqwest::Client,
    base: &str,
    selector: &str,
    start_s: Option<f64>,
    end_s: Option<f64>,
    mut f: impl FnMut(ExportedSeries) -> Result<()>,
) -> Result<usize> {
    let mut url = format!("{base}/api/v1/export?match[]={}", urlencode(selector));
    if let Some(s) = start_s {
        url.push_str(&format!("&start={s:.3}"));
    }
    if let Some(e) = end_s {
        url.push_str(&format!("&end={e:.3}"));
    }
    // A day of 1,000 series is hundreds of MB of JSON: allow far more than the client default.
    let mut resp = client
        .get(&url)
        .timeout(Duration::from_secs(1800))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("GET {url}: {status}: {}", truncate(&body, 300));
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut n = 0usize;
    let mut handle = |line: &[u8]| -> Result<()> {
        let line = trim_ascii(line);
        if line.is_empty() {
            return Ok(());
        }
        let parsed: ExportLine = serde_json::from_slice(line).with_context(|| {
            format!(
                "export line is not the documented JSON: {}",
                truncate(&String::from_utf8_lossy(line), 200)
            )
        })?;
        let values = parsed
            .values
            .iter()
            .map(json_to_f64)
            .collect::<Result<Vec<_>>>()?;
        n += 1;
        f(ExportedSeries {
            metric: parsed.metric,
            values,
            timestamps: parsed.timestamps,
        })
    };
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            handle(&buf[start..start + pos])?;
            start += pos + 1;
        }
        buf.drain(..start);
    }
    handle(&buf)?;
    Ok(n)
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

pub(crate) fn json_to_f64(v: &serde_json::Value) -> Result<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| anyhow!("bad number {n}")),
        serde_json::Value::String(s) => {
            parse_prom_float(s).map_err(|_| anyhow!("bad sample value {s:?}"))
        }
        other => bail!("bad sample value {other}"),
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

/// A pre-encoded request body and the number of samples it carries.
#[derive(Clone)]
pub(crate) struct Payload {
    pub(crate) body: Bytes,
    pub(crate) samples: u64,
}

/// What a load run achieved.
#[derive(Debug, Default, Clone)]
pub(crate) struct LoadResult {
    pub(crate) requests_ok: u64,
    pub(crate) samples_ok: u64,
    /// 429 / 503 answers (backpressure); those requests were retried.
    pub(crate) backpressure: u64,
    /// Other non-2xx answers and transport errors; those requests were not retried.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    /// Latency of every successful request.
    pub(crate) latencies: Vec<Duration>,
    /// Whether the run stopped because the payload pool ran out before the deadline.
    pub(crate) pool_exhausted: bool,
}

/// Closed-loop load: one task per shard POSTs that shard's payloads in order (each series
/// lives in exactly one shard, as with Prometheus' remote_write shards, so every series'
/// samples arrive in time order) until its shard is used up or `deadline` has passed.
/// 429/503 answers are retried after `Retry-After` (at most 1 s) like Prometheus does; other
/// failures are counted, not retried. Bounded in requests (the shards) and in time (the
/// deadline plus one request timeout).
pub(crate) async fn run_load(
    client: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
    shards: Vec<Vec<Payload>>,
    deadline: Option<Duration>,
) -> LoadResult {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for shard in shards {
        let client = client.clone();
        let url = url.to_string();
        let headers = headers.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = LoadResult::default();
            let mut pending = shard.into_iter();
            loop {
                if deadline.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                let Some(p) = pending.next() else {
                    r.pool_exhausted = true;
                    break;
                };
                let mut attempts = 0u32;
                loop {
                    attempts += 1;
                    let t = Instant::now();
                    let res = client
                        .post(&url)
                        .headers(headers.clone())
                        .body(p.body.clone())
                        .send()
                        .await;
                    match res {
                        Ok(resp) if resp.status().is_success() => {
                            // Read the (small) body so the connection is reused.
                            let _ = resp.bytes().await;
                            r.latencies.push(t.elapsed());
                            r.requests_ok += 1;
                            r.samples_ok += p.samples;
                            break;
                        }
                        Ok(resp)
                            if resp.status().as_u16() == 429 || resp.status().as_u16() == 503 =>
                        {
                            r.backpressure += 1;
                            let wait = resp
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.trim().parse::<f64>().ok())
                                .unwrap_or(0.1)
                                .clamp(0.01, 1.0);
                            let _ = resp.bytes().await;
                            let out_of_time = deadline.is_some_and(|d| start.elapsed() >= d);
                            if attempts >= 600 || out_of_time {
                                r.errors += 1;
                                r.first_error.get_or_insert_with(|| {
                                    "gave up after repeated 429/503 answers".into()
                                });
                                break;
                            }
                            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                        }
                        Ok(resp) => {
                            let status = resp.status();
                            let body = resp.text().await.unwrap_or_default();
                            r.errors += 1;
                            r.first_error.get_or_insert_with(|| {
                                format!("{status}: {}", truncate(&body, 300))
                            });
                            break;
                        }
                        Err(e) => {
                            r.errors += 1;
                            r.first_error.get_or_insert_with(|| format!("{e:#}"));
                            break;
                        }
                    }
                }
            }
            r
        }));
    }
    let mut total = LoadResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.requests_ok += r.requests_ok;
                total.samples_ok += r.samples_ok;
                total.backpressure += r.backpressure;
                total.errors += r.errors;
                total.pool_exhausted |= r.pool_exhausted;
                if total.first_error.is_none() {
                    total.first_error = r.first_error;
                }
                total.latencies.extend(r.latencies);
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("task: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total.latencies.sort_unstable();
    total
}

/// The `q`-quantile (0..=1) of sorted durations, in milliseconds (nearest rank).
pub(crate) fn quantile_ms(sorted: &[Duration], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1].as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_filters_labels_and_prefixes() {
        let text = "# HELP x\n\
            argus_ingest_statsd_lines_total{transport=\"udp\"} 10\n\
            argus_ingest_statsd_lines_total{transport=\"tcp\"} 5\n\
            argus_ingest_statsd_lines_total_other 7\n\
            argus_storage_series 3 1700000000000\n";
        assert_eq!(
            metric_sum(
                text,
                "argus_ingest_statsd_lines_total",
                Some(("transport", "udp"))
            ),
            Some(10.0)
        );
        assert_eq!(
            metric_sum(text, "argus_ingest_statsd_lines_total", None),
            Some(15.0)
        );
        assert_eq!(metric_sum(text, "argus_storage_series", None), Some(3.0));
        assert_eq!(metric_sum(text, "missing", None), None);
    }

    #[test]
    fn quantiles() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&d, 0.5), Some(50.0));
        assert_eq!(quantile_ms(&d, 0.99), Some(99.0));
    }

    #[test]
    fn urlencode_selector() {
        assert_eq!(urlencode("{a=~\"b.*\"}"), "%7Ba%3D~%22b.%2A%22%7D");
    }
}
