//! What the crate's unit tests share: their result type, and the error of a call that must
//! fail (tests under `src/` use `?`, not `unwrap`, so a wrong outcome is a failed test with a
//! message, never a panic in library code).
#![cfg(test)]

pub(crate) type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The error of `result`; a message naming the value when it succeeded instead.
pub(crate) fn error_of<T: std::fmt::Debug, E>(result: Result<T, E>) -> Result<E, String> {
    match result {
        Err(e) => Ok(e),
        Ok(value) => Err(format!("an error was expected, got {value:?}")),
    }
}
