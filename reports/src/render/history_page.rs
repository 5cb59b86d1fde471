//! `history.html`: what the history store says of each series, for a person: per metric,
//! its runs over time with the band its budget set, the quantiles and the trend, and the
//! invalid runs listed apart. Self-contained, as the run report is.

use std::fmt::Write as _;
use std::path::Path;

use crate::model::metric::number;
use crate::render::plot::trend::{BandPoint, Trend, TrendPoint};
use crate::render::report::{esc, figures, html_table, page};

/// One metric of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricTrend {
    /// The measure's name (`lost`, `lost{phase=update}`).
    pub measure: String,
    pub unit: String,
    pub points: Vec<TrendPoint>,
    pub band: Vec<Option<BandPoint>>,
    /// The budget the band is drawn for, and whether the user gave it.
    pub budget: String,
    pub budget_given: bool,
    /// Valid runs, P50, P95, P99, the last value and the trend per run.
    pub runs: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub last: Option<f64>,
    pub trend_per_run: Option<f64>,
}

/// One series: a scenario as run, on a platform, with a strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesTrends {
    pub scenario: String,
    pub scenario_hash: String,
    pub platform: String,
    pub strategy: String,
    pub metrics: Vec<MetricTrend>,
    /// Invalid runs: id, directory and why.
    pub invalid: Vec<[String; 3]>,
}

/// The page.
pub fn html(store: &str, series: &[SeriesTrends]) -> Result<String, String> {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>From the history store <code>{}</code>: {} series. Each plot shows a metric \
         over the runs of one series, oldest first, with the band its budget set when each \
         run came (shaded, from the reference to the band's edge).</p>",
        esc(store),
        series.len()
    );
    let opt = |x: Option<f64>| x.map_or("-".to_owned(), number);
    for (k, s) in series.iter().enumerate() {
        let _ = writeln!(
            body,
            "<h2 id=\"series-{k}\">{} <small>({}, {}, scenario hash {})</small></h2>",
            esc(&s.scenario),
            esc(&s.platform),
            esc(&s.strategy),
            esc(&s.scenario_hash)
        );
        let rows: Vec<Vec<String>> = s
            .metrics
            .iter()
            .map(|m| {
                vec![
                    m.measure.clone(),
                    m.runs.to_string(),
                    opt(m.p50),
                    opt(m.p95),
                    opt(m.p99),
                    opt(m.last),
                    opt(m.trend_per_run),
                    if m.budget_given {
                        m.budget.clone()
                    } else {
                        format!("{} (default)", m.budget)
                    },
                ]
            })
            .collect();
        let header: Vec<String> = [
            "metric",
            "valid runs",
            "P50",
            "P95",
            "P99",
            "last",
            "trend per run",
            "budget",
        ]
        .map(String::from)
        .to_vec();
        html_table(&mut body, &header, &rows);
        let mut svgs = Vec::new();
        for (j, m) in s.metrics.iter().enumerate() {
            let chart = Trend {
                caption: format!("{}: {}", s.scenario, m.measure),
                unit: &m.unit,
                points: &m.points,
                band: &m.band,
                budget: m.budget.clone(),
            };
            svgs.push((format!("{k}-{j}"), crate::render::plot::to_svg(&chart)?));
        }
        let named: Vec<(&str, String)> =
            svgs.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
        figures(&mut body, &named);
        if !s.invalid.is_empty() {
            let _ = writeln!(body, "<h3>Invalid runs (not pooled)</h3>");
            let header: Vec<String> = ["run", "directory", "why"].map(String::from).to_vec();
            let rows: Vec<Vec<String>> = s.invalid.iter().map(|r| r.to_vec()).collect();
            html_table(&mut body, &header, &rows);
        }
    }
    Ok(page("The history of runs", &body))
}

/// Writes `history.html` into `dir`, creating it.
pub fn write(
    dir: &Path,
    store: &str,
    series: &[SeriesTrends],
) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join("history.html");
    std::fs::write(&path, html(store, series)?)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}
