//! The run directory: reading and writing every file of one run.
//!
//! | file | required to check | columns or shape |
//! |---|---|---|
//! | `expected.json` | yes | [`ExpectedSpec`] |
//! | `arrivals.csv` | yes | `recv_ns,source,m,n,version` (+ `instance,attempt,sent_ns`) |
//! | `probes.csv` | no (availability then unmeasured) | `intended_ns,done_ns,ok` (+ `sent_ns,status,instance,version`) |
//! | `ledger.csv` | no (causes then unknown) | `t_ns,event` (+ `instance,version,slot,detail`) |
//! | `summary.json` | no | [`Summary`] |
//!
//! CSV files are read by header name: column order is free, extra columns are ignored, and a
//! missing required column is an error naming the file and the column. A bad value is an
//! error naming the file, the line and the column.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use csv::ByteRecord;
use serde::Serialize;

use crate::arrival::{Arrival, ArrivalRef};
use crate::checker::Checker;
use crate::expected::{ExpectedSpec, SpecError};
use crate::ledger::LedgerEvent;
use crate::probe::Probe;
use crate::summary::Summary;
use crate::verdict::Verdict;

pub const EXPECTED_FILE: &str = "expected.json";
pub const ARRIVALS_FILE: &str = sink::ARRIVALS_FILE;
pub const PROBES_FILE: &str = "probes.csv";
pub const LEDGER_FILE: &str = "ledger.csv";
pub const SUMMARY_FILE: &str = "summary.json";

pub const PROBES_HEADER: &str = "intended_ns,sent_ns,done_ns,ok,status,instance,version";
pub const LEDGER_HEADER: &str = "t_ns,event,instance,version,slot,detail";

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
    #[error("{}: missing required column {column:?} (the header is {header:?})", path.display())]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        header: String,
    },
    #[error("{}:{line}: column {column:?}: {why} (got {value:?})", path.display())]
    BadValue {
        path: PathBuf,
        line: u64,
        column: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{}: unsupported schema {found:?} (this build reads {expected:?})", path.display())]
    Schema {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
}

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn read_expected(&self) -> Result<ExpectedSpec, RunDirError> {
        let path = self.file(EXPECTED_FILE);
        let spec: ExpectedSpec = read_json(&path)?;
        spec.validate()
            .map_err(|source| RunDirError::Spec { path, source })?;
        Ok(spec)
    }

    pub fn write_expected(&self, spec: &ExpectedSpec) -> Result<(), RunDirError> {
        write_json(&self.file(EXPECTED_FILE), spec)
    }

    /// Calls `f` on every row of `arrivals.csv`, in file order, without allocating per row.
    /// Returns the number of rows.
    pub fn for_each_arrival(&self, mut f: impl FnMut(&ArrivalRef<'_>)) -> Result<u64, RunDirError> {
        let path = self.file(ARRIVALS_FILE);
        let mut table = Table::open(
            &path,
            &["recv_ns", "source", "m", "n", "version"],
            &["instance", "attempt", "sent_ns"],
        )?;
        let mut rows = 0;
        while let Some(r) = table.next_row()? {
            let arrival = ArrivalRef {
                recv_ns: r.i64(0)?,
                source: r.name(1)?,
                m: r.u64(2)?,
                n: r.u64(3)?,
                version: r.name(4)?,
                instance: r.opt_str(5)?,
                attempt: r.opt_u64(6)?.map(|a| a.min(u64::from(u32::MAX)) as u32),
                sent_ns: r.opt_i64(7)?,
            };
            f(&arrival);
            rows += 1;
        }
        Ok(rows)
    }

    pub fn read_arrivals(&self) -> Result<Vec<Arrival>, RunDirError> {
        let mut out = Vec::new();
        self.for_each_arrival(|a| {
            out.push(Arrival {
                recv_ns: a.recv_ns,
                source: a.source.to_owned(),
                m: a.m,
                n: a.n,
                version: a.version.to_owned(),
                instance: a.instance.map(str::to_owned),
                attempt: a.attempt,
                sent_ns: a.sent_ns,
            })
        })?;
        Ok(out)
    }

    pub fn write_arrivals<'a>(
        &self,
        arrivals: impl IntoIterator<Item = &'a Arrival>,
    ) -> Result<(), RunDirError> {
        write_csv(&self.file(ARRIVALS_FILE), sink::ARRIVALS_HEADER, arrivals)
    }

    /// The probes, or an empty list when `probes.csv` does not exist.
    pub fn read_probes(&self) -> Result<Vec<Probe>, RunDirError> {
        let path = self.file(PROBES_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let mut table = Table::open(
            &path,
            &["intended_ns", "done_ns", "ok"],
            &["sent_ns", "status", "instance", "version"],
        )?;
        let mut out = Vec::new();
        while let Some(r) = table.next_row()? {
            out.push(Probe {
                intended_ns: r.i64(0)?,
                done_ns: r.i64(1)?,
                ok: r.bool(2)?,
                sent_ns: r.opt_i64(3)?,
                status: r
                    .opt_u64(4)?
                    .map(|s| u16::try_from(s).map_err(|_| r.bad(4, "not an HTTP status")))
                    .transpose()?,
                instance: r.opt_str(5)?.map(str::to_owned),
                version: r.opt_str(6)?.map(str::to_owned),
            });
        }
        Ok(out)
    }

    pub fn write_probes<'a>(
        &self,
        probes: impl IntoIterator<Item = &'a Probe>,
    ) -> Result<(), RunDirError> {
        write_csv(&self.file(PROBES_FILE), PROBES_HEADER, probes)
    }

    /// The ledger, or an empty list when `ledger.csv` does not exist.
    pub fn read_ledger(&self) -> Result<Vec<LedgerEvent>, RunDirError> {
        let path = self.file(LEDGER_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let mut table = Table::open(
            &path,
            &["t_ns", "event"],
            &["instance", "version", "slot", "detail"],
        )?;
        let mut out = Vec::new();
        while let Some(r) = table.next_row()? {
            let text = |i| r.opt_str(i).map(|s| s.unwrap_or("").to_owned());
            out.push(LedgerEvent {
                t_ns: r.i64(0)?,
                event: r.name(1)?.to_owned(),
                instance: text(2)?,
                version: text(3)?,
                slot: text(4)?,
                detail: text(5)?,
            });
        }
        Ok(out)
    }

    pub fn write_ledger<'a>(
        &self,
        ledger: impl IntoIterator<Item = &'a LedgerEvent>,
    ) -> Result<(), RunDirError> {
        write_csv(&self.file(LEDGER_FILE), LEDGER_HEADER, ledger)
    }

    /// The summary, or `None` when `summary.json` does not exist.
    pub fn read_summary(&self) -> Result<Option<Summary>, RunDirError> {
        let path = self.file(SUMMARY_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let value: serde_json::Value = read_json(&path)?;
        let found = value["schema"].as_str().unwrap_or("").to_owned();
        if !Summary::schema_supported(&found) {
            return Err(RunDirError::Schema {
                path,
                found,
                expected: crate::summary::SUMMARY_SCHEMA,
            });
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|source| RunDirError::Json { path, source })
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<(), RunDirError> {
        write_json(&self.file(SUMMARY_FILE), summary)
    }

    /// Re-checks the run from its files: streams `arrivals.csv` through the checker.
    pub fn check(&self) -> Result<Verdict, RunDirError> {
        let spec = self.read_expected()?;
        let probes = self.read_probes()?;
        let ledger = self.read_ledger()?;
        let mut checker = Checker::new(&spec).map_err(|source| RunDirError::Spec {
            path: self.file(EXPECTED_FILE),
            source,
        })?;
        self.for_each_arrival(|a| checker.push(a))?;
        Ok(checker.finish(&probes, &ledger))
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunDirError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|source| RunDirError::Json {
        path: path.to_owned(),
        source,
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunDirError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| RunDirError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push('\n');
    std::fs::write(path, text).map_err(io_err(path))
}

fn write_csv<'a, T: Serialize + 'a>(
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

/// A CSV file read by column name.
struct Table {
    path: PathBuf,
    reader: csv::Reader<File>,
    /// Where each wanted column sits: the required ones first, then the optional ones.
    index: Vec<Option<usize>>,
    names: Vec<&'static str>,
    record: ByteRecord,
}

/// One row of a [`Table`], with typed accessors that name the line and column on error.
struct Row<'t> {
    table: &'t Table,
}

impl Table {
    fn open(
        path: &Path,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Table, RunDirError> {
        let file = File::open(path).map_err(io_err(path))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .buffer_capacity(1 << 20)
            .from_reader(file);
        let header = reader
            .byte_headers()
            .map_err(|source| RunDirError::Csv {
                path: path.to_owned(),
                source,
            })?
            .clone();
        let find = |name: &str| header.iter().position(|h| h == name.as_bytes());
        let mut index = Vec::new();
        for &name in required {
            match find(name) {
                Some(i) => index.push(Some(i)),
                None => {
                    return Err(RunDirError::MissingColumn {
                        path: path.to_owned(),
                        column: name,
                        header: String::from_utf8_lossy(header.as_slice()).into_owned(),
                    })
                }
            }
        }
        index.extend(optional.iter().map(|name| find(name)));
        Ok(Table {
            path: path.to_owned(),
            reader,
            index,
            names: required.iter().chain(optional).copied().collect(),
            record: ByteRecord::new(),
        })
    }

    fn next_row(&mut self) -> Result<Option<Row<'_>>, RunDirError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => Ok(Some(Row { table: self })),
            Ok(false) => Ok(None),
            Err(source) => Err(RunDirError::Csv {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

impl Row<'_> {
    fn line(&self) -> u64 {
        self.table.record.position().map_or(0, |p| p.line())
    }

    fn bad(&self, col: usize, why: &'static str) -> RunDirError {
        RunDirError::BadValue {
            path: self.table.path.clone(),
            line: self.line(),
            column: self.table.names[col],
            value: String::from_utf8_lossy(self.raw(col).unwrap_or(b"")).into_owned(),
            why,
        }
    }

    fn raw(&self, col: usize) -> Option<&[u8]> {
        self.table.index[col].and_then(|i| self.table.record.get(i))
    }

    fn required(&self, col: usize) -> Result<&[u8], RunDirError> {
        match self.raw(col) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(self.bad(col, "missing value")),
        }
    }

    fn u64(&self, col: usize) -> Result<u64, RunDirError> {
        parse_u64(self.required(col)?).ok_or_else(|| self.bad(col, "not a non-negative integer"))
    }

    fn i64(&self, col: usize) -> Result<i64, RunDirError> {
        parse_i64(self.required(col)?).ok_or_else(|| self.bad(col, "not an integer"))
    }

    fn opt_u64(&self, col: usize) -> Result<Option<u64>, RunDirError> {
        match self.raw(col) {
            None | Some(b"") => Ok(None),
            Some(v) => parse_u64(v)
                .map(Some)
                .ok_or_else(|| self.bad(col, "not a non-negative integer")),
        }
    }

    fn opt_i64(&self, col: usize) -> Result<Option<i64>, RunDirError> {
        match self.raw(col) {
            None | Some(b"") => Ok(None),
            Some(v) => parse_i64(v)
                .map(Some)
                .ok_or_else(|| self.bad(col, "not an integer")),
        }
    }

    fn bool(&self, col: usize) -> Result<bool, RunDirError> {
        match self.required(col)? {
            b"true" => Ok(true),
            b"false" => Ok(false),
            _ => Err(self.bad(col, "expected true or false")),
        }
    }

    fn name(&self, col: usize) -> Result<&str, RunDirError> {
        std::str::from_utf8(self.required(col)?).map_err(|_| self.bad(col, "not UTF-8"))
    }

    fn opt_str(&self, col: usize) -> Result<Option<&str>, RunDirError> {
        match self.raw(col) {
            None | Some(b"") => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(Some)
                .map_err(|_| self.bad(col, "not UTF-8")),
        }
    }
}

/// Decimal digits to u64; `None` on anything else or overflow. Faster than `str::parse`
/// on the checker's hot path because it skips the UTF-8 check.
#[inline]
fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

#[inline]
fn parse_i64(bytes: &[u8]) -> Option<i64> {
    match bytes.split_first() {
        Some((b'-', rest)) => {
            let v = parse_u64(rest)?;
            if v == 1 << 63 {
                Some(i64::MIN)
            } else {
                i64::try_from(v).ok().map(|v| -v)
            }
        }
        _ => i64::try_from(parse_u64(bytes)?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"1a"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_i64(b"-5"), Some(-5));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
    }

    #[test]
    fn columns_are_found_by_name_and_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::write(
            run.file(ARRIVALS_FILE),
            "extra,version,n,m,source,recv_ns\nx,A,2,1,tick,100\ny,B,3,1,tick,oops\n",
        )
        .unwrap();
        let mut seen = Vec::new();
        let err = run
            .for_each_arrival(|a| seen.push((a.recv_ns, a.m, a.n, a.version.to_owned())))
            .unwrap_err();
        assert_eq!(seen, vec![(100, 1, 2, "A".to_owned())]);
        let text = err.to_string();
        assert!(
            text.contains("arrivals.csv:3: column \"recv_ns\""),
            "{text}"
        );
        assert!(text.contains("oops"), "{text}");

        std::fs::write(
            run.file(ARRIVALS_FILE),
            "recv_ns,source,m,version\n1,tick,1,A\n",
        )
        .unwrap();
        let err = run.for_each_arrival(|_| {}).unwrap_err();
        assert!(
            matches!(err, RunDirError::MissingColumn { column: "n", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("arrivals.csv"), "{err}");
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let mut a = Arrival::new(10, "tick", 1, 2, "A");
        a.instance = Some("a-0".into());
        a.attempt = Some(2);
        let arrivals = vec![a, Arrival::new(11, "proc", 0, 0, "B")];
        run.write_arrivals(&arrivals).unwrap();
        assert_eq!(run.read_arrivals().unwrap(), arrivals);
        let text = std::fs::read_to_string(run.file(ARRIVALS_FILE)).unwrap();
        assert!(text.starts_with(&format!(
            "{}\n10,tick,1,2,A,a-0,2,\n",
            sink::ARRIVALS_HEADER
        )));

        let mut p = Probe::new(5, 9, false);
        p.status = Some(503);
        let probes = vec![p, Probe::new(6, 7, true)];
        run.write_probes(&probes).unwrap();
        assert_eq!(run.read_probes().unwrap(), probes);

        let ledger = vec![
            LedgerEvent::new(1, "invocation_begun", "a-0", "A", "production")
                .with("inv", 1)
                .with("source", "tick"),
        ];
        run.write_ledger(&ledger).unwrap();
        assert_eq!(run.read_ledger().unwrap(), ledger);
    }

    #[test]
    fn missing_optional_files_are_empty_and_bad_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(run.read_probes().unwrap().is_empty());
        assert!(run.read_ledger().unwrap().is_empty());
        assert!(run.read_summary().unwrap().is_none());
        std::fs::write(run.file(SUMMARY_FILE), r#"{"schema":"other/9"}"#).unwrap();
        assert!(matches!(
            run.read_summary().unwrap_err(),
            RunDirError::Schema { .. }
        ));
        let err = run.read_expected().unwrap_err();
        assert!(err.to_string().contains("expected.json"), "{err}");
    }
}
