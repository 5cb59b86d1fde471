//! The rolling update (the Flex Consumption model): drain the old instances batch by batch
//! while replacements start asynchronously and join routing when ready; under a scale
//! controller, one replacement per drained instance. Its way back rolls to the old version
//! in the same batches, superseding the update still rolling.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

use super::instances::{Instances, Phase};
use super::steps::{aborted, start_failed};
use crate::slot::PRODUCTION;

/// Rolling update parameters (the Flex Consumption model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rolling {
    /// Instances drained per batch (default: one batch per instance). Give this or `batches`.
    pub batch_size: Option<u32>,
    /// Number of batches the instances are split into.
    pub batches: Option<u32>,
    /// Time between the drains of consecutive batches (invented default: 10 s).
    pub drain_interval: Span,
    /// How long a drained instance's in-flight work may run before it is killed
    /// (platform: 60 min).
    pub scale_in_grace: Span,
    /// How long a drained instance's HTTP requests may run (platform: 230 s).
    pub http_grace: Span,
    /// Delay before each replacement instance is started (invented default: 0 s).
    pub start_delay: Span,
    /// What the update does when a replacement never becomes ready: `halt` (the default)
    /// or `continue` (see [`OnUnready`]).
    pub on_unready: OnUnready,
    /// The timing gap: the update is accepted (`update_accepted`, the site update returning
    /// success) and the rolling begins only this long after; meanwhile the platform keeps
    /// deploying, and a scale controller keeps scaling, the original version (platform: an
    /// unstated delay; default 0 s).
    pub start_gap: Span,
    /// A second update, started while the first still rolls: every instance not of this
    /// version is drained.
    pub then_update_to: Option<String>,
    pub then_update_at: Option<Span>,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            batch_size: None,
            batches: None,
            drain_interval: Span::from_secs(10),
            scale_in_grace: Span::from_secs(3600),
            http_grace: Span::from_secs(230),
            start_delay: Span::default(),
            start_gap: Span::default(),
            on_unready: OnUnready::Halt,
            then_update_to: None,
            then_update_at: None,
        }
    }
}

/// What a rolling update does when a replacement never becomes ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnready {
    /// Drain the next batch only once the last batch's replacements are ready, and stop at
    /// the first that never is: the instances not yet drained keep serving the old version
    /// (as a Kubernetes Deployment's rollout waits for its new pods and stalls; the default).
    #[default]
    Halt,
    /// Drain every batch on its schedule whatever the replacements do (as the Flex plan's
    /// batches are described): the update can end with no ready instance.
    Continue,
}

/// What the plan needs of the rest of the scenario.
#[derive(Clone, Copy, Debug)]
pub struct RollingContext {
    /// `app.instances`, split into batches.
    pub instances: u32,
    /// A scale controller runs (`[scale]`).
    pub scaled: bool,
    /// `run.update_at`, from which `then_update_at` is counted.
    pub update_at: Span,
}

impl Rolling {
    /// The section's own checks, against the app's versions and the run: the key and why.
    pub fn check(
        &self,
        from: &str,
        to: &str,
        update_at: Span,
        duration: Span,
    ) -> Result<(), (&'static str, String)> {
        if self.batch_size.is_some() && self.batches.is_some() {
            return Err((
                "rolling.batches",
                "give batch_size or batches, not both".into(),
            ));
        }
        if self.batch_size == Some(0) || self.batches == Some(0) {
            return Err(("rolling.batch_size", "must be at least 1".into()));
        }
        match (&self.then_update_to, self.then_update_at) {
            (Some(v), Some(at)) => {
                if let Some(why) = sink::item::version_error(v) {
                    return Err(("rolling.then_update_to", format!("{why} (got {v:?})")));
                }
                if v == to || v == from {
                    return Err((
                        "rolling.then_update_to",
                        "must differ from app.from and app.to".into(),
                    ));
                }
                if at <= update_at || at >= duration {
                    return Err((
                        "rolling.then_update_at",
                        "must be after run.update_at and before run.duration".into(),
                    ));
                }
            }
            (None, None) => {}
            _ => {
                return Err((
                    "rolling.then_update_to",
                    "then_update_to and then_update_at go together".into(),
                ))
            }
        }
        Ok(())
    }

    /// The plan, every duration scaled by `scaled`.
    pub fn plan(&self, scaled: &dyn Fn(Span) -> Duration, c: RollingContext) -> RollingPlan {
        let batch_size = match (self.batch_size, self.batches) {
            (Some(size), _) => size,
            (None, Some(batches)) => c.instances.div_ceil(batches),
            (None, None) => 1,
        };
        RollingPlan {
            batches: Batches {
                batch_size: batch_size.max(1),
                drain_interval: scaled(self.drain_interval),
                scale_in_grace: scaled(self.scale_in_grace),
                http_grace: scaled(self.http_grace),
                start_delay: scaled(self.start_delay),
                scaled: c.scaled,
                on_unready: self.on_unready,
            },
            start_gap: scaled(self.start_gap),
            then: self
                .then_update_to
                .clone()
                .zip(self.then_update_at)
                .map(|(v, at)| (v, scaled(Span(at.0.saturating_sub(c.update_at.0))))),
        }
    }
}

/// A rolling update, its durations scaled to the run's time.
#[derive(Clone, Debug)]
pub struct RollingPlan {
    pub batches: Batches,
    /// The timing gap between the update's acceptance and the first drain.
    pub start_gap: Duration,
    /// A second update to this version, this long after the first began.
    pub then: Option<(String, Duration)>,
}

impl RollingPlan {
    /// Waits out the timing gap (the platform goes on deploying `from` meanwhile), then
    /// rolls to `to`, and to the second version when the plan has one.
    pub async fn perform<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        if !self.start_gap.is_zero() {
            host.phase_begun("start_gap", to);
            tokio::time::sleep(self.start_gap).await;
            host.phase_ended("start_gap", to);
        }
        host.set_target_version(to);
        let first = self.batches.roll(host, to, instances);
        let Some((next, after)) = &self.then else {
            return first.await;
        };
        let second = async {
            // `after` counts from the update's acceptance; the gap has passed.
            tokio::time::sleep(after.saturating_sub(self.start_gap)).await;
            host.set_target_version(next);
            host.phase_begun("update", next);
            // An update started while another rolls drains every non-latest instance at
            // once.
            let all_at_once = Batches {
                batch_size: u32::MAX,
                ..self.batches
            };
            let r = all_at_once.roll(host, next, instances).await;
            host.phase_ended("update", next);
            r
        };
        let (a, b) = tokio::join!(first, second);
        a.and(b)
    }

    /// Back to `to` in the update's own batches.
    pub async fn roll_back<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        self.batches.roll(host, to, instances).await
    }
}

/// The batches of a rolling update.
#[derive(Clone, Copy, Debug)]
pub struct Batches {
    pub batch_size: u32,
    pub drain_interval: Duration,
    pub scale_in_grace: Duration,
    /// How long a drained instance's HTTP requests may run.
    pub http_grace: Duration,
    pub start_delay: Duration,
    /// A scale controller runs: every drained instance gets a replacement and the
    /// controller sizes the rest, rather than the update restoring `instances`.
    pub scaled: bool,
    /// Whether a replacement that never becomes ready halts the update.
    pub on_unready: OnUnready,
}

impl Batches {
    /// Drains the instances not of `to` batch by batch, `drain_interval` apart; each drained
    /// instance is killed once idle (its runs may take `scale_in_grace`, its HTTP requests
    /// `http_grace`); each batch's replacements
    /// start after `start_delay`, without waiting for the drain, and join routing when ready.
    async fn roll<I: Instances>(self, host: &I, to: &str, instances: u32) -> anyhow::Result<()> {
        let old: Vec<String> = host
            .alive_in(PRODUCTION)
            .into_iter()
            .filter(|v| v.version != to && v.phase != Phase::Draining)
            .map(|v| v.id)
            .collect();
        // Under a scale controller the count is the controller's: one replacement per
        // drained instance, and it starts or drains the difference.
        let mut to_start = if self.scaled {
            old.len() as u32
        } else {
            instances
        };
        let mut work = tokio::task::JoinSet::new();
        let batches: Vec<Vec<String>> = old
            .chunks(self.batch_size.min(old.len().max(1) as u32) as usize)
            .map(<[String]>::to_vec)
            .collect();
        let batch_count = batches.len();
        // Set when a replacement never became ready and the update halts on that.
        let halted = Arc::new(AtomicBool::new(false));
        // Replacements not yet ready or failed: halting waits for them before each batch.
        let starting = Arc::new(AtomicU32::new(0));
        let halt = self.on_unready == OnUnready::Halt;
        for (i, batch) in batches.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(self.drain_interval).await;
                // As a Kubernetes rollout waits for its new pods: the next batch is drained
                // only once the last batch's replacements are ready, or known never to be.
                while halt && starting.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            if host.target_version().as_deref() != Some(to) {
                break; // a newer update took over: it drains what is left
            }
            if halted.load(Ordering::SeqCst) {
                // The instances not yet drained keep serving the old version.
                aborted(host, to, "halted_unready");
                break;
            }
            let phase = format!("drain_batch_{}", i + 1);
            host.phase_begun(&phase, to);
            for id in &batch {
                host.drain(id);
            }
            host.phase_ended(&phase, to);
            // Replacements for this batch (the last batch starts whatever is left).
            let starts = if i + 1 == batch_count {
                to_start
            } else {
                (batch.len() as u32).min(to_start)
            };
            to_start -= starts;
            for _ in 0..starts {
                let (host, to, delay) = (host.clone(), to.to_owned(), self.start_delay);
                // Promised now, so a scale controller counts the replacement while it waits.
                let promise = host.promise_start();
                let (halted, starting) = (halted.clone(), starting.clone());
                starting.fetch_add(1, Ordering::SeqCst);
                work.spawn(async move {
                    // However this task ends, the replacement is no longer starting.
                    struct Started(Arc<AtomicU32>);
                    impl Drop for Started {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _started = Started(starting);
                    tokio::time::sleep(delay).await;
                    if host.target_version().as_deref() != Some(to.as_str()) {
                        return Ok(());
                    }
                    let id = match host.start_promised(&to, PRODUCTION, Some(promise)).await {
                        Ok(id) => id,
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "a replacement did not start");
                            start_failed(&host, &to, 1);
                            if halt {
                                halted.store(true, Ordering::SeqCst);
                            }
                            return Ok(());
                        }
                    };
                    if host.target_version().as_deref() != Some(to.as_str()) {
                        // Superseded while starting: it stands down at once.
                        host.drain(&id);
                        host.kill(&id).await;
                    }
                    Ok::<(), anyhow::Error>(())
                });
            }
            for id in batch {
                let (host, grace, http) = (host.clone(), self.scale_in_grace, self.http_grace);
                work.spawn(async move {
                    host.wait_idle(&id, grace, http).await;
                    host.kill(&id).await;
                    Ok(())
                });
            }
        }
        // Starts no batch asked for (fewer old instances than new): bring the new version
        // up, unless a newer update superseded this one or the update halted.
        if host.target_version().as_deref() == Some(to) && !halted.load(Ordering::SeqCst) {
            for _ in 0..to_start {
                let (host, to) = (host.clone(), to.to_owned());
                work.spawn(async move {
                    if host.start_instance(&to, PRODUCTION).await.is_err() {
                        start_failed(&host, &to, 1);
                    }
                    Ok(())
                });
            }
        }
        let mut result = Ok(());
        while let Some(joined) = work.join_next().await {
            if let Err(e) = joined.map_err(anyhow::Error::from).and_then(|r| r) {
                result = Err(e);
            }
        }
        result
    }
}
