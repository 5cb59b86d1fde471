//! The local platform: the [`Host`]'s real processes behind an in-process front door, the
//! host's timer and queue triggers, and one of the five strategies as its update.

pub mod build;
pub mod front_door;
pub mod host;
pub mod launcher;
pub mod queue;
pub mod scale;
pub mod section;
pub mod timer;
pub mod traces;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use host::calls::ModeError;
pub use host::{Host, HostConfig, InFlight, InstanceView, Outcome, Phase};
use queue::QueueOptions;
use scale::ScaleOptions;
use timer::{TimerFunction, TimerOptions};

use super::{BoxFuture, FaultSignal, FaultTarget, InstanceFaults, Platform, Rollback};
use crate::clock::Schedule;
use crate::ledger::Ledger;
use crate::slot::PRODUCTION;
use crate::strategy::instances::Instances as _;
use crate::strategy::{self, Plan};

/// What the local platform does besides running instances: its triggers and its update.
#[derive(Clone, Debug)]
pub struct LocalSettings {
    /// `/tick` runs (the loop workload) or `/poll` runs (the queue workload).
    pub function: TimerFunction,
    /// The timer fires occurrences `first..until`.
    pub first: u64,
    pub until: u64,
    pub use_monitor: bool,
    /// The staging slot's timer fires too.
    pub staging_triggers: bool,
    /// The queue trigger, for the queue workload.
    pub queue: Option<QueueOptions>,
    /// How long the front door waits for an instance's answer.
    pub door_timeout: Duration,
    /// The update.
    pub plan: Plan,
    /// The scale controller, when the scenario has `[scale]`.
    pub scale: Option<ScaleOptions>,
    /// The demand schedule: the changes each occurrence's poll finds, when it varies.
    pub poll_events: Option<Arc<Vec<u32>>>,
    /// How long the run's schedule lasts from its epoch (scaled `run.duration`).
    pub run_end: Duration,
}

/// A running local platform; cheap to clone.
#[derive(Clone)]
pub struct LocalPlatform {
    inner: Arc<Inner>,
}

struct Inner {
    host: Host,
    settings: LocalSettings,
    door: SocketAddr,
    /// Stops the front door; its task ends once open requests are answered.
    door_stop: CancellationToken,
    /// Stops the timer.
    timer_stop: CancellationToken,
    /// Stops the queue dispatcher, once the run has settled.
    queue_stop: CancellationToken,
    /// Stops the scale controller, with the queue.
    scale_stop: CancellationToken,
    tasks: Mutex<Tasks>,
}

#[derive(Default)]
struct Tasks {
    door: Option<JoinHandle<std::io::Result<()>>>,
    timer: Option<JoinHandle<()>>,
    queue: Option<JoinHandle<()>>,
    scale: Option<JoinHandle<()>>,
}

impl LocalPlatform {
    /// Prepares the host and serves its front door on `door_listener`.
    pub fn start(
        config: HostConfig,
        ledger: Ledger,
        door_listener: crate::net::serve::Listener,
        settings: LocalSettings,
    ) -> anyhow::Result<LocalPlatform> {
        let door = door_listener.local_addr()?;
        let host = Host::new(config, ledger)?;
        let door_stop = CancellationToken::new();
        let door_task = tokio::spawn(front_door::serve(
            door_listener,
            host.clone(),
            settings.door_timeout,
            door_stop.clone().cancelled_owned(),
        ));
        Ok(LocalPlatform {
            inner: Arc::new(Inner {
                host,
                settings,
                door,
                door_stop,
                timer_stop: CancellationToken::new(),
                queue_stop: CancellationToken::new(),
                scale_stop: CancellationToken::new(),
                tasks: Mutex::new(Tasks {
                    door: Some(door_task),
                    ..Tasks::default()
                }),
            }),
        })
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Platform for LocalPlatform {
    fn front_door(&self) -> SocketAddr {
        self.inner.door
    }

    fn deploy<'a>(&'a self, version: &'a str, instances: u32) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let host = &self.inner.host;
            // The version the platform deploys, which the scale controller starts more of.
            host.set_target_version(version);
            host.phase_begun("start", version);
            strategy::start_many(host, version, PRODUCTION, instances).await?;
            host.phase_ended("start", version);
            Ok(())
        })
    }

    fn start_triggers(&self, schedule: Schedule) {
        let s = &self.inner.settings;
        let host = &self.inner.host;
        if let Some(events) = &s.poll_events {
            host.set_poll_events(events.clone());
        }
        host.set_deadline(schedule.epoch + s.run_end);
        let timer = tokio::spawn(timer::run(
            host.clone(),
            TimerOptions {
                function: s.function,
                schedule,
                use_monitor: s.use_monitor,
                staging_triggers: s.staging_triggers,
            },
            s.first,
            s.until,
            self.inner.timer_stop.clone(),
        ));
        let queue = s.queue.map(|options| {
            tokio::spawn(queue::run(
                host.clone(),
                options,
                self.inner.queue_stop.clone(),
            ))
        });
        let scale = s.scale.map(|options| {
            tokio::spawn(scale::run(
                host.clone(),
                options,
                self.inner.scale_stop.clone(),
            ))
        });
        let mut tasks = self.tasks();
        tasks.timer = Some(timer);
        tasks.queue = queue;
        tasks.scale = scale;
    }

    fn update<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        let (host, plan) = (&self.inner.host, &self.inner.settings.plan);
        Box::pin(plan.perform(host, from, to, instances))
    }

    fn rollback(&self) -> Option<&dyn Rollback> {
        Some(self)
    }

    fn instance_faults(&self) -> Option<&dyn InstanceFaults> {
        Some(self)
    }

    fn stop_triggers(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The timer stops firing; the queue keeps delivering until the run has settled,
            // since redelivered messages are work in flight.
            self.inner.timer_stop.cancel();
            let timer = self.tasks().timer.take();
            if let Some(t) = timer {
                let _ = t.await;
            }
        })
    }

    fn settle(&self, within: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let host = &self.inner.host;
            let settled = async {
                while !(host.tasks().is_empty() && host.queue().is_empty()) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            let _ = tokio::time::timeout(within, settled).await;
            // Settled (or out of time): the queue delivers nothing more, and nothing scales.
            self.inner.queue_stop.cancel();
            self.inner.scale_stop.cancel();
            let (queue, scale) = {
                let mut tasks = self.tasks();
                (tasks.queue.take(), tasks.scale.take())
            };
            for t in [queue, scale].into_iter().flatten() {
                let _ = t.await;
            }
        })
    }

    fn alive(&self) -> Vec<String> {
        self.inner
            .host
            .instances()
            .into_iter()
            .filter(|v| v.phase != Phase::Exited)
            .map(|v| v.id)
            .collect()
    }

    fn teardown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.timer_stop.cancel();
            self.inner.queue_stop.cancel();
            self.inner.scale_stop.cancel();
            let (timer, queue, scale, door) = {
                let mut tasks = self.tasks();
                (
                    tasks.timer.take(),
                    tasks.queue.take(),
                    tasks.scale.take(),
                    tasks.door.take(),
                )
            };
            for t in [timer, queue, scale].into_iter().flatten() {
                let _ = t.await;
            }
            // Every instance first, then the front door.
            self.inner.host.kill_all().await;
            self.inner.door_stop.cancel();
            if let Some(d) = door {
                let _ = d.await;
            }
        })
    }
}

impl Rollback for LocalPlatform {
    fn rollback<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        let (host, plan) = (&self.inner.host, &self.inner.settings.plan);
        Box::pin(plan.rollback(host, from, to, instances))
    }
}

impl InstanceFaults for LocalPlatform {
    fn fault_targets(&self) -> Vec<FaultTarget> {
        self.inner
            .host
            .instances()
            .into_iter()
            .filter(|v| v.phase == Phase::Ready)
            .map(|v| FaultTarget {
                id: v.id,
                version: v.version,
                slot: v.slot,
            })
            .collect()
    }

    fn signal_instance<'a>(
        &'a self,
        id: &'a str,
        signal: FaultSignal,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let host = &self.inner.host;
            match signal {
                FaultSignal::Kill => {
                    host.kill(id).await;
                    Ok(())
                }
                FaultSignal::Pause => host.pause(id),
                FaultSignal::Resume => host.resume(id),
            }
        })
    }

    fn restart_instance<'a>(
        &'a self,
        version: &'a str,
        slot: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            let host = &self.inner.host;
            // A platform restarts what it still runs: once an update has moved on to another
            // version, a dead instance of the old one stays dead.
            if host.target_version().is_some_and(|v| v != version) {
                return Ok(None);
            }
            host.start_instance(version, slot).await.map(Some)
        })
    }
}
