//! The verdict: every number DESIGN.md defines in "The verdict", as plain serializable data.
//!
//! The checker builds it; renderers only read it. Lists of items are capped at
//! [`Verdict::listed_limit`] entries each, while every count is exact.

use serde::{Deserialize, Serialize};

pub use crate::model::units::ns_to_ms;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// |E|.
    pub expected: u64,
    /// Keys of E with at least one arrival.
    pub delivered: u64,
    pub lost: u64,
    /// Keys of E with two or more arrivals.
    pub duplicated: u64,
    /// Arrivals of keys in E beyond the first of each.
    pub extra_copies: u64,
    /// Delivered keys whose first arrival is after `scheduled + late_after_ns`.
    pub late: u64,
    /// Delivered exactly once and not late.
    pub ok: u64,
    /// Arrival rows whose key is not in E.
    pub unexpected: u64,
    /// Rows read from `arrivals.csv`.
    pub arrivals: u64,
    pub late_after_ms: f64,
    /// `first(k) - scheduled(k)` over delivered keys, negative counted as 0; `None` when
    /// nothing was delivered.
    pub lateness_ms: Option<Quantiles>,
    pub downtime: Downtime,
    /// The downtime of each probe series (`reused`, `new`) on its own, when the probes
    /// name their series: a reload that closes idle keep-alive connections shows in one.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub downtime_by_conn: std::collections::BTreeMap<String, Downtime>,
    /// Longest interval between consecutive arrivals of keys in E; `None` with fewer than two.
    pub gap_max_ms: Option<f64>,
    /// False only when arrivals were recorded so far out of order that the bounded reorder
    /// buffer could not sort them; `gap_max_ms` is then an upper bound.
    pub gap_exact: bool,
    pub causes: Causes,
    pub lost_items: Vec<ItemNote>,
    pub duplicated_items: Vec<ItemNote>,
    pub late_items: Vec<ItemNote>,
    pub unexpected_items: Vec<ItemNote>,
    /// The cap on each of the item lists above.
    pub listed_limit: usize,
    /// Each instance's life as its own lifecycle events told it (`events.csv`): whether the
    /// cancellation reached its code, and its effective grace. Empty when no app sent any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<crate::model::lifecycle::InstanceLife>,
    /// The log-based completion estimate held against the truth, for a rolling update (see
    /// [`crate::completion`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<crate::model::completion::CompletionEstimate>,
    /// What the scale controller did, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    /// What a rollback took, when one was triggered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Each `[[faults]]` window the ledger recorded, with what it cost the app (see
    /// [`crate::faults`]), in start order. Empty without faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultCost>,
    /// The control probe series, when the run had one: where it failed, the trouble was
    /// the harness's or the machine's, and that time is not in `downtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    /// From the first failure the update caused to the first steady window after it
    /// (see [`crate::scoped`]); absent without an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// Items delivered per second during the update against before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
    /// The scoped measures the run was judged by (`lost{phase=update}`), by name, so that a
    /// summary read back has them without the observations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub scoped: std::collections::BTreeMap<String, f64>,
    /// The observations scoped measures are read from: built by the checker, never written.
    #[serde(skip)]
    pub observations: crate::model::observations::Held,
}

/// How long the app took to recover from what the update did to it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The first failed probe or failed item (lost, late or duplicated, by its schedule) at
    /// or after the update's start; `None`: nothing failed, and the recovery took 0.
    pub first_failure_ns: Option<i64>,
    /// The start of the first steady window after it; `None`: it never came.
    pub steady_from_ns: Option<i64>,
    /// How long a steady window is.
    pub steady_ms: f64,
    /// `steady_from - first_failure`; 0 when nothing failed; `None` when it never
    /// recovered.
    pub recovery_ms: Option<f64>,
}

/// Items delivered (first arrivals) per second, before and during the update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub before_per_s: f64,
    pub update_per_s: f64,
    /// `1 - update / before`: 0 when the update cost nothing, 1 when nothing was delivered
    /// during it, negative when more was.
    pub drop: f64,
}

/// The control series (`conn = "control"`: the sink's `/health`, in process, which no update
/// touches) and what its failures took out of the app's downtime. Its probes count in
/// neither `downtime` nor `downtime_by_conn`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub probes: u64,
    pub failed_probes: u64,
    /// The failed control probes by how they failed, as [`Downtime::failed_by`].
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub failed_by: std::collections::BTreeMap<String, u64>,
    /// The control's own failure windows, defined as the app's downtime windows are.
    pub windows: Vec<Window>,
    /// The windows' summed and longest lengths.
    pub total_ms: f64,
    pub max_ms: f64,
    /// The app's downtime that fell inside a control window and was taken out of
    /// `downtime` (and, series by series, out of `downtime_by_conn`).
    pub excluded_ms: f64,
    /// The pieces of the app's downtime taken out, merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Window>,
}

impl Control {
    /// Why the run cannot be trusted, when the control was down longer at once than
    /// `max_window_ms`: for that long the harness or the machine could not serve even its
    /// own sink, so the app's availability there is unknown rather than good. `None` when
    /// every control window is within the limit.
    pub fn invalid_reason(&self, max_window_ms: f64) -> Option<String> {
        (self.max_ms > max_window_ms).then(|| {
            format!(
                "the control probes (the sink's /health) failed for {:.1} ms at once (limit \
                 {max_window_ms} ms; {} of {} failed): the harness or the machine was in \
                 trouble, and {:.1} ms of the app's downtime was not counted",
                self.max_ms, self.failed_probes, self.probes, self.excluded_ms
            )
        })
    }
}

/// One fault window of the scenario's `[[faults]]` list as the ledger recorded it
/// (`fault_started` to `fault_ended`), and what the app lost inside it (see
/// [`crate::faults`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultCost {
    /// Its index in the scenario's `[[faults]]` list.
    pub fault: u64,
    /// `crash`, `pause`, `crash_loop` (instance faults) or `latency`, `http_error`, `reset`,
    /// `blackhole`, `fail_first`, `bandwidth` (sink-path faults).
    pub kind: String,
    pub start_ns: i64,
    /// Its `fault_ended`; the run's end when it never ended. A crash not restarted ends
    /// where it began.
    pub end_ns: i64,
    /// False when the run's end cut it short: its `fault_ended` says `cut=true`, or it has
    /// none.
    pub ended: bool,
    /// `start_ns` from the schedule's epoch (the plots' origin), in ms.
    pub at_ms: f64,
    /// The entry's own keys as recorded (`latency_ms`, `status`, `probability`, `target`,
    /// `duration_ms`, ...), and `instances`, those picked when it began (`+`-separated).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub params: std::collections::BTreeMap<String, String>,
    /// What it did to instances (`fault_acted`), in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<FaultAction>,
    /// A sink-path fault's requests through the proxy in its window, and those it acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected: Option<u64>,
    /// The app's downtime inside the window (control windows already taken out).
    pub downtime_ms: f64,
    /// The expected items of every loop that ran while it acted, every one of them: lost,
    /// duplicated, late (see [`crate::faults`]).
    pub lost: u64,
    pub duplicated: u64,
    pub late: u64,
}

/// One thing a fault did to one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultAction {
    pub t_ns: i64,
    pub instance: String,
    /// `sigkill`, `sigstop`, `sigcont` or `restart`.
    pub action: String,
}

impl FaultCost {
    pub fn duration_ms(&self) -> f64 {
        ns_to_ms(self.end_ns - self.start_ns)
    }

    /// What it hit: the instances picked when it began (`instances`), else those it acted
    /// on in order of first action, else its `target`, else nothing.
    pub fn target(&self) -> String {
        if let Some(picked) = self.params.get("instances").filter(|p| *p != "none") {
            return picked.replace('+', ", ");
        }
        let mut instances: Vec<&str> = Vec::new();
        for a in &self.actions {
            if !instances.contains(&a.instance.as_str()) {
                instances.push(&a.instance);
            }
        }
        if instances.is_empty() {
            return self.params.get("target").cloned().unwrap_or_default();
        }
        instances.join(", ")
    }

    /// Its kind and what it hit, for labels: `pause a-0`, `latency`.
    pub fn label(&self) -> String {
        let target = self.target();
        if target.is_empty() {
            self.kind.clone()
        } else {
            format!("{} {target}", self.kind)
        }
    }

    /// The entry's parameters as `key=value`, space-separated (the instances picked are
    /// [`FaultCost::target`]'s).
    pub fn params_text(&self) -> String {
        let pairs: Vec<String> = self
            .params
            .iter()
            .filter(|(k, _)| *k != "instances")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(" ")
    }
}

/// A rollback: what triggered it, how fast it was, and what it cost (see
/// [`crate::rollback`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// `manual` (`run.rollback_at`) or `analysis`.
    pub by: String,
    /// The analysis thresholds that failed, `+`-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    pub update_begun_ns: i64,
    /// The release's first failure after the update began: a run that answered an error, a
    /// start that failed, or a probe an instance answered 500.
    #[serde(default)]
    pub first_failure_ns: Option<i64>,
    /// When the rollback was triggered.
    pub detected_ns: i64,
    /// When the rollback phase ended: the recovery.
    #[serde(default)]
    pub rolled_back_ns: Option<i64>,
    /// The window whose evaluation failed, `(start, end)`.
    #[serde(default)]
    pub failing_window: Option<(i64, i64)>,
    /// Analysis evaluations recorded.
    pub evaluations: u64,
    /// From the first failure (or the update's start) to the trigger.
    pub time_to_detect_ms: f64,
    /// From the trigger to the recovery.
    #[serde(default)]
    pub time_to_roll_back_ms: Option<f64>,
    /// From the first failure (or the update's start) to the recovery.
    #[serde(default)]
    pub recovery_ms: Option<f64>,
    /// Lost and duplicated items scheduled from the first failure to the recovery.
    pub lost: u64,
    pub duplicated: u64,
    /// Downtime from the first failure to the recovery.
    pub downtime_ms: f64,
}

/// The scale controller's decisions and their effect, from the ledger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Decisions to start instances, and how many they started.
    pub scale_outs: u64,
    pub added: u64,
    /// Decisions to drain instances, and how many they drained.
    pub scale_ins: u64,
    pub removed: u64,
    /// Times the demand wanted more than the maximum.
    pub limited: u64,
    /// Most production instances alive at once (started, not yet exited).
    pub peak_instances: u64,
    /// Instances started while the update ran, by version, and instances it drained (the
    /// update's own batches and the controller's scale-ins).
    pub started_during_update: std::collections::BTreeMap<String, u64>,
    pub drained_during_update: u64,
}

/// Quantiles of a distribution in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Availability as the probes saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    pub windows: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    /// Probes read; 0 means availability was not measured.
    pub probes: u64,
    pub failed_probes: u64,
    /// The failed probes by how they failed ([`crate::Probe::failure`]): `timeout`,
    /// `connect`, `io`, `saturated`, `http_503`, ... A window of timeouts is an app too
    /// slow to answer; one of refusals is an app not there.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub failed_by: std::collections::BTreeMap<String, u64>,
    pub intervals: Vec<Window>,
}

impl Downtime {
    /// How much of the windows falls between `from_ns` and `to_ns`, in ms.
    pub fn overlap_ms(&self, from_ns: i64, to_ns: i64) -> f64 {
        let ns: i64 = self
            .intervals
            .iter()
            .map(|w| (w.end_ns.min(to_ns) - w.start_ns.max(from_ns)).max(0))
            .sum();
        ns_to_ms(ns)
    }
}

/// One downtime window, from the first failed probe's intended time to the next success's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl Window {
    pub fn duration_ms(&self) -> f64 {
        ns_to_ms(self.end_ns - self.start_ns)
    }
}

/// What the ledger says about why items were lost, repeated or unexpected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Causes {
    pub lost: LostCauses,
    pub duplicated: DuplicateCauses,
    pub unexpected: UnexpectedCauses,
    /// Delivered although an invocation covering it failed or was killed.
    pub recovered: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostCauses {
    /// No invocation covering the key is in the ledger.
    pub never_invoked: u64,
    /// Its invocation was killed and the ledger has no sign the item was sent.
    pub killed_before_send: u64,
    /// The ledger says it was sent, yet the sink never recorded it.
    pub in_flight: u64,
    /// Its queue message went to the poison queue.
    pub poisoned: u64,
    /// Its invocation ended as failed.
    pub failed: u64,
    /// Its invocation was begun and never ended in the ledger.
    pub unfinished: u64,
    /// Its invocation ended OK, yet the item never arrived: a bug in the function or the sink.
    pub unexplained: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateCauses {
    /// A catch-up run repeated an occurrence that had already run.
    pub timer_catch_up: u64,
    /// A queue message was delivered again after its lease ended.
    pub queue_redelivery: u64,
    /// The same invocation submitted the item more than once (`attempt` above 1).
    pub retry: u64,
    /// Two invocations ran the same occurrence without a catch-up (e.g. two slots' timers).
    pub double_timer: u64,
    pub unexplained: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnexpectedCauses {
    /// The source is not in `expected.json`.
    pub unknown_source: u64,
    /// `m` is outside `first..=last`.
    pub outside_window: u64,
    /// `n` is at or past `items`.
    pub past_loop: u64,
}

/// One item in a list of the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemNote {
    pub source: String,
    pub m: u64,
    pub n: u64,
    /// The version that sent it, or for a lost item the version that was to send it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateness_ms: Option<f64>,
}

impl ItemNote {
    /// `A(m,n)` when the version is known, else `(m,n)`; prefixed with the source when the
    /// run has several.
    pub fn label(&self, with_source: bool) -> String {
        let prefix = if with_source {
            format!("{}:", self.source)
        } else {
            String::new()
        };
        match &self.version {
            Some(v) => format!("{prefix}{v}({},{})", self.m, self.n),
            None => format!("{prefix}({},{})", self.m, self.n),
        }
    }
}

/// Why one expected key never arrived; see [`LostCauses`] for each meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostCause {
    NeverInvoked,
    KilledBeforeSend,
    InFlight,
    Poisoned,
    Failed,
    Unfinished,
    Unexplained,
}

/// Why one expected key arrived more than once; see [`DuplicateCauses`] for each meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DuplicateCause {
    TimerCatchUp,
    QueueRedelivery,
    Retry,
    DoubleTimer,
    Unexplained,
}

impl LostCause {
    pub fn as_str(self) -> &'static str {
        match self {
            LostCause::NeverInvoked => "never_invoked",
            LostCause::KilledBeforeSend => "killed_before_send",
            LostCause::InFlight => "in_flight",
            LostCause::Poisoned => "poisoned",
            LostCause::Failed => "failed",
            LostCause::Unfinished => "unfinished",
            LostCause::Unexplained => "unexplained",
        }
    }
}

impl DuplicateCause {
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateCause::TimerCatchUp => "timer_catch_up",
            DuplicateCause::QueueRedelivery => "queue_redelivery",
            DuplicateCause::Retry => "retry",
            DuplicateCause::DoubleTimer => "double_timer",
            DuplicateCause::Unexplained => "unexplained",
        }
    }
}

impl LostCauses {
    pub fn count(&mut self, cause: LostCause) {
        *match cause {
            LostCause::NeverInvoked => &mut self.never_invoked,
            LostCause::KilledBeforeSend => &mut self.killed_before_send,
            LostCause::InFlight => &mut self.in_flight,
            LostCause::Poisoned => &mut self.poisoned,
            LostCause::Failed => &mut self.failed,
            LostCause::Unfinished => &mut self.unfinished,
            LostCause::Unexplained => &mut self.unexplained,
        } += 1;
    }

    /// Every cause with its count, in a fixed order, for renderers.
    pub fn entries(&self) -> [(&'static str, u64); 7] {
        [
            ("never_invoked", self.never_invoked),
            ("killed_before_send", self.killed_before_send),
            ("in_flight", self.in_flight),
            ("poisoned", self.poisoned),
            ("failed", self.failed),
            ("unfinished", self.unfinished),
            ("unexplained", self.unexplained),
        ]
    }
}

impl DuplicateCauses {
    pub fn count(&mut self, cause: DuplicateCause) {
        *match cause {
            DuplicateCause::TimerCatchUp => &mut self.timer_catch_up,
            DuplicateCause::QueueRedelivery => &mut self.queue_redelivery,
            DuplicateCause::Retry => &mut self.retry,
            DuplicateCause::DoubleTimer => &mut self.double_timer,
            DuplicateCause::Unexplained => &mut self.unexplained,
        } += 1;
    }

    pub fn entries(&self) -> [(&'static str, u64); 5] {
        [
            ("timer_catch_up", self.timer_catch_up),
            ("queue_redelivery", self.queue_redelivery),
            ("retry", self.retry),
            ("double_timer", self.double_timer),
            ("unexplained", self.unexplained),
        ]
    }
}
