//! The evaluator (being written).

use promql_parser::parser::Expr;

use super::{EngineConfig, PromqlError, QueryOptions, QueryOutput, SeriesSource};

/// The steps a query is evaluated at: `start..=end` every `step` ms (`step` 0 for one instant).
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) step: i64,
    /// An instant query: range vectors and strings may be answered as they are.
    pub(super) instant: bool,
}

pub(super) fn evaluate<S: SeriesSource>(
    _source: &S,
    _config: &EngineConfig,
    _options: &QueryOptions,
    _query: &str,
    _expr: &Expr,
    _range: Range,
) -> Result<QueryOutput, PromqlError> {
    Err(PromqlError::Unsupported("evaluator not yet written".into()))
}
