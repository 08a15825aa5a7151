//! Silences (Alertmanager's `silence` package, single node): creation and update with
//! Alertmanager's validation, expiry by time or on request, the state of each, which silences
//! mute a label set, garbage collection of long-expired ones, and their file
//! (`silences.json`, rewritten atomically on every change).

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::matcher::{MatchOp, Matcher, matches_all};
use crate::alert::LabelSet;
use crate::error::AlertingError;

const FILE: &str = "silences.json";

/// How long an expired silence stays listed before it is forgotten (Alertmanager's default
/// data retention).
pub(crate) const EXPIRED_RETENTION_MS: i64 = 5 * 24 * 3600 * 1000;

/// One matcher of a silence, in Alertmanager's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

/// A silence; times in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub updated_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms >= self.ends_at_ms {
            SilenceState::Expired
        } else if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }
}

/// What a client asks for: a new silence, or (with `id`) a change to one.
#[derive(Debug, Clone)]
pub(crate) struct SilenceRequest {
    pub(crate) id: Option<String>,
    pub(crate) matchers: Vec<SilenceMatcher>,
    pub(crate) starts_at_ms: i64,
    pub(crate) ends_at_ms: i64,
    pub(crate) created_by: String,
    pub(crate) comment: String,
}

struct Entry {
    silence: Silence,
    matchers: Vec<Matcher>,
}

#[derive(Serialize, Deserialize)]
struct SilencesFile {
    silences: Vec<Silence>,
}

pub(crate) struct Silences {
    dir: PathBuf,
    entries: Mutex<Vec<Entry>>,
}

fn compile(matchers: &[SilenceMatcher]) -> Result<Vec<Matcher>, AlertingError> {
    matchers
        .iter()
        .map(|m| {
            Matcher::new(
                &m.name,
                MatchOp::from_flags(m.is_regex, m.is_equal),
                &m.value,
            )
        })
        .collect()
}

impl Silences {
    pub(crate) fn open(dir: &Path) -> Result<Self, AlertingError> {
        let path = dir.join(FILE);
        let silences = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<SilencesFile>(&bytes)
                    .map_err(|e| AlertingError::Corrupt {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?
                    .silences
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(AlertingError::io(&path, e)),
        };
        let entries = silences
            .into_iter()
            .map(|silence| {
                let matchers = compile(&silence.matchers).map_err(|e| AlertingError::Corrupt {
                    path: path.clone(),
                    detail: format!("silence {}: {e}", silence.id),
                })?;
                Ok(Entry { silence, matchers })
            })
            .collect::<Result<Vec<_>, AlertingError>>()?;
        Ok(Silences {
            dir: dir.to_owned(),
            entries: Mutex::new(entries),
        })
    }

    fn persist(&self, entries: &[Entry]) -> Result<(), AlertingError> {
        let file = SilencesFile {
            silences: entries.iter().map(|e| e.silence.clone()).collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| AlertingError::Corrupt {
            path: self.dir.join(FILE),
            detail: format!("cannot encode silences: {e}"),
        })?;
        storage::write_atomically(&self.dir, FILE, &bytes)?;
        Ok(())
    }

    /// Creates a silence, or updates the one named by `request.id`; answers its id. A request
    /// for an expired silence creates a new one, as Alertmanager does.
    pub(crate) fn upsert(
        &self,
        request: SilenceRequest,
        now_ms: i64,
    ) -> Result<String, AlertingError> {
        let invalid = |reason: &str| AlertingError::InvalidSilence {
            reason: reason.to_owned(),
        };
        if request.matchers.is_empty() {
            return Err(invalid("at least one matcher is required"));
        }
        let matchers = compile(&request.matchers).map_err(|e| AlertingError::InvalidSilence {
            reason: e.to_string(),
        })?;
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err(invalid(
                "at least one matcher must not match the empty string (a silence cannot mute \
                 every alert)",
            ));
        }
        if request.ends_at_ms <= request.starts_at_ms {
            return Err(invalid("endsAt must be after startsAt"));
        }
        if request.ends_at_ms <= now_ms {
            return Err(invalid("endsAt is in the past"));
        }
        if request.created_by.trim().is_empty() {
            return Err(invalid("createdBy is required"));
        }
        let mut entries = self.entries.lock();
        let existing = match &request.id {
            Some(id) => Some(
                entries
                    .iter()
                    .position(|e| &e.silence.id == id)
                    .ok_or_else(|| AlertingError::SilenceNotFound { id: id.clone() })?,
            ),
            None => None,
        }
        .filter(|&i| entries[i].silence.state(now_ms) != SilenceState::Expired);
        let starts_at_ms = match existing {
            // an active silence keeps its start; a pending one may move it, not into the past
            Some(i) if entries[i].silence.state(now_ms) == SilenceState::Active => {
                entries[i].silence.starts_at_ms
            }
            _ => request.starts_at_ms.max(now_ms),
        };
        let id = match existing {
            Some(i) => entries[i].silence.id.clone(),
            None => new_id(),
        };
        let silence = Silence {
            id: id.clone(),
            matchers: request.matchers,
            starts_at_ms,
            ends_at_ms: request.ends_at_ms,
            updated_at_ms: now_ms,
            created_by: request.created_by,
            comment: request.comment,
        };
        let previous = match existing {
            Some(i) => Some(std::mem::replace(
                &mut entries[i],
                Entry { silence, matchers },
            )),
            None => {
                entries.push(Entry { silence, matchers });
                None
            }
        };
        if let Err(e) = self.persist(&entries) {
            match (existing, previous) {
                (Some(i), Some(previous)) => entries[i] = previous,
                _ => {
                    entries.pop();
                }
            }
            return Err(e);
        }
        Ok(id)
    }

    /// Expires a silence now (a pending one never starts). Expiring an expired one is a no-op.
    pub(crate) fn expire(&self, id: &str, now_ms: i64) -> Result<(), AlertingError> {
        let mut entries = self.entries.lock();
        let entry = entries
            .iter_mut()
            .find(|e| e.silence.id == id)
            .ok_or_else(|| AlertingError::SilenceNotFound { id: id.to_owned() })?;
        let before = entry.silence.clone();
        match before.state(now_ms) {
            SilenceState::Expired => return Ok(()),
            SilenceState::Pending => {
                entry.silence.starts_at_ms = now_ms;
                entry.silence.ends_at_ms = now_ms;
            }
            SilenceState::Active => entry.silence.ends_at_ms = now_ms,
        }
        entry.silence.updated_at_ms = now_ms;
        if let Err(e) = self.persist(&entries) {
            if let Some(entry) = entries.iter_mut().find(|e| e.silence.id == id) {
                entry.silence = before;
            }
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Silence> {
        self.entries
            .lock()
            .iter()
            .find(|e| e.silence.id == id)
            .map(|e| e.silence.clone())
    }

    pub(crate) fn list(&self) -> Vec<Silence> {
        self.entries
            .lock()
            .iter()
            .map(|e| e.silence.clone())
            .collect()
    }

    /// Ids of the silences active at `now_ms` that mute this label set.
    pub(crate) fn silenced_by(&self, labels: &LabelSet, now_ms: i64) -> Vec<String> {
        self.entries
            .lock()
            .iter()
            .filter(|e| e.silence.state(now_ms) == SilenceState::Active)
            .filter(|e| matches_all(&e.matchers, labels))
            .map(|e| e.silence.id.clone())
            .collect()
    }

    /// Forgets silences expired for longer than the retention; answers the count per state
    /// of those left.
    pub(crate) fn maintain(&self, now_ms: i64) -> Result<[(SilenceState, i64); 3], AlertingError> {
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|e| now_ms - e.silence.ends_at_ms < EXPIRED_RETENTION_MS);
        if entries.len() != before {
            self.persist(&entries)?;
        }
        let mut counts = [
            (SilenceState::Active, 0),
            (SilenceState::Pending, 0),
            (SilenceState::Expired, 0),
        ];
        for entry in entries.iter() {
            let state = entry.silence.state(now_ms);
            for (s, n) in &mut counts {
                if *s == state {
                    *n += 1;
                }
            }
        }
        Ok(counts)
    }
}

/// A random (version 4) UUID, the form Alertmanager's silence ids take.
fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut hex = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        let byte = match i {
            6 => (byte & 0x0f) | 0x40,
            8 => (byte & 0x3f) | 0x80,
            _ => *byte,
        };
        if matches!(i, 4 | 6 | 8 | 10) {
            hex.push('-');
        }
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{TestResult, error_of};

    fn request(matchers: &[(&str, &str, bool, bool)], start: i64, end: i64) -> SilenceRequest {
        SilenceRequest {
            id: None,
            matchers: matchers
                .iter()
                .map(|(name, value, is_regex, is_equal)| SilenceMatcher {
                    name: name.to_string(),
                    value: value.to_string(),
                    is_regex: *is_regex,
                    is_equal: *is_equal,
                })
                .collect(),
            starts_at_ms: start,
            ends_at_ms: end,
            created_by: "me".to_owned(),
            comment: "maintenance".to_owned(),
        }
    }

    #[test]
    fn validation_follows_alertmanager() -> TestResult {
        let dir = tempfile::tempdir()?;
        let silences = Silences::open(dir.path())?;
        let now = 1_000_000;
        let bad = [
            request(&[], now, now + 10),
            request(&[("a", ".*", true, true)], now, now + 10),
            request(&[("a", "", false, true)], now, now + 10),
            request(&[("a", "(", true, true)], now, now + 10),
            request(&[("a", "x", false, true)], now + 10, now + 5),
            request(&[("a", "x", false, true)], now - 20, now - 10),
        ];
        for r in bad {
            let err = error_of(silences.upsert(r.clone(), now))?;
            assert!(
                matches!(err, AlertingError::InvalidSilence { .. }),
                "{r:?}: {err}"
            );
        }
        assert!(silences.list().is_empty());
        Ok(())
    }

    #[test]
    fn states_expiry_and_persistence() -> TestResult {
        let dir = tempfile::tempdir()?;
        let now = 1_000_000;
        let silences = Silences::open(dir.path())?;
        let active = silences.upsert(
            request(&[("job", "api", false, true)], now - 5, now + 1000),
            now,
        )?;
        let pending = silences.upsert(
            request(&[("job", "db", false, true)], now + 500, now + 1000),
            now,
        )?;
        let labels: LabelSet = [("job".to_owned(), "api".to_owned())].into();
        assert_eq!(silences.silenced_by(&labels, now), vec![active.clone()]);
        assert!(silences.silenced_by(&labels, now + 1000).is_empty());

        silences.expire(&pending, now + 1)?;
        let reopened = Silences::open(dir.path())?;
        let states: Vec<(String, SilenceState)> = reopened
            .list()
            .iter()
            .map(|s| (s.id.clone(), s.state(now + 2)))
            .collect();
        assert_eq!(
            states,
            vec![
                (active, SilenceState::Active),
                (pending, SilenceState::Expired)
            ]
        );
        assert!(matches!(
            reopened.expire("nope", now),
            Err(AlertingError::SilenceNotFound { .. })
        ));
        let counts = reopened.maintain(now + 1000 + EXPIRED_RETENTION_MS)?;
        assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
        assert!(Silences::open(dir.path())?.list().is_empty());
        Ok(())
    }
}
