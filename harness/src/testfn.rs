//! The test function: a small HTTP server in the style of an Azure Functions custom handler.
//!
//! The host invokes it; it submits items to the sink. Its protocol, which any app that wants
//! to be measured by the harness can speak:
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /tick` `{"m": 7, "scheduled_ns": ..., "catch_up": false}` | run occurrence `m`: `items` iterations, `item_delay` apart, each item submitted to the sink as `VERSION(m,n)`; answers `200 {"sent": k}`, `500 {"error": ..., "sent": k}` when a submit failed for good, `503 {"cancelled": true, "sent": k, "stashed": s}` when cancelled; every answer names the `instance` and `version` |
//! | `POST /api/tick` | the same, as an HTTP-triggered function behind a real front door |
//! | `POST /poll` `{"m": 7, "scheduled_ns": ...}` | the queue workload's timer: answers `{"messages": [{"m", "n"}...]}`, `events` of them, which the host enqueues (an output binding) |
//! | `POST /proc` `{"m": 7, "n": 2, "dequeue": 1}` | the queue trigger: processes one message, submits item `proc(m,n)`; `200`, or `500` when the handler fails |
//! | `GET /api/ping` | the HTTP trigger: `{"version", "instance", "slot"}` |
//! | `GET /health` | `ok` once it serves |
//! | `GET /admin/mode`, `POST /admin/mode {"mode": "PreparingForStop"}` | the app's drain modes: `Normal`, `PreparingForStop` (finish or stash current work, start nothing new), `SafeToStop` (nothing running) |
//!
//! On SIGTERM its cancellation token fires: it stops taking invocations and each running loop
//! does what `--on-cancel` says (`abandon`, `finish-item` or `stash`), then the process exits.
//! With `stash`, the unsent items of the run are written to the stash directory, and every
//! instance in `Normal` mode replays whatever it finds there, at start and then every item
//! delay (so stashed items arrive late rather than never).
//!
//! It reports its own life to the sink's `POST /events` (`testfn/lifecycle.rs`), and with
//! `--timer-epoch-ns` it runs its own timer instead of waiting to be invoked
//! (`testfn/own_timer.rs`). How an instance starts (its command line, stdout and token) is
//! in `testfn/start.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
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

use crate::protocol::{
    Message, Mode, ModeAnswer, ModeRequest, PollRequest, PollResponse, ProcRequest, SendReport,
    TickRequest, TickResponse,
};
use crate::scenario::OnCancel;
use sink::events::names;

mod lifecycle;
mod own_timer;
pub mod release;
mod start;
use lifecycle::{Lifecycle, RunOutcome};
pub use own_timer::OwnTimer;
pub use start::{main, parse_on_cancel, run_with, Args, LineOut};

/// How the function works: the settings the host passes to every instance it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    pub items: u32,
    pub item_delay: Duration,
    pub processing: Duration,
    pub submit_timeout: Duration,
    pub retries: u32,
    pub on_cancel: OnCancel,
    /// Messages each `/poll` run emits.
    pub events: u32,
    /// Chaos: the queue handler always fails messages with this `n` (they end poisoned).
    pub fail_n: Option<u64>,
}

impl Work {
    /// The command-line flags that give an instance these settings.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--items".into(),
            self.items.to_string(),
            "--item-delay-ns".into(),
            self.item_delay.as_nanos().to_string(),
            "--processing-ns".into(),
            self.processing.as_nanos().to_string(),
            "--submit-timeout-ms".into(),
            self.submit_timeout.as_millis().max(1).to_string(),
            "--retries".into(),
            self.retries.to_string(),
            "--on-cancel".into(),
            self.on_cancel.as_str().into(),
            "--events".into(),
            self.events.to_string(),
        ];
        if let Some(n) = self.fail_n {
            args.extend(["--fail-n".into(), n.to_string()]);
        }
        args
    }
}

/// Everything the function knows about itself and its work.
#[derive(Clone, Debug)]
pub struct Config {
    pub version: String,
    pub instance: String,
    pub slot: String,
    /// The sink's base URL, e.g. `http://127.0.0.1:4000`.
    pub sink_url: String,
    pub stash_dir: Option<PathBuf>,
    /// Report each item's first submit and its acknowledgement on stdout (see
    /// [`SendReport`]).
    pub report_sends: bool,
    /// Where stdout lines go.
    pub out: LineOut,
    pub work: Work,
    /// The sink's bearer token, sent with every request to it.
    pub sink_token: Option<String>,
    /// Post lifecycle events to the sink's `/events`.
    pub lifecycle: bool,
    /// How often a heartbeat event is posted (zero: never).
    pub heartbeat: Duration,
    /// Fire occurrences on this schedule itself (the app driver).
    pub own_timer: Option<OwnTimer>,
    /// How this version misbehaves, when it is a bad release.
    pub release: release::ReleaseArgs,
}

/// A run's unsent items, as written to the stash directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stash {
    pub source: String,
    pub m: u64,
    pub ns: Vec<u64>,
}

/// The app's drain modes, as the blog's app exposes them.
pub const MODE_NORMAL: u8 = 0;
pub const MODE_PREPARING: u8 = 1;

pub struct AppState {
    config: Config,
    /// Carries the sink's token.
    client: reqwest::Client,
    lifecycle: Lifecycle,
    /// Runs the function started itself (its own timer's), which it waits for before exit.
    runs: tokio_util::task::TaskTracker,
    /// The `cancelled` event was posted.
    said_cancelled: std::sync::atomic::AtomicBool,
    /// Fires on SIGTERM: the function's cancellation token.
    cancel: CancellationToken,
    mode: AtomicU8,
    /// Runs (timer loops, queue messages) in progress.
    active: AtomicU32,
    /// A bad release's behaviour (a healthy one's does nothing).
    release: release::Release,
}

fn sink_headers(config: &Config) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &config.sink_token {
        if let Ok(mut value) = format!("Bearer {token}").parse::<reqwest::header::HeaderValue>() {
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
    }
    headers
}

/// Counts a run as active while it lives.
struct Active<'a>(&'a AtomicU32);

impl<'a> Active<'a> {
    fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Active(counter)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    pub fn new(config: Config, cancel: CancellationToken) -> Arc<AppState> {
        let client = reqwest::Client::builder()
            .timeout(config.work.submit_timeout)
            .pool_max_idle_per_host(4)
            .default_headers(sink_headers(&config))
            .build()
            .expect("a client with a timeout builds");
        let lifecycle = Lifecycle::new(
            &config.instance,
            &config.version,
            client.clone(),
            config.lifecycle.then(|| config.sink_url.clone()),
        );
        Arc::new(AppState {
            client,
            lifecycle,
            runs: tokio_util::task::TaskTracker::new(),
            said_cancelled: std::sync::atomic::AtomicBool::new(false),
            cancel,
            mode: AtomicU8::new(MODE_NORMAL),
            active: AtomicU32::new(0),
            release: release::Release::new(config.release.clone()),
            config,
        })
    }

    /// The headers every request to the sink carries (its token).
    fn sink_headers(&self) -> reqwest::header::HeaderMap {
        sink_headers(&self.config)
    }

    fn draining(&self) -> bool {
        self.mode.load(Ordering::SeqCst) != MODE_NORMAL
    }

    fn mode(&self) -> Mode {
        if !self.draining() {
            Mode::Normal
        } else if self.active.load(Ordering::SeqCst) == 0 {
            Mode::SafeToStop
        } else {
            Mode::PreparingForStop
        }
    }
}

/// The function's routes over its state.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/tick", post(tick))
        .route("/api/tick", post(tick))
        .route("/poll", post(poll))
        .route("/proc", post(proc))
        .route("/api/ping", get(ping))
        .route("/admin/mode", get(get_mode).post(set_mode))
        .route("/health", get(health))
        .with_state(state)
}

/// Serves the function on `listener` until `cancel` fires and every running loop has ended,
/// replaying the stash in the background while in `Normal` mode. `started_ns` is when the
/// process started (before its cold start).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    started_ns: u64,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState::new(config, cancel.clone());
    let addr = listener.local_addr()?;
    state.lifecycle.post(
        names::STARTED,
        serde_json::json!({"pid": std::process::id(), "process_start_ns": started_ns}),
    );
    state
        .lifecycle
        .post(names::READY, serde_json::json!({"addr": addr.to_string()}));
    let watcher = state.clone();
    let witness = tokio::spawn(async move { watch(&watcher).await });
    let own_timer = state
        .config
        .own_timer
        .clone()
        .map(|timer| tokio::spawn(own_timer::run(state.clone(), timer, cancel.clone())));
    let replayer = state.clone();
    let replay = tokio::spawn(async move {
        let every = replayer
            .config
            .work
            .item_delay
            .max(Duration::from_millis(10));
        loop {
            if replayer.cancel.is_cancelled() {
                break;
            }
            if !replayer.draining() {
                replay_stash(&replayer).await;
            }
            tokio::time::sleep(every).await;
        }
    });
    let result = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    replay.abort();
    // The runs the function's own timer started end as the cancellation says, like any.
    if let Some(t) = own_timer {
        let _ = t.await;
    }
    state.runs.close();
    state.runs.wait().await;
    // Heartbeats go on to the end: the last sign of life is the effective grace's end.
    witness.abort();
    say_cancelled(&state);
    state.lifecycle.exiting(Duration::from_secs(1)).await;
    result
}

/// Heartbeats until the process exits, and says when the cancellation token fired: whether
/// SIGTERM reached the code at all is what a real platform never tells, and the heartbeats
/// after it show how long the code really ran on.
async fn watch(state: &AppState) {
    let beat = state.config.heartbeat;
    loop {
        tokio::select! {
            () = tokio::time::sleep(if beat.is_zero() { Duration::from_secs(3600) } else { beat }) => {
                if !beat.is_zero() {
                    let active = state.active.load(Ordering::SeqCst);
                    state.lifecycle.post(names::HEARTBEAT, serde_json::json!({"active": active}));
                }
            }
            () = state.cancel.cancelled(), if !state.said_cancelled.load(Ordering::SeqCst) => {
                say_cancelled(state);
            }
        }
    }
}

/// Posts `cancelled` once, when the token has fired.
fn say_cancelled(state: &AppState) {
    if state.cancel.is_cancelled() && !state.said_cancelled.swap(true, Ordering::SeqCst) {
        let active = state.active.load(Ordering::SeqCst);
        state
            .lifecycle
            .post(names::CANCELLED, serde_json::json!({"active": active}));
    }
}

async fn get_mode(State(state): State<Arc<AppState>>) -> Response {
    Json(ModeAnswer { mode: state.mode() }).into_response()
}

async fn set_mode(State(state): State<Arc<AppState>>, Json(req): Json<ModeRequest>) -> Response {
    let mode = match req.mode {
        Mode::Normal => MODE_NORMAL,
        Mode::PreparingForStop => MODE_PREPARING,
        // SafeToStop is what an app reports once prepared, not a mode to enter.
        Mode::SafeToStop => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({"error": "SafeToStop is reported, not set"})),
            )
                .into_response()
        }
    };
    state.mode.store(mode, Ordering::SeqCst);
    tracing::info!(mode = ?req.mode, "mode set");
    state.lifecycle.post(
        names::MODE,
        serde_json::json!({"mode": format!("{:?}", req.mode)}),
    );
    Json(ModeAnswer { mode: state.mode() }).into_response()
}

async fn poll(State(state): State<Arc<AppState>>, Json(req): Json<PollRequest>) -> Response {
    let found = req.events.unwrap_or(state.config.work.events);
    // One log line per run of each function, as a Functions host writes while it works:
    // the log-based completion estimate sees an instance through these lines only.
    tracing::info!(m = req.m, found, "poll");
    let messages = (0..u64::from(found))
        .map(|n| Message { m: req.m, n })
        .collect();
    Json(PollResponse { messages }).into_response()
}

async fn proc(State(state): State<Arc<AppState>>, Json(req): Json<ProcRequest>) -> Response {
    let run = state
        .lifecycle
        .run_begun("proc", req.m, Some(req.n), req.dequeue > 1);
    tracing::info!(
        m = req.m,
        n = req.n,
        dequeue = req.dequeue,
        "message begins"
    );
    let (status, body) = if state.release.invocation_fails("proc", req.m, req.n) {
        bad_release_failure(req.m)
    } else {
        process(&state, req).await
    };
    tracing::info!(m = req.m, n = req.n, sent = body.sent, "message ends");
    state.lifecycle.run_ended(run, outcome_of(&body), body.sent);
    answer(&state, status, body)
}

/// A bad release's failed run: it fails at once, sending nothing.
fn bad_release_failure(m: u64) -> (StatusCode, TickResponse) {
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
fn outcome_of(body: &TickResponse) -> RunOutcome {
    if body.cancelled {
        RunOutcome::Cancelled
    } else if body.error.is_some() {
        RunOutcome::Failed
    } else {
        RunOutcome::Ok
    }
}

/// The queue trigger's handler: one message.
async fn process(state: &AppState, req: ProcRequest) -> (StatusCode, TickResponse) {
    let _active = Active::new(&state.active);
    let c = &state.config;
    let interrupted = tokio::select! {
        () = tokio::time::sleep(c.work.processing) => false,
        () = state.cancel.cancelled(), if c.work.on_cancel == OnCancel::Abandon => true,
    };
    if interrupted {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            TickResponse {
                cancelled: true,
                ..TickResponse::default()
            },
        );
    }
    if c.work.fail_n == Some(req.n) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            TickResponse {
                error: Some("handler_failed".into()),
                ..TickResponse::default()
            },
        );
    }
    match submit(state, "proc", req.m, req.n).await {
        Ok(()) => (
            StatusCode::OK,
            TickResponse {
                sent: 1,
                ..TickResponse::default()
            },
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            TickResponse {
                error: Some(error),
                ..TickResponse::default()
            },
        ),
    }
}

/// `ok` once it serves; a release that never becomes ready answers 503 for ever.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.release.never_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "never ready (a bad release)\n",
        )
            .into_response();
    }
    "ok\n".into_response()
}

async fn ping(State(state): State<Arc<AppState>>) -> Response {
    let c = &state.config;
    if state.release.request_fails() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "bad release\n").into_response();
    }
    Json(serde_json::json!({"version": c.version, "instance": c.instance, "slot": c.slot}))
        .into_response()
}

/// A run's answer, naming who ran it (a request through a real front door may reach any
/// instance).
fn answer(state: &AppState, status: StatusCode, mut body: TickResponse) -> Response {
    body.instance = Some(state.config.instance.clone());
    body.version = Some(state.config.version.clone());
    (status, Json(body)).into_response()
}

async fn tick(State(state): State<Arc<AppState>>, Json(req): Json<TickRequest>) -> Response {
    let (status, body) = run_tick(&state, req).await;
    answer(&state, status, body)
}

/// Runs timer occurrence `req.m`, however it was triggered (the host, a request through a
/// front door, or the function's own timer), with its lifecycle events.
async fn run_tick(state: &AppState, req: TickRequest) -> (StatusCode, TickResponse) {
    let run = state.lifecycle.run_begun("tick", req.m, None, req.catch_up);
    let (status, body) = if state.release.invocation_fails("tick", req.m, 0) {
        bad_release_failure(req.m)
    } else {
        tick_loop(state, req).await
    };
    state.lifecycle.run_ended(run, outcome_of(&body), body.sent);
    (status, body)
}

async fn tick_loop(state: &AppState, req: TickRequest) -> (StatusCode, TickResponse) {
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
            () = tokio::time::sleep_until(due) => false,
            () = cancel.cancelled() => true,
        };
        if cancelled_while_waiting {
            return stop(state, req.m, n, sent).await;
        }
        if !c.work.processing.is_zero() {
            let interrupted = tokio::select! {
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
fn hand_over(state: &AppState, m: u64, next: u32, sent: u32) -> (StatusCode, TickResponse) {
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
async fn stop(state: &AppState, m: u64, next: u32, sent: u32) -> (StatusCode, TickResponse) {
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

fn stashed_event(state: &AppState, m: u64, count: usize) {
    if count > 0 {
        state.lifecycle.post(
            names::STASHED,
            serde_json::json!({"source": "tick", "m": m, "count": count}),
        );
    }
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

/// Replays every stash file: each is claimed by renaming it, so two instances never replay
/// the same one; a file whose replay failed is put back for the next pass.
async fn replay_stash(state: &AppState) {
    let config = &state.config;
    let Some(dir) = config.stash_dir.clone() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
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
async fn submit(state: &AppState, source: &str, m: u64, n: u64) -> Result<(), String> {
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

async fn submit_tries(
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
            sent_ns: Some(sink::clock::now_ns()),
        };
        match state.client.post(&url).json(&item).send().await {
            Ok(resp) if resp.status().is_success() => {
                report(true);
                return Ok(());
            }
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
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
