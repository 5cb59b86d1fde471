//! `harness compare SCENARIO... [--repeat N]`: run each scenario N times and compare.

use std::path::PathBuf;
use std::sync::Arc;

use reports::compare::{self, RunRecord};
use reports::compare_report;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{EXIT_INTERRUPTED, EXIT_INVALID_RUN, EXIT_OK, EXIT_USAGE};
use crate::run_plan::{resolve, PlanOptions, RunPlan};
use crate::runner;
use crate::scenario::Scenario;

/// How a comparison runs its scenarios.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Runs per scenario.
    pub repeat: u32,
    pub time_scale: Option<f64>,
    /// Runs at once.
    pub jobs: usize,
    pub app_command: Option<PathBuf>,
    /// `--platform`: run the local platform's scenarios on this one.
    pub platform: Option<crate::platform::PlatformKind>,
}

pub fn run(paths: &[PathBuf], out: Option<PathBuf>, settings: &Settings) -> u8 {
    let out = out.unwrap_or_else(default_out);
    run_into(paths, out, settings, true)
}

/// Where a comparison goes without `--out`: `runs/compare-UNIXTIME`.
pub fn default_out() -> PathBuf {
    PathBuf::from("runs").join(format!("compare-{}", sink::clock::now_ns() / 1_000_000_000))
}

/// [`run`] into the comparison directory `out`, printing the table on stdout only when
/// `print` (`harness advise` runs a comparison, then advises on `out`).
pub fn run_into(paths: &[PathBuf], out: PathBuf, settings: &Settings, print: bool) -> u8 {
    let Settings {
        repeat,
        time_scale,
        jobs,
        ref app_command,
        platform,
    } = *settings;
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
    if repeat == 0 || jobs == 0 {
        errln!("harness compare: --repeat and --jobs must be at least 1");
        return EXIT_USAGE;
    }
    if out.join("compare.csv").exists() {
        errln!(
            "harness compare: {} already holds a comparison; choose another --out",
            out.display()
        );
        return EXIT_USAGE;
    }
    let options = PlanOptions {
        time_scale,
        app_command: app_command.as_deref(),
        platform,
        ..PlanOptions::default()
    };
    let mut plans = Vec::new();
    for (path, s) in &scenarios {
        for rep in 1..=repeat {
            let dir = out.join(s.name()).join(format!("run-{rep}"));
            let options = PlanOptions {
                seed: Some(s.seed + u64::from(rep) - 1),
                ..options.clone()
            };
            match resolve(path, s, dir, &options) {
                Ok(p) => plans.push((rep, p)),
                Err(e) => {
                    errln!("harness compare: {}: {e}", path.display());
                    return EXIT_USAGE;
                }
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("harness compare: starting the runtime: {e}");
            return EXIT_INVALID_RUN;
        }
    };
    let cancel = CancellationToken::new();
    let records = runtime.block_on(execute(plans, jobs, cancel.clone()));
    if cancel.is_cancelled() {
        errln!(
            "harness compare: interrupted; runs so far are in {}",
            out.display()
        );
        return EXIT_INTERRUPTED;
    }
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

/// Runs the plans, at most `jobs` at once, with a progress bar on a terminal.
async fn execute(
    plans: Vec<(u32, RunPlan)>,
    jobs: usize,
    cancel: CancellationToken,
) -> Vec<RunRecord> {
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    // indicatif draws on stderr only when it is a terminal.
    let bar = indicatif::ProgressBar::new(plans.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs  {elapsed_precise}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let permits = Arc::new(Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for (index, (rep, plan)) in plans.into_iter().enumerate() {
        let (permits, cancel, bar) = (permits.clone(), cancel.clone(), bar.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let name = plan.scenario.name().to_owned();
            let record = |outcome, threshold_failures| RunRecord {
                scenario: name.clone(),
                strategy: plan.scenario.strategy.to_string(),
                repetition: rep,
                seed: plan.seed,
                dir: plan.out_dir.clone(),
                outcome,
                threshold_failures,
            };
            if cancel.is_cancelled() {
                return (index, record(Err("interrupted".into()), Vec::new()));
            }
            bar.set_message(format!("{name} run {rep}"));
            let mut threshold_failures = Vec::new();
            let outcome = if runner::is_virtual(&plan) {
                // A run in virtual time has a runtime of its own, paused, on a thread of
                // its own: it must share its clock with nothing.
                let (plan, cancel) = (plan.clone(), cancel.clone());
                tokio::task::spawn_blocking(move || {
                    runner::run_blocking(plan, cancel, runner::RunOptions::default())
                })
                .await
                .unwrap_or_else(|e| Err(runner::RunError::Setup(format!("the run panicked: {e}"))))
            } else {
                runner::run(plan.clone(), cancel.clone()).await
            };
            let outcome = match outcome {
                Ok(o) if o.interrupted => Err("interrupted".into()),
                Ok(o) if !o.is_valid() => {
                    Err(format!("invalid run: {}", o.summary.invalid.join("; ")))
                }
                Ok(o) => {
                    threshold_failures = o
                        .summary
                        .thresholds
                        .iter()
                        .filter(|t| !t.ok)
                        .map(|t| format!("{} ({})", t.threshold, t.measured()))
                        .collect();
                    Ok(compare::metrics(&o.summary))
                }
                Err(e) => Err(e.to_string()),
            };
            bar.inc(1);
            (index, record(outcome, threshold_failures))
        });
    }
    let mut records = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(r) = joined {
            records.push(r);
        }
    }
    bar.finish_and_clear();
    records.sort_by_key(|(i, _)| *i);
    records.into_iter().map(|(_, r)| r).collect()
}
