//! Starting an instance as a container: the host's command line becomes the container's,
//! the Engine's log stream its stdout and stderr, the Engine's wait its exit, and the
//! host's signals the Engine's: SIGTERM and SIGKILL are `docker kill --signal` (to the
//! container's PID 1, as `docker stop` sends them), SIGSTOP and SIGCONT are `docker pause`
//! and `unpause` (the cgroup freezer).
//!
//! Every container runs on the host's network, so the sink, the front door and the probes
//! stay on loopback as with processes, and as the harness's own user, so that what it writes
//! in the run directory (the stash) is the user's.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, LogsOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::config::DockerSection;
use super::engine::{INSTANCE_LABEL, PID_LABEL, RUN_LABEL, VERSION_LABEL};
use super::image::Built;
use crate::platform::local::launcher::{Control, Launched, Launcher, Signal};

/// What every container of the run is made from.
pub struct DockerLauncher {
    pub docker: Docker,
    /// The run's id: [`RUN_LABEL`] and the containers' names.
    pub run: String,
    pub section: DockerSection,
    /// The harness's own image of the test function, unless both versions have the user's.
    pub built: Option<Built>,
    /// Arguments before the host's own (`testfn` for the harness's executable).
    pub program_args: Vec<String>,
    pub from: String,
    pub to: String,
    /// Environment variables every instance gets (the sink's token).
    pub env: Vec<(String, String)>,
}

/// The value after `flag` in the host's command line.
fn flag_value(args: &[OsString], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.to_string_lossy().into_owned())
}

/// The host's signals, in order, to the task that owns the container.
struct Signals(tokio::sync::mpsc::UnboundedSender<Signal>);

impl Control for Signals {
    fn signal(&self, signal: Signal) {
        let _ = self.0.send(signal);
    }
}

impl Launcher for DockerLauncher {
    fn launch(&self, mut args: Vec<OsString>) -> std::io::Result<Launched> {
        let version = flag_value(&args, "--version").unwrap_or_default();
        let instance = flag_value(&args, "--instance").unwrap_or_default();
        // The stash is bind-mounted at its own absolute path: the container's working
        // directory is not the harness's.
        let mut binds = Vec::new();
        if let Some(i) = args.iter().position(|a| a == "--stash-dir") {
            if let Some(dir) = args.get(i + 1) {
                std::fs::create_dir_all(dir)?;
                let dir = std::fs::canonicalize(dir)?;
                binds.push(format!("{0}:{0}", dir.display()));
                args[i + 1] = dir.into_os_string();
            }
        }
        let super::image::Command {
            image,
            entrypoint,
            args: mut cmd,
        } = super::image::for_version(
            &self.section,
            self.built.as_ref(),
            (&self.from, &self.to),
            &self.program_args,
            &version,
        )
        .map_err(std::io::Error::other)?;
        cmd.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
        let name = format!("uh-{}-{}", self.run, instance);
        let labels = HashMap::from([
            (RUN_LABEL.to_owned(), self.run.clone()),
            (PID_LABEL.to_owned(), std::process::id().to_string()),
            (INSTANCE_LABEL.to_owned(), instance.clone()),
            (VERSION_LABEL.to_owned(), version.clone()),
        ]);
        let memory = self.section.memory_mib.map(|m| (m * 1024 * 1024) as i64);
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint,
            cmd: Some(cmd),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            // SAFETY: getuid and getgid cannot fail.
            user: Some(unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) }),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                init: Some(self.section.init),
                binds: Some(binds),
                memory,
                // No swap beyond the limit: past it is the OOM kill, not a slow app.
                memory_swap: memory,
                ..Default::default()
            }),
            ..Default::default()
        };
        let (signals_tx, signals_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stdout, stdout_w) = tokio::io::simplex(1 << 16);
        let (stderr, stderr_w) = tokio::io::simplex(1 << 16);
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<String>();
        let docker = self.docker.clone();
        tokio::spawn(async move {
            let how = run(docker, name, body, signals_rx, stdout_w, stderr_w).await;
            let _ = exit_tx.send(how);
        });
        Ok(Launched {
            pid: 0,
            stdout: Box::pin(stdout),
            stderr: Some(Box::pin(stderr)),
            exited: Box::pin(async move { exit_rx.await.unwrap_or_else(|_| "unknown".into()) }),
            control: Arc::new(Signals(signals_tx)),
        })
    }
}

/// Creates and starts the container, copies its logs, applies the host's signals in order,
/// and says how it ended: `code=N`, or `signal=N` for an exit status of 128 + N (a process
/// the kernel ended with signal N, as the Engine reports it), or `error=...`.
async fn run(
    docker: Docker,
    name: String,
    body: ContainerCreateBody,
    mut signals: tokio::sync::mpsc::UnboundedReceiver<Signal>,
    stdout: tokio::io::WriteHalf<tokio::io::SimplexStream>,
    stderr: tokio::io::WriteHalf<tokio::io::SimplexStream>,
) -> String {
    let create = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    if let Err(e) = docker.create_container(Some(create), body).await {
        return format!("error=creating the container {name}: {e}");
    }
    if let Err(e) = docker.start_container(&name, None).await {
        return format!("error=starting the container {name}: {e}");
    }
    let pump = tokio::spawn(copy_logs(docker.clone(), name.clone(), stdout, stderr));
    let mut wait = Box::pin(docker.wait_container(&name, None::<WaitContainerOptions>));
    let status = loop {
        tokio::select! {
            biased;
            Some(signal) = signals.recv() => apply(&docker, &name, signal).await,
            ended = wait.next() => break match ended {
                Some(Ok(r)) => r.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => return format!("error=waiting for the container {name}: {e}"),
                None => return format!("error=the Engine stopped waiting for {name}"),
            },
        }
    };
    // The logs end with the container; a second is plenty for the last lines.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), pump).await;
    match status {
        129..=192 => format!("signal={}", status - 128),
        code => format!("code={code}"),
    }
}

/// One signal of the host's, through the Engine. A container that has already stopped
/// cannot be signalled: the Engine's refusal is that, and nothing more.
async fn apply(docker: &Docker, name: &str, signal: Signal) {
    let done = match signal {
        Signal::Term | Signal::Kill => {
            let signal = if signal == Signal::Term {
                "SIGTERM"
            } else {
                "SIGKILL"
            };
            docker
                .kill_container(
                    name,
                    Some(KillContainerOptions {
                        signal: signal.to_owned(),
                    }),
                )
                .await
        }
        Signal::Stop => docker.pause_container(name).await,
        Signal::Cont => docker.unpause_container(name).await,
    };
    if let Err(e) = done {
        tracing::debug!(container = name, ?signal, error = %e, "the Engine did not signal");
    }
}

/// Copies the container's log stream into its stdout and stderr pipes until it ends.
async fn copy_logs(
    docker: Docker,
    name: String,
    mut stdout: tokio::io::WriteHalf<tokio::io::SimplexStream>,
    mut stderr: tokio::io::WriteHalf<tokio::io::SimplexStream>,
) {
    use bollard::container::LogOutput;
    let mut logs = Box::pin(docker.logs(
        &name,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    ));
    while let Some(Ok(chunk)) = logs.next().await {
        let written = match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                stdout.write_all(&message).await
            }
            LogOutput::StdErr { message } => stderr.write_all(&message).await,
            LogOutput::StdIn { .. } => Ok(()),
        };
        if written.is_err() {
            break;
        }
    }
    let _ = stdout.shutdown().await;
    let _ = stderr.shutdown().await;
}
