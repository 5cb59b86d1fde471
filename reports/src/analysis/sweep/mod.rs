//! A sweep: the same scenarios run at every point of a grid of scenario settings
//! (`harness sweep --vary KEY=SPEC`), and every metric as a function of the settings.
//!
//! A sweep directory holds `sweep.json` (the [`Manifest`]: the keys varied, their values,
//! the points, the scenarios) and, for each point, a comparison directory
//! `POINT/NAME/run-K/` as `harness compare` writes one, so each point can be read, and
//! advised on, as a comparison. [`analyse`] gives, per scenario and point, the statistics
//! of every metric of [`Metric::ALL`] over the valid runs ([`crate::compare::stats`]);
//! [`range`] says whether the advice holds across the points or where it flips.
//! [`crate::sweep_report`] renders both.
//!
//! ```
//! use reports::sweep::{analyse, Axis, AxisValue, Manifest, Point, ScenarioEntry};
//! let manifest = Manifest::new(
//!     vec![Axis {
//!         key: "workload.items".into(),
//!         unit: None,
//!         values: vec![AxisValue { text: "5".into(), x: Some(5.0) }],
//!     }],
//!     vec![Point { label: "workload.items=5".into(), at: vec![0] }],
//!     vec![ScenarioEntry { name: "seed-swap".into(), strategy: "swap".into(), file: "seed-swap.toml".into() }],
//!     1,
//! );
//! let sweep = analyse(manifest, &[]);
//! assert_eq!(sweep.cells.len(), 1);
//! assert_eq!(sweep.cells[0].runs, 0);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analysis::advice::{load_comparison, AdviceError};
use crate::analysis::compare::{stats, Stats};
use crate::model::metric::Metric;

mod model;
mod range;

pub use model::{
    Axis, AxisValue, Manifest, Point, ScenarioEntry, SweepRun, SWEEP_FILE, SWEEP_SCHEMA,
};
pub use range::{range, Flip, PointAdvice, RangeAdvice, RANGE_ADVICE_SCHEMA};

/// One scenario at one point.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub scenario: String,
    pub strategy: String,
    /// The index of its point in [`Manifest::points`].
    pub point: usize,
    /// Its runs, failed ones included.
    pub runs: usize,
    /// `(run, why)` of every failed run, never averaged in.
    pub failed: Vec<(String, String)>,
    /// `(run, threshold (metric = value))` of every threshold a run failed; such a run was
    /// measured, so it is averaged in.
    pub threshold_failures: Vec<(String, String)>,
    /// Every metric some valid run measured, over those runs.
    pub stats: BTreeMap<Metric, Stats>,
}

/// The analysed sweep: a cell per scenario (in the manifest's order) and point (in grid
/// order).
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    pub manifest: Manifest,
    pub cells: Vec<Cell>,
}

impl Sweep {
    /// Scenario `scenario` at point `point`.
    pub fn cell(&self, scenario: &str, point: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.scenario == scenario && c.point == point)
    }

    /// Whether some valid run of the sweep measured `metric`.
    pub fn measured(&self, metric: Metric) -> bool {
        self.cells.iter().any(|c| c.stats.contains_key(&metric))
    }
}

/// The statistics of every metric per scenario and point. A run belongs to the scenario of
/// the manifest its `data.scenario` names; a failed run is listed, never averaged in.
pub fn analyse(manifest: Manifest, runs: &[SweepRun]) -> Sweep {
    let mut cells = Vec::new();
    for entry in &manifest.scenarios {
        for point in 0..manifest.points.len() {
            let these: Vec<&SweepRun> = runs
                .iter()
                .filter(|r| r.point == point && r.data.scenario == entry.name)
                .collect();
            let mut values: BTreeMap<Metric, Vec<f64>> = BTreeMap::new();
            let mut failed = Vec::new();
            for r in &these {
                if r.data.is_valid() {
                    for (m, v) in &r.data.values {
                        values.entry(*m).or_default().push(*v);
                    }
                } else {
                    let why = if r.data.invalid.is_empty() {
                        "its summary names no strategy".to_owned()
                    } else {
                        r.data.invalid.join("; ")
                    };
                    failed.push((r.data.run.clone(), why));
                }
            }
            let threshold_failures = these
                .iter()
                .flat_map(|r| {
                    r.threshold_failures
                        .iter()
                        .map(|f| (r.data.run.clone(), f.clone()))
                })
                .collect();
            cells.push(Cell {
                scenario: entry.name.clone(),
                strategy: entry.strategy.clone(),
                point,
                runs: these.len(),
                failed,
                threshold_failures,
                stats: values
                    .iter()
                    .filter_map(|(m, v)| stats(v).map(|s| (*m, s)))
                    .collect(),
            });
        }
    }
    Sweep { manifest, cells }
}

/// Why a sweep directory cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    Manifest { path: PathBuf, why: String },
    /// A point's comparison directory could not be read.
    #[error(transparent)]
    Runs(#[from] AdviceError),
}

/// Whether `dir` is a sweep directory (it holds `sweep.json`).
pub fn is_sweep(dir: &Path) -> bool {
    dir.join(SWEEP_FILE).is_file()
}

/// Reads a sweep directory: its manifest, and every run of every point from the point's
/// comparison directory, as `harness advise` reads a comparison.
pub fn load(dir: &Path) -> Result<(Manifest, Vec<SweepRun>), SweepError> {
    let path = dir.join(SWEEP_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| SweepError::Io {
        path: path.clone(),
        source,
    })?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| SweepError::Manifest {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if manifest.schema != SWEEP_SCHEMA {
        return Err(SweepError::Manifest {
            path,
            why: format!("schema {:?}, not {SWEEP_SCHEMA:?}", manifest.schema),
        });
    }
    let mut runs = Vec::new();
    for (index, point) in manifest.points.iter().enumerate() {
        let point_dir = dir.join(&point.label);
        if !point_dir.is_dir() {
            continue;
        }
        for data in load_comparison(&point_dir)? {
            runs.push(SweepRun {
                point: index,
                data,
                threshold_failures: Vec::new(),
            });
        }
    }
    Ok((manifest, runs))
}

#[cfg(test)]
mod tests;
