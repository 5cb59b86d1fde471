//! The report's tables of how the update went beyond the verdict: the scale controller's
//! account, a rollback's cost, and the completion estimate (its summary, its false
//! completions, and every evaluation of the log query beside the truth).

use super::table::{ms, row, Table};
use crate::analysis::history::History;
use crate::model::metric::number;

/// The scaling, rollback and completion tables, when the run has them.
pub(super) fn tables(h: &History, out: &mut Vec<Table>) {
    let v = &h.verdict;
    let origin = h.origin_ns();
    let s = |t: i64| format!("{:.3}", (t - origin) as f64 / 1e9).replace("-0.000", "0.000");
    if let Some(sc) = &v.scaling {
        let started: Vec<String> = sc
            .started_during_update
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        out.push(Table {
            title: "Scaling".into(),
            header: vec!["field".into(), "value".into()],
            rows: vec![
                row(["scale-out decisions".into(), sc.scale_outs.to_string()]),
                row(["instances added".into(), sc.added.to_string()]),
                row(["scale-in decisions".into(), sc.scale_ins.to_string()]),
                row(["instances removed".into(), sc.removed.to_string()]),
                row(["held at the maximum".into(), sc.limited.to_string()]),
                row(["peak instances".into(), sc.peak_instances.to_string()]),
                row([
                    "started during the update".into(),
                    if started.is_empty() {
                        "0".into()
                    } else {
                        started.join(", ")
                    },
                ]),
                row([
                    "drained during the update".into(),
                    sc.drained_during_update.to_string(),
                ]),
            ],
        });
    }
    if let Some(r) = &v.rollback {
        let opt = |x: Option<f64>| x.map(ms).unwrap_or_else(|| "-".into());
        out.push(Table {
            title: "Rollback".into(),
            header: vec!["field".into(), "value".into()],
            rows: vec![
                row(["triggered by".into(), r.by.clone()]),
                row([
                    "failed thresholds".into(),
                    r.failed.clone().unwrap_or_else(|| "-".into()),
                ]),
                row(["update began (s)".into(), s(r.update_begun_ns)]),
                row([
                    "first failure (s)".into(),
                    r.first_failure_ns.map_or("-".into(), s),
                ]),
                row(["triggered (s)".into(), s(r.detected_ns)]),
                row([
                    "rolled back (s)".into(),
                    r.rolled_back_ns.map_or("-".into(), s),
                ]),
                row(["time to detect (ms)".into(), ms(r.time_to_detect_ms)]),
                row(["time to roll back (ms)".into(), opt(r.time_to_roll_back_ms)]),
                row(["first failure to recovery (ms)".into(), opt(r.recovery_ms)]),
                row([
                    "lost / duplicated in between".into(),
                    format!("{} / {}", r.lost, r.duplicated),
                ]),
                row(["down in between (ms)".into(), ms(r.downtime_ms)]),
                row(["analysis evaluations".into(), r.evaluations.to_string()]),
            ],
        });
    }
    let Some(c) = &v.completion else { return };
    let when = |t: Option<i64>| t.map_or("never".to_owned(), s);
    let mut rows = vec![
        row([
            "update accepted (deploymentStart, s)".into(),
            s(c.deployment_start_ns),
        ]),
        row([
            "check interval / buffer (ms)".into(),
            format!(
                "{} / {}",
                number(c.params.check_interval_ns as f64 / 1e6),
                number(c.params.buffer_ns as f64 / 1e6)
            ),
        ]),
        row([
            "truth".into(),
            match c.truth {
                crate::model::completion::TruthKind::Ledger => {
                    "every old-version instance gone (the ledger)".into()
                }
                crate::model::completion::TruthKind::Status => {
                    "the platform's status command".into()
                }
            },
        ]),
        row(["query first said YES (s)".into(), when(c.first_yes_ns)]),
        row(["truly complete (s)".into(), when(c.true_complete_ns)]),
        row([
            "delay of the true YES (ms)".into(),
            c.delay_ms.map(ms).unwrap_or_else(|| "-".into()),
        ]),
        row(["false YES evaluations".into(), c.false_yes.to_string()]),
    ];
    for f in &c.false_completions {
        let who: Vec<String> = f
            .instances
            .iter()
            .map(|i| format!("{} ({})", i.instance, i.cause.as_str()))
            .collect();
        rows.push(row([
            format!("false completion from {} s", s(f.start_ns)),
            format!(
                "{} ms, {} evaluation(s); {}",
                ms(f.duration_ms()),
                f.evaluations,
                if who.is_empty() {
                    "the status had not said complete".to_owned()
                } else {
                    format!("old version still running on {}", who.join(", "))
                }
            ),
        ]));
    }
    let causes = c.causes();
    for cause in causes {
        rows.push(row([
            format!("cause {}", cause.as_str()),
            cause.explain().into(),
        ]));
    }
    out.push(Table {
        title: "Completion estimate (the log query) against the truth".into(),
        header: vec!["field".into(), "value".into()],
        rows,
    });
    out.push(Table {
        title: "Completion query, every evaluation".into(),
        header: vec![
            "t (s)".into(),
            "RollingUpdateComplete".into(),
            "PercentComplete".into(),
            "OriginalStillActiveCount".into(),
            "NewCount".into(),
            "truly complete".into(),
            "old-version instances alive".into(),
        ],
        rows: c
            .evaluations
            .iter()
            .map(|e| {
                row([
                    s(e.t_ns),
                    match (e.complete, e.false_yes) {
                        (true, true) => "YES (false)".into(),
                        (true, false) => "YES".into(),
                        (false, _) => "NO".into(),
                    },
                    e.percent_complete
                        .map(|p| format!("{p:.1}"))
                        .unwrap_or_else(|| "NaN".into()),
                    e.original_still_active.to_string(),
                    e.new_count.to_string(),
                    if e.truly_complete { "yes" } else { "no" }.into(),
                    if e.alive_original.is_empty() {
                        "-".into()
                    } else {
                        e.alive_original.join(", ")
                    },
                ])
            })
            .collect(),
    });
}
