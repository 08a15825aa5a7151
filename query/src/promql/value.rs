//! What a query answers: Prometheus' four value types, plus the annotations raised on the way.

use storage::{Labels, Sample};

/// One query's result and its annotations, rendered as Prometheus renders them
/// (`PromQL warning: … (line:col)`), for the API's `warnings` and `infos` lists.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// A query result. Instant queries answer any of them; range queries always a `Matrix`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at the evaluation time `t` (ms).
    Scalar { t: i64, v: f64 },
    /// A string at the evaluation time `t` (ms).
    String { t: i64, s: String },
    /// One sample per series, at the evaluation time.
    Vector(Vec<InstantSample>),
    /// Samples over time per series, sorted by labels (unless an `ordered` function such as
    /// `sort` produced an instant vector, which keeps its order).
    Matrix(Vec<RangeSeries>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}
