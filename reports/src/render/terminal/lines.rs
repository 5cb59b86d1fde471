//! The verdict's one-line renderings for the terminal: the scale controller, a rollback, a
//! fault, the control series, the completion estimate, the failed probes, the recovery and
//! the throughput, each a line the reports reuse.

use std::fmt::Write as _;

use crate::model::metric::number;

/// The recovery's line: how long from the update's first failure to a steady window.
pub fn recovery_line(r: &crate::model::verdict::Recovery) -> String {
    let steady = number(r.steady_ms);
    match (r.first_failure_ns, r.recovery_ms) {
        (None, _) => "recovery      none needed: nothing failed after the update began".into(),
        (Some(_), Some(ms)) => format!(
            "recovery      {} ms from the update's first failure to {steady} ms with none",
            number(ms)
        ),
        (Some(_), None) => {
            format!("recovery      never: no {steady} ms without a failure after the first one")
        }
    }
}

/// The throughput's line: items delivered a second during the update against before it.
pub fn throughput_line(t: &crate::model::verdict::Throughput) -> String {
    format!(
        "throughput    {} items/s during the update, {} before (drop {}%)",
        number(t.update_per_s),
        number(t.before_per_s),
        number(t.drop * 100.0)
    )
}

/// The scale controller's line: its decisions, the peak, and what the update started
/// against what it drained.
pub fn scaling_line(sc: &crate::model::verdict::Scaling) -> String {
    let started: u64 = sc.started_during_update.values().sum();
    let by_version: Vec<String> = sc
        .started_during_update
        .iter()
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    format!(
        "scaling       {} out{}, {} in{}, peak {} instances{}; during the update {started} \
         started{} and {} drained",
        sc.scale_outs,
        if sc.added > 0 {
            format!(" (+{})", sc.added)
        } else {
            String::new()
        },
        sc.scale_ins,
        if sc.removed > 0 {
            format!(" (-{})", sc.removed)
        } else {
            String::new()
        },
        sc.peak_instances,
        if sc.limited > 0 {
            format!(
                ", held at the maximum {} time{}",
                sc.limited,
                plural(sc.limited)
            )
        } else {
            String::new()
        },
        if by_version.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_version.join(", "))
        },
        sc.drained_during_update
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The rollback's line: what triggered it, how fast it was, what it cost.
pub fn rollback_line(r: &crate::model::verdict::Rollback) -> String {
    let after = |t: i64| format!("+{:.1} s", (t - r.update_begun_ns) as f64 / 1e9);
    let trigger = match &r.failed {
        Some(failed) => format!("by analysis ({} failed)", failed.replace('+', ", ")),
        None => format!("by {}", r.by),
    };
    let first = r
        .first_failure_ns
        .map_or("the update's start".to_owned(), |t| {
            format!("the first failure ({})", after(t))
        });
    let took = r
        .time_to_roll_back_ms
        .map_or("did not end".to_owned(), |ms| {
            format!("took {} ms", number(ms))
        });
    format!(
        "rollback      {trigger} at {} after the update began, {} ms after {first}; it {took}; \
         from then to the recovery: {} lost, {} duplicated, {} ms down",
        after(r.detected_ns),
        number(r.time_to_detect_ms),
        r.lost,
        r.duplicated,
        number(r.downtime_ms)
    )
}

/// One fault's line: what it hit, when and for how long (from the schedule's epoch), and
/// what the app lost inside its window.
pub fn fault_line(f: &crate::model::verdict::FaultCost) -> String {
    let open = if f.ended {
        ""
    } else {
        " (still acting at the run's end)"
    };
    let proxied = match (f.requests, f.affected) {
        (Some(r), Some(a)) => format!("; {a} of {r} sink requests affected"),
        (Some(r), None) => format!("; {r} sink requests"),
        _ => String::new(),
    };
    format!(
        "{:<14}{} at +{:.1} s for {:.1} s{open}: down {} ms, lost {}, dup {}, late {}{proxied}",
        format!("fault {}", f.fault),
        f.label(),
        f.at_ms / 1e3,
        f.duration_ms() / 1e3,
        number(f.downtime_ms),
        f.lost,
        f.duplicated,
        f.late
    )
}

/// The control series' line: its probes and failures, and what its failures took out of
/// the app's downtime.
pub fn control_line(c: &crate::model::verdict::Control) -> String {
    let mut line = format!(
        "control       {} probes, {} (the sink's /health, which the update does not touch)",
        c.probes,
        failed_probes(
            &crate::model::verdict::Downtime {
                failed_probes: c.failed_probes,
                failed_by: c.failed_by.clone(),
                ..Default::default()
            },
            " failed"
        )
    );
    if !c.windows.is_empty() {
        let _ = write!(
            line,
            "; down {} window{}, total {:.1} ms, max {:.1} ms: {:.1} ms of the app's downtime \
             inside them not counted",
            c.windows.len(),
            plural(c.windows.len() as u64),
            c.total_ms,
            c.max_ms,
            c.excluded_ms
        );
    }
    line
}

/// Seconds after the update's acceptance, for the completion estimate's times.
fn after_start(c: &crate::model::completion::CompletionEstimate, t_ns: i64) -> String {
    format!("+{:.1} s", (t_ns - c.deployment_start_ns) as f64 / 1e9)
}

/// The completion estimate against the truth: one letter per evaluation for each (Y, N),
/// when each first said complete, and every false completion with its instances and why.
pub fn completion_lines(c: &crate::model::completion::CompletionEstimate) -> String {
    let mut out = String::new();
    let strip = |f: &dyn Fn(&crate::model::completion::Evaluation) -> bool| -> String {
        c.evaluations
            .iter()
            .map(|e| if f(e) { 'Y' } else { 'N' })
            .collect()
    };
    let truth = match c.truth {
        crate::model::completion::TruthKind::Ledger => {
            "every old-version instance gone, per the ledger"
        }
        crate::model::completion::TruthKind::Status => {
            "complete, per the platform's status command"
        }
    };
    let _ = writeln!(
        out,
        "completion    the log query every {} ms from the update's acceptance (+0 s):",
        number(c.params.check_interval_ns as f64 / 1e6)
    );
    let _ = writeln!(out, "  query says  {}", strip(&|e| e.complete));
    let _ = writeln!(
        out,
        "  truth       {}  {truth}",
        strip(&|e| e.truly_complete)
    );
    let when = |t: Option<i64>| t.map_or("never".to_owned(), |t| after_start(c, t));
    let delay = c
        .delay_ms
        .map(|d| format!(", its true YES {} ms later", number(d)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  first YES {}; truly complete {}{delay}",
        when(c.first_yes_ns),
        when(c.true_complete_ns)
    );
    for f in &c.false_completions {
        let who: Vec<String> = f
            .instances
            .iter()
            .map(|i| format!("{} ({})", i.instance, i.cause.as_str().replace('_', " ")))
            .collect();
        let _ = writeln!(
            out,
            "  FALSE YES {} for {} ms ({} check{}): {}",
            after_start(c, f.start_ns),
            number(f.duration_ms()),
            f.evaluations,
            plural(f.evaluations),
            if who.is_empty() {
                "the status command had not said complete".to_owned()
            } else {
                format!("still running the old version: {}", who.join(", "))
            }
        );
    }
    let causes = c.causes();
    for cause in causes {
        let _ = writeln!(
            out,
            "  {}: {}",
            cause.as_str().replace('_', " "),
            cause.explain()
        );
    }
    out
}

/// The failed probes' count, `label` after it, then how they failed, wrk-style:
/// `3 failed: connect 2, timeout 1` with the label ` failed`.
pub fn failed_probes(d: &crate::model::verdict::Downtime, label: &str) -> String {
    let mut text = format!("{}{label}", d.failed_probes);
    for (i, (kind, n)) in d.failed_by.iter().enumerate() {
        text.push_str(if i == 0 { ": " } else { ", " });
        let _ = write!(text, "{kind} {n}");
    }
    text
}
