//! What a sweep is, as plain data: its manifest (`sweep.json`: the keys varied, their
//! values, the points, the scenarios) and its runs.

use serde::{Deserialize, Serialize};

use crate::analysis::advice::RunData;

/// The schema `sweep.json` is written in.
pub const SWEEP_SCHEMA: &str = "update-harness/sweep/1";
/// The sweep's manifest, in the sweep directory.
pub const SWEEP_FILE: &str = "sweep.json";

/// What a sweep varied and ran: `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SWEEP_SCHEMA`].
    pub schema: String,
    /// The keys varied, in the order given, each with its values in the order given.
    pub keys: Vec<Axis>,
    /// Every combination of the keys' values, the first key's changing slowest.
    pub points: Vec<Point>,
    /// The scenarios run at every point, in the order given.
    pub scenarios: Vec<ScenarioEntry>,
    /// Runs of each scenario at each point.
    pub repeat: u32,
}

/// One varied key and its values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The key as a scenario file writes it: `swap.recycle_after`.
    pub key: String,
    /// The unit of the values' `x`: `ms` for durations; `None` for plain numbers or text.
    pub unit: Option<String>,
    pub values: Vec<AxisValue>,
}

/// One value of a varied key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisValue {
    /// As written into the scenario: `2s`, `10`, `kill`.
    pub text: String,
    /// Its place on a plot's axis (a duration in ms); `None` for text.
    pub x: Option<f64>,
}

/// One point of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// `KEY=VALUE[,KEY=VALUE...]`, as a file name: the point's directory.
    pub label: String,
    /// For each key, the index of its value.
    pub at: Vec<usize>,
}

/// A scenario of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioEntry {
    pub name: String,
    pub strategy: String,
    /// The scenario file as given.
    pub file: String,
}

impl Manifest {
    pub fn new(
        keys: Vec<Axis>,
        points: Vec<Point>,
        scenarios: Vec<ScenarioEntry>,
        repeat: u32,
    ) -> Manifest {
        Manifest {
            schema: SWEEP_SCHEMA.to_owned(),
            keys,
            points,
            scenarios,
            repeat,
        }
    }

    /// The value of key `key` at point `point`.
    pub fn value(&self, point: usize, key: usize) -> &AxisValue {
        &self.keys[key].values[self.points[point].at[key]]
    }

    /// The point whose values are `at`, one index per key.
    pub fn point_at(&self, at: &[usize]) -> Option<usize> {
        self.points.iter().position(|p| p.at == at)
    }
}

impl Axis {
    /// Whether every value has a place on a numeric axis.
    pub fn numeric(&self) -> bool {
        self.values.iter().all(|v| v.x.is_some())
    }

    /// The values' indexes in axis order: by `x` on a numeric axis, else as given.
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        if self.numeric() {
            order.sort_by(|&a, &b| {
                let (a, b) = (self.values[a].x, self.values[b].x);
                a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        order
    }

    /// The axis's title: the key, with its unit.
    pub fn title(&self) -> String {
        match &self.unit {
            Some(u) => format!("{} ({u})", self.key),
            None => self.key.clone(),
        }
    }
}

/// One run of a sweep, as the advice reads a run of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRun {
    /// The index of its point in [`Manifest::points`].
    pub point: usize,
    /// Its strategy, case, validity and every metric it measured (lateness with nothing
    /// delivered counts as 0, as in a comparison). `data.run` is relative to the point's
    /// directory: `seed-swap/run-2`.
    pub data: RunData,
    /// Thresholds of its scenario it failed, as `threshold (metric = value)`.
    pub threshold_failures: Vec<String>,
}
