//! The written reports of a comparison: `compare.csv` (one row per scenario and metric),
//! `compare.md` (the table, the failed runs and the failed thresholds, as the terminal
//! shows them), `compare.html` (the table and the plots, self-contained), the plots as PNG
//! and `junit.xml`. Rendered from [`crate::compare`]'s plain results.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::analysis::compare::{compare, RunRecord, ScenarioResult, Stats, METRICS};
use crate::model::metric::Metric;
use crate::render::plot::compare::{DowntimeHistogram, IntervalPlot};

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `compare.csv`: one row per scenario and metric.
pub fn csv(results: &[ScenarioResult]) -> String {
    let mut out =
        String::from("scenario,strategy,metric,unit,n,failed,mean,sd,ci95_low,ci95_high,min,max\n");
    for r in results {
        for metric in METRICS {
            let (unit, metric) = (metric.unit(), metric.column());
            let s = r.stats.get(metric);
            let f = |g: fn(&Stats) -> f64| s.map(|s| format!("{}", g(s))).unwrap_or_default();
            let _ = writeln!(
                out,
                "{},{},{metric},{unit},{},{},{},{},{},{},{},{}",
                r.scenario,
                r.strategy,
                s.map_or(0, |s| s.n),
                r.failed.len(),
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

/// The main table: one row per scenario, each metric as `mean ± half CI`.
fn table_rows(results: &[ScenarioResult]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec![
        "scenario".to_owned(),
        "strategy".into(),
        "runs (failed)".into(),
    ];
    header.extend(
        METRICS
            .iter()
            .map(|m| format!("{} ({})", m.column(), m.unit())),
    );
    let rows = results
        .iter()
        .map(|r| {
            let mut row = vec![
                r.scenario.clone(),
                r.strategy.clone(),
                format!("{} ({})", r.runs, r.failed.len()),
            ];
            for metric in METRICS {
                row.push(match r.stats.get(metric.column()) {
                    Some(s) if s.n > 1 => format!(
                        "{} ± {} [{}..{}]",
                        num(s.mean),
                        num(s.ci_high - s.mean),
                        num(s.min),
                        num(s.max)
                    ),
                    Some(s) => num(s.mean),
                    None => "-".into(),
                });
            }
            row
        })
        .collect();
    (header, rows)
}

/// `compare.md`: the table, then every failed run.
pub fn markdown(results: &[ScenarioResult]) -> String {
    let (header, rows) = table_rows(results);
    let mut out = String::from("# Comparison\n\nEach cell: mean ± half-width of the 95% confidence interval [min..max] over the successful runs.\n\n");
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    let failed: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.failed
                .iter()
                .map(move |(rep, why)| format!("- {} run {rep}: {why}", r.scenario))
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n## Failed runs (not averaged in)\n");
        for f in failed {
            let _ = writeln!(out, "{f}");
        }
    }
    let thresholds: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.threshold_failures
                .iter()
                .map(move |(rep, what)| format!("- {} run {rep}: {what}", r.scenario))
        })
        .collect();
    if !thresholds.is_empty() {
        let _ = writeln!(out, "\n## Failed thresholds\n");
        for f in thresholds {
            let _ = writeln!(out, "{f}");
        }
    }
    out
}

/// `junit.xml` of a comparison: one test case per scenario, failed when any of its runs
/// failed a threshold, errored when any run could not be completed.
pub fn junit(records: &[RunRecord]) -> String {
    let cases: Vec<crate::render::junit::Case> = compare(records)
        .iter()
        .map(|r| {
            let runs = records.iter().filter(|x| x.scenario == r.scenario);
            let error = (!r.failed.is_empty()).then(|| {
                let why: Vec<String> = r
                    .failed
                    .iter()
                    .map(|(rep, w)| format!("run {rep}: {w}"))
                    .collect();
                why.join("; ")
            });
            let failed: Vec<String> = runs
                .flat_map(|x| {
                    x.threshold_failures
                        .iter()
                        .map(move |f| format!("run {}: {f}", x.repetition))
                })
                .collect();
            crate::render::junit::Case {
                name: r.scenario.clone(),
                failure: (error.is_none() && !failed.is_empty()).then(|| failed.join("; ")),
                error,
                skipped: None,
            }
        })
        .collect();
    crate::render::junit::write("compare", "compare", &cases)
}

/// The metrics drawn as interval plots.
const PLOTTED: [Metric; 5] = [
    Metric::Lost,
    Metric::Duplicated,
    Metric::DowntimeTotalMs,
    Metric::LatenessP99Ms,
    Metric::UpdateDurationMs,
];

/// Writes the comparison's plots as PNG files into `dir` (`compare-NAME.png`).
pub fn write_pngs(
    results: &[ScenarioResult],
    dir: &std::path::Path,
) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let path = dir.join("compare-downtime_histogram.png");
    crate::render::plot::to_png(&DowntimeHistogram { results }, &path)?;
    out.push(path);
    for metric in PLOTTED {
        let path = dir.join(format!("compare-{}.png", metric.column()));
        crate::render::plot::to_png(&IntervalPlot { results, metric }, &path)?;
        out.push(path);
    }
    Ok(out)
}

/// `compare.html`: the table and the plots, self-contained.
pub fn html(results: &[ScenarioResult]) -> Result<String, String> {
    use crate::render::report::{esc, figures, html_table, page};
    let (header, rows) = table_rows(results);
    let mut body = String::from(
        "<p>Each cell: mean ± half-width of the 95% confidence interval [min..max] over the successful runs.</p>\n",
    );
    html_table(&mut body, &header, &rows);
    for r in results {
        for (rep, why) in &r.failed {
            let _ = writeln!(
                body,
                "<p>failed: {} run {rep}: {}</p>",
                esc(&r.scenario),
                esc(why)
            );
        }
    }
    let mut svgs = vec![(
        "downtime_histogram",
        crate::render::plot::to_svg(&DowntimeHistogram { results })?,
    )];
    for metric in PLOTTED {
        svgs.push((
            metric.column(),
            crate::render::plot::to_svg(&IntervalPlot { results, metric })?,
        ));
    }
    figures(&mut body, &svgs);
    Ok(page("Comparison", &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record(scenario: &str, rep: u32, lost: f64, downtime: f64) -> RunRecord {
        let mut m = BTreeMap::new();
        m.insert("lost".to_string(), lost);
        m.insert("downtime_total_ms".to_string(), downtime);
        RunRecord {
            scenario: scenario.into(),
            strategy: "swap".into(),
            repetition: rep,
            seed: u64::from(rep),
            dir: PathBuf::new(),
            outcome: Ok(m),
            threshold_failures: Vec::new(),
        }
    }

    #[test]
    fn a_failed_run_is_reported_and_not_averaged_in() {
        let mut failed = record("b", 2, 0.0, 0.0);
        failed.outcome = Err("instance b-0 was not ready".into());
        let records = vec![
            record("a", 1, 2.0, 10.0),
            record("a", 2, 4.0, 30.0),
            record("b", 1, 7.0, 0.0),
            failed,
        ];
        let results = compare(&records);
        assert_eq!(results.len(), 2);
        let a = &results[0];
        assert_eq!((a.runs, a.failed.len()), (2, 0));
        assert_eq!(a.stats["lost"].mean, 3.0);
        assert_eq!(a.stats["downtime_total_ms"].mean, 20.0);
        let b = &results[1];
        assert_eq!((b.runs, b.failed.len(), b.stats["lost"].n), (2, 1, 1));
        assert_eq!(
            b.stats["lost"].mean, 7.0,
            "the failed run's zero is not averaged in"
        );
        let md = markdown(&results);
        assert!(md.contains("| a | swap | 2 (0) | 3 ± 12.71 [2..4]"), "{md}");
        assert!(md.contains("- b run 2: instance b-0 was not ready"), "{md}");
        let csv = csv(&results);
        assert!(
            csv.contains("a,swap,lost,items,2,0,3,1.4142135623730951,"),
            "{csv}"
        );
        assert!(csv.contains("b,swap,lost,items,1,1,7,0,7,7,7,7"), "{csv}");
        let html = html(&results).unwrap();
        assert_eq!(html.matches("<svg").count(), 6);
        let mut with_failure = records.clone();
        with_failure[1].threshold_failures = vec!["lost == 0 (lost = 4)".into()];
        let xml = junit(&with_failure);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(
            (
                suite.attribute("tests"),
                suite.attribute("failures"),
                suite.attribute("errors")
            ),
            (Some("2"), Some("1"), Some("1"))
        );
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("run 2: lost == 0 (lost = 4)")
        );
    }
}
