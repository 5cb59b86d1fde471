//! The measurements an advice weighs: per strategy, per case, per metric of the priorities,
//! the figures of its valid runs, and the failed runs left out of every figure.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::runs::RunData;
use crate::analysis::compare::stats;
use crate::model::metric::Metric;

/// One metric of one strategy in one case, over its valid runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// The runs with a value.
    pub n: usize,
    /// The mean of the values; `None` when there is none (so are the other statistics).
    pub mean: Option<f64>,
    /// Sample standard deviation (divisor n - 1; 0 for one run).
    pub sd: Option<f64>,
    /// The 95% confidence interval of the mean (Student's t, [`crate::compare::stats`]).
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
    /// The smallest and largest value.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Each run's value, in run order.
    pub values: Vec<f64>,
    /// Valid runs that did not measure it (an update without phases, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmeasured: Vec<String>,
}

impl MetricSummary {
    pub(super) fn of(values: Vec<f64>, unmeasured: Vec<String>) -> MetricSummary {
        let s = stats(&values);
        MetricSummary {
            n: values.len(),
            mean: s.map(|s| s.mean),
            sd: s.map(|s| s.sd),
            ci95_low: s.map(|s| s.ci_low),
            ci95_high: s.map(|s| s.ci_high),
            min: s.map(|s| s.min),
            max: s.map(|s| s.max),
            values,
            unmeasured,
        }
    }
}

/// One strategy in one case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseData {
    /// Its valid runs.
    pub runs: Vec<String>,
    /// Its failed runs (excluded).
    pub failed: Vec<String>,
    /// Every metric of the priorities, by name.
    pub metrics: BTreeMap<String, MetricSummary>,
}

/// One strategy's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrategyData {
    /// The scenarios its runs come from (in the selected cases).
    pub scenarios: Vec<String>,
    /// Per selected case.
    pub cases: BTreeMap<String, CaseData>,
}

/// A failed run, excluded from every figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedRun {
    /// The run directory relative to the comparison directory.
    pub run: String,
    pub scenario: String,
    /// Its strategy and case, when known (from its summary or its scenario's other runs).
    pub strategy: Option<String>,
    pub case: Option<String>,
    /// Its `summary.invalid` reasons, joined, or why it has no usable summary.
    pub why: String,
}

/// The failed runs among `selected`, each with why it failed.
pub(super) fn failed_runs(selected: &[&RunData]) -> Vec<FailedRun> {
    selected
        .iter()
        .filter(|r| !r.is_valid())
        .map(|r| FailedRun {
            run: r.run.clone(),
            scenario: r.scenario.clone(),
            strategy: r.strategy.clone(),
            case: r.case.clone(),
            why: if r.invalid.is_empty() {
                "its summary names no strategy".into()
            } else {
                r.invalid.join("; ")
            },
        })
        .collect()
}

/// The data, per strategy, case and metric.
pub(super) fn gather(
    names: &[String],
    cases: &[String],
    metrics: &[Metric],
    selected: &[&RunData],
    valid: &[&RunData],
    failed_runs: &[FailedRun],
) -> BTreeMap<String, StrategyData> {
    let mut strategies: BTreeMap<String, StrategyData> = BTreeMap::new();
    for s in names {
        let mut scenarios: Vec<String> = Vec::new();
        for r in selected.iter().filter(|r| r.strategy.as_ref() == Some(s)) {
            if !scenarios.contains(&r.scenario) {
                scenarios.push(r.scenario.clone());
            }
        }
        let mut per_case = BTreeMap::new();
        for c in cases {
            let these = runs_of(valid, s, c);
            let failed = failed_runs
                .iter()
                .filter(|f| f.strategy.as_ref() == Some(s) && f.case.as_ref() == Some(c))
                .map(|f| f.run.clone())
                .collect();
            let metric_data = metrics
                .iter()
                .map(|m| {
                    let values = these.iter().filter_map(|r| r.values.get(m).copied());
                    let unmeasured = these
                        .iter()
                        .filter(|r| !r.values.contains_key(m))
                        .map(|r| r.run.clone())
                        .collect();
                    (
                        m.name().to_owned(),
                        MetricSummary::of(values.collect(), unmeasured),
                    )
                })
                .collect();
            per_case.insert(
                c.clone(),
                CaseData {
                    runs: these.iter().map(|r| r.run.clone()).collect(),
                    failed,
                    metrics: metric_data,
                },
            );
        }
        strategies.insert(
            s.clone(),
            StrategyData {
                scenarios,
                cases: per_case,
            },
        );
    }
    strategies
}

/// The names of the strategies of `selected`, in name order.
pub(super) fn strategy_names(selected: &[&RunData]) -> Vec<String> {
    selected
        .iter()
        .filter_map(|r| r.strategy.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The valid runs of `strategy` in `case`.
pub(super) fn runs_of<'a>(valid: &[&'a RunData], strategy: &str, case: &str) -> Vec<&'a RunData> {
    valid
        .iter()
        .copied()
        .filter(|r| r.strategy.as_deref() == Some(strategy) && r.case.as_deref() == Some(case))
        .collect()
}

/// One strategy's figures of `metric` in `case`.
pub(super) fn summary_of<'a>(
    strategies: &'a BTreeMap<String, StrategyData>,
    strategy: &str,
    case: &str,
    metric: Metric,
) -> Option<&'a MetricSummary> {
    strategies
        .get(strategy)?
        .cases
        .get(case)?
        .metrics
        .get(metric.name())
}
