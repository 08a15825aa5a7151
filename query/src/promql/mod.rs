//! The PromQL engine: queries parsed by `promql-parser`, evaluated by our own evaluator over a
//! [`SeriesSource`] (the series store, or later a shard fan-out).
//!
//! Evaluation is columnar: every instant-vector node is computed for all steps of the query at
//! once, so label work (matching, grouping) happens once per series rather than once per step,
//! and range functions slide a window over each series' samples instead of re-reading them.
//! Native histograms are not supported: the store holds float samples only, and functions that
//! exist only for native histograms answer an error saying so.

mod error;
mod eval;
mod functions;
mod source;
mod value;

use std::time::Duration;

pub use error::PromqlError;
pub use source::SeriesSource;
pub use value::{InstantSample, QueryOutput, RangeSeries, Value};

/// A query and its syntax tree, parsed once: the HTTP layer refuses a query that does not
/// parse before it waits for a query slot, then evaluates the same tree.
#[derive(Debug, Clone)]
pub struct ParsedQuery {
    text: String,
    expr: promql_parser::parser::Expr,
}

impl ParsedQuery {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn expr(&self) -> &promql_parser::parser::Expr {
        &self.expr
    }
}

/// Parses a query, with errors worded as the engine words them (`1:12: parse error: …`).
pub fn parse(query: &str) -> Result<ParsedQuery, PromqlError> {
    let expr = promql_parser::parser::parse(query).map_err(|e| error::parse_error(query, e))?;
    Ok(ParsedQuery {
        text: query.to_string(),
        expr,
    })
}

/// Settings of one [`Engine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// How far back an instant-vector selector looks for a sample (Prometheus' 5m default).
    pub lookback_delta: Duration,
    /// Longest a query may run before it fails with [`PromqlError::Timeout`].
    pub timeout: Duration,
    /// Most samples a query may hold in memory at once (Prometheus' `query.max-samples`).
    pub max_samples: usize,
    /// Most series one selector of a query may select; `None` for no limit.
    pub max_series: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lookback_delta: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_series: None,
        }
    }
}

/// Per-query overrides of [`EngineConfig`], as the HTTP API's `timeout` and `lookback_delta`
/// parameters give them. `None` keeps the engine's setting; a timeout longer than the
/// engine's is cut to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    pub timeout: Option<Duration>,
    pub lookback_delta: Option<Duration>,
}

/// Evaluates PromQL over a [`SeriesSource`]. Queries block: callers in async code run them on a
/// blocking thread.
pub struct Engine<S: SeriesSource> {
    source: S,
    config: EngineConfig,
}

impl<S: SeriesSource> Engine<S> {
    pub fn new(source: S, config: EngineConfig) -> Self {
        Engine { source, config }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Evaluates `query` at one instant, `time_ms` milliseconds since the epoch.
    pub fn instant_query(
        &self,
        query: &str,
        time_ms: i64,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        self.instant(&parse(query)?, time_ms, options)
    }

    /// [`Engine::instant_query`] of a query already parsed.
    pub fn instant(
        &self,
        query: &ParsedQuery,
        time_ms: i64,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        self.evaluate(query, time_ms, time_ms, 0, true, options)
    }

    /// Evaluates `query` at every `step_ms` from `start_ms` to `end_ms` inclusive. The result is
    /// always a matrix (or an error: a string or range-vector expression cannot be graphed).
    pub fn range_query(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        self.range(&parse(query)?, start_ms, end_ms, step_ms, options)
    }

    /// [`Engine::range_query`] of a query already parsed.
    pub fn range(
        &self,
        query: &ParsedQuery,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        if step_ms <= 0 {
            return Err(PromqlError::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(PromqlError::BadQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        self.evaluate(query, start_ms, end_ms, step_ms, false, options)
    }

    fn evaluate(
        &self,
        query: &ParsedQuery,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        instant: bool,
        options: &QueryOptions,
    ) -> Result<QueryOutput, PromqlError> {
        eval::evaluate(
            &self.source,
            &self.config,
            options,
            &query.text,
            &query.expr,
            eval::Range {
                start: start_ms,
                end: end_ms,
                step: step_ms,
                instant,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use storage::{Labels, Sample, SeriesSamples, SeriesStore, SeriesStoreConfig, SeriesWriter};

    use super::*;

    /// 300 counters, enough for range functions to run on several threads: the answer must be
    /// the one a single series gives, times 300, and every series must come back once.
    #[test]
    fn range_functions_over_many_series_match_one_series() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = SeriesStoreConfig::new(dir.path());
        config.retention = None;
        let store = SeriesStore::open(config, &prometheus::Registry::new()).expect("store opens");
        let batch: Vec<SeriesSamples> = (0..300)
            .map(|i| SeriesSamples {
                labels: Labels::from_pairs([
                    ("__name__", "c_total".to_string()),
                    ("i", format!("{i:03}")),
                ]),
                samples: (0..120)
                    .map(|k| Sample {
                        t: k * 15_000,
                        v: (k * 3) as f64,
                    })
                    .collect(),
            })
            .collect();
        store.append(batch).expect("appended");
        let engine = Engine::new(store, EngineConfig::default());
        let options = QueryOptions::default();
        let (start, end, step) = (600_000, 1_785_000, 60_000);
        let sum = engine
            .range_query("sum(rate(c_total[2m]))", start, end, step, &options)
            .expect("sum runs");
        let one = engine
            .range_query("rate(c_total{i=\"007\"}[2m])", start, end, step, &options)
            .expect("one runs");
        let (Value::Matrix(sum), Value::Matrix(one)) = (sum.value, one.value) else {
            panic!("range queries answer matrices");
        };
        assert_eq!(sum[0].samples.len(), one[0].samples.len());
        for (s, o) in sum[0].samples.iter().zip(&one[0].samples) {
            assert_eq!(s.t, o.t);
            assert!((s.v - 300.0 * o.v).abs() < 1e-9, "{} vs 300 × {}", s.v, o.v);
        }
        let all = engine
            .range_query("count_over_time(c_total[1m])", start, end, step, &options)
            .expect("all runs");
        let Value::Matrix(all) = all.value else {
            panic!("a matrix");
        };
        let names: Vec<&str> = all.iter().filter_map(|s| s.labels.get("i")).collect();
        let expected: Vec<String> = (0..300).map(|i| format!("{i:03}")).collect();
        assert_eq!(names, expected);
        let latest = engine
            .instant_query("c_total", 1_785_000, &options)
            .expect("selector runs");
        let Value::Vector(latest) = latest.value else {
            panic!("a vector");
        };
        let names: Vec<&str> = latest.iter().filter_map(|s| s.labels.get("i")).collect();
        assert_eq!(names, expected);
        assert!(latest.iter().all(|s| s.v == 357.0));
    }
}
