//! The test function's work: an occurrence's loop of items, what a cancelled run does with
//! the rest (abandon, finish the item, stash), the stash's replay, and each submit to the
//! sink with its retries.

use std::time::Duration;

use axum::http::StatusCode;
use tokio::time::Instant;

use super::config::{Config, Stash};
use super::lifecycle::RunOutcome;
use super::state::{Active, AppState};
use crate::protocol::{SendReport, TickRequest, TickResponse};
use crate::scenario::OnCancel;
use sink::events::names;

/// Runs timer occurrence `req.m`, however it was triggered (the host, a request through a
/// front door, or the function's own timer), with its lifecycle events.
pub(super) async fn run_tick(state: &AppState, req: TickRequest) -> (StatusCode, TickResponse) {
    let run = state.lifecycle.run_begun("tick", req.m, None, req.catch_up);
    let (status, body) = if state.release.invocation_fails("tick", req.m, 0) {
        bad_release_failure(req.m)
    } else {
        tick_loop(state, req).await
    };
    state.lifecycle.run_ended(run, outcome_of(&body), body.sent);
    (status, body)
}

pub(super) async fn tick_loop(state: &AppState, req: TickRequest) -> (StatusCode, TickResponse) {
    let _active = Active::new(&state.active);
    let c = &state.config;
    let cancel = &state.cancel;
    tracing::info!(m = req.m, catch_up = req.catch_up, "run begins");
    let start = Instant::now();
    let mut sent = 0u32;
    for n in 0..c.work.items {
        if state.draining() {
            // PreparingForStop: hand the rest of the run over through the stash.
            return hand_over(state, req.m, n, sent);
        }
        let due = start + c.work.item_delay * n;
        let cancelled_while_waiting = tokio::select! {
            biased;
            () = tokio::time::sleep_until(due) => false,
            () = cancel.cancelled() => true,
        };
        if cancelled_while_waiting {
            return stop(state, req.m, n, sent).await;
        }
        if !c.work.processing.is_zero() {
            let interrupted = tokio::select! {
                biased;
                () = tokio::time::sleep(c.work.processing) => false,
                () = cancel.cancelled() => true,
            };
            if interrupted && c.work.on_cancel != OnCancel::FinishItem {
                return stop(state, req.m, n, sent).await;
            }
            if interrupted {
                // Finish the item in hand: the rest of its processing, then its submit.
                tokio::time::sleep_until(due + c.work.processing).await;
            }
        }
        let submit = submit(state, "tick", req.m, u64::from(n));
        let result = if c.work.on_cancel == OnCancel::Abandon {
            tokio::select! {
                biased;
                r = submit => Some(r),
                () = cancel.cancelled() => None,
            }
        } else {
            Some(submit.await)
        };
        match result {
            None => return stop(state, req.m, n, sent).await,
            Some(Err(error)) => {
                tracing::warn!(m = req.m, n, %error, "submit failed; the run fails");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TickResponse {
                        sent,
                        error: Some(error),
                        ..TickResponse::default()
                    },
                );
            }
            Some(Ok(())) => sent += 1,
        }
        if cancel.is_cancelled() && n + 1 < c.work.items {
            return stop(state, req.m, n + 1, sent).await;
        }
    }
    tracing::info!(m = req.m, sent, "run ends");
    (
        StatusCode::OK,
        TickResponse {
            sent,
            ..TickResponse::default()
        },
    )
}

/// Stashes items `next..items` of occurrence `m` for the next version and ends the run OK:
/// nothing is lost, the work is handed over.
pub(super) fn hand_over(
    state: &AppState,
    m: u64,
    next: u32,
    sent: u32,
) -> (StatusCode, TickResponse) {
    let c = &state.config;
    let ns: Vec<u64> = (u64::from(next)..u64::from(c.work.items)).collect();
    match write_stash(c, m, &ns) {
        Ok(()) => {
            tracing::info!(
                m,
                sent,
                stashed = ns.len(),
                "run handed over (PreparingForStop)"
            );
            stashed_event(state, m, ns.len());
            (
                StatusCode::OK,
                TickResponse {
                    sent,
                    stashed: ns.len() as u32,
                    ..TickResponse::default()
                },
            )
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            TickResponse {
                sent,
                error: Some(format!("stashing failed: {e}")),
                ..TickResponse::default()
            },
        ),
    }
}

/// The cancellation token fired with items `next..items` of occurrence `m` unsent.
pub(super) async fn stop(
    state: &AppState,
    m: u64,
    next: u32,
    sent: u32,
) -> (StatusCode, TickResponse) {
    let c = &state.config;
    let mut stashed = 0;
    if c.work.on_cancel == OnCancel::Stash {
        let ns: Vec<u64> = (u64::from(next)..u64::from(c.work.items)).collect();
        match write_stash(c, m, &ns) {
            Ok(()) => {
                stashed = ns.len() as u32;
                stashed_event(state, m, ns.len());
            }
            Err(e) => tracing::error!(m, error = %e, "stashing failed"),
        }
    }
    tracing::info!(
        m,
        sent,
        stashed,
        mode = c.work.on_cancel.as_str(),
        "run cancelled"
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        TickResponse {
            sent,
            cancelled: true,
            stashed,
            ..TickResponse::default()
        },
    )
}

pub(super) fn stashed_event(state: &AppState, m: u64, count: usize) {
    if count > 0 {
        state.lifecycle.post(
            names::STASHED,
            serde_json::json!({"source": "tick", "m": m, "count": count}),
        );
    }
}

pub(super) fn write_stash(c: &Config, m: u64, ns: &[u64]) -> std::io::Result<()> {
    let Some(dir) = &c.stash_dir else {
        return Err(std::io::Error::other("no stash directory configured"));
    };
    if ns.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let stash = Stash {
        source: "tick".into(),
        m,
        ns: ns.to_vec(),
    };
    let name = format!("tick-{m}-{}.json", c.instance);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(&stash)?)?;
    // Rename is atomic: a replaying instance never sees half a stash.
    std::fs::rename(&tmp, dir.join(name))
}

/// Replays every stash file: each is claimed by renaming it, so two instances never replay
/// the same one; a file whose replay failed is put back for the next pass.
pub(super) async fn replay_stash(state: &AppState) {
    let config = &state.config;
    let Some(dir) = config.stash_dir.clone() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    // In name order, not the file system's: a replay in virtual time is the same every time.
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let claimed = path.with_extension(format!("replaying-{}", config.instance));
        if std::fs::rename(&path, &claimed).is_err() {
            continue; // another instance claimed it first
        }
        let _active = Active::new(&state.active);
        let stash: Stash = match std::fs::read(&claimed)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(s) => s,
            None => {
                tracing::error!(path = %claimed.display(), "unreadable stash file left in place");
                continue;
            }
        };
        let mut done = 0;
        for &n in &stash.ns {
            if let Err(error) = submit(state, &stash.source, stash.m, n).await {
                tracing::warn!(m = stash.m, n, %error, "replaying a stashed item failed");
                break;
            }
            done += 1;
        }
        if done == stash.ns.len() {
            let _ = std::fs::remove_file(&claimed);
            tracing::info!(m = stash.m, items = done, "stash replayed");
        } else {
            // Put back only what was not replayed, so nothing is sent twice.
            let rest = Stash {
                ns: stash.ns[done..].to_vec(),
                ..stash
            };
            if std::fs::write(&claimed, serde_json::to_vec(&rest).unwrap_or_default()).is_ok() {
                let _ = std::fs::rename(&claimed, &path);
            }
        }
    }
}

/// Submits one item, retrying up to `retries` times on a timeout, a connection error or a
/// 5xx. A retried submit whose first try did reach the sink is a duplicate, as in real life.
pub(super) async fn submit(state: &AppState, source: &str, m: u64, n: u64) -> Result<(), String> {
    let c = &state.config;
    let report = |acked| {
        if c.report_sends {
            let line = SendReport {
                acked,
                source: source.to_owned(),
                m,
                n,
            };
            c.out.line(&line.to_string());
        }
    };
    report(false);
    state.lifecycle.sending(source, m, n);
    let result = submit_tries(state, source, m, n, &report).await;
    // Only an acknowledged item is settled: one that failed or was abandoned (the
    // cancellation dropped this future) may or may not have reached the sink, as the
    // host's send reports say too.
    if result.is_ok() {
        state.lifecycle.settled(source, m, n);
    }
    result
}

pub(super) async fn submit_tries(
    state: &AppState,
    source: &str,
    m: u64,
    n: u64,
    report: &impl Fn(bool),
) -> Result<(), String> {
    let c = &state.config;
    let url = format!("{}/items", c.sink_url);
    let mut last_error = String::new();
    // A try that could not even connect never reached the sink: trying again cannot
    // duplicate, so it does not use up a retry (up to a bound).
    let mut connect_failures = 0;
    let mut attempt = 0;
    while attempt < c.work.retries + 1 {
        attempt += 1;
        let item = sink::Item {
            source: source.into(),
            m,
            n,
            version: c.version.as_str().into(),
            instance: Some(c.instance.as_str().into()),
            attempt: Some(attempt),
            sent_ns: Some(c.place.clock.now_ns() as u64),
        };
        match state.client.post(&url).json(&item).send().await {
            Ok(resp) if resp.status().is_success() => {
                report(true);
                return Ok(());
            }
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status();
                let body = resp.text();
                return Err(format!("the sink refused the item: {status} {body}"));
            }
            Ok(resp) => last_error = format!("the sink answered {}", resp.status()),
            Err(e) if e.is_timeout() => last_error = "the submit timed out".into(),
            Err(e) if e.is_connect() && connect_failures < 3 => {
                connect_failures += 1;
                attempt -= 1;
                last_error = format!("the submit could not connect: {e}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => last_error = format!("the submit failed: {e}"),
        }
    }
    Err(last_error)
}

/// A bad release's failed run: it fails at once, sending nothing.
pub(super) fn bad_release_failure(m: u64) -> (StatusCode, TickResponse) {
    tracing::warn!(m, "the run fails (a bad release)");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        TickResponse {
            error: Some("bad_release".into()),
            ..TickResponse::default()
        },
    )
}

/// How a run's answer reads as a lifecycle outcome.
pub(super) fn outcome_of(body: &TickResponse) -> RunOutcome {
    if body.cancelled {
        RunOutcome::Cancelled
    } else if body.error.is_some() {
        RunOutcome::Failed
    } else {
        RunOutcome::Ok
    }
}
