//! Comparison of scenarios over repetitions: per scenario and metric the mean, standard
//! deviation, 95% confidence interval (Student's t), min and max; failed runs are listed as
//! failed and never averaged in. Rendered as CSV, Markdown and a self-contained HTML page
//! with interval plots and downtime histograms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{err, version_color, Chart};
use crate::summary::Summary;

/// The metrics compared, with their units.
pub const METRICS: [(&str, &str); 8] = [
    ("lost", "items"),
    ("duplicated", "items"),
    ("late", "items"),
    ("unexpected", "rows"),
    ("downtime_total_ms", "ms"),
    ("downtime_max_ms", "ms"),
    ("lateness_p99_ms", "ms"),
    ("update_duration_ms", "ms"),
];

/// One run of a comparison.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub scenario: String,
    pub strategy: String,
    pub repetition: u32,
    pub seed: u64,
    pub dir: PathBuf,
    /// The run's metrics, or why it failed.
    pub outcome: Result<BTreeMap<String, f64>, String>,
    /// Thresholds of the scenario this run failed, as `threshold (metric = value)`.
    pub threshold_failures: Vec<String>,
}

/// A run's metrics from its summary and ledger.
pub fn metrics(summary: &Summary) -> BTreeMap<String, f64> {
    let v = &summary.verdict;
    let mut m = BTreeMap::new();
    m.insert("lost".into(), v.lost as f64);
    m.insert("duplicated".into(), v.duplicated as f64);
    m.insert("late".into(), v.late as f64);
    m.insert("unexpected".into(), v.unexpected as f64);
    m.insert("downtime_total_ms".into(), v.downtime.total_ms);
    m.insert("downtime_max_ms".into(), v.downtime.max_ms);
    m.insert(
        "lateness_p99_ms".into(),
        v.lateness_ms.map_or(0.0, |q| q.p99),
    );
    if let Some(ms) = summary.run.update_duration_ms {
        m.insert("update_duration_ms".into(), ms);
    }
    m
}

/// Summary statistics of one metric over the successful runs of one scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single run.
    pub sd: f64,
    /// 95% confidence interval of the mean, Student's t; the mean itself for a single run.
    pub ci_low: f64,
    pub ci_high: f64,
    pub min: f64,
    pub max: f64,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

pub fn stats(values: &[f64]) -> Option<Stats> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let half = if n > 1 {
        t_975(n - 1) * sd / (n as f64).sqrt()
    } else {
        0.0
    };
    Some(Stats {
        n,
        mean,
        sd,
        ci_low: mean - half,
        ci_high: mean + half,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// One scenario's runs and statistics.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub scenario: String,
    pub strategy: String,
    pub runs: usize,
    /// `(repetition, why)` of every failed run.
    pub failed: Vec<(u32, String)>,
    /// `(repetition, threshold (metric = value))` of every threshold a run failed; such a
    /// run was measured, so it is averaged in.
    pub threshold_failures: Vec<(u32, String)>,
    pub values: BTreeMap<String, Vec<f64>>,
    pub stats: BTreeMap<String, Stats>,
}

/// Groups run records by scenario (in first-seen order) and computes the statistics.
pub fn compare(records: &[RunRecord]) -> Vec<ScenarioResult> {
    let mut order: Vec<String> = Vec::new();
    for r in records {
        if !order.contains(&r.scenario) {
            order.push(r.scenario.clone());
        }
    }
    order
        .into_iter()
        .map(|name| {
            let runs: Vec<&RunRecord> = records.iter().filter(|r| r.scenario == name).collect();
            let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            let mut failed = Vec::new();
            for r in &runs {
                match &r.outcome {
                    Ok(m) => {
                        for (k, v) in m {
                            values.entry(k.clone()).or_default().push(*v);
                        }
                    }
                    Err(why) => failed.push((r.repetition, why.clone())),
                }
            }
            let stats = values
                .iter()
                .filter_map(|(k, v)| stats(v).map(|s| (k.clone(), s)))
                .collect();
            let threshold_failures = runs
                .iter()
                .flat_map(|r| {
                    r.threshold_failures
                        .iter()
                        .map(|f| (r.repetition, f.clone()))
                })
                .collect();
            ScenarioResult {
                threshold_failures,
                strategy: runs[0].strategy.clone(),
                scenario: name,
                runs: runs.len(),
                failed,
                values,
                stats,
            }
        })
        .collect()
}

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
        for (metric, unit) in METRICS {
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
    header.extend(METRICS.iter().map(|(m, u)| format!("{m} ({u})")));
    let rows = results
        .iter()
        .map(|r| {
            let mut row = vec![
                r.scenario.clone(),
                r.strategy.clone(),
                format!("{} ({})", r.runs, r.failed.len()),
            ];
            for (metric, _) in METRICS {
                row.push(match r.stats.get(metric) {
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

/// Every run of every scenario for one metric, with each scenario's mean and 95% CI.
pub struct IntervalPlot<'a> {
    pub results: &'a [ScenarioResult],
    pub metric: &'static str,
    pub unit: &'static str,
}

impl Chart for IntervalPlot<'_> {
    fn name(&self) -> &'static str {
        self.metric
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let top = self
            .results
            .iter()
            .flat_map(|r| {
                r.values
                    .get(self.metric)
                    .into_iter()
                    .flatten()
                    .copied()
                    .chain(r.stats.get(self.metric).map(|s| s.ci_high))
            })
            .fold(1.0_f64, f64::max)
            * 1.15;
        let n = self.results.len().max(1) as f64;
        let mut chart = crate::plot::frame(
            root,
            &format!("{} by scenario (runs, mean, 95% CI)", self.metric),
        )
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)
        .map_err(err)?;
        let names: Vec<String> = self.results.iter().map(|r| r.scenario.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len().max(1))
            .x_label_formatter(&|x| {
                names
                    .get(x.round() as usize)
                    .cloned()
                    .filter(|_| (x - x.round()).abs() < 0.01)
                    .unwrap_or_default()
            })
            .y_desc(self.unit)
            .draw()
            .map_err(err)?;
        for (i, r) in self.results.iter().enumerate() {
            let x = i as f64;
            let color = version_color(i);
            if let Some(values) = r.values.get(self.metric) {
                let k = values.len().max(1) as f64;
                chart
                    .draw_series(values.iter().enumerate().map(|(j, &v)| {
                        let jitter = (j as f64 - (k - 1.0) / 2.0) * 0.3 / k;
                        Circle::new((x - 0.15 + jitter, v), 3, color.filled())
                    }))
                    .map_err(err)?;
            }
            if let Some(s) = r.stats.get(self.metric) {
                let xm = x + 0.15;
                chart
                    .draw_series([
                        PathElement::new(
                            vec![(xm, s.ci_low.max(0.0)), (xm, s.ci_high)],
                            BLACK.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![
                                (xm - 0.05, s.ci_low.max(0.0)),
                                (xm + 0.05, s.ci_low.max(0.0)),
                            ],
                            BLACK.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(xm - 0.05, s.ci_high), (xm + 0.05, s.ci_high)],
                            BLACK.stroke_width(2),
                        ),
                    ])
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(xm - 0.04, s.mean), (xm + 0.04, s.mean)],
                        BLACK.stroke_width(3),
                    )))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// Histograms of the total downtime per run, one per scenario, side by side.
pub struct DowntimeHistogram<'a> {
    pub results: &'a [ScenarioResult],
}

impl Chart for DowntimeHistogram<'_> {
    fn name(&self) -> &'static str {
        "downtime_histogram"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let all: Vec<f64> = self
            .results
            .iter()
            .flat_map(|r| {
                r.values
                    .get("downtime_total_ms")
                    .into_iter()
                    .flatten()
                    .copied()
            })
            .collect();
        let max = all.iter().copied().fold(0.0, f64::max).max(1.0);
        let bins = 20;
        let width = max / bins as f64 * 1.0001;
        let groups = self.results.len().max(1);
        let mut counts = vec![vec![0u32; bins]; groups];
        for (g, r) in self.results.iter().enumerate() {
            for &v in r.values.get("downtime_total_ms").into_iter().flatten() {
                counts[g][((v / width) as usize).min(bins - 1)] += 1;
            }
        }
        let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64 * 1.2;
        let mut chart = crate::plot::frame(root, "downtime per run, across repetitions")
            .build_cartesian_2d(0.0..max * 1.0001, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("total downtime of a run (ms)")
            .y_desc("runs")
            .draw()
            .map_err(err)?;
        let slot = width / groups as f64;
        for (g, r) in self.results.iter().enumerate() {
            let color = version_color(g);
            let bars = counts[g]
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(b, &c)| {
                    let x = b as f64 * width + g as f64 * slot;
                    Rectangle::new([(x, 0.0), (x + slot * 0.9, f64::from(c))], color.filled())
                });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(r.scenario.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], color.filled())
                });
        }
        crate::plot::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// `junit.xml` of a comparison: one test case per scenario, failed when any of its runs
/// failed a threshold, errored when any run could not be completed.
pub fn junit(records: &[RunRecord]) -> String {
    let cases: Vec<crate::junit::Case> = compare(records)
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
            crate::junit::Case {
                name: r.scenario.clone(),
                failure: (error.is_none() && !failed.is_empty()).then(|| failed.join("; ")),
                error,
            }
        })
        .collect();
    crate::junit::write("compare", "compare", &cases)
}

/// The metrics drawn as interval plots.
const PLOTTED: [(&str, &str); 5] = [
    ("lost", "items"),
    ("duplicated", "items"),
    ("downtime_total_ms", "ms"),
    ("lateness_p99_ms", "ms"),
    ("update_duration_ms", "ms"),
];

/// Writes the comparison's plots as PNG files into `dir` (`compare-NAME.png`).
pub fn write_pngs(
    results: &[ScenarioResult],
    dir: &std::path::Path,
) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let path = dir.join("compare-downtime_histogram.png");
    crate::plot::to_png(&DowntimeHistogram { results }, &path)?;
    out.push(path);
    for (metric, unit) in PLOTTED {
        let path = dir.join(format!("compare-{metric}.png"));
        crate::plot::to_png(
            &IntervalPlot {
                results,
                metric,
                unit,
            },
            &path,
        )?;
        out.push(path);
    }
    Ok(out)
}

/// `compare.html`: the table and the plots, self-contained.
pub fn html(results: &[ScenarioResult]) -> Result<String, String> {
    use crate::report::{esc, figures, html_table, page};
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
        crate::plot::to_svg(&DowntimeHistogram { results })?,
    )];
    for (metric, unit) in PLOTTED {
        svgs.push((
            metric,
            crate::plot::to_svg(&IntervalPlot {
                results,
                metric,
                unit,
            })?,
        ));
    }
    figures(&mut body, &svgs);
    Ok(page("Comparison", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn statistics_match_hand_computed_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd sqrt(32/7) = 2.13809, t(7) = 2.365,
        // half-width 2.365 * 2.13809 / sqrt(8) = 1.78777.
        let s = stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (8, 5.0, 2.0, 9.0));
        assert!((s.sd - 2.138_09).abs() < 1e-5, "{}", s.sd);
        assert!((s.ci_high - 6.787_77).abs() < 1e-4, "{}", s.ci_high);
        assert!((s.ci_low - 3.212_23).abs() < 1e-4, "{}", s.ci_low);
        let one = stats(&[3.0]).unwrap();
        assert_eq!((one.sd, one.ci_low, one.ci_high), (0.0, 3.0, 3.0));
        assert_eq!(stats(&[]), None);
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
