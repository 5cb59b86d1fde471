//! The runner on a virtual clock: a platform of the test's own (no process, nothing real but
//! the in-process sink) on a runtime whose time is paused. The run's schedule (the deploy,
//! the epoch, `update_at`, `rollback_at`, `duration`, the settle) must follow the clock
//! alone: every ledger row lands on the instant the scenario says, to the nanosecond, and an
//! hour-long scenario runs in well under a second of real time.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::clock::{Clock, Schedule};
use harness::ledger::Ledger;
use harness::platform::{BoxFuture, Platform, Rollback, Wiring};
use harness::runner::{self, RunOptions};
use harness::scenario::Scenario;
use reports::ledger::Kind;
use reports::LedgerEvent;
use tokio_util::sync::CancellationToken;

/// 2026-01-01T00:00:00Z: every timestamp of the run counts from here.
const EPOCH_NS: i64 = 1_767_225_600_000_000_000;

const SCENARIO: &str = r#"
name = "virtual"
strategy = "recreate"

[workload]
period = "10s"
items = 10
item_delay = "1s"

[run]
warmup = "20s"
update_at = "1800s"
rollback_at = "2400s"
duration = "3600s"
settle = "30s"

[probes]
rate = 1
timeout = "1s"
control = false
"#;

/// How long the test platform takes, in virtual time, for each step.
const DEPLOY: Duration = Duration::from_secs(7);
const UPDATE: Duration = Duration::from_secs(90);
const ROLLBACK: Duration = Duration::from_secs(45);
const SETTLE: Duration = Duration::from_secs(12);

/// A platform that runs nothing: each step takes its virtual time and says when it ran.
struct TestPlatform {
    ledger: Ledger,
    /// What the runner asked, when (ns on the run's clock).
    calls: Arc<Mutex<Vec<(String, i64)>>>,
}

impl TestPlatform {
    fn called(&self, what: &str) {
        let at = self.ledger.now_ns();
        self.calls.lock().unwrap().push((what.to_owned(), at));
    }
}

impl Platform for TestPlatform {
    fn front_door(&self) -> SocketAddr {
        // Nothing listens there: every probe is refused at once.
        "127.0.0.1:9".parse().unwrap()
    }

    fn deploy<'a>(&'a self, _version: &'a str, _n: u32) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.called("deploy");
            tokio::time::sleep(DEPLOY).await;
            Ok(())
        })
    }

    fn start_triggers(&self, schedule: Schedule) {
        self.calls
            .lock()
            .unwrap()
            .push(("start_triggers".into(), schedule.epoch_ns));
    }

    fn update<'a>(
        &'a self,
        _from: &'a str,
        _to: &'a str,
        _n: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.called("update");
            tokio::time::sleep(UPDATE).await;
            Ok(())
        })
    }

    fn rollback(&self) -> Option<&dyn Rollback> {
        Some(self)
    }

    fn stop_triggers(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.called("stop_triggers") })
    }

    fn settle(&self, _within: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.called("settle");
            tokio::time::sleep(SETTLE).await;
        })
    }

    fn alive(&self) -> Vec<String> {
        Vec::new()
    }

    fn teardown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.called("teardown") })
    }
}

impl Rollback for TestPlatform {
    fn rollback<'a>(
        &'a self,
        _from: &'a str,
        _to: &'a str,
        _n: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.called("rollback");
            tokio::time::sleep(ROLLBACK).await;
            Ok(())
        })
    }
}

struct Ran {
    calls: Vec<(String, i64)>,
    ledger: Vec<LedgerEvent>,
    summary: reports::Summary,
    real: Duration,
}

async fn run_virtual(out: &Path, time_scale: f64) -> Ran {
    let scenario = Scenario::parse(Path::new("virtual.toml"), SCENARIO).unwrap();
    let plan = crate::common::plan(scenario, out, time_scale);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let options = RunOptions {
        platform: Some(Box::new(move |w: Wiring| {
            Ok(Arc::new(TestPlatform {
                ledger: w.ledger,
                calls: seen,
            }) as Arc<dyn Platform>)
        })),
        ..RunOptions::default()
    };
    let real = Instant::now();
    let outcome = runner::run_with(
        plan,
        Clock::starting_at(EPOCH_NS),
        CancellationToken::new(),
        options,
    )
    .await
    .expect("the run starts");
    let real = real.elapsed();
    crate::common::assert_judged_again(out);
    let ledger = reports::RunDir::new(out).read_platform_ledger().unwrap();
    let calls = calls.lock().unwrap().clone();
    Ran {
        calls,
        ledger,
        summary: outcome.summary,
        real,
    }
}

fn at(calls: &[(String, i64)], what: &str) -> i64 {
    calls
        .iter()
        .find(|(w, _)| w == what)
        .unwrap_or_else(|| panic!("{what} in {calls:?}"))
        .1
}

fn row(ledger: &[LedgerEvent], event: Kind, phase: Option<&str>) -> i64 {
    ledger
        .iter()
        .find(|e| e.event == event && (phase.is_none() || e.get("phase") == phase))
        .unwrap_or_else(|| panic!("{event:?} {phase:?} in the ledger"))
        .t_ns
}

const S: i64 = 1_000_000_000;

#[tokio::test(start_paused = true)]
async fn the_runs_schedule_follows_the_virtual_clock_alone() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_virtual(&dir.path().join("run"), 1.0).await;
    let c = &r.calls;
    // The platform deploys at the clock's first instant; the schedule's epoch is when the
    // deploy ended, and every later step counts from it, as the scenario says.
    assert_eq!(at(c, "deploy"), EPOCH_NS);
    let epoch = EPOCH_NS + DEPLOY.as_nanos() as i64;
    assert_eq!(at(c, "start_triggers"), epoch);
    assert_eq!(at(c, "update"), epoch + 1800 * S, "run.update_at");
    assert_eq!(
        row(&r.ledger, Kind::PhaseBegun, Some("update")),
        epoch + 1800 * S
    );
    assert_eq!(
        row(&r.ledger, Kind::PhaseEnded, Some("update")),
        epoch + 1800 * S + UPDATE.as_nanos() as i64,
        "the runner's update phase spans the platform's update"
    );
    assert_eq!(
        row(&r.ledger, Kind::RollbackTriggered, None),
        epoch + 2400 * S
    );
    assert_eq!(at(c, "rollback"), epoch + 2400 * S, "run.rollback_at");
    assert_eq!(at(c, "stop_triggers"), epoch + 3600 * S, "run.duration");
    assert_eq!(at(c, "settle"), epoch + 3600 * S);
    let ended = epoch + 3600 * S + SETTLE.as_nanos() as i64;
    assert_eq!(row(&r.ledger, Kind::RunEnded, None), ended);
    assert_eq!(at(c, "teardown"), ended);
    let names: Vec<&str> = c.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        names,
        [
            "deploy",
            "start_triggers",
            "update",
            "rollback",
            "stop_triggers",
            "settle",
            "teardown"
        ]
    );
    // The summary's times are the clock's too.
    let run = &r.summary.run;
    assert_eq!(run.started_ns, Some(EPOCH_NS));
    assert_eq!(run.update_duration_ms, Some(UPDATE.as_secs_f64() * 1e3));
    // An hour of scenario in a fraction of real time: nothing waited on the real clock.
    assert!(r.real < Duration::from_secs(30), "{:?}", r.real);
}

#[tokio::test(start_paused = true)]
async fn a_time_scale_scales_the_schedule_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_virtual(&dir.path().join("run"), 0.5).await;
    let c = &r.calls;
    let epoch = EPOCH_NS + DEPLOY.as_nanos() as i64;
    assert_eq!(at(c, "start_triggers"), epoch);
    assert_eq!(at(c, "update"), epoch + 900 * S, "update_at x 0.5");
    assert_eq!(at(c, "rollback"), epoch + 1200 * S, "rollback_at x 0.5");
    assert_eq!(at(c, "stop_triggers"), epoch + 1800 * S, "duration x 0.5");
}
