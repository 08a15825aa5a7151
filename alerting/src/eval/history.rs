//! `history.jsonl`: every alert state transition, one JSON object per line, appended and
//! flushed as it happens; read back newest first for `/api/v1/alerts/history`. Entries older
//! than the retention are dropped by rewriting the file at start-up and then hourly.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use storage::now_ms;

use crate::alert::LabelSet;
use crate::error::AlertingError;

const FILE: &str = "history.jsonl";
const PRUNE_EVERY_MS: i64 = 3600 * 1000;

/// One change of one alert's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Transition {
    /// The evaluation's time, ms since the epoch.
    pub(crate) time_ms: i64,
    pub(crate) group: String,
    pub(crate) file: String,
    pub(crate) rule: String,
    pub(crate) labels: LabelSet,
    /// `inactive`, `pending` or `firing`.
    pub(crate) from: String,
    /// `pending`, `firing`, `resolved` (was firing) or `inactive` (was pending).
    pub(crate) to: String,
    /// The expression's value; text, so that NaN survives JSON.
    pub(crate) value: String,
}

/// Which entries a reader wants.
pub(crate) struct HistoryQuery {
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) alertname: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) limit: usize,
}

pub(crate) struct History {
    dir: PathBuf,
    path: PathBuf,
    retention_ms: i64,
    inner: Mutex<Appender>,
}

struct Appender {
    file: File,
    pruned_at_ms: i64,
}

impl History {
    pub(crate) fn open(dir: &Path, retention: Duration) -> Result<History, AlertingError> {
        let path = dir.join(FILE);
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        prune(dir, now_ms().saturating_sub(retention_ms))?;
        let mut file = open_append(&path)?;
        // A torn last line (a crash mid-append) is ended, so the next entry starts a line.
        let torn = std::fs::read(&path)
            .map_err(|e| AlertingError::io(&path, e))?
            .last()
            .is_some_and(|b| *b != b'\n');
        if torn {
            file.write_all(b"\n")
                .map_err(|e| AlertingError::io(&path, e))?;
        }
        Ok(History {
            dir: dir.to_path_buf(),
            path,
            retention_ms,
            inner: Mutex::new(Appender {
                file,
                pruned_at_ms: now_ms(),
            }),
        })
    }

    pub(crate) fn append(&self, transitions: &[Transition]) -> Result<(), AlertingError> {
        let mut text = Vec::new();
        for t in transitions {
            serde_json::to_writer(&mut text, t)
                .map_err(|e| AlertingError::io(&self.path, e.into()))?;
            text.push(b'\n');
        }
        let mut inner = self.inner.lock();
        let now = now_ms();
        if now - inner.pruned_at_ms > PRUNE_EVERY_MS {
            prune(&self.dir, now.saturating_sub(self.retention_ms))?;
            inner.file = open_append(&self.path)?;
            inner.pruned_at_ms = now;
        }
        inner
            .file
            .write_all(&text)
            .and_then(|()| inner.file.flush())
            .map_err(|e| AlertingError::io(&self.path, e))
    }

    /// Matching entries, newest first, at most `limit`.
    pub(crate) fn read(&self, q: &HistoryQuery) -> Result<Vec<Transition>, AlertingError> {
        let mut out: Vec<Transition> = read_all(&self.path)?
            .into_iter()
            .filter(|t| {
                t.time_ms >= q.start_ms
                    && t.time_ms <= q.end_ms
                    && q.alertname.as_ref().is_none_or(|name| &t.rule == name)
                    && q.state.as_ref().is_none_or(|state| &t.to == state)
            })
            .collect();
        out.sort_by_key(|t| std::cmp::Reverse(t.time_ms));
        out.truncate(q.limit);
        Ok(out)
    }
}

fn open_append(path: &Path) -> Result<File, AlertingError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| AlertingError::io(path, e))
}

/// Every entry that parses; a torn last line (a crash mid-append) is skipped.
fn read_all(path: &Path) -> Result<Vec<Transition>, AlertingError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(AlertingError::io(path, err)),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| AlertingError::io(path, e))?;
        if let Ok(entry) = serde_json::from_str::<Transition>(&line) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Rewrites the file without the entries older than `cutoff_ms`, if it has any.
fn prune(dir: &Path, cutoff_ms: i64) -> Result<(), AlertingError> {
    let path = dir.join(FILE);
    let entries = read_all(&path)?;
    if entries.iter().all(|t| t.time_ms >= cutoff_ms) {
        return Ok(());
    }
    let mut text = Vec::new();
    for t in entries.iter().filter(|t| t.time_ms >= cutoff_ms) {
        serde_json::to_writer(&mut text, t).map_err(|e| AlertingError::io(&path, e.into()))?;
        text.push(b'\n');
    }
    storage::write_atomically(dir, FILE, &text)?;
    Ok(())
}
