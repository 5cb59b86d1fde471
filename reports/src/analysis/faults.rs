//! The faults of a run: each `[[faults]]` window the ledger recorded, and what the app lost
//! inside it, so the reports can say exactly what each fault cost.
//!
//! A window runs from a `fault_started` to the next `fault_ended` of the same fault (its
//! index in the scenario's list); one never ended runs to the run's end (`run_ended`, else
//! the last ledger row), and one the run's end cut short (`cut=true`) is not `ended`
//! either. A crash's window ends when its restart is ready, or where it began
//! when it is not restarted. Each `fault_acted` (a kill, a stop, a continue, a restart of
//! one instance) belongs to the latest window of its fault begun by then.
//!
//! The cost is measured inside the window, both ends included:
//!
//! - `downtime_ms`: the verdict's downtime windows clipped to it (the control's failure
//!   windows are already out of them, see [`crate::checker`]);
//! - `lost`, `duplicated`, `late`: the expected items of every loop (occurrence) that ran
//!   while it acted, from the loop's first item's schedule to its last's, counted on the
//!   checker's grid ([`KeyGrid::in_loops_within`]), so every item counts, not only the
//!   `listed_limit` the verdict lists. A fault acts on the loops in progress: the rest of
//!   a loop it cut short (a killed run's unsent items, a loop that gave up at a
//!   blackholed submit) is its cost too. An item lost for another reason in such a loop
//!   counts as well; the verdict's causes tell them apart. A queue workload's loop is its
//!   poll's instant.

use crate::analysis::key_grid::KeyGrid;
use crate::model::ledger::{Kind, LedgerEvent};
use crate::model::verdict::{ns_to_ms, Downtime, FaultAction, FaultCost};

/// Detail keys that are the ledger's own, not the entry's parameters.
const NOT_PARAMS: [&str; 5] = ["fault", "kind", "requests", "affected", "cut"];

/// Every fault window of the run with its cost, in start order; empty without faults.
pub fn of_run(ledger: &[LedgerEvent], downtime: &Downtime, items: &KeyGrid) -> Vec<FaultCost> {
    let mut faults = windows(ledger, items.origin_ns());
    for f in &mut faults {
        f.downtime_ms = downtime.overlap_ms(f.start_ns, f.end_ns);
        let due = items.in_loops_within(f.start_ns, f.end_ns);
        (f.lost, f.duplicated, f.late) = (due.lost, due.duplicated, due.late);
    }
    faults
}

/// The fault windows of a ledger, in start order, their cost not yet measured; `at_ms` is
/// each start from `origin_ns` (the schedule's epoch).
pub fn windows(ledger: &[LedgerEvent], origin_ns: i64) -> Vec<FaultCost> {
    let mut order: Vec<&LedgerEvent> = ledger.iter().collect();
    order.sort_by_key(|e| e.t_ns);
    let run_end_ns = order
        .iter()
        .find(|e| e.event == Kind::RunEnded)
        .or(order.last())
        .map_or(0, |e| e.t_ns);
    let mut out: Vec<FaultCost> = Vec::new();
    // Indices into `out` of the windows still open, oldest first.
    let mut open: Vec<usize> = Vec::new();
    for e in &order {
        let Some(fault) = e.get_u64("fault") else {
            continue;
        };
        match e.event {
            Kind::FaultStarted => {
                open.push(out.len());
                out.push(FaultCost {
                    fault,
                    kind: e.get("kind").unwrap_or("unknown").to_owned(),
                    start_ns: e.t_ns,
                    end_ns: e.t_ns,
                    at_ms: ns_to_ms(e.t_ns - origin_ns),
                    params: params(e).collect(),
                    ..FaultCost::default()
                });
            }
            Kind::FaultEnded => {
                // An end without a start (a ledger cut short at its head) has no window.
                let Some(at) = open.iter().position(|&i| out[i].fault == fault) else {
                    continue;
                };
                let f = &mut out[open.remove(at)];
                f.end_ns = e.t_ns;
                f.ended = !e.flag("cut");
                f.requests = e.get_u64("requests");
                f.affected = e.get_u64("affected");
                for (k, v) in params(e) {
                    f.params.entry(k).or_insert(v);
                }
            }
            _ => {}
        }
    }
    for i in open {
        out[i].end_ns = run_end_ns.max(out[i].start_ns);
    }
    // Actions go to the latest window of their fault begun by then (an action stamped just
    // before its window's start row, to the fault's first window); without one, nowhere.
    for e in order.iter().filter(|e| e.event == Kind::FaultActed) {
        let Some(fault) = e.get_u64("fault") else {
            continue;
        };
        let mine = || out.iter().enumerate().filter(|(_, f)| f.fault == fault);
        let target = mine()
            .rfind(|(_, f)| f.start_ns <= e.t_ns)
            .or_else(|| mine().next())
            .map(|(i, _)| i);
        if let Some(i) = target {
            out[i].actions.push(FaultAction {
                t_ns: e.t_ns,
                instance: e.instance.clone(),
                action: e.get("action").unwrap_or("unknown").to_owned(),
            });
        }
    }
    out.sort_by_key(|f| (f.start_ns, f.fault));
    out
}

/// The entry's own `key=value` pairs of a fault row.
fn params(e: &LedgerEvent) -> impl Iterator<Item = (String, String)> + '_ {
    e.detail
        .pairs()
        .filter(|(k, _)| !NOT_PARAMS.contains(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn row(t_s: i64, kind: Kind, instance: &str) -> LedgerEvent {
        LedgerEvent::new(t_s * S, kind, instance, "", "")
    }

    fn started(t_s: i64, fault: u64, kind: &str) -> LedgerEvent {
        row(t_s, Kind::FaultStarted, "")
            .with("fault", fault)
            .with("kind", kind)
    }

    fn ended(t_s: i64, fault: u64, kind: &str) -> LedgerEvent {
        row(t_s, Kind::FaultEnded, "")
            .with("fault", fault)
            .with("kind", kind)
    }

    fn acted(t_s: i64, fault: u64, instance: &str, action: &str) -> LedgerEvent {
        row(t_s, Kind::FaultActed, instance)
            .with("fault", fault)
            .with("kind", "pause")
            .with("action", action)
    }

    #[test]
    fn windows_pair_starts_and_ends_and_collect_actions_and_parameters() {
        let ledger = vec![
            row(0, Kind::PhaseBegun, "").with("phase", "start"),
            started(30, 0, "pause")
                .with("target", "instance:a-0")
                .with("instances", "a-0"),
            acted(30, 0, "a-0", "sigstop"),
            // Recorded out of time order: readers sort by t_ns.
            ended(32, 0, "pause"),
            acted(32, 0, "a-0", "sigcont"),
            started(40, 1, "latency")
                .with("latency_ms", 200)
                .with("jitter_ms", 50),
            ended(45, 1, "latency")
                .with("latency_ms", 200)
                .with("jitter_ms", 50)
                .with("requests", 120)
                .with("affected", 30),
            // A crash not restarted: a window of no length at its kill.
            started(50, 2, "crash"),
            acted(50, 2, "b-1", "sigkill"),
            ended(50, 2, "crash"),
            row(60, Kind::RunEnded, ""),
        ];
        let f = windows(&ledger, 10 * S);
        assert_eq!(f.len(), 3);
        assert_eq!(
            (f[0].fault, f[0].kind.as_str(), f[0].start_ns, f[0].end_ns),
            (0, "pause", 30 * S, 32 * S)
        );
        assert!(f[0].ended);
        assert_eq!(f[0].at_ms, 20_000.0, "from the epoch at 10 s");
        let actions: Vec<(&str, &str)> = f[0]
            .actions
            .iter()
            .map(|a| (a.instance.as_str(), a.action.as_str()))
            .collect();
        assert_eq!(actions, [("a-0", "sigstop"), ("a-0", "sigcont")]);
        assert_eq!(f[0].label(), "pause a-0");
        assert_eq!(f[0].params_text(), "target=instance:a-0");
        assert_eq!(f[0].requests, None);
        assert_eq!(f[1].params_text(), "jitter_ms=50 latency_ms=200");
        assert_eq!((f[1].requests, f[1].affected), (Some(120), Some(30)));
        assert_eq!(f[1].label(), "latency");
        assert_eq!(
            (f[2].start_ns, f[2].end_ns, f[2].ended),
            (50 * S, 50 * S, true)
        );
        assert_eq!(f[2].label(), "crash b-1");
        assert!(windows(&ledger[..1], 0).is_empty(), "no fault rows");
    }

    #[test]
    fn a_fault_never_ended_runs_to_the_run_end_or_the_last_row() {
        let mut ledger = vec![
            started(30, 0, "blackhole"),
            row(50, Kind::RunEnded, ""),
            row(55, Kind::InstanceKilled, "a-0"),
        ];
        let f = windows(&ledger, 0);
        assert_eq!((f[0].end_ns, f[0].ended), (50 * S, false));
        ledger.remove(1);
        assert_eq!(windows(&ledger, 0)[0].end_ns, 55 * S, "the last row");
        // Ended by the run's end: its window closes there, and it did not end by itself.
        let cut = vec![
            started(30, 0, "blackhole"),
            ended(50, 0, "blackhole")
                .with("requests", 10)
                .with("affected", 10)
                .with("cut", true),
        ];
        let f = windows(&cut, 0);
        assert_eq!(
            (f[0].end_ns, f[0].ended, f[0].affected),
            (50 * S, false, Some(10))
        );
        assert!(f[0].params.is_empty(), "{:?}", f[0].params);
        // The same fault twice: each end closes the oldest window still open.
        let twice = vec![
            started(10, 3, "crash_loop"),
            ended(12, 3, "crash_loop"),
            started(20, 3, "crash_loop"),
            acted(21, 3, "a-0", "restart"),
            ended(22, 3, "crash_loop"),
        ];
        let f = windows(&twice, 0);
        let spans: Vec<(i64, i64, usize)> = f
            .iter()
            .map(|f| (f.start_ns / S, f.end_ns / S, f.actions.len()))
            .collect();
        assert_eq!(spans, [(10, 12, 0), (20, 22, 1)]);
    }
}
