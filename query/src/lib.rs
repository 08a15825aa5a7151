//! Argus query: everything that reads data back out. Today that is the PromQL engine
//! ([`promql`]: parsed by `promql-parser`, evaluated by our own evaluator), the
//! Prometheus-compatible HTTP API over the series store: `/api/v1/query`,
//! `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values`,
//! `/api/v1/metadata`, the status pages Grafana reads (Prometheus' parameters, JSON envelope
//! and error types, GET and form POST), and `/api/v1/export` (raw samples as JSON lines, the
//! VictoriaMetrics format); the log APIs over the log store ([`logs_router`]: search, live
//! tail, error groups); and the Jaeger query API over the trace store ([`jaeger_router`]:
//! services, operations, trace search and look-up in Jaeger's JSON model, and the service
//! dependency graph computed by PromQL from the span-derived series; `query/docs/jaeger.md`).
//!
//! The crate exposes the routers that the binary merges into its HTTP server, the typed
//! [`QueryConfig`] they take, and the [`QueryError`] every handler answers with. Series
//! selectors are parsed by `promql-parser`; storage calls, which block, run on tokio's blocking
//! pool.

mod api;
mod config;
mod error;
mod metrics;
pub mod promql;
mod read;
mod selector;

pub use api::{
    format_rfc3339, go_float_e, jaeger_router, logs_router, parse_prometheus_time, parse_rfc3339,
    prometheus_duration_ns, router,
};
pub use config::QueryConfig;
pub use error::QueryError;
pub use metrics::QueryMetrics;
