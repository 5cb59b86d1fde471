//! The test function: a small HTTP server in the style of an Azure Functions custom handler.
//!
//! The host invokes it; it submits items to the sink. Its protocol, which any app that wants
//! to be measured by the harness can speak:
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /tick` `{"m": 7, "scheduled_ns": ..., "catch_up": false}` | run occurrence `m`: `items` iterations, `item_delay` apart, each item submitted to the sink as `VERSION(m,n)`; answers `200 {"sent": k}`, `500 {"error": ..., "sent": k}` when a submit failed for good, `503 {"cancelled": true, "sent": k, "stashed": s}` when cancelled |
//! | `GET /api/ping` | the HTTP trigger: `{"version", "instance", "slot"}` |
//! | `GET /health` | `ok` once it serves |
//!
//! On SIGTERM its cancellation token fires: it stops taking invocations and each running loop
//! does what `--on-cancel` says (`abandon`, `finish-item` or `stash`), then the process exits.
//! With `stash`, the unsent items of the run are written to the stash directory, and the
//! next instance to start replays them (so they arrive late rather than never).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::scenario::OnCancel;

/// Everything the function knows about itself and its work.
#[derive(Clone, Debug)]
pub struct Config {
    pub version: String,
    pub instance: String,
    pub slot: String,
    /// The sink's base URL, e.g. `http://127.0.0.1:4000`.
    pub sink_url: String,
    pub stash_dir: Option<PathBuf>,
    pub items: u32,
    pub item_delay: Duration,
    pub processing: Duration,
    pub submit_timeout: Duration,
    pub retries: u32,
    pub on_cancel: OnCancel,
}

/// The body of `POST /tick`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct TickRequest {
    pub m: u64,
    pub scheduled_ns: i64,
    #[serde(default)]
    pub catch_up: bool,
}

/// The body of a `/tick` answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TickResponse {
    pub sent: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub cancelled: bool,
    #[serde(default)]
    pub stashed: u32,
}

/// A run's unsent items, as written to the stash directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stash {
    pub source: String,
    pub m: u64,
    pub ns: Vec<u64>,
}

struct AppState {
    config: Config,
    client: reqwest::Client,
    /// Fires on SIGTERM: the function's cancellation token.
    cancel: CancellationToken,
    submits: AtomicU64,
}

/// The function's routes; `cancel` is its cancellation token.
pub fn router(config: Config, cancel: CancellationToken) -> Router {
    let client = reqwest::Client::builder()
        .timeout(config.submit_timeout)
        .pool_max_idle_per_host(4)
        .build()
        .expect("a client with a timeout builds");
    let state = Arc::new(AppState {
        config,
        client,
        cancel,
        submits: AtomicU64::new(0),
    });
    Router::new()
        .route("/tick", post(tick))
        .route("/api/ping", get(ping))
        .route("/health", get(|| async { "ok\n" }))
        .with_state(state)
}

/// Serves the function on `listener` until `cancel` fires and every running loop has ended;
/// replays the stash in the background first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let replay = tokio::spawn(replay_stash(config.clone()));
    let app = router(config, cancel.clone());
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    replay.abort();
    result
}

async fn ping(State(state): State<Arc<AppState>>) -> Response {
    let c = &state.config;
    Json(serde_json::json!({"version": c.version, "instance": c.instance, "slot": c.slot}))
        .into_response()
}

fn answer(status: StatusCode, body: TickResponse) -> Response {
    (status, Json(body)).into_response()
}

async fn tick(State(state): State<Arc<AppState>>, Json(req): Json<TickRequest>) -> Response {
    let c = &state.config;
    let cancel = &state.cancel;
    tracing::info!(m = req.m, catch_up = req.catch_up, "run begins");
    let start = Instant::now();
    let mut sent = 0u32;
    for n in 0..c.items {
        let due = start + c.item_delay * n;
        let cancelled_while_waiting = tokio::select! {
            () = tokio::time::sleep_until(due) => false,
            () = cancel.cancelled() => true,
        };
        if cancelled_while_waiting {
            return stop(&state, req.m, n, sent).await;
        }
        if !c.processing.is_zero() {
            let interrupted = tokio::select! {
                () = tokio::time::sleep(c.processing) => false,
                () = cancel.cancelled() => true,
            };
            if interrupted && c.on_cancel != OnCancel::FinishItem {
                return stop(&state, req.m, n, sent).await;
            }
            if interrupted {
                // Finish the item in hand: the rest of its processing, then its submit.
                tokio::time::sleep_until(due + c.processing).await;
            }
        }
        let submit = submit(&state, "tick", req.m, u64::from(n));
        let result = if c.on_cancel == OnCancel::Abandon {
            tokio::select! {
                r = submit => Some(r),
                () = cancel.cancelled() => None,
            }
        } else {
            Some(submit.await)
        };
        match result {
            None => return stop(&state, req.m, n, sent).await,
            Some(Err(error)) => {
                tracing::warn!(m = req.m, n, %error, "submit failed; the run fails");
                return answer(
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
        if cancel.is_cancelled() && n + 1 < c.items {
            return stop(&state, req.m, n + 1, sent).await;
        }
    }
    tracing::info!(m = req.m, sent, "run ends");
    answer(
        StatusCode::OK,
        TickResponse {
            sent,
            ..TickResponse::default()
        },
    )
}

/// The cancellation token fired with items `next..items` of occurrence `m` unsent.
async fn stop(state: &AppState, m: u64, next: u32, sent: u32) -> Response {
    let c = &state.config;
    let mut stashed = 0;
    if c.on_cancel == OnCancel::Stash {
        let ns: Vec<u64> = (u64::from(next)..u64::from(c.items)).collect();
        match write_stash(c, m, &ns) {
            Ok(()) => stashed = ns.len() as u32,
            Err(e) => tracing::error!(m, error = %e, "stashing failed"),
        }
    }
    tracing::info!(
        m,
        sent,
        stashed,
        mode = c.on_cancel.as_str(),
        "run cancelled"
    );
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        TickResponse {
            sent,
            cancelled: true,
            stashed,
            ..TickResponse::default()
        },
    )
}

fn write_stash(c: &Config, m: u64, ns: &[u64]) -> std::io::Result<()> {
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

/// Replays every stash file: each is claimed by renaming it, so two instances starting
/// together never replay the same one; a file whose replay failed is put back.
async fn replay_stash(config: Config) {
    let Some(dir) = config.stash_dir.clone() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let client = reqwest::Client::builder()
        .timeout(config.submit_timeout)
        .build()
        .expect("a client with a timeout builds");
    let state = AppState {
        config: config.clone(),
        client,
        cancel: CancellationToken::new(),
        submits: AtomicU64::new(0),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let claimed = path.with_extension(format!("replaying-{}", config.instance));
        if std::fs::rename(&path, &claimed).is_err() {
            continue; // another instance claimed it first
        }
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
        let mut ok = true;
        for &n in &stash.ns {
            if let Err(error) = submit(&state, &stash.source, stash.m, n).await {
                tracing::warn!(m = stash.m, n, %error, "replaying a stashed item failed");
                ok = false;
                break;
            }
        }
        if ok {
            let _ = std::fs::remove_file(&claimed);
            tracing::info!(m = stash.m, items = stash.ns.len(), "stash replayed");
        } else {
            let _ = std::fs::rename(&claimed, &path);
        }
    }
}

/// Submits one item, retrying up to `retries` times on a timeout, a connection error or a
/// 5xx. A retried submit whose first try did reach the sink is a duplicate, as in real life.
async fn submit(state: &AppState, source: &str, m: u64, n: u64) -> Result<(), String> {
    let c = &state.config;
    let url = format!("{}/items", c.sink_url);
    let mut last_error = String::new();
    for attempt in 1..=c.retries + 1 {
        let item = sink::Item {
            source: source.into(),
            m,
            n,
            version: c.version.as_str().into(),
            instance: Some(c.instance.as_str().into()),
            attempt: Some(attempt),
            sent_ns: Some(sink::clock::now_ns()),
        };
        state.submits.fetch_add(1, Ordering::Relaxed);
        match state.client.post(&url).json(&item).send().await {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                return Err(format!("the sink refused the item: {status} {body}"));
            }
            Ok(resp) => last_error = format!("the sink answered {}", resp.status()),
            Err(e) if e.is_timeout() => last_error = "the submit timed out".into(),
            Err(e) => last_error = format!("the submit failed: {e}"),
        }
    }
    Err(last_error)
}
