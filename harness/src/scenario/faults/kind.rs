//! [`Kind`]: what the [`Fault`](super::Fault) enum asks of each kind's struct, so the enum
//! delegates and each kind holds its own keys, checks and act (one struct per kind).

use super::scheduled::Act;
use super::target::Target;
use crate::duration::{Span, TimeScale};

/// What [`Fault`](super::Fault) asks of each kind's struct; only `at` and `act` have no default. Spans
/// are as written, on the scenario clock: `act` scales them through the run's [`TimeScale`].
pub trait Kind {
    /// When it begins, on the scenario clock.
    fn at(&self) -> Span;
    /// How long it acts (a crash and a sink crash: no time of their own).
    fn duration(&self) -> Option<Span> {
        None
    }
    /// The instances it acts on: instance faults only.
    fn target(&self) -> Option<&Target> {
        None
    }
    /// Acts in the fault proxy between the instances and the sink.
    fn on_sink_path(&self) -> bool {
        false
    }
    fn probability(&self) -> Option<f64> {
        None
    }
    fn status(&self) -> Option<u16> {
        None
    }
    /// Its own checks, after the common ones: the key to blame and why.
    fn check(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }
    /// What the run does, its durations scaled by `scale`; pushes the `key=value` pairs of
    /// its `fault_started` row that are its own.
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act;
}
