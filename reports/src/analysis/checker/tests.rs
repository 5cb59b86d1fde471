//! The checker on hand-built histories, one category at a time, and against a naive
//! reference implementation on random histories.

use std::collections::HashMap;

use proptest::prelude::*;

use super::downtime::{overlaps, subtract};
use super::*;
use crate::model::expected::SourceSpec;
use crate::model::ledger::Kind;
use crate::model::verdict::{Downtime, Window};

const PERIOD: i64 = 10_000;
const DELAY: i64 = 1_000;
const LATE_AFTER: i64 = 500;

/// `tick`: occurrences 1..=3, 10 items each, scheduled at `m*10000 + n*1000` ns.
fn spec() -> ExpectedSpec {
    ExpectedSpec {
        sources: vec![SourceSpec {
            source: "tick".into(),
            epoch_ns: 0,
            period_ns: PERIOD,
            items: 10,
            item_delay_ns: DELAY,
            first: 1,
            last: 3,
            counts: None,
        }],
        late_after_ns: LATE_AFTER,
        completion: None,
    }
}

fn sched(m: u64, n: u64) -> i64 {
    m as i64 * PERIOD + n as i64 * DELAY
}

fn on_time(m: u64, n: u64, version: &str) -> Arrival {
    Arrival::new(sched(m, n) + 100, "tick", m, n, version)
}

fn all_on_time() -> Vec<Arrival> {
    (1..=3)
        .flat_map(|m| (0..10).map(move |n| on_time(m, n, "A")))
        .collect()
}

fn run(arrivals: &[Arrival], probes: &[Probe], ledger: &[LedgerEvent]) -> Verdict {
    check(&spec(), arrivals, probes, ledger).unwrap()
}

fn begun(t: i64, inv: u64, instance: &str, version: &str, slot: &str, m: u64) -> LedgerEvent {
    LedgerEvent::new(t, Kind::InvocationBegun, instance, version, slot)
        .with("inv", inv)
        .with("source", "tick")
        .with("m", m)
}

fn ended(t: i64, what: Kind, inv: u64, instance: &str) -> LedgerEvent {
    LedgerEvent::new(t, what, instance, "A", "production").with("inv", inv)
}

/// A ledger in which every occurrence ran once, on `a-0`, and ended OK.
fn clean_ledger() -> Vec<LedgerEvent> {
    (1..=3)
        .flat_map(|m| {
            [
                begun(sched(m, 0), m, "a-0", "A", "production", m),
                ended(sched(m, 9) + 200, Kind::InvocationOk, m, "a-0"),
            ]
        })
        .collect()
}

#[test]
fn nothing_lost() {
    let v = run(&all_on_time(), &[], &clean_ledger());
    assert_eq!(
        (
            v.expected,
            v.delivered,
            v.lost,
            v.duplicated,
            v.extra_copies
        ),
        (30, 30, 0, 0, 0)
    );
    assert_eq!((v.late, v.ok, v.unexpected, v.arrivals), (0, 30, 0, 30));
    let q = v.lateness_ms.unwrap();
    assert_eq!((q.p50, q.p99, q.max), (0.0001, 0.0001, 0.0001));
    assert_eq!(v.gap_max_ms, Some(0.001));
    assert!(v.gap_exact);
    assert_eq!(v.causes, Causes::default());
    assert!(v.lost_items.is_empty());
}

#[test]
fn all_lost() {
    let v = run(&[], &[], &[]);
    assert_eq!((v.expected, v.delivered, v.lost, v.ok), (30, 0, 30, 0));
    assert_eq!(v.lateness_ms, None);
    assert_eq!(v.gap_max_ms, None);
    assert_eq!(v.causes.lost.never_invoked, 30);
    assert_eq!(v.lost_items.len(), 30);
    assert_eq!(v.lost_items[0].label(false), "(1,0)");
    assert_eq!(v.lost_items[29].label(true), "tick:(3,9)");
}

#[test]
fn an_extra_copy_arriving_before_a_late_first_row_makes_the_item_on_time() {
    let mut arrivals = all_on_time();
    // The row recorded first is late; the copy recorded after it arrived earlier.
    arrivals[0] = Arrival::new(sched(1, 0) + 900, "tick", 1, 0, "A");
    arrivals.insert(1, Arrival::new(sched(1, 0) + 100, "tick", 1, 0, "B"));
    let v = run(&arrivals, &[], &[]);
    assert_eq!((v.delivered, v.duplicated, v.extra_copies), (30, 1, 1));
    assert_eq!(v.late, 0);
    assert_eq!(v.ok, 29, "a duplicated item is not ok");
    assert_eq!(
        v.duplicated_items[0].version.as_deref(),
        Some("B"),
        "first arrival's version"
    );
    assert_eq!(v.duplicated_items[0].copies, Some(2));
    assert_eq!(v.lateness_ms.unwrap().max, 0.0001);
}

#[test]
fn lateness_exactly_at_the_threshold_is_not_late_and_one_ns_past_is() {
    let mut arrivals = all_on_time();
    arrivals[3].recv_ns = sched(1, 3) + LATE_AFTER;
    arrivals[4].recv_ns = sched(1, 4) + LATE_AFTER + 1;
    let v = run(&arrivals, &[], &[]);
    assert_eq!(v.late, 1);
    assert_eq!((v.late_items[0].m, v.late_items[0].n), (1, 4));
    assert_eq!(v.late_items[0].lateness_ms, Some(0.000501));
    assert_eq!(v.ok, 29);
    assert_eq!(v.lateness_ms.unwrap().max, 0.000501);
}

#[test]
fn lateness_quantiles_follow_the_distribution() {
    let spec = ExpectedSpec {
        sources: vec![SourceSpec {
            source: "tick".into(),
            epoch_ns: 1_763_800_000_000_000_000,
            period_ns: 10_000_000_000,
            items: 100,
            item_delay_ns: 0,
            first: 0,
            last: 0,
            counts: None,
        }],
        late_after_ns: 2_000_000_000,
        completion: None,
    };
    // Item n arrives n+1 ms late: p50 = 50 ms, p90 = 90 ms, p99 = 99 ms, max = 100 ms.
    let arrivals: Vec<Arrival> = (0..100)
        .map(|n| {
            Arrival::new(
                spec.sources[0].epoch_ns + (n as i64 + 1) * 1_000_000,
                "tick",
                0,
                n,
                "A",
            )
        })
        .collect();
    let q = check(&spec, &arrivals, &[], &[])
        .unwrap()
        .lateness_ms
        .unwrap();
    let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001;
    assert!(
        close(q.p50, 50.0) && close(q.p90, 90.0) && close(q.p99, 99.0),
        "{q:?}"
    );
    assert_eq!(q.max, 100.0);
}

#[test]
fn early_arrivals_count_as_zero_lateness() {
    let mut arrivals = all_on_time();
    for a in &mut arrivals {
        a.recv_ns -= 300;
    }
    let v = run(&arrivals, &[], &[]);
    assert_eq!(v.lateness_ms.unwrap(), Quantiles::default());
    assert_eq!(v.ok, 30);
}

#[test]
fn unexpected_keys_by_reason() {
    let mut arrivals = all_on_time();
    arrivals.push(Arrival::new(5, "proc", 1, 0, "A"));
    arrivals.push(Arrival::new(5, "tick", 0, 0, "A"));
    arrivals.push(Arrival::new(5, "tick", 4, 0, "A"));
    arrivals.push(Arrival::new(5, "tick", 2, 10, "B"));
    let v = run(&arrivals, &[], &[]);
    assert_eq!(
        (v.unexpected, v.delivered, v.ok, v.arrivals),
        (4, 30, 30, 34)
    );
    let u = &v.causes.unexpected;
    assert_eq!((u.unknown_source, u.outside_window, u.past_loop), (1, 2, 1));
    assert_eq!(v.unexpected_items[3].label(true), "tick:B(2,10)");
    assert_eq!(v.unexpected_items[3].cause.as_deref(), Some("past_loop"));
    // Unexpected rows do not shorten the gaps between expected arrivals.
    assert_eq!(v.gap_max_ms, Some(0.001));
}

fn probes(pattern: &[(i64, bool)]) -> Vec<Probe> {
    pattern
        .iter()
        .map(|&(t, ok)| Probe::new(t, t + 5, ok))
        .collect()
}

#[test]
fn probes_failing_first() {
    let d = downtime(&probes(&[(0, false), (10, false), (20, true), (30, true)]));
    assert_eq!(
        d.intervals,
        vec![Window {
            start_ns: 0,
            end_ns: 20
        }]
    );
    assert_eq!((d.windows, d.failed_probes, d.probes), (1, 2, 4));
}

#[test]
fn failed_probes_are_counted_by_how_they_failed() {
    let mut ps = probes(&[
        (0, true),
        (10, false),
        (20, false),
        (30, false),
        (40, false),
    ]);
    ps[1].error = Some("connect".into());
    ps[2].error = Some("connect".into());
    ps[3].status = Some(503);
    ps[4].error = Some("timeout".into());
    ps[4].status = Some(200);
    let d = downtime(&ps);
    let by: Vec<(&str, u64)> = d.failed_by.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(by, [("connect", 2), ("http_503", 1), ("timeout", 1)]);
    assert!(downtime(&probes(&[(0, true)])).failed_by.is_empty());
}

#[test]
fn probes_failing_last_close_at_the_last_probe() {
    let d = downtime(&probes(&[(0, true), (10, false), (20, false)]));
    assert_eq!(
        d.intervals,
        vec![Window {
            start_ns: 10,
            end_ns: 20
        }]
    );
}

#[test]
fn probes_all_failing() {
    let d = downtime(&probes(&[
        (0, false),
        (1_000_000, false),
        (3_000_000, false),
    ]));
    assert_eq!(d.windows, 1);
    assert_eq!((d.total_ms, d.max_ms), (3.0, 3.0));
    let d = downtime(&probes(&[(7, false)]));
    assert_eq!(
        d.intervals,
        vec![Window {
            start_ns: 7,
            end_ns: 7
        }]
    );
}

#[test]
fn probes_in_any_row_order_with_several_windows() {
    let d = downtime(&probes(&[
        (4_000_000, true),
        (1_000_000, false),
        (0, true),
        (2_000_000, true),
        (3_000_000, false),
        (3_500_000, false),
    ]));
    assert_eq!(
        d.intervals,
        vec![
            Window {
                start_ns: 1_000_000,
                end_ns: 2_000_000
            },
            Window {
                start_ns: 3_000_000,
                end_ns: 4_000_000
            },
        ]
    );
    assert_eq!((d.windows, d.total_ms, d.max_ms), (2, 2.0, 1.0));
    assert_eq!(downtime(&[]), Downtime::default());
    let v = run(
        &all_on_time(),
        &probes(&[(0, true), (10, false), (20, true)]),
        &[],
    );
    assert_eq!(v.downtime.windows, 1);
}

#[test]
fn an_empty_arrivals_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = crate::io::rundir::RunDir::new(dir.path());
    run.write_expected(&spec()).unwrap();
    std::fs::write(
        run.file(crate::io::rundir::ARRIVALS_FILE),
        format!("{}\n", sink::ARRIVALS_HEADER),
    )
    .unwrap();
    let v = crate::analysis::checker::check_run(&run).unwrap();
    assert_eq!((v.arrivals, v.lost, v.delivered), (0, 30, 0));
    assert_eq!(v.downtime.probes, 0);
}

/// The ledger's word that a-0 sent tick item (m, n) and the sink never acknowledged it.
fn item_sent(m: u64, n: u64) -> LedgerEvent {
    LedgerEvent::new(sched(m, n), Kind::ItemSent, "a-0", "A", "production")
        .with("source", "tick")
        .with("m", m)
        .with("n", n)
}

#[test]
fn a_killed_run_loses_the_items_it_had_not_sent() {
    let mut ledger = clean_ledger();
    // Occurrence 2's run is killed with its instance after sending items 0..=4; item 5 was
    // reported sent but never recorded.
    ledger.retain(|e| !(e.event == Kind::InvocationOk && e.get("inv") == Some("2")));
    ledger.push(LedgerEvent::new(
        sched(2, 5) + 10,
        Kind::InstanceKilled,
        "a-0",
        "A",
        "production",
    ));
    ledger.push(item_sent(2, 5));
    let arrivals: Vec<Arrival> = all_on_time()
        .into_iter()
        .filter(|a| a.m != 2 || a.n < 5)
        .collect();
    let v = run(&arrivals, &[], &ledger);
    assert_eq!(v.lost, 5);
    assert_eq!(v.causes.lost.killed_before_send, 4);
    assert_eq!(v.causes.lost.in_flight, 1);
    assert_eq!(
        v.causes.recovered, 5,
        "items 0..=4 of the killed run arrived"
    );
    let labels: Vec<String> = v.lost_items.iter().map(|i| i.label(false)).collect();
    assert_eq!(labels, ["A(2,5)", "A(2,6)", "A(2,7)", "A(2,8)", "A(2,9)"]);
    // Every other occurrence has an invocation, so none is never-invoked.
    assert_eq!(v.causes.lost.never_invoked, 0);
}

#[test]
fn an_item_sent_in_a_run_that_ended_well_and_never_recorded_was_in_flight() {
    let mut ledger = clean_ledger();
    ledger.push(item_sent(3, 2));
    let arrivals: Vec<Arrival> = all_on_time()
        .into_iter()
        .filter(|a| (a.m, a.n) != (3, 2) && (a.m, a.n) != (3, 3))
        .collect();
    let v = run(&arrivals, &[], &ledger);
    assert_eq!(v.lost, 2);
    assert_eq!(v.causes.lost.in_flight, 1, "A(3,2) was reported sent");
    assert_eq!(
        v.causes.lost.unexplained, 1,
        "A(3,3) was never reported sent by a run that ended well"
    );
}

#[test]
fn a_catch_up_run_turns_a_killed_run_into_duplicates_and_late_items() {
    let mut ledger = clean_ledger();
    ledger.retain(|e| e.get("inv") != Some("2"));
    ledger.push(begun(sched(2, 0), 2, "a-0", "A", "production", 2));
    ledger.push(LedgerEvent::new(
        sched(2, 5),
        Kind::InstanceKilled,
        "a-0",
        "A",
        "production",
    ));
    ledger.push(begun(sched(2, 5) + 10, 20, "b-0", "B", "production", 2).with("catch_up", true));
    ledger.push(ended(sched(2, 9) + 5_000, Kind::InvocationOk, 20, "b-0"));
    let mut arrivals = all_on_time();
    arrivals.retain(|a| a.m != 2 || a.n < 5);
    // The catch-up run resends the whole loop, starting after the kill.
    arrivals.extend(
        (0..10).map(|n| Arrival::new(sched(2, 5) + 100 + n as i64 * DELAY, "tick", 2, n, "B")),
    );
    let v = run(&arrivals, &[], &ledger);
    assert_eq!((v.lost, v.duplicated, v.extra_copies), (0, 5, 5));
    assert_eq!(v.causes.duplicated.timer_catch_up, 5);
    assert_eq!(v.late, 5, "items 5..=9 first arrived from the catch-up run");
    assert_eq!(v.causes.recovered, 10);
    assert_eq!(v.late_items[0].version.as_deref(), Some("B"));
    assert_eq!(v.duplicated_items[0].version.as_deref(), Some("A"));
}

#[test]
fn never_invoked_failed_unfinished_and_unexplained_losses() {
    let ledger = vec![
        // m=1 ran and said OK, yet item 9 never came.
        begun(sched(1, 0), 1, "a-0", "A", "production", 1),
        ended(sched(1, 9), Kind::InvocationOk, 1, "a-0"),
        // m=2 failed.
        begun(sched(2, 0), 2, "a-0", "A", "production", 2),
        ended(sched(2, 9), Kind::InvocationFailed, 2, "a-0").with("reason", "sink_unreachable"),
        // m=3 began and never ended in the ledger.
        begun(sched(3, 0), 3, "a-0", "A", "production", 3),
    ];
    let arrivals: Vec<Arrival> = all_on_time()
        .into_iter()
        .filter(|a| a.m == 1 && a.n < 9)
        .collect();
    let v = run(&arrivals, &[], &ledger);
    let l = &v.causes.lost;
    assert_eq!(
        (l.unexplained, l.failed, l.unfinished, l.never_invoked),
        (1, 10, 10, 0)
    );
    let v = run(&arrivals, &[], &ledger[..2]);
    assert_eq!(v.causes.lost.never_invoked, 20);
}

#[test]
fn retries_and_double_timers() {
    let mut arrivals = all_on_time();
    let mut retry = on_time(1, 3, "A");
    retry.attempt = Some(2);
    arrivals.push(retry);
    // Both slots fired occurrence 3.
    arrivals.extend((0..10).map(|n| on_time(3, n, "B")));
    let mut ledger = clean_ledger();
    ledger.push(begun(sched(3, 0), 33, "b-0", "B", "staging", 3));
    let v = run(&arrivals, &[], &ledger);
    assert_eq!(v.duplicated, 11);
    assert_eq!(
        (v.causes.duplicated.retry, v.causes.duplicated.double_timer),
        (1, 10)
    );
}

#[test]
fn queue_redelivery_and_poison() {
    let spec = ExpectedSpec {
        sources: vec![SourceSpec {
            source: "proc".into(),
            epoch_ns: 0,
            period_ns: PERIOD,
            items: 3,
            item_delay_ns: 0,
            first: 0,
            last: 0,
            counts: None,
        }],
        late_after_ns: LATE_AFTER,
        completion: None,
    };
    let msg = |t, inv, n, dequeue| {
        LedgerEvent::new(t, Kind::InvocationBegun, "a-0", "A", "production")
            .with("inv", inv)
            .with("source", "proc")
            .with("m", 0)
            .with("n", n)
            .with("dequeue", dequeue)
    };
    let ledger = vec![
        msg(1, 1, 0, 1),
        ended(2, Kind::InvocationOk, 1, "a-0"),
        msg(3, 2, 1, 1),
        ended(4, Kind::InvocationKilled, 2, "a-0"),
        msg(5, 3, 1, 2),
        ended(6, Kind::InvocationOk, 3, "a-0"),
        LedgerEvent::new(7, Kind::MessagePoisoned, "", "", "")
            .with("source", "proc")
            .with("m", 0)
            .with("n", 2)
            .with("dequeue", 5),
    ];
    let arrivals = vec![
        Arrival::new(10, "proc", 0, 0, "A"),
        Arrival::new(11, "proc", 0, 1, "A"),
        Arrival::new(12, "proc", 0, 1, "A"),
    ];
    let v = check(&spec, &arrivals, &[], &ledger).unwrap();
    assert_eq!((v.delivered, v.lost, v.duplicated), (2, 1, 1));
    assert_eq!(v.causes.duplicated.queue_redelivery, 1);
    assert_eq!(v.causes.lost.poisoned, 1);
    assert_eq!(v.causes.recovered, 1);
}

#[test]
fn gaps_are_measured_in_time_order_not_file_order() {
    let mut arrivals = all_on_time();
    arrivals.reverse();
    arrivals.remove(15); // (2,4) from the reversed list: a 2000 ns hole around it.
    let v = run(&arrivals, &[], &[]);
    assert_eq!(v.gap_max_ms, Some(0.002));
    assert!(v.gap_exact);
}

#[test]
fn the_gap_tracker_says_when_disorder_exceeds_its_window() {
    let mut g = GapTracker::new(4);
    for t in [10, 20, 30, 40, 50, 60, 5] {
        g.push(t);
    }
    assert_eq!(g.finish(), (Some(10), false));
    let mut g = GapTracker::new(4);
    for t in [20, 10, 40, 30, 90, 50, 60] {
        g.push(t);
    }
    assert_eq!(g.finish(), (Some(30), true));
}

#[test]
fn item_lists_are_capped_while_counts_stay_exact() {
    let checker = Checker::new(&spec()).unwrap().with_listed_limit(4);
    let v = checker.finish(&[], &[]);
    assert_eq!((v.lost, v.lost_items.len(), v.listed_limit), (30, 4, 4));
}

/// The verdict's counts computed the obvious way, with a map per key.
fn reference(
    spec: &ExpectedSpec,
    arrivals: &[Arrival],
) -> (u64, u64, u64, u64, u64, u64, u64, Option<i64>) {
    let s = &spec.sources[0];
    let mut first: HashMap<(u64, u64), (i64, u64)> = HashMap::new();
    let mut unexpected = 0;
    let mut times = Vec::new();
    for a in arrivals {
        if a.source != s.source || s.index(a.m, a.n).is_none() {
            unexpected += 1;
            continue;
        }
        times.push(a.recv_ns);
        let e = first.entry((a.m, a.n)).or_insert((i64::MAX, 0));
        e.0 = e.0.min(a.recv_ns);
        e.1 += 1;
    }
    let delivered = first.len() as u64;
    let duplicated = first.values().filter(|e| e.1 > 1).count() as u64;
    let extra = first.values().map(|e| e.1 - 1).sum();
    let late_keys: Vec<_> = first
        .iter()
        .filter(|(k, e)| e.0 > s.scheduled_ns(k.0, k.1) + spec.late_after_ns)
        .map(|(k, _)| *k)
        .collect();
    let ok = first
        .iter()
        .filter(|(k, e)| e.1 == 1 && !late_keys.contains(k))
        .count() as u64;
    times.sort();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max();
    (
        delivered,
        spec.key_count() - delivered,
        duplicated,
        extra,
        late_keys.len() as u64,
        ok,
        unexpected,
        gap,
    )
}

proptest! {
    #[test]
    fn counts_agree_with_a_reference_implementation(
        rows in proptest::collection::vec((0u64..5, 0u64..12, -2_000i64..3_000, any::<bool>()), 0..200)
    ) {
        let spec = spec();
        let arrivals: Vec<Arrival> = rows
            .iter()
            .map(|&(m, n, offset, other)| {
                let source = if other && n == 11 { "proc" } else { "tick" };
                Arrival::new(sched(m, n) + offset, source, m, n, "A")
            })
            .collect();
        let v = check(&spec, &arrivals, &[], &[]).unwrap();
        let want = reference(&spec, &arrivals);
        prop_assert_eq!(
            (v.delivered, v.lost, v.duplicated, v.extra_copies, v.late, v.ok, v.unexpected, v.gap_max_ms),
            (want.0, want.1, want.2, want.3, want.4, want.5, want.6, want.7.map(ns_to_ms))
        );
        prop_assert_eq!(v.delivered + v.lost, v.expected);
        prop_assert!(v.ok + v.late <= v.delivered);
    }

    #[test]
    fn downtime_never_exceeds_the_probed_span(pattern in proptest::collection::vec((0i64..1_000_000, any::<bool>()), 1..100)) {
        let probes: Vec<Probe> = pattern.iter().map(|&(t, ok)| Probe::new(t, t + 1, ok)).collect();
        let d = downtime(&probes);
        let span = probes.iter().map(|p| p.intended_ns).max().unwrap() - probes.iter().map(|p| p.intended_ns).min().unwrap();
        prop_assert!(d.total_ms <= ns_to_ms(span));
        prop_assert_eq!(d.windows == 0, d.failed_probes == 0);
        prop_assert!(d.max_ms <= d.total_ms);
    }
}

#[test]
fn each_series_keeps_its_own_windows_and_the_whole_is_their_union() {
    let probe = |t: i64, ok: bool, conn: &str| Probe {
        conn: Some(conn.into()),
        ..Probe::new(t, t + 1, ok)
    };
    // The reused series fails at 10 (an idle connection closed); the new series never does.
    // Interleaved by intended time, the new series' success at 10 would close the window at
    // once; on its own, the reused series is down from 10 to its next success at 20.
    let probes = vec![
        probe(0, true, "reused"),
        probe(0, true, "new"),
        probe(10, false, "reused"),
        probe(10, true, "new"),
        probe(20, true, "reused"),
        probe(20, true, "new"),
        probe(30, false, "new"),
        probe(40, true, "new"),
        probe(40, true, "reused"),
    ];
    let series = downtime_by_series(&probes);
    assert_eq!(
        series["reused"].intervals,
        [Window {
            start_ns: 10,
            end_ns: 20
        }]
    );
    assert_eq!(
        series["new"].intervals,
        [Window {
            start_ns: 30,
            end_ns: 40
        }]
    );
    let all = union(&series);
    assert_eq!((all.windows, all.probes, all.failed_probes), (2, 9, 2));
    assert_eq!(all.total_ms, 20.0 / 1e6);
    // Overlapping windows of two series are one.
    let mut overlapping = series.clone();
    overlapping.get_mut("new").unwrap().intervals = vec![Window {
        start_ns: 15,
        end_ns: 25,
    }];
    assert_eq!(
        union(&overlapping).intervals,
        [Window {
            start_ns: 10,
            end_ns: 25
        }]
    );
}

fn series_probe(t: i64, ok: bool, conn: &str) -> Probe {
    Probe {
        conn: Some(conn.into()),
        ..Probe::new(t, t + 1, ok)
    }
}

/// Probes every 10 ns from 0 to 100 in the `reused` series and the control series, each
/// failing where its pattern says.
fn app_and_control(app_fails: &[i64], control_fails: &[i64]) -> Vec<Probe> {
    (0..=10)
        .map(|i| i * 10)
        .flat_map(|t| {
            [
                series_probe(t, !app_fails.contains(&t), "reused"),
                series_probe(
                    t,
                    !control_fails.contains(&t),
                    crate::model::probe::CONTROL_SERIES,
                ),
            ]
        })
        .collect()
}

fn window(start_ns: i64, end_ns: i64) -> Window {
    Window { start_ns, end_ns }
}

#[test]
fn app_downtime_inside_a_control_window_is_the_machines_not_the_apps() {
    // Both fail from 30 to 50: the sink's own /health failed too.
    let v = run(&all_on_time(), &app_and_control(&[30, 40], &[30, 40]), &[]);
    let c = v.control.as_ref().expect("a control series");
    assert_eq!((c.probes, c.failed_probes), (11, 2));
    assert_eq!(c.windows, [window(30, 50)]);
    assert_eq!((c.total_ms, c.max_ms), (ns_to_ms(20), ns_to_ms(20)));
    assert_eq!(c.excluded, [window(30, 50)]);
    assert_eq!(c.excluded_ms, ns_to_ms(20));
    assert_eq!((v.downtime.windows, v.downtime.total_ms), (0, 0.0));
    assert!(v.downtime.intervals.is_empty());
    assert_eq!(
        (v.downtime.probes, v.downtime.failed_probes),
        (11, 2),
        "the app's probes and failures stay counted, control probes are not among them"
    );
    assert_eq!(
        v.downtime_by_conn.keys().collect::<Vec<_>>(),
        ["reused"],
        "the control is no series of the app's"
    );
    assert_eq!(v.downtime_by_conn["reused"].total_ms, 0.0);
    assert_eq!(
        c.invalid_reason(ns_to_ms(20)),
        None,
        "within the limit, the run stands"
    );
    let why = c
        .invalid_reason(ns_to_ms(19))
        .expect("longer than the limit");
    assert!(why.contains("control probes"), "{why}");
}

#[test]
fn app_downtime_while_the_control_answers_is_counted() {
    let v = run(&all_on_time(), &app_and_control(&[30, 40], &[]), &[]);
    assert_eq!(v.downtime.intervals, [window(30, 50)]);
    assert_eq!((v.downtime.windows, v.downtime.total_ms), (1, ns_to_ms(20)));
    let c = v.control.as_ref().unwrap();
    assert_eq!((c.probes, c.failed_probes, c.excluded_ms), (11, 0, 0.0));
    assert!(c.windows.is_empty() && c.excluded.is_empty());
}

#[test]
fn only_the_overlap_with_a_control_window_is_taken_out() {
    // The app is down from 20 to 70, the control from 40 to 50: two pieces stay.
    let v = run(
        &all_on_time(),
        &app_and_control(&[20, 30, 40, 50, 60], &[40]),
        &[],
    );
    assert_eq!(v.downtime.intervals, [window(20, 40), window(50, 70)]);
    assert_eq!(
        (v.downtime.windows, v.downtime.total_ms, v.downtime.max_ms),
        (2, ns_to_ms(40), ns_to_ms(20))
    );
    assert_eq!(v.downtime_by_conn["reused"].intervals, v.downtime.intervals);
    let c = v.control.as_ref().unwrap();
    assert_eq!(
        (c.excluded.as_slice(), c.excluded_ms),
        (&[window(40, 50)][..], ns_to_ms(10))
    );
    // A control window reaching past the app's cuts its end only; a trailing failure of
    // both (a window of no length) goes with it.
    let v = run(
        &all_on_time(),
        &app_and_control(&[20, 30, 100], &[30, 40, 100]),
        &[],
    );
    assert_eq!(v.downtime.intervals, [window(20, 30)]);
    assert_eq!(v.control.unwrap().excluded, [window(30, 40)]);
}

#[test]
fn without_control_probes_the_verdict_is_as_before() {
    let probes: Vec<Probe> = app_and_control(&[30, 40], &[])
        .into_iter()
        .filter(|p| !p.is_control())
        .collect();
    let v = run(&all_on_time(), &probes, &[]);
    assert_eq!(v.control, None);
    assert_eq!(v.downtime, downtime(&probes));
    assert_eq!(v.downtime_by_conn, downtime_by_series(&probes));
    // Control probes that never fail change nothing of the app's figures.
    let with = run(&all_on_time(), &app_and_control(&[30, 40], &[]), &[]);
    assert_eq!(
        (&with.downtime, &with.downtime_by_conn),
        (&v.downtime, &v.downtime_by_conn)
    );
    let json = serde_json::to_string(&v).unwrap();
    assert!(
        !json.contains("\"control\"") && !json.contains("\"faults\""),
        "{json}"
    );
}

#[test]
fn subtraction_cuts_windows_as_half_open_intervals() {
    let w = [window(0, 10), window(20, 30), window(40, 40)];
    assert_eq!(subtract(&w, &[]), w);
    assert_eq!(
        subtract(&w, &[window(5, 25)]),
        [window(0, 5), window(25, 30), window(40, 40)]
    );
    assert_eq!(
        subtract(&w, &[window(10, 20)]),
        w,
        "touching is not overlapping"
    );
    assert_eq!(
        subtract(&w, &[window(2, 4), window(6, 8), window(35, 45)]),
        [window(0, 2), window(4, 6), window(8, 10), window(20, 30)]
    );
    assert_eq!(
        overlaps(&w, &[window(5, 25), window(8, 12)]),
        [window(5, 10), window(20, 25)]
    );
    // A zero-length window (a trailing single failure) goes when a cut holds its instant,
    // or when the control failed alone at that very instant (a zero-length cut there); a
    // zero-length cut anywhere else cuts nothing.
    let trailing = [window(40, 40)];
    assert!(subtract(&trailing, &[window(35, 45)]).is_empty());
    assert!(subtract(&trailing, &[window(40, 40)]).is_empty());
    assert_eq!(
        subtract(&trailing, &[window(30, 40)]),
        trailing,
        "[30, 40) ends before 40"
    );
    assert_eq!(subtract(&trailing, &[window(41, 41)]), trailing);
    assert_eq!(subtract(&[window(0, 10)], &[window(5, 5)]), [window(0, 10)]);
}

/// A rollback's cost is counted on the checked run's grid ([`crate::analysis::rollback`]).
mod rollback_cost {
    use crate::analysis::checker::Checker;
    use crate::analysis::rollback::of_run;
    use crate::model::arrival::Arrival;
    use crate::model::expected::{ExpectedSpec, SourceSpec};
    use crate::model::ledger::{Kind, LedgerEvent};
    use crate::model::probe::Probe;
    use crate::model::verdict::{Verdict, Window};

    const S: i64 = 1_000_000_000;

    fn at(t_s: i64, kind: Kind) -> LedgerEvent {
        LedgerEvent::new(t_s * S, kind, "", "B", "")
    }

    #[test]
    fn a_rollback_is_timed_from_the_first_failure_and_costed_until_the_recovery() {
        let spec = ExpectedSpec {
            sources: vec![SourceSpec {
                source: "tick".into(),
                epoch_ns: 0,
                period_ns: 10 * S,
                items: 10,
                item_delay_ns: S,
                first: 0,
                last: 9,
                counts: None,
            }],
            late_after_ns: 2 * S,
            completion: None,
        };
        let ledger = vec![
            at(50, Kind::PhaseBegun).with("phase", "update"),
            at(53, Kind::InvocationFailed),
            at(58, Kind::AnalysisEvaluated),
            at(60, Kind::AnalysisFailed)
                .with("window_ms", 10_000)
                .with("failed", "invocations.failed_rate<0.2"),
            at(60, Kind::RollbackTriggered).with("by", "analysis"),
            at(60, Kind::PhaseBegun).with("phase", "rollback"),
            at(64, Kind::PhaseEnded).with("phase", "rollback"),
        ];
        // Every item arrives on time but A(4,0), A(5,3) and A(7,0).
        let arrivals: Vec<Arrival> = (0..10u64)
            .flat_map(|m| (0..10u64).map(move |n| (m, n)))
            .filter(|key| ![(4, 0), (5, 3), (7, 0)].contains(key))
            .map(|(m, n)| Arrival::new(spec.sources[0].scheduled_ns(m, n), "tick", m, n, "A"))
            .collect();
        let mut checker = Checker::new(&spec).unwrap().with_listed_limit(0);
        for a in &arrivals {
            checker.push(&a.as_ref());
        }
        let (_, grid) = checker.finish_with_grid(&[], &[]);
        let v = Verdict {
            downtime: crate::model::verdict::Downtime {
                intervals: vec![Window {
                    start_ns: 62 * S,
                    end_ns: 70 * S,
                }],
                ..Default::default()
            },
            ..Verdict::default()
        };
        let mut error = Probe::new(52 * S, 53 * S, false);
        error.status = Some(500);
        // The front door's 503 (no instance ready) is the strategy's, not the release's.
        let mut no_instance = Probe::new(51 * S, 51 * S, false);
        no_instance.status = Some(503);
        // Nor is the sink's own /health (the control series) failing the release's.
        let mut control = Probe::new(51 * S, 51 * S, false);
        (control.status, control.conn) =
            (Some(500), Some(crate::model::probe::CONTROL_SERIES.into()));
        let probes = vec![no_instance, control, error];
        let r = of_run(&ledger, &probes, &v, &grid).unwrap();
        assert_eq!(r.by, "analysis");
        assert_eq!(
            r.first_failure_ns,
            Some(52 * S),
            "the failed probe came first"
        );
        assert_eq!(r.time_to_detect_ms, 8_000.0);
        assert_eq!(r.time_to_roll_back_ms, Some(4_000.0));
        assert_eq!(r.recovery_ms, Some(12_000.0));
        assert_eq!(r.failing_window, Some((50 * S, 60 * S)));
        assert_eq!(r.evaluations, 1);
        assert_eq!(
            r.lost, 1,
            "only A(5,3), scheduled at 53 s, fell between 52 s and 64 s, though none is listed"
        );
        assert_eq!(r.downtime_ms, 2_000.0, "62 s to 64 s of the window");
        assert_eq!(
            of_run(&ledger[..3], &probes, &v, &grid),
            None,
            "no rollback"
        );
    }
}

/// A fault's cost is counted on the checked run's grid ([`crate::analysis::faults`]).
mod fault_cost {
    use crate::analysis::checker::Checker;
    use crate::analysis::faults::of_run;
    use crate::model::arrival::Arrival;
    use crate::model::expected::{ExpectedSpec, SourceSpec};
    use crate::model::ledger::{Kind, LedgerEvent};
    use crate::model::verdict::{Downtime, Window};

    const S: i64 = 1_000_000_000;

    fn row(t_s: i64, kind: Kind, instance: &str) -> LedgerEvent {
        LedgerEvent::new(t_s * S, kind, instance, "", "")
    }

    fn started(t_s: i64, fault: u64, kind: &str) -> LedgerEvent {
        row(t_s, Kind::FaultStarted, "")
            .with("fault", fault)
            .with("kind", kind)
    }

    fn ended(t_s: i64, fault: u64, kind: &str) -> LedgerEvent {
        row(t_s, Kind::FaultEnded, "")
            .with("fault", fault)
            .with("kind", kind)
    }

    #[test]
    fn the_cost_is_the_downtime_inside_the_window_and_the_items_of_its_loops() {
        // `tick`: occurrences 0..=9, 10 items 1 s apart every 10 s.
        let spec = ExpectedSpec {
            sources: vec![SourceSpec {
                source: "tick".into(),
                epoch_ns: 0,
                period_ns: 10 * S,
                items: 10,
                item_delay_ns: S,
                first: 0,
                last: 9,
                counts: None,
            }],
            late_after_ns: S / 2,
            completion: None,
        };
        let due = |m: u64, n: u64| spec.sources[0].scheduled_ns(m, n);
        let mut arrivals = Vec::new();
        for m in 0..10u64 {
            for n in 0..10u64 {
                let t = due(m, n);
                match (m, n) {
                    // Lost: due at 31 s (inside), at 38 s (after it, in a loop it met)
                    // and at 45 s (in a loop it never met).
                    (3, 1) | (3, 8) | (4, 5) => {}
                    // Late: due at 33 s (inside), 2 s late.
                    (3, 3) => arrivals.push(Arrival::new(t + 2 * S, "tick", m, n, "A")),
                    // Duplicated: due at 32 s (inside) and 20 s (outside).
                    (3, 2) | (2, 0) => {
                        arrivals.push(Arrival::new(t, "tick", m, n, "A"));
                        arrivals.push(Arrival::new(t + 1, "tick", m, n, "A"));
                    }
                    _ => arrivals.push(Arrival::new(t, "tick", m, n, "A")),
                }
            }
        }
        // The verdict lists none of them: the cost still counts every one.
        let mut checker = Checker::new(&spec).unwrap().with_listed_limit(0);
        for a in &arrivals {
            checker.push(&a.as_ref());
        }
        let ledger = vec![started(30, 0, "pause"), ended(34, 0, "pause")];
        let (v, grid) = checker.finish_with_grid(&[], &ledger);
        assert!(v.lost_items.is_empty());
        // Down from 29 s to 31 s and from 33.5 s to 40 s: 1 s and 0.5 s inside.
        let downtime = Downtime {
            intervals: vec![
                Window {
                    start_ns: 29 * S,
                    end_ns: 31 * S,
                },
                Window {
                    start_ns: 33 * S + S / 2,
                    end_ns: 40 * S,
                },
            ],
            ..Downtime::default()
        };
        let f = of_run(&ledger, &downtime, &grid);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].downtime_ms, 1_500.0);
        // Loop 3 ran from 30 s to 39 s: its lost, duplicated and late items, the one lost
        // after the window included; loop 2's duplicate and loop 4's loss are not the fault's.
        assert_eq!((f[0].lost, f[0].duplicated, f[0].late), (2, 1, 1));
        assert_eq!(grid.due_within(30 * S, 34 * S).lost, 1);
        // A window of no length (a crash not restarted) costs the loop it fell in.
        let instant = vec![started(39, 0, "crash"), ended(39, 0, "crash")];
        let f = of_run(&instant, &downtime, &grid);
        assert_eq!((f[0].lost, f[0].downtime_ms), (2, 0.0));
        // Both ends count: a loop whose last item is due at the window's start is met.
        let between = vec![started(39, 0, "crash"), ended(40, 0, "crash")];
        assert_eq!(of_run(&between, &downtime, &grid)[0].lost, 3);
    }
}
