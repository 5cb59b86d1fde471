//! The run's one clock, and the schedule it keeps.
//!
//! Everything in a run reads the time here: the runner, the platform, the strategies, the
//! probes, the faults and the analysis. A [`Clock`] gives both times a run needs, read
//! together from tokio's clock: a monotonic [`Instant`] to sleep until, and wall time in ns
//! since the Unix epoch for the record (the ledger, the sink's arrivals, the probes). Sleeps
//! and timers are tokio's (`tokio::time::sleep_until`, `interval`, `timeout`), which a
//! runtime with paused time drives: under [`Clock::starting_at`] on such a runtime a whole
//! run happens in virtual time, from a fixed epoch, as fast as the work allows and the same
//! every time. That is how the virtual-time platform plugs in (design doc, "Time").
//!
//! The wall time is a reading of the system clock advanced by the monotonic one, never read
//! again: a wall clock that NTP slews would otherwise stretch the run's timeline against the
//! timers it sleeps on (see [`sink::clock`]).

use std::time::Duration;

use tokio::time::Instant;

/// Where a run in virtual time starts: 2026-01-01T00:00:00Z, so that every timestamp it
/// writes is the same from run to run.
pub const VIRTUAL_EPOCH_NS: i64 = 1_767_225_600_000_000_000;

/// The run's clock; cheap to copy.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Wall time at `anchor`, in ns since the Unix epoch.
    epoch_ns: i64,
    anchor: Instant,
    /// Time is tokio's paused clock: nothing may wait on the operating system's own.
    virtual_time: bool,
}

impl Clock {
    /// The machine's clock: wall time as this process first read it, advanced by the
    /// monotonic clock.
    pub fn system() -> Clock {
        Clock {
            epoch_ns: sink::clock::now_ns() as i64,
            anchor: Instant::now(),
            virtual_time: false,
        }
    }

    /// A clock that reads `epoch_ns` now and advances with tokio's clock: on a runtime whose
    /// time is paused, virtual time from a fixed epoch.
    pub fn starting_at(epoch_ns: i64) -> Clock {
        Clock {
            epoch_ns,
            anchor: Instant::now(),
            virtual_time: true,
        }
    }

    /// Wall time now, in ns since the Unix epoch.
    pub fn now_ns(&self) -> i64 {
        self.ns_at(self.now())
    }

    /// The monotonic time now, to sleep until or measure from.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The wall time, in ns since the Unix epoch, of the monotonic `at`.
    pub fn ns_at(&self, at: Instant) -> i64 {
        if at >= self.anchor {
            self.epoch_ns + at.duration_since(self.anchor).as_nanos() as i64
        } else {
            self.epoch_ns - self.anchor.duration_since(at).as_nanos() as i64
        }
    }

    /// Whether time is virtual: code that would wait on an operating-system thread for
    /// precision (the probes' scheduler) waits on tokio's clock instead.
    pub fn is_virtual(&self) -> bool {
        self.virtual_time
    }

    /// Calls `tick(i)` at `start + i * interval` for i = 0, 1, ... until `stop`: an
    /// open-loop schedule that never waits for what a tick started (wrk2's), so a slow
    /// tick shows as lateness rather than as fewer ticks. On the machine's clock it runs on
    /// an operating-system thread of its own: tokio's timer wheel has 1 ms granularity,
    /// while the thread's nanosleep wakes within tens of microseconds of the intended time.
    /// In virtual time it runs on tokio's clock, which has no other.
    pub async fn pace(
        &self,
        start: Instant,
        interval: Duration,
        stop: tokio_util::sync::CancellationToken,
        mut tick: impl FnMut(u64) + Send + 'static,
    ) {
        if self.virtual_time {
            let pacer = tokio::spawn(async move {
                for i in 0u64.. {
                    tokio::select! {
                        biased;
                        () = tokio::time::sleep_until(start + interval * i as u32) => tick(i),
                        () = stop.cancelled() => break,
                    }
                }
            });
            let _ = pacer.await;
            return;
        }
        let start = start.into_std();
        let pacer = std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || {
                for i in 0u64.. {
                    let due = start + interval * i as u32;
                    loop {
                        let now = std::time::Instant::now();
                        if now >= due || stop.is_cancelled() {
                            break;
                        }
                        // Sleep in slices so a stop is noticed promptly.
                        std::thread::sleep((due - now).min(Duration::from_millis(20)));
                    }
                    if stop.is_cancelled() {
                        break;
                    }
                    tick(i);
                }
            })
            .expect("spawning the pacer thread");
        let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
    }
}

/// The sink, the ledger and the apps in this process stamp with the run's clock.
impl sink::clock::Clock for Clock {
    fn now_ns(&self) -> u64 {
        Clock::now_ns(self).max(0) as u64
    }
}

/// The run's schedule, in both clocks: occurrence `m` is due at `epoch + m * period`, in ns
/// since the Unix epoch for the record and as a monotonic instant for sleeping.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub epoch_ns: i64,
    pub epoch: Instant,
    pub period: Duration,
}

impl Schedule {
    /// A schedule starting now on `clock`.
    pub fn starting_now(clock: &Clock, period: Duration) -> Schedule {
        let epoch = clock.now();
        Schedule {
            epoch_ns: clock.ns_at(epoch),
            epoch,
            period,
        }
    }

    pub fn scheduled_ns(&self, m: u64) -> i64 {
        self.epoch_ns + (self.period.as_nanos() as i64) * m as i64
    }

    pub fn instant(&self, m: u64) -> Instant {
        self.epoch + self.period * m as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_virtual_clock_moves_only_with_tokio_time() {
        let clock = Clock::starting_at(1_000_000_000);
        let t0 = clock.now();
        assert_eq!(clock.now_ns(), 1_000_000_000);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now().duration_since(t0), Duration::from_secs(3600));
        assert_eq!(clock.now_ns(), 1_000_000_000 + 3_600_000_000_000);
        assert_eq!(clock.ns_at(t0), 1_000_000_000);
        assert!(clock.is_virtual());
    }
}
