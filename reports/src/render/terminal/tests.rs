//! The terminal renderer: numbers without float noise, the one-line renderings of faults,
//! the control and failed probes, and a summary with its baseline changes.

use super::*;
use crate::analysis::baseline::Change;

#[test]
fn numbers_read_without_float_noise() {
    let cases = [
        (2.0, "2"),
        (-3.0, "-3"),
        (12.489221999999984, "12.49"),
        (280.162643, "280.2"),
        (0.0123, "0.0123"),
        (0.5, "0.5"),
        (1e20, "100000000000000000000"),
    ];
    for (x, text) in cases {
        assert_eq!(number(x), text, "{x}");
    }
}

#[test]
fn failed_probes_are_listed_by_how_they_failed() {
    use crate::model::probe::Probe;
    let mut ps: Vec<Probe> = [
        (0, true),
        (10, false),
        (20, false),
        (30, false),
        (40, false),
    ]
    .iter()
    .map(|&(t, ok)| Probe::new(t, t + 5, ok))
    .collect();
    ps[1].error = Some("connect".into());
    ps[2].error = Some("connect".into());
    ps[3].status = Some(503);
    ps[4].error = Some("timeout".into());
    ps[4].status = Some(200);
    let d = crate::analysis::checker::downtime(&ps);
    assert_eq!(
        failed_probes(&d, " failed"),
        "4 failed: connect 2, http_503 1, timeout 1"
    );
}

#[test]
fn faults_and_the_control_get_a_line_each() {
    use crate::model::verdict::{Control, FaultAction, FaultCost, Window};
    let pause = FaultCost {
        fault: 0,
        kind: "pause".into(),
        start_ns: 30_000_000_000,
        end_ns: 32_000_000_000,
        ended: true,
        at_ms: 30_000.0,
        actions: vec![FaultAction {
            t_ns: 30_000_000_000,
            instance: "a-0".into(),
            action: "sigstop".into(),
        }],
        downtime_ms: 1_900.0,
        duplicated: 1,
        late: 3,
        ..FaultCost::default()
    };
    let latency = FaultCost {
        fault: 1,
        kind: "latency".into(),
        ended: false,
        requests: Some(120),
        affected: Some(30),
        ..pause.clone()
    };
    let v = Verdict {
        faults: vec![pause, latency],
        control: Some(Control {
            probes: 3000,
            ..Control::default()
        }),
        ..Verdict::default()
    };
    let out = render(None, &v);
    for want in [
        "fault 0       pause a-0 at +30.0 s for 2.0 s: down 1900 ms, lost 0, dup 1, late 3\n",
        "fault 1       latency a-0 at +30.0 s for 2.0 s (still acting at the run's end): \
         down 1900 ms, lost 0, dup 1, late 3; 30 of 120 sink requests affected\n",
        "control       3000 probes, 0 failed (the sink's /health, which the update does not \
         touch)\n",
    ] {
        assert!(out.contains(want), "{want:?} missing in\n{out}");
    }
    let failing = Control {
        probes: 3000,
        failed_probes: 12,
        failed_by: [("timeout".to_owned(), 12)].into(),
        windows: vec![Window {
            start_ns: 0,
            end_ns: 120_000_000,
        }],
        total_ms: 120.0,
        max_ms: 120.0,
        excluded_ms: 80.0,
        excluded: Vec::new(),
    };
    assert_eq!(
        control_line(&failing),
        "control       3000 probes, 12 failed: timeout 12 (the sink's /health, which the \
         update does not touch); down 1 window, total 120.0 ms, max 120.0 ms: 80.0 ms of \
         the app's downtime inside them not counted"
    );
}

#[test]
fn a_summary_shows_its_baseline_changes_after_the_verdict() {
    let mut summary = Summary::new(RunInfo::default(), Verdict::default());
    summary.baseline = vec![Change {
        metric: "downtime.max_ms".into(),
        baseline: 100.0,
        current: 130.25,
        delta: 30.25,
        regression: true,
    }];
    let out = render_summary(&summary, Some("main"));
    let at = out
        .find("against baseline main:")
        .expect("a baseline section");
    assert!(at > out.find("lost").unwrap());
    assert!(
        out.contains("downtime.max_ms               100 -> 130.2        (+30.25)  REGRESSION"),
        "{out}"
    );
}

#[test]
fn a_run_that_measured_nothing_names_no_late_threshold_it_never_read() {
    let run = RunInfo {
        unmeasured: true,
        ..RunInfo::default()
    };
    let mut summary = Summary::new(run, Verdict::default());
    summary.invalid = vec!["the run failed in phase start: no instance became ready".into()];
    let out = render_summary(&summary, None);
    assert!(!out.contains("more than 0 ms"), "{out}");
    assert!(out.contains("nothing was measured"), "{out}");
    // A measured run still says it.
    summary.run.unmeasured = false;
    summary.verdict.late_after_ms = 2000.0;
    assert!(render_summary(&summary, None).contains("more than 2000 ms after its schedule"));
}
