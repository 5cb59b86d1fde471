//! What a run measured, however far it got, and where and why it stopped short: what the
//! run's parts hand back to the runner.

use std::time::Duration;

use reports::Probe;

use crate::clock::Schedule;

/// Where and why a run stopped short.
#[derive(Clone, Debug)]
pub struct Failure {
    /// `setup`, `start`, `run`, `update`, `settle` or `check`.
    pub phase: &'static str,
    pub reason: String,
    pub interrupted: bool,
}

impl Failure {
    pub fn new(phase: &'static str, reason: impl Into<String>) -> Failure {
        Failure {
            phase,
            reason: reason.into(),
            interrupted: false,
        }
    }

    pub fn interrupted(phase: &'static str) -> Failure {
        Failure {
            phase,
            reason: "interrupted (Ctrl-C): every instance was stopped".into(),
            interrupted: true,
        }
    }
}

/// What the run measured, however far it got.
#[derive(Default)]
pub struct Measured {
    /// The timer's schedule; `None` when the run failed before it began.
    pub schedule: Option<Schedule>,
    pub probes: Vec<Probe>,
    pub failure: Option<Failure>,
    /// Scenario time (unscaled) up to which the expected window may reach.
    pub window_end: Duration,
    /// Problems of the measuring itself (the sink), each making the run invalid.
    pub invalid: Vec<String>,
    /// Things the summary should say that do not make the run invalid.
    pub notes: Vec<String>,
}
