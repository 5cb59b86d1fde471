//! The timer service on real `testfn` processes: singleton runs, catch-up after a kill, and
//! several missed occurrences collapsing into one catch-up.

use reports::ledger::Kind;
use std::time::Duration;

use harness::clock::Schedule;
use harness::platform::local::timer::{self, TimerFunction, TimerOptions};
use harness::slot::PRODUCTION;
use reports::{ExpectedSpec, RunDir, SourceSpec};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::{host, invocations, surviving_pids, TestSink};

fn schedule(period: Duration) -> Schedule {
    Schedule {
        epoch_ns: sink::clock::now_ns() as i64,
        epoch: Instant::now(),
        period,
    }
}

fn spec(
    s: &Schedule,
    items: u64,
    delay: Duration,
    first: u64,
    last: u64,
    late_after: Duration,
) -> ExpectedSpec {
    ExpectedSpec {
        sources: vec![SourceSpec {
            source: "tick".into(),
            epoch_ns: s.epoch_ns,
            period_ns: s.period.as_nanos() as i64,
            items,
            item_delay_ns: delay.as_nanos() as i64,
            first,
            last,
            counts: None,
        }],
        late_after_ns: late_after.as_nanos() as i64,
        completion: None,
    }
}

/// Lets every background invocation end, then stops the instances and the sink, so every
/// item sent is on disk before the test checks.
async fn settle_and_stop(host: &harness::platform::local::Host, sink: TestSink) {
    host.tasks().close();
    host.tasks().wait().await;
    host.kill_all().await;
    sink.stop().await;
}

/// The items the sink has recorded, by its `/stats`.
async fn sink_items(url: &str) -> u64 {
    let stats: sink::stats::StatsSnapshot = reqwest::get(format!("{url}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats.items
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_occurrence_runs_exactly_once_on_the_lease_holder() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let (items, delay, period) = (3, Duration::from_millis(20), Duration::from_millis(150));
    let host = host(dir.path(), &sink.url, items, delay);
    harness::strategy::start_many(&host, "A", PRODUCTION, 2)
        .await
        .unwrap();
    let s = schedule(period);
    let options = TimerOptions {
        function: TimerFunction::Tick,
        schedule: s,
        use_monitor: false,
        staging_triggers: false,
    };
    timer::run(host.clone(), options, 0, 6, CancellationToken::new()).await;
    settle_and_stop(&host, sink).await;

    let ledger = host.ledger().events();
    let runs = invocations(&ledger);
    let ms: Vec<u64> = runs.iter().map(|r| r.0).collect();
    assert_eq!(ms, vec![0, 1, 2, 3, 4, 5], "each occurrence once, in order");
    assert!(
        runs.iter().all(|r| r.1 == runs[0].1),
        "one lease holder: {runs:?}"
    );
    let run = RunDir::new(dir.path());
    run.write_expected(&spec(&s, items as u64, delay, 0, 5, Duration::from_secs(5)))
        .unwrap();
    let v = reports::checker::check_run(&run).unwrap();
    assert_eq!(
        (v.expected, v.delivered, v.duplicated, v.unexpected),
        (18, 18, 0, 0)
    );
    assert!(surviving_pids(&ledger).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_is_caught_up_once_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let (items, delay, period) = (6u32, Duration::from_millis(60), Duration::from_millis(500));
    // The catch-up's items are late by the kill's 60-odd ms into the run plus B's start-up;
    // 50 ms keeps a busy machine's scheduling hiccups in other runs from counting as late.
    let late_after = Duration::from_millis(50);
    let host = host(dir.path(), &sink.url, items, delay);
    host.start_instance("A", PRODUCTION).await.unwrap();
    let s = schedule(period);
    let options = TimerOptions {
        function: TimerFunction::Tick,
        schedule: s,
        use_monitor: true,
        staging_triggers: false,
    };
    let stop = CancellationToken::new();
    let timer = tokio::spawn(timer::run(host.clone(), options, 0, 5, stop.clone()));
    // Kill A a little into occurrence 2's run, then start B: the monitor says 2 is past due.
    wait_for("occurrence 2 to begin", || {
        invocations(&host.ledger().events())
            .iter()
            .any(|r| r.0 == 2)
    })
    .await;
    // Kill A once the sink has its second item of 2 (0 and 1 sent theirs): mid-run, with
    // four of its items 60 ms apart still to send. A sleep here would race a busy machine.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink_items(&sink.url).await <= 2 * items as u64 + 1 {
        assert!(Instant::now() < deadline, "timed out waiting for A(2,1)");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    host.kill("a-0").await;
    host.start_instance("B", PRODUCTION).await.unwrap();
    host.refresh_timer_lease(None);
    timer.await.unwrap();
    stop.cancel();
    settle_and_stop(&host, sink).await;

    let ledger = host.ledger().events();
    let catch_ups: Vec<_> = invocations(&ledger).into_iter().filter(|r| r.2).collect();
    assert_eq!(
        catch_ups,
        vec![(2, "b-0".to_string(), true)],
        "exactly one catch-up, of 2, on B"
    );
    let run = RunDir::new(dir.path());
    run.write_expected(&spec(&s, items as u64, delay, 0, 4, late_after))
        .unwrap();
    let arrivals = run.read_arrivals().unwrap();
    let sent_by_a = arrivals
        .iter()
        .filter(|a| a.m == 2 && a.version == "A")
        .count() as u64;
    assert!(
        sent_by_a >= 2 && sent_by_a < items as u64,
        "A was killed mid-run ({sent_by_a} sent)"
    );
    let v = reports::checker::check_run(&run).unwrap();
    assert_eq!(
        v.lost, 0,
        "the catch-up delivered what A had not sent: {:?}",
        v.lost_items
    );
    assert_eq!(v.duplicated, sent_by_a, "what A sent came twice");
    assert_eq!(v.causes.duplicated.timer_catch_up, sent_by_a);
    // The items only B sent came after the kill and B's start: each is late, by more than
    // the 60 ms between A's last send and the kill. The killed run's others may be late too
    // (A's, when a busy machine held its loop back).
    let late: std::collections::BTreeSet<(u64, u64)> =
        v.late_items.iter().map(|i| (i.m, i.n)).collect();
    let only_b: std::collections::BTreeSet<(u64, u64)> = (0..items as u64)
        .filter(|n| {
            !arrivals
                .iter()
                .any(|a| a.m == 2 && a.n == *n && a.version == "A")
        })
        .map(|n| (2, n))
        .collect();
    assert_eq!(only_b.len() as u64, items as u64 - sent_by_a);
    assert!(
        only_b.is_subset(&late),
        "late {late:?}, B's alone {only_b:?}"
    );
    // The other occurrences ran on their schedule, none caught up (the catch-ups are
    // exactly 2's, above): an item of theirs late is a busy machine's (CI saw B's (4,4)
    // late by its loop or its delivery), not the strategy's, so it is not held here.
    assert!(surviving_pids(&ledger).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_missed_occurrences_collapse_into_one_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let (items, delay, period) = (3u32, Duration::from_millis(20), Duration::from_millis(200));
    let host = host(dir.path(), &sink.url, items, delay);
    host.start_instance("A", PRODUCTION).await.unwrap();
    let s = schedule(period);
    let options = TimerOptions {
        function: TimerFunction::Tick,
        schedule: s,
        use_monitor: true,
        staging_triggers: false,
    };
    let timer = tokio::spawn(timer::run(
        host.clone(),
        options,
        0,
        8,
        CancellationToken::new(),
    ));
    // A completes 0 and 1, dies between runs; 2, 3 and 4 find no instance.
    wait_for("occurrence 1 to complete", || {
        host.ledger()
            .events()
            .iter()
            .filter(|e| e.event == Kind::InvocationOk)
            .count()
            >= 2
    })
    .await;
    host.kill("a-0").await;
    // B starts once 4 too has found no instance, as the ledger says it did.
    wait_for("occurrence 4 to be missed", || {
        host.ledger()
            .events()
            .iter()
            .any(|e| e.event == Kind::OccurrenceMissed && e.get_u64("m") == Some(4))
    })
    .await;
    host.start_instance("B", PRODUCTION).await.unwrap();
    host.refresh_timer_lease(None);
    timer.await.unwrap();
    settle_and_stop(&host, sink).await;

    let ledger = host.ledger().events();
    let runs = invocations(&ledger);
    let catch_ups: Vec<u64> = runs.iter().filter(|r| r.2).map(|r| r.0).collect();
    assert_eq!(
        catch_ups,
        vec![2],
        "one catch-up, of the first missed occurrence: {runs:?}"
    );
    // 2, 3 and 4 found no instance (A was dead, B not yet started); a busy machine may
    // miss a later one while B starts.
    let missed: std::collections::BTreeSet<u64> = ledger
        .iter()
        .filter(|e| e.event == Kind::OccurrenceMissed)
        .filter_map(|e| e.get_u64("m"))
        .collect();
    assert_eq!(
        missed.iter().take(3).copied().collect::<Vec<_>>(),
        [2, 3, 4],
        "{missed:?}"
    );
    let run = RunDir::new(dir.path());
    run.write_expected(&spec(
        &s,
        items as u64,
        delay,
        0,
        7,
        Duration::from_millis(50),
    ))
    .unwrap();
    let v = reports::checker::check_run(&run).unwrap();
    let lost_ms: std::collections::BTreeSet<u64> = v.lost_items.iter().map(|i| i.m).collect();
    // Every missed occurrence but the caught-up 2 is lost, and nothing else.
    let uncaught: std::collections::BTreeSet<u64> =
        missed.iter().copied().filter(|m| *m != 2).collect();
    assert_eq!(lost_ms, uncaught, "2 was caught up");
    assert_eq!(v.causes.lost.never_invoked, v.lost);
    assert!(
        v.late_items.iter().any(|i| i.m == 2),
        "the catch-up of 2 is late"
    );
    assert!(surviving_pids(&ledger).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_instance_waits_for_http_requests_only_within_their_grace() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let host = host(dir.path(), &sink.url, 1, Duration::from_millis(10));
    let id = host.start_instance("A", PRODUCTION).await.unwrap();
    let (_, request) = host.route().expect("a ready instance takes the request");
    assert_eq!(host.in_flight(&id), (0, 1));
    host.drain(&id);
    // The request outlives its 50 ms grace: the wait gives up even with an hour for runs.
    let idle = host
        .wait_idle(&id, Duration::from_secs(3600), Duration::from_millis(50))
        .await;
    assert!(!idle);
    drop(request);
    assert!(
        host.wait_idle(&id, Duration::from_secs(3600), Duration::from_secs(3600))
            .await
    );
    host.kill_all().await;
    sink.stop().await;
    assert!(surviving_pids(&host.ledger().events()).is_empty());
}
