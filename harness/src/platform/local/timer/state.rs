//! The timer's settings and state as the host keeps them: which function it runs, its
//! schedule, the lease holder and the schedule monitor's last completed occurrence. The
//! timer trigger (`timer/mod.rs`) acts on them.

use crate::clock::Schedule;

/// Which function the timer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerFunction {
    /// `/tick`: the loop that submits `tick(m, n)` items itself.
    Tick,
    /// `/poll`: returns messages, which the host enqueues for the queue trigger.
    Poll,
}

/// The timer's platform behaviour for one run.
#[derive(Clone, Copy, Debug)]
pub struct TimerOptions {
    pub function: TimerFunction,
    pub schedule: Schedule,
    pub use_monitor: bool,
    /// The staging slot's timer fires too.
    pub staging_triggers: bool,
}

/// The lease and the monitor, kept in the host's state.
#[derive(Debug, Default)]
pub struct TimerState {
    pub holder: Option<String>,
    /// The schedule monitor: the last occurrence whose run completed (OK or failed).
    pub last_completed: Option<u64>,
    pub options: Option<TimerOptions>,
    /// The demand schedule: changes the poll of occurrence `m` finds (`[m]`), when the
    /// scenario gives one; otherwise the app's own count.
    pub poll_events: Option<std::sync::Arc<Vec<u32>>>,
}
