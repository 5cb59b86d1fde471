//! The command platform's part of a scenario: what it can do, and its `[platform]` keys
//! (the front door's URL and the commands), checked before a run starts.

use crate::platform::capabilities::{Capabilities, CompletionTruth, Driver, LifecycleSource};
use crate::scenario::sections::PlatformSection;

/// The harness runs no instance: the user's commands deploy and update a real platform.
pub const CAPABILITIES: Capabilities = Capabilities {
    instance_faults: false,
    strategies: false,
    rollback: false,
    bad_release: false,
    scaling: false,
    queue: false,
    drivers: &[Driver::Harness, Driver::App, Driver::None],
    completion_truth: CompletionTruth::StatusCommand,
    lifecycle_source: LifecycleSource::AppEvents,
    probe_path_prefix: None,
    real_network: true,
    sink_path_faults: true,
    virtual_time: false,
};

/// The `[platform]` keys a command platform needs: the front door's URL and its commands.
pub fn check(p: &PlatformSection) -> Result<(), (&'static str, String)> {
    match &p.url {
        None => {
            return Err((
                "platform.url",
                "a command platform needs its front door's URL".into(),
            ))
        }
        Some(url) => {
            front_door_addr(url).map_err(|why| ("platform.url", why))?;
        }
    }
    let commands = [
        ("platform.deploy", Some(&p.deploy)),
        ("platform.update", Some(&p.update)),
        ("platform.status", p.status.as_ref()),
        ("platform.teardown", p.teardown.as_ref()),
    ];
    for (key, argv) in commands {
        if argv.is_some_and(|a| a.first().is_none_or(|program| program.is_empty())) {
            return Err((
                key,
                "must be a command: an array of its program and arguments".into(),
            ));
        }
    }
    if p.timeout().0.is_zero() || p.status_interval().0.is_zero() {
        return Err((
            "platform.timeout",
            "timeout and status_interval must be positive".into(),
        ));
    }
    Ok(())
}

/// The host (as written, brackets and all for IPv6) and port of a front door URL,
/// `http://HOST:PORT` with nothing after but an optional `/`, or why it is not one. The
/// probed path is `probes.path`; a path here would be silently ignored, so it is refused.
pub fn front_door_addr(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} must start with http://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(format!(
            "{url:?} has a path; give the front door as http://HOST:PORT (probes.path is the \
             probed path)"
        ));
    }
    let (host, port) = authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(':') && (h.starts_with('[') || !h.contains(':')))
        .ok_or_else(|| format!("{url:?} must name a port (http://HOST:PORT)"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{url:?} has no valid port"))?;
    if host.is_empty() || host == "[]" {
        return Err(format!("{url:?} has no host"));
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_front_door_is_host_and_port_without_a_path() {
        assert_eq!(
            front_door_addr("http://127.0.0.1:0"),
            Ok(("127.0.0.1".into(), 0))
        );
        assert_eq!(
            front_door_addr("http://[::1]:8080/"),
            Ok(("[::1]".into(), 8080))
        );
        assert_eq!(
            front_door_addr("http://app.example:80"),
            Ok(("app.example".into(), 80))
        );
        for bad in [
            "https://x:1",
            "http://x",
            "http://x:y",
            "http://:80",
            "http://x:80/api",
            "http://::1:80",
        ] {
            assert!(front_door_addr(bad).is_err(), "{bad}");
        }
    }
}
