//! An open-loop load generator for the sink: `rate` items a second for `duration`, spread
//! over `connections` keep-alive connections, each item numbered once (see [`super`]).
//!
//! Request `k` (carrying items `k * batch ..`) is intended for `start + k * batch / rate`
//! and goes out on connection `k % connections`, whatever happened to request `k - 1`: a slow
//! answer delays only the requests queued behind it on its own connection, and every
//! latency is measured from the intended time, so it is free of coordinated omission (wrk2).
//! Nothing is retried: a retry of an item whose first try was written would be a duplicate,
//! and the soak must see the sink's own answers. Everything is bounded: the number of
//! requests, each request's time (`timeout`), and the whole run (`duration + grace`, after
//! which unsent requests are counted as not sent).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use reports::verdict::Quantiles;
use serde::{Deserialize, Serialize};
use sink::wire::Item;
use tokio::time::Instant;

use super::{Numbering, ACKED_HEADER, LOAD_SCHEMA, SOURCE, VERSION};

/// The most items one load may plan: its outcome table is one byte per request.
pub const MAX_ITEMS: u64 = 100_000_000;
/// The most connections one load may open.
pub const MAX_CONNECTIONS: usize = 4096;
/// The most items one request may carry (the sink's default body limit holds about 8000).
pub const MAX_BATCH: u64 = 5_000;
/// The largest answer body read; the sink's answers are a few dozen bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A validated load: what to send, where, how fast and for how long.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// The sink; a loopback address only, so the soak never loads another machine.
    pub addr: SocketAddr,
    pub rate_per_s: u64,
    pub connections: usize,
    /// Items per request: 1 sends a lone JSON object, more a JSON array.
    pub batch: u64,
    pub duration: Duration,
    /// How long after `duration` requests still queued may go out before the load stops.
    pub grace: Duration,
    /// The longest one request may take, connecting included.
    pub timeout: Duration,
}

/// Why a plan was refused, before anything was sent.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the soak loads only this machine: {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    #[error("{what} must be between 1 and {max} (got {got})")]
    OutOfRange {
        what: &'static str,
        max: u64,
        got: u64,
    },
    #[error("rate x duration plans {0} items; the most is {MAX_ITEMS}")]
    TooManyItems(u64),
}

impl LoadPlan {
    pub fn new(
        addr: SocketAddr,
        rate_per_s: u64,
        connections: usize,
        batch: u64,
        duration: Duration,
    ) -> Result<LoadPlan, PlanError> {
        if !addr.ip().is_loopback() {
            return Err(PlanError::NotLoopback(addr));
        }
        let range = |what, got: u64, max: u64| {
            if (1..=max).contains(&got) {
                Ok(())
            } else {
                Err(PlanError::OutOfRange { what, max, got })
            }
        };
        range("rate", rate_per_s, MAX_ITEMS)?;
        range("connections", connections as u64, MAX_CONNECTIONS as u64)?;
        range("batch", batch, MAX_BATCH)?;
        let plan = LoadPlan {
            addr,
            rate_per_s,
            connections,
            batch,
            duration,
            grace: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        };
        match plan.items() {
            0 => Err(PlanError::OutOfRange {
                what: "rate x duration (items)",
                max: MAX_ITEMS,
                got: 0,
            }),
            n if n > MAX_ITEMS => Err(PlanError::TooManyItems(n)),
            _ => Ok(plan),
        }
    }

    pub fn numbering(&self) -> Numbering {
        Numbering {
            items_per_m: self.rate_per_s,
        }
    }

    /// Items in the schedule: `rate x duration`, rounded down.
    pub fn items(&self) -> u64 {
        (self.rate_per_s as u128 * self.duration.as_nanos() / 1_000_000_000) as u64
    }

    pub fn requests(&self) -> u64 {
        self.items().div_ceil(self.batch)
    }

    /// When request `k` is intended, from the start of the schedule.
    pub fn intended(&self, k: u64) -> Duration {
        let ns = k as u128 * self.batch as u128 * 1_000_000_000 / self.rate_per_s as u128;
        Duration::from_nanos(ns as u64)
    }

    /// The item ids request `k` carries.
    pub fn ids(&self, k: u64) -> std::ops::Range<u64> {
        let first = k * self.batch;
        first..(first + self.batch).min(self.items())
    }

    /// The body of request `k`, sent on connection `conn` at `sent_ns`.
    pub fn body(&self, k: u64, conn: usize, sent_ns: u64) -> Bytes {
        let instance = format!("load-{conn}");
        let numbering = self.numbering();
        let items: Vec<Item<'_>> = self
            .ids(k)
            .map(|id| {
                let (m, n) = numbering.key(id);
                Item {
                    source: SOURCE.into(),
                    m,
                    n,
                    version: VERSION.into(),
                    instance: Some(instance.as_str().into()),
                    attempt: Some(1),
                    sent_ns: Some(sent_ns),
                }
            })
            .collect();
        let json = if self.batch == 1 {
            serde_json::to_vec(&items[0])
        } else {
            serde_json::to_vec(&items)
        };
        Bytes::from(json.expect("an item always serializes"))
    }
}

/// Why a request got no 2xx answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The sink answered with this status (it recorded nothing).
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made.
    Connect,
    /// The connection closed before the answer came.
    Eof,
    /// Any other transport error.
    Io,
}

impl Failure {
    /// The name `load.json` counts it under.
    pub fn kind(self) -> String {
        match self {
            Failure::Status(s) => format!("http_{s}"),
            Failure::Timeout => "timeout".into(),
            Failure::Connect => "connect".into(),
            Failure::Eof => "eof".into(),
            Failure::Io => "io".into(),
        }
    }
}

/// What became of one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// The load stopped (at `duration + grace`) before sending it.
    #[default]
    NotSent,
    /// 2xx: the sink says every item of it is written.
    Acked,
    /// The sink answered with another status: nothing of it is written.
    Refused,
    /// No answer: its items may or may not be written.
    Failed,
}

/// What `soak load` writes into `load.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub schema: String,
    pub addr: String,
    pub rate_per_s: u64,
    pub connections: usize,
    pub batch: u64,
    pub duration_s: f64,
    pub source: String,
    pub version: String,
    /// `m = id / items_per_m`, `n = id % items_per_m`.
    pub items_per_m: u64,
    /// The wall clock at the start of the schedule, ns since the Unix epoch.
    pub started_ns: u64,
    pub planned_items: u64,
    pub sent_items: u64,
    pub acked_items: u64,
    /// Items of requests answered with a non-2xx status.
    pub refused_items: u64,
    /// Items of requests that got no answer.
    pub failed_items: u64,
    pub not_sent_items: u64,
    pub acked_requests: u64,
    /// Requests without a 2xx answer, by [`Failure::kind`].
    pub errors: BTreeMap<String, u64>,
    /// From the start of the schedule to the end of the last request.
    pub elapsed_s: f64,
    /// Acknowledged items per second of `elapsed_s`.
    pub achieved_rate_per_s: f64,
    /// How late requests went out (`sent - intended`): the generator's own lag.
    pub send_lag_ms: Quantiles,
    /// From the intended time to the 2xx answer, over acknowledged requests.
    pub latency_ms: Quantiles,
}

/// One connection's share of the load.
struct Worker {
    conn: usize,
    /// Outcome of its `j`-th request, which is request `conn + j * connections`.
    outcomes: Vec<Outcome>,
    failures: BTreeMap<Failure, u64>,
    send_lag_us: Histogram<u64>,
    latency_us: Histogram<u64>,
    /// When its last request ended, answered or not.
    last_answer: Option<Instant>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("valid histogram precision")
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Runs the load to its end (every request sent, or `duration + grace` passed) and returns
/// its report and the outcome of every request, in request order.
pub async fn run(plan: LoadPlan) -> (LoadReport, Vec<Outcome>) {
    let plan = Arc::new(plan);
    // A little slack before the first request, so connections are made on the schedule's
    // first ticks rather than before it.
    let start = Instant::now() + Duration::from_millis(100);
    let started_ns = sink::clock::now_ns() + 100_000_000;
    let deadline = start + plan.duration + plan.grace;
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..plan.connections {
        tasks.spawn(worker(plan.clone(), conn, start, deadline));
    }
    let mut workers = Vec::with_capacity(plan.connections);
    while let Some(w) = tasks.join_next().await {
        workers.push(w.expect("a load worker never panics"));
    }
    merge(&plan, workers, start, started_ns)
}

async fn worker(plan: Arc<LoadPlan>, conn: usize, start: Instant, deadline: Instant) -> Worker {
    let mut w = Worker {
        conn,
        outcomes: Vec::new(),
        failures: BTreeMap::new(),
        send_lag_us: histogram(),
        latency_us: histogram(),
        last_answer: None,
    };
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let requests = plan.requests();
    let mut k = conn as u64;
    while k < requests {
        let intended = start + plan.intended(k);
        tokio::time::sleep_until(intended).await;
        let sent = Instant::now();
        if sent >= deadline {
            break;
        }
        let _ = w.send_lag_us.record(micros(sent - intended));
        let body = plan.body(k, conn, sink::clock::now_ns());
        let answer = tokio::time::timeout(plan.timeout, post(&mut sender, plan.addr, body)).await;
        let done = Instant::now();
        let outcome = match answer {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                let _ = w.latency_us.record(micros(done - intended));
                Outcome::Acked
            }
            Ok(Ok(status)) => {
                *w.failures.entry(Failure::Status(status)).or_default() += 1;
                Outcome::Refused
            }
            Ok(Err(failure)) => {
                *w.failures.entry(failure).or_default() += 1;
                Outcome::Failed
            }
            Err(_) => {
                *w.failures.entry(Failure::Timeout).or_default() += 1;
                Outcome::Failed
            }
        };
        if outcome != Outcome::Acked {
            // Whatever the connection's state, the next request starts on a fresh one.
            sender = None;
        }
        w.last_answer = Some(done);
        w.outcomes.push(outcome);
        k += plan.connections as u64;
    }
    w
}

/// Sends one body as `POST /items` on the connection, making it first if there is none,
/// and reads the whole answer so the connection can be reused. Returns the status.
async fn post(
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
    body: Bytes,
) -> Result<u16, Failure> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(addr).await?);
    }
    let s = sender.as_mut().expect("connected above");
    s.ready().await.map_err(classify)?;
    let request = hyper::Request::post("/items")
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .expect("a valid request");
    let answer = s.send_request(request).await.map_err(classify)?;
    let status = answer.status().as_u16();
    Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|_| Failure::Io)?;
    Ok(status)
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|_| Failure::Connect)?;
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

fn classify(e: hyper::Error) -> Failure {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        Failure::Eof
    } else {
        Failure::Io
    }
}

fn quantiles_ms(h: &Histogram<u64>) -> Quantiles {
    if h.is_empty() {
        return Quantiles::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Quantiles {
        p50: ms(h.value_at_quantile(0.5)),
        p90: ms(h.value_at_quantile(0.9)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    }
}

fn merge(
    plan: &LoadPlan,
    workers: Vec<Worker>,
    start: Instant,
    started_ns: u64,
) -> (LoadReport, Vec<Outcome>) {
    let mut outcomes = vec![Outcome::NotSent; plan.requests() as usize];
    let mut failures: BTreeMap<Failure, u64> = BTreeMap::new();
    let mut send_lag = histogram();
    let mut latency = histogram();
    let mut last_answer = start;
    for w in workers {
        for (j, outcome) in w.outcomes.iter().enumerate() {
            outcomes[w.conn + j * plan.connections] = *outcome;
        }
        for (f, n) in w.failures {
            *failures.entry(f).or_default() += n;
        }
        send_lag.add(&w.send_lag_us).expect("same histogram bounds");
        latency.add(&w.latency_us).expect("same histogram bounds");
        last_answer = last_answer.max(w.last_answer.unwrap_or(start));
    }
    let mut items = BTreeMap::<&str, u64>::new();
    let mut acked_requests = 0;
    for (k, outcome) in outcomes.iter().enumerate() {
        let n = plan.ids(k as u64).count() as u64;
        let name = match outcome {
            Outcome::NotSent => "not_sent",
            Outcome::Acked => {
                acked_requests += 1;
                "acked"
            }
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        };
        *items.entry(name).or_default() += n;
    }
    let count = |name| items.get(name).copied().unwrap_or(0);
    let elapsed_s = (last_answer - start).as_secs_f64();
    let report = LoadReport {
        schema: LOAD_SCHEMA.into(),
        addr: plan.addr.to_string(),
        rate_per_s: plan.rate_per_s,
        connections: plan.connections,
        batch: plan.batch,
        duration_s: plan.duration.as_secs_f64(),
        source: SOURCE.into(),
        version: VERSION.into(),
        items_per_m: plan.numbering().items_per_m,
        started_ns,
        planned_items: plan.items(),
        sent_items: plan.items() - count("not_sent"),
        acked_items: count("acked"),
        refused_items: count("refused"),
        failed_items: count("failed"),
        not_sent_items: count("not_sent"),
        acked_requests,
        errors: failures.into_iter().map(|(f, n)| (f.kind(), n)).collect(),
        elapsed_s,
        achieved_rate_per_s: if elapsed_s > 0.0 {
            count("acked") as f64 / elapsed_s
        } else {
            0.0
        },
        send_lag_ms: quantiles_ms(&send_lag),
        latency_ms: quantiles_ms(&latency),
    };
    (report, outcomes)
}

/// The acknowledged item ids as inclusive ranges, ascending.
pub fn acked_ranges(plan: &LoadPlan, outcomes: &[Outcome]) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for (k, outcome) in outcomes.iter().enumerate() {
        if *outcome != Outcome::Acked {
            continue;
        }
        let ids = plan.ids(k as u64);
        let (first, last) = (ids.start, ids.end - 1);
        match ranges.last_mut() {
            Some(r) if r.1 + 1 == first => r.1 = last,
            _ => ranges.push((first, last)),
        }
    }
    ranges
}

/// Writes `load.json` and `acked.csv` into `dir`.
pub fn write(
    dir: &Path,
    plan: &LoadPlan,
    report: &LoadReport,
    outcomes: &[Outcome],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(super::LOAD_FILE);
    let json = serde_json::to_string_pretty(report).expect("a report always serializes");
    std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    let path = dir.join(super::ACKED_FILE);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    writeln!(out, "{ACKED_HEADER}")?;
    for (first, last) in acked_ranges(plan, outcomes) {
        writeln!(out, "{first},{last}")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: u64, connections: usize, batch: u64, secs: u64) -> LoadPlan {
        LoadPlan::new(
            "127.0.0.1:9".parse().unwrap(),
            rate,
            connections,
            batch,
            Duration::from_secs(secs),
        )
        .unwrap()
    }

    #[test]
    fn the_schedule_spreads_items_evenly() {
        let p = plan(10_000, 64, 1, 600);
        assert_eq!(p.items(), 6_000_000);
        assert_eq!(p.requests(), 6_000_000);
        assert_eq!(p.intended(10_000), Duration::from_secs(1));
        let p = plan(1000, 4, 7, 1);
        assert_eq!(p.requests(), 143);
        assert_eq!(p.ids(142), 994..1000);
        assert_eq!(p.intended(1), Duration::from_millis(7));
    }

    #[test]
    fn only_loopback_and_bounded_plans_are_accepted() {
        let far = LoadPlan::new(
            "10.0.0.1:80".parse().unwrap(),
            1,
            1,
            1,
            Duration::from_secs(1),
        );
        assert!(matches!(far, Err(PlanError::NotLoopback(_))));
        let huge = LoadPlan::new(
            "[::1]:80".parse().unwrap(),
            1_000_000,
            1,
            1,
            Duration::from_secs(1000),
        );
        assert_eq!(huge.unwrap_err(), PlanError::TooManyItems(1_000_000_000));
        let none = LoadPlan::new(
            "127.0.0.1:80".parse().unwrap(),
            1,
            1,
            1,
            Duration::from_millis(10),
        );
        assert!(matches!(none, Err(PlanError::OutOfRange { got: 0, .. })));
    }

    #[test]
    fn bodies_are_the_sinks_wire_format() {
        let p = plan(1000, 2, 1, 2);
        let one = p.body(1037, 1, 5);
        let items = sink::wire::parse_body(&one).unwrap();
        assert_eq!(items.len(), 1);
        assert!(one.starts_with(b"{"), "a lone object for batch 1");
        assert_eq!(items[0].label().to_string(), "A(1,37)");
        assert_eq!(items[0].instance.as_deref(), Some("load-1"));
        let p = plan(1000, 2, 3, 2);
        let three = p.body(1, 0, 5);
        let items = sink::wire::parse_body(&three).unwrap();
        let labels: Vec<String> = items.iter().map(|i| i.label().to_string()).collect();
        assert_eq!(labels, ["A(0,3)", "A(0,4)", "A(0,5)"]);
    }

    #[test]
    fn acked_ranges_join_neighbours_and_skip_the_rest() {
        let p = plan(10, 1, 2, 1); // 10 items in 5 requests
        use Outcome::*;
        let outcomes = [Acked, Acked, Failed, Acked, NotSent];
        assert_eq!(acked_ranges(&p, &outcomes), [(0, 3), (6, 7)]);
    }
}
