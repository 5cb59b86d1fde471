//! The fault proxy: an HTTP proxy the harness puts between the instances and its sink, so
//! that a scenario's sink-path `[[faults]]` can break that path on purpose.
//!
//! It forwards every request to the sink as it came and the sink's answer as it went, until
//! a fault is begun ([`FaultProxy::begin`]); while one acts, each request meets it: a
//! `blackhole` holds the request and never answers it (not even when the fault ends: the
//! client gives up by its own timeout, as on a dropped route), a `reset` resets the connection under it (SO_LINGER 0, so the client reads
//! ECONNRESET, not a clean close), an `http_error` or `fail_first` answers a status without
//! forwarding, a `latency` waits before forwarding, and a `bandwidth` cap delays the request
//! and its answer by their sizes over a rate the fault's requests share. Unlike a TCP proxy
//! (Toxiproxy) it speaks HTTP, so it answers a status and counts requests, not bytes. Each
//! fault counts the requests that met it and those it acted on, for the ledger.
//!
//! Randomness (`probability`, `jitter`) comes from a generator seeded per fault from the
//! run's seed, so a run replays the same draws in the same order of requests.
//!
//! This file is the proxy: it serves, forwards, and meets each request with the faults
//! acting. What a fault does and its state while it acts are in `action.rs`; the answers
//! and socket details of the proxy's own hop in `hop.rs`. Its parts never import it.

use crate::clock::Clock;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::rng::Rng;

mod action;
mod hop;

use action::Active;
pub use action::{Action, Counts};
use hop::{head_bytes, hop_by_hop, plain, refusal, reset_on_close, SizeHint};

/// The largest request body the proxy reads, above the sink's own limit so the sink is the
/// one that refuses it (with its reason).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A running fault proxy; cheap to clone.
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
}

struct Inner {
    /// The run's clock, which the bandwidth cap reserves its time on.
    clock: Clock,
    /// The sink's base URL.
    upstream: String,
    client: reqwest::Client,
    active: Mutex<Vec<Arc<Active>>>,
    seed: u64,
    /// Cancelled when the proxy stops: blackholed requests are let go then, unanswered.
    stopped: CancellationToken,
}

/// Why a request got no answer: hyper closes its connection.
#[derive(Debug, thiserror::Error)]
enum Abort {
    #[error("reset by a fault")]
    Reset,
    #[error("blackholed by a fault")]
    Blackhole,
}

impl FaultProxy {
    /// A proxy to the sink at `upstream`; `seed` seeds every fault's draws, and its delays
    /// are on `clock`.
    pub fn new(upstream: SocketAddr, seed: u64, clock: Clock) -> FaultProxy {
        FaultProxy {
            inner: Arc::new(Inner {
                clock,
                upstream: format!("http://{upstream}"),
                client: reqwest::Client::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(256)
                    .build()
                    .expect("a plain client builds"),
                active: Mutex::new(Vec::new()),
                seed,
                stopped: CancellationToken::new(),
            }),
        }
    }

    /// Serves on `listener` until `stop`; then lets open requests finish.
    pub async fn serve(self, listener: tokio::net::TcpListener, stop: CancellationToken) {
        let tracker = TaskTracker::new();
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    // Out of descriptors, say: try again rather than stop proxying.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                },
                () = stop.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            let fd = stream.as_raw_fd();
            let proxy = self.clone();
            let stop = stop.clone();
            tracker.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { proxy.handle(req, fd).await }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    () = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                    }
                }
            });
        }
        // Blackholed requests are let go, unanswered, before the open connections are
        // waited for.
        self.inner.stopped.cancel();
        tracker.close();
        tracker.wait().await;
    }

    /// Starts fault `index` acting.
    pub fn begin(&self, index: usize, action: Action) {
        let seed = self.inner.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let active = Arc::new(Active {
            index,
            action,
            requests: AtomicU64::new(0),
            affected: AtomicU64::new(0),
            rng: Mutex::new(Rng::new(seed)),
            ended: CancellationToken::new(),
            next_free: Mutex::new(None),
            clock: self.inner.clock,
        });
        self.inner
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(active);
    }

    /// Stops fault `index`; returns what it met.
    pub fn end(&self, index: usize) -> Counts {
        let mut active = self.inner.active.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = active.iter().position(|a| a.index == index) else {
            return Counts::default();
        };
        let a = active.remove(at);
        a.ended.cancel();
        Counts {
            requests: a.requests.load(Ordering::SeqCst),
            affected: a.affected.load(Ordering::SeqCst),
        }
    }

    fn active(&self) -> Vec<Arc<Active>> {
        self.inner
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        fd: std::os::fd::RawFd,
    ) -> Result<Response<Full<Bytes>>, Abort> {
        let faults = self.active();
        for f in &faults {
            f.requests.fetch_add(1, Ordering::SeqCst);
        }
        // What closes or answers the request comes first; delays after.
        for f in &faults {
            match f.action {
                Action::Blackhole { probability } if f.draw(probability) => {
                    self.inner.stopped.cancelled().await;
                    return Err(Abort::Blackhole);
                }
                Action::Reset { probability } if f.draw(probability) => {
                    reset_on_close(fd);
                    return Err(Abort::Reset);
                }
                Action::HttpError {
                    status,
                    probability,
                } if f.draw(probability) => return Ok(refusal(status, f.index)),
                Action::FailFirst { count, status } => {
                    let failed = f
                        .affected
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                            (n < count).then_some(n + 1)
                        })
                        .is_ok();
                    if failed {
                        return Ok(refusal(status, f.index));
                    }
                }
                _ => {}
            }
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Ok(plain(
                    StatusCode::BAD_REQUEST,
                    &format!("reading the body: {e}"),
                ))
            }
        };
        for f in &faults {
            match f.action {
                Action::Latency {
                    base,
                    jitter,
                    probability,
                } if f.draw(probability) => {
                    let spread = {
                        let mut rng = f.rng.lock().unwrap_or_else(|e| e.into_inner());
                        rng.unit() * 2.0 - 1.0
                    };
                    let wait = base.as_secs_f64() + spread * jitter.as_secs_f64();
                    tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0))).await;
                }
                Action::Bandwidth { bytes_per_s } => {
                    f.affected.fetch_add(1, Ordering::SeqCst);
                    f.transfer(body.len() + head_bytes(&parts), bytes_per_s)
                        .await;
                }
                _ => {}
            }
        }
        let answer = self.forward(parts, body).await;
        if let Ok(r) = &answer {
            for f in &faults {
                if let Action::Bandwidth { bytes_per_s } = f.action {
                    f.transfer(r.body().size_hint_bytes(), bytes_per_s).await;
                }
            }
        }
        Ok(answer.unwrap_or_else(|e| {
            plain(
                StatusCode::BAD_GATEWAY,
                &format!("the fault proxy could not reach the sink: {e}"),
            )
        }))
    }

    async fn forward(
        &self,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, reqwest::Error> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut req = self
            .inner
            .client
            .request(parts.method, format!("{}{path}", self.inner.upstream));
        for (name, value) in &parts.headers {
            if !hop_by_hop(name) {
                req = req.header(name, value);
            }
        }
        let resp = req.body(body).send().await?;
        let mut out = Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            if !hop_by_hop(name) {
                out = out.header(name, value);
            }
        }
        let bytes = resp.bytes().await?;
        Ok(out
            .body(Full::new(bytes))
            .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "a malformed answer")))
    }
}

#[cfg(test)]
mod tests;
