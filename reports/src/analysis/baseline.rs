//! Baselines: a saved run's numbers to compare a new run against, criterion-style.
//!
//! A new run is compared with a baseline's summary metric by metric, and
//! `--max-regression lost:0,downtime.max_ms:20%` says how much worse each metric may get:
//! an absolute amount, or a percentage of the baseline's value. Where baselines are kept
//! on disk is the run directory's business ([`crate::rundir::Baselines`]).

use std::path::Path;

use crate::model::measure::Measure;
use crate::model::metric::{number, Metric};
pub use crate::model::summary::Change;
use crate::model::summary::{Outcome, Summary};

/// How much worse one measure may get.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    /// A metric of the whole run or a scope of it (`lost{phase=update}`).
    pub measure: Measure,
    pub amount: f64,
    pub percent: bool,
}

/// `text` cut at each `sep` that is not inside a scope's braces.
fn split_outside_braces(text: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&text[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[from..]);
    parts
}

/// Parses `lost:0,downtime.max_ms:20%,lost{phase=update}:0`.
pub fn parse_tolerances(text: &str) -> Result<Vec<Tolerance>, String> {
    split_outside_braces(text, ',')
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .map(|part| {
            let (metric, amount) = part
                .rsplit_once(':')
                .ok_or_else(|| format!("{part:?}: expected METRIC:AMOUNT or METRIC:PERCENT%"))?;
            let measure: Measure =
                metric
                    .trim()
                    .parse()
                    .map_err(|e: crate::model::measure::MeasureError| {
                        format!("{part:?}: {}", e.what)
                    })?;
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
                measure,
                amount,
                percent,
            })
        })
        .collect()
}

/// Compares every metric both summaries measured, and every scoped measure both were
/// judged by.
pub fn compare(baseline: &Summary, current: &Summary, tolerances: &[Tolerance]) -> Vec<Change> {
    let scoped = current
        .verdict
        .scoped
        .keys()
        .filter(|k| baseline.verdict.scoped.contains_key(*k))
        .filter_map(|k| k.parse::<Measure>().ok());
    let measures: Vec<Measure> = Metric::ALL
        .into_iter()
        .map(Measure::from)
        .chain(scoped)
        .collect();
    measures
        .into_iter()
        .filter_map(|measure| {
            let value = |s: &Summary| {
                crate::analysis::scoped::measured(&measure, &s.verdict, s.run.update_duration_ms)
            };
            let b = value(baseline)?;
            let c = value(current)?;
            let worse_by = if measure.metric.larger_is_better() {
                b - c
            } else {
                c - b
            };
            let regression = tolerances.iter().any(|t| {
                t.measure == measure && {
                    let allowed = if t.percent {
                        b.abs() * t.amount / 100.0
                    } else {
                        t.amount
                    };
                    worse_by > allowed
                }
            });
            Some(Change {
                metric: measure.to_string(),
                baseline: b,
                current: c,
                delta: c - b,
                regression,
            })
        })
        .collect()
}

/// Each tolerance as a pass/fail outcome (for `junit.xml`, beside the thresholds):
/// `downtime.max_ms regresses at most 20% against main`, with the current value. A
/// tolerance on a measure the two runs do not both have fails, unmeasured: a comparison
/// that could not be made is not a pass.
pub fn outcomes(tolerances: &[Tolerance], changes: &[Change], baseline: &str) -> Vec<Outcome> {
    tolerances
        .iter()
        .map(|t| {
            let name = t.measure.to_string();
            let c = changes.iter().find(|c| c.metric == name);
            let unit = if t.percent { "%" } else { "" };
            Outcome {
                threshold: format!(
                    "{name} regresses at most {}{unit} against {baseline}",
                    number(t.amount)
                ),
                metric: name.clone(),
                value: c.map(|c| c.current),
                ok: c.is_some_and(|c| !c.regression),
            }
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
                measure: Metric::DowntimeMaxMs.into(),
                amount: 20.0,
                percent: true
            }
        );
        let scoped = parse_tolerances("downtime.total_ms{from=update,for=30s}:10%,lost:1").unwrap();
        assert_eq!(
            (
                scoped[0].measure.to_string(),
                scoped[0].amount,
                scoped[1].amount
            ),
            (
                "downtime.total_ms{from=update,for=30s}".to_owned(),
                10.0,
                1.0
            )
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

    #[test]
    fn scoped_measures_compare_when_both_runs_have_them() {
        let tol = parse_tolerances("lost{phase=update}:1").unwrap();
        let mut base = summary(0, 0.0);
        let mut current = summary(3, 0.0);
        // Neither was judged by it: the tolerance fails, unmeasured, never passes.
        let out = outcomes(&tol, &compare(&base, &current, &tol), "main");
        assert_eq!((out[0].value, out[0].ok), (None, false));
        base.verdict.scoped.insert("lost{phase=update}".into(), 1.0);
        current
            .verdict
            .scoped
            .insert("lost{phase=update}".into(), 3.0);
        let changes = compare(&base, &current, &tol);
        let c = changes
            .iter()
            .find(|c| c.metric == "lost{phase=update}")
            .unwrap();
        assert_eq!((c.delta, c.regression), (2.0, true), "worse by 2 > 1");
        let out = outcomes(&tol, &changes, "main");
        assert_eq!((out[0].value, out[0].ok), (Some(3.0), false));
    }
}
