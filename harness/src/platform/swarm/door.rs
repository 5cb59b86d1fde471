//! The front door of a Swarm service on one machine: a reverse proxy that forwards `/api/*`
//! round-robin to the tasks the Engine says run, re-read every 100 ms, as a proxy with a
//! Swarm provider (Traefik's, nginx-proxy) routes. Swarm's own routing mesh needs the
//! kernel's IPVS, which not every machine has (this project's CI has none), and then a
//! published port is simply never answered; the door needs only the Engine's API.
//!
//! A task is routed to while its desired state and its state are both `running` (Swarm
//! sets the desired state to `shutdown` before it sends the stop signal, and a proxy that
//! reads the Engine drops the task then), and, when the service has a health check, while
//! its container is `healthy`. Its address is the first line the test function prints,
//! from the container's log: the port is the kernel's choice, on the host's network.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bollard::models::{HealthStatusEnum, TaskState};
use bollard::query_parameters::{ListTasksOptions, LogsOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::platform::local::front_door::to_instance;

/// How often the door re-reads the service's tasks.
pub const REFRESH: Duration = Duration::from_millis(100);

/// One task the door may route to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The task's name (`SERVICE.SLOT.TASK_ID`), the test function's instance id.
    pub instance: String,
    pub addr: SocketAddr,
}

/// What the door last read of the service.
#[derive(Default)]
pub struct Seen {
    /// The tasks routed to.
    pub routes: Vec<Route>,
    /// Every task whose container runs, routed to or not (healthy or not).
    pub running: Vec<String>,
}

/// The door: its address, and what it routes to.
pub struct Door {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
}

impl Door {
    pub fn routes(&self) -> Vec<Route> {
        self.seen.lock().expect("door").routes.clone()
    }

    pub fn running(&self) -> Vec<String> {
        self.seen.lock().expect("door").running.clone()
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Clone)]
struct Forward {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicUsize>,
    client: crate::net::HttpClient,
}

/// Binds the door on loopback and starts reading `service`'s tasks.
pub async fn start(
    docker: Docker,
    service: String,
    healthcheck: bool,
    timeout: Duration,
) -> std::io::Result<Door> {
    let net = crate::net::Net::Machine;
    let listener = crate::net::serve::Listener::bind(&net, "127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = CancellationToken::new();
    let client = net.client(crate::net::ClientOptions {
        timeout: Some(timeout),
        pool_max_idle_per_host: 64,
        ..Default::default()
    });
    let app = Router::new()
        .route("/api/{*rest}", any(forward))
        .with_state(Forward {
            seen: seen.clone(),
            next: Arc::new(AtomicUsize::new(0)),
            client,
        });
    let shutdown = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        let _ = crate::net::serve::serve(listener, app, shutdown).await;
    });
    tokio::spawn(watch(
        docker,
        service,
        healthcheck,
        seen.clone(),
        stop.clone(),
    ));
    Ok(Door { addr, seen, stop })
}

/// Re-reads the service's tasks every [`REFRESH`] until stopped.
async fn watch(
    docker: Docker,
    service: String,
    healthcheck: bool,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
) {
    // A container's address never changes: read from its log once.
    let mut addrs: HashMap<String, SocketAddr> = HashMap::new();
    let filters = HashMap::from([("service".to_owned(), vec![service.clone()])]);
    loop {
        let tasks = docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .unwrap_or_default();
        let mut now = Seen::default();
        for task in tasks {
            let status = task.status.as_ref();
            let (Some(id), Some(slot)) = (task.id.as_deref(), task.slot) else {
                continue;
            };
            let Some(container) = status
                .and_then(|s| s.container_status.as_ref())
                .and_then(|c| c.container_id.clone())
            else {
                continue;
            };
            if status.and_then(|s| s.state) != Some(TaskState::RUNNING) {
                continue;
            }
            let instance = format!("{service}.{slot}.{id}");
            now.running.push(instance.clone());
            if task.desired_state != Some(TaskState::RUNNING) {
                continue;
            }
            if healthcheck && !healthy(&docker, &container).await {
                continue;
            }
            let addr = match addrs.get(&container) {
                Some(a) => *a,
                None => match first_line_addr(&docker, &container).await {
                    Some(a) => *addrs.entry(container).or_insert(a),
                    None => continue,
                },
            };
            now.routes.push(Route { instance, addr });
        }
        now.routes.sort_by(|a, b| a.instance.cmp(&b.instance));
        *seen.lock().expect("door") = now;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}

async fn healthy(docker: &Docker, container: &str) -> bool {
    docker
        .inspect_container(container, None)
        .await
        .ok()
        .and_then(|c| c.state?.health?.status)
        == Some(HealthStatusEnum::HEALTHY)
}

/// The address the test function printed first, from the container's log.
async fn first_line_addr(docker: &Docker, container: &str) -> Option<SocketAddr> {
    let mut logs = Box::pin(docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            ..Default::default()
        }),
    ));
    let mut text = Vec::new();
    while let Some(Ok(chunk)) = logs.next().await {
        text.extend_from_slice(&chunk.into_bytes());
        if text.contains(&b'\n') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text);
    text.lines().next()?.trim().parse().ok()
}

async fn forward(State(door): State<Forward>, request: Request) -> Response {
    let target = {
        let seen = door.seen.lock().expect("door");
        let n = seen.routes.len();
        (n > 0).then(|| seen.routes[door.next.fetch_add(1, Ordering::Relaxed) % n].clone())
    };
    let Some(target) = target else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no running task\n").into_response();
    };
    to_instance(&door.client, target.addr, &target.instance, request).await
}
