//! The plots, one file per chart, all behind one [`Chart`] trait, each rendered to SVG (for
//! the HTML report and papers) and PNG (for anything that shows pictures).
//!
//! PNG text is drawn with DejaVu Sans embedded in the binary, so a fresh machine without any
//! font package renders the same pictures. Dense series are aggregated past
//! [`MAX_POINTS`] points, as vegeta plot does, but lost and duplicated items are always drawn.

pub mod availability;
pub mod compare;
pub mod completion;
pub mod downtime;
pub mod lateness;
pub mod sweep_heat;
pub mod sweep_lines;
pub mod timeline;
pub mod trend;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Points drawn one by one before a series is aggregated into cells.
pub const MAX_POINTS: usize = 4000;

/// The opacity of phase bands; nothing else uses it, so bands can be found in the SVG.
pub const BAND_OPACITY: f64 = 0.18;

pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 480;

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    /// The file stem: `timeline` gives `timeline.svg` and `timeline.png`.
    fn name(&self) -> &'static str;

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// The chart as an SVG document.
pub fn to_svg<C: Chart>(chart: &C) -> Result<String, String> {
    // Layout measures text even for SVG: the embedded font makes that machine-independent.
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The chart as a PNG file.
pub fn to_png<C: Chart>(chart: &C, path: &Path) -> Result<(), String> {
    register_font();
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    chart.draw(&root)?;
    root.present().map_err(|e| e.to_string())
}

/// Colours of versions, in order of appearance.
pub fn version_color(index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(23, 190, 207),
        RGBColor(127, 127, 127),
    ];
    PALETTE[index % PALETTE.len()]
}

pub const LOST: RGBColor = RGBColor(214, 39, 40);
pub const LATE: RGBColor = RGBColor(255, 127, 14);
pub const COPY: RGBColor = RGBColor(0, 0, 0);
pub const BAND: RGBColor = RGBColor(120, 120, 200);
/// Faults: their bars in the timeline's fault band, and their windows everywhere.
pub const FAULT: RGBColor = RGBColor(188, 189, 34);
/// The opacity of a fault's bar in the timeline's fault band (and its legend entry).
pub const FAULT_OPACITY: f64 = 0.6;
/// The opacity of a fault's window shaded over a plot.
pub const FAULT_SHADE_OPACITY: f64 = 0.14;
/// The control series' failure windows, the harness's or the machine's trouble.
pub const CONTROL: RGBColor = RGBColor(90, 90, 90);

pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The frame every chart starts from: caption, margins and label areas.
pub fn frame<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60);
    builder
}

/// Draws the legend of the series labelled so far.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)
}

/// Puts each span `(start, end)` of a label (and whatever it labels) in the first row
/// whose last span ends at or before its start, a new row when none does; spans come in
/// start order. Returns each span's row: labels that begin together are stacked, never
/// printed over each other.
pub fn label_rows(spans: &[(f64, f64)]) -> Vec<usize> {
    let mut row_ends: Vec<f64> = Vec::new();
    spans
        .iter()
        .map(|&(start, end)| {
            let row = match row_ends.iter().position(|&e| e <= start) {
                Some(r) => r,
                None => {
                    row_ends.push(f64::MIN);
                    row_ends.len() - 1
                }
            };
            row_ends[row] = end;
            row
        })
        .collect()
}

/// Seconds since the origin, for x axes.
pub fn secs(t_ns: i64, origin_ns: i64) -> f64 {
    (t_ns - origin_ns) as f64 / 1e9
}

/// Reduces points to one per occupied cell of a `cols x rows` grid over the given ranges
/// when there are more than [`MAX_POINTS`]; keeps them all otherwise.
pub fn thin(points: Vec<(f64, f64)>, x: (f64, f64), y: (f64, f64)) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let (cols, rows) = (800.0, 400.0);
    let w = ((x.1 - x.0) / cols).max(f64::MIN_POSITIVE);
    let h = ((y.1 - y.0) / rows).max(f64::MIN_POSITIVE);
    let mut seen = std::collections::HashSet::new();
    points
        .into_iter()
        .filter(|&(px, py)| seen.insert((((px - x.0) / w) as i64, ((py - y.0) / h) as i64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stack_only_where_they_would_overlap() {
        let rows = label_rows(&[(0.0, 5.0), (1.0, 3.0), (3.0, 4.0), (5.0, 9.0), (6.0, 7.0)]);
        assert_eq!(rows, [0, 1, 1, 0, 1]);
        assert!(label_rows(&[]).is_empty());
    }

    #[test]
    fn thinning_keeps_small_series_and_one_point_per_cell_of_large_ones() {
        let few: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 0.0)).collect();
        assert_eq!(thin(few.clone(), (0.0, 10.0), (0.0, 1.0)), few);
        let many: Vec<(f64, f64)> = (0..100_000)
            .map(|i| ((i % 1000) as f64, (i / 1000) as f64))
            .collect();
        let kept = thin(many, (0.0, 1000.0), (0.0, 100.0));
        assert!(kept.len() <= 800 * 400 && kept.len() < 100_000);
        // Every occupied cell keeps a point: 800 columns x 100 rows are occupied.
        assert_eq!(kept.len(), 800 * 100);
    }
}
