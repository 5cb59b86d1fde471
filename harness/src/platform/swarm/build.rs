//! Builds the Swarm platform from a resolved run: the Engine (a Swarm manager), the image,
//! the Engine's events into the ledger, the door, and the service's template.

use std::time::Duration;

use super::config::SwarmSection;
use super::service::Template;
use super::{door, SwarmPlatform};
use crate::app::AppKind;
use crate::platform::command::build::{schedule, work_args};
use crate::platform::docker::build as docker_build;
use crate::platform::docker::engine;
use crate::platform::Wiring;
use crate::run_plan::RunPlan;

/// The Engine must be a Swarm manager: `docker swarm init` makes this machine one.
async fn require_manager(docker: &bollard::Docker) -> anyhow::Result<()> {
    let info = docker.info().await?;
    let swarm = info.swarm.unwrap_or_default();
    if swarm.control_available != Some(true) {
        anyhow::bail!(
            "the swarm platform needs this Docker Engine to be a Swarm manager, and it is not \
             (its swarm state: {}); `docker swarm init --advertise-addr 127.0.0.1` makes it one",
            swarm
                .local_node_state
                .map_or_else(|| "unknown".to_owned(), |s| format!("{s:?}").to_lowercase())
        );
    }
    Ok(())
}

pub async fn build(plan: &RunPlan, wiring: Wiring) -> anyhow::Result<SwarmPlatform> {
    let (s, t) = (&plan.scenario, &plan.timing);
    let (docker, docker_section) = docker_build::connect(plan, "swarm").await?;
    require_manager(&docker).await?;
    let ledger = wiring.ledger.clone();
    let built = docker_build::image(plan, &docker, &docker_section, &ledger).await?;
    let run = engine::run_id();
    let name = format!("uh-{run}");
    let scale = |d: Duration| d.mul_f64(plan.time_scale);
    let given = s.platform.swarm.clone().unwrap_or_default();
    let swarm = SwarmSection {
        delay: crate::duration::Span(scale(given.delay.0)),
        monitor: crate::duration::Span(scale(given.monitor.0)),
        stop_grace_period: crate::duration::Span(scale(given.stop_grace_period.0)),
        health_interval: crate::duration::Span(scale(given.health_interval.0)),
        ..given
    };
    let stash_dir = std::path::absolute(plan.out_dir.join("stash"))?;
    std::fs::create_dir_all(&stash_dir)?;
    let door = door::start(
        docker.clone(),
        name.clone(),
        swarm.healthcheck,
        t.door_timeout,
    )
    .await?;
    // From here nothing fails before the platform exists to stop what is started.
    let events = engine::spawn_events(docker.clone(), run.clone(), ledger.clone()).await;
    let driver = s.driver();
    let schedule = schedule(&wiring.clock, driver, t.period);
    let mut flags: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--sink".into(),
        wiring.sink_url.clone(),
        "--stash-dir".into(),
        stash_dir.display().to_string(),
    ];
    flags.extend(work_args(plan, driver, &schedule));
    let env = docker_build::container_env(&wiring, &docker_section);
    // The harness's executable (`harness testfn`) and the standalone `testfn` both have a
    // `health` command; an app of the user's is not asked for one.
    let has_health = plan.program.kind == AppKind::Builtin
        || plan
            .program
            .program
            .file_name()
            .is_some_and(|n| n == "testfn");
    let health_program = built
        .as_ref()
        .filter(|_| has_health)
        .map(|b| b.program.clone());
    let template = Template {
        name,
        run,
        replicas: s.app.instances,
        docker: docker_section,
        swarm,
        built,
        health_program,
        program_args: docker_build::program_args(plan),
        flags,
        release: s.app.to_behaviour.as_ref().map(|b| {
            (
                s.app.to.clone(),
                crate::platform::local::build::release_flags(b, t.crash_after, plan.seed),
            )
        }),
        from: s.app.from.clone(),
        to: s.app.to.clone(),
        env,
        stash_dir: stash_dir.display().to_string(),
    };
    Ok(SwarmPlatform {
        docker,
        template,
        ledger,
        door,
        events,
        schedule,
        driver,
        ready_timeout: t.ready_timeout,
        // Swarm's update is over well before the run's end, or something is wrong.
        update_timeout: s.run.duration.0.mul_f64(plan.time_scale) + Duration::from_secs(60),
        created: std::sync::atomic::AtomicBool::new(false),
        removed: std::sync::atomic::AtomicBool::new(false),
    })
}
