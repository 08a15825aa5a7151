//! `logs_count` evaluation: the [`LogCounter`] of the log store (a count-only search, `by`
//! through its facets) and the samples a log expression yields.

use storage::{Labels, LogQuery, LogStore};

use super::LogCounter;
use crate::alert::LabelSet;
use crate::error::AlertingError;
use crate::rules::logs_expr::LogsExpr;

impl LogCounter for LogStore {
    fn count(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        by: &[String],
    ) -> Result<Vec<(LabelSet, u64)>, AlertingError> {
        let mut out = Vec::new();
        count_grouped(
            self,
            query.trim(),
            start_ms,
            end_ms,
            by,
            LabelSet::new(),
            &mut out,
        )?;
        Ok(out)
    }
}

/// Counts by the first `by` field through the search's facets, then each value by the rest
/// with the value added to the query, so groups of several fields are exact. Lines without
/// the field form a group without that label.
fn count_grouped(
    store: &LogStore,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    by: &[String],
    group: LabelSet,
    out: &mut Vec<(LabelSet, u64)>,
) -> Result<(), AlertingError> {
    let result = store.search(&LogQuery {
        query: query.to_owned(),
        start_ms,
        end_ms,
        limit: 0,
        order: Default::default(),
        after: None,
        histogram_bucket_ms: None,
        facet_limit: if by.is_empty() { 0 } else { usize::MAX },
    })?;
    let Some((field, rest)) = by.split_first() else {
        if result.total > 0 || group.is_empty() {
            out.push((group, result.total));
        }
        return Ok(());
    };
    let values = result.facets.get(field).cloned().unwrap_or_default();
    let counted: u64 = values.iter().map(|(_, n)| n).sum();
    for (value, count) in values {
        let mut labels = group.clone();
        labels.insert(field.clone(), value.clone());
        if rest.is_empty() {
            out.push((labels, count));
        } else {
            let narrowed = and(query, &format!("{field}:\"{}\"", escape_phrase(&value)));
            count_grouped(store, &narrowed, start_ms, end_ms, rest, labels, out)?;
        }
    }
    let missing = result.total.saturating_sub(counted);
    if missing > 0 {
        if rest.is_empty() {
            out.push((group, missing));
        } else {
            let narrowed = and(query, &format!("NOT {field}:*"));
            count_grouped(store, &narrowed, start_ms, end_ms, rest, group, out)?;
        }
    }
    Ok(())
}

fn and(query: &str, clause: &str) -> String {
    if query.is_empty() || query == "*" {
        clause.to_owned()
    } else {
        format!("({query}) AND {clause}")
    }
}

fn escape_phrase(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The samples of a log expression at `eval_ms`: counts over `(eval_ms − window, eval_ms]`
/// (a range selector's window), labelled by the `by` fields, filtered by the comparison.
pub(crate) fn evaluate(
    counter: &dyn LogCounter,
    expr: &LogsExpr,
    eval_ms: i64,
) -> Result<Vec<(Labels, f64)>, AlertingError> {
    let window = i64::try_from(expr.window.as_millis()).unwrap_or(i64::MAX);
    let start = eval_ms.saturating_sub(window).saturating_add(1);
    let counts = counter.count(&expr.query, start, eval_ms, &expr.by)?;
    Ok(counts
        .into_iter()
        .map(|(labels, n)| (super::group::to_labels(&labels), n as f64))
        .filter(|(_, v)| {
            expr.filter
                .is_none_or(|(op, threshold)| op.holds(*v, threshold))
        })
        .collect())
}
