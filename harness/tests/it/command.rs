//! The command platform end to end on a platform of shell commands
//! (`tests/platforms/recreate.sh`: real app processes on the front door's port, stopped with
//! SIGTERM and replaced): each driver, the lease, failing and hanging commands, and the
//! causes the apps' own events give, held against what the host's ledger says.

use reports::ledger::Kind;
use std::path::{Path, PathBuf};

use harness::scenario::Scenario;
use reports::{LedgerEvent, RunDir};

use crate::common;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/platforms/recreate.sh")
}

/// A command-platform scenario on the recreate script; `extra` is appended to
/// `[workload]`, `update_arg` to the update command (`fail`, `hang`).
fn scenario(driver: &str, instances: u32, extra: &str, update_arg: &str) -> Scenario {
    let s = script().display().to_string();
    let text = format!(
        r#"
strategy = "recreate-by-script"
[platform]
kind = "command"
url = "http://127.0.0.1:0"
deploy = ["{s}", "deploy"]
update = ["{s}", "update", "{update_arg}"]
status = ["{s}", "status"]
teardown = ["{s}", "teardown"]
timeout = "10s"
[app]
instances = {instances}
[workload]
driver = "{driver}"
period = "10s"
items = 10
item_delay = "1s"
{extra}
[run]
warmup = "10s"
update_at = "45s"
duration = "70s"
[probes]
rate = 100
new_connections = true
"#
    );
    let mut scenario = Scenario::parse(Path::new("command.toml"), &text).unwrap();
    common::for_busy_machine(&mut scenario);
    scenario
}

async fn run(scenario: Scenario, out: &Path) -> reports::Summary {
    let plan = common::plan(scenario, out, 0.1);
    common::run(plan).await.summary
}

fn commands_run(ledger: &[LedgerEvent]) -> Vec<String> {
    ledger
        .iter()
        .filter(|e| e.event == Kind::CommandEnded)
        .filter_map(|e| Some(format!("{}={}", e.get("command")?, e.get("exit")?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_driver_invokes_through_the_front_door_and_the_ledger_explains_the_losses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let summary = run(scenario("harness", 1, "", ""), &out).await;
    assert!(summary.invalid.is_empty(), "{:?}", summary.invalid);
    assert_eq!(summary.run.platform.as_deref(), Some("command"));
    assert_eq!(summary.run.strategy.as_deref(), Some("recreate-by-script"));
    let v = &summary.verdict;
    assert_eq!(v.expected, 60, "occurrences 1..=6, 10 items each");
    // The recreate stops A in the middle of occurrence 4 (its run is cancelled); every loss
    // is explained, none unexplained.
    assert_eq!(v.causes.lost.unexplained, 0, "{:?}", v.lost_items);
    assert!(v.lost > 0, "the recreate cuts occurrence 4 short");
    for item in &v.lost_items {
        assert!(
            (4..=5).contains(&item.m),
            "only around the update: {item:?}"
        );
    }
    let ledger = RunDir::new(&out).read_ledger().unwrap();
    let commands = commands_run(&ledger);
    for c in ["deploy=0", "update=0", "status=0", "teardown=0"] {
        assert!(commands.contains(&c.to_owned()), "{commands:?}");
    }
    assert!(ledger.iter().any(|e| e.event == Kind::UpdateComplete));
    assert!(out.join("commands/00-deploy.log").exists());
    // Both probe series were measured and told apart.
    assert_eq!(
        v.downtime_by_conn.keys().collect::<Vec<_>>(),
        ["new", "reused"]
    );
    // A's cancellation token fired: it said so before exiting.
    let a = v.instances.iter().find(|i| i.instance == "a-0").unwrap();
    assert_eq!(a.cancellation_reached(), Some(true), "{a:?}");
    common::assert_nothing_left(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_driver_fires_on_every_instance_unless_a_lease_picks_one() {
    let dir = tempfile::tempdir().unwrap();
    let both = run(scenario("app", 2, "", ""), &dir.path().join("both")).await;
    assert!(both.invalid.is_empty(), "{:?}", both.invalid);
    // Two instances, each with its own timer: every occurrence before the update runs twice.
    let v = &both.verdict;
    assert!(
        v.duplicated >= 20,
        "occurrences 1..=3 twice: {}",
        v.duplicated
    );
    assert_eq!(
        v.causes.duplicated.double_timer, v.duplicated,
        "{:?}",
        v.causes
    );

    let leased = run(
        scenario("app", 2, "lease = \"tick\"\nlease_ttl = \"5s\"", ""),
        &dir.path().join("leased"),
    )
    .await;
    assert!(leased.invalid.is_empty(), "{:?}", leased.invalid);
    assert_eq!(leased.verdict.duplicated, 0, "one holder at a time");
    // And the holder did fire: the occurrences before the update all arrived.
    assert!(
        leased.verdict.delivered >= 30,
        "occurrences 1..=3 at least: {}",
        leased.verdict.delivered
    );
    let events = RunDir::new(dir.path().join("leased"))
        .read_app_events()
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.event.app() == Some("lease_acquired")));
    common::assert_nothing_left(&dir.path().join("both"));
    common::assert_nothing_left(&dir.path().join("leased"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_none_driver_measures_availability_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let summary = run(scenario("none", 1, "", ""), &out).await;
    assert!(summary.invalid.is_empty(), "{:?}", summary.invalid);
    let v = &summary.verdict;
    assert_eq!((v.expected, v.lost, v.arrivals), (0, 0, 0));
    assert!(v.downtime.probes > 1000, "{:?}", v.downtime.probes);
    // Stopping A before B binds the port refuses connections for a moment.
    assert!(
        v.downtime
            .failed_by
            .keys()
            .any(|k| k == "refused" || k == "reset" || k == "eof"),
        "{:?}",
        v.downtime.failed_by
    );
    common::assert_nothing_left(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_hanging_update_makes_the_run_invalid_and_teardown_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (arg, why) in [
        ("fail", "exited with code 7"),
        ("hang", "did not end within"),
    ] {
        let out = dir.path().join(arg);
        let mut s = scenario("harness", 1, "", arg);
        s.platform.timeout = Some(harness::duration::Span::from_secs(2));
        let summary = run(s, &out).await;
        let reasons = summary.invalid.join("; ");
        assert!(reasons.contains("phase update"), "{reasons}");
        assert!(reasons.contains(why), "{reasons}");
        assert_eq!(summary.run.failed_phase.as_deref(), Some("update"));
        let ledger = RunDir::new(&out).read_ledger().unwrap();
        let commands = commands_run(&ledger);
        assert!(commands.contains(&"teardown=0".to_owned()), "{commands:?}");
        common::assert_nothing_left(&out);
        // The hanging command's own child (a sleep) went with its process group.
        if arg == "hang" {
            let pid = std::fs::read_to_string(out.join("platform/hang.pid"))
                .expect("the hanging update wrote its sleep's pid");
            let pid = pid.trim();
            assert!(!common::is_live(pid), "the hanging sleep {pid} survived");
        }
    }
}

/// The apps' own events give the same causes as the host's ledger: the same scenario on the
/// local platform, checked once with the ledger and once with only the apps' events (as a
/// command platform would have it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_give_the_causes_the_hosts_ledger_gives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut s = Scenario::load(&common::scenarios().join("seed-graceful.toml")).unwrap();
    common::for_busy_machine(&mut s);
    common::run_valid(common::plan(s, &out, 0.05)).await;
    let run = RunDir::new(&out);
    let spec = run.read_expected().unwrap();
    let probes = run.read_probes().unwrap();
    let by_host = reports::checker::check_run_with(
        &run,
        &spec,
        &probes,
        &run.read_platform_ledger().unwrap(),
    )
    .unwrap();
    let mut told = run.read_app_events().unwrap();
    // The run's end, which the command platform's ledger has too.
    told.extend(
        run.read_platform_ledger()
            .unwrap()
            .into_iter()
            .filter(|e| e.event == Kind::RunEnded),
    );
    let by_apps = reports::checker::check_run_with(&run, &spec, &probes, &told).unwrap();
    assert!(
        by_host.lost > 0,
        "the graceful stop loses the cancelled run's rest"
    );
    assert_eq!(
        by_host.causes.lost.unexplained, 0,
        "{:?}",
        by_host.lost_items
    );
    assert!(
        by_apps.causes.lost.killed_before_send > 0,
        "{:?}",
        by_apps.causes
    );
    let causes = |v: &reports::Verdict| -> Vec<(u64, u64, String)> {
        v.lost_items
            .iter()
            .map(|i| (i.m, i.n, format!("{:?}", i.cause)))
            .collect()
    };
    assert_eq!(causes(&by_apps), causes(&by_host));
    assert_eq!(by_apps.causes.lost, by_host.causes.lost);
}

/// A sink with a token: the apps on a command platform get it in their environment, the
/// local platform's instances on their command line, and either way every item and event
/// is recorded, none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sinks_token_reaches_every_app() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = scenario("harness", 1, "", "");
    s.sink.token = Some("t0ken".into());
    let out = dir.path().join("command");
    let summary = run(s, &out).await;
    assert!(summary.invalid.is_empty(), "{:?}", summary.invalid);
    assert!(
        summary.verdict.delivered > 40,
        "{}",
        summary.verdict.delivered
    );
    assert!(!RunDir::new(&out).read_app_events().unwrap().is_empty());

    let mut local = Scenario::load(&common::swap_that_loses(dir.path())).unwrap();
    local.sink.token = Some("env:HARNESS_TEST_NO_SUCH_VARIABLE".into());
    let missing = run(local.clone(), &dir.path().join("missing")).await;
    assert!(
        missing
            .invalid
            .join(" ")
            .contains("HARNESS_TEST_NO_SUCH_VARIABLE"),
        "{:?}",
        missing.invalid
    );
    local.sink.token = Some("t0ken".into());
    let plan = common::plan(local, &dir.path().join("local"), 0.05);
    let summary = common::run_valid(plan).await;
    // Every item the instances sent was taken: none refused, and only the swap's recycled
    // run lost its last ones.
    assert!(
        summary.run.notes.iter().all(|n| !n.contains("refused")),
        "{:?}",
        summary.run.notes
    );
    // What the ledger says happened, not a count loosened for a busy machine: every lost
    // item was the recycled run's, left unsent when it was killed at the swap (its last
    // ones, of one occurrence); how many depends on how far the machine let it get.
    let v = &summary.verdict;
    assert!(
        v.lost >= 1,
        "the recycled run lost its tail: {:?}",
        v.lost_items
    );
    assert_eq!(
        v.lost, v.causes.lost.killed_before_send,
        "every lost item unsent by the killed run: {:?}",
        v.lost_items
    );
    let occurrences: std::collections::BTreeSet<u64> = v.lost_items.iter().map(|i| i.m).collect();
    assert_eq!(occurrences.len(), 1, "{:?}", v.lost_items);
    let mut tail: Vec<u64> = v.lost_items.iter().map(|i| i.n).collect();
    tail.sort_unstable();
    let items = 10;
    assert_eq!(
        tail,
        (items - v.lost..items).collect::<Vec<_>>(),
        "its last items"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_completion_query_runs_over_the_apps_own_events_against_the_status_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let completion = "\n[completion]\ncheck_interval = \"10s\"\nbuffer = \"30s\"\n";
    let summary = run(scenario("harness", 1, completion, ""), &out).await;
    assert!(summary.invalid.is_empty(), "{:?}", summary.invalid);
    let c = summary
        .verdict
        .completion
        .as_ref()
        .expect("[completion] asks for the estimate");
    let ledger = RunDir::new(&out).read_ledger().unwrap();
    let at = |pred: &dyn Fn(&LedgerEvent) -> bool| ledger.iter().find(|e| pred(e)).unwrap().t_ns;
    let update_begun = at(&|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"));
    let status_said = at(&|e| e.event == Kind::UpdateComplete);
    assert_eq!(c.deployment_start_ns, update_begun);
    assert_eq!(c.truth, reports::completion::TruthKind::Status);
    assert_eq!(c.true_complete_ns, Some(status_said));
    assert!(!c.evaluations.is_empty());
    // The lines are the apps' own events: A heartbeats until it stops, so the query says
    // NO while A's last event is inside the check interval, and YES once it is not.
    let a_last = ledger
        .iter()
        .filter(|e| e.event.app().is_some() && e.instance == "a-0")
        .map(|e| e.t_ns)
        .max()
        .unwrap();
    for e in &c.evaluations {
        // Heartbeats come every 250 ms, well inside the 1 s interval: A is seen exactly
        // while its last event is no older than the interval.
        let a_seen = a_last >= e.t_ns - c.params.check_interval_ns;
        assert_eq!(e.complete, !a_seen, "at {}: {e:?}", e.t_ns - update_begun);
        assert_eq!(e.truly_complete, e.t_ns >= status_said);
        assert_eq!(e.false_yes, e.complete && e.t_ns < status_said);
    }
    assert_eq!(
        c.false_yes,
        c.evaluations.iter().filter(|e| e.false_yes).count() as u64
    );
    common::assert_nothing_left(&out);
}

/// What a Ctrl-C test started: the harness (in its own process group, as a shell's job is)
/// and the apps the script put on the front door. Dropped while armed (the test failed
/// before it saw everything gone), it kills every one of them, the command groups the
/// ledger names too, so a failing test leaves nothing behind.
struct Started {
    harness: std::process::Child,
    out: PathBuf,
    app_pids: Vec<u32>,
    armed: bool,
}

impl Drop for Started {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let kill = |pid: i32, signal: i32| {
            // SAFETY: plain kill(2) of a process (pid > 0) or a group (pid < 0) we started.
            unsafe { libc::kill(pid, signal) };
        };
        if matches!(self.harness.try_wait(), Ok(None)) {
            kill(-(self.harness.id() as i32), libc::SIGKILL);
            let _ = self.harness.wait();
        }
        let ledger = RunDir::new(&self.out)
            .read_platform_ledger()
            .unwrap_or_default();
        for e in ledger.iter().filter(|e| e.event == Kind::CommandStarted) {
            if let Some(pgid) = e.get_u64("pid").filter(|&p| p > 0) {
                kill(-(pgid as i32), libc::SIGKILL);
            }
        }
        for &pid in &self.app_pids {
            if common::is_live(&pid.to_string()) {
                kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// Polls `ledger.csv` (written as events happen) until `found` holds, for at most `within`;
/// `None` if the harness exited or the time ran out first.
fn poll_ledger(
    started: &mut Started,
    within: std::time::Duration,
    found: impl Fn(&[LedgerEvent]) -> bool,
) -> Option<Vec<LedgerEvent>> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        // A line half written is no error: it is read again on the next poll.
        if let Ok(ledger) = RunDir::new(&started.out).read_platform_ledger() {
            if found(&ledger) {
                return Some(ledger);
            }
        }
        if !matches!(started.harness.try_wait(), Ok(None)) {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// Ctrl-C in the middle of a command-platform run, as a terminal sends it (SIGINT to the
/// harness's process group): the run stops before its update, `teardown` still runs and
/// succeeds, the harness exits 130 with its files written, and nothing the scripts started
/// outlives it (docs/commands.md, "Exit codes" and "Ctrl-C ... stops every instance";
/// docs/scenarios.md, `platform.teardown`: "always run ... also after ... Ctrl-C").
#[test]
fn ctrl_c_stops_a_command_platform_run_and_its_teardown_still_runs() {
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // The update is far off (30 s at this scale): the interrupt lands mid-run, before it,
    // and a harness that ignored it would run past the wait below.
    let mut s = scenario("harness", 1, "", "");
    s.run.update_at = harness::duration::Span::from_secs(300);
    s.run.duration = harness::duration::Span::from_secs(600);
    let file = dir.path().join("command.toml");
    std::fs::write(&file, toml::to_string(&s).unwrap()).unwrap();
    let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
    let harness = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .env("HARNESS_NO_HISTORY", "1")
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--time-scale", "0.1"])
        .stdin(std::process::Stdio::null())
        .stdout(log("harness.out"))
        .stderr(log("harness.err"))
        .process_group(0)
        .spawn()
        .expect("harness starts");
    let mut started = Started {
        harness,
        out: out.clone(),
        app_pids: Vec::new(),
        armed: true,
    };
    let stderr = || std::fs::read_to_string(dir.path().join("harness.err")).unwrap_or_default();

    // Under way: deployed, and the front door answered the first tick.
    let under_way = poll_ledger(&mut started, Duration::from_secs(60), |l| {
        commands_run(l).contains(&"deploy=0".to_owned())
            && l.iter().any(|e| e.event == Kind::InvocationOk)
    });
    assert!(
        under_way.is_some(),
        "the run never got under way: {}",
        stderr()
    );
    started.app_pids = std::fs::read_to_string(out.join("platform/app.pids"))
        .expect("deploy recorded its app's pid")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(started.app_pids.len(), 1, "{:?}", started.app_pids);
    let pgid = started.harness.id() as i32;
    // SAFETY: kill(2) of the harness's own process group, which this test made.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGINT) }, 0);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = started.harness.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the harness did not exit within 30 s of Ctrl-C: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{status:?}: {}", stderr());
    assert!(stderr().contains("interrupted"), "{}", stderr());

    let ledger = RunDir::new(&out).read_ledger().unwrap();
    assert_eq!(
        commands_run(&ledger),
        ["deploy=0", "teardown=0"],
        "interrupted before the update, torn down by the script"
    );
    let summary = RunDir::new(&out)
        .read_summary()
        .unwrap()
        .expect("an interrupted run still writes summary.json");
    assert!(
        summary.invalid.iter().any(|r| r.contains("interrupted")),
        "{:?}",
        summary.invalid
    );
    assert_eq!(summary.run.failed_phase.as_deref(), Some("run"));
    for pid in &started.app_pids {
        assert!(
            !common::is_live(&pid.to_string()),
            "app {pid} outlived the run"
        );
    }
    common::assert_nothing_left(&out);
    started.armed = false;
}
