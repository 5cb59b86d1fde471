//! The Docker Engine, through its API (bollard): the connection, the labels that mark what a
//! run creates, the removal of it all, and the Engine's event stream copied into the ledger.
//!
//! Every container a run creates carries [`RUN_LABEL`] (the run's id), [`PID_LABEL`] (the
//! harness's process id), and its instance and version. At the end of the run, on a failure
//! and on Ctrl-C, the platform removes every container with its run's label; a harness that
//! was itself killed leaves its containers behind, and the next run removes those whose
//! harness process is gone ([`remove_orphans`]).

use std::collections::HashMap;

use bollard::query_parameters::{EventsOptions, ListContainersOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;
use reports::ledger::Kind;

use crate::ledger::Ledger;

/// The run a container belongs to.
pub const RUN_LABEL: &str = "io.update-harness.run";
/// The harness process that created it.
pub const PID_LABEL: &str = "io.update-harness.pid";
/// The instance id it runs (`a-0`).
pub const INSTANCE_LABEL: &str = "io.update-harness.instance";
/// The version it runs (`A`).
pub const VERSION_LABEL: &str = "io.update-harness.version";
/// Marks the images the harness builds (kept between runs as a cache, by content).
pub const IMAGE_LABEL: &str = "io.update-harness.image";

/// A run's id in the Engine: short, unique on the machine, and legal in a container's and a
/// service's name.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{:x}", std::process::id(), nanos % (1 << 40))
}

/// Connects to the local Engine (`DOCKER_HOST`, else its Unix socket) at the newest API
/// version both sides speak, and checks that it answers.
pub async fn connect() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults().map_err(not_reached)?;
    let docker = docker.negotiate_version().await.map_err(not_reached)?;
    docker.ping().await.map_err(not_reached)?;
    Ok(docker)
}

fn not_reached(e: bollard::errors::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "the docker platform needs a running Docker Engine, and this one did not answer: {e} \
         (is the daemon running, and may this user use its socket? `docker info` tells)"
    )
}

/// A filter on one label, as the Engine's list and events take it.
pub fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{key}={value}")])])
}

/// The containers, running or not, that `filters` picks.
async fn list(
    docker: &Docker,
    filters: HashMap<String, Vec<String>>,
) -> anyhow::Result<Vec<bollard::models::ContainerSummary>> {
    Ok(docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await?)
}

/// The names of the containers (running or not) carrying `key=value`.
pub async fn labelled(docker: &Docker, key: &str, value: &str) -> anyhow::Result<Vec<String>> {
    Ok(list(docker, label_filter(key, value))
        .await?
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .map(|n| n.trim_start_matches('/').to_owned())
        .collect())
}

/// The run id in one of its containers' names (`uh-<run>-<instance>`).
pub fn run_of_container(name: &str, instance: &str) -> Option<String> {
    name.strip_prefix("uh-")?
        .strip_suffix(instance)?
        .strip_suffix('-')
        .map(str::to_owned)
}

/// Removes every container (running or not) carrying `label=value`, with its anonymous
/// volumes; returns how many it removed.
pub async fn remove_labelled(docker: &Docker, key: &str, value: &str) -> anyhow::Result<usize> {
    let containers = list(docker, label_filter(key, value)).await?;
    let mut removed = 0;
    for c in containers {
        let Some(id) = c.id else { continue };
        let force = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(&id, Some(force)).await {
            Ok(()) => removed += 1,
            // Removed meanwhile (a removal already under way): gone is what was wanted.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Whether the harness process `pid` (a label's) is alive. Signal 0: whether the process
/// exists, nothing sent. EPERM is a process of another user's: alive, and what it created
/// is not ours to remove.
fn harness_alive(pid: &str) -> bool {
    pid.parse::<i32>().is_ok_and(|p| {
        (unsafe { libc::kill(p, 0) }) == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    })
}

/// Removes the Swarm services of runs whose harness process is gone, and returns how many;
/// none where the Engine is no Swarm manager. Their tasks' containers go with them.
async fn remove_orphan_services(docker: &Docker) -> usize {
    let filters = HashMap::from([("label".to_owned(), vec![PID_LABEL.to_owned()])]);
    let Ok(services) = docker
        .list_services(Some(bollard::query_parameters::ListServicesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
    else {
        return 0;
    };
    let mut removed = 0;
    for service in services {
        let labels = service
            .spec
            .as_ref()
            .and_then(|s| s.labels.clone())
            .unwrap_or_default();
        let (Some(pid), Some(id)) = (labels.get(PID_LABEL), service.id.as_deref()) else {
            continue;
        };
        if !harness_alive(pid) && docker.delete_service(id).await.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes the services and containers of runs whose harness process is gone (killed
/// before it could clean up); returns how many.
pub async fn remove_orphans(docker: &Docker) -> anyhow::Result<usize> {
    let services = remove_orphan_services(docker).await;
    let containers = list(
        docker,
        HashMap::from([("label".to_owned(), vec![PID_LABEL.to_owned()])]),
    )
    .await?;
    let mut runs = std::collections::BTreeSet::new();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let (Some(pid), Some(run)) = (labels.get(PID_LABEL), labels.get(RUN_LABEL)) else {
            continue;
        };
        if !harness_alive(pid) {
            runs.insert(run.clone());
        }
    }
    let mut removed = services;
    for run in runs {
        removed += remove_labelled(docker, RUN_LABEL, &run).await?;
    }
    Ok(removed)
}

/// Copies the Engine's events about the run's containers into the ledger until the stream
/// ends or the task is aborted: one `engine` row per event, stamped when the harness read
/// it, with the Engine's own time as `engine_ns`.
///
/// The rows' detail: `action` (`create`, `start`, `kill`, `die`, `oom`, `pause`, `unpause`,
/// `stop`, `destroy`, `health_status`, ...), `container` (its name), `signal` (a kill's),
/// `exit_code` (a die's), `status` (a health status's).
pub async fn record_events(
    docker: Docker,
    run: String,
    ledger: Ledger,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut filters = label_filter(RUN_LABEL, &run);
    filters.insert("type".to_owned(), vec!["container".to_owned()]);
    // From a second before now: the stream's request goes out when it is first polled, and
    // the Engine replays what it saw since then, so the run's first container cannot be
    // created before the subscription (the label is this run's alone).
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(1);
    let mut events = docker.events(Some(EventsOptions {
        since: Some(since.to_string()),
        filters: Some(filters),
        ..Default::default()
    }));
    let _ = ready.send(());
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "the Engine's event stream ended");
                break;
            }
        };
        if let Some(row) = row(&ledger, &event) {
            ledger.record(row);
        }
    }
}

/// Starts [`record_events`] for the run and returns once its subscription is made, so
/// that no container of the run is created before it.
pub async fn spawn_events(
    docker: Docker,
    run: String,
    ledger: Ledger,
) -> tokio::task::JoinHandle<()> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let events = tokio::spawn(record_events(docker, run, ledger, ready_tx));
    let _ = ready_rx.await;
    events
}

/// The ledger's row for one Engine event, or `None` for an event the checker has no use
/// for (an exec inside the container, a resize, an attach).
fn row(ledger: &Ledger, event: &bollard::models::EventMessage) -> Option<reports::LedgerEvent> {
    let action = event.action.as_deref()?;
    // `health_status: healthy`, `exec_start: sh -c ...`: the action, then what it says.
    let (action, said) = match action.split_once(": ") {
        Some((a, s)) => (a, Some(s)),
        None => (action, None),
    };
    if action.starts_with("exec_") || matches!(action, "attach" | "resize" | "archive-path") {
        return None;
    }
    let empty = HashMap::new();
    let attributes = event
        .actor
        .as_ref()
        .and_then(|a| a.attributes.as_ref())
        .unwrap_or(&empty);
    let get = |k: &str| attributes.get(k).map(String::as_str).unwrap_or("");
    // A Swarm task's container has no instance label (a service's labels cannot say which
    // task): its instance is the task's name, which the test function is given too.
    let instance = attributes
        .get(INSTANCE_LABEL)
        .or_else(|| attributes.get("com.docker.swarm.task.name"))
        .map_or("", String::as_str);
    let mut e = ledger
        .event(Kind::Engine, instance, get(VERSION_LABEL), "")
        .with("action", action)
        .with("container", get("name"));
    if let Some(signal) = attributes.get("signal") {
        e = e.with("signal", signal);
    }
    if let Some(code) = attributes.get("exitCode") {
        e = e.with("exit_code", code);
    }
    if let Some(status) = said.filter(|_| action == "health_status") {
        e = e.with("status", status);
    }
    if let Some(t) = event.time_nano {
        e = e.with("engine_ns", t);
    }
    Some(e)
}
