//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/{name}/values`: index lookups that go
//! straight to the store, with Prometheus' parameters and answers.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use storage::SeriesRef;

use super::params::{Params, limit_param, match_param, range_params};
use super::{AppState, LabelsJson, success, truncate};
use crate::error::QueryError;
use crate::read::{blocking, label_names_union, label_values_union, select_union};

/// `GET|POST /api/v1/series`: the label sets of the series matching any `match[]`.
pub(super) async fn series(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, QueryError> {
    if params.all("match[]").next().is_none() {
        return Err(QueryError::MissingParam { param: "match[]" });
    }
    let limit = limit_param(&params)?;
    let (start, end) = range_params(&params)?;
    let sets = match_param(&params, true)?;

    let mut series = if start > end {
        Vec::new()
    } else {
        let store = state.store.clone();
        blocking(move || Ok(select_union(&store, &sets, start, end)?)).await?
    };
    let mut warnings = Vec::new();
    truncate(&mut series, limit, &mut warnings);
    state.check_max_series(series.len())?;
    Ok(success(SeriesJson(&series), warnings))
}

/// `GET|POST /api/v1/labels`: the label names of the series matching any `match[]` (of all
/// series without one).
pub(super) async fn label_names(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, QueryError> {
    let limit = limit_param(&params)?;
    let (start, end) = range_params(&params)?;
    let sets = match_param(&params, false)?;

    let mut names = if start > end {
        Vec::new()
    } else {
        let store = state.store.clone();
        blocking(move || Ok(label_names_union(&store, &sets, start, end)?)).await?
    };
    let mut warnings = Vec::new();
    truncate(&mut names, limit, &mut warnings);
    Ok(success(names, warnings))
}

/// `GET|POST /api/v1/label/{name}/values`: the values of one label (`__name__` for metric
/// names) on the series matching any `match[]` (on all series without one).
pub(super) async fn label_values(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, QueryError> {
    let Path(name) = name.map_err(|e| QueryError::InvalidLabelName {
        name: e.body_text(),
    })?;
    if !storage::is_valid_label_name(&name) {
        return Err(QueryError::InvalidLabelName { name });
    }
    let limit = limit_param(&params)?;
    let (start, end) = range_params(&params)?;
    let sets = match_param(&params, false)?;

    let mut values = if start > end {
        Vec::new()
    } else {
        let store = state.store.clone();
        blocking(move || Ok(label_values_union(&store, &name, &sets, start, end)?)).await?
    };
    let mut warnings = Vec::new();
    truncate(&mut values, limit, &mut warnings);
    Ok(success(values, warnings))
}

/// A selection as Prometheus lists it: an array of label objects.
struct SeriesJson<'a>(&'a [SeriesRef]);

impl Serialize for SeriesJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for series in self.0 {
            seq.serialize_element(&LabelsJson(&series.labels))?;
        }
        seq.end()
    }
}
