//! The instances a strategy moves: the interface every strategy drives, so that a swap or a
//! rolling update is written once for every platform that runs instances itself.
//!
//! A strategy starts instances of a version in a slot and waits until they are ready, routes
//! them (the front door's slot switch) or takes them out of routing (a drain), asks the app
//! to change its mode, stops them with a grace or kills them, and watches them go idle. It
//! writes its phases in the run's ledger. The local emulator's host implements this today
//! (`platform/local/host.rs`); a virtual-time platform and a container platform implement
//! it next.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use reports::ledger::{Kind, LedgerEvent};
use tokio_util::task::TaskTracker;

use crate::ledger::Ledger;
use crate::protocol::Mode;

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Ready,
    /// Gets no new work; in-flight work may finish.
    Draining,
    /// SIGTERM sent.
    Stopping,
    /// SIGKILL sent.
    Killing,
    Exited,
}

/// What the platform knows of one instance.
#[derive(Clone, Debug)]
pub struct InstanceView {
    pub id: String,
    pub version: String,
    pub slot: String,
    pub addr: Option<SocketAddr>,
    pub pid: u32,
    pub phase: Phase,
    /// Start order: the newest instance has the largest.
    pub seq: u64,
}

/// The instance-level operations a strategy performs an update with. Cheap to clone: a
/// strategy hands clones to the tasks it spawns.
pub trait Instances: Clone + Send + Sync + 'static {
    /// A start counted before it begins (a scale controller counts it while it waits);
    /// dropping it un-counts it.
    type Promise: Send + 'static;

    /// The run's ledger, where the strategy writes its phases and outcomes.
    fn ledger(&self) -> &Ledger;

    /// Work the platform runs in the background, which the run waits for as it settles.
    fn tasks(&self) -> &TaskTracker;

    /// The instances in `slot` not yet exited / ready to serve.
    fn alive_in(&self, slot: &str) -> Vec<InstanceView>;
    fn ready_in(&self, slot: &str) -> Vec<InstanceView>;

    /// The version the newest update (or rollback) moves to: an update whose target moved
    /// on stands down.
    fn set_target_version(&self, version: &str);
    fn target_version(&self) -> Option<String>;

    /// Whether the run's schedule has ended (nothing more is worth starting).
    fn past_deadline(&self) -> bool;

    /// Starts an instance of `version` in `slot` and waits until it is ready: its id.
    fn start_instance(
        &self,
        version: &str,
        slot: &str,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;

    fn promise_start(&self) -> Self::Promise;

    /// [`Instances::start_instance`] for a start promised earlier.
    fn start_promised(
        &self,
        version: &str,
        slot: &str,
        promise: Option<Self::Promise>,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;

    /// Sends `path` to an instance until it answers (at most `retries` more tries, each
    /// within `timeout`): whether it did.
    fn warm_up(
        &self,
        id: &str,
        path: &str,
        timeout: Duration,
        retries: u32,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Routes the staging slot's instances and unroutes production's: the front door's
    /// switch of a slot swap.
    fn swap_slots(&self);

    /// Takes an instance out of routing; the work it has may finish.
    fn drain(&self, id: &str);

    /// Asks the app on an instance to enter `mode`, or says why it could not.
    fn set_mode(&self, id: &str, mode: Mode) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The app's mode on an instance, when it answers with one.
    fn mode(&self, id: &str) -> impl Future<Output = Option<Mode>> + Send;

    /// SIGTERM, then SIGKILL after `grace` if it has not exited.
    fn terminate(&self, id: &str, grace: Duration) -> impl Future<Output = ()> + Send;

    /// SIGKILL, waiting until it has exited.
    fn kill(&self, id: &str) -> impl Future<Output = ()> + Send;

    /// Waits until an instance's work has ended (or `work_grace` passed) and its HTTP
    /// requests have too (or `http_grace` passed): whether it went idle in time.
    fn wait_idle(
        &self,
        id: &str,
        work_grace: Duration,
        http_grace: Duration,
    ) -> impl Future<Output = bool> + Send;

    /// Waits until the ledger holds an event `found` accepts.
    fn wait_for_ledger(
        &self,
        found: impl Fn(&LedgerEvent) -> bool + Send,
    ) -> impl Future<Output = ()> + Send {
        self.ledger().wait_for(found)
    }

    /// Writes the start of a phase of the update in the ledger.
    fn phase_begun(&self, phase: &str, version: &str) {
        let l = self.ledger();
        l.record(
            l.event(Kind::PhaseBegun, "", version, "")
                .with("phase", phase),
        );
    }

    /// Writes the end of a phase of the update in the ledger.
    fn phase_ended(&self, phase: &str, version: &str) {
        let l = self.ledger();
        l.record(
            l.event(Kind::PhaseEnded, "", version, "")
                .with("phase", phase),
        );
    }
}
