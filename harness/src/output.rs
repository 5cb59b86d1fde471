//! Printing that never panics: `println!` panics when stdout is a closed pipe
//! (`harness run ... | head`), which would abort a run mid-way and exit 101. These macros
//! write and ignore the error, so the run goes on and writes its files whoever reads.

/// `println!` to stdout, ignoring a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` to stdout, ignoring a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}

/// `eprintln!` to stderr, ignoring a closed pipe.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// The lines of a plain-text table: each column as wide as its widest cell (the header's
/// included), two spaces apart, with no blanks at a line's end.
pub fn columns<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> Vec<String> {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    std::iter::once(line(header))
        .chain(rows.iter().map(|r| line(r.each_ref().map(String::as_str))))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = [
            ["seed-swap".to_owned(), "2".to_owned()],
            ["a".to_owned(), "10".to_owned()],
        ];
        assert_eq!(
            super::columns(["run", "lost"], &rows),
            ["run        lost", "seed-swap  2", "a          10"]
        );
    }
}
