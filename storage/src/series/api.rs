//! The series store's public surface: configuration, write outcome, the writer trait.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::MetricMetadata;
use crate::{Labels, SeriesSamples, StorageError};

/// Dense, never reused identifier of a series inside one store.
pub type SeriesId = u64;

/// A series found by a selection: its id (for reading samples) and its labels.
#[derive(Debug, Clone)]
pub struct SeriesRef {
    pub id: SeriesId,
    pub labels: Arc<Labels>,
}

#[derive(Debug, Clone)]
pub struct SeriesStoreConfig {
    /// Directory holding the RocksDB files and the write-ahead log.
    pub dir: PathBuf,
    /// How long samples are kept; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// Length of a time partition: the unit retention deletes.
    pub partition_duration: Duration,
    /// How far behind a series' newest sample a sample may arrive and still be accepted.
    pub out_of_order_window: Duration,
    /// How often in-memory heads are written out as chunks and the log truncated.
    pub checkpoint_interval: Duration,
    /// Samples a series buffers in memory before they are cut into a chunk.
    pub max_head_samples: usize,
}

impl SeriesStoreConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SeriesStoreConfig {
            dir: dir.into(),
            retention: Some(Duration::from_secs(15 * 24 * 3600)),
            partition_duration: Duration::from_secs(24 * 3600),
            out_of_order_window: Duration::from_secs(3600),
            checkpoint_interval: Duration::from_secs(300),
            max_head_samples: 120,
        }
    }
}

/// What an append did. Rejected samples are counted by reason; the rest were stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    pub samples_appended: u64,
    pub series_created: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    /// The first rejection in words, for error messages (e.g. which series, which timestamp).
    pub first_rejection: Option<String>,
}

impl AppendOutcome {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub(crate) fn reject(&mut self, reason: &'static str, detail: impl FnOnce() -> String) {
        *self.rejected.entry(reason).or_default() += 1;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(detail());
        }
    }

    /// Counts `n` rejections for a reason decided outside storage (e.g. by a decoder).
    pub fn reject_many(&mut self, reason: &'static str, n: u64, detail: &str) {
        *self.rejected.entry(reason).or_default() += n;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(detail.to_string());
        }
    }

    pub fn merge(&mut self, other: AppendOutcome) {
        self.samples_appended += other.samples_appended;
        self.series_created += other.series_created;
        for (k, v) in other.rejected {
            *self.rejected.entry(k).or_default() += v;
        }
        if self.first_rejection.is_none() {
            self.first_rejection = other.first_rejection;
        }
    }
}

/// Where ingest hands its batches. An `Ok` return means the accepted samples are durable
/// (they survive `kill -9`). Blocking: call it from a blocking thread, not an async task.
pub trait SeriesWriter: Send + Sync {
    fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendOutcome, StorageError>;

    /// Records what ingest knows about metric families (type, help, unit). Called with every
    /// batch that carries metadata, so an implementation must make the unchanged case cheap.
    /// An `Ok` return means new entries are durable. The default keeps nothing.
    fn record_metadata(&self, _metadata: &[MetricMetadata]) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Reason labels used in [`AppendOutcome::rejected`] and on `/metrics`.
pub mod reject {
    pub const INVALID_LABELS: &str = "invalid_labels";
    pub const TOO_OLD: &str = "out_of_order_too_old";
    pub const OUTSIDE_RETENTION: &str = "outside_retention";
    pub const DUPLICATE_TIMESTAMP: &str = "duplicate_timestamp";
}
