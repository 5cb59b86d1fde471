//! `harness run SCENARIO`: run one scenario end to end.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

pub use crate::cli::RunArgs;
use crate::run_plan::{baselines, resolve, PlanOptions, RunPlan};
use crate::runner::{self, RunError, RunOutcome};
use crate::scenario::Scenario;

use super::{EXIT_INTERRUPTED, EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE};

/// The default run directory: `runs/NAME-UNIXTIME`.
fn default_out(scenario: &Scenario) -> PathBuf {
    PathBuf::from("runs").join(format!(
        "{}-{}",
        scenario.name(),
        sink::clock::now_ns() / 1_000_000_000
    ))
}

/// A progress bar of the run's scaled time with the current phase, which the run's ledger
/// tells as each phase begins; indicatif draws it only when stderr is a terminal.
fn progress_bar(plan: &RunPlan) -> (Progress, runner::RunOptions) {
    let total = (plan.timing.duration + plan.timing.settle).as_millis() as u64;
    let bar = indicatif::ProgressBar::new(total.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {elapsed_precise} / ~{eta} left  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (b, task) = (bar.clone(), Progress::default().task);
    let progress = Progress {
        bar: Some(bar),
        task: task.clone(),
    };
    let follow = move |ledger: &crate::ledger::Ledger| {
        let ledger = ledger.clone();
        let start = ledger.clock().now();
        let follower = tokio::spawn(async move {
            let mut seen = 0;
            loop {
                b.set_position(ledger.clock().now().duration_since(start).as_millis() as u64);
                // Woken by the next event, or in time to move the bar.
                let tick = std::time::Duration::from_millis(200);
                let now = match tokio::time::timeout(tick, ledger.changed_after(seen)).await {
                    Ok(count) => count,
                    Err(_) => continue,
                };
                let phase = ledger
                    .events_from(seen)
                    .into_iter()
                    .rev()
                    .find(|e| e.event == reports::ledger::Kind::PhaseBegun)
                    .and_then(|e| e.get("phase").map(str::to_owned));
                if let Some(phase) = phase {
                    b.set_message(format!("phase: {phase}"));
                }
                seen = now;
            }
        });
        *task.lock().unwrap_or_else(|e| e.into_inner()) = Some(follower);
    };
    let options = runner::RunOptions {
        on_ledger: Some(Box::new(follow)),
        ..runner::RunOptions::default()
    };
    (progress, options)
}

/// The progress bar and the task that follows the ledger for it.
#[derive(Default)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    task: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Progress {
    /// Stops following and clears the bar, before the verdict is printed.
    fn finish(self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn run(args: RunArgs) -> u8 {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            errln!("harness run: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(name) = &args.save_baseline {
        if !reports::Baselines::is_name(name) {
            errln!(
                "harness run: --save-baseline {name}: a baseline's name is one plain word \
                 (it is kept in runs/baselines/NAME)"
            );
            return EXIT_USAGE;
        }
    }
    let out_dir = args.out.clone().unwrap_or_else(|| default_out(&scenario));
    if runner::holds_a_run(&out_dir) {
        errln!(
            "harness run: {} already holds a run; choose another --out",
            out_dir.display()
        );
        return EXIT_USAGE;
    }
    let options = PlanOptions {
        time_scale: args.time_scale,
        seed: args.seed,
        app_command: args.app_command.as_deref(),
        expect: &args.expect,
        baseline: args.baseline.as_deref(),
        max_regression: args.max_regression.as_deref(),
        platform: args.platform,
        budgets: &args.budgets,
        history: Some(&args.history.store.history),
    };
    let plan = match resolve(&args.scenario, &scenario, out_dir.clone(), &options) {
        Ok(p) => p,
        Err(e) => {
            errln!("harness run: {e}");
            return EXIT_USAGE;
        }
    };
    if args.dry_run {
        let job = super::batch::Job {
            rep: 1,
            label: plan.scenario.name().to_owned(),
            plan,
        };
        super::batch::print_plan("harness run", &[job], 1);
        return EXIT_OK;
    }
    let replay = replay_command(&plan);
    let runtime = match runner::runtime_for(&plan) {
        Ok(r) => r,
        Err(e) => {
            errln!("harness run: starting the runtime: {e}");
            return EXIT_INVALID_RUN;
        }
    };
    let quiet = args.quiet;
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        super::cancel_on_ctrl_c(
            &cancel,
            Some("harness run: interrupted; stopping every instance..."),
        );
        if !quiet {
            errln!(
                "harness run: {} ({} strategy, time scale {}, {}), writing {}",
                plan.scenario_path,
                plan.scenario.strategy,
                plan.time_scale,
                plan.program,
                out_dir.display()
            );
        }
        // A run in virtual time is over before a bar would be drawn.
        let (progress, options) = if !quiet && !args.json && !runner::is_virtual(&plan) {
            progress_bar(&plan)
        } else {
            Default::default()
        };
        let clock = runner::clock_for(&plan);
        let result = runner::run_with(plan, clock, cancel, options).await;
        progress.finish();
        result
    });
    let outcome = match result {
        Ok(o) => o,
        Err(e @ RunError::OutDirTaken(_)) => {
            errln!("harness run: {e}");
            return EXIT_USAGE;
        }
        Err(RunError::Setup(e)) => {
            errln!("harness run: the run could not start: {e}");
            return EXIT_INVALID_RUN;
        }
    };
    report(&args, &outcome, &out_dir);
    // An interrupted run is no run of the scenario's to pool or list.
    if !outcome.interrupted {
        super::history::record(std::slice::from_ref(&out_dir), &args.history);
    }
    if let Some(replay) = replay.filter(|_| !outcome.is_valid() || outcome.failed_a_check()) {
        errln!("harness run: replay this run exactly with:\n  {replay}");
    }
    if outcome.interrupted {
        EXIT_INTERRUPTED
    } else if !outcome.is_valid() {
        EXIT_INVALID_RUN
    } else if outcome.failed_a_check() {
        EXIT_THRESHOLD
    } else {
        EXIT_OK
    }
}

/// The command that replays a run in virtual time exactly (the same seed, time scale and
/// platform give the same run), for a run that failed; `None` on the machine's clock, where
/// a run is not the same twice.
fn replay_command(plan: &RunPlan) -> Option<String> {
    runner::is_virtual(plan).then(|| {
        let mut command = format!(
            "harness run {} --platform {} --seed {} --time-scale {}",
            shell_word(&plan.scenario_path),
            plan.scenario.platform.kind.as_str(),
            plan.seed,
            plan.time_scale,
        );
        // The same judgement: the thresholds and the baseline it was held to.
        for t in &plan.extra_thresholds {
            command += &format!(" --expect {}", shell_word(&t.to_string()));
        }
        if let Some(b) = &plan.baseline {
            command += &format!(" --baseline {}", shell_word(&b.name));
            if !b.max_regression.is_empty() {
                command += &format!(" --max-regression {}", shell_word(&b.max_regression));
            }
        }
        command += &format!(
            " --out {}",
            shell_word(&format!("{}-replay", plan.out_dir.display()))
        );
        command
    })
}

/// `text` as one word for a POSIX shell.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Prints the outcome as asked (table, JSON, or only what failed) and saves the baseline.
fn report(args: &RunArgs, outcome: &RunOutcome, out_dir: &Path) {
    let quiet = args.quiet;
    let summary = &outcome.summary;
    for w in &outcome.warnings {
        errln!("harness run: warning: {w}");
    }
    if let Some(name) = &args.save_baseline {
        if !outcome.is_valid() {
            errln!("harness run: an invalid run is not saved as a baseline");
        } else {
            match baselines().save(out_dir, name) {
                Ok(dir) if !quiet => {
                    errln!("harness run: baseline {name} saved in {}", dir.display())
                }
                Ok(_) => {}
                Err(e) => errln!("harness run: saving the baseline: {e}"),
            }
        }
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(summary).unwrap_or_default()
        );
    } else if !quiet {
        out!(
            "{}",
            reports::terminal::render_summary(summary, args.baseline.as_deref())
        );
        outln!("\nrun directory: {}", out_dir.display());
    }
    // Even when quiet (or when stdout is JSON for a machine), a person reading the log
    // learns what failed.
    if quiet || args.json {
        let failures = reports::terminal::render_failures(summary);
        if !failures.is_empty() {
            errln!("{}", failures.trim_end());
        }
    }
}
