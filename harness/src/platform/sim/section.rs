//! The virtual-time platform's part of a scenario: what it can do, and its `[platform]`
//! keys.

use crate::platform::capabilities::Capabilities;
use crate::scenario::sections::PlatformSection;

/// The emulator's capabilities, but for a proxy on the machine's network: a sink-path fault
/// needs real connections to delay, reset or black-hole.
pub const CAPABILITIES: Capabilities = Capabilities {
    sink_path_faults: false,
    virtual_time: true,
    ..crate::platform::local::section::CAPABILITIES
};

/// Like the local platform, it takes no `[platform]` key but `kind`.
pub fn check(_section: &PlatformSection) -> Result<(), (&'static str, String)> {
    Ok(())
}
