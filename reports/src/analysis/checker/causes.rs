//! Why items were lost or duplicated, from the ledger: the invocations that covered each
//! expected occurrence and how they ended.

use std::collections::{HashMap, HashSet};

use crate::analysis::key_grid::{Cell, FLAG_RETRIED};
use crate::model::expected::ExpectedSpec;
use crate::model::ledger::{Kind, LedgerEvent};
use crate::model::verdict::{DuplicateCause, LostCause};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Ok,
    Failed,
    Killed,
    /// Begun, and never ended in the ledger.
    Open,
}

#[derive(Clone, Debug)]
pub(super) struct Invocation {
    pub(super) version: String,
    /// A queue invocation processes one message, item `n`; a timer run covers every `n`.
    n: Option<u64>,
    catch_up: bool,
    dequeue: u64,
    pub(super) outcome: Outcome,
}

impl Invocation {
    pub(super) fn covers(&self, n: u64) -> bool {
        self.n.is_none_or(|own| own == n)
    }
}

/// The ledger, indexed by expected occurrence.
#[derive(Default)]
pub(super) struct LedgerIndex {
    pub(super) invocations: HashMap<(usize, u64), Vec<Invocation>>,
    poisoned: HashSet<(usize, u64, u64)>,
    sent: HashSet<(usize, u64, u64)>,
}

impl LedgerIndex {
    pub(super) fn build(spec: &ExpectedSpec, ledger: &[LedgerEvent]) -> LedgerIndex {
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
            match e.event {
                Kind::InvocationBegun => {
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
                Kind::InvocationOk | Kind::InvocationFailed | Kind::InvocationKilled => {
                    let outcome = match e.event {
                        Kind::InvocationOk => Outcome::Ok,
                        Kind::InvocationFailed => Outcome::Failed,
                        _ => Outcome::Killed,
                    };
                    if let Some(id) = e.get("inv") {
                        index.end(&by_id, id, outcome, &e.version);
                        if let Some(open) = open_on.get_mut(e.instance.as_str()) {
                            open.retain(|o| o != id);
                        }
                    }
                }
                Kind::InstanceKilled | Kind::InstanceStopped => {
                    for id in open_on.remove(e.instance.as_str()).unwrap_or_default() {
                        index.end(&by_id, &id, Outcome::Killed, &e.version);
                    }
                }
                Kind::MessagePoisoned => {
                    if let Some(key) = key_of(e) {
                        index.poisoned.insert(key);
                    }
                }
                Kind::ItemSent => {
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

    pub(super) fn lost_cause<'a>(
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

pub(super) fn duplicate_cause<'a>(
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
