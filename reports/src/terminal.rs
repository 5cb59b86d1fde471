//! The terminal renderer: a verdict as a short readable table.

use std::fmt::Write as _;

use crate::summary::RunInfo;
use crate::verdict::{ItemNote, Verdict};

/// How many items of each list the terminal shows before "and N more".
pub const SHOWN_ITEMS: usize = 20;

/// Renders the verdict (and the run's identity, when known) for a person at a terminal.
pub fn render(run: Option<&RunInfo>, v: &Verdict) -> String {
    render_with(run, v, &[], &[])
}

/// Renders the verdict with the run's thresholds and validity.
pub fn render_with(
    run: Option<&RunInfo>,
    v: &Verdict,
    thresholds: &[crate::threshold::Outcome],
    invalid: &[String],
) -> String {
    let mut out = render_verdict(run, v);
    if !thresholds.is_empty() {
        let _ = writeln!(out, "\nthresholds:");
        for t in thresholds {
            let value = t.value.map_or("not measured".into(), |x| format!("{x}"));
            let _ = writeln!(
                out,
                "  {:<6} {:<32} ({} = {value})",
                if t.ok { "ok" } else { "FAILED" },
                t.threshold,
                t.metric
            );
        }
    }
    for why in invalid {
        let _ = writeln!(out, "\nINVALID RUN: {why}");
    }
    out
}

fn render_verdict(run: Option<&RunInfo>, v: &Verdict) -> String {
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
    if d.probes == 0 {
        let _ = writeln!(out, "downtime      not measured (no probes)");
    } else {
        let _ = writeln!(
            out,
            "downtime      {} window{}  total {:.1} ms  max {:.1} ms  ({} probes, {} failed)",
            d.windows,
            if d.windows == 1 { "" } else { "s" },
            d.total_ms,
            d.max_ms,
            d.probes,
            d.failed_probes
        );
    }
    if let Some(lag) = run.and_then(|r| r.probe_send_lag_ms) {
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
