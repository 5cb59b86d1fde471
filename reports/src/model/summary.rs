//! `summary.json`: the verdict with the run's identity, versioned by its `schema` field.

use serde::{Deserialize, Serialize};

use crate::model::verdict::Verdict;

/// The schema this build writes. Readers accept the same major version.
pub const SUMMARY_SCHEMA: &str = "update-harness/summary/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub run: RunInfo,
    pub verdict: Verdict,
    /// Each threshold of the scenario (and `--expect`) that could be evaluated, its measured
    /// value and outcome. Always written, empty when there is none.
    #[serde(default)]
    pub thresholds: Vec<Outcome>,
    /// Why the run cannot be trusted, if it cannot (empty for a valid run). Always written.
    #[serde(default)]
    pub invalid: Vec<String>,
    /// Each metric against the baseline the run was compared with (empty without one).
    /// Always written.
    #[serde(default)]
    pub baseline: Vec<Change>,
    /// Each budget the run was judged by: passed, failed, or not evaluated and why.
    /// Written when the run had budgets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<crate::model::budget::BudgetOutcome>,
}

/// What identifies a run: enough to say what was measured and to run it again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The scenario file, as given on the command line.
    #[serde(default)]
    pub scenario: Option<String>,
    /// The scenario's name (its `name`, or the file's stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The function the instances ran: `harness testfn (built in)`, or the app's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_command: Option<String>,
    /// The phase the run failed or was interrupted in (`setup`, `start`, `run`, `update`,
    /// `settle`, `check`); absent when it ran to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<String>,
    /// True when the run stopped before any expected occurrence could end, so there is no
    /// verdict: its counts are all zero and no threshold was evaluated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unmeasured: bool,
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    pub harness_version: String,
    #[serde(default)]
    pub time_scale: Option<f64>,
    #[serde(default)]
    pub started_ns: Option<i64>,
    #[serde(default)]
    pub ended_ns: Option<i64>,
    /// The probe client's own lag behind its schedule (`sent - intended`): how well the
    /// harness measured, not how the app behaved.
    #[serde(default)]
    pub probe_send_lag_ms: Option<crate::model::verdict::Quantiles>,
    /// Wall time of the whole run, start-up and settling included.
    #[serde(default)]
    pub wall_ms: Option<f64>,
    /// How long the update took, from the ledger ([`crate::ledger::update_duration_ms`]):
    /// kept here so thresholds, baselines and comparisons need not read the ledger again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_duration_ms: Option<f64>,
    /// On a command platform: how long the `update` command itself ran, in ms (the update
    /// lasts until `status` said complete, `update_duration_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_command_ms: Option<f64>,
    /// On a command platform with a `status` command: from the update's start to `status`
    /// first exiting 0, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_complete_ms: Option<f64>,
    /// The case the scenario measures (its `case` key: `healthy`, or the bad release it
    /// ships), so `harness advise` can weigh a strategy's healthy and bad-release runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// Where the app ran: `local`, or `command` (a real platform driven by commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Who fired the occurrences: `platform`, `harness`, `app` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Things a reader of the numbers must know (e.g. what did not scale with time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Summary {
    pub fn new(run: RunInfo, verdict: Verdict) -> Summary {
        Summary {
            schema: SUMMARY_SCHEMA.to_owned(),
            run,
            verdict,
            thresholds: Vec::new(),
            invalid: Vec::new(),
            baseline: Vec::new(),
            budgets: Vec::new(),
        }
    }

    /// Is `schema` one this build can read (same name, same major version)?
    pub fn schema_supported(schema: &str) -> bool {
        schema == SUMMARY_SCHEMA
    }
}

/// A threshold's measured value and outcome, as `summary.json` and JUnit report them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub threshold: String,
    /// The metric's name ([`crate::metric::Metric::name`]).
    pub metric: String,
    /// `None` when the run did not measure it (e.g. lateness with nothing delivered).
    pub value: Option<f64>,
    pub ok: bool,
}

impl Outcome {
    /// What failed, for people: `lost = 2`, or `lost not measured`; never Rust debug text.
    pub fn measured(&self) -> String {
        match self.value {
            Some(v) => format!("{} = {}", self.metric, crate::model::metric::number(v)),
            None => format!("{} not measured", self.metric),
        }
    }
}

/// One metric against the baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The metric's name ([`crate::metric::Metric::name`]).
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// `current - baseline`.
    pub delta: f64,
    /// Worse by more than its tolerance (only metrics given a tolerance can regress).
    pub regression: bool,
}
