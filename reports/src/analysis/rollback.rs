//! What a rollback took, from the ledger and the verdict: what triggered it (`manual` at
//! `run.rollback_at`, or the `analysis` whose window failed), how long after the first
//! failure it was detected, how long rolling back took, and what was lost, duplicated and
//! down from the first failure to the recovery (the rollback's end).

use crate::analysis::key_grid::KeyGrid;
use crate::model::ledger::{Kind, LedgerEvent};
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
    let triggered = ledger.iter().find(|e| e.event == Kind::RollbackTriggered)?;
    let phase = |kind: Kind| {
        ledger
            .iter()
            .find(|e| e.event == kind && e.get("phase") == Some("rollback"))
            .map(|e| e.t_ns)
    };
    let update_begun_ns = ledger
        .iter()
        .filter(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
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
        .filter(|e| matches!(e.event, Kind::InvocationFailed | Kind::StartFailed))
        .map(|e| e.t_ns)
        .min();
    let failing_probe = probes
        .iter()
        .filter(|p| !p.ok && p.status == Some(500) && !p.is_control())
        .filter(|p| p.intended_ns >= update_begun_ns && p.intended_ns <= triggered.t_ns)
        .map(|p| p.intended_ns)
        .min();
    let first_failure_ns = [failing_event, failing_probe].into_iter().flatten().min();
    let rolled_back_ns = phase(Kind::PhaseEnded);
    let analysis = ledger.iter().find(|e| e.event == Kind::AnalysisFailed);
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
            .filter(|e| e.event == Kind::AnalysisEvaluated)
            .count() as u64,
        time_to_detect_ms: ns_to_ms(triggered.t_ns - from),
        time_to_roll_back_ms: rolled_back_ns.map(|r| ns_to_ms(r - triggered.t_ns)),
        recovery_ms: rolled_back_ns.map(|r| ns_to_ms(r - from)),
        lost: cost.lost,
        duplicated: cost.duplicated,
        downtime_ms: v.downtime.overlap_ms(from, to),
    })
}
