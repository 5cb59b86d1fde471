//! A table of a report, as plain strings, and the helpers its cells are built with.

/// A table of a report: plain strings, rendered by the Markdown and HTML writers alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub(super) fn row<const N: usize>(cells: [String; N]) -> Vec<String> {
    cells.to_vec()
}

pub(super) fn ms(v: f64) -> String {
    format!("{v:.1}")
}
