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
