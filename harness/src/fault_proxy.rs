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

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::rng::Rng;

/// The largest request body the proxy reads, above the sink's own limit so the sink is the
/// one that refuses it (with its reason).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What a sink-path fault does to each request it meets (durations already scaled).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Waits `base ± jitter` (uniform) before forwarding.
    Latency {
        base: Duration,
        jitter: Duration,
        probability: f64,
    },
    /// Answers `status` instead of forwarding.
    HttpError { status: u16, probability: f64 },
    /// Resets the connection under the request.
    Reset { probability: f64 },
    /// Never answers: holds the request until the client gives up or the proxy stops.
    Blackhole { probability: f64 },
    /// The first `count` requests answer `status`.
    FailFirst { count: u64, status: u16 },
    /// Request and answer bytes pass at most `bytes_per_s`, shared by the fault's requests.
    Bandwidth { bytes_per_s: u64 },
}

/// What a fault met while it acted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that came through while it acted.
    pub requests: u64,
    /// Those it acted on.
    pub affected: u64,
}

/// A fault while it acts.
struct Active {
    index: usize,
    action: Action,
    requests: AtomicU64,
    affected: AtomicU64,
    rng: Mutex<Rng>,
    /// Cancelled when the fault ends.
    ended: CancellationToken,
    /// The bandwidth cap's next free instant: a transfer reserves its time after it.
    next_free: Mutex<Option<Instant>>,
}

impl Active {
    /// Draws whether this request is acted on, and counts it when it is.
    fn draw(&self, probability: f64) -> bool {
        let hit = self.rng.lock().unwrap_or_else(|e| e.into_inner()).unit() < probability;
        if hit {
            self.affected.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }

    /// Waits out `bytes` at the cap, after every transfer that reserved before it.
    async fn transfer(&self, bytes: usize, bytes_per_s: u64) {
        let cost = Duration::from_secs_f64(bytes as f64 / bytes_per_s as f64);
        let done = {
            let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let start = next.map_or(Instant::now(), |n| n.max(Instant::now()));
            let done = start + cost;
            *next = Some(done);
            done
        };
        tokio::select! {
            () = tokio::time::sleep_until(done) => {}
            () = self.ended.cancelled() => {}
        }
    }
}

/// A running fault proxy; cheap to clone.
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
}

struct Inner {
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
    /// A proxy to the sink at `upstream`; `seed` seeds every fault's draws.
    pub fn new(upstream: SocketAddr, seed: u64) -> FaultProxy {
        FaultProxy {
            inner: Arc::new(Inner {
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

/// Headers of one hop, which the proxy's own connections carry for themselves.
fn hop_by_hop(name: &hyper::header::HeaderName) -> bool {
    use hyper::header::*;
    [
        CONNECTION,
        HOST,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        TE,
        TRAILER,
        UPGRADE,
        PROXY_AUTHORIZATION,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

/// The request line's and headers' bytes, as the cap counts them.
fn head_bytes(parts: &hyper::http::request::Parts) -> usize {
    parts.uri.to_string().len()
        + parts
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
        + 16
}

trait SizeHint {
    fn size_hint_bytes(&self) -> usize;
}

impl SizeHint for Full<Bytes> {
    fn size_hint_bytes(&self) -> usize {
        hyper::body::Body::size_hint(self).exact().unwrap_or(0) as usize
    }
}

/// The answer of a fault that refuses a request: its status and which fault said it.
fn refusal(status: u16, index: usize) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    plain(
        status,
        &format!("refused by the harness's fault proxy: faults[{index}]"),
    )
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(format!("{text}\n"))))
        .expect("a plain answer builds")
}

/// Makes the connection's close a reset: with SO_LINGER on and a zero timeout, close(2)
/// sends RST and drops what is unsent.
fn reset_on_close(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is the connection's socket, which hyper owns and keeps open while this
    // request is served; setsockopt reads `linger` only during the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// An upstream that counts what reaches it, and the proxy in front of it.
    async fn proxied() -> (FaultProxy, String, Arc<AtomicU64>, CancellationToken) {
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/items",
            axum::routing::post(move |body: Bytes| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::ACCEPTED, format!("got {}", body.len()))
                }
            }),
        );
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(upstream, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/items", listener.local_addr().unwrap());
        let proxy = FaultProxy::new(upstream_addr, 7);
        tokio::spawn(proxy.clone().serve(listener, stop.clone()));
        (proxy, url, hits, stop)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(800))
            .build()
            .unwrap()
    }

    /// Sends `n` requests one after another: each answer's status, or the error's kind.
    async fn send(url: &str, n: usize) -> Vec<Result<u16, String>> {
        let c = client();
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(match c.post(url).body("0123456789").send().await {
                Ok(r) => Ok(r.status().as_u16()),
                Err(e) if e.is_timeout() => Err("timeout".into()),
                Err(e) => Err(format!("{:?}", std::error::Error::source(&e))),
            });
        }
        out
    }

    #[tokio::test]
    async fn forwards_untouched_without_a_fault() {
        let (_proxy, url, hits, stop) = proxied().await;
        let r = client().post(&url).body("abc").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(r.text().await.unwrap(), "got 3");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_fault_set_to_never_acts_on_nothing() {
        let (proxy, url, hits, stop) = proxied().await;
        let actions = [
            Action::HttpError {
                status: 503,
                probability: 0.0,
            },
            Action::Reset { probability: 0.0 },
            Action::Blackhole { probability: 0.0 },
            Action::Latency {
                base: Duration::from_secs(5),
                jitter: Duration::ZERO,
                probability: 0.0,
            },
        ];
        for (i, a) in actions.into_iter().enumerate() {
            proxy.begin(i, a);
        }
        let got = send(&url, 20).await;
        assert!(got.iter().all(|r| *r == Ok(202)), "{got:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 20);
        for i in 0..4 {
            assert_eq!(
                proxy.end(i),
                Counts {
                    requests: 20,
                    affected: 0
                }
            );
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn an_http_error_set_to_always_refuses_every_request() {
        let (proxy, url, hits, stop) = proxied().await;
        proxy.begin(
            0,
            Action::HttpError {
                status: 503,
                probability: 1.0,
            },
        );
        let got = send(&url, 10).await;
        assert!(got.iter().all(|r| *r == Ok(503)), "{got:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert_eq!(proxy.end(0).affected, 10);
        // Once ended, requests pass again.
        assert_eq!(send(&url, 1).await, vec![Ok(202)]);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_reset_set_to_always_resets_every_connection() {
        let (proxy, url, hits, stop) = proxied().await;
        proxy.begin(0, Action::Reset { probability: 1.0 });
        let got = send(&url, 5).await;
        for r in &got {
            let e = r.as_ref().expect_err("no answer under a reset");
            assert!(e.contains("ConnectionReset"), "{e}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert_eq!(proxy.end(0).affected, 5);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_blackhole_never_answers_even_after_it_ends() {
        let (proxy, url, hits, stop) = proxied().await;
        proxy.begin(0, Action::Blackhole { probability: 1.0 });
        let got = send(&url, 2).await;
        assert_eq!(got, vec![Err("timeout".into()), Err("timeout".into())]);
        // A request held when the fault ends is still not answered: its client times out.
        let held = tokio::spawn({
            let url = url.clone();
            async move { client().post(&url).send().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(proxy.end(0).affected, 3);
        let held = held.await.unwrap().expect_err("never answered");
        assert!(held.is_timeout(), "{held:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        // New requests pass.
        assert_eq!(send(&url, 1).await, vec![Ok(202)]);
        stop.cancel();
    }

    #[tokio::test]
    async fn fail_first_fails_exactly_its_count() {
        let (proxy, url, hits, stop) = proxied().await;
        proxy.begin(
            0,
            Action::FailFirst {
                count: 3,
                status: 500,
            },
        );
        let got = send(&url, 8).await;
        let want: Vec<Result<u16, String>> = [500, 500, 500, 202, 202, 202, 202, 202]
            .into_iter()
            .map(Ok)
            .collect();
        assert_eq!(got, want);
        assert_eq!(hits.load(Ordering::SeqCst), 5);
        assert_eq!(
            proxy.end(0),
            Counts {
                requests: 8,
                affected: 3
            }
        );
        stop.cancel();
    }

    #[tokio::test]
    async fn latency_set_to_always_delays_every_request() {
        let (proxy, url, _hits, stop) = proxied().await;
        proxy.begin(
            0,
            Action::Latency {
                base: Duration::from_millis(150),
                jitter: Duration::from_millis(50),
                probability: 1.0,
            },
        );
        let c = client();
        for _ in 0..4 {
            let t = std::time::Instant::now();
            let r = c.post(&url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            assert!(
                t.elapsed() >= Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
        }
        assert_eq!(proxy.end(0).affected, 4);
        stop.cancel();
    }

    #[tokio::test]
    async fn bandwidth_holds_requests_to_the_cap() {
        let (proxy, url, hits, stop) = proxied().await;
        // 10 requests of about 1 kB through 20 kB/s: at least half a second in all.
        proxy.begin(
            0,
            Action::Bandwidth {
                bytes_per_s: 20_000,
            },
        );
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let t = std::time::Instant::now();
        for _ in 0..10 {
            let r = c.post(&url).body(vec![b'x'; 1000]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
        }
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(hits.load(Ordering::SeqCst), 10);
        assert_eq!(proxy.end(0).affected, 10);
        stop.cancel();
    }
}
