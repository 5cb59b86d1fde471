//! The metrics of a run, one vocabulary for thresholds (`lost == 0`), baselines
//! (`--max-regression lost:0`) and comparisons (`compare.csv`): each with its name, its
//! unit, which way is better, what it means and how to read it from a summary.
//!
//! ```
//! use reports::metric::Metric;
//! let m: Metric = "downtime.max_ms".parse().unwrap();
//! assert_eq!((m.column(), m.unit(), m.larger_is_better()), ("downtime_max_ms", "ms", false));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::model::verdict::Verdict;

/// One metric of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Expected,
    Delivered,
    Lost,
    Duplicated,
    ExtraCopies,
    Late,
    Ok,
    Unexpected,
    Recovered,
    LostRate,
    DuplicatedRate,
    LateRate,
    DowntimeWindows,
    DowntimeTotalMs,
    DowntimeMaxMs,
    LatenessP50Ms,
    LatenessP90Ms,
    LatenessP99Ms,
    LatenessMaxMs,
    GapMaxMs,
    UpdateDurationMs,
    CompletionFalseYes,
    CompletionFalseMs,
    CompletionDelayMs,
    RollbackDetectMs,
    RollbackRecoveryMs,
    ProbesFailed,
    ProbesFailedRate,
    RecoveryMs,
    ThroughputDrop,
}

/// What a metric is, in one row: (metric, name, unit, meaning).
const TABLE: [(Metric, &str, &str, &str); 30] = [
    (Metric::Expected, "expected", "items", "expected items"),
    (
        Metric::Delivered,
        "delivered",
        "items",
        "items that arrived at least once",
    ),
    (Metric::Lost, "lost", "items", "items that never arrived"),
    (
        Metric::Duplicated,
        "duplicated",
        "items",
        "items that arrived more than once",
    ),
    (
        Metric::ExtraCopies,
        "extra_copies",
        "rows",
        "arrivals beyond the first",
    ),
    (
        Metric::Late,
        "late",
        "items",
        "items whose first arrival was late",
    ),
    (
        Metric::Ok,
        "ok",
        "items",
        "items delivered once and on time",
    ),
    (
        Metric::Unexpected,
        "unexpected",
        "rows",
        "arrival rows outside the expected window",
    ),
    (
        Metric::Recovered,
        "recovered",
        "items",
        "items delivered although their run failed or was killed",
    ),
    (Metric::LostRate, "lost_rate", "ratio", "lost / expected"),
    (
        Metric::DuplicatedRate,
        "duplicated_rate",
        "ratio",
        "duplicated / expected",
    ),
    (Metric::LateRate, "late_rate", "ratio", "late / delivered"),
    (
        Metric::DowntimeWindows,
        "downtime.windows",
        "windows",
        "downtime windows",
    ),
    (
        Metric::DowntimeTotalMs,
        "downtime.total_ms",
        "ms",
        "total downtime",
    ),
    (
        Metric::DowntimeMaxMs,
        "downtime.max_ms",
        "ms",
        "longest downtime window",
    ),
    (
        Metric::LatenessP50Ms,
        "lateness.p50_ms",
        "ms",
        "median lateness",
    ),
    (
        Metric::LatenessP90Ms,
        "lateness.p90_ms",
        "ms",
        "lateness p90",
    ),
    (
        Metric::LatenessP99Ms,
        "lateness.p99_ms",
        "ms",
        "lateness p99",
    ),
    (
        Metric::LatenessMaxMs,
        "lateness.max_ms",
        "ms",
        "largest lateness",
    ),
    (
        Metric::GapMaxMs,
        "gap_max_ms",
        "ms",
        "longest silence between arrivals",
    ),
    (
        Metric::UpdateDurationMs,
        "update.duration_ms",
        "ms",
        "time from the update's start to its completion (ledger)",
    ),
    (
        Metric::CompletionFalseYes,
        "completion.false_yes",
        "evaluations",
        "log-based completion estimates that said complete while an old instance ran",
    ),
    (
        Metric::CompletionFalseMs,
        "completion.false_ms",
        "ms",
        "total time the completion estimate falsely said complete",
    ),
    (
        Metric::CompletionDelayMs,
        "completion.delay_ms",
        "ms",
        "time from the true completion to the estimate's first true complete",
    ),
    (
        Metric::RollbackDetectMs,
        "rollback.detect_ms",
        "ms",
        "time from the first failure to the rollback's trigger",
    ),
    (
        Metric::RollbackRecoveryMs,
        "rollback.recovery_ms",
        "ms",
        "time from the first failure to the rollback's end",
    ),
    (
        Metric::ProbesFailed,
        "probes.failed",
        "probes",
        "app probes that failed",
    ),
    (
        Metric::ProbesFailedRate,
        "probes.failed_rate",
        "ratio",
        "failed / sent app probes",
    ),
    (
        Metric::RecoveryMs,
        "recovery_ms",
        "ms",
        "time from the update's first failure to the first steady window after it",
    ),
    (
        Metric::ThroughputDrop,
        "throughput.drop",
        "ratio",
        "1 - items delivered per second during the update / before it",
    ),
];

impl Metric {
    /// Every metric, in the order the README lists them.
    pub const ALL: [Metric; 30] = {
        let mut all = [Metric::Expected; 30];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn row(self) -> &'static (Metric, &'static str, &'static str, &'static str) {
        TABLE
            .iter()
            .find(|r| r.0 == self)
            .expect("every metric has a row")
    }

    /// The name thresholds and baselines use: `downtime.max_ms`.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The name as a column or file name (`compare.csv`, `compare-downtime_max_ms.png`):
    /// the name with `_` for `.`.
    pub fn column(self) -> &'static str {
        match self {
            Metric::DowntimeWindows => "downtime_windows",
            Metric::DowntimeTotalMs => "downtime_total_ms",
            Metric::DowntimeMaxMs => "downtime_max_ms",
            Metric::LatenessP50Ms => "lateness_p50_ms",
            Metric::LatenessP90Ms => "lateness_p90_ms",
            Metric::LatenessP99Ms => "lateness_p99_ms",
            Metric::LatenessMaxMs => "lateness_max_ms",
            Metric::UpdateDurationMs => "update_duration_ms",
            Metric::CompletionFalseYes => "completion_false_yes",
            Metric::CompletionFalseMs => "completion_false_ms",
            Metric::CompletionDelayMs => "completion_delay_ms",
            Metric::RollbackDetectMs => "rollback_detect_ms",
            Metric::RollbackRecoveryMs => "rollback_recovery_ms",
            Metric::ProbesFailed => "probes_failed",
            Metric::ProbesFailedRate => "probes_failed_rate",
            Metric::ThroughputDrop => "throughput_drop",
            other => other.name(),
        }
    }

    /// `items`, `rows`, `ratio`, `windows`, `evaluations` or `ms`.
    pub fn unit(self) -> &'static str {
        self.row().2
    }

    /// What it measures, in a few words.
    pub fn meaning(self) -> &'static str {
        self.row().3
    }

    /// Whether a larger value is better (only `expected`, `delivered` and `ok`): a baseline
    /// regression is a change in the other direction.
    pub fn larger_is_better(self) -> bool {
        matches!(self, Metric::Expected | Metric::Delivered | Metric::Ok)
    }

    /// Its value in a verdict; `update_duration_ms` is the run's ([`crate::RunInfo`]).
    /// `None` when the run did not measure it (lateness with nothing delivered, ...).
    pub fn value(self, v: &Verdict, update_duration_ms: Option<f64>) -> Option<f64> {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Some(match self {
            Metric::Expected => v.expected as f64,
            Metric::Delivered => v.delivered as f64,
            Metric::Lost => v.lost as f64,
            Metric::Duplicated => v.duplicated as f64,
            Metric::ExtraCopies => v.extra_copies as f64,
            Metric::Late => v.late as f64,
            Metric::Ok => v.ok as f64,
            Metric::Unexpected => v.unexpected as f64,
            Metric::Recovered => v.causes.recovered as f64,
            Metric::LostRate => ratio(v.lost, v.expected),
            Metric::DuplicatedRate => ratio(v.duplicated, v.expected),
            Metric::LateRate => ratio(v.late, v.delivered),
            Metric::DowntimeWindows => v.downtime.windows as f64,
            Metric::DowntimeTotalMs => v.downtime.total_ms,
            Metric::DowntimeMaxMs => v.downtime.max_ms,
            Metric::LatenessP50Ms => v.lateness_ms?.p50,
            Metric::LatenessP90Ms => v.lateness_ms?.p90,
            Metric::LatenessP99Ms => v.lateness_ms?.p99,
            Metric::LatenessMaxMs => v.lateness_ms?.max,
            Metric::GapMaxMs => v.gap_max_ms?,
            Metric::UpdateDurationMs => update_duration_ms?,
            Metric::CompletionFalseYes => v.completion.as_ref()?.false_yes as f64,
            Metric::CompletionFalseMs => v
                .completion
                .as_ref()?
                .false_completions
                .iter()
                .map(|f| f.duration_ms())
                .sum(),
            Metric::CompletionDelayMs => v.completion.as_ref()?.delay_ms?,
            Metric::RollbackDetectMs => v.rollback.as_ref()?.time_to_detect_ms,
            Metric::RollbackRecoveryMs => v.rollback.as_ref()?.recovery_ms?,
            Metric::ProbesFailed => v.downtime.failed_probes as f64,
            // No probe sent says nothing of the rate.
            Metric::ProbesFailedRate => (v.downtime.probes > 0)
                .then_some(ratio(v.downtime.failed_probes, v.downtime.probes))?,
            Metric::RecoveryMs => v.recovery.as_ref()?.recovery_ms?,
            Metric::ThroughputDrop => v.throughput.as_ref()?.drop,
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown metric's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric {0:?}")]
pub struct UnknownMetric(pub String);

impl FromStr for Metric {
    type Err = UnknownMetric;

    /// A metric by its name (`downtime.max_ms`) or its column (`downtime_max_ms`).
    fn from_str(s: &str) -> Result<Metric, UnknownMetric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s || m.column() == s)
            .ok_or_else(|| UnknownMetric(s.to_owned()))
    }
}

/// A metric's value for reading: integers as they are, fractions to about four significant
/// digits (`12.49`, `0.0123`), never float noise like `12.489221999999984`.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let decimals = match x.abs() {
        a if a >= 100.0 => 1,
        a if a >= 1.0 => 2,
        _ => 4,
    };
    let text = format!("{x:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_columns_parse_back_and_are_unique() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
            assert_eq!(m.column().parse::<Metric>(), Ok(m));
            assert_eq!(m.column(), m.name().replace('.', "_"), "{m}");
            assert!(!m.meaning().is_empty() && !m.unit().is_empty());
        }
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!("lots".parse::<Metric>(), Err(UnknownMetric("lots".into())));
    }

    #[test]
    fn values_come_from_the_verdict_and_the_run() {
        let v = Verdict {
            expected: 100,
            delivered: 98,
            lost: 2,
            late: 1,
            ..Verdict::default()
        };
        assert_eq!(Metric::Lost.value(&v, None), Some(2.0));
        assert_eq!(Metric::LostRate.value(&v, None), Some(0.02));
        assert_eq!(Metric::LatenessP99Ms.value(&v, None), None, "not measured");
        assert_eq!(Metric::UpdateDurationMs.value(&v, Some(250.0)), Some(250.0));
    }
}
