//! The update strategies: how the host moves the app from one version to the next.
//!
//! One [`Plan`] type carries the variation (no copy of the runner per strategy). Every phase
//! is recorded in the ledger (`phase_begun` / `phase_ended`), the whole update as `update`,
//! so the ledger says exactly when the update completed.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reports::ledger::event;

use crate::platform::local::host::{Host, Phase};
use crate::protocol::Mode;
use crate::rng::Rng;
use crate::scenario::{OnUnready, Scenario, StopSignal, StrategyKind};
use crate::slot::{PRODUCTION, STAGING};

/// How long the local platform waits before starting again a version that failed to start
/// (invented: 1 s, scaled; Kubernetes backs off from 10 s).
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

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
        /// The wait before the platform tries again to start a version that failed to.
        restart_backoff: Duration,
    },
    /// Drain the old instances batch by batch while replacements start asynchronously.
    Rolling {
        batch_size: u32,
        drain_interval: Duration,
        scale_in_grace: Duration,
        /// How long a drained instance's HTTP requests may run.
        http_grace: Duration,
        start_delay: Duration,
        /// The timing gap between the update's acceptance and the first drain.
        start_gap: Duration,
        /// A scale controller runs: every drained instance gets a replacement and the
        /// controller sizes the rest, rather than the update restoring `instances`.
        scaled: bool,
        /// Whether a replacement that never becomes ready halts the update.
        on_unready: OnUnready,
        /// A second update to this version, this long after the first began.
        then: Option<(String, Duration)>,
    },
    /// SIGTERM (the cancellation token), SIGKILL after a jittered grace, then the new version.
    Graceful {
        grace: Duration,
        jitter: f64,
        seed: u64,
        restart_backoff: Duration,
    },
    /// Ask each instance to prepare for stop, wait until all are safe to stop, replace them.
    Drain {
        poll_interval: Duration,
        timeout: Duration,
    },
}

impl Plan {
    /// The local platform's plan of the scenario's strategy; `None` on a command platform,
    /// whose update command is the plan.
    pub fn from_scenario(s: &Scenario, time_scale: f64, seed: u64) -> Option<Plan> {
        Some(match s.strategy.kind()? {
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
                    restart_backoff: RESTART_BACKOFF.mul_f64(time_scale),
                }
            }
            StrategyKind::Rolling => {
                let r = s.rolling();
                let n = s.app.instances;
                let batch_size = match (r.batch_size, r.batches) {
                    (Some(size), _) => size,
                    (None, Some(batches)) => n.div_ceil(batches),
                    (None, None) => 1,
                };
                Plan::Rolling {
                    batch_size: batch_size.max(1),
                    drain_interval: r.drain_interval.scaled(time_scale),
                    scale_in_grace: r.scale_in_grace.scaled(time_scale),
                    http_grace: r.http_grace.scaled(time_scale),
                    start_delay: r.start_delay.scaled(time_scale),
                    start_gap: r.start_gap.scaled(time_scale),
                    scaled: s.scale.is_some(),
                    on_unready: r.on_unready,
                    then: r.then_update_to.zip(r.then_update_at).map(|(v, at)| {
                        (
                            v,
                            at.0.saturating_sub(s.run.update_at.0).mul_f64(time_scale),
                        )
                    }),
                }
            }
            StrategyKind::Graceful => {
                let g = s.graceful();
                Plan::Graceful {
                    grace: g.stopping_wait_time.scaled(time_scale),
                    jitter: g.grace_jitter,
                    seed,
                    restart_backoff: RESTART_BACKOFF.mul_f64(time_scale),
                }
            }
            StrategyKind::Drain => {
                let d = s.drain();
                Plan::Drain {
                    poll_interval: d.poll_interval.scaled(time_scale),
                    timeout: d.timeout.scaled(time_scale),
                }
            }
        })
    }

    /// A swap plan's swap from `from` to `to`, for its update and for its rollback.
    async fn swap_to(
        &self,
        host: &Host,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        let Plan::Swap {
            warmup_path,
            warmup_timeout,
            warmup_retries,
            recycle_after,
        } = self
        else {
            anyhow::bail!("not a swap plan");
        };
        let warmup = Warmup {
            path: warmup_path,
            timeout: *warmup_timeout,
            retries: *warmup_retries,
        };
        swap(host, from, to, instances, &warmup, *recycle_after).await
    }

    /// A rolling plan's batches, for its update and for its rollback.
    fn rolling_plan(&self) -> Option<RollingPlan> {
        match self {
            Plan::Rolling {
                batch_size,
                drain_interval,
                scale_in_grace,
                http_grace,
                start_delay,
                scaled,
                on_unready,
                ..
            } => Some(RollingPlan {
                batch_size: *batch_size,
                drain_interval: *drain_interval,
                scale_in_grace: *scale_in_grace,
                http_grace: *http_grace,
                start_delay: *start_delay,
                scaled: *scaled,
                on_unready: *on_unready,
            }),
            _ => None,
        }
    }

    /// Moves the production instances from version `from` to `to` (`instances` of them).
    pub async fn perform(
        &self,
        host: &Host,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        // The update is accepted (the site update "returns success": the Flex plan's
        // `deploymentStart`); a rolling update may begin only after its timing gap, and until
        // then the platform goes on deploying `from`.
        // The runner writes the `update` phase around this.
        host.ledger()
            .record(host.ledger().event(event::UPDATE_ACCEPTED, "", to, ""));
        if let Plan::Rolling { start_gap, .. } = self {
            if !start_gap.is_zero() {
                host.phase_begun("start_gap", to);
                tokio::time::sleep(*start_gap).await;
                host.phase_ended("start_gap", to);
            }
        }
        host.set_target_version(to);
        let result = match self {
            Plan::Swap { .. } => self.swap_to(host, from, to, instances).await,
            Plan::Recreate {
                grace,
                restart_backoff,
            } => replace(host, to, instances, *restart_backoff, |_| *grace).await,
            Plan::Graceful {
                grace,
                jitter,
                seed,
                restart_backoff,
            } => {
                let mut next = jittered_graces(*grace, *jitter, *seed);
                replace(host, to, instances, *restart_backoff, move |_| Some(next())).await
            }
            Plan::Drain {
                poll_interval,
                timeout,
            } => drain(host, to, instances, *poll_interval, *timeout).await,
            Plan::Rolling {
                then, start_gap, ..
            } => {
                let rolling = self.rolling_plan().expect("a rolling plan");
                let first = rolling.roll(host, to, instances);
                match then {
                    None => first.await,
                    Some((next, after)) => {
                        let second = async {
                            // `after` counts from the update's acceptance; the gap has passed.
                            tokio::time::sleep(after.saturating_sub(*start_gap)).await;
                            host.set_target_version(next);
                            host.phase_begun("update", next);
                            // An update started while another rolls drains every
                            // non-latest instance at once.
                            let all_at_once = RollingPlan {
                                batch_size: u32::MAX,
                                ..rolling
                            };
                            let r = all_at_once.roll(host, next, instances).await;
                            host.phase_ended("update", next);
                            r
                        };
                        let (a, b) = tokio::join!(first, second);
                        a.and(b)
                    }
                }
            }
        };
        result
    }
}

impl Plan {
    /// Moves the production instances back from `from` (a bad release) to `to`, the
    /// strategy's own way back, as the `rollback` phase: a swap swaps back while the old
    /// version still sits in staging (before its recycling), and starts it there again
    /// otherwise; a rolling update rolls to `to` in its own batches, superseding the update
    /// still rolling; recreate, graceful and drain replace every instance. Nothing to do when
    /// only `to` serves already (an update that was cancelled or never started `from`).
    pub async fn rollback(
        &self,
        host: &Host,
        from: &str,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        host.phase_begun("rollback", to);
        // The update in progress stands down: its loops and batches check the target.
        host.set_target_version(to);
        if matches!(self, Plan::Swap { .. }) {
            // A swap is not interrupted halfway: the rollback waits for it to end.
            host.wait_for_ledger(|e| {
                (e.event == event::PHASE_ENDED
                    && matches!(e.get("phase"), Some("swap") | Some("update")))
                    || e.event == event::UPDATE_ABORTED
            })
            .await;
        }
        let serving: Vec<_> = host.alive_in(PRODUCTION);
        let untouched = !serving.is_empty()
            && serving
                .iter()
                .all(|v| v.version == to && v.phase != Phase::Draining);
        let result = if untouched {
            Ok(())
        } else {
            match self {
                Plan::Swap { recycle_after, .. } => {
                    let previous_ready = host.ready_in(STAGING).iter().any(|v| v.version == to);
                    if previous_ready {
                        host.phase_begun("swap", to);
                        host.swap_slots();
                        host.phase_ended("swap", to);
                        // The bad version, now in staging, is recycled as a swap recycles:
                        // later, so the requests it was answering finish.
                        let (host, from, recycle_after) =
                            (host.clone(), from.to_owned(), *recycle_after);
                        host.tasks().clone().spawn(async move {
                            tokio::time::sleep(recycle_after).await;
                            host.phase_begun("recycle", &from);
                            let bad: Vec<String> = host
                                .alive_in(STAGING)
                                .into_iter()
                                .filter(|v| v.version == from)
                                .map(|v| v.id)
                                .collect();
                            for id in &bad {
                                host.kill(id).await;
                            }
                            host.phase_ended("recycle", &from);
                        });
                        Ok(())
                    } else {
                        self.swap_to(host, from, to, instances).await
                    }
                }
                Plan::Rolling { .. } => {
                    let rolling = self.rolling_plan().expect("a rolling plan");
                    rolling.roll(host, to, instances).await
                }
                Plan::Recreate {
                    grace,
                    restart_backoff,
                } => replace(host, to, instances, *restart_backoff, |_| *grace).await,
                Plan::Graceful {
                    grace,
                    restart_backoff,
                    ..
                } => replace(host, to, instances, *restart_backoff, |_| Some(*grace)).await,
                // A bad release may not speak the drain protocol well: it is replaced.
                Plan::Drain { .. } => replace(host, to, instances, RESTART_BACKOFF, |_| None).await,
            }
        };
        host.phase_ended("rollback", to);
        result
    }
}

/// Starts `count` instances of `version` in `slot`, all at once; the first failure is the
/// error (the others' instances, started or not, are the platform's to tear down).
pub async fn start_many(
    host: &Host,
    version: &str,
    slot: &str,
    count: u32,
) -> anyhow::Result<Vec<String>> {
    let (ids, failed) = start_all(host, version, slot, count).await;
    match failed.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(ids),
    }
}

struct Warmup<'a> {
    path: &'a str,
    timeout: Duration,
    retries: u32,
}

async fn swap(
    host: &Host,
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

/// The graces a graceful stop gives its instances, one per call in stop order: drawn from
/// the run's seed between `(1 - jitter)` and 1 times `grace`, so a run replays exactly.
pub fn jittered_graces(grace: Duration, jitter: f64, seed: u64) -> impl FnMut() -> Duration {
    let mut rng = Rng::new(seed);
    move || grace.mul_f64(1.0 - jitter * rng.unit())
}

/// Stops every production instance (each with the grace `grace_of` gives it: `None` kills
/// at once), then starts `instances` of `to`. Recreate and graceful are this with different
/// graces.
async fn replace(
    host: &Host,
    to: &str,
    instances: u32,
    restart_backoff: Duration,
    mut grace_of: impl FnMut(&str) -> Option<Duration>,
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
        let grace = grace_of(&id);
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
    // A version that fails to start is started again, as a platform restarts a crashing
    // app, until it starts, a rollback replaces it, or the run's schedule ends: the app is
    // down all that time.
    let mut started = 0;
    loop {
        let (ids, failed) = start_all(host, to, PRODUCTION, instances - started).await;
        if host.target_version().as_deref() != Some(to) {
            // A rollback took over while these started: they stand down.
            for id in &ids {
                host.kill(id).await;
            }
            break;
        }
        started += ids.len() as u32;
        if failed.is_empty() {
            break;
        }
        start_failed(host, to, failed.len());
        if host.target_version().as_deref() != Some(to) || host.past_deadline() {
            aborted(host, to, "start_failed");
            break;
        }
        tokio::time::sleep(restart_backoff).await;
    }
    host.phase_ended("start", to);
    Ok(())
}

/// Starts `count` instances of `version` in `slot` at once and waits for every one: those
/// that became ready, and why the others did not.
pub async fn start_all(
    host: &Host,
    version: &str,
    slot: &str,
    count: u32,
) -> (Vec<String>, Vec<anyhow::Error>) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (host, version, slot) = (host.clone(), version.to_owned(), slot.to_owned());
        set.spawn(async move { host.start_instance(&version, &slot).await });
    }
    let (mut ids, mut failed) = (Vec::new(), Vec::new());
    while let Some(joined) = set.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(id) => ids.push(id),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "an instance did not start");
                failed.push(e);
            }
        }
    }
    ids.sort();
    (ids, failed)
}

/// Records that `count` instances of `version` failed to start (they exited, or never
/// became ready within `run.ready_timeout`).
fn start_failed(host: &Host, version: &str, count: usize) {
    host.ledger().record(
        host.ledger()
            .event(event::START_FAILED, "", version, PRODUCTION)
            .with("count", count),
    );
}

/// Records that the update to `version` gave up, and why.
fn aborted(host: &Host, version: &str, reason: &str) {
    host.ledger().record(
        host.ledger()
            .event(event::UPDATE_ABORTED, "", version, "")
            .with("reason", reason),
    );
}

async fn drain(
    host: &Host,
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
    let deadline = tokio::time::Instant::now() + timeout;
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
        if tokio::time::Instant::now() >= deadline {
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

#[derive(Clone, Copy, Debug)]
struct RollingPlan {
    batch_size: u32,
    drain_interval: Duration,
    scale_in_grace: Duration,
    http_grace: Duration,
    start_delay: Duration,
    scaled: bool,
    on_unready: OnUnready,
}

impl RollingPlan {
    /// Drains the instances not of `to` batch by batch, `drain_interval` apart; each drained
    /// instance is killed once idle (its runs may take `scale_in_grace`, its HTTP requests
    /// `http_grace`); each batch's replacements
    /// start after `start_delay`, without waiting for the drain, and join routing when ready.
    async fn roll(self, host: &Host, to: &str, instances: u32) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_jitter_is_reproducible_from_the_seed() {
        let draw = |seed| {
            let mut next = jittered_graces(Duration::from_secs(5), 0.8, seed);
            (0..8).map(|_| next()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7), "the same seed draws the same graces");
        assert_ne!(draw(7), draw(8), "another seed draws others");
        for g in draw(7).into_iter().chain(draw(8)) {
            assert!(
                (Duration::from_secs(1)..=Duration::from_secs(5)).contains(&g),
                "within [0.2, 1] x 5 s: {g:?}"
            );
        }
        let mut none = jittered_graces(Duration::from_secs(5), 0.0, 3);
        assert_eq!(none(), Duration::from_secs(5), "no jitter, the whole grace");
    }
}
