//! A batch of runs, as `harness compare` and `harness sweep` run them: each scenario
//! `--repeat` times into `ROOT/NAME/run-K` (repetition K with seed `seed + K - 1`), at most
//! `--jobs` at once on a runtime of their own, with a progress bar on a terminal, until all
//! are done or Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reports::compare::{self, RunRecord};
use reports::Summary;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::cli::BatchArgs;
use crate::run_plan::{resolve, PlanOptions, RunPlan};
use crate::runner;
use crate::scenario::Scenario;

impl BatchArgs {
    /// What the command line adds to every scenario of the batch.
    pub fn plan_options(&self) -> PlanOptions<'_> {
        PlanOptions {
            time_scale: self.time_scale,
            app_command: self.app_command.as_deref(),
            platform: self.platform,
            history: Some(&self.history.store.history),
            ..PlanOptions::default()
        }
    }

    /// Refuses counts that would run nothing.
    pub fn check(&self) -> Result<(), String> {
        if self.repeat == 0 || self.jobs == 0 {
            return Err("--repeat and --jobs must be at least 1".into());
        }
        Ok(())
    }
}

/// One run of a batch, resolved.
pub struct Job {
    pub rep: u32,
    pub plan: RunPlan,
    /// What the progress bar says while it runs: `seed-swap run 2`.
    pub label: String,
}

/// `repeat` runs of each scenario into `root/NAME/run-K`; `prefix` leads each label.
pub fn jobs(
    scenarios: &[(PathBuf, Scenario)],
    repeat: u32,
    root: &Path,
    options: &PlanOptions,
    prefix: &str,
) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for (path, s) in scenarios {
        for rep in 1..=repeat {
            let dir = root.join(s.name()).join(format!("run-{rep}"));
            let options = PlanOptions {
                seed: Some(s.seed + u64::from(rep) - 1),
                ..options.clone()
            };
            let plan =
                resolve(path, s, dir, &options).map_err(|e| format!("{}: {e}", path.display()))?;
            jobs.push(Job {
                rep,
                label: format!("{prefix}{} run {rep}", s.name()),
                plan,
            });
        }
    }
    Ok(jobs)
}

/// `--dry-run`: the runs a command would make, each with its platform, strategy, time scale,
/// seed, planned time (the scenario's duration and settling, scaled; virtual on the sim) and
/// directory, and the batch's planned time at `at_once` runs at a time. Start-up and
/// shutdown come on top; nothing is run or written.
pub fn print_plan(command: &str, jobs: &[Job], at_once: usize) {
    outln!("{command}: a dry run; nothing is run or written");
    let rows: Vec<[String; 7]> = jobs
        .iter()
        .map(|job| {
            let p = &job.plan;
            let kind = p.scenario.platform.kind;
            let planned = if kind == crate::platform::PlatformKind::Sim {
                "virtual".to_owned()
            } else {
                format!("{:.1} s", planned_s(p))
            };
            [
                job.label.clone(),
                kind.as_str().to_owned(),
                p.scenario.strategy.to_string(),
                p.time_scale.to_string(),
                p.seed.to_string(),
                planned,
                p.out_dir.display().to_string(),
            ]
        })
        .collect();
    let header = [
        "run",
        "platform",
        "strategy",
        "time scale",
        "seed",
        "planned",
        "directory",
    ];
    for line in crate::output::columns(header, &rows) {
        outln!("  {line}");
    }
    let wall_s: f64 = jobs
        .iter()
        .filter(|j| j.plan.scenario.platform.kind != crate::platform::PlatformKind::Sim)
        .map(|j| planned_s(&j.plan))
        .sum();
    let at_once = at_once.clamp(1, jobs.len().max(1));
    let timed = jobs
        .iter()
        .any(|j| j.plan.scenario.platform.kind != crate::platform::PlatformKind::Sim);
    if timed {
        outln!(
            "{} run(s), {at_once} at a time: about {:.0} s of runs, start-up and shutdown on top",
            jobs.len(),
            wall_s / at_once as f64
        );
    } else {
        outln!(
            "{} run(s), in virtual time: a fraction of a second each",
            jobs.len()
        );
    }
}

/// A run's planned time: its duration and its settling, scaled.
fn planned_s(plan: &RunPlan) -> f64 {
    (plan.timing.duration + plan.timing.settle).as_secs_f64()
}

/// A run of the batch, done.
pub struct Finished {
    /// As a comparison reads it: the compared metrics, or why the run failed.
    pub record: RunRecord,
    /// Its summary, when the run wrote one (an invalid run's too).
    pub summary: Option<Summary>,
    /// Its scenario's case, for a run that wrote no summary to say it.
    pub case: String,
}

/// Records the runs of the batch that wrote a summary in the history store (unless
/// `--no-history`); a run that could not start is not a run to pool.
pub fn record_history(finished: &[Finished], history: &crate::cli::HistoryArgs) {
    let dirs: Vec<PathBuf> = finished
        .iter()
        .filter(|f| f.summary.is_some())
        .map(|f| f.record.dir.clone())
        .collect();
    super::history::record(&dirs, history);
}

/// Why a batch stopped before every run was done.
pub enum Stopped {
    /// The runtime did not start.
    Runtime(String),
    /// Ctrl-C.
    Interrupted,
}

/// Runs the jobs, at most `at_once` at a time, and gives each one's outcome in the jobs'
/// order.
pub fn run_jobs(jobs: Vec<Job>, at_once: usize) -> Result<Vec<Finished>, Stopped> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Stopped::Runtime(e.to_string()))?;
    let cancel = CancellationToken::new();
    let finished = runtime.block_on(execute(jobs, at_once, cancel.clone()));
    if cancel.is_cancelled() {
        return Err(Stopped::Interrupted);
    }
    Ok(finished)
}

async fn execute(jobs: Vec<Job>, at_once: usize, cancel: CancellationToken) -> Vec<Finished> {
    super::cancel_on_ctrl_c(&cancel, None);
    // indicatif draws on stderr only when it is a terminal.
    let bar = indicatif::ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs  {elapsed_precise}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let permits = Arc::new(Semaphore::new(at_once));
    let mut set = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let (permits, cancel, bar) = (permits.clone(), cancel.clone(), bar.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let finished = one(job, &cancel, &bar).await;
            bar.inc(1);
            (index, finished)
        });
    }
    let mut finished = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(r) = joined {
            finished.push(r);
        }
    }
    bar.finish_and_clear();
    finished.sort_by_key(|(i, _)| *i);
    finished.into_iter().map(|(_, f)| f).collect()
}

/// Runs one job, unless the batch was interrupted before its turn.
async fn one(job: Job, cancel: &CancellationToken, bar: &indicatif::ProgressBar) -> Finished {
    let Job { rep, plan, label } = job;
    let case = plan.scenario.case.clone();
    let record = |outcome, threshold_failures| RunRecord {
        scenario: plan.scenario.name().to_owned(),
        strategy: plan.scenario.strategy.to_string(),
        repetition: rep,
        seed: plan.seed,
        dir: plan.out_dir.clone(),
        outcome,
        threshold_failures,
    };
    if cancel.is_cancelled() {
        return Finished {
            record: record(Err("interrupted".into()), Vec::new()),
            summary: None,
            case,
        };
    }
    bar.set_message(label);
    let mut threshold_failures = Vec::new();
    let mut summary = None;
    let outcome = if runner::is_virtual(&plan) {
        // A run in virtual time has a runtime of its own, paused, on a thread of its own:
        // it must share its clock with nothing.
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
            let why = format!("invalid run: {}", o.summary.invalid.join("; "));
            summary = Some(o.summary);
            Err(why)
        }
        Ok(o) => {
            threshold_failures = o
                .summary
                .thresholds
                .iter()
                .filter(|t| !t.ok)
                .map(|t| format!("{} ({})", t.threshold, t.measured()))
                .chain(
                    o.summary
                        .budgets
                        .iter()
                        .filter(|b| b.state == reports::budget::BudgetState::Fail)
                        .map(|b| format!("budget {} ({})", b.budget, b.message)),
                )
                .collect();
            let metrics = compare::metrics(&o.summary);
            summary = Some(o.summary);
            Ok(metrics)
        }
        Err(e) => Err(e.to_string()),
    };
    Finished {
        record: record(outcome, threshold_failures),
        summary,
        case,
    }
}
