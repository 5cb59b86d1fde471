//! The host: the local platform's emulator of a function platform's machinery.
//!
//! It runs instances of the function as real child processes, each in its own process
//! group, on free loopback ports; keeps them in slots (`production`, `staging`); routes the
//! front door's HTTP requests round-robin to the ready production instances; invokes timer
//! runs on the instance holding the timer lease, and keeps that lease on a ready production
//! instance whenever instances change; and records every platform event in the
//! [`Ledger`]. Strategies drive it through typed operations only: start, warm up, set and
//! read the app's mode, drain, swap slots, signal, kill.
//!
//! Nothing is left behind: every child gets `PR_SET_PDEATHSIG` (it dies with the harness),
//! and dropping the last handle on the host SIGKILLs every process group still alive.
//!
//! One noun, kept whole past 600 lines: an instance's life (spawn, readiness, exit, signals,
//! routing, the lease) is one state machine over one lock; its calls are in `host/calls.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reports::ledger::{Kind, LedgerEvent};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::launcher::{Control, Launcher, Signal};
use super::queue::store::Queue;
use super::timer::state::TimerState;
use crate::platform::ledger::Ledger;
use crate::protocol::SendReport;
pub use crate::strategy::instances::{InstanceView, Phase};
use crate::testfn::Work;

pub mod calls;
mod instances;

pub const PRODUCTION: &str = "production";
pub const STAGING: &str = "staging";

/// Instances one run may start in all, whatever starts them: the deploy, each update and
/// rollback, retries of a release that fails to start, scale-out, a fault's restarts. Ten
/// times the most of one version ([`crate::scenario::MAX_INSTANCES`]), so no planned run
/// meets it: a run that does is a crash loop that would otherwise go on to its end. Past
/// it a start fails at once, like any failed start, and the ledger says so once
/// (`instance_limit`).
pub const MAX_INSTANCES_STARTED: u64 = 10 * crate::scenario::MAX_INSTANCES as u64;

/// How instances are started and what they run.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The function: the built-in `harness testfn`, or an app speaking its protocol.
    pub program: crate::app::AppProgram,
    pub sink_url: String,
    pub stash_dir: PathBuf,
    /// Each instance's stderr goes to `log_dir/<instance>.log`.
    pub log_dir: PathBuf,
    /// What every instance is started to do.
    pub work: Work,
    /// Cold start: how long an instance waits before it serves.
    pub startup_delay: Duration,
    /// How long a new instance may take to print its address and answer `/health`.
    pub ready_timeout: Duration,
    /// Longest a timer invocation may run before the host gives up on it.
    pub invoke_timeout: Duration,
    /// The sink's bearer token, given to every instance (`TESTFN_SINK_TOKEN`), when it has one.
    pub sink_token: Option<String>,
    /// Where every line an instance writes on stderr is stamped as it arrives
    /// (`traces.csv`), when the run keeps traces.
    pub traces: Option<super::traces::Traces>,
    /// A bad release: the version, and the flags its instances get (`--start unready`, ...).
    pub release: Option<(String, Vec<String>)>,
}

pub(super) struct Entry {
    pub(super) view: InstanceView,
    /// Its signals (SIGTERM, SIGKILL), however it runs.
    control: Arc<dyn Control>,
    /// Becomes `Some(description)` when the process has exited.
    exited: watch::Receiver<Option<String>>,
    /// Invocations (timer runs, queue messages) in progress on it.
    in_flight: Arc<AtomicU32>,
    /// HTTP requests through the front door in progress on it.
    http_in_flight: Arc<AtomicU32>,
}

/// Counts one piece of work in flight on an instance while it lives.
pub struct InFlight(Arc<AtomicU32>);

impl InFlight {
    fn new(counter: &Arc<AtomicU32>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
pub(super) struct State {
    pub(super) instances: BTreeMap<String, Entry>,
    next_seq: u64,
    /// Next index per version, for instance ids like `b-2`.
    next_index: BTreeMap<String, u32>,
    /// Starts so far, refused ones not counted; at most the instance limit.
    started: u64,
    /// The ledger has said the instance limit was met.
    limit_said: bool,
    round_robin: usize,
    pub(super) timer: TimerState,
    /// The version the newest update moves to: an older update's replacements stand down.
    target_version: Option<String>,
}

/// How a timer invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok { sent: u32, stashed: u32 },
    Failed { reason: String },
    Killed { reason: String },
}

pub(super) struct Inner {
    config: HostConfig,
    pub(super) ledger: Ledger,
    /// How instances are started: processes, or in this process.
    launcher: Arc<dyn Launcher>,
    state: Mutex<State>,
    client: reqwest::Client,
    next_invocation: AtomicU64,
    /// Every background invocation, so the runner can wait for in-flight work to settle.
    tasks: TaskTracker,
    /// The storage queue: the host owns it, so it outlives every instance.
    queue: Queue,
    /// Instances a strategy has promised to start and not yet started (a rolling update's
    /// replacements waiting out their start delay): the scale controller counts them.
    pending_starts: Arc<AtomicU32>,
    /// When the run's schedule ends: a strategy retrying a start that keeps failing gives
    /// up then.
    deadline: Mutex<Option<tokio::time::Instant>>,
    /// Instances this run may start in all ([`MAX_INSTANCES_STARTED`] unless a test says).
    instance_limit: AtomicU64,
}

/// A promised start, counted by [`Host::capacity`] until the instance exists.
pub struct StartPromise(Arc<AtomicU32>);

impl Drop for StartPromise {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for entry in state.instances.values() {
            if entry.exited.borrow().is_none() {
                entry.control.signal(Signal::Kill);
            }
        }
    }
}

/// An instance whose phase the host just changed: what it needs to signal it and wait.
struct Signalled {
    view: InstanceView,
    exited: watch::Receiver<Option<String>>,
    control: Arc<dyn Control>,
}

/// A cheap-to-clone handle on the host.
#[derive(Clone)]
pub struct Host {
    pub(super) inner: Arc<Inner>,
}

/// Reads an instance's stdout to its end: the first line (its address) goes to `address`;
/// then its send reports, so that what it sent and the sink never acknowledged can be put
/// in the ledger when it exits (with the time each was first reported sent). Other lines
/// are skipped; reading on keeps a chatty app from blocking on a full pipe.
async fn read_stdout(
    stdout: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    address: tokio::sync::oneshot::Sender<String>,
    ledger: Ledger,
) -> Vec<(i64, SendReport)> {
    // Split on bytes, not UTF-8 lines: a line of garbage must not stop the reading.
    let mut lines = BufReader::new(stdout).split(b'\n');
    match lines.next_segment().await {
        Ok(Some(first)) => {
            let _ = address.send(String::from_utf8_lossy(&first).into_owned());
        }
        _ => return Vec::new(),
    }
    let mut pending: HashMap<(String, u64, u64), (i64, SendReport)> = HashMap::new();
    while let Ok(Some(line)) = lines.next_segment().await {
        let Some(report) = std::str::from_utf8(&line).ok().and_then(SendReport::parse) else {
            continue;
        };
        let key = (report.source.clone(), report.m, report.n);
        if report.acked {
            pending.remove(&key);
        } else {
            pending.entry(key).or_insert((ledger.now_ns(), report));
        }
    }
    let mut unacked: Vec<(i64, SendReport)> = pending.into_values().collect();
    unacked.sort_by_key(|(t, _)| *t);
    unacked
}

/// Copies an instance's stderr to its log file line by line, to its end, calling `stamp`
/// with each line's arrival time. Reading on whatever happens keeps the app from blocking
/// on a full pipe.
async fn copy_log(
    stderr: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    mut log: std::fs::File,
    stamp: impl Fn(i64),
    ledger: Ledger,
) {
    use std::io::Write;
    let mut lines = BufReader::new(stderr).split(b'\n');
    let mut writable = true;
    while let Ok(Some(mut line)) = lines.next_segment().await {
        stamp(ledger.now_ns());
        line.push(b'\n');
        if writable && log.write_all(&line).is_err() {
            writable = false;
        }
    }
}

impl Host {
    pub fn new(config: HostConfig, ledger: Ledger) -> std::io::Result<Host> {
        let clock = ledger.clock();
        std::fs::create_dir_all(&config.stash_dir)?;
        std::fs::create_dir_all(&config.log_dir)?;
        let client = reqwest::Client::builder()
            .timeout(config.invoke_timeout)
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Host {
            inner: Arc::new(Inner {
                launcher: super::launcher::for_program(
                    &config.program,
                    config
                        .sink_token
                        .iter()
                        .map(|t| ("TESTFN_SINK_TOKEN".to_owned(), t.clone()))
                        .collect(),
                ),
                config,
                ledger,
                state: Mutex::new(State::default()),
                client,
                next_invocation: AtomicU64::new(1),
                tasks: TaskTracker::new(),
                queue: Queue::new(clock),
                pending_starts: Arc::new(AtomicU32::new(0)),
                deadline: Mutex::new(None),
                instance_limit: AtomicU64::new(MAX_INSTANCES_STARTED),
            }),
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The background invocations (timer runs, catch-ups, queue messages).
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// Sets when the run's schedule ends.
    pub fn set_deadline(&self, at: tokio::time::Instant) {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    /// Whether the run's schedule has ended.
    pub fn past_deadline(&self) -> bool {
        self.inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|d| self.inner.ledger.clock().now() >= d)
    }

    /// Marks `version` as the one the newest update moves to.
    pub fn set_target_version(&self, version: &str) {
        self.state().target_version = Some(version.to_owned());
    }

    pub fn target_version(&self) -> Option<String> {
        self.state().target_version.clone()
    }

    /// Invocations and HTTP requests in flight on an instance.
    pub fn in_flight(&self, id: &str) -> (u32, u32) {
        self.state().instances.get(id).map_or((0, 0), |e| {
            (
                e.in_flight.load(Ordering::SeqCst),
                e.http_in_flight.load(Ordering::SeqCst),
            )
        })
    }

    /// Waits until an instance's invocations have ended (or `work_grace` passed) and its
    /// HTTP requests have too (or `http_grace` passed); true if it went idle in time.
    pub async fn wait_idle(&self, id: &str, work_grace: Duration, http_grace: Duration) -> bool {
        let start = self.inner.ledger.clock().now();
        loop {
            let alive = self.instance(id).is_some_and(|v| v.phase != Phase::Exited);
            let (work, http) = self.in_flight(id);
            let waited = self.inner.ledger.clock().now().duration_since(start);
            let work_done = work == 0 || waited >= work_grace;
            let http_done = http == 0 || waited >= http_grace;
            if !alive || (work == 0 && http == 0) {
                return true;
            }
            if work_done && http_done {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("host state lock")
    }

    /// Every instance the host has started, dead ones included.
    pub fn instances(&self) -> Vec<InstanceView> {
        self.state()
            .instances
            .values()
            .map(|e| e.view.clone())
            .collect()
    }

    pub fn instance(&self, id: &str) -> Option<InstanceView> {
        self.state().instances.get(id).map(|e| e.view.clone())
    }

    /// Ready instances of a slot, in start order.
    pub fn ready_in(&self, slot: &str) -> Vec<InstanceView> {
        self.state()
            .instances
            .values()
            .filter(|e| e.view.slot == slot && e.view.phase == Phase::Ready)
            .map(|e| e.view.clone())
            .collect()
    }

    /// Instances of a slot that are still alive, in start order.
    pub fn alive_in(&self, slot: &str) -> Vec<InstanceView> {
        self.state()
            .instances
            .values()
            .filter(|e| e.view.slot == slot && e.view.phase != Phase::Exited)
            .map(|e| e.view.clone())
            .collect()
    }

    fn record(&self, kind: Kind, view: &InstanceView) -> reports::LedgerEvent {
        self.inner
            .ledger
            .event(kind, &view.id, &view.version, &view.slot)
    }

    /// Promises one start: [`Host::capacity`] counts it until the instance exists (pass it to
    /// [`Host::start_promised`]) or the promise drops.
    pub fn promise_start(&self) -> StartPromise {
        self.inner.pending_starts.fetch_add(1, Ordering::SeqCst);
        StartPromise(self.inner.pending_starts.clone())
    }

    /// Production instances serving or about to (starting, ready, or promised): what the scale
    /// controller holds against the demand. Draining and stopping ones do not count.
    pub fn capacity(&self) -> u32 {
        let live = self
            .state()
            .instances
            .values()
            .filter(|e| {
                e.view.slot == PRODUCTION && matches!(e.view.phase, Phase::Starting | Phase::Ready)
            })
            .count() as u32;
        live + self.inner.pending_starts.load(Ordering::SeqCst)
    }

    /// HTTP requests in flight on the production instances.
    pub fn http_in_flight(&self) -> u32 {
        self.state()
            .instances
            .values()
            .filter(|e| e.view.slot == PRODUCTION)
            .map(|e| e.http_in_flight.load(Ordering::SeqCst))
            .sum()
    }

    /// Lets this run start at most `limit` instances instead of [`MAX_INSTANCES_STARTED`].
    pub fn set_instance_limit(&self, limit: u64) {
        self.inner.instance_limit.store(limit, Ordering::SeqCst);
    }

    /// Starts one instance of `version` in `slot` and waits until it is ready; fails at
    /// once when the run has started as many as it may ([`MAX_INSTANCES_STARTED`]).
    pub async fn start_instance(&self, version: &str, slot: &str) -> anyhow::Result<String> {
        self.start_promised(version, slot, None).await
    }

    /// [`Host::start_instance`], keeping `promise` until the instance exists, so the count
    /// of instances never misses it in between.
    pub async fn start_promised(
        &self,
        version: &str,
        slot: &str,
        promise: Option<StartPromise>,
    ) -> anyhow::Result<String> {
        let c = &self.inner.config;
        let id = {
            let mut state = self.state();
            let limit = self.inner.instance_limit.load(Ordering::SeqCst);
            if state.started >= limit {
                let first = !std::mem::replace(&mut state.limit_said, true);
                drop(state);
                if first {
                    self.inner.ledger.record(
                        self.inner
                            .ledger
                            .event(Kind::InstanceLimit, "", version, slot)
                            .with("limit", limit),
                    );
                }
                anyhow::bail!(
                    "not starting another instance of {version}: this run has started {limit} \
                     instances, the most one run may (a release that keeps failing to start, \
                     or a crash loop)"
                );
            }
            state.started += 1;
            let next = state.next_index.entry(version.to_owned()).or_insert(0);
            let id = format!("{}-{}", version.to_lowercase(), next);
            *next += 1;
            id
        };
        let log = std::fs::File::create(c.log_dir.join(format!("{id}.log")))?;
        let mut args: Vec<std::ffi::OsString> = [
            "--listen",
            "127.0.0.1:0",
            "--version",
            version,
            "--instance",
            &id,
            "--slot",
            slot,
            "--sink",
            &c.sink_url,
            "--stash-dir",
        ]
        .into_iter()
        .map(Into::into)
        .collect();
        args.push(c.stash_dir.clone().into());
        args.extend(c.work.args().into_iter().map(Into::into));
        if let Some((bad, flags)) = &c.release {
            if bad == version {
                args.extend(flags.iter().map(Into::into));
            }
        }
        // A process gets the token in its environment; one in this process (a test) has no
        // command line anyone else can read.
        if let (Some(token), crate::app::AppKind::InProcess) = (&c.sink_token, c.program.kind) {
            args.extend(["--sink-token".into(), token.into()]);
        }
        args.extend(
            [
                "--startup-delay-ns".to_owned(),
                c.startup_delay.as_nanos().to_string(),
                "--report-sends".to_owned(),
            ]
            .map(Into::into),
        );
        let launched = self
            .inner
            .launcher
            .launch(args)
            .map_err(|e| anyhow::anyhow!("starting {} failed: {e}", c.program))?;
        let (pid, stdout, exited, control) = (
            launched.pid,
            launched.stdout,
            launched.exited,
            launched.control,
        );
        if let Some(stderr) = launched.stderr {
            let traces = c.traces.clone();
            let (id, version, ledger) = (id.clone(), version.to_owned(), self.inner.ledger.clone());
            tokio::spawn(copy_log(
                stderr,
                log,
                move |t_ns| {
                    if let Some(t) = &traces {
                        t.record(t_ns, &id, &version);
                    }
                },
                ledger,
            ));
        }
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(read_stdout(stdout, address_tx, self.inner.ledger.clone()));
        let (exit_tx, exit_rx) = watch::channel(None);
        let view = InstanceView {
            id: id.clone(),
            version: version.to_owned(),
            slot: slot.to_owned(),
            addr: None,
            pid,
            phase: Phase::Starting,
            seq: 0,
        };
        let view = {
            let mut state = self.state();
            state.next_seq += 1;
            let view = InstanceView {
                seq: state.next_seq,
                ..view
            };
            state.instances.insert(
                id.clone(),
                Entry {
                    view: view.clone(),
                    control,
                    exited: exit_rx.clone(),
                    in_flight: Arc::new(AtomicU32::new(0)),
                    http_in_flight: Arc::new(AtomicU32::new(0)),
                },
            );
            // The instance exists and counts now: the promise is kept.
            drop(promise);
            view
        };
        self.inner
            .ledger
            .record(self.record(Kind::InstanceStarted, &view).with("pid", pid));
        // The watcher owns the child: it reaps it, reads the rest of its stdout, and records
        // the items it left in flight and how it ended.
        let host = self.clone();
        let watched = id.clone();
        tokio::spawn(async move {
            let status = exited.await;
            // The pipe ends with the process, unless a child of the app inherited it.
            let unacked = tokio::time::timeout(Duration::from_secs(1), reader)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            host.on_exit(&watched, status, unacked, &exit_tx);
        });
        match tokio::time::timeout(
            c.ready_timeout + c.startup_delay,
            self.wait_ready(&id, address_rx, exit_rx),
        )
        .await
        {
            Ok(Ok(addr)) => {
                let view = {
                    let mut state = self.state();
                    let entry = state.instances.get_mut(&id).expect("inserted above");
                    entry.view.addr = Some(addr);
                    if entry.view.phase == Phase::Starting {
                        entry.view.phase = Phase::Ready;
                    }
                    entry.view.clone()
                };
                self.inner.ledger.record(
                    self.record(Kind::InstanceReady, &view)
                        .with("port", addr.port()),
                );
                self.refresh_timer_lease(None);
                Ok(id)
            }
            Ok(Err(e)) => {
                self.kill(&id).await;
                Err(e)
            }
            Err(_) => {
                self.kill(&id).await;
                anyhow::bail!(
                    "instance {id} was not ready within {:?} (see its log in {})",
                    c.ready_timeout,
                    c.log_dir.display()
                )
            }
        }
    }

    async fn wait_ready(
        &self,
        id: &str,
        address: tokio::sync::oneshot::Receiver<String>,
        mut exited: watch::Receiver<Option<String>>,
    ) -> anyhow::Result<SocketAddr> {
        let first = tokio::select! {
            line = address => line.ok(),
            _ = exited.wait_for(Option::is_some) => None,
        };
        let Some(first) = first else {
            anyhow::bail!("instance {id} exited before printing its address");
        };
        let addr: SocketAddr = first
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("instance {id} printed {first:?}, not an address"))?;
        let url = format!("http://{addr}/health");
        loop {
            if exited.borrow().is_some() {
                anyhow::bail!("instance {id} exited while starting");
            }
            if let Ok(resp) = self
                .inner
                .client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                if resp.status().is_success() {
                    return Ok(addr);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn on_exit(
        &self,
        id: &str,
        description: String,
        unacked: Vec<(i64, SendReport)>,
        exit_tx: &watch::Sender<Option<String>>,
    ) {
        let (view, killed_by_us) = {
            let mut state = self.state();
            let Some(entry) = state.instances.get_mut(id) else {
                return;
            };
            let killed = entry.view.phase == Phase::Killing;
            entry.view.phase = Phase::Exited;
            (entry.view.clone(), killed)
        };
        for (t_ns, item) in unacked {
            let e = LedgerEvent::new(t_ns, Kind::ItemSent, &view.id, &view.version, &view.slot)
                .with("source", &item.source)
                .with("m", item.m)
                .with("n", item.n);
            self.inner.ledger.record(e);
        }
        let kind = if killed_by_us {
            Kind::InstanceKilled
        } else {
            Kind::InstanceStopped
        };
        // The launcher says how the process ended as one `key=value` pair (`code=0`,
        // `signal=9`, `error=...`), whose value may hold spaces.
        let e = self.record(kind, &view);
        let e = match description.split_once('=') {
            Some((key, value)) => e.with(key, value),
            None => LedgerEvent {
                detail: description.as_str().into(),
                ..e
            },
        };
        self.inner.ledger.record(e);
        let _ = exit_tx.send(Some(description));
        self.refresh_timer_lease(None);
    }

    fn set_phase(&self, id: &str, phase: Phase) -> Option<Signalled> {
        let mut state = self.state();
        let entry = state.instances.get_mut(id)?;
        if entry.view.phase == Phase::Exited {
            return None;
        }
        entry.view.phase = phase;
        Some(Signalled {
            view: entry.view.clone(),
            exited: entry.exited.clone(),
            control: entry.control.clone(),
        })
    }

    /// SIGKILLs an instance's process group and waits until it is reaped.
    pub async fn kill(&self, id: &str) {
        let Some(Signalled {
            mut exited,
            control,
            ..
        }) = self.set_phase(id, Phase::Killing)
        else {
            return;
        };
        control.signal(Signal::Kill);
        let _ = exited.wait_for(Option::is_some).await;
    }

    /// Sends SIGTERM (the function's cancellation token), waits up to `grace` for the
    /// process to exit by itself, then SIGKILLs it.
    pub async fn terminate(&self, id: &str, grace: Duration) {
        let Some(Signalled {
            view,
            mut exited,
            control,
        }) = self.set_phase(id, Phase::Stopping)
        else {
            return;
        };
        self.inner.ledger.record(
            self.record(Kind::InstanceStopping, &view)
                .with("grace_ms", grace.as_millis()),
        );
        control.signal(Signal::Term);
        if tokio::time::timeout(grace, exited.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.kill(id).await;
        }
    }

    /// Freezes an instance's processes where they stand (SIGSTOP), as a fault's pause: it
    /// stays in routing and on timer duty, so what is sent to it waits or times out.
    pub fn pause(&self, id: &str) -> anyhow::Result<()> {
        self.freeze(id, Signal::Stop)
    }

    /// Thaws an instance [`Host::pause`] froze (SIGCONT).
    pub fn resume(&self, id: &str) -> anyhow::Result<()> {
        self.freeze(id, Signal::Cont)
    }

    fn freeze(&self, id: &str, signal: Signal) -> anyhow::Result<()> {
        let state = self.state();
        let entry = state
            .instances
            .get(id)
            .ok_or_else(|| anyhow::anyhow!("no instance {id}"))?;
        if !entry.control.can_stop() {
            anyhow::bail!(
                "instance {id} runs in the harness's own process, which cannot be paused"
            );
        }
        if entry.exited.borrow().is_none() {
            entry.control.signal(signal);
        }
        Ok(())
    }

    /// Kills every instance still alive.
    pub async fn kill_all(&self) {
        let ids: Vec<String> = self.instances().into_iter().map(|v| v.id).collect();
        let kills = ids.iter().map(|id| self.kill(id));
        for k in kills {
            k.await;
        }
    }

    /// Takes an instance out of routing and timer duty; its in-flight work goes on. An
    /// instance already draining or stopping is left as it is (a scale-in and a rolling
    /// batch may both pick it).
    pub fn drain(&self, id: &str) {
        let serving = self
            .instance(id)
            .is_some_and(|v| matches!(v.phase, Phase::Starting | Phase::Ready));
        if !serving {
            return;
        }
        if let Some(Signalled { view, .. }) = self.set_phase(id, Phase::Draining) {
            self.inner
                .ledger
                .record(self.record(Kind::InstanceDraining, &view));
            self.refresh_timer_lease(None);
        }
    }

    /// Exchanges the slots of every instance: production becomes staging and back (the
    /// timer lease moves with production).
    pub fn swap_slots(&self) {
        {
            let mut state = self.state();
            for entry in state.instances.values_mut() {
                entry.view.slot = match entry.view.slot.as_str() {
                    PRODUCTION => STAGING.into(),
                    STAGING => PRODUCTION.into(),
                    other => other.into(),
                };
            }
        }
        self.refresh_timer_lease(None);
    }

    /// The next ready production instance for an HTTP request, round-robin, counted as in
    /// flight on it until the guard drops.
    pub fn route(&self) -> Option<(InstanceView, InFlight)> {
        let mut state = self.state();
        let ready: Vec<&Entry> = state
            .instances
            .values()
            .filter(|e| {
                e.view.slot == PRODUCTION && e.view.phase == Phase::Ready && e.view.addr.is_some()
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        let pick = ready[state.round_robin % ready.len()];
        let picked = (pick.view.clone(), InFlight::new(&pick.http_in_flight));
        state.round_robin = state.round_robin.wrapping_add(1);
        Some(picked)
    }
}
