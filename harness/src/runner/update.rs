//! The update on the run's schedule: at `update_at` the platform updates, surrounded by the
//! ledger's `update` phase; a rollback (by hand or by the analysis) may run beside it; the
//! run goes on to `duration`, or ends at once when the update fails.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::measured::Failure;
use super::rollback_gate::roll_back_when_asked;
use crate::clock::Schedule;
use crate::ledger::Ledger;
use crate::platform::Platform;
use crate::run_plan::RunPlan;

/// Waits for `update_at`, performs the update, and runs on to `duration`; a failed update
/// ends the run at once rather than after the whole duration.
pub async fn perform_update(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    live: &crate::analysis::LiveProbes,
    schedule: Schedule,
    cancel: &CancellationToken,
) -> Option<Failure> {
    let s = &plan.scenario;
    if !sleep_until(schedule.epoch + plan.timing.update_at, cancel).await {
        return Some(Failure::interrupted("run"));
    }
    let mut update = {
        let (platform, ledger) = (platform.clone(), ledger.clone());
        let (from, to, n) = (s.app.from.clone(), s.app.to.clone(), s.app.instances);
        // The `update` phase is the runner's, on every platform: update_duration_ms is its
        // span, whatever the platform writes inside it.
        tokio::spawn(async move {
            let phase = |kind| ledger.event(kind, "", &to, "").with("phase", "update");
            ledger.record(phase(reports::ledger::Kind::PhaseBegun));
            let updated = platform.update(&from, &to, n).await;
            ledger.record(phase(reports::ledger::Kind::PhaseEnded));
            updated
        })
    };
    // The rollback, manual or analysis-gated, runs beside the update; it stops waiting at
    // the run's end, but a rollback under way is waited for.
    let rollback_stop = CancellationToken::new();
    let rollback = {
        let (plan, platform, ledger, live) =
            (plan.clone(), platform.clone(), ledger.clone(), live.clone());
        let stop = rollback_stop.clone();
        tokio::spawn(async move {
            roll_back_when_asked(&plan, &platform, &ledger, &live, schedule, stop).await
        })
    };
    let failure = await_update(plan, &mut update, schedule, cancel).await;
    rollback_stop.cancel();
    if failure.as_ref().is_some_and(|f| f.interrupted) {
        rollback.abort();
        return failure;
    }
    let rolled = match rollback.await {
        Ok(f) => f,
        Err(e) => Some(Failure::new(
            "update",
            format!("the rollback task failed: {e}"),
        )),
    };
    failure.or(rolled)
}

/// Waits for the update and runs on to `duration`; a failed update ends the run at once.
async fn await_update(
    plan: &RunPlan,
    update: &mut tokio::task::JoinHandle<anyhow::Result<()>>,
    schedule: Schedule,
    cancel: &CancellationToken,
) -> Option<Failure> {
    let failed = |joined: Result<anyhow::Result<()>, tokio::task::JoinError>| match joined {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(Failure::new("update", format!("{e:#}"))),
        Err(e) => Some(Failure::new(
            "update",
            format!("the update task failed: {e}"),
        )),
    };
    let end = schedule.epoch + plan.timing.duration;
    let mut done = false;
    tokio::select! {
        biased;
        () = tokio::time::sleep_until(end) => {}
        joined = &mut *update => {
            if let Some(f) = failed(joined) {
                return Some(f);
            }
            done = true;
        }
        () = cancel.cancelled() => {
            update.abort();
            return Some(Failure::interrupted("update"));
        }
    }
    if !done {
        tokio::select! {
            biased;
            joined = &mut *update => {
                if let Some(f) = failed(joined) {
                    return Some(f);
                }
            }
            () = cancel.cancelled() => {
                update.abort();
                return Some(Failure::interrupted("update"));
            }
        }
    } else if !sleep_until(end, cancel).await {
        return Some(Failure::interrupted("run"));
    }
    None
}

/// Sleeps until `at`, or returns false if the run was cancelled first.
pub async fn sleep_until(at: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        () = tokio::time::sleep_until(at) => true,
        () = cancel.cancelled() => false,
    }
}
