//! The engine's error type. The HTTP layer maps each variant to Prometheus' `errorType`.

use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query does not parse. `message` is the parser's, with the position where known.
    #[error("{message}")]
    Parse { message: String },

    /// The query parses but cannot be evaluated as asked (wrong argument values, a range
    /// query over a string, …): Prometheus' `bad_data`.
    #[error("{0}")]
    BadQuery(String),

    /// Evaluation failed on the data (duplicate series after dropping labels, many-to-many
    /// matching, …): Prometheus' `execution`.
    #[error("{0}")]
    Execution(String),

    /// The query ran longer than the engine's timeout.
    #[error("query timed out in {stage}")]
    Timeout { stage: &'static str },

    /// The query would hold more samples than the engine's limit.
    #[error(
        "query processing would load too many samples into memory in {stage} (limit {limit}); \
         narrow the selectors or the time range"
    )]
    TooManySamples { stage: &'static str, limit: usize },

    /// A feature this engine does not implement, such as native histograms.
    #[error("{0}")]
    Unsupported(String),

    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Turns promql-parser's message into a [`PromqlError::Parse`].
pub(super) fn parse_error(_query: &str, message: String) -> PromqlError {
    PromqlError::Parse { message }
}
