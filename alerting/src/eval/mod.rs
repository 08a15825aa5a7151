//! The rule manager: owns the loaded groups, their schedule (aligned intervals, one task per
//! group, evaluation on blocking threads), reloads that keep alert state, state persistence
//! and history, and the seams it evaluates through ([`EvalDeps`]). How one group is evaluated
//! is in `group.rs`; the HTTP API in `api.rs`.

mod api;
mod group;
mod history;
mod logs;
mod metrics;
mod render;
mod state;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use query::promql::{Engine, EngineConfig, SeriesSource};
use storage::{SeriesWriter, now_ms};
use tokio::sync::watch;

use crate::alert::{AlertSink, LabelSet, fingerprint};
use crate::error::AlertingError;
use crate::rules::RuleGroup;

pub use api::rules_router;

use group::Group;
use history::History;
use metrics::EvalMetrics;
use state::StateFile;

/// How the rule manager evaluates; the binary builds it from its flags.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Where `state.json` and `history.jsonl` live (`<data>/alerting/eval`); created if missing.
    pub data_dir: PathBuf,
    /// The interval of groups that set none (Prometheus' `evaluation_interval`, 1m).
    pub default_interval: Duration,
    /// The query offset of groups that set none.
    pub default_query_offset: Duration,
    /// Argus' external URL, for alerts' `generatorURL` and templates' `$externalURL`.
    pub external_url: String,
    /// Added to notified alerts (alert labels win) and given to templates.
    pub external_labels: LabelSet,
    pub engine: EngineConfig,
    /// How long history entries are kept.
    pub history_retention: Duration,
}

/// Counts log lines for `logs_count` rules. Implemented for [`storage::LogStore`].
pub trait LogCounter: Send + Sync {
    /// Lines matching `query` (Lucene) with time in [start_ms, end_ms], grouped by `by` (a
    /// subset of level/service/host; empty: one total). Lines without a `by` field are
    /// counted in a group without that label.
    fn count(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        by: &[String],
    ) -> Result<Vec<(LabelSet, u64)>, AlertingError>;
}

/// What the rule manager reads from and writes to.
pub struct EvalDeps<'a> {
    pub source: Arc<dyn SeriesSource>,
    pub writer: Arc<dyn SeriesWriter>,
    pub logs: Option<Arc<dyn LogCounter>>,
    pub sink: Arc<dyn AlertSink>,
    pub registry: &'a prometheus::Registry,
}

/// Evaluates rule groups on their intervals and keeps their alerts' state.
pub struct RuleManager {
    config: EvalConfig,
    engine: Engine<Arc<dyn SeriesSource>>,
    writer: Arc<dyn SeriesWriter>,
    logs: Option<Arc<dyn LogCounter>>,
    sink: Arc<dyn AlertSink>,
    metrics: EvalMetrics,
    groups: RwLock<Arc<Vec<Arc<Group>>>>,
    /// Bumped by every [`RuleManager::apply`], so that `run` restarts the changed groups.
    generation: watch::Sender<u64>,
    /// Group evaluations running at once, at most one per core: more would only make each
    /// take longer (evaluation is CPU-bound) and hold more memory at once.
    evaluation_slots: Arc<tokio::sync::Semaphore>,
    state: StateFile,
    history: History,
}

impl RuleManager {
    /// Opens the data directory, restores `state.json` (a corrupt one is set aside) and
    /// prunes the history. No group runs until [`RuleManager::apply`] gives the rules.
    pub fn open(config: EvalConfig, deps: EvalDeps<'_>) -> Result<Arc<RuleManager>, AlertingError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| AlertingError::io(&config.data_dir, e))?;
        let state = StateFile::open(&config.data_dir)?;
        let history = History::open(&config.data_dir, config.history_retention)?;
        let (generation, _) = watch::channel(0);
        Ok(Arc::new(RuleManager {
            engine: Engine::new(deps.source, config.engine.clone()),
            writer: deps.writer,
            logs: deps.logs,
            sink: deps.sink,
            metrics: EvalMetrics::new(deps.registry),
            groups: RwLock::new(Arc::new(Vec::new())),
            generation,
            evaluation_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            state,
            history,
            config,
        }))
    }

    /// Replaces the rule set (a reload). Rules that survive (same file, group name, rule name,
    /// expr, labels) keep their alert state, like Prometheus' `copyState`; after a restart the
    /// first call takes the state `open` restored. Series of rules and groups that are gone
    /// get staleness markers. Never fails: the rules are already validated. Blocks while an
    /// evaluation of a replaced group finishes, and for the markers' write.
    pub fn apply(&self, specs: Vec<RuleGroup>) {
        let old = self.groups.read().clone();
        let mut old_by_key: HashMap<(PathBuf, String), Arc<Group>> = old
            .iter()
            .map(|g| ((g.spec.file.clone(), g.spec.name.clone()), g.clone()))
            .collect();
        let mut new = Vec::with_capacity(specs.len());
        for spec in specs {
            let interval = spec.interval.unwrap_or(self.config.default_interval);
            let offset = spec
                .query_offset
                .unwrap_or(self.config.default_query_offset);
            let group = Group::new(spec, interval, offset);
            match old_by_key.remove(&(group.spec.file.clone(), group.spec.name.clone())) {
                Some(previous) => group.take_state_from(&previous),
                None => group.restore(&self.state),
            }
            self.metrics.set_group_shape(&group);
            new.push(Arc::new(group));
        }
        for gone in old_by_key.into_values() {
            let stale = gone.retire();
            self.metrics.remove_group(&gone.key);
            if let Err(err) = group::write_stale(self.writer.as_ref(), stale, now_ms()) {
                tracing::warn!(group = %gone.key, error = %err, "cannot mark the series of a removed rule group stale");
            }
        }
        self.state.keep_only(&new);
        if let Err(err) = self.state.save() {
            tracing::warn!(error = %err, "cannot write the alert state file");
        }
        tracing::info!(
            groups = new.len(),
            rules = new.iter().map(|g| g.spec.rules.len()).sum::<usize>(),
            "rule groups applied"
        );
        *self.groups.write() = Arc::new(new);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Evaluates until `stop` resolves; each group its own schedule, evaluation on blocking
    /// threads (at most one per core at once), never overlapping itself. A group replaced by
    /// [`RuleManager::apply`] stops
    /// after its evaluation in progress; on `stop`, evaluations in progress are waited for.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()> + Send + 'static) {
        let mut generation = self.generation.subscribe();
        // Writes a state change that a later evaluation did not write (see `save_if_due`).
        let mut state_tick = tokio::time::interval(STATE_SAVE_GAP);
        state_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut running: Vec<(Arc<Group>, watch::Sender<bool>, tokio::task::JoinHandle<()>)> =
            Vec::new();
        tokio::pin!(stop);
        'outer: loop {
            // Marked seen before the groups are read, so an `apply` in between is not missed.
            generation.borrow_and_update();
            let groups = self.groups.read().clone();
            running.retain(|(group, cancel, _)| {
                let keep = groups.iter().any(|g| Arc::ptr_eq(g, group));
                if !keep {
                    let _ = cancel.send(true);
                }
                keep
            });
            for group in groups.iter() {
                if !running.iter().any(|(g, _, _)| Arc::ptr_eq(g, group)) {
                    let (cancel, cancelled) = watch::channel(false);
                    let task = tokio::spawn(self.clone().run_group(group.clone(), cancelled));
                    running.push((group.clone(), cancel, task));
                }
            }
            loop {
                tokio::select! {
                    () = &mut stop => break 'outer,
                    changed = generation.changed() => {
                        if changed.is_err() {
                            break 'outer;
                        }
                        break;
                    }
                    _ = state_tick.tick() => {
                        let manager = self.clone();
                        let saved = tokio::task::spawn_blocking(move || {
                            manager.state.save_if_due(STATE_SAVE_GAP)
                        })
                        .await;
                        if let Ok(Err(err)) = saved {
                            tracing::warn!(error = %err, "cannot write the alert state file");
                        }
                    }
                }
            }
        }
        for (_, cancel, _) in &running {
            let _ = cancel.send(true);
        }
        for (group, _, task) in running {
            if let Err(err) = task.await {
                tracing::error!(group = %group.key, error = %err, "rule group task failed");
            }
        }
        let manager = self.clone();
        let _ = tokio::task::spawn_blocking(move || manager.save_state_if_changed()).await;
    }

    fn save_state_if_changed(&self) {
        if let Err(err) = self.state.save_if_due(Duration::ZERO) {
            tracing::warn!(error = %err, "cannot write the alert state file");
        }
    }

    /// One group's schedule: evaluation at every `k·interval + offset`, the offset a stable
    /// hash of the group, so that groups spread over the interval and keep their phase
    /// across restarts. An evaluation that overruns skips the slots it missed.
    async fn run_group(self: Arc<Self>, group: Arc<Group>, mut cancelled: watch::Receiver<bool>) {
        let interval = duration_ms(group.interval).max(1);
        let offset = schedule_offset(&group.spec.file, &group.spec.name, interval);
        let mut slot = next_slot(now_ms(), interval, offset);
        loop {
            let wait = u64::try_from(slot - now_ms()).unwrap_or(0);
            tokio::select! {
                _ = cancelled.changed() => return,
                () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
            if *cancelled.borrow() {
                return;
            }
            let slot_permit = tokio::select! {
                _ = cancelled.changed() => return,
                permit = self.evaluation_slots.clone().acquire_owned() => permit,
            };
            let Ok(slot_permit) = slot_permit else {
                return;
            };
            let manager = self.clone();
            let evaluated = group.clone();
            let done = tokio::task::spawn_blocking(move || {
                manager.evaluate_group_at(&evaluated, slot);
                drop(slot_permit);
            })
            .await;
            if let Err(err) = done {
                tracing::error!(group = %group.key, error = %err, "rule group evaluation panicked");
            }
            let missed = (now_ms() - slot) / interval;
            self.metrics.iterations(&group.key, missed);
            slot += (missed + 1) * interval;
        }
    }

    /// Evaluates one group at the slot `slot_ms` (its rules see `slot_ms − query_offset`),
    /// writes the results, sends the alerts, records transitions and saves the state if an
    /// alert changed state. A retired group does nothing.
    pub(crate) fn evaluate_group_at(&self, group: &Group, slot_ms: i64) {
        let outcome = group.evaluate(self, slot_ms);
        let Some(outcome) = outcome else {
            return;
        };
        if !outcome.notify.is_empty() {
            self.sink.send(outcome.notify);
        }
        if !outcome.transitions.is_empty() {
            if let Err(err) = self.history.append(&outcome.transitions) {
                tracing::warn!(group = %group.key, error = %err, "cannot append to the alert history");
            }
            self.state.update(group);
            if let Err(err) = self.state.save_if_due(STATE_SAVE_GAP) {
                tracing::warn!(group = %group.key, error = %err, "cannot write the alert state file");
            }
        }
    }

    pub(crate) fn groups(&self) -> Arc<Vec<Arc<Group>>> {
        self.groups.read().clone()
    }

    pub(crate) fn history(&self) -> &History {
        &self.history
    }
}

impl Drop for RuleManager {
    /// The last state change reaches the file even when `run` was never called (tests, a
    /// binary that only evaluates on demand).
    fn drop(&mut self) {
        self.save_state_if_changed();
    }
}

/// The shortest time between two writes of `state.json` during evaluation.
const STATE_SAVE_GAP: Duration = Duration::from_secs(1);

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The group's phase within its interval: a stable hash of file and name (Prometheus hashes
/// the group key the same way, so restarts keep the phase).
fn schedule_offset(file: &Path, name: &str, interval_ms: i64) -> i64 {
    let key = LabelSet::from([
        ("file".to_owned(), file.display().to_string()),
        ("name".to_owned(), name.to_owned()),
    ]);
    i64::try_from(fingerprint(&key) % interval_ms.unsigned_abs()).unwrap_or(0)
}

/// The first time `k·interval + offset` at or after `now`.
fn next_slot(now: i64, interval: i64, offset: i64) -> i64 {
    let base = now - (now - offset).rem_euclid(interval);
    if base < now { base + interval } else { base }
}
