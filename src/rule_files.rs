//! Rule files in the server: which files `--rules DIR` holds (`*.yml`, `*.yaml`), loading them
//! through the alerting crate, and reloading them on SIGHUP, when a file in the directory
//! changes, and on `POST /-/reload`. A reload that finds any error reports every error (file,
//! line, column) and keeps the last good rules running; so does a start-up with a broken file.
//! SIGHUP and `/-/reload` also re-read the config file's `[alerting]` receivers and routes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use alerting::{Notifier, RuleManager};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use prometheus::{IntCounterVec, IntGauge, Registry};
use storage::MetricsRegistrar;
use tokio::sync::Mutex;

use crate::config::load_alerting_section;

/// How often the rules directory is looked at for changes. Polling (names, sizes, mtimes)
/// sees every way a file is replaced: editors' renames, `kubectl` ConfigMap symlink swaps,
/// network file systems without inotify.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct RuleFiles {
    dir: PathBuf,
    /// The config file to re-read receivers and routes from, when there is one.
    config_file: Option<PathBuf>,
    manager: Arc<RuleManager>,
    notifier: Arc<Notifier>,
    /// Serialises reloads and remembers what the directory looked like at the last one.
    last_seen: Mutex<Vec<FileStamp>>,
    last_reload_successful: IntGauge,
    last_reload_success_time: IntGauge,
    reloads: IntCounterVec,
}

/// What makes a rule file look changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl RuleFiles {
    pub(crate) fn new(
        dir: PathBuf,
        config_file: Option<PathBuf>,
        manager: Arc<RuleManager>,
        notifier: Arc<Notifier>,
        registry: &Registry,
    ) -> Arc<RuleFiles> {
        let metrics = MetricsRegistrar(registry);
        Arc::new(RuleFiles {
            dir,
            config_file,
            manager,
            notifier,
            last_seen: Mutex::new(Vec::new()),
            last_reload_successful: metrics.gauge(
                "argus_rules_last_reload_successful",
                "Whether the last load of the rule files succeeded (1) or kept the previous rules (0).",
            ),
            last_reload_success_time: metrics.gauge(
                "argus_rules_last_reload_success_timestamp_seconds",
                "When the rule files were last loaded successfully.",
            ),
            reloads: metrics.counter_vec(
                "argus_rules_reloads_total",
                "Loads of the rule files, by result.",
                &["result"],
            ),
        })
    }

    /// Loads the rule files (and, with `with_config`, the config file's receivers and routes)
    /// and applies them. On any error nothing is applied and every error is logged and
    /// returned, one per line as `file:line:column: message`.
    pub(crate) async fn reload(&self, with_config: bool) -> Result<usize, Vec<String>> {
        let mut last_seen = self.last_seen.lock().await;
        let dir = self.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let stamps = stamps(&dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
            let paths: Vec<PathBuf> = stamps.iter().map(|s| s.path.clone()).collect();
            let groups = alerting::load_rule_files(&paths)
                .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
            Ok::<_, Vec<String>>((stamps, groups))
        })
        .await
        .map_err(|e| vec![format!("loading rule files: {e}")])
        .and_then(|r| r);
        let notify_config = match (&self.config_file, with_config) {
            (Some(path), true) => match load_alerting_section(path) {
                Ok(section) => Some(section.notify),
                Err(e) => return self.failed(vec![format!("{e:#}")]),
            },
            _ => None,
        };
        let (stamps, groups) = match loaded {
            Ok(loaded) => loaded,
            Err(errors) => {
                // Remember the broken files, so that polling does not report them every second.
                if let Ok(now) = stamps(&self.dir) {
                    *last_seen = now;
                }
                return self.failed(errors);
            }
        };
        if let Some(config) = notify_config
            && let Err(e) = self.notifier.reload(config)
        {
            return self.failed(vec![e.to_string()]);
        }
        let count = groups.len();
        self.manager.apply(groups);
        *last_seen = stamps;
        self.last_reload_successful.set(1);
        self.last_reload_success_time
            .set(storage::now_ms().div_euclid(1000));
        self.reloads.with_label_values(&["success"]).inc();
        tracing::info!(dir = %self.dir.display(), groups = count, "rule files loaded");
        Ok(count)
    }

    fn failed(&self, errors: Vec<String>) -> Result<usize, Vec<String>> {
        for error in &errors {
            tracing::error!("{error}");
        }
        tracing::error!(
            dir = %self.dir.display(),
            errors = errors.len(),
            "rule files not reloaded; the previous rules keep running"
        );
        self.last_reload_successful.set(0);
        self.reloads.with_label_values(&["failure"]).inc();
        Err(errors)
    }

    /// Reloads on SIGHUP and whenever the directory's files change, until `stop`.
    pub(crate) async fn watch(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let mut hangups = match hangup_signals() {
            Ok(signals) => Some(signals),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; rule files reload on change and on POST /-/reload only");
                None
            }
        };
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                Some(()) = next_hangup(&mut hangups) => {
                    tracing::info!("SIGHUP: reloading rule files and alerting config");
                    let _ = self.reload(true).await;
                }
                _ = poll.tick() => {
                    if self.changed().await {
                        tracing::info!(dir = %self.dir.display(), "rule files changed: reloading");
                        let _ = self.reload(false).await;
                    }
                }
            }
        }
    }

    async fn changed(&self) -> bool {
        let dir = self.dir.clone();
        let Ok(Ok(now)) = tokio::task::spawn_blocking(move || stamps(&dir)).await else {
            return false;
        };
        *self.last_seen.lock().await != now
    }

    /// `POST /-/reload`: 200 when the rules (and alerting config) were reloaded, 400 with
    /// every error otherwise.
    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/-/reload", post(reload_handler))
            .with_state(self.clone())
    }
}

async fn reload_handler(State(files): State<Arc<RuleFiles>>) -> (StatusCode, String) {
    match files.reload(true).await {
        Ok(groups) => (StatusCode::OK, format!("reloaded {groups} rule groups\n")),
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            format!(
                "rule files not reloaded; the previous rules keep running:\n{}\n",
                errors.join("\n")
            ),
        ),
    }
}

/// The rule files of `dir` with their sizes and mtimes, sorted by path. Hidden files (editor
/// swap files, atomic-write temporaries) are skipped. A missing directory holds no rules.
fn stamps(dir: &Path) -> std::io::Result<Vec<FileStamp>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut stamps = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_rule_file = !name.starts_with('.')
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yml" || e == "yaml");
        if !is_rule_file {
            continue;
        }
        // Follows symlinks: a ConfigMap's files are links into a directory swapped whole.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            stamps.push(FileStamp {
                path,
                len: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    stamps.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(stamps)
}

#[cfg(unix)]
type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> std::io::Result<Hangups> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(not(unix))]
fn hangup_signals() -> std::io::Result<Hangups> {
    Err(std::io::Error::other("no SIGHUP on this platform"))
}

/// The next SIGHUP; never resolves without a signal stream.
async fn next_hangup(hangups: &mut Option<Hangups>) -> Option<()> {
    match hangups {
        #[cfg(unix)]
        Some(signals) => signals.recv().await,
        _ => std::future::pending().await,
    }
}
