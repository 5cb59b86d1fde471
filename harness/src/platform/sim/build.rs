//! Builds the virtual-time platform from a resolved run: the local platform's own build with
//! the instances started as task groups, on the in-memory network.

use std::sync::Arc;

use super::launcher::SimLauncher;
use super::Model;
use crate::app::AppKind;
use crate::net::{Net, SimNet};
use crate::platform::local::host::LaunchWith;
use crate::platform::local::LocalPlatform;
use crate::platform::Wiring;
use crate::run_plan::RunPlan;

/// The streams of the run's seed each modelled part draws from, apart, so that a change in
/// how often one draws leaves the other's draws as they were.
const NET_STREAM: u64 = 0x6e65_7400;
const PROCESS_STREAM: u64 = 0x7072_6f63;

/// The in-memory network of the plan's run.
pub fn network(plan: &RunPlan) -> Net {
    let model = model(plan);
    Net::Sim(SimNet::new(model.net_latency, plan.seed ^ NET_STREAM))
}

/// The scenario's model of the machine, or the default one.
fn model(plan: &RunPlan) -> Model {
    plan.scenario.platform.sim.clone().unwrap_or_default()
}

pub async fn build(plan: &RunPlan, wiring: Wiring) -> anyhow::Result<LocalPlatform> {
    if plan.program.kind == AppKind::External {
        anyhow::bail!(
            "the sim platform runs the built-in test function only ({} is a program of \
             its own, which needs a process: run it on the local platform)",
            plan.program
        );
    }
    if !wiring.net.is_sim() {
        anyhow::bail!("the sim platform needs its in-memory network");
    }
    let launcher = SimLauncher::new(
        wiring.net.clone(),
        wiring.clock,
        model(plan),
        plan.seed ^ PROCESS_STREAM,
    );
    crate::platform::local::build::build_with(plan, wiring, Some(LaunchWith(Arc::new(launcher))))
        .await
}
