//! What a run leaves behind when it goes wrong, and the exit codes a CI job reads: every
//! failed run ends with `summary.json` and `junit.xml`, says what failed even when quiet,
//! and leaves no process behind, whoever reads its output or kills it.

use reports::ledger::Kind;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::scenario::Scenario;
use reports::RunDir;

use crate::common::{harness, relaxed, scenarios, surviving_pids, text};

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pyfn() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/pyfn.py")
}

/// A relaxed copy of a committed scenario with one TOML edit.
fn edited(name: &str, dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let path = relaxed(name, dir);
    let text = edit(std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_failed_update_ends_the_run_at_once_and_leaves_every_file() {
    // The Python app has no /admin/mode: the drain cannot proceed.
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let scenario = relaxed("seed-drain.toml", dir.path());
    let out = harness(&[
        "run",
        scenario.to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--out",
        out_dir.to_str().unwrap(),
        "--app-command",
        pyfn().to_str().unwrap(),
        "--expect",
        "lost == 0",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // --json prints the summary, the same as summary.json.
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let summary = json(&out_dir.join("summary.json"));
    assert_eq!(printed.to_string(), summary.to_string());
    assert_eq!(summary["run"]["failed_phase"], "update");
    assert_eq!(summary["run"]["app_command"], pyfn().display().to_string());
    let why = summary["invalid"][0].as_str().unwrap();
    assert!(
        why.contains("admin mode endpoint") && why.contains("404"),
        "says what the app lacks: {why}"
    );
    // What was measured up to the failure was checked, and the threshold evaluated on it.
    assert!(summary["verdict"]["expected"].as_u64().unwrap() > 0);
    assert_eq!(summary["thresholds"][0]["threshold"], "lost == 0");
    // It ended at the failed update, not after the whole duration (100 s x 0.05).
    let ledger = reports::RunDir::new(&out_dir).read_ledger().unwrap();
    let at = |event: Kind| ledger.iter().find(|e| e.event == event).unwrap().t_ns;
    let epoch_ns = json(&out_dir.join("expected.json"))["sources"][0]["epoch_ns"]
        .as_i64()
        .unwrap();
    let ended_s = (at(Kind::RunEnded) - epoch_ns) as f64 / 1e9;
    let update_ns = ledger
        .iter()
        .find(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
        .unwrap()
        .t_ns;
    let update_s = (update_ns - epoch_ns) as f64 / 1e9;
    assert!(
        ended_s < 5.0,
        "ended {ended_s} s after the epoch, before the run's 5 s were out (update at 3.25 s)"
    );
    assert!(ended_s > update_s);
    // JUnit: an errored case naming the reason, and the threshold.
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert!(error
        .attribute("message")
        .unwrap()
        .contains("admin mode endpoint"));
    assert!(junit.contains("name=\"lost == 0\""), "{junit}");
    // The reason reaches a person's log too.
    assert!(
        text(&out.stderr).contains("INVALID RUN: "),
        "{}",
        text(&out.stderr)
    );
    assert!(surviving_pids(&ledger).is_empty());
}

#[test]
fn a_closed_stdout_neither_panics_nor_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    // Relaxed budgets: a busy machine must not make the run invalid (exit 3) here.
    let scenario = relaxed("seed-recreate.toml", dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        // The tests keep their runs out of the history store.
        .env("HARNESS_NO_HISTORY", "1")
        .args(["run", scenario.to_str().unwrap()])
        .args(["--time-scale", "0.01", "--out"])
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away at once, as `| head -1` does once it has its line.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "no panic (101), the run's own verdict"
    );
    assert!(out_dir.join("summary.json").exists());
    assert!(out_dir.join("report.md").exists());
}

#[test]
fn usage_errors_exit_2_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("arrivals.csv"), "recv_ns,source,m,n,version\n").unwrap();
    let swap = scenarios().join("seed-swap.toml");
    let swap = swap.to_str().unwrap();
    let out = harness(&["run", swap, "--out", taken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("already holds a run"));

    let out = harness(&["run", swap, "--baseline", "no-such-baseline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--baseline no-such-baseline: no summary.json"),
        "{}",
        text(&out.stderr)
    );
    let out = harness(&["run", swap, "--app-command", "/no/such/app"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/no/such/app does not exist"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no run directory was made"
    );
}

#[test]
fn quiet_still_says_which_threshold_failed() {
    let dir = tempfile::tempdir().unwrap();
    let out = harness(&[
        "run",
        crate::common::swap_that_loses(dir.path()).to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--out",
        dir.path().join("run").to_str().unwrap(),
        "--expect",
        "lost == 0",
        "--expect",
        "duplicated == 0",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "quiet");
    let stderr = text(&out.stderr);
    let lost = json(&dir.path().join("run/summary.json"))["verdict"]["lost"]
        .as_u64()
        .unwrap();
    assert_eq!(
        stderr.trim(),
        format!("FAILED lost == 0 (lost = {lost})"),
        "only the failed threshold, with its value"
    );
}

#[test]
fn each_cause_of_an_invalid_run_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    // The probe client lags behind its schedule past its budget (1 ns: always).
    let lagging = edited("seed-recreate.toml", dir.path(), |t| {
        t.replace("max_send_lag = \"1s\"", "max_send_lag = \"1ns\"")
    });
    let out = harness(&[
        "run",
        lagging.to_str().unwrap(),
        "--time-scale",
        "0.02",
        "--out",
        dir.path().join("lag").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("INVALID RUN: the probe client lagged behind its schedule"),
        "{}",
        text(&out.stderr)
    );

    // The function sends items the sink refuses: a version label that is not one.
    let app = dir.path().join("bad-version.sh");
    std::fs::write(
        &app,
        format!(
            "#!/bin/sh\nexec python3 {} \"$@\" --version 9-not-a-label\n",
            pyfn().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&app, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = harness(&[
        "run",
        relaxed("seed-recreate.toml", dir.path()).to_str().unwrap(),
        "--time-scale",
        "0.02",
        "--out",
        dir.path().join("refused").to_str().unwrap(),
        "--app-command",
        app.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let summary = json(&dir.path().join("refused/summary.json"));
    let why = summary["invalid"][0].as_str().unwrap();
    assert!(
        why.contains("the sink refused") && why.contains("invalid_item"),
        "{why}"
    );
    assert_eq!(
        summary["verdict"]["arrivals"], 0,
        "nothing refused was recorded"
    );
}

#[test]
fn a_harness_killed_with_sigkill_leaves_no_instance() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        // The tests keep their runs out of the history store.
        .env("HARNESS_NO_HISTORY", "1")
        .args([
            "run",
            scenarios().join("seed-rolling.toml").to_str().unwrap(),
        ])
        .args(["--time-scale", "0.1", "--out"])
        .arg(&out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ledger = out_dir.join("ledger.csv");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&ledger)
        .unwrap_or_default()
        .matches("instance_ready")
        .count()
        < 3
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("instances never became ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no handler runs; only the kernel's parent-death signal can stop the instances.
    child.kill().unwrap();
    child.wait().unwrap();
    let events = reports::RunDir::new(&out_dir).read_ledger().unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == Kind::InstanceStarted)
            .count(),
        3
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !surviving_pids(&events).is_empty() {
        assert!(
            Instant::now() < deadline,
            "instances outlived the harness: {:?}",
            surviving_pids(&events)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_recorded_scenario_is_the_scenario_as_run() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let out = harness(&[
        "run",
        relaxed("seed-swap.toml", dir.path()).to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--seed",
        "7",
        "--out",
        out_dir.to_str().unwrap(),
        "--expect",
        "duplicated == 0",
        "--quiet",
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        text(&out.stderr)
    );
    let recorded = Scenario::load(&out_dir.join("scenario.toml")).unwrap();
    assert_eq!((recorded.time_scale, recorded.seed), (0.05, 7));
    assert_eq!(recorded.timer.use_monitor, Some(false), "[timer] filled in");
    assert!(recorded.run.settle.is_some() && recorded.workload.late_after.is_some());
    assert!(
        matches!(recorded.strategy, harness::scenario::Strategy::Swap(_)),
        "the strategy's section, with its defaults"
    );
    assert_eq!(recorded.app.command, None, "the built-in function");
    assert!(recorded
        .expect
        .as_ref()
        .unwrap()
        .thresholds
        .contains(&"duplicated == 0".to_owned()));
    // Nothing is left to fill in: recording it again changes nothing.
    let app = harness::app::AppProgram::builtin().unwrap();
    assert_eq!(recorded.as_run(0.05, 7, &app), recorded);
    // And the summary agrees with it.
    let summary = json(&out_dir.join("summary.json"));
    assert_eq!(summary["run"]["seed"], 7);
    assert_eq!(summary["run"]["time_scale"], 0.05);
    assert_eq!(summary["run"]["app_command"], "harness testfn (built in)");
    assert!(std::fs::read_to_string(out_dir.join("report.md"))
        .unwrap()
        .contains("| app command | harness testfn (built in) |"));
}

#[test]
fn compare_says_which_threshold_failed_and_exits_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let swap = crate::common::swap_that_loses(dir.path());
    let with_expect =
        std::fs::read_to_string(&swap).unwrap() + "\n[expect]\nthresholds = [\"lost == 0\"]\n";
    std::fs::write(&swap, with_expect).unwrap();
    let drain = relaxed("seed-drain.toml", dir.path());
    let cmp = dir.path().join("cmp");
    // 1: a threshold failed in a run; two runs at once (--jobs 2), each in its directory.
    let out = harness(&[
        "compare",
        swap.to_str().unwrap(),
        drain.to_str().unwrap(),
        "--repeat",
        "1",
        "--jobs",
        "2",
        "--time-scale",
        "0.05",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lost = json(&cmp.join("seed-swap/run-1/summary.json"))["verdict"]["lost"]
        .as_u64()
        .unwrap();
    let line = format!("- seed-swap run 1: lost == 0 (lost = {lost})");
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
    for shown in [&stdout, &md] {
        assert!(shown.contains("## Failed thresholds"), "{shown}");
        assert!(shown.contains(&line), "{shown}");
    }
    assert!(cmp.join("seed-drain/run-1/summary.json").exists());
    let junit = std::fs::read_to_string(cmp.join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("run 1: lost == 0 (lost = {lost})")),
        "{junit}"
    );
    assert!(!junit.contains("Some("), "{junit}");

    // 2: a scenario that does not parse.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "strategy = \"teleport\"\n").unwrap();
    let out = harness(&["compare", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // 3: every run of a scenario failed (its probe client can never meet a 1 ns budget).
    let hopeless = edited("seed-recreate.toml", dir.path(), |t| {
        t.replace("max_send_lag = \"1s\"", "max_send_lag = \"1ns\"")
    });
    let out = harness(&[
        "compare",
        hopeless.to_str().unwrap(),
        "--repeat",
        "2",
        "--time-scale",
        "0.02",
        "--out",
        dir.path().join("cmp3").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("| seed-recreate | recreate | 2 (2) |"));
}

/// The run's own sink at its connection cap makes the run invalid: past the cap any refused
/// request may have been an item. With a cap of one connection, the control probe's kept-alive
/// connection and the function's own overlap for the whole run, so one of them is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_s_sink_at_its_connection_cap_makes_the_run_invalid() {
    let (_, scenario) = crate::common::load("seed-swap.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut plan = crate::common::plan(scenario, &out, 0.05);
    plan.sink_max_connections = 1;
    let outcome = crate::common::run(plan).await;
    assert!(!outcome.is_valid());
    let reasons = outcome.summary.invalid.join("; ");
    let counted: u64 = reasons
        .split("the sink refused ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the cap is named among the reasons: {reasons}"));
    assert!(
        reasons.contains("past its cap of 1 connections (overloaded)"),
        "{reasons}"
    );
    // What the clients saw: control probes answered 503, and items the sink answered 503
    // (in the function's log). Each was one refusal the sink counted; it counted at least
    // those, and at least one.
    let control_refused = RunDir::new(&out)
        .read_probes()
        .unwrap()
        .iter()
        .filter(|p| p.conn.as_deref() == Some("control") && p.status == Some(503))
        .count() as u64;
    let logs: String = std::fs::read_dir(out.join("instances"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let items_refused = logs.matches("the sink answered 503").count() as u64;
    assert!(
        control_refused + items_refused >= 1,
        "a client saw the refusal"
    );
    assert!(
        counted >= control_refused + items_refused && counted >= 1,
        "{counted} counted, {control_refused} control probes and {items_refused} submits refused"
    );
    crate::common::assert_nothing_left(&out);
}
