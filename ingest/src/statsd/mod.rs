//! StatsD ingest: the Etsy protocol with the DogStatsD extensions over UDP and newline-delimited
//! TCP, statsd_exporter mapping files, aggregation per flush interval, one durable write per
//! flush.
//!
//! # Series written per StatsD type
//!
//! Every flush writes one sample per series, timestamped at the flush (milliseconds), for every
//! live series, whether or not it received anything in the interval. `NAME` is the mapped
//! name, or the StatsD name escaped as statsd_exporter does (`api.req-count` gives
//! `api_req_count`, a leading digit gets a `_`); `LABELS` are the DogStatsD tags (`|#k:v`; a tag
//! without a value is ignored) or the InfluxDB / Librato / SignalFx name tags, plus the
//! mapping's labels (which win over tags unless the mapping sets `honor_labels: true`).
//!
//! | StatsD | series | value |
//! | --- | --- | --- |
//! | counter `c` | `NAME{LABELS}` | running total since the series appeared, each increment divided by its `@rate`; no `_total` suffix is added (statsd_exporter adds none) |
//! | gauge `g` | `NAME{LABELS}` | last value; `+N` / `-N` add to it (start at 0) |
//! | set `s` | `NAME{LABELS}` | distinct members seen during the interval (0 after an idle one) |
//! | timer `ms`, histogram `h`, distribution `d` as histogram (default) | `NAME_bucket{LABELS,le="…"}` (one per bucket and `le="+Inf"`), `NAME_sum{LABELS}`, `NAME_count{LABELS}` | cumulative since the series appeared; an observation with `@rate` counts `int(1/rate)` times; `ms` values are divided by 1000 (seconds), `h` and `d` are kept as sent; default buckets 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10, `le` formatted as Go does (`0.005`, `1`, `1e+06`) |
//! | timer, histogram, distribution as summary (`observer_type: summary`) | `NAME{LABELS,quantile="0.5"}` … (default 0.5, 0.9, 0.99), `NAME_sum{LABELS}`, `NAME_count{LABELS}` | quantiles of the last `max_age` (default 10m, NaN when empty), from a bounded sample; `_sum`, `_count` cumulative |
//!
//! Histograms are the default observer type (statsd_exporter's default is summary) so that
//! percentiles over time and across hosts come from merged buckets, never averaged
//! percentiles: `histogram_quantile(0.99, sum by (le) (rate(NAME_bucket[5m])))`.
//!
//! # Behaviour worth knowing
//! - A mapping's `scale` multiplies values (after the `ms` conversion); `action: drop` discards
//!   (counted in `argus_ingest_statsd_dropped_by_mapping_total`); `ttl` (or `defaults.ttl`)
//!   forgets series idle for that long (default never, as statsd_exporter).
//! - One metric name keeps one type: a line giving it another is rejected (`type_conflict`).
//! - Limits: at most `max_series` live series and `max_new_series_per_flush` new ones per
//!   interval; beyond, new series are rejected (`cardinality_limit`) and existing ones keep
//!   counting. A set tracks at most 100,000 members per interval.
//! - Rejected lines are counted by reason in `argus_ingest_statsd_rejects_total{reason}`
//!   (`malformed_line`, `invalid_value`, `invalid_type`, `invalid_sample_rate`,
//!   `line_too_long`, `invalid_utf8`, `mixed_tagging_styles`, `negative_counter`,
//!   `invalid_label`, `empty_metric_name`, `type_conflict`, `cardinality_limit`) and logged at
//!   most once a second; the other lines of the packet still count.
//! - Values must be finite; `@rate` must be in (0, 1]. DogStatsD `|c:container-id` and `|T`
//!   timestamp fields are accepted and ignored (statsd_exporter turns the container id into a
//!   `container_id` label; Argus does not, to spare the cardinality).
//! - UDP has no acknowledgement: what arrived since the last flush is lost if the process
//!   dies. Stopping gracefully writes the current interval.

mod aggregate;
mod listener;
mod mapping;
mod parser;
mod summary;

use std::time::Duration;

pub use listener::StatsdServer;
pub use mapping::MappingConfig;

/// Settings of the StatsD server.
#[derive(Debug, Clone)]
pub struct StatsdConfig {
    /// How often aggregates are written (default 10 s).
    pub flush_interval: Duration,
    /// A statsd_exporter mapping file, if any.
    pub mapping: Option<MappingConfig>,
    /// Most series held at once (default 100,000).
    pub max_series: usize,
    /// Most series created during one flush interval (default 20,000).
    pub max_new_series_per_flush: usize,
    /// Longest TCP line in bytes (default 64 KiB); longer lines are rejected, the connection
    /// stays open.
    pub tcp_max_line: usize,
}

impl Default for StatsdConfig {
    fn default() -> Self {
        StatsdConfig {
            flush_interval: Duration::from_secs(10),
            mapping: None,
            max_series: 100_000,
            max_new_series_per_flush: 20_000,
            tcp_max_line: 64 * 1024,
        }
    }
}
