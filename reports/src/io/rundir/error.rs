//! Why a run directory could not be read or written: every error names the file, and a
//! file too big to load whole says how to proceed.

use std::io;
use std::path::{Path, PathBuf};

#[cfg(doc)]
use super::names::MAX_ROWS_LOADED;
use super::names::{ARRIVALS_FILE, PROBES_FILE};
use crate::io::table::TableError;
use crate::model::expected::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {source}", path.display())]
    Spec { path: PathBuf, source: SpecError },
    /// A CSV file could not be read.
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{}: unsupported schema {found:?} (this build reads {expected:?})", path.display())]
    Schema {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    /// A file read whole has more rows than the limit ([`MAX_ROWS_LOADED`]).
    #[error(
        "{}: more than {limit} rows, the most the reports load whole into memory; {}",
        path.display(),
        how_to_proceed(path)
    )]
    TooManyRows { path: PathBuf, limit: usize },
}

/// What to do about a file too big to load whole, by file.
fn how_to_proceed(path: &Path) -> &'static str {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(ARRIVALS_FILE) => {
            "`harness check` streams arrivals.csv whatever its size, but the reports need it \
             whole: record a shorter run (run.duration) or fewer items"
        }
        Some(PROBES_FILE) => {
            "probes.csv is optional: move it aside to check the run without downtime, and \
             record fewer probes next time (a lower probes.rate or a shorter run.duration)"
        }
        _ => {
            "the file is optional: move it aside to read the run without it (see the files of \
             a run directory in the README for what is then unknown), and record a shorter \
             run (run.duration) or fewer instances next time"
        }
    }
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.to_owned(),
        source,
    }
}
