//! The one place time comes from.
//!
//! Every recorded time is an integer in nanoseconds since the Unix epoch on the recording
//! machine's clock (DESIGN.md, "Files of a run directory"). Servers take a [`Clock`] rather than
//! calling the system clock themselves, so a deterministic simulation can hand them its own.
//!
//! The wall clock is read once per process; every later time is that reading advanced by the
//! monotonic clock. A wall clock that NTP steps or slews (seen here: 5000 ppm, the kernel's
//! largest slew, for minutes) would otherwise stretch a run's timeline against the monotonic
//! clock its timers sleep on: the probes' send lag grew by 0.5 ms every 100 ms until every
//! run was invalid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in ns since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ns(&self) -> u64;
}

/// The operating system's clock, anchored once per process (see [`now_ns`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

/// The system clock, for code that has no [`Clock`] handed to it (binaries): the wall
/// clock as this process first read it, advanced by the monotonic clock since.
pub fn now_ns() -> u64 {
    static ANCHOR: OnceLock<(u64, Instant)> = OnceLock::new();
    let (wall_ns, at) = ANCHOR.get_or_init(|| {
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        (wall_ns, Instant::now())
    });
    wall_ns + at.elapsed().as_nanos() as u64
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
