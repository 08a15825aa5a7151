//! `state.json`: the alerts of every alerting rule, so that a restart neither announces a
//! firing alert as new nor restarts a pending alert's `for`. Written whole and atomically,
//! at most once a second (and when the manager stops or is dropped),
//! (`storage::write_atomically`: temporary file, fsync, rename, fsync of the directory) after an evaluation that changed
//! an alert's state; a file that does not parse is renamed aside and logged, not fatal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::group::{Alert, Group};
use crate::alert::LabelSet;
use crate::error::AlertingError;
use crate::rules::Rule;

const FILE: &str = "state.json";
const VERSION: u32 = 1;

/// Which rule an alert belongs to across reloads and restarts: the identity Prometheus'
/// `copyState` matches on, plus the group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct RuleKey {
    pub(crate) file: PathBuf,
    pub(crate) group: String,
    pub(crate) rule: String,
    pub(crate) expr: String,
    pub(crate) labels: LabelSet,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    rules: Vec<RuleAlerts>,
}

#[derive(Serialize, Deserialize)]
struct RuleAlerts {
    #[serde(flatten)]
    key: RuleKey,
    alerts: Vec<Alert>,
}

pub(crate) struct StateFile {
    dir: PathBuf,
    path: PathBuf,
    alerts: Mutex<HashMap<RuleKey, Vec<Alert>>>,
    /// Set when `alerts` changed after the last write.
    dirty: AtomicBool,
    /// Held while the file is written, so that two writers do not share the temporary file;
    /// holds when it was last written.
    writing: Mutex<Option<Instant>>,
}

impl StateFile {
    pub(crate) fn open(dir: &Path) -> Result<StateFile, AlertingError> {
        let path = dir.join(FILE);
        let alerts = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<OnDisk>(&bytes) {
                Ok(disk) if disk.version == VERSION => {
                    disk.rules.into_iter().map(|r| (r.key, r.alerts)).collect()
                }
                Ok(disk) => {
                    set_aside(&path, &format!("unknown version {}", disk.version))?;
                    HashMap::new()
                }
                Err(err) => {
                    set_aside(&path, &err.to_string())?;
                    HashMap::new()
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(err) => return Err(AlertingError::io(&path, err)),
        };
        if !alerts.is_empty() {
            tracing::info!(rules = alerts.len(), "alert state restored");
        }
        Ok(StateFile {
            dir: dir.to_path_buf(),
            path,
            alerts: Mutex::new(alerts),
            dirty: AtomicBool::new(false),
            writing: Mutex::new(None),
        })
    }

    /// Removes and returns what the file held for `key`.
    pub(crate) fn take(&self, key: &RuleKey) -> Vec<Alert> {
        self.alerts.lock().remove(key).unwrap_or_default()
    }

    /// Replaces the whole content with the alerts of `groups` (after a reload: rules that are
    /// gone take their state with them).
    pub(crate) fn keep_only(&self, groups: &[std::sync::Arc<Group>]) {
        let mut all = HashMap::new();
        for group in groups {
            all.extend(alerts_of(group));
        }
        *self.alerts.lock() = all;
    }

    /// Takes the current alerts of one group.
    pub(crate) fn update(&self, group: &Group) {
        let current = alerts_of(group);
        let mut alerts = self.alerts.lock();
        alerts.retain(|key, _| key.file != group.spec.file || key.group != group.spec.name);
        alerts.extend(current);
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// Writes the file if it changed and was last written at least `min_gap` ago. The file
    /// holds every rule's alerts, so with many groups changing state in the same second it
    /// is written once for all of them rather than once per group.
    pub(crate) fn save_if_due(&self, min_gap: Duration) -> Result<(), AlertingError> {
        if !self.dirty.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut writing = self.writing.lock();
        if writing.is_some_and(|at| at.elapsed() < min_gap) {
            return Ok(());
        }
        self.write(&mut writing)
    }

    pub(crate) fn save(&self) -> Result<(), AlertingError> {
        let mut writing = self.writing.lock();
        self.write(&mut writing)
    }

    fn write(&self, written_at: &mut Option<Instant>) -> Result<(), AlertingError> {
        let bytes = {
            let alerts = self.alerts.lock();
            self.dirty.store(false, Ordering::SeqCst);
            let mut rules: Vec<RuleAlerts> = alerts
                .iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(key, alerts)| RuleAlerts {
                    key: key.clone(),
                    alerts: alerts.clone(),
                })
                .collect();
            rules.sort_by(|a, b| {
                (&a.key.file, &a.key.group, &a.key.rule).cmp(&(
                    &b.key.file,
                    &b.key.group,
                    &b.key.rule,
                ))
            });
            serde_json::to_vec(&OnDisk {
                version: VERSION,
                rules,
            })
            .map_err(|e| AlertingError::io(&self.path, e.into()))?
        };
        *written_at = Some(Instant::now());
        if let Err(err) = storage::write_atomically(&self.dir, FILE, &bytes) {
            self.dirty.store(true, Ordering::SeqCst);
            return Err(err.into());
        }
        Ok(())
    }
}

fn alerts_of(group: &Group) -> Vec<(RuleKey, Vec<Alert>)> {
    let runtime = group.runtime.lock();
    runtime
        .rules
        .iter()
        .filter(|r| matches!(r.rule, Rule::Alerting(_)))
        .map(|r| (r.key(&group.spec), r.active.values().cloned().collect()))
        .collect()
}

fn set_aside(path: &Path, reason: &str) -> Result<(), AlertingError> {
    let aside = path.with_extension(format!("json.corrupt-{}", storage::now_ms()));
    tracing::error!(path = %path.display(), aside = %aside.display(), reason, "alert state file is unreadable; set aside, alerts start inactive");
    std::fs::rename(path, &aside).map_err(|e| AlertingError::io(path, e))
}
