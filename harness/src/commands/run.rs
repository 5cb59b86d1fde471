//! `harness run SCENARIO`: run one scenario end to end.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::runner::{self, RunError, RunPlan};
use crate::scenario::Scenario;

use super::{EXIT_INTERRUPTED, EXIT_INVALID_RUN, EXIT_OK, EXIT_USAGE};

/// The function binary: `HARNESS_TESTFN` if set, else `testfn` beside this executable.
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

pub fn run(
    scenario_path: &Path,
    out: Option<PathBuf>,
    time_scale: Option<f64>,
    seed: Option<u64>,
    json: bool,
) -> u8 {
    let scenario = match Scenario::load(scenario_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harness run: {e}");
            return EXIT_USAGE;
        }
    };
    let time_scale = time_scale.unwrap_or(scenario.time_scale);
    if !(time_scale > 0.0 && time_scale.is_finite()) {
        eprintln!("harness run: --time-scale must be a positive number");
        return EXIT_USAGE;
    }
    let program = match testfn_path() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("harness run: {e}");
            return EXIT_USAGE;
        }
    };
    let out_dir = out.unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            scenario.name(),
            sink::clock::now_ns() / 1_000_000_000
        ))
    });
    let plan = RunPlan {
        seed: seed.unwrap_or(scenario.seed),
        scenario,
        scenario_path: scenario_path.display().to_string(),
        out_dir: out_dir.clone(),
        time_scale,
        program,
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
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("harness run: interrupted; stopping every instance...");
                on_ctrl_c.cancel();
            }
        });
        eprintln!(
            "harness run: {} ({} strategy, time scale {}), writing {}",
            plan.scenario_path,
            plan.scenario.strategy,
            plan.time_scale,
            out_dir.display()
        );
        runner::run(plan, cancel).await
    });
    match result {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary.verdict).unwrap_or_default()
                );
            } else {
                print!(
                    "{}",
                    reports::terminal::render(Some(&summary.run), &summary.verdict)
                );
                println!("\nrun directory: {}", out_dir.display());
            }
            EXIT_OK
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
