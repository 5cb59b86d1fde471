//! The rollback gate: rolls the update back at `run.rollback_at`, or when an evaluation of
//! `[analysis]` over the live probes and the ledger fails a threshold (Argo Rollouts' and
//! Flagger's analysis), at most once.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::measured::Failure;
use crate::clock::Schedule;
use crate::ledger::Ledger;
use crate::platform::Platform;
use crate::run_plan::RunPlan;

/// Rolls the update back when the scenario asks, at most once: at `run.rollback_at`, or at
/// the first evaluation of `[analysis]` whose window fails a threshold (every evaluation is
/// recorded in the ledger). Returns a failure only when the rollback itself failed.
pub async fn roll_back_when_asked(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    live: &crate::analysis::LiveProbes,
    schedule: Schedule,
    stop: CancellationToken,
) -> Option<Failure> {
    use crate::analysis::{evaluate, WindowThreshold};
    let s = &plan.scenario;
    let t = &plan.timing;
    let manual = t.rollback_at.map(|at| schedule.epoch + at);
    let analysis = s.analysis.as_ref().map(|a| {
        let thresholds: Vec<WindowThreshold> = a
            .thresholds
            .iter()
            .filter_map(|t| WindowThreshold::parse(t).ok())
            .collect();
        (
            thresholds,
            t.analysis_window,
            t.analysis_interval,
            u64::from(a.min_samples),
        )
    });
    if manual.is_none() && analysis.is_none() {
        return None;
    }
    let far = ledger.clock().now() + Duration::from_secs(365 * 24 * 3600);
    let mut tick =
        tokio::time::interval(analysis.as_ref().map_or(Duration::from_secs(3600), |a| a.2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let by = loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(manual.unwrap_or(far)), if manual.is_some() => {
                break "manual";
            }
            _ = tick.tick(), if analysis.is_some() => {
                let (thresholds, window, _, min_samples) =
                    analysis.as_ref().expect("checked by the guard");
                let t_ns = ledger.now_ns();
                let window_ns = window.as_nanos() as i64;
                let judged = evaluate(
                    thresholds,
                    t_ns,
                    window_ns,
                    *min_samples,
                    &live.since(t_ns - window_ns),
                    &ledger.events_where(|e| e.t_ns > t_ns - window_ns),
                );
                let failed = judged.iter().any(|j| j.ok == Some(false));
                let mut e = ledger
                    .event(reports::ledger::Kind::AnalysisEvaluated, "", "", "")
                    .with("window_ms", window.as_millis())
                    .with("ok", !failed);
                for j in &judged {
                    let name = j.threshold.metric.name();
                    e = e
                        .with(name, j.value.map_or("none".into(), |v| format!("{v:.4}")))
                        .with(&format!("{name}.samples"), j.samples);
                }
                ledger.record(e);
                if failed {
                    let why: Vec<String> = judged
                        .iter()
                        .filter(|j| j.ok == Some(false))
                        .map(|j| j.threshold.to_string())
                        .collect();
                    ledger.record(
                        ledger
                            .event(reports::ledger::Kind::AnalysisFailed, "", "", "")
                            .with("window_ms", window.as_millis())
                            .with("failed", why.join("+")),
                    );
                    break "analysis";
                }
            }
            () = stop.cancelled() => return None,
        }
    };
    ledger.record(
        ledger
            .event(
                reports::ledger::Kind::RollbackTriggered,
                "",
                &s.app.from,
                "",
            )
            .with("by", by),
    );
    // The scenario's checks allow a rollback only on a platform that has one.
    let rolled = match platform.rollback() {
        Some(r) => r.rollback(&s.app.to, &s.app.from, s.app.instances).await,
        None => Err(anyhow::anyhow!("the platform has no rollback")),
    };
    rolled
        .err()
        .map(|e| Failure::new("update", format!("the rollback failed: {e:#}")))
}
