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

use std::collections::{BTreeMap, HashMap, HashSet};

use hdrhistogram::Histogram;

use crate::analysis::key_grid::Cell;
pub use crate::analysis::key_grid::{is_late, lateness_ns_of, ItemCounts, KeyGrid};
use crate::io::rundir::{RunDir, RunDirError};
use crate::model::arrival::{Arrival, ArrivalRef};
use crate::model::expected::{ExpectedSpec, SpecError};
use crate::model::ledger::{event, LedgerEvent};
use crate::model::probe::Probe;
use crate::model::verdict::{
    ns_to_ms, Causes, Control, Downtime, DuplicateCause, ItemNote, LostCause, Quantiles,
    UnexpectedCauses, Verdict, Window,
};

/// How many entries each item list of the verdict keeps.
pub const DEFAULT_LISTED_LIMIT: usize = 1000;

/// Arrival times held back to sort out-of-order rows before measuring gaps (8 MiB).
const GAP_REORDER_WINDOW: usize = 1 << 20;

const NOT_ARRIVED: i64 = i64::MAX;
const FLAG_RETRIED: u32 = 1;
/// The version of the first arrival is kept in the flags' upper half, as an index into
/// the versions seen; `VERSION_UNKNOWN` when there were too many to index.
const VERSION_SHIFT: u32 = 16;
const VERSION_UNKNOWN: u32 = 0xFFFF;

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

/// Takes the control's failure windows out of the app's downtime, the whole and each
/// series: a window where even the sink's own `/health` failed is the harness's or the
/// machine's trouble. The app's failed probes stay counted; only the time goes.
fn exclude_control(
    control: Downtime,
    app: &mut Downtime,
    series: &mut BTreeMap<String, Downtime>,
) -> Control {
    let cuts = &control.intervals;
    let excluded = overlaps(&app.intervals, cuts);
    for d in std::iter::once(app).chain(series.values_mut()) {
        d.intervals = subtract(&d.intervals, cuts);
        measure(d);
    }
    Control {
        probes: control.probes,
        failed_probes: control.failed_probes,
        failed_by: control.failed_by,
        total_ms: control.total_ms,
        max_ms: control.max_ms,
        windows: control.intervals,
        excluded_ms: ns_to_ms(excluded.iter().map(|w| w.end_ns - w.start_ns).sum()),
        excluded,
    }
}

/// Whether the instant `t` of a zero-length window lies in `cut`: `[start, end)`, or the
/// instant itself when the cut has no length either.
fn instant_in(t: i64, cut: &Window) -> bool {
    (cut.start_ns <= t && t < cut.end_ns) || (cut.start_ns == t && cut.end_ns == t)
}

/// `windows` minus `cuts`, each window read as `[start, end)`: what is left of each, in
/// order. A zero-length window (a trailing failure) stays unless its instant is cut.
fn subtract(windows: &[Window], cuts: &[Window]) -> Vec<Window> {
    let mut left = Vec::new();
    for w in windows {
        if w.start_ns == w.end_ns {
            if !cuts.iter().any(|c| instant_in(w.start_ns, c)) {
                left.push(*w);
            }
            continue;
        }
        let mut pieces = vec![*w];
        for c in cuts.iter().filter(|c| c.end_ns > c.start_ns) {
            pieces = pieces
                .into_iter()
                .flat_map(|p| {
                    if c.end_ns <= p.start_ns || c.start_ns >= p.end_ns {
                        return vec![p];
                    }
                    let mut rest = Vec::new();
                    if c.start_ns > p.start_ns {
                        rest.push(Window {
                            start_ns: p.start_ns,
                            end_ns: c.start_ns,
                        });
                    }
                    if c.end_ns < p.end_ns {
                        rest.push(Window {
                            start_ns: c.end_ns,
                            end_ns: p.end_ns,
                        });
                    }
                    rest
                })
                .collect();
        }
        left.extend(pieces);
    }
    left
}

/// The parts of `windows` that `cuts` cover, merged and in order.
fn overlaps(windows: &[Window], cuts: &[Window]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for w in windows {
        for c in cuts {
            let (a, b) = (w.start_ns.max(c.start_ns), w.end_ns.min(c.end_ns));
            if b > a {
                out.push(Window {
                    start_ns: a,
                    end_ns: b,
                });
            }
        }
    }
    out.sort_by_key(|w| (w.start_ns, w.end_ns));
    merge(out)
}

/// Sorted windows with the overlapping ones joined.
fn merge(sorted: Vec<Window>) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for w in sorted {
        match out.last_mut() {
            Some(last) if w.start_ns <= last.end_ns => last.end_ns = last.end_ns.max(w.end_ns),
            _ => out.push(w),
        }
    }
    out
}

/// Recomputes `windows`, `total_ms` and `max_ms` from the intervals.
fn measure(d: &mut Downtime) {
    d.windows = d.intervals.len() as u64;
    let lengths = d.intervals.iter().map(|w| w.end_ns - w.start_ns);
    d.total_ms = ns_to_ms(lengths.clone().sum());
    d.max_ms = ns_to_ms(lengths.max().unwrap_or(0));
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
    Ok(checker.finish(probes, ledger))
}

/// Downtime windows from the probes, ordered by intended time (DESIGN.md, "The verdict").
pub fn downtime(probes: &[Probe]) -> Downtime {
    downtime_of(&probes.iter().collect::<Vec<_>>())
}

fn downtime_of(probes: &[&Probe]) -> Downtime {
    let mut order: Vec<&Probe> = probes.to_vec();
    order.sort_by_key(|p| p.intended_ns);
    let mut d = Downtime {
        probes: probes.len() as u64,
        failed_probes: probes.iter().filter(|p| !p.ok).count() as u64,
        ..Downtime::default()
    };
    for kind in probes.iter().filter_map(|p| p.failure()) {
        *d.failed_by.entry(kind).or_default() += 1;
    }
    let mut open: Option<i64> = None;
    for p in &order {
        match (p.ok, open) {
            (false, None) => open = Some(p.intended_ns),
            (true, Some(start)) => {
                d.intervals.push(Window {
                    start_ns: start,
                    end_ns: p.intended_ns,
                });
                open = None;
            }
            _ => {}
        }
    }
    if let (Some(start), Some(last)) = (open, order.last()) {
        d.intervals.push(Window {
            start_ns: start,
            end_ns: last.intended_ns,
        });
    }
    measure(&mut d);
    d
}

/// The downtime of each probe series (`conn`) on its own; empty when no probe names one.
pub fn downtime_by_series(probes: &[Probe]) -> BTreeMap<String, Downtime> {
    series_of(&probes.iter().collect::<Vec<_>>())
}

fn series_of(probes: &[&Probe]) -> BTreeMap<String, Downtime> {
    let mut series: BTreeMap<&str, Vec<&Probe>> = BTreeMap::new();
    for p in probes {
        if let Some(conn) = &p.conn {
            series.entry(conn).or_default().push(p);
        }
    }
    series
        .into_iter()
        .map(|(conn, probes)| (conn.to_owned(), downtime_of(&probes)))
        .collect()
}

/// The downtime of several series together: the union of their windows (the front door was
/// down for some client whenever one series was), their probes and failures summed. Each
/// series' windows are its own: interleaving the series' probes would let one series'
/// successes cut the other's windows short.
pub fn union(series: &BTreeMap<String, Downtime>) -> Downtime {
    let mut d = Downtime::default();
    let mut windows: Vec<Window> = Vec::new();
    for s in series.values() {
        d.probes += s.probes;
        d.failed_probes += s.failed_probes;
        for (kind, n) in &s.failed_by {
            *d.failed_by.entry(kind.clone()).or_default() += n;
        }
        windows.extend(s.intervals.iter().copied());
    }
    windows.sort_by_key(|w| (w.start_ns, w.end_ns));
    d.intervals = merge(windows);
    measure(&mut d);
    d
}

/// Maximum gap between consecutive values of a nearly sorted stream, in bounded memory.
///
/// The sink writes rows in the order its writer received them, while `recv_ns` is taken when
/// each request arrives, so rows are out of order by at most the requests in flight. The
/// tracker holds `window` times, sorts them, and releases the older half; a time older than
/// one already released cannot be placed (the max is then an upper bound, and says so).
struct GapTracker {
    buf: Vec<i64>,
    window: usize,
    last_released: Option<i64>,
    max_gap_ns: Option<i64>,
    exact: bool,
    /// The buffer is in order so far: sorting it can be skipped (the common case).
    sorted: bool,
}

impl GapTracker {
    fn new(window: usize) -> Self {
        GapTracker {
            buf: Vec::new(),
            window: window.max(2),
            last_released: None,
            max_gap_ns: None,
            exact: true,
            sorted: true,
        }
    }

    #[inline]
    fn push(&mut self, t: i64) {
        if self.last_released.is_some_and(|last| t < last) {
            self.exact = false;
            return;
        }
        if self.buf.last().is_some_and(|&last| t < last) {
            self.sorted = false;
        }
        self.buf.push(t);
        if self.buf.len() >= self.window {
            if !self.sorted {
                // Mostly sorted input: the stable sort finds the runs and merges them in O(n).
                self.buf.sort();
                self.sorted = true;
            }
            let release = self.window / 2;
            for i in 0..release {
                self.release(self.buf[i]);
            }
            self.buf.drain(..release);
        }
    }

    #[inline]
    fn release(&mut self, t: i64) {
        if let Some(last) = self.last_released {
            let gap = t - last;
            if self.max_gap_ns.is_none_or(|g| gap > g) {
                self.max_gap_ns = Some(gap);
            }
        }
        self.last_released = Some(t);
    }

    fn finish(mut self) -> (Option<i64>, bool) {
        self.buf.sort();
        let buf = std::mem::take(&mut self.buf);
        for t in buf {
            self.release(t);
        }
        (self.max_gap_ns, self.exact)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    Killed,
    /// Begun, and never ended in the ledger.
    Open,
}

#[derive(Clone, Debug)]
struct Invocation {
    version: String,
    /// A queue invocation processes one message, item `n`; a timer run covers every `n`.
    n: Option<u64>,
    catch_up: bool,
    dequeue: u64,
    outcome: Outcome,
}

impl Invocation {
    fn covers(&self, n: u64) -> bool {
        self.n.is_none_or(|own| own == n)
    }
}

/// The ledger, indexed by expected occurrence.
#[derive(Default)]
struct LedgerIndex {
    invocations: HashMap<(usize, u64), Vec<Invocation>>,
    poisoned: HashSet<(usize, u64, u64)>,
    sent: HashSet<(usize, u64, u64)>,
}

impl LedgerIndex {
    fn build(spec: &ExpectedSpec, ledger: &[LedgerEvent]) -> LedgerIndex {
        let mut index = LedgerIndex::default();
        // Instances only the apps' own events describe (a command platform) are read in the
        // host's words.
        let told = crate::model::lifecycle::platform_events(ledger);
        let mut order: Vec<&LedgerEvent> = ledger.iter().chain(&told).collect();
        order.sort_by_key(|e| e.t_ns);
        // Invocation id -> where it is stored, and the open ones of each instance.
        let mut by_id: HashMap<String, (usize, u64, usize)> = HashMap::new();
        let mut open_on: HashMap<&str, Vec<String>> = HashMap::new();
        let key_of = |e: &LedgerEvent| -> Option<(usize, u64, u64)> {
            let si = spec.source_index(e.get("source")?)?;
            Some((si, e.get_u64("m")?, e.get_u64("n")?))
        };
        for e in order {
            match e.event.as_str() {
                event::INVOCATION_BEGUN => {
                    let Some(si) = e.get("source").and_then(|s| spec.source_index(s)) else {
                        continue;
                    };
                    let Some(m) = e.get_u64("m") else { continue };
                    let list = index.invocations.entry((si, m)).or_default();
                    list.push(Invocation {
                        version: e.version.clone(),
                        n: e.get_u64("n"),
                        catch_up: e.flag("catch_up"),
                        dequeue: e.get_u64("dequeue").unwrap_or(1),
                        outcome: Outcome::Open,
                    });
                    if let Some(id) = e.get("inv") {
                        by_id.insert(id.to_owned(), (si, m, list.len() - 1));
                        open_on.entry(&e.instance).or_default().push(id.to_owned());
                    }
                }
                event::INVOCATION_OK | event::INVOCATION_FAILED | event::INVOCATION_KILLED => {
                    let outcome = match e.event.as_str() {
                        event::INVOCATION_OK => Outcome::Ok,
                        event::INVOCATION_FAILED => Outcome::Failed,
                        _ => Outcome::Killed,
                    };
                    if let Some(id) = e.get("inv") {
                        index.end(&by_id, id, outcome, &e.version);
                        if let Some(open) = open_on.get_mut(e.instance.as_str()) {
                            open.retain(|o| o != id);
                        }
                    }
                }
                event::INSTANCE_KILLED | event::INSTANCE_STOPPED => {
                    for id in open_on.remove(e.instance.as_str()).unwrap_or_default() {
                        index.end(&by_id, &id, Outcome::Killed, &e.version);
                    }
                }
                event::MESSAGE_POISONED => {
                    if let Some(key) = key_of(e) {
                        index.poisoned.insert(key);
                    }
                }
                event::ITEM_SENT => {
                    if let Some(key) = key_of(e) {
                        index.sent.insert(key);
                    }
                }
                _ => {}
            }
        }
        index
    }

    /// Ends invocation `id`; `version` is the version the end names, which an invocation
    /// through a real front door only learns from the answer.
    fn end(
        &mut self,
        by_id: &HashMap<String, (usize, u64, usize)>,
        id: &str,
        outcome: Outcome,
        version: &str,
    ) {
        if let Some(&(si, m, i)) = by_id.get(id) {
            if let Some(inv) = self
                .invocations
                .get_mut(&(si, m))
                .and_then(|l| l.get_mut(i))
            {
                if inv.outcome == Outcome::Open {
                    inv.outcome = outcome;
                }
                if inv.version.is_empty() {
                    inv.version = version.to_owned();
                }
            }
        }
    }

    fn lost_cause<'a>(
        &self,
        si: usize,
        m: u64,
        n: u64,
        covering: impl Iterator<Item = &'a Invocation>,
    ) -> LostCause {
        if self.poisoned.contains(&(si, m, n)) {
            return LostCause::Poisoned;
        }
        // Sent and never recorded, whatever became of the run that sent it (an app may end
        // a run well although a submit of it went nowhere).
        if self.sent.contains(&(si, m, n)) {
            return LostCause::InFlight;
        }
        let outcomes: Vec<Outcome> = covering.map(|i| i.outcome).collect();
        if outcomes.is_empty() {
            LostCause::NeverInvoked
        } else if outcomes.contains(&Outcome::Ok) {
            LostCause::Unexplained
        } else if outcomes.contains(&Outcome::Killed) {
            LostCause::KilledBeforeSend
        } else if outcomes.contains(&Outcome::Failed) {
            LostCause::Failed
        } else {
            LostCause::Unfinished
        }
    }
}

fn duplicate_cause<'a>(
    cell: &Cell,
    covering: impl Iterator<Item = &'a Invocation>,
) -> DuplicateCause {
    let invocations: Vec<&Invocation> = covering.collect();
    if invocations.len() >= 2 {
        if invocations.iter().any(|i| i.catch_up) {
            return DuplicateCause::TimerCatchUp;
        }
        if invocations.iter().any(|i| i.dequeue > 1 || i.n.is_some()) {
            return DuplicateCause::QueueRedelivery;
        }
        return DuplicateCause::DoubleTimer;
    }
    if cell.flags & FLAG_RETRIED != 0 {
        return DuplicateCause::Retry;
    }
    DuplicateCause::Unexplained
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
    let (mut verdict, grid) = checker.finish_with_grid(probes, ledger);
    verdict.scaling = crate::analysis::scaling::of_ledger(ledger);
    verdict.rollback = crate::analysis::rollback::of_run(ledger, probes, &verdict, &grid);
    verdict.faults = crate::analysis::faults::of_run(ledger, &verdict.downtime, &grid);
    if let Some(c) = &spec.completion {
        let traces = run.read_traces()?;
        verdict.completion = crate::analysis::estimator::of_run(c, ledger, traces.as_deref());
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests;
