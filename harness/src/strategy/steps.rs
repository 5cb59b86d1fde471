//! The steps strategies are made of: starting instances all at once, stopping and
//! replacing every one, and writing what failed in the ledger.

use std::time::Duration;

use reports::ledger::Kind;

use super::instances::Instances;
use crate::slot::PRODUCTION;

/// How long a platform waits before starting again a version that failed to start
/// (invented: 1 s, scaled; Kubernetes backs off from 10 s).
pub const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Starts `count` instances of `version` in `slot`, all at once; the first failure is the
/// error (the others' instances, started or not, are the platform's to tear down).
pub async fn start_many<I: Instances>(
    host: &I,
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

/// Stops every production instance (each with the grace `grace_of` gives it: `None` kills
/// at once), then starts `instances` of `to`. Recreate and graceful are this with different
/// graces.
pub async fn replace<I: Instances>(
    host: &I,
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
pub async fn start_all<I: Instances>(
    host: &I,
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
pub fn start_failed<I: Instances>(host: &I, version: &str, count: usize) {
    host.ledger().record(
        host.ledger()
            .event(Kind::StartFailed, "", version, PRODUCTION)
            .with("count", count),
    );
}

/// Records that the update to `version` gave up, and why.
pub fn aborted<I: Instances>(host: &I, version: &str, reason: &str) {
    host.ledger().record(
        host.ledger()
            .event(Kind::UpdateAborted, "", version, "")
            .with("reason", reason),
    );
}
