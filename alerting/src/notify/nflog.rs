//! The notification log (Alertmanager's `nflog`): per receiver and group key, which alerts
//! the last notification announced as firing and as resolved and when it was queued, so that a
//! group is notified again only when its alerts changed or `repeat_interval` passed, across
//! restarts too (`nflog.json`, rewritten atomically).
//!
//! An entry is written when a notification enters the durable queue, not when it is delivered:
//! from then on the queue owns its delivery, and a second notification of the same alerts
//! would be a duplicate. An entry whose notification failed for good is forgotten, so the
//! next flush of the group tries again.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::AlertingError;

const FILE: &str = "nflog.json";

/// Entries older than this are forgotten (Alertmanager's default data retention).
const RETENTION_MS: i64 = 5 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogEntry {
    pub(crate) firing: BTreeSet<u64>,
    pub(crate) resolved: BTreeSet<u64>,
    /// When the notification was queued (ms since the epoch).
    pub(crate) sent_ms: i64,
    /// The queued notification that carries it; `None` when nothing had to be sent.
    pub(crate) notification: Option<String>,
    pub(crate) delivered_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    receiver: String,
    group_key: String,
    #[serde(flatten)]
    entry: LogEntry,
}

type Key = (String, String);

pub(crate) struct NotificationLog {
    dir: PathBuf,
    entries: Mutex<HashMap<Key, LogEntry>>,
    /// Serialises writers of the file (they share its temporary name).
    write: Mutex<()>,
}

impl NotificationLog {
    pub(crate) fn open(dir: &Path) -> Result<Self, AlertingError> {
        let path = dir.join(FILE);
        let entries = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Vec<FileEntry>>(&bytes)
                .map_err(|e| AlertingError::Corrupt {
                    path: path.clone(),
                    detail: e.to_string(),
                })?
                .into_iter()
                .map(|e| ((e.receiver, e.group_key), e.entry))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(AlertingError::io(&path, e)),
        };
        Ok(NotificationLog {
            dir: dir.to_owned(),
            entries: Mutex::new(entries),
            write: Mutex::new(()),
        })
    }

    pub(crate) fn get(&self, receiver: &str, group_key: &str) -> Option<LogEntry> {
        self.entries
            .lock()
            .get(&(receiver.to_owned(), group_key.to_owned()))
            .cloned()
    }

    /// Records an entry in memory; [`NotificationLog::persist`] makes it durable.
    pub(crate) fn record(&self, receiver: &str, group_key: &str, entry: LogEntry) {
        self.entries
            .lock()
            .insert((receiver.to_owned(), group_key.to_owned()), entry);
    }

    /// Applies `change` to the entry of this notification, if the entry still belongs to it;
    /// answers whether it did.
    pub(crate) fn update_if_current(
        &self,
        receiver: &str,
        group_key: &str,
        notification: &str,
        change: impl FnOnce(&mut HashMap<Key, LogEntry>, Key),
    ) -> bool {
        let mut entries = self.entries.lock();
        let key = (receiver.to_owned(), group_key.to_owned());
        let current = entries
            .get(&key)
            .is_some_and(|e| e.notification.as_deref() == Some(notification));
        if current {
            change(&mut entries, key);
        }
        current
    }

    pub(crate) fn mark_delivered(
        &self,
        receiver: &str,
        group_key: &str,
        notification: &str,
        now_ms: i64,
    ) -> bool {
        self.update_if_current(receiver, group_key, notification, |entries, key| {
            if let Some(entry) = entries.get_mut(&key) {
                entry.delivered_ms = Some(now_ms);
            }
        })
    }

    /// Forgets the entry of a notification that will never be delivered.
    pub(crate) fn forget(&self, receiver: &str, group_key: &str, notification: &str) -> bool {
        self.update_if_current(receiver, group_key, notification, |entries, key| {
            entries.remove(&key);
        })
    }

    /// Drops entries past the retention; answers whether any went.
    pub(crate) fn expire(&self, now_ms: i64) -> bool {
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|_, e| now_ms - e.sent_ms < RETENTION_MS);
        entries.len() != before
    }

    pub(crate) fn persist(&self) -> Result<(), AlertingError> {
        let _writer = self.write.lock();
        let snapshot: Vec<FileEntry> = self
            .entries
            .lock()
            .iter()
            .map(|((receiver, group_key), entry)| FileEntry {
                receiver: receiver.clone(),
                group_key: group_key.clone(),
                entry: entry.clone(),
            })
            .collect();
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| AlertingError::Corrupt {
            path: self.dir.join(FILE),
            detail: format!("cannot encode the notification log: {e}"),
        })?;
        storage::write_atomically(&self.dir, FILE, &bytes)?;
        Ok(())
    }
}
