//! The lateness histogram: how late delivered items first arrived, with the late threshold.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, version_color, Chart, LOST};
use crate::analysis::history::History;

pub struct Lateness<'a> {
    pub history: &'a History,
}

/// Bars of the histogram: `(lower bound ms, upper bound ms, count)`, `bins` equal bins from 0
/// to the largest value.
pub fn bins(values: &[f64], bins: usize) -> Vec<(f64, f64, u64)> {
    let max = values.iter().copied().fold(0.0, f64::max).max(1e-3);
    let width = max / bins as f64;
    let mut counts = vec![0u64; bins];
    for &v in values {
        let i = ((v / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (i as f64 * width, (i + 1) as f64 * width, c))
        .collect()
}

impl Chart for Lateness<'_> {
    fn name(&self) -> &'static str {
        "lateness"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let h = self.history;
        root.fill(&WHITE).map_err(err)?;
        let values = h.lateness_ms();
        let bars = bins(&values, 40);
        let x1 = bars.last().map_or(1.0, |b| b.1);
        let threshold = h.expected.late_after_ns as f64 / 1e6;
        let x1 = x1.max(threshold * 1.05);
        let top = bars.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = super::frame(
            root,
            &format!("lateness of {} delivered items", values.len()),
        )
        .build_cartesian_2d(0.0..x1, 0.0..top)
        .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("first arrival - scheduled (ms)")
            .y_desc("items")
            .draw()
            .map_err(err)?;
        let color = version_color(0);
        chart
            .draw_series(
                bars.iter()
                    .map(|&(a, b, c)| Rectangle::new([(a, 0.0), (b, c as f64)], color.filled())),
            )
            .map_err(err)?
            .label("items")
            .legend(move |(x, y)| Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], color.filled()));
        chart
            .draw_series(LineSeries::new(
                [(threshold, 0.0), (threshold, top)],
                LOST.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("late after {threshold} ms"))
            .legend(|(x, y)| PathElement::new([(x - 6, y), (x + 6, y)], LOST.stroke_width(2)));
        super::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bins_count_every_value_once() {
        let b = super::bins(&[0.0, 0.5, 1.0, 9.9, 10.0], 10);
        assert_eq!(b.len(), 10);
        assert_eq!(b.iter().map(|x| x.2).sum::<u64>(), 5);
        assert_eq!((b[0].2, b[9].2), (2, 2));
    }
}
