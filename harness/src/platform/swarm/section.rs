//! The Swarm platform's part of a scenario: what it can do, and its `[platform.swarm]`
//! keys (with the images and containers of `[platform.docker]`).

pub use super::config::{FailureAction, Order, SwarmSection};
use crate::platform::capabilities::{Capabilities, CompletionTruth, Driver, LifecycleSource};
use crate::scenario::sections::PlatformSection;

/// Swarm runs the tasks and does the update (its `update_config` is the plan; the
/// scenario's strategy is a label). The harness builds the image, creates and updates the
/// service through the Engine, and fronts the running tasks. The work comes from the
/// tasks' own timers (with a lease at the sink for one at a time); the truth of each
/// container's end is the Engine's; the update's end is Swarm's `UpdateStatus`.
pub const CAPABILITIES: Capabilities = Capabilities {
    instance_faults: false,
    strategies: false,
    rollback: false,
    bad_release: true,
    scaling: false,
    queue: false,
    drivers: &[Driver::App, Driver::None],
    completion_truth: CompletionTruth::StatusCommand,
    lifecycle_source: LifecycleSource::AppEvents,
    probe_path_prefix: Some("/api/"),
    real_network: true,
    sink_path_faults: true,
    virtual_time: false,
};

/// The `[platform.swarm]` keys, and the `[platform.docker]` keys it shares.
pub fn check(section: &PlatformSection) -> Result<(), (&'static str, String)> {
    crate::platform::docker::section::check(section)?;
    let Some(s) = &section.swarm else {
        return Ok(());
    };
    if !(0.0..=1.0).contains(&s.max_failure_ratio) {
        return Err((
            "platform.swarm.max_failure_ratio",
            "a share of the tasks, between 0 and 1".into(),
        ));
    }
    if s.health_retries == 0 {
        return Err((
            "platform.swarm.health_retries",
            "at least 1 failed check before a task is unhealthy".into(),
        ));
    }
    if s.health_interval.0.is_zero() {
        return Err((
            "platform.swarm.health_interval",
            "must be positive (turn the check off with healthcheck = false)".into(),
        ));
    }
    Ok(())
}
