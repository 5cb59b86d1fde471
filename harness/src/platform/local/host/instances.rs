//! The host as the strategies see it: the emulator's instances behind
//! [`Instances`], the interface every strategy drives.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use super::{Host, StartPromise};
use crate::ledger::Ledger;
use crate::protocol::Mode;
use crate::strategy::instances::{InstanceView, Instances};

impl Instances for Host {
    type Promise = StartPromise;

    fn ledger(&self) -> &Ledger {
        Host::ledger(self)
    }

    fn tasks(&self) -> &TaskTracker {
        Host::tasks(self)
    }

    fn alive_in(&self, slot: &str) -> Vec<InstanceView> {
        Host::alive_in(self, slot)
    }

    fn ready_in(&self, slot: &str) -> Vec<InstanceView> {
        Host::ready_in(self, slot)
    }

    fn set_target_version(&self, version: &str) {
        Host::set_target_version(self, version)
    }

    fn target_version(&self) -> Option<String> {
        Host::target_version(self)
    }

    fn past_deadline(&self) -> bool {
        Host::past_deadline(self)
    }

    fn start_instance(
        &self,
        version: &str,
        slot: &str,
    ) -> impl Future<Output = anyhow::Result<String>> + Send {
        Host::start_instance(self, version, slot)
    }

    fn promise_start(&self) -> StartPromise {
        Host::promise_start(self)
    }

    fn start_promised(
        &self,
        version: &str,
        slot: &str,
        promise: Option<StartPromise>,
    ) -> impl Future<Output = anyhow::Result<String>> + Send {
        Host::start_promised(self, version, slot, promise)
    }

    fn warm_up(
        &self,
        id: &str,
        path: &str,
        timeout: Duration,
        retries: u32,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send {
        Host::warm_up(self, id, path, timeout, retries)
    }

    fn swap_slots(&self) {
        Host::swap_slots(self)
    }

    fn drain(&self, id: &str) {
        Host::drain(self, id)
    }

    async fn set_mode(&self, id: &str, mode: Mode) -> anyhow::Result<()> {
        Ok(Host::set_mode(self, id, mode).await?)
    }

    fn mode(&self, id: &str) -> impl Future<Output = Option<Mode>> + Send {
        Host::mode(self, id)
    }

    fn terminate(&self, id: &str, grace: Duration) -> impl Future<Output = ()> + Send {
        Host::terminate(self, id, grace)
    }

    fn kill(&self, id: &str) -> impl Future<Output = ()> + Send {
        Host::kill(self, id)
    }

    fn wait_idle(
        &self,
        id: &str,
        work_grace: Duration,
        http_grace: Duration,
    ) -> impl Future<Output = bool> + Send {
        Host::wait_idle(self, id, work_grace, http_grace)
    }
}
