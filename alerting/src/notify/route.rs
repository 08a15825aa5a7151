//! The compiled routing tree (Alertmanager's `dispatch.Route`): which routes an alert belongs
//! to, and the group it joins on each (its group labels and Alertmanager's group key).

use std::sync::Arc;
use std::time::Duration;

use super::matcher::{Matcher, go_quote, matches_all};
use crate::alert::LabelSet;

/// How a route splits its alerts into groups.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GroupBy {
    /// `["..."]`: every label, one group per alert.
    All,
    /// These labels (absent ones are left out of the group labels).
    Labels(Vec<String>),
}

impl GroupBy {
    pub(crate) fn from_labels(labels: &[String]) -> Result<Self, String> {
        if labels.iter().any(|l| l == "...") {
            return if labels.len() == 1 {
                Ok(GroupBy::All)
            } else {
                Err("group_by \"...\" cannot be combined with label names".to_owned())
            };
        }
        for label in labels {
            let mut chars = label.chars();
            let valid = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("group_by: {label:?} is not a valid label name"));
            }
        }
        let mut labels = labels.to_vec();
        labels.sort();
        labels.dedup();
        Ok(GroupBy::Labels(labels))
    }
}

#[derive(Debug)]
pub(crate) struct Route {
    /// Where the route sits in the config (`route.routes[1]`): unique, names groups.
    pub(crate) id: String,
    /// Alertmanager's route key: the matchers of every route from the root, `/`-separated.
    pub(crate) key: String,
    pub(crate) receiver: String,
    pub(crate) group_by: GroupBy,
    pub(crate) group_wait: Duration,
    pub(crate) group_interval: Duration,
    pub(crate) repeat_interval: Duration,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) continue_matching: bool,
    pub(crate) routes: Vec<Arc<Route>>,
}

impl Route {
    /// The routes an alert with these labels goes to: the deepest matching ones, siblings
    /// after a match only when it says `continue`; the route itself when no child matches.
    pub(crate) fn matching(self: &Arc<Self>, labels: &LabelSet) -> Vec<Arc<Route>> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            let matched = !found.is_empty();
            all.extend(found);
            if matched && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(Arc::clone(self));
        }
        all
    }

    pub(crate) fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|name| labels.get_key_value(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Alertmanager's group key, `{route key}:{group labels}`, e.g.
    /// `{}/{severity="page"}:{alertname="HighLatency", service="api"}`.
    pub(crate) fn group_key(&self, group_labels: &LabelSet) -> String {
        format!("{}:{}", self.key, label_set_string(group_labels))
    }
}

/// `{a="1", b="2"}`: Prometheus' `model.LabelSet.String()`.
pub(crate) fn label_set_string(labels: &LabelSet) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={}", go_quote(value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}
