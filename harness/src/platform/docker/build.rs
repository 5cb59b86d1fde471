//! Builds the Docker platform from a resolved run: the image, the Engine's event stream
//! into the ledger, and the local platform's own host with its instances started as
//! containers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use reports::ledger::Kind;

use super::config::DockerSection;
use super::engine::{self, RUN_LABEL};
use super::launcher::DockerLauncher;
use crate::app::AppKind;
use crate::platform::local::host::LaunchWith;
use crate::platform::local::LocalPlatform;
use crate::platform::{BoxFuture, InstanceFaults, Platform, Rollback, Wiring};
use crate::run_plan::RunPlan;

/// The local platform's host, its instances containers, and what the run created in the
/// Engine, removed at teardown (or, failing that, when dropped).
pub struct DockerPlatform {
    local: LocalPlatform,
    docker: Docker,
    run: String,
    ledger: crate::ledger::Ledger,
    events: tokio::task::JoinHandle<()>,
    removed: AtomicBool,
}

/// What the container platforms (this one and Swarm's) do first: refuse an in-process
/// function with no image of the user's, reach the Engine, and remove what a harness that
/// was killed outright left in it.
pub(crate) async fn connect(
    plan: &RunPlan,
    platform: &str,
) -> anyhow::Result<(Docker, DockerSection)> {
    let section: DockerSection = plan.scenario.platform.docker.clone().unwrap_or_default();
    if plan.program.kind == AppKind::InProcess && !users_own(&section) {
        anyhow::bail!(
            "the {platform} platform runs the test function as a process in a container, not \
             in this one"
        );
    }
    let docker = engine::connect().await?;
    let orphans = engine::remove_orphans(&docker).await?;
    if orphans > 0 {
        tracing::info!(
            orphans,
            "removed what earlier runs whose harness is gone left in the Engine"
        );
    }
    Ok((docker, section))
}

fn users_own(section: &DockerSection) -> bool {
    section.image_from.is_some() && section.image_to.is_some()
}

/// The test function's image, built or found (and said in the ledger), unless both
/// versions have an image of the user's.
pub(crate) async fn image(
    plan: &RunPlan,
    docker: &Docker,
    section: &DockerSection,
    ledger: &crate::ledger::Ledger,
) -> anyhow::Result<Option<super::image::Built>> {
    if users_own(section) {
        return Ok(None);
    }
    let built = super::image::ensure(docker, &plan.program.program).await?;
    super::image::record(ledger, &built);
    Ok(Some(built))
}

/// Every container's environment: the sink's token and `[platform.docker] env`.
pub(crate) fn container_env(wiring: &Wiring, section: &DockerSection) -> Vec<(String, String)> {
    wiring
        .sink_token
        .iter()
        .map(|t| ("TESTFN_SINK_TOKEN".to_owned(), t.clone()))
        .chain(section.env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// The arguments before the test function's flags (`testfn` for the harness's executable).
pub(crate) fn program_args(plan: &RunPlan) -> Vec<String> {
    plan.program
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

pub async fn build(plan: &RunPlan, wiring: Wiring) -> anyhow::Result<DockerPlatform> {
    let s = &plan.scenario;
    let (docker, section) = connect(plan, "docker").await?;
    let ledger = wiring.ledger.clone();
    let built = image(plan, &docker, &section, &ledger).await?;
    let run = engine::run_id();
    let events = engine::spawn_events(docker.clone(), run.clone(), ledger.clone()).await;
    let ledger_kept = ledger.clone();
    let env = container_env(&wiring, &section);
    let launcher = DockerLauncher {
        docker: docker.clone(),
        run: run.clone(),
        section,
        built,
        program_args: program_args(plan),
        from: s.app.from.clone(),
        to: s.app.to.clone(),
        env,
    };
    let local = crate::platform::local::build::build_with(
        plan,
        wiring,
        Some(LaunchWith(Arc::new(launcher))),
    )
    .await;
    let platform = DockerPlatform {
        local: match local {
            Ok(l) => l,
            Err(e) => {
                events.abort();
                return Err(e);
            }
        },
        docker,
        run,
        ledger: ledger_kept,
        events,
        removed: AtomicBool::new(false),
    };
    Ok(platform)
}

impl DockerPlatform {
    /// Removes every container of the run; the Engine's last events (the kills and deaths of
    /// the teardown) reach the ledger first.
    async fn remove_all(&self) -> anyhow::Result<usize> {
        // The events of the host's last kills are a few ms behind them.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let removed = engine::remove_labelled(&self.docker, RUN_LABEL, &self.run).await;
        self.removed.store(true, Ordering::SeqCst);
        // The Engine's `destroy` events say the containers are gone: wait for them (a
        // second at most) so that the ledger ends with them.
        let created = |action: &'static str| {
            move |e: &reports::LedgerEvent| {
                e.event == Kind::Engine && e.get("action") == Some(action)
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while self.ledger.events_where(created("destroy")).len()
            < self.ledger.events_where(created("create")).len()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.events.abort();
        removed
    }
}

impl Drop for DockerPlatform {
    /// A run that ended without its teardown (a panic) still removes its containers: on a
    /// thread of its own, since a drop cannot wait on the runtime it may be running on.
    fn drop(&mut self) {
        self.events.abort();
        if self.removed.load(Ordering::SeqCst) {
            return;
        }
        let (docker, run) = (self.docker.clone(), self.run.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime
                .block_on(engine::remove_labelled(&docker, RUN_LABEL, &run))
                .ok()
        })
        .join();
    }
}

impl Platform for DockerPlatform {
    fn front_door(&self) -> std::net::SocketAddr {
        Platform::front_door(&self.local)
    }

    fn deploy<'a>(&'a self, version: &'a str, instances: u32) -> BoxFuture<'a, anyhow::Result<()>> {
        Platform::deploy(&self.local, version, instances)
    }

    fn start_triggers(&self, schedule: crate::clock::Schedule) {
        Platform::start_triggers(&self.local, schedule)
    }

    fn update<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Platform::update(&self.local, from, to, instances)
    }

    fn rollback(&self) -> Option<&dyn Rollback> {
        Platform::rollback(&self.local)
    }

    fn instance_faults(&self) -> Option<&dyn InstanceFaults> {
        Platform::instance_faults(&self.local)
    }

    fn stop_triggers(&self) -> BoxFuture<'_, ()> {
        Platform::stop_triggers(&self.local)
    }

    fn settle(&self, within: Duration) -> BoxFuture<'_, ()> {
        Platform::settle(&self.local, within)
    }

    fn alive(&self) -> Vec<String> {
        Platform::alive(&self.local)
    }

    fn teardown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            Platform::teardown(&self.local).await;
            if let Err(e) = self.remove_all().await {
                tracing::warn!(error = %e, run = %self.run, "removing the run's containers");
            }
        })
    }
}
