//! Where the engine reads series from. The series store implements it; a cluster mode can
//! implement it over shards and merge their answers.

use storage::{Matcher, Sample, SeriesId, SeriesRef, SeriesStore, StorageError};

/// The reads PromQL needs: which series match, and one series' samples in a time range.
pub trait SeriesSource: Send + Sync {
    /// Series matching all `matchers` with samples in `[mint, maxt]` (ms), sorted by labels.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesRef>, StorageError>;

    /// Samples of one series in `[mint, maxt]` (ms), sorted by time, one per timestamp,
    /// staleness markers included.
    fn samples(&self, id: SeriesId, mint: i64, maxt: i64) -> Result<Vec<Sample>, StorageError>;
}

impl SeriesSource for SeriesStore {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesRef>, StorageError> {
        SeriesStore::select(self, matchers, mint, maxt)
    }

    fn samples(&self, id: SeriesId, mint: i64, maxt: i64) -> Result<Vec<Sample>, StorageError> {
        SeriesStore::samples(self, id, mint, maxt)
    }
}

impl<T: SeriesSource + ?Sized> SeriesSource for std::sync::Arc<T> {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesRef>, StorageError> {
        (**self).select(matchers, mint, maxt)
    }

    fn samples(&self, id: SeriesId, mint: i64, maxt: i64) -> Result<Vec<Sample>, StorageError> {
        (**self).samples(id, mint, maxt)
    }
}
