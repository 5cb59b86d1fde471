//! Where each platform kind reaches its folder: its capabilities, its checks of a scenario
//! and its builder. The one place, with the variant in `capabilities.rs`, that a new
//! platform adds arms to.

use std::sync::Arc;

use super::capabilities::{Capabilities, PlatformKind};
use super::{command, docker, local, sim, swarm, Platform, Wiring};
use crate::run_plan::RunPlan;
use crate::scenario::sections::PlatformSection;

/// Builds the plan's platform.
pub async fn build(plan: &RunPlan, wiring: Wiring) -> anyhow::Result<Arc<dyn Platform>> {
    Ok(match plan.scenario.platform.kind {
        PlatformKind::Local => Arc::new(local::build::build(plan, wiring).await?),
        PlatformKind::Command => Arc::new(command::build::build(plan, wiring).await?),
        PlatformKind::Sim => Arc::new(sim::build::build(plan, wiring).await?),
        PlatformKind::Docker => Arc::new(docker::build::build(plan, wiring).await?),
        PlatformKind::Swarm => Arc::new(swarm::build::build(plan, wiring).await?),
    })
}

/// The network the plan's run talks on: the machine's, or the virtual-time platform's own.
pub fn network(plan: &RunPlan) -> crate::net::Net {
    match plan.scenario.platform.kind {
        PlatformKind::Local
        | PlatformKind::Command
        | PlatformKind::Docker
        | PlatformKind::Swarm => crate::net::Net::Machine,
        PlatformKind::Sim => sim::build::network(plan),
    }
}

impl PlatformKind {
    /// What this platform can do, which the scenario's checks hold a scenario to before a
    /// run starts.
    pub fn capabilities(self) -> &'static Capabilities {
        match self {
            PlatformKind::Local => &local::section::CAPABILITIES,
            PlatformKind::Command => &command::section::CAPABILITIES,
            PlatformKind::Sim => &sim::section::CAPABILITIES,
            PlatformKind::Docker => &docker::section::CAPABILITIES,
            PlatformKind::Swarm => &swarm::section::CAPABILITIES,
        }
    }

    /// The platform's own checks of its `[platform]` keys: the key and why.
    pub fn check(self, section: &PlatformSection) -> Result<(), (&'static str, String)> {
        match self {
            PlatformKind::Local => local::section::check(section),
            PlatformKind::Command => command::section::check(section),
            PlatformKind::Sim => sim::section::check(section),
            PlatformKind::Docker => docker::section::check(section),
            PlatformKind::Swarm => swarm::section::check(section),
        }
    }
}
