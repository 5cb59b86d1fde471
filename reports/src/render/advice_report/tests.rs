//! The written advice on hand-built comparisons: what the Markdown says decided and what is
//! uncertain, a pair better in one case and worse in another, and how p-values read.

use super::*;
use crate::analysis::advice::{advise, AdviceOptions, RunData};
use crate::model::metric::Metric;

fn runs(strategy: &str, lost: &[f64], p99: &[f64]) -> Vec<RunData> {
    (0..lost.len())
        .map(|i| RunData {
            run: format!("{strategy}/run-{}", i + 1),
            scenario: strategy.to_owned(),
            strategy: Some(strategy.to_owned()),
            case: Some("healthy".into()),
            time_scale: Some(0.1),
            values: [
                (Metric::Lost, lost[i]),
                (Metric::Duplicated, 0.0),
                (Metric::LatenessP99Ms, p99[i]),
            ]
            .into_iter()
            .collect(),
            ..RunData::default()
        })
        .collect()
}

#[test]
fn the_markdown_says_what_decided_and_what_is_uncertain() {
    let mut data = runs("drain", &[0.0; 5], &[3.0, 3.5, 4.0, 3.2, 3.8]);
    data.extend(runs("rolling", &[0.0; 5], &[60.0, 61.0, 65.0, 62.0, 64.0]));
    data.extend(runs("swap", &[2.0, 2.0, 3.0, 2.0, 2.0], &[1.0; 5]));
    data.extend(runs("graceful", &[0.0; 3], &[2.0, 70.0, 5.0]));
    let a = advise(
        &data,
        &AdviceOptions {
            priorities: "lost==0,duplicated,lateness.p99_ms".parse().unwrap(),
            cases: Vec::new(),
            alpha: 0.05,
        },
    )
    .unwrap();
    let md = markdown(&a);
    for want in [
        "**Recommended: `drain` (NOT significant).**",
        "| `swap` | FAILED (5 runs) |",
        "`lost == 0` failed in healthy in 5 runs: `swap/run-1` (lost = 2), `swap/run-2` (lost = 2)",
        "## Term 3: `lateness.p99_ms` (smaller is better, ms)",
        "| `drain` | 3.5 [2.99..4.01] (n 5) |",
        "`drain` beats `rolling`: better in healthy, worse in none",
        "`drain` and `graceful`: not separated",
        "about ",
        "runs of each would separate them at alpha 0.05 with 80% power",
        "too few repetitions: `graceful` has 3 valid runs in healthy",
        "durations were scaled by 0.1; process start-up is real time",
        "- `rolling` lost on `lateness.p99_ms` (term 3): beaten by `drain` (in healthy, 3.5 [2.99..4.01] (n 5) against 62.4",
        "| - | `swap` | disqualified |",
    ] {
        assert!(md.contains(want), "{want:?} not in:\n{md}");
    }
    let json: serde_json::Value = serde_json::from_str(&json(&a).unwrap()).unwrap();
    assert_eq!(json["schema"], "update-harness/advice/1");
    assert_eq!(json["recommendation"], "drain");
    assert_eq!(json["significant"], false);
    assert_eq!(json["priorities"][0]["limit"]["op"], "==");
    assert_eq!(
        json["strategies"]["drain"]["cases"]["healthy"]["metrics"]["lateness.p99_ms"]["n"],
        5
    );
    let back: Advice = serde_json::from_value(json).unwrap();
    assert_eq!(
        (back.recommendation, back.tiers, back.disqualified),
        (a.recommendation, a.tiers, a.disqualified),
        "advice.json reads back"
    );
}

#[test]
fn a_pair_better_in_one_case_and_worse_in_another_is_said_to_be_tied() {
    let case = |strategy: &str, case: &str, lost: [f64; 5]| -> Vec<RunData> {
        (0..5)
            .map(|i| RunData {
                run: format!("{strategy}-{case}/run-{}", i + 1),
                scenario: format!("{strategy}-{case}"),
                strategy: Some(strategy.to_owned()),
                case: Some(case.to_owned()),
                values: [(Metric::Lost, lost[i])].into_iter().collect(),
                ..RunData::default()
            })
            .collect()
    };
    let (low, high) = ([1.0, 2.0, 3.0, 4.0, 5.0], [11.0, 12.0, 13.0, 14.0, 15.0]);
    let mut data = case("swap", "healthy", low);
    data.extend(case("swap", "never-ready", high));
    data.extend(case("recreate", "healthy", high));
    data.extend(case("recreate", "never-ready", low));
    let a = advise(
        &data,
        &AdviceOptions {
            priorities: "lost".parse().unwrap(),
            cases: Vec::new(),
            alpha: 0.05,
        },
    )
    .unwrap();
    let md = markdown(&a);
    for want in [
        "**Recommended: `recreate` (NOT significant).**",
        "their means are equal on every term: `recreate` is the first by name",
        "Each is better in some case and worse in another: on `lost`, `recreate` is better in never-ready and `swap` in healthy.",
        "- `recreate` and `swap`: not separated: `recreate` is better in never-ready and `swap` in healthy",
    ] {
        assert!(md.contains(want), "{want:?} not in:\n{md}");
    }
}

#[test]
fn p_values_read_well() {
    assert_eq!(p_value(0.031746031746031744), "0.0317");
    assert_eq!(p_value(0.1), "0.1");
    assert_eq!(p_value(1.0), "1");
    assert_eq!(p_value(0.00001), "< 0.0001");
}
