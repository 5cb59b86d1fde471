//! The traces writer: one row per line an instance writes on stderr, stamped by the host as
//! it arrives (`traces.csv`: `t_ns,instance,version`), as a platform's log pipeline
//! (Application Insights' `traces` table) captures an app's logs. The log-based completion
//! estimate reads it; the lines themselves stay in `instances/<id>.log`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A cheap-to-clone handle on the run's `traces.csv`.
#[derive(Clone)]
pub struct Traces {
    writer: Arc<Mutex<Option<BufWriter<File>>>>,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traces")
    }
}

impl Traces {
    /// A `traces.csv` at `path`, created with its header.
    pub fn create(path: &Path) -> std::io::Result<Traces> {
        let mut w = BufWriter::new(File::create(path)?);
        writeln!(w, "{}", reports::rundir::TRACES_HEADER)?;
        w.flush()?;
        Ok(Traces {
            writer: Arc::new(Mutex::new(Some(w))),
        })
    }

    /// Records one line of `instance` (ids and versions are the host's own: no commas).
    pub fn record(&self, t_ns: i64, instance: &str, version: &str) {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = guard.as_mut() else { return };
        // Flushed per line: a run that dies still leaves what its instances logged.
        if let Err(e) = writeln!(w, "{t_ns},{instance},{version}").and_then(|()| w.flush()) {
            tracing::error!(error = %e, "writing traces.csv failed; no more traces are kept");
            *guard = None;
        }
    }
}
