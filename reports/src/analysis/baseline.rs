//! Baselines: a saved run's numbers to compare a new run against, criterion-style.
//!
//! A new run is compared with a baseline's summary metric by metric, and
//! `--max-regression lost:0,downtime.max_ms:20%` says how much worse each metric may get:
//! an absolute amount, or a percentage of the baseline's value. Where baselines are kept
//! on disk is the run directory's business ([`crate::rundir::Baselines`]).

use std::path::Path;

use crate::model::metric::{number, Metric};
pub use crate::model::summary::Change;
use crate::model::summary::{Outcome, Summary};

/// How much worse one metric may get.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    pub metric: Metric,
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
            let metric: Metric = metric
                .trim()
                .parse()
                .map_err(|e| format!("{part:?}: {e}"))?;
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
                metric,
                amount,
                percent,
            })
        })
        .collect()
}

/// Compares every metric both summaries measured.
pub fn compare(baseline: &Summary, current: &Summary, tolerances: &[Tolerance]) -> Vec<Change> {
    Metric::ALL
        .into_iter()
        .filter_map(|metric| {
            let b = metric.value(&baseline.verdict, baseline.run.update_duration_ms)?;
            let c = metric.value(&current.verdict, current.run.update_duration_ms)?;
            let worse_by = if metric.larger_is_better() {
                b - c
            } else {
                c - b
            };
            let regression = tolerances.iter().any(|t| {
                t.metric == metric && {
                    let allowed = if t.percent {
                        b.abs() * t.amount / 100.0
                    } else {
                        t.amount
                    };
                    worse_by > allowed
                }
            });
            Some(Change {
                metric: metric.name().to_owned(),
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
pub fn outcomes(tolerances: &[Tolerance], changes: &[Change], baseline: &str) -> Vec<Outcome> {
    tolerances
        .iter()
        .filter_map(|t| {
            let c = changes.iter().find(|c| c.metric == t.metric.name())?;
            let unit = if t.percent { "%" } else { "" };
            Some(Outcome {
                threshold: format!(
                    "{} regresses at most {}{unit} against {baseline}",
                    t.metric,
                    number(t.amount)
                ),
                metric: t.metric.name().to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::summary::RunInfo;
    use crate::model::verdict::Verdict;

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
    fn tolerances_parse_and_refuse_nonsense() {
        let t = parse_tolerances("lost:0,downtime.max_ms:20%").unwrap();
        assert_eq!(
            t[1],
            Tolerance {
                metric: Metric::DowntimeMaxMs,
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
