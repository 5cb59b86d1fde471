//! Rolling, graceful, drain and the queue pipeline, as whole runs at small time scales.
//! Every run's verdict is also checked against its ledger: each lost item must belong to a
//! run the ledger shows killed, cancelled or never invoked, or to a poisoned message.
//!
//! The strategies' logic runs on the virtual-time platform (`run`), where it needs no
//! process and no machine time; `tests/it/sim.rs` holds the sim to the emulator on every
//! committed scenario. What is about processes (signals, a process's own exit) runs on
//! real processes (`run_processes`), and the in-process launcher has its own.

use reports::ledger::Kind;
use std::collections::BTreeSet;
use std::path::Path;

use harness::scenario::Scenario;
use reports::{LedgerEvent, RunDir, Summary, Verdict};

use crate::common::{for_busy_machine, plan, run_valid, surviving_pids};

const SCALE: f64 = 0.05;

fn load(name: &str, edit: impl Fn(String) -> String) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    let text = edit(std::fs::read_to_string(&path).unwrap());
    let mut scenario = Scenario::parse(&path, &text).unwrap();
    for_busy_machine(&mut scenario);
    scenario
}

struct Run {
    summary: Summary,
    ledger: Vec<LedgerEvent>,
    _dir: tempfile::TempDir,
}

impl Run {
    fn verdict(&self) -> &Verdict {
        &self.summary.verdict
    }
}

/// The run on the virtual-time platform.
async fn run(mut scenario: Scenario) -> Run {
    scenario.platform.kind = harness::platform::PlatformKind::Sim;
    run_on(scenario, Some(harness::app::AppProgram::in_process())).await
}

/// The run on real processes.
async fn run_processes(scenario: Scenario) -> Run {
    run_on(scenario, None).await
}

/// The same run with every instance on a thread of this process
/// (`platform::launcher::InProcessLauncher`): no process start-up, the same protocol.
async fn run_in_process(scenario: Scenario) -> Run {
    run_on(scenario, Some(harness::app::AppProgram::in_process())).await
}

async fn run_on(scenario: Scenario, program: Option<harness::app::AppProgram>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(scenario, &dir.path().join("run"), SCALE);
    if let Some(p) = program {
        plan.program = p;
    }
    let summary = if harness::runner::is_virtual(&plan) {
        crate::common::run_valid_on_sim(plan).await
    } else {
        run_valid(plan).await
    };
    let ledger = RunDir::new(dir.path().join("run")).read_ledger().unwrap();
    assert!(
        surviving_pids(&ledger).is_empty(),
        "no instance outlives the run"
    );
    assert_verdict_agrees_with_ledger(&summary.verdict, &ledger);
    Run {
        summary,
        ledger,
        _dir: dir,
    }
}

/// Each lost item's cause is borne out by the ledger.
fn assert_verdict_agrees_with_ledger(v: &Verdict, ledger: &[LedgerEvent]) {
    let begun = |source: &str, m: u64, n: u64| -> Vec<&LedgerEvent> {
        ledger
            .iter()
            .filter(|e| {
                e.event == Kind::InvocationBegun
                    && e.get("source") == Some(source)
                    && e.get_u64("m") == Some(m)
                    && e.get_u64("n").is_none_or(|own| own == n)
            })
            .collect()
    };
    let ended_killed = |inv: &str, instance: &str, from_ns: i64| {
        ledger.iter().any(|e| {
            (e.event == Kind::InvocationKilled && e.get("inv") == Some(inv))
                || (matches!(e.event, Kind::InstanceKilled | Kind::InstanceStopped)
                    && e.instance == instance
                    && e.t_ns >= from_ns)
        })
    };
    assert_eq!(v.lost_items.len() as u64, v.lost.min(v.listed_limit as u64));
    for item in &v.lost_items {
        let runs = begun(&item.source, item.m, item.n);
        match item.cause.as_deref() {
            Some("never_invoked") => assert!(runs.is_empty(), "{item:?} was invoked"),
            Some("killed_before_send") => assert!(
                runs.iter()
                    .any(|r| ended_killed(r.get("inv").unwrap(), &r.instance, r.t_ns)),
                "{item:?}: no killed run in the ledger"
            ),
            Some("in_flight") => assert!(
                ledger.iter().any(|e| e.event == Kind::ItemSent
                    && e.get("source") == Some(item.source.as_str())
                    && e.get_u64("m") == Some(item.m)
                    && e.get_u64("n") == Some(item.n)),
                "{item:?}: never reported sent"
            ),
            Some("poisoned") => assert!(ledger.iter().any(|e| e.event == Kind::MessagePoisoned
                && e.get_u64("m") == Some(item.m)
                && e.get_u64("n") == Some(item.n))),
            Some("failed") => assert!(
                runs.iter().any(|r| ledger
                    .iter()
                    .any(|e| e.event == Kind::InvocationFailed && e.get("inv") == r.get("inv"))),
                "{item:?}: no failed run in the ledger"
            ),
            other => panic!("{item:?}: unexpected cause {other:?}; its runs: {runs:#?}"),
        }
    }
}

fn alive_at_end(ledger: &[LedgerEvent]) -> Vec<String> {
    let end = ledger
        .iter()
        .find(|e| e.event == Kind::RunEnded)
        .expect("run_ended");
    end.get("alive")
        .unwrap_or("")
        .split('+')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_loses_nothing_and_duplicates_nothing() {
    assert_a_clean_drain(&run(load("seed-drain.toml", |t| t)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_in_process_behaves_as_with_processes() {
    let r = run_in_process(load("seed-drain.toml", |t| t)).await;
    assert!(r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceStarted)
        .all(|e| e.get_u64("pid") == Some(0)));
    assert_a_clean_drain(&r);
}

/// What a drain of the seed workload must show: nothing lost or duplicated, no failed
/// probe, a run handed over through the stash, only B left.
fn assert_a_clean_drain(r: &Run) {
    let v = r.verdict();
    assert_eq!((v.lost, v.duplicated, v.unexpected), (0, 0, 0), "{v:#?}");
    assert_eq!(v.delivered, v.expected);
    // B serves before A leaves routing, and A finishes its requests before it stops.
    assert_eq!(v.downtime.failed_probes, 0, "{:?}", v.downtime.failed_by);
    let handed_over: u64 = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::InvocationOk)
        .filter_map(|e| e.get_u64("stashed"))
        .sum();
    assert!(
        handed_over > 0,
        "PreparingForStop stashed the rest of a run"
    );
    assert!(alive_at_end(&r.ledger)
        .iter()
        .all(|id| id.starts_with("b-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_three_instances_has_no_downtime_and_loses_nothing() {
    let r = run(load("seed-rolling.toml", |t| t)).await;
    let v = r.verdict();
    assert_eq!(v.downtime.windows, 0, "{:?}", v.downtime.intervals);
    assert!(v.downtime.probes > 0);
    let failures: Vec<&LedgerEvent> = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::InvocationFailed)
        .collect();
    assert_eq!(
        v.lost, 0,
        "drained instances finish their runs: {:?}, failures: {failures:?}",
        v.lost_items
    );
    let batches = r
        .ledger
        .iter()
        .filter(|e| {
            e.event == Kind::PhaseBegun
                && e.get("phase").is_some_and(|p| p.starts_with("drain_batch"))
        })
        .count();
    assert_eq!(batches, 3);
    let ends: Vec<i64> = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::PhaseEnded && e.get("phase") == Some("update"))
        .map(|e| e.t_ns)
        .collect();
    assert_eq!(ends.len(), 1, "the ledger says when the update completed");
    let last_old_gone = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceKilled && e.version == "A")
        .map(|e| e.t_ns)
        .max()
        .unwrap();
    assert!(ends[0] >= last_old_gone);
    assert_eq!(alive_at_end(&r.ledger).len(), 3);
    assert!(alive_at_end(&r.ledger)
        .iter()
        .all(|id| id.starts_with("b-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_a_single_instance_shows_a_downtime_window() {
    let r = run(load("seed-rolling-single.toml", |t| t)).await;
    let v = r.verdict();
    assert!(
        v.downtime.windows >= 1,
        "the only instance drained before B was ready"
    );
    let drained = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceDraining && e.version == "A")
        .unwrap()
        .t_ns;
    let ready = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceReady && e.version == "B")
        .unwrap()
        .t_ns;
    // The window over the cold start: from the drain (no instance left to route to) to B's
    // readiness. Other windows may come from a busy machine's stalls.
    assert!(
        v.downtime
            .intervals
            .iter()
            .any(|w| w.start_ns <= ready && w.end_ns >= drained),
        "{:?} vs drained {drained}, ready {ready}",
        v.downtime.intervals
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_update_ends_with_only_the_newest_version() {
    let scenario = load("seed-rolling.toml", |t| {
        t.replace(
            "drain_interval = \"10s\"",
            "drain_interval = \"10s\"\nthen_update_to = \"C\"\nthen_update_at = \"60s\"",
        )
    });
    let r = run(scenario).await;
    let alive = alive_at_end(&r.ledger);
    assert_eq!(alive.len(), 3, "{alive:?}");
    assert!(alive.iter().all(|id| id.starts_with("c-")), "{alive:?}");
    let updates = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
        .count();
    assert_eq!(updates, 2);
}

/// The occurrence whose run the graceful stop cancelled, and how many items it stashed.
fn cancelled_run(ledger: &[LedgerEvent]) -> (u64, u64) {
    let killed = ledger
        .iter()
        .find(|e| {
            e.event == Kind::InvocationKilled
                && e.get("reason").is_some_and(|r| r.starts_with("cancelled"))
        })
        .expect("the SIGTERM cancelled a run");
    let stashed = killed
        .get("reason")
        .and_then(|r| r.rsplit('_').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let inv = killed.get("inv").unwrap();
    let m = ledger
        .iter()
        .find(|e| e.event == Kind::InvocationBegun && e.get("inv") == Some(inv))
        .and_then(|e| e.get_u64("m"))
        .unwrap();
    (m, stashed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_with_an_abandoning_token_loses_the_rest_of_the_run() {
    let r = run(load("seed-graceful.toml", |t| t)).await;
    let v = r.verdict();
    let (m, stashed) = cancelled_run(&r.ledger);
    assert_eq!(stashed, 0);
    assert!(v.lost > 0);
    assert!(
        v.lost_items.iter().all(|i| i.m == m),
        "only the cancelled run lost items"
    );
    // The item in hand when the token fired may have been sent (in flight), the rest not.
    let lost = &v.causes.lost;
    assert_eq!(lost.killed_before_send + lost.in_flight, v.lost);
    assert!(lost.in_flight <= 1, "{lost:?}");
    let stopping = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceStopping)
        .unwrap();
    let grace_ms = stopping.get_u64("grace_ms").unwrap();
    assert!(
        (50..=250).contains(&grace_ms),
        "jittered within [0.2, 1] x 250 ms: {grace_ms}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_with_a_stashing_token_delivers_the_rest_late() {
    assert_stashed_and_late(&run(load("seed-graceful-stash.toml", |t| t)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_in_process_cancels_by_token_and_kills_by_dropping_the_runtime() {
    // SIGTERM fires the in-process function's token; the stash hands the run to B.
    assert_stashed_and_late(&run_in_process(load("seed-graceful-stash.toml", |t| t)).await);
    // A recreate kills mid-run: the in-process instance's tasks all stop at once, so the
    // rest of its run is lost, as with a SIGKILLed process.
    let r = run_in_process(load("seed-recreate.toml", |t| t)).await;
    let v = r.verdict();
    assert!(v.lost > 0, "the killed run's tail is lost");
    let lost = &v.causes.lost;
    assert_eq!(lost.killed_before_send + lost.in_flight, v.lost, "{lost:?}");
    assert!(r
        .ledger
        .iter()
        .any(|e| e.event == Kind::InstanceKilled && e.version == "A"));
}

fn assert_stashed_and_late(r: &Run) {
    let v = r.verdict();
    let (m, stashed) = cancelled_run(&r.ledger);
    assert!(stashed > 0, "the token stashed the unsent items");
    assert_eq!(v.lost, 0, "{:?}", v.lost_items);
    assert_eq!(v.duplicated, 0);
    assert!(v.late >= 1, "B replayed the stash after a slow start");
    // Late: B's replay of the stash, and only what a busy machine's loop sent late itself
    // (on real time; on the sim, nothing).
    let arrivals = RunDir::new(r._dir.path().join("run"))
        .read_arrivals()
        .unwrap();
    assert!(
        v.late_items
            .iter()
            .all(|i| (i.m == m && i.version.as_deref() == Some("B"))
                || crate::common::sent_late(&arrivals, i, v.late_after_ms)),
        "{:?}",
        v.late_items
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_redelivers_killed_messages_and_poisons_a_failing_one() {
    let r = run(load("queue-recreate.toml", |t| t)).await;
    let v = r.verdict();
    let poisoned: BTreeSet<(u64, u64)> = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::MessagePoisoned)
        .map(|e| (e.get_u64("m").unwrap(), e.get_u64("n").unwrap()))
        .collect();
    assert!(!poisoned.is_empty());
    assert!(
        poisoned.iter().all(|&(_, n)| n == 7),
        "only the always-failing message"
    );
    assert!(r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::MessagePoisoned)
        .all(|e| e.get_u64("dequeue") == Some(5)));
    assert_eq!(
        v.lost,
        poisoned.len() as u64,
        "nothing but poisoned messages is lost"
    );
    assert_eq!(v.causes.lost.poisoned, v.lost);
    // Messages whose invocation was killed were delivered again.
    let redelivered: BTreeSet<(u64, u64)> = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::InvocationBegun && e.get_u64("dequeue").is_some_and(|d| d > 1))
        .filter(|e| e.get_u64("n") != Some(7))
        .map(|e| (e.get_u64("m").unwrap(), e.get_u64("n").unwrap()))
        .collect();
    assert!(
        !redelivered.is_empty(),
        "the kill caught messages in processing"
    );
    let late_or_dup: BTreeSet<(u64, u64)> = v
        .late_items
        .iter()
        .chain(&v.duplicated_items)
        .map(|i| (i.m, i.n))
        .collect();
    for key in &redelivered {
        assert!(
            late_or_dup.contains(key),
            "{key:?} redelivered: late or duplicated"
        );
    }
    assert_eq!(v.causes.duplicated.queue_redelivery, v.duplicated);
}

/// Runs a scenario that must end invalid, and returns its summary and ledger.
async fn run_invalid(scenario: Scenario) -> (Summary, Vec<LedgerEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = crate::common::run(plan(scenario, &out, SCALE)).await;
    assert!(!outcome.is_valid(), "the run must be invalid");
    let ledger = RunDir::new(&out).read_ledger().unwrap();
    assert!(
        surviving_pids(&ledger).is_empty(),
        "no instance outlives it"
    );
    (outcome.summary, ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_past_its_timeout_fails_the_run_at_once() {
    // Each run processes 2 items of 8 s each: at the update (62.5 s) the run begun at 60 s
    // has 5.5 s of its item left, far past the 1 s the drain may take.
    let scenario = load("seed-drain.toml", |t| {
        t.replace("items = 10", "items = 2\nprocessing = \"8s\"")
            .replace("item_delay = \"1s\"", "item_delay = \"0s\"")
            .replace("late_after = \"2s\"", "late_after = \"20s\"")
            .replace("update_at = \"65s\"", "update_at = \"62.5s\"")
            .replace("timeout = \"60s\"", "timeout = \"1s\"")
    });
    let duration = scenario.run.duration.scaled(SCALE);
    let (summary, ledger) = run_invalid(scenario).await;
    assert_eq!(summary.run.failed_phase.as_deref(), Some("update"));
    assert!(
        summary
            .invalid
            .iter()
            .any(|w| w.contains("did not reach SafeToStop within")),
        "{:?}",
        summary.invalid
    );
    // It failed when the drain timed out, not after the run's whole duration.
    let begun = ledger
        .iter()
        .find(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
        .unwrap()
        .t_ns;
    let ended = ledger
        .iter()
        .find(|e| e.event == Kind::RunEnded)
        .unwrap()
        .t_ns;
    let first = ledger.first().unwrap().t_ns;
    assert!(
        ended - first < duration.as_nanos() as i64,
        "the run ended {} ms after it began, before its {duration:?}",
        (ended - first) / 1_000_000
    );
    assert!(ended > begun);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_with_term_signals_first_and_waits_its_grace() {
    let scenario = load("seed-recreate.toml", |t| {
        t.replace("stop = \"kill\"", "stop = \"term\"")
            // 500 ms of real time: room for a busy machine to deliver the signal and reap
            // the process, so that an exit past it is the app's, not the machine's.
            .replace("stop_grace = \"5s\"", "stop_grace = \"10s\"")
    });
    let r = run_processes(scenario).await;
    let stopping: Vec<&LedgerEvent> = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceStopping)
        .collect();
    assert_eq!(stopping.len(), 1, "A's one instance got SIGTERM");
    assert_eq!(stopping[0].version, "A");
    assert_eq!(stopping[0].get_u64("grace_ms"), Some(500), "10 s x 0.05");
    // testfn honours SIGTERM (its token abandons the run), so it exits by itself, within
    // its grace, before B starts.
    let exit = r
        .ledger
        .iter()
        .find(|e| {
            e.instance == stopping[0].instance
                && (e.event == Kind::InstanceStopped || e.event == Kind::InstanceKilled)
        })
        .unwrap();
    // Stopped, not killed: the host kills what is still running when the grace ends, and
    // says so (`instance_killed`). How soon after the SIGTERM the exit was seen is the
    // machine's business, not the strategy's.
    assert_eq!(exit.event, Kind::InstanceStopped, "{exit:?}");
    assert_eq!(exit.get("code"), Some("0"), "it exited by itself: {exit:?}");
    let b_started = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceStarted && e.version == "B")
        .unwrap();
    assert!(b_started.t_ns >= exit.t_ns, "B starts once A is gone");
    let v = r.verdict();
    assert!(v.lost > 0, "the cancelled run's tail is lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_item_sends_the_item_in_hand_and_nothing_after() {
    // SIGTERM at 62.5 s lands in the middle of item 2's processing (62.0 s to 62.9 s) of the
    // run begun at 60 s, 20 ms of scaled time from either edge.
    let scenario = load("seed-graceful.toml", |t| {
        t.replace("on_cancel = \"abandon\"", "on_cancel = \"finish-item\"")
            .replace(
                "item_delay = \"1s\"",
                "item_delay = \"1s\"\nprocessing = \"900ms\"",
            )
            .replace("grace_jitter = 0.8", "grace_jitter = 0.0")
    });
    let delay_ns = scenario.workload.item_delay.scaled(SCALE).as_nanos() as i64;
    let r = run(scenario).await;
    let (m, _) = cancelled_run(&r.ledger);
    // When the loop began and when its token fired, by the app's own clock (its events):
    // the host's stamps would add the invocation's and the signal's delivery, which a busy
    // machine stretches past the 20 ms from either edge.
    let events = RunDir::new(r._dir.path().join("run"))
        .read_app_events()
        .unwrap();
    let instance = &r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceStopping)
        .unwrap()
        .instance;
    let app = |name: &str, m: Option<u64>| {
        events
            .iter()
            .find(|e| {
                e.event.app() == Some(name)
                    && &e.instance == instance
                    && (m.is_none() || e.get_u64("m") == m)
            })
            .unwrap_or_else(|| panic!("{instance} said {name}: {events:#?}"))
            .t_ns
    };
    let (begun, term) = (app("run_begun", Some(m)), app("cancelled", None));
    // The item in hand: the last one due when the token fired.
    let in_hand = ((term - begun) / delay_ns) as u64;
    let arrivals = RunDir::new(r._dir.path().join("run"))
        .read_arrivals()
        .unwrap();
    let delivered: BTreeSet<u64> = arrivals.iter().filter(|a| a.m == m).map(|a| a.n).collect();
    assert_eq!(
        delivered,
        (0..=in_hand).collect::<BTreeSet<u64>>(),
        "SIGTERM {} ms into the run: items up to the one in hand arrive, none after",
        (term - begun) / 1_000_000
    );
    let v = r.verdict();
    assert!(v.lost_items.iter().all(|i| i.m == m && i.n > in_hand));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_kills_a_drained_instance_after_its_scale_in_grace() {
    // The drain at 55 s catches the run begun at 50 s with 4 s of loop left; it may go on
    // for 1 s, then the instance is killed.
    let scenario = load("seed-rolling-single.toml", |t| {
        t.replace("batch_size = 1", "batch_size = 1\nscale_in_grace = \"1s\"")
    });
    let grace_ns = scenario.rolling().scale_in_grace.scaled(SCALE).as_nanos() as i64;
    let r = run(scenario).await;
    let draining = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceDraining && e.version == "A")
        .unwrap();
    let killed = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceKilled && e.instance == draining.instance)
        .expect("the drained instance was killed, not stopped");
    // Never before its grace; how late after it a busy machine lets the kill land is
    // not the strategy's, so what is held is what the kill cut.
    let after_ns = killed.t_ns - draining.t_ns;
    assert!(
        after_ns >= grace_ns,
        "killed {} ms after draining, grace {} ms",
        after_ns / 1_000_000,
        grace_ns / 1_000_000
    );
    let v = r.verdict();
    assert!(v.lost > 0, "the run cut by the kill lost its tail");
    assert!(v.lost_items.iter().all(|i| i.m == 5), "{:?}", v.lost_items);
    // The lost items are the tail of 5 the instance had not sent when it was killed: it
    // sent 5's items in order up to the kill, and nothing of 5 arrived from it after.
    let arrivals = RunDir::new(r._dir.path().join("run"))
        .read_arrivals()
        .unwrap();
    let sent: BTreeSet<u64> = arrivals
        .iter()
        .filter(|a| a.m == 5 && a.instance.as_deref() == Some(draining.instance.as_str()))
        .map(|a| a.n)
        .collect();
    let lost: BTreeSet<u64> = v.lost_items.iter().map(|i| i.n).collect();
    let first_lost = *lost.iter().next().unwrap();
    assert_eq!(
        sent.iter().copied().filter(|n| *n >= first_lost).count(),
        0,
        "sent {sent:?}, lost {lost:?}"
    );
    assert_eq!(
        lost,
        (first_lost..10).collect::<BTreeSet<u64>>(),
        "the lost are the tail of the run"
    );
}
