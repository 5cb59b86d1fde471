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
//! An instance's life (spawn, readiness, exit, signals, routing, the lease) is one state
//! machine over one lock. This file holds that lock's state (the instance table, the timer's
//! state, the counters) and the handle on it; each part of the life is a file of `impl Host`
//! that imports this one, and this file imports nothing of theirs: the table read as views
//! (`host/table.rs`), starting and readiness (`host/start.rs`), winding down and signals
//! (`host/stop.rs`), routing and slots (`host/route.rs`), the run's deadline and target
//! version (`host/deadline.rs`), the calls to an instance (`host/calls.rs`) and the
//! strategies' view of it (`host/instances.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reports::ledger::Kind;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::launcher::{Control, Launcher, Signal};
use super::queue::store::Queue;
use super::timer::state::TimerState;
use crate::ledger::Ledger;
pub use crate::strategy::instances::{InstanceView, Phase};
use crate::testfn::Work;

pub mod calls;
mod deadline;
mod instances;
mod route;
mod start;
mod stop;
mod table;

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
    /// The network the host reaches its instances on.
    pub net: crate::net::Net,
    /// Starts the instances instead of the program's own launcher (a process, or a thread
    /// for the in-process function): the virtual-time platform's.
    pub launcher: Option<LaunchWith>,
}

/// A launcher a platform hands the host.
#[derive(Clone)]
pub struct LaunchWith(pub Arc<dyn Launcher>);

impl std::fmt::Debug for LaunchWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaunchWith(..)")
    }
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
    client: crate::net::HttpClient,
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

/// A cheap-to-clone handle on the host.
#[derive(Clone)]
pub struct Host {
    pub(super) inner: Arc<Inner>,
}

impl Host {
    pub fn new(config: HostConfig, ledger: Ledger) -> std::io::Result<Host> {
        let clock = ledger.clock();
        std::fs::create_dir_all(&config.stash_dir)?;
        std::fs::create_dir_all(&config.log_dir)?;
        let client = config
            .net
            .client(crate::net::ClientOptions::timeout(config.invoke_timeout));
        Ok(Host {
            inner: Arc::new(Inner {
                launcher: match &config.launcher {
                    Some(LaunchWith(l)) => l.clone(),
                    None => super::launcher::for_program(
                        &config.program,
                        config
                            .sink_token
                            .iter()
                            .map(|t| ("TESTFN_SINK_TOKEN".to_owned(), t.clone()))
                            .collect(),
                    ),
                },
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

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("host state lock")
    }

    fn record(&self, kind: Kind, view: &InstanceView) -> reports::LedgerEvent {
        self.inner
            .ledger
            .event(kind, &view.id, &view.version, &view.slot)
    }
}
