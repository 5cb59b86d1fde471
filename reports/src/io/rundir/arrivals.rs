//! `arrivals.csv` row by row: its columns, one row read by them, and the parallel parse the
//! checker streams the file through (chunks of whole rows, names interned per parser).

use crate::io::table::{Chunk, Row, Shape, Table};
use crate::model::arrival::ArrivalRef;

use super::error::RunDirError;

/// The columns of `arrivals.csv`: required, then optional (see [`arrival`]).
pub(super) const ARRIVAL_COLUMNS: &[&str] = &["recv_ns", "source", "m", "n", "version"];
pub(super) const ARRIVAL_EXTRAS: &[&str] = &["attempt", "instance", "sent_ns"];

/// One row of `arrivals.csv`, read by the column order of [`ARRIVAL_COLUMNS`] and
/// [`ARRIVAL_EXTRAS`]; `instance` and `sent_ns` only with `all_columns`.
pub(super) fn arrival<'r>(
    r: &'r Row<'_>,
    all_columns: bool,
) -> Result<ArrivalRef<'r>, RunDirError> {
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
pub(super) const PARSERS: usize = 2;
/// Bytes per chunk handed to a parser (about 16,000 rows of a sink's file).
pub(super) const CHUNK_BYTES: usize = 1 << 20;
/// Chunks queued per parser, each way.
pub(super) const CHUNKS_IN_FLIGHT: usize = 2;

/// Parses one chunk into compact rows, interning names with the parser's own `names`.
pub(super) fn parse_chunk(
    shape: &Shape,
    chunk: Chunk,
    names: &mut Names,
) -> Result<Batch, RunDirError> {
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
pub(super) struct CompactArrival {
    pub(super) recv_ns: i64,
    pub(super) m: u64,
    pub(super) n: u64,
    pub(super) source: u32,
    pub(super) version: u32,
    pub(super) attempt: Option<u32>,
}

#[derive(Default)]
pub(super) struct Batch {
    pub(super) rows: Vec<CompactArrival>,
    /// Names first seen in this batch, in id order: the receiver appends them to its list.
    pub(super) new_names: Vec<String>,
}

/// Source and version names, interned: a file has a handful of distinct ones.
#[derive(Default)]
pub(super) struct Names {
    pub(super) list: Vec<String>,
    pub(super) ids: std::collections::HashMap<String, u32>,
    /// The id each column had last: rows repeat their names, so this nearly always hits.
    pub(super) hints: [u32; 2],
}

#[derive(Clone, Copy)]
pub(super) enum Column {
    Source = 0,
    Version = 1,
}

impl Names {
    pub(super) fn id(&mut self, name: &str, column: Column, new_names: &mut Vec<String>) -> u32 {
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
