//! The Flex Consumption completion query replayed over a run's log lines, every check
//! interval from `deploymentStart`, and held against the truth.
//!
//! [`estimate`] computes exactly what the documented KQL query would have answered at each
//! evaluation (see [`crate::completion`] for its definition) from the lines the apps wrote,
//! and beside it what really ran: the original-version instances' lives ([`Truth::Instances`])
//! or only a status command's completion time ([`Truth::Status`]). Every YES while an old
//! instance still ran is a false YES; consecutive ones form a [`FalseCompletion`] naming, per
//! instance, what hid it: it started in the gap after `deploymentStart`, it logged nothing in
//! the buffer window, or it fell silent for a check interval.
//!
//! One pass over the sorted lines with a sliding window keeps the whole estimate
//! O(lines log lines + evaluations * instances), so a run's million lines are cheap.

use std::collections::{BTreeMap, HashMap};

use crate::model::completion::{
    CompletionEstimate, EstimateParams, Evaluation, FalseCompletion, FalseYesCause, InstanceCause,
    TruthKind,
};
use crate::model::expected::CompletionSpec;
use crate::model::ledger::{Kind, LedgerEvent};
use crate::model::lifecycle::SILENCE_NS;
use crate::model::trace::LogLine;
use crate::model::units::ns_to_ms;

/// One log line: when it arrived (the `traces` table's `timestamp`) and which instance wrote
/// it (`cloud_RoleInstance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trace<'a> {
    /// When the line arrived.
    pub t_ns: i64,
    /// Which instance wrote it; empty ids are ignored, as the query does.
    pub instance: &'a str,
}

/// An original-version instance's real life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrueInstance {
    /// Its `cloud_RoleInstance`, as its log lines name it.
    pub instance: String,
    /// When it really started.
    pub started_ns: i64,
    /// When it stopped; `None` while it was still alive at the end.
    pub ended_ns: Option<i64>,
}

impl TrueInstance {
    /// Whether it ran at `t_ns`: started at or before it and not yet ended.
    pub fn alive_at(&self, t_ns: i64) -> bool {
        self.started_ns <= t_ns && self.ended_ns.is_none_or(|e| t_ns < e)
    }
}

/// What really happened, to hold the query against.
#[derive(Clone, Debug, PartialEq)]
pub enum Truth {
    /// Every original-version instance's life; the update is complete when none runs.
    Instances(Vec<TrueInstance>),
    /// Only when a status command said the update completed (`None`: it never did).
    Status { complete_ns: Option<i64> },
}

impl Truth {
    /// The kind recorded in the estimate.
    pub fn kind(&self) -> TruthKind {
        match self {
            Truth::Instances(_) => TruthKind::Ledger,
            Truth::Status { .. } => TruthKind::Status,
        }
    }

    /// When the update truly completed: for instances, when the last one ended (never
    /// before `deployment_start_ns`, since one that ended earlier never counts), `None`
    /// if one never ended.
    pub fn complete_ns(&self, deployment_start_ns: i64) -> Option<i64> {
        match self {
            Truth::Instances(list) => list.iter().try_fold(deployment_start_ns, |last, i| {
                i.ended_ns.map(|e| last.max(e))
            }),
            Truth::Status { complete_ns } => *complete_ns,
        }
    }

    /// Whether no original-version instance runs at `t_ns`.
    pub fn complete_at(&self, t_ns: i64) -> bool {
        match self {
            Truth::Instances(list) => !list.iter().any(|i| i.alive_at(t_ns)),
            Truth::Status { complete_ns } => complete_ns.is_some_and(|c| t_ns >= c),
        }
    }
}

/// The query's `PercentComplete`: `round(100 * (1 - OSA / TotalOriginal), 1)`, `None` where
/// KQL gives NaN (no original instance).
pub fn percent_complete(still_active: u64, total_original: u64) -> Option<f64> {
    if total_original == 0 {
        return None;
    }
    let percent = 100.0 * (1.0 - still_active as f64 / total_original as f64);
    // KQL's round(2.15, 1) is 2.2: halves away from zero.
    Some((percent * 10.0).round() / 10.0)
}

/// What hid an alive original-version instance from a query that said YES. `tracked` is
/// whether it is in the query's original set; a tracked one can then only have been silent,
/// since YES means no original instance was current.
pub fn cause(instance: &TrueInstance, deployment_start_ns: i64, tracked: bool) -> FalseYesCause {
    if instance.started_ns > deployment_start_ns {
        FalseYesCause::StartedInGap
    } else if !tracked {
        FalseYesCause::Untracked
    } else {
        FalseYesCause::Silent
    }
}

/// The log lines indexed for the query: empty ids dropped (the query's
/// `cloud_RoleInstance != ""`), names numbered, lines sorted by time.
struct Lines<'a> {
    ids: HashMap<&'a str, usize>,
    /// `(t_ns, id)`, sorted.
    lines: Vec<(i64, usize)>,
}

impl<'a> Lines<'a> {
    fn new(traces: &[Trace<'a>]) -> Self {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut lines = Vec::with_capacity(traces.len());
        for trace in traces.iter().filter(|t| !t.instance.is_empty()) {
            let next = ids.len();
            let id = *ids.entry(trace.instance).or_insert(next);
            lines.push((trace.t_ns, id));
        }
        lines.sort_unstable();
        Self { ids, lines }
    }

    /// The query's `originalInstances`, as a flag per id: a line in `[from_ns, to_ns]`.
    fn seen_between(&self, from_ns: i64, to_ns: i64) -> Vec<bool> {
        let mut seen = vec![false; self.ids.len()];
        let start = self.lines.partition_point(|&(t, _)| t < from_ns);
        for &(_, id) in self.lines[start..].iter().take_while(|&&(t, _)| t <= to_ns) {
            seen[id] = true;
        }
        seen
    }
}

/// The query's `currentInstances` as a window `[t - checkInterval, t]` slid forward over
/// the sorted lines, keeping the two counts the query reports.
struct Current<'l> {
    lines: &'l [(i64, usize)],
    original: &'l [bool],
    /// Lines of each id inside the window.
    in_window: Vec<usize>,
    /// The window is `lines[lo..hi]`.
    lo: usize,
    hi: usize,
    still_active: u64,
    new_count: u64,
}

impl<'l> Current<'l> {
    fn new(lines: &'l [(i64, usize)], original: &'l [bool]) -> Self {
        Self {
            lines,
            original,
            in_window: vec![0; original.len()],
            lo: 0,
            hi: 0,
            still_active: 0,
            new_count: 0,
        }
    }

    fn count(&mut self, id: usize, present: bool) {
        let counter = if self.original[id] {
            &mut self.still_active
        } else {
            &mut self.new_count
        };
        if present {
            *counter += 1;
        } else {
            *counter -= 1;
        }
    }

    /// Moves the window to `[from_ns, to_ns]`; both ends only ever move forward.
    fn advance(&mut self, from_ns: i64, to_ns: i64) {
        while self.hi < self.lines.len() && self.lines[self.hi].0 <= to_ns {
            let id = self.lines[self.hi].1;
            self.in_window[id] += 1;
            if self.in_window[id] == 1 {
                self.count(id, true);
            }
            self.hi += 1;
        }
        // Every line before `from_ns` is at or before `to_ns`, so it was added above.
        while self.lo < self.hi && self.lines[self.lo].0 < from_ns {
            let id = self.lines[self.lo].1;
            self.in_window[id] -= 1;
            if self.in_window[id] == 0 {
                self.count(id, false);
            }
            self.lo += 1;
        }
    }
}

/// A false completion being collected.
struct Episode {
    start_ns: i64,
    evaluations: u64,
    /// The first cause seen for each instance.
    instances: BTreeMap<String, FalseYesCause>,
}

impl Episode {
    fn close(self, end_ns: i64) -> FalseCompletion {
        FalseCompletion {
            start_ns: self.start_ns,
            end_ns,
            evaluations: self.evaluations,
            instances: self
                .instances
                .into_iter()
                .map(|(instance, cause)| InstanceCause { instance, cause })
                .collect(),
        }
    }
}

/// The query run at `deployment_start_ns + k * check_interval_ns` for every `k` up to
/// `end_ns`, from `traces` (in any order), held against `truth`. A non-positive check
/// interval gives no evaluations.
pub fn estimate(
    traces: &[Trace<'_>],
    deployment_start_ns: i64,
    end_ns: i64,
    params: EstimateParams,
    truth: &Truth,
) -> CompletionEstimate {
    let true_complete_ns = truth.complete_ns(deployment_start_ns);
    let mut est = CompletionEstimate {
        params,
        deployment_start_ns,
        truth: truth.kind(),
        true_complete_ns,
        ..CompletionEstimate::default()
    };
    let step_ns = params.check_interval_ns;
    if step_ns <= 0 {
        return est;
    }

    let lines = Lines::new(traces);
    let original = lines.seen_between(
        deployment_start_ns.saturating_sub(params.buffer_ns),
        deployment_start_ns,
    );
    let total_original = original.iter().filter(|&&o| o).count() as u64;
    let tracked = |name: &str| lines.ids.get(name).is_some_and(|&id| original[id]);
    let mut current = Current::new(&lines.lines, &original);

    let mut episode: Option<Episode> = None;
    let mut t_ns = deployment_start_ns;
    while t_ns <= end_ns {
        current.advance(t_ns.saturating_sub(step_ns), t_ns);
        let complete = current.still_active == 0;
        let alive: Vec<&TrueInstance> = match truth {
            Truth::Instances(list) => list.iter().filter(|i| i.alive_at(t_ns)).collect(),
            Truth::Status { .. } => Vec::new(),
        };
        let truly_complete = truth.complete_at(t_ns);
        let false_yes = complete && !truly_complete;

        if complete && est.first_yes_ns.is_none() {
            est.first_yes_ns = Some(t_ns);
        }
        if complete
            && est.first_true_yes_ns.is_none()
            && true_complete_ns.is_some_and(|c| t_ns >= c)
        {
            est.first_true_yes_ns = Some(t_ns);
        }
        if false_yes {
            est.false_yes += 1;
            let ep = episode.get_or_insert_with(|| Episode {
                start_ns: t_ns,
                evaluations: 0,
                instances: BTreeMap::new(),
            });
            ep.evaluations += 1;
            for i in &alive {
                ep.instances
                    .entry(i.instance.clone())
                    .or_insert_with(|| cause(i, deployment_start_ns, tracked(&i.instance)));
            }
        } else if let Some(ep) = episode.take() {
            est.false_completions
                .push(ep.close(episode_end(t_ns, true_complete_ns)));
        }

        est.evaluations.push(Evaluation {
            t_ns,
            complete,
            percent_complete: percent_complete(current.still_active, total_original),
            original_still_active: current.still_active,
            new_count: current.new_count,
            total_original,
            truly_complete,
            false_yes,
            alive_original: alive.iter().map(|i| i.instance.clone()).collect(),
        });
        match t_ns.checked_add(step_ns) {
            Some(next) => t_ns = next,
            None => break,
        }
    }
    if let Some(ep) = episode {
        let last_ns = est.evaluations.last().map_or(ep.start_ns, |e| e.t_ns);
        est.false_completions
            .push(ep.close(episode_end(last_ns, true_complete_ns)));
    }
    est.delay_ms = est
        .first_true_yes_ns
        .zip(true_complete_ns)
        .map(|(yes, done)| ns_to_ms(yes - done));
    est
}

/// Where a false completion ends: at `candidate_ns` (the evaluation that ended it, or the
/// last one), or earlier when the update truly completed before.
fn episode_end(candidate_ns: i64, true_complete_ns: Option<i64>) -> i64 {
    true_complete_ns.map_or(candidate_ns, |c| candidate_ns.min(c))
}

/// The estimate of a run, from its files: `deploymentStart` is the ledger's
/// `update_accepted` (else the `update` phase's start); the lines are `traces.csv` when the
/// host kept it, else the apps' own lifecycle and heartbeat events (a command platform);
/// the truth is the ledger's instances of `spec.from_version` when the harness hosted them,
/// else what the platform's `status` command said (`update_complete`), else the apps' own
/// account of their lives. `None` when the run has no update to estimate.
pub fn of_run(
    spec: &CompletionSpec,
    ledger: &[LedgerEvent],
    traces: Option<&[LogLine]>,
) -> Option<CompletionEstimate> {
    let start_ns = ledger
        .iter()
        .find(|e| e.event == Kind::UpdateAccepted)
        .or_else(|| {
            ledger
                .iter()
                .find(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
        })?
        .t_ns;
    let end_ns = ledger.iter().map(|e| e.t_ns).max().unwrap_or(start_ns);
    let is_app = |e: &&LedgerEvent| e.event.app().is_some();
    let lines: Vec<Trace<'_>> = match traces {
        Some(lines) => lines
            .iter()
            .map(|l| Trace {
                t_ns: l.t_ns,
                instance: &l.instance,
            })
            .collect(),
        None => ledger
            .iter()
            .filter(is_app)
            .map(|e| Trace {
                t_ns: e.t_ns,
                instance: &e.instance,
            })
            .collect(),
    };
    let hosted: Vec<TrueInstance> = ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceStarted && e.version == spec.from_version)
        .map(|started| TrueInstance {
            instance: started.instance.clone(),
            started_ns: started.t_ns,
            ended_ns: ledger
                .iter()
                .find(|e| {
                    e.instance == started.instance
                        && (e.event == Kind::InstanceStopped || e.event == Kind::InstanceKilled)
                })
                .map(|e| e.t_ns),
        })
        .collect();
    let status = ledger.iter().find(|e| e.event == Kind::UpdateComplete);
    let truth = if !hosted.is_empty() {
        Truth::Instances(hosted)
    } else if let Some(done) = status {
        Truth::Status {
            complete_ns: Some(done.t_ns),
        }
    } else {
        Truth::Instances(told_lives(ledger, &spec.from_version, end_ns))
    };
    let params = EstimateParams {
        check_interval_ns: spec.check_interval_ns,
        buffer_ns: spec.buffer_ns,
    };
    Some(estimate(&lines, start_ns, end_ns, params, &truth))
}

/// The lives of the apps of `version` as their own events tell them: from the first sign to
/// the last, ended when the app said it exits or fell silent before the run's end.
fn told_lives(ledger: &[LedgerEvent], version: &str, end_ns: i64) -> Vec<TrueInstance> {
    let mut lives: BTreeMap<&str, (i64, i64, bool)> = BTreeMap::new();
    for e in ledger
        .iter()
        .filter(|e| e.event.app().is_some() && e.version == version)
    {
        let life = lives.entry(&e.instance).or_insert((e.t_ns, e.t_ns, false));
        life.0 = life.0.min(e.t_ns);
        life.1 = life.1.max(e.t_ns);
        life.2 |= e.event.app() == Some("exiting");
    }
    lives
        .into_iter()
        .filter(|(id, _)| !id.is_empty())
        .map(|(id, (first, last, exited))| TrueInstance {
            instance: id.to_owned(),
            started_ns: first,
            ended_ns: (exited || last < end_ns - SILENCE_NS).then_some(last),
        })
        .collect()
}

#[cfg(test)]
mod tests;
