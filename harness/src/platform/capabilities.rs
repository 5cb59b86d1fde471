//! What a platform can do, as plain data: the names of the platforms, the drivers that fire
//! their work, and each platform's [`Capabilities`], which the scenario's checks hold a
//! scenario to before a run starts (no default that fails at run time). Each platform states
//! its own in its folder's `section.rs`; this file imports nothing of the crate, so the
//! scenario can read it and the platforms can be built from the scenario.

use serde::{Deserialize, Serialize};

/// Which platform runs the app: the scenario's `[platform] kind`. Adding a platform is one
/// arm here (and in `kind.rs`) and one folder beside this file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformKind {
    /// The local emulator (`platform/local`).
    #[default]
    Local,
    /// A real platform through the user's commands (`platform/command`).
    Command,
    /// The local emulator's parts in virtual time, on an in-memory network (`platform/sim`).
    Sim,
    /// The local emulator's host with every instance a container of a Docker Engine
    /// (`platform/docker`).
    Docker,
    /// The test function as a Swarm service that Swarm updates (`platform/swarm`).
    Swarm,
}

impl std::str::FromStr for PlatformKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(PlatformKind::Local),
            "command" => Ok(PlatformKind::Command),
            "sim" => Ok(PlatformKind::Sim),
            "docker" => Ok(PlatformKind::Docker),
            "swarm" => Ok(PlatformKind::Swarm),
            other => Err(format!(
                "expected local, command, sim, docker or swarm, got {other:?}"
            )),
        }
    }
}

impl PlatformKind {
    /// The name in scenarios, summaries and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::Local => "local",
            PlatformKind::Command => "command",
            PlatformKind::Sim => "sim",
            PlatformKind::Docker => "docker",
            PlatformKind::Swarm => "swarm",
        }
    }
}

/// Who fires the timer's occurrences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// The platform's own trigger: the local platform's timer and queue (local only).
    #[default]
    Platform,
    /// The harness POSTs `/api/tick` through `platform.url` at each occurrence, as an
    /// external scheduler calling an HTTP-triggered function would.
    Harness,
    /// Each app instance runs its own timer from the wall clock (`--timer-epoch-ns`).
    App,
    /// No work: probes only.
    None,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Platform => "platform",
            Driver::Harness => "harness",
            Driver::App => "app",
            Driver::None => "none",
        }
    }
}

/// What a platform can do. The scenario is checked against it when it is loaded, so a run
/// never starts with something its platform cannot act out (no default that fails at run
/// time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The harness runs the app's instances: it can kill, freeze and restart them
    /// (`crash`, `pause`, `crash_loop` faults).
    pub instance_faults: bool,
    /// It runs the harness's own strategies ([`crate::strategy`]); otherwise the strategy is
    /// a label and the platform's update is the plan.
    pub strategies: bool,
    /// It can roll an update back the strategy's way (`run.rollback_at`, `[analysis]`).
    pub rollback: bool,
    /// It can run a bad release of the test function (`app.to_behaviour`).
    pub bad_release: bool,
    /// Its scale controller takes a scenario's `[scale]`.
    pub scaling: bool,
    /// It runs the queue workload (`workload.trigger = "queue"`).
    pub queue: bool,
    /// The drivers it takes, the first its default (`workload.driver`).
    pub drivers: &'static [Driver],
    /// Where the completion estimate's truth (the update's true end) comes from, when the
    /// platform has one.
    pub completion_truth: CompletionTruth,
    /// Whose lifecycle events the reports read: the platform's own ledger rows for its
    /// instances, or only what the apps send.
    pub lifecycle_source: LifecycleSource,
    /// Probes must ask paths under this prefix (the local front door's routes).
    pub probe_path_prefix: Option<&'static str>,
    /// The network to the front door is real: a probe's timeout is real time, not scaled.
    pub real_network: bool,
    /// A proxy can stand between the apps and the sink on its network (the sink-path
    /// faults: latency, http_error, reset, blackhole, fail_first, bandwidth).
    pub sink_path_faults: bool,
    /// Its runs happen in virtual time ([`crate::clock::Clock::starting_at`]) on a runtime of
    /// their own whose clock is paused: the same every time, and as fast as the work allows.
    pub virtual_time: bool,
}

/// Where the true end of an update is known from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionTruth {
    /// The ledger of the rolling strategy (its last drain): needs `strategy = "rolling"`.
    RollingLedger,
    /// The platform's `status` command first exiting 0 (`update_complete`).
    StatusCommand,
}

/// Who tells an instance's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleSource {
    /// The platform starts and stops each instance and writes it in the ledger.
    Ledger,
    /// The platform's instances are not the harness's: only the apps' own events say.
    AppEvents,
}

impl Capabilities {
    pub fn default_driver(&self) -> Driver {
        self.drivers[0]
    }
}
