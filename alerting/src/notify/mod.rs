//! Notifications, as Alertmanager makes them, inside Argus: evaluation hands alerts to the
//! [`Notifier`] ([`AlertSink::send`], never blocking); the dispatcher routes them, gathers
//! them into groups and flushes each group on its timers; a flush that has news (checked
//! against the notification log, with silences applied) renders the receiver's body into the
//! durable queue; delivery tasks POST queued notifications with retries. Silences have an
//! HTTP API ([`silences_router`]). Everything lives under the notifier's directory:
//! `queue/`, `nflog.json`, `silences.json` (see `alerting/docs/notifications.md`).

mod api;
mod body;
mod config;
mod deliver;
mod dispatch;
mod matcher;
mod metrics;
mod nflog;
mod queue;
mod route;
mod silence;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use storage::now_ms;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use api::silences_router;
pub use config::{BodyKind, NotifyConfig, ReceiverConfig, RouteConfig};
pub use silence::{Silence, SilenceMatcher, SilenceState};

use crate::alert::{AlertSink, LabelSet, NotifyAlert, fingerprint};
use crate::error::AlertingError;
use config::Compiled;
use dispatch::{Dispatcher, Flush, needs_update};
use metrics::NotifyMetrics;
use nflog::{LogEntry, NotificationLog};
use queue::{Queue, Queued};
use silence::Silences;

/// Batches of alerts [`AlertSink::send`] may leave waiting for the dispatcher.
const INPUT_CAPACITY: usize = 1024;
/// Webhook requests in flight at once, over all receivers.
const DELIVERY_SLOTS: usize = 16;
/// How often silences and the notification log are tidied and the silence gauges set.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);

/// The notification side of alerting: receivers, routes, groups, silences and delivery.
pub struct Notifier {
    compiled: RwLock<Arc<Compiled>>,
    external_url: String,
    input: mpsc::Sender<Vec<NotifyAlert>>,
    input_rx: Mutex<Option<mpsc::Receiver<Vec<NotifyAlert>>>>,
    dispatcher: Mutex<Dispatcher>,
    /// Wakes the run loop when a reload re-made the groups (their timers changed).
    rerouted: tokio::sync::Notify,
    silences: Silences,
    nflog: NotificationLog,
    queue: Queue,
    /// Notifications found in the queue at open, delivered once `run` starts.
    resumed: Mutex<Vec<Queued>>,
    client: reqwest::Client,
    delivery_slots: Arc<Semaphore>,
    metrics: NotifyMetrics,
}

impl Notifier {
    /// Validates `config` and opens the notifier's state under `dir` (created if missing):
    /// the delivery queue, the notification log and the silences. `external_url` is Argus'
    /// own address as receivers should link to it.
    pub fn open(
        config: NotifyConfig,
        dir: &Path,
        external_url: &str,
        registry: &prometheus::Registry,
    ) -> Result<Arc<Notifier>, AlertingError> {
        let compiled = Compiled::new(&config)?;
        std::fs::create_dir_all(dir).map_err(|e| AlertingError::io(dir, e))?;
        let silences = Silences::open(dir)?;
        let nflog = NotificationLog::open(dir)?;
        let (queue, resumed) = Queue::open(dir)?;
        // A crash between writing a queue file and the log leaves the log behind the queue:
        // the queue is what will be delivered, so the log follows it.
        for queued in &resumed {
            let behind = nflog
                .get(&queued.receiver, &queued.group_key)
                .is_none_or(|entry| entry.sent_ms < queued.created_ms);
            if behind {
                nflog.record(
                    &queued.receiver,
                    &queued.group_key,
                    LogEntry {
                        firing: queued.firing.clone(),
                        resolved: queued.resolved.clone(),
                        sent_ms: queued.created_ms,
                        notification: Some(queued.id.clone()),
                        delivered_ms: None,
                    },
                );
            }
        }
        nflog.persist()?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("Argus/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlertingError::HttpClient(e.to_string()))?;
        let metrics = NotifyMetrics::new(registry);
        metrics.queue_length.set(resumed.len() as i64);
        if !resumed.is_empty() {
            tracing::info!(count = resumed.len(), "resuming queued notifications");
        }
        let (input, input_rx) = mpsc::channel(INPUT_CAPACITY);
        Ok(Arc::new(Notifier {
            compiled: RwLock::new(Arc::new(compiled)),
            external_url: external_url.trim_end_matches('/').to_owned(),
            input,
            input_rx: Mutex::new(Some(input_rx)),
            dispatcher: Mutex::new(Dispatcher::default()),
            rerouted: tokio::sync::Notify::new(),
            silences,
            nflog,
            queue,
            resumed: Mutex::new(resumed),
            client,
            delivery_slots: Arc::new(Semaphore::new(DELIVERY_SLOTS)),
            metrics,
        }))
    }

    /// Swaps in a new configuration (validated first; on error the old one stays) and routes
    /// the current alerts again. What was already sent is not sent again.
    pub fn reload(&self, config: NotifyConfig) -> Result<(), AlertingError> {
        let compiled = Arc::new(Compiled::new(&config)?);
        *self.compiled.write() = Arc::clone(&compiled);
        self.dispatcher
            .lock()
            .reroute(compiled.route.as_ref(), Instant::now(), now_ms());
        self.rerouted.notify_one();
        tracing::info!(
            receivers = compiled.receivers.len(),
            "notification config reloaded"
        );
        Ok(())
    }

    /// Every silence, expired ones included until they are garbage-collected.
    pub fn silences(&self) -> Vec<Silence> {
        self.silences.list()
    }

    /// Whether an active silence mutes alerts with these labels.
    pub fn is_silenced(&self, labels: &LabelSet) -> bool {
        !self.silences.silenced_by(labels, now_ms()).is_empty()
    }

    /// The ids of the active silences muting alerts with these labels.
    pub fn silenced_by(&self, labels: &LabelSet) -> Vec<String> {
        self.silences.silenced_by(labels, now_ms())
    }

    /// The alerts the notifier holds: firing ones, and resolved ones for 15 minutes.
    pub fn alerts(&self) -> Vec<NotifyAlert> {
        self.dispatcher.lock().alerts()
    }

    /// Runs the dispatcher's timers and the deliveries until `stop` completes. Everything a
    /// restart needs is on disk before it is acted upon, so stopping (or crashing) at any
    /// point loses no queued notification; deliveries in progress are resumed by the next run.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()> + Send + 'static) {
        let Some(mut input) = self.input_rx.lock().take() else {
            tracing::warn!("notifier already running");
            return;
        };
        let mut deliveries = Deliveries {
            tasks: JoinSet::new(),
            stop: watch::channel(false).0,
        };
        for queued in std::mem::take(&mut *self.resumed.lock()) {
            deliveries.start(&self, queued);
        }
        let mut maintenance = tokio::time::interval(MAINTENANCE_EVERY);
        tokio::pin!(stop);
        loop {
            let next_flush = self.dispatcher.lock().next_flush();
            let flush_timer = async {
                match next_flush {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break,
                batch = input.recv() => {
                    let Some(batch) = batch else { break };
                    self.ingest(batch);
                    while let Ok(batch) = input.try_recv() {
                        self.ingest(batch);
                    }
                }
                () = flush_timer => self.flush_due(&mut deliveries).await,
                () = self.rerouted.notified() => {}
                _ = maintenance.tick() => self.maintain().await,
                Some(_) = deliveries.tasks.join_next(), if !deliveries.tasks.is_empty() => {}
            }
        }
        // Deliveries stop at their next safe point; waiting for them means no file is being
        // written once `run` returns.
        let _ = deliveries.stop.send(true);
        while deliveries.tasks.join_next().await.is_some() {}
        tracing::info!(queued = self.queue.len(), "notifier stopped");
    }

    fn ingest(&self, batch: Vec<NotifyAlert>) {
        let root = self.compiled.read().route.clone();
        let now = Instant::now();
        let now_ms = now_ms();
        let mut dispatcher = self.dispatcher.lock();
        for alert in batch {
            dispatcher.insert(root.as_ref(), alert, now, now_ms);
        }
    }

    /// Flushes the groups that are due: decides, renders, makes the notifications durable
    /// (off the async threads), then starts their deliveries.
    async fn flush_due(self: &Arc<Self>, deliveries: &mut Deliveries) {
        let flushes = self.dispatcher.lock().due(Instant::now());
        let now_ms = now_ms();
        let compiled = Arc::clone(&self.compiled.read());
        let plans: Vec<Plan> = flushes
            .into_iter()
            .filter_map(|flush| self.plan(&compiled, flush, now_ms))
            .collect();
        if plans.is_empty() {
            return;
        }
        let this = Arc::clone(self);
        match tokio::task::spawn_blocking(move || this.persist(plans)).await {
            Ok(queued) => {
                for queued in queued {
                    deliveries.start(self, queued);
                }
            }
            Err(e) => tracing::error!(error = %e, "notification persistence task failed"),
        }
    }

    /// What one flushed group needs: nothing, a log entry only (nothing the receiver wants
    /// to hear, e.g. only resolved alerts without `send_resolved`), or a notification.
    fn plan(&self, compiled: &Compiled, flush: Flush, now_ms: i64) -> Option<Plan> {
        let receiver = compiled.receivers.get(&flush.route.receiver)?;
        let unsilenced: Vec<&NotifyAlert> = flush
            .alerts
            .iter()
            .filter(|a| self.silences.silenced_by(&a.labels, now_ms).is_empty())
            .collect();
        let fingerprints = |resolved: bool| -> BTreeSet<u64> {
            unsilenced
                .iter()
                .filter(|a| a.is_resolved() == resolved)
                .map(|a| fingerprint(&a.labels))
                .collect()
        };
        let (firing, resolved) = (fingerprints(false), fingerprints(true));
        let last = self.nflog.get(&receiver.name, &flush.group_key);
        if !needs_update(
            last.as_ref(),
            &firing,
            &resolved,
            receiver.send_resolved,
            flush.route.repeat_interval,
            now_ms,
        ) {
            return None;
        }
        let to_send: Vec<&NotifyAlert> = unsilenced
            .into_iter()
            .filter(|a| receiver.send_resolved || !a.is_resolved())
            .collect();
        let queued = if to_send.is_empty() {
            None
        } else {
            let data = body::GroupData {
                receiver: &receiver.name,
                group_key: &flush.group_key,
                group_labels: &flush.group_labels,
                alerts: to_send,
                external_url: &self.external_url,
            };
            let body = match body::render(receiver, &data) {
                Ok(body) => body,
                Err(reason) => {
                    self.metrics
                        .failed
                        .with_label_values(&[receiver.name.as_str(), "body"])
                        .inc();
                    tracing::error!(receiver = %receiver.name, %reason, "cannot render a notification");
                    return None;
                }
            };
            Some(Queued {
                id: Queued::new_id(now_ms),
                receiver: receiver.name.clone(),
                group_key: flush.group_key.clone(),
                created_ms: now_ms,
                attempts: 0,
                next_attempt_ms: now_ms,
                content_type: receiver.content_type.clone(),
                body,
                firing: firing.clone(),
                resolved: resolved.clone(),
            })
        };
        Some(Plan {
            receiver: receiver.name.clone(),
            group_key: flush.group_key,
            entry: LogEntry {
                firing,
                resolved,
                sent_ms: now_ms,
                notification: queued.as_ref().map(|q| q.id.clone()),
                delivered_ms: None,
            },
            queued,
        })
    }

    /// Writes the notifications, then the log entries; answers the notifications to deliver.
    fn persist(&self, plans: Vec<Plan>) -> Vec<Queued> {
        let started = std::time::Instant::now();
        let mut to_deliver = Vec::new();
        for plan in plans {
            if let Some(queued) = &plan.queued {
                if let Err(e) = self.queue.write(queued) {
                    // Not logged as sent: the group's next flush tries again.
                    tracing::error!(error = %e, receiver = %plan.receiver, "cannot queue a notification");
                    continue;
                }
                if let Err(e) = self.queue.promote(queued) {
                    tracing::warn!(error = %e, "cannot delete a superseded notification");
                }
            }
            self.nflog
                .record(&plan.receiver, &plan.group_key, plan.entry);
            to_deliver.extend(plan.queued);
        }
        if let Err(e) = self.nflog.persist() {
            tracing::error!(error = %e, "cannot write the notification log");
        }
        self.metrics.queue_length.set(self.queue.len() as i64);
        self.metrics
            .persist_seconds
            .observe(started.elapsed().as_secs_f64());
        to_deliver
    }

    async fn maintain(self: &Arc<Self>) {
        let now = now_ms();
        let root = self.compiled.read().route.clone();
        {
            let mut dispatcher = self.dispatcher.lock();
            let stale = dispatcher.resolve_stale(root.as_ref(), Instant::now(), now);
            if stale > 0 {
                tracing::info!(
                    count = stale,
                    "alerts no longer sent by evaluation resolved"
                );
            }
            dispatcher.expire(now);
        }
        let this = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            if this.nflog.expire(now) {
                this.nflog.persist()?;
            }
            this.silences.maintain(now)
        })
        .await;
        match result {
            Ok(Ok(counts)) => {
                for (state, count) in counts {
                    self.metrics
                        .silences
                        .with_label_values(&[state.as_str()])
                        .set(count);
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "notifier maintenance failed"),
            Err(e) => tracing::error!(error = %e, "notifier maintenance task failed"),
        }
    }
}

/// The delivery tasks of a run, and the signal that ends them.
struct Deliveries {
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Deliveries {
    fn start(&mut self, notifier: &Arc<Notifier>, queued: Queued) {
        self.tasks.spawn(deliver::deliver(
            Arc::clone(notifier),
            queued,
            self.stop.subscribe(),
        ));
    }
}

/// A flush's decision, made durable by [`Notifier::persist`].
struct Plan {
    receiver: String,
    group_key: String,
    entry: LogEntry,
    queued: Option<Queued>,
}

impl AlertSink for Notifier {
    fn send(&self, alerts: Vec<NotifyAlert>) {
        let count = alerts.len() as u64;
        if count == 0 {
            return;
        }
        self.metrics.alerts_received.inc_by(count);
        if self.input.try_send(alerts).is_err() {
            self.metrics.alerts_dropped.inc_by(count);
            tracing::warn!(count, "notifier input queue full, alerts dropped");
        }
    }
}
