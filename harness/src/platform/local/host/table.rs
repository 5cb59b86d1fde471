//! The instance table read as views: every instance, one by id, the ready or alive ones
//! of a slot, the work in flight on them, and the production capacity the scale controller
//! holds against the demand (promised starts included). Strategies read the host through
//! these; nothing here changes an instance.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Host, StartPromise, PRODUCTION};
use crate::strategy::instances::{InstanceView, Phase};

impl Host {
    /// Every instance the host has started, dead ones included.
    pub fn instances(&self) -> Vec<InstanceView> {
        self.state()
            .instances
            .values()
            .map(|e| e.view.clone())
            .collect()
    }

    pub fn instance(&self, id: &str) -> Option<InstanceView> {
        self.state().instances.get(id).map(|e| e.view.clone())
    }

    /// Ready instances of a slot, in start order.
    pub fn ready_in(&self, slot: &str) -> Vec<InstanceView> {
        self.state()
            .instances
            .values()
            .filter(|e| e.view.slot == slot && e.view.phase == Phase::Ready)
            .map(|e| e.view.clone())
            .collect()
    }

    /// Instances of a slot that are still alive, in start order.
    pub fn alive_in(&self, slot: &str) -> Vec<InstanceView> {
        self.state()
            .instances
            .values()
            .filter(|e| e.view.slot == slot && e.view.phase != Phase::Exited)
            .map(|e| e.view.clone())
            .collect()
    }

    /// Invocations and HTTP requests in flight on an instance.
    pub fn in_flight(&self, id: &str) -> (u32, u32) {
        self.state().instances.get(id).map_or((0, 0), |e| {
            (
                e.in_flight.load(Ordering::SeqCst),
                e.http_in_flight.load(Ordering::SeqCst),
            )
        })
    }

    /// Waits until an instance's invocations have ended (or `work_grace` passed) and its
    /// HTTP requests have too (or `http_grace` passed); true if it went idle in time.
    pub async fn wait_idle(&self, id: &str, work_grace: Duration, http_grace: Duration) -> bool {
        let start = self.inner.ledger.clock().now();
        loop {
            let alive = self.instance(id).is_some_and(|v| v.phase != Phase::Exited);
            let (work, http) = self.in_flight(id);
            let waited = self.inner.ledger.clock().now().duration_since(start);
            let work_done = work == 0 || waited >= work_grace;
            let http_done = http == 0 || waited >= http_grace;
            if !alive || (work == 0 && http == 0) {
                return true;
            }
            if work_done && http_done {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Promises one start: [`Host::capacity`] counts it until the instance exists (pass it to
    /// [`Host::start_promised`]) or the promise drops.
    pub fn promise_start(&self) -> StartPromise {
        self.inner.pending_starts.fetch_add(1, Ordering::SeqCst);
        StartPromise(self.inner.pending_starts.clone())
    }

    /// Production instances serving or about to (starting, ready, or promised): what the scale
    /// controller holds against the demand. Draining and stopping ones do not count.
    pub fn capacity(&self) -> u32 {
        let live = self
            .state()
            .instances
            .values()
            .filter(|e| {
                e.view.slot == PRODUCTION && matches!(e.view.phase, Phase::Starting | Phase::Ready)
            })
            .count() as u32;
        live + self.inner.pending_starts.load(Ordering::SeqCst)
    }

    /// HTTP requests in flight on the production instances.
    pub fn http_in_flight(&self) -> u32 {
        self.state()
            .instances
            .values()
            .filter(|e| e.view.slot == PRODUCTION)
            .map(|e| e.http_in_flight.load(Ordering::SeqCst))
            .sum()
    }
}
