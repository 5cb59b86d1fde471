//! `harness sweep`: a real sweep of a small grid, its files and a metric that must follow
//! the varied key; a refused key; and `harness advise` over a sweep directory built on disk.

use std::path::Path;

use reports::metric::Metric;
use reports::sweep::{Axis, AxisValue, Manifest, Point, ScenarioEntry, SWEEP_FILE};
use reports::{RunDir, RunInfo, Summary, Verdict};

use crate::common::{harness, relaxed, text};

/// The items a timer scenario expects with `items` per occurrence, from its timeline alone:
/// the occurrences scheduled from the warm-up on whose whole loop ends by the run's end.
fn expected_items(s: &harness::scenario::Scenario, items: u64) -> u64 {
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let (period, warmup, duration) = (
        ms(s.workload.period.0),
        ms(s.run.warmup.0),
        ms(s.run.duration.0),
    );
    let loop_ms = (items - 1) * ms(s.workload.item_delay.0) + ms(s.workload.processing.0);
    let first = warmup.div_ceil(period);
    let last = ((duration - loop_ms) / period).min(duration.div_ceil(period) - 1);
    (last - first + 1) * items
}

/// The `mean` of `metric` at each point, from sweep.csv, in file order.
fn csv_means(csv: &str, metric: &str) -> Vec<(String, f64)> {
    csv_means_of(csv, "workload.items", metric)
}

fn csv_means_of(csv: &str, key: &str, metric: &str) -> Vec<(String, f64)> {
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|cells| cells[col("metric")] == metric)
        .map(|cells| {
            (
                cells[col(key)].to_owned(),
                cells[col("mean")].parse().unwrap(),
            )
        })
        .collect()
}

/// The swap's loss against `recycle_after`, on the sim: the old instance is killed that long
/// after the swap, mid-loop, so each second more of it delivers one item more of the loop
/// in flight (the loop sends one a second), until the recycle passes the loop's end and
/// nothing is lost. A step the model gives, whatever the machine.
#[test]
fn the_swaps_loss_falls_an_item_a_second_of_recycle_after_until_the_loop_ends() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let scenario = crate::common::scenarios().join("seed-swap.toml");
    let output = harness(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--platform",
        "sim",
        "--vary",
        "swap.recycle_after=2s..11s:10",
        "--repeat",
        "1",
        "--time-scale",
        "0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        text(&output.stderr)
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let lost: Vec<f64> = csv_means_of(&csv, "swap.recycle_after", "lost")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(lost.len(), 10, "{csv}");
    let base = harness::scenario::Scenario::load(&scenario).unwrap();
    let items = f64::from(base.workload.items);
    assert!(lost[0] > 0.0 && lost[0] < items, "{lost:?}");
    for pair in lost.windows(2) {
        let fell = pair[0] - pair[1];
        if pair[0] > 0.0 {
            assert_eq!(fell, 1.0, "an item a second while the loop runs: {lost:?}");
        } else {
            assert_eq!(pair[1], 0.0, "nothing lost past the loop's end: {lost:?}");
        }
    }
    assert_eq!(lost[9], 0.0, "{lost:?}");
}

#[test]
fn a_sweep_runs_every_point_and_the_expected_items_follow_the_items_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let scenario = relaxed("seed-recreate.toml", dir.path());
    // On the sim: what is tested is the sweep, not the machine.
    let output = harness(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--platform",
        "sim",
        "--vary",
        "workload.items=2,5",
        "--repeat",
        "1",
        "--time-scale",
        "0.05",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    // Every point's runs are kept, each with the value it ran with.
    for items in [2, 5] {
        let run = out.join(format!("workload.items={items}/seed-recreate/run-1"));
        let toml = std::fs::read_to_string(run.join("scenario.toml")).unwrap();
        assert!(toml.contains(&format!("items = {items}\n")), "{toml}");
        assert!(run.join("summary.json").is_file());
    }
    // One row per scenario, point and metric.
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert!(
        csv.starts_with("scenario,strategy,point,workload.items,metric,unit,n,failed,mean,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 2 * Metric::ALL.len());
    // The expected items, worked out from the scenario's timeline, follow the key.
    let base = harness::scenario::Scenario::load(&scenario).unwrap();
    let expected = csv_means(&csv, "expected");
    assert_eq!(
        expected,
        [
            ("2".to_owned(), expected_items(&base, 2) as f64),
            ("5".to_owned(), expected_items(&base, 5) as f64)
        ]
    );
    assert_eq!(expected_items(&base, 5), 40, "8 occurrences of 5");
    // The page: a section per metric, a plot per metric some run measured.
    let html = std::fs::read_to_string(out.join("sweep.html")).unwrap();
    assert_eq!(
        html.matches("<section id=\"metric-").count(),
        Metric::ALL.len()
    );
    let measured: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[6] != "0")
        .map(|c| c[4])
        .collect();
    assert!(measured.contains("expected") && measured.contains("lost"));
    assert_eq!(html.matches("<svg").count(), measured.len());
    for m in &measured {
        assert!(
            html.contains(&format!("<figure id=\"plot-{m}\">")),
            "a plot of {m}"
        );
    }
    // The terminal table and the advice across the range (one strategy here).
    assert!(
        stdout.contains("| seed-recreate | recreate | 5 | 1 (0) |"),
        "{stdout}"
    );
    assert!(stdout.contains("## Advice across the range (priority `zero-loss`)"));
    for f in ["sweep.json", "sweep.md", "sweep-advice.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // A second sweep into the same directory is refused.
    let again = harness(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--vary",
        "workload.items=2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already holds a sweep"));
}

#[test]
fn an_unknown_key_or_a_bad_value_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let scenario = relaxed("seed-swap.toml", dir.path());
    let cases = [
        (
            "swap.recycle_aftr=1s,2s",
            "--vary swap.recycle_aftr=1s: ",
            "key `swap.recycle_aftr`: unknown field `recycle_aftr`",
        ),
        (
            "workload.items=1,lots",
            "--vary workload.items=lots: ",
            "key `workload.items`",
        ),
        (
            "app.to_behaviour.crash_after=1s",
            "--vary app.to_behaviour.crash_after=1s: ",
            "no table [to_behaviour]",
        ),
        ("swap.recycle_after=1s..3s", "needs a count", "LO..HI:COUNT"),
    ];
    for (vary, names, why) in cases {
        let output = harness(&[
            "sweep",
            scenario.to_str().unwrap(),
            "--vary",
            vary,
            "--out",
            out.to_str().unwrap(),
        ]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{vary}: {stderr}");
        assert!(
            stderr.contains(names) && stderr.contains(why),
            "{vary}: {stderr}"
        );
    }
    assert!(!out.exists(), "nothing was run");
}

/// Writes `root/POINT/seed-STRATEGY/run-K/summary.json`, five runs per strategy and point.
fn write_point(root: &Path, point: &str, strategy: &str, lost: u64, update_ms: f64) {
    for k in 1..=5u64 {
        let dir = root
            .join(point)
            .join(format!("seed-{strategy}"))
            .join(format!("run-{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        let verdict = Verdict {
            expected: 80,
            delivered: 80 - lost,
            lost,
            ..Verdict::default()
        };
        let run = RunInfo {
            name: Some(format!("seed-{strategy}")),
            strategy: Some(strategy.to_owned()),
            seed: Some(k),
            harness_version: "test".into(),
            update_duration_ms: Some(update_ms + k as f64),
            ..RunInfo::default()
        };
        RunDir::new(&dir)
            .write_summary(&Summary::new(run, verdict))
            .unwrap();
    }
}

#[test]
fn advise_over_a_sweep_says_where_the_recommendation_flips() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let values = ["1s", "3s", "5s"];
    let manifest = Manifest::new(
        vec![Axis {
            key: "swap.recycle_after".into(),
            unit: Some("ms".into()),
            values: values
                .iter()
                .enumerate()
                .map(|(i, v)| AxisValue {
                    text: (*v).into(),
                    x: Some((2 * i + 1) as f64 * 1e3),
                })
                .collect(),
        }],
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                label: format!("swap.recycle_after={v}"),
                at: vec![i],
            })
            .collect(),
        ["swap", "drain"]
            .iter()
            .map(|s| ScenarioEntry {
                name: format!("seed-{s}"),
                strategy: (*s).into(),
                file: format!("scenarios/seed-{s}.toml"),
            })
            .collect(),
        5,
    );
    std::fs::write(
        root.join(SWEEP_FILE),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    // Swap updates faster and, recycling after 1s or 3s, loses nothing; after 5s it loses
    // two items, so under zero-loss drain wins there.
    for (point, swap_lost) in [(0, 0), (1, 0), (2, 2)] {
        let label = &manifest.points[point].label;
        write_point(root, label, "swap", swap_lost, 100.0);
        write_point(root, label, "drain", 0, 500.0);
    }
    let output = harness(&["advise", root.to_str().unwrap(), "--priority", "zero-loss"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    assert!(stdout.contains("**Flips**"), "{stdout}");
    assert!(
        stdout.contains("- `swap.recycle_after` from 3s to 5s: `swap` -> `drain`"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("sweep-advice.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "update-harness/sweep-advice/1");
    assert_eq!(json["holds"], serde_json::Value::Null);
    assert_eq!(json["points"][2]["recommendation"], "drain");
    // Each point's own advice, beside its runs.
    let md = std::fs::read_to_string(root.join("swap.recycle_after=1s/advice.md")).unwrap();
    assert!(md.contains("**Recommended: `swap`.**"), "{md}");
    // Under a priority that only counts the update's speed, swap wins everywhere.
    let output = harness(&[
        "advise",
        root.to_str().unwrap(),
        "--priority",
        "update.duration_ms",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["holds"], "swap");
}
