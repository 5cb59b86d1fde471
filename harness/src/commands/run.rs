//! `harness run SCENARIO`: run one scenario end to end.

use std::path::PathBuf;

use reports::threshold::Threshold;
use tokio_util::sync::CancellationToken;

pub use crate::cli::RunArgs;
use crate::runner::{self, RunError, RunPlan};
use crate::scenario::Scenario;

use super::{EXIT_INTERRUPTED, EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE};

/// The function binary: `--app-command`, else the scenario's `app.command`, else
/// `HARNESS_TESTFN`, else `testfn` beside this executable.
pub fn program_path(
    app_command: Option<PathBuf>,
    scenario: Option<&Scenario>,
) -> Result<PathBuf, String> {
    if let Some(p) = app_command.or_else(|| {
        scenario
            .and_then(|s| s.app.command.clone())
            .map(PathBuf::from)
    }) {
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("the app command {} does not exist", p.display()))
        };
    }
    testfn_path()
}

/// `HARNESS_TESTFN` if set, else `testfn` beside this executable.
pub fn testfn_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HARNESS_TESTFN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating harness: {e}"))?;
    let path = exe.with_file_name("testfn");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "the test function {} is missing: build it with `cargo build -p harness` \
             (or set HARNESS_TESTFN)",
            path.display()
        ))
    }
}

/// A progress bar of the run's scaled time with the current phase from the ledger; indicatif
/// draws it only when stderr is a terminal.
fn progress_bar(plan: &RunPlan) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let s = &plan.scenario;
    let total = (s.run.duration.scaled(plan.time_scale) + s.settle().scaled(plan.time_scale))
        .as_millis() as u64;
    let bar = indicatif::ProgressBar::new(total.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {elapsed_precise} / ~{eta} left  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (b, ledger) = (bar.clone(), plan.out_dir.join(reports::rundir::LEDGER_FILE));
    let task = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        loop {
            b.set_position(start.elapsed().as_millis() as u64);
            let text = tokio::fs::read_to_string(&ledger).await.unwrap_or_default();
            if let Some(phase) = text
                .lines()
                .rev()
                .find(|l| l.contains(",phase_begun,"))
                .and_then(|l| l.rsplit("phase=").next())
            {
                b.set_message(format!("phase: {phase}"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    (bar, task)
}

/// Compares the run with its baseline, records the changes in `summary.json` and
/// `junit.xml`, and prints them; true if some metric regressed past its tolerance.
fn against_baseline(
    out_dir: &std::path::Path,
    summary: &mut reports::Summary,
    baseline: &str,
    tolerances: &[reports::baseline::Tolerance],
) -> Result<bool, String> {
    use reports::baseline;
    let base_dir = baseline::resolve(baseline);
    let base_run = reports::RunDir::new(&base_dir);
    let base = base_run
        .read_summary()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no baseline summary in {}", base_dir.display()))?;
    let run = reports::RunDir::new(out_dir);
    summary.baseline = baseline::compare(&base, summary, tolerances);
    run.write_summary(summary).map_err(|e| e.to_string())?;
    let mut cases = summary.thresholds.clone();
    for t in tolerances {
        if let Some(c) = summary.baseline.iter().find(|c| c.metric == t.metric) {
            let unit = if t.percent { "%" } else { "" };
            cases.push(reports::threshold::Outcome {
                threshold: format!(
                    "{} regresses at most {}{unit} against {baseline}",
                    t.metric, t.amount
                ),
                metric: t.metric.clone(),
                value: Some(c.current),
                ok: !c.regression,
            });
        }
    }
    let name = summary.run.scenario.clone().unwrap_or_default();
    let _ = std::fs::write(
        out_dir.join("junit.xml"),
        reports::threshold::junit(&name, &cases, &summary.invalid),
    );
    Ok(summary.baseline.iter().any(|c| c.regression))
}

pub fn run(args: RunArgs) -> u8 {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harness run: {e}");
            return EXIT_USAGE;
        }
    };
    let mut extra_thresholds = Vec::new();
    for text in &args.expect {
        match text.parse::<Threshold>() {
            Ok(t) => extra_thresholds.push(t),
            Err(e) => {
                eprintln!(
                    "harness run: --expect {text:?}: {} at byte {}",
                    e.what, e.at
                );
                return EXIT_USAGE;
            }
        }
    }
    let tolerances = match args
        .max_regression
        .as_deref()
        .map(reports::baseline::parse_tolerances)
    {
        None => Vec::new(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("harness run: --max-regression {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(b) = &args.baseline {
        let dir = reports::baseline::resolve(b);
        if !dir.join(reports::rundir::SUMMARY_FILE).exists() {
            eprintln!(
                "harness run: --baseline {b}: no summary.json in {} (save one with \
                 --save-baseline NAME, or name a run directory)",
                dir.display()
            );
            return EXIT_USAGE;
        }
    }
    if let Some(name) = &args.save_baseline {
        if !reports::baseline::is_name(name) {
            eprintln!(
                "harness run: --save-baseline {name}: a baseline's name is one plain word \
                 (it is kept in runs/baselines/NAME)"
            );
            return EXIT_USAGE;
        }
    }
    let time_scale = args.time_scale.unwrap_or(scenario.time_scale);
    if !(time_scale > 0.0 && time_scale.is_finite()) {
        eprintln!("harness run: --time-scale must be a positive number");
        return EXIT_USAGE;
    }
    let program = match program_path(args.app_command, Some(&scenario)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("harness run: {e}");
            return EXIT_USAGE;
        }
    };
    let out_dir = args.out.unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            scenario.name(),
            sink::clock::now_ns() / 1_000_000_000
        ))
    });
    let plan = RunPlan {
        seed: args.seed.unwrap_or(scenario.seed),
        scenario,
        scenario_path: args.scenario.display().to_string(),
        out_dir: out_dir.clone(),
        time_scale,
        program,
        extra_thresholds,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("harness run: starting the runtime: {e}");
            return EXIT_INVALID_RUN;
        }
    };
    let quiet = args.quiet;
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("harness run: interrupted; stopping every instance...");
                on_ctrl_c.cancel();
            }
        });
        if !quiet {
            eprintln!(
                "harness run: {} ({} strategy, time scale {}), writing {}",
                plan.scenario_path,
                plan.scenario.strategy,
                plan.time_scale,
                out_dir.display()
            );
        }
        let progress = (!quiet && !args.json).then(|| progress_bar(&plan));
        let result = runner::run(plan, cancel).await;
        if let Some((bar, task)) = progress {
            task.abort();
            bar.finish_and_clear();
        }
        result
    });
    match result {
        Ok(mut summary) => {
            let mut regressed = false;
            if let Some(b) = &args.baseline {
                match against_baseline(&out_dir, &mut summary, b, &tolerances) {
                    Ok(r) => regressed = r,
                    Err(e) => {
                        eprintln!("harness run: comparing with the baseline: {e}");
                        return EXIT_USAGE;
                    }
                }
            }
            if let Some(name) = &args.save_baseline {
                if !summary.invalid.is_empty() {
                    eprintln!("harness run: an invalid run is not saved as a baseline");
                } else {
                    match reports::baseline::save(&out_dir, name) {
                        Ok(dir) if !quiet => {
                            eprintln!("harness run: baseline {name} saved in {}", dir.display())
                        }
                        Ok(_) => {}
                        Err(e) => eprintln!("harness run: saving the baseline: {e}"),
                    }
                }
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
            } else if !quiet {
                print!(
                    "{}",
                    reports::terminal::render_summary(&summary, args.baseline.as_deref())
                );
                println!("\nrun directory: {}", out_dir.display());
            }
            if !summary.invalid.is_empty() {
                EXIT_INVALID_RUN
            } else if regressed || summary.thresholds.iter().any(|t| !t.ok) {
                EXIT_THRESHOLD
            } else {
                EXIT_OK
            }
        }
        Err(RunError::Interrupted(dir)) => {
            eprintln!(
                "harness run: interrupted; partial files in {}",
                dir.display()
            );
            EXIT_INTERRUPTED
        }
        Err(RunError::Failed(e)) => {
            eprintln!("harness run: the run failed: {e:#}");
            EXIT_INVALID_RUN
        }
    }
}
