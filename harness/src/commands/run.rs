//! `harness run SCENARIO`: run one scenario end to end.

use std::path::PathBuf;

use reports::threshold::Threshold;
use tokio_util::sync::CancellationToken;

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

/// The parsed arguments of `harness run`.
pub struct RunArgs {
    pub scenario: PathBuf,
    pub out: Option<PathBuf>,
    pub time_scale: Option<f64>,
    pub seed: Option<u64>,
    pub json: bool,
    pub expect: Vec<String>,
    pub quiet: bool,
    pub app_command: Option<PathBuf>,
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
        runner::run(plan, cancel).await
    });
    match result {
        Ok(summary) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
            } else if !quiet {
                print!(
                    "{}",
                    reports::terminal::render_with(
                        Some(&summary.run),
                        &summary.verdict,
                        &summary.thresholds,
                        &summary.invalid
                    )
                );
                println!("\nrun directory: {}", out_dir.display());
            }
            if !summary.invalid.is_empty() {
                EXIT_INVALID_RUN
            } else if summary.thresholds.iter().any(|t| !t.ok) {
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
