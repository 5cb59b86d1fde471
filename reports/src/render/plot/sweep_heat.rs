//! A sweep of two keys: one metric as a heat map over the grid (the first key across, the
//! second up), a panel per scenario on one colour scale, each cell its mean.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::sweep::Sweep;
use crate::model::metric::{number, Metric};
use crate::render::plot::{err, Chart};

/// The colour of the smallest mean and of the largest.
const LOW: RGBColor = RGBColor(255, 247, 236);
const HIGH: RGBColor = RGBColor(179, 0, 0);
/// A cell no valid run measured.
const EMPTY: RGBColor = RGBColor(225, 225, 225);

/// One metric of a sweep over its first two keys.
pub struct SweepHeat<'a> {
    pub sweep: &'a Sweep,
    pub metric: Metric,
}

fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    RGBColor(mix(LOW.0, HIGH.0), mix(LOW.1, HIGH.1), mix(LOW.2, HIGH.2))
}

impl Chart for SweepHeat<'_> {
    fn name(&self) -> &'static str {
        self.metric.column()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let m = &self.sweep.manifest;
        let (Some(across), Some(up)) = (m.keys.first(), m.keys.get(1)) else {
            return Ok(());
        };
        let means: Vec<f64> = self
            .sweep
            .cells
            .iter()
            .filter_map(|c| c.stats.get(&self.metric).map(|s| s.mean))
            .collect();
        let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let scale = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        let title = root
            .titled(
                &format!(
                    "{} ({}) by {} and {} (mean)",
                    self.metric.name(),
                    self.metric.unit(),
                    across.key,
                    up.key
                ),
                ("sans-serif", 18),
            )
            .map_err(err)?;
        let panels = title.split_evenly((1, m.scenarios.len().max(1)));
        let (xs, ys) = (across.order(), up.order());
        let x_texts: Vec<String> = xs.iter().map(|&v| across.values[v].text.clone()).collect();
        let y_texts: Vec<String> = ys.iter().map(|&v| up.values[v].text.clone()).collect();
        let label = |texts: &[String], at: f64| {
            texts
                .get(at.round().max(0.0) as usize)
                .cloned()
                .filter(|_| (at - at.round()).abs() < 0.01)
                .unwrap_or_default()
        };
        for (scenario, panel) in m.scenarios.iter().zip(&panels) {
            let mut chart = ChartBuilder::on(panel)
                .caption(&scenario.name, ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.5..xs.len() as f64 - 0.5, -0.5..ys.len() as f64 - 0.5)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(xs.len())
                .y_labels(ys.len())
                .x_label_formatter(&|x| label(&x_texts, *x))
                .y_label_formatter(&|y| label(&y_texts, *y))
                .x_desc(across.key.as_str())
                .y_desc(up.key.as_str())
                .draw()
                .map_err(err)?;
            for (i, &xv) in xs.iter().enumerate() {
                for (j, &yv) in ys.iter().enumerate() {
                    let mean = m
                        .point_at(&[xv, yv])
                        .and_then(|p| self.sweep.cell(&scenario.name, p))
                        .and_then(|c| c.stats.get(&self.metric))
                        .map(|s| s.mean);
                    let (x, y) = (i as f64, j as f64);
                    let fill = mean.map_or(EMPTY, |v| shade(scale(v)));
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                            fill.filled(),
                        )))
                        .map_err(err)?;
                    let ink = if mean.is_some_and(|v| scale(v) > 0.6) {
                        WHITE
                    } else {
                        BLACK
                    };
                    let text = mean.map_or_else(|| "-".to_owned(), number);
                    let style = ("sans-serif", 12).into_font().color(&ink).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ),
                    );
                    chart
                        .draw_series(std::iter::once(Text::new(text, (x, y), style)))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_runs_from_light_to_dark() {
        assert_eq!(shade(0.0), LOW);
        assert_eq!(shade(1.0), HIGH);
        assert_eq!(shade(2.0), HIGH, "clamped");
    }
}
