//! The checker: a recorded history in, a [`Verdict`] out.
//!
//! It streams over the arrivals: each row updates one cell of its source's dense grid of
//! expected keys (first arrival, copies, flags), so memory grows with the expected keys, not
//! with the rows. Probes and the ledger are small and are read whole at [`Checker::finish`].
//!
//! ```
//! use reports::{check, Arrival, ExpectedSpec, SourceSpec};
//! let spec = ExpectedSpec {
//!     sources: vec![SourceSpec { source: "tick".into(), epoch_ns: 0, period_ns: 100,
//!         items: 2, item_delay_ns: 10, first: 0, last: 0, counts: None }],
//!     late_after_ns: 50,
//!     completion: None,
//! };
//! let arrivals = [Arrival::new(5, "tick", 0, 0, "A"), Arrival::new(90, "tick", 0, 1, "A")];
//! let verdict = check(&spec, &arrivals, &[], &[]).unwrap();
//! assert_eq!((verdict.delivered, verdict.late, verdict.ok), (2, 1, 1));
//! ```

use hdrhistogram::Histogram;

pub use crate::analysis::key_grid::{is_late, lateness_ns_of, ItemCounts, KeyGrid};
use crate::analysis::key_grid::{Cell, FLAG_RETRIED, VERSION_SHIFT, VERSION_UNKNOWN};
use crate::io::rundir::{RunDir, RunDirError};
use crate::model::arrival::{Arrival, ArrivalRef};
use crate::model::expected::{ExpectedSpec, SpecError};
use crate::model::ledger::LedgerEvent;
use crate::model::probe::Probe;
use crate::model::verdict::{ns_to_ms, Causes, ItemNote, Quantiles, UnexpectedCauses, Verdict};

/// How many entries each item list of the verdict keeps.
pub const DEFAULT_LISTED_LIMIT: usize = 1000;

/// Arrival times held back to sort out-of-order rows before measuring gaps (8 MiB).
const GAP_REORDER_WINDOW: usize = 1 << 20;

const NOT_ARRIVED: i64 = i64::MAX;

mod causes;
mod downtime;
mod gaps;

use causes::{duplicate_cause, Invocation, LedgerIndex, Outcome};
pub use downtime::{downtime, downtime_by_series, union};
use downtime::{downtime_of, exclude_control, series_of};
use gaps::GapTracker;

/// Streams arrivals into per-key cells; [`Checker::finish`] derives the verdict.
pub struct Checker {
    spec: ExpectedSpec,
    grids: Vec<Vec<Cell>>,
    /// Source of the previous row, tried first: rows of one source come in long runs.
    last_source: usize,
    versions: Vec<String>,
    arrivals: u64,
    unexpected: UnexpectedCauses,
    unexpected_items: Vec<ItemNote>,
    gaps: GapTracker,
    listed_limit: usize,
}

impl Checker {
    pub fn new(spec: &ExpectedSpec) -> Result<Checker, SpecError> {
        spec.validate()?;
        let empty = Cell {
            first_ns: NOT_ARRIVED,
            copies: 0,
            flags: VERSION_UNKNOWN << VERSION_SHIFT,
        };
        Ok(Checker {
            grids: spec
                .sources
                .iter()
                .map(|s| vec![empty; s.grid_len() as usize])
                .collect(),
            spec: spec.clone(),
            last_source: 0,
            versions: Vec::new(),
            arrivals: 0,
            unexpected: UnexpectedCauses::default(),
            unexpected_items: Vec::new(),
            gaps: GapTracker::new(GAP_REORDER_WINDOW),
            listed_limit: DEFAULT_LISTED_LIMIT,
        })
    }

    /// Caps each item list of the verdict (counts stay exact).
    pub fn with_listed_limit(mut self, limit: usize) -> Checker {
        self.listed_limit = limit;
        self
    }

    fn source_index(&mut self, source: &str) -> Option<usize> {
        let sources = &self.spec.sources;
        if sources
            .get(self.last_source)
            .is_some_and(|s| s.source == source)
        {
            return Some(self.last_source);
        }
        let found = sources.iter().position(|s| s.source == source)?;
        self.last_source = found;
        Some(found)
    }

    fn version_index(&mut self, version: &str) -> u32 {
        if let Some(i) = self.versions.iter().position(|v| v == version) {
            return i as u32;
        }
        if self.versions.len() >= VERSION_UNKNOWN as usize {
            return VERSION_UNKNOWN;
        }
        self.versions.push(version.to_owned());
        (self.versions.len() - 1) as u32
    }

    /// Each expected key's first arrival so far (`recv_ns`), in ordinal order (sources
    /// stacked in the spec's order, then `m`, then `n`): the grid the verdict is judged from,
    /// for series that draw it (the timeline, the lateness histogram).
    pub fn first_arrivals_ns(&self) -> Vec<Option<i64>> {
        self.grids
            .iter()
            .flatten()
            .map(|c| (c.first_ns != NOT_ARRIVED).then_some(c.first_ns))
            .collect()
    }

    /// Takes one arrival row, in the order the sink recorded them.
    pub fn push(&mut self, a: &ArrivalRef<'_>) {
        self.arrivals += 1;
        let Some(si) = self.source_index(a.source) else {
            self.unexpected.unknown_source += 1;
            self.note_unexpected(a, "unknown_source");
            return;
        };
        let spec = &self.spec.sources[si];
        let Some(index) = spec.index(a.m, a.n) else {
            let why = if a.m < spec.first || a.m > spec.last {
                self.unexpected.outside_window += 1;
                "outside_window"
            } else {
                self.unexpected.past_loop += 1;
                "past_loop"
            };
            self.note_unexpected(a, why);
            return;
        };
        let version = if a.recv_ns < self.grids[si][index].first_ns {
            Some(self.version_index(a.version))
        } else {
            None
        };
        let cell = &mut self.grids[si][index];
        if let Some(v) = version {
            cell.first_ns = a.recv_ns;
            cell.flags = (cell.flags & !(0xFFFF << VERSION_SHIFT)) | (v << VERSION_SHIFT);
        }
        cell.copies = cell.copies.saturating_add(1);
        if a.attempt.is_some_and(|t| t > 1) {
            cell.flags |= FLAG_RETRIED;
        }
        self.gaps.push(a.recv_ns);
    }

    fn note_unexpected(&mut self, a: &ArrivalRef<'_>, why: &str) {
        if self.unexpected_items.len() < self.listed_limit {
            self.unexpected_items.push(ItemNote {
                source: a.source.to_owned(),
                m: a.m,
                n: a.n,
                version: Some(a.version.to_owned()),
                cause: Some(why.to_owned()),
                copies: None,
                lateness_ms: None,
            });
        }
    }

    /// Derives the verdict from the cells, the probes and the ledger.
    pub fn finish(self, probes: &[Probe], ledger: &[LedgerEvent]) -> Verdict {
        self.finish_with_grid(probes, ledger).0
    }

    /// [`Checker::finish`], keeping the cells: the analyses that count items by when they
    /// were due (a rollback, a fault) then count every item, not only the listed ones.
    pub fn finish_with_grid(
        mut self,
        probes: &[Probe],
        ledger: &[LedgerEvent],
    ) -> (Verdict, KeyGrid) {
        let limit = self.listed_limit;
        let index = LedgerIndex::build(&self.spec, ledger);
        let mut v = Verdict {
            instances: crate::model::lifecycle::lives(ledger),
            expected: self.spec.key_count(),
            arrivals: self.arrivals,
            late_after_ms: ns_to_ms(self.spec.late_after_ns),
            listed_limit: limit,
            unexpected: self.unexpected.outside_window
                + self.unexpected.past_loop
                + self.unexpected.unknown_source,
            unexpected_items: std::mem::take(&mut self.unexpected_items),
            causes: Causes {
                unexpected: std::mem::take(&mut self.unexpected),
                ..Causes::default()
            },
            ..Verdict::default()
        };
        // Lateness up to about 35 years in ns, 3 significant digits (0.1% resolution).
        let mut lateness = Histogram::<u64>::new(3).expect("valid histogram precision");
        let mut lateness_max_ns = 0_i64;
        let no_invocations: Vec<Invocation> = Vec::new();
        for (si, spec) in self.spec.sources.iter().enumerate() {
            let grid = &self.grids[si];
            let items = spec.items as usize;
            for (row, cells) in grid.chunks(items).enumerate() {
                let m = spec.first + row as u64;
                let invocations = index.invocations.get(&(si, m)).unwrap_or(&no_invocations);
                // Under a demand schedule the cells past the occurrence's count expect nothing.
                let count = spec.count(m) as usize;
                for (n, cell) in cells.iter().enumerate().take(count) {
                    let n = n as u64;
                    let covering = || invocations.iter().filter(move |i| i.covers(n));
                    if cell.copies == 0 {
                        v.lost += 1;
                        let cause = index.lost_cause(si, m, n, covering());
                        v.causes.lost.count(cause);
                        if v.lost_items.len() < limit {
                            v.lost_items.push(ItemNote {
                                source: spec.source.clone(),
                                m,
                                n,
                                version: covering().next_back().map(|i| i.version.clone()),
                                cause: Some(cause.as_str().to_owned()),
                                copies: None,
                                lateness_ms: None,
                            });
                        }
                        continue;
                    }
                    v.delivered += 1;
                    let version = match cell.flags >> VERSION_SHIFT {
                        VERSION_UNKNOWN => None,
                        i => self.versions.get(i as usize).cloned(),
                    };
                    let clamped = lateness_ns_of(cell.first_ns, spec.scheduled_ns(m, n));
                    lateness_max_ns = lateness_max_ns.max(clamped);
                    // The histogram auto-resizes, so recording cannot fail on range; a failure would
                    // only drop this key from the quantiles, never from the counts.
                    let _ = lateness.record(clamped as u64);
                    let late = is_late(
                        cell.first_ns,
                        spec.scheduled_ns(m, n),
                        self.spec.late_after_ns,
                    );
                    if late {
                        v.late += 1;
                        if v.late_items.len() < limit {
                            v.late_items.push(ItemNote {
                                source: spec.source.clone(),
                                m,
                                n,
                                version: version.clone(),
                                cause: None,
                                copies: Some(cell.copies),
                                lateness_ms: Some(ns_to_ms(clamped)),
                            });
                        }
                    }
                    if cell.copies > 1 {
                        v.duplicated += 1;
                        v.extra_copies += u64::from(cell.copies - 1);
                        let cause = duplicate_cause(cell, covering());
                        v.causes.duplicated.count(cause);
                        if v.duplicated_items.len() < limit {
                            v.duplicated_items.push(ItemNote {
                                source: spec.source.clone(),
                                m,
                                n,
                                version,
                                cause: Some(cause.as_str().to_owned()),
                                copies: Some(cell.copies),
                                lateness_ms: None,
                            });
                        }
                    } else if !late {
                        v.ok += 1;
                    }
                    if covering().any(|i| matches!(i.outcome, Outcome::Failed | Outcome::Killed)) {
                        v.causes.recovered += 1;
                    }
                }
            }
        }
        if v.delivered > 0 {
            // A bucket's highest equivalent value can exceed the exact max: clamp to it.
            let q = |p: f64| ns_to_ms((lateness.value_at_quantile(p) as i64).min(lateness_max_ns));
            v.lateness_ms = Some(Quantiles {
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                max: ns_to_ms(lateness_max_ns),
            });
        }
        let gaps = std::mem::replace(&mut self.gaps, GapTracker::new(2));
        let (gap_max_ns, gap_exact) = gaps.finish();
        v.gap_max_ms = gap_max_ns.map(ns_to_ms);
        v.gap_exact = gap_exact;
        let (control, app): (Vec<&Probe>, Vec<&Probe>) =
            probes.iter().partition(|p| p.is_control());
        v.downtime_by_conn = series_of(&app);
        v.downtime = if v.downtime_by_conn.len() > 1 {
            union(&v.downtime_by_conn)
        } else {
            downtime_of(&app)
        };
        if !control.is_empty() {
            v.control = Some(exclude_control(
                downtime_of(&control),
                &mut v.downtime,
                &mut v.downtime_by_conn,
            ));
        }
        let grid = KeyGrid::new(self.spec, self.grids);
        (v, grid)
    }
}

/// Checks a history held in memory.
pub fn check<'a>(
    spec: &ExpectedSpec,
    arrivals: impl IntoIterator<Item = &'a Arrival>,
    probes: &[Probe],
    ledger: &[LedgerEvent],
) -> Result<Verdict, SpecError> {
    let mut checker = Checker::new(spec)?;
    for a in arrivals {
        checker.push(&a.as_ref());
    }
    Ok(every_pass(checker, spec, probes, ledger, None))
}

/// Re-checks a run directory from its files: streams `arrivals.csv` through the checker.
pub fn check_run(run: &RunDir) -> Result<Verdict, RunDirError> {
    check_run_with(
        run,
        &run.read_expected()?,
        &run.read_probes()?,
        &run.read_ledger()?,
    )
}

/// Checks a run directory's arrivals against a spec, probes and ledger already in memory
/// (the runner holds them), reading only `arrivals.csv`.
pub fn check_run_with(
    run: &RunDir,
    spec: &ExpectedSpec,
    probes: &[Probe],
    ledger: &[LedgerEvent],
) -> Result<Verdict, RunDirError> {
    let mut checker = Checker::new(spec).map_err(|source| RunDirError::Spec {
        path: run.file(crate::io::rundir::EXPECTED_FILE),
        source,
    })?;
    run.for_each_arrival_for_check(|a| checker.push(a))?;
    let traces = match &spec.completion {
        Some(_) => run.read_traces()?,
        None => None,
    };
    Ok(every_pass(checker, spec, probes, ledger, traces.as_deref()))
}

/// The verdict with every pass over the history: the checker's own, then the scale
/// controller's, the rollback's, the faults' and the completion estimate's. Whoever checks
/// (a run, `harness check`, [`check`]) gets the same verdict of the same history.
fn every_pass(
    checker: Checker,
    spec: &ExpectedSpec,
    probes: &[Probe],
    ledger: &[LedgerEvent],
    traces: Option<&[crate::model::trace::LogLine]>,
) -> Verdict {
    let (mut verdict, grid) = checker.finish_with_grid(probes, ledger);
    verdict.scaling = crate::analysis::scaling::of_ledger(ledger);
    verdict.rollback = crate::analysis::rollback::of_run(ledger, probes, &verdict, &grid);
    verdict.faults = crate::analysis::faults::of_run(ledger, &verdict.downtime, &grid);
    let observations = crate::analysis::scoped::observe(&grid, probes, ledger, &verdict.downtime);
    verdict.recovery = crate::analysis::scoped::recovery(&observations);
    verdict.throughput = crate::analysis::scoped::throughput(&observations);
    verdict.observations =
        crate::model::observations::Held(Some(std::sync::Arc::new(observations)));
    if let Some(c) = &spec.completion {
        verdict.completion = crate::analysis::estimator::of_run(c, ledger, traces);
    }
    verdict
}

#[cfg(test)]
mod tests;
