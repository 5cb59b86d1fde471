//! What the scale controller did, from the ledger: its decisions (`scale_out`, `scale_in`,
//! `scale_limited`), the most instances alive at once, and, while the update ran, how many
//! instances started (by version) against how many were drained, which is how the Flex
//! plan's "provisions more instances than it drains" shows.

use std::collections::BTreeMap;

use crate::model::ledger::{Kind, LedgerEvent};
use crate::model::verdict::Scaling;

/// The scaling of a run; `None` when no scale controller decided anything.
pub fn of_ledger(ledger: &[LedgerEvent]) -> Option<Scaling> {
    fn decided<'a>(
        ledger: &'a [LedgerEvent],
        kind: Kind,
    ) -> impl Iterator<Item = &'a LedgerEvent> + 'a {
        ledger.iter().filter(move |e| e.event == kind)
    }
    let decided = |kind: Kind| decided(ledger, kind);
    decided(Kind::ScaleOut)
        .chain(decided(Kind::ScaleIn))
        .chain(decided(Kind::ScaleLimited))
        .next()?;
    let count = |kind: Kind, key: &str| -> u64 {
        decided(kind)
            .filter_map(|e| e.get(key)?.parse::<u64>().ok())
            .sum()
    };
    let mut s = Scaling {
        scale_outs: decided(Kind::ScaleOut).count() as u64,
        added: count(Kind::ScaleOut, "adding"),
        scale_ins: decided(Kind::ScaleIn).count() as u64,
        removed: count(Kind::ScaleIn, "removing"),
        limited: decided(Kind::ScaleLimited).count() as u64,
        ..Scaling::default()
    };
    let mut events: Vec<&LedgerEvent> = ledger.iter().collect();
    events.sort_by_key(|e| e.t_ns);
    let update_phase = |e: &LedgerEvent| e.get("phase") == Some("update");
    let mut alive: i64 = 0;
    let mut updating = false;
    let mut started: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        match e.event {
            Kind::PhaseBegun if update_phase(e) => updating = true,
            Kind::PhaseEnded if update_phase(e) => updating = false,
            Kind::InstanceStarted if e.slot != "staging" => {
                alive += 1;
                s.peak_instances = s.peak_instances.max(alive as u64);
                if updating {
                    *started.entry(e.version.clone()).or_default() += 1;
                }
            }
            Kind::InstanceStopped | Kind::InstanceKilled if e.slot != "staging" => {
                alive -= 1;
            }
            Kind::InstanceDraining if updating => s.drained_during_update += 1,
            _ => {}
        }
    }
    s.started_during_update = started;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_ns: i64, kind: Kind, instance: &str, version: &str) -> LedgerEvent {
        LedgerEvent::new(t_ns, kind, instance, version, "production")
    }

    #[test]
    fn counts_decisions_the_peak_and_what_the_update_started_and_drained() {
        let ledger = vec![
            at(0, Kind::InstanceStarted, "a-0", "A"),
            at(0, Kind::InstanceStarted, "a-1", "A"),
            at(10, Kind::PhaseBegun, "", "B").with("phase", "update"),
            at(10, Kind::InstanceDraining, "a-0", "A"),
            at(10, Kind::InstanceStarted, "b-0", "B"),
            at(11, Kind::InstanceKilled, "a-0", "A"),
            at(12, Kind::ScaleOut, "", "B").with("adding", 2),
            at(12, Kind::InstanceStarted, "b-1", "B"),
            at(12, Kind::InstanceStarted, "b-2", "B"),
            at(13, Kind::ScaleLimited, "", "B").with("wanted", 9),
            at(14, Kind::InstanceDraining, "a-1", "A"),
            at(15, Kind::InstanceKilled, "a-1", "A"),
            at(16, Kind::PhaseEnded, "", "B").with("phase", "update"),
            at(20, Kind::ScaleIn, "", "B").with("removing", 1),
            at(20, Kind::InstanceDraining, "b-2", "B"),
        ];
        let s = of_ledger(&ledger).expect("a controller decided");
        assert_eq!(
            (s.scale_outs, s.added, s.scale_ins, s.removed),
            (1, 2, 1, 1)
        );
        assert_eq!(s.limited, 1);
        assert_eq!(s.peak_instances, 4, "a-1, b-0, b-1, b-2 at 12");
        assert_eq!(s.started_during_update, BTreeMap::from([("B".into(), 3)]));
        assert_eq!(
            s.drained_during_update, 2,
            "the scale-in came after the update"
        );
        assert_eq!(of_ledger(&ledger[..5]), None, "no decision: no controller");
    }
}
