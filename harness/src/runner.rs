//! The runner: one scenario, end to end, into a run directory.
//!
//! It starts the sink (in process, on its own listener), the host with version A, the front
//! door and the probes; fires the timer; performs the update at `update_at`; runs on until
//! `duration`; lets in-flight work settle; stops everything; writes the run directory and
//! checks it. Whatever happens (an error, Ctrl-C, a panic in a task), every instance is
//! killed before `run` returns, and a failed run says why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reports::{ExpectedSpec, RunDir, RunInfo, SourceSpec, Summary};
use sink::clock::{Clock, SystemClock};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::platform::ledger::Ledger;
use crate::platform::queue::{self, QueueOptions};
use crate::platform::timer::{Schedule, TimerFunction, TimerOptions};
use crate::platform::{front_door, Host, HostConfig, PRODUCTION};
use crate::probes::{self, ProbeConfig};
use crate::scenario::{Scenario, Trigger};
use crate::strategy::{self, Plan};
use crate::testfn::Work;

/// Everything one run needs, resolved from the command line and the scenario file.
#[derive(Clone, Debug)]
pub struct RunPlan {
    pub scenario: Scenario,
    /// The scenario file as given, for the record.
    pub scenario_path: String,
    pub out_dir: PathBuf,
    pub time_scale: f64,
    pub seed: u64,
    /// The function binary.
    pub program: PathBuf,
    /// Thresholds from the command line, checked with the scenario's own.
    pub extra_thresholds: Vec<reports::threshold::Threshold>,
}

/// How a run ended when it did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("interrupted; instances stopped; partial results in {0}")]
    Interrupted(PathBuf),
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Runs the plan; `cancel` (Ctrl-C) stops it early, cleanly.
pub async fn run(plan: RunPlan, cancel: CancellationToken) -> Result<Summary, RunError> {
    let wall = Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let out = plan.out_dir.clone();
    if out.join(sink::ARRIVALS_FILE).exists() {
        return Err(RunError::Failed(anyhow::anyhow!(
            "{} already holds a run; choose another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| RunError::Failed(anyhow::anyhow!("creating {}: {e}", out.display())))?;
    let started_ns = clock.now_ns() as i64;
    // The resolved scenario (defaults filled in) travels with the run, for the reports.
    if let Ok(text) = toml::to_string(&plan.scenario) {
        let _ = std::fs::write(out.join("scenario.toml"), text);
    }
    let ledger = Ledger::create(&out.join(reports::rundir::LEDGER_FILE), clock.clone())
        .map_err(|e| RunError::Failed(anyhow::anyhow!("creating the ledger: {e}")))?;

    // The sink runs in process, on a listener we bind and hand over.
    let sink_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RunError::Failed(e.into()))?;
    let sink_addr = sink_listener
        .local_addr()
        .map_err(|e| RunError::Failed(e.into()))?;
    let mut sink_config = sink::Config::new(&out);
    sink_config.clock = clock.clone();
    let sink = sink::Sink::open(sink_config).map_err(|e| RunError::Failed(e.into()))?;
    let sink_stop = CancellationToken::new();
    let sink_task = tokio::spawn(sink.serve(sink_listener, sink_stop.clone().cancelled_owned()));

    let s = &plan.scenario;
    let scale = plan.time_scale;
    let host = Host::new(
        HostConfig {
            program: plan.program.clone(),
            sink_url: format!("http://{sink_addr}"),
            stash_dir: out.join("stash"),
            log_dir: out.join("instances"),
            work: Work {
                items: s.workload.items,
                item_delay: s.workload.item_delay.scaled(scale),
                processing: s.workload.processing.scaled(scale),
                submit_timeout: s.workload.submit_timeout.scaled(scale),
                retries: s.workload.retries,
                on_cancel: s.workload.on_cancel,
                events: s.workload.events,
                fail_n: s.workload.fail_n,
            },
            startup_delay: s.app.cold_start.scaled(scale),
            ready_timeout: s.run.ready_timeout.0,
            invoke_timeout: s.workload.period.scaled(scale) * 10 + Duration::from_secs(5),
        },
        ledger.clone(),
    )
    .map_err(|e| RunError::Failed(e.into()))?;
    let door_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RunError::Failed(e.into()))?;
    let door_addr = door_listener
        .local_addr()
        .map_err(|e| RunError::Failed(e.into()))?;
    let door_stop = CancellationToken::new();
    let door_task = tokio::spawn(front_door::serve(
        door_listener,
        host.clone(),
        Duration::from_secs(230)
            .mul_f64(scale)
            .max(Duration::from_secs(1)),
        door_stop.clone().cancelled_owned(),
    ));

    let result = drive(&plan, &host, clock.clone(), &cancel, door_addr).await;

    // Whatever happened: stop every instance, the front door and the sink, in that order,
    // so every item an instance managed to send is on disk.
    host.kill_all().await;
    door_stop.cancel();
    let _ = door_task.await;
    sink_stop.cancel();
    let sink_result = sink_task.await;

    let (schedule, probes) = match result {
        Ok(ok) => ok,
        Err(e) => {
            return Err(if cancel.is_cancelled() {
                RunError::Interrupted(out)
            } else {
                RunError::Failed(e)
            })
        }
    };
    let sink_rejected: u64 = match &sink_result {
        Ok(Ok(summary)) => summary.stats.rejected.values().sum(),
        _ => 0,
    };
    match sink_result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(RunError::Failed(anyhow::anyhow!("the sink failed: {e}"))),
        Err(e) => {
            return Err(RunError::Failed(anyhow::anyhow!(
                "the sink task failed: {e}"
            )))
        }
    }

    let run_dir = RunDir::new(&out);
    let spec = expected(s, scale, &schedule);
    // The probes and the ledger are in memory: write the one, and check with both rather
    // than read them back.
    let events = ledger.events();
    let write = || -> Result<reports::Verdict, reports::RunDirError> {
        run_dir.write_expected(&spec)?;
        run_dir.write_probes(&probes)?;
        run_dir.check_with(&spec, &probes, &events)
    };
    let verdict = write().map_err(|e| RunError::Failed(e.into()))?;
    let lag = probes::send_lag_ms(&probes);
    let summary = Summary::new(
        RunInfo {
            scenario: Some(plan.scenario_path.clone()),
            strategy: Some(s.strategy.to_string()),
            seed: Some(plan.seed),
            harness_version: env!("CARGO_PKG_VERSION").to_owned(),
            time_scale: Some(scale),
            started_ns: Some(started_ns),
            ended_ns: Some(clock.now_ns() as i64),
            probe_send_lag_ms: lag,
            wall_ms: Some(wall.elapsed().as_secs_f64() * 1e3),
            update_duration_ms: reports::ledger::update_duration_ms(&events),
            notes: if scale == 1.0 {
                Vec::new()
            } else {
                vec![format!(
                    "durations scaled by {scale}; process start-up time is real and did not scale"
                )]
            },
        },
        verdict,
    );
    let mut summary = summary;
    let mut thresholds = s.thresholds();
    thresholds.extend(plan.extra_thresholds.iter().cloned());
    summary.thresholds = reports::threshold::evaluate(
        &thresholds,
        &summary.verdict,
        summary.run.update_duration_ms,
    );
    // A run the harness could not measure properly is never reported as a pass.
    if let Some(lag) = summary.run.probe_send_lag_ms {
        let budget_ms = s.probes.max_send_lag.0.as_secs_f64() * 1e3;
        if lag.p99 > budget_ms {
            summary.invalid.push(format!(
                "the probe client lagged behind its schedule: send lag p99 {:.2} ms over the {budget_ms} ms budget",
                lag.p99
            ));
        }
    }
    if sink_rejected > 0 {
        summary.invalid.push(format!(
            "the sink refused {sink_rejected} request(s): the function sent malformed items"
        ));
    }
    run_dir
        .write_summary(&summary)
        .map_err(|e| RunError::Failed(e.into()))?;
    let junit = reports::threshold::junit(s.name(), &summary.thresholds, &summary.invalid);
    let _ = std::fs::write(out.join("junit.xml"), junit);
    // The reports are a view of the files: a failure to render them is reported, not fatal.
    if let Err(e) = reports::report::write(&run_dir) {
        tracing::warn!(error = %e, "rendering the reports failed; `harness report` can retry");
    }
    Ok(summary)
}

/// Sleeps until `at`, or returns false if the run was cancelled first.
async fn sleep_until(at: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(at) => true,
        () = cancel.cancelled() => false,
    }
}

/// The run itself, between start-up and clean-up.
async fn drive(
    plan: &RunPlan,
    host: &Host,
    clock: Arc<dyn Clock>,
    cancel: &CancellationToken,
    door_addr: std::net::SocketAddr,
) -> anyhow::Result<(Schedule, Vec<reports::Probe>)> {
    let s = &plan.scenario;
    let scale = plan.time_scale;
    let interrupted = || anyhow::anyhow!("interrupted");

    host.phase_begun("start", &s.app.from);
    tokio::select! {
        started = strategy::start_many(host, &s.app.from, PRODUCTION, s.app.instances) => { started?; }
        () = cancel.cancelled() => return Err(interrupted()),
    }
    host.phase_ended("start", &s.app.from);

    let schedule = Schedule {
        epoch_ns: clock.now_ns() as i64,
        epoch: Instant::now(),
        period: s.workload.period.scaled(scale),
    };
    let duration = s.run.duration.scaled(scale);
    let occurrences = s
        .run
        .duration
        .0
        .as_nanos()
        .div_ceil(s.workload.period.0.as_nanos()) as u64;
    let timer_stop = CancellationToken::new();
    let timer = tokio::spawn(crate::platform::timer::run(
        host.clone(),
        TimerOptions {
            function: match s.workload.trigger {
                Trigger::Timer => TimerFunction::Tick,
                Trigger::Queue => TimerFunction::Poll,
            },
            schedule,
            use_monitor: s.use_monitor(),
            staging_triggers: s.swap.as_ref().is_some_and(|w| w.staging_triggers),
        },
        s.first_expected(),
        occurrences,
        timer_stop.clone(),
    ));
    let probe_stop = CancellationToken::new();
    let probe_task = tokio::spawn(probes::run(
        ProbeConfig {
            url: format!("http://{door_addr}{}", s.probes.path),
            rate_per_s: s.probes.rate,
            timeout: s.probes.timeout.scaled(scale),
        },
        clock,
        schedule.epoch,
        schedule.epoch_ns,
        probe_stop.clone(),
    ));
    let queue_stop = CancellationToken::new();
    let dispatcher = (s.workload.trigger == Trigger::Queue).then(|| {
        let q = s.queue_settings();
        tokio::spawn(queue::run(
            host.clone(),
            QueueOptions {
                visibility: q.visibility.scaled(scale),
                max_dequeue: q.max_dequeue,
                batch_size: q.batch_size,
            },
            queue_stop.clone(),
        ))
    });
    let stop_background = || {
        timer_stop.cancel();
        probe_stop.cancel();
        queue_stop.cancel();
    };

    if !sleep_until(schedule.epoch + s.run.update_at.scaled(scale), cancel).await {
        stop_background();
        return Err(interrupted());
    }
    let update = {
        let (host, plan_kind) = (host.clone(), Plan::from_scenario(s, scale, plan.seed));
        let (from, to, n) = (s.app.from.clone(), s.app.to.clone(), s.app.instances);
        tokio::spawn(async move { plan_kind.perform(&host, &from, &to, n).await })
    };
    if !sleep_until(schedule.epoch + duration, cancel).await {
        stop_background();
        update.abort();
        return Err(interrupted());
    }
    timer_stop.cancel();
    let _ = timer.await;
    let updated = tokio::select! {
        r = update => r,
        () = cancel.cancelled() => { probe_stop.cancel(); return Err(interrupted()); }
    };
    match updated {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            probe_stop.cancel();
            return Err(e.context("the update failed"));
        }
        Err(e) => {
            probe_stop.cancel();
            return Err(anyhow::anyhow!("the update task failed: {e}"));
        }
    }
    // Let in-flight runs finish (and leased messages come back), within the settle time.
    let settled = async {
        while !(host.tasks().is_empty() && host.queue().is_empty()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(s.settle().scaled(scale), settled) => {}
        () = cancel.cancelled() => { stop_background(); return Err(interrupted()); }
    }
    queue_stop.cancel();
    if let Some(d) = dispatcher {
        let _ = d.await;
    }
    probe_stop.cancel();
    let alive: Vec<String> = host
        .instances()
        .into_iter()
        .filter(|v| v.phase != crate::platform::Phase::Exited)
        .map(|v| v.id)
        .collect();
    host.ledger().record(
        host.ledger()
            .event("run_ended", "", "", "")
            .with("alive", alive.join("+")),
    );
    let probes = probe_task.await.unwrap_or_default();
    Ok((schedule, probes))
}

/// The expected window: the occurrences whose whole loop fell inside the measured span.
pub fn expected(s: &Scenario, scale: f64, schedule: &Schedule) -> ExpectedSpec {
    ExpectedSpec {
        sources: vec![SourceSpec {
            source: s.source().into(),
            epoch_ns: schedule.epoch_ns,
            period_ns: schedule.period.as_nanos() as i64,
            items: u64::from(s.items_per_occurrence()),
            item_delay_ns: match s.workload.trigger {
                Trigger::Timer => s.workload.item_delay.scaled(scale).as_nanos() as i64,
                // Every message of a poll is due when the poll runs.
                Trigger::Queue => 0,
            },
            first: s.first_expected(),
            last: s.last_expected(),
        }],
        late_after_ns: s.late_after().scaled(scale).as_nanos() as i64,
    }
}
