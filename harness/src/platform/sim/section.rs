//! The virtual-time platform's part of a scenario: what it can do, and its `[platform]`
//! keys.

use crate::platform::capabilities::{Capabilities, CompletionTruth, Driver, LifecycleSource};
use crate::scenario::sections::PlatformSection;

/// The emulator's capabilities, but for a proxy on the machine's network: a sink-path fault
/// needs real connections to delay, reset or black-hole.
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
    probe_path_prefix: Some("/api/"),
    real_network: false,
    sink_path_faults: false,
    virtual_time: true,
};

/// Like the local platform, it takes no `[platform]` key but `kind`.
pub fn check(_section: &PlatformSection) -> Result<(), (&'static str, String)> {
    Ok(())
}
