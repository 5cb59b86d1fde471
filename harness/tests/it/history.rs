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
    // A sim run of seed-swap into `dir/name`, recorded in the store with `extra`.
    let run = |name: &str, seed: u32, extra: &[&str]| {
        let out = dir.path().join(name);
        let seed = seed.to_string();
        let mut args = vec![
            "run",
            scenario,
            "--platform",
            "sim",
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
