//! The runner: one scenario, end to end, into a run directory.
//!
//! It starts the sink (in process, on its own listener) and the platform, probes the front
//! door, performs the update at `update_at`, runs on until `duration`, lets in-flight work
//! settle, stops everything, writes the run directory and judges it. Whatever happens once
//! the run directory is chosen (an error, a failed update, an instance that never became
//! ready, Ctrl-C), every instance is stopped first, and the run ends with its files:
//! `summary.json` says why it failed, in which phase, and what was measured up to then;
//! `junit.xml` has an errored test case naming the reason. The runner never names a
//! platform: it drives the one [`crate::platform::kind::build`] gives it.
//!
//! - `sink_side`: the sink and the fault proxy, and what the sink refused;
//! - `drive`: deploy, probes, faults, settle, teardown;
//! - `update` and `rollback_gate`: the update on the schedule, and its rollback;
//! - [`expected`]: the expected window, as far as the schedule got;
//! - here: the run's phases in order, its record, and its judgement through
//!   [`reports::judge`], the function `harness check` shares.

mod drive;
mod expected;
mod measured;
mod rollback_gate;
mod sink_side;
mod update;

use std::path::PathBuf;
use std::sync::Arc;

use reports::judge::{self, Judgement};
use reports::record::{BaselineRecord, Record};
use reports::{LedgerEvent, RunDir, RunInfo, Summary, Verdict};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::ledger::Ledger;
use crate::platform::{kind, Platform, Wiring};
use crate::probes;
pub use crate::run_plan::{BaselinePlan, RunPlan};
pub use expected::expected;
use measured::{Failure, Measured};
use sink_side::SinkSide;

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

    /// A threshold failed, a metric regressed past its tolerance, or one left its budget.
    pub fn failed_a_check(&self) -> bool {
        self.summary.thresholds.iter().any(|t| !t.ok)
            || self.summary.baseline.iter().any(|c| c.regression)
            || self
                .summary
                .budgets
                .iter()
                .any(|b| b.state == reports::budget::BudgetState::Fail)
    }
}

/// Whether `dir` already holds a run, which a new run must not mix with.
pub fn holds_a_run(dir: &std::path::Path) -> bool {
    dir.join(sink::ARRIVALS_FILE).exists() || dir.join(reports::rundir::SUMMARY_FILE).exists()
}

/// Runs the plan on the machine's clock; `cancel` (Ctrl-C) stops it early, cleanly.
pub async fn run(plan: RunPlan, cancel: CancellationToken) -> Result<RunOutcome, RunError> {
    run_with(plan, Clock::system(), cancel, RunOptions::default()).await
}

/// Whether the plan's platform runs in virtual time, on a runtime of its own.
pub fn is_virtual(plan: &RunPlan) -> bool {
    plan.scenario.capabilities().virtual_time
}

/// The runtime a plan's run needs: the machine's, with a thread per core; or, for a platform
/// in virtual time, one thread whose clock is paused, so that nothing but the run's own
/// order decides what happens when, and the run is the same every time.
pub fn runtime_for(plan: &RunPlan) -> std::io::Result<tokio::runtime::Runtime> {
    if is_virtual(plan) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    }
}

/// The plan's clock, read on the runtime [`runtime_for`] gave: virtual time from
/// [`crate::clock::VIRTUAL_EPOCH_NS`], or the machine's.
pub fn clock_for(plan: &RunPlan) -> Clock {
    if is_virtual(plan) {
        Clock::starting_at(crate::clock::VIRTUAL_EPOCH_NS)
    } else {
        Clock::system()
    }
}

/// Runs `plan` on a runtime of its own ([`runtime_for`]), blocking the calling thread.
pub fn run_blocking(
    plan: RunPlan,
    cancel: CancellationToken,
    options: RunOptions,
) -> Result<RunOutcome, RunError> {
    let runtime =
        runtime_for(&plan).map_err(|e| RunError::Setup(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let clock = clock_for(&plan);
        run_with(plan, clock, cancel, options).await
    })
}

/// What a caller may add to a run.
#[derive(Default)]
pub struct RunOptions {
    /// Called once with the run's ledger as soon as it exists (a progress bar follows it).
    pub on_ledger: Option<OnLedger>,
    /// Builds the platform instead of the scenario's kind: a test's, or a simulation's.
    pub platform: Option<PlatformFactory>,
}

/// Told the run's ledger once it exists.
pub type OnLedger = Box<dyn FnOnce(&Ledger) + Send>;

/// Builds a run's platform from what the runner hands every platform.
pub type PlatformFactory = Box<dyn FnOnce(Wiring) -> anyhow::Result<Arc<dyn Platform>> + Send>;

/// Runs the plan on `clock`: every time the run reads, stamps or sleeps until comes from it
/// (virtual time, on a runtime whose time is paused).
pub async fn run_with(
    plan: RunPlan,
    clock: Clock,
    cancel: CancellationToken,
    options: RunOptions,
) -> Result<RunOutcome, RunError> {
    let wall = clock.now();
    let started_ns = clock.now_ns();
    let out = prepare(&plan)?;
    let ledger = Ledger::create(&out.join(reports::rundir::LEDGER_FILE), clock)
        .map_err(|e| RunError::Setup(format!("creating the ledger: {e}")))?;
    if let Some(f) = options.on_ledger {
        f(&ledger);
    }
    let mut measured = measure(&plan, &ledger, clock, &cancel, options.platform).await;
    let run_dir = RunDir::new(&out);
    let events = history(&ledger, &run_dir, &mut measured);
    let verdict = check(&plan, &run_dir, &mut measured, &events);
    let interrupted = measured.failure.as_ref().is_some_and(|f| f.interrupted);
    let ended = Ended {
        started_ns,
        ended_ns: clock.now_ns(),
        wall_ms: clock.now().duration_since(wall).as_secs_f64() * 1e3,
    };
    let info = run_info(&plan, &mut measured, &events, verdict.is_some(), ended);
    let invalid = invalid_of(measured);
    let baseline = plan.baseline.as_ref().map(|b| BaselineRecord {
        name: b.name.clone(),
        max_regression: b.max_regression.clone(),
        summary: b.summary.clone(),
    });
    let mut record = Record::new(info, invalid, baseline);
    record.budgets = plan.budgets.clone();
    let (summary, warnings) = finish(&plan, &run_dir, &record, verdict);
    Ok(RunOutcome {
        interrupted,
        summary,
        warnings,
    })
}

/// Chooses the run directory and writes the scenario as run into it: with the time scale,
/// the seed, the app and every default filled in, it travels with the run (the reports
/// show it, running it again reproduces the run, and `harness check` judges by its rules).
fn prepare(plan: &RunPlan) -> Result<PathBuf, RunError> {
    let out = plan.out_dir.clone();
    if holds_a_run(&out) {
        return Err(RunError::OutDirTaken(out));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| RunError::Setup(format!("creating {}: {e}", out.display())))?;
    let text = toml::to_string(&plan.scenario_as_run())
        .map_err(|e| RunError::Setup(format!("recording the scenario: {e}")))?;
    std::fs::write(out.join("scenario.toml"), text)
        .map_err(|e| RunError::Setup(format!("writing scenario.toml: {e}")))?;
    Ok(out)
}

/// Starts the sink and the platform, drives the run, and stops both, whatever happened, the
/// platform first, so every item an instance managed to send is on disk.
async fn measure(
    plan: &RunPlan,
    ledger: &Ledger,
    clock: Clock,
    cancel: &CancellationToken,
    factory: Option<PlatformFactory>,
) -> Measured {
    let setup_failed = |e: String| Measured {
        failure: Some(Failure::new("setup", e)),
        ..Measured::default()
    };
    let net = kind::network(plan);
    let sink = match SinkSide::start(plan, ledger, clock, &net).await {
        Ok(s) => s,
        Err(e) => return setup_failed(e),
    };
    let wiring = Wiring {
        ledger: ledger.clone(),
        clock,
        sink_url: sink.app_url.clone(),
        sink_token: sink.token.clone(),
        net: net.clone(),
    };
    let built = match factory {
        Some(build) => build(wiring),
        None => kind::build(plan, wiring).await,
    };
    let mut measured = match built {
        Ok(platform) => drive::run_on(plan, &platform, ledger, clock, &sink, cancel).await,
        Err(e) => setup_failed(format!(
            "starting the {} platform: {e:#}",
            plan.scenario.platform.kind.as_str()
        )),
    };
    sink.stop(&mut measured).await;
    measured
}

/// The run's history: the platform's ledger and the apps' own events (the sink has closed
/// events.csv).
fn history(ledger: &Ledger, run_dir: &RunDir, measured: &mut Measured) -> Vec<LedgerEvent> {
    let mut events = ledger.events();
    match run_dir.read_app_events() {
        Ok(app) => events.extend(app),
        Err(e) => measured
            .invalid
            .push(format!("reading the apps' lifecycle events: {e}")),
    }
    events
}

/// Checks whatever was measured, as far as the schedule got; `None` when nothing could be.
fn check(
    plan: &RunPlan,
    run_dir: &RunDir,
    measured: &mut Measured,
    events: &[LedgerEvent],
) -> Option<Verdict> {
    let spec = measured
        .schedule
        .as_ref()
        .and_then(|schedule| expected(&plan.scenario, &plan.timing, schedule, measured.window_end));
    let checked = (|| -> Result<Option<Verdict>, reports::RunDirError> {
        run_dir.write_probes(&measured.probes)?;
        let Some(spec) = &spec else { return Ok(None) };
        run_dir.write_expected(spec)?;
        // The probes and the ledger are in memory: check with both rather than read them back.
        reports::checker::check_run_with(run_dir, spec, &measured.probes, events).map(Some)
    })();
    match checked {
        Ok(v) => v,
        Err(e) => {
            if measured.failure.is_none() {
                measured.failure = Some(Failure::new("check", format!("checking the run: {e}")));
            }
            None
        }
    }
}

/// When the run began and ended, on its clock.
struct Ended {
    started_ns: i64,
    ended_ns: i64,
    wall_ms: f64,
}

/// The run's identity and its own measurements, for its record.
fn run_info(
    plan: &RunPlan,
    measured: &mut Measured,
    events: &[LedgerEvent],
    measured_any: bool,
    ended: Ended,
) -> RunInfo {
    let s = &plan.scenario;
    let failure = measured.failure.as_ref();
    let mut notes = Vec::new();
    if plan.time_scale != 1.0 {
        let start_up = if is_virtual(plan) { "modelled" } else { "real" };
        notes.push(format!(
            "durations scaled by {}; process start-up time is {start_up} and did not scale",
            plan.time_scale
        ));
    }
    notes.append(&mut measured.notes);
    if failure.is_some() && measured_any {
        notes.push(
            "the run stopped early: the expected window ends with the last whole loop before it stopped"
                .into(),
        );
    }
    RunInfo {
        scenario: Some(plan.scenario_path.clone()),
        name: Some(s.name().to_owned()),
        strategy: Some(s.strategy.to_string()),
        case: Some(s.case.clone()),
        seed: Some(plan.seed),
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        time_scale: Some(plan.time_scale),
        started_ns: Some(ended.started_ns),
        ended_ns: Some(ended.ended_ns),
        probe_send_lag_ms: probes::send_lag_ms(&measured.probes),
        wall_ms: Some(ended.wall_ms),
        update_duration_ms: reports::ledger::update_duration_ms(events),
        update_command_ms: reports::ledger::phase_span_ms(events, "update_command"),
        update_complete_ms: reports::ledger::update_complete_ms(events),
        platform: Some(s.platform.kind.as_str().to_owned()),
        driver: Some(s.driver().as_str().to_owned()),
        notes,
        app_command: Some(plan.program.to_string()),
        failed_phase: failure.map(|f| f.phase.to_owned()),
        unmeasured: !measured_any,
    }
}

/// Why the measuring itself went wrong: the phase the run failed in, then the rest.
fn invalid_of(measured: Measured) -> Vec<String> {
    let mut invalid = Vec::new();
    if let Some(f) = &measured.failure {
        invalid.push(if f.interrupted {
            f.reason.clone()
        } else {
            format!("the run failed in phase {}: {}", f.phase, f.reason)
        });
    }
    invalid.extend(measured.invalid);
    invalid
}

/// Writes the record, judges the run, writes the judgement and renders the reports: the
/// summary, and what the user should read that is not about the app.
fn finish(
    plan: &RunPlan,
    run_dir: &RunDir,
    record: &Record,
    verdict: Option<Verdict>,
) -> (Summary, Vec<String>) {
    let measured_any = verdict.is_some();
    let mut warnings = Vec::new();
    let written = |e: String| {
        format!(
            "writing the run's files into {}: {e}",
            run_dir.path().display()
        )
    };
    if let Err(e) = run_dir.write_record(record) {
        warnings.push(written(e.to_string()));
    }
    let judgement = judge::judge(plan.scenario.name(), record, verdict, &plan.rules())
        .unwrap_or_else(|e| {
            // The tolerances were parsed when the plan was resolved.
            warnings.push(format!("judging the run: {e}"));
            Judgement {
                summary: Summary::new(record.run.clone(), Verdict::default()),
                junit: String::new(),
                warnings: Vec::new(),
            }
        });
    warnings.extend(judgement.warnings.iter().cloned());
    if let Err(e) = judge::write(run_dir, &judgement) {
        warnings.push(written(e));
    }
    // The reports are a view of the files: a failure to render them is reported, not fatal.
    if measured_any {
        if let Err(e) = reports::report::write(run_dir) {
            warnings.push(format!(
                "rendering the reports failed ({e}); `harness report {}` can retry",
                run_dir.path().display()
            ));
        }
    }
    (judgement.summary, warnings)
}
