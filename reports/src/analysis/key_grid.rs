//! Every expected key's cell after the check, and the one definition of a late key.
//!
//! The checker fills a [`KeyGrid`] as it streams the arrivals; the analyses that count
//! items by when they were due (a rollback, a fault) read it afterwards, with the
//! verdict's own definitions of lost, duplicated and late. It lives apart from the
//! checker so that those analyses and the checker, which calls them, both import it and
//! neither imports the other.

use crate::model::expected::ExpectedSpec;

/// A key some arrival of which was a retry (`attempt` above 1).
pub(crate) const FLAG_RETRIED: u32 = 1;
/// The version of the first arrival is kept in the flags' upper half, as an index into
/// the versions seen; `VERSION_UNKNOWN` when there were too many to index.
pub(crate) const VERSION_SHIFT: u32 = 16;
pub(crate) const VERSION_UNKNOWN: u32 = 0xFFFF;

/// One expected key's arrivals, reduced to what the verdict needs: 16 bytes.
#[derive(Clone, Copy)]
pub(crate) struct Cell {
    pub(crate) first_ns: i64,
    pub(crate) copies: u32,
    /// The checker's: whether the key was retried, and the first arrival's version.
    pub(crate) flags: u32,
}

/// What became of items, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemCounts {
    pub lost: u64,
    pub duplicated: u64,
    pub late: u64,
}

/// Every expected key's cell after the check ([`crate::checker::Checker::finish_with_grid`]), to count
/// items by when they were due, with the verdict's own definitions of lost, duplicated and
/// late.
pub struct KeyGrid {
    spec: ExpectedSpec,
    grids: Vec<Vec<Cell>>,
}

impl KeyGrid {
    pub(crate) fn new(spec: ExpectedSpec, grids: Vec<Vec<Cell>>) -> KeyGrid {
        KeyGrid { spec, grids }
    }

    /// The time origin of a run: the first source's schedule epoch (the plots' origin).
    pub fn origin_ns(&self) -> i64 {
        self.spec.sources.first().map_or(0, |s| s.epoch_ns)
    }

    /// The expected items scheduled from `from_ns` to `to_ns` (both included) that were
    /// lost, duplicated or late: every one, however many the verdict lists.
    pub fn due_within(&self, from_ns: i64, to_ns: i64) -> ItemCounts {
        self.count(from_ns, to_ns, false)
    }

    /// The expected items of every loop (occurrence) that ran from `from_ns` to `to_ns`,
    /// from its first item's schedule to its last's, that were lost, duplicated or late:
    /// what something acting on the app then cost, the rest of a loop it cut short
    /// included.
    pub fn in_loops_within(&self, from_ns: i64, to_ns: i64) -> ItemCounts {
        self.count(from_ns, to_ns, true)
    }

    /// Every expected item, by source, occurrence and iteration: when it was due and what
    /// became of it, with the verdict's definition of late.
    pub fn items(&self) -> Vec<crate::model::observations::ItemSeen> {
        let mut items = Vec::new();
        for (spec, grid) in self.spec.sources.iter().zip(&self.grids) {
            for m in spec.first..=spec.last {
                for n in 0..spec.count(m) {
                    let Some(i) = spec.index(m, n) else { continue };
                    let cell = &grid[i];
                    let due = spec.scheduled_ns(m, n);
                    let arrived = cell.copies > 0;
                    items.push(crate::model::observations::ItemSeen {
                        scheduled_ns: due,
                        first_ns: arrived.then_some(cell.first_ns),
                        copies: cell.copies,
                        late: arrived && is_late(cell.first_ns, due, self.spec.late_after_ns),
                    });
                }
            }
        }
        items
    }

    /// The first source's period: how long one loop of the workload takes.
    pub fn period_ns(&self) -> Option<i64> {
        self.spec.sources.first().map(|s| s.period_ns)
    }

    fn count(&self, from_ns: i64, to_ns: i64, whole_loops: bool) -> ItemCounts {
        let mut counts = ItemCounts::default();
        for (spec, grid) in self.spec.sources.iter().zip(&self.grids) {
            for m in spec.first..=spec.last {
                let count = spec.count(m);
                if count == 0
                    || spec.scheduled_ns(m, 0) > to_ns
                    || spec.scheduled_ns(m, count - 1) < from_ns
                {
                    continue;
                }
                for n in 0..count {
                    let due = spec.scheduled_ns(m, n);
                    let inside = whole_loops || (due >= from_ns && due <= to_ns);
                    let Some(i) = spec.index(m, n).filter(|_| inside) else {
                        continue;
                    };
                    let cell = &grid[i];
                    match cell.copies {
                        0 => counts.lost += 1,
                        copies => {
                            counts.duplicated += u64::from(copies > 1);
                            counts.late +=
                                u64::from(is_late(cell.first_ns, due, self.spec.late_after_ns));
                        }
                    }
                }
            }
        }
        counts
    }
}

/// A delivered key's lateness, the one definition: `first arrival - scheduled`, negative
/// counted as 0 (an item may be sent early by a clock ahead of the schedule).
pub fn lateness_ns_of(first_ns: i64, scheduled_ns: i64) -> i64 {
    first_ns.saturating_sub(scheduled_ns).max(0)
}

/// Whether a key's first arrival is late: strictly more than `late_after_ns` after its
/// schedule.
pub fn is_late(first_ns: i64, scheduled_ns: i64, late_after_ns: i64) -> bool {
    first_ns.saturating_sub(scheduled_ns) > late_after_ns
}
