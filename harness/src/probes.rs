//! Open-loop availability probes through the front door, in two series as OpenShift's
//! disruption monitor has them: one on reused keep-alive connections and one on a new
//! connection each (`probes.connections`, `probes.new_connections`).
//!
//! Probe `i` is intended for `start + i / rate`, whatever happened to probe `i - 1`: a slow
//! answer never delays the next probe, and a late send keeps its intended time, so latency
//! and downtime measured from `intended_ns` are free of coordinated omission (wrk2). The
//! client's own lag (`sent_ns - intended_ns`) is recorded too, to show the harness measured
//! properly.
//!
//! The client is hyper's connection API rather than a pooled client, so that the harness
//! knows which connection each probe used, and can tell the failures a real proxy causes
//! apart: a refused connect, a reset, an idle keep-alive connection closed under a request
//! (`eof`: what an nginx reload does), a timeout, a status, or a wrong answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use reports::Probe;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::clock::Clock;
use tokio_util::sync::CancellationToken;

/// The largest answer body a probe reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The front door's address, and the `Host` header and path of the probed URL.
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    /// Probes per second, in each series.
    pub rate_per_s: u32,
    pub timeout: Duration,
    /// Keep-alive connections of the reused series (0: no such series).
    pub connections: u32,
    /// A series on a new connection per probe.
    pub new_connections: bool,
    /// The answer's body must match this.
    pub expect_body: Option<regex::Regex>,
    /// The answer must name one of these versions (JSON `version`).
    pub expect_versions: Option<Vec<String>>,
    /// Where each probe is also told as it ends, for an analysis running during the run.
    pub live: Option<crate::analysis::LiveProbes>,
    /// Names every probe's series (`conn`) instead of `reused`/`new`: the control probe's
    /// `control`.
    pub label: Option<String>,
    /// The network the front door is on: on the virtual-time platform's, a probe is one
    /// in-memory request (it has no connections to keep or lose).
    pub net: crate::net::Net,
}

impl ProbeConfig {
    /// Probes of `path` through the front door at `addr`, one keep-alive series.
    pub fn new(addr: SocketAddr, path: &str, rate_per_s: u32, timeout: Duration) -> ProbeConfig {
        ProbeConfig {
            addr,
            host: addr.to_string(),
            path: path.to_owned(),
            rate_per_s,
            timeout,
            connections: 4,
            new_connections: false,
            expect_body: None,
            expect_versions: None,
            live: None,
            label: None,
            net: crate::net::Net::Machine,
        }
    }
}

/// Idle keep-alive connections of the reused series.
#[derive(Default)]
struct Pool {
    idle: Vec<SendRequest<Empty<Bytes>>>,
}

/// How a probe went out: on which series, and on a connection it may keep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Series {
    Reused,
    New,
}

impl Series {
    fn as_str(self) -> &'static str {
        match self {
            Series::Reused => "reused",
            Series::New => "new",
        }
    }
}

struct Prober {
    config: ProbeConfig,
    /// The client on the virtual-time platform's network, when the front door is on it.
    sim_client: Option<crate::net::HttpClient>,
    clock: Clock,
    pool: Mutex<Pool>,
    /// One permit per connection of the reused series: a probe that finds every one busy
    /// waits for one (its latency still counts from its intended time, so the wait shows),
    /// rather than opening ever more connections under load.
    connections: Arc<Semaphore>,
}

/// Sends probes from `start` (whose wall-clock time is `start_ns`) until `stop`, and returns
/// them all, by intended time, once the last has answered or timed out.
pub async fn run(
    config: ProbeConfig,
    clock: Clock,
    start: Instant,
    start_ns: i64,
    stop: CancellationToken,
) -> Vec<Probe> {
    run_all(vec![config], clock, start, start_ns, stop).await
}

/// [`run`] for several targets at once (the front door and the control), on one schedule at
/// the first's rate, one scheduler thread and one runtime: a second client would double the
/// threads that wake every interval, on a machine the run already keeps busy.
pub async fn run_all(
    configs: Vec<ProbeConfig>,
    clock: Clock,
    start: Instant,
    start_ns: i64,
    stop: CancellationToken,
) -> Vec<Probe> {
    let rate_per_s = configs.first().map_or(1, |c| c.rate_per_s).max(1);
    let interval = Duration::from_nanos(1_000_000_000 / u64::from(rate_per_s));
    // Each probe of a tick: which target, on which series.
    let mut sends: Vec<(Arc<Prober>, Series)> = Vec::new();
    // A bound on probes in flight: every probe ends within its timeout, so twice the probes
    // of one timeout is only reached when the client itself is starved.
    let mut in_flight_limit = 64usize;
    // The first target's analysis, if it has one, hears of its probes as they end.
    let live = configs.first().and_then(|c| c.live.clone());
    for config in configs {
        let mut series = Vec::new();
        if config.connections > 0 {
            series.push(Series::Reused);
        }
        if config.new_connections {
            series.push(Series::New);
        }
        in_flight_limit +=
            (config.timeout.as_secs_f64() * f64::from(rate_per_s) * series.len() as f64 * 2.0)
                as usize;
        let prober = Arc::new(Prober {
            connections: Arc::new(Semaphore::new(config.connections.max(1) as usize)),
            sim_client: config
                .net
                .is_sim()
                .then(|| config.net.client(crate::net::ClientOptions::default())),
            config,
            clock,
            pool: Mutex::new(Pool::default()),
        });
        sends.extend(series.into_iter().map(|s| (prober.clone(), s)));
    }
    let permits = Arc::new(Semaphore::new(in_flight_limit));
    let (tx, mut rx) = mpsc::channel::<Probe>(4096);
    let collector = tokio::spawn(async move {
        let mut probes = Vec::new();
        while let Some(p) = rx.recv().await {
            if let Some(live) = live.as_ref().filter(|_| !p.is_control()) {
                live.push(crate::analysis::ProbeSample {
                    intended_ns: p.intended_ns,
                    ok: p.ok,
                    latency_ms: (p.done_ns - p.intended_ns) as f64 / 1e6,
                });
            }
            probes.push(p);
        }
        probes
    });
    // On the machine's clock the probes run on a runtime of their own, so that the harness's
    // own servers (the local front door, the sink) do not delay their sends; in virtual time
    // they run in the run's own runtime, on its clock.
    let own_runtime = (!clock.is_virtual()).then(|| {
        RuntimeGuard(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("probe")
                .enable_all()
                .build()
                .expect("the probes' runtime builds"),
        ))
    });
    let runtime = own_runtime
        .as_ref()
        .map_or_else(tokio::runtime::Handle::current, RuntimeGuard::handle);
    // Tick `i` of the schedule: every target's every series, each probe on `runtime`.
    let fire = move |i: u64| {
        let intended_ns = start_ns + (interval.as_nanos() as i64) * i as i64;
        for (prober, s) in &sends {
            let (prober, s, tx) = (prober.clone(), *s, tx.clone());
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                // The client cannot keep up: say so rather than skip the probe silently.
                let now_ns = prober.clock.now_ns();
                runtime.spawn(async move {
                    let probe = Probe {
                        error: Some("saturated".into()),
                        conn: Some(prober.series_name(s)),
                        ..Probe::new(intended_ns, now_ns, false)
                    };
                    let _ = tx.send(probe).await;
                });
                continue;
            };
            runtime.spawn(async move {
                let probe = prober.probe(intended_ns, s).await;
                let _ = tx.send(probe).await;
                drop(permit);
            });
        }
    };
    // The pacer owned the last sender but one; the spawned probes hold the rest.
    clock.pace(start, interval, stop, fire).await;
    let mut probes = collector.await.unwrap_or_default();
    probes.sort_by_key(|p| p.intended_ns);
    drop(own_runtime);
    probes
}

/// The probes' own runtime, shut down in the background when dropped: a runtime may not be
/// dropped on an async thread, and this one is (at the end, or when the run is aborted).
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl RuntimeGuard {
    fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("a runtime until dropped")
            .handle()
            .clone()
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Why a probe failed before any answer.
struct Failed(&'static str);

impl Prober {
    /// What `probes.csv` calls the series: its label (`control`), else `reused` or `new`.
    fn series_name(&self, series: Series) -> String {
        self.config
            .label
            .clone()
            .unwrap_or_else(|| series.as_str().to_owned())
    }

    async fn probe(&self, intended_ns: i64, series: Series) -> Probe {
        let deadline = self.clock.now() + self.config.timeout;
        let sent_ns = self.clock.now_ns();
        // The reused series has its `probes.connections` and no more, as wrk2 has: a probe
        // that finds all busy waits for one, and the wait is part of its latency, measured
        // from its intended time (the service is too slow for the rate on that many
        // connections). Opening more instead melts a front door under thousands a second.
        let permit = match series {
            Series::New => Ok(None),
            Series::Reused => {
                let wait = self.connections.clone().acquire_owned();
                match tokio::time::timeout_at(deadline, wait).await {
                    Ok(Ok(permit)) => Ok(Some(permit)),
                    _ => Err(()),
                }
            }
        };
        let result = match permit {
            Ok(_permit) => tokio::time::timeout_at(deadline, self.exchange(series)).await,
            Err(()) => Ok(Err(Failed("timeout"))),
        };
        let done_ns = self.clock.now_ns();
        let mut probe = Probe {
            sent_ns: Some(sent_ns),
            conn: Some(self.series_name(series)),
            ..Probe::new(intended_ns, done_ns, false)
        };
        match result {
            Err(_) => probe.error = Some("timeout".into()),
            Ok(Err(Failed(why))) => probe.error = Some(why.into()),
            Ok(Ok((status, body))) => {
                probe.status = Some(status);
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let text = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                probe.instance = text("instance");
                probe.version = text("version");
                probe.ok = (200..300).contains(&status);
                if probe.ok {
                    if let Some(re) = &self.config.expect_body {
                        if !re.is_match(&String::from_utf8_lossy(&body)) {
                            probe.ok = false;
                            probe.error = Some("body".into());
                        }
                    }
                }
                if probe.ok {
                    if let Some(versions) = &self.config.expect_versions {
                        if !probe.version.as_ref().is_some_and(|v| versions.contains(v)) {
                            probe.ok = false;
                            probe.error = Some("version".into());
                        }
                    }
                }
            }
        }
        probe
    }

    /// One request and its answer's status and body, on a pooled connection or a new one
    /// (the caller holds the reused series' connection permit).
    async fn exchange(&self, series: Series) -> Result<(u16, Bytes), Failed> {
        if let Some(client) = &self.sim_client {
            return self.exchange_sim(client).await;
        }
        let (mut sender, pooled) = match series {
            Series::New => (self.connect().await?, false),
            Series::Reused => match self.take_ready().await {
                Some(s) => (s, true),
                None => (self.connect().await?, true),
            },
        };
        let mut request = hyper::Request::get(self.config.path.as_str())
            .header(hyper::header::HOST, self.config.host.as_str());
        if series == Series::New {
            request = request.header(hyper::header::CONNECTION, "close");
        }
        let request = request.body(Empty::new()).map_err(|_| Failed("io"))?;
        let mut closing = false;
        let answer = async {
            let response = sender.send_request(request).await.map_err(classify)?;
            let status = response.status().as_u16();
            // `Connection: close` (HAProxy's idle-close-on-response at a reload): the server
            // will close this one; it is not kept for the next probe.
            closing = response
                .headers()
                .get(hyper::header::CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|_| Failed("io"))?
                .to_bytes();
            Ok((status, body))
        }
        .await;
        // A broken or closing connection leaves the pool; the next probe opens another.
        if pooled && answer.is_ok() && !closing && !sender.is_closed() {
            self.pool.lock().expect("probe pool").idle.push(sender);
        }
        answer
    }

    /// One probe on the virtual-time platform's network.
    async fn exchange_sim(&self, client: &crate::net::HttpClient) -> Result<(u16, Bytes), Failed> {
        use crate::net::ErrorKind;
        let host =
            hyper::header::HeaderValue::from_str(&self.config.host).map_err(|_| Failed("io"))?;
        let answer = client
            .get(format!("http://{}{}", self.config.addr, self.config.path))
            .header(hyper::header::HOST, host)
            .send()
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Connect => Failed("refused"),
                ErrorKind::Timeout => Failed("timeout"),
                ErrorKind::Body => Failed("reset"),
                ErrorKind::Other => Failed("io"),
            })?;
        let mut body = answer.bytes().clone();
        body.truncate(MAX_BODY_BYTES);
        Ok((answer.status().as_u16(), body))
    }

    /// An idle connection that can take a request now. hyper refuses a second request until
    /// the connection's task has read the end of the previous answer, and a connection the
    /// server closed while idle is no use: either is dropped (nothing was written on it),
    /// which is not a probe failure. What is left is the real race: a request written just
    /// as the server closes the connection.
    async fn take_ready(&self) -> Option<SendRequest<Empty<Bytes>>> {
        loop {
            let mut sender = self.pool.lock().expect("probe pool").idle.pop()?;
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, Failed> {
        let stream = tokio::net::TcpStream::connect(self.config.addr)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Failed("refused"),
                std::io::ErrorKind::ConnectionReset => Failed("reset"),
                _ => Failed("connect"),
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(classify)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// A transport failure in the words of `probes.csv`'s `error` column.
fn classify(e: hyper::Error) -> Failed {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    Failed("reset")
                }
                std::io::ErrorKind::ConnectionRefused => Failed("refused"),
                std::io::ErrorKind::UnexpectedEof => Failed("eof"),
                std::io::ErrorKind::TimedOut => Failed("timeout"),
                _ => Failed("io"),
            };
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        Failed("eof")
    } else {
        Failed("io")
    }
}

/// Quantiles of the probe client's send lag (`sent_ns - intended_ns`), in ms.
pub fn send_lag_ms(probes: &[Probe]) -> Option<reports::verdict::Quantiles> {
    let mut lags: Vec<i64> = probes
        .iter()
        .filter_map(|p| p.sent_ns.map(|s| (s - p.intended_ns).max(0)))
        .collect();
    if lags.is_empty() {
        return None;
    }
    lags.sort_unstable();
    // Nearest rank: the smallest lag with at least q of the probes at or below it.
    let at = |q: f64| {
        let rank = ((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len());
        lags[rank - 1] as f64 / 1e6
    };
    Some(reports::verdict::Quantiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_lag_quantiles_by_nearest_rank() {
        let probes: Vec<Probe> = (1..=100)
            .map(|i| Probe {
                sent_ns: Some(i * 10 + i * 1_000_000),
                ..Probe::new(i * 10, 0, true)
            })
            .collect();
        let q = send_lag_ms(&probes).unwrap();
        assert_eq!((q.p50, q.p90, q.p99, q.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(send_lag_ms(&[Probe::new(1, 2, false)]), None);
    }
}
