//! The model: what a run is, as plain data. It imports nothing else of this crate.
//!
//! The history a run records (arrivals, probes, ledger events, the apps' lifecycle events
//! and log lines, the expected spec), the verdict the checker reduces it to, the summary
//! with its threshold outcomes and baseline changes, and the one [`metric::Metric`]
//! vocabulary every other layer names numbers by.

pub mod arrival;
pub mod budget;
pub mod completion;
pub mod expected;
pub mod ledger;
pub mod lifecycle;
pub mod measure;
pub mod metric;
pub mod observations;
pub mod probe;
pub mod record;
pub mod summary;
pub mod trace;
pub mod units;
pub mod verdict;
