//! Aggregation groups (Alertmanager's `dispatch` package): alerts are routed, gathered per
//! route and group-label values, and each group is flushed `group_wait` after it was created,
//! then every `group_interval`. A flush decides, against the notification log, whether the
//! receiver must hear about the group (Alertmanager's `DedupStage`); resolved alerts leave
//! the group after a flush and an empty group is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::nflog::LogEntry;
use super::route::Route;
use crate::alert::{LabelSet, NotifyAlert, fingerprint};

/// Resolved alerts stay listed this long after they resolve (evaluation re-sends them for
/// 15 minutes as well).
const RESOLVED_KEPT_MS: i64 = 15 * 60 * 1000;

/// The least refresh interval assumed when deciding an alert is stale (Prometheus'
/// `--rules.alert.resend-delay`).
const MIN_REFRESH_MS: i64 = 60 * 1000;
/// A firing alert that evaluation stopped re-sending for this many refresh intervals is
/// resolved, as Alertmanager resolves an alert whose `endsAt` (Prometheus: four intervals
/// ahead) passed; this is what ends the alerts of a rule removed by a reload.
const STALE_AFTER_INTERVALS: i64 = 4;

/// When evaluation last sent a firing alert, and how long it took between its last two sends.
struct Refresh {
    last_ms: i64,
    interval_ms: Option<i64>,
}

struct Group {
    route: Arc<Route>,
    labels: LabelSet,
    key: String,
    alerts: BTreeMap<u64, NotifyAlert>,
    next_flush: Instant,
    flushed: bool,
}

/// One group's alerts at a flush, for the notifier to turn into a notification.
pub(crate) struct Flush {
    pub(crate) route: Arc<Route>,
    pub(crate) group_labels: LabelSet,
    pub(crate) group_key: String,
    /// The group's alerts, sorted by labels.
    pub(crate) alerts: Vec<NotifyAlert>,
}

#[derive(Default)]
pub(crate) struct Dispatcher {
    groups: HashMap<(String, LabelSet), Group>,
    /// Every alert received, by fingerprint, for listing (routes or not).
    alerts: HashMap<u64, NotifyAlert>,
    refreshes: HashMap<u64, Refresh>,
}

impl Dispatcher {
    /// Takes an alert sent by evaluation: adds or refreshes it in the groups of the routes it
    /// matches, and notes when it was sent.
    pub(crate) fn insert(
        &mut self,
        root: Option<&Arc<Route>>,
        alert: NotifyAlert,
        now: Instant,
        now_ms: i64,
    ) {
        let fp = fingerprint(&alert.labels);
        if alert.is_resolved() {
            self.refreshes.remove(&fp);
        } else {
            let refresh = self.refreshes.entry(fp).or_insert(Refresh {
                last_ms: now_ms,
                interval_ms: None,
            });
            if now_ms > refresh.last_ms {
                refresh.interval_ms = Some(now_ms - refresh.last_ms);
                refresh.last_ms = now_ms;
            }
        }
        self.place(root, alert, now, now_ms);
    }

    /// Puts an alert into the groups of the routes it matches, and the listing.
    fn place(&mut self, root: Option<&Arc<Route>>, alert: NotifyAlert, now: Instant, now_ms: i64) {
        let fp = fingerprint(&alert.labels);
        if let Some(root) = root {
            for route in root.matching(&alert.labels) {
                let labels = route.group_labels(&alert.labels);
                let group = self
                    .groups
                    .entry((route.id.clone(), labels.clone()))
                    .or_insert_with(|| Group {
                        key: route.group_key(&labels),
                        next_flush: now + route.group_wait,
                        route: Arc::clone(&route),
                        labels,
                        alerts: BTreeMap::new(),
                        flushed: false,
                    });
                // An alert that started longer than group_wait ago gains nothing by waiting.
                let waited = now_ms.saturating_sub(alert.starts_at_ms);
                if !group.flushed
                    && u128::try_from(waited).unwrap_or(0) >= group.route.group_wait.as_millis()
                {
                    group.next_flush = group.next_flush.min(now);
                }
                group.alerts.insert(fp, alert.clone());
            }
        }
        self.alerts.insert(fp, alert);
    }

    pub(crate) fn next_flush(&self) -> Option<Instant> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Takes the groups due at `now`, schedules their next flush and drops their resolved
    /// alerts (they are in the returned flush), and empty groups.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Flush> {
        let mut flushes = Vec::new();
        for group in self.groups.values_mut() {
            if group.next_flush > now {
                continue;
            }
            let mut alerts: Vec<NotifyAlert> = group.alerts.values().cloned().collect();
            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
            flushes.push(Flush {
                route: Arc::clone(&group.route),
                group_labels: group.labels.clone(),
                group_key: group.key.clone(),
                alerts,
            });
            group.alerts.retain(|_, alert| !alert.is_resolved());
            group.flushed = true;
            group.next_flush = now + group.route.group_interval;
        }
        self.groups.retain(|_, g| !g.alerts.is_empty());
        flushes
    }

    /// Every alert, routed again from scratch (after a reload): new groups, new timers; the
    /// notification log keeps what was already sent from being sent again.
    pub(crate) fn reroute(&mut self, root: Option<&Arc<Route>>, now: Instant, now_ms: i64) {
        self.groups.clear();
        let alerts: Vec<NotifyAlert> = self.alerts.values().cloned().collect();
        for alert in alerts {
            if !alert.is_resolved() {
                self.place(root, alert, now, now_ms);
            }
        }
    }

    /// Forgets alerts resolved long ago.
    pub(crate) fn expire(&mut self, now_ms: i64) {
        self.alerts.retain(|_, a| {
            a.ends_at_ms
                .is_none_or(|end| now_ms - end < RESOLVED_KEPT_MS)
        });
    }

    /// Resolves the firing alerts evaluation stopped sending (see [`STALE_AFTER_INTERVALS`]);
    /// answers how many. An alert seen only once has no known interval and is left alone.
    pub(crate) fn resolve_stale(
        &mut self,
        root: Option<&Arc<Route>>,
        now: Instant,
        now_ms: i64,
    ) -> usize {
        let stale: Vec<u64> = self
            .refreshes
            .iter()
            .filter(|(_, r)| {
                r.interval_ms.is_some_and(|interval| {
                    now_ms - r.last_ms > STALE_AFTER_INTERVALS * interval.max(MIN_REFRESH_MS)
                })
            })
            .map(|(fp, _)| *fp)
            .collect();
        for fp in &stale {
            self.refreshes.remove(fp);
            if let Some(mut alert) = self.alerts.get(fp).cloned() {
                alert.ends_at_ms = Some(now_ms);
                self.place(root, alert, now, now_ms);
            }
        }
        stale.len()
    }

    pub(crate) fn alerts(&self) -> Vec<NotifyAlert> {
        let mut alerts: Vec<NotifyAlert> = self.alerts.values().cloned().collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alerts
    }
}

/// Whether a receiver must be notified of a group whose unsilenced alerts are `firing` and
/// `resolved`, given what it was last told (Alertmanager's `DedupStage.needsUpdate`).
pub(crate) fn needs_update(
    last: Option<&LogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval: Duration,
    now_ms: i64,
) -> bool {
    let Some(last) = last else {
        // Never notified: only firing alerts are news.
        return !firing.is_empty();
    };
    if !firing.is_subset(&last.firing) {
        return true;
    }
    if firing.is_empty() {
        // All resolved: tell it (even without send_resolved, to clear the log) if it had
        // heard of firing alerts; alerts that fired and resolved in between are no news.
        return !last.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&last.resolved) {
        return true;
    }
    let repeat_ms = i64::try_from(repeat_interval.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(last.sent_ms) >= repeat_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::TestResult;

    fn set(fps: &[u64]) -> BTreeSet<u64> {
        fps.iter().copied().collect()
    }

    fn entry(firing: &[u64], resolved: &[u64], sent_ms: i64) -> LogEntry {
        LogEntry {
            firing: set(firing),
            resolved: set(resolved),
            sent_ms,
            notification: None,
            delivered_ms: None,
        }
    }

    #[test]
    fn alerts_no_longer_sent_are_resolved_after_four_intervals() -> TestResult {
        let config: super::super::NotifyConfig = toml::from_str(
            "[[receivers]]\nname = \"a\"\nurl = \"http://h/x\"\n[route]\nreceiver = \"a\"\ngroup_wait = \"0s\"",
        )?;
        let root = super::super::config::Compiled::new(&config)?.route;
        let mut dispatcher = Dispatcher::default();
        let now = Instant::now();
        let alert = NotifyAlert {
            labels: [("alertname".to_owned(), "Gone".to_owned())].into(),
            annotations: LabelSet::new(),
            starts_at_ms: 0,
            ends_at_ms: None,
            generator_url: String::new(),
            value: 1.0,
        };
        let minute = 60_000;
        dispatcher.insert(root.as_ref(), alert.clone(), now, 0);
        // seen once: no interval known, never stale
        assert_eq!(
            dispatcher.resolve_stale(root.as_ref(), now, 100 * minute),
            0
        );
        dispatcher.insert(root.as_ref(), alert.clone(), now, 100 * minute);
        dispatcher.insert(root.as_ref(), alert.clone(), now, 102 * minute);
        // every 2 minutes: stale after 8 minutes without a send
        assert_eq!(
            dispatcher.resolve_stale(root.as_ref(), now, 110 * minute),
            0
        );
        assert_eq!(
            dispatcher.resolve_stale(root.as_ref(), now, 110 * minute + 1),
            1
        );
        let flushed = dispatcher.due(now);
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].alerts[0].ends_at_ms, Some(110 * minute + 1));
        assert!(dispatcher.alerts()[0].is_resolved());
        assert_eq!(
            dispatcher.resolve_stale(root.as_ref(), now, 200 * minute),
            0
        );

        // a reload's re-routing is not a send: it does not shorten the learned interval
        let slow = NotifyAlert {
            labels: [("alertname".to_owned(), "Slow".to_owned())].into(),
            ..alert
        };
        dispatcher.insert(root.as_ref(), slow.clone(), now, 300 * minute);
        dispatcher.insert(root.as_ref(), slow, now, 310 * minute);
        dispatcher.reroute(root.as_ref(), now, 311 * minute);
        assert_eq!(
            dispatcher.resolve_stale(root.as_ref(), now, 350 * minute),
            0
        );
        assert_eq!(
            dispatcher.resolve_stale(root.as_ref(), now, 350 * minute + 1),
            1
        );
        Ok(())
    }

    #[test]
    fn dedup_decisions_follow_alertmanager() {
        let hour = Duration::from_secs(3600);
        let now = 10_000_000;
        // first notification: only when something fires
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, hour, now));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, hour, now));
        // a new firing alert
        let last = entry(&[1], &[], now - 10);
        assert!(needs_update(
            Some(&last),
            &set(&[1, 2]),
            &set(&[]),
            true,
            hour,
            now
        ));
        // same set: only after repeat_interval
        assert!(!needs_update(
            Some(&last),
            &set(&[1]),
            &set(&[]),
            true,
            hour,
            now
        ));
        let old = entry(&[1], &[], now - 3_600_000);
        assert!(needs_update(
            Some(&old),
            &set(&[1]),
            &set(&[]),
            true,
            hour,
            now
        ));
        // one of two resolved: news only with send_resolved
        let two = entry(&[1, 2], &[], now - 10);
        assert!(needs_update(
            Some(&two),
            &set(&[1]),
            &set(&[2]),
            true,
            hour,
            now
        ));
        assert!(!needs_update(
            Some(&two),
            &set(&[1]),
            &set(&[2]),
            false,
            hour,
            now
        ));
        // all resolved: always, to clear the log; then nothing more
        assert!(needs_update(
            Some(&last),
            &set(&[]),
            &set(&[1]),
            false,
            hour,
            now
        ));
        let cleared = entry(&[], &[1], now - 10);
        assert!(!needs_update(
            Some(&cleared),
            &set(&[]),
            &set(&[1]),
            true,
            hour,
            now
        ));
    }
}
