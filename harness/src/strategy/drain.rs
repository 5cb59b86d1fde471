//! The app-mode drain: ask each instance to prepare for stop, wait until all are safe to
//! stop, start the new version (which replays what the old ones stashed), then stop the
//! old ones once idle. A bad release may not speak the drain protocol well: its way back
//! replaces every instance at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

use super::instances::Instances;
use super::steps::{aborted, replace, start_all, RESTART_BACKOFF};
use crate::protocol::Mode;
use crate::slot::PRODUCTION;

/// App-mode drain parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Drain {
    /// How often each instance's mode is polled (invented default: 100 ms).
    pub poll_interval: Span,
    /// How long instances may take to reach SafeToStop before the run fails, and how long
    /// a drained instance's requests in flight may take before it is stopped (invented
    /// default: 60 s).
    pub timeout: Span,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            poll_interval: Span::from_millis(100),
            timeout: Span::from_secs(60),
        }
    }
}

impl Drain {
    /// The plan, every duration scaled by `scaled`.
    pub fn plan(&self, scaled: &dyn Fn(Span) -> Duration) -> DrainPlan {
        DrainPlan {
            poll_interval: scaled(self.poll_interval),
            timeout: scaled(self.timeout),
            // Not scaled, as it never was: a rollback's restarts wait the real second.
            restart_backoff: RESTART_BACKOFF,
        }
    }
}

/// A drain, its durations scaled to the run's time.
#[derive(Clone, Debug)]
pub struct DrainPlan {
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub restart_backoff: Duration,
}

impl DrainPlan {
    pub async fn perform<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        drain(host, to, instances, self.poll_interval, self.timeout).await
    }

    /// Back to `to` by killing and replacing every instance.
    pub async fn roll_back<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        replace(host, to, instances, self.restart_backoff, |_| None).await
    }
}

async fn drain<I: Instances>(
    host: &I,
    to: &str,
    instances: u32,
    poll_interval: Duration,
    timeout: Duration,
) -> anyhow::Result<()> {
    let old: Vec<_> = host.alive_in(PRODUCTION);
    host.phase_begun("prepare_for_stop", to);
    for v in &old {
        host.set_mode(&v.id, Mode::PreparingForStop).await?;
    }
    let deadline = host.ledger().clock().now() + timeout;
    let mut waiting: Vec<_> = old.clone();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for v in waiting {
            if host.mode(&v.id).await != Some(Mode::SafeToStop) {
                still.push(v);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if host.ledger().clock().now() >= deadline {
            let ids: Vec<&str> = waiting.iter().map(|v| v.id.as_str()).collect();
            anyhow::bail!(
                "drain aborted: {} did not reach SafeToStop within {timeout:?}",
                ids.join(", ")
            );
        }
        tokio::time::sleep(poll_interval).await;
    }
    host.phase_ended("prepare_for_stop", to);

    // The new version starts before the old stops, so the timer never lacks an instance;
    // it replays what the old instances stashed.
    host.phase_begun("start", to);
    let (started, failed) = start_all(host, to, PRODUCTION, instances).await;
    if !failed.is_empty() {
        // The new version never started: the old instances go back to Normal and keep
        // serving, as the drain protocol lets an app that was asked to prepare resume.
        for id in &started {
            host.kill(id).await;
        }
        for v in &old {
            host.set_mode(&v.id, Mode::Normal).await?;
        }
        host.phase_ended("start", to);
        aborted(host, to, "start_failed");
        return Ok(());
    }
    for v in &old {
        host.drain(&v.id);
    }
    host.phase_ended("start", to);
    host.phase_begun("stop", to);
    // Out of routing, each old instance finishes the requests already sent to it (a load
    // balancer's connection draining) and whatever the timer handed it just before its
    // lease moved (stashed at once in PreparingForStop), within `timeout`; only then is it
    // stopped, so a clean handover shows no failed request.
    let mut stops = tokio::task::JoinSet::new();
    for v in old {
        let host = host.clone();
        stops.spawn(async move {
            host.wait_idle(&v.id, timeout, timeout).await;
            host.kill(&v.id).await;
        });
    }
    while stops.join_next().await.is_some() {}
    host.phase_ended("stop", to);
    Ok(())
}
