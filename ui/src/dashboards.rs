//! File-defined dashboards: the format (rows of panels, each a PromQL, log or trace query),
//! its validation, and the `/api/v1/dashboards` routes that list and serve the files of the
//! dashboards directory. A file that does not parse is listed with its error, never fatal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use serde::{Deserialize, Serialize};

use crate::UiConfig;
use crate::error::UiError;

/// One dashboard file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Dashboard {
    pub(crate) title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// Default time range, a Prometheus duration (`1h`, `6h`, `7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) range: Option<String>,
    /// Default auto-refresh interval, a Prometheus duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh: Option<String>,
    pub(crate) rows: Vec<Row>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Row {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    pub(crate) panels: Vec<Panel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PanelKind {
    /// Lines over time.
    #[default]
    Timeseries,
    /// Stacked areas over time.
    Stacked,
    /// One number: the query's latest value.
    Stat,
    /// The latest value of each series, one row per series.
    Table,
    /// Histogram buckets (`le`) over time.
    Heatmap,
    /// Log lines matching a Lucene query.
    Logs,
    /// Traces matching a search.
    Traces,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Unit {
    Seconds,
    Milliseconds,
    Bytes,
    /// 0–100.
    Percent,
    /// 0–1, shown as a percentage.
    Ratio,
    /// Per second.
    Rate,
    Short,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Threshold {
    pub(crate) value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) label: Option<String>,
}

/// A Jaeger-style trace search.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TraceQuery {
    pub(crate) service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tags: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_duration: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Panel {
    pub(crate) title: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: PanelKind,
    /// A PromQL query (every kind but `logs` and `traces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expr: Option<String>,
    /// A series' legend, with `{{label}}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) legend: Option<String>,
    /// A Lucene log query (`logs` panels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) traces: Option<TraceQuery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unit: Option<Unit>,
    #[serde(default)]
    pub(crate) thresholds: Vec<Threshold>,
    /// Share of the row's width, in twelfths; the row's panels share it equally without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) width: Option<u8>,
}

impl Dashboard {
    /// Checks what serde cannot: each panel has the query its kind needs, durations parse,
    /// widths fit. Every problem is named by its place in the file.
    fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.title.trim().is_empty() {
            problems.push("title: must not be empty".to_string());
        }
        for (key, value) in [("range", &self.range), ("refresh", &self.refresh)] {
            if let Some(v) = value
                && let Err(e) = alerting::parse_duration(v)
            {
                problems.push(format!("{key}: {e}"));
            }
        }
        for (r, row) in self.rows.iter().enumerate() {
            for (p, panel) in row.panels.iter().enumerate() {
                let at = format!("rows[{r}].panels[{p}] ({:?})", panel.title);
                let queries = [
                    panel.expr.is_some(),
                    panel.logs.is_some(),
                    panel.traces.is_some(),
                ];
                if queries.iter().filter(|q| **q).count() != 1 {
                    problems.push(format!("{at}: needs exactly one of expr, logs or traces"));
                    continue;
                }
                let needs = match panel.kind {
                    PanelKind::Logs => "logs",
                    PanelKind::Traces => "traces",
                    _ => "expr",
                };
                let has = if panel.logs.is_some() {
                    "logs"
                } else if panel.traces.is_some() {
                    "traces"
                } else {
                    "expr"
                };
                if needs != has {
                    problems.push(format!(
                        "{at}: a {:?} panel takes {needs}, not {has}",
                        panel.kind
                    ));
                }
                if let Some(w) = panel.width
                    && !(1..=12).contains(&w)
                {
                    problems.push(format!("{at}: width must be 1 to 12 (twelfths), got {w}"));
                }
                if let Some(d) = panel.traces.as_ref().and_then(|t| t.min_duration.as_ref())
                    && let Err(e) = alerting::parse_duration(d)
                {
                    problems.push(format!("{at}: traces.min_duration: {e}"));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// A file's id is its name without extension; only names that fit in a URL segment as they
/// are count as dashboards.
fn dashboard_id(path: &Path) -> Option<String> {
    let extension = path.extension()?.to_str()?;
    if !matches!(extension, "yml" | "yaml" | "json") {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let valid = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| stem.to_string())
}

fn parse(path: &Path, text: &str) -> Result<Dashboard, UiError> {
    let invalid = |message: String| UiError::InvalidDashboard {
        file: path.to_path_buf(),
        message,
    };
    let dashboard: Dashboard = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?
    } else {
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| invalid(e.without_snippet().to_string()))?
    };
    dashboard.validate().map_err(invalid)?;
    Ok(dashboard)
}

/// The dashboard files of `dir`, sorted by name, each with its id. A missing directory holds
/// none.
fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>, UiError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(UiError::ReadDir {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| dashboard_id(&p).map(|id| (id, p)))
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<Dashboard, UiError> {
    let text = std::fs::read_to_string(path).map_err(|e| UiError::InvalidDashboard {
        file: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) tags: Vec<String>,
    pub(crate) file: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct FileProblem {
    pub(crate) file: String,
    pub(crate) message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Listing {
    pub(crate) dashboards: Vec<Summary>,
    /// Files that are not valid dashboards, with the reason.
    pub(crate) errors: Vec<FileProblem>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<Listing, UiError> {
    let mut listing = Listing {
        dashboards: Vec::new(),
        errors: Vec::new(),
    };
    let mut previous: Option<String> = None;
    for (id, path) in files(dir)? {
        let file = path.display().to_string();
        // `a.yml` and `a.json` would share a URL: the first in name order wins.
        if previous.as_deref() == Some(id.as_str()) {
            listing.errors.push(FileProblem {
                file,
                message: format!("another file already defines dashboard {id:?}"),
            });
            continue;
        }
        previous = Some(id.clone());
        match read(&path) {
            Ok(d) => listing.dashboards.push(Summary {
                id,
                title: d.title,
                tags: d.tags,
                file,
            }),
            Err(e) => listing.errors.push(FileProblem {
                file,
                message: match e {
                    UiError::InvalidDashboard { message, .. } => message,
                    other => other.to_string(),
                },
            }),
        }
    }
    Ok(listing)
}

#[derive(Debug, Serialize)]
pub(crate) struct Served {
    pub(crate) id: String,
    pub(crate) file: String,
    #[serde(flatten)]
    pub(crate) dashboard: Dashboard,
}

pub(crate) fn find(dir: &Path, id: &str) -> Result<Served, UiError> {
    let path = files(dir)?
        .into_iter()
        .find(|(candidate, _)| candidate == id)
        .map(|(_, path)| path)
        .ok_or_else(|| UiError::DashboardNotFound {
            id: id.to_string(),
            dir: dir.to_path_buf(),
        })?;
    let dashboard = read(&path)?;
    Ok(Served {
        id: id.to_string(),
        file: path.display().to_string(),
        dashboard,
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| UiError::Interrupted {
            reason: e.to_string(),
        })?
}

fn success<T: Serialize>(data: T) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "success", "data": data }))
}

pub(crate) async fn list(
    State(config): State<Arc<UiConfig>>,
) -> Result<Json<serde_json::Value>, UiError> {
    let listing = blocking(move || list_dir(&config.dashboards_dir)).await?;
    Ok(success(listing))
}

pub(crate) async fn get_one(
    State(config): State<Arc<UiConfig>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, UiError> {
    let served = blocking(move || find(&config.dashboards_dir, &id)).await?;
    Ok(success(served))
}
