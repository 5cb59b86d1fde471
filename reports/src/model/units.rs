//! The one conversion between the nanoseconds the history records and the milliseconds
//! every `_ms` number is reported in.
//!
//! It lives apart from the verdict so that the completion estimate, which the verdict
//! holds, can use it without importing the verdict back.

/// Nanoseconds to milliseconds, for every `_ms` number of the verdict.
pub fn ns_to_ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}
