//! The durable delivery queue: one JSON file per notification not yet delivered under
//! `queue/`, written (file and directory synced) before the first attempt, rewritten with the
//! attempt count and the next attempt's time after each failure, deleted once delivered or
//! given up. A newer notification of the same receiver and group supersedes an older one.
//! On open, the files left by the previous run are resumed.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::AlertingError;

const DIR: &str = "queue";

/// One notification waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Queued {
    /// Unique; sorts by creation (`{created_ms:016x}-{random:08x}`); the file's stem.
    pub(crate) id: String,
    pub(crate) receiver: String,
    pub(crate) group_key: String,
    pub(crate) created_ms: i64,
    pub(crate) attempts: u32,
    pub(crate) next_attempt_ms: i64,
    pub(crate) content_type: String,
    pub(crate) body: String,
    /// What the notification announces, to rebuild the notification log after a crash.
    pub(crate) firing: BTreeSet<u64>,
    pub(crate) resolved: BTreeSet<u64>,
}

impl Queued {
    pub(crate) fn new_id(created_ms: i64) -> String {
        format!("{created_ms:016x}-{:08x}", rand::random::<u32>())
    }

    fn key(&self) -> (String, String) {
        (self.receiver.clone(), self.group_key.clone())
    }
}

pub(crate) struct Queue {
    dir: PathBuf,
    /// The newest notification per receiver and group key: the only one worth delivering.
    latest: Mutex<HashMap<(String, String), String>>,
}

impl Queue {
    /// Opens `dir/queue`, answering the notifications to resume (older ones of the same group
    /// are deleted: they are superseded).
    pub(crate) fn open(dir: &Path) -> Result<(Self, Vec<Queued>), AlertingError> {
        let parent = dir;
        let dir = dir.join(DIR);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| AlertingError::io(&dir, e))?;
            storage::sync_dir(parent)?;
        }
        let mut found = Vec::new();
        let listing = std::fs::read_dir(&dir).map_err(|e| AlertingError::io(&dir, e))?;
        for entry in listing {
            let path = entry.map_err(|e| AlertingError::io(&dir, e))?.path();
            match path.extension().and_then(|ext| ext.to_str()) {
                Some("json") => {}
                // a write cut short by a crash: its notification was never acted upon
                Some("tmp") => {
                    std::fs::remove_file(&path).map_err(|e| AlertingError::io(&path, e))?;
                    continue;
                }
                _ => continue,
            }
            let bytes = std::fs::read(&path).map_err(|e| AlertingError::io(&path, e))?;
            match serde_json::from_slice::<Queued>(&bytes) {
                Ok(queued) => found.push(queued),
                Err(e) => {
                    // Files are written atomically, so this is damage from outside; one bad
                    // notification must not keep the others (or Argus) from starting.
                    let aside = path.with_extension("corrupt");
                    tracing::error!(path = %path.display(), error = %e, "unreadable queued notification set aside");
                    std::fs::rename(&path, &aside).map_err(|e| AlertingError::io(&path, e))?;
                }
            }
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        let queue = Queue {
            dir,
            latest: Mutex::new(HashMap::new()),
        };
        let mut resumed: Vec<Queued> = Vec::new();
        for queued in found {
            if let Some(older) = queue.latest.lock().insert(queued.key(), queued.id.clone()) {
                queue.delete(&older)?;
                resumed.retain(|q| q.id != older);
            }
            resumed.push(queued);
        }
        Ok((queue, resumed))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes (or rewrites) a notification's file durably.
    pub(crate) fn write(&self, queued: &Queued) -> Result<(), AlertingError> {
        let bytes = serde_json::to_vec(queued).map_err(|e| AlertingError::Corrupt {
            path: self.path(&queued.id),
            detail: format!("cannot encode a queued notification: {e}"),
        })?;
        storage::write_atomically(&self.dir, &format!("{}.json", queued.id), &bytes)?;
        Ok(())
    }

    /// Makes a freshly written notification the one to deliver for its group, deleting the
    /// one it supersedes.
    pub(crate) fn promote(&self, queued: &Queued) -> Result<(), AlertingError> {
        let older = self.latest.lock().insert(queued.key(), queued.id.clone());
        match older {
            Some(older) if older != queued.id => self.delete(&older),
            _ => Ok(()),
        }
    }

    /// Whether this notification is still the one to deliver for its group.
    pub(crate) fn is_current(&self, queued: &Queued) -> bool {
        self.latest.lock().get(&queued.key()) == Some(&queued.id)
    }

    /// Deletes a notification that is done with (delivered, given up, superseded).
    pub(crate) fn remove(&self, queued: &Queued) -> Result<(), AlertingError> {
        {
            let mut latest = self.latest.lock();
            if latest.get(&queued.key()) == Some(&queued.id) {
                latest.remove(&queued.key());
            }
        }
        self.delete(&queued.id)
    }

    pub(crate) fn len(&self) -> usize {
        self.latest.lock().len()
    }

    fn delete(&self, id: &str) -> Result<(), AlertingError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => storage::sync_dir(&self.dir).map_err(AlertingError::from),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AlertingError::io(&path, e)),
        }
    }
}
