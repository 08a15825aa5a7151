use std::path::PathBuf;

/// Everything that can go wrong inside the storage crate.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data corruption in {path}: {detail}")]
    Corruption { path: PathBuf, detail: String },
    #[error("invalid matcher: {0}")]
    InvalidMatcher(String),
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    #[error("storage is shutting down")]
    ShuttingDown,
    /// A log search whose query does not parse or cannot run (tantivy's message): the
    /// caller's mistake, an HTTP 400.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// Any other failure of a search index (tantivy: the log store's, the trace store's).
    #[error("search index: {0}")]
    Index(String),
    /// The store cannot take more now (its indexer is behind): the caller should retry
    /// later. Ingest answers HTTP 429 with `Retry-After`, gRPC `RESOURCE_EXHAUSTED`.
    #[error("storage overloaded: {0}")]
    Overloaded(String),
    /// The store cannot take writes now (its index failed to write and is recovering): the
    /// caller should keep the data and retry later. Ingest answers HTTP 503 with
    /// `Retry-After`, gRPC `UNAVAILABLE`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}
