//! The recording server: `POST /items`, `GET /stats`, `GET /metrics`, `GET /health`.
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
use crate::recorder::{FsyncPolicy, RecordError, Recorder, RecorderHandle, Rows};
use crate::stats::{Stats, StatsSnapshot};
use crate::wire::{is_json_content_type, parse_body, Reject};

/// How a sink records and what it accepts.
#[derive(Clone)]
pub struct Config {
    /// The run directory; `arrivals.csv` is written inside it.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Requests that may wait for the writer before handlers are made to wait.
    pub queue_capacity: usize,
    /// Requests to `/items` processed at once; more wait for a slot.
    pub max_in_flight: usize,
    /// How long shutdown waits for open requests before closing them.
    pub drain_timeout: Duration,
    /// Reopen an existing `arrivals.csv` with the same header instead of refusing it.
    pub append: bool,
    pub clock: Arc<dyn Clock>,
}

impl Config {
    pub fn new(dir: impl Into<PathBuf>) -> Config {
        Config {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            max_body_bytes: 1 << 20,
            queue_capacity: 8192,
            max_in_flight: 4096,
            drain_timeout: Duration::from_secs(10),
            append: false,
            clock: Arc::new(SystemClock),
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
}

/// An opened sink: `arrivals.csv` exists and the writer runs, but nothing listens yet.
pub struct Sink {
    recorder: Recorder,
    config: Config,
}

impl Sink {
    pub fn open(config: Config) -> Result<Sink, SinkError> {
        let recorder = Recorder::open(
            &config.dir,
            config.fsync,
            config.queue_capacity,
            config.append,
        )?;
        Ok(Sink { recorder, config })
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
        });
        Router::new()
            .route(
                "/items",
                post(post_items).route_layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    self.config.max_in_flight.max(1),
                )),
            )
            .route("/stats", get(get_stats))
            .route("/metrics", get(get_metrics))
            .route("/health", get(|| async { "ok\n" }))
            .with_state(state)
    }

    /// Serves until `shutdown` completes, then lets open requests finish (up to the drain
    /// timeout), stops the writer after every accepted row and syncs the file.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future + Send + 'static,
    ) -> Result<Summary, SinkError> {
        let stop = CancellationToken::new();
        let app = self.router();
        let serve =
            axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
        let drain_timeout = self.config.drain_timeout;
        let stopper = stop.clone();
        let deadline = async move {
            shutdown.await;
            stopper.cancel();
            tokio::time::sleep(drain_timeout).await;
        };
        let drain_timed_out = tokio::select! {
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
