//! The Docker platform on this machine's Docker Engine: each strategy on real containers,
//! judged from the ledger and the Engine's own events; the PID-1 trap's three entrypoints;
//! the image built once from the harness's own executable; and nothing of a run left in
//! the Engine, after a run and after Ctrl-C. These tests need the Engine: without one they
//! fail, saying so, and never skip.

use std::path::{Path, PathBuf};

use harness::platform::docker::engine::{self, PID_LABEL, RUN_LABEL};
use harness::platform::docker::image;
use harness::scenario::Scenario;
use reports::ledger::Kind;
use reports::{LedgerEvent, RunDir, Summary};

use crate::common::{for_busy_machine, plan, run_valid, scenarios, testfn};

/// Small enough for CI, large enough that a container's start-up (a few hundred ms) stays
/// well inside every scaled wait of the scenarios.
const SCALE: f64 = 0.1;

struct DockerRun {
    summary: Summary,
    ledger: Vec<LedgerEvent>,
    _dir: tempfile::TempDir,
}

impl DockerRun {
    /// The Engine's rows about `instance`'s container, with `action`.
    fn engine(&self, instance: &str, action: &str) -> Vec<&LedgerEvent> {
        self.ledger
            .iter()
            .filter(|e| e.event == Kind::Engine && e.instance == instance)
            .filter(|e| e.get("action") == Some(action))
            .collect()
    }

    fn engine_ns(e: &LedgerEvent) -> i64 {
        e.get("engine_ns").unwrap().parse().unwrap()
    }

    /// The occurrences no instance could run (`occurrence_missed`): a replacement not yet
    /// ready when one was due.
    fn missed(&self) -> Vec<u64> {
        self.ledger
            .iter()
            .filter(|e| e.event == Kind::OccurrenceMissed)
            .filter_map(|e| e.get_u64("m"))
            .collect()
    }

    /// Every lost item is of the run the stop interrupted (`m`, killed before it was sent),
    /// or of an occurrence the ledger says no instance could run.
    fn assert_lost_only_the_stopped_run(&self, m: u64) {
        let missed = self.missed();
        for i in &self.summary.verdict.lost_items {
            let cause = i.cause.as_deref();
            assert!(
                (i.m == m && cause == Some("killed_before_send"))
                    || (missed.contains(&i.m) && cause == Some("never_invoked")),
                "{i:?} (missed occurrences: {missed:?})"
            );
        }
    }

    /// The instance's life as the checker tells it.
    fn life(&self, instance: &str) -> &reports::lifecycle::InstanceLife {
        self.summary
            .verdict
            .instances
            .iter()
            .find(|i| i.instance == instance)
            .unwrap_or_else(|| panic!("{instance} in {:?}", self.summary.verdict.instances))
    }
}

/// Runs a committed docker scenario (with a busy machine's budgets) and checks that the
/// Engine holds nothing of it afterwards.
async fn run_docker(name: &str, edit: impl FnOnce(&mut Scenario)) -> DockerRun {
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::load(&scenarios().join(name)).unwrap();
    for_busy_machine(&mut scenario);
    edit(&mut scenario);
    let out = dir.path().join("run");
    let summary = run_valid(plan(scenario, &out, SCALE)).await;
    let ledger = RunDir::new(&out).read_ledger().unwrap();
    assert_nothing_left(&ledger).await;
    DockerRun {
        summary,
        ledger,
        _dir: dir,
    }
}

/// The Engine's `create` rows of the ledger, each of whose containers the Engine's own
/// `destroy` row says is gone; there is at least one.
pub fn created_and_destroyed(ledger: &[LedgerEvent]) -> Vec<&LedgerEvent> {
    let created: Vec<&LedgerEvent> = ledger
        .iter()
        .filter(|e| e.event == Kind::Engine && e.get("action") == Some("create"))
        .collect();
    assert!(
        !created.is_empty(),
        "the Engine's create events are in the ledger"
    );
    for e in &created {
        let name = e.get("container").unwrap();
        assert!(
            ledger
                .iter()
                .any(|d| d.get("action") == Some("destroy") && d.get("container") == Some(name)),
            "{name} was destroyed"
        );
    }
    created
}

/// No container of the run is left in the Engine: the ledger names each one the Engine
/// created and destroyed, and the Engine lists none with the run's label.
async fn assert_nothing_left(ledger: &[LedgerEvent]) {
    let created = created_and_destroyed(ledger);
    let docker = engine::connect()
        .await
        .expect("this machine's Docker Engine");
    for e in created {
        let name = e.get("container").unwrap();
        let run = engine::run_of_container(name, &e.instance).unwrap();
        let left = engine::labelled(&docker, RUN_LABEL, &run).await.unwrap();
        assert!(left.is_empty(), "containers of run {run} left: {left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recreate_on_containers_is_down_from_the_engines_kill_to_the_new_containers_ready() {
    let r = run_docker("docker-recreate.toml", |_| {}).await;
    let v = &r.summary.verdict;
    // The Engine killed A's container with SIGKILL and it died of it.
    let kills = r.engine("a-0", "kill");
    assert_eq!(kills.len(), 1, "{kills:?}");
    assert_eq!(kills[0].get("signal"), Some("9"));
    let died = r.engine("a-0", "die");
    assert_eq!(died[0].get("exit_code"), Some("137"));
    assert_eq!(r.life("a-0").exit_code, Some(137));
    // B's container was created only after A's died: nothing served in between.
    let b_created = r.engine("b-0", "create");
    assert!(DockerRun::engine_ns(b_created[0]) > DockerRun::engine_ns(died[0]));
    // One downtime window: from the stop (A out of the front door's routes, then killed)
    // until B's container answered, each within a probe interval (10 ms) and the lag the
    // probe client recorded around it (a probe due before B was ready but sent after it
    // found B).
    assert_eq!(v.downtime.windows, 1, "{:?}", v.downtime);
    let w = &v.downtime.intervals[0];
    let at = |kind: Kind, instance: &str, phase: Option<&str>| {
        r.ledger
            .iter()
            .find(|e| e.event == kind && e.instance == instance && e.get("phase") == phase)
            .unwrap()
            .t_ns
    };
    let stop_ns = at(Kind::PhaseBegun, "", Some("stop"));
    let ready_ns = at(Kind::InstanceReady, "b-0", None);
    let probe_ns = 10_000_000;
    let probes = RunDir::new(r._dir.path().join("run"))
        .read_probes()
        .unwrap();
    let lag_ns = crate::common::probe_lag_ns(&probes, stop_ns - probe_ns, ready_ns + probe_ns);
    assert!(
        w.start_ns >= stop_ns - probe_ns && w.start_ns <= DockerRun::engine_ns(died[0]) + probe_ns,
        "the window starts {} ms after the stop",
        (w.start_ns - stop_ns) / 1_000_000
    );
    assert!(
        w.end_ns >= ready_ns - probe_ns - lag_ns && w.end_ns <= ready_ns + probe_ns + lag_ns,
        "the window ends {} ms after B's ready",
        (w.end_ns - ready_ns) / 1_000_000
    );
    // The killed run's unsent items are lost, and only those.
    assert!(v.lost > 0);
    r.assert_lost_only_the_stopped_run(6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_update_of_three_containers_loses_nothing_and_is_never_down() {
    let r = run_docker("docker-rolling.toml", |_| {}).await;
    let v = &r.summary.verdict;
    assert_eq!((v.lost, v.duplicated), (0, 0), "{:?}", v.lost_items);
    assert_eq!(v.downtime.windows, 0, "{:?}", v.downtime);
    // Each of A's three containers was stopped by the update, one batch after another,
    // and three of B's were started; B's three ran to the end.
    let mut a_deaths = Vec::new();
    for i in 0..3 {
        let (a, b) = (format!("a-{i}"), format!("b-{i}"));
        let died = r.engine(&a, "die");
        assert_eq!(died.len(), 1, "{a}: {died:?}");
        assert_eq!(r.engine(&b, "start").len(), 1, "{b}");
        a_deaths.push(DockerRun::engine_ns(died[0]));
    }
    a_deaths.sort();
    assert!(a_deaths.windows(2).all(|w| w[0] < w[1]), "{a_deaths:?}");
    let ended = r.ledger.iter().find(|e| e.event == Kind::RunEnded).unwrap();
    assert_eq!(ended.get("alive"), Some("b-0+b-1+b-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blue_green_switches_between_two_ready_containers_and_loses_the_recycled_runs_tail() {
    let r = run_docker("docker-blue-green.toml", |_| {}).await;
    let v = &r.summary.verdict;
    assert_eq!(v.downtime.windows, 0, "{:?}", v.downtime);
    // A's container is recycled after the swap: SIGKILLed by the Engine, mid-run.
    assert_eq!(r.engine("a-0", "kill")[0].get("signal"), Some("9"));
    let killed_ns = DockerRun::engine_ns(r.engine("a-0", "kill")[0]);
    let swapped = r
        .ledger
        .iter()
        .find(|e| e.event == Kind::PhaseEnded && e.get("phase") == Some("swap"))
        .unwrap();
    assert!(killed_ns > swapped.t_ns);
    // What it lost is what it had not sent when it was killed: the run begun at 60 s sent
    // its items in order, each that arrived sent (by the app's own stamp) before the
    // Engine's kill, and the rest, its tail, is lost. How many that is depends on when the
    // swap came (B's container start-up is real time) and how far the loop had got.
    let arrivals = RunDir::new(r._dir.path().join("run"))
        .read_arrivals()
        .unwrap();
    let of_6: Vec<_> = arrivals.iter().filter(|a| a.m == 6).collect();
    let sent: std::collections::BTreeSet<u64> = of_6.iter().map(|a| a.n).collect();
    let k = sent.len() as u64;
    assert_eq!(sent, (0..k).collect(), "the loop sends in order");
    for a in &of_6 {
        let sent_ns = a.sent_ns.expect("the app stamps its sends");
        assert!(sent_ns < killed_ns, "{a:?} sent after the kill");
    }
    let lost: std::collections::BTreeSet<u64> = v
        .lost_items
        .iter()
        .filter(|i| i.m == 6)
        .map(|i| i.n)
        .collect();
    assert_eq!(lost, (k..10).collect(), "the lost are the rest of the run");
    r.assert_lost_only_the_stopped_run(6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_drain_on_containers_hands_over_through_the_mounted_stash() {
    let r = run_docker("docker-drain.toml", |_| {}).await;
    let v = &r.summary.verdict;
    assert_eq!((v.lost, v.duplicated), (0, 0), "{:?}", v.lost_items);
    // The drain needed no signal: A's container stopped after SafeToStop, and B replayed
    // the stash A wrote in the directory mounted into both.
    assert!(r
        .ledger
        .iter()
        .any(|e| e.event == Kind::PhaseEnded && e.get("phase") == Some("prepare_for_stop")));
    assert!(
        r.ledger.iter().any(|e| e.event.app() == Some("stashed")),
        "A stashed its run"
    );
    assert!(!r.engine("a-0", "die").is_empty());
}

/// The PID-1 trap: the same app and the same graceful stop, three entrypoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigterm_reaches_the_code_only_when_the_app_is_pid_1() {
    let grace_ms = 5_000.0 * SCALE;
    // Exec form: the app is PID 1, its token fires, it stashes and exits 0.
    let exec = run_docker("docker-graceful-exec.toml", |_| {}).await;
    let a = exec.life("a-0");
    assert_eq!(a.signals_sent, [15], "{a:?}");
    assert_eq!(a.cancellation_reached(), Some(true));
    assert_eq!(a.exit_code, Some(0));
    // Nothing of the stopped run is lost: it was stashed, and B sent the rest, late.
    exec.assert_lost_only_the_stopped_run(u64::MAX);
    assert!(
        exec.summary.verdict.late > 0,
        "the stashed items arrive late"
    );

    // A shell wrapper as PID 1: the SIGTERM is dropped; the Engine's SIGKILL comes at the
    // end of the grace, and the run in progress is lost.
    let shell = run_docker("docker-graceful-shell.toml", |_| {}).await;
    let a = shell.life("a-0");
    assert_eq!(a.signals_sent, [15, 9], "{a:?}");
    assert_eq!(a.cancellation_reached(), Some(false));
    assert_eq!(a.exit_code, Some(137));
    // The SIGKILL came after the whole grace: from the host's `instance_stopping` (stamped
    // before it asked for the SIGTERM and began to wait) to the Engine's own kill-9 event
    // (which cannot precede the request), both on this machine's wall clock. The Engine's
    // kill-15 event is not the start: under load the Engine may log it late.
    let kills = shell.engine("a-0", "kill");
    let stopping = shell
        .ledger
        .iter()
        .find(|e| e.event == Kind::InstanceStopping && e.instance == "a-0")
        .expect("the host stopped a-0");
    let waited_ms = (DockerRun::engine_ns(kills[1]) - stopping.t_ns) as f64 / 1e6;
    assert!(
        waited_ms >= grace_ms,
        "SIGKILL {waited_ms} ms after the stop began, the grace is {grace_ms} ms"
    );
    assert!(shell.summary.verdict.lost > 0);
    shell.assert_lost_only_the_stopped_run(6);

    // The same wrapper under docker-init: the shell gets the SIGTERM and dies of it, the
    // init with it, and the app is killed with the container, never having seen it.
    let init = run_docker("docker-graceful-shell-init.toml", |_| {}).await;
    let a = init.life("a-0");
    assert_eq!(a.signals_sent, [15], "{a:?}");
    assert_eq!(a.cancellation_reached(), Some(false));
    assert_eq!(a.exit_code, Some(143));
    assert!(init.summary.verdict.lost > 0);
    init.assert_lost_only_the_stopped_run(6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_fault_freezes_the_container_through_the_engine() {
    let r = run_docker("faults/pause.toml", |s| {
        s.platform.kind = harness::platform::PlatformKind::Docker;
    })
    .await;
    let paused = r.engine("a-0", "pause");
    let unpaused = r.engine("a-0", "unpause");
    assert_eq!((paused.len(), unpaused.len()), (1, 1), "{:?}", r.ledger);
    let (paused_ns, unpaused_ns) = (
        DockerRun::engine_ns(paused[0]),
        DockerRun::engine_ns(unpaused[0]),
    );
    let frozen_ms = (unpaused_ns - paused_ns) as f64 / 1e6;
    let pause_ms = 4_000.0 * SCALE;
    // On containers the harness asks the Engine, and stamps the request (`fault_acted`)
    // once it is queued; the Engine acts on it when it comes, and its own events say when.
    // So the thaw was asked the pause's length after the freeze at least, and the Engine
    // froze the container then thawed it: how long that took it on each side is the
    // machine's, not the fault's.
    let acted = |action: &str| {
        r.ledger
            .iter()
            .find(|e| e.event == Kind::FaultActed && e.get("action") == Some(action))
            .unwrap_or_else(|| panic!("{action} in {:#?}", r.ledger))
            .t_ns
    };
    let asked_ms = (acted("sigcont") - acted("sigstop")) as f64 / 1e6;
    assert!(
        asked_ms >= pause_ms,
        "thaw asked {asked_ms} ms after the freeze"
    );
    assert!(
        frozen_ms > 0.0,
        "the Engine paused, then unpaused: {frozen_ms} ms"
    );
    // And the app felt the whole of it: the loop running then (30 s to 39 s) stood still,
    // so its item due just after the freeze went only at the thaw, late by the frozen span
    // less at most one item delay (1 s, 100 ms here).
    let latest_ms = r
        .summary
        .verdict
        .late_items
        .iter()
        .filter_map(|i| i.lateness_ms)
        .fold(0.0, f64::max);
    assert!(
        latest_ms >= frozen_ms - 100.0,
        "the latest item was {latest_ms} ms late, the container frozen {frozen_ms} ms"
    );
    // A frozen container loses nothing: its loop resumes where it stood.
    assert_eq!(r.summary.verdict.lost, 0);
    assert!(r.summary.verdict.late > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_image_is_built_from_the_executable_once_and_found_after() {
    let docker = engine::connect()
        .await
        .expect("this machine's Docker Engine");
    let program: PathBuf = testfn();
    let first = image::ensure(&docker, &program).await.unwrap();
    let second = image::ensure(&docker, &program).await.unwrap();
    assert_eq!(first.tag, second.tag);
    assert!(second.build_ms.is_none(), "the second asks built it again");
    assert!(first.tag.starts_with("update-harness/testfn:"));
    // Another executable is another image.
    let other = Path::new(env!("CARGO_BIN_EXE_harness"));
    let third = image::ensure(&docker, other).await.unwrap();
    assert_ne!(third.tag, first.tag);
    // The image runs the executable it was built from: `--help` of the test function.
    let out = std::process::Command::new("docker")
        .args(["run", "--rm", "--network", "none"])
        .args(["--label", &format!("{PID_LABEL}={}", std::process::id())])
        .args(["--entrypoint", &first.program, &first.tag, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--sink"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_mid_run_leaves_no_container_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let path = scenarios().join("docker-rolling.toml");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        // The tests keep their runs out of the history store.
        .env("HARNESS_NO_HISTORY", "1")
        .args([
            "run",
            path.to_str().unwrap(),
            "--time-scale",
            "0.1",
            "--quiet",
        ])
        .args(["--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let docker = engine::connect()
        .await
        .expect("this machine's Docker Engine");
    // Interrupted once its three containers run (the ledger says when).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ledger = std::fs::read_to_string(out.join("ledger.csv")).unwrap_or_default();
        if ledger.matches("action=start").count() >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no containers started: {ledger}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        engine::labelled(&docker, PID_LABEL, &pid)
            .await
            .unwrap()
            .len(),
        3
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.status.success(), "an interrupted run does not pass");
    let left = engine::labelled(&docker, PID_LABEL, &pid).await.unwrap();
    assert!(left.is_empty(), "left after Ctrl-C: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_containers_of_a_harness_that_died_are_removed_by_the_next_run() {
    let docker = engine::connect()
        .await
        .expect("this machine's Docker Engine");
    let built = image::ensure(&docker, &testfn()).await.unwrap();
    // A process that has exited: its pid is free (and not reused this quickly).
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id().to_string();
    gone.wait().unwrap();
    let run = format!("orphan-{}", std::process::id());
    let created = std::process::Command::new("docker")
        .args(["create", "--network", "none"])
        .args(["--label", &format!("{RUN_LABEL}={run}")])
        .args(["--label", &format!("{PID_LABEL}={dead_pid}")])
        .args(["--entrypoint", &built.program, &built.tag, "--help"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_eq!(
        engine::labelled(&docker, RUN_LABEL, &run)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(engine::remove_orphans(&docker).await.unwrap() >= 1);
    assert!(engine::labelled(&docker, RUN_LABEL, &run)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_past_its_containers_memory_limit_is_killed_by_the_kernel_and_the_engine_says_so()
{
    let r = run_docker("docker-oom.toml", |_| {}).await;
    // Every container of B was killed at its limit: the Engine's oom, then its death with
    // 137; none of them ever served.
    let oom: Vec<&LedgerEvent> = r
        .ledger
        .iter()
        .filter(|e| e.event == Kind::Engine && e.get("action") == Some("oom"))
        .collect();
    assert!(!oom.is_empty(), "the Engine said oom");
    assert!(oom.iter().all(|e| e.version == "B"), "{oom:?}");
    for e in &oom {
        let life = r.life(&e.instance);
        assert!(life.oom_killed, "{life:?}");
        assert_eq!(life.exit_code, Some(137));
    }
    assert!(
        !r.ledger
            .iter()
            .any(|e| e.event == Kind::InstanceReady && e.version == "B"),
        "no container of B became ready"
    );
    // A, limited the same, held nothing and served until the update killed it.
    assert_eq!(r.life("a-0").exit_code, Some(137));
    assert!(!r.life("a-0").oom_killed);
    let v = &r.summary.verdict;
    assert!(v.downtime.windows >= 1);
    assert!(v.lost > 0);
}
