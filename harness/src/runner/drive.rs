//! The run itself, on any platform: deploy, probe, update, settle. It always stops what it
//! started (triggers, probes, faults) and hands back what it measured, with the failure if
//! there was one; the platform is torn down whatever happened.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::measured::{Failure, Measured};
use super::sink_side::SinkSide;
use super::update::perform_update;
use crate::clock::{Clock, Schedule};
use crate::ledger::Ledger;
use crate::platform::Platform;
use crate::probes::{self, ProbeConfig};
use crate::run_plan::RunPlan;
use crate::scenario::Scenario;

/// Drives the run on `platform`, then tears it down whatever happened.
pub async fn run_on(
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
    let mut measured = Measured::default();
    let schedule = match deploy(plan, platform, clock, cancel).await {
        Ok(schedule) => schedule,
        Err(f) => {
            measured.failure = Some(f);
            return measured;
        }
    };
    measured.schedule = Some(schedule);
    platform.start_triggers(schedule);
    let probe_stop = CancellationToken::new();
    let live = crate::analysis::LiveProbes::default();
    let probe_task = start_probes(plan, platform, clock, sink, schedule, &live, &probe_stop);
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
            biased;
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
        Some(_) => clock
            .now()
            .duration_since(schedule.epoch)
            .div_f64(plan.time_scale),
    };
    measured.failure = failure;
    measured
}

/// Deploys version A and fixes the run's schedule: the platform's own, or from now.
async fn deploy(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    clock: Clock,
    cancel: &CancellationToken,
) -> Result<Schedule, Failure> {
    let s = &plan.scenario;
    tokio::select! {
        biased;
        deployed = platform.deploy(&s.app.from, s.app.instances) => {
            deployed.map_err(|e| Failure::new("start", format!("{e:#}")))?
        }
        () = cancel.cancelled() => return Err(Failure::interrupted("start")),
    };
    let Some(schedule) = platform.fixed_schedule() else {
        return Ok(Schedule::starting_now(&clock, plan.timing.period));
    };
    // An epoch fixed before the deploy (the app driver) must still be ahead of the warm-up's
    // end, or occurrences the run expects were due before anything could run them.
    let late = clock.now().saturating_duration_since(schedule.epoch);
    if late > plan.timing.warmup {
        return Err(Failure::new(
            "start",
            format!(
                "the deploy ended {:.1} s after the schedule's epoch, past run.warmup ({:.1} s \
                 scaled): the apps' timers were due before they ran; raise run.warmup",
                late.as_secs_f64(),
                plan.timing.warmup.as_secs_f64()
            ),
        ));
    }
    Ok(schedule)
}

/// Starts the probes of the front door and of the control on the schedule, until
/// `stop`; `live` gets the front door's for the analysis.
fn start_probes(
    plan: &RunPlan,
    platform: &Arc<dyn Platform>,
    clock: Clock,
    sink: &SinkSide,
    schedule: Schedule,
    live: &crate::analysis::LiveProbes,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<Vec<reports::Probe>> {
    let s = &plan.scenario;
    // Probes start at the epoch, or now when the epoch is already past (the app driver's):
    // a backlog of probes fired at once would only measure the client.
    let probe_start = schedule.epoch.max(clock.now());
    let probe_start_ns =
        schedule.epoch_ns + probe_start.duration_since(schedule.epoch).as_nanos() as i64;
    let mut probe = probe_config(s, platform.front_door(), plan.timing.probe_timeout);
    probe.host = platform.front_door_host();
    probe.net = sink.net.clone();
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
        control.net = sink.net.clone();
        control.label = Some(reports::probe::CONTROL_SERIES.into());
        targets.push(control);
    }
    tokio::spawn(probes::run_all(
        targets,
        clock,
        probe_start,
        probe_start_ns,
        stop.clone(),
    ))
}
