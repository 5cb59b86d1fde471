//! One metric of one series over its runs, oldest first, with the band its budget set at
//! each run: the history's reference (the budget's quantile of the runs before) and the
//! band's edge. Invalid runs are drawn apart, hollow, and never in the band.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::render::plot::{err, legend, Chart, BAND, LOST};

/// A run of the series: its value, if it measured it, and whether it was valid.
#[derive(Clone, Debug, PartialEq)]
pub struct TrendPoint {
    pub recorded_ns: i64,
    pub value: Option<f64>,
    pub valid: bool,
}

/// What the budget said when a run came: the reference and the band's edge, or `None`
/// when the runs before it were fewer than its `min_runs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    pub reference: f64,
    pub limit: f64,
}

/// The chart: `points[i]` and `band[i]` are run `i + 1`.
pub struct Trend<'a> {
    pub caption: String,
    pub unit: &'a str,
    pub points: &'a [TrendPoint],
    pub band: &'a [Option<BandPoint>],
    /// The budget, as its grammar writes it, for the legend.
    pub budget: String,
}

impl Chart for Trend<'_> {
    fn name(&self) -> &'static str {
        "trend"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let n = self.points.len().max(1) as f64;
        let values = self.points.iter().filter_map(|p| p.value);
        let edges = self.band.iter().flatten().map(|b| b.limit.max(b.reference));
        let top = values.chain(edges).fold(0.0_f64, f64::max);
        let top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut chart = crate::render::plot::frame(root, &self.caption)
            .build_cartesian_2d(0.5..n + 0.5, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("run, oldest first")
            .y_desc(self.unit)
            .x_labels((n as usize).clamp(2, 20) + 1)
            // Runs are whole numbers: a tick between two runs says nothing.
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 0.01 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        // The band: a step per run, from the reference to the edge.
        let steps: Vec<(f64, BandPoint)> = self
            .band
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| (i as f64 + 1.0, b)))
            .collect();
        chart
            .draw_series(steps.iter().map(|&(x, b)| {
                let (low, high) = (b.reference.min(b.limit), b.reference.max(b.limit));
                Rectangle::new([(x - 0.5, low), (x + 0.5, high)], BAND.mix(0.25).filled())
            }))
            .map_err(err)?
            .label(format!("budget band: {}", self.budget))
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], BAND.mix(0.25).filled())
            });
        chart
            .draw_series(steps.iter().map(|&(x, b)| {
                PathElement::new(
                    vec![(x - 0.5, b.reference), (x + 0.5, b.reference)],
                    BAND.stroke_width(2),
                )
            }))
            .map_err(err)?
            .label("reference (the budget's quantile of the runs before)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BAND.stroke_width(2)));
        let outside = |i: usize, v: f64| {
            self.band.get(i).copied().flatten().is_some_and(|b| {
                (b.limit >= b.reference && v > b.limit) || (b.limit < b.reference && v < b.limit)
            })
        };
        let valid: Vec<(f64, f64, bool)> = self
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.valid)
            .filter_map(|(i, p)| p.value.map(|v| (i as f64 + 1.0, v, outside(i, v))))
            .collect();
        chart
            .draw_series(valid.iter().map(|&(x, v, out)| {
                let color = if out { LOST } else { BLACK };
                Circle::new((x, v), 4, color.filled())
            }))
            .map_err(err)?
            .label("a valid run (red: outside its band)")
            .legend(|(x, y)| Circle::new((x + 6, y), 4, BLACK.filled()));
        let invalid: Vec<(f64, f64)> = self
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.valid)
            .filter_map(|(i, p)| p.value.map(|v| (i as f64 + 1.0, v)))
            .collect();
        if !invalid.is_empty() {
            chart
                .draw_series(
                    invalid
                        .iter()
                        .map(|&(x, v)| Circle::new((x, v), 4, BLACK.stroke_width(1))),
                )
                .map_err(err)?
                .label("an invalid run (never pooled)")
                .legend(|(x, y)| Circle::new((x + 6, y), 4, BLACK.stroke_width(1)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five runs: the first two before the budget had its runs, the fifth outside its band.
    fn chart_of<'a>(points: &'a [TrendPoint], band: &'a [Option<BandPoint>]) -> Trend<'a> {
        Trend {
            caption: "seed-swap: lost".into(),
            unit: "items",
            points,
            band,
            budget: "lost p99 last=5 min_runs=2 add=1 mul=1".into(),
        }
    }

    #[test]
    fn the_band_is_drawn_where_the_budget_had_its_runs_and_a_run_outside_it_is_red() {
        let value = |v: f64, valid: bool| TrendPoint {
            recorded_ns: 0,
            value: Some(v),
            valid,
        };
        let points = [
            value(2.0, true),
            value(2.0, true),
            value(3.0, true),
            value(40.0, false),
            value(9.0, true),
        ];
        let b = Some(BandPoint {
            reference: 2.0,
            limit: 3.0,
        });
        let band = [None, None, b, b, b];
        let svg = crate::render::plot::to_svg(&chart_of(&points, &band)).unwrap();
        if let Ok(path) = std::env::var("TREND_PNG") {
            crate::render::plot::to_png(&chart_of(&points, &band), std::path::Path::new(&path))
                .unwrap();
        }
        // Three band steps (and the legend's swatch) at the band's opacity.
        let band_fill = format!(
            "opacity=\"0.25\" fill=\"#{:02X}{:02X}{:02X}\"",
            BAND.0, BAND.1, BAND.2
        );
        assert_eq!(svg.matches(&band_fill).count(), 3 + 1, "{svg}");
        // Red: only the fifth run (9 > 3); the invalid run is hollow, never judged.
        let red = format!(
            "fill=\"#{:02X}{:02X}{:02X}\" stroke",
            LOST.0, LOST.1, LOST.2
        );
        assert_eq!(svg.matches(&red).count(), 1, "{svg}");
    }
}
