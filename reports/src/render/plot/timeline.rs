//! The timeline: every arrival at its time and item ordinal, coloured by version; lost items
//! marked at their scheduled time; copies and late items marked; the update's phases shaded
//! as bands and instance ends as vertical lines, the way Jepsen shades fault intervals; and
//! the faults in a band of their own below the items, one labelled bar each, their windows
//! shaded over the items.

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    err, secs, thin, version_color, Chart, BAND, BAND_OPACITY, COPY, FAULT, FAULT_OPACITY,
    FAULT_SHADE_OPACITY, LATE, LOST,
};
use crate::analysis::history::{ArrivalClass, History};

pub struct Timeline<'a> {
    pub history: &'a History,
}

impl Chart for Timeline<'_> {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let h = self.history;
        let origin = h.origin_ns();
        let points = h.timeline();
        let lost = h.lost_points();
        let phases = h.phases();
        let faults = &h.verdict.faults;
        let xs = points
            .iter()
            .chain(&lost)
            .map(|p| secs(p.t_ns, origin))
            .chain(
                phases
                    .iter()
                    .map(|p| (p.start_ns, p.end_ns))
                    .chain(faults.iter().map(|f| (f.start_ns, f.end_ns)))
                    .flat_map(|(a, b)| [secs(a, origin), secs(b, origin)]),
            );
        let (mut x0, mut x1) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        let pad = ((x1 - x0) * 0.02).max(0.001);
        let (x0, x1) = (x0 - pad, x1 + pad);
        let y1 = h.ordinal_count().max(1) as f64;
        // Labels go in the first row where they do not overlap the one before: short phases
        // that begin together (a swap's update, start_staging, warmup, swap) would otherwise
        // print on top of each other. A character is about 7 px of the 1000 px plot.
        let secs_per_char = (x1 - x0) * 7.0 / f64::from(super::WIDTH);
        // The fault band: below the items, one row per fault that would overlap another
        // (its bar or its label), each row about 6% of the items' height.
        let fault_rows = super::label_rows(
            &faults
                .iter()
                .map(|f| {
                    let (a, b) = (secs(f.start_ns, origin), secs(f.end_ns, origin));
                    (a, b.max(a + f.label().len() as f64 * secs_per_char))
                })
                .collect::<Vec<_>>(),
        );
        let row_h = (y1 * 0.06).max(1.0);
        let band_top = if faults.is_empty() {
            -0.5
        } else {
            -0.5 - row_h * 0.3
        };
        let y0 = band_top - fault_rows.iter().max().map_or(0.0, |&r| (r + 1) as f64) * row_h;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = super::frame(root, "timeline: arrivals by item")
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        // The fault band lies below ordinal 0: no item ticks there.
        let items_only = |y: &f64| {
            if *y < -0.5 {
                String::new()
            } else {
                RangedCoordf64::format(y)
            }
        };
        chart
            .configure_mesh()
            .x_desc("time since the schedule's epoch (s)")
            .y_desc("item (occurrence, iteration)")
            .y_label_formatter(&items_only)
            .disable_mesh()
            .draw()
            .map_err(err)?;
        let phase_rows = super::label_rows(
            &phases
                .iter()
                .map(|p| {
                    let a = secs(p.start_ns, origin);
                    (a, a + p.name.len() as f64 * secs_per_char)
                })
                .collect::<Vec<_>>(),
        );
        for (p, row) in phases.iter().zip(phase_rows) {
            let (a, b) = (
                secs(p.start_ns, origin),
                secs(p.end_ns, origin).max(secs(p.start_ns, origin) + pad / 4.0),
            );
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, -0.5), (b, y1)],
                    BAND.mix(BAND_OPACITY).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    p.name.clone(),
                    (a, y1 * (1.0 - 0.045 * row as f64)),
                    ("sans-serif", 11).into_font(),
                )))
                .map_err(err)?;
        }
        // The completion query's false YES, shaded apart from the phases: the time a user of
        // the plan would have believed the update done while an old instance still ran.
        let false_yes = h
            .verdict
            .completion
            .iter()
            .flat_map(|c| &c.false_completions);
        for f in false_yes {
            let (a, b) = (secs(f.start_ns, origin), secs(f.end_ns, origin));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, -0.5), (b.max(a + pad / 4.0), y1)],
                    LOST.mix(0.12).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "false YES",
                    (a, y1 * 0.8),
                    ("sans-serif", 11).into_font().color(&LOST),
                )))
                .map_err(err)?;
        }
        // The analysis window that failed and triggered the rollback.
        if let Some((a, b)) = h.verdict.rollback.as_ref().and_then(|r| r.failing_window) {
            let (a, b) = (secs(a, origin), secs(b, origin));
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, -0.5), (b.max(a + pad / 4.0), y1)],
                    LATE.mix(0.15).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "failing window",
                    (a, y1 * 0.75),
                    ("sans-serif", 11).into_font().color(&LATE),
                )))
                .map_err(err)?;
        }
        // Each fault: its window shaded over the items, a bar in its row of the fault band,
        // and its label on the bar.
        let span = |f: &crate::model::verdict::FaultCost| {
            let a = secs(f.start_ns, origin);
            (a, secs(f.end_ns, origin).max(a + pad / 4.0))
        };
        let row_top = |row: usize| band_top - row as f64 * row_h;
        chart
            .draw_series(faults.iter().map(|f| {
                let (a, b) = span(f);
                Rectangle::new(
                    [(a, band_top), (b, y1)],
                    FAULT.mix(FAULT_SHADE_OPACITY).filled(),
                )
            }))
            .map_err(err)?;
        if !faults.is_empty() {
            chart
                .draw_series(faults.iter().zip(&fault_rows).map(|(f, &row)| {
                    let (a, b) = span(f);
                    let top = row_top(row);
                    Rectangle::new(
                        [(a, top - 0.1 * row_h), (b, top - 0.9 * row_h)],
                        FAULT.mix(FAULT_OPACITY).filled(),
                    )
                }))
                .map_err(err)?
                .label("fault (its window; named in the band below)")
                .legend(|(x, y)| {
                    Rectangle::new(
                        [(x - 5, y - 4), (x + 5, y + 4)],
                        FAULT.mix(FAULT_OPACITY).filled(),
                    )
                });
            chart
                .draw_series(faults.iter().zip(&fault_rows).map(|(f, &row)| {
                    Text::new(
                        f.label(),
                        (span(f).0, row_top(row) - 0.15 * row_h),
                        ("sans-serif", 11).into_font(),
                    )
                }))
                .map_err(err)?;
        }
        for (t, _) in h.instance_ends() {
            let x = secs(t, origin);
            chart
                .draw_series(LineSeries::new([(x, -0.5), (x, y1)], LOST.mix(0.5)))
                .map_err(err)?;
        }
        for (i, version) in h.versions().iter().enumerate() {
            let color = version_color(i);
            let series: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.version.as_deref() == Some(version.as_str()))
                .map(|p| (secs(p.t_ns, origin), p.ordinal as f64))
                .collect();
            chart
                .draw_series(
                    thin(series, (x0, x1), (0.0, y1))
                        .into_iter()
                        .map(|p| Circle::new(p, 2, color.filled())),
                )
                .map_err(err)?
                .label(format!("arrival, version {version}"))
                .legend(move |(x, y)| Circle::new((x, y), 3, color.filled()));
        }
        // Late and copied items and lost ones are drawn one by one: never thinned away.
        let marked = |class: ArrivalClass| {
            points
                .iter()
                .filter(move |p| p.class == Some(class))
                .map(|p| (secs(p.t_ns, origin), p.ordinal as f64))
        };
        chart
            .draw_series(
                marked(ArrivalClass::Late).map(|p| Circle::new(p, 5, LATE.stroke_width(2))),
            )
            .map_err(err)?
            .label("late (first arrival)")
            .legend(|(x, y)| Circle::new((x, y), 4, LATE.stroke_width(2)));
        chart
            .draw_series(
                marked(ArrivalClass::Copy).map(|(x, y)| {
                    Rectangle::new([(x, y - 0.4), (x, y + 0.4)], COPY.stroke_width(2))
                }),
            )
            .map_err(err)?
            .label("duplicate copy")
            .legend(|(x, y)| {
                Rectangle::new([(x - 3, y - 3), (x + 3, y + 3)], COPY.stroke_width(2))
            });
        chart
            .draw_series(lost.iter().map(|p| {
                Cross::new(
                    (secs(p.t_ns, origin), p.ordinal as f64),
                    5,
                    LOST.stroke_width(2),
                )
            }))
            .map_err(err)?
            .label("lost (at its scheduled time)")
            .legend(|(x, y)| Cross::new((x, y), 4, LOST.stroke_width(2)));
        super::legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}
