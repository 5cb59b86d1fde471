//! The runs of a comparison as the advice reads them: one [`RunData`] per run directory,
//! loaded from `DIR/NAME/run-K/summary.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::AdviceError;
use crate::io::rundir::{RunDir, SUMMARY_FILE};
use crate::model::metric::Metric;
use crate::model::summary::Summary;

/// The case of a run whose summary names none.
pub const DEFAULT_CASE: &str = "healthy";

/// One run of a comparison, as the advice reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunData {
    /// The run directory relative to the comparison directory: `seed-swap/run-2`.
    pub run: String,
    /// The scenario's name (`summary.run.name`, else the directory's name).
    pub scenario: String,
    /// `summary.run.strategy`; `None` when there is no summary to say.
    pub strategy: Option<String>,
    /// `summary.run.case`, [`DEFAULT_CASE`] when the summary names none; `None` when there
    /// is no summary to say.
    pub case: Option<String>,
    pub time_scale: Option<f64>,
    /// `summary.run.notes`.
    pub notes: Vec<String>,
    /// Why the run failed (`summary.invalid`, or a missing summary); empty for a valid run.
    pub invalid: Vec<String>,
    /// Every metric the run measured, by [`Metric::value`]; lateness with nothing delivered
    /// counts as 0, as in a comparison.
    pub values: BTreeMap<Metric, f64>,
}

impl RunData {
    /// The run `run` (its label) described by its summary.
    pub fn from_summary(run: &str, dir_name: &str, summary: &Summary) -> RunData {
        let values = Metric::ALL
            .into_iter()
            .filter_map(|m| {
                let v = m.value(&summary.verdict, summary.run.update_duration_ms);
                let v = match m {
                    Metric::LatenessP50Ms
                    | Metric::LatenessP90Ms
                    | Metric::LatenessP99Ms
                    | Metric::LatenessMaxMs => Some(v.unwrap_or(0.0)),
                    _ => v,
                };
                v.filter(|v| v.is_finite()).map(|v| (m, v))
            })
            .collect();
        RunData {
            run: run.to_owned(),
            scenario: summary
                .run
                .name
                .clone()
                .unwrap_or_else(|| dir_name.to_owned()),
            strategy: summary.run.strategy.clone(),
            case: Some(
                summary
                    .run
                    .case
                    .clone()
                    .unwrap_or_else(|| DEFAULT_CASE.to_owned()),
            ),
            time_scale: summary.run.time_scale,
            notes: summary.run.notes.clone(),
            invalid: summary.invalid.clone(),
            values,
        }
    }

    /// Valid: it measured (nothing made it invalid) and names its strategy.
    pub fn is_valid(&self) -> bool {
        self.invalid.is_empty() && self.strategy.is_some()
    }
}

/// Reads every run of a comparison directory, `DIR/NAME/run-K/summary.json`, in name and
/// repetition order. A run directory without `summary.json` is a failed run, attributed to
/// the strategy and case of its scenario's other runs; a malformed `summary.json` is an
/// error naming it.
pub fn load_comparison(dir: &Path) -> Result<Vec<RunData>, AdviceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| AdviceError::Io { path, source }
    };
    if dir.join(SUMMARY_FILE).is_file() {
        return Err(AdviceError::RunDirectory {
            path: dir.to_owned(),
        });
    }
    let mut scenarios: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry.file_type().map_err(io(&entry.path()))?.is_dir() {
            scenarios.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    scenarios.sort();
    let mut runs = Vec::new();
    for (name, path) in scenarios {
        let mut reps: Vec<(u32, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&path).map_err(io(&path))? {
            let entry = entry.map_err(io(&path))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(k) = file.strip_prefix("run-").and_then(|k| k.parse().ok()) {
                if entry.path().is_dir() {
                    reps.push((k, entry.path()));
                }
            }
        }
        reps.sort();
        let mut these: Vec<RunData> = Vec::new();
        for (k, rep) in reps {
            let label = format!("{name}/run-{k}");
            match RunDir::new(&rep).read_summary()? {
                Some(summary) => these.push(RunData::from_summary(&label, &name, &summary)),
                None => these.push(RunData {
                    run: label,
                    scenario: name.clone(),
                    invalid: vec!["no summary.json: the run did not finish".into()],
                    ..RunData::default()
                }),
            }
        }
        // A run without a summary belongs to the scenario's strategy and case, when its
        // other runs say what they are.
        let known = these
            .iter()
            .find(|r| r.strategy.is_some())
            .map(|r| (r.strategy.clone(), r.case.clone(), r.scenario.clone()));
        if let Some((strategy, case, scenario)) = known {
            for r in these.iter_mut().filter(|r| r.strategy.is_none()) {
                r.strategy.clone_from(&strategy);
                r.case.clone_from(&case);
                r.scenario.clone_from(&scenario);
            }
        }
        runs.extend(these);
    }
    Ok(runs)
}
