//! The completion estimate against the truth over time: at each evaluation of the log
//! query, the old-version instances really alive (the truth), the originals the query still
//! sees and the instances it counts as new, as steps; above them, one cell per evaluation
//! for what the query said (YES / NO) and for the truth; every false completion shaded.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, secs, version_color, Chart, LOST};
use crate::analysis::history::History;
use crate::model::completion::{CompletionEstimate, Evaluation};

pub struct CompletionChart<'a> {
    pub history: &'a History,
    pub estimate: &'a CompletionEstimate,
}

const YES: RGBColor = RGBColor(44, 160, 44);
const NO: RGBColor = RGBColor(190, 190, 190);

impl Chart for CompletionChart<'_> {
    fn name(&self) -> &'static str {
        "completion"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (h, c) = (self.history, self.estimate);
        let origin = h.origin_ns();
        let evals = &c.evaluations;
        let step = c.params.check_interval_ns.max(1) as f64 / 1e9;
        let x0 = secs(c.deployment_start_ns, origin) - step;
        let x1 = evals
            .last()
            .map_or(x0 + 2.0 * step, |e| secs(e.t_ns, origin) + 1.5 * step);
        let most = evals
            .iter()
            .map(|e| {
                (e.alive_original.len() as u64)
                    .max(e.original_still_active)
                    .max(e.new_count)
            })
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        // Two rows of cells above the counts: the query's answer, then the truth; the legend
        // above both.
        let (query_row, truth_row) = (most + 1.6, most + 0.9);
        let top = (most + 2.2) * 1.9;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = super::frame(
            root,
            &format!(
                "completion estimate against the truth: {} false YES, first YES {}",
                c.false_yes,
                c.first_yes_ns.map_or("never".into(), |t| format!(
                    "+{:.1} s",
                    (t - c.deployment_start_ns) as f64 / 1e9
                ))
            ),
        )
        .build_cartesian_2d(x0..x1, 0.0..top)
        .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time since the schedule's epoch (s); the query runs every check interval from the update's acceptance")
            .y_desc("instances")
            .disable_mesh()
            .draw()
            .map_err(err)?;
        for f in &c.false_completions {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (secs(f.start_ns, origin), 0.0),
                        (secs(f.end_ns, origin), top),
                    ],
                    LOST.mix(0.15).filled(),
                )))
                .map_err(err)?;
        }
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0, 0.0)],
                LOST.mix(0.15).filled(),
            )))
            .map_err(err)?
            .label("false completion (YES while an old instance ran)")
            .legend(|(x, y)| {
                Rectangle::new([(x - 5, y - 4), (x + 5, y + 4)], LOST.mix(0.3).filled())
            });
        let cells = |row: f64, said: fn(&Evaluation) -> bool| {
            evals.iter().map(move |e| {
                // Each answer holds from its evaluation until the next.
                let x = secs(e.t_ns, origin);
                let color = if said(e) { YES } else { NO };
                Rectangle::new(
                    [(x + step * 0.05, row - 0.25), (x + step * 0.95, row + 0.25)],
                    color.filled(),
                )
            })
        };
        chart
            .draw_series(cells(query_row, |e| e.complete))
            .map_err(err)?
            .label("query: its RollingUpdateComplete (green YES, grey NO)")
            .legend(|(x, y)| Rectangle::new([(x - 5, y - 4), (x + 5, y + 4)], YES.filled()));
        chart
            .draw_series(cells(truth_row, |e| e.truly_complete))
            .map_err(err)?
            .label("truth: every old-version instance gone (green) or not")
            .legend(|(x, y)| Rectangle::new([(x - 5, y - 4), (x + 5, y + 4)], NO.filled()));
        for (text, row) in [("query", query_row), ("truth", truth_row)] {
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (x0 + step * 0.1, row + 0.2),
                    ("sans-serif", 12).into_font(),
                )))
                .map_err(err)?;
        }
        type Count = fn(&Evaluation) -> u64;
        let series: [(&str, Count, RGBColor); 3] = [
            (
                "old-version instances alive (truth)",
                |e| e.alive_original.len() as u64,
                LOST,
            ),
            (
                "originals the query still sees",
                |e| e.original_still_active,
                version_color(0),
            ),
            (
                "instances it counts as new",
                |e| e.new_count,
                version_color(2),
            ),
        ];
        for (label, count, color) in series {
            let points: Vec<(f64, f64)> = evals
                .iter()
                .flat_map(|e| {
                    let x = secs(e.t_ns, origin);
                    let y = count(e) as f64;
                    [(x, y), (x + step, y)]
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x - 8, y), (x + 8, y)], color.stroke_width(2))
                });
        }
        super::legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}
