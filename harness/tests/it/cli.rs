//! The `harness` binary as a user runs it.

use reports::ledger::Kind;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{harness, relaxed, scenarios, text};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/examples")
}

fn example() -> PathBuf {
    examples().join("seed-swap")
}

/// A copy of a run directory, for a command that rewrites what it judges.
fn copy_of(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

#[test]
fn check_rewrites_every_committed_examples_judgement_as_it_was() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let dir = entry.unwrap().path();
        let copy = copy_of(&dir);
        let out = harness(&["check", copy.path().to_str().unwrap()]);
        assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
        for file in ["summary.json", "junit.xml"] {
            assert_eq!(
                std::fs::read_to_string(copy.path().join(file)).unwrap(),
                std::fs::read_to_string(dir.join(file)).unwrap(),
                "{}/{file}",
                dir.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 3, "every committed example: {seen}");
}

#[test]
fn check_leaves_an_old_run_compared_with_an_unkept_baseline_as_it_was() {
    let copy = copy_of(&example());
    // As an older harness wrote it: compared with a baseline, no record.json to say which.
    let path = copy.path().join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    summary["baseline"] = serde_json::json!([{
        "metric": "lost", "baseline": 0.0, "current": 2.0, "delta": 2.0, "regression": true
    }]);
    let written = serde_json::to_string_pretty(&summary).unwrap() + "\n";
    std::fs::write(&path, &written).unwrap();
    std::fs::write(copy.path().join("junit.xml"), "the run's own").unwrap();
    let out = harness(&["check", copy.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("left as they are"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    assert_eq!(
        std::fs::read_to_string(copy.path().join("junit.xml")).unwrap(),
        "the run's own"
    );
    // New thresholds cannot be judged without the baseline: a usage error, nothing written.
    let out = harness(&[
        "check",
        copy.path().to_str().unwrap(),
        "--expect",
        "lost == 0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot be judged again"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
}

#[test]
fn check_judges_an_old_run_again_by_new_thresholds() {
    let copy = copy_of(&example());
    // The example lost 2 items, and its scenario has no threshold.
    let out = harness(&[
        "check",
        copy.path().to_str().unwrap(),
        "--expect",
        "lost <= 2",
        "--expect",
        "lost == 0",
    ]);
    assert_eq!(out.status.code(), Some(1), "a threshold failed");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.path().join("summary.json")).unwrap()).unwrap();
    let outcomes: Vec<(String, bool)> = summary["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["threshold"].as_str().unwrap().to_owned(), t["ok"] == true))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("lost <= 2".to_owned(), true),
            ("lost == 0".to_owned(), false)
        ]
    );
    let junit = std::fs::read_to_string(copy.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 2, "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
}

#[test]
fn check_prints_a_readable_verdict_of_the_example() {
    let copy = copy_of(&example());
    let out = harness(&["check", copy.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("scenario scenarios/seed-swap.toml"),
        "{stdout}"
    );
    for line in [
        "expected      80",
        "delivered     78",
        "lost           2  (killed before send 2)",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(
        stdout.contains("A(6,8)           killed_before_send"),
        "{stdout}"
    );
    assert!(stdout.contains("downtime      0 windows"), "{stdout}");
    assert!(stdout.contains("note: durations scaled by 0.1"), "{stdout}");
}

#[test]
fn check_json_prints_only_the_verdict_and_it_matches_the_summary() {
    let copy = copy_of(&example());
    let out = harness(&["check", copy.path().to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(verdict["lost"], 2);
    assert_eq!(verdict["lost_items"][0]["cause"], "killed_before_send");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(example().join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["verdict"], verdict,
        "re-checking reproduces the saved verdict"
    );
}

#[test]
fn check_lists_the_first_20_lost_items_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        example().join("expected.json"),
        dir.path().join("expected.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("arrivals.csv"),
        "recv_ns,source,m,n,version\n",
    )
    .unwrap();
    let out = harness(&["check", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("lost (80):"), "{stdout}");
    assert!(stdout.contains("  ... and 60 more"), "{stdout}");
    assert!(stdout.contains("never_invoked"), "{stdout}");
    assert!(stdout.contains("downtime      not measured"), "{stdout}");
}

#[test]
fn check_without_probes_says_downtime_was_not_measured_and_nothing_of_probe_lag() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "expected.json",
        "arrivals.csv",
        "ledger.csv",
        "summary.json",
    ] {
        std::fs::copy(example().join(f), dir.path().join(f)).unwrap();
    }
    let out = harness(&["check", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("downtime      not measured (no probes)"),
        "{stdout}"
    );
    assert!(!stdout.contains("probe lag"), "{stdout}");
    assert!(stdout.contains("lost           2"), "{stdout}");
}

#[test]
fn check_errors_name_the_file_and_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = harness(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("expected.json"),
        "{}",
        text(&out.stderr)
    );

    std::fs::copy(
        example().join("expected.json"),
        dir.path().join("expected.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("arrivals.csv"),
        "recv_ns,source,m,n,version\n1,tick,3,0,A\n2,tick,3,-1,A\n",
    )
    .unwrap();
    let out = harness(&["check", dir.path().to_str().unwrap(), "--json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    assert!(stderr.contains("arrivals.csv:3: column \"n\""), "{stderr}");

    std::fs::write(
        dir.path().join("arrivals.csv"),
        "recv_ns,source,n,version\n",
    )
    .unwrap();
    let stderr = text(&harness(&["check", dir.path().to_str().unwrap()]).stderr);
    assert!(stderr.contains("missing required column \"m\""), "{stderr}");
}

#[test]
fn validate_accepts_every_committed_scenario() {
    let mut args = vec!["validate".to_string()];
    for dir in [
        scenarios(),
        scenarios().join("releases"),
        scenarios().join("faults"),
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                args.push(path.display().to_string());
            }
        }
    }
    assert!(
        args.len() >= 24,
        "the seeds, the bad releases and the faults at least"
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness(&refs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches(": ok (").count(), args.len() - 1);
    assert!(
        !text(&out.stderr).contains("warning"),
        "the committed scenarios mean what they say: {}",
        text(&out.stderr)
    );
}

#[test]
fn validate_warns_when_late_after_is_not_above_the_processing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.toml");
    let good = std::fs::read_to_string(scenarios().join("queue-recreate.toml")).unwrap();
    assert!(good.contains("late_after = \"4s\""));
    std::fs::write(
        &path,
        good.replace("late_after = \"4s\"", "late_after = \"2s\""),
    )
    .unwrap();
    let out = harness(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a warning is not an error");
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: key `workload.late_after`")
            && err.contains("2s an item normally takes"),
        "{err}"
    );
}

#[test]
fn a_bad_scenario_names_file_line_and_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(scenarios().join("seed-swap.toml")).unwrap();
    std::fs::write(
        &path,
        good.replace("item_delay = \"1s\"", "item_delay = 1000"),
    )
    .unwrap();
    let line = good
        .lines()
        .position(|l| l.starts_with("item_delay"))
        .unwrap()
        + 1;
    for command in ["validate", "run"] {
        let out = harness(&[command, path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(&format!("bad.toml:{line}: key `workload.item_delay`")),
            "{command}: {stderr}"
        );
    }
    assert!(!dir.path().join("runs").exists(), "nothing was run");
}

#[test]
fn compare_keeps_every_run_and_its_statistics_follow_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let scenario = relaxed("seed-recreate.toml", dir.path());
    let output = harness(&[
        "compare",
        scenario.to_str().unwrap(),
        "--repeat",
        "2",
        "--jobs",
        "1",
        "--time-scale",
        "0.05",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // Both runs are kept, with their own seeds.
    let mut lost = Vec::new();
    for rep in 1..=2 {
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("seed-recreate/run-{rep}/summary.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["run"]["seed"], rep);
        lost.push(summary["verdict"]["lost"].as_f64().unwrap());
    }
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with("seed-recreate,recreate,lost,"))
        .expect("a lost row");
    let cells: Vec<&str> = row.split(',').collect();
    assert_eq!(cells[4], "2", "n");
    assert_eq!(cells[5], "0", "failed");
    let mean: f64 = cells[6].parse().unwrap();
    assert_eq!(mean, (lost[0] + lost[1]) / 2.0);
    let min: f64 = cells[10].parse().unwrap();
    assert_eq!(min, lost[0].min(lost[1]));
    // A metric that differs between the runs: its spread and interval follow from both.
    let updates: Vec<f64> = (1..=2)
        .map(|rep| {
            let s: serde_json::Value = serde_json::from_slice(
                &std::fs::read(out.join(format!("seed-recreate/run-{rep}/summary.json"))).unwrap(),
            )
            .unwrap();
            s["run"]["update_duration_ms"].as_f64().unwrap()
        })
        .collect();
    assert_ne!(updates[0], updates[1], "wall-clock durations differ");
    let row: Vec<f64> = csv
        .lines()
        .find(|l| l.starts_with("seed-recreate,recreate,update_duration_ms,"))
        .unwrap()
        .split(',')
        .skip(6)
        .map(|c| c.parse().unwrap())
        .collect();
    let (mean, sd) = (
        (updates[0] + updates[1]) / 2.0,
        (updates[0] - updates[1]).abs() / 2f64.sqrt(),
    );
    // Student's t with 1 degree of freedom: 12.706.
    let half = 12.706 * sd / 2f64.sqrt();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert!(close(row[0], mean), "mean {row:?}");
    assert!(close(row[1], sd), "sd {row:?} vs {sd}");
    assert!(
        close(row[2], mean - half) && close(row[3], mean + half),
        "ci {row:?}"
    );
    assert_eq!(row[4], updates[0].min(updates[1]));
    assert_eq!(row[5], updates[0].max(updates[1]));
    for f in ["compare.md", "compare.html", "compare-lost.png"] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(text(&output.stdout).contains("| seed-recreate | recreate | 2 (0) |"));
}

fn run_dir_file(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn exit_codes_of_real_runs_say_pass_fail_and_invalid() {
    let dir = tempfile::tempdir().unwrap();
    // 0: the drain loses nothing, as its threshold demands.
    let pass = dir.path().join("pass");
    let out = harness(&[
        "run",
        relaxed("seed-drain.toml", dir.path()).to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--out",
        pass.to_str().unwrap(),
        "--expect",
        "lost == 0",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "--quiet prints nothing");
    let junit = run_dir_file(&pass, "junit.xml");
    assert!(
        junit.contains("<testcase classname=\"seed-drain\" name=\"lost == 0\"></testcase>"),
        "{junit}"
    );
    crate::common::assert_judged_again(&pass);

    // 1: the swap loses the recycled run's last items.
    let fail = dir.path().join("fail");
    let out = harness(&[
        "run",
        crate::common::swap_that_loses(dir.path()).to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--out",
        fail.to_str().unwrap(),
        "--expect",
        "lost == 0",
        "--expect",
        "duplicated <= 2",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("FAILED lost == 0"), "{stdout}");
    assert!(stdout.contains("ok     duplicated <= 2"), "{stdout}");
    crate::common::assert_judged_again(&fail);
    let summary: serde_json::Value =
        serde_json::from_str(&run_dir_file(&fail, "summary.json")).unwrap();
    assert_eq!(summary["thresholds"][0]["ok"], false);
    assert_eq!(
        summary["thresholds"][0]["value"].as_f64(),
        summary["verdict"]["lost"].as_f64()
    );
    let junit = run_dir_file(&fail, "junit.xml");
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        failure.attribute("message").unwrap().starts_with("lost = "),
        "{junit}"
    );
    assert!(junit.contains("tests=\"2\" failures=\"1\""), "{junit}");

    // 2: a malformed --expect.
    let out = harness(&[
        "run",
        scenarios().join("seed-swap.toml").to_str().unwrap(),
        "--expect",
        "lost =< 0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("expected an operator (==, !=, <, <=, >, >=) at byte 5"),
        "{}",
        text(&out.stderr)
    );

    // 3: an app that never becomes ready makes the run invalid, never a pass.
    let app = dir.path().join("bad-app.sh");
    std::fs::write(&app, "#!/bin/sh\necho not-an-address\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&app, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = harness(&[
        "run",
        scenarios().join("seed-swap.toml").to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--out",
        dir.path().join("invalid").to_str().unwrap(),
        "--app-command",
        app.to_str().unwrap(),
        "--expect",
        "lost == 0",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        stdout.contains("INVALID RUN: the run failed in phase start")
            && stdout.contains("not an address"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&run_dir_file(&dir.path().join("invalid"), "summary.json")).unwrap();
    assert_eq!(summary["run"]["failed_phase"], "start");
    assert_eq!(
        summary["thresholds"],
        serde_json::json!([]),
        "nothing to evaluate"
    );
    let junit = run_dir_file(&dir.path().join("invalid"), "junit.xml");
    assert!(
        junit.contains("errors=\"1\"") && junit.contains("not an address"),
        "{junit}"
    );
    // Nothing was measured, so there is nothing to re-check or render: both say why.
    for command in ["check", "report"] {
        let out = harness(&[command, dir.path().join("invalid").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("measured nothing") && stderr.contains("not an address"),
            "{stderr}"
        );
    }
}

#[test]
fn completions_are_printed_for_a_shell() {
    let out = harness(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = text(&out.stdout);
    assert!(
        script.contains("_harness()") && script.contains("compare"),
        "{}",
        &script[..200.min(script.len())]
    );
}

#[test]
fn a_baseline_regression_fails_the_run_and_one_within_tolerance_passes() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_harness"))
            // The tests keep their runs out of the history store.
            .env("HARNESS_NO_HISTORY", "1")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let drain = relaxed("seed-drain.toml", dir.path());
    let swap = crate::common::swap_that_loses(dir.path());
    let drain = drain.to_str().unwrap();
    let out = in_dir(&[
        "run",
        drain,
        "--time-scale",
        "0.05",
        "--out",
        "r1",
        "--save-baseline",
        "main",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("runs/baselines/main/summary.json").exists());

    // The same scenario again: nothing lost, no downtime, within tolerance.
    let tolerance = "lost:0,downtime.max_ms:20%";
    let out = in_dir(&[
        "run",
        drain,
        "--time-scale",
        "0.05",
        "--out",
        "r2",
        "--baseline",
        "main",
        "--max-regression",
        tolerance,
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("against baseline main:"), "{stdout}");
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    crate::common::assert_judged_again(&dir.path().join("r2"));

    // A swap loses items the baseline did not: a regression.
    let out = in_dir(&[
        "run",
        swap.to_str().unwrap(),
        "--time-scale",
        "0.1",
        "--out",
        "r3",
        "--baseline",
        "main",
        "--max-regression",
        tolerance,
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("lost") && l.ends_with("REGRESSION")),
        "{stdout}"
    );
    // A baseline of another scenario is compared, with a warning that says so.
    assert!(
        text(&out.stderr).contains("warning: the baseline is of scenario seed-drain (strategy drain), this run of seed-swap (strategy swap)"),
        "{}",
        text(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r3/summary.json")).unwrap())
            .unwrap();
    let lost = summary["baseline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "lost")
        .unwrap();
    assert_eq!(lost["regression"], true);
    // Judged again from its record: the same baseline, the same regression and warning.
    crate::common::assert_judged_again(&dir.path().join("r3"));
    let junit = std::fs::read_to_string(dir.path().join("r3/junit.xml")).unwrap();
    assert!(
        junit.contains("lost regresses at most 0 against main"),
        "{junit}"
    );
    assert!(
        junit.contains("<testsuite name=\"seed-swap\""),
        "the suite is named after the scenario, with a baseline too: {junit}"
    );

    // A malformed tolerance is a usage error.
    let out = in_dir(&[
        "run",
        drain,
        "--baseline",
        "main",
        "--max-regression",
        "lots:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn app_command_runs_a_second_implementation_of_the_protocol() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/pyfn.py");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let out = harness(&[
        "run",
        relaxed("seed-recreate.toml", dir.path()).to_str().unwrap(),
        "--time-scale",
        "0.05",
        "--out",
        out_dir.to_str().unwrap(),
        "--app-command",
        app.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &summary["verdict"];
    assert!(v["delivered"].as_u64().unwrap() > 0);
    assert_eq!(v["unexpected"], 0);
    // The Python app's run is cut by the kill, like testfn's (an item it had sent, per its
    // send reports, is in flight); its slower start (a Python interpreter) may also leave an
    // occurrence with no instance to run on.
    let lost = &v["causes"]["lost"];
    let cause = |c: &str| lost[c].as_u64().unwrap();
    assert!(cause("killed_before_send") + cause("in_flight") > 0, "{v}");
    assert_eq!(
        v["lost"].as_u64(),
        Some(cause("killed_before_send") + cause("in_flight") + cause("never_invoked")),
        "{v}"
    );
    let arrivals = std::fs::read_to_string(out_dir.join("arrivals.csv")).unwrap();
    assert!(
        arrivals.contains(",A,a-0,1,") && arrivals.contains(",B,b-0,1,"),
        "both versions of the app submitted"
    );
    let ledger = std::fs::read_to_string(out_dir.join("ledger.csv")).unwrap();
    assert!(!ledger.contains("invocation_failed"), "{ledger}");
}

#[test]
fn ctrl_c_stops_every_instance_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_harness"))
        // The tests keep their runs out of the history store.
        .env("HARNESS_NO_HISTORY", "1")
        .args([
            "run",
            scenarios().join("seed-rolling.toml").to_str().unwrap(),
            "--time-scale",
            "0.1",
            "--out",
        ])
        .arg(&out_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the instances run, then interrupt as a terminal would.
    let ledger = out_dir.join("ledger.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&ledger)
        .unwrap_or_default()
        .matches("instance_ready")
        .count()
        < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "instances never became ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("interrupted"));
    // An interrupted run still says what happened, for a CI job to show.
    let summary: serde_json::Value =
        serde_json::from_str(&run_dir_file(&out_dir, "summary.json")).unwrap();
    assert!(summary["run"]["failed_phase"].is_string(), "{summary}");
    assert!(summary["invalid"][0]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    assert!(run_dir_file(&out_dir, "junit.xml").contains("errors=\"1\""));
    let events = reports::RunDir::new(&out_dir).read_ledger().unwrap();
    for e in events.iter().filter(|e| e.event == Kind::InstanceStarted) {
        let pid = e.get_u64("pid").unwrap();
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false);
        assert!(
            !alive,
            "instance {} (pid {pid}) survived the interrupt",
            e.instance
        );
    }
}

/// No colour codes, ever: with `NO_COLOR` set, and with a terminal that asks for colour,
/// the output holds no escape byte (the README promises `NO_COLOR` is always honoured).
#[test]
fn no_output_holds_a_colour_code() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = crate::common::scenarios().join("seed-swap.toml");
    for (i, (key, value)) in [("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
        .iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("run-{i}"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
            .env("HARNESS_NO_HISTORY", "1")
            .env("TERM", "xterm-256color")
            .env(key, value)
            .args(["run", scenario.to_str().unwrap(), "--platform", "sim"])
            .args(["--out", dir.to_str().unwrap(), "--expect", "lost == 0"])
            .output()
            .unwrap();
        // The threshold fails (the swap loses 2): the failure lines are printed too.
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(!bytes.is_empty() || name == "stderr");
            assert!(
                !bytes.contains(&0x1b),
                "{key}: {name} holds an escape byte: {}",
                text(bytes)
            );
        }
        assert!(
            text(&out.stdout).contains("FAILED"),
            "{}",
            text(&out.stdout)
        );
    }
}

/// `--dry-run` resolves and prints every run, with its seed, planned time and directory, and
/// writes nothing; what a real run would refuse, it refuses the same way (exit 2).
#[test]
fn a_dry_run_lists_every_run_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let swap = scenarios().join("seed-swap.toml");
    let drain = scenarios().join("seed-drain.toml");
    let o = harness(&[
        "compare",
        swap.to_str().unwrap(),
        drain.to_str().unwrap(),
        "--repeat",
        "2",
        "--time-scale",
        "0.05",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    // Each run with its seed (the scenario's, then + 1) and directory; both scenarios last
    // 100 s and settle 10 s: 5.5 s each at 0.05, four runs two at a time: 11 s.
    for (name, rep, seed) in [
        ("seed-swap", 1, 1),
        ("seed-swap", 2, 2),
        ("seed-drain", 1, 1),
        ("seed-drain", 2, 2),
    ] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} run {rep} ")))
            .unwrap_or_else(|| panic!("{name} run {rep} is listed: {stdout}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells[3..],
            [
                "local",
                if name == "seed-swap" { "swap" } else { "drain" },
                "0.05",
                &seed.to_string(),
                "5.5",
                "s",
                out.join(name).join(format!("run-{rep}")).to_str().unwrap()
            ],
            "{row}"
        );
    }
    assert!(
        stdout.contains("4 run(s), 2 at a time: about 11 s of runs"),
        "{stdout}"
    );
    assert!(!out.exists(), "a dry run writes nothing");
    // What a real run would refuse, a dry run refuses: a malformed threshold, exit 2.
    let o = harness(&[
        "run",
        swap.to_str().unwrap(),
        "--expect",
        "lost = 0",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("expected an operator"),
        "{}",
        text(&o.stderr)
    );
}
