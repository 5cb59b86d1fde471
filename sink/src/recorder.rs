//! The recorder: one writer thread that appends arrival rows to `arrivals.csv`.
//!
//! Request handlers format their rows and hand them over through a bounded channel; the
//! writer takes every message waiting (a group), writes them with one `write` call, syncs
//! them as the [`FsyncPolicy`] says, updates the live [`Stats`], and only then acknowledges
//! each message. A full channel makes handlers wait (back-pressure) instead of growing memory,
//! and no lock is taken per request. Group commit is what makes `--fsync batch` affordable:
//! one `fdatasync` covers every request that arrived while the previous one ran.
//!
//! Shutdown is two signals: [`Recorder::close`] asks the writer to stop after what is already
//! queued; "all done" is the writer thread's exit, awaited by [`Recorder::close`].

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::stats::Stats;
use crate::wire::Item;

/// The header row of `arrivals.csv`. Readers find columns by these names.
pub const ARRIVALS_HEADER: &str = "recv_ns,source,m,n,version,instance,attempt,sent_ns";

/// The file name of the arrivals log inside a run directory.
pub const ARRIVALS_FILE: &str = "arrivals.csv";

/// Most messages the writer takes into one group (one write, one sync).
const MAX_GROUP_MESSAGES: usize = 4096;

/// Keys the live statistics track before they stop counting distinct keys (memory bound).
pub const MAX_TRACKED_KEYS: usize = 8 << 20;

/// When the writer makes rows durable before acknowledging them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Rows are handed to the OS before the ack; a power cut may lose them, a crash of the
    /// sink may not.
    Never,
    /// One `fdatasync` per group of requests, before any of them is acknowledged.
    #[default]
    Batch,
    /// One `fdatasync` per request, before it is acknowledged.
    Always,
}

impl FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(FsyncPolicy::Never),
            "batch" => Ok(FsyncPolicy::Batch),
            "always" => Ok(FsyncPolicy::Always),
            other => Err(format!(
                "unknown fsync policy {other:?} (expected never, batch or always)"
            )),
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsyncPolicy::Never => "never",
            FsyncPolicy::Batch => "batch",
            FsyncPolicy::Always => "always",
        })
    }
}

/// Why rows could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path} exists with a different header ({found:?}); expected {ARRIVALS_HEADER:?}")]
    HeaderMismatch { path: PathBuf, found: String },
    #[error("{path} already exists and holds rows; use a fresh directory, or pass --append to add to it")]
    Exists { path: PathBuf },
    #[error("the recorder failed earlier and accepts nothing more: {0}")]
    Failed(String),
    #[error("the recorder is shut down")]
    Closed,
}

/// The rows of one request, formatted, with the keys they carry.
pub struct Rows {
    /// CSV rows, each ending in `\n`.
    pub bytes: Vec<u8>,
    /// The distinct sources named in this request; `keys` index into it.
    pub sources: Vec<String>,
    /// `(index into sources, m, n)` of each row, in order.
    pub keys: Vec<(u32, u64, u64)>,
    /// The request's arrival time.
    pub recv_ns: u64,
}

impl Rows {
    /// Formats the rows of `items`, all received at `recv_ns`.
    pub fn format(recv_ns: u64, items: &[Item<'_>]) -> Rows {
        let mut bytes = Vec::with_capacity(items.len() * 64);
        let mut sources: Vec<String> = Vec::with_capacity(1);
        let mut keys = Vec::with_capacity(items.len());
        let mut ints = itoa::Buffer::new();
        for item in items {
            let source_index = match sources.iter().position(|s| *s == *item.source) {
                Some(i) => i,
                None => {
                    sources.push(item.source.to_string());
                    sources.len() - 1
                }
            };
            keys.push((source_index as u32, item.m, item.n));
            // Names are validated to a charset that needs no CSV quoting.
            bytes.extend_from_slice(ints.format(recv_ns).as_bytes());
            bytes.push(b',');
            bytes.extend_from_slice(item.source.as_bytes());
            bytes.push(b',');
            bytes.extend_from_slice(ints.format(item.m).as_bytes());
            bytes.push(b',');
            bytes.extend_from_slice(ints.format(item.n).as_bytes());
            bytes.push(b',');
            bytes.extend_from_slice(item.version.as_bytes());
            bytes.push(b',');
            if let Some(instance) = &item.instance {
                bytes.extend_from_slice(instance.as_bytes());
            }
            bytes.push(b',');
            if let Some(attempt) = item.attempt {
                bytes.extend_from_slice(ints.format(attempt).as_bytes());
            }
            bytes.push(b',');
            if let Some(sent_ns) = item.sent_ns {
                bytes.extend_from_slice(ints.format(sent_ns).as_bytes());
            }
            bytes.push(b'\n');
        }
        Rows {
            bytes,
            sources,
            keys,
            recv_ns,
        }
    }
}

/// Answers one write: `Err` carries why the recorder refused it.
type Ack = oneshot::Sender<Result<(), Arc<str>>>;

enum Message {
    Write(Rows, Ack),
    Close,
}

/// The handle request handlers use to record rows. Cheap to clone.
#[derive(Clone)]
pub struct RecorderHandle {
    via: Via,
}

#[derive(Clone)]
enum Via {
    /// To the writer thread.
    Thread(mpsc::Sender<Message>),
    /// Written by the request's own task (see [`Recorder::open_inline`]).
    Inline(Arc<std::sync::Mutex<Option<Writer>>>),
}

impl RecorderHandle {
    /// Records `rows`; returns once they are written (and synced, per the policy).
    pub async fn record(&self, rows: Rows) -> Result<(), RecordError> {
        let (ack_tx, mut ack_rx) = oneshot::channel();
        match &self.via {
            Via::Thread(tx) => tx
                .send(Message::Write(rows, ack_tx))
                .await
                .map_err(|_| RecordError::Closed)?,
            Via::Inline(writer) => {
                let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
                let Some(writer) = writer.as_mut() else {
                    return Err(RecordError::Closed);
                };
                writer.write_group(&mut vec![(rows, ack_tx)]);
                return match ack_rx.try_recv() {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(why)) => Err(RecordError::Failed(why.to_string())),
                    Err(_) => Err(RecordError::Closed),
                };
            }
        }
        match ack_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(RecordError::Failed(why.to_string())),
            // The writer exited with the message still queued: it was never written.
            Err(_) => Err(RecordError::Closed),
        }
    }
}

/// Owns the writer thread of one `arrivals.csv`.
pub struct Recorder {
    handle: RecorderHandle,
    stats: Arc<Stats>,
    path: PathBuf,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Recorder {
    /// Creates `dir/arrivals.csv` (or, with `append`, reopens one with the same header) and
    /// starts the writer. `queue_capacity` bounds the messages waiting for the writer.
    pub fn open(
        dir: &Path,
        policy: FsyncPolicy,
        queue_capacity: usize,
        append: bool,
    ) -> Result<Recorder, RecordError> {
        let (writer, path) = Writer::open(dir, policy, append)?;
        let stats = writer.stats.clone();
        let open_err = |source| RecordError::Open {
            path: path.clone(),
            source,
        };
        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("sink-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(open_err)?;
        Ok(Recorder {
            handle: RecorderHandle {
                via: Via::Thread(tx),
            },
            stats,
            path,
            thread: Some(thread),
        })
    }

    /// [`Recorder::open`] with no writer thread: each request writes its rows itself, under a
    /// lock, before it is answered. For a simulation on a runtime whose clock is paused,
    /// where a request waiting on another thread would let virtual time jump ahead.
    pub fn open_inline(
        dir: &Path,
        policy: FsyncPolicy,
        append: bool,
    ) -> Result<Recorder, RecordError> {
        let (writer, path) = Writer::open(dir, policy, append)?;
        Ok(Recorder {
            stats: writer.stats.clone(),
            handle: RecorderHandle {
                via: Via::Inline(Arc::new(std::sync::Mutex::new(Some(writer)))),
            },
            path,
            thread: None,
        })
    }
}

impl Writer {
    fn open(
        dir: &Path,
        policy: FsyncPolicy,
        append: bool,
    ) -> Result<(Writer, PathBuf), RecordError> {
        let path = dir.join(ARRIVALS_FILE);
        let open_err = |source| RecordError::Open {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(open_err)?;
        // A crash mid-write leaves a torn last row: cut it before anything is appended.
        let torn = if append {
            crate::torn::cut_torn_tail(&path).map_err(open_err)?
        } else {
            0
        };
        if torn > 0 {
            tracing::warn!(
                path = %path.display(),
                bytes = torn,
                "the last row was torn (a crash mid-write) and was cut off; no acknowledged row is lost"
            );
        }
        let existing_header = match File::open(&path) {
            Ok(f) => {
                let mut first = String::new();
                BufReader::new(f).read_line(&mut first).map_err(open_err)?;
                Some(first.trim_end().to_owned())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(open_err(e)),
        };
        let file = match existing_header {
            Some(header) if header.is_empty() => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(open_err)?;
                writeln!(f, "{ARRIVALS_HEADER}").map_err(open_err)?;
                f
            }
            Some(_) if !append => return Err(RecordError::Exists { path }),
            Some(header) if header != ARRIVALS_HEADER => {
                return Err(RecordError::HeaderMismatch {
                    path,
                    found: header,
                })
            }
            Some(_) => OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(open_err)?,
            None => {
                let mut f = File::create(&path).map_err(open_err)?;
                writeln!(f, "{ARRIVALS_HEADER}").map_err(open_err)?;
                f
            }
        };
        file.sync_all().map_err(open_err)?;
        let stats = Arc::new(Stats::default());
        stats
            .torn_bytes_cut
            .store(torn, std::sync::atomic::Ordering::Relaxed);
        let writer = Writer {
            file,
            policy,
            stats,
            keys: HashMap::new(),
            source_ids: HashMap::new(),
            failed: None,
            buf: Vec::with_capacity(1 << 20),
        };
        Ok((writer, path))
    }
}

impl Recorder {
    pub fn handle(&self) -> RecorderHandle {
        self.handle.clone()
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after every message already queued, syncs the file and waits for it.
    /// Messages sent after this are answered with [`RecordError::Closed`], never lost silently.
    pub async fn close(mut self) -> io::Result<()> {
        let tx = match &self.handle.via {
            Via::Thread(tx) => tx,
            Via::Inline(writer) => {
                let writer = writer.lock().unwrap_or_else(|e| e.into_inner()).take();
                return writer.map_or(Ok(()), |w| w.file.sync_all());
            }
        };
        // The queue may be full of writes; Close waits its turn behind them.
        let _ = tx.send(Message::Close).await;
        let thread = self.thread.take().expect("closed once");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("sink writer thread panicked"))?
    }
}

struct Writer {
    file: File,
    policy: FsyncPolicy,
    stats: Arc<Stats>,
    /// Arrivals so far per key, saturating; bounded by [`MAX_TRACKED_KEYS`].
    keys: HashMap<(u32, u64, u64), u32>,
    source_ids: HashMap<String, u32>,
    /// Set on the first write error; every later message is refused with it.
    failed: Option<Arc<str>>,
    buf: Vec<u8>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) -> io::Result<()> {
        let mut group: Vec<(Rows, Ack)> = Vec::new();
        let mut closing = false;
        while !closing {
            match rx.blocking_recv() {
                Some(Message::Write(rows, ack)) => group.push((rows, ack)),
                Some(Message::Close) | None => break,
            }
            while group.len() < MAX_GROUP_MESSAGES {
                match rx.try_recv() {
                    Ok(Message::Write(rows, ack)) => group.push((rows, ack)),
                    Ok(Message::Close) => {
                        closing = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write_group(&mut group);
        }
        // Anything still queued is dropped unacknowledged: its senders see `Closed`.
        rx.close();
        self.file.sync_all()
    }

    fn write_group(&mut self, group: &mut Vec<(Rows, Ack)>) {
        if let Some(why) = &self.failed {
            for (_, ack) in group.drain(..) {
                let _ = ack.send(Err(why.clone()));
            }
            return;
        }
        let result = match self.policy {
            FsyncPolicy::Always => group.iter().try_for_each(|(rows, _)| {
                self.file.write_all(&rows.bytes)?;
                self.file.sync_data()
            }),
            FsyncPolicy::Batch | FsyncPolicy::Never => {
                self.buf.clear();
                for (rows, _) in group.iter() {
                    self.buf.extend_from_slice(&rows.bytes);
                }
                let written = self.file.write_all(&self.buf);
                if self.policy == FsyncPolicy::Batch {
                    written.and_then(|()| self.file.sync_data())
                } else {
                    written
                }
            }
        };
        match result {
            Ok(()) => {
                for (rows, _) in group.iter() {
                    self.count(rows);
                }
                self.stats.groups_written.fetch_add(1, Ordering::Relaxed);
                for (_, ack) in group.drain(..) {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "writing arrivals failed; refusing all further items");
                let why: Arc<str> = format!("writing arrivals failed: {e}").into();
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                self.stats.failed.store(true, Ordering::Relaxed);
                self.failed = Some(why.clone());
                for (_, ack) in group.drain(..) {
                    let _ = ack.send(Err(why.clone()));
                }
            }
        }
    }

    fn count(&mut self, rows: &Rows) {
        let ids: Vec<u32> = rows
            .sources
            .iter()
            .map(|s| match self.source_ids.get(s) {
                Some(&id) => id,
                None => {
                    let next = self.source_ids.len() as u32;
                    self.source_ids.insert(s.clone(), next);
                    next
                }
            })
            .collect();
        let stats = &self.stats;
        stats
            .items
            .fetch_add(rows.keys.len() as u64, Ordering::Relaxed);
        stats.requests_ok.fetch_add(1, Ordering::Relaxed);
        stats
            .last_arrival_ns
            .fetch_max(rows.recv_ns, Ordering::Relaxed);
        for &(source, m, n) in &rows.keys {
            let key = (ids[source as usize], m, n);
            let tracked = self.keys.len() < MAX_TRACKED_KEYS;
            match self.keys.get_mut(&key) {
                Some(count) => {
                    *count = count.saturating_add(1);
                    stats.duplicate_items.fetch_add(1, Ordering::Relaxed);
                    if *count == 2 {
                        stats.duplicated_keys.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None if tracked => {
                    self.keys.insert(key, 1);
                    stats.distinct_keys.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    stats.keys_untracked.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}
