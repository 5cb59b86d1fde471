//! `harness advise` on comparison directories built on disk from hand-made summaries: the
//! real binary's exit codes, its files and its JSON, with no run executed.

use std::path::Path;

use reports::{RunDir, RunInfo, Summary, Verdict};

use crate::common::{harness, text};

/// One run's figures.
struct Fig {
    lost: u64,
    downtime_ms: f64,
    update_ms: f64,
}

/// Writes `root/scenario/run-K/summary.json` for each figure, K from 1. A `case` of
/// `None` leaves `run.case` out (a healthy run).
fn write_runs(root: &Path, scenario: &str, strategy: &str, case: Option<&str>, figs: &[Fig]) {
    for (k, f) in figs.iter().enumerate() {
        let dir = root.join(scenario).join(format!("run-{}", k + 1));
        std::fs::create_dir_all(&dir).unwrap();
        let mut verdict = Verdict {
            expected: 80,
            delivered: 80 - f.lost,
            lost: f.lost,
            ..Verdict::default()
        };
        verdict.downtime.total_ms = f.downtime_ms;
        verdict.downtime.max_ms = f.downtime_ms;
        let run = RunInfo {
            name: Some(scenario.to_owned()),
            strategy: Some(strategy.to_owned()),
            case: case.map(str::to_owned),
            seed: Some(k as u64 + 1),
            time_scale: Some(0.1),
            harness_version: "test".into(),
            update_duration_ms: Some(f.update_ms),
            notes: vec![
                "durations scaled by 0.1; process start-up time is real and did not scale".into(),
            ],
            ..RunInfo::default()
        };
        RunDir::new(&dir)
            .write_summary(&Summary::new(run, verdict))
            .unwrap();
    }
}

/// Five runs with these losses, downtimes and update durations.
fn figs(lost: [u64; 5], downtime_ms: [f64; 5], update_ms: [f64; 5]) -> Vec<Fig> {
    (0..5)
        .map(|i| Fig {
            lost: lost[i],
            downtime_ms: downtime_ms[i],
            update_ms: update_ms[i],
        })
        .collect()
}

/// Three strategies, two cases, five runs each: drain loses nothing and is slow; swap
/// loses 2 items when healthy and nothing on a failing release, fast; recreate loses 5,
/// is down 100 ms, fastest.
fn comparison(root: &Path) {
    let slow = [900.0, 910.0, 905.0, 920.0, 915.0];
    let mid = [300.0, 310.0, 305.0, 320.0, 315.0];
    let fast = [100.0, 110.0, 105.0, 120.0, 115.0];
    write_runs(root, "drain", "drain", None, &figs([0; 5], [0.0; 5], slow));
    write_runs(
        root,
        "drain-fails",
        "drain",
        Some("fails-30pct"),
        &figs([0; 5], [0.0; 5], slow),
    );
    write_runs(
        root,
        "swap",
        "swap",
        None,
        &figs([2, 2, 3, 2, 2], [0.0; 5], mid),
    );
    write_runs(
        root,
        "swap-fails",
        "swap",
        Some("fails-30pct"),
        &figs([0; 5], [0.0; 5], mid),
    );
    for (name, case) in [("recreate", None), ("recreate-fails", Some("fails-30pct"))] {
        write_runs(
            root,
            name,
            "recreate",
            case,
            &figs([5; 5], [100.0; 5], fast),
        );
    }
}

fn advice_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("advice.json")).expect("advice.json written");
    serde_json::from_str(&text).expect("advice.json parses")
}

#[test]
fn zero_loss_recommends_the_one_strategy_that_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    comparison(tmp.path());
    let dir = tmp.path().to_str().unwrap();
    let out = harness(&["advise", dir, "--priority", "zero-loss"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("**Recommended: `drain`.**"), "{stdout}");
    assert!(
        stdout.contains(
            "`lost == 0` failed in healthy in 5 runs: `swap/run-1` (lost = 2), `swap/run-2`"
        ),
        "the failing run is named: {stdout}"
    );
    assert!(
        stdout.contains("durations were scaled by 0.1; process start-up is real time"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(tmp.path().join("advice.md")).expect("advice.md written");
    assert!(md.contains("## Disqualified"), "{md}");
    let json = advice_json(tmp.path());
    assert_eq!(json["schema"], "update-harness/advice/1");
    assert_eq!(json["recommendation"], "drain");
    assert_eq!(json["significant"], true);
    assert_eq!(json["preset"], "zero-loss");
    assert_eq!(json["cases"], serde_json::json!(["healthy", "fails-30pct"]));
    // What the advice derived, against the hand's count: swap's healthy losses 2, 2, 3, 2,
    // 2 have the mean 11 / 5.
    let lost = &json["strategies"]["swap"]["cases"]["healthy"]["metrics"]["lost"];
    assert_eq!(lost["mean"].as_f64(), Some(11.0 / 5.0), "{lost}");
}

#[test]
fn fast_update_ranks_by_the_test_and_json_goes_to_stdout_and_out() {
    let tmp = tempfile::tempdir().unwrap();
    comparison(tmp.path());
    let elsewhere = tmp.path().join("advice");
    let out = harness(&[
        "advise",
        tmp.path().to_str().unwrap(),
        "--priority",
        "fast-update",
        "--out",
        elsewhere.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is advice.json alone");
    assert_eq!(printed["recommendation"], "recreate");
    assert_eq!(printed, advice_json(&elsewhere), "--out holds the same");
    assert!(
        !tmp.path().join("advice.json").exists(),
        "--out, not the comparison"
    );
    // recreate beat swap and drain on update.duration_ms (term 1), swap beat drain.
    let tiers = &printed["tiers"];
    assert_eq!(tiers[0]["strategies"], serde_json::json!(["recreate"]));
    assert_eq!(tiers[1]["lost_at_term"], 1);
    let runner_up = &printed["runners_up"][0];
    assert_eq!(runner_up["metric"], "update.duration_ms");
    let p = runner_up["beaten_by"][0]["cases"][0]["test"]["p_value"]
        .as_f64()
        .unwrap();
    // Five runs against five, every one of one side faster (100-120 ms against 300-320):
    // of the C(10, 5) = 252 equally likely orders under the null, the exact two-sided
    // Mann-Whitney test counts the two extreme ones.
    assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
}

#[test]
fn limits_no_strategy_meets_exit_1_with_no_recommendation() {
    let tmp = tempfile::tempdir().unwrap();
    comparison(tmp.path());
    let out = harness(&[
        "advise",
        tmp.path().to_str().unwrap(),
        "--priority",
        "lost==0,update.duration_ms<50",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("**No recommendation**"));
    let json = advice_json(tmp.path());
    assert!(json["recommendation"].is_null());
    assert_eq!(json["disqualified"].as_array().unwrap().len(), 3);
    // Weighing the failing release alone, swap loses nothing: both it and drain meet
    // lost == 0, and swap's update is faster.
    let out = harness(&[
        "advise",
        tmp.path().to_str().unwrap(),
        "--priority",
        "lost==0,update.duration_ms",
        "--case",
        "fails-30pct",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(advice_json(tmp.path())["recommendation"], "swap");
}

#[test]
fn bad_usage_exits_2_naming_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    comparison(tmp.path());
    let dir = tmp.path().to_str().unwrap();
    for (args, want) in [
        (vec!["--priority", "lost,lots"], "term 2 (\"lots\")"),
        (vec!["--priority", "lost =< 1"], "term 1"),
        (
            vec!["--priority", "lost", "--case", "nope"],
            "case \"nope\"",
        ),
        (vec!["--priority", "lost", "--alpha", "1.5"], "--alpha"),
        (
            vec!["--priority", "lost", "--repeat", "3"],
            "scenario files",
        ),
    ] {
        let mut all = vec!["advise", dir];
        all.extend(&args);
        let out = harness(&all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(!tmp.path().join("advice.json").exists(), "nothing written");
    // A missing input, and a malformed summary.json named by its path.
    let out = harness(&["advise", "no/such/dir", "--priority", "lost"]);
    assert_eq!(out.status.code(), Some(2));
    let bad = tmp.path().join("swap").join("run-2").join("summary.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let out = harness(&["advise", dir, "--priority", "lost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&bad.display().to_string()),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_directory_with_no_valid_run_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    write_runs(
        tmp.path(),
        "swap",
        "swap",
        None,
        &figs([0; 5], [0.0; 5], [1.0; 5]),
    );
    for k in 1..=5 {
        let run = RunDir::new(tmp.path().join("swap").join(format!("run-{k}")));
        let mut s = run.read_summary().unwrap().unwrap();
        s.invalid = vec!["an instance never became ready".into()];
        run.write_summary(&s).unwrap();
    }
    // And a run that never wrote its summary.
    std::fs::create_dir_all(tmp.path().join("swap").join("run-6")).unwrap();
    let out = harness(&["advise", tmp.path().to_str().unwrap(), "--priority", "lost"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let json = advice_json(tmp.path());
    assert_eq!(json["valid_runs"], 0);
    assert_eq!(json["failed_runs"].as_array().unwrap().len(), 6);
    assert_eq!(
        json["failed_runs"][5]["strategy"], "swap",
        "attributed to its scenario"
    );
}

/// `harness advise SCENARIO...` runs the comparison first (here on the sim, where the seed
/// swap loses its 2 items in every run and the drain none, as the README's worked example
/// and "Choosing a strategy" say), then decides on it.
#[test]
fn advise_on_scenario_files_compares_them_first_then_decides() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = crate::common::scenarios();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .env("HARNESS_NO_HISTORY", "1")
        .current_dir(tmp.path())
        .arg("advise")
        .args([
            scenarios.join("seed-swap.toml"),
            scenarios.join("seed-drain.toml"),
        ])
        .args([
            "--priority",
            "zero-loss",
            "--platform",
            "sim",
            "--time-scale",
            "0.1",
            "--repeat",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("advice.json");
    assert_eq!(json["recommendation"], "drain", "{json}");
    let swap = &json["strategies"]["swap"]["cases"]["healthy"]["metrics"]["lost"];
    assert_eq!(swap["mean"].as_f64(), Some(2.0), "{swap}");
    // The comparison it ran is kept: three runs of each scenario, in the working directory.
    let runs = tmp.path().join("runs");
    let compare = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("compare-")
        })
        .expect("a comparison directory");
    for name in ["seed-swap", "seed-drain"] {
        let kept = std::fs::read_dir(compare.join(name)).unwrap().count();
        assert_eq!(kept, 3, "{name}");
    }
    assert!(compare.join("advice.json").exists());
}
