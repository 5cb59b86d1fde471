//! Faults on real runs at small time scales (`scenarios/faults/`): each kind acted out on
//! real processes and through the real fault proxy, asserted from what the ledger recorded
//! and what the verdict made of it.

use reports::ledger::Kind;
use std::path::Path;

use harness::duration::Span;
use harness::scenario::Scenario;
use reports::{LedgerEvent, RunDir, Summary};

use crate::common::{harness, plan, run_valid, surviving_pids, text};

struct Run {
    summary: Summary,
    ledger: Vec<LedgerEvent>,
    /// `probes.csv`, read once.
    probes: Vec<reports::probe::Probe>,
    dir: tempfile::TempDir,
}

impl Run {
    fn rows(&self, kind: Kind) -> Vec<&LedgerEvent> {
        self.ledger.iter().filter(|e| e.event == kind).collect()
    }

    /// The `fault_acted` rows with `action`.
    fn acted(&self, action: &str) -> Vec<&LedgerEvent> {
        self.rows(Kind::FaultActed)
            .into_iter()
            .filter(|e| e.get("action") == Some(action))
            .collect()
    }

    /// Fault `index`'s `fault_ended` row.
    fn ended(&self, index: u64) -> &LedgerEvent {
        self.rows(Kind::FaultEnded)
            .into_iter()
            .find(|e| e.get_u64("fault") == Some(index))
            .unwrap_or_else(|| panic!("fault {index} ended: {:#?}", self.ledger))
    }

    /// The probe client's longest recorded send lag among the probes due in the span
    /// ([`crate::common::probe_lag_ns`]).
    fn probe_lag_ns(&self, from_ns: i64, to_ns: i64) -> i64 {
        crate::common::probe_lag_ns(&self.probes, from_ns, to_ns)
    }

    fn started(&self, index: u64) -> &LedgerEvent {
        self.rows(Kind::FaultStarted)
            .into_iter()
            .find(|e| e.get_u64("fault") == Some(index))
            .unwrap_or_else(|| panic!("fault {index} started"))
    }
}

/// Submits with a busy test machine's budget and a retry ([`crate::common::for_busy_machine`]'s),
/// for the faults that kill instances rather than slow the sink.
fn busy_submits(s: &mut Scenario) {
    s.workload.submit_timeout = Span::from_secs(60);
    s.workload.retries = 1;
}

/// Runs `scenarios/faults/NAME.toml` at `scale`, after `edit`; the run must be valid and
/// leave no instance behind.
async fn run(name: &str, scale: f64, edit: impl Fn(&mut Scenario)) -> Run {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/faults")
        .join(format!("{name}.toml"));
    let mut scenario = Scenario::load(&path).unwrap();
    // The probe client may lag on a busy test machine; the probes' own timeouts stay, as
    // they set what a fault's downtime looks like.
    scenario.probes.max_send_lag = Span::from_secs(1);
    edit(&mut scenario);
    let dir = tempfile::tempdir().unwrap();
    let summary = run_valid(plan(scenario, &dir.path().join("run"), scale)).await;
    let ledger = RunDir::new(dir.path().join("run")).read_ledger().unwrap();
    let probes = RunDir::new(dir.path().join("run")).read_probes().unwrap();
    assert!(
        surviving_pids(&ledger).is_empty(),
        "no instance outlives the run"
    );
    Run {
        summary,
        ledger,
        probes,
        dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_is_a_downtime_window_the_size_of_the_pause() {
    // 800 ms frozen, probes time out after 100 ms: a probe sent less than 100 ms before the
    // thaw is answered in time, so the window is the pause less up to one timeout.
    let run = run("pause", 0.1, |s| {
        let harness::scenario::Fault::Pause(pause) = &mut s.faults[0] else {
            panic!("the pause scenario pauses: {:?}", s.faults);
        };
        pause.duration = Span::from_secs(8);
        s.probes.timeout = Span::from_secs(1);
    })
    .await;
    let stop = run.acted("sigstop");
    let cont = run.acted("sigcont");
    assert_eq!((stop.len(), cont.len()), (1, 1), "{:#?}", run.ledger);
    assert_eq!(stop[0].instance, "a-0");
    let (frozen_ns, thawed_ns) = (stop[0].t_ns, cont[0].t_ns);
    let pause_ms = (thawed_ns - frozen_ns) as f64 / 1e6;
    // From the freeze to the thaw, as the ledger stamped them after each signal: the thaw
    // is timed from the freeze's stamp, so never less than the 800 ms asked. How late a
    // busy machine lets the thaw land is not the fault's: what follows is held to the
    // pause the ledger gives.
    assert!(pause_ms >= 800.0, "paused {pause_ms} ms");
    let v = &run.summary.verdict;
    let windows: Vec<_> = v
        .downtime
        .intervals
        .iter()
        .filter(|w| w.end_ns > frozen_ns && w.start_ns < thawed_ns)
        .collect();
    assert_eq!(
        windows.len(),
        1,
        "one window in the pause: {:?}",
        v.downtime
    );
    let w = windows[0];
    // The probes' resolution: a probe every 10 ms (100 a second) that fails after its
    // 100 ms timeout, and the lag the probe client recorded sending them around the pause
    // (a probe due in the pause but sent after the thaw is answered).
    let (interval_ns, timeout_ns) = (10_000_000i64, 100_000_000i64);
    let lag_ns = run.probe_lag_ns(
        frozen_ns - timeout_ns - interval_ns,
        thawed_ns + interval_ns,
    );
    // The window begins with the first probe the freeze caught: one sent up to a timeout
    // before it (its answer never came) and no later than the first probe due after it.
    let start_ms = (w.start_ns - frozen_ns) as f64 / 1e6;
    let (earliest_ms, latest_ms) = (
        -(timeout_ns + interval_ns) as f64 / 1e6,
        (interval_ns + lag_ns) as f64 / 1e6,
    );
    assert!(
        (earliest_ms..=latest_ms).contains(&start_ms),
        "the window starts {start_ms} ms from the freeze, not within [{earliest_ms}, {latest_ms}] (send lag {} ms)",
        lag_ns / 1_000_000
    );
    // It ends with the first probe answered after the thaw: one sent a timeout before it is
    // answered in time, and late probes may end it sooner. So the window is the pause less
    // up to a timeout (and the lag), more by up to a timeout and an interval.
    let window_ms = (w.end_ns - w.start_ns) as f64 / 1e6;
    let (shortest_ms, longest_ms) = (
        pause_ms - (timeout_ns + 2 * interval_ns + lag_ns) as f64 / 1e6,
        pause_ms + (timeout_ns + 2 * interval_ns) as f64 / 1e6,
    );
    assert!(
        (shortest_ms..=longest_ms).contains(&window_ms),
        "a window of {window_ms} ms for a pause of {pause_ms} ms, not within [{shortest_ms}, {longest_ms}]"
    );
    // A frozen process loses nothing: its loop resumes where it stood.
    assert_eq!(v.lost, 0, "{:?}", v.lost_items);
    assert!(v.late > 0, "the stalled loop's items arrive late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blackhole_makes_the_function_s_submits_time_out() {
    let run = run("swap-sink-blackhole", 0.1, |_| {}).await;
    let started = run.started(0);
    let ended = run.ended(0);
    assert_eq!(started.get("kind"), Some("blackhole"));
    let requests = ended.get_u64("requests").unwrap();
    let affected = ended.get_u64("affected").unwrap();
    assert!(affected > 0 && affected == requests, "{ended:?}");
    // Every submit in the window timed out, its retry too: the loop failed there.
    let logs: String = std::fs::read_dir(run.dir.path().join("run/instances"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("the submit timed out"), "{logs}");
    let v = &run.summary.verdict;
    let failed: Vec<_> = v
        .lost_items
        .iter()
        .filter(|i| i.cause.as_deref() == Some("failed"))
        .collect();
    assert!(!failed.is_empty(), "{:?}", v.lost_items);
    // Only loops that ran while the blackhole held gave items up: each one's invocation,
    // as the ledger has it, overlaps the fault's window. (Which loops those are depends on
    // how far the machine let the loops lag behind their schedule.)
    let loops: std::collections::BTreeSet<u64> = failed.iter().map(|i| i.m).collect();
    let (from, to) = (started.t_ns, ended.t_ns);
    for m in &loops {
        let m = m.to_string();
        let begun = run
            .rows(Kind::InvocationBegun)
            .into_iter()
            .find(|e| e.get("m") == Some(m.as_str()))
            .unwrap_or_else(|| panic!("loop {m} was invoked"));
        let inv = begun.get("inv").unwrap();
        let over = run
            .ledger
            .iter()
            .filter(|e| {
                matches!(
                    e.event,
                    Kind::InvocationOk | Kind::InvocationFailed | Kind::InvocationKilled
                )
            })
            .find(|e| e.get("inv") == Some(inv))
            .map_or(i64::MAX, |e| e.t_ns);
        assert!(
            begun.t_ns <= to && over >= from,
            "loop {m} ran from {} to {} ms, outside the blackhole's {} to {} ms",
            begun.t_ns / 1_000_000,
            over / 1_000_000,
            from / 1_000_000,
            to / 1_000_000
        );
    }
    // Nothing the blackhole held reached the sink: no item of that loop came twice (a
    // 100 ms submit timeout may still retry a slow answer elsewhere on a busy machine).
    assert!(
        v.duplicated_items.iter().all(|i| !loops.contains(&i.m)),
        "{:?}",
        v.duplicated_items
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_kills_one_instance_and_the_platform_restarts_it() {
    // What it asserts lost is what the kill cut (killed before send): submits get a busy
    // machine's budget, so that a slow answer elsewhere in the run is not a loss of its own.
    let run = run("crash-restart", 0.1, |s| {
        busy_submits(s);
        s.probes.timeout = Span::from_millis(250);
    })
    .await;
    let killed = run.acted("sigkill");
    let restarted = run.acted("restart");
    assert_eq!((killed.len(), restarted.len()), (1, 1), "{:#?}", run.ledger);
    let victim = &killed[0].instance;
    assert_eq!(victim, "a-0");
    assert_eq!(restarted[0].instance, "a-1");
    assert_eq!(
        (restarted[0].version.as_str(), restarted[0].slot.as_str()),
        ("A", "production")
    );
    // The host saw the kill, and the restart became ready before the fault ended.
    assert!(run
        .rows(Kind::InstanceKilled)
        .iter()
        .any(|e| &e.instance == victim && e.t_ns <= killed[0].t_ns));
    let ready = run
        .rows(Kind::InstanceReady)
        .into_iter()
        .find(|e| e.instance == restarted[0].instance)
        .expect("the restart became ready");
    assert!(ready.t_ns <= run.ended(0).t_ns);
    // The restart waited restart_after (2 s at 0.1: 200 ms).
    assert!(restarted[0].t_ns - killed[0].t_ns >= 200_000_000);
    let v = &run.summary.verdict;
    // The loop it killed (at 34.5 s, loop 3 runs from 30 s to 39 s) lost what it had not
    // sent; the restart ran the loops after it.
    assert!(v.lost > 0, "the killed loop loses its unsent items");
    assert!(
        v.lost_items
            .iter()
            .all(|i| i.m == 3
                && matches!(i.cause.as_deref(), Some("killed_before_send" | "in_flight"))),
        "{:?}",
        v.lost_items
    );
    // Down from the kill until the front door had the restart ready, within what the
    // probes resolve: a probe every 10 ms that fails after 25 ms (one waiting at the kill
    // fails with it), and the lag the probe client recorded (a probe due before the
    // restart was ready but sent after is answered).
    let (interval_ns, timeout_ns) = (10_000_000i64, 25_000_000i64);
    let (kill_ns, ready_ns) = (killed[0].t_ns, ready.t_ns);
    let lag_ns = run.probe_lag_ns(kill_ns - timeout_ns - interval_ns, ready_ns + interval_ns);
    let gap_ms = (ready_ns - kill_ns) as f64 / 1e6;
    let down = v.downtime.overlap_ms(
        kill_ns - timeout_ns - interval_ns,
        ready_ns + timeout_ns + interval_ns,
    );
    let (shortest_ms, longest_ms) = (
        gap_ms - (interval_ns + lag_ns) as f64 / 1e6,
        gap_ms + (timeout_ns + 2 * interval_ns) as f64 / 1e6,
    );
    assert!(
        (shortest_ms..=longest_ms).contains(&down),
        "down {down} ms from the kill to the restart's readiness ({gap_ms} ms), not within [{shortest_ms}, {longest_ms}]"
    );
    let f = &v.faults[0];
    assert_eq!((f.kind.as_str(), f.lost), ("crash", v.lost));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_loop_kills_each_restart_until_its_window_closes() {
    let run = run("crash-loop", 0.1, busy_submits).await;
    let started = run.started(0);
    let window_end_ns = started.t_ns + 800_000_000;
    let kills = run.acted("sigkill");
    let restarts = run.acted("restart");
    assert!(kills.len() >= 2, "it died more than once: {kills:#?}");
    assert_eq!(kills.len(), restarts.len(), "every death was restarted");
    // Nothing was killed by the fault after its window: each kill but the first was of the
    // restart before it, decided within the window. A restart lives `up_for` (100 ms here)
    // from its stamp at the earliest, and the window's end was read before `fault_started`
    // was stamped, so a restart killed again was stamped over 100 ms before the window's
    // end. (The kills' own stamps come after the signal, as late as the machine is.)
    let up_for_ns = 100_000_000;
    for (k, r) in kills.iter().skip(1).zip(&restarts) {
        assert_eq!(k.instance, r.instance);
        assert!(
            r.t_ns + up_for_ns < window_end_ns,
            "{} was restarted {} ms into the 800 ms window, too late to be killed again",
            r.instance,
            (r.t_ns - started.t_ns) / 1_000_000
        );
        assert!(k.t_ns >= r.t_ns + up_for_ns, "it lived its 100 ms first");
    }
    // The last restart stayed: no fault kill names it.
    let last = &restarts.last().unwrap().instance;
    assert!(kills.iter().all(|k| &k.instance != last));
    // Each death is down until an instance is ready again (or the next death): the probes'
    // windows cover that span, less what the probes cannot resolve (a probe interval and a
    // probe timeout, 10 ms and 25 ms here). A restart killed before it was ready joins the
    // next death's span, as the ledger says, so the spans, not a count, are held.
    let v = &run.summary.verdict;
    let ready: Vec<i64> = run
        .rows(Kind::InstanceReady)
        .iter()
        .filter(|e| e.version == "A")
        .map(|e| e.t_ns)
        .collect();
    let resolution_ms = 10.0 + 25.0;
    for (i, k) in kills.iter().enumerate() {
        let up = ready
            .iter()
            .copied()
            .filter(|t| *t > k.t_ns)
            .min()
            .expect("ready again");
        let until = kills.get(i + 1).map_or(up, |next| up.min(next.t_ns));
        let span_ms = (until - k.t_ns) as f64 / 1e6;
        let down_ms = v.downtime.overlap_ms(k.t_ns, until);
        // And the lag the probe client recorded: a probe due in the span but sent after it
        // met a ready instance.
        let lag_ms = run.probe_lag_ns(k.t_ns, until) as f64 / 1e6;
        assert!(
            down_ms >= span_ms - resolution_ms - lag_ms,
            "death {i}: down {down_ms} ms of the {span_ms} ms until an instance was ready (send lag {lag_ms} ms)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sink_path_faults_act_as_set() {
    let run = run("sink-path", 0.1, |s| {
        // The submit timeout stays 2 s scaled; only the probes get room.
        s.probes.timeout = Span::from_secs(10);
    })
    .await;
    let kinds: Vec<&str> = (0..5)
        .map(|i| run.started(i).get("kind").unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["latency", "http_error", "reset", "fail_first", "bandwidth"]
    );
    let counts = |i| {
        let e = run.ended(i);
        (
            e.get_u64("requests").unwrap(),
            e.get_u64("affected").unwrap(),
        )
    };
    // Set to always: every request met was acted on.
    for i in [0, 4] {
        let (requests, affected) = counts(i);
        assert!(
            requests > 0 && affected == requests,
            "fault {i}: {requests} {affected}"
        );
    }
    // Half: some, not all (a few dozen draws; seeded, so this replays).
    for i in [1, 2] {
        let (requests, affected) = counts(i);
        assert!(
            affected > 0 && affected < requests,
            "fault {i}: {requests} {affected}"
        );
    }
    // The first two, exactly.
    assert_eq!(counts(3).1, 2);
    let v = &run.summary.verdict;
    // Nothing a fault refused reached the sink, so nothing was duplicated.
    assert_eq!(v.duplicated, 0, "{:?}", v.duplicated_items);
    // The added latency and the bandwidth cap made items late; the loops they slowed are
    // the ones running in their windows (occurrences 2 and 6 of a 10 s period).
    let late: std::collections::BTreeSet<u64> = v.late_items.iter().map(|i| i.m).collect();
    assert!(late.contains(&2), "latency made items late: {late:?}");
    assert!(late.contains(&6), "the cap made items late: {late:?}");
    // Elsewhere, only what a busy machine's loop sent late itself.
    let arrivals = RunDir::new(run.dir.path().join("run"))
        .read_arrivals()
        .unwrap();
    let unexplained: Vec<_> = v
        .late_items
        .iter()
        .filter(|i| ![2, 6, 7].contains(&i.m))
        .filter(|i| !crate::common::sent_late(&arrivals, i, v.late_after_ms))
        .collect();
    assert!(
        unexplained.is_empty(),
        "late on the path outside the faults: {unexplained:?}"
    );
}

#[test]
fn a_run_whose_sink_dies_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let scenario = crate::common::scenarios().join("faults/sink-crash.toml");
    let o = harness(&[
        "run",
        scenario.to_str().unwrap(),
        "--time-scale",
        "0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let summary = RunDir::new(&out)
        .read_summary()
        .unwrap()
        .expect("a summary");
    assert_eq!(summary.run.failed_phase.as_deref(), Some("run"));
    assert!(
        summary
            .invalid
            .iter()
            .any(|r| r.contains("own sink died mid-run")),
        "{:?}",
        summary.invalid
    );
    let ledger = RunDir::new(&out).read_ledger().unwrap();
    let died = ledger
        .iter()
        .find(|e| e.event == Kind::SinkDied)
        .expect("the ledger says the sink died");
    // The reason is kept as said, spaces and all, and the summary quotes it.
    let reason = died.get("reason").expect("why the sink died");
    assert_eq!(reason, "it was stopped (a sink_crash fault)");
    assert!(
        summary.invalid.iter().any(|r| r.contains(reason)),
        "{:?}",
        summary.invalid
    );
    // The run stopped at once rather than running on to its end (10 s at 0.1).
    let last = ledger.iter().map(|e| e.t_ns).max().unwrap();
    assert!(
        last - died.t_ns < 3_000_000_000,
        "stopped {} ms later",
        (last - died.t_ns) / 1_000_000
    );
    assert!(surviving_pids(&ledger).is_empty());
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains("sink died"), "{all}");
}
