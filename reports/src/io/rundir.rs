//! The run directory: reading and writing every file of one run.
//!
//! | file | required to check | columns or shape |
//! |---|---|---|
//! | `expected.json` | yes | [`ExpectedSpec`] |
//! | `arrivals.csv` | yes | `recv_ns,source,m,n,version` (+ `instance,attempt,sent_ns`) |
//! | `probes.csv` | no (availability then unmeasured) | `intended_ns,done_ns,ok` (+ `sent_ns,status,instance,version,error,conn`) |
//! | `ledger.csv` | no (causes then unknown) | `t_ns,event` (+ `instance,version,slot,detail`) |
//! | `events.csv` | no (the apps' lives then unknown) | `recv_ns,event,instance` (+ `version,detail`) |
//! | `summary.json` | no | [`Summary`] |
//!
//! CSV files are read by header name: column order is free, extra columns are ignored, and a
//! missing required column is an error naming the file and the column. A bad value is an
//! error naming the file, the line and the column.
//!
//! A file read whole into memory (`read_arrivals`, `read_probes`, `read_ledger` and its two
//! files, `read_traces`) may have at most [`MAX_ROWS_LOADED`] rows ([`RunDir::with_row_limit`]
//! sets another limit); past it the read stops with [`RunDirError::TooManyRows`], which names
//! the file and the limit and says how to proceed. The streaming reads of `arrivals.csv`
//! ([`RunDir::for_each_arrival`], [`RunDir::for_each_arrival_for_check`], what the checker
//! uses) have no such limit: their memory does not grow with the rows.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use serde::Serialize;

use crate::io::table::{Chunk, Row, Shape, Table, TableError};
use crate::model::arrival::{Arrival, ArrivalRef};
use crate::model::expected::{ExpectedSpec, SpecError};
use crate::model::ledger::LedgerEvent;
use crate::model::probe::Probe;
use crate::model::summary::Summary;

pub const EXPECTED_FILE: &str = "expected.json";
pub const ARRIVALS_FILE: &str = sink::ARRIVALS_FILE;
pub const PROBES_FILE: &str = "probes.csv";
pub const LEDGER_FILE: &str = "ledger.csv";
/// The apps' lifecycle events, as the sink records them (`sink::events`).
pub const EVENTS_FILE: &str = "events.csv";
pub const SUMMARY_FILE: &str = "summary.json";

pub const PROBES_HEADER: &str = "intended_ns,sent_ns,done_ns,ok,status,instance,version,error,conn";
pub const LEDGER_HEADER: &str = "t_ns,event,instance,version,slot,detail";
pub const TRACES_FILE: &str = "traces.csv";
pub const TRACES_HEADER: &str = "t_ns,instance,version";

/// Rows of one file the reports load whole into memory (a `Probe` or an `Arrival` takes
/// 100-200 bytes, so about 1 GB): a 24 h run at 57 probes a second, or 50,000 occurrences of
/// 100 items. Streaming reads are not limited.
pub const MAX_ROWS_LOADED: usize = 5_000_000;

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

/// Where saved baselines are kept: `ROOT/NAME/` holds a run's `summary.json` and
/// `ledger.csv`. The root is the caller's (the harness keeps them in `runs/baselines`).
#[derive(Clone, Debug)]
pub struct Baselines {
    root: PathBuf,
}

impl Baselines {
    pub fn new(root: impl Into<PathBuf>) -> Baselines {
        Baselines { root: root.into() }
    }

    /// The directory of the baseline `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Saves a run directory's summary and ledger as the baseline `name`.
    pub fn save(&self, run: &Path, name: &str) -> io::Result<PathBuf> {
        let dir = self.dir(name);
        std::fs::create_dir_all(&dir)?;
        for file in [SUMMARY_FILE, LEDGER_FILE] {
            let from = run.join(file);
            if from.exists() {
                std::fs::copy(from, dir.join(file))?;
            }
        }
        Ok(dir)
    }

    /// Whether `arg` names a saved baseline (one plain path component, like `main`) rather
    /// than a path to a run directory.
    pub fn is_name(arg: &str) -> bool {
        !arg.is_empty() && arg != "." && arg != ".." && !arg.contains(std::path::is_separator)
    }

    /// Resolves `--baseline`: a plain name is a saved baseline (`ROOT/NAME`), unless a
    /// directory of that name exists here; anything with a separator is a run directory.
    pub fn resolve(&self, arg: &str) -> PathBuf {
        let p = Path::new(arg);
        if Baselines::is_name(arg) && !p.is_dir() {
            self.dir(arg)
        } else {
            p.to_owned()
        }
    }
}

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    /// Rows of one file loaded whole, at most.
    max_rows_loaded: usize,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir {
            path: path.into(),
            max_rows_loaded: MAX_ROWS_LOADED,
        }
    }

    /// Loads at most `rows` rows of a file whole instead of [`MAX_ROWS_LOADED`].
    pub fn with_row_limit(mut self, rows: usize) -> RunDir {
        self.max_rows_loaded = rows;
        self
    }

    /// Room for one more row of `path` in `loaded` rows, or the error that stops the read.
    fn room(&self, path: &Path, loaded: usize) -> Result<(), RunDirError> {
        if loaded < self.max_rows_loaded {
            return Ok(());
        }
        Err(RunDirError::TooManyRows {
            path: path.to_owned(),
            limit: self.max_rows_loaded,
        })
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
    pub fn for_each_arrival(&self, f: impl FnMut(&ArrivalRef<'_>)) -> Result<u64, RunDirError> {
        self.scan_arrivals(true, f)
    }

    /// Like [`RunDir::for_each_arrival`], but leaves `instance` and `sent_ns` unread (`None`):
    /// the checker does not need them, and skipping them saves a third of the parsing.
    ///
    /// Parsing is the bulk of a check, so the file is cut into chunks of whole records that
    /// [`PARSERS`] threads parse side by side, while `f` takes their rows in file order on
    /// this thread. Memory stays bounded: a few chunks in flight per parser.
    pub fn for_each_arrival_for_check(
        &self,
        f: impl FnMut(&ArrivalRef<'_>),
    ) -> Result<u64, RunDirError> {
        self.for_each_arrival_in_chunks(CHUNK_BYTES, f)
    }

    fn for_each_arrival_in_chunks(
        &self,
        chunk_bytes: usize,
        mut f: impl FnMut(&ArrivalRef<'_>),
    ) -> Result<u64, RunDirError> {
        let table = Table::open(&self.file(ARRIVALS_FILE), ARRIVAL_COLUMNS, ARRIVAL_EXTRAS)?;
        let Some((shape, mut chunks)) = table.into_chunks(chunk_bytes)? else {
            return self.scan_arrivals(false, f);
        };
        std::thread::scope(|scope| {
            let mut inputs = Vec::new();
            let mut outputs = Vec::new();
            for _ in 0..PARSERS {
                let (in_tx, in_rx) = sync_channel::<Result<Chunk, RunDirError>>(CHUNKS_IN_FLIGHT);
                let (out_tx, out_rx) = sync_channel::<Result<Batch, RunDirError>>(CHUNKS_IN_FLIGHT);
                inputs.push(in_tx);
                outputs.push(out_rx);
                let shape = &shape;
                scope.spawn(move || {
                    let mut names = Names::default();
                    for chunk in in_rx {
                        let batch = chunk.and_then(|c| parse_chunk(shape, c, &mut names));
                        if out_tx.send(batch).is_err() {
                            return; // the checker stopped early
                        }
                    }
                });
            }
            // Chunks go to the parsers in turn, so reading their answers in turn keeps order.
            scope.spawn(move || {
                for turn in 0.. {
                    let chunk = chunks
                        .next_chunk()
                        .transpose()
                        .map(|c| c.map_err(RunDirError::from));
                    let Some(chunk) = chunk else { return };
                    let failed = chunk.is_err();
                    if inputs[turn % PARSERS].send(chunk).is_err() || failed {
                        return;
                    }
                }
            });
            let mut names: Vec<Vec<String>> = vec![Vec::new(); PARSERS];
            let mut rows = 0;
            for turn in 0.. {
                let parser = turn % PARSERS;
                let Ok(batch) = outputs[parser].recv() else {
                    break; // that parser got no more chunks: the file is done
                };
                let batch = batch?;
                let names = &mut names[parser];
                names.extend(batch.new_names);
                rows += batch.rows.len() as u64;
                for r in &batch.rows {
                    f(&ArrivalRef {
                        recv_ns: r.recv_ns,
                        source: &names[r.source as usize],
                        m: r.m,
                        n: r.n,
                        version: &names[r.version as usize],
                        instance: None,
                        attempt: r.attempt,
                        sent_ns: None,
                    });
                }
            }
            Ok(rows)
        })
    }

    fn scan_arrivals(
        &self,
        all_columns: bool,
        mut f: impl FnMut(&ArrivalRef<'_>),
    ) -> Result<u64, RunDirError> {
        let mut table = Table::open(&self.file(ARRIVALS_FILE), ARRIVAL_COLUMNS, ARRIVAL_EXTRAS)?;
        let mut rows = 0;
        while let Some(r) = table.next_row()? {
            f(&arrival(&r, all_columns)?);
            rows += 1;
        }
        Ok(rows)
    }

    /// Every row of `arrivals.csv`, at most the row limit ([`MAX_ROWS_LOADED`]).
    pub fn read_arrivals(&self) -> Result<Vec<Arrival>, RunDirError> {
        let path = self.file(ARRIVALS_FILE);
        let mut table = Table::open(&path, ARRIVAL_COLUMNS, ARRIVAL_EXTRAS)?;
        let mut out = Vec::new();
        while let Some(r) = table.next_row()? {
            self.room(&path, out.len())?;
            let a = arrival(&r, true)?;
            out.push(Arrival {
                recv_ns: a.recv_ns,
                source: a.source.to_owned(),
                m: a.m,
                n: a.n,
                version: a.version.to_owned(),
                instance: a.instance.map(str::to_owned),
                attempt: a.attempt,
                sent_ns: a.sent_ns,
            });
        }
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
            &["sent_ns", "status", "instance", "version", "error", "conn"],
        )?;
        let mut out = Vec::new();
        while let Some(r) = table.next_row()? {
            self.room(&path, out.len())?;
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
                error: r.opt_str(7)?.map(str::to_owned),
                conn: r.opt_str(8)?.map(str::to_owned),
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

    /// The ledger and the apps' own events (`events.csv`, as `app_*` events; see
    /// [`crate::lifecycle`]), or what of them exists.
    pub fn read_ledger(&self) -> Result<Vec<LedgerEvent>, RunDirError> {
        let mut ledger = self.read_platform_ledger()?;
        ledger.extend(self.read_app_events()?);
        Ok(ledger)
    }

    /// `events.csv` as ledger events named `app_EVENT`, stamped with the sink's receive
    /// time; empty when the file does not exist.
    pub fn read_app_events(&self) -> Result<Vec<LedgerEvent>, RunDirError> {
        let path = self.file(EVENTS_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let mut table = Table::open(
            &path,
            &["recv_ns", "event", "instance"],
            &["version", "detail", "t_ns"],
        )?;
        let mut out = Vec::new();
        while let Some(r) = table.next_row()? {
            self.room(&path, out.len())?;
            let text = |i| r.opt_str(i).map(|s| s.unwrap_or("").to_owned());
            let mut event = LedgerEvent {
                t_ns: r.i64(0)?,
                event: format!("{}{}", crate::model::lifecycle::APP_PREFIX, r.name(1)?),
                instance: text(2)?,
                version: text(3)?,
                slot: String::new(),
                detail: text(4)?,
            };
            // The app's own clock, for spans between two of its own events.
            if let Some(app_ns) = r.opt_i64(5)? {
                event = event.with(crate::model::lifecycle::APP_NS, app_ns);
            }
            out.push(event);
        }
        Ok(out)
    }

    /// `traces.csv`, the instances' log lines; `None` when the run kept none.
    pub fn read_traces(&self) -> Result<Option<Vec<crate::model::trace::LogLine>>, RunDirError> {
        let path = self.file(TRACES_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let mut table = Table::open(&path, &["t_ns", "instance"], &["version"])?;
        let mut out = Vec::new();
        while let Some(r) = table.next_row()? {
            self.room(&path, out.len())?;
            out.push(crate::model::trace::LogLine {
                t_ns: r.i64(0)?,
                instance: r.opt_str(1)?.unwrap_or("").to_owned(),
                version: r.opt_str(2)?.unwrap_or("").to_owned(),
            });
        }
        Ok(Some(out))
    }

    /// `ledger.csv` alone, or an empty list when it does not exist.
    pub fn read_platform_ledger(&self) -> Result<Vec<LedgerEvent>, RunDirError> {
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
            self.room(&path, out.len())?;
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
                expected: crate::model::summary::SUMMARY_SCHEMA,
            });
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|source| RunDirError::Json { path, source })
    }

    pub fn write_summary(&self, summary: &Summary) -> Result<(), RunDirError> {
        write_json(&self.file(SUMMARY_FILE), summary)
    }
}

/// The columns of `arrivals.csv`: required, then optional (see [`arrival`]).
const ARRIVAL_COLUMNS: &[&str] = &["recv_ns", "source", "m", "n", "version"];
const ARRIVAL_EXTRAS: &[&str] = &["attempt", "instance", "sent_ns"];

/// One row of `arrivals.csv`, read by the column order of [`ARRIVAL_COLUMNS`] and
/// [`ARRIVAL_EXTRAS`]; `instance` and `sent_ns` only with `all_columns`.
fn arrival<'r>(r: &'r Row<'_>, all_columns: bool) -> Result<ArrivalRef<'r>, RunDirError> {
    Ok(ArrivalRef {
        recv_ns: r.i64(0)?,
        source: r.name(1)?,
        m: r.u64(2)?,
        n: r.u64(3)?,
        version: r.name(4)?,
        attempt: r.opt_u64(5)?.map(|a| a.min(u64::from(u32::MAX)) as u32),
        instance: if all_columns { r.opt_str(6)? } else { None },
        sent_ns: if all_columns { r.opt_i64(7)? } else { None },
    })
}

/// Threads parsing `arrivals.csv` for a check.
const PARSERS: usize = 2;
/// Bytes per chunk handed to a parser (about 16,000 rows of a sink's file).
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks queued per parser, each way.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Parses one chunk into compact rows, interning names with the parser's own `names`.
fn parse_chunk(shape: &Shape, chunk: Chunk, names: &mut Names) -> Result<Batch, RunDirError> {
    let mut table = Table::of_chunk(shape, chunk);
    let mut batch = Batch::default();
    while let Some(r) = table.next_row()? {
        let a = arrival(&r, false)?;
        batch.rows.push(CompactArrival {
            recv_ns: a.recv_ns,
            m: a.m,
            n: a.n,
            source: names.id(a.source, Column::Source, &mut batch.new_names),
            version: names.id(a.version, Column::Version, &mut batch.new_names),
            attempt: a.attempt,
        });
    }
    Ok(batch)
}

/// One arrival as the checker needs it, its names replaced by ids (see [`Names`]).
struct CompactArrival {
    recv_ns: i64,
    m: u64,
    n: u64,
    source: u32,
    version: u32,
    attempt: Option<u32>,
}

#[derive(Default)]
struct Batch {
    rows: Vec<CompactArrival>,
    /// Names first seen in this batch, in id order: the receiver appends them to its list.
    new_names: Vec<String>,
}

/// Source and version names, interned: a file has a handful of distinct ones.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    ids: std::collections::HashMap<String, u32>,
    /// The id each column had last: rows repeat their names, so this nearly always hits.
    hints: [u32; 2],
}

#[derive(Clone, Copy)]
enum Column {
    Source = 0,
    Version = 1,
}

impl Names {
    fn id(&mut self, name: &str, column: Column, new_names: &mut Vec<String>) -> u32 {
        let hint = &mut self.hints[column as usize];
        if self.list.get(*hint as usize).is_some_and(|n| n == name) {
            return *hint;
        }
        let id = match self.ids.get(name) {
            Some(&id) => id,
            None => {
                let id = self.list.len() as u32;
                self.list.push(name.to_owned());
                self.ids.insert(name.to_owned(), id);
                new_names.push(name.to_owned());
                id
            }
        };
        *hint = id;
        id
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

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = Vec<(i64, String, u64, u64, String, Option<u32>)>;

    fn seen(seen: &mut Seen, a: &ArrivalRef<'_>) {
        let (source, version) = (a.source.to_owned(), a.version.to_owned());
        seen.push((a.recv_ns, source, a.m, a.n, version, a.attempt));
    }

    fn rows_in_chunks(run: &RunDir, chunk_bytes: usize) -> Result<(u64, Seen), RunDirError> {
        let mut rows_seen = Vec::new();
        let rows = run.for_each_arrival_in_chunks(chunk_bytes, |a| seen(&mut rows_seen, a))?;
        Ok((rows, rows_seen))
    }

    #[test]
    fn chunked_parsing_reads_every_row_in_order_whatever_the_chunk_size() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        // Plain rows, a CRLF, a blank line, new names late in the file, and quoted fields
        // with a comma and a newline inside: chunk cuts must fall between records only.
        let mut text = String::from("recv_ns,source,m,n,version,attempt\n");
        for i in 0..40 {
            text.push_str(&format!("{},tick,{},{},A,1\n", 1000 + i, i / 10, i % 10));
        }
        text.push_str("2000,tick,9,0,B,2\r\n\n2001,\"tick\",9,1,\"B\",\n");
        text.push_str("2002,proc,9,2,\"C,\nD\",1\n2003,tick,9,3,A,1");
        std::fs::write(run.file(ARRIVALS_FILE), &text).unwrap();
        let mut whole = Vec::new();
        run.scan_arrivals(false, |a| seen(&mut whole, a)).unwrap();
        assert_eq!(whole.len(), 44);
        assert_eq!(whole[42].4, "C,\nD");
        for chunk_bytes in [1, 7, 23, 64, 200, 1 << 20] {
            let (rows, seen) = rows_in_chunks(&run, chunk_bytes).unwrap();
            assert_eq!(rows, 44, "chunks of {chunk_bytes}");
            assert_eq!(seen, whole, "chunks of {chunk_bytes}");
        }
    }

    #[test]
    fn chunked_parsing_names_the_line_of_a_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let mut text = String::from("recv_ns,source,m,n,version\n");
        for i in 0..100 {
            text.push_str(&format!("{i},tick,0,{i},A\n"));
        }
        text.push_str("\"5\",tick,0,1,A\n7,tick,0,x,A\n8,tick,0,2,A\n");
        std::fs::write(run.file(ARRIVALS_FILE), &text).unwrap();
        for chunk_bytes in [5, 100, 1 << 20] {
            let err = rows_in_chunks(&run, chunk_bytes).unwrap_err().to_string();
            assert!(
                err.contains("arrivals.csv:103: column \"n\""),
                "chunks of {chunk_bytes}: {err}"
            );
        }
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
            matches!(
                err,
                RunDirError::Table(TableError::MissingColumn { column: "n", .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("arrivals.csv"), "{err}");
    }

    #[test]
    fn a_plain_name_is_a_saved_baseline_and_a_path_is_a_run_directory() {
        let b = Baselines::new("runs/baselines");
        assert_eq!(b.resolve("main"), PathBuf::from("runs/baselines/main"));
        assert_eq!(
            b.resolve("runs/baselines/main"),
            PathBuf::from("runs/baselines/main")
        );
        assert_eq!(b.resolve("./r1"), PathBuf::from("./r1"));
        assert!(!Baselines::is_name("..") && !Baselines::is_name("a/b") && !Baselines::is_name(""));
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
        let mut q = Probe::new(6, 8, false);
        q.error = Some("timeout".into());
        let probes = vec![p, q, Probe::new(6, 7, true)];
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
    fn files_read_whole_stop_past_the_row_limit_and_streaming_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path()).with_row_limit(3);
        let four = |i: i64| (0..4).map(move |k| i + k);
        let arrivals: Vec<_> = four(10)
            .map(|t| Arrival::new(t, "tick", 0, t as u64, "A"))
            .collect();
        run.write_arrivals(&arrivals).unwrap();
        let probes: Vec<_> = four(5).map(|t| Probe::new(t, t + 1, true)).collect();
        run.write_probes(&probes).unwrap();
        let ledger: Vec<_> = four(1)
            .map(|t| LedgerEvent::new(t, "timer_lease", "a-0", "A", "production"))
            .collect();
        run.write_ledger(&ledger).unwrap();
        std::fs::write(
            run.file(EVENTS_FILE),
            "recv_ns,t_ns,event,instance,version,detail\n1,,heartbeat,a-0,A,\n2,,heartbeat,a-0,A,\n\
             3,,heartbeat,a-0,A,\n4,,heartbeat,a-0,A,\n",
        )
        .unwrap();
        std::fs::write(
            run.file(TRACES_FILE),
            format!("{TRACES_HEADER}\n1,a-0,A\n2,a-0,A\n3,a-0,A\n4,a-0,A\n"),
        )
        .unwrap();
        let errors = [
            (ARRIVALS_FILE, run.read_arrivals().map(|_| ()).unwrap_err()),
            (PROBES_FILE, run.read_probes().map(|_| ()).unwrap_err()),
            (
                LEDGER_FILE,
                run.read_platform_ledger().map(|_| ()).unwrap_err(),
            ),
            (EVENTS_FILE, run.read_app_events().map(|_| ()).unwrap_err()),
            (TRACES_FILE, run.read_traces().map(|_| ()).unwrap_err()),
        ];
        for (file, e) in &errors {
            assert!(
                matches!(e, RunDirError::TooManyRows { limit: 3, .. }),
                "{file}: {e}"
            );
            let text = e.to_string();
            assert!(
                text.contains(file) && text.contains("more than 3 rows"),
                "{text}"
            );
        }
        assert!(errors[0].1.to_string().contains("harness check"));
        assert!(errors[1].1.to_string().contains("probes.rate"));
        // The checker's streaming reads take every row.
        assert_eq!(run.for_each_arrival(|_| {}).unwrap(), 4);
        assert_eq!(run.for_each_arrival_for_check(|_| {}).unwrap(), 4);
        // At the limit, a file loads.
        let run = RunDir::new(dir.path()).with_row_limit(4);
        assert_eq!(run.read_arrivals().unwrap(), arrivals);
        assert_eq!(run.read_probes().unwrap(), probes);
        assert_eq!(run.read_ledger().unwrap().len(), 8);
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
