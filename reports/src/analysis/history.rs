//! A whole run held in memory, and the series the renderers draw, derived from it.
//!
//! [`History::load`] reads every file of a run directory; the methods here turn the raw
//! facts into plain data (phase bands, per-arrival classes, lateness values), taking each
//! key's first arrival, its lateness and whether it is late from the checker. Renderers
//! draw that data and compute nothing of the verdict themselves.

use crate::io::rundir::{RunDir, RunDirError};
use crate::model::arrival::Arrival;
use crate::model::expected::ExpectedSpec;
use crate::model::ledger::{Kind, LedgerEvent};
use crate::model::probe::Probe;
use crate::model::summary::{RunInfo, Summary};
use crate::model::verdict::Verdict;

/// Every file of a run, loaded.
pub struct History {
    pub expected: ExpectedSpec,
    pub arrivals: Vec<Arrival>,
    pub probes: Vec<Probe>,
    pub ledger: Vec<LedgerEvent>,
    pub run: Option<RunInfo>,
    pub verdict: Verdict,
    /// The scenario file the run was made from, if the run directory keeps a copy.
    pub scenario_text: Option<String>,
    /// The summary's judgement, if it has a summary.
    pub summary_extras: Option<Judged>,
    /// The earliest arrival of each expected key, computed once for every series.
    first: std::sync::OnceLock<Vec<Option<(i64, usize)>>>,
}

/// What a run's summary says of it beyond the verdict.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Judged {
    pub thresholds: Vec<crate::analysis::threshold::Outcome>,
    pub budgets: Vec<crate::model::budget::BudgetOutcome>,
    /// Why the run is invalid, if it is.
    pub invalid: Vec<String>,
}

/// A phase of the update, for shading: from `phase_begun` to its `phase_ended`.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseBand {
    pub name: String,
    pub version: String,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// What one arrival row was, for the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalClass {
    /// The first arrival of its key, on time.
    OnTime,
    /// The first arrival of its key, late.
    Late,
    /// A second or later arrival of its key.
    Copy,
    /// Its key is not expected.
    Unexpected,
}

/// A point of the timeline: one arrival, or one lost item at its scheduled time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelinePoint {
    pub t_ns: i64,
    /// Item ordinal: occurrence, then iteration, sources stacked.
    pub ordinal: u64,
    pub version: Option<String>,
    pub class: Option<ArrivalClass>,
}

impl History {
    /// Reads a run directory; the verdict comes from `summary.json` when present, else from
    /// checking the files.
    pub fn load(run: &RunDir) -> Result<History, RunDirError> {
        let summary = run.read_summary()?;
        let verdict = match &summary {
            Some(s) => s.verdict.clone(),
            None => crate::analysis::checker::check_run(run)?,
        };
        let summary_extras = summary.as_ref().map(|s| Judged {
            thresholds: s.thresholds.clone(),
            budgets: s.budgets.clone(),
            invalid: s.invalid.clone(),
        });
        Ok(History {
            expected: run.read_expected()?,
            arrivals: run.read_arrivals()?,
            probes: run.read_probes()?,
            ledger: run.read_ledger()?,
            run: summary.map(|s: Summary| s.run),
            verdict,
            scenario_text: std::fs::read_to_string(run.file("scenario.toml")).ok(),
            summary_extras,
            first: std::sync::OnceLock::new(),
        })
    }

    /// The time origin of plots: the first source's schedule epoch.
    pub fn origin_ns(&self) -> i64 {
        self.expected.sources.first().map_or(0, |s| s.epoch_ns)
    }

    /// Total ordinals (the timeline's y range): the grids' cells, one per expected key
    /// (under a demand schedule, some cells expect none).
    pub fn ordinal_count(&self) -> u64 {
        self.expected.sources.iter().map(|s| s.grid_len()).sum()
    }

    /// The ordinal of a key, if it is expected.
    pub fn ordinal(&self, source: &str, m: u64, n: u64) -> Option<u64> {
        let mut base = 0;
        for s in &self.expected.sources {
            if s.source == source {
                return s.index(m, n).map(|i| base + i as u64);
            }
            base += s.grid_len();
        }
        None
    }

    /// Phases of the update, in start order. A phase never ended closes at the last event.
    pub fn phases(&self) -> Vec<PhaseBand> {
        let last = self.ledger.iter().map(|e| e.t_ns).max().unwrap_or(0);
        let mut open: Vec<PhaseBand> = Vec::new();
        let mut done = Vec::new();
        let mut events: Vec<&LedgerEvent> = self.ledger.iter().collect();
        events.sort_by_key(|e| e.t_ns);
        for e in events {
            let Some(name) = e.get("phase") else { continue };
            match e.event {
                Kind::PhaseBegun => open.push(PhaseBand {
                    name: name.to_owned(),
                    version: e.version.clone(),
                    start_ns: e.t_ns,
                    end_ns: last,
                }),
                Kind::PhaseEnded => {
                    if let Some(i) = open
                        .iter()
                        .position(|p| p.name == name && p.version == e.version)
                    {
                        let mut p = open.remove(i);
                        p.end_ns = e.t_ns;
                        done.push(p);
                    }
                }
                _ => {}
            }
        }
        done.extend(open);
        done.sort_by_key(|p| p.start_ns);
        done
    }

    /// Times at which instances were killed or stopped.
    pub fn instance_ends(&self) -> Vec<(i64, String)> {
        self.ledger
            .iter()
            .filter(|e| e.event == Kind::InstanceKilled || e.event == Kind::InstanceStopped)
            .map(|e| (e.t_ns, e.instance.clone()))
            .collect()
    }

    /// The earliest arrival of every expected key, by ordinal: `(recv_ns, row index)`.
    /// A dense vector over the expected grid, like the checker's, built once.
    fn first_arrivals(&self) -> &[Option<(i64, usize)>] {
        self.first.get_or_init(|| self.compute_first_arrivals())
    }

    /// The first arrivals come from the checker's own grid, so the plots and the verdict
    /// cannot disagree on which copy came first; a second pass finds that copy's row (the
    /// first row in file order at that time, as the checker's strict `<` keeps).
    fn compute_first_arrivals(&self) -> Vec<Option<(i64, usize)>> {
        let firsts = match crate::analysis::checker::Checker::new(&self.expected) {
            Ok(mut checker) => {
                for a in &self.arrivals {
                    checker.push(&a.as_ref());
                }
                checker.first_arrivals_ns()
            }
            Err(_) => vec![None; self.ordinal_count() as usize],
        };
        let mut first: Vec<Option<(i64, usize)>> = vec![None; firsts.len()];
        for (i, a) in self.arrivals.iter().enumerate() {
            if let Some(o) = self.ordinal(&a.source, a.m, a.n) {
                let o = o as usize;
                if first[o].is_none() && firsts[o] == Some(a.recv_ns) {
                    first[o] = Some((a.recv_ns, i));
                }
            }
        }
        first
    }

    /// Every arrival of an expected key as a timeline point, classified.
    pub fn timeline(&self) -> Vec<TimelinePoint> {
        let late_after = self.expected.late_after_ns;
        let first = self.first_arrivals();
        let mut points = Vec::with_capacity(self.arrivals.len());
        for (i, a) in self.arrivals.iter().enumerate() {
            let Some(ordinal) = self.ordinal(&a.source, a.m, a.n) else {
                continue;
            };
            let (_, first_index) = first[ordinal as usize].expect("this arrival counts");
            let class = if first_index != i {
                ArrivalClass::Copy
            } else if self
                .scheduled(&a.source, a.m, a.n)
                .is_some_and(|s| crate::analysis::key_grid::is_late(a.recv_ns, s, late_after))
            {
                ArrivalClass::Late
            } else {
                ArrivalClass::OnTime
            };
            points.push(TimelinePoint {
                t_ns: a.recv_ns,
                ordinal,
                version: Some(a.version.clone()),
                class: Some(class),
            });
        }
        points
    }

    /// Lost items (every one, not only the listed ones) at their scheduled times.
    pub fn lost_points(&self) -> Vec<TimelinePoint> {
        let first = self.first_arrivals();
        let mut out = Vec::new();
        let mut base = 0u64;
        for s in &self.expected.sources {
            for i in 0..s.grid_len() as usize {
                if first[base as usize + i].is_none() && s.expects_cell(i) {
                    let (m, n) = s.key_at(i);
                    out.push(TimelinePoint {
                        t_ns: s.scheduled_ns(m, n),
                        ordinal: base + i as u64,
                        version: None,
                        class: None,
                    });
                }
            }
            base += s.grid_len();
        }
        out
    }

    pub fn scheduled(&self, source: &str, m: u64, n: u64) -> Option<i64> {
        self.expected
            .sources
            .iter()
            .find(|s| s.source == source)
            .map(|s| s.scheduled_ns(m, n))
    }

    /// `first arrival - scheduled` of every delivered key, in ms, negative counted as 0.
    pub fn lateness_ms(&self) -> Vec<f64> {
        let first = self.first_arrivals();
        let mut out = Vec::new();
        let mut base = 0usize;
        for s in &self.expected.sources {
            for i in 0..s.grid_len() as usize {
                if let Some((t, _)) = first[base + i] {
                    let (m, n) = s.key_at(i);
                    let ns = crate::analysis::key_grid::lateness_ns_of(t, s.scheduled_ns(m, n));
                    out.push(ns as f64 / 1e6);
                }
            }
            base += s.grid_len() as usize;
        }
        out
    }

    /// Versions in order of first appearance (the colour order of plots).
    pub fn versions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.arrivals {
            if !out.contains(&a.version) {
                out.push(a.version.clone());
            }
        }
        out
    }
}
