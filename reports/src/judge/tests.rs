use super::*;
use crate::model::record::BaselineRecord;
use crate::model::verdict::{Control, Quantiles};

fn rules(thresholds: &[&str]) -> Rules {
    Rules {
        thresholds: thresholds.iter().map(|t| t.parse().unwrap()).collect(),
        control_max_ms: 2000.0,
        max_send_lag_ms: 10.0,
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        name: Some("seed-swap".into()),
        harness_version: "0.1.0".into(),
        ..RunInfo::default()
    }
}

#[test]
fn a_run_is_judged_by_its_thresholds_and_its_own_measuring() {
    let mut info = run_info();
    info.probe_send_lag_ms = Some(Quantiles {
        p99: 12.5,
        ..Quantiles::default()
    });
    let record = Record::new(
        info,
        vec!["the run failed in phase update: boom".into()],
        None,
    );
    let verdict = Verdict {
        expected: 80,
        delivered: 78,
        lost: 2,
        control: Some(Control {
            max_ms: 2500.0,
            ..Control::default()
        }),
        ..Verdict::default()
    };
    let j = judge(
        "seed-swap",
        &record,
        Some(verdict),
        &rules(&["lost == 0", "duplicated == 0"]),
    )
    .unwrap();
    let s = &j.summary;
    assert_eq!(s.invalid.len(), 3, "{:?}", s.invalid);
    assert_eq!(s.invalid[0], "the run failed in phase update: boom");
    assert!(
        s.invalid[1].starts_with("the control probes (the sink's /health) failed for 2500.0 ms"),
        "{}",
        s.invalid[1]
    );
    assert!(
        s.invalid[2].contains("send lag p99 12.5 ms over the 10 ms budget"),
        "{}",
        s.invalid[2]
    );
    let ok: Vec<(String, bool)> = s
        .thresholds
        .iter()
        .map(|t| (t.threshold.clone(), t.ok))
        .collect();
    assert_eq!(
        ok,
        [
            ("lost == 0".to_owned(), false),
            ("duplicated == 0".to_owned(), true)
        ]
    );
    let junit = roxml(&j.junit);
    assert_eq!(
        junit,
        [
            ("the run is valid", "error"),
            ("lost == 0", "failure"),
            ("duplicated == 0", "pass")
        ]
    );
}

#[test]
fn nothing_measured_evaluates_no_threshold() {
    let record = Record::new(
        run_info(),
        vec!["the run failed in phase start: no".into()],
        None,
    );
    let j = judge("x", &record, None, &rules(&["lost == 0"])).unwrap();
    assert!(j.summary.thresholds.is_empty());
    assert_eq!(j.summary.invalid, ["the run failed in phase start: no"]);
}

#[test]
fn a_baseline_is_compared_with_its_tolerances_and_a_foreign_one_is_said() {
    let base = Summary::new(
        RunInfo {
            name: Some("other".into()),
            ..run_info()
        },
        Verdict {
            expected: 80,
            delivered: 80,
            ..Verdict::default()
        },
    );
    let record = Record::new(
        run_info(),
        Vec::new(),
        Some(BaselineRecord {
            name: "main".into(),
            max_regression: "lost:0".into(),
            summary: base,
        }),
    );
    let verdict = Verdict {
        expected: 80,
        delivered: 79,
        lost: 1,
        ..Verdict::default()
    };
    let j = judge("seed-swap", &record, Some(verdict), &rules(&[])).unwrap();
    let lost = j
        .summary
        .baseline
        .iter()
        .find(|c| c.metric == "lost")
        .unwrap();
    assert_eq!(
        (lost.baseline, lost.current, lost.regression),
        (0.0, 1.0, true)
    );
    assert_eq!(j.warnings.len(), 1, "the baseline is of another scenario");
    assert_eq!(j.summary.run.notes, j.warnings);
    assert!(j.junit.contains("<failure"), "{}", j.junit);
}

#[test]
fn the_record_of_an_old_summary_leaves_the_judges_own_reasons_to_the_judge() {
    let record = Record::new(
        run_info(),
        vec!["the sink refused 3 request(s)".into()],
        None,
    );
    let verdict = Verdict {
        control: Some(Control {
            max_ms: 2500.0,
            ..Control::default()
        }),
        ..Verdict::default()
    };
    let r = rules(&["lost == 0"]);
    let first = judge("x", &record, Some(verdict.clone()), &r).unwrap();
    assert_eq!(first.summary.invalid.len(), 2);
    let again = record_of_summary(&first.summary, &r);
    assert_eq!(again.invalid, ["the sink refused 3 request(s)"]);
    let second = judge("x", &again, Some(verdict), &r).unwrap();
    assert_eq!(second, first, "judging again gives the same judgement");
}

/// Each test case's name and outcome, read independently of the writer.
fn roxml(xml: &str) -> Vec<(&str, &'static str)> {
    xml.split("<testcase ")
        .skip(1)
        .map(|case| {
            let name = case
                .split(" name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let outcome = if case.contains("<error") {
                "error"
            } else if case.contains("<failure") {
                "failure"
            } else {
                "pass"
            };
            (name, outcome)
        })
        .collect()
}
