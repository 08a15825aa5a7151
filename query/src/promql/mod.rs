//! The PromQL engine: queries parsed by `promql-parser`, evaluated by our own evaluator over a
//! [`SeriesSource`] (the series store, or later a shard fan-out).
//!
//! Evaluation is columnar: every instant-vector node is computed for all steps of the query at
//! once, so label work (matching, grouping) happens once per series rather than once per step,
//! and range functions slide a window over each series' samples instead of re-reading them.
//! Native histograms are not supported: the store holds float samples only, and functions that
//! exist only for native histograms answer an error saying so.

mod error;
mod eval;
mod functions;
mod source;
mod value;

use std::time::Duration;

pub use error::PromqlError;
pub use source::SeriesSource;
pub use value::{InstantSample, QueryOutput, RangeSeries, Value};

/// Parses a query, with errors worded as the engine words them (`1:12: parse error: …`).
pub fn parse(query: &str) -> Result<promql_parser::parser::Expr, PromqlError> {
    promql_parser::parser::parse(query).map_err(|e| error::parse_error(query, e))
}

/// Settings of one [`Engine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// How far back an instant-vector selector looks for a sample (Prometheus' 5m default).
    pub lookback_delta: Duration,
    /// Longest a query may run before it fails with [`PromqlError::Timeout`].
    pub timeout: Duration,
    /// Most samples a query may hold in memory at once (Prometheus' `query.max-samples`).
    pub max_samples: usize,
    /// Most series one selector of a query may select; `None` for no limit.
    pub max_series: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lookback_delta: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_series: None,
        }
    }
}

/// Per-query overrides of [`EngineConfig`], as the HTTP API's `timeout` and `lookback_delta`
/// parameters give them. `None` keeps the engine's setting; a timeout longer than the
/// engine's is cut to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    pub timeout: Option<Duration>,
    pub lookback_delta: Option<Duration>,
}

/// Evaluates PromQL over a [`SeriesSource`]. Queries block: callers in async code run them on a
/// blocking thread.
pub struct Engine<S: SeriesSource> {
    source: S,
    config: EngineConfig,
}

impl<S: SeriesSource> Engine<S> {
    pub fn new(source: S, config: EngineConfig) -> Self {
        Engine { source, config }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Evaluates `query` at one instant, `time_ms` milliseconds since the epoch.
    pub fn instant_query(
        &self,
        query: &str,
        time_ms: i64,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        self.range_query_inner(query, time_ms, time_ms, 0, true, options)
    }

    /// Evaluates `query` at every `step_ms` from `start_ms` to `end_ms` inclusive. The result is
    /// always a matrix (or an error: a string or range-vector expression cannot be graphed).
    pub fn range_query(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        if step_ms <= 0 {
            return Err(PromqlError::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(PromqlError::BadQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        self.range_query_inner(query, start_ms, end_ms, step_ms, false, options)
    }

    fn range_query_inner(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        instant: bool,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        let expr = parse(query)?;
        eval::evaluate(
            &self.source,
            &self.config,
            options,
            query,
            &expr,
            eval::Range {
                start: start_ms,
                end: end_ms,
                step: step_ms,
                instant,
            },
        )
    }
}
