use std::collections::BTreeMap;

use super::*;
use crate::analysis::advice::{AdviceOptions, RunData};
use crate::analysis::sweep::{analyse, range, Axis, AxisValue, Point, ScenarioEntry, SweepRun};

fn axis(key: &str, texts: &[&str]) -> Axis {
    Axis {
        key: key.into(),
        unit: Some("ms".into()),
        values: texts
            .iter()
            .map(|t| AxisValue {
                text: (*t).into(),
                x: Some(t.trim_end_matches('s').parse::<f64>().unwrap() * 1e3),
            })
            .collect(),
    }
}

fn scenarios() -> Vec<ScenarioEntry> {
    ["swap", "drain"]
        .iter()
        .map(|s| ScenarioEntry {
            name: format!("seed-{s}"),
            strategy: (*s).into(),
            file: format!("seed-{s}.toml"),
        })
        .collect()
}

fn run(point: usize, strategy: &str, k: usize, lost: f64) -> SweepRun {
    let mut values = BTreeMap::new();
    values.insert(Metric::Lost, lost);
    values.insert(Metric::Expected, 80.0);
    values.insert(
        Metric::UpdateDurationMs,
        if strategy == "swap" { 100.0 } else { 500.0 } + k as f64,
    );
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

/// Swap loses `lost[p]` items at point p, in each of 5 runs; drain loses nothing.
fn runs(lost: &[f64]) -> Vec<SweepRun> {
    let mut runs = Vec::new();
    for (p, &l) in lost.iter().enumerate() {
        for k in 1..=5 {
            runs.push(run(p, "swap", k, l));
            runs.push(run(p, "drain", k, 0.0));
        }
    }
    runs
}

fn one_key() -> Manifest {
    let points = ["1s", "2s", "3s"]
        .iter()
        .enumerate()
        .map(|(i, v)| Point {
            label: format!("swap.recycle_after={v}"),
            at: vec![i],
        })
        .collect();
    Manifest::new(
        vec![axis("swap.recycle_after", &["1s", "2s", "3s"])],
        points,
        scenarios(),
        5,
    )
}

fn zero_loss() -> AdviceOptions {
    AdviceOptions {
        priorities: "zero-loss".parse().unwrap(),
        cases: Vec::new(),
        alpha: 0.05,
    }
}

#[test]
fn the_csv_has_a_row_per_scenario_point_and_metric() {
    let sweep = analyse(one_key(), &runs(&[0.0, 1.0, 2.0]));
    let csv = csv(&sweep);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("scenario,strategy,point,swap.recycle_after,metric,unit,n,failed,mean,sd,ci95_low,ci95_high,min,max")
    );
    assert_eq!(lines.count(), 2 * 3 * Metric::ALL.len());
    assert!(
        csv.contains("\nseed-swap,swap,swap.recycle_after=2s,2s,lost,items,5,0,1,0,1,1,1,1\n"),
        "{csv}"
    );
    // A metric no run measured: its statistics are empty.
    assert!(
        csv.contains(
            "\nseed-drain,drain,swap.recycle_after=3s,3s,rollback_detect_ms,ms,0,0,,,,,,\n"
        ),
        "{csv}"
    );
}

#[test]
fn the_markdown_shows_the_main_metrics_and_where_the_advice_flips() {
    let m = one_key();
    let all = runs(&[0.0, 0.0, 2.0]);
    let advice = range(&m, &all, &zero_loss()).unwrap();
    let sweep = analyse(m, &all);
    let md = markdown(&sweep, Some(&advice));
    assert!(
        md.contains("| scenario | strategy | swap.recycle_after | runs (failed) | lost (items) | duplicated (items) | late (items) | downtime.max_ms (ms) | update.duration_ms (ms) |"),
        "{md}"
    );
    assert!(
        md.contains("| seed-swap | swap | 3s | 5 (0) | 2 ± 0 [2..2] |"),
        "{md}"
    );
    assert!(
        md.contains("- `swap.recycle_after` from 2s to 3s: `swap` -> `drain`"),
        "{md}"
    );
    assert!(
        md.contains("| swap.recycle_after=3s | `drain` | yes | 10 |"),
        "{md}"
    );
    let json: serde_json::Value = serde_json::from_str(&advice_json(&advice).unwrap()).unwrap();
    assert_eq!(json["schema"], "update-harness/sweep-advice/1");
    assert_eq!(json["flips"][0]["to"], "drain");
}

#[test]
fn the_page_has_a_section_per_metric_and_a_plot_per_measured_one() {
    let sweep = analyse(one_key(), &runs(&[0.0, 1.0, 2.0]));
    let html = html(&sweep, None).unwrap();
    assert_eq!(
        html.matches("<section id=\"metric-").count(),
        Metric::ALL.len()
    );
    let measured = Metric::ALL.iter().filter(|m| sweep.measured(**m)).count();
    assert_eq!(measured, 3, "lost, expected and the update duration");
    assert_eq!(html.matches("<svg").count(), measured);
    assert!(html.contains("<figure id=\"plot-lost\">"));
    assert!(
        html.contains("lost by swap.recycle_after"),
        "the line plot's title"
    );
    assert!(
        !html.contains("<script") && !html.contains(" src=") && !html.contains(" href="),
        "self-contained"
    );
}

#[test]
fn two_keys_draw_a_heat_map_per_metric() {
    let points = (0..4)
        .map(|n| Point {
            label: format!("p{n}"),
            at: vec![n / 2, n % 2],
        })
        .collect();
    let m = Manifest::new(
        vec![
            axis("swap.recycle_after", &["1s", "2s"]),
            axis("app.cold_start", &["0s", "1s"]),
        ],
        points,
        scenarios(),
        5,
    );
    let sweep = analyse(m, &runs(&[0.0, 0.0, 0.0, 3.0]));
    let html = html(&sweep, None).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(
        html.contains("by swap.recycle_after and app.cold_start (mean)"),
        "the heat map's title"
    );
    let csv = csv(&sweep);
    assert!(
        csv.starts_with("scenario,strategy,point,swap.recycle_after,app.cold_start,metric,"),
        "{csv}"
    );
    assert!(
        csv.contains("\nseed-swap,swap,p3,2s,1s,lost,items,5,0,3,"),
        "{csv}"
    );
}

#[test]
fn a_label_with_a_comma_is_quoted() {
    assert_eq!(field("a=1s,b=2s"), "\"a=1s,b=2s\"");
    assert_eq!(field("plain"), "plain");
}
