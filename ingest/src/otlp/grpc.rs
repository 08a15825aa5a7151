//! OTLP/gRPC: the three collector services on tonic, and a server to run them.

use std::future::Future;
use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use super::common::{ExportOutcome, Signal};
use super::status::grpc_status;
use super::{OtlpIngest, Payload};
use crate::IngestError;

const TRANSPORT: &str = "grpc";

/// The services, each decompressing gzip and refusing messages over the configured size
/// (`OUT_OF_RANGE`, or `RESOURCE_EXHAUSTED` when the limit is hit while decompressing).
pub(crate) fn routes(ingest: &OtlpIngest) -> Routes {
    let max = ingest.max_message_bytes();
    Routes::new(
        TraceServiceServer::new(Traces(ingest.clone()))
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max),
    )
    .add_service(
        LogsServiceServer::new(Logs(ingest.clone()))
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max),
    )
    .add_service(
        MetricsServiceServer::new(Metrics(ingest.clone()))
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max),
    )
}

/// Runs an export and counts it; the partial success when something was rejected.
async fn export(
    ingest: &OtlpIngest,
    signal: Signal,
    payload: Payload,
) -> Result<Option<(i64, String)>, Status> {
    let result = ingest.export(payload).await;
    ingest.count_request(signal, TRANSPORT, super::outcome_label(&result));
    match result {
        Ok(outcome) => Ok(partial(outcome)),
        Err(e) => {
            log_failure(signal, &e);
            Err(grpc_status(&e))
        }
    }
}

pub(crate) fn log_failure(signal: Signal, e: &IngestError) {
    match e.failure() {
        crate::error::Failure::Internal | crate::error::Failure::Unavailable => {
            tracing::error!(signal = signal.as_str(), error = %e, "otlp export failed");
        }
        _ => tracing::debug!(signal = signal.as_str(), error = %e, "otlp export refused"),
    }
}

/// `(rejected, error_message)` when the answer needs a partial success.
pub(crate) fn partial(outcome: ExportOutcome) -> Option<(i64, String)> {
    (outcome.rejected > 0 || !outcome.message.is_empty()).then(|| {
        (
            i64::try_from(outcome.rejected).unwrap_or(i64::MAX),
            outcome.message,
        )
    })
}

struct Traces(OtlpIngest);
struct Logs(OtlpIngest);
struct Metrics(OtlpIngest);

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let payload = Payload::Traces(request.into_inner());
        let partial = export(&self.0, Signal::Traces, payload).await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Logs {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let payload = Payload::Logs(request.into_inner());
        let partial = export(&self.0, Signal::Logs, payload).await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let payload = Payload::Metrics(request.into_inner());
        let partial = export(&self.0, Signal::Metrics, payload).await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: partial.map(|(rejected_data_points, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        }))
    }
}

/// OTLP/gRPC on a TCP port (`--otlp-grpc`, default `0.0.0.0:4317`), without TLS.
pub struct OtlpGrpcServer {
    listener: TcpListener,
    addr: SocketAddr,
    routes: Routes,
}

impl std::fmt::Debug for OtlpGrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpGrpcServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl OtlpGrpcServer {
    /// Binds the port (port 0 picks a free one, see [`OtlpGrpcServer::local_addr`]).
    pub async fn bind(addr: SocketAddr, ingest: &OtlpIngest) -> Result<Self, IngestError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| IngestError::bind("otlp grpc", addr, e))?;
        let addr = listener.local_addr()?;
        Ok(OtlpGrpcServer {
            listener,
            addr,
            routes: routes(ingest),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Wraps the OTLP services before serving, e.g. in the binary's access log
    /// (`Routes::into_axum_router` and back gives a router that takes axum layers).
    pub fn map_routes(mut self, wrap: impl FnOnce(Routes) -> Routes) -> Self {
        self.routes = wrap(self.routes);
        self
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight exports finish
    /// (their data is durable once answered) and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), IngestError> {
        let addr = self.addr;
        tracing::info!(%addr, "otlp grpc listening");
        let incoming =
            tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .add_routes(self.routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| {
                IngestError::Io(std::io::Error::other(format!("otlp grpc on {addr}: {e}")))
            })?;
        tracing::info!(%addr, "otlp grpc stopped");
        Ok(())
    }
}
