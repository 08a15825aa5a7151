//! What crosses from rule evaluation to notification: an alert's identity (its label set and
//! that set's fingerprint), its state, and the [`AlertSink`] evaluation hands alerts to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Label names to values, sorted by name: an alert's identity.
pub type LabelSet = BTreeMap<String, String>;

/// The state of one alert of an alerting rule, as Prometheus names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// An alert as evaluation hands it to notification (Prometheus' `notifier.Alert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyAlert {
    /// The alert's labels after templating, `alertname` included.
    pub labels: LabelSet,
    /// The annotations after templating.
    pub annotations: LabelSet,
    /// When the alert started firing (its `for` ended), ms since the epoch.
    pub starts_at_ms: i64,
    /// When it resolved; `None` while it fires.
    pub ends_at_ms: Option<i64>,
    /// Link back to the rule's expression in Argus (`{external_url}/graph?g0.expr=…`).
    pub generator_url: String,
    /// The expression's value at the last evaluation (for bodies that show it).
    pub value: f64,
}

impl NotifyAlert {
    pub fn is_resolved(&self) -> bool {
        self.ends_at_ms.is_some()
    }

    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }
}

/// Where evaluation sends alerts. After each evaluation of a group, evaluation calls
/// [`AlertSink::send`] once with every alert of that group that is firing and every alert
/// resolved within the last 15 minutes (as Prometheus re-sends resolved alerts, so a
/// notification lost on the way is repaired). The sink deduplicates; it must not block.
pub trait AlertSink: Send + Sync {
    fn send(&self, alerts: Vec<NotifyAlert>);
}

/// Prometheus' label-set fingerprint (`model.LabelSet.Fingerprint`): FNV-1a 64 over each
/// name and value, sorted by name, every string followed by the byte 0xff. Alertmanager
/// prints it as 16 lower-case hex digits ([`fingerprint_hex`]).
pub fn fingerprint(labels: &LabelSet) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    if labels.is_empty() {
        return OFFSET;
    }
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    hash
}

pub fn fingerprint_hex(labels: &LabelSet) -> String {
    format!("{:016x}", fingerprint(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_match_prometheus() {
        // Values from prometheus/common model/signature_test.go (TestLabelsToSignature).
        assert_eq!(fingerprint(&set(&[])), 14_695_981_039_346_656_037);
        assert_eq!(
            fingerprint(&set(&[
                ("name", "garland, briggs"),
                ("fear", "love is not enough")
            ])),
            5_799_056_148_416_392_346
        );
    }
}
