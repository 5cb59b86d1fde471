//! A CSV table read by column name, fast.
//!
//! Files of a run directory are read by header name: column order is free, extra columns are
//! ignored, and a missing required column is an error naming the file and the column. Values
//! are handed out as typed fields whose errors name the file, the line and the column.
//!
//! Our writers never quote (names are restricted to a charset that needs none), so the common
//! case is plain comma-separated lines: those are split with `memchr` straight out of a large
//! read buffer, several times faster than a general CSV parser. The first line holding a quote
//! (or a carriage return that does not end it) switches the rest of the file to the `csv`
//! crate, from that line on, so any valid CSV reads correctly; that reader takes rows of any
//! length, as the fast path does.
//!
//! A big table can also be cut into [`Chunk`]s of whole records (cuts fall on newlines
//! outside quotes) that threads parse side by side, each chunk read by the same rules with
//! its lines numbered as in the file.
//!
//! One noun, kept whole past 600 lines: the CSV table reader, whose fast path, quote
//! fallback and chunking must agree byte for byte.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

/// Why a CSV file of a run directory could not be read: the file, and for a bad value its
/// line and column. The run directory wraps it ([`crate::rundir::RunDirError::Table`]).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
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
}

const READ_BUFFER_BYTES: usize = 4 << 20;

/// The general reader, reading rows as the fast path does: a row's field count may differ
/// from the header's (extra fields are ignored, a missing one is a missing value), where the
/// `csv` crate's default refuses the row, so a file read whole and the same file cut into
/// chunks (which may switch to this reader at a different row) read alike.
fn csv_reader() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder.flexible(true);
    builder
}

/// An open CSV file and the columns wanted from it.
pub(crate) struct Table {
    path: PathBuf,
    /// Where each wanted column sits: the required ones first, then the optional ones.
    index: Vec<Option<usize>>,
    names: Vec<&'static str>,
    mode: Mode,
    /// The 1-based line number of the current row.
    line: u64,
    record: ByteRecord,
}

enum Mode {
    Fast(LineReader),
    General {
        reader: csv::Reader<Box<dyn Read + Send>>,
        /// Lines before the one the general reader started at.
        line_offset: u64,
    },
}

/// Lines of a file out of one growing buffer, split into fields as they are found.
struct LineReader {
    /// Where more bytes come from; `None` once a chunk's bytes are all in `buf`.
    file: Option<File>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    offset: u64,
    eof: bool,
    /// Some byte read so far was a quote: lines must then be checked for one.
    quotes_seen: bool,
    /// Some byte read so far was a carriage return: lines must then be checked for a lone
    /// one, which the `csv` crate ends a record at.
    crs_seen: bool,
    /// The current line (without its `\n` or `\r\n`), as a range of `buf`.
    current: (usize, usize),
    /// The current line's fields, as ranges of `buf`.
    bounds: Vec<(usize, usize)>,
}

impl LineReader {
    fn new(file: File) -> LineReader {
        LineReader {
            file: Some(file),
            buf: vec![0; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            quotes_seen: false,
            crs_seen: false,
            current: (0, 0),
            bounds: Vec::new(),
        }
    }

    /// Lines of bytes already in memory (a chunk of whole lines).
    fn over(bytes: Vec<u8>) -> LineReader {
        LineReader {
            file: None,
            end: bytes.len(),
            buf: bytes,
            start: 0,
            offset: 0,
            eof: true,
            quotes_seen: false,
            crs_seen: false,
            current: (0, 0),
            bounds: Vec::new(),
        }
    }

    /// Advances to the next line and splits it at commas, in one pass over its bytes;
    /// false at the end of the file.
    fn advance(&mut self) -> io::Result<bool> {
        loop {
            self.bounds.clear();
            let base = self.start;
            let hay = &self.buf[base..self.end];
            let mut from = 0;
            let mut newline = None;
            for pos in memchr::memchr2_iter(b',', b'\n', hay) {
                if hay[pos] == b',' {
                    self.bounds.push((base + from, base + pos));
                    from = pos + 1;
                } else {
                    newline = Some(pos);
                    break;
                }
            }
            let stop = match newline {
                Some(pos) => {
                    self.start = base + pos + 1;
                    Some(base + pos)
                }
                None if self.eof && base < self.end => {
                    self.start = self.end;
                    Some(self.end)
                }
                None if self.eof => return Ok(false),
                None => None,
            };
            if let Some(mut stop) = stop {
                if stop > base + from && self.buf[stop - 1] == b'\r' {
                    stop -= 1;
                }
                self.bounds.push((base + from, stop));
                self.current = (base, stop);
                return Ok(true);
            }
            // No whole line left in the buffer: keep the partial one, read more, split again.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.offset += self.start as u64;
            self.start = 0;
            if self.end == self.buf.len() {
                // One line longer than the buffer: grow rather than fail.
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = match &mut self.file {
                Some(file) => file.read(&mut self.buf[self.end..])?,
                None => 0,
            };
            if n == 0 {
                self.eof = true;
            }
            if memchr::memchr(b'"', &self.buf[self.end..self.end + n]).is_some() {
                self.quotes_seen = true;
            }
            if memchr::memchr(b'\r', &self.buf[self.end..self.end + n]).is_some() {
                self.crs_seen = true;
            }
            self.end += n;
        }
    }

    fn line(&self) -> &[u8] {
        &self.buf[self.current.0..self.current.1]
    }

    fn has_quote(&self) -> bool {
        self.quotes_seen && memchr::memchr(b'"', self.line()).is_some()
    }

    /// Whether the current line needs the general reader: it holds a quote, or a carriage
    /// return that does not end it (an old Mac line end, a record end to the `csv` crate).
    fn needs_general(&self) -> bool {
        self.has_quote() || (self.crs_seen && memchr::memchr(b'\r', self.line()).is_some())
    }

    /// File offset of the current line's first byte.
    fn line_offset(&self) -> u64 {
        self.offset + self.current.0 as u64
    }
}

impl Table {
    pub(crate) fn open(
        path: &Path,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Table, TableError> {
        let io_err = |source| TableError::Io {
            path: path.to_owned(),
            source,
        };
        let mut lines = LineReader::new(File::open(path).map_err(io_err)?);
        let mut table = Table {
            path: path.to_owned(),
            index: Vec::new(),
            names: required.iter().chain(optional).copied().collect(),
            mode: Mode::General {
                reader: csv_reader().from_reader(
                    Box::new(File::open(path).map_err(io_err)?) as Box<dyn Read + Send>
                ),
                line_offset: 0,
            },
            line: 1,
            record: ByteRecord::new(),
        };
        let header: Vec<Vec<u8>> = if !lines.advance().map_err(io_err)? {
            Vec::new()
        } else if lines.needs_general() {
            // A quoted header (or a lone CR): leave the whole file to the general reader.
            let Mode::General { reader, .. } = &mut table.mode else {
                unreachable!()
            };
            reader
                .byte_headers()
                .map_err(|source| TableError::Csv {
                    path: path.to_owned(),
                    source,
                })?
                .iter()
                .map(<[u8]>::to_vec)
                .collect()
        } else {
            let header = lines
                .bounds
                .iter()
                .map(|&(a, b)| lines.buf[a..b].to_vec())
                .collect();
            table.mode = Mode::Fast(lines);
            header
        };
        let find = |name: &str| header.iter().position(|h| h == name.as_bytes());
        for &name in required {
            match find(name) {
                Some(i) => table.index.push(Some(i)),
                None => {
                    let shown: Vec<String> = header
                        .iter()
                        .map(|h| String::from_utf8_lossy(h).into_owned())
                        .collect();
                    return Err(TableError::MissingColumn {
                        path: path.to_owned(),
                        column: name,
                        header: shown.join(","),
                    });
                }
            }
        }
        table.index.extend(optional.iter().map(|name| find(name)));
        Ok(table)
    }

    /// The next row, or `None` at the end of the file. Blank lines are skipped.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row<'_>>, TableError> {
        if let Mode::Fast(lines) = &mut self.mode {
            loop {
                let more = lines.advance().map_err(|source| TableError::Io {
                    path: self.path.clone(),
                    source,
                })?;
                if !more {
                    return Ok(None);
                }
                self.line += 1;
                if lines.current.0 == lines.current.1 {
                    continue;
                }
                if !lines.needs_general() {
                    return Ok(Some(Row { table: self }));
                }
                // Quoting (or a lone CR) from here on: hand the rest of the file to the
                // general reader.
                let mut file = File::open(&self.path).map_err(|source| TableError::Io {
                    path: self.path.clone(),
                    source,
                })?;
                file.seek(SeekFrom::Start(lines.line_offset()))
                    .map_err(|source| TableError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
                self.mode = Mode::General {
                    reader: csv_reader().has_headers(false).from_reader(Box::new(file)),
                    line_offset: self.line - 1,
                };
                break;
            }
        }
        let Mode::General {
            reader,
            line_offset,
        } = &mut self.mode
        else {
            unreachable!("the fast mode returned above")
        };
        match reader.read_byte_record(&mut self.record) {
            Ok(true) => {
                self.line = *line_offset + self.record.position().map_or(0, |p| p.line());
                Ok(Some(Row { table: self }))
            }
            Ok(false) => Ok(None),
            Err(source) => Err(TableError::Csv {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// Where the wanted columns of a table sit, for reading its chunks like the table itself.
#[derive(Clone)]
pub(crate) struct Shape {
    path: PathBuf,
    index: Vec<Option<usize>>,
    names: Vec<&'static str>,
}

/// Whole records of a table, cut from the file in order, with the line the first starts on.
pub(crate) struct Chunk {
    bytes: Vec<u8>,
    first_line: u64,
}

/// Cuts the rows of a table (after its header) into chunks of about `chunk_bytes`, each
/// ending at a record boundary: a newline outside quotes.
pub(crate) struct ChunkReader {
    file: File,
    path: PathBuf,
    chunk_bytes: usize,
    /// Bytes read past the last cut: the start of the next chunk.
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
}

impl ChunkReader {
    pub(crate) fn next_chunk(&mut self) -> Result<Option<Chunk>, TableError> {
        let io_err = |source| TableError::Io {
            path: self.path.clone(),
            source,
        };
        loop {
            let mut buf = std::mem::take(&mut self.carry);
            if !self.eof {
                let old = buf.len();
                buf.resize(old + self.chunk_bytes, 0);
                let mut filled = old;
                while filled < buf.len() {
                    match self.file.read(&mut buf[filled..]) {
                        Ok(0) => {
                            self.eof = true;
                            break;
                        }
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_err(e)),
                    }
                }
                buf.truncate(filled);
            }
            if buf.is_empty() {
                return Ok(None);
            }
            let cut = if self.eof {
                Some(buf.len())
            } else {
                record_end(&buf)
            };
            let Some(cut) = cut else {
                // Not one whole record yet: read on, the chunk grows.
                self.carry = buf;
                continue;
            };
            self.carry = buf[cut..].to_vec();
            buf.truncate(cut);
            let first_line = self.next_line;
            self.next_line += memchr::memchr_iter(b'\n', &buf).count() as u64;
            return Ok(Some(Chunk {
                bytes: buf,
                first_line,
            }));
        }
    }
}

/// Just past the last newline of `buf` that ends a record (is outside quotes, counting
/// from `buf[0]`, itself a record's start).
fn record_end(buf: &[u8]) -> Option<usize> {
    if memchr::memchr(b'"', buf).is_none() {
        return memchr::memrchr(b'\n', buf).map(|p| p + 1);
    }
    let mut quoted = false;
    let mut end = None;
    for pos in memchr::memchr2_iter(b'"', b'\n', buf) {
        if buf[pos] == b'"' {
            quoted = !quoted;
        } else if !quoted {
            end = Some(pos + 1);
        }
    }
    end
}

impl Table {
    /// The rest of a table read the fast way (an unquoted header, nothing read past it) as
    /// chunks to parse in parallel with [`Table::of_chunk`]; `None` for the general reader.
    pub(crate) fn into_chunks(
        self,
        chunk_bytes: usize,
    ) -> Result<Option<(Shape, ChunkReader)>, TableError> {
        let Mode::Fast(lines) = &self.mode else {
            return Ok(None);
        };
        if self.line != 1 {
            return Ok(None);
        }
        let io_err = |source| TableError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io_err)?;
        file.seek(SeekFrom::Start(lines.offset + lines.start as u64))
            .map_err(io_err)?;
        let reader = ChunkReader {
            file,
            path: self.path.clone(),
            chunk_bytes: chunk_bytes.max(1),
            carry: Vec::new(),
            next_line: 2,
            eof: false,
        };
        let shape = Shape {
            path: self.path,
            index: self.index,
            names: self.names,
        };
        Ok(Some((shape, reader)))
    }

    /// A chunk's records as a table of the same shape, its rows numbered by their file lines.
    pub(crate) fn of_chunk(shape: &Shape, chunk: Chunk) -> Table {
        let mode = if memchr::memchr(b'"', &chunk.bytes).is_some() || has_lone_cr(&chunk.bytes) {
            Mode::General {
                reader: csv_reader()
                    .has_headers(false)
                    .from_reader(Box::new(io::Cursor::new(chunk.bytes))),
                line_offset: chunk.first_line - 1,
            }
        } else {
            Mode::Fast(LineReader::over(chunk.bytes))
        };
        Table {
            path: shape.path.clone(),
            index: shape.index.clone(),
            names: shape.names.clone(),
            mode,
            line: chunk.first_line - 1,
            record: ByteRecord::new(),
        }
    }
}

/// Whether `bytes` hold a carriage return not followed by a newline.
fn has_lone_cr(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

/// One row of a [`Table`], with typed accessors that name the line and column on error.
pub(crate) struct Row<'t> {
    table: &'t Table,
}

impl Row<'_> {
    pub(crate) fn bad(&self, col: usize, why: &'static str) -> TableError {
        TableError::BadValue {
            path: self.table.path.clone(),
            line: self.table.line,
            column: self.table.names[col],
            value: String::from_utf8_lossy(self.raw(col).unwrap_or(b"")).into_owned(),
            why,
        }
    }

    #[inline]
    fn raw(&self, col: usize) -> Option<&[u8]> {
        let i = self.table.index[col]?;
        match &self.table.mode {
            Mode::Fast(lines) => {
                let &(a, b) = lines.bounds.get(i)?;
                Some(&lines.buf[a..b])
            }
            Mode::General { .. } => self.table.record.get(i),
        }
    }

    #[inline]
    fn required(&self, col: usize) -> Result<&[u8], TableError> {
        match self.raw(col) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(self.bad(col, "missing value")),
        }
    }

    #[inline]
    pub(crate) fn u64(&self, col: usize) -> Result<u64, TableError> {
        parse_u64(self.required(col)?).ok_or_else(|| self.bad(col, "not a non-negative integer"))
    }

    #[inline]
    pub(crate) fn i64(&self, col: usize) -> Result<i64, TableError> {
        parse_i64(self.required(col)?).ok_or_else(|| self.bad(col, "not an integer"))
    }

    pub(crate) fn opt_u64(&self, col: usize) -> Result<Option<u64>, TableError> {
        match self.raw(col) {
            None | Some(b"") => Ok(None),
            Some(v) => parse_u64(v)
                .map(Some)
                .ok_or_else(|| self.bad(col, "not a non-negative integer")),
        }
    }

    pub(crate) fn opt_i64(&self, col: usize) -> Result<Option<i64>, TableError> {
        match self.raw(col) {
            None | Some(b"") => Ok(None),
            Some(v) => parse_i64(v)
                .map(Some)
                .ok_or_else(|| self.bad(col, "not an integer")),
        }
    }

    pub(crate) fn bool(&self, col: usize) -> Result<bool, TableError> {
        match self.required(col)? {
            b"true" => Ok(true),
            b"false" => Ok(false),
            _ => Err(self.bad(col, "expected true or false")),
        }
    }

    #[inline]
    pub(crate) fn name(&self, col: usize) -> Result<&str, TableError> {
        std::str::from_utf8(self.required(col)?).map_err(|_| self.bad(col, "not UTF-8"))
    }

    pub(crate) fn opt_str(&self, col: usize) -> Result<Option<&str>, TableError> {
        match self.raw(col) {
            None | Some(b"") => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(Some)
                .map_err(|_| self.bad(col, "not UTF-8")),
        }
    }
}

/// Decimal digits to u64; `None` on anything else or overflow. Skips `str::parse`'s UTF-8
/// check on the checker's hot path.
#[inline]
pub(crate) fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes.len() <= 19 {
        // 19 digits cannot overflow u64: skip the checked arithmetic.
        let mut value: u64 = 0;
        for &b in bytes {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value = value * 10 + u64::from(digit);
        }
        return Some(value);
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
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
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
mod tests;
