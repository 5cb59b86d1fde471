//! Routing and slots: the front door's round-robin over the ready production instances,
//! each request counted in flight on its instance, and the swap of the two slots.

use super::{Entry, Host, InFlight, PRODUCTION, STAGING};
use crate::strategy::instances::{InstanceView, Phase};

impl Host {
    /// Exchanges the slots of every instance: production becomes staging and back (the
    /// timer lease moves with production).
    pub fn swap_slots(&self) {
        {
            let mut state = self.state();
            for entry in state.instances.values_mut() {
                entry.view.slot = match entry.view.slot.as_str() {
                    PRODUCTION => STAGING.into(),
                    STAGING => PRODUCTION.into(),
                    other => other.into(),
                };
            }
        }
        self.refresh_timer_lease(None);
    }

    /// The next ready production instance for an HTTP request, round-robin, counted as in
    /// flight on it until the guard drops.
    pub fn route(&self) -> Option<(InstanceView, InFlight)> {
        let mut state = self.state();
        let ready: Vec<&Entry> = state
            .instances
            .values()
            .filter(|e| {
                e.view.slot == PRODUCTION && e.view.phase == Phase::Ready && e.view.addr.is_some()
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        let pick = ready[state.round_robin % ready.len()];
        let picked = (pick.view.clone(), InFlight::new(&pick.http_in_flight));
        state.round_robin = state.round_robin.wrapping_add(1);
        Some(picked)
    }
}
