//! The slot swap: start the new version in staging, warm it up, swap the slots, recycle
//! the old instances later. Its way back swaps back while the old version still sits in
//! staging.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

use super::instances::Instances;
use super::steps::{aborted, start_all};
use crate::slot::STAGING;

/// Slot swap parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Swap {
    /// Path each staging instance is warmed up with; any response counts.
    pub warmup_path: String,
    /// Timeout of one warm-up request (platform: 90 s).
    pub warmup_timeout: Span,
    /// Tries after the first failed warm-up request (platform: 5).
    pub warmup_retries: u32,
    /// When the old production instances are killed after the swap (invented default: 5 s).
    pub recycle_after: Span,
    /// The staging slot's timer fires too (no sticky setting disables it): duplicates.
    pub staging_triggers: bool,
}

impl Default for Swap {
    fn default() -> Self {
        Swap {
            warmup_path: "/api/ping".into(),
            warmup_timeout: Span::from_secs(90),
            warmup_retries: 5,
            recycle_after: Span::from_secs(5),
            staging_triggers: false,
        }
    }
}

impl Swap {
    /// The plan, every duration scaled by `scaled`.
    pub fn plan(&self, scaled: &dyn Fn(Span) -> Duration) -> SwapPlan {
        SwapPlan {
            warmup_path: self.warmup_path.clone(),
            warmup_timeout: scaled(self.warmup_timeout),
            warmup_retries: self.warmup_retries,
            recycle_after: scaled(self.recycle_after),
        }
    }
}

/// A swap, its durations scaled to the run's time.
#[derive(Clone, Debug)]
pub struct SwapPlan {
    pub warmup_path: String,
    pub warmup_timeout: Duration,
    pub warmup_retries: u32,
    pub recycle_after: Duration,
}

impl SwapPlan {
    /// Swaps from `from` to `to`: for the update, and for a rollback once the old version
    /// has left staging.
    pub async fn perform<I: Instances>(
        &self,
        host: &I,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        let warmup = Warmup {
            path: &self.warmup_path,
            timeout: self.warmup_timeout,
            retries: self.warmup_retries,
        };
        swap(host, from, to, instances, &warmup, self.recycle_after).await
    }

    /// Back from `from` (a bad release) to `to`: a swap back while `to` still sits ready in
    /// staging (before its recycling), else a swap to it started anew.
    pub async fn roll_back<I: Instances>(
        &self,
        host: &I,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        let previous_ready = host.ready_in(STAGING).iter().any(|v| v.version == to);
        if !previous_ready {
            return self.perform(host, from, to, instances).await;
        }
        host.phase_begun("swap", to);
        host.swap_slots();
        host.phase_ended("swap", to);
        // The bad version, now in staging, is recycled as a swap recycles: later, so the
        // requests it was answering finish.
        let (host, from, recycle_after) = (host.clone(), from.to_owned(), self.recycle_after);
        host.tasks().clone().spawn(async move {
            tokio::time::sleep(recycle_after).await;
            recycle(&host, &from).await;
        });
        Ok(())
    }
}

/// Kills the instances of `version` left in staging.
async fn recycle<I: Instances>(host: &I, version: &str) {
    host.phase_begun("recycle", version);
    let old: Vec<String> = host
        .alive_in(STAGING)
        .into_iter()
        .filter(|v| v.version == version)
        .map(|v| v.id)
        .collect();
    for id in &old {
        host.kill(id).await;
    }
    host.phase_ended("recycle", version);
}

struct Warmup<'a> {
    path: &'a str,
    timeout: Duration,
    retries: u32,
}

async fn swap<I: Instances>(
    host: &I,
    from: &str,
    to: &str,
    instances: u32,
    warmup: &Warmup<'_>,
    recycle_after: Duration,
) -> anyhow::Result<()> {
    host.phase_begun("start_staging", to);
    let (staged, failed) = start_all(host, to, STAGING, instances).await;
    host.phase_ended("start_staging", to);
    // A staging slot that never warms up is never swapped in: the platform cancels the
    // swap and production is untouched.
    if !failed.is_empty() {
        for id in &staged {
            host.kill(id).await;
        }
        aborted(host, to, "start_failed");
        return Ok(());
    }

    host.phase_begun("warmup", to);
    for id in &staged {
        let answered = host
            .warm_up(id, warmup.path, warmup.timeout, warmup.retries)
            .await?;
        if !answered {
            for id in &staged {
                host.kill(id).await;
            }
            host.phase_ended("warmup", to);
            aborted(host, to, "warmup_failed");
            return Ok(());
        }
    }
    host.phase_ended("warmup", to);

    host.phase_begun("swap", to);
    host.swap_slots();
    host.phase_ended("swap", to);

    tokio::time::sleep(recycle_after).await;
    recycle(host, from).await;
    Ok(())
}
