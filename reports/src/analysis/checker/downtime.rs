//! Downtime from the probes: the windows where probes failed, per series and together,
//! with the control series' windows taken out of the app's.

use std::collections::BTreeMap;

use crate::model::probe::Probe;
use crate::model::verdict::{ns_to_ms, Control, Downtime, Window};

/// Takes the control's failure windows out of the app's downtime, the whole and each
/// series: a window where even the sink's own `/health` failed is the harness's or the
/// machine's trouble. The app's failed probes stay counted; only the time goes.
pub(super) fn exclude_control(
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
pub(super) fn instant_in(t: i64, cut: &Window) -> bool {
    (cut.start_ns <= t && t < cut.end_ns) || (cut.start_ns == t && cut.end_ns == t)
}

/// `windows` minus `cuts`, each window read as `[start, end)`: what is left of each, in
/// order. A zero-length window (a trailing failure) stays unless its instant is cut.
pub(super) fn subtract(windows: &[Window], cuts: &[Window]) -> Vec<Window> {
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
pub(super) fn overlaps(windows: &[Window], cuts: &[Window]) -> Vec<Window> {
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
pub(super) fn merge(sorted: Vec<Window>) -> Vec<Window> {
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
pub(super) fn measure(d: &mut Downtime) {
    d.windows = d.intervals.len() as u64;
    let lengths = d.intervals.iter().map(|w| w.end_ns - w.start_ns);
    d.total_ms = ns_to_ms(lengths.clone().sum());
    d.max_ms = ns_to_ms(lengths.max().unwrap_or(0));
}

/// Downtime windows from the probes, ordered by intended time (DESIGN.md, "The verdict").
pub fn downtime(probes: &[Probe]) -> Downtime {
    downtime_of(&probes.iter().collect::<Vec<_>>())
}

pub(super) fn downtime_of(probes: &[&Probe]) -> Downtime {
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

pub(super) fn series_of(probes: &[&Probe]) -> BTreeMap<String, Downtime> {
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
