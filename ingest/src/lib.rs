//! Argus ingest: every wire protocol that brings data in (StatsD over UDP/TCP, Prometheus
//! text import and remote_write), decoding, validation, mapping and aggregation, handing
//! batches to storage through [`storage::SeriesWriter`]; logs (logstash json_lines over TCP,
//! `POST /api/v1/logs`, the Elasticsearch bulk API under `/es/`) through
//! [`storage::LogWriter`], see [`logs`]; OpenTelemetry (OTLP over gRPC and HTTP: traces through
//! [`storage::TraceWriter`], logs, metrics), see [`otlp`]; and golden-signal series derived
//! from spans (rate, errors, latency, service graph), see [`derive`].

pub mod derive;
mod error;
mod http;
pub mod logs;
mod metrics;
pub mod otlp;
pub mod prom;
pub mod statsd;

pub use error::IngestError;
pub use http::WriteAdmission;
pub use metrics::IngestMetrics;
