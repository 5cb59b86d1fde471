//! The update strategies: how a platform that runs the instances itself moves the app from
//! one version to the next.
//!
//! Each strategy is one file holding its scenario section (`[swap]`, `[rolling]`, ...), the
//! checks of that section, its plan (the section with every duration scaled to the run's
//! time) and how it performs the update and rolls it back. They drive the platform only
//! through [`instances::Instances`], so a strategy is written once for every platform that
//! runs instances. [`Plan`] is the one arm per strategy that carries the variation (no copy
//! of the runner per strategy). Every phase is recorded in the ledger (`phase_begun` /
//! `phase_ended`); the runner writes the whole update as the `update` phase around it.

pub mod drain;
pub mod graceful;
pub mod instances;
pub mod recreate;
pub mod rolling;
mod steps;
pub mod swap;

use std::time::Duration;

use reports::ledger::Kind;

use crate::duration::Span;
use crate::scenario::{Scenario, Strategy};
use crate::slot::PRODUCTION;
use instances::{Instances, Phase};

pub use graceful::jittered_graces;
pub use steps::{start_all, start_many};

/// A strategy with its parameters, scaled to the run's time.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Start the new version in staging, warm it up, swap the slots, recycle the old ones.
    Swap(swap::SwapPlan),
    /// Stop every instance, then start the new version: nothing serves in between.
    Recreate(recreate::RecreatePlan),
    /// Drain the old instances batch by batch while replacements start asynchronously.
    Rolling(rolling::RollingPlan),
    /// SIGTERM (the cancellation token), SIGKILL after a jittered grace, then the new version.
    Graceful(graceful::GracefulPlan),
    /// Ask each instance to prepare for stop, wait until all are safe to stop, replace them.
    Drain(drain::DrainPlan),
}

impl Plan {
    /// The plan of the scenario's strategy, every duration scaled by `scaled` (the run plan
    /// is the one place that scales); `None` where the strategy is a label (a platform
    /// whose own update is the plan).
    pub fn from_scenario(
        s: &Scenario,
        scaled: &dyn Fn(Span) -> Duration,
        seed: u64,
    ) -> Option<Plan> {
        Some(match &s.strategy {
            Strategy::Swap(w) => Plan::Swap(w.plan(scaled)),
            Strategy::Recreate(r) => Plan::Recreate(r.plan(scaled)),
            Strategy::Rolling(r) => Plan::Rolling(r.plan(
                scaled,
                rolling::RollingContext {
                    instances: s.app.instances,
                    scaled: s.scale.is_some(),
                    update_at: s.run.update_at,
                },
            )),
            Strategy::Graceful(g) => Plan::Graceful(g.plan(scaled, seed)),
            Strategy::Drain(d) => Plan::Drain(d.plan(scaled)),
            Strategy::Command(_) => return None,
        })
    }

    /// Moves the production instances from version `from` to `to` (`instances` of them).
    pub async fn perform<I: Instances>(
        &self,
        host: &I,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        // The update is accepted (the site update "returns success": the Flex plan's
        // `deploymentStart`); a rolling update may begin only after its timing gap, and until
        // then the platform goes on deploying `from`.
        host.ledger()
            .record(host.ledger().event(Kind::UpdateAccepted, "", to, ""));
        if let Plan::Rolling(r) = self {
            return r.perform(host, to, instances).await;
        }
        host.set_target_version(to);
        match self {
            Plan::Swap(p) => p.perform(host, from, to, instances).await,
            Plan::Recreate(p) => p.perform(host, to, instances).await,
            Plan::Graceful(p) => p.perform(host, to, instances).await,
            Plan::Drain(p) => p.perform(host, to, instances).await,
            Plan::Rolling(_) => unreachable!("performed above"),
        }
    }

    /// Moves the production instances back from `from` (a bad release) to `to`, the
    /// strategy's own way back, as the `rollback` phase. Nothing to do when only `to` serves
    /// already (an update that was cancelled or never started `from`).
    pub async fn rollback<I: Instances>(
        &self,
        host: &I,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        host.phase_begun("rollback", to);
        // The update in progress stands down: its loops and batches check the target.
        host.set_target_version(to);
        if matches!(self, Plan::Swap(_)) {
            // A swap is not interrupted halfway: the rollback waits for it to end.
            host.wait_for_ledger(|e| {
                (e.event == Kind::PhaseEnded
                    && matches!(e.get("phase"), Some("swap") | Some("update")))
                    || e.event == Kind::UpdateAborted
            })
            .await;
        }
        let serving = host.alive_in(PRODUCTION);
        let untouched = !serving.is_empty()
            && serving
                .iter()
                .all(|v| v.version == to && v.phase != Phase::Draining);
        let result = if untouched {
            Ok(())
        } else {
            match self {
                Plan::Swap(p) => p.roll_back(host, from, to, instances).await,
                Plan::Rolling(p) => p.roll_back(host, to, instances).await,
                Plan::Recreate(p) => p.perform(host, to, instances).await,
                Plan::Graceful(p) => p.roll_back(host, to, instances).await,
                Plan::Drain(p) => p.roll_back(host, to, instances).await,
            }
        };
        host.phase_ended("rollback", to);
        result
    }
}
