//! The values a template computes with: Go's dynamic values as `text/template` sees them
//! (`interface{}`, `map[string]string`, `time.Time`, …), converted from JSON, with Go's truth
//! rules and type names.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::time::GoTime;

/// A Go value. Containers are shared so that `$labels.x` does not copy `$labels`.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A nil interface, or a missing value (Go's invalid `reflect.Value`): both print as
    /// `<no value>` from an action and `<nil>` through `print`/`printf`.
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    Map(Rc<BTreeMap<String, Value>>, MapKind),
    Time(GoTime),
    /// A `time.Duration` in nanoseconds.
    Duration(i64),
}

/// What a missing key of a map gives. Prometheus and Alertmanager run templates with
/// `missingkey=zero`: a label map (`map[string]string`) gives `""`, an `interface{}` map gives
/// nil, which prints `<no value>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapKind {
    Strings,
    Any,
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    pub(crate) fn string(s: String) -> Value {
        Value::Str(Rc::from(s))
    }

    /// A label set: a Go `map[string]string`.
    pub(crate) fn labels<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::str(v)))
            .collect();
        Value::Map(Rc::new(map), MapKind::Strings)
    }

    /// JSON as Go decodes it into `interface{}`, except that integers stay integers and an
    /// object whose values are all strings is a `map[string]string` (labels, annotations: the
    /// only string maps Prometheus' and Alertmanager's template data hold).
    pub(crate) fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Uint(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(items) => {
                Value::List(Rc::new(items.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(map) => {
                let kind = if map.values().all(serde_json::Value::is_string) {
                    MapKind::Strings
                } else {
                    MapKind::Any
                };
                let map = map
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect();
                Value::Map(Rc::new(map), kind)
            }
        }
    }

    /// Go's type name, as error messages show it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_, MapKind::Strings) => "map[string]string",
            Value::Map(_, MapKind::Any) => "map[string]interface {}",
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
        }
    }

    /// Go's `text/template` truth: false, zero, nil and empty values are false.
    pub(crate) fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(items) => !items.is_empty(),
            Value::Map(map, _) => !map.is_empty(),
            Value::Time(_) => true,
            Value::Duration(ns) => *ns != 0,
        }
    }
}
