/// Everything that can go wrong while bringing data in. HTTP handlers map these to status
/// codes in one place (`IntoResponse` below).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid mapping file {path}: {detail}")]
    Mapping { path: String, detail: String },
    #[error("storage: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("overloaded: {0}")]
    Overloaded(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl IngestError {
    /// An i/o error that names the listener that could not be bound (`what`, e.g.
    /// `logstash tcp`) and its address.
    pub(crate) fn bind(what: &str, addr: std::net::SocketAddr, e: std::io::Error) -> Self {
        IngestError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot bind {what} {addr}: {e}"),
        ))
    }
}

/// What a failed write means for the client: the one classification that every protocol's
/// answer (an HTTP status, a gRPC code) is derived from, so retryable failures look
/// retryable on every wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request itself is wrong; sending it again cannot help.
    Invalid,
    /// Ingest is at capacity; retry after a pause.
    Overloaded,
    /// Storage could not take the write now (shutting down, I/O trouble); retry later.
    Unavailable,
    /// A bug or a broken store; retrying is unlikely to help.
    Internal,
}

impl IngestError {
    pub(crate) fn failure(&self) -> Failure {
        use storage::StorageError as S;
        match self {
            IngestError::BadRequest(_) => Failure::Invalid,
            IngestError::Overloaded(_) | IngestError::Storage(S::Overloaded(_)) => {
                Failure::Overloaded
            }
            IngestError::Storage(
                S::InvalidLabels(_) | S::InvalidMatcher(_) | S::InvalidQuery(_),
            ) => Failure::Invalid,
            IngestError::Storage(S::Corruption { .. }) => Failure::Internal,
            // The write did not happen, and may well succeed once the store recovers: the
            // exporter should keep the data and retry.
            IngestError::Storage(
                S::ShuttingDown | S::Unavailable(_) | S::Rocks(_) | S::Io { .. } | S::Index(_),
            ) => Failure::Unavailable,
            IngestError::Mapping { .. } | IngestError::Io(_) => Failure::Internal,
        }
    }
}
