//! Settings: every one is a flag, an `ARGUS_*` environment variable and a key of the config
//! file (`argus.toml` when present, or `--config FILE`), in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(
    name = "argus",
    version,
    about = "One-binary observability backend: metrics, logs, traces, alerting"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the server.
    Serve(ServeArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Flags of `argus serve`. Every field is optional here so that the config file can supply
/// what neither a flag nor the environment did.
#[derive(Args, Debug, Default)]
pub(crate) struct ServeArgs {
    /// Config file (TOML). Default: ./argus.toml if it exists.
    #[arg(long, env = "ARGUS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Where data lives. [default: ./data]
    #[arg(long, env = "ARGUS_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// HTTP listen address (UI, APIs, /metrics); port 0 picks a free port. [default: 0.0.0.0:8080]
    #[arg(long, env = "ARGUS_HTTP")]
    pub(crate) http: Option<SocketAddr>,
    /// StatsD listen address, UDP and TCP on the same port. [default: 0.0.0.0:8125]
    #[arg(long, env = "ARGUS_STATSD")]
    pub(crate) statsd: Option<SocketAddr>,
    /// How often StatsD aggregates are written, e.g. 10s. [default: 10s]
    #[arg(long, env = "ARGUS_STATSD_FLUSH_INTERVAL", value_parser = parse_duration)]
    pub(crate) statsd_flush_interval: Option<Duration>,
    /// Logstash json_lines TCP listen address; port 0 picks a free port. [default: 0.0.0.0:5000]
    #[arg(long, env = "ARGUS_LOGSTASH")]
    pub(crate) logstash: Option<SocketAddr>,
    /// OTLP gRPC listen address; port 0 picks a free port. [default: 0.0.0.0:4317]
    #[arg(long, env = "ARGUS_OTLP_GRPC")]
    pub(crate) otlp_grpc: Option<SocketAddr>,
    /// OTLP HTTP listen address (/v1/traces, /v1/logs, /v1/metrics); port 0 picks a free
    /// port. [default: 0.0.0.0:4318]
    #[arg(long, env = "ARGUS_OTLP_HTTP")]
    pub(crate) otlp_http: Option<SocketAddr>,
    /// How often span-derived series (request counts, latency histograms, service graph) are
    /// written, e.g. 10s. [default: 10s]
    #[arg(long, env = "ARGUS_SPAN_METRICS_INTERVAL", value_parser = parse_duration)]
    pub(crate) span_metrics_interval: Option<Duration>,
    /// statsd_exporter mapping file (YAML).
    #[arg(long, env = "ARGUS_STATSD_MAPPING")]
    pub(crate) statsd_mapping: Option<PathBuf>,
    /// Most StatsD series held at once; new ones beyond are rejected. [default: 100000]
    #[arg(long, env = "ARGUS_STATSD_MAX_SERIES")]
    pub(crate) statsd_max_series: Option<usize>,
    /// How long samples are kept; 0 keeps them forever. [default: 15d]
    #[arg(long, env = "ARGUS_RETENTION", value_parser = parse_duration)]
    pub(crate) retention: Option<Duration>,
    /// How far behind a series' newest sample a sample is still accepted. [default: 1h]
    #[arg(long, env = "ARGUS_OUT_OF_ORDER_WINDOW", value_parser = parse_duration)]
    pub(crate) out_of_order_window: Option<Duration>,
    /// Log format on stderr. [default: text]
    #[arg(long, env = "ARGUS_LOG_FORMAT", value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    /// Longest graceful shutdown before giving up. [default: 30s]
    #[arg(long, env = "ARGUS_SHUTDOWN_TIMEOUT", value_parser = parse_duration)]
    pub(crate) shutdown_timeout: Option<Duration>,
    /// How far back PromQL looks for a series' latest sample. [default: 5m]
    #[arg(long, env = "ARGUS_LOOKBACK_DELTA", value_parser = parse_duration)]
    pub(crate) lookback_delta: Option<Duration>,
    /// Longest a PromQL query may run, waiting for a slot included. [default: 2m]
    #[arg(long, env = "ARGUS_QUERY_TIMEOUT", value_parser = parse_duration)]
    pub(crate) query_timeout: Option<Duration>,
    /// Most samples one PromQL query may hold in memory. [default: 50000000]
    #[arg(long, env = "ARGUS_MAX_SAMPLES")]
    pub(crate) max_samples: Option<usize>,
    /// PromQL queries evaluated at once; more wait for a slot. [default: 20]
    #[arg(long, env = "ARGUS_MAX_CONCURRENT_QUERIES")]
    pub(crate) max_concurrent_queries: Option<usize>,
    /// Most series one selector of a query (or one /api/v1/series answer) may select; 0 for no
    /// limit. [default: 0]
    #[arg(long, env = "ARGUS_QUERY_MAX_SERIES")]
    pub(crate) query_max_series: Option<usize>,
    /// Directory of Prometheus rule files (*.yml, *.yaml), reloaded on SIGHUP, on change and
    /// on POST /-/reload. [default: ./rules]
    #[arg(long, env = "ARGUS_RULES")]
    pub(crate) rules: Option<PathBuf>,
    /// The URL users reach Argus at, for links in notifications (generatorURL, externalURL).
    /// [default: http://HOSTNAME:PORT of --http]
    #[arg(long, env = "ARGUS_EXTERNAL_URL")]
    pub(crate) external_url: Option<String>,
    /// Directory of dashboard files (YAML or JSON) the web UI lists. [default: ./dashboards]
    #[arg(long, env = "ARGUS_DASHBOARDS")]
    pub(crate) dashboards: Option<PathBuf>,
}

/// The config file's keys: the flags' names with underscores.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http: Option<SocketAddr>,
    statsd: Option<SocketAddr>,
    logstash: Option<SocketAddr>,
    otlp_grpc: Option<SocketAddr>,
    otlp_http: Option<SocketAddr>,
    span_metrics_interval: Option<String>,
    statsd_flush_interval: Option<String>,
    statsd_mapping: Option<PathBuf>,
    statsd_max_series: Option<usize>,
    retention: Option<String>,
    out_of_order_window: Option<String>,
    log_format: Option<LogFormat>,
    shutdown_timeout: Option<String>,
    lookback_delta: Option<String>,
    query_timeout: Option<String>,
    max_samples: Option<usize>,
    max_concurrent_queries: Option<usize>,
    query_max_series: Option<usize>,
    rules: Option<PathBuf>,
    /// `external_url`, receivers and routes; read again on reload ([`load_alerting_section`]).
    alerting: Option<toml::Table>,
    dashboards: Option<PathBuf>,
}

/// The config file's `[alerting]` table: the external URL, and receivers and routes
/// (`alerting::NotifyConfig`, documented in `alerting/docs/notifications.md`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertingSection {
    pub(crate) external_url: Option<String>,
    pub(crate) notify: alerting::NotifyConfig,
}

impl AlertingSection {
    fn from_table(mut table: toml::Table) -> anyhow::Result<AlertingSection> {
        let external_url = match table.remove("external_url") {
            None => None,
            Some(toml::Value::String(url)) => Some(url),
            Some(other) => bail!("alerting.external_url must be a string, got {other}"),
        };
        let notify: alerting::NotifyConfig =
            table.try_into().context("config section [alerting]")?;
        notify.validate().context("config section [alerting]")?;
        Ok(AlertingSection {
            external_url,
            notify,
        })
    }
}

/// The `[alerting]` table of a config file, read again for a reload.
pub(crate) fn load_alerting_section(path: &Path) -> anyhow::Result<AlertingSection> {
    match load_file(path)?.alerting {
        Some(table) => AlertingSection::from_table(table),
        None => Ok(AlertingSection::default()),
    }
}

/// Settings after precedence and validation.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) data_dir: PathBuf,
    pub(crate) http: SocketAddr,
    pub(crate) statsd: SocketAddr,
    pub(crate) logstash: SocketAddr,
    pub(crate) otlp_grpc: SocketAddr,
    pub(crate) otlp_http: SocketAddr,
    pub(crate) span_metrics_interval: Duration,
    pub(crate) statsd_flush_interval: Duration,
    pub(crate) statsd_mapping: Option<PathBuf>,
    pub(crate) statsd_max_series: usize,
    /// `None`: keep forever.
    pub(crate) retention: Option<Duration>,
    pub(crate) out_of_order_window: Duration,
    pub(crate) log_format: LogFormat,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) lookback_delta: Duration,
    pub(crate) query_timeout: Duration,
    pub(crate) max_samples: usize,
    pub(crate) max_concurrent_queries: usize,
    pub(crate) query_max_series: Option<usize>,
    pub(crate) rules_dir: PathBuf,
    pub(crate) external_url: String,
    pub(crate) notify: alerting::NotifyConfig,
    /// The config file the settings came from, re-read for `[alerting]` on reload.
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) dashboards: PathBuf,
}

/// Durations as `10s`, `5m`, `15d`, `1h30m`, `250ms`; a bare `0` is zero.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 10s, 5m, 15d)"))
}

impl ServeArgs {
    pub(crate) fn resolve(self) -> anyhow::Result<Settings> {
        let config_file = match &self.config {
            Some(path) => Some(path.clone()),
            None if Path::new("argus.toml").exists() => Some(PathBuf::from("argus.toml")),
            None => None,
        };
        let mut file = match &config_file {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let alerting = match file.alerting.take() {
            Some(table) => AlertingSection::from_table(table)?,
            None => AlertingSection::default(),
        };
        let file_duration = |key: &str, v: &Option<String>| -> anyhow::Result<Option<Duration>> {
            v.as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| anyhow::anyhow!("config key {key}: {e}"))
        };
        let flush = self
            .statsd_flush_interval
            .or(file_duration(
                "statsd_flush_interval",
                &file.statsd_flush_interval,
            )?)
            .unwrap_or(Duration::from_secs(10));
        if flush < Duration::from_millis(100) {
            bail!("statsd_flush_interval must be at least 100ms, got {flush:?}");
        }
        let span_metrics_interval = self
            .span_metrics_interval
            .or(file_duration(
                "span_metrics_interval",
                &file.span_metrics_interval,
            )?)
            .unwrap_or(Duration::from_secs(10));
        if span_metrics_interval < Duration::from_millis(100) {
            bail!("span_metrics_interval must be at least 100ms, got {span_metrics_interval:?}");
        }
        let retention = self
            .retention
            .or(file_duration("retention", &file.retention)?)
            .unwrap_or(Duration::from_secs(15 * 86_400));
        let lookback_delta = self
            .lookback_delta
            .or(file_duration("lookback_delta", &file.lookback_delta)?)
            .unwrap_or(Duration::from_secs(5 * 60));
        if lookback_delta < Duration::from_millis(1) {
            bail!("lookback_delta must be at least 1ms, got {lookback_delta:?}");
        }
        let query_timeout = self
            .query_timeout
            .or(file_duration("query_timeout", &file.query_timeout)?)
            .unwrap_or(Duration::from_secs(2 * 60));
        if query_timeout.is_zero() {
            bail!("query_timeout must be more than 0");
        }
        let max_samples = self.max_samples.or(file.max_samples).unwrap_or(50_000_000);
        if max_samples == 0 {
            bail!("max_samples must be at least 1");
        }
        let max_concurrent_queries = self
            .max_concurrent_queries
            .or(file.max_concurrent_queries)
            .unwrap_or(20);
        if max_concurrent_queries == 0 {
            bail!("max_concurrent_queries must be at least 1");
        }
        let query_max_series = self
            .query_max_series
            .or(file.query_max_series)
            .filter(|n| *n > 0);
        let http = self
            .http
            .or(file.http)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8080)));
        let external_url = self
            .external_url
            .or(alerting.external_url)
            .unwrap_or_else(|| default_external_url(http));
        let external_url = external_url.trim_end_matches('/').to_string();
        if !(external_url.starts_with("http://") || external_url.starts_with("https://")) {
            bail!("external_url must start with http:// or https://, got {external_url:?}");
        }
        Ok(Settings {
            query_max_series,
            rules_dir: self
                .rules
                .or(file.rules)
                .unwrap_or_else(|| PathBuf::from("rules")),
            external_url,
            notify: alerting.notify,
            config_file,
            dashboards: self
                .dashboards
                .or(file.dashboards)
                .unwrap_or_else(|| PathBuf::from("dashboards")),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            http,
            statsd: self
                .statsd
                .or(file.statsd)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8125))),
            logstash: self
                .logstash
                .or(file.logstash)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5000))),
            otlp_grpc: self
                .otlp_grpc
                .or(file.otlp_grpc)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 4317))),
            otlp_http: self
                .otlp_http
                .or(file.otlp_http)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 4318))),
            span_metrics_interval,
            statsd_flush_interval: flush,
            statsd_mapping: self.statsd_mapping.or(file.statsd_mapping),
            statsd_max_series: self
                .statsd_max_series
                .or(file.statsd_max_series)
                .unwrap_or(100_000),
            retention: (!retention.is_zero()).then_some(retention),
            out_of_order_window: self
                .out_of_order_window
                .or(file_duration(
                    "out_of_order_window",
                    &file.out_of_order_window,
                )?)
                .unwrap_or(Duration::from_secs(3600)),
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            shutdown_timeout: self
                .shutdown_timeout
                .or(file_duration("shutdown_timeout", &file.shutdown_timeout)?)
                .unwrap_or(Duration::from_secs(30)),
            lookback_delta,
            query_timeout,
            max_samples,
            max_concurrent_queries,
        })
    }
}

/// Prometheus' default: the machine's name and the HTTP port, since a bind address of
/// 0.0.0.0 means nothing to whoever follows a link.
fn default_external_url(http: SocketAddr) -> String {
    if !http.ip().is_unspecified() {
        return format!("http://{http}");
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("http://{host}:{}", http.port())
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("15d"), Ok(Duration::from_secs(15 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("ten").is_err());
    }

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("argus.toml");
        std::fs::write(
            &path,
            "retention = \"0\"\nhttp = \"127.0.0.1:9000\"\nstatsd_flush_interval = \"2s\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            http: Some("127.0.0.1:1".parse().unwrap()),
            ..Default::default()
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.http.port(), 1);
        assert_eq!(s.retention, None);
        assert_eq!(s.statsd_flush_interval, Duration::from_secs(2));
        assert_eq!(s.statsd.port(), 8125);
        assert_eq!(s.lookback_delta, Duration::from_secs(300));
        assert_eq!(s.query_timeout, Duration::from_secs(120));
        assert_eq!(s.max_samples, 50_000_000);
        assert_eq!(s.max_concurrent_queries, 20);
        assert_eq!(s.dashboards, PathBuf::from("dashboards"));
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let err = ServeArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(format!("{err:#}").contains("no_such_key"), "{err:#}");
    }

    #[test]
    fn query_settings_from_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("argus.toml");
        std::fs::write(
            &path,
            "lookback_delta = \"10m\"\nquery_timeout = \"30s\"\nmax_samples = 1000\n\
             max_concurrent_queries = 4\n",
        )
        .unwrap();
        let s = ServeArgs {
            config: Some(path.clone()),
            max_concurrent_queries: Some(2),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(s.lookback_delta, Duration::from_secs(600));
        assert_eq!(s.query_timeout, Duration::from_secs(30));
        assert_eq!(s.max_samples, 1000);
        assert_eq!(s.max_concurrent_queries, 2);

        for bad in [
            "max_concurrent_queries = 0\n",
            "max_samples = 0\n",
            "query_timeout = \"0\"\n",
            "lookback_delta = \"0\"\n",
            "query_timeout = \"soon\"\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            }
            .resolve()
            .unwrap_err();
            let key = bad.split(' ').next().unwrap_or_default();
            assert!(format!("{err:#}").contains(key), "{bad}: {err:#}");
        }
    }
}
