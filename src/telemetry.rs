//! Argus' own logs (tracing to stderr, text or JSON), the Apache combined access log of every
//! HTTP request, and HTTP metrics by route.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub(crate) fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub(crate) fn new(registry: &Registry) -> anyhow::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "argus_http_requests_total",
                "HTTP requests by route template, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "argus_http_request_duration_seconds",
                "HTTP request durations by route template.",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 4.0, 9)?),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(HttpMetrics { requests, duration })
    }
}

/// Logs each request as one Apache combined log line (target `access`) and counts it.
pub(crate) async fn access_log(
    State(metrics): State<HttpMetrics>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // axum's servers record the peer as ConnectInfo, tonic's (OTLP gRPC) as TcpConnectInfo.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| {
            req.extensions()
                .get::<tonic::transport::server::TcpConnectInfo>()
                .and_then(|c| c.remote_addr())
        })
        .map_or_else(|| "-".to_string(), |addr| addr.ip().to_string());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = req.method().clone();
    // HTTP/2 requests (gRPC) carry the absolute URI; the log line has the path as Apache's.
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |p| p.as_str());
    let request_line = format!("{} {} {:?}", method, target, req.version());
    // Copied out before the await: a borrow of the request (its body is not Sync) would make
    // this future non-Send.
    let (referer, agent) = {
        let headers = req.headers();
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        (get(header::REFERER), get(header::USER_AGENT))
    };
    let user = "-";
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        // Content-Length is added by hyper after this layer; the body knows its exact size
        // unless it is streamed (then "-", as Apache logs an unknown size).
        .or_else(|| {
            axum::body::HttpBody::size_hint(resp.body())
                .exact()
                .map(|n| n.to_string())
        })
        .unwrap_or_else(|| "-".to_string());
    let when = apache_time_now();
    tracing::info!(
        target: "access",
        "{peer} - {user} [{when}] \"{}\" {status} {bytes} \"{}\" \"{}\"",
        escape(&request_line),
        escape(&referer),
        escape(&agent)
    );
    metrics
        .requests
        .with_label_values(&[&route, method.as_str(), &status.to_string()])
        .inc();
    metrics
        .duration
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// Quotes and control characters in logged fields are escaped as Apache does (`\"`, `\xNN`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `[10/Oct/2000:13:55:36 +0000]` time, in UTC.
fn apache_time_now() -> String {
    // humantime writes "2000-10-10T13:55:36Z"; the fields are at fixed offsets.
    let iso = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = iso
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    format!(
        "{}/{month}/{}:{} +0000",
        iso.get(8..10).unwrap_or("01"),
        iso.get(0..4).unwrap_or("1970"),
        iso.get(11..19).unwrap_or("00:00:00"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_time_has_the_common_log_shape() {
        let t = apache_time_now();
        // 22/Nov/2026:01:02:03 +0000
        assert_eq!(t.len(), 26, "{t}");
        assert_eq!(&t[2..3], "/");
        assert_eq!(&t[6..7], "/");
        assert!(t.ends_with(" +0000"), "{t}");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("GET /a\"b\n"), "GET /a\\\"b\\x0a");
    }
}
