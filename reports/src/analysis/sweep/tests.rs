use std::collections::BTreeMap;

use super::*;
use crate::analysis::advice::{AdviceOptions, RunData};

fn manifest(values: &[&str]) -> Manifest {
    let axis = Axis {
        key: "swap.recycle_after".into(),
        unit: Some("ms".into()),
        values: values
            .iter()
            .map(|v| AxisValue {
                text: (*v).into(),
                x: Some(v.trim_end_matches('s').parse::<f64>().unwrap() * 1e3),
            })
            .collect(),
    };
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| Point {
            label: format!("swap.recycle_after={v}"),
            at: vec![i],
        })
        .collect();
    let scenarios = ["swap", "drain"]
        .iter()
        .map(|s| ScenarioEntry {
            name: format!("seed-{s}"),
            strategy: (*s).into(),
            file: format!("scenarios/seed-{s}.toml"),
        })
        .collect();
    Manifest::new(vec![axis], points, scenarios, 5)
}

fn run(point: usize, strategy: &str, k: usize, lost: f64, update_ms: f64) -> SweepRun {
    let mut values = BTreeMap::new();
    values.insert(Metric::Lost, lost);
    values.insert(Metric::UpdateDurationMs, update_ms);
    values.insert(Metric::Expected, 80.0);
    SweepRun {
        point,
        data: RunData {
            run: format!("seed-{strategy}/run-{k}"),
            scenario: format!("seed-{strategy}"),
            strategy: Some(strategy.into()),
            case: Some("healthy".into()),
            values,
            ..RunData::default()
        },
        threshold_failures: Vec::new(),
    }
}

/// Five runs of each strategy at each point: swap is faster (about 100 ms against 500)
/// and loses `swap_lost[point]` items; drain loses nothing.
fn runs(swap_lost: &[f64]) -> Vec<SweepRun> {
    let mut runs = Vec::new();
    for (point, &lost) in swap_lost.iter().enumerate() {
        for k in 1..=5 {
            runs.push(run(point, "swap", k, lost, 100.0 + k as f64));
            runs.push(run(point, "drain", k, 0.0, 500.0 + k as f64));
        }
    }
    runs
}

#[test]
fn every_metric_is_a_function_of_the_point_and_failed_runs_are_not_averaged_in() {
    let mut all = runs(&[0.0, 1.0, 2.0]);
    let mut failed = run(1, "swap", 6, 99.0, 0.0);
    failed.data.invalid = vec!["instance b-0 was not ready".into()];
    all.push(failed);
    all[0].threshold_failures = vec!["lost == 0 (lost = 0)".into()];
    let sweep = analyse(manifest(&["1s", "2s", "3s"]), &all);
    assert_eq!(sweep.cells.len(), 6, "2 scenarios x 3 points");
    let swap: Vec<f64> = (0..3)
        .map(|p| sweep.cell("seed-swap", p).unwrap().stats[&Metric::Lost].mean)
        .collect();
    assert_eq!(swap, [0.0, 1.0, 2.0]);
    let cell = sweep.cell("seed-swap", 1).unwrap();
    assert_eq!((cell.runs, cell.stats[&Metric::Lost].n), (6, 5));
    assert_eq!(
        cell.failed,
        [(
            "seed-swap/run-6".to_owned(),
            "instance b-0 was not ready".to_owned()
        )]
    );
    let update = sweep.cell("seed-drain", 2).unwrap().stats[&Metric::UpdateDurationMs];
    assert_eq!((update.min, update.max, update.mean), (501.0, 505.0, 503.0));
    assert_eq!(
        sweep.cell("seed-swap", 0).unwrap().threshold_failures,
        [(
            "seed-swap/run-1".to_owned(),
            "lost == 0 (lost = 0)".to_owned()
        )]
    );
    assert!(sweep.measured(Metric::Lost));
    assert!(!sweep.measured(Metric::RollbackDetectMs));
}

fn zero_loss() -> AdviceOptions {
    AdviceOptions {
        priorities: "lost==0,update.duration_ms".parse().unwrap(),
        cases: Vec::new(),
        alpha: 0.05,
    }
}

#[test]
fn the_advice_flips_where_the_winner_changes() {
    // Swap is faster and loses nothing at 1s and 2s; from 3s on it loses items, so the
    // limit disqualifies it and drain is recommended.
    let m = manifest(&["1s", "2s", "3s"]);
    let r = range(&m, &runs(&[0.0, 0.0, 2.0]), &zero_loss()).unwrap();
    let recommended: Vec<Option<&str>> = r
        .points
        .iter()
        .map(|p| p.recommendation.as_deref())
        .collect();
    assert_eq!(recommended, [Some("swap"), Some("swap"), Some("drain")]);
    assert!(r.points.iter().all(|p| p.significant && p.valid_runs == 10));
    assert_eq!(r.holds, None);
    assert_eq!(
        r.flips,
        [Flip {
            key: "swap.recycle_after".into(),
            from_value: "2s".into(),
            to_value: "3s".into(),
            from: Some("swap".into()),
            to: Some("drain".into()),
            others: Vec::new(),
            significant: true,
        }]
    );
    assert_eq!(r.advice.len(), 3);
}

#[test]
fn the_advice_holds_when_one_strategy_wins_everywhere() {
    let m = manifest(&["1s", "2s"]);
    let r = range(&m, &runs(&[0.0, 0.0]), &zero_loss()).unwrap();
    assert_eq!(r.holds.as_deref(), Some("swap"));
    assert!(r.flips.is_empty());
}

#[test]
fn neighbours_are_taken_in_value_order_not_the_order_given() {
    // Given 3s, 1s, 2s: the flip is still between 2s and 3s.
    let m = manifest(&["3s", "1s", "2s"]);
    let r = range(&m, &runs(&[2.0, 0.0, 0.0]), &zero_loss()).unwrap();
    assert_eq!(r.flips.len(), 1, "{:?}", r.flips);
    assert_eq!(
        (r.flips[0].from_value.as_str(), r.flips[0].to_value.as_str()),
        ("2s", "3s")
    );
}

#[test]
fn two_keys_flip_along_each_with_the_other_held() {
    // recycle_after (1s, 2s) x cold_start (0s, 1s): swap loses only at 2s and cold 1s.
    let mut m = manifest(&["1s", "2s"]);
    m.keys.push(Axis {
        key: "app.cold_start".into(),
        unit: Some("ms".into()),
        values: ["0s", "1s"]
            .iter()
            .enumerate()
            .map(|(i, t)| AxisValue {
                text: (*t).into(),
                x: Some(i as f64 * 1e3),
            })
            .collect(),
    });
    m.points = (0..4)
        .map(|n| Point {
            label: format!("p{n}"),
            at: vec![n / 2, n % 2],
        })
        .collect();
    let r = range(&m, &runs(&[0.0, 0.0, 0.0, 3.0]), &zero_loss()).unwrap();
    let flips: Vec<String> = r
        .flips
        .iter()
        .map(|f| {
            let held: Vec<String> = f.others.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "{} {} -> {} at {}",
                f.key,
                f.from_value,
                f.to_value,
                held.join(",")
            )
        })
        .collect();
    assert_eq!(
        flips,
        [
            "swap.recycle_after 1s -> 2s at app.cold_start=1s",
            "app.cold_start 0s -> 1s at swap.recycle_after=2s",
        ]
    );
}

#[test]
fn a_sweep_directory_reads_back_point_by_point() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&["1s", "2s"]);
    std::fs::write(
        dir.path().join(SWEEP_FILE),
        serde_json::to_string(&m).unwrap(),
    )
    .unwrap();
    assert!(is_sweep(dir.path()));
    for (p, lost) in [(0, 0), (1, 4)] {
        let run = dir.path().join(&m.points[p].label).join("seed-swap/run-1");
        std::fs::create_dir_all(&run).unwrap();
        let verdict = crate::Verdict {
            lost,
            ..crate::Verdict::default()
        };
        let info = crate::RunInfo {
            name: Some("seed-swap".into()),
            strategy: Some("swap".into()),
            ..crate::RunInfo::default()
        };
        crate::RunDir::new(&run)
            .write_summary(&crate::Summary::new(info, verdict))
            .unwrap();
    }
    let (back, runs) = load(dir.path()).unwrap();
    assert_eq!(back, m);
    let lost: Vec<(usize, f64)> = runs
        .iter()
        .map(|r| (r.point, r.data.values[&Metric::Lost]))
        .collect();
    assert_eq!(lost, [(0, 0.0), (1, 4.0)]);
    let mut wrong = m.clone();
    wrong.schema = "update-harness/sweep/0".into();
    std::fs::write(
        dir.path().join(SWEEP_FILE),
        serde_json::to_string(&wrong).unwrap(),
    )
    .unwrap();
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("sweep.json: schema"), "{e}");
}

#[test]
fn a_flip_from_a_pick_the_data_did_not_make_is_marked() {
    // At 1s both update equally fast (a tie: the first by name is picked, drain); at 2s
    // swap is faster.
    let m = manifest(&["1s", "2s"]);
    let mut all = Vec::new();
    for k in 1..=5 {
        all.push(run(0, "swap", k, 0.0, 100.0 + k as f64));
        all.push(run(0, "drain", k, 0.0, 100.0 + k as f64));
        all.push(run(1, "swap", k, 0.0, 100.0 + k as f64));
        all.push(run(1, "drain", k, 0.0, 500.0 + k as f64));
    }
    let r = range(&m, &all, &zero_loss()).unwrap();
    assert_eq!(r.points[0].recommendation.as_deref(), Some("drain"));
    assert!(!r.points[0].significant);
    assert_eq!(r.flips.len(), 1);
    assert!(!r.flips[0].significant);
}
