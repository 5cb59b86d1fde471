//! Why an advice could not be given: the comparison directory could not be read, or the
//! options name something it does not hold.

use std::path::PathBuf;

use crate::io::rundir::RunDirError;

/// Why the advice could not be given.
#[derive(Debug, thiserror::Error)]
pub enum AdviceError {
    /// A directory of the comparison could not be listed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `summary.json` that cannot be read (malformed, or of another schema); names it.
    #[error(transparent)]
    Summary(#[from] RunDirError),
    /// The directory given is one run's, not a comparison's.
    #[error("{} is a run directory; advice reads a comparison directory (NAME/run-K/summary.json), as `harness compare` writes", path.display())]
    RunDirectory { path: PathBuf },
    /// `--case` names a case no run measured.
    #[error("case {case:?} is not in the comparison (its cases: {})", present.join(", "))]
    UnknownCase { case: String, present: Vec<String> },
    /// A significance level outside (0, 1).
    #[error("--alpha must be above 0 and below 1 (got {0})")]
    Alpha(f64),
}
