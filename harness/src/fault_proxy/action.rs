//! [`Action`]: what a sink-path fault does to each request it meets; [`Active`]: a fault
//! while it acts in the proxy, with its draws, its bandwidth reservations and the
//! [`Counts`] of what it met, which the ledger records when it ends.

use crate::clock::Clock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::rng::Rng;

/// What a sink-path fault does to each request it meets (durations already scaled).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Waits `base ± jitter` (uniform) before forwarding.
    Latency {
        base: Duration,
        jitter: Duration,
        probability: f64,
    },
    /// Answers `status` instead of forwarding.
    HttpError { status: u16, probability: f64 },
    /// Resets the connection under the request.
    Reset { probability: f64 },
    /// Never answers: holds the request until the client gives up or the proxy stops.
    Blackhole { probability: f64 },
    /// The first `count` requests answer `status`.
    FailFirst { count: u64, status: u16 },
    /// Request and answer bytes pass at most `bytes_per_s`, shared by the fault's requests.
    Bandwidth { bytes_per_s: u64 },
}

/// What a fault met while it acted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that came through while it acted.
    pub requests: u64,
    /// Those it acted on.
    pub affected: u64,
}

/// A fault while it acts.
pub struct Active {
    pub(super) index: usize,
    pub(super) action: Action,
    pub(super) requests: AtomicU64,
    pub(super) affected: AtomicU64,
    pub(super) rng: Mutex<Rng>,
    /// Cancelled when the fault ends.
    pub(super) ended: CancellationToken,
    /// The bandwidth cap's next free instant: a transfer reserves its time after it.
    pub(super) next_free: Mutex<Option<Instant>>,
    pub(super) clock: Clock,
}

impl Active {
    /// Draws whether this request is acted on, and counts it when it is.
    pub(super) fn draw(&self, probability: f64) -> bool {
        let hit = self.rng.lock().unwrap_or_else(|e| e.into_inner()).unit() < probability;
        if hit {
            self.affected.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }

    /// Waits out `bytes` at the cap, after every transfer that reserved before it.
    pub(super) async fn transfer(&self, bytes: usize, bytes_per_s: u64) {
        let cost = Duration::from_secs_f64(bytes as f64 / bytes_per_s as f64);
        let done = {
            let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let now = self.clock.now();
            let start = next.map_or(now, |n| n.max(now));
            let done = start + cost;
            *next = Some(done);
            done
        };
        tokio::select! {
            () = tokio::time::sleep_until(done) => {}
            () = self.ended.cancelled() => {}
        }
    }
}
