//! The harness: scenarios, the local platform, the update strategies, the test function, the
//! runner and the command line.
//!
//! The command line has two layers (ripgrep's habit): [`cli::Cli`] holds the parsed flags and
//! is checked without I/O; each command turns it into a plan that owns real objects and runs
//! it, returning the process exit code. `main` only wires the two together.

#[macro_use]
mod output;

pub mod analysis;
pub mod app;
pub mod chaos;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod dist;
pub mod duration;
pub mod fault_proxy;
pub mod instance_tasks;
pub mod ledger;
pub mod net;
pub mod platform;
pub mod probes;
pub mod protocol;
pub mod rng;
pub mod run_plan;
pub mod runner;
pub mod scenario;
pub mod slot;
pub mod strategy;
pub mod testfn;
pub mod vary;
