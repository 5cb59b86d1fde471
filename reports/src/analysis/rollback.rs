//! What a rollback took, from the ledger and the verdict: what triggered it (`manual` at
//! `run.rollback_at`, or the `analysis` whose window failed), how long after the first
//! failure it was detected, how long rolling back took, and what was lost, duplicated and
//! down from the first failure to the recovery (the rollback's end).

use crate::analysis::checker::KeyGrid;
use crate::model::ledger::{event, LedgerEvent};
use crate::model::probe::Probe;
use crate::model::verdict::{ns_to_ms, Rollback, Verdict};

/// The run's rollback; `None` when none was triggered. `items` is the checked run's grid:
/// the items lost and duplicated in between are counted on it, every one of them.
pub fn of_run(
    ledger: &[LedgerEvent],
    probes: &[Probe],
    v: &Verdict,
    items: &KeyGrid,
) -> Option<Rollback> {
    let triggered = ledger
        .iter()
        .find(|e| e.event == event::ROLLBACK_TRIGGERED)?;
    let phase = |kind: &str| {
        ledger
            .iter()
            .find(|e| e.event == kind && e.get("phase") == Some("rollback"))
            .map(|e| e.t_ns)
    };
    let update_begun_ns = ledger
        .iter()
        .filter(|e| e.event == event::PHASE_BEGUN && e.get("phase") == Some("update"))
        .map(|e| e.t_ns)
        .min()
        .unwrap_or(triggered.t_ns);
    // The release's first failure after the update began: a run that answered an error, a
    // start that failed, or an instance's own 500. What the strategy itself does (a run it
    // kills, the front door's 503 while no instance is ready) is not the release's doing,
    // nor is the control series (the sink's own /health).
    let failing_event = ledger
        .iter()
        .filter(|e| e.t_ns >= update_begun_ns && e.t_ns <= triggered.t_ns)
        .filter(|e| {
            matches!(
                e.event.as_str(),
                event::INVOCATION_FAILED | event::START_FAILED
            )
        })
        .map(|e| e.t_ns)
        .min();
    let failing_probe = probes
        .iter()
        .filter(|p| !p.ok && p.status == Some(500) && !p.is_control())
        .filter(|p| p.intended_ns >= update_begun_ns && p.intended_ns <= triggered.t_ns)
        .map(|p| p.intended_ns)
        .min();
    let first_failure_ns = [failing_event, failing_probe].into_iter().flatten().min();
    let rolled_back_ns = phase(event::PHASE_ENDED);
    let analysis = ledger.iter().find(|e| e.event == event::ANALYSIS_FAILED);
    let failing_window = analysis.and_then(|a| {
        let ms: i64 = a.get("window_ms")?.parse().ok()?;
        Some((a.t_ns - ms * 1_000_000, a.t_ns))
    });
    let from = first_failure_ns.unwrap_or(update_begun_ns);
    let to = rolled_back_ns.unwrap_or(i64::MAX);
    let cost = items.due_within(from, to);
    Some(Rollback {
        by: triggered.get("by").unwrap_or("manual").to_owned(),
        failed: analysis.and_then(|a| a.get("failed")).map(str::to_owned),
        update_begun_ns,
        first_failure_ns,
        detected_ns: triggered.t_ns,
        rolled_back_ns,
        failing_window,
        evaluations: ledger
            .iter()
            .filter(|e| e.event == event::ANALYSIS_EVALUATED)
            .count() as u64,
        time_to_detect_ms: ns_to_ms(triggered.t_ns - from),
        time_to_roll_back_ms: rolled_back_ns.map(|r| ns_to_ms(r - triggered.t_ns)),
        recovery_ms: rolled_back_ns.map(|r| ns_to_ms(r - from)),
        lost: cost.lost,
        duplicated: cost.duplicated,
        downtime_ms: v.downtime.overlap_ms(from, to),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::checker::Checker;
    use crate::model::arrival::Arrival;
    use crate::model::expected::{ExpectedSpec, SourceSpec};
    use crate::model::verdict::Window;

    const S: i64 = 1_000_000_000;

    fn at(t_s: i64, kind: &str) -> LedgerEvent {
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
            at(50, event::PHASE_BEGUN).with("phase", "update"),
            at(53, event::INVOCATION_FAILED),
            at(58, event::ANALYSIS_EVALUATED),
            at(60, event::ANALYSIS_FAILED)
                .with("window_ms", 10_000)
                .with("failed", "invocations.failed_rate<0.2"),
            at(60, event::ROLLBACK_TRIGGERED).with("by", "analysis"),
            at(60, event::PHASE_BEGUN).with("phase", "rollback"),
            at(64, event::PHASE_ENDED).with("phase", "rollback"),
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
