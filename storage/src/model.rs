//! The data model every crate speaks: label sets, samples and label matchers.

use std::fmt;

use regex::Regex;

use crate::StorageError;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// The bit pattern Prometheus uses for staleness markers; kept bit-exact through storage.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Now, in milliseconds since the Unix epoch: the time unit of every sample.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A series' identity: labels sorted by name, names unique, no empty values
/// (an empty value means the label is absent, as in Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from pairs in any order: sorts them, drops empty values, and keeps
    /// the last value of a repeated name.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label::new(n, v))
            .filter(|l| !l.value.is_empty())
            .collect();
        // Stable sort, so a repeated name keeps its pairs in input order; the last one wins.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for l in labels {
            match out.last_mut() {
                Some(last) if last.name == l.name => *last = l,
                _ => out.push(l),
            }
        }
        Labels(out)
    }

    /// Sets `name` to `value`, keeping the set sorted; an empty `value` removes the label, as
    /// an empty value means an absent label.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, Label::new(name, value)),
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            self.0.remove(i);
        }
    }

    /// Keeps only the labels for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&Label) -> bool) {
        self.0.retain(keep);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks what Prometheus requires of a stored series: a metric name, valid label names.
    pub fn validate(&self) -> Result<(), StorageError> {
        let name = self.metric_name().ok_or_else(|| {
            StorageError::InvalidLabels(format!("series {self} has no metric name"))
        })?;
        if !is_valid_metric_name(name) {
            return Err(StorageError::InvalidLabels(format!(
                "invalid metric name {name:?}"
            )));
        }
        for l in &self.0 {
            if l.name != METRIC_NAME && !is_valid_label_name(&l.name) {
                return Err(StorageError::InvalidLabels(format!(
                    "invalid label name {:?}",
                    l.name
                )));
            }
        }
        Ok(())
    }

    /// Compact binary form used as the series table's value: varint length-prefixed strings.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        crate::varint::put_uvarint(out, self.0.len() as u64);
        for l in &self.0 {
            crate::varint::put_bytes(out, l.name.as_bytes());
            crate::varint::put_bytes(out, l.value.as_bytes());
        }
    }

    pub(crate) fn decode(mut buf: &[u8]) -> Option<Labels> {
        use crate::varint::{get_bytes, get_uvarint};
        let n = get_uvarint(&mut buf)? as usize;
        let mut labels = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name = String::from_utf8(get_bytes(&mut buf)?.to_vec()).ok()?;
            let value = String::from_utf8(get_bytes(&mut buf)?.to_vec()).ok()?;
            labels.push(Label { name, value });
        }
        Some(Labels(labels))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        write!(f, "}}")
    }
}

pub fn is_valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One sample: milliseconds since the Unix epoch and a float value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// Samples for one series, in any order; the unit of every write.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

/// A label matcher with Prometheus semantics: regexes are fully anchored, and a matcher that
/// accepts the empty string also accepts series that lack the label.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, StorageError> {
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(|e| {
                    StorageError::InvalidMatcher(format!("bad regex {value:?}: {e}"))
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::RegexMatch => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::RegexNoMatch => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_and_metric_names() {
        for ok in ["job", "__name__", "_", "a1_B"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "\u{e9}", "a b", "a:b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
        assert!(is_valid_metric_name("job:rate5m:sum"));
        assert!(!is_valid_metric_name("1x"));
    }

    #[test]
    fn labels_sorted_deduped_and_empty_dropped() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("b", "3")]);
        assert_eq!(l.to_string(), "{a=\"1\", b=\"3\"}");
        let mut buf = Vec::new();
        l.encode(&mut buf);
        assert_eq!(Labels::decode(&buf), Some(l));
    }

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new("job", MatchOp::RegexMatch, "api|web").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("apiserver"));
        assert!(
            Matcher::new("x", MatchOp::RegexNoMatch, "a")
                .unwrap()
                .matches_empty()
        );
    }
}
