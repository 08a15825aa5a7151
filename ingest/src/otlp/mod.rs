//! OTLP ingest: traces, logs and metrics from OpenTelemetry SDKs and collectors, over gRPC
//! (`--otlp-grpc`, default `0.0.0.0:4317`) and HTTP (`--otlp-http`, default `0.0.0.0:4318`,
//! `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, binary protobuf or OTLP/JSON, gzip allowed).
//!
//! - Spans go to the [`storage::TraceWriter`] (service from the resource's `service.name`,
//!   `unknown_service` without one; ids checked), then, once stored, to the
//!   [`SpanDeriver`](crate::derive::SpanDeriver).
//! - Log records go to the [`storage::LogWriter`] (body → message, severity → level, resource
//!   `service.name` → service, `host.name` → host, attributes in `fields`, resource attributes
//!   under `fields.resource`, `raw` = the record's OTLP/JSON, error fingerprints as for the
//!   other log paths).
//! - Metrics go to the [`storage::SeriesWriter`] named and labelled as Prometheus' own OTLP
//!   receiver does (`job`, `instance`, `target_info`, unit and type suffixes); delta sums and
//!   histograms are accumulated into cumulative ones; exponential histograms are refused.
//!
//! Every rule, limit and answer is in `ingest/docs/otlp.md`. In short: items that cannot be
//! stored are counted in an OTLP partial success (`rejected_spans`, `rejected_log_records`,
//! `rejected_data_points`, `error_message`); an undecodable payload is `INVALID_ARGUMENT` /
//! 400; overload (the shared [`WriteAdmission`](crate::WriteAdmission) is full) is
//! `RESOURCE_EXHAUSTED` with `RetryInfo` / 429 with `Retry-After`; a store that cannot write
//! is `UNAVAILABLE` / 503 with `Retry-After`. An answered export is durable.
//!
//! # Wiring (what the binary does)
//!
//! ```ignore
//! let deriver = ingest::derive::SpanDeriver::new(ingest::derive::DeriveConfig::default(),
//!                                                &ingest_metrics);
//! let otlp = ingest::otlp::OtlpIngest::new(
//!     ingest::otlp::OtlpWriters { traces: trace_writer, logs: log_writer, series: writer.clone() },
//!     Some(deriver.clone()),
//!     ingest_metrics.clone(),
//!     admission.clone(),                      // or an admission of its own
//!     ingest::otlp::OtlpConfig::default(),
//! );
//! // gRPC on --otlp-grpc
//! let grpc = ingest::otlp::OtlpGrpcServer::bind(settings.otlp_grpc, &otlp).await?;
//! let grpc_task = tokio::spawn(grpc.run(stopped(stop_rx.clone())));
//! // HTTP on --otlp-http: its own listener, served like the main router
//! let http_listener = tokio::net::TcpListener::bind(settings.otlp_http).await?;
//! let http_task = tokio::spawn(axum::serve(http_listener, otlp.http_router()).with_graceful_shutdown(…).into_future());
//! // the deriver's flush loop; stop it after the OTLP servers have stopped
//! let derive_task = tokio::spawn(deriver.run(writer.clone(), derive_stop));
//! ```

mod common;
mod delta;
mod grpc;
mod http;
mod logs;
mod naming;
mod series;
mod status;
mod traces;

#[cfg(test)]
pub(crate) mod testutil;

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use storage::{LogWriter, SeriesWriter, TraceWriter};

pub use delta::DeltaConfig;
pub use grpc::OtlpGrpcServer;
pub use series::MetricLabelConfig;

use crate::derive::SpanDeriver;
use crate::error::Failure;
use crate::{IngestError, IngestMetrics, WriteAdmission};
use common::{ExportOutcome, Signal};

/// Settings of OTLP ingest.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Largest export request in bytes (default 16 MiB): a gRPC message once decompressed,
    /// an HTTP body as sent and once decompressed. Larger ones are refused (gRPC
    /// `OUT_OF_RANGE` / `RESOURCE_EXHAUSTED` without retry info, HTTP 413).
    pub max_message_bytes: usize,
    /// How resource and scope attributes of metrics become labels.
    pub metric_labels: MetricLabelConfig,
    /// The delta-to-cumulative accumulator of metrics.
    pub delta: DeltaConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            max_message_bytes: 16 << 20,
            metric_labels: MetricLabelConfig::default(),
            delta: DeltaConfig::default(),
        }
    }
}

/// Where OTLP data goes.
#[derive(Clone)]
pub struct OtlpWriters {
    pub traces: Arc<dyn TraceWriter>,
    pub logs: Arc<dyn LogWriter>,
    pub series: Arc<dyn SeriesWriter>,
}

/// A decoded export request.
#[derive(Debug)]
pub(crate) enum Payload {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

/// OTLP ingest, shared by its gRPC services and HTTP routes. Cheap to clone.
#[derive(Clone)]
pub struct OtlpIngest {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    writers: OtlpWriters,
    deriver: Option<Arc<SpanDeriver>>,
    metrics: IngestMetrics,
    admission: WriteAdmission,
    config: OtlpConfig,
    delta: delta::DeltaAccumulator,
}

impl std::fmt::Debug for OtlpIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpIngest")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl OtlpIngest {
    /// `deriver`, when given, receives every span the trace store accepted.
    pub fn new(
        writers: OtlpWriters,
        deriver: Option<Arc<SpanDeriver>>,
        metrics: IngestMetrics,
        admission: WriteAdmission,
        mut config: OtlpConfig,
    ) -> Self {
        config.max_message_bytes = config.max_message_bytes.max(1);
        let delta =
            delta::DeltaAccumulator::new(config.delta.clone(), metrics.otlp_delta_series.clone());
        OtlpIngest {
            inner: Arc::new(Inner {
                writers,
                deriver,
                metrics,
                admission,
                config,
                delta,
            }),
        }
    }

    /// `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, to be served on the OTLP/HTTP port.
    pub fn http_router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// The three OTLP/gRPC services, for a tonic server (see [`OtlpGrpcServer`], which runs
    /// them on a port of their own).
    pub fn grpc_routes(&self) -> tonic::service::Routes {
        grpc::routes(self)
    }

    fn max_message_bytes(&self) -> usize {
        self.inner.config.max_message_bytes
    }

    /// Runs blocking work once admitted (see [`WriteAdmission::run`]).
    async fn admitted<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, IngestError> {
        let inner = self.inner.clone();
        self.inner.admission.run(move || f(&inner)).await
    }

    /// Exports a decoded request, admitted.
    async fn export(&self, payload: Payload) -> Result<ExportOutcome, IngestError> {
        self.admitted(move |inner| inner.export(payload)).await?
    }

    fn count_request(&self, signal: Signal, transport: &str, outcome: &str) {
        self.inner
            .metrics
            .otlp_requests
            .with_label_values(&[signal.as_str(), transport, outcome])
            .inc();
    }
}

impl Inner {
    /// Converts and writes a request. Blocking.
    fn export(&self, payload: Payload) -> Result<ExportOutcome, IngestError> {
        match payload {
            Payload::Traces(req) => traces::export(
                &*self.writers.traces,
                self.deriver.as_deref(),
                &self.metrics,
                req,
            ),
            Payload::Logs(req) => logs::export(&*self.writers.logs, &self.metrics, req),
            Payload::Metrics(req) => series::export(
                &*self.writers.series,
                &self.config.metric_labels,
                &self.delta,
                &self.metrics,
                req,
            ),
        }
    }
}

/// The `outcome` label of a request.
fn outcome_label(result: &Result<ExportOutcome, IngestError>) -> &'static str {
    match result {
        Ok(o) if o.rejected > 0 => "partial",
        Ok(_) => "ok",
        Err(e) => failure_label(e.failure()),
    }
}

fn failure_label(f: Failure) -> &'static str {
    match f {
        Failure::Invalid => "invalid",
        Failure::Overloaded => "overloaded",
        Failure::Unavailable => "unavailable",
        Failure::Internal => "internal",
    }
}

#[cfg(test)]
mod tests;
