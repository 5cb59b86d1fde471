//! Downtime windows: one bar per window, at its start time, as long as the window.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, secs, Chart, LOST};
use crate::analysis::history::History;

pub struct DowntimeWindows<'a> {
    pub history: &'a History,
}

impl Chart for DowntimeWindows<'_> {
    fn name(&self) -> &'static str {
        "downtime"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let h = self.history;
        let origin = h.origin_ns();
        let d = &h.verdict.downtime;
        root.fill(&WHITE).map_err(err)?;
        let (x0, x1) = match (h.probes.first(), h.probes.last()) {
            (Some(a), Some(b)) => (
                secs(a.intended_ns, origin),
                secs(b.intended_ns, origin).max(secs(a.intended_ns, origin) + 0.001),
            ),
            _ => (0.0, 1.0),
        };
        let top = d.max_ms.max(1.0) * 1.2;
        let mut chart = super::frame(
            root,
            &format!(
                "downtime: {} window(s), {:.1} ms in all, longest {:.1} ms",
                d.windows, d.total_ms, d.max_ms
            ),
        )
        .build_cartesian_2d(x0..x1, 0.0..top)
        .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("window start since the schedule's epoch (s)")
            .y_desc("window length (ms)")
            .draw()
            .map_err(err)?;
        if d.intervals.is_empty() {
            // An empty frame reads as a broken chart: say what it means.
            let text = if d.probes == 0 {
                "no probes were sent: downtime was not measured".to_owned()
            } else {
                format!("no downtime: all {} probes answered", d.probes)
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (x0 + (x1 - x0) * 0.3, top * 0.55),
                    ("sans-serif", 18).into_font(),
                )))
                .map_err(err)?;
            return Ok(());
        }
        let bar = ((x1 - x0) / 200.0).max(0.001);
        chart
            .draw_series(d.intervals.iter().map(|w| {
                let x = secs(w.start_ns, origin);
                Rectangle::new([(x, 0.0), (x + bar, w.duration_ms())], LOST.filled())
            }))
            .map_err(err)?;
        Ok(())
    }
}
