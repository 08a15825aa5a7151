//! The engine's error type. The HTTP layer maps each variant to Prometheus' `errorType`.

use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query does not parse. `message` is the parser's, with the position where known.
    #[error("{message}")]
    Parse { message: String },

    /// The query parses but cannot be evaluated as asked (wrong argument values, a range
    /// query over a string, …): Prometheus' `bad_data`.
    #[error("{0}")]
    BadQuery(String),

    /// Evaluation failed on the data (duplicate series after dropping labels, many-to-many
    /// matching, …): Prometheus' `execution`.
    #[error("{0}")]
    Execution(String),

    /// The query ran longer than the engine's timeout.
    #[error("query timed out in {stage}")]
    Timeout { stage: &'static str },

    /// The query would hold more samples than the engine's limit.
    #[error(
        "query processing would load too many samples into memory in {stage} (limit {limit}); \
         narrow the selectors or the time range"
    )]
    TooManySamples { stage: &'static str, limit: usize },

    /// A selector matches more series than the engine's limit.
    #[error(
        "the selector {selector} matches {selected} series, more than the limit of {limit} \
         (max_series); narrow it with more label matchers"
    )]
    TooManySeries {
        selector: String,
        selected: usize,
        limit: usize,
    },

    /// A feature this engine does not implement, such as native histograms.
    #[error("{0}")]
    Unsupported(String),

    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Turns promql-parser's message into a [`PromqlError::Parse`] worded like Prometheus'
/// (`1:5: parse error: …`). promql-parser reports no positions, so the position is recovered
/// from the message where it names the offending text or implies it (an unclosed
/// parenthesis, the end of the input); grammar errors it reports only as "invalid promql
/// query" carry no position.
pub(super) fn parse_error(query: &str, message: String) -> PromqlError {
    let message = match error_offset(query, &message) {
        Some(offset) => {
            let before = &query[..offset];
            let line = before.matches('\n').count() + 1;
            let col = offset - before.rfind('\n').map_or(0, |nl| nl + 1) + 1;
            format!("{line}:{col}: parse error: {message}")
        }
        None => format!("parse error: {message}"),
    };
    PromqlError::Parse { message }
}

fn error_offset(query: &str, message: &str) -> Option<usize> {
    if message.starts_with("unexpected end of input") {
        return Some(query.len());
    }
    if message == "unclosed left parenthesis" {
        let mut open = Vec::new();
        for (i, c) in query.char_indices() {
            match c {
                '(' => open.push(i),
                ')' => {
                    open.pop();
                }
                _ => {}
            }
        }
        return open.last().copied();
    }
    if message.starts_with("unterminated quoted string") {
        return query.rfind(['"', '\'', '`']);
    }
    // "bad number or duration syntax: 5x", "illegal regex for (": the text after the last
    // separator is quoted from the query.
    let quoted = message
        .rsplit_once(": ")
        .map(|(_, q)| q)
        .or_else(|| message.strip_prefix("illegal regex for "))?;
    if quoted.is_empty() {
        return None;
    }
    query.find(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(query: &str) -> String {
        let e = promql_parser::parser::parse(query).expect_err("bad query");
        parse_error(query, e).to_string()
    }

    #[test]
    fn parse_errors_carry_a_position_where_one_is_known() {
        assert_eq!(
            message("sum("),
            "1:4: parse error: unclosed left parenthesis"
        );
        assert_eq!(
            message("foo{"),
            "1:5: parse error: unexpected end of input inside braces"
        );
        assert_eq!(
            message("foo offset 5x"),
            "1:12: parse error: bad number or duration syntax: 5x"
        );
        assert_eq!(message("1 +"), "parse error: invalid promql query");
    }
}
