//! The history of a run, the checker that judges it, and the renderers that show the verdict.
//!
//! Data flows one way: files of a [`rundir::RunDir`] are read into the history model
//! ([`ExpectedSpec`], [`Arrival`], [`Probe`], [`LedgerEvent`]); the [`checker`] reduces it to a
//! plain serializable [`Verdict`]; renderers such as [`terminal`] turn a verdict into text.
//! Analysis never formats output and renderers never compute numbers.
//!
//! The modules form five layers, model -> io -> analysis -> render -> judge, one folder
//! each, and a module imports only from its own layer or those before it: `model/`
//! (arrivals, probes, ledger events, the expected spec, the verdict, the run's record, the
//! summary with its threshold outcomes and baseline changes, and the one
//! [`metric::Metric`] vocabulary), `io/` (the run directory's files), `analysis/` (the
//! checker, thresholds, baselines, comparison statistics, advice, the series the plots
//! draw), `render/` (terminal, Markdown and HTML, JUnit, HdrHistogram files, and every
//! chart under [`plot`]), and [`judge`] (a run's summary and JUnit report from its verdict,
//! record and rules: the one function `harness run` and `harness check` share).
//!
//! ```no_run
//! let run = reports::RunDir::new("runs/seed-swap");
//! let verdict = reports::checker::check_run(&run)?;
//! println!("{} of {} items lost", verdict.lost, verdict.expected);
//! # Ok::<(), reports::RunDirError>(())
//! ```

// The layers are folders, each importing only from itself and the folders above it in this
// list, so the arrows between modules all point up the page:
//
// - model/: what a run is, as plain data (arrivals, probes, ledger events, the apps' lives
//   and log lines, the expected spec, the verdict, the completion estimate, the summary,
//   the metric vocabulary, the ns -> ms conversion);
// - io/: the run directory's files (rundir/), read by header name with positioned errors
//   through the CSV table reader (table/);
// - analysis/: numbers from the model (the checker/ and the key grid it leaves, faults,
//   rollback, scaling, the completion estimator/, thresholds, baselines, comparison
//   statistics, advice/, the history the plots draw);
// - render/: text, pages, plots and files for people and CI (terminal/, report/,
//   advice_report/, compare_report, junit, hdr, plot/);
// - judge/: a run's judgement (summary.json and junit.xml) from its verdict, its record
//   and its rules.
//
// Inside a module that is a folder the arrows go one way too: either its mod.rs imports
// its parts and re-exports what was public (advice/, checker/, rundir/, report/, ...) or
// the parts import what mod.rs shares (plot/), never both; a tests.rs imports its mod.rs.
// So there is no circle between files either.
//
// The layer folders are private: every module keeps its one public path at the crate root
// (`reports::checker`, `reports::verdict`, ...), re-exported below.
mod analysis;
mod io;
pub mod judge;
mod model;
mod render;

pub use analysis::budget as budget_judge;
pub use analysis::{
    advice, baseline, checker, compare, estimator, faults, history, rollback, scaling, scoped,
    stats, sweep, threshold,
};
pub use io::rundir;
pub use model::{
    arrival, budget, completion, expected, ledger, lifecycle, measure, metric, observations, probe,
    record, summary, trace, verdict,
};
pub use render::{
    advice_report, compare_report, hdr, history_page, junit, plot, report, sweep_report, terminal,
};

pub use arrival::{Arrival, ArrivalRef};
pub use checker::{check, Checker};
pub use expected::{ExpectedSpec, SourceSpec, SpecError};
pub use io::table::TableError;
pub use ledger::LedgerEvent;
pub use probe::Probe;
pub use rundir::{Baselines, RunDir, RunDirError};
pub use summary::{RunInfo, Summary};
pub use verdict::Verdict;
