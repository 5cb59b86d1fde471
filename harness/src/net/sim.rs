//! The virtual-time platform's network: servers are axum routers registered at made-up
//! loopback addresses (`127.77.0.1:1024` and on: nothing beyond this process reaches them), and a request is a call of the server's router in the
//! same process, delayed each way by the modelled latency.
//!
//! What it keeps of a real network: a request to an address nothing serves is refused
//! (`Connect`) and never reaches a server; a server's handler runs as a task of the server's
//! instance ([`InstanceTasks`]), so a killed instance's open requests break (`Body`, a reset)
//! and a frozen one's hang until thawed; a server that shuts down refuses new requests and
//! answers the open ones before its `serve` returns. What it leaves out: connections,
//! pools, the kernel's backlog and TCP's own timers.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request};
use axum::Router;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use super::answer::{Answer, ErrorKind, NetError};
use crate::dist::{Dist, Rng};
use crate::instance_tasks::InstanceTasks;

/// Largest answer body a simulated request reads.
const MAX_BODY_BYTES: usize = 16 << 20;

/// The in-memory network; cheap to clone.
#[derive(Clone)]
pub struct SimNet {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Mutex<BTreeMap<SocketAddr, Server>>,
    next: Mutex<u32>,
    /// One way, each way.
    latency: Dist,
    rng: Mutex<Rng>,
}

#[derive(Clone)]
struct Server {
    router: Router,
    /// The instance whose tasks its handlers are; `None` for the harness's own servers.
    group: Option<InstanceTasks>,
    open: TaskTracker,
}

impl SimNet {
    /// A network whose every request waits `latency` each way, drawn from `seed`'s stream.
    pub fn new(latency: Dist, seed: u64) -> SimNet {
        SimNet {
            inner: Arc::new(Inner {
                servers: Mutex::new(BTreeMap::new()),
                next: Mutex::new(0),
                latency,
                rng: Mutex::new(Rng::new(seed)),
            }),
        }
    }

    /// A listener at a new address: nothing is served there until [`SimListener::serve`].
    pub fn bind(&self) -> SimListener {
        let mut next = self.inner.next.lock().unwrap_or_else(|e| e.into_inner());
        let n = *next;
        *next += 1;
        // 64,000 ports per address, from 127.77.0.1.
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 77, 0, 1)) + n / 64_000);
        let port = 1024 + (n % 64_000) as u16;
        SimListener {
            net: self.clone(),
            addr: SocketAddr::new(ip.into(), port),
        }
    }

    /// One way's latency, to the nearest millisecond: tokio's timer counts whole
    /// milliseconds (a sleep of 0.15 ms would last 1), so a latency below half of one is
    /// no wait at all, which is nearer the truth than a whole one.
    fn one_way(&self) -> Duration {
        if self.inner.latency.is_zero() {
            return Duration::ZERO;
        }
        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        let drawn = self.inner.latency.sample(&mut rng);
        Duration::from_millis(((drawn.as_micros() + 500) / 1_000) as u64)
    }

    fn server(&self, addr: SocketAddr) -> Option<Server> {
        let servers = self.inner.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers
            .get(&addr)
            .filter(|s| !s.group.as_ref().is_some_and(InstanceTasks::is_killed))
            .cloned()
    }

    /// One request and its whole answer.
    pub async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, NetError> {
        let (addr, path) = split_url(url)?;
        let there = self.one_way();
        if !there.is_zero() {
            tokio::time::sleep(there).await;
        }
        let Some(server) = self.server(addr) else {
            return Err(NetError::new(
                ErrorKind::Connect,
                format!("connecting to {addr}: connection refused"),
            ));
        };
        let mut request = Request::builder().method(method).uri(path);
        if let Some(h) = request.headers_mut() {
            *h = headers;
            if !h.contains_key(header::HOST) {
                if let Ok(v) = HeaderValue::from_str(&addr.to_string()) {
                    h.insert(header::HOST, v);
                }
            }
        }
        let request = request
            .body(Body::from(body))
            .map_err(|e| NetError::new(ErrorKind::Other, e))?;
        let router = server.router.clone();
        let handler = server.open.track_future(async move {
            let response = match router.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
            (parts, body)
        });
        let (parts, body) = match &server.group {
            Some(group) => group.spawn(handler).await.map_err(|_| {
                NetError::new(ErrorKind::Body, "connection reset: the instance died")
            })?,
            // The harness's own servers (the front door, the sink) answer in the caller's
            // task: nothing kills or freezes them apart from their caller.
            None => handler.await,
        };
        let body = body.map_err(|e| NetError::new(ErrorKind::Body, e))?;
        let back = self.one_way();
        if !back.is_zero() {
            tokio::time::sleep(back).await;
        }
        Ok(Answer::new(parts.status, parts.headers, body))
    }
}

/// `http://127.77.0.1:1024/path?q` as the address and `/path?q`.
fn split_url(url: &str) -> Result<(SocketAddr, &str), NetError> {
    let bad = || NetError::new(ErrorKind::Other, format!("not a simulated address: {url}"));
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let addr = authority.parse::<SocketAddr>().map_err(|_| bad())?;
    Ok((addr, path))
}

/// An address on the [`SimNet`], bound and not yet served.
pub struct SimListener {
    net: SimNet,
    addr: SocketAddr,
}

/// Takes the server off the network when its `serve` ends or is dropped (its instance
/// killed).
struct Registered {
    net: SimNet,
    addr: SocketAddr,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.net
            .inner
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.addr);
    }
}

impl SimListener {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `router` until `shutdown`, then refuses new requests and waits for the open
    /// ones.
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()>) {
        let open = TaskTracker::new();
        let server = Server {
            router,
            group: InstanceTasks::current(),
            open: open.clone(),
        };
        self.net
            .inner
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.addr, server);
        let registered = Registered {
            net: self.net.clone(),
            addr: self.addr,
        };
        shutdown.await;
        drop(registered);
        open.close();
        open.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{ClientOptions, Net};
    use axum::routing::get;

    #[tokio::test(start_paused = true)]
    async fn requests_reach_the_router_after_the_latency_and_refuse_when_nothing_serves() {
        let sim = SimNet::new(Dist::Fixed(1_000_000), 1);
        let net = Net::Sim(sim.clone());
        let listener = sim.bind();
        let addr = listener.addr();
        let stop = tokio_util::sync::CancellationToken::new();
        let router = Router::new().route("/x", get(|| async { "hello" }));
        let served = tokio::spawn(listener.serve(router, stop.clone().cancelled_owned()));
        tokio::task::yield_now().await;
        let client = net.client(ClientOptions::default());
        let start = tokio::time::Instant::now();
        let answer = client.get(format!("http://{addr}/x")).send().await.unwrap();
        assert_eq!(answer.text(), "hello");
        // 1 ms there and 1 ms back.
        assert_eq!(start.elapsed(), Duration::from_millis(2));
        // A latency under half a millisecond is none (tokio's timer counts whole ones).
        let quick = SimNet::new(Dist::Fixed(400_000), 1);
        assert_eq!(quick.one_way(), Duration::ZERO);
        let slow = SimNet::new(Dist::Fixed(1_600_000), 1);
        assert_eq!(slow.one_way(), Duration::from_millis(2));
        stop.cancel();
        served.await.unwrap();
        let refused = client
            .get(format!("http://{addr}/x"))
            .send()
            .await
            .unwrap_err();
        assert!(refused.is_connect(), "{refused}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_killed_servers_open_request_breaks() {
        let sim = SimNet::new(Dist::Fixed(0), 1);
        let net = Net::Sim(sim.clone());
        let group = InstanceTasks::new();
        let listener = sim.bind();
        let addr = listener.addr();
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
        group.spawn(listener.serve(router, std::future::pending()));
        tokio::task::yield_now().await;
        let client = net.client(ClientOptions::default());
        let call =
            tokio::spawn(async move { client.get(format!("http://{addr}/slow")).send().await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        group.kill();
        let broken = call.await.unwrap().unwrap_err();
        assert_eq!(broken.kind, ErrorKind::Body);
        assert!(sim.server(addr).is_none());
    }
}
