//! The history of a run, the checker that judges it, and the renderers that show the verdict.
//!
//! Data flows one way: files of a [`rundir::RunDir`] are read into the history model
//! ([`ExpectedSpec`], [`Arrival`], [`Probe`], [`LedgerEvent`]); the [`checker`] reduces it to a
//! plain serializable [`Verdict`]; renderers such as [`terminal`] turn a verdict into text.
//! Analysis never formats output and renderers never compute numbers.
//!
//! ```no_run
//! let run = reports::RunDir::new("runs/seed-swap");
//! let verdict = run.check()?;
//! println!("{} of {} items lost", verdict.lost, verdict.expected);
//! # Ok::<(), reports::RunDirError>(())
//! ```

pub mod arrival;
pub mod baseline;
pub mod checker;
pub mod compare;
pub mod expected;
pub mod hdr;
pub mod history;
pub mod junit;
pub mod ledger;
pub mod plot;
pub mod probe;
pub mod report;
pub mod rundir;
pub mod summary;
mod table;
pub mod terminal;
pub mod threshold;
pub mod verdict;

pub use arrival::{Arrival, ArrivalRef};
pub use checker::{check, Checker};
pub use expected::{ExpectedSpec, SourceSpec, SpecError};
pub use ledger::LedgerEvent;
pub use probe::Probe;
pub use rundir::{RunDir, RunDirError};
pub use summary::{RunInfo, Summary};
pub use verdict::Verdict;
