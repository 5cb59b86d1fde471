//! The terminal renderer: a verdict as a short readable table.

use std::fmt::Write as _;

use crate::model::metric::number;
use crate::model::summary::{RunInfo, Summary};
use crate::model::verdict::{ItemNote, Verdict};

/// How many items of each list the terminal shows before "and N more".
pub const SHOWN_ITEMS: usize = 20;

/// Renders a run's summary: the verdict, its thresholds, its changes against the baseline
/// (named `baseline`, when it was compared with one) and why it is invalid, if it is.
pub fn render_summary(summary: &Summary, baseline: Option<&str>) -> String {
    let mut out = render(Some(&summary.run), &summary.verdict);
    if !summary.thresholds.is_empty() {
        let _ = writeln!(out, "\nthresholds:");
        for t in &summary.thresholds {
            let _ = writeln!(
                out,
                "  {:<6} {:<32} ({})",
                if t.ok { "ok" } else { "FAILED" },
                t.threshold,
                t.measured()
            );
        }
    }
    if !summary.baseline.is_empty() {
        let name = baseline.map(|b| format!(" {b}")).unwrap_or_default();
        let _ = writeln!(out, "\nagainst baseline{name}:");
        for c in &summary.baseline {
            let delta = number(c.delta);
            let sign = if c.delta > 0.0 { "+" } else { "" };
            let _ = writeln!(
                out,
                "  {:<20} {:>12} -> {:<12} ({sign}{delta}){}",
                c.metric,
                number(c.baseline),
                number(c.current),
                if c.regression { "  REGRESSION" } else { "" }
            );
        }
    }
    for why in &summary.invalid {
        let _ = writeln!(out, "\nINVALID RUN: {why}");
    }
    if summary.run.unmeasured {
        let _ = writeln!(
            out,
            "nothing was measured: the run stopped before any expected occurrence could end"
        );
    }
    out
}

/// Only what went wrong, one line each: every failed threshold with its measured value, every
/// baseline regression and why the run is invalid. `--quiet` prints this on stderr.
pub fn render_failures(summary: &Summary) -> String {
    let mut out = String::new();
    for t in summary.thresholds.iter().filter(|t| !t.ok) {
        let _ = writeln!(out, "FAILED {} ({})", t.threshold, t.measured());
    }
    for c in summary.baseline.iter().filter(|c| c.regression) {
        let _ = writeln!(
            out,
            "REGRESSION {} {} -> {} against the baseline",
            c.metric,
            number(c.baseline),
            number(c.current)
        );
    }
    for why in &summary.invalid {
        let _ = writeln!(out, "INVALID RUN: {why}");
    }
    out
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

/// Renders the verdict (and the run's identity, when known) for a person at a terminal.
pub fn render(run: Option<&RunInfo>, v: &Verdict) -> String {
    let mut out = String::new();
    if let Some(run) = run {
        let mut parts = Vec::new();
        if let Some(s) = &run.scenario {
            parts.push(format!("scenario {s}"));
        }
        if let Some(s) = &run.strategy {
            parts.push(format!("strategy {s}"));
        }
        if let Some(s) = run.seed {
            parts.push(format!("seed {s}"));
        }
        if let Some(s) = run.time_scale {
            parts.push(format!("time scale {s}"));
        }
        parts.push(format!("harness {}", run.harness_version));
        let _ = writeln!(out, "{}", parts.join("  "));
        if let Some(app) = &run.app_command {
            let _ = writeln!(out, "app: {app}");
        }
        for note in &run.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(out);
    }
    let with_causes = |entries: &[(&str, u64)]| -> String {
        let named: Vec<String> = entries
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{} {n}", name.replace('_', " ")))
            .collect();
        if named.is_empty() {
            String::new()
        } else {
            format!("  ({})", named.join(", "))
        }
    };
    let c = &v.causes;
    let u = &c.unexpected;
    let rows: [(&str, u64, String); 9] = [
        ("expected", v.expected, String::new()),
        ("delivered", v.delivered, String::new()),
        ("lost", v.lost, with_causes(&c.lost.entries())),
        (
            "duplicated",
            v.duplicated,
            with_causes(&c.duplicated.entries()),
        ),
        ("extra copies", v.extra_copies, String::new()),
        (
            "late",
            v.late,
            format!(
                "  (first arrival more than {} ms after its schedule)",
                v.late_after_ms
            ),
        ),
        ("ok", v.ok, "  (delivered once, on time)".into()),
        (
            "unexpected",
            v.unexpected,
            with_causes(&[
                ("unknown_source", u.unknown_source),
                ("outside_window", u.outside_window),
                ("past_loop", u.past_loop),
            ]),
        ),
        (
            "recovered",
            c.recovered,
            "  (delivered although an invocation failed or was killed)".into(),
        ),
    ];
    let width = rows
        .iter()
        .map(|r| r.1.to_string().len())
        .max()
        .unwrap_or(1);
    for (name, value, note) in rows {
        let _ = writeln!(out, "{name:<14}{value:>width$}{note}");
    }
    let _ = writeln!(out);
    match &v.lateness_ms {
        Some(q) => {
            let _ = writeln!(
                out,
                "lateness ms   p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
                q.p50, q.p90, q.p99, q.max
            );
        }
        None => {
            let _ = writeln!(out, "lateness ms   - (nothing delivered)");
        }
    }
    let d = &v.downtime;
    // One line for the whole, and one for each probe series when there are two.
    let windows = |label: &str, d: &crate::model::verdict::Downtime| {
        format!(
            "{label:<14}{} window{}  total {:.1} ms  max {:.1} ms  ({} probes, {})",
            d.windows,
            if d.windows == 1 { "" } else { "s" },
            d.total_ms,
            d.max_ms,
            d.probes,
            failed_probes(d, " failed")
        )
    };
    if d.probes == 0 {
        let _ = writeln!(out, "downtime      not measured (no probes)");
    } else {
        let _ = writeln!(out, "{}", windows("downtime", d));
    }
    if v.downtime_by_conn.len() > 1 {
        for (conn, d) in &v.downtime_by_conn {
            let _ = writeln!(out, "{}", windows(&format!("  {conn}"), d));
        }
    }
    if let Some(c) = &v.control {
        let _ = writeln!(out, "{}", control_line(c));
    }
    if let Some(update) = run.and_then(|r| r.update_command_ms) {
        let complete = run
            .and_then(|r| r.update_complete_ms)
            .map(|u| format!("; complete (status) after {u:.0} ms"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "update        command returned after {update:.0} ms{complete}"
        );
    }
    if let Some(sc) = &v.scaling {
        let _ = writeln!(out, "{}", scaling_line(sc));
    }
    if let Some(c) = &v.completion {
        out.push_str(&completion_lines(c));
    }
    if let Some(r) = &v.rollback {
        let _ = writeln!(out, "{}", rollback_line(r));
    }
    for f in &v.faults {
        let _ = writeln!(out, "{}", fault_line(f));
    }
    let stopped: Vec<&crate::model::lifecycle::InstanceLife> = v
        .instances
        .iter()
        .filter(|i| i.during_run && i.cancellation_reached().is_some())
        .collect();
    if !stopped.is_empty() {
        let reached = stopped
            .iter()
            .filter(|i| i.cancellation_reached() == Some(true))
            .count();
        let missed: Vec<&str> = stopped
            .iter()
            .filter(|i| i.cancellation_reached() == Some(false))
            .map(|i| i.instance.as_str())
            .collect();
        let graces: Vec<f64> = stopped.iter().filter_map(|i| i.grace_ms()).collect();
        let grace = if graces.is_empty() {
            String::new()
        } else {
            let max = graces.iter().cloned().fold(0.0, f64::max);
            let min = graces.iter().cloned().fold(f64::INFINITY, f64::min);
            let range = if (max - min).abs() < 0.5 {
                format!("{max:.0}")
            } else {
                format!("{min:.0}..{max:.0}")
            };
            format!("; effective grace {range} ms (SIGTERM to last sign of life)")
        };
        let _ = writeln!(
            out,
            "sigterm       reached the code of {reached} of {} stopped instance{}{}{grace}",
            stopped.len(),
            if stopped.len() == 1 { "" } else { "s" },
            if missed.is_empty() {
                String::new()
            } else {
                format!(" (not: {})", missed.join(", "))
            }
        );
    }
    // Without probes there is no probe client whose lag could matter.
    if let Some(lag) = run
        .and_then(|r| r.probe_send_lag_ms)
        .filter(|_| d.probes > 0)
    {
        let _ = writeln!(
            out,
            "probe lag ms  p50 {:.2}  p99 {:.2}  max {:.2}  (the probe client's own delay behind its schedule)",
            lag.p50, lag.p99, lag.max
        );
    }
    match v.gap_max_ms {
        Some(g) => {
            let bound = if v.gap_exact { "" } else { " (upper bound)" };
            let _ = writeln!(out, "largest gap   {g:.1} ms between arrivals{bound}");
        }
        None => {
            let _ = writeln!(out, "largest gap   - (fewer than two arrivals)");
        }
    }
    let several_sources = {
        let mut sources: Vec<&str> = v
            .lost_items
            .iter()
            .chain(&v.duplicated_items)
            .chain(&v.late_items)
            .map(|i| i.source.as_str())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        sources.len() > 1
    };
    list(
        &mut out,
        "lost",
        v.lost,
        &v.lost_items,
        several_sources,
        |i| i.cause.clone().unwrap_or_default(),
    );
    list(
        &mut out,
        "duplicated",
        v.duplicated,
        &v.duplicated_items,
        several_sources,
        |i| {
            format!(
                "{} copies, {}",
                i.copies.unwrap_or(0),
                i.cause.as_deref().unwrap_or("")
            )
        },
    );
    list(
        &mut out,
        "late",
        v.late,
        &v.late_items,
        several_sources,
        |i| format!("{:.1} ms late", i.lateness_ms.unwrap_or(0.0)),
    );
    list(
        &mut out,
        "unexpected",
        v.unexpected,
        &v.unexpected_items,
        true,
        |i| i.cause.clone().unwrap_or_default(),
    );
    out
}

fn list(
    out: &mut String,
    title: &str,
    count: u64,
    items: &[ItemNote],
    with_source: bool,
    note: impl Fn(&ItemNote) -> String,
) {
    if count == 0 {
        return;
    }
    let _ = writeln!(out, "\n{title} ({count}):");
    for item in items.iter().take(SHOWN_ITEMS) {
        let _ = writeln!(out, "  {:<16} {}", item.label(with_source), note(item));
    }
    let shown = items.len().min(SHOWN_ITEMS) as u64;
    if count > shown {
        let _ = writeln!(out, "  ... and {} more", count - shown);
    }
}

#[cfg(test)]
mod tests {
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
}
