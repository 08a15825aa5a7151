//! The crate's error type for everything past rule-file loading (which reports
//! [`crate::RuleFileError`]s with positions): evaluation, its files, log counting.

use std::path::PathBuf;

use query::promql::PromqlError;
use storage::StorageError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertingError {
    /// A file or directory of the alerting data directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The PromQL engine failed a rule's query.
    #[error(transparent)]
    Query(#[from] PromqlError),

    /// A store failed (a log count, a write of rule results).
    #[error("storage: {0}")]
    Storage(#[from] StorageError),

    /// A rule's result is not something a rule can record or alert on.
    #[error("rule result is not a vector or scalar")]
    NotAVector,

    /// Two results of one rule have the same label set once the rule's labels are applied.
    #[error("vector contains metrics with the same labelset after applying {what} labels")]
    DuplicateLabelSet { what: &'static str },

    /// A rule produced more alerts or series than its group's `limit` allows (Prometheus'
    /// wording).
    #[error("exceeded limit of {limit} with {count} {what}")]
    LimitExceeded {
        limit: u64,
        count: usize,
        what: &'static str,
    },

    /// A `logs_count` rule is loaded but this manager was given no log store.
    #[error("logs_count needs a log store, and this rule manager has none")]
    NoLogStore,

    /// An expression that the rule loader should have refused.
    #[error("invalid expression {expr:?}: {reason}")]
    InvalidExpr { expr: String, reason: String },

    /// The store refused samples the rule wrote (e.g. a sample older than it accepts).
    #[error("{rejected} samples of rule {rule:?} were refused by the store: {detail}")]
    WriteRejected {
        rule: String,
        rejected: u64,
        detail: String,
    },
}

impl AlertingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AlertingError::Io {
            path: path.into(),
            source,
        }
    }
}
