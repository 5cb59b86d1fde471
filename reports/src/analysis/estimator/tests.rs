//! The estimator against the query replayed naively: clean completions, originals hidden in
//! the gap or by silence, status truths, window ends and a JSON round trip.

use std::collections::BTreeSet;

use super::*;
use proptest::prelude::*;

const S: i64 = 1_000_000_000;
const DS: i64 = 100 * S;

fn params() -> EstimateParams {
    EstimateParams {
        check_interval_ns: 10 * S,
        buffer_ns: 30 * S,
    }
}

/// An instance's lines every second from `from_s` to `to_s`, both included.
fn logs(instance: &str, from_s: i64, to_s: i64) -> Vec<(i64, String)> {
    (from_s..=to_s)
        .map(|s| (s * S, instance.to_owned()))
        .collect()
}

fn traces(lines: &[(i64, String)]) -> Vec<Trace<'_>> {
    lines
        .iter()
        .map(|(t_ns, instance)| Trace {
            t_ns: *t_ns,
            instance,
        })
        .collect()
}

fn life(instance: &str, started_s: i64, ended_s: Option<i64>) -> TrueInstance {
    TrueInstance {
        instance: instance.to_owned(),
        started_ns: started_s * S,
        ended_ns: ended_s.map(|e| e * S),
    }
}

/// What the query answers at `t_ns`: `(YES, PercentComplete, OriginalStillActiveCount,
/// NewCount, TotalOriginal)`, by sets over the raw lines, rounding exactly in integers
/// (no tie at one decimal exists below 16 originals, so it must agree with f64).
fn query<'a>(
    lines: &[Trace<'a>],
    ds_ns: i64,
    t_ns: i64,
    p: EstimateParams,
) -> (bool, Option<f64>, u64, u64, u64) {
    let ids_between = |from: i64, to: i64| -> BTreeSet<&'a str> {
        lines
            .iter()
            .filter(|l| !l.instance.is_empty() && from <= l.t_ns && l.t_ns <= to)
            .map(|l| l.instance)
            .collect()
    };
    let original = ids_between(ds_ns - p.buffer_ns, ds_ns);
    let current = ids_between(t_ns - p.check_interval_ns, t_ns);
    let osa = current.intersection(&original).count() as u64;
    let new = current.difference(&original).count() as u64;
    let total = original.len() as u64;
    let percent = (total > 0).then(|| ((2000 * (total - osa) + total) / (2 * total)) as f64 / 10.0);
    (osa == 0, percent, osa, new, total)
}

/// Every evaluation, at the right times, says what the query says.
fn assert_matches_query(
    lines: &[Trace<'_>],
    end_ns: i64,
    p: EstimateParams,
    est: &CompletionEstimate,
) {
    let ds = est.deployment_start_ns;
    let times: Vec<i64> = (0..)
        .map(|k| ds + k * p.check_interval_ns)
        .take_while(|&t| t <= end_ns)
        .collect();
    let got: Vec<i64> = est.evaluations.iter().map(|e| e.t_ns).collect();
    assert_eq!(got, times);
    for e in &est.evaluations {
        let ours = (
            e.complete,
            e.percent_complete,
            e.original_still_active,
            e.new_count,
            e.total_original,
        );
        assert_eq!(ours, query(lines, ds, e.t_ns, p), "at {} ns", e.t_ns);
    }
}

fn yes(est: &CompletionEstimate) -> String {
    est.evaluations
        .iter()
        .map(|e| if e.complete { 'Y' } else { 'N' })
        .collect()
}

fn percents(est: &CompletionEstimate) -> Vec<Option<f64>> {
    est.evaluations.iter().map(|e| e.percent_complete).collect()
}

/// Three originals logging every second, drained at 110, 120 and 130 s; three new ones
/// from 105, 115 and 125 s.
fn clean_lines() -> Vec<(i64, String)> {
    let mut lines = Vec::new();
    for (i, end_s) in [(1, 110), (2, 120), (3, 130)] {
        lines.extend(logs(&format!("old{i}"), 60, end_s - 1));
        lines.extend(logs(&format!("new{i}"), end_s - 5, 200));
    }
    // Unsorted on purpose: the estimator must not rely on order.
    lines.reverse();
    lines
}

/// The clean history and one more original-version instance started 5 s after
/// deploymentStart that logs and lives past the tracked ones.
fn gap_history() -> (Vec<(i64, String)>, Vec<TrueInstance>) {
    let mut lines = clean_lines();
    lines.extend(logs("gap", 105, 160));
    let mut lives = clean_lives();
    lives.push(life("gap", 105, Some(161)));
    (lines, lives)
}

fn clean_lives() -> Vec<TrueInstance> {
    vec![
        life("old1", 50, Some(110)),
        life("old2", 50, Some(120)),
        life("old3", 50, Some(130)),
    ]
}

#[test]
fn a_clean_completion_says_yes_once_the_last_line_leaves_the_window() {
    let owned = clean_lines();
    let lines = traces(&owned);
    let truth = Truth::Instances(clean_lives());
    let est = estimate(&lines, DS, 200 * S, params(), &truth);
    assert_matches_query(&lines, 200 * S, params(), &est);
    // old3's last line is at 129 s: it leaves [t - 10 s, t] only at t = 140 s.
    assert_eq!(yes(&est), "NNNNYYYYYYY");
    let mut expected = vec![Some(0.0), Some(0.0), Some(33.3), Some(66.7)];
    expected.extend([Some(100.0); 7]);
    assert_eq!(percents(&est), expected);
    assert_eq!(est.evaluations[4].new_count, 3);
    assert_eq!(est.truth, TruthKind::Ledger);
    assert_eq!(est.false_yes, 0);
    assert!(est.false_completions.is_empty());
    assert_eq!(est.true_complete_ns, Some(130 * S));
    assert_eq!(est.first_yes_ns, Some(140 * S));
    assert_eq!(est.first_true_yes_ns, Some(140 * S));
    let delay = est.delay_ms.unwrap();
    assert!((0.0..=20_000.0).contains(&delay), "{delay}");
    assert_eq!(delay, 10_000.0);
    assert_eq!(est.evaluations[1].alive_original, ["old2", "old3"]);
}

#[test]
fn an_original_started_in_the_gap_counts_as_new_and_gives_a_false_yes() {
    let (owned, lives) = gap_history();
    let lines = traces(&owned);
    let est = estimate(&lines, DS, 200 * S, params(), &Truth::Instances(lives));
    assert_matches_query(&lines, 200 * S, params(), &est);
    assert_eq!(yes(&est), "NNNNYYYYYYY");
    let false_yes: Vec<bool> = est.evaluations.iter().map(|e| e.false_yes).collect();
    assert_eq!(
        false_yes,
        [false, false, false, false, true, true, true, false, false, false, false]
    );
    assert_eq!(est.false_yes, 3);
    assert_eq!(est.true_complete_ns, Some(161 * S));
    assert!(est.first_yes_ns.unwrap() < est.true_complete_ns.unwrap());
    assert_eq!(est.first_yes_ns, Some(140 * S));
    assert_eq!(est.first_true_yes_ns, Some(170 * S));
    assert_eq!(est.delay_ms, Some(9_000.0));
    let [episode] = &est.false_completions[..] else {
        panic!("{:?}", est.false_completions)
    };
    assert_eq!((episode.start_ns, episode.end_ns), (140 * S, 161 * S));
    assert_eq!(episode.evaluations, 3);
    assert_eq!(episode.duration_ms(), 21_000.0);
    assert_eq!(
        episode.instances,
        [InstanceCause {
            instance: "gap".into(),
            cause: FalseYesCause::StartedInGap
        }]
    );
    assert_eq!(episode.causes(), [FalseYesCause::StartedInGap]);
}

#[test]
fn a_silent_original_looks_gone_until_it_logs_again() {
    let mut owned = logs("old1", 60, 109);
    owned.extend(logs("quiet", 60, 112));
    owned.extend(logs("quiet", 135, 145));
    owned.extend(logs("new1", 105, 200));
    let lines = traces(&owned);
    let truth = Truth::Instances(vec![
        life("old1", 50, Some(110)),
        life("quiet", 50, Some(185)),
    ]);
    let est = estimate(&lines, DS, 200 * S, params(), &truth);
    assert_matches_query(&lines, 200 * S, params(), &est);
    assert_eq!(yes(&est), "NNNYNNYYYYY");
    let mut expected = vec![Some(0.0), Some(0.0), Some(50.0), Some(100.0)];
    expected.extend([Some(50.0), Some(50.0)]);
    expected.extend([Some(100.0); 5]);
    assert_eq!(percents(&est), expected);
    assert_eq!(est.false_yes, 4);
    let silent = [InstanceCause {
        instance: "quiet".into(),
        cause: FalseYesCause::Silent,
    }];
    let episodes: Vec<(i64, i64, u64, &[InstanceCause])> = est
        .false_completions
        .iter()
        .map(|f| (f.start_ns, f.end_ns, f.evaluations, &f.instances[..]))
        .collect();
    assert_eq!(
        episodes,
        [
            (130 * S, 140 * S, 1, &silent[..]),
            (160 * S, 185 * S, 3, &silent[..]),
        ]
    );
    assert_eq!(est.true_complete_ns, Some(185 * S));
    assert_eq!(est.first_yes_ns, Some(130 * S));
    assert_eq!(est.first_true_yes_ns, Some(190 * S));
    assert_eq!(est.delay_ms, Some(5_000.0));
}

#[test]
fn an_empty_original_set_says_yes_at_once_and_misses_the_untracked() {
    let mut owned = logs("untracked", 50, 50);
    owned.extend(logs("untracked", 150, 155));
    owned.extend(logs("new1", 105, 200));
    let lines = traces(&owned);
    let truth = Truth::Instances(vec![life("untracked", 10, Some(170))]);
    let est = estimate(&lines, DS, 200 * S, params(), &truth);
    assert_matches_query(&lines, 200 * S, params(), &est);
    assert_eq!(yes(&est), "YYYYYYYYYYY");
    assert_eq!(percents(&est), [None; 11]);
    assert!(est.evaluations.iter().all(|e| e.total_original == 0));
    // At 150 and 160 s the untracked instance's own lines count as new.
    assert_eq!(est.evaluations[5].new_count, 2);
    assert_eq!(est.false_yes, 7);
    assert_eq!(est.first_yes_ns, Some(DS));
    let [episode] = &est.false_completions[..] else {
        panic!("{:?}", est.false_completions)
    };
    assert_eq!((episode.start_ns, episode.end_ns), (DS, 170 * S));
    assert_eq!(episode.evaluations, 7);
    assert_eq!(episode.duration_ms(), 70_000.0);
    assert_eq!(episode.causes(), [FalseYesCause::Untracked]);
    assert_eq!(est.first_true_yes_ns, Some(170 * S));
    assert_eq!(est.delay_ms, Some(0.0));
}

#[test]
fn a_status_truth_gives_unknown_causes_and_a_delay() {
    let owned = clean_lines();
    let lines = traces(&owned);
    let truth = Truth::Status {
        complete_ns: Some(145 * S),
    };
    let est = estimate(&lines, DS, 200 * S, params(), &truth);
    assert_matches_query(&lines, 200 * S, params(), &est);
    assert_eq!(est.truth, TruthKind::Status);
    assert_eq!(yes(&est), "NNNNYYYYYYY");
    assert!(est.evaluations.iter().all(|e| e.alive_original.is_empty()));
    let truly: Vec<bool> = est.evaluations.iter().map(|e| e.truly_complete).collect();
    assert_eq!(
        truly,
        [false, false, false, false, false, true, true, true, true, true, true]
    );
    assert_eq!(est.false_yes, 1);
    let [episode] = &est.false_completions[..] else {
        panic!("{:?}", est.false_completions)
    };
    assert_eq!((episode.start_ns, episode.end_ns), (140 * S, 145 * S));
    assert!(episode.instances.is_empty());
    assert_eq!(episode.causes(), [FalseYesCause::Unknown]);
    assert_eq!(est.true_complete_ns, Some(145 * S));
    assert_eq!(est.first_true_yes_ns, Some(150 * S));
    assert_eq!(est.delay_ms, Some(5_000.0));

    let never = estimate(
        &lines,
        DS,
        200 * S,
        params(),
        &Truth::Status { complete_ns: None },
    );
    assert_eq!(never.false_yes, 7);
    assert_eq!(
        (
            never.true_complete_ns,
            never.first_true_yes_ns,
            never.delay_ms
        ),
        (None, None, None)
    );
    assert_eq!(never.false_completions[0].end_ns, 200 * S);
}

#[test]
fn both_window_ends_are_inclusive() {
    let owned: Vec<(i64, String)> = vec![
        (70 * S, "a".into()),     // exactly deploymentStart - buffer: original
        (70 * S - 1, "b".into()), // one ns before: not
        (90 * S, String::new()),  // empty ids are ignored
        (DS + 1, "c".into()),     // after the first evaluation: not yet visible then
        (110 * S, "a".into()),    // exactly t at 110 s, exactly t - interval at 120 s
        (120 * S, "b".into()),    // exactly t - interval at 130 s
    ];
    let lines = traces(&owned);
    let est = estimate(&lines, DS, 130 * S, params(), &Truth::Instances(Vec::new()));
    assert_matches_query(&lines, 130 * S, params(), &est);
    assert_eq!(yes(&est), "YNNY");
    assert!(est.evaluations.iter().all(|e| e.total_original == 1));
    let counts: Vec<(u64, u64)> = est
        .evaluations
        .iter()
        .map(|e| (e.original_still_active, e.new_count))
        .collect();
    assert_eq!(counts, [(0, 0), (1, 1), (1, 1), (0, 1)]);
    // No original-version instance at all: truly complete from deploymentStart.
    assert_eq!(est.true_complete_ns, Some(DS));
    assert_eq!(
        (est.false_yes, est.first_true_yes_ns, est.delay_ms),
        (0, Some(DS), Some(0.0))
    );
}

#[test]
fn a_zero_check_interval_gives_no_evaluations() {
    let owned = clean_lines();
    let lines = traces(&owned);
    for check_interval_ns in [0, -S] {
        let p = EstimateParams {
            check_interval_ns,
            buffer_ns: 30 * S,
        };
        let est = estimate(&lines, DS, 200 * S, p, &Truth::Instances(clean_lives()));
        assert!(est.evaluations.is_empty());
        assert_eq!((est.first_yes_ns, est.false_yes), (None, 0));
        assert_eq!(est.true_complete_ns, Some(130 * S));
    }
}

#[test]
fn evaluations_stop_at_the_end_without_overflowing() {
    let est = estimate(
        &[],
        i64::MAX - 5,
        i64::MAX,
        params(),
        &Truth::Instances(Vec::new()),
    );
    assert_eq!(est.evaluations.len(), 1);
    assert!(
        estimate(&[], DS, DS - 1, params(), &Truth::Instances(Vec::new()))
            .evaluations
            .is_empty()
    );
}

#[test]
fn an_estimate_round_trips_through_json() {
    let (owned, lives) = gap_history();
    let lines = traces(&owned);
    let est = estimate(&lines, DS, 200 * S, params(), &Truth::Instances(lives));
    let json = serde_json::to_string(&est).unwrap();
    assert!(json.contains("\"started_in_gap\""), "{json}");
    assert_eq!(
        serde_json::from_str::<CompletionEstimate>(&json).unwrap(),
        est
    );
}

proptest! {
    #[test]
    fn every_evaluation_equals_the_query(
        raw in proptest::collection::vec((0usize..7, 0i64..200), 0..80),
        lives in proptest::collection::vec((0usize..6, 0i64..200, proptest::option::of(0i64..220)), 0..5),
        ds in 20i64..80,
        buffer in 0i64..40,
        interval in 1i64..25,
        span in 0i64..120,
    ) {
        // Id 6 is the empty string, which the query drops.
        let name = |i: usize| if i == 6 { String::new() } else { format!("i{i}") };
        let owned: Vec<(i64, String)> = raw.iter().map(|&(i, t)| (t, name(i))).collect();
        let lines = traces(&owned);
        let truth = Truth::Instances(
            lives
                .iter()
                .map(|&(i, started_ns, ended)| TrueInstance {
                    instance: name(i),
                    started_ns,
                    ended_ns: ended.map(|e| started_ns + e),
                })
                .collect(),
        );
        let p = EstimateParams { check_interval_ns: interval, buffer_ns: buffer };
        let est = estimate(&lines, ds, ds + span, p, &truth);
        assert_matches_query(&lines, ds + span, p, &est);
        // The truth, read from the drawn lives themselves (the design's words: complete once
        // no original-version instance runs; a life runs from its start, inclusive, to its
        // end, exclusive), not through the estimator's own `Truth`.
        let truly = |t: i64| {
            !lives.iter().any(|&(_, started, ended)| {
                started <= t && ended.is_none_or(|e| t < started + e)
            })
        };
        let mut false_yes = 0;
        for e in &est.evaluations {
            prop_assert_eq!(e.truly_complete, truly(e.t_ns));
            prop_assert_eq!(e.false_yes, e.complete && !truly(e.t_ns));
            false_yes += u64::from(e.false_yes);
        }
        prop_assert_eq!(est.false_yes, false_yes);
        let in_episodes: u64 = est.false_completions.iter().map(|f| f.evaluations).sum();
        prop_assert_eq!(in_episodes, false_yes);
        for f in &est.false_completions {
            prop_assert!(f.start_ns <= f.end_ns);
            prop_assert!(!f.instances.is_empty());
        }
    }
}
