//! The Docker platform's part of a scenario: what it can do, and its `[platform.docker]`
//! keys.

pub use super::config::{DockerSection, Entrypoint};
use crate::platform::capabilities::Capabilities;
use crate::scenario::sections::PlatformSection;

/// The emulator's capabilities: the harness's own host starts, signals and routes every
/// instance, and each instance is a container the Engine runs. The strategies, faults,
/// rollback, scaling and the queue are the host's, so they are the local platform's.
pub const CAPABILITIES: Capabilities = crate::platform::local::section::CAPABILITIES;

/// The Docker platform's own keys are under `[platform.docker]`; the command platform's
/// keys are ignored, as on the local platform.
pub fn check(section: &PlatformSection) -> Result<(), (&'static str, String)> {
    let Some(d) = &section.docker else {
        return Ok(());
    };
    for (key, image) in [
        ("platform.docker.image_from", &d.image_from),
        ("platform.docker.image_to", &d.image_to),
    ] {
        if image.as_deref().is_some_and(|i| i.trim().is_empty()) {
            return Err((
                key,
                "an image name, or leave it out for the built image".into(),
            ));
        }
    }
    if d.memory_mib.is_some_and(|m| m < 6) {
        return Err((
            "platform.docker.memory_mib",
            "a limit of at least 6 MiB (the Engine's least), or leave it out".into(),
        ));
    }
    Ok(())
}
