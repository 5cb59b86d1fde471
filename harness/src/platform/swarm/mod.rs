//! The Swarm platform: the test function as a Swarm service that Swarm itself updates,
//! with Compose's and Swarm's knobs (`update_config`'s parallelism, delay, order,
//! failure_action and monitor, `stop_grace_period`, a health check), through the Engine's
//! API.
//!
//! The harness builds the image (as the Docker platform does), creates the service with
//! version A, and at `update_at` updates its spec to B; from then on the update is Swarm's:
//! which task stops when, with which signal and grace, whether a failing B is rolled back.
//! The ledger gets the Engine's events for every task's container (kill with its signal,
//! die with its exit code, health_status) and Swarm's `UpdateStatus` as it changes
//! (`updating`, `completed`, `rollback_started`, `rollback_completed`, `paused`). The work
//! is the tasks' own timer (`driver = "app"`, one at a time with `workload.lease`); the
//! probes go through a door that routes to the tasks the Engine says run (`door.rs`).
//!
//! - `config.rs`: the `[platform.swarm]` keys;
//! - `section.rs`: its capabilities and its checks of those keys;
//! - `service.rs`: the service's spec, and Swarm's account of an update;
//! - `door.rs`: the front door over the running tasks;
//! - `build.rs`: the platform from a resolved run.

pub mod build;
pub mod config;
pub mod door;
pub mod section;
pub mod service;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use reports::ledger::Kind;

use super::{BoxFuture, Driver, Platform};
use crate::clock::Schedule;
use crate::ledger::Ledger;
use crate::platform::docker::engine::{self, RUN_LABEL};
use service::{Ended, Template};

/// A run's Swarm service, its door, and the Engine's events going into the ledger.
pub struct SwarmPlatform {
    docker: Docker,
    template: Template,
    ledger: Ledger,
    door: door::Door,
    events: tokio::task::JoinHandle<()>,
    schedule: Schedule,
    driver: Driver,
    /// Longest the service may take to run its tasks (`run.ready_timeout`).
    ready_timeout: Duration,
    /// Longest Swarm's update may take before the run gives up on it.
    update_timeout: Duration,
    created: AtomicBool,
    removed: AtomicBool,
}

impl SwarmPlatform {
    fn service(&self) -> &str {
        &self.template.name
    }

    /// Waits until the door routes to `replicas` tasks of `version`, or says why not.
    async fn wait_running(&self, replicas: u32) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + self.ready_timeout;
        while self.door.routes().len() < replicas as usize {
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "Swarm did not run {replicas} task(s) of {} that answer within {:?} \
                     ({} running, {} routed to; `docker service ps --no-trunc {}` says why)",
                    self.service(),
                    self.ready_timeout,
                    self.door.running().len(),
                    self.door.routes().len(),
                    self.service()
                );
            }
            tokio::time::sleep(door::REFRESH).await;
        }
        Ok(())
    }

    /// Removes the service, waits (a grace at most) for Swarm to stop its tasks, so that
    /// the ledger holds their ends, then removes any container left.
    async fn remove_all(&self) {
        let _ = self.docker.delete_service(self.service()).await;
        let grace = self.template.swarm.stop_grace_period.0;
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            match engine::labelled(&self.docker, RUN_LABEL, &self.template.run).await {
                Ok(left) if left.is_empty() => break,
                Err(_) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if let Err(e) = engine::remove_labelled(&self.docker, RUN_LABEL, &self.template.run).await {
            tracing::warn!(error = %e, run = %self.template.run, "removing the run's containers");
        }
        self.removed.store(true, Ordering::SeqCst);
        // The last events (the deaths of the teardown) are a few ms behind.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.events.abort();
        self.door.stop();
    }
}

impl Drop for SwarmPlatform {
    /// A run that ended without its teardown (a panic) still removes its service and
    /// containers, on a thread of its own.
    fn drop(&mut self) {
        self.events.abort();
        if self.removed.load(Ordering::SeqCst) || !self.created.load(Ordering::SeqCst) {
            return;
        }
        let (docker, name, run) = (
            self.docker.clone(),
            self.template.name.clone(),
            self.template.run.clone(),
        );
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let _ = docker.delete_service(&name).await;
                engine::remove_labelled(&docker, RUN_LABEL, &run).await.ok()
            })
        })
        .join();
    }
}

impl Platform for SwarmPlatform {
    fn front_door(&self) -> std::net::SocketAddr {
        self.door.addr
    }

    fn fixed_schedule(&self) -> Option<Schedule> {
        (self.driver == Driver::App).then_some(self.schedule)
    }

    fn deploy<'a>(&'a self, version: &'a str, instances: u32) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let l = &self.ledger;
            l.record(
                l.event(Kind::PhaseBegun, "", version, "")
                    .with("phase", "deploy"),
            );
            let spec = self.template.spec(version)?;
            self.created.store(true, Ordering::SeqCst);
            let created = self.docker.create_service(spec, None).await;
            let result = match created {
                Ok(_) => self.wait_running(instances).await,
                Err(e) => Err(anyhow::anyhow!("creating the Swarm service: {e}")),
            };
            l.record(
                l.event(Kind::PhaseEnded, "", version, "")
                    .with("phase", "deploy"),
            );
            result
        })
    }

    fn start_triggers(&self, _schedule: Schedule) {
        // The tasks run their own timer (or there is no work): nothing to fire.
    }

    fn update<'a>(
        &'a self,
        _from: &'a str,
        to: &'a str,
        _instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let current = self.docker.inspect_service(self.service(), None).await?;
            let version = current
                .version
                .and_then(|v| v.index)
                .ok_or_else(|| anyhow::anyhow!("the Engine gave no version of the service"))?;
            let spec = self.template.spec(to)?;
            let options = bollard::query_parameters::UpdateServiceOptions {
                version: i32::try_from(version)?,
                ..Default::default()
            };
            self.docker
                .update_service(self.service(), spec, options, None)
                .await
                .map_err(|e| anyhow::anyhow!("updating the Swarm service: {e}"))?;
            match service::follow_update(
                &self.docker,
                self.service(),
                &self.ledger,
                self.update_timeout,
            )
            .await?
            {
                Ended::Completed => Ok(()),
                // Swarm's own answer to a failed update: the ledger says it, the checker
                // reads what it cost.
                Ended::RolledBack(why) => {
                    tracing::info!(why = %why, "Swarm rolled the update back");
                    Ok(())
                }
                Ended::Paused(why) => {
                    anyhow::bail!("Swarm paused the update (failure_action = pause): {why}")
                }
            }
        })
    }

    fn stop_triggers(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn settle(&self, within: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The tasks' own runs cannot be watched from here: give them the settle time.
            if self.driver == Driver::App {
                tokio::time::sleep(within).await;
            }
        })
    }

    fn alive(&self) -> Vec<String> {
        self.door.running()
    }

    fn teardown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.removed.load(Ordering::SeqCst) {
                self.remove_all().await;
            }
        })
    }
}
