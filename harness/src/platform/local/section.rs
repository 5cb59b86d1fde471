//! The local platform's part of a scenario: what it can do, and its `[platform]` keys (none
//! beyond `kind`).

use crate::platform::capabilities::{Capabilities, CompletionTruth, Driver, LifecycleSource};
use crate::scenario::sections::PlatformSection;

/// The emulator runs every instance itself, with the harness's strategies.
pub const CAPABILITIES: Capabilities = Capabilities {
    instance_faults: true,
    strategies: true,
    rollback: true,
    bad_release: true,
    scaling: true,
    queue: true,
    drivers: &[Driver::Platform],
    completion_truth: CompletionTruth::RollingLedger,
    lifecycle_source: LifecycleSource::Ledger,
    // The front door's routes.
    probe_path_prefix: Some("/api/"),
    real_network: false,
    sink_path_faults: true,
    virtual_time: false,
};

/// The local platform takes no `[platform]` key but `kind`: the command platform's keys are
/// ignored, as they always were (a scenario may keep them while trying the emulator).
pub fn check(_section: &PlatformSection) -> Result<(), (&'static str, String)> {
    Ok(())
}
