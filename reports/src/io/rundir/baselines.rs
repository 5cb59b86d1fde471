//! Saved baselines: runs kept by name, to compare a new run against.

use std::io;
use std::path::{Path, PathBuf};

use super::names::{LEDGER_FILE, SUMMARY_FILE};

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
