//! The Flex Consumption plan's log-based rolling-update completion estimate, held against
//! the truth, as plain serializable data.
//!
//! Azure Functions on the Flex Consumption plan offers no API that says a rolling update
//! finished; its docs give a best-effort KQL query over Application Insights `traces`
//! instead. The query takes as *original* the distinct `cloud_RoleInstance`s with a line in
//! `[deploymentStart - buffer, deploymentStart]`, as *current* those with a line in
//! `[now() - checkInterval, now()]`, counts `OriginalStillActive = |current ∩ original|`
//! and `NewInstances = |current \ original|`, says `RollingUpdateComplete = YES` iff
//! `OriginalStillActive == 0`, and `PercentComplete = round(100 * (1 - OSA / TotalOriginal),
//! 1)` (NaN, here `None`, with no original instance).
//!
//! Being built from logs alone it can say YES too early: an original-version instance
//! started after `deploymentStart` (the rolling starts some time after the site update
//! returned) logged nothing in the buffer and counts as new; one that logged nothing in the
//! buffer is never tracked; one that fell silent for a check interval looks gone. A
//! [`CompletionEstimate`] records every evaluation of the query beside what the harness knows
//! really ran, so a report can name each false YES and what hid the old instance.
//! `crate::estimator` computes it.

use serde::{Deserialize, Serialize};

use crate::model::units::ns_to_ms;

/// The query's two knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateParams {
    /// How often the query is run, and how far back it looks for current instances. The
    /// query's default is 10 s, scaled like every duration by the harness.
    pub check_interval_ns: i64,
    /// How far before `deploymentStart` it looks for original instances. The query's
    /// default is 30 s, scaled like every duration by the harness.
    pub buffer_ns: i64,
}

impl EstimateParams {
    /// The query's own `checkInterval`, unscaled.
    pub const DEFAULT_CHECK_INTERVAL_NS: i64 = 10_000_000_000;
    /// The query's own `buffer`, unscaled.
    pub const DEFAULT_BUFFER_NS: i64 = 30_000_000_000;
}

impl Default for EstimateParams {
    /// The query's defaults: a 10 s check interval and a 30 s buffer.
    fn default() -> Self {
        Self {
            check_interval_ns: Self::DEFAULT_CHECK_INTERVAL_NS,
            buffer_ns: Self::DEFAULT_BUFFER_NS,
        }
    }
}

/// One run of the query at `t_ns`, and the truth at that moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// When the query ran: only lines that arrived at or before it are visible.
    pub t_ns: i64,
    /// The query's `RollingUpdateComplete == "YES"`.
    pub complete: bool,
    /// The query's `PercentComplete`; `None` where it is NaN (no original instance).
    #[serde(default)]
    pub percent_complete: Option<f64>,
    /// The query's `OriginalStillActiveCount`.
    pub original_still_active: u64,
    /// The query's `NewCount`.
    pub new_count: u64,
    /// The query's `TotalOriginal`.
    pub total_original: u64,
    /// No original-version instance really ran at `t_ns`, per the truth.
    pub truly_complete: bool,
    /// The query said YES while the update was truly incomplete.
    pub false_yes: bool,
    /// The original-version instances really alive at `t_ns`, per the truth; empty for a
    /// status-only truth, which names none.
    pub alive_original: Vec<String>,
}

/// What hid an original-version instance from the query while it still ran.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FalseYesCause {
    /// It started after `deploymentStart` (in the gap before the rolling began), so it
    /// logged nothing in the buffer window and counts as new.
    StartedInGap,
    /// It was alive before `deploymentStart` but logged nothing in the buffer window, so the
    /// query never tracked it.
    Untracked,
    /// It was tracked as original and is alive, but wrote no line in the last check
    /// interval, so it looks gone.
    Silent,
    /// The truth says incomplete but names no instance (a status-only truth).
    #[default]
    Unknown,
}

impl FalseYesCause {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartedInGap => "started_in_gap",
            Self::Untracked => "untracked",
            Self::Silent => "silent",
            Self::Unknown => "unknown",
        }
    }

    /// One line for reports.
    pub fn explain(self) -> &'static str {
        match self {
            Self::StartedInGap => {
                "started after deploymentStart, so it logged nothing in the buffer and counted as new"
            }
            Self::Untracked => {
                "alive before deploymentStart but silent in the buffer window, so never tracked"
            }
            Self::Silent => "tracked, still alive, but no log line in the last check interval",
            Self::Unknown => "the status says incomplete; it names no instance",
        }
    }
}

/// One original-version instance alive during a false completion, and what hid it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCause {
    /// Its `cloud_RoleInstance`.
    pub instance: String,
    /// What hid it at the episode's first evaluation where it was alive.
    pub cause: FalseYesCause,
}

/// A run of consecutive evaluations that said YES while the update was truly incomplete.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FalseCompletion {
    /// The first false-YES evaluation.
    pub start_ns: i64,
    /// The earliest of: the first later evaluation that says NO or is truly complete, the
    /// truth's completion time, the last evaluation.
    pub end_ns: i64,
    /// False-YES evaluations in the episode.
    pub evaluations: u64,
    /// Every original-version instance alive during the episode, each with the cause that
    /// hid it at the episode's first evaluation where it was alive. Empty for a status-only
    /// truth, whose cause is [`FalseYesCause::Unknown`] (see [`Self::causes`]).
    pub instances: Vec<InstanceCause>,
}

impl FalseCompletion {
    /// How long the query wrongly said YES.
    pub fn duration_ms(&self) -> f64 {
        ns_to_ms(self.end_ns - self.start_ns)
    }

    /// The distinct causes, in [`FalseYesCause`] order; `[Unknown]` when no instance is
    /// named, so a report always has one to show.
    pub fn causes(&self) -> Vec<FalseYesCause> {
        let mut causes: Vec<FalseYesCause> = self.instances.iter().map(|i| i.cause).collect();
        causes.sort();
        causes.dedup();
        if causes.is_empty() {
            causes.push(FalseYesCause::Unknown);
        }
        causes
    }
}

/// Where the truth came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthKind {
    /// The original-version instances' real lives (the ledger, or the apps' own events).
    #[default]
    Ledger,
    /// Only a status command's completion time.
    Status,
}

/// The query run every check interval from `deploymentStart`, beside the truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionEstimate {
    /// The query's knobs as run.
    pub params: EstimateParams,
    /// The query's `deploymentStart`: when the site update returned success.
    pub deployment_start_ns: i64,
    /// Where the truth came from.
    pub truth: TruthKind,
    /// Every run of the query, in time order.
    pub evaluations: Vec<Evaluation>,
    /// The first evaluation that said YES, right or wrong.
    #[serde(default)]
    pub first_yes_ns: Option<i64>,
    /// When the last original-version instance really ended; `None` if one never did.
    #[serde(default)]
    pub true_complete_ns: Option<i64>,
    /// The first evaluation at or after `true_complete_ns` that said YES.
    #[serde(default)]
    pub first_true_yes_ns: Option<i64>,
    /// `first_true_yes_ns - true_complete_ns`: how late a correct YES came.
    #[serde(default)]
    pub delay_ms: Option<f64>,
    /// Evaluations that said YES while the update was truly incomplete.
    pub false_yes: u64,
    /// The false-YES evaluations grouped into consecutive runs.
    pub false_completions: Vec<FalseCompletion>,
}

impl CompletionEstimate {
    /// The distinct causes of its false completions, sorted.
    pub fn causes(&self) -> Vec<FalseYesCause> {
        let mut causes: Vec<FalseYesCause> = self
            .false_completions
            .iter()
            .flat_map(FalseCompletion::causes)
            .collect();
        causes.sort();
        causes.dedup();
        causes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_names_are_their_serialized_names() {
        for cause in [
            FalseYesCause::StartedInGap,
            FalseYesCause::Untracked,
            FalseYesCause::Silent,
            FalseYesCause::Unknown,
        ] {
            let json = serde_json::to_string(&cause).unwrap();
            assert_eq!(json, format!("\"{}\"", cause.as_str()));
            assert!(!cause.explain().contains('\n'));
        }
    }

    #[test]
    fn the_defaults_are_the_querys() {
        let p = EstimateParams::default();
        assert_eq!(
            (p.check_interval_ns, p.buffer_ns),
            (10_000_000_000, 30_000_000_000)
        );
    }

    #[test]
    fn a_false_completion_without_instances_has_an_unknown_cause() {
        let mut f = FalseCompletion {
            start_ns: 1_000_000,
            end_ns: 3_500_000,
            evaluations: 2,
            instances: Vec::new(),
        };
        assert_eq!(f.duration_ms(), 2.5);
        assert_eq!(f.causes(), [FalseYesCause::Unknown]);
        f.instances = ["b", "a", "c"]
            .into_iter()
            .zip([
                FalseYesCause::Silent,
                FalseYesCause::StartedInGap,
                FalseYesCause::Silent,
            ])
            .map(|(i, cause)| InstanceCause {
                instance: i.into(),
                cause,
            })
            .collect();
        assert_eq!(
            f.causes(),
            [FalseYesCause::StartedInGap, FalseYesCause::Silent]
        );
    }

    #[test]
    fn missing_options_deserialize_as_none() {
        let json = r#"{"params":{"check_interval_ns":1,"buffer_ns":2},"deployment_start_ns":0,
            "truth":"status","evaluations":[],"false_yes":0,"false_completions":[]}"#;
        let est: CompletionEstimate = serde_json::from_str(json).unwrap();
        assert_eq!(est.truth, TruthKind::Status);
        assert_eq!((est.first_yes_ns, est.delay_ms), (None, None));
    }
}
