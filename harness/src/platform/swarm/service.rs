//! The Swarm service of a run: its spec for a version (image, command, labels, mounts,
//! health check, grace, `update_config`), and Swarm's account of an update
//! (`UpdateStatus`) copied into the ledger.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    HealthConfig, Limit, Mount, MountTmpfsOptions, MountType, NetworkAttachmentConfig, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, ServiceUpdateStatusStateEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecResources,
};
use bollard::Docker;
use reports::ledger::Kind;

use super::config::{FailureAction, Order, SwarmSection};
use crate::ledger::Ledger;
use crate::platform::docker::config::DockerSection;
use crate::platform::docker::engine::{PID_LABEL, RUN_LABEL, VERSION_LABEL};
use crate::platform::docker::image::{self, Built};

/// Where each task's test function writes its address, on a tmpfs of the task's own: the
/// health check reads it there.
pub const ADDR_FILE: &str = "/run/testfn/addr";

/// Longest one health check may take.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a version's spec is made from.
pub struct Template {
    pub name: String,
    pub run: String,
    pub replicas: u32,
    pub docker: DockerSection,
    /// The `[platform.swarm]` settings, durations already scaled.
    pub swarm: SwarmSection,
    pub built: Option<Built>,
    /// The image's executable when it has a `health` command (the harness's, or the
    /// standalone `testfn`): the health check. `None`: an app of the user's.
    pub health_program: Option<String>,
    /// Arguments before the test function's flags (`testfn` for the harness's executable).
    pub program_args: Vec<String>,
    /// Every task's flags, but the version's.
    pub flags: Vec<String>,
    /// A bad release: its version, and the flags its tasks get besides.
    pub release: Option<(String, Vec<String>)>,
    pub from: String,
    pub to: String,
    pub env: Vec<(String, String)>,
    /// The stash directory (absolute), bind-mounted at its own path.
    pub stash_dir: String,
}

fn ns(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

impl Template {
    /// The service's spec with every task running `version`.
    pub fn spec(&self, version: &str) -> anyhow::Result<ServiceSpec> {
        let image::Command {
            image,
            entrypoint: command,
            mut args,
        } = image::for_version(
            &self.docker,
            self.built.as_ref(),
            (&self.from, &self.to),
            &self.program_args,
            version,
        )
        .map_err(anyhow::Error::msg)?;
        args.extend(["--version".into(), version.to_owned()]);
        args.extend(self.flags.iter().cloned());
        if let Some((bad, flags)) = &self.release {
            if bad == version {
                args.extend(flags.iter().cloned());
            }
        }
        let labels = HashMap::from([
            (RUN_LABEL.to_owned(), self.run.clone()),
            (PID_LABEL.to_owned(), std::process::id().to_string()),
        ]);
        let mut container_labels = labels.clone();
        container_labels.insert(VERSION_LABEL.to_owned(), version.to_owned());
        let s = &self.swarm;
        // The test function's image is checked with its own executable (`harness health`,
        // `testfn health`); an image of the user's keeps its HEALTHCHECK.
        let health_check = match (&self.health_program, &command) {
            (Some(program), Some(_)) if s.healthcheck => Some(HealthConfig {
                test: Some(
                    [
                        "CMD",
                        program,
                        "health",
                        "--addr-file",
                        ADDR_FILE,
                        "--timeout-ms",
                    ]
                    .map(str::to_owned)
                    .into_iter()
                    .chain([HEALTH_TIMEOUT.as_millis().to_string()])
                    .collect(),
                ),
                interval: Some(ns(s.health_interval.0.max(Duration::from_millis(1)))),
                // Real time, not scaled: each check is a process the Engine starts in the
                // container, which a scaled run does not make faster.
                timeout: Some(ns(HEALTH_TIMEOUT)),
                retries: Some(i64::from(s.health_retries)),
                ..Default::default()
            }),
            _ => None,
        };
        let memory = self.docker.memory_mib.map(|m| (m * 1024 * 1024) as i64);
        let env = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            // Swarm fills the template in per task: the instance id is the task's name.
            .chain(["TESTFN_INSTANCE={{.Task.Name}}".to_owned()])
            .chain([format!("TESTFN_ADDR_FILE={ADDR_FILE}")])
            .collect();
        let container = TaskSpecContainerSpec {
            image: Some(image),
            labels: Some(container_labels),
            command,
            args: Some(args),
            env: Some(env),
            // SAFETY: getuid and getgid cannot fail.
            user: Some(unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) }),
            mounts: Some(vec![
                Mount {
                    target: Some("/run/testfn".into()),
                    typ: Some(MountType::TMPFS),
                    tmpfs_options: Some(MountTmpfsOptions {
                        size_bytes: Some(1 << 20),
                        mode: Some(0o1777),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Mount {
                    target: Some(self.stash_dir.clone()),
                    source: Some(self.stash_dir.clone()),
                    typ: Some(MountType::BIND),
                    ..Default::default()
                },
            ]),
            stop_grace_period: Some(ns(s.stop_grace_period.0)),
            health_check,
            init: Some(self.docker.init),
            ..Default::default()
        };
        let update = ServiceSpecUpdateConfig {
            parallelism: Some(i64::from(s.parallelism)),
            delay: Some(ns(s.delay.0)),
            failure_action: Some(match s.failure_action {
                FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
                FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
                FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
            }),
            monitor: Some(ns(s.monitor.0)),
            max_failure_ratio: Some(s.max_failure_ratio),
            order: Some(match s.order {
                Order::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
                Order::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
            }),
        };
        // The way back goes as the way forward did, and stops where it fails.
        let rollback = ServiceSpecRollbackConfig {
            parallelism: update.parallelism,
            delay: update.delay,
            failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
            monitor: update.monitor,
            max_failure_ratio: update.max_failure_ratio,
            order: Some(match s.order {
                Order::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
                Order::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            }),
        };
        Ok(ServiceSpec {
            name: Some(self.name.clone()),
            labels: Some(labels),
            task_template: Some(TaskSpec {
                container_spec: Some(container),
                resources: Some(TaskSpecResources {
                    limits: memory.map(|m| Limit {
                        memory_bytes: Some(m),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                // The host's network: the sink, the door and the probes stay on loopback.
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some("host".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(i64::from(self.replicas)),
                }),
                ..Default::default()
            }),
            update_config: Some(update),
            rollback_config: Some(rollback),
            ..Default::default()
        })
    }
}

/// How an update ended, as Swarm's `UpdateStatus` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Completed,
    RolledBack(String),
    Paused(String),
}

fn state_name(state: ServiceUpdateStatusStateEnum) -> &'static str {
    match state {
        ServiceUpdateStatusStateEnum::EMPTY => "",
        ServiceUpdateStatusStateEnum::UPDATING => "updating",
        ServiceUpdateStatusStateEnum::PAUSED => "paused",
        ServiceUpdateStatusStateEnum::COMPLETED => "completed",
        ServiceUpdateStatusStateEnum::ROLLBACK_STARTED => "rollback_started",
        ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED => "rollback_paused",
        ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED => "rollback_completed",
    }
}

/// Follows Swarm's `UpdateStatus` of `service` until the update ends, writing each state
/// it passes through as an `engine` row (`action=service_update`, `state`, `message`), and
/// `update_complete` (`by=swarm`) when it completes.
pub async fn follow_update(
    docker: &Docker,
    service: &str,
    ledger: &Ledger,
    within: Duration,
) -> anyhow::Result<Ended> {
    let deadline = tokio::time::Instant::now() + within;
    let mut last: Option<(ServiceUpdateStatusStateEnum, String)> = None;
    loop {
        let status = docker.inspect_service(service, None).await?.update_status;
        if let Some(state) = status.as_ref().and_then(|s| s.state) {
            let message = status
                .as_ref()
                .and_then(|s| s.message.clone())
                .unwrap_or_default();
            if last.as_ref() != Some(&(state, message.clone())) {
                ledger.record(
                    ledger
                        .event(Kind::Engine, "", "", "")
                        .with("action", "service_update")
                        .with("state", state_name(state))
                        .with("message", &message),
                );
                last = Some((state, message.clone()));
            }
            match state {
                ServiceUpdateStatusStateEnum::COMPLETED => {
                    ledger.record(
                        ledger
                            .event(Kind::UpdateComplete, "", "", "")
                            .with("by", "swarm"),
                    );
                    return Ok(Ended::Completed);
                }
                ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED => {
                    return Ok(Ended::RolledBack(message))
                }
                ServiceUpdateStatusStateEnum::PAUSED
                | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED => {
                    return Ok(Ended::Paused(message))
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "Swarm's update of {service} had not ended after {within:?} (last state: {})",
                last.map_or("none", |(s, _)| state_name(s))
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
