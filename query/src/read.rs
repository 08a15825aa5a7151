//! Reads over the series store for one request. The store blocks, so these run on tokio's
//! blocking pool through [`blocking`]. Several matcher sets (repeated `match[]`) are answered
//! as their union, as Prometheus does.

use std::collections::BTreeSet;

use storage::{Matcher, SeriesRef, SeriesStore, StorageError};

use crate::promql::SeriesSource;

use crate::error::QueryError;

/// Prometheus' earliest time, `time.Unix(math.MinInt64/1000+62135596801, 0)`, in ms: the
/// default `start` of its APIs, and the earliest time any read asks the store for.
pub(crate) const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Prometheus' latest time, `time.Unix(math.MaxInt64/1000-62135596801, 999999999)`, in ms.
pub(crate) const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;

/// The store answers label lookups over all of time from its in-memory index alone when asked
/// for `[i64::MIN, i64::MAX]`; Prometheus' min and max time mean exactly that.
fn label_lookup_bounds(mint: i64, maxt: i64) -> (i64, i64) {
    (
        if mint <= MIN_TIME_MS { i64::MIN } else { mint },
        if maxt >= MAX_TIME_MS { i64::MAX } else { maxt },
    )
}

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, QueryError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, QueryError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| QueryError::Internal(format!("storage read task failed: {e}")))?
}

/// Series matching any of `sets` with samples in `[mint, maxt]`, sorted by labels, each once.
/// The read APIs' repeated `match[]` and PromQL's `or` selectors both mean this union.
pub(crate) fn select_union<S: SeriesSource + ?Sized>(
    store: &S,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
) -> Result<Vec<SeriesRef>, StorageError> {
    if let [only] = sets {
        return store.select(only, mint, maxt);
    }
    let mut all = Vec::new();
    for set in sets {
        all.extend(store.select(set, mint, maxt)?);
    }
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    all.dedup_by(|a, b| a.id == b.id);
    Ok(all)
}

/// Label names of the series matching any of `sets` (all series when `sets` is empty), sorted.
pub(crate) fn label_names_union(
    store: &SeriesStore,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
) -> Result<Vec<String>, StorageError> {
    let (mint, maxt) = label_lookup_bounds(mint, maxt);
    union(sets, |set| store.label_names(set, mint, maxt))
}

/// Values of label `name` on the series matching any of `sets` (all series when `sets` is
/// empty), sorted.
pub(crate) fn label_values_union(
    store: &SeriesStore,
    name: &str,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
) -> Result<Vec<String>, StorageError> {
    let (mint, maxt) = label_lookup_bounds(mint, maxt);
    union(sets, |set| store.label_values(name, set, mint, maxt))
}

fn union(
    sets: &[Vec<Matcher>],
    mut lookup: impl FnMut(&[Matcher]) -> Result<Vec<String>, StorageError>,
) -> Result<Vec<String>, StorageError> {
    match sets {
        [] => lookup(&[]),
        [only] => lookup(only),
        _ => {
            let mut all = BTreeSet::new();
            for set in sets {
                all.extend(lookup(set)?);
            }
            Ok(all.into_iter().collect())
        }
    }
}
