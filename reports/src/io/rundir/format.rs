//! JSON and CSV files read and written whole, every error naming the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::error::{io_err, RunDirError};

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunDirError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|source| RunDirError::Json {
        path: path.to_owned(),
        source,
    })
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunDirError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| RunDirError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push('\n');
    std::fs::write(path, text).map_err(io_err(path))
}

pub(super) fn write_csv<'a, T: Serialize + 'a>(
    path: &Path,
    header: &str,
    rows: impl IntoIterator<Item = &'a T>,
) -> Result<(), RunDirError> {
    let csv_err = |source| RunDirError::Csv {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(io_err(path))?;
    let mut out = BufWriter::new(file);
    writeln!(out, "{header}").map_err(io_err(path))?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    for row in rows {
        writer.serialize(row).map_err(csv_err)?;
    }
    writer.flush().map_err(io_err(path))?;
    Ok(())
}
