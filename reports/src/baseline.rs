//! Baselines: a saved run's numbers to compare a new run against, criterion-style.
//!
//! `--save-baseline NAME` keeps a run's `summary.json` and `ledger.csv` in
//! `runs/baselines/NAME/`; `--baseline NAME` (or a run directory) compares a new run with it,
//! metric by metric, and `--max-regression lost:0,downtime.max_ms:20%` says how much worse
//! each metric may get: an absolute amount, or a percentage of the baseline's value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::summary::Summary;
use crate::threshold;

/// Metrics for which a larger value is better; for every other metric, larger is worse.
const LARGER_IS_BETTER: [&str; 3] = ["expected", "delivered", "ok"];

/// How much worse one metric may get.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    pub metric: String,
    pub amount: f64,
    pub percent: bool,
}

/// Parses `lost:0,downtime.max_ms:20%`.
pub fn parse_tolerances(text: &str) -> Result<Vec<Tolerance>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|part| {
            let (metric, amount) = part
                .split_once(':')
                .ok_or_else(|| format!("{part:?}: expected METRIC:AMOUNT or METRIC:PERCENT%"))?;
            let metric = metric.trim();
            if !threshold::METRICS.iter().any(|(m, _)| *m == metric) {
                return Err(format!("{part:?}: unknown metric {metric:?}"));
            }
            let amount = amount.trim();
            let (number, percent) = match amount.strip_suffix('%') {
                Some(n) => (n, true),
                None => (amount, false),
            };
            let amount: f64 = number
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{part:?}: {amount:?} is not a non-negative number"))?;
            Ok(Tolerance {
                metric: metric.to_owned(),
                amount,
                percent,
            })
        })
        .collect()
}

/// One metric against the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// `current - baseline`.
    pub delta: f64,
    /// Worse by more than its tolerance (only metrics given a tolerance can regress).
    pub regression: bool,
}

/// Compares every metric both summaries measured.
pub fn compare(baseline: &Summary, current: &Summary, tolerances: &[Tolerance]) -> Vec<Change> {
    threshold::METRICS
        .iter()
        .filter_map(|(metric, _)| {
            let b = threshold::value(metric, &baseline.verdict, baseline.run.update_duration_ms)?;
            let c = threshold::value(metric, &current.verdict, current.run.update_duration_ms)?;
            let worse_by = if LARGER_IS_BETTER.contains(metric) {
                b - c
            } else {
                c - b
            };
            let regression = tolerances.iter().any(|t| {
                t.metric == *metric && {
                    let allowed = if t.percent {
                        b.abs() * t.amount / 100.0
                    } else {
                        t.amount
                    };
                    worse_by > allowed
                }
            });
            Some(Change {
                metric: (*metric).to_owned(),
                baseline: b,
                current: c,
                delta: c - b,
                regression,
            })
        })
        .collect()
}

/// Each tolerance as a pass/fail outcome (for `junit.xml`, beside the thresholds):
/// `downtime.max_ms regresses at most 20% against main`, with the current value.
pub fn outcomes(
    tolerances: &[Tolerance],
    changes: &[Change],
    baseline: &str,
) -> Vec<threshold::Outcome> {
    tolerances
        .iter()
        .filter_map(|t| {
            let c = changes.iter().find(|c| c.metric == t.metric)?;
            let unit = if t.percent { "%" } else { "" };
            Some(threshold::Outcome {
                threshold: format!(
                    "{} regresses at most {}{unit} against {baseline}",
                    t.metric,
                    crate::terminal::number(t.amount)
                ),
                metric: t.metric.clone(),
                value: Some(c.current),
                ok: !c.regression,
            })
        })
        .collect()
}

/// A warning when the baseline was measured on another scenario or strategy, whose numbers
/// a comparison would read as changes.
pub fn mismatch(baseline: &Summary, current: &Summary) -> Option<String> {
    let name = |s: &Summary| {
        s.run.name.clone().or_else(|| {
            s.run.scenario.as_deref().map(|p| {
                Path::new(p)
                    .file_stem()
                    .map_or(p.to_owned(), |s| s.to_string_lossy().into_owned())
            })
        })
    };
    let (bn, cn) = (name(baseline), name(current));
    let (bs, cs) = (&baseline.run.strategy, &current.run.strategy);
    (bn != cn || bs != cs).then(|| {
        format!(
            "the baseline is of scenario {} (strategy {}), this run of {} (strategy {}): its changes compare different things",
            bn.as_deref().unwrap_or("?"),
            bs.as_deref().unwrap_or("?"),
            cn.as_deref().unwrap_or("?"),
            cs.as_deref().unwrap_or("?"),
        )
    })
}

/// Where a named baseline is kept: a directory with the run's summary and ledger.
pub fn named_dir(name: &str) -> PathBuf {
    PathBuf::from("runs").join("baselines").join(name)
}

/// Saves a run directory's summary and ledger as the baseline `name`.
pub fn save(run: &Path, name: &str) -> std::io::Result<PathBuf> {
    let dir = named_dir(name);
    std::fs::create_dir_all(&dir)?;
    for file in [crate::rundir::SUMMARY_FILE, crate::rundir::LEDGER_FILE] {
        let from = run.join(file);
        if from.exists() {
            std::fs::copy(from, dir.join(file))?;
        }
    }
    Ok(dir)
}

/// Whether `arg` names a saved baseline (one plain path component, like `main`) rather
/// than a path to a run directory.
pub fn is_name(arg: &str) -> bool {
    !arg.is_empty() && arg != "." && arg != ".." && !arg.contains(std::path::is_separator)
}

/// Resolves `--baseline`: a plain name is a saved baseline (`runs/baselines/NAME`), unless a
/// directory of that name exists here; anything with a separator is a run directory's path.
pub fn resolve(arg: &str) -> PathBuf {
    let p = Path::new(arg);
    if is_name(arg) && !p.is_dir() {
        named_dir(arg)
    } else {
        p.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::RunInfo;
    use crate::verdict::Verdict;

    fn summary(lost: u64, downtime_max_ms: f64) -> Summary {
        let mut v = Verdict {
            expected: 80,
            delivered: 80 - lost,
            lost,
            ..Verdict::default()
        };
        v.downtime.max_ms = downtime_max_ms;
        Summary::new(RunInfo::default(), v)
    }

    #[test]
    fn a_plain_name_is_a_saved_baseline_and_a_path_is_a_run_directory() {
        assert_eq!(resolve("main"), named_dir("main"));
        assert_eq!(
            resolve("runs/baselines/main"),
            PathBuf::from("runs/baselines/main")
        );
        assert_eq!(resolve("./r1"), PathBuf::from("./r1"));
        assert!(!is_name("..") && !is_name("a/b") && !is_name(""));
    }

    #[test]
    fn tolerances_parse_and_refuse_nonsense() {
        let t = parse_tolerances("lost:0,downtime.max_ms:20%").unwrap();
        assert_eq!(
            t[1],
            Tolerance {
                metric: "downtime.max_ms".into(),
                amount: 20.0,
                percent: true
            }
        );
        assert!(parse_tolerances("lots:1")
            .unwrap_err()
            .contains("unknown metric"));
        assert!(parse_tolerances("lost")
            .unwrap_err()
            .contains("expected METRIC:AMOUNT"));
        assert!(parse_tolerances("lost:-1")
            .unwrap_err()
            .contains("non-negative"));
    }

    #[test]
    fn regressions_beyond_tolerance_only() {
        let tol = parse_tolerances("lost:0,downtime.max_ms:20%").unwrap();
        let base = summary(0, 100.0);
        let changes = compare(&base, &summary(0, 115.0), &tol);
        assert!(
            changes.iter().all(|c| !c.regression),
            "15% more downtime is within 20%"
        );
        let changes = compare(&base, &summary(2, 130.0), &tol);
        let regressed: Vec<&str> = changes
            .iter()
            .filter(|c| c.regression)
            .map(|c| c.metric.as_str())
            .collect();
        assert_eq!(regressed, vec!["lost", "downtime.max_ms"]);
        let delivered = changes.iter().find(|c| c.metric == "delivered").unwrap();
        assert_eq!(
            (delivered.delta, delivered.regression),
            (-2.0, false),
            "no tolerance, no regression"
        );
    }
}
