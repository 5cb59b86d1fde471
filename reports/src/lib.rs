//! The history of a run, the checker that judges it, and the renderers that show the verdict.
//!
//! Data flows one way: files of a [`rundir::RunDir`] are read into the history model
//! ([`ExpectedSpec`], [`Arrival`], [`Probe`], [`LedgerEvent`]); the [`checker`] reduces it to a
//! plain serializable [`Verdict`]; renderers such as [`terminal`] turn a verdict into text.
//! Analysis never formats output and renderers never compute numbers.
//!
//! The modules form four layers, model -> io -> analysis -> render, and a module imports
//! only from its own layer or those before it: the model (arrivals, probes, ledger events,
//! the expected spec, the verdict, the summary with its threshold outcomes and baseline
//! changes, and the one [`metric::Metric`] vocabulary), the run directory's files, the
//! analyses (the checker, thresholds, baselines, comparison statistics, the series the
//! plots draw), and the renderers (terminal, Markdown and HTML, JUnit, HdrHistogram files,
//! and every chart under [`plot`]).
//!
//! ```no_run
//! let run = reports::RunDir::new("runs/seed-swap");
//! let verdict = reports::checker::check_run(&run)?;
//! println!("{} of {} items lost", verdict.lost, verdict.expected);
//! # Ok::<(), reports::RunDirError>(())
//! ```

// The layers, each importing only from those above it in this list:
//
// model: what a run is, as plain data.
pub mod arrival;
pub mod completion;
pub mod expected;
pub mod ledger;
pub mod lifecycle;
pub mod metric;
pub mod probe;
pub mod summary;
pub mod trace;
pub mod verdict;
// io: the run directory's files, read by header name with positioned errors.
pub mod rundir;
mod table;
// analysis: numbers from the model.
pub mod advice;
pub mod baseline;
pub mod checker;
pub mod compare;
pub mod estimator;
pub mod faults;
pub mod history;
pub mod rollback;
pub mod scaling;
pub mod stats;
pub mod threshold;
// render: text, pages, plots and files for people and CI.
pub mod advice_report;
pub mod compare_report;
pub mod hdr;
pub mod junit;
pub mod plot;
pub mod report;
pub mod terminal;

pub use arrival::{Arrival, ArrivalRef};
pub use checker::{check, Checker};
pub use expected::{ExpectedSpec, SourceSpec, SpecError};
pub use ledger::LedgerEvent;
pub use probe::Probe;
pub use rundir::{Baselines, RunDir, RunDirError};
pub use summary::{RunInfo, Summary};
pub use table::TableError;
pub use verdict::Verdict;
