//! The run's own sink, in process on a listener the runner binds, and the fault proxy in
//! front of it when the scenario has sink-path faults: started before the platform, stopped
//! after it, so every item an instance managed to send is on disk. What the sink refused is
//! judged here: a refused item makes the run invalid.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::measured::Measured;
use crate::clock::Clock;
use crate::fault_proxy::FaultProxy;
use crate::ledger::Ledger;
use crate::net::serve::Listener;
use crate::net::Net;
use crate::run_plan::RunPlan;

/// The run's own sink, as the run sees it.
pub struct SinkSide {
    /// Where the apps send their items: the sink, or the fault proxy in front of it.
    pub app_url: String,
    /// The sink's bearer token, when it has one.
    pub token: Option<String>,
    /// Where the control probe reaches it directly (its `/health`).
    pub control: SocketAddr,
    /// The network the run talks on, which the sink serves on.
    pub net: Net,
    /// The fault proxy in front of it, when the run has sink-path faults.
    pub proxy: Option<FaultProxy>,
    /// Cancelled when the sink stops before the run asked it to.
    pub died: CancellationToken,
    /// Stops it, for a `sink_crash` fault.
    pub abort: tokio::task::AbortHandle,
    /// Asks the sink to stop ("stop"); its task ending is "all done".
    stop: CancellationToken,
    task: JoinHandle<SinkEnded>,
    /// Asks the proxy to stop; its task ending is "all done".
    proxy_stop: CancellationToken,
    proxy_task: Option<JoinHandle<()>>,
    /// The sink's cap on connections, for what its refusals say.
    max_connections: usize,
}

/// How the sink's serving ended, as its task saw it.
type SinkEnded = Result<Result<sink::Summary, sink::SinkError>, tokio::task::JoinError>;

impl SinkSide {
    /// Starts the sink (and the proxy the scenario's faults need); the sink's death before
    /// the run asks it to stop goes into the ledger (`sink_died`) and cancels `died`.
    pub async fn start(
        plan: &RunPlan,
        ledger: &Ledger,
        clock: Clock,
        net: &Net,
    ) -> Result<SinkSide, String> {
        let s = &plan.scenario;
        let listen = s.sink.listen.as_deref().unwrap_or("127.0.0.1:0");
        let token = s.sink.token()?;
        let listener = Listener::bind(net, listen)
            .await
            .map_err(|e| format!("binding the sink's listener on {listen}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the sink's address: {e}"))?;
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(sink::SinkError::Unprotected(addr).to_string());
        }
        let mut config = sink::Config::new(&plan.out_dir);
        config.clock = Arc::new(clock);
        config.token = token.clone();
        config.max_connections = plan.sink_max_connections;
        if net.is_sim() {
            // In virtual time nothing may wait on another thread, and a simulated run's file
            // has no power cut to survive.
            config.inline_writer = true;
            config.fsync = sink::FsyncPolicy::Never;
        }
        let sink = sink::Sink::open(config).map_err(|e| format!("opening the sink: {e}"))?;
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let serve = match listener {
            Listener::Tcp(l) => tokio::spawn(sink.serve(l, shutdown)),
            Listener::Sim(l) => {
                tokio::spawn(sink.serve_mounted(move |router| l.serve(router, shutdown)))
            }
        };
        let abort = serve.abort_handle();
        let died = CancellationToken::new();
        let task = tokio::spawn(watch(serve, stop.clone(), died.clone(), ledger.clone()));
        let mut side = SinkSide {
            app_url: s
                .sink
                .url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            token,
            control: connectable(addr),
            net: net.clone(),
            proxy: None,
            died,
            abort,
            stop,
            task,
            proxy_stop: CancellationToken::new(),
            proxy_task: None,
            max_connections: plan.sink_max_connections,
        };
        // Sink-path faults need a proxy between the apps and the sink: the apps are given
        // its address instead of the sink's.
        if s.has_sink_faults() {
            if net.is_sim() {
                side.stop_quietly().await;
                return Err("sink-path faults need the machine's network (a real proxy)".into());
            }
            let bound = tokio::net::TcpListener::bind("127.0.0.1:0").await;
            let listener = match bound {
                Ok(l) => l,
                Err(e) => {
                    side.stop_quietly().await;
                    return Err(format!("binding the fault proxy's listener: {e}"));
                }
            };
            let proxy = FaultProxy::new(side.control, plan.seed, clock);
            if let Ok(a) = listener.local_addr() {
                side.app_url = format!("http://{a}");
            }
            side.proxy_task = Some(tokio::spawn(
                proxy.clone().serve(listener, side.proxy_stop.clone()),
            ));
            side.proxy = Some(proxy);
        }
        Ok(side)
    }

    /// Stops a sink nothing was measured with.
    async fn stop_quietly(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Stops the proxy, then the sink, and says in `measured` what the sink refused.
    pub async fn stop(self, measured: &mut Measured) {
        self.proxy_stop.cancel();
        if let Some(p) = self.proxy_task {
            let _ = p.await;
        }
        self.stop.cancel();
        let sink_died = self.died.is_cancelled();
        match self.task.await.unwrap_or_else(Err) {
            // The run already says the sink died.
            _ if sink_died => {}
            Ok(Ok(summary)) => judge_refusals(&summary, self.max_connections, measured),
            Ok(Err(e)) => measured.invalid.push(format!("the sink failed: {e}")),
            Err(e) => measured
                .invalid
                .push(format!("the sink's task failed: {e}")),
        }
    }
}

/// Waits for the sink to end; an end the run did not ask for is its death.
async fn watch(
    serve: JoinHandle<Result<sink::Summary, sink::SinkError>>,
    stop: CancellationToken,
    died: CancellationToken,
    ledger: Ledger,
) -> SinkEnded {
    let joined = serve.await;
    if !stop.is_cancelled() {
        let reason = match &joined {
            Ok(Ok(_)) => "it stopped serving".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(e) if e.is_cancelled() => "it was stopped (a sink_crash fault)".into(),
            Err(e) => format!("its task failed: {e}"),
        };
        ledger.record(
            ledger
                .event(reports::ledger::Kind::SinkDied, "", "", "")
                .with("reason", &reason),
        );
        died.cancel();
    }
    joined
}

/// Refused items are items the run cannot judge: the run is invalid. Refused events,
/// leases and unauthorized requests (anyone on the network may knock) are reported, not
/// held against the measurement.
fn judge_refusals(summary: &sink::Summary, max_connections: usize, measured: &mut Measured) {
    let (items, other): (Vec<_>, Vec<_>) = summary
        .stats
        .rejected
        .iter()
        .filter(|(_, n)| **n > 0)
        .partition(|(kind, _)| {
            !matches!(
                kind.as_str(),
                "invalid_event" | "invalid_lease" | "unauthorized" | "overloaded"
            )
        });
    // Past the connection cap any request may have been an item's.
    if let Some(n) = summary.stats.rejected.get("overloaded").filter(|n| **n > 0) {
        measured.invalid.push(format!(
            "the sink refused {n} request(s) past its cap of {max_connections} \
             connections (overloaded): items may be missing"
        ));
    }
    let list = |kinds: &[(&String, &u64)]| {
        kinds
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !items.is_empty() {
        let n: u64 = items.iter().map(|(_, n)| **n).sum();
        measured.invalid.push(format!(
            "the sink refused {n} request(s) ({}): the function sent malformed items",
            list(&items)
        ));
    }
    if !other.is_empty() {
        measured.notes.push(format!(
            "the sink refused other requests ({}): see its log; items were not affected",
            list(&other)
        ));
    }
}

/// An address to connect to for one a server bound: a wildcard bind is reached on loopback.
fn connectable(bound: SocketAddr) -> SocketAddr {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
