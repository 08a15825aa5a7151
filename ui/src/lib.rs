//! The Argus web UI: the TypeScript app of `ui/web/` (built by `scripts/build-ui`, embedded at
//! compile time by `build.rs`) served at `/`, and the file-defined dashboards it shows,
//! read from a directory of YAML or JSON files and served at `/api/v1/dashboards`.
//!
//! The binary merges [`router`] last: its fallback answers every path no other router took,
//! with the app's `index.html` for client-side routes, and a 404 for unknown `/api/`,
//! `/jaeger/`, `/es/` paths so a mistyped API call never gets HTML.

mod assets;
mod dashboards;
mod error;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use error::UiError;

/// What the UI router needs from the binary.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Directory of dashboard files (`*.yml`, `*.yaml`, `*.json`), read on every request so
    /// edits show without a restart.
    pub dashboards_dir: PathBuf,
}

/// The web app and the dashboards API.
pub fn router(config: UiConfig) -> Router {
    if !config.dashboards_dir.is_dir() {
        tracing::info!(
            dir = %config.dashboards_dir.display(),
            "dashboards directory not found: only the automatic service dashboards are listed"
        );
    }
    let config = Arc::new(config);
    Router::new()
        .route("/api/v1/dashboards", get(dashboards::list))
        .route("/api/v1/dashboards/{id}", get(dashboards::get_one))
        .with_state(config)
        .fallback(assets::serve)
}

/// Whether the web app was embedded (`ui/web/dist` existed when the crate was compiled).
pub fn is_built() -> bool {
    assets::is_built()
}
