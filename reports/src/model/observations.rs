//! What a run observed, moment by moment, reduced to what a part of the run needs to be
//! measured on its own ([`crate::measure`]): every expected item by its schedule, every app
//! probe by its intended send, the downtime windows and the update's span. The checker
//! builds it beside the verdict; it is not written to `summary.json` (a check builds it
//! again from the run's files).

/// One expected item: when it was due and what became of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemSeen {
    pub scheduled_ns: i64,
    /// Its first arrival, if it arrived.
    pub first_ns: Option<i64>,
    /// Arrivals of it: 0 lost, 1 once, more duplicated.
    pub copies: u32,
    pub late: bool,
}

/// A run's observations, each list in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observations {
    /// By `scheduled_ns`.
    pub items: Vec<ItemSeen>,
    /// The first arrivals' times (throughput), sorted.
    pub first_arrivals_ns: Vec<i64>,
    /// The app's probes (not the control series): intended send and whether it passed, by
    /// intended send.
    pub probes: Vec<(i64, bool)>,
    /// The verdict's downtime windows (with the control windows cut out), by start.
    pub downtime: Vec<(i64, i64)>,
    /// The update's span, from the ledger: its first `phase_begun update` to its last
    /// `phase_ended update` (the run's end when it never ended). `None`: no update ran.
    pub update: Option<(i64, i64)>,
    /// The run's observed span: its first observation to just after its last.
    pub span: (i64, i64),
    /// How long a window with nothing failing must be to call the app recovered: one
    /// period of the workload (1 s without items).
    pub steady_ns: i64,
}

/// The observations a verdict holds, in memory only: not part of what the verdict says
/// (two verdicts of one run are equal whether or not one was read back from
/// `summary.json`), and shown by size, never item by item.
#[derive(Clone, Default)]
pub struct Held(pub Option<std::sync::Arc<Observations>>);

impl PartialEq for Held {
    fn eq(&self, _: &Held) -> bool {
        true
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(o) => write!(
                f,
                "Held({} items, {} probes)",
                o.items.len(),
                o.probes.len()
            ),
            None => f.write_str("Held(none)"),
        }
    }
}
