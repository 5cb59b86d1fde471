//! The written reports of one run: `report.md` (tables ready for a paper), `report.html`
//! (one self-contained page with the plots inline), the plots as SVG and PNG, and the
//! HdrHistogram files. All are rendered from the run directory alone, so `harness report`
//! can redo them at any time.
//!
//! The tables are built once, as plain data, and rendered to Markdown or HTML.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::analysis::history::History;
use crate::io::rundir::RunDir;
use crate::render::plot::{self, Chart};

mod html;
mod table;
mod tables;
mod update;

pub(crate) use html::{esc, figures, html_table, page};
pub use table::Table;
pub use tables::tables;

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The report as Markdown: a title and one pipe table per section.
pub fn markdown(h: &History) -> String {
    let mut out = String::new();
    let title = h
        .run
        .as_ref()
        .and_then(|r| r.scenario.clone())
        .unwrap_or_else(|| "run".into());
    let _ = writeln!(out, "# Update report: {title}\n");
    for t in tables(h) {
        let _ = writeln!(out, "## {}\n", t.title);
        let _ = writeln!(
            out,
            "| {} |",
            t.header
                .iter()
                .map(|c| md_cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            out,
            "|{}",
            t.header.iter().map(|_| "---|").collect::<String>()
        );
        for r in &t.rows {
            let _ = writeln!(
                out,
                "| {} |",
                r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
            );
        }
        let _ = writeln!(out);
    }
    out
}

pub fn html(h: &History, svgs: &[(&str, String)]) -> String {
    let title = h
        .run
        .as_ref()
        .and_then(|r| r.scenario.clone())
        .unwrap_or_else(|| "run".into());
    let mut body = String::new();
    for t in tables(h) {
        let _ = writeln!(body, "<h2>{}</h2>", esc(&t.title));
        html_table(&mut body, &t.header, &t.rows);
        if t.title == "Verdict" {
            let _ = writeln!(body, "<h2>Plots</h2>");
            figures(&mut body, svgs);
        }
    }
    page(&format!("Update report: {title}"), &body)
}

/// Renders every report of a run directory into it; returns the files written.
pub fn write(run: &RunDir) -> Result<Vec<PathBuf>, String> {
    let h = History::load(run).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    let mut svgs: Vec<(&str, String)> = Vec::new();
    macro_rules! chart {
        ($chart:expr) => {{
            let chart = $chart;
            let svg = plot::to_svg(&chart)?;
            let name = chart.name();
            let path = run.file(&format!("{name}.svg"));
            std::fs::write(&path, &svg).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(path);
            let png = run.file(&format!("{name}.png"));
            plot::to_png(&chart, &png)?;
            written.push(png);
            svgs.push((name, svg));
        }};
    }
    chart!(plot::timeline::Timeline { history: &h });
    chart!(plot::availability::Availability { history: &h });
    chart!(plot::lateness::Lateness { history: &h });
    chart!(plot::downtime::DowntimeWindows { history: &h });
    if let Some(estimate) = &h.verdict.completion {
        chart!(plot::completion::CompletionChart {
            history: &h,
            estimate,
        });
    }
    // The app's latency: the control series probes the sink, not the app.
    let app_probes: Vec<crate::model::probe::Probe> = h
        .probes
        .iter()
        .filter(|p| !p.is_control())
        .cloned()
        .collect();
    let files: [(&str, Vec<u8>); 4] = [
        ("report.md", markdown(&h).into_bytes()),
        ("report.html", html(&h, &svgs).into_bytes()),
        ("probes.hlog", crate::render::hdr::probes_hlog(&app_probes)?),
        (
            "lateness.hgrm",
            crate::render::hdr::percentile_distribution(&h.lateness_ms()).into_bytes(),
        ),
    ];
    for (name, bytes) in files {
        let path = run.file(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
