//! Availability: probe latency over time on a log scale, failed probes marked (refusals and
//! timeouts apart), downtime windows shaded; the control series' failures and windows in
//! grey (not the app's), and each fault's window shaded and named along the bottom.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    err, secs, thin, version_color, Chart, CONTROL, FAULT, FAULT_SHADE_OPACITY, LATE, LOST,
};
use crate::analysis::history::History;

pub struct Availability<'a> {
    pub history: &'a History,
}

impl Chart for Availability<'_> {
    fn name(&self) -> &'static str {
        "availability"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let h = self.history;
        let origin = h.origin_ns();
        root.fill(&WHITE).map_err(err)?;
        if h.probes.is_empty() {
            root.draw(&Text::new(
                "availability not measured (no probes)",
                (40, 40),
                ("sans-serif", 16).into_font(),
            ))
            .map_err(err)?;
            return Ok(());
        }
        let latency =
            |p: &crate::model::probe::Probe| (p.latency_ns().max(1) as f64 / 1e6).max(0.01);
        let x0 = h
            .probes
            .iter()
            .map(|p| secs(p.intended_ns, origin))
            .fold(f64::MAX, f64::min);
        let x1 = h
            .probes
            .iter()
            .map(|p| secs(p.intended_ns, origin))
            .fold(f64::MIN, f64::max)
            .max(x0 + 0.001);
        let app = || h.probes.iter().filter(|p| !p.is_control());
        let top = h.probes.iter().map(latency).fold(1.0, f64::max) * 2.0;
        let mut chart = super::frame(root, "availability: probe latency through the front door")
            .build_cartesian_2d(x0..x1, (0.01..top).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("intended time since the schedule's epoch (s)")
            .y_desc("latency (ms, log)")
            .draw()
            .map_err(err)?;
        for w in &h.verdict.downtime.intervals {
            let (a, b) = (secs(w.start_ns, origin), secs(w.end_ns, origin));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, 0.01), (b.max(a + 0.0005), top)],
                    LOST.mix(0.2).filled(),
                )))
                .map_err(err)?;
        }
        // The control's windows: the harness's or the machine's trouble, not counted.
        if let Some(c) = &h.verdict.control {
            if !c.windows.is_empty() {
                chart
                    .draw_series(c.windows.iter().map(|w| {
                        let (a, b) = (secs(w.start_ns, origin), secs(w.end_ns, origin));
                        Rectangle::new(
                            [(a, 0.01), (b.max(a + 0.0005), top)],
                            CONTROL.mix(0.12).filled(),
                        )
                    }))
                    .map_err(err)?
                    .label("control down (the sink's /health): not counted")
                    .legend(|(x, y)| {
                        Rectangle::new([(x - 5, y - 4), (x + 5, y + 4)], CONTROL.mix(0.3).filled())
                    });
            }
        }
        // Each fault's window, its label along the bottom in rows that do not overlap.
        let faults = &h.verdict.faults;
        if !faults.is_empty() {
            let secs_per_char = (x1 - x0) * 7.0 / f64::from(super::WIDTH);
            let rows = super::label_rows(
                &faults
                    .iter()
                    .map(|f| {
                        let a = secs(f.start_ns, origin);
                        (
                            a,
                            secs(f.end_ns, origin).max(a + f.label().len() as f64 * secs_per_char),
                        )
                    })
                    .collect::<Vec<_>>(),
            );
            chart
                .draw_series(faults.iter().map(|f| {
                    let (a, b) = (secs(f.start_ns, origin), secs(f.end_ns, origin));
                    Rectangle::new(
                        [(a, 0.01), (b.max(a + 0.0005), top)],
                        FAULT.mix(FAULT_SHADE_OPACITY).filled(),
                    )
                }))
                .map_err(err)?
                .label("fault window")
                .legend(|(x, y)| {
                    Rectangle::new([(x - 5, y - 4), (x + 5, y + 4)], FAULT.mix(0.4).filled())
                });
            // Row r's text hangs from 5% (of the log axis) per row above the bottom.
            let decades = (top / 0.01).log10();
            chart
                .draw_series(faults.iter().zip(rows).map(|(f, row)| {
                    let y = 0.01 * 10f64.powf(decades * 0.05 * (row + 1) as f64);
                    Text::new(
                        f.label(),
                        (secs(f.start_ns, origin), y),
                        ("sans-serif", 11).into_font(),
                    )
                }))
                .map_err(err)?;
        }
        let ok: Vec<(f64, f64)> = app()
            .filter(|p| p.ok)
            .map(|p| (secs(p.intended_ns, origin), latency(p)))
            .collect();
        let color = version_color(0);
        chart
            .draw_series(
                thin(ok, (x0, x1), (0.0, top))
                    .into_iter()
                    .map(|p| Circle::new(p, 2, color.filled())),
            )
            .map_err(err)?
            .label("probe answered")
            .legend(move |(x, y)| Circle::new((x, y), 3, color.filled()));
        // A refusal (no instance, a dead one) and silence (a slow app, a busy machine) are
        // different findings: they get different marks, and each a legend entry only when
        // it occurred.
        let silent = |p: &&crate::model::probe::Probe| {
            matches!(p.error.as_deref(), Some("timeout" | "saturated"))
        };
        let point = |p: &crate::model::probe::Probe| (secs(p.intended_ns, origin), latency(p));
        let refused: Vec<(f64, f64)> = app().filter(|p| !p.ok && !silent(p)).map(point).collect();
        let unanswered: Vec<(f64, f64)> = app().filter(|p| !p.ok && silent(p)).map(point).collect();
        let control_failed: Vec<(f64, f64)> = h
            .probes
            .iter()
            .filter(|p| p.is_control() && !p.ok)
            .map(point)
            .collect();
        if !refused.is_empty() {
            chart
                .draw_series(
                    thin(refused, (x0, x1), (0.0, top))
                        .into_iter()
                        .map(|p| Cross::new(p, 4, LOST.stroke_width(2))),
                )
                .map_err(err)?
                .label("probe failed (error status, refused)")
                .legend(|(x, y)| Cross::new((x, y), 4, LOST.stroke_width(2)));
        }
        if !unanswered.is_empty() {
            chart
                .draw_series(
                    thin(unanswered, (x0, x1), (0.0, top))
                        .into_iter()
                        .map(|p| TriangleMarker::new(p, 5, LATE.stroke_width(2))),
                )
                .map_err(err)?
                .label("probe failed (no answer in time)")
                .legend(|(x, y)| TriangleMarker::new((x, y), 5, LATE.stroke_width(2)));
        }
        if !control_failed.is_empty() {
            chart
                .draw_series(
                    thin(control_failed, (x0, x1), (0.0, top))
                        .into_iter()
                        .map(|p| Cross::new(p, 4, CONTROL.stroke_width(1))),
                )
                .map_err(err)?
                .label("control probe failed (not the app)")
                .legend(|(x, y)| Cross::new((x, y), 4, CONTROL.stroke_width(1)));
        }
        super::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
