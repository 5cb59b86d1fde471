//! The Swarm platform on this machine's Docker Engine, a Swarm manager: Swarm's own update
//! of a service, start-first and one task at a time, and its own rollback of a release that
//! never becomes healthy, each judged from what the Engine and Swarm said (the ledger's
//! `engine` rows: the containers' kills, deaths and health, and the service's
//! `UpdateStatus`); and nothing of a run left in the Engine, nor of a harness that died.
//! These tests need the Engine: without one they fail, saying so, and never skip.

use std::collections::HashMap;

use harness::platform::docker::engine::{self, PID_LABEL, RUN_LABEL};
use harness::platform::docker::image;
use harness::scenario::Scenario;
use reports::ledger::Kind;
use reports::{LedgerEvent, RunDir, Summary};

use crate::common::{for_busy_machine, plan, run_valid, scenarios, testfn};

const SCALE: f64 = 0.1;

/// This Engine as a Swarm manager: `docker swarm init` once, as the README and `.ci/run`
/// say, when it is not one yet (a single-node swarm changes nothing else the tests use).
async fn swarm_manager() -> bollard::Docker {
    let docker = engine::connect()
        .await
        .expect("this machine's Docker Engine");
    let info = docker.info().await.unwrap();
    if info.swarm.and_then(|s| s.control_available) != Some(true) {
        let init = std::process::Command::new("docker")
            .args(["swarm", "init", "--advertise-addr", "127.0.0.1"])
            .output()
            .unwrap();
        // Another test may have made it one meanwhile.
        let said = String::from_utf8_lossy(&init.stderr);
        assert!(
            init.status.success() || said.contains("already part of a swarm"),
            "docker swarm init: {said}"
        );
    }
    docker
}

struct SwarmRun {
    summary: Summary,
    ledger: Vec<LedgerEvent>,
    _dir: tempfile::TempDir,
}

impl SwarmRun {
    fn engine(&self, action: &str) -> Vec<&LedgerEvent> {
        self.ledger
            .iter()
            .filter(|e| e.event == Kind::Engine && e.get("action") == Some(action))
            .collect()
    }

    /// Swarm's `UpdateStatus` states, in the order the ledger has them.
    fn update_states(&self) -> Vec<&str> {
        self.engine("service_update")
            .into_iter()
            .filter_map(|e| e.get("state"))
            .collect()
    }

    /// The tasks (instance ids) whose container ran `version`.
    fn tasks_of(&self, version: &str) -> Vec<String> {
        let mut tasks: Vec<String> = self
            .engine("start")
            .into_iter()
            .filter(|e| e.version == version)
            .map(|e| e.instance.clone())
            .collect();
        tasks.sort();
        tasks.dedup();
        tasks
    }

    /// The Engine's row of `action` about `task`'s container.
    fn of(&self, task: &str, action: &str) -> Option<&LedgerEvent> {
        self.engine(action).into_iter().find(|e| e.instance == task)
    }

    fn at(&self, kind: Kind, phase: &str) -> i64 {
        self.ledger
            .iter()
            .find(|e| e.event == kind && e.get("phase") == Some(phase))
            .unwrap_or_else(|| panic!("{kind:?} {phase} in the ledger"))
            .t_ns
    }

    /// The instances alive at the run's end, as the platform said.
    fn alive_at_end(&self) -> Vec<String> {
        let ended = self
            .ledger
            .iter()
            .find(|e| e.event == Kind::RunEnded)
            .expect("run_ended");
        let mut alive: Vec<String> = ended
            .get("alive")
            .unwrap_or("")
            .split('+')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        alive.sort();
        alive
    }
}

/// A task's slot, from its name `SERVICE.SLOT.TASK_ID`.
fn slot(task: &str) -> &str {
    task.split('.').nth(1).unwrap()
}

async fn run_swarm(name: &str) -> SwarmRun {
    let docker = swarm_manager().await;
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::load(&scenarios().join(name)).unwrap();
    for_busy_machine(&mut scenario);
    let out = dir.path().join("run");
    let summary = run_valid(plan(scenario, &out, SCALE)).await;
    let ledger = RunDir::new(&out).read_ledger().unwrap();
    // Nothing of the run is left: no service, no container, and every container the Engine
    // created was destroyed, as its own events say.
    let created = crate::docker::created_and_destroyed(&ledger);
    let service = created[0].instance.split('.').next().unwrap().to_owned();
    let run = service.strip_prefix("uh-").unwrap();
    assert!(engine::labelled(&docker, RUN_LABEL, run)
        .await
        .unwrap()
        .is_empty());
    assert!(
        docker.inspect_service(&service, None).await.is_err(),
        "the service {service} is removed"
    );
    SwarmRun {
        summary,
        ledger,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarm_replaces_each_task_start_first_and_each_old_task_sees_its_sigterm() {
    let r = run_swarm("swarm-rolling.toml").await;
    assert_eq!(r.update_states(), ["updating", "completed"]);
    assert!(
        r.ledger
            .iter()
            .any(|e| e.event == Kind::UpdateComplete && e.get("by") == Some("swarm")),
        "Swarm's completion is the update's end"
    );
    let (a, b) = (r.tasks_of("A"), r.tasks_of("B"));
    assert_eq!((a.len(), b.len()), (2, 2), "A: {a:?}, B: {b:?}");
    let update_began = r.at(Kind::PhaseBegun, "update");
    let started: HashMap<&str, i64> = b
        .iter()
        .map(|t| (slot(t), r.of(t, "start").unwrap().t_ns))
        .collect();
    for task in &a {
        // Swarm stopped it for the update: SIGTERM (15), then the app's own exit (0, the app
        // being PID 1), within the update.
        let kill = r
            .of(task, "kill")
            .unwrap_or_else(|| panic!("{task} killed"));
        let died = r.of(task, "die").unwrap_or_else(|| panic!("{task} died"));
        assert_eq!(kill.get("signal"), Some("15"), "{task}");
        assert_eq!(died.get("exit_code"), Some("0"), "{task}");
        assert!(kill.t_ns > update_began, "{task}");
        // Start-first: its slot's B task had started before it was stopped.
        assert!(
            started[slot(task)] < kill.t_ns,
            "{task} stopped before B's start"
        );
        // And the checker, from the app's own events, says the code saw it.
        let life = r
            .summary
            .verdict
            .instances
            .iter()
            .find(|i| &i.instance == task)
            .unwrap();
        assert!(life.cancelled_ns.is_some(), "{life:?}");
        assert_eq!(life.signals_sent, [15], "{life:?}");
        assert_eq!(life.exit_code, Some(0), "{life:?}");
    }
    assert_eq!(r.alive_at_end(), b, "B's tasks serve at the end");
    // What the update cost: only loops that an A task was running when Swarm stopped it,
    // their items after the one in hand never sent (finish-item). The lease may move to the
    // other A task, whose own stop comes later, so there may be one such loop per A task;
    // the app's own events say which loops were cancelled, and on which task.
    let occurrence: HashMap<(String, u64), u64> = r
        .ledger
        .iter()
        .filter(|e| e.event.app() == Some("run_begun"))
        .filter_map(|e| Some(((e.instance.clone(), e.get_u64("run")?), e.get_u64("m")?)))
        .collect();
    let cancelled: Vec<(u64, String)> = r
        .ledger
        .iter()
        .filter(|e| e.event.app() == Some("run_ended") && e.get("outcome") == Some("cancelled"))
        .filter_map(|e| {
            let m = occurrence.get(&(e.instance.clone(), e.get_u64("run")?))?;
            Some((*m, e.instance.clone()))
        })
        .collect();
    // Or, on a loaded machine, a loop no task began while the lease moved between tasks:
    // the ledger then holds no `run_begun` of it on any task.
    for i in &r.summary.verdict.lost_items {
        match i.cause.as_deref() {
            Some("killed_before_send") => assert!(
                cancelled
                    .iter()
                    .any(|(m, task)| *m == i.m && a.contains(task)),
                "{i:?} is of a loop an A task's SIGTERM cancelled: {cancelled:?}"
            ),
            Some("never_invoked") => assert!(
                !occurrence.values().any(|m| *m == i.m),
                "{i:?}: a task began that loop, yet it is never invoked"
            ),
            other => panic!("{i:?}: lost as {other:?}, which the ledger does not explain"),
        }
    }
    assert_eq!(r.summary.verdict.duplicated, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarm_rolls_back_a_release_whose_health_check_never_passes() {
    let r = run_swarm("swarm-rollback.toml").await;
    assert_eq!(
        r.update_states(),
        ["updating", "rollback_started", "rollback_completed"]
    );
    assert!(
        !r.ledger.iter().any(|e| e.event == Kind::UpdateComplete),
        "a rolled-back update never completed"
    );
    let rollback_started = r
        .engine("service_update")
        .into_iter()
        .find(|e| e.get("state") == Some("rollback_started"))
        .unwrap()
        .t_ns;
    let b = r.tasks_of("B");
    assert!(!b.is_empty());
    for task in &b {
        // Unhealthy by the health check, then stopped by Swarm, before the rollback began.
        let unhealthy = r
            .engine("health_status")
            .into_iter()
            .find(|e| &e.instance == task && e.get("status") == Some("unhealthy"));
        let kill = r
            .of(task, "kill")
            .unwrap_or_else(|| panic!("{task} killed"));
        assert!(unhealthy.is_some_and(|u| u.t_ns < kill.t_ns), "{task}");
        assert_eq!(kill.get("signal"), Some("15"));
    }
    assert!(
        b.iter()
            .any(|t| r.of(t, "kill").unwrap().t_ns <= rollback_started),
        "a B task failed before the rollback"
    );
    // A is what serves at the end: the rollback kept (or restarted) A's tasks.
    let alive = r.alive_at_end();
    assert_eq!(alive.len(), 2, "{alive:?}");
    for task in &alive {
        assert!(r.tasks_of("A").contains(task), "{task} runs A");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_of_a_harness_that_died_is_removed_by_the_next_run() {
    let docker = swarm_manager().await;
    let built = image::ensure(&docker, &testfn()).await.unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id().to_string();
    gone.wait().unwrap();
    let name = format!("orphan-svc-{}", std::process::id());
    let created = std::process::Command::new("docker")
        .args([
            "service",
            "create",
            "--detach",
            "--name",
            &name,
            "--replicas",
            "0",
        ])
        .args(["--label", &format!("{RUN_LABEL}={name}")])
        .args(["--label", &format!("{PID_LABEL}={dead_pid}")])
        .args([&built.tag, "--help"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(docker.inspect_service(&name, None).await.is_ok());
    assert!(engine::remove_orphans(&docker).await.unwrap() >= 1);
    assert!(docker.inspect_service(&name, None).await.is_err());
}

#[test]
fn the_health_command_passes_a_serving_test_function_and_fails_an_unready_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut answers = Vec::new();
    for start in ["ok", "unready"] {
        let addr_file = dir.path().join(start);
        let mut app = std::process::Command::new(testfn())
            .args([
                "--version",
                "A",
                "--instance",
                "h-0",
                "--sink",
                "http://127.0.0.1:9",
            ])
            .args(["--no-lifecycle", "--start", start])
            .arg("--addr-file")
            .arg(&addr_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The file appears once it serves (a poll: the process says nothing else).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !addr_file.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let health = std::process::Command::new(testfn())
            .arg("health")
            .arg("--addr-file")
            .arg(&addr_file)
            .output()
            .unwrap();
        answers.push((
            start,
            health.status.code(),
            String::from_utf8_lossy(&health.stderr).into_owned(),
        ));
        let _ = app.kill();
        let _ = app.wait();
    }
    assert_eq!(answers[0].1, Some(0), "{answers:?}");
    assert_eq!(answers[1].1, Some(1), "{answers:?}");
    assert!(answers[1].2.contains("503"), "{answers:?}");
    // No address, no pass.
    let missing = std::process::Command::new(testfn())
        .args(["health", "--addr-file"])
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}
