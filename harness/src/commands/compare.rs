//! `harness compare SCENARIO... [--repeat N]`: run each scenario N times and compare.

use std::path::PathBuf;

use reports::compare::{self, RunRecord};
use reports::compare_report;

use super::batch::{jobs, run_jobs, Stopped};
use super::{EXIT_INTERRUPTED, EXIT_INVALID_RUN, EXIT_OK, EXIT_USAGE};
use crate::cli::BatchArgs;
use crate::scenario::Scenario;

pub fn run(paths: &[PathBuf], out: Option<PathBuf>, batch: &BatchArgs) -> u8 {
    let out = out.unwrap_or_else(default_out);
    run_into(paths, out, batch, true)
}

/// Where a comparison goes without `--out`: `runs/compare-UNIXTIME`.
pub fn default_out() -> PathBuf {
    PathBuf::from("runs").join(format!("compare-{}", sink::clock::now_ns() / 1_000_000_000))
}

/// [`run`] into the comparison directory `out`, printing the table on stdout only when
/// `print` (`harness advise` runs a comparison, then advises on `out`).
pub fn run_into(paths: &[PathBuf], out: PathBuf, batch: &BatchArgs, print: bool) -> u8 {
    let mut scenarios = Vec::new();
    for path in paths {
        match Scenario::load(path) {
            Ok(s) => scenarios.push((path.clone(), s)),
            Err(e) => {
                errln!("harness compare: {e}");
                return EXIT_USAGE;
            }
        }
    }
    if let Err(e) = batch.check() {
        errln!("harness compare: {e}");
        return EXIT_USAGE;
    }
    if out.join("compare.csv").exists() {
        errln!(
            "harness compare: {} already holds a comparison; choose another --out",
            out.display()
        );
        return EXIT_USAGE;
    }
    let jobs = match jobs(&scenarios, batch.repeat, &out, &batch.plan_options(), "") {
        Ok(jobs) => jobs,
        Err(e) => {
            errln!("harness compare: {e}");
            return EXIT_USAGE;
        }
    };
    if batch.dry_run {
        super::batch::print_plan("harness compare", &jobs, batch.jobs);
        return EXIT_OK;
    }
    let records: Vec<RunRecord> = match run_jobs(jobs, batch.jobs) {
        Ok(finished) => {
            super::batch::record_history(&finished, &batch.history);
            finished.into_iter().map(|f| f.record).collect()
        }
        Err(Stopped::Runtime(e)) => {
            errln!("harness compare: starting the runtime: {e}");
            return EXIT_INVALID_RUN;
        }
        Err(Stopped::Interrupted) => {
            errln!(
                "harness compare: interrupted; runs so far are in {}",
                out.display()
            );
            return EXIT_INTERRUPTED;
        }
    };
    let results = compare::compare(&records);
    let written = (|| -> Result<(), String> {
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        std::fs::write(out.join("compare.csv"), compare_report::csv(&results))
            .map_err(|e| e.to_string())?;
        std::fs::write(out.join("compare.md"), compare_report::markdown(&results))
            .map_err(|e| e.to_string())?;
        std::fs::write(out.join("compare.html"), compare_report::html(&results)?)
            .map_err(|e| e.to_string())?;
        compare_report::write_pngs(&results, &out)?;
        std::fs::write(out.join("junit.xml"), compare_report::junit(&records))
            .map_err(|e| e.to_string())?;
        Ok(())
    })();
    if let Err(e) = written {
        errln!(
            "harness compare: writing the comparison into {}: {e}",
            out.display()
        );
        return EXIT_INVALID_RUN;
    }
    if print {
        out!("{}", compare_report::markdown(&results));
        outln!("\ncomparison: {}", out.join("compare.html").display());
    }
    if results.iter().any(|r| r.failed.len() == r.runs) {
        errln!("harness compare: every run of some scenario failed");
        return EXIT_INVALID_RUN;
    }
    if records.iter().any(|r| !r.threshold_failures.is_empty()) {
        return super::EXIT_THRESHOLD;
    }
    EXIT_OK
}
