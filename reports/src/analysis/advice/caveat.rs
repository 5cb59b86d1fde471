//! The caveats of an advice: what a reader must keep in mind (scaled time, failed or too
//! few runs, mixed scenarios, ties the data could not break, the runs' own notes).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::data::{runs_of, StrategyData};
use super::runs::RunData;

/// Below this many valid runs of a strategy in a case, the advice warns of too few
/// repetitions.
pub const FEW_RUNS: usize = 5;
/// The power the run-count estimate is made for.
pub const POWER: f64 = 0.8;

/// The start of the note every scaled run carries (`summary.run.notes`); the advice says it
/// once, as its own caveat, rather than passing the note through.
const TIME_SCALE_NOTE: &str = "durations scaled by";

/// The number of runs of each that would separate a pair, if its difference were real.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunsNeeded {
    /// About this many runs of each (80% power at `alpha`).
    Runs {
        /// Runs of each strategy.
        runs: u64,
    },
    /// The runs did not vary (pooled sd 0): no count can be estimated.
    NoVariance,
}

/// What a reader of the advice must keep in mind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caveat {
    /// Runs ran at a time scale below 1.
    TimeScale {
        time_scale: f64,
        strategies: Vec<String>,
    },
    /// Failed runs were excluded (they are listed in `failed_runs`).
    FailedRuns { count: usize },
    /// Fewer than [`FEW_RUNS`] valid runs of a strategy in a case.
    TooFewRuns {
        strategy: String,
        case: String,
        runs: usize,
    },
    /// Two strategies tied on a deciding term although their means differ.
    Power {
        term: usize,
        metric: String,
        case: String,
        a: String,
        b: String,
        mean_a: f64,
        mean_b: f64,
        runs_a: usize,
        runs_b: usize,
        pooled_sd: f64,
        runs_needed: RunsNeeded,
        /// The exact test's smallest possible p with these counts, when it is not below
        /// alpha: no difference could have separated them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        smallest_p: Option<f64>,
        /// The fewest runs of each with which the exact test can reach p below alpha.
        fewest_runs: usize,
    },
    /// Valid runs without a value of an ordering term's metric, left out of that term.
    Unmeasured {
        strategy: String,
        case: String,
        metric: String,
        runs: Vec<String>,
    },
    /// A strategy's runs in one case come from several scenarios, whose settings differ.
    MixedScenarios {
        strategy: String,
        case: String,
        scenarios: Vec<String>,
    },
    /// The beats on a term formed a cycle.
    Cycle {
        term: usize,
        metric: String,
        strategies: Vec<String>,
    },
    /// A note of the runs' summaries (`summary.run.notes`), passed through.
    Note { text: String },
}

/// The caveats about the data, in order: scaled time, failed runs, too few runs and mixed
/// scenarios per strategy and case, then the runs' notes.
pub(super) fn of_data(
    selected: &[&RunData],
    valid: &[&RunData],
    names: &[String],
    cases: &[String],
    strategies: &BTreeMap<String, StrategyData>,
    failed_runs: usize,
) -> Vec<Caveat> {
    let mut caveats = time_scales(valid);
    if failed_runs > 0 {
        caveats.push(Caveat::FailedRuns { count: failed_runs });
    }
    for s in names {
        for c in cases {
            caveats.extend(of_sample(s, c, valid, strategies));
        }
    }
    let mut notes: Vec<&String> = Vec::new();
    for r in selected {
        for n in &r.notes {
            if !n.starts_with(TIME_SCALE_NOTE) && !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    caveats.extend(notes.into_iter().map(|n| Caveat::Note { text: n.clone() }));
    caveats
}

/// One caveat per time scale below 1, naming the strategies that ran at it.
fn time_scales(valid: &[&RunData]) -> Vec<Caveat> {
    let mut scales: Vec<(f64, Vec<String>)> = Vec::new();
    for r in valid {
        if let (Some(x), Some(s)) = (r.time_scale.filter(|x| *x < 1.0), &r.strategy) {
            match scales.iter_mut().find(|(y, _)| *y == x) {
                Some((_, list)) if !list.contains(s) => list.push(s.clone()),
                Some(_) => {}
                None => scales.push((x, vec![s.clone()])),
            }
        }
    }
    let mut caveats = Vec::new();
    for (time_scale, mut list) in scales {
        list.sort();
        caveats.push(Caveat::TimeScale {
            time_scale,
            strategies: list,
        });
    }
    caveats
}

/// The caveats about one strategy's sample in one case: too few runs, mixed scenarios.
fn of_sample(
    s: &str,
    c: &str,
    valid: &[&RunData],
    strategies: &BTreeMap<String, StrategyData>,
) -> Vec<Caveat> {
    let mut caveats = Vec::new();
    let n = strategies[s].cases[c].runs.len();
    if (1..FEW_RUNS).contains(&n) {
        caveats.push(Caveat::TooFewRuns {
            strategy: s.to_owned(),
            case: c.to_owned(),
            runs: n,
        });
    }
    let mut scenarios: Vec<String> = runs_of(valid, s, c)
        .iter()
        .map(|r| r.scenario.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if scenarios.len() > 1 {
        scenarios.sort();
        caveats.push(Caveat::MixedScenarios {
            strategy: s.to_owned(),
            case: c.to_owned(),
            scenarios,
        });
    }
    caveats
}
