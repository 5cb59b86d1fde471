//! The history store end to end: `harness run` records each run (with its labels) in a
//! SQLite file and in a PostgreSQL database, and `harness history` gives the quantiles a
//! direct computation from the runs' own summary.json files gives; `--no-history` records
//! nothing, and a label picks its runs only.

use std::path::Path;
use std::process::Command;

use crate::common::scenarios;

fn harness(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .env_remove("HARNESS_NO_HISTORY")
        .env_remove("HARNESS_HISTORY")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "harness {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The nearest-rank quantile, written here from its definition: the value at rank
/// ceil(q n) of the sorted values.
fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((q * v.len() as f64).ceil() as usize).max(1) - 1]
}

/// A metric's value in a run's summary.json, read as plain JSON.
fn from_summary(dir: &Path, metric: &str) -> f64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let v = match metric {
        "lost" => &s["verdict"]["lost"],
        "downtime.max_ms" => &s["verdict"]["downtime"]["max_ms"],
        "update.duration_ms" => &s["run"]["update_duration_ms"],
        other => panic!("{other}"),
    };
    v.as_f64()
        .unwrap_or_else(|| panic!("{metric} in {}", dir.display()))
}

fn five_runs_then_history(target: &str) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenarios().join("seed-swap.toml");
    let scenario = scenario.to_str().unwrap();
    // A sim run of seed-swap into `dir/name`, recorded in the store with `extra`; at a
    // tenth of its time, so that its probes, which the sim serves one by one, are a tenth.
    let run = |name: &str, seed: u32, extra: &[&str]| {
        let out = dir.path().join(name);
        let seed = seed.to_string();
        let mut args = vec![
            "run",
            scenario,
            "--platform",
            "sim",
            "--time-scale",
            "0.1",
            "--quiet",
            "--seed",
            &seed,
        ];
        args.extend(["--out", out.to_str().unwrap(), "--history", target]);
        args.extend(extra);
        harness(&args);
        out
    };
    let dirs: Vec<_> = (1..=5)
        .map(|seed| run(&format!("run-{seed}"), seed, &["--label", "commit=abc123"]))
        .collect();
    // Another commit's run, and a run not recorded at all.
    run("run-other", 9, &["--label", "commit=zzz"]);
    run("run-unrecorded", 10, &["--no-history"]);
    let metrics = ["lost", "downtime.max_ms", "update.duration_ms"];
    let mut args = vec!["history", "seed-swap", "--json", "--history", target];
    args.extend(["--label", "commit=abc123"]);
    for m in metrics {
        args.extend(["--metric", m]);
    }
    let out = harness(&args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = json["series"].as_array().unwrap();
    assert_eq!(series.len(), metrics.len(), "{json}");
    for m in metrics {
        let s = series.iter().find(|s| s["metric"] == m).unwrap();
        let values: Vec<f64> = dirs.iter().map(|d| from_summary(d, m)).collect();
        assert_eq!(s["runs"], 5, "{m}: {s}");
        assert_eq!(s["invalid"], 0);
        assert_eq!(s["platform"], "sim");
        assert_eq!(s["strategy"], "swap");
        for (key, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            assert_eq!(
                s[key].as_f64(),
                Some(nearest_rank(&values, q)),
                "{m} {key}: {values:?}"
            );
        }
        assert_eq!(s["last"].as_f64(), Some(values[4]), "{m}: the last run's");
    }
    // Unlabelled, the other commit's run joins the series; the unrecorded run never does.
    let all = harness(&[
        "history",
        "seed-swap",
        "--json",
        "--history",
        target,
        "--metric",
        "lost",
    ]);
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all["series"][0]["runs"], 6, "{all}");
    // The table says the same, for people.
    let table = harness(&[
        "history",
        "seed-swap",
        "--history",
        target,
        "--metric",
        "lost",
    ]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("seed-swap") && table.contains("lost"),
        "{table}"
    );
}

#[test]
fn runs_recorded_in_sqlite_give_the_quantiles_of_their_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    five_runs_then_history(store.to_str().unwrap());
    // The file is SQLite's own: the sqlite3 command line reads it.
    let out = Command::new("sqlite3")
        .arg(&store)
        .arg("SELECT COUNT(*) FROM runs; SELECT COUNT(*) FROM labels WHERE key = 'commit';")
        .output()
        .expect("the sqlite3 command line (Debian's sqlite3; .ci/run installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6\n6\n");
}

#[test]
fn runs_recorded_in_postgres_give_the_quantiles_of_their_summaries() {
    let admin = history::test_postgres();
    let db = history::ScratchDatabase::create(&admin).unwrap_or_else(|e| {
        panic!(
            "this test needs a PostgreSQL server at {} ({}; .ci/run starts Debian's): {e}",
            history::store::shown(&admin),
            history::TEST_POSTGRES_ENV
        )
    });
    five_runs_then_history(&db.url);
}

/// A budget's outcome in a run's summary.json, and its JUnit case.
struct Judged {
    state: String,
    runs: u64,
    limit: Option<f64>,
    lost: f64,
    junit: String,
    /// The run was valid: only valid runs join a budget's history.
    valid: bool,
}

fn judged(dir: &Path) -> Judged {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let b = &s["budgets"][0];
    Judged {
        state: b["state"].as_str().unwrap().to_owned(),
        runs: b["runs"].as_u64().unwrap(),
        limit: b["limit"].as_f64(),
        lost: s["verdict"]["lost"].as_f64().unwrap(),
        junit: std::fs::read_to_string(dir.join("junit.xml")).unwrap(),
        valid: s["invalid"].as_array().is_some_and(|a| a.is_empty()),
    }
}

/// The budget's JUnit case: `skipped`, `failure` or neither, with its message.
fn junit_case(xml: &str) -> (Option<&'static str>, String) {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let case = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase")
                && n.attribute("name")
                    .is_some_and(|a| a.starts_with("budget lost"))
        })
        .expect("a case for the budget");
    for kind in ["skipped", "failure"] {
        if let Some(n) = case.children().find(|c| c.has_tag_name(kind)) {
            return (Some(kind), n.attribute("message").unwrap().to_owned());
        }
    }
    (None, String::new())
}

/// A CI job gated by its own history: the same scenario and the same app path on every
/// commit. The first runs have too few runs behind the budget and say so (a JUnit skipped
/// case, never a pass); then a run of the same build passes; then a worse build (the same
/// path, now failing 90% of its invocations) fails, saying the band, the quantile and the
/// runs behind it. Each reference is computed here from the earlier runs' summary.json. On
/// the store a team's CI jobs share, PostgreSQL; `history/tests/store.rs` holds both stores
/// to the same budget references.
fn a_budget_gates_a_worse_build(target: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let build = |extra: &str| {
        let script = format!(
            "#!/bin/sh\nexec {} testfn \"$@\" {extra}\n",
            env!("CARGO_BIN_EXE_harness")
        );
        std::fs::write(&app, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let scenario = scenarios().join("seed-swap.toml");
    // A grace of 20 items: a busy machine loses a few more of the normal build's items, and
    // the worse build loses most of them.
    let budget = "lost p99 last=3 min_runs=3 add=20 mul=1";
    let run = |k: u32| {
        let out = dir.path().join(format!("run-{k}"));
        let seed = k.to_string();
        let status = Command::new(env!("CARGO_BIN_EXE_harness"))
            .env_remove("HARNESS_NO_HISTORY")
            .env_remove("HARNESS_HISTORY")
            .args(["run", scenario.to_str().unwrap(), "--time-scale", "0.05"])
            .args(["--quiet", "--seed", &seed, "--budget", budget])
            .args(["--app-command", app.to_str().unwrap()])
            .args(["--out", out.to_str().unwrap(), "--history", target])
            .output()
            .unwrap();
        (judged(&out), status.status.code())
    };
    build("");
    // On a loaded machine a run can be invalid (its probe client lagged): it exits 3, and
    // it never joins the history, so the budget's run count is the valid runs' so far.
    let mut validity: Vec<bool> = Vec::new();
    let mut next = || {
        assert!(validity.len() < 10, "too many invalid runs: {validity:?}");
        let (j, code) = run(validity.len() as u32 + 1);
        if !j.valid {
            assert_eq!(code, Some(3), "an invalid run exits 3");
        }
        validity.push(j.valid);
        (j, code)
    };
    let mut lost: Vec<f64> = Vec::new();
    while lost.len() < 3 {
        let (j, code) = next();
        // Below min_runs: not evaluated, and it says how many runs there are of how many.
        assert_eq!((j.state.as_str(), j.runs), ("skipped", lost.len() as u64));
        let (kind, message) = junit_case(&j.junit);
        assert_eq!(kind, Some("skipped"), "{}", j.junit);
        assert!(
            message.contains(&format!("{} of 3 runs", lost.len())),
            "{message}"
        );
        if j.valid {
            assert_eq!(code, Some(0), "a skipped budget fails nothing");
            lost.push(j.lost);
        }
    }
    // The same build again: within max(P99 + 20, P99) of the last three valid runs.
    let mut passed = None;
    while passed.is_none() {
        let limit = nearest_rank(&lost[lost.len() - 3..], 0.99) + 20.0;
        let (j, code) = next();
        assert_eq!((j.runs, j.limit), (3, Some(limit)));
        if !j.valid {
            continue;
        }
        assert!(
            j.lost <= limit,
            "the same build lost {} > {limit} (before: {lost:?})",
            j.lost
        );
        assert_eq!(j.state, "pass");
        assert_eq!(junit_case(&j.junit).0, None, "{}", j.junit);
        assert_eq!(code, Some(0));
        lost.push(j.lost);
        passed = Some(j);
    }
    // A worse build at the same path, failing 90% of its invocations: the history is the
    // last three valid runs.
    build("--fail-rate 0.9 --fault-seed 7");
    loop {
        let limit = nearest_rank(&lost[lost.len() - 3..], 0.99) + 20.0;
        let (j, code) = next();
        assert_eq!((j.runs, j.limit), (3, Some(limit)));
        assert!(j.lost > limit, "the worse build lost only {}", j.lost);
        assert_eq!(j.state, "fail");
        let (kind, message) = junit_case(&j.junit);
        assert_eq!(kind, Some("failure"));
        assert!(
            message.contains(&format!("lost = {}", j.lost))
                && message.contains(&format!("budget <= {limit} = max("))
                && message.contains("P99 of the last 3 runs"),
            "{message}"
        );
        if j.valid {
            assert_eq!(
                code,
                Some(1),
                "a failed budget fails the run as a threshold does"
            );
            break;
        }
    }
    // The page: every run with the band the budget set for those with three valid runs
    // before them, the worse build outside it.
    let page = dir.path().join("page");
    let out = harness(&[
        "history",
        "seed-swap",
        "--history",
        target,
        "--metric",
        "lost",
        "--budget",
        budget,
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("history.html"));
    let html = std::fs::read_to_string(page.join("history.html")).unwrap();
    assert_eq!(
        html.matches("<figure id=\"plot-").count(),
        1,
        "one series, one metric"
    );
    assert!(
        html.contains(&format!("<td>{budget}</td>")),
        "the budget drawn, as given"
    );
    // A band step for each run with three valid runs before it, and the legend's swatch.
    let steps = (0..validity.len())
        .filter(|&i| validity[..i].iter().filter(|v| **v).count() >= 3)
        .count();
    let band = "opacity=\"0.25\" fill=\"#7878C8\"";
    assert_eq!(html.matches(band).count(), steps + 1, "{validity:?}");
    // Red: the one valid run of the worse build (an invalid run is drawn hollow).
    let red_run = "fill=\"#D62728\" stroke";
    assert_eq!(
        html.matches(red_run).count(),
        1,
        "the worse build, outside its band"
    );
}

#[test]
fn a_budget_in_postgres_skips_passes_and_fails_a_worse_build() {
    let db = history::ScratchDatabase::create(&history::test_postgres()).unwrap_or_else(|e| {
        panic!(
            "this test needs a PostgreSQL server ({}): {e}",
            history::TEST_POSTGRES_ENV
        )
    });
    a_budget_gates_a_worse_build(&db.url);
}

/// A comparison judges each run by the scenario's `[[budget]]` as `run` does: a budget that
/// failed is listed with the failed thresholds (the terminal, `compare.md`) and the exit is 1.
/// With a store it cannot read, the same budget is skipped, never passed or failed, and the
/// comparison passes. The history before it is three builds that lost nothing (one sim run's
/// row recorded three times with `lost` 0); the comparison's runs lose 2 (the seed swap on the
/// sim), over the band max(0 + 0, 0 x 1) = 0.
#[test]
fn a_comparison_lists_a_failed_budget_and_skips_one_its_store_cannot_give() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("seed-swap.toml");
    let text = std::fs::read_to_string(scenarios().join("seed-swap.toml")).unwrap();
    std::fs::write(
        &scenario,
        format!("{text}\n[[budget]]\nmetric = \"lost\"\nlast = 10\nmin_runs = 3\nmul = 1.0\n"),
    )
    .unwrap();
    let scenario = scenario.to_str().unwrap();
    let sim = ["--platform", "sim", "--time-scale", "0.1"];
    let store = dir.path().join("history.sqlite");
    let store = store.to_str().unwrap();
    let good = dir.path().join("good");
    // Recorded nowhere; its budget reads the store before there is anything in it.
    let mut args = vec!["run", scenario, "--no-history", "--history", store];
    args.extend(["--quiet", "--out", good.to_str().unwrap()]);
    args.extend(sim);
    harness(&args);
    {
        let mut row = history::RunRow::from_run_dir(&good, &Default::default()).unwrap();
        assert_eq!(row.metrics["lost"], 2.0, "the seed swap loses 2 on the sim");
        row.metrics.insert("lost".into(), 0.0);
        let mut s = history::Store::open(store).unwrap();
        for build in 0..3 {
            row.run_id = format!("good-{build}");
            row.recorded_ns -= 1_000_000_000;
            assert!(s.record(&row).unwrap());
        }
    }
    let compare = |history: &str, out: &str| {
        let out = dir.path().join(out);
        let mut args = vec!["compare", scenario, "--repeat", "1", "--history", history];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(sim);
        let o = Command::new(env!("CARGO_BIN_EXE_harness"))
            .env_remove("HARNESS_HISTORY")
            .env("HARNESS_NO_HISTORY", "1")
            .args(&args)
            .output()
            .unwrap();
        let md = std::fs::read_to_string(out.join("compare.md")).unwrap_or_default();
        let summary = std::fs::read(out.join("seed-swap/run-1/summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&summary).unwrap();
        (o, md, summary["budgets"][0].clone())
    };
    let (o, md, budget) = compare(store, "fails");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert_eq!(budget["state"], "fail", "{budget}");
    assert_eq!(budget["runs"], 3, "{budget}");
    for shown in [stdout.as_ref(), md.as_str()] {
        let line = shown
            .lines()
            .find(|l| l.contains("budget lost"))
            .unwrap_or_else(|| panic!("the failed budget is listed: {shown}"));
        assert!(line.contains("lost = 2"), "{line}");
    }
    // A store that is not a database: the budget is skipped and says why; nothing fails.
    let broken = dir.path().join("not-a-store");
    std::fs::write(&broken, "this is not SQLite").unwrap();
    let (o, md, budget) = compare(broken.to_str().unwrap(), "skips");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert_eq!(budget["state"], "skipped", "{budget}");
    assert!(!md.contains("budget lost"), "{md}");
}
