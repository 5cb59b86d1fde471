//! Scoped measures against hand-computed answers, and the worst window against a brute
//! force over every integer start (the definition, read literally).

use proptest::prelude::*;

use super::*;
use crate::model::observations::ItemSeen;

fn item(scheduled_ns: i64, copies: u32, late: bool) -> ItemSeen {
    ItemSeen {
        scheduled_ns,
        first_ns: (copies > 0).then_some(scheduled_ns + 1),
        copies,
        late,
    }
}

/// Ten items a second for 10 s (0..10 s); the update from 4 s to 6 s. Lost: the items due at
/// 4.0, 4.1, 4.2 s and 8.0 s; one duplicate at 5 s; one late at 1 s. Probes every 100 ms, failing
/// from 4.0 s to 4.5 s (5 probes); one downtime window 4.0..4.5 s.
fn run() -> Observations {
    let s = 1_000_000_000;
    let ms = 1_000_000;
    let mut items = Vec::new();
    for k in 0..100 {
        let t = k * 100 * ms;
        let lost = [4000, 4100, 4200, 8000].contains(&(k * 100));
        let copies = if lost {
            0
        } else if k * 100 == 5000 {
            2
        } else {
            1
        };
        items.push(item(t, copies, k * 100 == 1000));
    }
    let probes = (0..100)
        .map(|k| (k * 100 * ms, !(40..45).contains(&k)))
        .collect();
    let mut first_arrivals_ns: Vec<i64> = items.iter().filter_map(|i| i.first_ns).collect();
    first_arrivals_ns.sort_unstable();
    Observations {
        items,
        first_arrivals_ns,
        probes,
        downtime: vec![(4 * s, 4 * s + 500 * ms)],
        update: Some((4 * s, 6 * s)),
        span: (0, 9_900 * ms + 1),
        steady_ns: s,
    }
}

fn v(o: &Observations, text: &str) -> Option<f64> {
    value(o, &text.parse().unwrap())
}

#[test]
fn phases_and_spans_count_what_was_due_in_them() {
    let o = run();
    assert_eq!(v(&o, "lost{phase=update}"), Some(3.0));
    assert_eq!(v(&o, "lost{phase=before}"), Some(0.0));
    assert_eq!(v(&o, "lost{phase=after}"), Some(1.0));
    assert_eq!(v(&o, "expected{phase=update}"), Some(20.0));
    assert_eq!(v(&o, "duplicated{phase=update}"), Some(1.0));
    assert_eq!(v(&o, "late{phase=before}"), Some(1.0));
    // ok: delivered once and on time; 20 due during the update, 3 lost, 1 duplicated.
    assert_eq!(v(&o, "ok{phase=update}"), Some(16.0));
    assert_eq!(v(&o, "lost_rate{phase=update}"), Some(3.0 / 20.0));
    assert_eq!(v(&o, "probes.failed{phase=update}"), Some(5.0));
    assert_eq!(v(&o, "probes.failed_rate{phase=update}"), Some(5.0 / 20.0));
    // The downtime window cut to a span: 4.2 s to 4.5 s of it is in [4.2 s, 4.7 s).
    assert_eq!(
        v(&o, "downtime.total_ms{from=update,for=200ms}"),
        Some(200.0)
    );
    assert_eq!(v(&o, "downtime.total_ms{from=update_end}"), Some(0.0));
    assert_eq!(v(&o, "downtime.windows{phase=before}"), Some(0.0));
    assert_eq!(v(&o, "lost{from=start,for=4100ms}"), Some(1.0));
    // The whole run, as a scope with nothing but a window wider than the run.
    assert_eq!(v(&o, "lost{window=60s}"), Some(4.0));
}

#[test]
fn the_worst_window_is_exact() {
    let o = run();
    // 4.0, 4.1 and 4.2 s in one 300 ms window; no 200 ms window holds all three.
    assert_eq!(v(&o, "lost{window=300ms}"), Some(3.0));
    assert_eq!(v(&o, "lost{window=200ms}"), Some(2.0));
    // Five failed probes 100 ms apart: a 500 ms window holds all five of its five.
    assert_eq!(v(&o, "probes.failed_rate{window=500ms}"), Some(1.0));
    assert_eq!(v(&o, "probes.failed_rate{window=1s}"), Some(0.5));
    assert_eq!(v(&o, "downtime.total_ms{window=250ms}"), Some(250.0));
    // Larger is better: the fewest delivered in a 300 ms window.
    assert_eq!(v(&o, "delivered{window=300ms}"), Some(0.0));
    // Inside a phase: after the update, only 8.0 s was lost.
    assert_eq!(v(&o, "lost{phase=after,window=1s}"), Some(1.0));
}

#[test]
fn no_update_no_phase() {
    let mut o = run();
    o.update = None;
    assert_eq!(v(&o, "lost{phase=update}"), None);
    assert_eq!(v(&o, "lost{from=update,for=1s}"), None);
    assert_eq!(v(&o, "lost{window=1s}"), Some(3.0));
    assert_eq!(recovery(&o), None);
    assert_eq!(throughput(&o), None);
}

#[test]
fn recovery_is_first_failure_to_first_steady_window() {
    let o = run();
    let r = recovery(&o).unwrap();
    // The first failure at or after 4 s is the item and probe due at 4.0 s. After it, the
    // last failures in the update are 4.4 s (probe), then 5.0 s (the duplicate); the first
    // pass after which 1 s holds no failure is 5.1 s; 8.0 s is more than 1 s later.
    assert_eq!(r.first_failure_ns, Some(4_000_000_000));
    assert_eq!(r.steady_from_ns, Some(5_100_000_000));
    assert_eq!(r.recovery_ms, Some(1100.0));
    // Nothing failing after the update began: 0.
    let mut calm = run();
    calm.update = Some((9_000_000_000, 9_500_000_000));
    assert_eq!(recovery(&calm).unwrap().recovery_ms, Some(0.0));
    // Failing to the end: never recovered.
    let mut broken = run();
    for i in broken
        .items
        .iter_mut()
        .filter(|i| i.scheduled_ns >= 4_000_000_000)
    {
        i.copies = 0;
    }
    assert_eq!(recovery(&broken).unwrap().recovery_ms, None);
}

#[test]
fn throughput_drop_is_during_against_before() {
    let o = run();
    let t = throughput(&o).unwrap();
    // Before: 40 items due in [0, 4 s), all delivered (first arrival 1 ns after), 10 a
    // second. During: 17 delivered in [4 s, 6 s) (20 due, 3 lost), 8.5 a second.
    assert_eq!(t.before_per_s, 10.0);
    assert_eq!(t.update_per_s, 8.5);
    assert!((t.drop - 0.15).abs() < 1e-12, "{}", t.drop);
    assert!((v(&o, "throughput.drop{phase=update}").unwrap() - 0.15).abs() < 1e-12);
    // The worst 300 ms: nothing delivered in [4.0 s, 4.3 s).
    assert_eq!(v(&o, "throughput.drop{window=300ms}"), Some(1.0));
}

/// Observations with small integer times, so every window start can be tried.
fn small() -> impl Strategy<Value = Observations> {
    (
        prop::collection::vec((0i64..60, 0u32..3, any::<bool>()), 0..25),
        prop::collection::vec((0i64..60, any::<bool>()), 0..25),
        prop::collection::vec((0i64..60, 1i64..10), 0..3),
    )
        .prop_map(|(items, probes, windows)| {
            let mut items: Vec<ItemSeen> = items
                .into_iter()
                .map(|(t, copies, late)| item(t, copies, late && copies > 0))
                .collect();
            items.sort_by_key(|i| i.scheduled_ns);
            let mut probes = probes;
            probes.sort_by_key(|p| p.0);
            let mut downtime: Vec<(i64, i64)> =
                windows.into_iter().map(|(s, d)| (s, s + d)).collect();
            downtime.sort_unstable();
            let mut first_arrivals_ns: Vec<i64> = items.iter().filter_map(|i| i.first_ns).collect();
            first_arrivals_ns.sort_unstable();
            Observations {
                items,
                first_arrivals_ns,
                probes,
                downtime,
                update: Some((10, 40)),
                span: (0, 70),
                steady_ns: 5,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn the_worst_window_is_the_worst_of_every_start(o in small(), w in 1i64..20, which in 0usize..7) {
        let metric = [
            Metric::Lost,
            Metric::Delivered,
            Metric::LateRate,
            Metric::ProbesFailedRate,
            Metric::DowntimeTotalMs,
            Metric::DowntimeWindows,
            Metric::ThroughputDrop,
        ][which];
        let m = Measure { metric, scope: Scope { window_ns: Some(w), ..Scope::default() } };
        let got = value(&o, &m);
        // Every integer start of [0, 70 - w], each window's value read literally.
        let reader = Reader::new(&o, metric);
        let all = (0..=70 - w).filter_map(|t| reader.value(t, t + w));
        let want = if metric.larger_is_better() { all.reduce(f64::min) } else { all.reduce(f64::max) };
        prop_assert_eq!(got, want);
    }
}
