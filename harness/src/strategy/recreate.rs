//! Recreate: stop every instance (SIGKILL at once, or SIGTERM and a grace), then start the
//! new version: nothing serves in between. Its way back is the same, to the old version.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

use super::instances::Instances;
use super::steps::replace;

/// Recreate parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recreate {
    /// `kill` (SIGKILL at once) or `term` (SIGTERM, then SIGKILL after `stop_grace`).
    pub stop: StopSignal,
    pub stop_grace: Span,
}

impl Default for Recreate {
    fn default() -> Self {
        Recreate {
            stop: StopSignal::Kill,
            stop_grace: Span::from_secs(5),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopSignal {
    Kill,
    Term,
}

impl Recreate {
    /// The plan, every duration scaled by `scaled`.
    pub fn plan(&self, scaled: &dyn Fn(Span) -> Duration) -> RecreatePlan {
        RecreatePlan {
            grace: match self.stop {
                StopSignal::Kill => None,
                StopSignal::Term => Some(scaled(self.stop_grace)),
            },
            restart_backoff: scaled(Span(super::steps::RESTART_BACKOFF)),
        }
    }
}

/// A recreate, its durations scaled to the run's time.
#[derive(Clone, Debug)]
pub struct RecreatePlan {
    /// `None`: SIGKILL at once; `Some(grace)`: SIGTERM, then SIGKILL after `grace`.
    pub grace: Option<Duration>,
    /// The wait before the platform tries again to start a version that failed to.
    pub restart_backoff: Duration,
}

impl RecreatePlan {
    /// Replaces every instance with `to`; a rollback is the same move back.
    pub async fn perform<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        let grace = self.grace;
        replace(host, to, instances, self.restart_backoff, |_| grace).await
    }
}
