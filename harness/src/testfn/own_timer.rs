//! The function's own timer, as a timer-triggered function on a real platform has: every
//! instance fires occurrence `m = floor((t - epoch) / period)` from the wall clock at
//! `epoch + m * period`, with no host to pick one instance. Several instances each firing is
//! the real double-timer hazard. With a lease (`--lease NAME`), an instance fires only while
//! it holds `NAME` at the sink (`POST /lease/NAME`), renewed every third of its TTL, like the
//! blob lease the platform's host takes; a holder that dies keeps it until the TTL runs out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use super::config::OwnTimer;
use super::state::AppState;
use crate::protocol::TickRequest;

/// Fires the occurrences on schedule until `cancel` (or `until`), each run in `state`'s run
/// tracker so the process waits for it before exiting.
pub async fn run(state: Arc<AppState>, timer: OwnTimer, cancel: CancellationToken) {
    // Until when the lease is surely held: from the request that got it, one TTL. Trusting a
    // flag until the next answer would let a holder whose renewal hangs fire after its
    // lease ran out and another took it.
    let held: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let lease_task = timer.lease.clone().map(|name| {
        crate::instance_tasks::spawn(hold_lease(
            state.clone(),
            name,
            timer.lease_ttl,
            held.clone(),
            cancel.clone(),
        ))
    });
    let clock = state.config.place.clock;
    let schedule = &timer.schedule;
    let mut m = schedule.next_at_or_after(clock.now_ns());
    while schedule.until.is_none_or(|u| m < u) {
        // Sleep to the wall-clock time, re-reading the clock: the schedule is the wall's.
        loop {
            let wait_ns = schedule.scheduled_ns(m) - clock.now_ns();
            if wait_ns <= 0 {
                break;
            }
            tokio::select! {
                biased;
                () = tokio::time::sleep(Duration::from_nanos(wait_ns as u64)) => {}
                () = cancel.cancelled() => break,
            }
        }
        if cancel.is_cancelled() {
            break;
        }
        if state.draining() {
            tracing::info!(m, "occurrence not run: PreparingForStop starts nothing new");
        } else if timer.lease.is_some()
            && !held
                .lock()
                .expect("lease")
                .is_some_and(|until| Instant::now() < until)
        {
            tracing::info!(m, "occurrence not run: another instance holds the lease");
        } else {
            let request = TickRequest {
                m,
                scheduled_ns: schedule.scheduled_ns(m),
                catch_up: false,
            };
            let runner = state.clone();
            crate::instance_tasks::spawn(state.runs.track_future(async move {
                super::tick::run_tick(&runner, request).await;
            }));
        }
        m += 1;
    }
    if let Some(task) = lease_task {
        let _ = task.await;
    }
}

/// Acquires and renews the lease every third of its TTL until `cancel`, then releases it.
async fn hold_lease(
    state: Arc<AppState>,
    name: String,
    ttl: Duration,
    held: Arc<Mutex<Option<Instant>>>,
    cancel: CancellationToken,
) {
    let url = format!("{}/lease/{name}", state.config.sink_url);
    let body = serde_json::json!({
        "holder": state.config.instance,
        "ttl_ms": ttl.as_millis().max(1) as u64,
    });
    // A lease request has a third of the TTL, in real time, whatever the submit timeout.
    let client = state.config.place.net.client(crate::net::ClientOptions {
        timeout: Some((ttl / 3).max(Duration::from_millis(10))),
        default_headers: state.sink_headers(),
        ..Default::default()
    });
    loop {
        let asked = Instant::now();
        let answer = client.post(&url).json(&body).send().await;
        let now_held = matches!(&answer, Ok(r) if r.status().is_success());
        let was_held = {
            let mut h = held.lock().expect("lease");
            let was = h.is_some_and(|until| Instant::now() < until);
            *h = now_held.then_some(asked + ttl);
            was
        };
        if now_held != was_held {
            tracing::info!(lease = %name, held = now_held, "lease");
        }
        tokio::select! {
            biased;
            () = tokio::time::sleep(ttl / 3) => {}
            () = cancel.cancelled() => break,
        }
    }
    *held.lock().expect("lease") = None;
    let release = client.delete(&url).json(&body).send();
    let _ = tokio::time::timeout(Duration::from_secs(1), release).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfn::config::Schedule;

    #[test]
    fn the_next_occurrence_is_the_first_at_or_after_now() {
        let timer = Schedule {
            epoch_ns: 1_000,
            period: Duration::from_nanos(100),
            first: 2,
            until: None,
        };
        assert_eq!(timer.next_at_or_after(0), 2, "never before `first`");
        assert_eq!(
            timer.next_at_or_after(1_300),
            3,
            "on the boundary: that one"
        );
        assert_eq!(timer.next_at_or_after(1_301), 4);
        assert_eq!(timer.scheduled_ns(4), 1_400);
    }
}
