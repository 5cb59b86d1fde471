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

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use crate::io::table::{Chunk, Table};
use crate::model::arrival::{Arrival, ArrivalRef};
use crate::model::expected::ExpectedSpec;
use crate::model::ledger::{Detail, Kind, LedgerEvent};
use crate::model::probe::Probe;
use crate::model::record::{Record, RECORD_FILE, RECORD_SCHEMA};
use crate::model::summary::Summary;

mod arrivals;
mod baselines;
mod error;
mod format;
mod names;

use arrivals::{
    arrival, parse_chunk, Batch, Names, ARRIVAL_COLUMNS, ARRIVAL_EXTRAS, CHUNKS_IN_FLIGHT,
    CHUNK_BYTES, PARSERS,
};
pub use baselines::Baselines;
pub use error::RunDirError;
use format::{read_json, write_csv, write_json};
pub use names::{
    ARRIVALS_FILE, EVENTS_FILE, EXPECTED_FILE, LEDGER_FILE, LEDGER_HEADER, MAX_ROWS_LOADED,
    PROBES_FILE, PROBES_HEADER, SUMMARY_FILE, TRACES_FILE, TRACES_HEADER,
};

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
                event: Kind::of_app(r.name(1)?),
                instance: text(2)?,
                version: text(3)?,
                slot: String::new(),
                detail: r.opt_str(4)?.map(Detail::parse).unwrap_or_default(),
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
                event: Kind::from(r.name(1)?),
                instance: text(2)?,
                version: text(3)?,
                slot: text(4)?,
                detail: r.opt_str(5)?.map(Detail::parse).unwrap_or_default(),
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

    /// The run's record (`record.json`); `None` for a run directory that predates it.
    pub fn read_record(&self) -> Result<Option<Record>, RunDirError> {
        let path = self.file(RECORD_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let record: Record = read_json(&path)?;
        if record.schema != RECORD_SCHEMA {
            return Err(RunDirError::Schema {
                path,
                found: record.schema,
                expected: RECORD_SCHEMA,
            });
        }
        Ok(Some(record))
    }

    /// Writes the run's record, before it is judged.
    pub fn write_record(&self, record: &Record) -> Result<(), RunDirError> {
        write_json(&self.file(RECORD_FILE), record)
    }
}

#[cfg(test)]
mod tests;
