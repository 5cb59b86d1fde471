//! The terminal renderer: a verdict as a short readable table.

use std::fmt::Write as _;

use crate::model::budget::BudgetState;
use crate::model::metric::number;
use crate::model::summary::{RunInfo, Summary};
use crate::model::verdict::{ItemNote, Verdict};

mod lines;

pub use lines::{
    completion_lines, control_line, failed_probes, fault_line, rollback_line, scaling_line,
};

/// What a container's Engine said of an instance: the signals it sent and how it ended.
pub fn engine_said(i: &crate::model::lifecycle::InstanceLife) -> String {
    use crate::model::lifecycle::signal_name;
    let sent: Vec<String> = i.signals_sent.iter().map(|s| signal_name(*s)).collect();
    let sent = if sent.is_empty() {
        "no signal".to_owned()
    } else {
        sent.join(" then ")
    };
    let ended = match i.exit_code {
        Some(code) if code > 128 && code <= 192 => {
            format!("exit {code} ({})", signal_name((code - 128) as i32))
        }
        Some(code) => format!("exit {code}"),
        None => "no exit seen".to_owned(),
    };
    let oom = if i.oom_killed { ", out of memory" } else { "" };
    format!("{}: {sent}, {ended}{oom}", i.instance)
}

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
    if !summary.budgets.is_empty() {
        let _ = writeln!(out, "\nbudgets from history:");
        for b in &summary.budgets {
            let _ = writeln!(
                out,
                "  {:<7} {:<24} ({})",
                match b.state {
                    BudgetState::Pass => "ok",
                    BudgetState::Fail => "FAILED",
                    BudgetState::Skipped => "skipped",
                },
                b.metric,
                b.message
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
    for b in summary
        .budgets
        .iter()
        .filter(|b| b.state == BudgetState::Fail)
    {
        let _ = writeln!(out, "FAILED budget {} ({})", b.budget, b.message);
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
            // A run that measured nothing never read its late threshold.
            if run.is_some_and(|r| r.unmeasured) {
                String::new()
            } else {
                format!(
                    "  (first arrival more than {} ms after its schedule)",
                    v.late_after_ms
                )
            },
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
    if let Some(r) = &v.recovery {
        let _ = writeln!(out, "{}", lines::recovery_line(r));
    }
    if let Some(t) = &v.throughput {
        let _ = writeln!(out, "{}", lines::throughput_line(t));
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
        // A container platform's side of it: what its Engine sent and how each one ended.
        for i in stopped
            .iter()
            .filter(|i| i.exit_code.is_some() || !i.signals_sent.is_empty())
        {
            let _ = writeln!(out, "engine        {}", engine_said(i));
        }
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
mod tests;
