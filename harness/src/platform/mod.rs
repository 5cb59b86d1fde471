//! Platforms: where the app runs and gets updated.
//!
//! The runner drives a platform only through the [`Platform`] trait: bring a version up,
//! start the platform's own triggers, perform the update, stop the triggers, let work in
//! flight settle, and tear everything down. It sends its probes to the platform's front
//! door, and the platform records what it does in the run's [`ledger::Ledger`]. The sink,
//! the probes, the checker and the reports never see which platform ran.
//!
//! A platform is one folder and one variant of [`PlatformKind`] (`capabilities.rs`), whose
//! arms in `kind.rs` reach the folder: the folder holds the platform itself, its
//! [`Capabilities`] and its checks of a scenario (`section.rs`), and how it is built from a
//! resolved run (`build.rs`, with any environment contract it has). Nothing outside this
//! folder names a platform: the scenario's checks ask the kind's capabilities, and the
//! runner gets a `dyn Platform` from [`kind::build`].
//!
//! - [`local`]: the local emulator, real processes on loopback run by its host, with the
//!   strategies of [`crate::strategy`].
//! - [`command`]: a real platform (a proxy, a cluster, a cloud) driven through the user's
//!   commands.
//! - [`sim`]: the local emulator's parts in virtual time.
//! - [`docker`]: the local emulator's host with every instance a container of a Docker
//!   Engine.
//! - [`swarm`]: the test function as a Swarm service, updated by Swarm itself.

pub mod capabilities;
pub mod command;
pub mod docker;
pub mod kind;
pub mod local;
pub mod process_group;
pub mod sim;
pub mod swarm;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Schedule};
use crate::ledger::Ledger;
pub use capabilities::{Capabilities, CompletionTruth, Driver, LifecycleSource, PlatformKind};

/// A future a platform returns, boxed so that the runner can hold any platform as a
/// `dyn Platform`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// What the runner hands every platform it builds: the run's ledger, clock and the way to
/// its sink.
#[derive(Clone)]
pub struct Wiring {
    pub ledger: Ledger,
    pub clock: Clock,
    /// Where the apps send their items (the sink, or the fault proxy in front of it).
    pub sink_url: String,
    pub sink_token: Option<String>,
    /// The network the run's parts talk on: the machine's, or the virtual-time platform's.
    pub net: crate::net::Net,
}

/// The seam between the runner and a platform.
///
/// The runner calls, in this order: [`deploy`](Platform::deploy), then (with the schedule)
/// [`start_triggers`](Platform::start_triggers); at `update_at`
/// [`update`](Platform::update), which it surrounds with the ledger's `update` phase
/// (`phase_begun` / `phase_ended` with `phase=update`, from which `update_duration_ms`
/// comes); maybe [`rollback`](Platform::rollback); [`stop_triggers`](Platform::stop_triggers),
/// [`settle`](Platform::settle), [`alive`](Platform::alive) for the ledger's `run_ended`; and
/// [`teardown`](Platform::teardown) always, even after a failure or an interrupt. A failure is
/// an error whose text says what went wrong, for the run's `invalid` reasons.
///
/// The platform writes its own rows in the ledger: its instances' lifecycle (where
/// [`Capabilities::lifecycle_source`] is the ledger), the invocations it made, the phases of
/// its update inside the `update` phase, and whatever its capabilities act out.
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
    fn deploy<'a>(&'a self, version: &'a str, instances: u32) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Starts the platform's own triggers (a timer, a queue) on the run's schedule.
    fn start_triggers(&self, schedule: Schedule);

    /// Moves the app from `from` to `to`; returns when the platform has done so.
    fn update<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// The rollback, where [`Capabilities::rollback`] says the platform has one.
    fn rollback(&self) -> Option<&dyn Rollback> {
        None
    }

    /// The instances a fault acts on, where [`Capabilities::instance_faults`] says so.
    fn instance_faults(&self) -> Option<&dyn InstanceFaults> {
        None
    }

    /// Stops firing new work; work in flight goes on.
    fn stop_triggers(&self) -> BoxFuture<'_, ()>;

    /// Waits until the work in flight has finished, at most `within`.
    fn settle(&self, within: Duration) -> BoxFuture<'_, ()>;

    /// The instances still alive, for the ledger's `run_ended`.
    fn alive(&self) -> Vec<String>;

    /// Stops everything the platform started, so that no process outlives the run.
    fn teardown(&self) -> BoxFuture<'_, ()>;
}

/// A platform's way back from a bad release.
pub trait Rollback: Send + Sync {
    /// Moves the app back from `from` (a bad release) to `to`, the strategy's own way (a
    /// swap back, or an update to the previous version).
    fn rollback<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// The instances of a platform that runs them, for the instance faults.
pub trait InstanceFaults: Send + Sync {
    /// The serving instances a fault may act on.
    fn fault_targets(&self) -> Vec<FaultTarget>;

    /// Acts on one instance: kills it (and waits until it is gone), freezes or thaws it.
    fn signal_instance<'a>(
        &'a self,
        id: &'a str,
        signal: FaultSignal,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Starts `version` again in `slot` after a fault killed one, as a platform restarts a
    /// dead instance; `None` when it would not (an update has replaced that version).
    fn restart_instance<'a>(
        &'a self,
        version: &'a str,
        slot: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>>;
}

/// A platform's instance faults through the runner's handle on it. A platform without any
/// has no targets, and the scenario's checks keep its faults off it before the run starts
/// ([`Capabilities::instance_faults`]), so the errors below are never reached.
impl InstanceFaults for Arc<dyn Platform> {
    fn fault_targets(&self) -> Vec<FaultTarget> {
        self.instance_faults()
            .map_or_else(Vec::new, |f| f.fault_targets())
    }

    fn signal_instance<'a>(
        &'a self,
        id: &'a str,
        signal: FaultSignal,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        match self.instance_faults() {
            Some(f) => f.signal_instance(id, signal),
            None => Box::pin(async { anyhow::bail!("this platform runs no instance of ours") }),
        }
    }

    fn restart_instance<'a>(
        &'a self,
        version: &'a str,
        slot: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        match self.instance_faults() {
            Some(f) => f.restart_instance(version, slot),
            None => Box::pin(async { anyhow::bail!("this platform runs no instance of ours") }),
        }
    }
}
