//! Argus query: everything that reads data back out. Today that is the PromQL engine
//! ([`promql`]: parsed by `promql-parser`, evaluated by our own evaluator) and the
//! Prometheus-compatible HTTP API over the series store: `/api/v1/query`,
//! `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values`,
//! `/api/v1/metadata`, the status pages Grafana reads (Prometheus' parameters, JSON envelope
//! and error types, GET and form POST), and `/api/v1/export` (raw samples as JSON lines, the
//! VictoriaMetrics format); and the log APIs over the log store ([`logs_router`]: search, live
//! tail, error groups). Trace search (Jaeger-compatible) arrives here next.
//!
//! The crate exposes one [`router`] that the binary merges into its HTTP server, the typed
//! [`QueryConfig`] it takes, and the [`QueryError`] every handler answers with. Series
//! selectors are parsed by `promql-parser`; storage calls, which block, run on tokio's blocking
//! pool.

mod api;
mod config;
mod error;
mod metrics;
pub mod promql;
mod read;
mod selector;

pub use api::{logs_router, router};
pub use config::QueryConfig;
pub use error::QueryError;
pub use metrics::QueryMetrics;
