//! `harness advise DIR|SCENARIO... --priority P`: from a comparison's measurements to a
//! decision. With scenario files it runs the comparison first (as `harness compare` does,
//! into its usual directory), then advises on it. The analysis is
//! [`reports::advice`]; the text and the JSON are [`reports::advice_report`].

use std::path::PathBuf;

use reports::advice::{self, AdviceOptions, Priorities};
use reports::advice_report;
use reports::{sweep, sweep_report};

use super::{EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE};
use crate::cli::{AdviseArgs, BatchArgs};

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
    let options = AdviceOptions {
        priorities,
        cases: args.cases.clone(),
        alpha: args.alpha,
    };
    if sweep::is_sweep(&dir) {
        return advise_sweep(&dir, &options, &args);
    }
    let runs = match advice::load_comparison(&dir) {
        Ok(runs) => runs,
        Err(e) => {
            errln!("harness advise: {e}");
            return EXIT_USAGE;
        }
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

/// Advice on a sweep directory: each point's comparison advised on as one (its
/// `advice.md` and `advice.json` written beside its runs), then whether the recommendation
/// holds across the range or where it flips (`sweep-advice.md`, `sweep-advice.json`).
fn advise_sweep(dir: &std::path::Path, options: &AdviceOptions, args: &AdviseArgs) -> u8 {
    let range = sweep::load(dir)
        .map_err(|e| e.to_string())
        .and_then(|(manifest, runs)| {
            let range = sweep::range(&manifest, &runs, options).map_err(|e| e.to_string())?;
            Ok((manifest, range))
        });
    let (manifest, range) = match range {
        Ok(r) => r,
        Err(e) => {
            errln!("harness advise: {e}");
            return EXIT_USAGE;
        }
    };
    let markdown = format!(
        "# Advice across a sweep\n\n{}",
        sweep_report::range_markdown(&range, &manifest)
    );
    let written = (|| -> Result<String, String> {
        let json = sweep_report::advice_json(&range).map_err(|e| e.to_string())?;
        let out = args.out.clone().unwrap_or_else(|| dir.to_owned());
        for (point, advice) in manifest.points.iter().zip(&range.advice) {
            let here = out.join(&point.label);
            std::fs::create_dir_all(&here).map_err(|e| e.to_string())?;
            std::fs::write(here.join("advice.md"), advice_report::markdown(advice))
                .map_err(|e| e.to_string())?;
            let json = advice_report::json(advice).map_err(|e| e.to_string())?;
            std::fs::write(here.join("advice.json"), json).map_err(|e| e.to_string())?;
        }
        std::fs::write(out.join("sweep-advice.md"), &markdown).map_err(|e| e.to_string())?;
        std::fs::write(out.join(sweep_report::ADVICE_FILE), &json).map_err(|e| e.to_string())?;
        Ok(json)
    })();
    let json = match written {
        Ok(json) => json,
        Err(e) => {
            errln!("harness advise: writing the advice: {e}");
            return EXIT_INVALID_RUN;
        }
    };
    if args.json {
        out!("{json}");
    } else {
        out!("{markdown}");
    }
    if range.points.iter().any(|p| p.valid_runs == 0) {
        errln!(
            "harness advise: some point of {} has no valid run in the cases weighed",
            dir.display()
        );
        return EXIT_INVALID_RUN;
    }
    if range.points.iter().any(|p| p.recommendation.is_none()) {
        errln!("harness advise: at some point no strategy meets the limits");
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
        || args.platform.is_some()
        || args.dry_run;
    if let [dir] = args.inputs.as_slice() {
        if dir.is_dir() {
            if compare_flags {
                errln!(
                    "harness advise: --repeat, --time-scale, --jobs, --app-command, --platform and --dry-run apply to scenario files, not to a comparison directory"
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
    let batch = BatchArgs {
        repeat: args.repeat.unwrap_or(DEFAULT_REPEAT),
        time_scale: args.time_scale,
        jobs: args.jobs.unwrap_or(1),
        app_command: args.app_command.clone(),
        platform: args.platform,
        dry_run: args.dry_run,
        history: args.history.clone(),
    };
    let code = super::compare::run_into(&args.inputs, out.clone(), &batch, !args.json);
    if args.dry_run {
        // The comparison's plan is printed; there is nothing to advise on.
        return Err(code);
    }
    match code {
        // The comparison ran (a failed threshold or failed runs are the advice's to weigh).
        // Usage (2) and Ctrl-C (130) stop here, as does a comparison that wrote nothing.
        EXIT_OK | EXIT_THRESHOLD | EXIT_INVALID_RUN if out.is_dir() => Ok(out),
        other => Err(other),
    }
}
