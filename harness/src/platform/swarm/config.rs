//! `[platform.swarm]`: the Swarm service's update and stop settings, with Compose's names
//! (`deploy.update_config`, `stop_grace_period`, `healthcheck`). Plain data, so the
//! scenario can hold it.

use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// `[platform.swarm]`: how Swarm updates the service. Durations are scaled by the run's
/// time scale, as the workload's are: a grace is measured against the items' own timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmSection {
    /// Tasks updated at once (`update_config.parallelism`); 0: all at once.
    pub parallelism: u32,
    /// Wait between batches (`update_config.delay`).
    pub delay: Span,
    /// `stop-first` (Swarm's default: the old task stops before its replacement starts) or
    /// `start-first` (the new one runs, healthy when there is a health check, first).
    pub order: Order,
    /// What a failed batch does (`update_config.failure_action`): `pause` (Swarm's
    /// default), `continue`, or `rollback` to the previous spec.
    pub failure_action: FailureAction,
    /// How long Swarm watches each updated task for a failure (`update_config.monitor`).
    pub monitor: Span,
    /// The share of tasks that may fail before the update fails (`max_failure_ratio`).
    pub max_failure_ratio: f64,
    /// From the stop signal to the SIGKILL (`stop_grace_period`).
    pub stop_grace_period: Span,
    /// The built image's health check: `harness health` against the test function's
    /// `/health`. Off: no health check, and a task counts as up once its process runs.
    pub healthcheck: bool,
    /// The check's interval (`healthcheck.interval`); its timeout is the same.
    pub health_interval: Span,
    /// Failed checks in a row before the task is unhealthy (`healthcheck.retries`).
    pub health_retries: u32,
}

impl Default for SwarmSection {
    fn default() -> Self {
        SwarmSection {
            parallelism: 1,
            delay: Span::from_secs(0),
            order: Order::StopFirst,
            failure_action: FailureAction::Pause,
            monitor: Span::from_secs(5),
            max_failure_ratio: 0.0,
            stop_grace_period: Span::from_secs(10),
            healthcheck: true,
            health_interval: Span::from_secs(1),
            health_retries: 3,
        }
    }
}

/// `update_config.order`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    #[default]
    StopFirst,
    StartFirst,
}

/// `update_config.failure_action`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    #[default]
    Pause,
    Continue,
    Rollback,
}
