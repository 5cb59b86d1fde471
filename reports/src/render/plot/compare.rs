//! The comparison's charts: every run of every scenario for one metric with each
//! scenario's mean and 95% CI, and the histograms of total downtime per run.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::compare::ScenarioResult;
use crate::model::metric::Metric;
use crate::render::plot::{err, version_color, Chart};

/// Every run of every scenario for one metric, with each scenario's mean and 95% CI.
pub struct IntervalPlot<'a> {
    pub results: &'a [ScenarioResult],
    pub metric: Metric,
}

impl Chart for IntervalPlot<'_> {
    fn name(&self) -> &'static str {
        self.metric.column()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let top = self
            .results
            .iter()
            .flat_map(|r| {
                r.values
                    .get(self.metric.column())
                    .into_iter()
                    .flatten()
                    .copied()
                    .chain(r.stats.get(self.metric.column()).map(|s| s.ci_high))
            })
            .fold(1.0_f64, f64::max)
            * 1.15;
        let n = self.results.len().max(1) as f64;
        let mut chart = crate::render::plot::frame(
            root,
            &format!("{} by scenario (runs, mean, 95% CI)", self.metric.column()),
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
            .y_desc(self.metric.unit())
            .draw()
            .map_err(err)?;
        for (i, r) in self.results.iter().enumerate() {
            let x = i as f64;
            let color = version_color(i);
            if let Some(values) = r.values.get(self.metric.column()) {
                let k = values.len().max(1) as f64;
                chart
                    .draw_series(values.iter().enumerate().map(|(j, &v)| {
                        let jitter = (j as f64 - (k - 1.0) / 2.0) * 0.3 / k;
                        Circle::new((x - 0.15 + jitter, v), 3, color.filled())
                    }))
                    .map_err(err)?;
            }
            if let Some(s) = r.stats.get(self.metric.column()) {
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
        let mut chart = crate::render::plot::frame(root, "downtime per run, across repetitions")
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
        crate::render::plot::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
