//! Platforms: where the app runs and gets updated.
//!
//! The runner drives a platform only through the [`Platform`] trait: bring a version up,
//! start the platform's own triggers, perform the update, stop the triggers, let work in
//! flight settle, and tear everything down. It sends its probes to the platform's front
//! door, and the platform records what it does in the run's [`ledger::Ledger`]. The sink,
//! the probes, the checker and the reports never see which platform ran.
//!
//! [`LocalPlatform`] is the local emulator: real processes on loopback, run by the
//! [`Host`], with the five strategies of [`crate::strategy`]. [`CommandPlatform`] drives a
//! real one (a proxy, a cluster, a cloud) through the user's commands.

pub mod command;
pub mod front_door;
pub mod host;
pub mod launcher;
pub mod ledger;
pub mod local;
pub mod queue;
pub mod scale;
pub mod timer;
pub mod traces;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use command::{CommandPlatform, CommandSettings};
pub use host::{Host, HostConfig, InFlight, InstanceView, ModeError, Outcome, Phase};
pub use local::{LocalPlatform, LocalSettings};
use timer::Schedule;

pub const PRODUCTION: &str = "production";
pub const STAGING: &str = "staging";

/// An instance a fault may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultTarget {
    pub id: String,
    pub version: String,
    pub slot: String,
}

/// What a fault does to one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultSignal {
    /// SIGKILL, waiting until it is reaped.
    Kill,
    /// SIGSTOP.
    Pause,
    /// SIGCONT.
    Resume,
}

/// The seam between the runner and a platform. Every method may be called once per run, in
/// this order (`teardown` always, even after a failure or an interrupt); a failure is an
/// error whose text says what went wrong, for the run's `invalid` reasons.
pub trait Platform: Send + Sync + 'static {
    /// The front door: where probes (and HTTP-triggered work) are sent.
    fn front_door(&self) -> SocketAddr;

    /// The `Host` header requests to the front door carry: a front door that routes by name
    /// (an ingress, a cloud's host name) needs the name the user gave.
    fn front_door_host(&self) -> String {
        self.front_door().to_string()
    }

    /// The schedule, when the platform fixes it before `deploy` (apps that run their own
    /// timer are given it when they start); otherwise the runner starts it once deployed.
    fn fixed_schedule(&self) -> Option<Schedule> {
        None
    }

    /// Brings `instances` of `version` up, ready to serve.
    fn deploy(
        &self,
        version: &str,
        instances: u32,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Starts the platform's own triggers (a timer, a queue) on the run's schedule.
    fn start_triggers(&self, schedule: Schedule);

    /// Moves the app from `from` to `to`; returns when the platform has done so.
    fn update(
        &self,
        from: &str,
        to: &str,
        instances: u32,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Moves the app back from `from` (a bad release) to `to`, the strategy's own way (a
    /// swap back, or an update to the previous version); a platform without one says so.
    fn rollback(
        &self,
        from: &str,
        to: &str,
        instances: u32,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = (from, to, instances);
        async { anyhow::bail!("this platform has no rollback") }
    }

    /// The serving instances a fault may act on (`[[faults]]`); a platform whose instances
    /// the harness does not run has none.
    fn fault_targets(&self) -> Vec<FaultTarget> {
        Vec::new()
    }

    /// Acts on one instance for a fault: kills it (and waits until it is gone), freezes or
    /// thaws it.
    fn signal_instance(
        &self,
        id: &str,
        signal: FaultSignal,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = (id, signal);
        async { anyhow::bail!("this platform cannot signal its instances") }
    }

    /// Starts `version` again in `slot` after a fault killed one, as a platform restarts a
    /// dead instance; `None` when it would not (an update has replaced that version).
    fn restart_instance(
        &self,
        version: &str,
        slot: &str,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send {
        let _ = (version, slot);
        async { anyhow::bail!("this platform cannot restart its instances") }
    }

    /// Stops firing new work; work in flight goes on.
    fn stop_triggers(&self) -> impl Future<Output = ()> + Send;

    /// Waits until the work in flight has finished, at most `within`.
    fn settle(&self, within: Duration) -> impl Future<Output = ()> + Send;

    /// The instances still alive, for the ledger's `run_ended`.
    fn alive(&self) -> Vec<String>;

    /// Stops everything the platform started, so that no process outlives the run.
    fn teardown(&self) -> impl Future<Output = ()> + Send;
}
