//! The timer trigger: the schedule, the singleton lease, and the schedule monitor.
//!
//! Occurrence `m` is scheduled at `epoch + m * period`; numbers come from the schedule, not a
//! counter, so they survive restarts and version changes. Each occurrence fires on exactly
//! one instance: the holder of the timer lease, a ready production instance. There is no
//! retry on failure.
//!
//! With the schedule monitor on (the platform's default only for periods over a minute), the
//! host records the last completed occurrence after it completes. When an instance acquires
//! the lease ("at start") and the occurrence after the last completed one is past due,
//! exactly one catch-up run of it fires: a killed run is repeated (duplicates and late
//! items), and several missed occurrences collapse into one (the rest are lost).

pub mod state;

use reports::ledger::Kind;
use tokio_util::sync::CancellationToken;

pub use state::{TimerFunction, TimerOptions, TimerState};

use super::{Host, Outcome, Phase};
use crate::protocol::{Invocation, PollRequest};
use crate::slot::{PRODUCTION, STAGING};

impl Host {
    /// Sets the timer's behaviour; the lease is acquired at the next firing or refresh.
    pub fn configure_timer(&self, options: TimerOptions) {
        self.state().timer.options = Some(options);
    }

    /// Sets the demand schedule: the changes each occurrence's poll finds.
    pub fn set_poll_events(&self, events: std::sync::Arc<Vec<u32>>) {
        self.state().timer.poll_events = Some(events);
    }

    /// The lease holder, acquiring the lease for a ready production instance when the
    /// holder is gone. Acquiring it is an instance's "start" for the schedule monitor: a past
    /// due occurrence gets one catch-up run. `firing` is the occurrence being fired right now,
    /// which is never also caught up.
    pub fn refresh_timer_lease(&self, firing: Option<u64>) -> Option<String> {
        let (holder, catch_up, options) = {
            let mut st = self.state();
            let options = st.timer.options?;
            let valid = st.timer.holder.as_ref().is_some_and(|h| {
                st.instances
                    .get(h)
                    .is_some_and(|e| e.view.slot == PRODUCTION && e.view.phase == Phase::Ready)
            });
            if valid {
                return st.timer.holder.clone();
            }
            // The lease goes to the newest ready instance: during a rolling update the timer
            // singleton moves to the newest version.
            let new = st
                .instances
                .values()
                .filter(|e| e.view.slot == PRODUCTION && e.view.phase == Phase::Ready)
                .max_by_key(|e| e.view.seq)
                .map(|e| e.view.clone());
            st.timer.holder = new.as_ref().map(|v| v.id.clone());
            let new = new?;
            self.inner.ledger.record(self.inner.ledger.event(
                Kind::TimerLease,
                &new.id,
                &new.version,
                &new.slot,
            ));
            let mut catch_up = None;
            if options.use_monitor {
                if let Some(last) = st.timer.last_completed {
                    let next = last + 1;
                    let due = options.schedule.instant(next) <= self.ledger().clock().now();
                    let firing_now = firing.is_some_and(|f| next >= f);
                    if due && !firing_now {
                        catch_up = Some(next);
                    }
                }
            }
            (new.id, catch_up, options)
        };
        if let Some(m) = catch_up {
            self.spawn_tick(&holder, m, true, options);
        }
        Some(holder)
    }

    /// Starts timer run `m` on `id` in the background, tracked by [`Host::tasks`]; updates
    /// the schedule monitor when it completes.
    pub fn spawn_tick(&self, id: &str, m: u64, catch_up: bool, options: TimerOptions) {
        let host = self.clone();
        let id = id.to_owned();
        self.tasks().spawn(async move {
            let scheduled_ns = options.schedule.scheduled_ns(m);
            let outcome = match options.function {
                TimerFunction::Tick => host.invoke_tick(&id, m, scheduled_ns, catch_up).await,
                TimerFunction::Poll => {
                    let events = host
                        .state()
                        .timer
                        .poll_events
                        .as_ref()
                        .map(|e| e.get(m as usize).copied().unwrap_or(0));
                    let call = Invocation::Poll {
                        request: PollRequest {
                            m,
                            scheduled_ns,
                            events,
                        },
                        catch_up,
                    };
                    let (outcome, messages) = host.invoke(&id, call).await;
                    // The output binding: the host enqueues what the run returned.
                    for message in messages {
                        host.queue().enqueue(message);
                    }
                    outcome
                }
            };
            if options.use_monitor && !matches!(outcome, Outcome::Killed { .. }) {
                let mut st = host.state();
                st.timer.last_completed = Some(st.timer.last_completed.map_or(m, |l| l.max(m)));
            }
        });
    }
}

/// Fires occurrences `from..until` on schedule until `stop`; each run goes in the
/// background. Occurrences before `from` are never scheduled (the trigger was not enabled).
pub async fn run(
    host: Host,
    options: TimerOptions,
    from: u64,
    until: u64,
    stop: CancellationToken,
) {
    host.configure_timer(options);
    for m in from..until {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(options.schedule.instant(m)) => {}
            () = stop.cancelled() => return,
        }
        match host.refresh_timer_lease(Some(m)) {
            Some(holder) => host.spawn_tick(&holder, m, false, options),
            None => host.ledger().record(
                host.ledger()
                    .event(Kind::OccurrenceMissed, "", "", PRODUCTION)
                    .with("source", "tick")
                    .with("m", m),
            ),
        }
        if options.staging_triggers {
            if let Some(staging) = host.ready_in(STAGING).first() {
                host.spawn_tick(&staging.id, m, false, options);
            }
        }
    }
}
