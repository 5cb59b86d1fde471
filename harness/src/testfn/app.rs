//! The test function's HTTP server: its routes (see the protocol in [`super`]) over its
//! [`AppState`], the loops that submit items, the stash and its replay.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

use crate::protocol::{
    Message, Mode, ModeAnswer, ModeRequest, PollRequest, PollResponse, ProcRequest, TickResponse,
};
use crate::scenario::OnCancel;
use sink::events::names;

use super::config::Config;
use super::functions_host::{HostInvocation, Numbered, TickBody};
use super::own_timer;
use super::state::{Active, AppState, MODE_NORMAL, MODE_PREPARING};
use super::tick::{bad_release_failure, outcome_of, replay_stash, run_tick, submit};

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
    listener: crate::net::serve::Listener,
    config: Config,
    started_ns: u64,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState::new(config, cancel.clone());
    let addr = listener.local_addr()?;
    state.lifecycle.post(
        names::STARTED,
        serde_json::json!({"pid": state.config.place.pid, "process_start_ns": started_ns}),
    );
    state
        .lifecycle
        .post(names::READY, serde_json::json!({"addr": addr.to_string()}));
    let watcher = state.clone();
    let witness = crate::instance_tasks::spawn(async move { watch(&watcher).await });
    let own_timer = state.config.own_timer.clone().map(|timer| {
        crate::instance_tasks::spawn(own_timer::run(state.clone(), timer, cancel.clone()))
    });
    let replayer = state.clone();
    // Only a stashing function leaves stash files: any other has nothing to replay, and
    // no directory to read every item delay (a thousand instances would do little else).
    let stashes = state.config.work.on_cancel == OnCancel::Stash;
    let replay = crate::instance_tasks::spawn(async move {
        let every = replayer
            .config
            .work
            .item_delay
            .max(Duration::from_millis(10));
        loop {
            if !stashes || replayer.cancel.is_cancelled() {
                break;
            }
            if !replayer.draining() {
                replay_stash(&replayer).await;
            }
            tokio::time::sleep(every).await;
        }
    });
    let result =
        crate::net::serve::serve(listener, router(state.clone()), cancel.cancelled_owned()).await;
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
            biased;
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

/// The queue trigger's handler: one message.
async fn process(state: &AppState, req: ProcRequest) -> (StatusCode, TickResponse) {
    let _active = Active::new(&state.active);
    let c = &state.config;
    let interrupted = tokio::select! {
        biased;
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

/// `POST /tick` and `POST /api/tick`: the harness's [`TickRequest`] (answered as ever), or
/// the Functions host's timer invocation (numbered from its `UtcNow`, answered in the host's
/// shape); a body that is neither gets a 4xx with the reason, and nothing runs.
async fn tick(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match TickBody::parse(&body) {
        Ok(TickBody::Harness(req)) => {
            let (status, body) = run_tick(&state, req).await;
            answer(&state, status, body)
        }
        Ok(TickBody::Host(invocation)) => host_tick(&state, invocation).await,
        Err(refusal) => {
            tracing::warn!(status = %refusal.status, reason = %refusal.reason, "a /tick body refused");
            (refusal.status, Json(refusal.body())).into_response()
        }
    }
}

/// The Functions host's timer invocation: run as the occurrence its `UtcNow` is, when that
/// is in the run's window.
async fn host_tick(state: &AppState, invocation: HostInvocation) -> Response {
    let Some(schedule) = &state.config.functions_timer else {
        let error = "a Functions timer invocation, but no schedule to number it: \
                     set HARNESS_TIMER_EPOCH_NS and HARNESS_TIMER_PERIOD_NS";
        tracing::error!("{error}");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": error })),
        )
            .into_response();
    };
    match invocation.numbered(schedule) {
        Numbered::Outside { m } => {
            tracing::info!(
                ?m,
                "a Functions timer invocation outside the run's window: not run"
            );
            let who = (
                state.config.instance.as_str(),
                state.config.version.as_str(),
            );
            Json(HostInvocation::answer_outside(m, schedule, who)).into_response()
        }
        Numbered::Run(req) => {
            let (status, mut body) = run_tick(state, req).await;
            body.instance = Some(state.config.instance.clone());
            body.version = Some(state.config.version.clone());
            (status, Json(HostInvocation::answer(&req, status, &body))).into_response()
        }
    }
}
