//! The update strategies: how the host moves the app from one version to the next.
//!
//! One [`Plan`] type carries the variation (no copy of the runner per strategy). Every phase
//! is recorded in the ledger (`phase_begun` / `phase_ended`), the whole update as `update`.

use std::time::Duration;

use crate::platform::{Host, PRODUCTION, STAGING};
use crate::scenario::{Scenario, StopSignal, StrategyKind};

/// A strategy with its parameters, scaled to the run's time.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Start the new version in staging, warm it up, swap the slots, recycle the old ones.
    Swap {
        warmup_path: String,
        warmup_timeout: Duration,
        warmup_retries: u32,
        recycle_after: Duration,
    },
    /// Stop every instance, then start the new version: nothing serves in between.
    Recreate {
        /// `None`: SIGKILL at once; `Some(grace)`: SIGTERM, then SIGKILL after `grace`.
        grace: Option<Duration>,
    },
}

impl Plan {
    pub fn from_scenario(s: &Scenario, time_scale: f64) -> Plan {
        match s.strategy {
            StrategyKind::Swap => {
                let w = s.swap();
                Plan::Swap {
                    warmup_path: w.warmup_path,
                    warmup_timeout: w.warmup_timeout.scaled(time_scale),
                    warmup_retries: w.warmup_retries,
                    recycle_after: w.recycle_after.scaled(time_scale),
                }
            }
            StrategyKind::Recreate => {
                let r = s.recreate();
                Plan::Recreate {
                    grace: match r.stop {
                        StopSignal::Kill => None,
                        StopSignal::Term => Some(r.stop_grace.scaled(time_scale)),
                    },
                }
            }
        }
    }

    /// Moves every production instance from version `from` to `to` (`instances` of them).
    pub async fn perform(
        &self,
        host: &Host,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        host.phase_begun("update", to);
        let result = match self {
            Plan::Swap {
                warmup_path,
                warmup_timeout,
                warmup_retries,
                recycle_after,
            } => {
                swap(
                    host,
                    from,
                    to,
                    instances,
                    warmup_path,
                    *warmup_timeout,
                    *warmup_retries,
                    *recycle_after,
                )
                .await
            }
            Plan::Recreate { grace } => recreate(host, to, instances, *grace).await,
        };
        host.phase_ended("update", to);
        result
    }
}

/// Starts `count` instances of `version` in `slot`, all at once.
pub async fn start_many(
    host: &Host,
    version: &str,
    slot: &str,
    count: u32,
) -> anyhow::Result<Vec<String>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (host, version, slot) = (host.clone(), version.to_owned(), slot.to_owned());
        set.spawn(async move { host.start_instance(&version, &slot).await });
    }
    let mut ids = Vec::new();
    while let Some(joined) = set.join_next().await {
        ids.push(joined??);
    }
    ids.sort();
    Ok(ids)
}

#[allow(clippy::too_many_arguments)]
async fn swap(
    host: &Host,
    from: &str,
    to: &str,
    instances: u32,
    warmup_path: &str,
    warmup_timeout: Duration,
    warmup_retries: u32,
    recycle_after: Duration,
) -> anyhow::Result<()> {
    host.phase_begun("start_staging", to);
    let staged = start_many(host, to, STAGING, instances).await?;
    host.phase_ended("start_staging", to);

    host.phase_begun("warmup", to);
    let client = reqwest::Client::builder().timeout(warmup_timeout).build()?;
    for id in &staged {
        let addr = host
            .instance(id)
            .and_then(|v| v.addr)
            .ok_or_else(|| anyhow::anyhow!("staging instance {id} has no address"))?;
        let url = format!("http://{addr}{warmup_path}");
        let mut answered = false;
        for _ in 0..=warmup_retries {
            // Any response counts, as on the platform: only silence fails a warm-up.
            if client.get(&url).send().await.is_ok() {
                answered = true;
                break;
            }
        }
        if !answered {
            anyhow::bail!("swap aborted: staging instance {id} never answered its warm-up request");
        }
    }
    host.phase_ended("warmup", to);

    host.phase_begun("swap", to);
    host.swap_slots();
    host.refresh_timer_lease(None);
    host.phase_ended("swap", to);

    tokio::time::sleep(recycle_after).await;
    host.phase_begun("recycle", from);
    let old: Vec<String> = host
        .alive_in(STAGING)
        .into_iter()
        .filter(|v| v.version == from)
        .map(|v| v.id)
        .collect();
    for id in &old {
        host.kill(id).await;
    }
    host.phase_ended("recycle", from);
    Ok(())
}

async fn recreate(
    host: &Host,
    to: &str,
    instances: u32,
    grace: Option<Duration>,
) -> anyhow::Result<()> {
    host.phase_begun("stop", to);
    let old: Vec<String> = host
        .alive_in(PRODUCTION)
        .into_iter()
        .map(|v| v.id)
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for id in old {
        let host = host.clone();
        set.spawn(async move {
            match grace {
                None => host.kill(&id).await,
                Some(grace) => host.terminate(&id, grace).await,
            }
        });
    }
    while set.join_next().await.is_some() {}
    host.phase_ended("stop", to);

    host.phase_begun("start", to);
    start_many(host, to, PRODUCTION, instances).await?;
    host.refresh_timer_lease(None);
    host.phase_ended("start", to);
    Ok(())
}
