//! Each platform kind's capabilities and checks, as its own folder states them.

use super::capabilities::{Capabilities, PlatformKind};
use super::{command, local};
use crate::scenario::sections::PlatformSection;

impl PlatformKind {
    /// What this platform can do, which the scenario's checks hold a scenario to before a
    /// run starts.
    pub fn capabilities(self) -> &'static Capabilities {
        match self {
            PlatformKind::Local => &local::section::CAPABILITIES,
            PlatformKind::Command => &command::section::CAPABILITIES,
        }
    }

    /// The platform's own checks of its `[platform]` keys: the key and why.
    pub fn check(self, section: &PlatformSection) -> Result<(), (&'static str, String)> {
        match self {
            PlatformKind::Local => local::section::check(section),
            PlatformKind::Command => command::section::check(section),
        }
    }
}
