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
use crate::model::ledger::{event, LedgerEvent};
use crate::model::lifecycle::{APP_PREFIX, SILENCE_NS};
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
        .find(|e| e.event == event::UPDATE_ACCEPTED)
        .or_else(|| {
            ledger
                .iter()
                .find(|e| e.event == event::PHASE_BEGUN && e.get("phase") == Some("update"))
        })?
        .t_ns;
    let end_ns = ledger.iter().map(|e| e.t_ns).max().unwrap_or(start_ns);
    let is_app = |e: &&LedgerEvent| e.event.starts_with(APP_PREFIX);
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
        .filter(|e| e.event == event::INSTANCE_STARTED && e.version == spec.from_version)
        .map(|started| TrueInstance {
            instance: started.instance.clone(),
            started_ns: started.t_ns,
            ended_ns: ledger
                .iter()
                .find(|e| {
                    e.instance == started.instance
                        && (e.event == event::INSTANCE_STOPPED || e.event == event::INSTANCE_KILLED)
                })
                .map(|e| e.t_ns),
        })
        .collect();
    let status = ledger.iter().find(|e| e.event == "update_complete");
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
        .filter(|e| e.event.starts_with(APP_PREFIX) && e.version == version)
    {
        let life = lives.entry(&e.instance).or_insert((e.t_ns, e.t_ns, false));
        life.0 = life.0.min(e.t_ns);
        life.1 = life.1.max(e.t_ns);
        life.2 |= e.event == format!("{APP_PREFIX}exiting");
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
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;
    const DS: i64 = 100 * S;

    fn params() -> EstimateParams {
        EstimateParams {
            check_interval_ns: 10 * S,
            buffer_ns: 30 * S,
        }
    }

    /// An instance's lines every second from `from_s` to `to_s`, both included.
    fn logs(instance: &str, from_s: i64, to_s: i64) -> Vec<(i64, String)> {
        (from_s..=to_s)
            .map(|s| (s * S, instance.to_owned()))
            .collect()
    }

    fn traces(lines: &[(i64, String)]) -> Vec<Trace<'_>> {
        lines
            .iter()
            .map(|(t_ns, instance)| Trace {
                t_ns: *t_ns,
                instance,
            })
            .collect()
    }

    fn life(instance: &str, started_s: i64, ended_s: Option<i64>) -> TrueInstance {
        TrueInstance {
            instance: instance.to_owned(),
            started_ns: started_s * S,
            ended_ns: ended_s.map(|e| e * S),
        }
    }

    /// What the query answers at `t_ns`: `(YES, PercentComplete, OriginalStillActiveCount,
    /// NewCount, TotalOriginal)`, by sets over the raw lines, rounding exactly in integers
    /// (no tie at one decimal exists below 16 originals, so it must agree with f64).
    fn query<'a>(
        lines: &[Trace<'a>],
        ds_ns: i64,
        t_ns: i64,
        p: EstimateParams,
    ) -> (bool, Option<f64>, u64, u64, u64) {
        let ids_between = |from: i64, to: i64| -> BTreeSet<&'a str> {
            lines
                .iter()
                .filter(|l| !l.instance.is_empty() && from <= l.t_ns && l.t_ns <= to)
                .map(|l| l.instance)
                .collect()
        };
        let original = ids_between(ds_ns - p.buffer_ns, ds_ns);
        let current = ids_between(t_ns - p.check_interval_ns, t_ns);
        let osa = current.intersection(&original).count() as u64;
        let new = current.difference(&original).count() as u64;
        let total = original.len() as u64;
        let percent =
            (total > 0).then(|| ((2000 * (total - osa) + total) / (2 * total)) as f64 / 10.0);
        (osa == 0, percent, osa, new, total)
    }

    /// Every evaluation, at the right times, says what the query says.
    fn assert_matches_query(
        lines: &[Trace<'_>],
        end_ns: i64,
        p: EstimateParams,
        est: &CompletionEstimate,
    ) {
        let ds = est.deployment_start_ns;
        let times: Vec<i64> = (0..)
            .map(|k| ds + k * p.check_interval_ns)
            .take_while(|&t| t <= end_ns)
            .collect();
        let got: Vec<i64> = est.evaluations.iter().map(|e| e.t_ns).collect();
        assert_eq!(got, times);
        for e in &est.evaluations {
            let ours = (
                e.complete,
                e.percent_complete,
                e.original_still_active,
                e.new_count,
                e.total_original,
            );
            assert_eq!(ours, query(lines, ds, e.t_ns, p), "at {} ns", e.t_ns);
        }
    }

    fn yes(est: &CompletionEstimate) -> String {
        est.evaluations
            .iter()
            .map(|e| if e.complete { 'Y' } else { 'N' })
            .collect()
    }

    fn percents(est: &CompletionEstimate) -> Vec<Option<f64>> {
        est.evaluations.iter().map(|e| e.percent_complete).collect()
    }

    /// Three originals logging every second, drained at 110, 120 and 130 s; three new ones
    /// from 105, 115 and 125 s.
    fn clean_lines() -> Vec<(i64, String)> {
        let mut lines = Vec::new();
        for (i, end_s) in [(1, 110), (2, 120), (3, 130)] {
            lines.extend(logs(&format!("old{i}"), 60, end_s - 1));
            lines.extend(logs(&format!("new{i}"), end_s - 5, 200));
        }
        // Unsorted on purpose: the estimator must not rely on order.
        lines.reverse();
        lines
    }

    /// The clean history and one more original-version instance started 5 s after
    /// deploymentStart that logs and lives past the tracked ones.
    fn gap_history() -> (Vec<(i64, String)>, Vec<TrueInstance>) {
        let mut lines = clean_lines();
        lines.extend(logs("gap", 105, 160));
        let mut lives = clean_lives();
        lives.push(life("gap", 105, Some(161)));
        (lines, lives)
    }

    fn clean_lives() -> Vec<TrueInstance> {
        vec![
            life("old1", 50, Some(110)),
            life("old2", 50, Some(120)),
            life("old3", 50, Some(130)),
        ]
    }

    #[test]
    fn a_clean_completion_says_yes_once_the_last_line_leaves_the_window() {
        let owned = clean_lines();
        let lines = traces(&owned);
        let truth = Truth::Instances(clean_lives());
        let est = estimate(&lines, DS, 200 * S, params(), &truth);
        assert_matches_query(&lines, 200 * S, params(), &est);
        // old3's last line is at 129 s: it leaves [t - 10 s, t] only at t = 140 s.
        assert_eq!(yes(&est), "NNNNYYYYYYY");
        let mut expected = vec![Some(0.0), Some(0.0), Some(33.3), Some(66.7)];
        expected.extend([Some(100.0); 7]);
        assert_eq!(percents(&est), expected);
        assert_eq!(est.evaluations[4].new_count, 3);
        assert_eq!(est.truth, TruthKind::Ledger);
        assert_eq!(est.false_yes, 0);
        assert!(est.false_completions.is_empty());
        assert_eq!(est.true_complete_ns, Some(130 * S));
        assert_eq!(est.first_yes_ns, Some(140 * S));
        assert_eq!(est.first_true_yes_ns, Some(140 * S));
        let delay = est.delay_ms.unwrap();
        assert!((0.0..=20_000.0).contains(&delay), "{delay}");
        assert_eq!(delay, 10_000.0);
        assert_eq!(est.evaluations[1].alive_original, ["old2", "old3"]);
    }

    #[test]
    fn an_original_started_in_the_gap_counts_as_new_and_gives_a_false_yes() {
        let (owned, lives) = gap_history();
        let lines = traces(&owned);
        let est = estimate(&lines, DS, 200 * S, params(), &Truth::Instances(lives));
        assert_matches_query(&lines, 200 * S, params(), &est);
        assert_eq!(yes(&est), "NNNNYYYYYYY");
        let false_yes: Vec<bool> = est.evaluations.iter().map(|e| e.false_yes).collect();
        assert_eq!(
            false_yes,
            [false, false, false, false, true, true, true, false, false, false, false]
        );
        assert_eq!(est.false_yes, 3);
        assert_eq!(est.true_complete_ns, Some(161 * S));
        assert!(est.first_yes_ns.unwrap() < est.true_complete_ns.unwrap());
        assert_eq!(est.first_yes_ns, Some(140 * S));
        assert_eq!(est.first_true_yes_ns, Some(170 * S));
        assert_eq!(est.delay_ms, Some(9_000.0));
        let [episode] = &est.false_completions[..] else {
            panic!("{:?}", est.false_completions)
        };
        assert_eq!((episode.start_ns, episode.end_ns), (140 * S, 161 * S));
        assert_eq!(episode.evaluations, 3);
        assert_eq!(episode.duration_ms(), 21_000.0);
        assert_eq!(
            episode.instances,
            [InstanceCause {
                instance: "gap".into(),
                cause: FalseYesCause::StartedInGap
            }]
        );
        assert_eq!(episode.causes(), [FalseYesCause::StartedInGap]);
    }

    #[test]
    fn a_silent_original_looks_gone_until_it_logs_again() {
        let mut owned = logs("old1", 60, 109);
        owned.extend(logs("quiet", 60, 112));
        owned.extend(logs("quiet", 135, 145));
        owned.extend(logs("new1", 105, 200));
        let lines = traces(&owned);
        let truth = Truth::Instances(vec![
            life("old1", 50, Some(110)),
            life("quiet", 50, Some(185)),
        ]);
        let est = estimate(&lines, DS, 200 * S, params(), &truth);
        assert_matches_query(&lines, 200 * S, params(), &est);
        assert_eq!(yes(&est), "NNNYNNYYYYY");
        let mut expected = vec![Some(0.0), Some(0.0), Some(50.0), Some(100.0)];
        expected.extend([Some(50.0), Some(50.0)]);
        expected.extend([Some(100.0); 5]);
        assert_eq!(percents(&est), expected);
        assert_eq!(est.false_yes, 4);
        let silent = [InstanceCause {
            instance: "quiet".into(),
            cause: FalseYesCause::Silent,
        }];
        let episodes: Vec<(i64, i64, u64, &[InstanceCause])> = est
            .false_completions
            .iter()
            .map(|f| (f.start_ns, f.end_ns, f.evaluations, &f.instances[..]))
            .collect();
        assert_eq!(
            episodes,
            [
                (130 * S, 140 * S, 1, &silent[..]),
                (160 * S, 185 * S, 3, &silent[..]),
            ]
        );
        assert_eq!(est.true_complete_ns, Some(185 * S));
        assert_eq!(est.first_yes_ns, Some(130 * S));
        assert_eq!(est.first_true_yes_ns, Some(190 * S));
        assert_eq!(est.delay_ms, Some(5_000.0));
    }

    #[test]
    fn an_empty_original_set_says_yes_at_once_and_misses_the_untracked() {
        let mut owned = logs("untracked", 50, 50);
        owned.extend(logs("untracked", 150, 155));
        owned.extend(logs("new1", 105, 200));
        let lines = traces(&owned);
        let truth = Truth::Instances(vec![life("untracked", 10, Some(170))]);
        let est = estimate(&lines, DS, 200 * S, params(), &truth);
        assert_matches_query(&lines, 200 * S, params(), &est);
        assert_eq!(yes(&est), "YYYYYYYYYYY");
        assert_eq!(percents(&est), [None; 11]);
        assert!(est.evaluations.iter().all(|e| e.total_original == 0));
        // At 150 and 160 s the untracked instance's own lines count as new.
        assert_eq!(est.evaluations[5].new_count, 2);
        assert_eq!(est.false_yes, 7);
        assert_eq!(est.first_yes_ns, Some(DS));
        let [episode] = &est.false_completions[..] else {
            panic!("{:?}", est.false_completions)
        };
        assert_eq!((episode.start_ns, episode.end_ns), (DS, 170 * S));
        assert_eq!(episode.evaluations, 7);
        assert_eq!(episode.duration_ms(), 70_000.0);
        assert_eq!(episode.causes(), [FalseYesCause::Untracked]);
        assert_eq!(est.first_true_yes_ns, Some(170 * S));
        assert_eq!(est.delay_ms, Some(0.0));
    }

    #[test]
    fn a_status_truth_gives_unknown_causes_and_a_delay() {
        let owned = clean_lines();
        let lines = traces(&owned);
        let truth = Truth::Status {
            complete_ns: Some(145 * S),
        };
        let est = estimate(&lines, DS, 200 * S, params(), &truth);
        assert_matches_query(&lines, 200 * S, params(), &est);
        assert_eq!(est.truth, TruthKind::Status);
        assert_eq!(yes(&est), "NNNNYYYYYYY");
        assert!(est.evaluations.iter().all(|e| e.alive_original.is_empty()));
        let truly: Vec<bool> = est.evaluations.iter().map(|e| e.truly_complete).collect();
        assert_eq!(
            truly,
            [false, false, false, false, false, true, true, true, true, true, true]
        );
        assert_eq!(est.false_yes, 1);
        let [episode] = &est.false_completions[..] else {
            panic!("{:?}", est.false_completions)
        };
        assert_eq!((episode.start_ns, episode.end_ns), (140 * S, 145 * S));
        assert!(episode.instances.is_empty());
        assert_eq!(episode.causes(), [FalseYesCause::Unknown]);
        assert_eq!(est.true_complete_ns, Some(145 * S));
        assert_eq!(est.first_true_yes_ns, Some(150 * S));
        assert_eq!(est.delay_ms, Some(5_000.0));

        let never = estimate(
            &lines,
            DS,
            200 * S,
            params(),
            &Truth::Status { complete_ns: None },
        );
        assert_eq!(never.false_yes, 7);
        assert_eq!(
            (
                never.true_complete_ns,
                never.first_true_yes_ns,
                never.delay_ms
            ),
            (None, None, None)
        );
        assert_eq!(never.false_completions[0].end_ns, 200 * S);
    }

    #[test]
    fn both_window_ends_are_inclusive() {
        let owned: Vec<(i64, String)> = vec![
            (70 * S, "a".into()),     // exactly deploymentStart - buffer: original
            (70 * S - 1, "b".into()), // one ns before: not
            (90 * S, String::new()),  // empty ids are ignored
            (DS + 1, "c".into()),     // after the first evaluation: not yet visible then
            (110 * S, "a".into()),    // exactly t at 110 s, exactly t - interval at 120 s
            (120 * S, "b".into()),    // exactly t - interval at 130 s
        ];
        let lines = traces(&owned);
        let est = estimate(&lines, DS, 130 * S, params(), &Truth::Instances(Vec::new()));
        assert_matches_query(&lines, 130 * S, params(), &est);
        assert_eq!(yes(&est), "YNNY");
        assert!(est.evaluations.iter().all(|e| e.total_original == 1));
        let counts: Vec<(u64, u64)> = est
            .evaluations
            .iter()
            .map(|e| (e.original_still_active, e.new_count))
            .collect();
        assert_eq!(counts, [(0, 0), (1, 1), (1, 1), (0, 1)]);
        // No original-version instance at all: truly complete from deploymentStart.
        assert_eq!(est.true_complete_ns, Some(DS));
        assert_eq!(
            (est.false_yes, est.first_true_yes_ns, est.delay_ms),
            (0, Some(DS), Some(0.0))
        );
    }

    #[test]
    fn a_zero_check_interval_gives_no_evaluations() {
        let owned = clean_lines();
        let lines = traces(&owned);
        for check_interval_ns in [0, -S] {
            let p = EstimateParams {
                check_interval_ns,
                buffer_ns: 30 * S,
            };
            let est = estimate(&lines, DS, 200 * S, p, &Truth::Instances(clean_lives()));
            assert!(est.evaluations.is_empty());
            assert_eq!((est.first_yes_ns, est.false_yes), (None, 0));
            assert_eq!(est.true_complete_ns, Some(130 * S));
        }
    }

    #[test]
    fn evaluations_stop_at_the_end_without_overflowing() {
        let est = estimate(
            &[],
            i64::MAX - 5,
            i64::MAX,
            params(),
            &Truth::Instances(Vec::new()),
        );
        assert_eq!(est.evaluations.len(), 1);
        assert!(
            estimate(&[], DS, DS - 1, params(), &Truth::Instances(Vec::new()))
                .evaluations
                .is_empty()
        );
    }

    #[test]
    fn an_estimate_round_trips_through_json() {
        let (owned, lives) = gap_history();
        let lines = traces(&owned);
        let est = estimate(&lines, DS, 200 * S, params(), &Truth::Instances(lives));
        let json = serde_json::to_string(&est).unwrap();
        assert!(json.contains("\"started_in_gap\""), "{json}");
        assert_eq!(
            serde_json::from_str::<CompletionEstimate>(&json).unwrap(),
            est
        );
    }

    proptest! {
        #[test]
        fn every_evaluation_equals_the_query(
            raw in proptest::collection::vec((0usize..7, 0i64..200), 0..80),
            lives in proptest::collection::vec((0usize..6, 0i64..200, proptest::option::of(0i64..220)), 0..5),
            ds in 20i64..80,
            buffer in 0i64..40,
            interval in 1i64..25,
            span in 0i64..120,
        ) {
            // Id 6 is the empty string, which the query drops.
            let name = |i: usize| if i == 6 { String::new() } else { format!("i{i}") };
            let owned: Vec<(i64, String)> = raw.iter().map(|&(i, t)| (t, name(i))).collect();
            let lines = traces(&owned);
            let truth = Truth::Instances(
                lives
                    .iter()
                    .map(|&(i, started_ns, ended)| TrueInstance {
                        instance: name(i),
                        started_ns,
                        ended_ns: ended.map(|e| started_ns + e),
                    })
                    .collect(),
            );
            let p = EstimateParams { check_interval_ns: interval, buffer_ns: buffer };
            let est = estimate(&lines, ds, ds + span, p, &truth);
            assert_matches_query(&lines, ds + span, p, &est);
            let mut false_yes = 0;
            for e in &est.evaluations {
                prop_assert_eq!(e.truly_complete, truth.complete_at(e.t_ns));
                prop_assert_eq!(e.false_yes, e.complete && !e.truly_complete);
                false_yes += u64::from(e.false_yes);
            }
            prop_assert_eq!(est.false_yes, false_yes);
            let in_episodes: u64 = est.false_completions.iter().map(|f| f.evaluations).sum();
            prop_assert_eq!(in_episodes, false_yes);
            for f in &est.false_completions {
                prop_assert!(f.start_ns <= f.end_ns);
                prop_assert!(!f.instances.is_empty());
            }
        }
    }
}
