//! Advice: from a comparison's measurements to a decision. Given the runs of a comparison
//! directory, an ordered list of priorities and the cases to weigh, it says which strategy
//! to use, on what evidence, and what the evidence cannot say.
//!
//! A priority is a preset ([`PRESETS`]) or a comma-separated list of terms, each `METRIC`
//! (smaller is better, or larger for [`Metric::larger_is_better`]) or `METRIC OP NUMBER`, a
//! limit in the threshold grammar of [`crate::threshold`].
//!
//! The decision, in order:
//!
//! 1. Every strategy is judged on each selected case on its own; its valid runs in a case
//!    are its sample there. A strategy without a valid run in a selected case is
//!    disqualified ("not measured").
//! 2. A strategy meets a limit when every valid run of it in every selected case meets it,
//!    as a k6 threshold holds on each run (a run without a value fails it); one failing run
//!    disqualifies it.
//! 3. The others are ranked lexicographically over the remaining terms, in order. On one
//!    term, X beats Y when in at least one case X's runs are better than Y's by a two-sided
//!    Mann-Whitney U test ([`crate::stats`]) with p below `alpha`, and in no case worse. The
//!    top tier is the set of strategies no other remaining strategy beats; only it goes on
//!    to the next term, and the strategies beaten there are runners-up that lost on it.
//! 4. One strategy left: it is the recommendation, decided by the data. Several left after
//!    the last term: the data do not separate them; the one with the best mean on the first
//!    term where their means differ (the mean over the cases of each case's mean), else the
//!    first by name, is recommended, flagged as not significant.
//!
//! This module is analysis: it returns plain data ([`Advice`]), which
//! [`crate::advice_report`] renders as `advice.md` and `advice.json`.
//!
//! The steps, one module each: `priorities` parses what matters, `runs` loads the comparison,
//! `data` gathers the figures, `limits` disqualifies, `ranking` orders the rest and
//! `caveat` says what the evidence cannot.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::metric::Metric;

mod caveat;
mod data;
mod error;
mod limits;
mod priorities;
mod ranking;
mod runs;
#[cfg(test)]
mod tests;

pub use caveat::{Caveat, RunsNeeded, FEW_RUNS, POWER};
pub use data::{CaseData, FailedRun, MetricSummary, StrategyData};
pub use error::AdviceError;
pub use limits::{Disqualification, Disqualified, LimitFailure, LimitOutcome};
pub use priorities::{Better, Limit, Priorities, PriorityError, Term, PRESETS};
pub use ranking::{Beat, CaseOutcome, CaseTest, Pair, PairVerdict, RunnerUp, Step, TieBreak, Tier};
pub use runs::{load_comparison, RunData, DEFAULT_CASE};

/// The schema `advice.json` is written in.
pub const ADVICE_SCHEMA: &str = "update-harness/advice/1";
/// The significance level when `--alpha` is not given.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// What to advise on.
#[derive(Clone, Debug, PartialEq)]
pub struct AdviceOptions {
    /// What matters, in order.
    pub priorities: Priorities,
    /// The cases to weigh (`--case`); empty for every case present.
    pub cases: Vec<String>,
    /// The significance level of every test, in (0, 1).
    pub alpha: f64,
}

/// The whole advice, as `advice.json` holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// [`ADVICE_SCHEMA`].
    pub schema: String,
    /// The significance level of every test.
    pub alpha: f64,
    /// `--priority` as given, and its preset.
    pub priority: String,
    pub preset: Option<String>,
    /// The terms as parsed.
    pub priorities: Vec<Term>,
    /// The cases weighed, in order (`healthy` first, then by name, unless `--case` says).
    pub cases: Vec<String>,
    /// Valid runs in the selected cases.
    pub valid_runs: usize,
    /// Every failed run of the selected cases, excluded from every figure.
    pub failed_runs: Vec<FailedRun>,
    /// Per strategy, per case, per metric of the priorities.
    pub strategies: BTreeMap<String, StrategyData>,
    /// Each limit against each strategy.
    pub limits: Vec<LimitOutcome>,
    /// The strategies out of the ranking, and why.
    pub disqualified: Vec<Disqualified>,
    /// Each ordering term applied, in order, until one strategy was left.
    pub steps: Vec<Step>,
    /// The ranking of the qualified strategies.
    pub tiers: Vec<Tier>,
    /// The strategy to use; `None` when every strategy is disqualified.
    pub recommendation: Option<String>,
    /// True when the limits and the tests left the recommendation alone; false when it was
    /// picked by the tie-break among strategies the data do not separate (or there is none).
    pub significant: bool,
    /// How the recommendation was picked when the data left a tie.
    pub tie_break: Option<TieBreak>,
    /// The qualified strategies that lost on a term, and to whom.
    pub runners_up: Vec<RunnerUp>,
    /// What the advice must be read with.
    pub caveats: Vec<Caveat>,
}

/// `healthy` first, then by name.
fn case_order(a: &str, b: &str) -> std::cmp::Ordering {
    (a != DEFAULT_CASE, a).cmp(&(b != DEFAULT_CASE, b))
}

/// The decision (see the module's documentation) over `runs`.
pub fn advise(runs: &[RunData], options: &AdviceOptions) -> Result<Advice, AdviceError> {
    let alpha = options.alpha;
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(AdviceError::Alpha(alpha));
    }
    let cases = select_cases(runs, &options.cases)?;
    let selected: Vec<&RunData> = runs
        .iter()
        .filter(|r| r.case.as_ref().is_none_or(|c| cases.contains(c)))
        .collect();
    let failed_runs = data::failed_runs(&selected);
    let valid: Vec<&RunData> = selected.iter().copied().filter(|r| r.is_valid()).collect();
    let names = data::strategy_names(&selected);
    let mut metrics: Vec<Metric> = Vec::new();
    for t in &options.priorities.terms {
        if !metrics.contains(&t.metric) {
            metrics.push(t.metric);
        }
    }
    let strategies = data::gather(&names, &cases, &metrics, &selected, &valid, &failed_runs);
    let (limits, disqualified) =
        limits::judge(&options.priorities, &names, &cases, &valid, &strategies);
    let remaining: Vec<String> = names
        .iter()
        .filter(|s| !disqualified.iter().any(|d| d.strategy == **s))
        .cloned()
        .collect();
    let order_terms: Vec<&Term> = options
        .priorities
        .terms
        .iter()
        .filter(|t| t.limit.is_none())
        .collect();
    let ranking = ranking::rank(remaining, &order_terms, &cases, &strategies, alpha);
    let (recommendation, significant, tie_break) =
        ranking::recommend(&ranking.remaining, &order_terms, &cases, &strategies);
    let tiers = ranking::tiers(&ranking.remaining, &ranking.steps);
    let mut caveats = caveat::of_data(
        &selected,
        &valid,
        &names,
        &cases,
        &strategies,
        failed_runs.len(),
    );
    caveats.extend(ranking.caveats);
    Ok(Advice {
        schema: ADVICE_SCHEMA.to_owned(),
        alpha,
        priority: options.priorities.text.clone(),
        preset: options.priorities.preset.clone(),
        priorities: options.priorities.terms.clone(),
        cases,
        valid_runs: valid.len(),
        failed_runs,
        strategies,
        limits,
        disqualified,
        steps: ranking.steps,
        tiers,
        recommendation,
        significant,
        tie_break,
        runners_up: ranking.runners_up,
        caveats,
    })
}

/// The cases to weigh: `wanted` in its order without repeats, each one some run measured;
/// every case present when `wanted` is empty, `healthy` first, then by name.
fn select_cases(runs: &[RunData], wanted: &[String]) -> Result<Vec<String>, AdviceError> {
    let mut present: Vec<String> = runs
        .iter()
        .filter_map(|r| r.case.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    present.sort_by(|a, b| case_order(a, b));
    if wanted.is_empty() {
        return Ok(present);
    }
    let mut cases: Vec<String> = Vec::new();
    for c in wanted {
        if !present.contains(c) {
            return Err(AdviceError::UnknownCase {
                case: c.clone(),
                present: present.clone(),
            });
        }
        if !cases.contains(c) {
            cases.push(c.clone());
        }
    }
    Ok(cases)
}
