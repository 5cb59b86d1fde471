//! The HTML building blocks of every page we write (the run report, the comparison):
//! escaping, a self-contained page, a table, inline figures.

use std::fmt::Write as _;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: no script, no external font or file.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\n\
         th {{ background: #f3f3f3; }}\n\
         figure {{ margin: 1em 0; }} svg {{ max-width: 100%; height: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = esc(title)
    )
}

/// An HTML table of escaped cells.
pub(crate) fn html_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let cells = |tag: &str, row: &[String]| {
        row.iter()
            .map(|c| format!("<{tag}>{}</{tag}>", esc(c)))
            .collect::<String>()
    };
    let _ = writeln!(out, "<table>\n<tr>{}</tr>", cells("th", header));
    for r in rows {
        let _ = writeln!(out, "<tr>{}</tr>", cells("td", r));
    }
    let _ = writeln!(out, "</table>");
}

/// Inline SVG plots as figures.
pub(crate) fn figures(out: &mut String, svgs: &[(&str, String)]) {
    for (name, svg) in svgs {
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        let _ = writeln!(out, "<figure id=\"plot-{name}\">\n{body}\n</figure>");
    }
}
