//! `harness check DIR [--json] [--expect EXPR]...`: re-check a run directory from its files
//! and judge it again, through the judge `harness run` used.

use std::io::Write;
use std::path::Path;

use reports::judge::Judgement;
use reports::{RunDir, Verdict};

use super::{EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE};
use crate::scenario::Scenario;

pub fn run(dir: &Path, json: bool, expect: &[String]) -> u8 {
    if let Some(why) = super::unmeasured(dir) {
        errln!("harness check: {why}");
        return EXIT_USAGE;
    }
    let run = RunDir::new(dir);
    let verdict = match reports::checker::check_run(&run) {
        Ok(v) => v,
        Err(e) => {
            errln!("harness check: {e}");
            return EXIT_USAGE;
        }
    };
    let judged = match judge(&run, &verdict, expect) {
        Ok(j) => j,
        Err(e) => {
            errln!("harness check: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(j) = &judged {
        if let Err(e) = reports::judge::write(&run, j) {
            errln!("harness check: {e}");
            return EXIT_USAGE;
        }
    }
    let text = if json {
        match serde_json::to_string_pretty(&verdict) {
            Ok(t) => t + "\n",
            Err(e) => {
                errln!("harness check: encoding the verdict: {e}");
                return EXIT_USAGE;
            }
        }
    } else {
        // The identity is a nicety: a missing or unreadable summary.json still checks.
        let info = match &judged {
            Some(j) => Some(j.summary.run.clone()),
            None => match run.read_summary() {
                Ok(summary) => summary.map(|s| s.run),
                Err(e) => {
                    errln!("harness check: note: {e}");
                    None
                }
            },
        };
        reports::terminal::render(info.as_ref(), &verdict)
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error of the check.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    match &judged {
        Some(j) if !j.summary.invalid.is_empty() => EXIT_INVALID_RUN,
        Some(j)
            if j.summary.thresholds.iter().any(|t| !t.ok)
                || j.summary.baseline.iter().any(|c| c.regression) =>
        {
            EXIT_THRESHOLD
        }
        _ => EXIT_OK,
    }
}

/// The run judged again: by the rules of its scenario as run (`scenario.toml`) and `expect`,
/// from its record (`record.json`, or the `summary.json` of a run that predates it). `None`
/// when the directory lacks either: the verdict is then all there is.
fn judge(run: &RunDir, verdict: &Verdict, expect: &[String]) -> Result<Option<Judgement>, String> {
    let mut extra = Vec::new();
    for text in expect {
        let t = text
            .parse::<reports::threshold::Threshold>()
            .map_err(|e| format!("--expect {text:?}: {} at byte {}", e.what, e.at))?;
        extra.push(t);
    }
    let scenario_file = run.file("scenario.toml");
    if !scenario_file.exists() {
        if !extra.is_empty() {
            return Err(format!(
                "--expect needs the scenario as run, and {} has none",
                scenario_file.display()
            ));
        }
        return Ok(None);
    }
    let scenario = Scenario::load(&scenario_file).map_err(|e| e.to_string())?;
    let rules = crate::run_plan::rules(&scenario, &extra);
    let record = match run.read_record().map_err(|e| e.to_string())? {
        Some(r) => r,
        None => match run.read_summary().map_err(|e| e.to_string())? {
            // A run compared with a baseline before runs kept it (record.json) cannot be
            // judged again as it was: its summary and JUnit report are left as they are.
            Some(summary) if !summary.baseline.is_empty() => {
                if !extra.is_empty() {
                    return Err(format!(
                        "{} was compared with a baseline it does not keep (it has no \
                         record.json): it cannot be judged again, --expect or not",
                        run.path().display()
                    ));
                }
                errln!(
                    "harness check: note: {} was compared with a baseline it does not keep \
                     (it has no record.json): its summary.json and junit.xml are left as they are",
                    run.path().display()
                );
                return Ok(None);
            }
            Some(summary) => reports::judge::record_of_summary(&summary, &rules),
            None => return Ok(None),
        },
    };
    let suite = record
        .run
        .name
        .clone()
        .unwrap_or_else(|| scenario.name().to_owned());
    reports::judge::judge(&suite, &record, Some(verdict.clone()), &rules).map(Some)
}
