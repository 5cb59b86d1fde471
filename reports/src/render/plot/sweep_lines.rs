//! A sweep of one key: one metric against the key's value, a line per scenario through
//! its means, each point with its 95% CI.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::sweep::Sweep;
use crate::model::metric::{number, Metric};
use crate::render::plot::{err, frame, legend, version_color, Chart};

/// One metric of a sweep against its first key.
pub struct SweepLines<'a> {
    pub sweep: &'a Sweep,
    pub metric: Metric,
}

impl Chart for SweepLines<'_> {
    fn name(&self) -> &'static str {
        self.metric.column()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let m = &self.sweep.manifest;
        let Some(axis) = m.keys.first() else {
            return Ok(());
        };
        // Where each value sits: its number on a numeric axis, else its place in the list.
        let x_of = |value: usize| match axis.numeric() {
            true => axis.values[value].x.unwrap_or_default(),
            false => value as f64,
        };
        let xs: Vec<f64> = (0..axis.values.len()).map(x_of).collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
        let stats = |scenario: &str, point: usize| {
            self.sweep
                .cell(scenario, point)
                .and_then(|c| c.stats.get(&self.metric))
        };
        let top = self
            .sweep
            .cells
            .iter()
            .filter_map(|c| c.stats.get(&self.metric))
            .map(|s| s.ci_high.max(s.max))
            .fold(1.0_f64, f64::max)
            * 1.15;
        let bottom = self
            .sweep
            .cells
            .iter()
            .filter_map(|c| c.stats.get(&self.metric))
            .map(|s| s.ci_low.min(s.min))
            .fold(0.0_f64, f64::min);
        let mut chart = frame(
            root,
            &format!("{} by {} (mean, 95% CI)", self.metric.name(), axis.key),
        )
        .build_cartesian_2d(lo - pad..hi + pad, bottom..top)
        .map_err(err)?;
        let texts: Vec<String> = axis.values.iter().map(|v| v.text.clone()).collect();
        let numeric = axis.numeric();
        let title = axis.title();
        let by_place = |x: &f64| {
            texts
                .get(x.round().max(0.0) as usize)
                .cloned()
                .filter(|_| (x - x.round()).abs() < 0.01)
                .unwrap_or_default()
        };
        let by_number = |x: &f64| number(*x);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(title).y_desc(self.metric.unit());
        if numeric {
            mesh.x_label_formatter(&by_number);
        } else {
            mesh.disable_x_mesh()
                .x_labels(texts.len().max(1))
                .x_label_formatter(&by_place);
        }
        mesh.draw().map_err(err)?;
        let order = axis.order();
        for (i, scenario) in m.scenarios.iter().enumerate() {
            let color = version_color(i);
            // The scenario's cells along the axis: with one key, a point is one value.
            let line: Vec<(f64, crate::compare::Stats)> = order
                .iter()
                .filter_map(|&v| {
                    let point = m.point_at(&[v])?;
                    stats(&scenario.name, point).map(|s| (x_of(v), *s))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(
                    line.iter().map(|(x, s)| (*x, s.mean)),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(scenario.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x - 8, y), (x + 8, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    line.iter()
                        .map(|(x, s)| Circle::new((*x, s.mean), 4, color.filled())),
                )
                .map_err(err)?;
            chart
                .draw_series(line.iter().filter(|(_, s)| s.n > 1).map(|(x, s)| {
                    PathElement::new(vec![(*x, s.ci_low), (*x, s.ci_high)], color.stroke_width(1))
                }))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
