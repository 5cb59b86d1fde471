//! A part of the run measured on its own: scoped measures (`lost{phase=update}`,
//! `downtime.total_ms{from=update,for=30s}`, `probes.failed_rate{window=5s}`), the recovery
//! time and the throughput drop, all read from the run's [`Observations`].
//!
//! A part is a half-open span `[a, b)` of the run's time:
//! - items count by when they were due (`scheduled_ns`), probes by when they were to be
//!   sent (`intended_ns`), throughput by first arrival;
//! - downtime windows are cut to the span;
//! - the run's span is its first observation (item due or probe) to just after its last;
//! - `before` is the run's start to the update's start, `update` the update's span,
//!   `after` its end to the run's end.
//!
//! A window scope is the worst of every window `[t, t + W)` inside the part: the largest
//! value (the smallest for `expected`, `delivered` and `ok`, where larger is better).
//! Every `t` where a window's value can change is tried (an event entering or leaving it,
//! a downtime window's edge meeting its edge), so the worst window is exact, not sampled.
//! A part shorter than `W` is one window.

use crate::analysis::key_grid::KeyGrid;
use crate::model::ledger::{Kind, LedgerEvent};
use crate::model::measure::{Anchor, Measure, Phase, Scope};
use crate::model::metric::Metric;
use crate::model::observations::Observations;
use crate::model::probe::Probe;
use crate::model::verdict::{Downtime, Recovery, Throughput, Verdict};

/// The run's observations, from the checker's grid, the probes, the ledger and the
/// verdict's downtime.
pub fn observe(
    grid: &KeyGrid,
    probes: &[Probe],
    ledger: &[LedgerEvent],
    downtime: &Downtime,
) -> Observations {
    let mut items = grid.items();
    items.sort_by_key(|i| i.scheduled_ns);
    let mut first_arrivals_ns: Vec<i64> = items.iter().filter_map(|i| i.first_ns).collect();
    first_arrivals_ns.sort_unstable();
    let mut app: Vec<(i64, bool)> = probes
        .iter()
        .filter(|p| !p.is_control())
        .map(|p| (p.intended_ns, p.ok))
        .collect();
    app.sort_by_key(|p| p.0);
    let mut windows: Vec<(i64, i64)> = downtime
        .intervals
        .iter()
        .map(|w| (w.start_ns, w.end_ns))
        .collect();
    windows.sort_unstable();
    let firsts = [
        items.first().map(|i| i.scheduled_ns),
        app.first().map(|p| p.0),
    ];
    let lasts = [
        items.last().map(|i| i.scheduled_ns),
        app.last().map(|p| p.0),
    ];
    let span = match (firsts.iter().flatten().min(), lasts.iter().flatten().max()) {
        (Some(&a), Some(&b)) => (a, b + 1),
        _ => (0, 0),
    };
    let update_phase = |kind: Kind| {
        ledger
            .iter()
            .filter(move |e| e.event == kind && e.get("phase") == Some("update"))
            .map(|e| e.t_ns)
    };
    let update = update_phase(Kind::PhaseBegun).min().map(|begun| {
        (
            begun,
            update_phase(Kind::PhaseEnded)
                .max()
                .unwrap_or(span.1)
                .max(begun),
        )
    });
    let steady_ns = match grid.period_ns() {
        Some(p) if !items.is_empty() && p > 0 => p,
        _ => 1_000_000_000,
    };
    Observations {
        items,
        first_arrivals_ns,
        probes: app,
        downtime: windows,
        update,
        span,
        steady_ns,
    }
}

/// The part of the run a scope names, before any window: `None` when it needs an update
/// and none ran.
fn part(o: &Observations, scope: &Scope) -> Option<(i64, i64)> {
    let (start, end) = o.span;
    let (a, b) = match (scope.phase, scope.from) {
        (Some(Phase::Before), _) => (start, o.update?.0),
        (Some(Phase::Update), _) => o.update?,
        (Some(Phase::After), _) => (o.update?.1, end),
        (None, Some(anchor)) => {
            let a = match anchor {
                Anchor::Start => start,
                Anchor::Update => o.update?.0,
                Anchor::UpdateEnd => o.update?.1,
            };
            (a, scope.for_ns.map_or(end, |d| a.saturating_add(d)))
        }
        (None, None) => (start, end),
    };
    // Nothing was observed past the run's end.
    let b = b.min(end);
    Some((a, b.max(a)))
}

/// Running sums over the items in schedule order, so any span's counts are two lookups.
struct ItemSums {
    lost: Vec<u64>,
    duplicated: Vec<u64>,
    extra: Vec<u64>,
    late: Vec<u64>,
    ok: Vec<u64>,
}

impl ItemSums {
    fn of(o: &Observations) -> ItemSums {
        let n = o.items.len() + 1;
        let mut s = ItemSums {
            lost: Vec::with_capacity(n),
            duplicated: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            late: Vec::with_capacity(n),
            ok: Vec::with_capacity(n),
        };
        let mut acc = [0u64; 5];
        let push = |s: &mut ItemSums, acc: &[u64; 5]| {
            s.lost.push(acc[0]);
            s.duplicated.push(acc[1]);
            s.extra.push(acc[2]);
            s.late.push(acc[3]);
            s.ok.push(acc[4]);
        };
        push(&mut s, &acc);
        for i in &o.items {
            acc[0] += u64::from(i.copies == 0);
            acc[1] += u64::from(i.copies > 1);
            acc[2] += u64::from(i.copies.saturating_sub(1));
            acc[3] += u64::from(i.late);
            acc[4] += u64::from(i.copies == 1 && !i.late);
            push(&mut s, &acc);
        }
        s
    }
}

/// How many of `sorted` are in `[a, b)`, and where they start.
fn range<T>(sorted: &[T], key: impl Fn(&T) -> i64, a: i64, b: i64) -> (usize, usize) {
    let lo = sorted.partition_point(|x| key(x) < a);
    let hi = sorted.partition_point(|x| key(x) < b);
    (lo, hi.max(lo))
}

/// What one measure reads, prepared once for every window it tries.
struct Reader<'a> {
    o: &'a Observations,
    metric: Metric,
    sums: Option<ItemSums>,
    /// The probes' failures so far, in intended order.
    failed: Vec<u64>,
    /// Items delivered a second before the update (throughput's reference).
    before_per_s: Option<f64>,
}

impl<'a> Reader<'a> {
    fn new(o: &'a Observations, metric: Metric) -> Reader<'a> {
        use Metric::*;
        let items = crate::model::measure::over_items(metric);
        let mut failed = Vec::new();
        if matches!(metric, ProbesFailed | ProbesFailedRate) {
            failed.reserve(o.probes.len() + 1);
            failed.push(0);
            for (_, ok) in &o.probes {
                failed.push(failed.last().copied().unwrap_or(0) + u64::from(!ok));
            }
        }
        let before_per_s = before_per_s(o);
        Reader {
            o,
            metric,
            sums: items.then(|| ItemSums::of(o)),
            failed,
            before_per_s,
        }
    }

    /// The metric over `[a, b)`; `None` where the part says nothing of it (a rate with no
    /// denominator).
    fn value(&self, a: i64, b: i64) -> Option<f64> {
        use Metric::*;
        let o = self.o;
        let ratio = |x: u64, of: u64| if of == 0 { 0.0 } else { x as f64 / of as f64 };
        if let Some(s) = &self.sums {
            let (lo, hi) = range(&o.items, |i| i.scheduled_ns, a, b);
            let n = |v: &Vec<u64>| v[hi] - v[lo];
            let expected = (hi - lo) as u64;
            let delivered = expected - n(&s.lost);
            return Some(match self.metric {
                Expected => expected as f64,
                Delivered => delivered as f64,
                Lost => n(&s.lost) as f64,
                Duplicated => n(&s.duplicated) as f64,
                ExtraCopies => n(&s.extra) as f64,
                Late => n(&s.late) as f64,
                Ok => n(&s.ok) as f64,
                LostRate => ratio(n(&s.lost), expected),
                DuplicatedRate => ratio(n(&s.duplicated), expected),
                LateRate => ratio(n(&s.late), delivered),
                _ => return None,
            });
        }
        match self.metric {
            ProbesFailed | ProbesFailedRate => {
                let (lo, hi) = range(&o.probes, |p| p.0, a, b);
                let failed = self.failed[hi] - self.failed[lo];
                if self.metric == ProbesFailed {
                    Some(failed as f64)
                } else {
                    (hi > lo).then(|| ratio(failed, (hi - lo) as u64))
                }
            }
            DowntimeWindows | DowntimeTotalMs | DowntimeMaxMs => {
                let cut: Vec<i64> = o
                    .downtime
                    .iter()
                    .map(|&(s, e)| e.min(b) - s.max(a))
                    .filter(|d| *d > 0)
                    .collect();
                Some(match self.metric {
                    DowntimeWindows => cut.len() as f64,
                    DowntimeTotalMs => cut.iter().sum::<i64>() as f64 / 1e6,
                    _ => cut.iter().copied().max().unwrap_or(0) as f64 / 1e6,
                })
            }
            ThroughputDrop => Some(1.0 - per_second(o, a, b)? / self.before_per_s?),
            _ => None,
        }
    }

    /// Every window start where the value can change, within `[a, b - w]`.
    fn starts(&self, a: i64, b: i64, w: i64) -> Vec<i64> {
        use Metric::*;
        let o = self.o;
        let mut events: Vec<i64> = Vec::new();
        // A point event at e is in [t, t + w) for e - w < t <= e: it enters at e - w + 1
        // and leaves at e + 1.
        let mut points = |times: &mut dyn Iterator<Item = i64>| {
            for e in times {
                events.push(e - w + 1);
                events.push(e + 1);
            }
        };
        match self.metric {
            ProbesFailed | ProbesFailedRate => points(&mut o.probes.iter().map(|p| p.0)),
            ThroughputDrop => points(&mut o.first_arrivals_ns.iter().copied()),
            DowntimeWindows | DowntimeTotalMs | DowntimeMaxMs => {
                // The overlap is piecewise linear: its extremes are where an edge of the
                // window meets an edge of a downtime window.
                for &(s, e) in &o.downtime {
                    events.extend([s, e, s - w, e - w, s - w + 1, e + 1]);
                }
            }
            _ => points(&mut o.items.iter().map(|i| i.scheduled_ns)),
        }
        events.extend([a, b - w]);
        events.retain(|t| *t >= a && *t <= b - w);
        events.sort_unstable();
        events.dedup();
        events
    }
}

/// Items delivered a second before the update: from the first item due to the update's
/// start (probes may begin earlier, while nothing is due yet). `None` without an update or
/// with nothing delivered before it.
fn before_per_s(o: &Observations) -> Option<f64> {
    let (begun, _) = o.update?;
    let first_due = o.items.first()?.scheduled_ns;
    per_second(o, first_due, begun).filter(|r| *r > 0.0)
}

/// Items delivered (first arrivals) per second over `[a, b)`.
fn per_second(o: &Observations, a: i64, b: i64) -> Option<f64> {
    if b <= a {
        return None;
    }
    let (lo, hi) = range(&o.first_arrivals_ns, |t| *t, a, b);
    Some((hi - lo) as f64 / ((b - a) as f64 / 1e9))
}

/// A scoped measure's value: `None` when the part is not there (no update ran) or says
/// nothing of it.
pub fn value(o: &Observations, m: &Measure) -> Option<f64> {
    let (a, b) = part(o, &m.scope)?;
    let reader = Reader::new(o, m.metric);
    let Some(w) = m.scope.window_ns else {
        return reader.value(a, b);
    };
    if b - a <= w {
        return reader.value(a, b);
    }
    let values = reader
        .starts(a, b, w)
        .into_iter()
        .filter_map(|t| reader.value(t, t + w));
    if m.metric.larger_is_better() {
        values.reduce(f64::min)
    } else {
        values.reduce(f64::max)
    }
}

/// A measure's value in a verdict: a whole-run metric from the verdict, a scoped one from
/// its observations, or, in a summary read back, from the values it was judged by
/// (`Verdict::scoped`). `update_duration_ms` is the run's.
pub fn measured(m: &Measure, v: &Verdict, update_duration_ms: Option<f64>) -> Option<f64> {
    if m.scope.is_whole() {
        return m.metric.value(v, update_duration_ms);
    }
    match &v.observations.0 {
        Some(o) => value(o, m),
        None => v.scoped.get(&m.to_string()).copied(),
    }
}

/// The recovery: from the first failure at or after the update's start (a failed probe by
/// its intended send, an item lost, late or duplicated by its schedule) to the first
/// steady window after it: a window of [`Observations::steady_ns`] that starts at a
/// passing observation, holds no failure and ends within the run. `None` without an
/// update.
pub fn recovery(o: &Observations) -> Option<Recovery> {
    let (begun, _) = o.update?;
    let steady_ms = o.steady_ns as f64 / 1e6;
    let mut failures: Vec<i64> = o
        .items
        .iter()
        .filter(|i| i.copies != 1 || i.late)
        .map(|i| i.scheduled_ns)
        .chain(o.probes.iter().filter(|p| !p.1).map(|p| p.0))
        .filter(|t| *t >= begun)
        .collect();
    failures.sort_unstable();
    let Some(&first) = failures.first() else {
        return Some(Recovery {
            first_failure_ns: None,
            steady_from_ns: None,
            steady_ms,
            recovery_ms: Some(0.0),
        });
    };
    let mut passes: Vec<i64> = o
        .items
        .iter()
        .filter(|i| i.copies == 1 && !i.late)
        .map(|i| i.scheduled_ns)
        .chain(o.probes.iter().filter(|p| p.1).map(|p| p.0))
        .filter(|t| *t > first)
        .collect();
    passes.sort_unstable();
    let steady_from_ns = passes.into_iter().find(|&t| {
        let next_failure = failures.get(failures.partition_point(|f| *f < t));
        t + o.steady_ns <= o.span.1 && next_failure.is_none_or(|f| *f >= t + o.steady_ns)
    });
    Some(Recovery {
        first_failure_ns: Some(first),
        steady_from_ns,
        steady_ms,
        recovery_ms: steady_from_ns.map(|t| (t - first) as f64 / 1e6),
    })
}

/// Items delivered per second during the update against before it (from the first item
/// due). `None` without an update, or with nothing delivered before it.
pub fn throughput(o: &Observations) -> Option<Throughput> {
    let (begun, end) = o.update?;
    let before_per_s = before_per_s(o)?;
    let update_per_s = per_second(o, begun, end)?;
    Some(Throughput {
        before_per_s,
        update_per_s,
        drop: 1.0 - update_per_s / before_per_s,
    })
}

#[cfg(test)]
mod tests;
