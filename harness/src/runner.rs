//! The runner: one scenario, end to end, into a run directory.
//!
//! It starts the sink (in process, on its own listener), the host with version A, the front
//! door and the probes; fires the timer; performs the update at `update_at`; runs on until
//! `duration`; lets in-flight work settle; stops everything; writes the run directory and
//! checks it. Whatever happens once the run directory is chosen (an error, a failed update,
//! an instance that never became ready, Ctrl-C), every instance is killed first, and the run
//! ends with its files: `summary.json` says why it failed, in which phase, and what was
//! measured up to then; `junit.xml` has an errored test case naming the reason. Each is
//! written exactly once, here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reports::{ExpectedSpec, Probe, RunDir, RunInfo, SourceSpec, Summary, Verdict};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, Schedule};
use crate::platform::ledger::Ledger;
use crate::platform::{self, Platform, Wiring};
use crate::probes::{self, ProbeConfig};
pub use crate::run_plan::{BaselinePlan, RunPlan};
use crate::scenario::{Scenario, Trigger};

/// Why a run could not even begin: nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A usage error: the run directory holds an earlier run.
    #[error("{} already holds a run; choose another --out", .0.display())]
    OutDirTaken(PathBuf),
    #[error("{0}")]
    Setup(String),
}

/// How a run ended: its summary (as written to `summary.json`), and whether Ctrl-C stopped it.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub summary: Summary,
    pub interrupted: bool,
    /// Things the user should read that are not about the app (a report that did not
    /// render), for the command to print.
    pub warnings: Vec<String>,
}

impl RunOutcome {
    pub fn is_valid(&self) -> bool {
        self.summary.invalid.is_empty()
    }

    /// A threshold failed, or a metric regressed past its tolerance.
    pub fn failed_a_check(&self) -> bool {
        self.summary.thresholds.iter().any(|t| !t.ok)
            || self.summary.baseline.iter().any(|c| c.regression)
    }
}

/// Where and why a run stopped short.
#[derive(Clone, Debug)]
struct Failure {
    /// `setup`, `start`, `run`, `update`, `settle` or `check`.
    phase: &'static str,
    reason: String,
    interrupted: bool,
}

impl Failure {
    fn new(phase: &'static str, reason: impl Into<String>) -> Failure {
        Failure {
            phase,
            reason: reason.into(),
            interrupted: false,
        }
    }

    fn interrupted(phase: &'static str) -> Failure {
        Failure {
            phase,
            reason: "interrupted (Ctrl-C): every instance was stopped".into(),
            interrupted: true,
        }
    }
}

/// What the run measured, however far it got.
#[derive(Default)]
struct Measured {
    /// The timer's schedule; `None` when the run failed before it began.
    schedule: Option<Schedule>,
    probes: Vec<Probe>,
    failure: Option<Failure>,
    /// Scenario time (unscaled) up to which the expected window may reach.
    window_end: Duration,
    /// Problems of the measuring itself (the sink), each making the run invalid.
    invalid: Vec<String>,
    /// Things the summary should say that do not make the run invalid.
    notes: Vec<String>,
}

/// Whether `dir` already holds a run, which a new run must not mix with.
pub fn holds_a_run(dir: &std::path::Path) -> bool {
    dir.join(sink::ARRIVALS_FILE).exists() || dir.join(reports::rundir::SUMMARY_FILE).exists()
}

/// Runs the plan on the machine's clock; `cancel` (Ctrl-C) stops it early, cleanly.
pub async fn run(plan: RunPlan, cancel: CancellationToken) -> Result<RunOutcome, RunError> {
    run_on_clock(plan, Clock::system(), cancel).await
}

/// Runs the plan on `clock`: every time the run reads, stamps or sleeps until comes from it
/// (virtual time, on a runtime whose time is paused).
pub async fn run_on_clock(
    plan: RunPlan,
    clock: Clock,
    cancel: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let wall = clock.now();
    let out = plan.out_dir.clone();
    if holds_a_run(&out) {
        return Err(RunError::OutDirTaken(out));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| RunError::Setup(format!("creating {}: {e}", out.display())))?;
    let started_ns = clock.now_ns();
    // The scenario as run (time scale, seed, app and every default filled in) travels with
    // the run: the reports show it, and running it again reproduces the run.
    let mut as_run = plan
        .scenario
        .as_run(plan.time_scale, plan.seed, &plan.program);
    if let Some(e) = &mut as_run.expect {
        e.thresholds
            .extend(plan.extra_thresholds.iter().map(|t| t.to_string()));
    }
    let text = toml::to_string(&as_run)
        .map_err(|e| RunError::Setup(format!("recording the scenario: {e}")))?;
    std::fs::write(out.join("scenario.toml"), text)
        .map_err(|e| RunError::Setup(format!("writing scenario.toml: {e}")))?;
    let ledger = Ledger::create(&out.join(reports::rundir::LEDGER_FILE), clock)
        .map_err(|e| RunError::Setup(format!("creating the ledger: {e}")))?;

    let mut measured = measure(&plan, &ledger, clock, &cancel).await;
    let run_dir = RunDir::new(&out);
    // The platform's ledger and the apps' own events (the sink has closed events.csv).
    let mut events = ledger.events();
    match run_dir.read_app_events() {
        Ok(app) => events.extend(app),
        Err(e) => measured
            .invalid
            .push(format!("reading the apps' lifecycle events: {e}")),
    }
    let mut warnings = Vec::new();

    // Check whatever was measured, as far as the schedule got.
    let s = &plan.scenario;
    let spec = measured
        .schedule
        .as_ref()
        .and_then(|schedule| expected(s, &plan.timing, schedule, measured.window_end));
    let checked = (|| -> Result<Option<Verdict>, reports::RunDirError> {
        run_dir.write_probes(&measured.probes)?;
        let Some(spec) = &spec else { return Ok(None) };
        run_dir.write_expected(spec)?;
        // The probes and the ledger are in memory: check with both rather than read them back.
        reports::checker::check_run_with(&run_dir, spec, &measured.probes, &events).map(Some)
    })();
    let verdict = match checked {
        Ok(v) => v,
        Err(e) => {
            if measured.failure.is_none() {
                measured.failure = Some(Failure::new("check", format!("checking the run: {e}")));
            }
            None
        }
    };

    let failure = measured.failure.clone();
    let mut notes = Vec::new();
    if plan.time_scale != 1.0 {
        notes.push(format!(
            "durations scaled by {}; process start-up time is real and did not scale",
            plan.time_scale
        ));
    }
    notes.append(&mut measured.notes);
    let measured_any = verdict.is_some();
    if failure.is_some() && measured_any {
        notes.push(
            "the run stopped early: the expected window ends with the last whole loop before it stopped"
                .into(),
        );
    }
    let mut summary = Summary::new(
        RunInfo {
            scenario: Some(plan.scenario_path.clone()),
            name: Some(s.name().to_owned()),
            strategy: Some(s.strategy.to_string()),
            case: Some(s.case.clone()),
            seed: Some(plan.seed),
            harness_version: env!("CARGO_PKG_VERSION").to_owned(),
            time_scale: Some(plan.time_scale),
            started_ns: Some(started_ns),
            ended_ns: Some(clock.now_ns()),
            probe_send_lag_ms: probes::send_lag_ms(&measured.probes),
            wall_ms: Some(clock.now().duration_since(wall).as_secs_f64() * 1e3),
            update_duration_ms: reports::ledger::update_duration_ms(&events),
            update_command_ms: reports::ledger::phase_span_ms(&events, "update_command"),
            update_complete_ms: reports::ledger::update_complete_ms(&events),
            platform: Some(s.platform.kind.as_str().to_owned()),
            driver: Some(s.driver().as_str().to_owned()),
            notes,
            app_command: Some(plan.program.to_string()),
            failed_phase: failure.as_ref().map(|f| f.phase.to_owned()),
            unmeasured: !measured_any,
        },
        verdict.unwrap_or_default(),
    );
    if let Some(f) = &failure {
        summary.invalid.push(if f.interrupted {
            f.reason.clone()
        } else {
            format!("the run failed in phase {}: {}", f.phase, f.reason)
        });
    }
    summary.invalid.append(&mut measured.invalid);
    // A long window where even the sink's own /health failed: the app's availability
    // there is unknown, not good.
    if let Some(control) = &summary.verdict.control {
        let max_ms = s.probes.control_max.0.as_secs_f64() * 1e3;
        summary.invalid.extend(control.invalid_reason(max_ms));
    }
    // A run the harness could not measure properly is never reported as a pass.
    if let Some(lag) = summary.run.probe_send_lag_ms {
        let budget_ms = plan.timing.max_send_lag.as_secs_f64() * 1e3;
        if lag.p99 > budget_ms {
            summary.invalid.push(format!(
                "the probe client lagged behind its schedule: send lag p99 {} ms over the {} ms budget (probes.max_send_lag)",
                reports::metric::number(lag.p99),
                reports::metric::number(budget_ms)
            ));
        }
    }
    // Thresholds and the baseline need a verdict; with none, nothing could be evaluated.
    let mut cases = Vec::new();
    if measured_any {
        let v = &summary.verdict;
        let mut thresholds = s.thresholds();
        thresholds.extend(plan.extra_thresholds.iter().cloned());
        summary.thresholds =
            reports::threshold::evaluate(&thresholds, v, summary.run.update_duration_ms);
        cases = summary.thresholds.clone();
        if let Some(b) = &plan.baseline {
            summary.baseline = reports::baseline::compare(&b.summary, &summary, &b.tolerances);
            if let Some(w) = reports::baseline::mismatch(&b.summary, &summary) {
                summary.run.notes.push(w.clone());
                warnings.push(w);
            }
            cases.extend(reports::baseline::outcomes(
                &b.tolerances,
                &summary.baseline,
                &b.name,
            ));
        }
    }
    let written = run_dir.write_summary(&summary).map_err(|e| e.to_string());
    let junit = reports::junit::run_suite(s.name(), &cases, &summary.invalid);
    let written = written.and_then(|()| {
        std::fs::write(out.join("junit.xml"), junit).map_err(|e| format!("writing junit.xml: {e}"))
    });
    if let Err(e) = written {
        warnings.push(format!(
            "writing the run's files into {}: {e}",
            out.display()
        ));
    }
    // The reports are a view of the files: a failure to render them is reported, not fatal.
    if measured_any {
        if let Err(e) = reports::report::write(&run_dir) {
            warnings.push(format!(
                "rendering the reports failed ({e}); `harness report {}` can retry",
                out.display()
            ));
        }
    }
    Ok(RunOutcome {
        interrupted: failure.is_some_and(|f| f.interrupted),
        summary,
        warnings,
    })
}

/// Connections the in-process sink serves at once: every instance alive at once (up to
/// `2 * scenario::MAX_INSTANCES` through an update, and a scale-out) keeps up to 4 idle
/// keep-alive connections to it and a few in flight, so the sink binary's default (1024, for
/// one app elsewhere) would be too few.
const SINK_MAX_CONNECTIONS: usize = 16 * 1024;

/// Starts the sink and the platform, drives the run, and stops both, whatever happened, the
/// platform first, so every item an instance managed to send is on disk.
async fn measure(
    plan: &RunPlan,
    ledger: &Ledger,
    clock: Clock,
    cancel: &CancellationToken,
) -> Measured {
    let out = &plan.out_dir;
    let setup_failed = |e: String| Measured {
        failure: Some(Failure::new("setup", e)),
        ..Measured::default()
    };

    // The sink runs in process, on a listener we bind and hand over.
    let s = &plan.scenario;
    let listen = s.sink.listen.as_deref().unwrap_or("127.0.0.1:0");
    let token = match s.sink.token() {
        Ok(t) => t,
        Err(e) => return setup_failed(e),
    };
    let sink_listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return setup_failed(format!("binding the sink's listener on {listen}: {e}")),
    };
    let sink_addr = match sink_listener.local_addr() {
        Ok(a) => a,
        Err(e) => return setup_failed(format!("the sink's address: {e}")),
    };
    if !sink_addr.ip().is_loopback() && token.is_none() {
        return setup_failed(sink::SinkError::Unprotected(sink_addr).to_string());
    }
    let sink_url = s
        .sink
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{sink_addr}"));
    let mut sink_config = sink::Config::new(out);
    sink_config.clock = Arc::new(clock);
    sink_config.token = token.clone();
    sink_config.max_connections = SINK_MAX_CONNECTIONS;
    let sink = match sink::Sink::open(sink_config) {
        Ok(s) => s,
        Err(e) => return setup_failed(format!("opening the sink: {e}")),
    };
    let sink_stop = CancellationToken::new();
    let sink_serve = tokio::spawn(sink.serve(sink_listener, sink_stop.clone().cancelled_owned()));
    let sink_side = SinkSide {
        control: connectable(sink_addr),
        proxy: None,
        died: CancellationToken::new(),
        abort: sink_serve.abort_handle(),
    };
    // The sink ending before the run asks it to is the harness's own failure: the ledger
    // says so at once, and the run stops (`sink_died`).
    let sink_task = {
        let (stop, died, ledger) = (sink_stop.clone(), sink_side.died.clone(), ledger.clone());
        tokio::spawn(async move {
            let joined = sink_serve.await;
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
        })
    };
    // Sink-path faults need a proxy between the apps and the sink: the apps are given its
    // address instead of the sink's.
    let mut sink_side = sink_side;
    let proxy_stop = CancellationToken::new();
    let mut proxy_task = None;
    let mut sink_url = sink_url;
    if s.has_sink_faults() {
        match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => {
                let proxy = crate::fault_proxy::FaultProxy::new(sink_side.control, plan.seed);
                if let Ok(a) = l.local_addr() {
                    sink_url = format!("http://{a}");
                }
                proxy_task = Some(tokio::spawn(proxy.clone().serve(l, proxy_stop.clone())));
                sink_side.proxy = Some(proxy);
            }
            Err(e) => {
                sink_stop.cancel();
                let _ = sink_task.await;
                return setup_failed(format!("binding the fault proxy's listener: {e}"));
            }
        }
    }

    let wiring = Wiring {
        ledger: ledger.clone(),
        clock,
        sink_url,
        sink_token: token,
    };
    let mut measured = match platform::build(plan, wiring).await {
        Ok(platform) => run_on(plan, &platform, ledger, clock, &sink_side, cancel).await,
        Err(e) => setup_failed(format!(
            "starting the {} platform: {e:#}",
            s.platform.kind.as_str()
        )),
    };

    proxy_stop.cancel();
    if let Some(p) = proxy_task {
        let _ = p.await;
    }
    sink_stop.cancel();
    let sink_died = sink_side.died.is_cancelled();
    match sink_task.await.unwrap_or_else(Err) {
        // The run already says the sink died.
        _ if sink_died => {}
        Ok(Ok(summary)) => {
            // Refused items are items the run cannot judge: the run is invalid. Refused
            // events, leases and unauthorized requests (anyone on the network may knock) are
            // reported, not held against the measurement.
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
                    "the sink refused {n} request(s) past its cap of {SINK_MAX_CONNECTIONS} \
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
        Ok(Err(e)) => measured.invalid.push(format!("the sink failed: {e}")),
        Err(e) => measured
            .invalid
            .push(format!("the sink's task failed: {e}")),
    }
    measured
}

/// The run's own sink, as the run sees it.
struct SinkSide {
    /// Where the control probe reaches it directly (its `/health`).
    control: std::net::SocketAddr,
    /// The fault proxy in front of it, when the run has sink-path faults.
    proxy: Option<crate::fault_proxy::FaultProxy>,
    /// Cancelled when the sink stops before the run asked it to.
    died: CancellationToken,
    /// Stops it, for a `sink_crash` fault.
    abort: tokio::task::AbortHandle,
}

/// An address to connect to for one a server bound: a wildcard bind is reached on loopback.
fn connectable(bound: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Drives the run on `platform`, then tears it down whatever happened.
async fn run_on(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    clock: Clock,
    sink: &SinkSide,
    cancel: &CancellationToken,
) -> Measured {
    let measured = drive(plan, platform, ledger, clock, sink, cancel).await;
    platform.teardown().await;
    measured
}

/// The scenario's probes of the front door at `door`.
fn probe_config(s: &Scenario, door: std::net::SocketAddr, timeout: Duration) -> ProbeConfig {
    let p = &s.probes;
    let mut config = ProbeConfig::new(door, &p.path, p.rate, timeout);
    config.connections = p.connections;
    config.new_connections = p.new_connections;
    // Checked when the scenario was loaded.
    config.expect_body = p
        .expect_body
        .as_deref()
        .map(|re| regex::Regex::new(re).expect("probes.expect_body was checked on load"));
    config.expect_versions = p
        .expect_version
        .then(|| vec![s.app.from.clone(), s.app.to.clone()]);
    config
}

/// Sleeps until `at`, or returns false if the run was cancelled first.
async fn sleep_until(at: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(at) => true,
        () = cancel.cancelled() => false,
    }
}

/// The run itself, on any platform: deploy, probe, update, settle. It always stops what it
/// started (triggers, probes) and hands back what it measured, with the failure if there
/// was one; the caller tears the platform down.
async fn drive(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    clock: Clock,
    sink: &SinkSide,
    user_cancel: &CancellationToken,
) -> Measured {
    // The run stops early when the user asks or when its own sink dies.
    let cancel = &user_cancel.child_token();
    let stop_on_death = {
        let (died, cancel) = (sink.died.clone(), cancel.clone());
        tokio::spawn(async move {
            died.cancelled().await;
            cancel.cancel();
        })
    };
    let mut measured = drive_until(plan, platform, ledger, clock, sink, cancel).await;
    stop_on_death.abort();
    if sink.died.is_cancelled() && !user_cancel.is_cancelled() {
        let reason = ledger
            .events_where(|e| e.event == reports::ledger::Kind::SinkDied)
            .first()
            .and_then(|e| e.get("reason").map(str::to_owned))
            .unwrap_or_default();
        measured.failure = Some(Failure::new(
            "run",
            format!(
                "the harness's own sink died mid-run ({reason}): nothing it would have \
                 recorded since can be judged"
            ),
        ));
    }
    measured
}

async fn drive_until(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    clock: Clock,
    sink: &SinkSide,
    cancel: &CancellationToken,
) -> Measured {
    let s = &plan.scenario;
    let scale = plan.time_scale;
    let mut measured = Measured::default();

    let deployed = tokio::select! {
        deployed = platform.deploy(&s.app.from, s.app.instances) => {
            deployed.map_err(|e| Failure::new("start", format!("{e:#}")))
        }
        () = cancel.cancelled() => Err(Failure::interrupted("start")),
    };
    if let Err(f) = deployed {
        measured.failure = Some(f);
        return measured;
    }

    let schedule = platform
        .fixed_schedule()
        .unwrap_or_else(|| Schedule::starting_now(&clock, plan.timing.period));
    measured.schedule = Some(schedule);
    // An epoch fixed before the deploy (the app driver) must still be ahead of the warm-up's
    // end, or occurrences the run expects were due before anything could run them.
    let late = clock.now().saturating_duration_since(schedule.epoch);
    if platform.fixed_schedule().is_some() && late > plan.timing.warmup {
        measured.failure = Some(Failure::new(
            "start",
            format!(
                "the deploy ended {:.1} s after the schedule's epoch, past run.warmup ({:.1} s \
                 scaled): the apps' timers were due before they ran; raise run.warmup",
                late.as_secs_f64(),
                plan.timing.warmup.as_secs_f64()
            ),
        ));
        measured.schedule = None;
        return measured;
    }
    platform.start_triggers(schedule);
    let probe_stop = CancellationToken::new();
    // Probes start at the epoch, or now when the epoch is already past (the app driver's):
    // a backlog of probes fired at once would only measure the client.
    let probe_start = schedule.epoch.max(clock.now());
    let probe_start_ns =
        schedule.epoch_ns + probe_start.duration_since(schedule.epoch).as_nanos() as i64;
    let mut probe = probe_config(s, platform.front_door(), plan.timing.probe_timeout);
    probe.host = platform.front_door_host();
    let live = crate::analysis::LiveProbes::default();
    if s.analysis.is_some() {
        probe.live = Some(live.clone());
    }
    // The control probe: the sink's own `/health`, which no update touches, at the same
    // rate on the same schedule, so a window the app and the control both failed is the
    // harness's or the machine's trouble, not the app's downtime (OpenShift's monitor does
    // the same).
    let mut targets = vec![probe];
    if s.probes.control {
        let mut control = ProbeConfig::new(
            sink.control,
            "/health",
            s.probes.rate,
            plan.timing.probe_timeout,
        );
        control.connections = 1;
        control.label = Some(reports::probe::CONTROL_SERIES.into());
        targets.push(control);
    }
    let probe_task = tokio::spawn(probes::run_all(
        targets,
        clock,
        probe_start,
        probe_start_ns,
        probe_stop.clone(),
    ));
    let chaos_stop = CancellationToken::new();
    let chaos_task = (!plan.faults.is_empty()).then(|| {
        let chaos = crate::chaos::Chaos {
            platform: platform.clone(),
            proxy: sink.proxy.clone(),
            ledger: ledger.clone(),
            seed: plan.seed,
            epoch: schedule.epoch,
            stop: chaos_stop.clone(),
            sink: Some(sink.abort.clone()),
        };
        tokio::spawn(crate::chaos::run(chaos, plan.faults.clone()))
    });

    let failure = perform_update(plan, platform, ledger, &live, schedule, cancel).await;
    // Every fault ends by run.duration; one still acting now (the run stopped early) ends
    // here, thawing what it froze.
    chaos_stop.cancel();
    if let Some(task) = chaos_task {
        match tokio::time::timeout(crate::chaos::WIND_UP, task).await {
            Ok(Ok(mut notes)) => measured.notes.append(&mut notes),
            Ok(Err(e)) => measured.notes.push(format!("the faults' task failed: {e}")),
            Err(_) => measured
                .notes
                .push("the faults did not wind up within 30 s of the run's end".into()),
        }
    }
    platform.stop_triggers().await;
    // Let in-flight runs finish (and leased messages come back), within the settle time,
    // unless the user asked to stop.
    let interrupted = failure.as_ref().is_some_and(|f| f.interrupted);
    let failure = if interrupted {
        failure
    } else {
        tokio::select! {
            () = platform.settle(plan.timing.settle) => failure,
            () = cancel.cancelled() => failure.or(Some(Failure::interrupted("settle"))),
        }
    };
    probe_stop.cancel();
    ledger.record(
        ledger
            .event(reports::ledger::Kind::RunEnded, "", "", "")
            .with("alive", platform.alive().join("+")),
    );
    measured.probes = probe_task.await.unwrap_or_default();
    // A run stopped short is judged on the loops that could end before it stopped.
    measured.window_end = match &failure {
        None => s.run.duration.0,
        Some(_) => schedule.epoch.elapsed().div_f64(scale),
    };
    measured.failure = failure;
    measured
}

/// Waits for `update_at`, performs the update, and runs on to `duration`; a failed update
/// ends the run at once rather than after the whole duration.
async fn perform_update(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    live: &crate::analysis::LiveProbes,
    schedule: Schedule,
    cancel: &CancellationToken,
) -> Option<Failure> {
    let s = &plan.scenario;
    if !sleep_until(schedule.epoch + plan.timing.update_at, cancel).await {
        return Some(Failure::interrupted("run"));
    }
    let mut update = {
        let (platform, ledger) = (platform.clone(), ledger.clone());
        let (from, to, n) = (s.app.from.clone(), s.app.to.clone(), s.app.instances);
        // The `update` phase is the runner's, on every platform: update_duration_ms is its
        // span, whatever the platform writes inside it.
        tokio::spawn(async move {
            let phase = |kind| ledger.event(kind, "", &to, "").with("phase", "update");
            ledger.record(phase(reports::ledger::Kind::PhaseBegun));
            let updated = platform.update(&from, &to, n).await;
            ledger.record(phase(reports::ledger::Kind::PhaseEnded));
            updated
        })
    };
    // The rollback, manual or analysis-gated, runs beside the update; it stops waiting at
    // the run's end, but a rollback under way is waited for.
    let rollback_stop = CancellationToken::new();
    let rollback = {
        let (plan, platform, ledger, live) =
            (plan.clone(), platform.clone(), ledger.clone(), live.clone());
        let stop = rollback_stop.clone();
        tokio::spawn(async move {
            roll_back_when_asked(&plan, &platform, &ledger, &live, schedule, stop).await
        })
    };
    let failure = await_update(plan, &mut update, schedule, cancel).await;
    rollback_stop.cancel();
    if failure.as_ref().is_some_and(|f| f.interrupted) {
        rollback.abort();
        return failure;
    }
    let rolled = match rollback.await {
        Ok(f) => f,
        Err(e) => Some(Failure::new(
            "update",
            format!("the rollback task failed: {e}"),
        )),
    };
    failure.or(rolled)
}

/// Rolls the update back when the scenario asks, at most once: at `run.rollback_at`, or at
/// the first evaluation of `[analysis]` whose window fails a threshold (every evaluation is
/// recorded in the ledger). Returns a failure only when the rollback itself failed.
async fn roll_back_when_asked(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    ledger: &Ledger,
    live: &crate::analysis::LiveProbes,
    schedule: Schedule,
    stop: CancellationToken,
) -> Option<Failure> {
    use crate::analysis::{evaluate, WindowThreshold};
    let s = &plan.scenario;
    let t = &plan.timing;
    let manual = t.rollback_at.map(|at| schedule.epoch + at);
    let analysis = s.analysis.as_ref().map(|a| {
        let thresholds: Vec<WindowThreshold> = a
            .thresholds
            .iter()
            .filter_map(|t| WindowThreshold::parse(t).ok())
            .collect();
        (
            thresholds,
            t.analysis_window,
            t.analysis_interval,
            u64::from(a.min_samples),
        )
    });
    if manual.is_none() && analysis.is_none() {
        return None;
    }
    let far = ledger.clock().now() + Duration::from_secs(365 * 24 * 3600);
    let mut tick =
        tokio::time::interval(analysis.as_ref().map_or(Duration::from_secs(3600), |a| a.2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let by = loop {
        tokio::select! {
            () = tokio::time::sleep_until(manual.unwrap_or(far)), if manual.is_some() => {
                break "manual";
            }
            _ = tick.tick(), if analysis.is_some() => {
                let (thresholds, window, _, min_samples) =
                    analysis.as_ref().expect("checked by the guard");
                let t_ns = ledger.now_ns();
                let window_ns = window.as_nanos() as i64;
                let judged = evaluate(
                    thresholds,
                    t_ns,
                    window_ns,
                    *min_samples,
                    &live.since(t_ns - window_ns),
                    &ledger.events_where(|e| e.t_ns > t_ns - window_ns),
                );
                let failed = judged.iter().any(|j| j.ok == Some(false));
                let mut e = ledger
                    .event(reports::ledger::Kind::AnalysisEvaluated, "", "", "")
                    .with("window_ms", window.as_millis())
                    .with("ok", !failed);
                for j in &judged {
                    let name = j.threshold.metric.name();
                    e = e
                        .with(name, j.value.map_or("none".into(), |v| format!("{v:.4}")))
                        .with(&format!("{name}.samples"), j.samples);
                }
                ledger.record(e);
                if failed {
                    let why: Vec<String> = judged
                        .iter()
                        .filter(|j| j.ok == Some(false))
                        .map(|j| j.threshold.to_string())
                        .collect();
                    ledger.record(
                        ledger
                            .event(reports::ledger::Kind::AnalysisFailed, "", "", "")
                            .with("window_ms", window.as_millis())
                            .with("failed", why.join("+")),
                    );
                    break "analysis";
                }
            }
            () = stop.cancelled() => return None,
        }
    };
    ledger.record(
        ledger
            .event(
                reports::ledger::Kind::RollbackTriggered,
                "",
                &s.app.from,
                "",
            )
            .with("by", by),
    );
    // The scenario's checks allow a rollback only on a platform that has one.
    let rolled = match platform.rollback() {
        Some(r) => r.rollback(&s.app.to, &s.app.from, s.app.instances).await,
        None => Err(anyhow::anyhow!("the platform has no rollback")),
    };
    rolled
        .err()
        .map(|e| Failure::new("update", format!("the rollback failed: {e:#}")))
}

/// Waits for the update and runs on to `duration`; a failed update ends the run at once.
async fn await_update(
    plan: &RunPlan,
    update: &mut tokio::task::JoinHandle<anyhow::Result<()>>,
    schedule: Schedule,
    cancel: &CancellationToken,
) -> Option<Failure> {
    let failed = |joined: Result<anyhow::Result<()>, tokio::task::JoinError>| match joined {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(Failure::new("update", format!("{e:#}"))),
        Err(e) => Some(Failure::new(
            "update",
            format!("the update task failed: {e}"),
        )),
    };
    let end = schedule.epoch + plan.timing.duration;
    let mut done = false;
    tokio::select! {
        () = tokio::time::sleep_until(end) => {}
        joined = &mut *update => {
            if let Some(f) = failed(joined) {
                return Some(f);
            }
            done = true;
        }
        () = cancel.cancelled() => {
            update.abort();
            return Some(Failure::interrupted("update"));
        }
    }
    if !done {
        tokio::select! {
            joined = &mut *update => {
                if let Some(f) = failed(joined) {
                    return Some(f);
                }
            }
            () = cancel.cancelled() => {
                update.abort();
                return Some(Failure::interrupted("update"));
            }
        }
    } else if !sleep_until(end, cancel).await {
        return Some(Failure::interrupted("run"));
    }
    None
}

/// The expected window: the occurrences whose whole loop fell inside the measured span,
/// which ends at `window_end` (scenario time, unscaled: `run.duration` for a whole run).
/// `None` when no occurrence could end inside it.
pub fn expected(
    s: &Scenario,
    timing: &crate::run_plan::Timing,
    schedule: &Schedule,
    window_end: Duration,
) -> Option<ExpectedSpec> {
    if s.driver() == crate::scenario::Driver::None {
        // Probes only: nothing is expected, and availability is the whole verdict.
        return Some(ExpectedSpec {
            sources: Vec::new(),
            late_after_ns: timing.late_after.as_nanos() as i64,
            completion: completion_spec(s, timing),
        });
    }
    let first = s.first_expected();
    let last = s.last_complete_by(window_end.min(s.run.duration.0))?;
    let counts =
        (s.workload.trigger == Trigger::Queue && s.workload.events.is_schedule()).then(|| {
            (first..=last)
                .map(|m| u64::from(s.poll_events(m)))
                .collect()
        });
    (last >= first).then(|| ExpectedSpec {
        sources: vec![SourceSpec {
            source: s.source().into(),
            epoch_ns: schedule.epoch_ns,
            period_ns: schedule.period.as_nanos() as i64,
            items: u64::from(s.items_per_occurrence()),
            item_delay_ns: match s.workload.trigger {
                Trigger::Timer => timing.item_delay.as_nanos() as i64,
                // Every message of a poll is due when the poll runs.
                Trigger::Queue => 0,
            },
            first,
            last,
            counts,
        }],
        late_after_ns: timing.late_after.as_nanos() as i64,
        completion: completion_spec(s, timing),
    })
}

/// The completion estimate's parameters, scaled, when the run evaluates it.
fn completion_spec(
    s: &Scenario,
    timing: &crate::run_plan::Timing,
) -> Option<reports::expected::CompletionSpec> {
    s.completion_estimate()?;
    Some(reports::expected::CompletionSpec {
        check_interval_ns: timing.check_interval.as_nanos() as i64,
        buffer_ns: timing.buffer.as_nanos() as i64,
        from_version: s.app.from.clone(),
    })
}
