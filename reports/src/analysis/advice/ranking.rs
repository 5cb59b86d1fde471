//! The ranking of an advice: the ordering terms applied in order, each a Mann-Whitney U
//! test of every pair still in the running in every case, the tiers it leaves, and the
//! tie-break that picks among strategies the data do not separate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::caveat::{Caveat, RunsNeeded};
use super::data::{summary_of, MetricSummary, StrategyData};
use super::priorities::{metric_name, Better, Term};
use crate::analysis::stats::{
    mann_whitney_u, pooled_sd, runs_for_power, smallest_exact_p, MannWhitney, EXACT_MAX,
};
use crate::model::metric::Metric;

/// What the test said in one case, of `a` against `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseOutcome {
    /// p below alpha, and `a`'s values tend the better way.
    ABetter,
    /// p below alpha, and `b`'s values tend the better way.
    BBetter,
    /// p at or above alpha.
    NotSeparated,
    /// One of them has no value of the metric in this case.
    NotMeasured,
}

/// One case's test of a pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseTest {
    pub case: String,
    pub outcome: CaseOutcome,
    /// Each one's mean in this case, for the reader.
    pub mean_a: Option<f64>,
    pub mean_b: Option<f64>,
    /// The test of `a`'s values (x) against `b`'s (y).
    pub test: Option<MannWhitney>,
}

impl CaseTest {
    /// The same test seen from the other side.
    fn swapped(&self) -> CaseTest {
        CaseTest {
            case: self.case.clone(),
            outcome: match self.outcome {
                CaseOutcome::ABetter => CaseOutcome::BBetter,
                CaseOutcome::BBetter => CaseOutcome::ABetter,
                o => o,
            },
            mean_a: self.mean_b,
            mean_b: self.mean_a,
            test: self.test.map(|t| MannWhitney {
                n_x: t.n_y,
                n_y: t.n_x,
                u_x: t.u_y,
                u_y: t.u_x,
                shift: -t.shift,
                median_difference: -t.median_difference,
                ..t
            }),
        }
    }
}

/// A pair's verdict on one term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairVerdict {
    /// `a` better in some case, worse in none.
    ABeatsB,
    /// `b` better in some case, worse in none.
    BBeatsA,
    /// Better in no case either way.
    NotSeparated,
    /// Each better in some case: tied.
    Conflicting,
}

/// Two candidates compared on one term, case by case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// The two strategies, in name order.
    pub a: String,
    pub b: String,
    pub verdict: PairVerdict,
    /// The test in each selected case, in case order.
    pub cases: Vec<CaseTest>,
}

/// One ordering term applied to the strategies still in the running.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The term's position in the priorities.
    pub term: usize,
    /// The term's metric and its direction.
    #[serde(with = "metric_name")]
    pub metric: Metric,
    pub better: Better,
    /// The strategies compared.
    pub candidates: Vec<String>,
    /// Those no other candidate beats: they go on.
    pub top_tier: Vec<String>,
    /// Those some candidate beats: runners-up that lost on this term.
    pub beaten: Vec<String>,
    /// Every pair of candidates, in name order.
    pub pairs: Vec<Pair>,
    /// Every candidate was beaten by another (the beats form a cycle), so all are kept.
    pub cycle: bool,
}

/// One strategy that beat a runner-up, and the tests, oriented `a` = `by`, `b` = the
/// runner-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Beat {
    /// The strategy that beat the runner-up.
    pub by: String,
    /// The test in each case, `a` = `by`.
    pub cases: Vec<CaseTest>,
}

/// A strategy that met the limits and lost on a term.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunnerUp {
    pub strategy: String,
    /// The term it lost on.
    pub term: usize,
    /// That term's metric.
    #[serde(with = "metric_name")]
    pub metric: Metric,
    /// Every strategy that beat it on that term.
    pub beaten_by: Vec<Beat>,
}

/// One tier of the ranking: strategies the data do not order among themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// 1 for the last strategies standing, then by the term they lost on, the latest first.
    pub rank: usize,
    pub strategies: Vec<String>,
    /// The term this tier lost on; `None` for the first tier.
    pub lost_at_term: Option<usize>,
}

/// How the recommendation was picked among strategies the data do not separate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TieBreak {
    /// The strategies left tied after the last term, in name order.
    pub among: Vec<String>,
    /// The first term where their means differ; `None` when they are equal on every term
    /// (the first by name is then picked).
    pub term: Option<usize>,
    /// That term's metric name.
    pub metric: Option<String>,
    /// Each tied strategy's mean on that term (the mean over the cases of each case's
    /// mean, over the cases where all of them have values).
    pub means: BTreeMap<String, f64>,
    /// The strategy picked: the best mean on that term (the first by name among equals).
    pub picked: String,
}

/// What the ordering terms left: the strategies still in the running, each step, the
/// runners-up and the caveats the tests raised.
pub(super) struct Ranking {
    pub(super) remaining: Vec<String>,
    pub(super) steps: Vec<Step>,
    pub(super) runners_up: Vec<RunnerUp>,
    pub(super) caveats: Vec<Caveat>,
}

/// The ranking, term by term, until one strategy of `remaining` is left.
pub(super) fn rank(
    mut remaining: Vec<String>,
    order_terms: &[&Term],
    cases: &[String],
    strategies: &BTreeMap<String, StrategyData>,
    alpha: f64,
) -> Ranking {
    let mut steps: Vec<Step> = Vec::new();
    let mut runners_up = Vec::new();
    let mut caveats = Vec::new();
    for term in order_terms {
        if remaining.len() <= 1 {
            break;
        }
        let pairs = compare_pairs(term, &remaining, cases, strategies, alpha);
        let mut top: Vec<String> = remaining
            .iter()
            .filter(|x| !remaining.iter().any(|y| beats(&pairs, y, x).is_some()))
            .cloned()
            .collect();
        let cycle = top.is_empty();
        if cycle {
            top = remaining.clone();
            caveats.push(Caveat::Cycle {
                term: term.position,
                metric: term.metric.name().to_owned(),
                strategies: remaining.clone(),
            });
        }
        let beaten: Vec<String> = remaining
            .iter()
            .filter(|x| !top.contains(x))
            .cloned()
            .collect();
        runners_up.extend(beaten.iter().map(|loser| RunnerUp {
            strategy: loser.clone(),
            term: term.position,
            metric: term.metric,
            beaten_by: beaten_by(&pairs, &remaining, loser),
        }));
        caveats.extend(tie_caveats(term, &pairs, &top, strategies, alpha));
        caveats.extend(unmeasured_caveats(term, &remaining, cases, strategies));
        steps.push(Step {
            term: term.position,
            metric: term.metric,
            better: term.better,
            candidates: remaining.clone(),
            top_tier: top.clone(),
            beaten,
            pairs,
            cycle,
        });
        remaining = top;
    }
    Ranking {
        remaining,
        steps,
        runners_up,
        caveats,
    }
}

/// Every pair of `remaining` tested on `term`, case by case.
fn compare_pairs(
    term: &Term,
    remaining: &[String],
    cases: &[String],
    strategies: &BTreeMap<String, StrategyData>,
    alpha: f64,
) -> Vec<Pair> {
    let metric = term.metric;
    let mut pairs = Vec::new();
    for (i, a) in remaining.iter().enumerate() {
        for b in &remaining[i + 1..] {
            let tests: Vec<CaseTest> = cases
                .iter()
                .map(|c| {
                    test_case(
                        c,
                        summary_of(strategies, a, c, metric),
                        summary_of(strategies, b, c, metric),
                        term.better,
                        alpha,
                    )
                })
                .collect();
            let a_better = tests.iter().any(|t| t.outcome == CaseOutcome::ABetter);
            let b_better = tests.iter().any(|t| t.outcome == CaseOutcome::BBetter);
            let verdict = match (a_better, b_better) {
                (true, false) => PairVerdict::ABeatsB,
                (false, true) => PairVerdict::BBeatsA,
                (true, true) => PairVerdict::Conflicting,
                (false, false) => PairVerdict::NotSeparated,
            };
            pairs.push(Pair {
                a: a.clone(),
                b: b.clone(),
                verdict,
                cases: tests,
            });
        }
    }
    pairs
}

/// Whether `winner` beats `loser` among `pairs`, with the tests oriented winner first.
fn beats(pairs: &[Pair], winner: &str, loser: &str) -> Option<Vec<CaseTest>> {
    pairs.iter().find_map(|p| {
        if p.a == winner && p.b == loser && p.verdict == PairVerdict::ABeatsB {
            Some(p.cases.clone())
        } else if p.b == winner && p.a == loser && p.verdict == PairVerdict::BBeatsA {
            Some(p.cases.iter().map(CaseTest::swapped).collect())
        } else {
            None
        }
    })
}

/// Who of `remaining` beat `loser`, and on which tests.
fn beaten_by(pairs: &[Pair], remaining: &[String], loser: &str) -> Vec<Beat> {
    remaining
        .iter()
        .filter_map(|w| {
            beats(pairs, w, loser).map(|cases| Beat {
                by: w.clone(),
                cases,
            })
        })
        .collect()
}

/// Ties among those that go on (`top`): what would separate them.
fn tie_caveats(
    term: &Term,
    pairs: &[Pair],
    top: &[String],
    strategies: &BTreeMap<String, StrategyData>,
    alpha: f64,
) -> Vec<Caveat> {
    let mut caveats = Vec::new();
    for p in pairs.iter().filter(|p| {
        top.contains(&p.a)
            && top.contains(&p.b)
            && matches!(
                p.verdict,
                PairVerdict::NotSeparated | PairVerdict::Conflicting
            )
    }) {
        for t in p
            .cases
            .iter()
            .filter(|t| t.outcome == CaseOutcome::NotSeparated)
        {
            if let Some(c) = power_caveat(term, p, t, strategies, alpha) {
                caveats.push(c);
            }
        }
    }
    caveats
}

/// The valid runs of `remaining` without a value of the term's metric, per case.
fn unmeasured_caveats(
    term: &Term,
    remaining: &[String],
    cases: &[String],
    strategies: &BTreeMap<String, StrategyData>,
) -> Vec<Caveat> {
    let mut caveats = Vec::new();
    for s in remaining {
        for c in cases {
            if let Some(m) =
                summary_of(strategies, s, c, term.metric).filter(|m| !m.unmeasured.is_empty())
            {
                caveats.push(Caveat::Unmeasured {
                    strategy: s.clone(),
                    case: c.clone(),
                    metric: term.metric.name().to_owned(),
                    runs: m.unmeasured.clone(),
                });
            }
        }
    }
    caveats
}

/// The recommendation among the strategies the terms left, whether the data decided it,
/// and the tie-break when they did not.
pub(super) fn recommend(
    remaining: &[String],
    order_terms: &[&Term],
    cases: &[String],
    strategies: &BTreeMap<String, StrategyData>,
) -> (Option<String>, bool, Option<TieBreak>) {
    match remaining.len() {
        0 => (None, false, None),
        1 => (Some(remaining[0].clone()), true, None),
        _ => {
            let tb = tie_break(remaining, order_terms, cases, strategies);
            (Some(tb.picked.clone()), false, Some(tb))
        }
    }
}

/// The tiers: those left first, then those beaten on each step, the last step first.
pub(super) fn tiers(remaining: &[String], steps: &[Step]) -> Vec<Tier> {
    let mut tiers = Vec::new();
    if !remaining.is_empty() {
        tiers.push(Tier {
            rank: 1,
            strategies: remaining.to_vec(),
            lost_at_term: None,
        });
    }
    for step in steps.iter().rev().filter(|s| !s.beaten.is_empty()) {
        tiers.push(Tier {
            rank: tiers.len() + 1,
            strategies: step.beaten.clone(),
            lost_at_term: Some(step.term),
        });
    }
    tiers
}

/// One case's test of `a` against `b`.
fn test_case(
    case: &str,
    a: Option<&MetricSummary>,
    b: Option<&MetricSummary>,
    better: Better,
    alpha: f64,
) -> CaseTest {
    let (mean_a, mean_b) = (a.and_then(|m| m.mean), b.and_then(|m| m.mean));
    let test = match (a, b) {
        (Some(a), Some(b)) => mann_whitney_u(&a.values, &b.values).ok(),
        _ => None,
    };
    let outcome = match &test {
        None => CaseOutcome::NotMeasured,
        Some(t) if t.p_value < alpha => {
            // direction() is -1 when a's values tend to be smaller.
            let a_smaller = t.direction() < 0;
            match (better, a_smaller) {
                (Better::Smaller, true) | (Better::Larger, false) => CaseOutcome::ABetter,
                _ => CaseOutcome::BBetter,
            }
        }
        Some(_) => CaseOutcome::NotSeparated,
    };
    CaseTest {
        case: case.to_owned(),
        outcome,
        mean_a,
        mean_b,
        test,
    }
}

/// The power caveat of a pair not separated in one case, when their means differ.
fn power_caveat(
    term: &Term,
    pair: &Pair,
    test: &CaseTest,
    strategies: &BTreeMap<String, StrategyData>,
    alpha: f64,
) -> Option<Caveat> {
    let a = summary_of(strategies, &pair.a, &test.case, term.metric)?;
    let b = summary_of(strategies, &pair.b, &test.case, term.metric)?;
    let (mean_a, mean_b) = (a.mean?, b.mean?);
    if mean_a == mean_b {
        return None;
    }
    let sd = pooled_sd(a.n, a.sd?, b.n, b.sd?);
    let runs_needed = match runs_for_power(alpha, sd, mean_a - mean_b) {
        Some(runs) => RunsNeeded::Runs { runs },
        None => RunsNeeded::NoVariance,
    };
    let smallest = smallest_exact_p(a.n, b.n);
    let fewest_runs = (1..=EXACT_MAX)
        .find(|n| smallest_exact_p(*n, *n) < alpha)
        .unwrap_or(EXACT_MAX + 1);
    Some(Caveat::Power {
        term: term.position,
        metric: term.metric.name().to_owned(),
        case: test.case.clone(),
        a: pair.a.clone(),
        b: pair.b.clone(),
        mean_a,
        mean_b,
        runs_a: a.n,
        runs_b: b.n,
        pooled_sd: sd,
        runs_needed,
        smallest_p: (smallest >= alpha).then_some(smallest),
        fewest_runs,
    })
}

/// The tie-break among `tied` (in name order): the first ordering term where their means
/// differ, each mean the mean over the cases (where every one of them has values) of each
/// case's mean; the best mean there is picked, the first by name among equals, or the first
/// by name when the means are equal on every term.
fn tie_break(
    tied: &[String],
    order_terms: &[&Term],
    cases: &[String],
    strategies: &BTreeMap<String, StrategyData>,
) -> TieBreak {
    for term in order_terms {
        let mean_of = |s: &str, c: &str| summary_of(strategies, s, c, term.metric)?.mean;
        let usable: Vec<&String> = cases
            .iter()
            .filter(|c| tied.iter().all(|s| mean_of(s, c).is_some()))
            .collect();
        if usable.is_empty() {
            continue;
        }
        let means: BTreeMap<String, f64> = tied
            .iter()
            .map(|s| {
                let sum: f64 = usable.iter().filter_map(|c| mean_of(s, c)).sum();
                (s.clone(), sum / usable.len() as f64)
            })
            .collect();
        let first = means.values().next().copied().unwrap_or(0.0);
        if means.values().all(|m| *m == first) {
            continue;
        }
        // min_by keeps the first of equals, and the map is in name order.
        let picked = means
            .iter()
            .min_by(|a, b| match term.better {
                Better::Smaller => a.1.total_cmp(b.1),
                Better::Larger => b.1.total_cmp(a.1),
            })
            .map_or_else(|| tied[0].clone(), |(s, _)| s.clone());
        return TieBreak {
            among: tied.to_vec(),
            term: Some(term.position),
            metric: Some(term.metric.name().to_owned()),
            means,
            picked,
        };
    }
    TieBreak {
        among: tied.to_vec(),
        term: None,
        metric: None,
        means: BTreeMap::new(),
        picked: tied[0].clone(),
    }
}
