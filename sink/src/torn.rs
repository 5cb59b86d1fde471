//! A torn last row: what a crash or a power loss in the middle of a write leaves at the end
//! of a CSV file (a row without its newline). Appending after it would glue the next row
//! onto it and record that item as garbage, so a sink started with `--append` cuts it off
//! first, says so, and counts the bytes in `/stats`. Every row that was acknowledged had its
//! newline written (and, with `--fsync batch` or `always`, synced) before the answer, so a
//! torn row was never acknowledged: cutting it loses nothing that was promised.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Cuts everything after the last newline of `path`; returns how many bytes were cut (0
/// for a file that ends with a newline, is empty, or does not exist).
pub fn cut_torn_tail(path: &Path) -> io::Result<u64> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // Scan back in chunks for the last newline: a torn row is at most one row long, but a
    // file of garbage must not be read whole into memory.
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    let keep = loop {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    if keep == len {
        return Ok(0);
    }
    file.set_len(keep)?;
    file.sync_all()?;
    Ok(len - keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_row_is_cut_and_a_whole_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "h\n1,a\n2,b\n3,").unwrap();
        assert_eq!(cut_torn_tail(&path).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "h\n1,a\n2,b\n");
        assert_eq!(cut_torn_tail(&path).unwrap(), 0, "now whole");
        std::fs::write(&path, "no newline at all").unwrap();
        assert_eq!(cut_torn_tail(&path).unwrap(), 17, "a torn header goes too");
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        assert_eq!(cut_torn_tail(&dir.path().join("none.csv")).unwrap(), 0);
        // A torn row longer than one chunk is found across chunks.
        let long = format!("h\n1,a\n{}", "x".repeat(200_000));
        std::fs::write(&path, &long).unwrap();
        assert_eq!(cut_torn_tail(&path).unwrap(), 200_000);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "h\n1,a\n");
    }
}
