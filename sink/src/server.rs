//! The recording server: `POST /items`, `POST /events`, `POST|DELETE /lease/NAME`,
//! `GET /stats`, `GET /metrics`, `GET /health`.
//!
//! With a token ([`Config::token`]) every endpoint but `/health` requires
//! `Authorization: Bearer TOKEN`, compared in constant time; a request without it gets a 401
//! and records nothing. A sink listening beyond loopback without a token refuses to start:
//! anyone on the network could write its ledger of the truth.
//!
//! Limits: a request body is at most [`Config::max_body_bytes`] (413 `body_too_large` past
//! it, [`DEFAULT_MAX_BODY_BYTES`] by default); at most [`Config::max_connections`] connections
//! are served at once (503 `overloaded` past it, [`DEFAULT_MAX_CONNECTIONS`] by default; see
//! [`crate::connections`]); at most [`Config::max_in_flight`] requests to `/items` are
//! processed at once (more wait); at most [`Config::queue_capacity`] wait for the writer.
//!
//! It never binds a socket: [`Sink::serve`] takes a listener and a shutdown future, so tests
//! hand it `127.0.0.1:0` and a simulation could hand it anything (mini-redis style).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sink::SinkError> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let config = sink::Config::new("/tmp/run");
//! let summary = sink::run(listener, config, tokio::signal::ctrl_c()).await?;
//! println!("{} items recorded", summary.stats.items);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::connections::{Admission, CappedListener};
use crate::events::{parse_events, EventLog};
use crate::lease::{LeaseAnswer, LeaseRequest, Leases, MAX_TTL_MS};
use crate::recorder::{FsyncPolicy, RecordError, Recorder, RecorderHandle, Rows};
use crate::stats::{Stats, StatsSnapshot};
use crate::wire::{is_json_content_type, parse_body, Reject};

/// The largest request body a sink accepts unless told otherwise (`--max-body-bytes`): 1 MiB,
/// a batch of about 8,000 items.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Connections a sink serves at once unless told otherwise (`--max-connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Bytes of a refused request's body read before it is answered, so that the answer is not
/// lost to a reset from unread data; the rest is not read.
const REFUSED_BODY_BYTES: usize = 64 << 10;

/// How a sink records and what it accepts.
#[derive(Clone)]
pub struct Config {
    /// The run directory; `arrivals.csv` is written inside it.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// Largest accepted request body; a larger one gets 413 `body_too_large` and records
    /// nothing. Default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// Connections served at once (idle keep-alive ones count); a request on a connection
    /// past it gets 503 `overloaded` and records nothing. Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Requests that may wait for the writer before handlers are made to wait.
    pub queue_capacity: usize,
    /// Requests to `/items` processed at once; more wait for a slot.
    pub max_in_flight: usize,
    /// How long shutdown waits for open requests before closing them.
    pub drain_timeout: Duration,
    /// Reopen an existing `arrivals.csv` with the same header instead of refusing it.
    pub append: bool,
    /// The bearer token every endpoint but `/health` requires; `None`: no token (loopback
    /// only).
    pub token: Option<String>,
    pub clock: Arc<dyn Clock>,
    /// Write arrivals in the request's own task rather than on a writer thread (see
    /// [`Recorder::open_inline`]): a simulation's runtime must never wait on another thread.
    pub inline_writer: bool,
}

impl Config {
    pub fn new(dir: impl Into<PathBuf>) -> Config {
        Config {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            queue_capacity: 8192,
            max_in_flight: 4096,
            drain_timeout: Duration::from_secs(10),
            append: false,
            token: None,
            clock: Arc::new(SystemClock),
            inline_writer: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error("closing arrivals.csv: {0}")]
    Close(std::io::Error),
    #[error("opening events.csv: {0}")]
    Events(std::io::Error),
    #[error(
        "refusing to listen on {0} without a token: beyond loopback anyone could write \
         the run's arrivals; give --token (or sink.token)"
    )]
    Unprotected(std::net::SocketAddr),
}

/// What a finished sink recorded.
#[derive(Clone, Debug)]
pub struct Summary {
    pub stats: StatsSnapshot,
    pub arrivals_path: PathBuf,
    /// Shutdown gave up waiting for open requests after the drain timeout.
    pub drain_timed_out: bool,
}

struct AppState {
    recorder: RecorderHandle,
    stats: Arc<Stats>,
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
    max_connections: usize,
    events: Arc<EventLog>,
    leases: Arc<Leases>,
    token: Option<String>,
    /// Events are written in the request's task too (see [`Config::inline_writer`]).
    inline_writer: bool,
}

/// An opened sink: `arrivals.csv` and `events.csv` exist and the writer runs, but nothing
/// listens yet.
pub struct Sink {
    recorder: Recorder,
    events: Arc<EventLog>,
    leases: Arc<Leases>,
    config: Config,
}

impl Sink {
    pub fn open(config: Config) -> Result<Sink, SinkError> {
        let recorder = if config.inline_writer {
            Recorder::open_inline(&config.dir, config.fsync, config.append)?
        } else {
            Recorder::open(
                &config.dir,
                config.fsync,
                config.queue_capacity,
                config.append,
            )?
        };
        let events = EventLog::open(&config.dir, config.append).map_err(SinkError::Events)?;
        Ok(Sink {
            recorder,
            events: Arc::new(events),
            leases: Arc::default(),
            config,
        })
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.recorder.stats()
    }

    /// The HTTP routes, bound to this sink's recorder.
    pub fn router(&self) -> Router {
        let state = Arc::new(AppState {
            recorder: self.recorder.handle(),
            stats: self.recorder.stats(),
            clock: self.config.clock.clone(),
            max_body_bytes: self.config.max_body_bytes,
            max_connections: self.max_connections(),
            events: self.events.clone(),
            leases: self.leases.clone(),
            token: self.config.token.clone(),
            inline_writer: self.config.inline_writer,
        });
        let protected = Router::new()
            .route(
                "/items",
                post(post_items).route_layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    self.config.max_in_flight.max(1),
                )),
            )
            .route("/events", post(post_events))
            .route("/lease/{name}", post(acquire_lease).delete(release_lease))
            .route("/stats", get(get_stats))
            .route("/metrics", get(get_metrics))
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                require_token,
            ));
        protected
            .route("/health", get(|| async { "ok\n" }))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(
                state,
                refuse_overloaded,
            ))
    }

    fn max_connections(&self) -> usize {
        self.config.max_connections.max(1)
    }

    /// Serves until `shutdown` completes, then lets open requests finish (up to the drain
    /// timeout), stops the writer after every accepted row and syncs the file.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future + Send + 'static,
    ) -> Result<Summary, SinkError> {
        let addr = listener.local_addr().map_err(SinkError::Serve)?;
        if !addr.ip().is_loopback() && self.config.token.is_none() {
            return Err(SinkError::Unprotected(addr));
        }
        let stop = CancellationToken::new();
        let app = self.router();
        let listener = CappedListener::new(listener, self.max_connections(), self.stats());
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<Admission>(),
        )
        .with_graceful_shutdown(stop.clone().cancelled_owned());
        let drain_timeout = self.config.drain_timeout;
        let stopper = stop.clone();
        let deadline = async move {
            shutdown.await;
            stopper.cancel();
            tokio::time::sleep(drain_timeout).await;
        };
        let drain_timed_out = tokio::select! {
            biased;
            served = serve => { served.map_err(SinkError::Serve)?; false }
            () = deadline => {
                tracing::warn!(?drain_timeout, "requests still open after the drain timeout; closing");
                true
            }
        };
        let stats = self.recorder.stats();
        let arrivals_path = self.recorder.path().to_owned();
        self.recorder.close().await.map_err(SinkError::Close)?;
        Ok(Summary {
            stats: stats.snapshot(),
            arrivals_path,
            drain_timed_out,
        })
    }
}

impl Sink {
    /// Serves the sink's routes through `mount`, a transport of the caller's (a simulation's
    /// in-memory network), which serves them until its own shutdown and returns once the open
    /// requests are answered; then closes the recorder as [`Sink::serve`] does.
    pub async fn serve_mounted<F, Fut>(self, mount: F) -> Result<Summary, SinkError>
    where
        F: FnOnce(Router) -> Fut,
        Fut: Future<Output = ()>,
    {
        mount(self.router()).await;
        let stats = self.recorder.stats();
        let arrivals_path = self.recorder.path().to_owned();
        self.recorder.close().await.map_err(SinkError::Close)?;
        Ok(Summary {
            stats: stats.snapshot(),
            arrivals_path,
            drain_timed_out: false,
        })
    }
}

/// Opens a sink on `config` and serves it on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future + Send + 'static,
) -> Result<Summary, SinkError> {
    Sink::open(config)?.serve(listener, shutdown).await
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    json_text_response(status, body.to_string())
}

fn json_text_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn refuse(stats: &Stats, reject: Reject) -> Response {
    stats.count_reject(&reject);
    let status = StatusCode::from_u16(reject.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, &reject.to_json())
}

async fn post_items(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The arrival time is taken before the body is read: a slow upload is the sender's delay.
    let recv_ns = state.clock.now_ns();
    let (parts, body) = request.into_parts();
    let content_type = parts.headers.get(header::CONTENT_TYPE);
    if !content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_content_type)
    {
        let got = content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        return refuse(&state.stats, Reject::UnsupportedContentType { got });
    }
    let limit_bytes = state.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit_bytes as u64) {
        return refuse(&state.stats, Reject::BodyTooLarge { limit_bytes });
    }
    let bytes = match axum::body::to_bytes(body, limit_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let reject = if too_large {
                Reject::BodyTooLarge { limit_bytes }
            } else {
                Reject::MalformedJson {
                    message: format!("could not read the body: {e}"),
                }
            };
            return refuse(&state.stats, reject);
        }
    };
    let items = match parse_body(&bytes) {
        Ok(items) => items,
        Err(reject) => return refuse(&state.stats, reject),
    };
    let count = items.len();
    let rows = Rows::format(recv_ns, &items);
    drop(items);
    match state.recorder.record(rows).await {
        // The hot path's answer, written directly rather than through a JSON map.
        Ok(()) => json_text_response(StatusCode::OK, format!("{{\"recorded\":{count}}}")),
        Err(e) => {
            state.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            let kind = match e {
                RecordError::Closed => "shutting_down",
                _ => "recording_failed",
            };
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": kind, "reason": e.to_string()}),
            )
        }
    }
}

async fn get_stats(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(state.stats.snapshot()).into_response()
}

async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.stats.prometheus(),
    )
        .into_response()
}

/// Answers every request on a connection accepted past the connection cap with 503
/// `overloaded`, and closes that connection: nothing of it is recorded. (Without connection
/// info, as when the router is served by other means, every request is admitted.)
async fn refuse_overloaded(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let admitted = request
        .extensions()
        .get::<axum::extract::ConnectInfo<Admission>>()
        .is_none_or(|info| info.0.admitted);
    if admitted {
        return next.run(request).await;
    }
    let _ = axum::body::to_bytes(request.into_body(), REFUSED_BODY_BYTES).await;
    let mut response = refuse(
        &state.stats,
        Reject::Overloaded {
            max_connections: state.max_connections,
        },
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Refuses a request without the sink's bearer token (when it has one) before its body is
/// read: nothing of it is recorded.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let ok = given.is_some_and(|g| {
        // Constant time: how much of a guess is right must not show in the answer's timing.
        bool::from(subtle::ConstantTimeEq::ct_eq(g, token.as_bytes()))
    });
    if ok {
        next.run(request).await
    } else {
        refuse(
            &state.stats,
            Reject::Unauthorized {
                given: given.is_some(),
            },
        )
    }
}

async fn post_events(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let recv_ns = state.clock.now_ns();
    let bytes = match axum::body::to_bytes(request.into_body(), state.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                &state.stats,
                Reject::BodyTooLarge {
                    limit_bytes: state.max_body_bytes,
                },
            )
        }
    };
    let rows = match parse_events(&bytes) {
        Ok(rows) => rows,
        Err(reject) => return refuse(&state.stats, reject),
    };
    let events = state.events.clone();
    let count = rows.len();
    let written = if state.inline_writer {
        Ok(events.append(recv_ns, &rows))
    } else {
        tokio::task::spawn_blocking(move || events.append(recv_ns, &rows)).await
    };
    match written {
        Ok(Ok(())) => {
            state
                .stats
                .events
                .fetch_add(count as u64, Ordering::Relaxed);
            json_text_response(StatusCode::OK, format!("{{\"recorded\":{count}}}"))
        }
        _ => {
            state.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "recording_failed", "reason": "writing events.csv failed"}),
            )
        }
    }
}

/// The lease request of a body, or why it is refused.
fn lease_request(name: &str, bytes: &[u8]) -> Result<LeaseRequest, Reject> {
    let invalid = |reason: String| Reject::InvalidLease { reason };
    crate::item::check_name(name).map_err(|why| invalid(format!("lease name {why}")))?;
    let req: LeaseRequest = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "a lease request is {{\"holder\", \"ttl_ms\"}}: {e}"
        ))
    })?;
    crate::item::check_name(&req.holder).map_err(|why| invalid(format!("holder {why}")))?;
    if req.ttl_ms.is_some_and(|t| t == 0 || t > MAX_TTL_MS) {
        return Err(invalid(format!(
            "ttl_ms must be between 1 and {MAX_TTL_MS}"
        )));
    }
    Ok(req)
}

fn lease_response(state: &AppState, name: &str, holder: &str, answer: LeaseAnswer) -> Response {
    match answer {
        LeaseAnswer::Held { previous } => {
            if previous.as_deref() != Some(holder) {
                let detail = format!(
                    "lease={name} previous={}",
                    previous.as_deref().unwrap_or("none")
                );
                state.events.record(
                    state.clock.now_ns(),
                    crate::events::names::LEASE_ACQUIRED,
                    holder,
                    &detail,
                );
            }
            json_response(
                StatusCode::OK,
                &serde_json::json!({"held": true, "holder": holder}),
            )
        }
        LeaseAnswer::Released => json_response(
            StatusCode::OK,
            &serde_json::json!({"held": false, "released": true}),
        ),
        LeaseAnswer::Taken {
            holder,
            expires_in_ms,
        } => json_response(
            StatusCode::CONFLICT,
            &serde_json::json!({"held": false, "holder": holder, "expires_in_ms": expires_in_ms}),
        ),
    }
}

async fn acquire_lease(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    lease(&state, &name, &body, |req, now_ns| {
        // The platform's blob lease for a timer's singleton lasts 15 s.
        let ttl_ms = req.ttl_ms.unwrap_or(15_000);
        state.leases.acquire(&name, &req.holder, ttl_ms, now_ns)
    })
}

async fn release_lease(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    lease(&state, &name, &body, |req, now_ns| {
        state.leases.release(&name, &req.holder, now_ns)
    })
}

/// A lease request: parsed and checked, then `op` on the leases, answered.
fn lease(
    state: &AppState,
    name: &str,
    body: &[u8],
    op: impl FnOnce(&LeaseRequest, u64) -> LeaseAnswer,
) -> Response {
    let req = match lease_request(name, body) {
        Ok(r) => r,
        Err(reject) => return refuse(&state.stats, reject),
    };
    let answer = op(&req, state.clock.now_ns());
    lease_response(state, name, &req.holder, answer)
}
