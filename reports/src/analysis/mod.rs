//! The analyses: numbers from the model, as plain data. They import the model, the run
//! directory and each other, never a renderer, and never format output.
//!
//! The checker, thresholds, baselines, comparison statistics and advice, and the series the
//! plots draw ([`history`]).

pub mod advice;
pub mod baseline;
pub mod budget;
pub mod checker;
pub mod compare;
pub mod estimator;
pub mod faults;
pub mod history;
pub mod key_grid;
pub mod rollback;
pub mod scaling;
pub mod scoped;
pub mod stats;
pub mod sweep;
pub mod threshold;
