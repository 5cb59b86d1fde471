//! `harness advise DIR|SCENARIO... --priority P`: from a comparison's measurements to a
//! decision. With scenario files it runs the comparison first (as `harness compare` does,
//! into its usual directory), then advises on it. The analysis is
//! [`reports::advice`]; the text and the JSON are [`reports::advice_report`].

use std::path::PathBuf;

use reports::advice::{self, AdviceOptions, Priorities};
use reports::advice_report;

use super::{EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE};
use crate::cli::AdviseArgs;

/// Runs per scenario when `advise` runs the comparison itself: the advice warns of too few
/// repetitions below [`advice::FEW_RUNS`], so it asks for that many.
const DEFAULT_REPEAT: u32 = advice::FEW_RUNS as u32;

pub fn run(args: AdviseArgs) -> u8 {
    let priorities: Priorities = match args.priority.parse() {
        Ok(p) => p,
        Err(e) => {
            errln!("harness advise: --priority: {e}");
            return EXIT_USAGE;
        }
    };
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        errln!(
            "harness advise: --alpha must be above 0 and below 1 (got {})",
            args.alpha
        );
        return EXIT_USAGE;
    }
    let dir = match comparison(&args) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let runs = match advice::load_comparison(&dir) {
        Ok(runs) => runs,
        Err(e) => {
            errln!("harness advise: {e}");
            return EXIT_USAGE;
        }
    };
    let options = AdviceOptions {
        priorities,
        cases: args.cases.clone(),
        alpha: args.alpha,
    };
    // An unknown --case (or a bad --alpha) is the caller's to fix.
    let advice = match advice::advise(&runs, &options) {
        Ok(a) => a,
        Err(e) => {
            errln!("harness advise: {e}");
            return EXIT_USAGE;
        }
    };
    let markdown = advice_report::markdown(&advice);
    let json = match advice_report::json(&advice) {
        Ok(j) => j,
        Err(e) => {
            errln!("harness advise: encoding advice.json: {e}");
            return EXIT_INVALID_RUN;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| dir.clone());
    let written = std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(out.join("advice.md"), &markdown))
        .and_then(|()| std::fs::write(out.join("advice.json"), &json));
    if let Err(e) = written {
        errln!(
            "harness advise: writing the advice into {}: {e}",
            out.display()
        );
        return EXIT_INVALID_RUN;
    }
    if args.json {
        out!("{json}");
    } else {
        out!("{markdown}");
        outln!("\nadvice: {}", out.join("advice.md").display());
    }
    if advice.valid_runs == 0 {
        errln!(
            "harness advise: {} has no valid run in the cases weighed",
            dir.display()
        );
        return EXIT_INVALID_RUN;
    }
    if advice.recommendation.is_none() {
        errln!("harness advise: no strategy meets the limits");
        return EXIT_THRESHOLD;
    }
    EXIT_OK
}

/// The comparison directory to advise on: the one given, or the one a comparison of the
/// scenario files given has just written. `Err` holds the exit code.
fn comparison(args: &AdviseArgs) -> Result<PathBuf, u8> {
    let compare_flags = args.repeat.is_some()
        || args.time_scale.is_some()
        || args.jobs.is_some()
        || args.app_command.is_some()
        || args.platform.is_some();
    if let [dir] = args.inputs.as_slice() {
        if dir.is_dir() {
            if compare_flags {
                errln!(
                    "harness advise: --repeat, --time-scale, --jobs, --app-command and --platform apply to scenario files, not to a comparison directory"
                );
                return Err(EXIT_USAGE);
            }
            return Ok(dir.clone());
        }
        if !dir.exists() {
            errln!(
                "harness advise: {}: no such comparison directory or scenario file",
                dir.display()
            );
            return Err(EXIT_USAGE);
        }
    }
    if let Some(d) = args.inputs.iter().find(|p| p.is_dir()) {
        errln!(
            "harness advise: {} is a directory: give one comparison directory, or scenario files",
            d.display()
        );
        return Err(EXIT_USAGE);
    }
    let out = super::compare::default_out();
    let settings = super::compare::Settings {
        repeat: args.repeat.unwrap_or(DEFAULT_REPEAT),
        time_scale: args.time_scale,
        jobs: args.jobs.unwrap_or(1),
        app_command: args.app_command.clone(),
        platform: args.platform,
    };
    let code = super::compare::run_into(&args.inputs, out.clone(), &settings, !args.json);
    match code {
        // The comparison ran (a failed threshold or failed runs are the advice's to weigh).
        // Usage (2) and Ctrl-C (130) stop here, as does a comparison that wrote nothing.
        EXIT_OK | EXIT_THRESHOLD | EXIT_INVALID_RUN if out.is_dir() => Ok(out),
        other => Err(other),
    }
}
