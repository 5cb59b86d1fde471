//! Bad releases and rollbacks as whole runs at a small time scale: each strategy's reaction to
//! a version that never becomes ready, a release that fails a share of its runs, and the
//! manual and analysis-gated rollbacks, each asserted from what the ledger recorded.
//!
//! They run on the virtual-time platform: the logic under test is the strategies', the
//! rollback's and the bad release's, none of it a process's; `tests/it/sim.rs` holds the sim
//! to the emulator on every scenario of `scenarios/releases/`.

use reports::ledger::Kind;
use std::path::Path;

use harness::scenario::Scenario;
use reports::{LedgerEvent, RunDir, Summary};

use crate::common::{for_busy_machine, plan, run_valid_on_sim, surviving_pids};

const SCALE: f64 = 0.1;

struct Run {
    summary: Summary,
    ledger: Vec<LedgerEvent>,
    _dir: tempfile::TempDir,
}

impl Run {
    /// Whether every app probe meant to be sent from `from_ns` on failed: the service was
    /// down from then to the run's end, as the probes themselves say.
    fn down_from(&self, from_ns: i64) -> (usize, usize) {
        let probes = RunDir::new(self._dir.path().join("run"))
            .read_probes()
            .unwrap();
        let after: Vec<_> = probes
            .iter()
            .filter(|p| !p.is_control() && p.intended_ns >= from_ns)
            .collect();
        (after.iter().filter(|p| !p.ok).count(), after.len())
    }

    /// When the last instance of `version` was killed or stopped.
    fn last_gone(&self, version: &str) -> i64 {
        self.ledger
            .iter()
            .filter(|e| {
                e.version == version
                    && matches!(e.event, Kind::InstanceKilled | Kind::InstanceStopped)
            })
            .map(|e| e.t_ns)
            .max()
            .expect("an instance of the version went")
    }

    fn at(&self, kind: Kind) -> Vec<&LedgerEvent> {
        self.ledger.iter().filter(|e| e.event == kind).collect()
    }

    fn started(&self, version: &str) -> Vec<&LedgerEvent> {
        self.at(Kind::InstanceStarted)
            .into_iter()
            .filter(|e| e.version == version)
            .collect()
    }

    fn ready(&self, version: &str) -> usize {
        self.at(Kind::InstanceReady)
            .into_iter()
            .filter(|e| e.version == version)
            .count()
    }

    fn aborted(&self) -> Option<&str> {
        self.at(Kind::UpdateAborted)
            .first()
            .and_then(|e| e.get("reason"))
    }
}

async fn run(name: &str, edit: impl Fn(String) -> String) -> Run {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/releases")
        .join(format!("{name}.toml"));
    let text = edit(std::fs::read_to_string(&path).unwrap());
    let mut scenario = Scenario::parse(&path, &text).unwrap();
    for_busy_machine(&mut scenario);
    let dir = tempfile::tempdir().unwrap();
    let summary = run_valid_on_sim(plan(scenario, &dir.path().join("run"), SCALE)).await;
    let ledger = RunDir::new(dir.path().join("run")).read_ledger().unwrap();
    assert!(
        surviving_pids(&ledger).is_empty(),
        "no instance outlives the run"
    );
    Run {
        summary,
        ledger,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_to_a_version_that_never_becomes_ready_is_cancelled_and_production_untouched() {
    let r = run("seed-swap-never-ready", |t| t).await;
    assert_eq!(r.aborted(), Some("start_failed"));
    assert_eq!(r.ready("B"), 0, "B never became ready");
    assert!(!r.started("B").is_empty(), "B was tried in staging");
    assert!(
        r.started("B").iter().all(|e| e.slot == "staging"),
        "only in staging"
    );
    assert!(
        r.at(Kind::PhaseBegun)
            .iter()
            .all(|e| e.get("phase") != Some("swap")),
        "never swapped"
    );
    let v = &r.summary.verdict;
    assert_eq!(
        v.lost, 0,
        "A went on running every occurrence: {:?}",
        v.lost_items
    );
    assert_eq!(v.downtime.windows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreate_to_a_version_that_never_becomes_ready_is_down_and_keeps_retrying() {
    let r = run("seed-recreate-never-ready", |t| t).await;
    assert_eq!(r.ready("B"), 0);
    assert!(
        r.started("B").len() >= 2,
        "the platform tried B again: {}",
        r.started("B").len()
    );
    assert!(!r.at(Kind::StartFailed).is_empty());
    assert_eq!(
        r.aborted(),
        Some("start_failed"),
        "it gave up at the run's end"
    );
    let v = &r.summary.verdict;
    // Down from A's kill to the end: every probe meant for half a second after it on (its
    // timeout is 100 ms at this scale) failed, and there were such probes.
    let (failed, sent) = r.down_from(r.last_gone("A") + 500_000_000);
    assert!(
        sent > 100 && failed == sent,
        "{failed} of {sent} probes failed after A went"
    );
    assert_eq!(
        v.downtime.windows, 1,
        "one window, never closed: {:?}",
        v.downtime
    );
    assert!(
        v.causes.lost.never_invoked > 0,
        "occurrences with no instance are lost, never invoked: {:?}",
        v.causes.lost
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_halts_on_a_replacement_that_never_becomes_ready_unless_told_to_continue()
{
    // A drain interval longer than the ready timeout, so each replacement's fate is known
    // before the next batch.
    let longer = |t: String| t.replace("drain_interval = \"10s\"", "drain_interval = \"50s\"");
    let halt = run("seed-rolling-never-ready", longer).await;
    assert_eq!(halt.aborted(), Some("halted_unready"));
    assert_eq!(
        halt.at(Kind::InstanceDraining).len(),
        1,
        "one batch drained, then halted"
    );
    assert_eq!(
        halt.summary.verdict.downtime.windows, 0,
        "two A instances kept serving"
    );
    let carry_on = run("seed-rolling-never-ready", |t| {
        longer(t).replace("on_unready = \"halt\"", "on_unready = \"continue\"")
    })
    .await;
    assert_eq!(carry_on.aborted(), None);
    assert_eq!(
        carry_on.at(Kind::InstanceDraining).len(),
        3,
        "every A instance drained anyway"
    );
    assert_eq!(carry_on.ready("B"), 0);
    // Nothing serves once the last A is gone: every probe from then on failed.
    let (failed, sent) = carry_on.down_from(carry_on.last_gone("A") + 500_000_000);
    assert!(
        sent > 100 && failed == sent,
        "{failed} of {sent} probes failed after the last A"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_to_a_version_that_never_starts_keeps_the_old_version_serving() {
    let r = run("seed-drain-never-ready", |t| {
        t.replace("start = \"unready\"", "start = \"exit\"")
    })
    .await;
    assert_eq!(r.aborted(), Some("start_failed"));
    assert_eq!(r.ready("B"), 0, "B exited at start");
    let a_ended = r.ledger.iter().any(|e| {
        e.version == "A"
            && matches!(e.event, Kind::InstanceKilled | Kind::InstanceStopped)
            && e.t_ns < r.at(Kind::RunEnded)[0].t_ns
    });
    assert!(!a_ended, "A was never stopped during the run");
    let modes = r.at(Kind::of_app("mode"));
    assert!(
        modes
            .iter()
            .any(|e| e.detail.to_string().contains("Normal")),
        "A was set back to Normal: {modes:?}"
    );
    let v = &r.summary.verdict;
    assert_eq!(v.downtime.windows, 0);
    // After the abort A runs every later occurrence itself.
    let abort_ns = r.at(Kind::UpdateAborted)[0].t_ns;
    let later = r
        .at(Kind::InvocationOk)
        .into_iter()
        .filter(|e| e.t_ns > abort_ns && e.version == "A")
        .count();
    assert!(later >= 2, "A ran on after the abort: {later}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_fails_a_share_of_its_runs_loses_exactly_those_runs() {
    let r = run("seed-recreate-fails-30pct", |t| {
        t.replace("fail_rate = 0.3", "fail_rate = 0.5")
    })
    .await;
    let failed: Vec<&LedgerEvent> = r
        .at(Kind::InvocationFailed)
        .into_iter()
        .filter(|e| e.get("reason") == Some("bad_release"))
        .collect();
    assert!(!failed.is_empty(), "half of B's runs fail");
    assert!(failed.iter().all(|e| e.version == "B"), "only B fails");
    // The occurrences those runs were of, from their invocation_begun.
    let failed_m: Vec<u64> = failed
        .iter()
        .filter_map(|f| {
            r.at(Kind::InvocationBegun)
                .into_iter()
                .find(|b| b.get("inv") == f.get("inv"))
                .and_then(|b| b.get_u64("m"))
        })
        .collect();
    assert_eq!(failed_m.len(), failed.len());
    let v = &r.summary.verdict;
    assert!(v.causes.lost.failed > 0, "{:?}", v.causes.lost);
    // One way: every item lost to a failure belongs to a run the ledger says failed.
    for item in v
        .lost_items
        .iter()
        .filter(|i| i.cause.as_deref() == Some("failed"))
    {
        assert!(
            failed_m.contains(&item.m),
            "{item:?} belongs to a failed run"
        );
    }
    // The other: every item of every failed run inside the measured window was lost to it
    // (a run that fails at once sends nothing), no more and no fewer.
    let spec = RunDir::new(r._dir.path().join("run"))
        .read_expected()
        .unwrap();
    let tick = &spec.sources[0];
    let in_window = failed_m
        .iter()
        .filter(|m| (tick.first..=tick.last).contains(*m))
        .count() as u64;
    assert!(
        in_window > 0,
        "failed runs fell in the window: {failed_m:?}"
    );
    assert_eq!(
        v.causes.lost.failed,
        in_window * tick.items,
        "{in_window} failed runs of {} items: {:?}",
        tick.items,
        v.causes.lost
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_analysis_window_rolls_back_exactly_once() {
    // Every run of B fails, so the first window with three ended runs fails.
    let r = run("seed-recreate-rollback", |t| {
        t.replace("fail_rate = 0.3", "fail_rate = 1.0")
    })
    .await;
    assert_eq!(
        r.at(Kind::AnalysisFailed).len(),
        1,
        "one failing window decides"
    );
    assert_eq!(r.at(Kind::RollbackTriggered).len(), 1, "one rollback");
    assert_eq!(r.at(Kind::RollbackTriggered)[0].get("by"), Some("analysis"));
    let failed_at = r.at(Kind::AnalysisFailed)[0].t_ns;
    let evaluations = r.at(Kind::AnalysisEvaluated);
    assert!(
        evaluations.iter().all(|e| e.t_ns <= failed_at),
        "no evaluation after the decision"
    );
    assert!(evaluations.len() >= 2);
    // Before the deciding one, each window either passed or had too few samples.
    let (last, before) = evaluations.split_last().unwrap();
    assert_eq!(last.get("ok"), Some("false"), "the last evaluation decided");
    assert!(before.iter().all(|e| e.get("ok") == Some("true")));
    // A came back: started after the rollback began, and ran occurrences again.
    let rollback_begun = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("rollback"))
        .expect("the rollback phase")
        .t_ns;
    assert!(
        r.started("A").iter().any(|e| e.t_ns > rollback_begun),
        "A started again"
    );
    assert!(
        r.at(Kind::InvocationOk)
            .into_iter()
            .any(|e| e.version == "A" && e.t_ns > rollback_begun),
        "A ran again"
    );
    let rb = r
        .summary
        .verdict
        .rollback
        .as_ref()
        .expect("the verdict has the rollback");
    assert_eq!(rb.by, "analysis");
    assert!(rb.first_failure_ns.unwrap() <= rb.detected_ns);
    // From the trigger to the rollback's end, as the ledger stamped both.
    let triggered = r.at(Kind::RollbackTriggered)[0].t_ns;
    let rolled_back = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::PhaseEnded && e.get("phase") == Some("rollback"))
        .map(|e| e.t_ns)
        .max()
        .expect("the rollback ended");
    assert!(rolled_back > triggered);
    assert_eq!(
        rb.time_to_roll_back_ms,
        Some((rolled_back - triggered) as f64 / 1e6)
    );
    assert!(rb
        .failed
        .as_deref()
        .unwrap()
        .contains("invocations.failed_rate"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_rollback_swaps_back_while_the_old_version_is_still_in_staging() {
    // Roll back 2 s after the update began: A waits 5 s in staging before it is recycled.
    let r = run("seed-swap-fails-30pct", |t| {
        t.replace(
            "update_at = \"60.5s\"",
            "update_at = \"60.5s\"\nrollback_at = \"63.5s\"",
        )
    })
    .await;
    let trigger = r.at(Kind::RollbackTriggered)[0];
    assert_eq!(trigger.get("by"), Some("manual"));
    // At run.rollback_at: 3 s of scenario time after the update began, 300 ms at 0.1 (on the
    // sim's clock, to the millisecond).
    let update_begun = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
        .expect("the update began")
        .t_ns;
    let after_ms = (trigger.t_ns - update_begun) as f64 / 1e6;
    assert!(
        (after_ms - 300.0).abs() <= 1.0,
        "rolled back {after_ms} ms after the update began"
    );
    let swaps = r
        .at(Kind::PhaseBegun)
        .into_iter()
        .filter(|e| e.get("phase") == Some("swap"))
        .count();
    assert_eq!(swaps, 2, "swapped in, then back");
    assert_eq!(
        r.started("A").len(),
        1,
        "the same A instance came back: none started"
    );
    assert!(
        r.at(Kind::InstanceKilled).iter().any(|e| e.version == "B"),
        "B was recycled after the swap back"
    );
    assert_eq!(
        r.summary.verdict.downtime.windows, 0,
        "a swap back is seamless"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_fails_http_requests_or_crashes_shows_in_the_probes_and_the_ledger() {
    // Half of B's answers to /api/ping are 500s, only once B serves.
    let http = run("seed-rolling-fails-30pct", |t| {
        t.replace("fail_rate = 0.3", "http_fail_rate = 0.5")
    })
    .await;
    let d = &http.summary.verdict.downtime;
    assert!(
        d.failed_by.get("http_500").copied().unwrap_or(0) > 0,
        "B's 500s are failed probes: {:?}",
        d.failed_by
    );
    let first_b_ready = http
        .at(Kind::InstanceReady)
        .into_iter()
        .filter(|e| e.version == "B")
        .map(|e| e.t_ns)
        .min()
        .expect("B became ready");
    let first_failed = d.intervals.first().expect("a window").start_ns;
    assert!(first_failed >= first_b_ready, "A never answered 500");

    // B exits by itself 5 s (scaled) after it begins to serve; nothing restarts it.
    let crash = run("seed-recreate-fails-30pct", |t| {
        t.replace("fail_rate = 0.3", "crash_after = \"5s\"")
    })
    .await;
    let b_ended = crash
        .at(Kind::InstanceStopped)
        .into_iter()
        .find(|e| e.version == "B")
        .expect("B exited by itself, not killed by the host");
    assert_eq!(b_ended.get("code"), Some("1"), "{b_ended:?}");
    let run_ended = crash.at(Kind::RunEnded)[0].t_ns;
    assert!(b_ended.t_ns < run_ended, "during the run");
    let v = &crash.summary.verdict;
    let b_ready = crash
        .at(Kind::InstanceReady)
        .into_iter()
        .find(|e| e.version == "B")
        .expect("B served before it crashed")
        .t_ns;
    // A window after B served that lasts past its exit (the front door notices the dead
    // process before the host has reaped it).
    assert!(
        v.downtime
            .intervals
            .iter()
            .any(|w| w.start_ns > b_ready && w.end_ns >= b_ended.t_ns),
        "down once B crashed: {:?}",
        v.downtime.intervals
    );
    assert!(
        v.causes.lost.never_invoked > 0,
        "nothing ran the later occurrences"
    );
}
