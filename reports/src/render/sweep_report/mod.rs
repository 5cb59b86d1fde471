//! The written reports of a sweep: `sweep.csv` (one row per scenario, point and metric),
//! `sweep.md` (the main metrics per point, as the terminal shows them, with the advice
//! across the range), `sweep.html` (the same, and a plot per metric: the metric against
//! the varied key with a line per scenario, or a heat map per scenario for two keys) and
//! `sweep-advice.json`; and the plots of the main metrics as PNG. Rendered from [`crate::sweep`]'s plain data.

use std::fmt::Write as _;

use crate::analysis::compare::Stats;
use crate::analysis::sweep::{Cell, Manifest, RangeAdvice, Sweep};
use crate::model::metric::{number, Metric};
use crate::render::plot::sweep_heat::SweepHeat;
use crate::render::plot::sweep_lines::SweepLines;
use crate::render::plot::to_svg;
use crate::render::report::{esc, figures, html_table, page};

/// The files a sweep writes beside [`crate::sweep::SWEEP_FILE`].
pub const CSV_FILE: &str = "sweep.csv";
pub const MARKDOWN_FILE: &str = "sweep.md";
pub const HTML_FILE: &str = "sweep.html";
pub const ADVICE_FILE: &str = "sweep-advice.json";

/// The metrics of the table, in its order.
pub const MAIN: [Metric; 5] = [
    Metric::Lost,
    Metric::Duplicated,
    Metric::Late,
    Metric::DowntimeMaxMs,
    Metric::UpdateDurationMs,
];

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `sweep.csv`'s header: the varied keys' columns sit between `point` and `metric`.
pub fn csv_header(manifest: &Manifest) -> String {
    let mut columns = vec!["scenario".to_owned(), "strategy".into(), "point".into()];
    columns.extend(manifest.keys.iter().map(|k| field(&k.key)));
    columns.extend(
        [
            "metric",
            "unit",
            "n",
            "failed",
            "mean",
            "sd",
            "ci95_low",
            "ci95_high",
            "min",
            "max",
        ]
        .map(str::to_owned),
    );
    columns.join(",")
}

/// `sweep.csv`: one row per scenario, point and metric of [`Metric::ALL`]; the statistics
/// are empty where no valid run measured the metric.
pub fn csv(sweep: &Sweep) -> String {
    let m = &sweep.manifest;
    let mut out = csv_header(m);
    out.push('\n');
    for cell in &sweep.cells {
        let mut lead = vec![
            field(&cell.scenario),
            field(&cell.strategy),
            field(&m.points[cell.point].label),
        ];
        lead.extend((0..m.keys.len()).map(|k| field(&m.value(cell.point, k).text)));
        let lead = lead.join(",");
        for metric in Metric::ALL {
            let s = cell.stats.get(&metric);
            let f = |g: fn(&Stats) -> f64| s.map(|s| format!("{}", g(s))).unwrap_or_default();
            let _ = writeln!(
                out,
                "{lead},{},{},{},{},{},{},{},{},{},{}",
                metric.column(),
                metric.unit(),
                s.map_or(0, |s| s.n),
                cell.failed.len(),
                f(|s| s.mean),
                f(|s| s.sd),
                f(|s| s.ci_low),
                f(|s| s.ci_high),
                f(|s| s.min),
                f(|s| s.max),
            );
        }
    }
    out
}

/// A table cell: `mean ± half-width of the 95% CI [min..max]`, the mean alone for one run.
fn cell_text(s: Option<&Stats>) -> String {
    match s {
        Some(s) if s.n > 1 => format!(
            "{} ± {} [{}..{}]",
            number(s.mean),
            number(s.ci_high - s.mean),
            number(s.min),
            number(s.max)
        ),
        Some(s) => number(s.mean),
        None => "-".into(),
    }
}

/// The main table: a row per scenario and point.
fn table_rows(sweep: &Sweep) -> (Vec<String>, Vec<Vec<String>>) {
    let m = &sweep.manifest;
    let mut header = vec!["scenario".to_owned(), "strategy".into()];
    header.extend(m.keys.iter().map(|k| k.key.clone()));
    header.push("runs (failed)".into());
    header.extend(MAIN.iter().map(|m| format!("{} ({})", m.name(), m.unit())));
    let rows = sweep
        .cells
        .iter()
        .map(|c: &Cell| {
            let mut row = vec![c.scenario.clone(), c.strategy.clone()];
            row.extend((0..m.keys.len()).map(|k| m.value(c.point, k).text.clone()));
            row.push(format!("{} ({})", c.runs, c.failed.len()));
            row.extend(MAIN.iter().map(|metric| cell_text(c.stats.get(metric))));
            row
        })
        .collect();
    (header, rows)
}

fn varied(m: &Manifest) -> String {
    m.keys
        .iter()
        .map(|k| {
            let values: Vec<&str> = k.values.iter().map(|v| v.text.as_str()).collect();
            format!("`{}` over {}", k.key, values.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The advice across the range as Markdown lines: holds, or each flip; then each point.
pub fn range_markdown(advice: &RangeAdvice, manifest: &Manifest) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Advice across the range (priority `{}`)\n",
        advice.priority
    );
    let name = |r: &Option<String>| match r {
        Some(s) => format!("`{s}`"),
        None => "no recommendation".to_owned(),
    };
    let strategies: std::collections::BTreeSet<&str> = manifest
        .scenarios
        .iter()
        .map(|s| s.strategy.as_str())
        .collect();
    if strategies.len() < 2 {
        let _ = writeln!(
            out,
            "Only one strategy was swept ({}): the advice says where it meets the limits, not which strategy wins.\n",
            strategies.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    match (&advice.holds, advice.flips.is_empty()) {
        (Some(s), _) => {
            let _ = writeln!(out, "**Holds**: `{s}` is recommended at every point.\n");
        }
        (None, true) => {
            let _ = writeln!(out, "**No recommendation** at any point.\n");
        }
        (None, false) => {
            let _ = writeln!(
                out,
                "**Flips**: the recommendation changes with the settings:\n"
            );
            for f in &advice.flips {
                let held = if f.others.is_empty() {
                    String::new()
                } else {
                    let others: Vec<String> =
                        f.others.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!(" (at {})", others.join(", "))
                };
                let _ = writeln!(
                    out,
                    "- `{}` from {} to {}{held}: {} -> {}{}",
                    f.key,
                    f.from_value,
                    f.to_value,
                    name(&f.from),
                    name(&f.to),
                    if f.significant {
                        ""
                    } else {
                        " (NOT significant: the data did not separate the strategies there)"
                    }
                );
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "| point | recommended | significant | valid runs |");
    let _ = writeln!(out, "|---|---|---|---|");
    for p in &advice.points {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            p.point,
            name(&p.recommendation),
            if p.recommendation.is_none() {
                "-"
            } else if p.significant {
                "yes"
            } else {
                "NOT significant"
            },
            p.valid_runs
        );
    }
    out
}

/// `sweep.md`: what was varied, the main metrics per scenario and point, the advice across
/// the range, then every failed run and failed threshold.
pub fn markdown(sweep: &Sweep, advice: Option<&RangeAdvice>) -> String {
    let m = &sweep.manifest;
    let mut out = String::from("# Sweep\n\n");
    let _ = writeln!(
        out,
        "Varied: {}. {} run(s) of each scenario at each of {} point(s). Each cell: mean ± half-width of the 95% confidence interval [min..max] over the valid runs; every metric is in sweep.csv.\n",
        varied(m),
        m.repeat,
        m.points.len()
    );
    let (header, rows) = table_rows(sweep);
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    if let Some(a) = advice {
        out.push('\n');
        out.push_str(&range_markdown(a, m));
    }
    let listed = |pick: fn(&Cell) -> &Vec<(String, String)>| -> Vec<String> {
        sweep
            .cells
            .iter()
            .flat_map(|c| {
                pick(c)
                    .iter()
                    .map(move |(run, why)| format!("- {}/{run}: {why}", m.points[c.point].label))
            })
            .collect()
    };
    for (title, lines) in [
        ("Failed runs (not averaged in)", listed(|c| &c.failed)),
        ("Failed thresholds", listed(|c| &c.threshold_failures)),
    ] {
        if !lines.is_empty() {
            let _ = writeln!(out, "\n## {title}\n");
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

/// `sweep-advice.json`: the advice across the range, pretty-printed, with a final newline.
pub fn advice_json(advice: &RangeAdvice) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(advice).map(|t| t + "\n")
}

/// Writes the plots of the [`MAIN`] metrics some valid run measured as PNG files into
/// `dir` (`sweep-METRIC.png`), for one or two varied keys.
pub fn write_pngs(sweep: &Sweep, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut written = Vec::new();
    let keys = sweep.manifest.keys.len();
    for metric in MAIN.into_iter().filter(|m| sweep.measured(*m)) {
        let path = dir.join(format!("sweep-{}.png", metric.column()));
        match keys {
            1 => crate::render::plot::to_png(&SweepLines { sweep, metric }, &path)?,
            2 => crate::render::plot::to_png(&SweepHeat { sweep, metric }, &path)?,
            _ => continue,
        }
        written.push(path);
    }
    Ok(written)
}

/// `sweep.html`: the table, the advice across the range and a section per metric of
/// [`Metric::ALL`], with its plot when some valid run measured it.
pub fn html(sweep: &Sweep, advice: Option<&RangeAdvice>) -> Result<String, String> {
    let m = &sweep.manifest;
    let mut body = format!(
        "<p>Varied: {}. {} run(s) of each scenario at each of {} point(s). Each cell: mean ± half-width of the 95% confidence interval [min..max] over the valid runs.</p>\n",
        esc(&varied(m).replace('`', "")),
        m.repeat,
        m.points.len()
    );
    let (header, rows) = table_rows(sweep);
    html_table(&mut body, &header, &rows);
    if let Some(a) = advice {
        advice_html(&mut body, a);
    }
    for c in &sweep.cells {
        for (run, why) in &c.failed {
            let _ = writeln!(
                body,
                "<p>failed: {}/{}: {}</p>",
                esc(&m.points[c.point].label),
                esc(run),
                esc(why)
            );
        }
    }
    if m.keys.len() > 2 {
        let _ = writeln!(
            body,
            "<p>Plots are drawn for one or two varied keys; sweep.csv holds every point of these {}.</p>",
            m.keys.len()
        );
    }
    for metric in Metric::ALL {
        let _ = writeln!(
            body,
            "<section id=\"metric-{}\">\n<h2>{} ({}): {}</h2>",
            metric.column(),
            esc(metric.name()),
            esc(metric.unit()),
            esc(metric.meaning())
        );
        if !sweep.measured(metric) {
            let _ = writeln!(body, "<p>No valid run measured it.</p>");
        } else if m.keys.len() <= 2 {
            let svg = if m.keys.len() == 1 {
                to_svg(&SweepLines { sweep, metric })?
            } else {
                to_svg(&SweepHeat { sweep, metric })?
            };
            figures(&mut body, &[(metric.column(), svg)]);
        }
        let _ = writeln!(body, "</section>");
    }
    Ok(page("Sweep", &body))
}

fn advice_html(body: &mut String, a: &RangeAdvice) {
    let _ = writeln!(
        body,
        "<h2>Advice across the range (priority {})</h2>",
        esc(&a.priority)
    );
    let name = |r: &Option<String>| r.clone().unwrap_or_else(|| "no recommendation".into());
    match (&a.holds, a.flips.is_empty()) {
        (Some(s), _) => {
            let _ = writeln!(
                body,
                "<p><strong>Holds</strong>: {} is recommended at every point.</p>",
                esc(s)
            );
        }
        (None, true) => {
            let _ = writeln!(
                body,
                "<p><strong>No recommendation</strong> at any point.</p>"
            );
        }
        (None, false) => {
            let _ = writeln!(
                body,
                "<p><strong>Flips</strong>: the recommendation changes with the settings:</p>\n<ul>"
            );
            for f in &a.flips {
                let held: Vec<String> = f.others.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let held = if held.is_empty() {
                    String::new()
                } else {
                    format!(" (at {})", held.join(", "))
                };
                let _ = writeln!(
                    body,
                    "<li>{} from {} to {}{}: {} → {}{}</li>",
                    esc(&f.key),
                    esc(&f.from_value),
                    esc(&f.to_value),
                    esc(&held),
                    esc(&name(&f.from)),
                    esc(&name(&f.to)),
                    if f.significant {
                        ""
                    } else {
                        " (NOT significant)"
                    }
                );
            }
            let _ = writeln!(body, "</ul>");
        }
    }
    let header: Vec<String> = ["point", "recommended", "significant", "valid runs"]
        .map(str::to_owned)
        .to_vec();
    let rows: Vec<Vec<String>> = a
        .points
        .iter()
        .map(|p| {
            vec![
                p.point.clone(),
                name(&p.recommendation),
                match (&p.recommendation, p.significant) {
                    (None, _) => "-".into(),
                    (_, true) => "yes".into(),
                    (_, false) => "NOT significant".into(),
                },
                p.valid_runs.to_string(),
            ]
        })
        .collect();
    html_table(body, &header, &rows);
}

#[cfg(test)]
mod tests;
