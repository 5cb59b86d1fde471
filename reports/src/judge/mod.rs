//! The judge: from what a run measured to its summary and its JUnit report.
//!
//! A run's judgement is the verdict of its history (the checker's, with every pass), the
//! thresholds evaluated over it, the comparison with a baseline, its budgets against what
//! its history said when it began, and whether the run could
//! be judged at all (its invalid reasons). `harness run` judges the run it just measured and
//! `harness check DIR` judges a run directory again, through the same [`judge`]: the only
//! inputs that are not in the run's data files are the run's [`Record`] (its identity, the
//! problems of the measuring itself, the baseline it was compared with), which the run
//! writes as `record.json`, and the [`Rules`] of its scenario. So a check rewrites
//! `summary.json` and `junit.xml` as the run wrote them, and a check with other thresholds
//! re-judges an old run.

use crate::analysis::baseline;
use crate::analysis::budget;
use crate::analysis::threshold::{self, Threshold};
use crate::io::rundir::RunDir;
use crate::model::metric::number;
use crate::model::record::Record;
use crate::model::summary::{RunInfo, Summary};
use crate::model::verdict::Verdict;
use crate::render::junit;

/// The file the JUnit report goes to.
pub const JUNIT_FILE: &str = "junit.xml";

/// The scenario's rules a run is judged by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    /// The scenario's thresholds, then the command line's.
    pub thresholds: Vec<Threshold>,
    /// `probes.control_max`: a longer window where the control probes failed makes the run
    /// invalid.
    pub control_max_ms: f64,
    /// `probes.max_send_lag`: a probe client later than this at p99 makes the run invalid.
    pub max_send_lag_ms: f64,
}

/// A run's judgement.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub summary: Summary,
    /// The JUnit report: a case per threshold and per baseline tolerance, an errored case
    /// when the run is invalid.
    pub junit: String,
    /// What the user should read that is not about the app (the baseline is of another
    /// scenario).
    pub warnings: Vec<String>,
}

/// Judges a run: `verdict` is `None` when nothing could be measured, and then no threshold
/// or baseline is evaluated.
pub fn judge(
    suite: &str,
    record: &Record,
    verdict: Option<Verdict>,
    rules: &Rules,
) -> Result<Judgement, String> {
    let measured_any = verdict.is_some();
    let mut summary = Summary::new(record.run.clone(), verdict.unwrap_or_default());
    summary.invalid = record.invalid.clone();
    summary
        .invalid
        .extend(judged_invalid(&summary.verdict, &summary.run, rules));
    // Thresholds and the baseline need a verdict; with none, nothing could be evaluated.
    let mut cases = Vec::new();
    let mut warnings = Vec::new();
    if measured_any {
        keep_scoped(&mut summary, record, rules);
        summary.thresholds = threshold::evaluate(
            &rules.thresholds,
            &summary.verdict,
            summary.run.update_duration_ms,
        );
        cases = summary.thresholds.clone();
        if let Some(b) = &record.baseline {
            let tolerances = baseline::parse_tolerances(&b.max_regression)
                .map_err(|e| format!("the baseline's --max-regression {e}"))?;
            summary.baseline = baseline::compare(&b.summary, &summary, &tolerances);
            if let Some(w) = baseline::mismatch(&b.summary, &summary) {
                summary.run.notes.push(w.clone());
                warnings.push(w);
            }
            cases.extend(baseline::outcomes(&tolerances, &summary.baseline, &b.name));
        }
        summary.budgets = budget::evaluate(
            &record.budgets,
            &summary.verdict,
            summary.run.update_duration_ms,
        );
    }
    let junit = junit::run_suite(suite, &cases, &summary.budgets, &summary.invalid);
    Ok(Judgement {
        summary,
        junit,
        warnings,
    })
}

/// Keeps the value of every scoped measure the run is judged by in its verdict
/// (`scoped`), so that a summary read back, a baseline and the history have them.
fn keep_scoped(summary: &mut Summary, record: &Record, rules: &Rules) {
    let tolerances = record
        .baseline
        .as_ref()
        .and_then(|b| baseline::parse_tolerances(&b.max_regression).ok())
        .unwrap_or_default();
    let measures = rules
        .thresholds
        .iter()
        .map(|t| t.measure)
        .chain(record.budgets.iter().map(|b| b.budget.measure))
        .chain(tolerances.iter().map(|t| t.measure))
        .filter(|m| !m.scope.is_whole());
    for m in measures {
        let v =
            crate::analysis::scoped::measured(&m, &summary.verdict, summary.run.update_duration_ms);
        if let Some(v) = v {
            summary.verdict.scoped.insert(m.to_string(), v);
        }
    }
}

/// The invalid reasons the judge gives from the verdict and the run's own measurements.
fn judged_invalid(verdict: &Verdict, run: &RunInfo, rules: &Rules) -> Vec<String> {
    let mut invalid = Vec::new();
    // A long window where even the sink's own /health failed: the app's availability
    // there is unknown, not good.
    if let Some(control) = &verdict.control {
        invalid.extend(control.invalid_reason(rules.control_max_ms));
    }
    // A run the harness could not measure properly is never reported as a pass.
    if let Some(lag) = &run.probe_send_lag_ms {
        if lag.p99 > rules.max_send_lag_ms {
            invalid.push(format!(
                "the probe client lagged behind its schedule: send lag p99 {} ms over the {} ms budget (probes.max_send_lag)",
                number(lag.p99),
                number(rules.max_send_lag_ms)
            ));
        }
    }
    invalid
}

/// The record of a run directory that predates `record.json`, from its `summary.json`.
pub fn record_of_summary(summary: &Summary, rules: &Rules) -> Record {
    Record::from_summary(
        summary,
        &judged_invalid(&summary.verdict, &summary.run, rules),
    )
}

/// Writes a judgement: `summary.json` and `junit.xml`.
pub fn write(run: &RunDir, judgement: &Judgement) -> Result<(), String> {
    run.write_summary(&judgement.summary)
        .map_err(|e| e.to_string())?;
    std::fs::write(run.file(JUNIT_FILE), &judgement.junit)
        .map_err(|e| format!("writing {JUNIT_FILE}: {e}"))
}

#[cfg(test)]
mod tests;
