//! What the test function is told: the work the host passes to every instance it starts,
//! and everything an instance knows about itself.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::line_out::LineOut;
use super::release;
pub use crate::scenario::sections::DEFAULT_HEARTBEAT;
use crate::scenario::OnCancel;

/// How the function works: the settings the host passes to every instance it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    pub items: u32,
    pub item_delay: Duration,
    pub processing: Duration,
    pub submit_timeout: Duration,
    pub retries: u32,
    pub on_cancel: OnCancel,
    /// Messages each `/poll` run emits.
    pub events: u32,
    /// Chaos: the queue handler always fails messages with this `n` (they end poisoned).
    pub fail_n: Option<u64>,
    /// How often a heartbeat event is posted (zero: never).
    pub heartbeat: Duration,
}

impl Work {
    /// The command-line flags that give an instance these settings.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--items".into(),
            self.items.to_string(),
            "--item-delay-ns".into(),
            self.item_delay.as_nanos().to_string(),
            "--processing-ns".into(),
            self.processing.as_nanos().to_string(),
            "--submit-timeout-ms".into(),
            self.submit_timeout.as_millis().max(1).to_string(),
            "--retries".into(),
            self.retries.to_string(),
            "--on-cancel".into(),
            self.on_cancel.as_str().into(),
            "--events".into(),
            self.events.to_string(),
        ];
        if let Some(n) = self.fail_n {
            args.extend(["--fail-n".into(), n.to_string()]);
        }
        // Only when asked: an app of the user's that never heard of the flag still starts.
        if self.heartbeat != DEFAULT_HEARTBEAT {
            args.extend([
                "--heartbeat-ms".into(),
                self.heartbeat.as_millis().to_string(),
            ]);
        }
        args
    }
}

/// Everything the function knows about itself and its work.
#[derive(Clone, Debug)]
pub struct Config {
    pub version: String,
    pub instance: String,
    pub slot: String,
    /// The sink's base URL, e.g. `http://127.0.0.1:4000`.
    pub sink_url: String,
    pub stash_dir: Option<PathBuf>,
    /// Report each item's first submit and its acknowledgement on stdout (see
    /// [`crate::protocol::SendReport`]).
    pub report_sends: bool,
    /// Where stdout lines go.
    pub out: LineOut,
    pub work: Work,
    /// The sink's bearer token, sent with every request to it.
    pub sink_token: Option<String>,
    /// Post lifecycle events to the sink's `/events`.
    pub lifecycle: bool,
    /// How often a heartbeat event is posted (zero: never).
    pub heartbeat: Duration,
    /// Fire occurrences on this schedule itself (the app driver).
    pub own_timer: Option<OwnTimer>,
    /// How the Functions host's timer invocations are numbered, and the run's window
    /// (`HARNESS_TIMER_*`; see `functions_host.rs`).
    pub functions_timer: Option<Schedule>,
    /// How this version misbehaves, when it is a bad release.
    pub release: release::ReleaseArgs,
    /// Where it is: a process on the machine, or an instance of the virtual-time platform.
    pub place: Place,
}

/// Where an instance runs: its network, its clock and the pid it reports.
#[derive(Clone)]
pub struct Place {
    pub net: crate::net::Net,
    pub clock: crate::clock::Clock,
    pub pid: u32,
}

impl Place {
    /// A process of its own on the machine.
    pub fn process() -> Place {
        Place {
            net: crate::net::Net::Machine,
            clock: crate::clock::Clock::system(),
            pid: std::process::id(),
        }
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place")
            .field("sim", &self.net.is_sim())
            .field("pid", &self.pid)
            .finish()
    }
}

/// A run's unsent items, as written to the stash directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stash {
    pub source: String,
    pub m: u64,
    pub ns: Vec<u64>,
}

/// A timer's schedule: occurrence `m` is due at `epoch_ns + m * period`, and the run wants
/// the occurrences `first <= m < until` only (its window).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub epoch_ns: i64,
    pub period: Duration,
    /// The first occurrence of the window, and its end (exclusive).
    pub first: u64,
    pub until: Option<u64>,
}

impl Schedule {
    fn period_ns(&self) -> i64 {
        self.period.as_nanos().clamp(1, i64::MAX as u128) as i64
    }

    /// The first occurrence scheduled at or after `now_ns` (and not before `first`).
    pub fn next_at_or_after(&self, now_ns: i64) -> u64 {
        let period = self.period_ns();
        let since = now_ns - self.epoch_ns;
        let next = if since <= 0 {
            0
        } else {
            (since + period - 1) / period
        };
        (next as u64).max(self.first)
    }

    /// The occurrence due at `t_ns` or last before it (`t_ns` rounded down to the period);
    /// none before the epoch.
    pub fn occurrence_at(&self, t_ns: i64) -> Option<u64> {
        let since = t_ns.checked_sub(self.epoch_ns)?;
        (since >= 0).then(|| (since / self.period_ns()) as u64)
    }

    /// Whether occurrence `m` is in the run's window.
    pub fn in_window(&self, m: u64) -> bool {
        m >= self.first && self.until.is_none_or(|until| m < until)
    }

    pub fn scheduled_ns(&self, m: u64) -> i64 {
        self.epoch_ns + self.period.as_nanos() as i64 * m as i64
    }
}

/// The function's own timer, from the command line: its schedule and its lease.
#[derive(Clone, Debug)]
pub struct OwnTimer {
    pub schedule: Schedule,
    pub lease: Option<String>,
    pub lease_ttl: Duration,
}
