//! The parsed command line of `harness`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Benchmark and chaos-test application update strategies.
///
/// A test function submits uniquely numbered items A(m,n) to a sink that records every
/// arrival; the checker then says which items were lost, duplicated, late or unexpected,
/// why, and how long the service was down.
#[derive(Parser, Debug)]
#[command(name = "harness", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Re-check a run directory and print its verdict.
    ///
    /// Reads expected.json and arrivals.csv (required), probes.csv and ledger.csv (optional)
    /// and prints a readable summary: counts, lateness quantiles, downtime, and the lost,
    /// duplicated, late and unexpected items (the first 20 of each).
    ///
    /// Exit codes: 0 the run directory was checked; 2 it could not be read (the error, with
    /// the file and line, goes to stderr).
    ///
    /// Examples:
    ///   harness check scenarios/examples/seed-swap
    ///   harness check runs/seed-swap --json | jq .lost
    #[command(verbatim_doc_comment)]
    Check {
        /// The run directory.
        dir: PathBuf,
        /// Print the verdict object of summary.json instead, and nothing else on stdout.
        #[arg(long)]
        json: bool,
    },
}
