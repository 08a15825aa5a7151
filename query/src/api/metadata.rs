//! `/api/v1/metadata`: the metric metadata ingest recorded (type, help, unit per metric
//! family), with Prometheus' parameters and answer:
//! `{"status":"success","data":{"http_requests_total":[{"type":"counter","help":"…","unit":""}]}}`.
//!
//! Parameters, as Prometheus' `metricMetadata` (web/api/v1/api.go) reads them:
//! - `limit`: at most this many families; absent or negative means all, `0` none. Not an
//!   integer: `bad_data`.
//! - `limit_per_metric`: at most this many entries per family; absent, `0` or negative means
//!   all. Not an integer: `bad_data`.
//! - `metric`: only this family (exact name); absent or empty means every family.
//!
//! Prometheus picks which families and entries survive a limit in map order (at random);
//! Argus keeps the first families by name and each family's newest entries.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::params::Params;
use super::{AppState, success};
use crate::error::QueryError;

/// One entry as Prometheus serialises `metadata.Metadata`.
#[derive(Serialize)]
struct MetadataJson {
    #[serde(rename = "type")]
    kind: &'static str,
    help: String,
    unit: String,
}

/// `GET|POST /api/v1/metadata`.
pub(super) async fn metadata(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, QueryError> {
    let limit = integer_param(&params, "limit")?;
    let limit_per_metric = integer_param(&params, "limit_per_metric")?;
    let limit = limit.and_then(|n| usize::try_from(n).ok());
    let limit_per_metric = limit_per_metric
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok());
    // An in-memory read: no blocking pool needed.
    let found = state
        .store
        .metadata(params.get("metric"), limit, limit_per_metric);
    let data: std::collections::BTreeMap<String, Vec<MetadataJson>> = found
        .into_iter()
        .map(|(family, entries)| {
            let entries = entries
                .into_iter()
                .map(|m| MetadataJson {
                    kind: m.kind.as_str(),
                    help: m.help,
                    unit: m.unit,
                })
                .collect();
            (family, entries)
        })
        .collect();
    Ok(success(data, Vec::new()))
}

/// An optional integer parameter read as Go's `strconv.Atoi` reads it (optional sign,
/// decimal digits, 64 bits), with Prometheus' message when it is not one.
fn integer_param(params: &Params, name: &'static str) -> Result<Option<i64>, QueryError> {
    params
        .get(name)
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| QueryError::invalid_param(name, format!("{name} must be a number")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(query: &str, name: &'static str) -> Result<Option<i64>, String> {
        integer_param(&Params::from_query(query), name).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_as_go_atoi_reads_them() {
        assert_eq!(int("", "limit"), Ok(None));
        assert_eq!(int("limit=", "limit"), Ok(None));
        assert_eq!(int("limit=5", "limit"), Ok(Some(5)));
        assert_eq!(int("limit=%2B5", "limit"), Ok(Some(5)));
        assert_eq!(int("limit=-1", "limit"), Ok(Some(-1)));
        assert_eq!(int("limit=0&limit=x", "limit"), Ok(Some(0)));
        for bad in ["x", "1.5", "1e3", " 1", "99999999999999999999"] {
            let q = format!("limit_per_metric={}", bad.replace(' ', "%20"));
            assert_eq!(
                int(&q, "limit_per_metric"),
                Err(
                    r#"invalid parameter "limit_per_metric": limit_per_metric must be a number"#
                        .into()
                ),
                "{bad}"
            );
        }
    }
}
