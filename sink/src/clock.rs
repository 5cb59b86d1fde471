//! The one place time comes from.
//!
//! Every recorded time is an integer in nanoseconds since the Unix epoch on the recording
//! machine's clock (DESIGN.md, "Files of a run directory"). Servers take a [`Clock`] rather than
//! calling the system clock themselves, so a deterministic simulation can hand them its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in ns since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ns(&self) -> u64;
}

/// The operating system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

/// The system clock read directly, for code that has no [`Clock`] handed to it (binaries).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ns: AtomicU64,
}

impl ManualClock {
    pub fn new(start_ns: u64) -> Self {
        Self {
            now_ns: AtomicU64::new(start_ns),
        }
    }

    pub fn set_ns(&self, t_ns: u64) {
        self.now_ns.store(t_ns, Ordering::SeqCst);
    }

    pub fn advance_ns(&self, by_ns: u64) {
        self.now_ns.fetch_add(by_ns, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now_ns.load(Ordering::SeqCst)
    }
}
