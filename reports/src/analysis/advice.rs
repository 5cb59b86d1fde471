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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::analysis::compare::stats;
use crate::analysis::stats::{
    mann_whitney_u, pooled_sd, runs_for_power, smallest_exact_p, MannWhitney, EXACT_MAX,
};
use crate::analysis::threshold::{Op, Threshold};
use crate::io::rundir::{RunDir, RunDirError, SUMMARY_FILE};
use crate::model::metric::Metric;
use crate::model::summary::Summary;

/// The schema `advice.json` is written in.
pub const ADVICE_SCHEMA: &str = "update-harness/advice/1";
/// The case of a run whose summary names none.
pub const DEFAULT_CASE: &str = "healthy";
/// The significance level when `--alpha` is not given.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Below this many valid runs of a strategy in a case, the advice warns of too few
/// repetitions.
pub const FEW_RUNS: usize = 5;
/// The power the run-count estimate is made for.
pub const POWER: f64 = 0.8;
/// The named priorities: (name, the list it stands for).
pub const PRESETS: [(&str, &str); 3] = [
    (
        "zero-loss",
        "lost==0,duplicated,lateness.p99_ms,downtime.total_ms,update.duration_ms",
    ),
    (
        "zero-downtime",
        "downtime.total_ms==0,downtime.max_ms,lost,update.duration_ms",
    ),
    ("fast-update", "update.duration_ms,lost,downtime.total_ms"),
];

/// The start of the note every scaled run carries (`summary.run.notes`); the advice says it
/// once, as its own caveat, rather than passing the note through.
const TIME_SCALE_NOTE: &str = "durations scaled by";

/// `Metric` as its name in JSON (`"downtime.max_ms"`).
mod metric_name {
    use super::Metric;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Metric, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Metric, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Smaller values are better (every metric but `expected`, `delivered`, `ok`).
    Smaller,
    /// Larger values are better.
    Larger,
}

impl Better {
    /// The direction of `metric` ([`Metric::larger_is_better`]).
    pub fn of(metric: Metric) -> Better {
        if metric.larger_is_better() {
            Better::Larger
        } else {
            Better::Smaller
        }
    }
}

/// A limit term's operator and bound: the run's value must satisfy `value OP bound`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// The comparison: `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub op: Op,
    /// The number on its right, in the metric's unit.
    pub bound: f64,
}

/// One term of the priority list, as parsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// Its place in the list, from 1.
    pub position: usize,
    /// The term as it reads: `lost == 0`, `duplicated`.
    pub text: String,
    /// The metric it limits or orders by.
    #[serde(with = "metric_name")]
    pub metric: Metric,
    /// Which way is better when the term orders (and the metric's direction for a limit).
    pub better: Better,
    /// For a limit, the bound every run must meet; `None` for a term that orders.
    pub limit: Option<Limit>,
}

impl Term {
    /// The limit as a threshold, for a limit term.
    pub fn threshold(&self) -> Option<Threshold> {
        self.limit.map(|l| Threshold {
            metric: self.metric,
            op: l.op,
            limit: l.bound,
        })
    }
}

/// The parsed `--priority`: a preset's name or an explicit list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Priorities {
    /// As given on the command line.
    pub text: String,
    /// The preset it names, if it is one.
    pub preset: Option<String>,
    /// The terms, in order (a preset's expanded).
    pub terms: Vec<Term>,
}

/// Why a priority did not parse: which term, where, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("term {position} ({term:?}) of the priority {text:?}: {what}")]
pub struct PriorityError {
    /// The whole `--priority` as given.
    pub text: String,
    /// The bad term's place in the list, from 1.
    pub position: usize,
    /// The bad term, trimmed.
    pub term: String,
    /// What is wrong with it.
    pub what: String,
}

impl FromStr for Priorities {
    type Err = PriorityError;

    /// A preset by name, or `TERM,TERM,...`; each term `METRIC` or `METRIC OP NUMBER`. A
    /// metric may order only once; an empty list or term is an error.
    fn from_str(text: &str) -> Result<Priorities, PriorityError> {
        let trimmed = text.trim();
        let preset = PRESETS.iter().find(|(name, _)| *name == trimmed);
        let list = preset.map_or(trimmed, |(_, list)| *list);
        let err = |position: usize, term: &str, what: String| PriorityError {
            text: text.to_owned(),
            position,
            term: term.to_owned(),
            what,
        };
        let mut terms: Vec<Term> = Vec::new();
        for (i, raw) in list.split(',').enumerate() {
            let position = i + 1;
            let term = raw.trim();
            if term.is_empty() {
                return Err(err(position, term, "empty term".into()));
            }
            if PRESETS.iter().any(|(name, _)| *name == term) {
                return Err(err(
                    position,
                    term,
                    "a preset stands alone, not inside a list".into(),
                ));
            }
            let parsed = if term.contains(['=', '!', '<', '>']) {
                let t: Threshold =
                    term.parse()
                        .map_err(|e: crate::analysis::threshold::ThresholdError| {
                            err(position, term, format!("{} at byte {}", e.what, e.at))
                        })?;
                Term {
                    position,
                    text: t.to_string(),
                    metric: t.metric,
                    better: Better::of(t.metric),
                    limit: Some(Limit {
                        op: t.op,
                        bound: t.limit,
                    }),
                }
            } else {
                let metric: Metric = term.parse().map_err(|e| {
                    err(
                        position,
                        term,
                        format!("{e} (a term is METRIC or METRIC OP NUMBER)"),
                    )
                })?;
                if terms
                    .iter()
                    .any(|t| t.limit.is_none() && t.metric == metric)
                {
                    return Err(err(
                        position,
                        term,
                        format!("{metric} already orders an earlier term"),
                    ));
                }
                Term {
                    position,
                    text: metric.name().to_owned(),
                    metric,
                    better: Better::of(metric),
                    limit: None,
                }
            };
            terms.push(parsed);
        }
        Ok(Priorities {
            text: text.to_owned(),
            preset: preset.map(|(name, _)| (*name).to_owned()),
            terms,
        })
    }
}

impl fmt::Display for Priorities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<&str> = self.terms.iter().map(|t| t.text.as_str()).collect();
        f.write_str(&terms.join(", "))
    }
}

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

    fn is_valid(&self) -> bool {
        self.invalid.is_empty() && self.strategy.is_some()
    }
}

/// Why the advice could not be given.
#[derive(Debug, thiserror::Error)]
pub enum AdviceError {
    /// A directory of the comparison could not be listed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `summary.json` that cannot be read (malformed, or of another schema); names it.
    #[error(transparent)]
    Summary(#[from] RunDirError),
    /// The directory given is one run's, not a comparison's.
    #[error("{} is a run directory; advice reads a comparison directory (NAME/run-K/summary.json), as `harness compare` writes", path.display())]
    RunDirectory { path: PathBuf },
    /// `--case` names a case no run measured.
    #[error("case {case:?} is not in the comparison (its cases: {})", present.join(", "))]
    UnknownCase { case: String, present: Vec<String> },
    /// A significance level outside (0, 1).
    #[error("--alpha must be above 0 and below 1 (got {0})")]
    Alpha(f64),
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
    fn of(values: Vec<f64>, unmeasured: Vec<String>) -> MetricSummary {
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
    let mut present: Vec<String> = runs
        .iter()
        .filter_map(|r| r.case.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    present.sort_by(|a, b| case_order(a, b));
    let cases: Vec<String> = if options.cases.is_empty() {
        present.clone()
    } else {
        let mut cases: Vec<String> = Vec::new();
        for c in &options.cases {
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
        cases
    };
    let selected: Vec<&RunData> = runs
        .iter()
        .filter(|r| r.case.as_ref().is_none_or(|c| cases.contains(c)))
        .collect();
    let failed_runs: Vec<FailedRun> = selected
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
        .collect();
    let valid: Vec<&RunData> = selected.iter().copied().filter(|r| r.is_valid()).collect();
    let names: Vec<String> = selected
        .iter()
        .filter_map(|r| r.strategy.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut metrics: Vec<Metric> = Vec::new();
    for t in &options.priorities.terms {
        if !metrics.contains(&t.metric) {
            metrics.push(t.metric);
        }
    }

    // The data, per strategy, case and metric.
    let mut strategies: BTreeMap<String, StrategyData> = BTreeMap::new();
    for s in &names {
        let mut scenarios: Vec<String> = Vec::new();
        for r in selected.iter().filter(|r| r.strategy.as_ref() == Some(s)) {
            if !scenarios.contains(&r.scenario) {
                scenarios.push(r.scenario.clone());
            }
        }
        let mut per_case = BTreeMap::new();
        for c in &cases {
            let these = runs_of(&valid, s, c);
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

    // Measured in every case, and every limit.
    let mut disqualified: BTreeMap<String, Vec<Disqualification>> = BTreeMap::new();
    for s in &names {
        for c in &cases {
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
    for term in &options.priorities.terms {
        let Some(threshold) = term.threshold() else {
            continue;
        };
        for s in &names {
            let mut failures = Vec::new();
            for c in &cases {
                for r in runs_of(&valid, s, c) {
                    let value = r.values.get(&threshold.metric).copied();
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

    // The ranking, term by term.
    let mut remaining: Vec<String> = names
        .iter()
        .filter(|s| !disqualified.contains_key(*s))
        .cloned()
        .collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut runners_up = Vec::new();
    let mut caveats = Vec::new();
    let order_terms: Vec<&Term> = options
        .priorities
        .terms
        .iter()
        .filter(|t| t.limit.is_none())
        .collect();
    for term in &order_terms {
        if remaining.len() <= 1 {
            break;
        }
        let metric = term.metric;
        let mut pairs = Vec::new();
        for (i, a) in remaining.iter().enumerate() {
            for b in &remaining[i + 1..] {
                let tests: Vec<CaseTest> = cases
                    .iter()
                    .map(|c| {
                        test_case(
                            c,
                            summary_of(&strategies, a, c, metric),
                            summary_of(&strategies, b, c, metric),
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
        // Who beats whom, with the tests oriented winner first.
        let beats = |winner: &str, loser: &str| -> Option<Vec<CaseTest>> {
            pairs.iter().find_map(|p| {
                if p.a == winner && p.b == loser && p.verdict == PairVerdict::ABeatsB {
                    Some(p.cases.clone())
                } else if p.b == winner && p.a == loser && p.verdict == PairVerdict::BBeatsA {
                    Some(p.cases.iter().map(CaseTest::swapped).collect())
                } else {
                    None
                }
            })
        };
        let mut top: Vec<String> = remaining
            .iter()
            .filter(|x| !remaining.iter().any(|y| beats(y, x).is_some()))
            .cloned()
            .collect();
        let cycle = top.is_empty();
        if cycle {
            top = remaining.clone();
            caveats.push(Caveat::Cycle {
                term: term.position,
                metric: metric.name().to_owned(),
                strategies: remaining.clone(),
            });
        }
        let beaten: Vec<String> = remaining
            .iter()
            .filter(|x| !top.contains(x))
            .cloned()
            .collect();
        for loser in &beaten {
            let beaten_by = remaining
                .iter()
                .filter_map(|w| {
                    beats(w, loser).map(|cases| Beat {
                        by: w.clone(),
                        cases,
                    })
                })
                .collect();
            runners_up.push(RunnerUp {
                strategy: loser.clone(),
                term: term.position,
                metric,
                beaten_by,
            });
        }
        // Ties among those that go on: what would separate them.
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
                if let Some(c) = power_caveat(term, p, t, &strategies, alpha) {
                    caveats.push(c);
                }
            }
        }
        for s in &remaining {
            for c in &cases {
                if let Some(m) =
                    summary_of(&strategies, s, c, metric).filter(|m| !m.unmeasured.is_empty())
                {
                    caveats.push(Caveat::Unmeasured {
                        strategy: s.clone(),
                        case: c.clone(),
                        metric: metric.name().to_owned(),
                        runs: m.unmeasured.clone(),
                    });
                }
            }
        }
        steps.push(Step {
            term: term.position,
            metric,
            better: term.better,
            candidates: remaining.clone(),
            top_tier: top.clone(),
            beaten,
            pairs,
            cycle,
        });
        remaining = top;
    }

    // The recommendation.
    let (recommendation, significant, tie_break) = match remaining.len() {
        0 => (None, false, None),
        1 => (Some(remaining[0].clone()), true, None),
        _ => {
            let tb = tie_break(&remaining, &order_terms, &cases, &strategies);
            (Some(tb.picked.clone()), false, Some(tb))
        }
    };
    let mut tiers = Vec::new();
    if !remaining.is_empty() {
        tiers.push(Tier {
            rank: 1,
            strategies: remaining.clone(),
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

    // Caveats about the data.
    let mut scales: Vec<(f64, Vec<String>)> = Vec::new();
    for r in &valid {
        if let (Some(x), Some(s)) = (r.time_scale.filter(|x| *x < 1.0), &r.strategy) {
            match scales.iter_mut().find(|(y, _)| *y == x) {
                Some((_, list)) if !list.contains(s) => list.push(s.clone()),
                Some(_) => {}
                None => scales.push((x, vec![s.clone()])),
            }
        }
    }
    let mut data_caveats: Vec<Caveat> = Vec::new();
    for (time_scale, mut list) in scales {
        list.sort();
        data_caveats.push(Caveat::TimeScale {
            time_scale,
            strategies: list,
        });
    }
    if !failed_runs.is_empty() {
        data_caveats.push(Caveat::FailedRuns {
            count: failed_runs.len(),
        });
    }
    for s in &names {
        for c in &cases {
            let n = strategies[s].cases[c].runs.len();
            if (1..FEW_RUNS).contains(&n) {
                data_caveats.push(Caveat::TooFewRuns {
                    strategy: s.clone(),
                    case: c.clone(),
                    runs: n,
                });
            }
            let mut scenarios: Vec<String> = runs_of(&valid, s, c)
                .iter()
                .map(|r| r.scenario.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if scenarios.len() > 1 {
                scenarios.sort();
                data_caveats.push(Caveat::MixedScenarios {
                    strategy: s.clone(),
                    case: c.clone(),
                    scenarios,
                });
            }
        }
    }
    let mut notes: Vec<&String> = Vec::new();
    for r in &selected {
        for n in &r.notes {
            if !n.starts_with(TIME_SCALE_NOTE) && !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    data_caveats.extend(notes.into_iter().map(|n| Caveat::Note { text: n.clone() }));
    data_caveats.extend(caveats);

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
        disqualified: names
            .iter()
            .filter_map(|s| {
                disqualified.remove(s).map(|reasons| Disqualified {
                    strategy: s.clone(),
                    reasons,
                })
            })
            .collect(),
        steps,
        tiers,
        recommendation,
        significant,
        tie_break,
        runners_up,
        caveats: data_caveats,
    })
}

/// The valid runs of `strategy` in `case`.
fn runs_of<'a>(valid: &[&'a RunData], strategy: &str, case: &str) -> Vec<&'a RunData> {
    valid
        .iter()
        .copied()
        .filter(|r| r.strategy.as_deref() == Some(strategy) && r.case.as_deref() == Some(case))
        .collect()
}

/// One strategy's figures of `metric` in `case`.
fn summary_of<'a>(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of `strategy` in `case`, run `i` with the `i`-th value of each metric.
    fn runs(
        strategy: &str,
        case: &str,
        values: &[(&str, &[f64])],
        time_scale: Option<f64>,
    ) -> Vec<RunData> {
        let n = values[0].1.len();
        (0..n)
            .map(|i| RunData {
                run: format!("{strategy}-{case}/run-{}", i + 1),
                scenario: format!("{strategy}-{case}"),
                strategy: Some(strategy.to_owned()),
                case: Some(case.to_owned()),
                time_scale,
                notes: Vec::new(),
                invalid: Vec::new(),
                values: values
                    .iter()
                    .map(|(m, v)| (m.parse().unwrap(), v[i]))
                    .collect(),
            })
            .collect()
    }

    fn options(priority: &str) -> AdviceOptions {
        AdviceOptions {
            priorities: priority.parse().unwrap(),
            cases: Vec::new(),
            alpha: DEFAULT_ALPHA,
        }
    }

    #[test]
    fn priorities_parse_presets_lists_and_say_which_term_is_bad() {
        let p: Priorities = "zero-loss".parse().unwrap();
        assert_eq!(p.preset.as_deref(), Some("zero-loss"));
        let texts: Vec<&str> = p.terms.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "lost == 0",
                "duplicated",
                "lateness.p99_ms",
                "downtime.total_ms",
                "update.duration_ms"
            ]
        );
        assert!(p.terms[0].limit.is_some() && p.terms[1].limit.is_none());
        for (name, _) in PRESETS {
            assert!(name.parse::<Priorities>().is_ok(), "{name}");
        }
        let p: Priorities = " ok , lost <= 2 ,lost".parse().unwrap();
        assert_eq!(p.terms[0].better, Better::Larger, "ok: larger is better");
        assert_eq!(
            p.terms[1].limit,
            Some(Limit {
                op: Op::Le,
                bound: 2.0
            })
        );
        assert_eq!(p.terms[2].position, 3);
        for (text, position, what) in [
            ("lost,lots", 2, "unknown metric"),
            ("lost,,duplicated", 2, "empty term"),
            ("lost == zero", 1, "is not a number"),
            ("duplicated,lost =< 1", 2, "expected an operator"),
            ("lost,lost", 2, "already orders"),
            ("lost,zero-loss", 2, "preset"),
            ("", 1, "empty term"),
        ] {
            let e = text.parse::<Priorities>().unwrap_err();
            assert_eq!(e.position, position, "{text}: {e}");
            assert!(e.what.contains(what), "{text}: {e}");
            assert!(e.to_string().contains(&format!("term {position}")), "{e}");
        }
    }

    #[test]
    fn orders_by_the_first_term_that_separates() {
        // lost separates nobody (all 0); duplicated puts swap out; lateness puts rolling out.
        let mut data = Vec::new();
        data.extend(runs(
            "drain",
            "healthy",
            &[
                ("lost", &[0.0; 5]),
                ("duplicated", &[0.0; 5]),
                ("lateness.p99_ms", &[3.0, 3.5, 4.0, 3.2, 3.8]),
            ],
            None,
        ));
        data.extend(runs(
            "rolling",
            "healthy",
            &[
                ("lost", &[0.0; 5]),
                ("duplicated", &[0.0; 5]),
                ("lateness.p99_ms", &[60.0, 61.0, 65.0, 62.0, 64.0]),
            ],
            None,
        ));
        data.extend(runs(
            "swap",
            "healthy",
            &[
                ("lost", &[0.0; 5]),
                ("duplicated", &[2.0, 3.0, 2.0, 2.0, 4.0]),
                ("lateness.p99_ms", &[1.0; 5]),
            ],
            None,
        ));
        let a = advise(&data, &options("lost,duplicated,lateness.p99_ms")).unwrap();
        assert_eq!(a.recommendation.as_deref(), Some("drain"));
        assert!(a.significant);
        assert_eq!(a.steps.len(), 3);
        assert!(a.steps[0].beaten.is_empty(), "lost: all 0, p = 1");
        assert!(a.steps[0]
            .pairs
            .iter()
            .all(|p| p.cases[0].test.is_some_and(|t| t.p_value == 1.0)));
        assert_eq!(a.steps[1].beaten, ["swap"]);
        assert_eq!(a.steps[2].beaten, ["rolling"]);
        let tiers: Vec<(&[String], Option<usize>)> = a
            .tiers
            .iter()
            .map(|t| (t.strategies.as_slice(), t.lost_at_term))
            .collect();
        assert_eq!(
            tiers,
            [
                (&["drain".to_owned()][..], None),
                (&["rolling".to_owned()][..], Some(3)),
                (&["swap".to_owned()][..], Some(2)),
            ]
        );
        let rolling = a
            .runners_up
            .iter()
            .find(|r| r.strategy == "rolling")
            .unwrap();
        assert_eq!(rolling.metric, Metric::LatenessP99Ms);
        assert_eq!(rolling.beaten_by[0].by, "drain");
        let t = rolling.beaten_by[0].cases[0].test.unwrap();
        assert_eq!(rolling.beaten_by[0].cases[0].outcome, CaseOutcome::ABetter);
        assert!(t.p_value < 0.05 && t.shift < 0.0, "{t:?}");
        // Swap is the best on lateness, but duplicated comes first.
        let swap = a.runners_up.iter().find(|r| r.strategy == "swap").unwrap();
        assert_eq!(swap.term, 2);
        // The other order picks swap: the priorities decide.
        let a = advise(&data, &options("lateness.p99_ms,duplicated")).unwrap();
        assert_eq!(a.recommendation.as_deref(), Some("swap"));
        // Larger is better for ok.
        let mut data = runs(
            "a",
            "healthy",
            &[("ok", &[10.0, 11.0, 12.0, 13.0, 14.0])],
            None,
        );
        data.extend(runs(
            "b",
            "healthy",
            &[("ok", &[1.0, 2.0, 3.0, 4.0, 5.0])],
            None,
        ));
        let a = advise(&data, &options("ok")).unwrap();
        assert_eq!(a.recommendation.as_deref(), Some("a"));
    }

    #[test]
    fn overlapping_runs_are_a_tie_with_a_power_estimate() {
        let mut data = runs(
            "drain",
            "healthy",
            &[("downtime.total_ms", &[10.0, 20.0, 30.0])],
            Some(0.05),
        );
        data.extend(runs(
            "rolling",
            "healthy",
            &[("downtime.total_ms", &[15.0, 25.0, 35.0])],
            Some(0.05),
        ));
        let a = advise(&data, &options("downtime.total_ms")).unwrap();
        assert_eq!(a.steps[0].top_tier, ["drain", "rolling"]);
        assert_eq!(a.steps[0].pairs[0].verdict, PairVerdict::NotSeparated);
        assert!(!a.significant, "picked by the tie-break, not by the test");
        // drain has the better mean (20 against 25).
        assert_eq!(a.recommendation.as_deref(), Some("drain"));
        let tb = a.tie_break.as_ref().unwrap();
        assert_eq!((tb.term, tb.means["drain"]), (Some(1), 20.0));
        let power = a
            .caveats
            .iter()
            .find_map(|c| match c {
                Caveat::Power {
                    runs_needed,
                    pooled_sd,
                    smallest_p,
                    fewest_runs,
                    ..
                } => Some((*runs_needed, *pooled_sd, *smallest_p, *fewest_runs)),
                _ => None,
            })
            .expect("a power caveat");
        // s = 10, d = 5: 2 * (1.95996 + 0.84162)^2 * 100 / 25 = 62.79 -> 63.
        assert_eq!(power.0, RunsNeeded::Runs { runs: 63 });
        assert_eq!(power.1, 10.0);
        // 3 and 3 runs cannot reach p < 0.05 at all (smallest p 0.1); 4 each can.
        assert!((power.2.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(power.3, 4);
        assert!(a
            .caveats
            .iter()
            .any(|c| matches!(c, Caveat::TooFewRuns { runs: 3, .. })));
        assert!(a
            .caveats
            .iter()
            .any(|c| matches!(c, Caveat::TimeScale { time_scale, .. } if *time_scale == 0.05)));
        // Constant values that differ: no variance to size a sample with.
        let mut data = runs("a", "healthy", &[("lost", &[1.0, 1.0])], None);
        data.extend(runs("b", "healthy", &[("lost", &[2.0, 2.0])], None));
        let a = advise(&data, &options("lost")).unwrap();
        assert!(a.caveats.iter().any(|c| matches!(
            c,
            Caveat::Power {
                runs_needed: RunsNeeded::NoVariance,
                ..
            }
        )));
    }

    #[test]
    fn better_in_one_case_and_worse_in_another_is_a_tie() {
        let low = [1.0, 2.0, 3.0, 4.0, 5.0];
        let high = [11.0, 12.0, 13.0, 14.0, 15.0];
        let mut data = Vec::new();
        data.extend(runs("swap", "healthy", &[("lost", &low)], None));
        data.extend(runs("swap", "never-ready", &[("lost", &high)], None));
        data.extend(runs("recreate", "healthy", &[("lost", &high)], None));
        data.extend(runs("recreate", "never-ready", &[("lost", &low)], None));
        let a = advise(&data, &options("lost")).unwrap();
        assert_eq!(a.cases, ["healthy", "never-ready"], "healthy first");
        let pair = &a.steps[0].pairs[0];
        assert_eq!(pair.verdict, PairVerdict::Conflicting);
        assert_eq!(a.steps[0].top_tier.len(), 2);
        assert!(!a.significant);
        // Equal means on the only term: the first by name.
        assert_eq!(a.recommendation.as_deref(), Some("recreate"));
        assert_eq!(a.tie_break.as_ref().unwrap().term, None);
        // Weighing one case only separates them.
        let mut o = options("lost");
        o.cases = vec!["never-ready".into()];
        let a = advise(&data, &o).unwrap();
        assert_eq!(
            (a.recommendation.as_deref(), a.significant),
            (Some("recreate"), true)
        );
        o.cases = vec!["fails-30pct".into()];
        assert!(matches!(
            advise(&data, &o),
            Err(AdviceError::UnknownCase { .. })
        ));
    }

    #[test]
    fn limits_no_strategy_meets_give_no_recommendation() {
        let mut data = runs(
            "swap",
            "healthy",
            &[("lost", &[2.0, 2.0, 1.0, 2.0, 3.0])],
            None,
        );
        data.extend(runs("recreate", "healthy", &[("lost", &[5.0; 5])], None));
        let a = advise(&data, &options("lost==0,update.duration_ms")).unwrap();
        assert_eq!((a.recommendation, a.significant), (None, false));
        assert_eq!(a.disqualified.len(), 2);
        assert!(a.tiers.is_empty() && a.steps.is_empty());
        assert!(a.limits.iter().all(|l| !l.met));
    }

    #[test]
    fn a_failed_limit_disqualifies_and_names_the_run() {
        let mut data = runs(
            "swap",
            "healthy",
            &[("lost", &[0.0; 5]), ("update.duration_ms", &[100.0; 5])],
            None,
        );
        data.extend(runs(
            "swap",
            "fails-30pct",
            &[
                ("lost", &[0.0, 0.0, 4.0, 0.0, 0.0]),
                ("update.duration_ms", &[100.0; 5]),
            ],
            None,
        ));
        for case in ["healthy", "fails-30pct"] {
            data.extend(runs(
                "drain",
                case,
                &[("lost", &[0.0; 5]), ("update.duration_ms", &[900.0; 5])],
                None,
            ));
        }
        // A strategy with no valid run in a case is not measured there.
        data.extend(runs(
            "rolling",
            "healthy",
            &[("lost", &[0.0; 5]), ("update.duration_ms", &[50.0; 5])],
            None,
        ));
        let mut failed = runs("rolling", "fails-30pct", &[("lost", &[0.0])], None);
        failed[0].invalid = vec!["an instance never became ready".into()];
        data.extend(failed);
        let a = advise(&data, &options("lost==0,update.duration_ms")).unwrap();
        assert_eq!(a.recommendation.as_deref(), Some("drain"));
        assert!(a.significant, "the only one left");
        let swap = a
            .disqualified
            .iter()
            .find(|d| d.strategy == "swap")
            .unwrap();
        assert_eq!(
            swap.reasons,
            [Disqualification::LimitFailed {
                term: 1,
                limit: "lost == 0".into(),
                case: "fails-30pct".into(),
                run: "swap-fails-30pct/run-3".into(),
                value: Some(4.0),
            }]
        );
        let rolling = a
            .disqualified
            .iter()
            .find(|d| d.strategy == "rolling")
            .unwrap();
        assert_eq!(
            rolling.reasons,
            [Disqualification::NotMeasured {
                case: "fails-30pct".into(),
                failed_runs: 1
            }]
        );
        assert_eq!(a.failed_runs.len(), 1);
        assert!(a
            .caveats
            .iter()
            .any(|c| matches!(c, Caveat::FailedRuns { count: 1 })));
        // An unmeasured value fails a limit.
        let mut data = runs("a", "healthy", &[("lost", &[0.0; 5])], None);
        data[0].values.clear();
        let a = advise(&data, &options("lost==0")).unwrap();
        assert_eq!(a.recommendation, None);
        assert_eq!(a.limits[0].failures[0].value, None);
    }

    #[test]
    fn notes_pass_through_once_without_the_time_scale_note() {
        let mut data = runs("a", "healthy", &[("lost", &[0.0; 2])], Some(0.1));
        for r in &mut data {
            r.notes = vec![
                "durations scaled by 0.1; process start-up time is real and did not scale".into(),
                "app.cold_start is a default".into(),
            ];
        }
        let a = advise(&data, &options("lost")).unwrap();
        let notes: Vec<&Caveat> = a
            .caveats
            .iter()
            .filter(|c| matches!(c, Caveat::Note { .. }))
            .collect();
        assert_eq!(
            notes,
            [&Caveat::Note {
                text: "app.cold_start is a default".into()
            }]
        );
        assert!(matches!(
            advise(
                &data,
                &AdviceOptions {
                    alpha: 1.0,
                    ..options("lost")
                }
            ),
            Err(AdviceError::Alpha(_))
        ));
    }
}
