//! A fault as the run acts it out: [`ScheduledFault`], resolved from a `[[faults]]` entry
//! with every duration scaled, and what it does ([`Act`], [`InstanceAct`]). The run plan
//! builds these and `chaos.rs` acts them out; they are apart from the kinds so both sides
//! read one plain type.

use std::time::Duration;

use super::target::Target;
use crate::duration::Span;
use crate::fault_proxy::Action;

/// One `[[faults]]` entry as the run acts it out: resolved from the scenario with every
/// duration scaled ([`crate::scenario::Fault::schedule`], called by the run plan).
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    /// As `kind = "..."` names it: the ledger's `kind`.
    pub kind: &'static str,
    /// `at` as the scenario writes it, for the notes.
    pub written_at: Span,
    /// When it begins, from the schedule's epoch. Scaled.
    pub at: Duration,
    /// How long it acts; zero for a crash and a sink crash. Scaled.
    pub duration: Duration,
    /// Its `fault_started` row's `key=value` pairs, beyond the fault's index and kind.
    pub params: Vec<(&'static str, String)>,
    pub act: Act,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
pub enum Act {
    /// Signals the serving instances `target` picks, through the platform.
    Instances { target: Target, act: InstanceAct },
    /// Acts on each request in the fault proxy, for the fault's window.
    SinkPath(Action),
    /// Stops the harness's own sink.
    SinkCrash,
}

/// What an instance fault does to each instance it picked (durations scaled).
#[derive(Clone, Debug, PartialEq)]
pub enum InstanceAct {
    /// SIGSTOP for the fault's duration, then SIGCONT.
    Pause,
    /// SIGKILL; with `restart_after`, the platform restarts the same version in the same
    /// slot that long after; with `up_for` too, each restart is killed again once it has
    /// lived that long, until the fault's window closes.
    Kill {
        restart_after: Option<Duration>,
        up_for: Option<Duration>,
    },
}

/// Milliseconds, as the ledger writes a fault's durations.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}
