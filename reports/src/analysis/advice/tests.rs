//! The advice on hand-built comparisons: parsing priorities, ordering, ties, limits and
//! caveats.

use super::*;
use crate::analysis::threshold::Op;

/// Runs of `strategy` in `case`, run `i` with the `i`-th value of each metric.
fn runs(
    strategy: &str,
    case: &str,
    values: &[(&str, &[f64])],
    time_scale: Option<f64>,
) -> Vec<RunData> {
    let n = values[0].1.len();
    (0..n)
        .map(|i| RunData {
            run: format!("{strategy}-{case}/run-{}", i + 1),
            scenario: format!("{strategy}-{case}"),
            strategy: Some(strategy.to_owned()),
            case: Some(case.to_owned()),
            time_scale,
            notes: Vec::new(),
            invalid: Vec::new(),
            values: values
                .iter()
                .map(|(m, v)| (m.parse().unwrap(), v[i]))
                .collect(),
        })
        .collect()
}

fn options(priority: &str) -> AdviceOptions {
    AdviceOptions {
        priorities: priority.parse().unwrap(),
        cases: Vec::new(),
        alpha: DEFAULT_ALPHA,
    }
}

#[test]
fn priorities_parse_presets_lists_and_say_which_term_is_bad() {
    let p: Priorities = "zero-loss".parse().unwrap();
    assert_eq!(p.preset.as_deref(), Some("zero-loss"));
    let texts: Vec<&str> = p.terms.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "lost == 0",
            "duplicated",
            "lateness.p99_ms",
            "downtime.total_ms",
            "update.duration_ms"
        ]
    );
    assert!(p.terms[0].limit.is_some() && p.terms[1].limit.is_none());
    for (name, _) in PRESETS {
        assert!(name.parse::<Priorities>().is_ok(), "{name}");
    }
    let p: Priorities = " ok , lost <= 2 ,lost".parse().unwrap();
    assert_eq!(p.terms[0].better, Better::Larger, "ok: larger is better");
    assert_eq!(
        p.terms[1].limit,
        Some(Limit {
            op: Op::Le,
            bound: 2.0
        })
    );
    assert_eq!(p.terms[2].position, 3);
    for (text, position, what) in [
        ("lost,lots", 2, "unknown metric"),
        ("lost,,duplicated", 2, "empty term"),
        ("lost == zero", 1, "is not a number"),
        ("duplicated,lost =< 1", 2, "expected an operator"),
        ("lost,lost", 2, "already orders"),
        ("lost,zero-loss", 2, "preset"),
        ("", 1, "empty term"),
    ] {
        let e = text.parse::<Priorities>().unwrap_err();
        assert_eq!(e.position, position, "{text}: {e}");
        assert!(e.what.contains(what), "{text}: {e}");
        assert!(e.to_string().contains(&format!("term {position}")), "{e}");
    }
}

#[test]
fn orders_by_the_first_term_that_separates() {
    // lost separates nobody (all 0); duplicated puts swap out; lateness puts rolling out.
    let mut data = Vec::new();
    data.extend(runs(
        "drain",
        "healthy",
        &[
            ("lost", &[0.0; 5]),
            ("duplicated", &[0.0; 5]),
            ("lateness.p99_ms", &[3.0, 3.5, 4.0, 3.2, 3.8]),
        ],
        None,
    ));
    data.extend(runs(
        "rolling",
        "healthy",
        &[
            ("lost", &[0.0; 5]),
            ("duplicated", &[0.0; 5]),
            ("lateness.p99_ms", &[60.0, 61.0, 65.0, 62.0, 64.0]),
        ],
        None,
    ));
    data.extend(runs(
        "swap",
        "healthy",
        &[
            ("lost", &[0.0; 5]),
            ("duplicated", &[2.0, 3.0, 2.0, 2.0, 4.0]),
            ("lateness.p99_ms", &[1.0; 5]),
        ],
        None,
    ));
    let a = advise(&data, &options("lost,duplicated,lateness.p99_ms")).unwrap();
    assert_eq!(a.recommendation.as_deref(), Some("drain"));
    assert!(a.significant);
    assert_eq!(a.steps.len(), 3);
    assert!(a.steps[0].beaten.is_empty(), "lost: all 0, p = 1");
    assert!(a.steps[0]
        .pairs
        .iter()
        .all(|p| p.cases[0].test.is_some_and(|t| t.p_value == 1.0)));
    assert_eq!(a.steps[1].beaten, ["swap"]);
    assert_eq!(a.steps[2].beaten, ["rolling"]);
    let tiers: Vec<(&[String], Option<usize>)> = a
        .tiers
        .iter()
        .map(|t| (t.strategies.as_slice(), t.lost_at_term))
        .collect();
    assert_eq!(
        tiers,
        [
            (&["drain".to_owned()][..], None),
            (&["rolling".to_owned()][..], Some(3)),
            (&["swap".to_owned()][..], Some(2)),
        ]
    );
    let rolling = a
        .runners_up
        .iter()
        .find(|r| r.strategy == "rolling")
        .unwrap();
    assert_eq!(rolling.metric, Metric::LatenessP99Ms);
    assert_eq!(rolling.beaten_by[0].by, "drain");
    let t = rolling.beaten_by[0].cases[0].test.unwrap();
    assert_eq!(rolling.beaten_by[0].cases[0].outcome, CaseOutcome::ABetter);
    assert!(t.p_value < 0.05 && t.shift < 0.0, "{t:?}");
    // Swap is the best on lateness, but duplicated comes first.
    let swap = a.runners_up.iter().find(|r| r.strategy == "swap").unwrap();
    assert_eq!(swap.term, 2);
    // The other order picks swap: the priorities decide.
    let a = advise(&data, &options("lateness.p99_ms,duplicated")).unwrap();
    assert_eq!(a.recommendation.as_deref(), Some("swap"));
    // Larger is better for ok.
    let mut data = runs(
        "a",
        "healthy",
        &[("ok", &[10.0, 11.0, 12.0, 13.0, 14.0])],
        None,
    );
    data.extend(runs(
        "b",
        "healthy",
        &[("ok", &[1.0, 2.0, 3.0, 4.0, 5.0])],
        None,
    ));
    let a = advise(&data, &options("ok")).unwrap();
    assert_eq!(a.recommendation.as_deref(), Some("a"));
}

#[test]
fn overlapping_runs_are_a_tie_with_a_power_estimate() {
    let mut data = runs(
        "drain",
        "healthy",
        &[("downtime.total_ms", &[10.0, 20.0, 30.0])],
        Some(0.05),
    );
    data.extend(runs(
        "rolling",
        "healthy",
        &[("downtime.total_ms", &[15.0, 25.0, 35.0])],
        Some(0.05),
    ));
    let a = advise(&data, &options("downtime.total_ms")).unwrap();
    assert_eq!(a.steps[0].top_tier, ["drain", "rolling"]);
    assert_eq!(a.steps[0].pairs[0].verdict, PairVerdict::NotSeparated);
    assert!(!a.significant, "picked by the tie-break, not by the test");
    // drain has the better mean (20 against 25).
    assert_eq!(a.recommendation.as_deref(), Some("drain"));
    let tb = a.tie_break.as_ref().unwrap();
    assert_eq!((tb.term, tb.means["drain"]), (Some(1), 20.0));
    let power = a
        .caveats
        .iter()
        .find_map(|c| match c {
            Caveat::Power {
                runs_needed,
                pooled_sd,
                smallest_p,
                fewest_runs,
                ..
            } => Some((*runs_needed, *pooled_sd, *smallest_p, *fewest_runs)),
            _ => None,
        })
        .expect("a power caveat");
    // s = 10, d = 5: 2 * (1.95996 + 0.84162)^2 * 100 / 25 = 62.79 -> 63.
    assert_eq!(power.0, RunsNeeded::Runs { runs: 63 });
    assert_eq!(power.1, 10.0);
    // 3 and 3 runs cannot reach p < 0.05 at all (smallest p 0.1); 4 each can.
    assert!((power.2.unwrap() - 0.1).abs() < 1e-12);
    assert_eq!(power.3, 4);
    assert!(a
        .caveats
        .iter()
        .any(|c| matches!(c, Caveat::TooFewRuns { runs: 3, .. })));
    assert!(a
        .caveats
        .iter()
        .any(|c| matches!(c, Caveat::TimeScale { time_scale, .. } if *time_scale == 0.05)));
    // Constant values that differ: no variance to size a sample with.
    let mut data = runs("a", "healthy", &[("lost", &[1.0, 1.0])], None);
    data.extend(runs("b", "healthy", &[("lost", &[2.0, 2.0])], None));
    let a = advise(&data, &options("lost")).unwrap();
    assert!(a.caveats.iter().any(|c| matches!(
        c,
        Caveat::Power {
            runs_needed: RunsNeeded::NoVariance,
            ..
        }
    )));
}

#[test]
fn better_in_one_case_and_worse_in_another_is_a_tie() {
    let low = [1.0, 2.0, 3.0, 4.0, 5.0];
    let high = [11.0, 12.0, 13.0, 14.0, 15.0];
    let mut data = Vec::new();
    data.extend(runs("swap", "healthy", &[("lost", &low)], None));
    data.extend(runs("swap", "never-ready", &[("lost", &high)], None));
    data.extend(runs("recreate", "healthy", &[("lost", &high)], None));
    data.extend(runs("recreate", "never-ready", &[("lost", &low)], None));
    let a = advise(&data, &options("lost")).unwrap();
    assert_eq!(a.cases, ["healthy", "never-ready"], "healthy first");
    let pair = &a.steps[0].pairs[0];
    assert_eq!(pair.verdict, PairVerdict::Conflicting);
    assert_eq!(a.steps[0].top_tier.len(), 2);
    assert!(!a.significant);
    // Equal means on the only term: the first by name.
    assert_eq!(a.recommendation.as_deref(), Some("recreate"));
    assert_eq!(a.tie_break.as_ref().unwrap().term, None);
    // Weighing one case only separates them.
    let mut o = options("lost");
    o.cases = vec!["never-ready".into()];
    let a = advise(&data, &o).unwrap();
    assert_eq!(
        (a.recommendation.as_deref(), a.significant),
        (Some("recreate"), true)
    );
    o.cases = vec!["fails-30pct".into()];
    assert!(matches!(
        advise(&data, &o),
        Err(AdviceError::UnknownCase { .. })
    ));
}

#[test]
fn limits_no_strategy_meets_give_no_recommendation() {
    let mut data = runs(
        "swap",
        "healthy",
        &[("lost", &[2.0, 2.0, 1.0, 2.0, 3.0])],
        None,
    );
    data.extend(runs("recreate", "healthy", &[("lost", &[5.0; 5])], None));
    let a = advise(&data, &options("lost==0,update.duration_ms")).unwrap();
    assert_eq!((a.recommendation, a.significant), (None, false));
    assert_eq!(a.disqualified.len(), 2);
    assert!(a.tiers.is_empty() && a.steps.is_empty());
    assert!(a.limits.iter().all(|l| !l.met));
}

#[test]
fn a_failed_limit_disqualifies_and_names_the_run() {
    let mut data = runs(
        "swap",
        "healthy",
        &[("lost", &[0.0; 5]), ("update.duration_ms", &[100.0; 5])],
        None,
    );
    data.extend(runs(
        "swap",
        "fails-30pct",
        &[
            ("lost", &[0.0, 0.0, 4.0, 0.0, 0.0]),
            ("update.duration_ms", &[100.0; 5]),
        ],
        None,
    ));
    for case in ["healthy", "fails-30pct"] {
        data.extend(runs(
            "drain",
            case,
            &[("lost", &[0.0; 5]), ("update.duration_ms", &[900.0; 5])],
            None,
        ));
    }
    // A strategy with no valid run in a case is not measured there.
    data.extend(runs(
        "rolling",
        "healthy",
        &[("lost", &[0.0; 5]), ("update.duration_ms", &[50.0; 5])],
        None,
    ));
    let mut failed = runs("rolling", "fails-30pct", &[("lost", &[0.0])], None);
    failed[0].invalid = vec!["an instance never became ready".into()];
    data.extend(failed);
    let a = advise(&data, &options("lost==0,update.duration_ms")).unwrap();
    assert_eq!(a.recommendation.as_deref(), Some("drain"));
    assert!(a.significant, "the only one left");
    let swap = a
        .disqualified
        .iter()
        .find(|d| d.strategy == "swap")
        .unwrap();
    assert_eq!(
        swap.reasons,
        [Disqualification::LimitFailed {
            term: 1,
            limit: "lost == 0".into(),
            case: "fails-30pct".into(),
            run: "swap-fails-30pct/run-3".into(),
            value: Some(4.0),
        }]
    );
    let rolling = a
        .disqualified
        .iter()
        .find(|d| d.strategy == "rolling")
        .unwrap();
    assert_eq!(
        rolling.reasons,
        [Disqualification::NotMeasured {
            case: "fails-30pct".into(),
            failed_runs: 1
        }]
    );
    assert_eq!(a.failed_runs.len(), 1);
    assert!(a
        .caveats
        .iter()
        .any(|c| matches!(c, Caveat::FailedRuns { count: 1 })));
    // An unmeasured value fails a limit.
    let mut data = runs("a", "healthy", &[("lost", &[0.0; 5])], None);
    data[0].values.clear();
    let a = advise(&data, &options("lost==0")).unwrap();
    assert_eq!(a.recommendation, None);
    assert_eq!(a.limits[0].failures[0].value, None);
}

#[test]
fn notes_pass_through_once_without_the_time_scale_note() {
    let mut data = runs("a", "healthy", &[("lost", &[0.0; 2])], Some(0.1));
    for r in &mut data {
        r.notes = vec![
            "durations scaled by 0.1; process start-up time is real and did not scale".into(),
            "app.cold_start is a default".into(),
        ];
    }
    let a = advise(&data, &options("lost")).unwrap();
    let notes: Vec<&Caveat> = a
        .caveats
        .iter()
        .filter(|c| matches!(c, Caveat::Note { .. }))
        .collect();
    assert_eq!(
        notes,
        [&Caveat::Note {
            text: "app.cold_start is a default".into()
        }]
    );
    assert!(matches!(
        advise(
            &data,
            &AdviceOptions {
                alpha: 1.0,
                ..options("lost")
            }
        ),
        Err(AdviceError::Alpha(_))
    ));
}
