//! Argus query: everything that reads data back out. Today that is the Prometheus-compatible
//! read API over the series store: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/{name}/values` (Prometheus' parameters and JSON envelope, GET and form POST)
//! and `/api/v1/export` (raw samples as JSON lines, the VictoriaMetrics format). PromQL
//! evaluation (`/api/v1/query`, `/api/v1/query_range`), query limits, log search and trace
//! search (Jaeger-compatible) arrive here next.
//!
//! The crate exposes one [`router`] that the binary merges into its HTTP server, the typed
//! [`QueryConfig`] it takes, and the [`QueryError`] every handler answers with. Series
//! selectors are parsed by `promql-parser`; storage calls, which block, run on tokio's blocking
//! pool.

mod api;
mod config;
mod error;
pub mod promql;
mod read;
mod selector;

pub use api::router;
pub use config::QueryConfig;
pub use error::QueryError;
