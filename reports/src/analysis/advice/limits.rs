//! The limits of an advice: each limit term held against each strategy's runs, and the
//! strategies out of the ranking (not measured in a case, or failing a limit), with why.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::data::{runs_of, StrategyData};
use super::priorities::Priorities;
use super::runs::RunData;

/// One run that failed a limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitFailure {
    /// The case and the run that failed it.
    pub case: String,
    pub run: String,
    /// Its value; `None` when it did not measure the metric (which fails the limit).
    pub value: Option<f64>,
}

/// One limit against one strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitOutcome {
    /// The limit's position in the priorities.
    pub term: usize,
    /// The limit as it reads (`lost == 0`).
    pub limit: String,
    pub strategy: String,
    /// Every valid run of the strategy in every selected case met it.
    pub met: bool,
    /// Every run that failed it.
    pub failures: Vec<LimitFailure>,
}

/// Why a strategy is out of the ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Disqualification {
    /// No valid run of it in this case.
    NotMeasured { case: String, failed_runs: usize },
    /// A run of it failed a limit.
    LimitFailed {
        term: usize,
        limit: String,
        case: String,
        run: String,
        value: Option<f64>,
    },
}

/// A strategy out of the ranking, and every reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disqualified {
    pub strategy: String,
    /// Every case it was not measured in, and every run that failed a limit.
    pub reasons: Vec<Disqualification>,
}

/// Every strategy of `names` measured in every case, and every limit: what each limit
/// said of each strategy, and the strategies out of the ranking with every reason, in
/// `names` order.
pub(super) fn judge(
    priorities: &Priorities,
    names: &[String],
    cases: &[String],
    valid: &[&RunData],
    strategies: &BTreeMap<String, StrategyData>,
) -> (Vec<LimitOutcome>, Vec<Disqualified>) {
    let mut disqualified: BTreeMap<String, Vec<Disqualification>> = BTreeMap::new();
    for s in names {
        for c in cases {
            let data = &strategies[s].cases[c];
            if data.runs.is_empty() {
                disqualified
                    .entry(s.clone())
                    .or_default()
                    .push(Disqualification::NotMeasured {
                        case: c.clone(),
                        failed_runs: data.failed.len(),
                    });
            }
        }
    }
    let mut limits = Vec::new();
    for term in &priorities.terms {
        let Some(threshold) = term.threshold() else {
            continue;
        };
        for s in names {
            let mut failures = Vec::new();
            for c in cases {
                for r in runs_of(valid, s, c) {
                    let value = r.values.get(&threshold.measure.metric).copied();
                    if !value.is_some_and(|v| threshold.op.holds(v, threshold.limit)) {
                        failures.push(LimitFailure {
                            case: c.clone(),
                            run: r.run.clone(),
                            value,
                        });
                    }
                }
            }
            for f in &failures {
                disqualified
                    .entry(s.clone())
                    .or_default()
                    .push(Disqualification::LimitFailed {
                        term: term.position,
                        limit: term.text.clone(),
                        case: f.case.clone(),
                        run: f.run.clone(),
                        value: f.value,
                    });
            }
            limits.push(LimitOutcome {
                term: term.position,
                limit: term.text.clone(),
                strategy: s.clone(),
                met: failures.is_empty(),
                failures,
            });
        }
    }
    let disqualified = names
        .iter()
        .filter_map(|s| {
            disqualified.remove(s).map(|reasons| Disqualified {
                strategy: s.clone(),
                reasons,
            })
        })
        .collect();
    (limits, disqualified)
}
