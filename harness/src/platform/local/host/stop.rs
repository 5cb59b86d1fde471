//! Winding instances down, each a phase change and then a signal through the launcher's
//! control: `drain` (out of routing and timer duty), `terminate` (SIGTERM, then SIGKILL after
//! the grace), `kill` and `kill_all`, and a fault's `pause` and `resume` (SIGSTOP, SIGCONT).

use std::sync::Arc;
use std::time::Duration;

use reports::ledger::Kind;
use tokio::sync::watch;

use super::Host;
use crate::platform::local::launcher::{Control, Signal};
use crate::strategy::instances::{InstanceView, Phase};

/// An instance whose phase the host just changed: what it needs to signal it and wait.
struct Signalled {
    view: InstanceView,
    exited: watch::Receiver<Option<String>>,
    control: Arc<dyn Control>,
}

impl Host {
    fn set_phase(&self, id: &str, phase: Phase) -> Option<Signalled> {
        let mut state = self.state();
        let entry = state.instances.get_mut(id)?;
        if entry.view.phase == Phase::Exited {
            return None;
        }
        entry.view.phase = phase;
        Some(Signalled {
            view: entry.view.clone(),
            exited: entry.exited.clone(),
            control: entry.control.clone(),
        })
    }

    /// SIGKILLs an instance's process group and waits until it is reaped.
    pub async fn kill(&self, id: &str) {
        let Some(Signalled {
            mut exited,
            control,
            ..
        }) = self.set_phase(id, Phase::Killing)
        else {
            return;
        };
        control.signal(Signal::Kill);
        let _ = exited.wait_for(Option::is_some).await;
    }

    /// Sends SIGTERM (the function's cancellation token), waits up to `grace` for the
    /// process to exit by itself, then SIGKILLs it.
    pub async fn terminate(&self, id: &str, grace: Duration) {
        let Some(Signalled {
            view,
            mut exited,
            control,
        }) = self.set_phase(id, Phase::Stopping)
        else {
            return;
        };
        self.inner.ledger.record(
            self.record(Kind::InstanceStopping, &view)
                .with("grace_ms", grace.as_millis()),
        );
        control.signal(Signal::Term);
        if tokio::time::timeout(grace, exited.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.kill(id).await;
        }
    }

    /// Freezes an instance's processes where they stand (SIGSTOP), as a fault's pause: it
    /// stays in routing and on timer duty, so what is sent to it waits or times out.
    pub fn pause(&self, id: &str) -> anyhow::Result<()> {
        self.freeze(id, Signal::Stop)
    }

    /// Thaws an instance [`Host::pause`] froze (SIGCONT).
    pub fn resume(&self, id: &str) -> anyhow::Result<()> {
        self.freeze(id, Signal::Cont)
    }

    fn freeze(&self, id: &str, signal: Signal) -> anyhow::Result<()> {
        let state = self.state();
        let entry = state
            .instances
            .get(id)
            .ok_or_else(|| anyhow::anyhow!("no instance {id}"))?;
        if !entry.control.can_stop() {
            anyhow::bail!(
                "instance {id} runs in the harness's own process, which cannot be paused"
            );
        }
        if entry.exited.borrow().is_none() {
            entry.control.signal(signal);
        }
        Ok(())
    }

    /// Kills every instance still alive.
    pub async fn kill_all(&self) {
        let ids: Vec<String> = self.instances().into_iter().map(|v| v.id).collect();
        let kills = ids.iter().map(|id| self.kill(id));
        for k in kills {
            k.await;
        }
    }

    /// Takes an instance out of routing and timer duty; its in-flight work goes on. An
    /// instance already draining or stopping is left as it is (a scale-in and a rolling
    /// batch may both pick it).
    pub fn drain(&self, id: &str) {
        let serving = self
            .instance(id)
            .is_some_and(|v| matches!(v.phase, Phase::Starting | Phase::Ready));
        if !serving {
            return;
        }
        if let Some(Signalled { view, .. }) = self.set_phase(id, Phase::Draining) {
            self.inner
                .ledger
                .record(self.record(Kind::InstanceDraining, &view));
            self.refresh_timer_lease(None);
        }
    }
}
