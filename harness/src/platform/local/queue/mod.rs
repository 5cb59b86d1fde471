//! The storage queue and its trigger, with the real platform's semantics.
//!
//! Delivery leases a message for `visibility` and raises its dequeue count; success deletes
//! it; a failed invocation's message is visible again at once (a retry), a killed one's only
//! when its lease ends; a message delivered `max_dequeue` times without success moves to the
//! poison queue. Each instance has at most `batch_size` messages in flight. The host owns the
//! queue, so it is durable across instance restarts.

pub mod store;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use reports::ledger::Kind;
use tokio_util::sync::CancellationToken;

pub use store::{Queue, QueueOptions};

use super::{Host, Outcome};
use crate::protocol::{Invocation, ProcRequest};
use crate::slot::PRODUCTION;

/// The queue trigger's settings.
/// Delivers messages to the ready production instances until `stop`.
pub async fn run(host: Host, options: QueueOptions, stop: CancellationToken) {
    let in_flight: std::sync::Arc<Mutex<BTreeMap<String, u32>>> = Default::default();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let mut delivered = false;
        // The instances are listed only when there is something to deliver: every 2 ms,
        // a thousand of them would be most of the run's work.
        let ready = if host.queue().any_visible() {
            host.ready_in(PRODUCTION)
        } else {
            Vec::new()
        };
        for instance in ready {
            let busy = *in_flight
                .lock()
                .expect("lock")
                .get(&instance.id)
                .unwrap_or(&0);
            if busy >= options.batch_size {
                continue;
            }
            let mut poisoned = Vec::new();
            let leased = host.queue().lease(&options, &mut poisoned);
            for (message, dequeue) in poisoned {
                host.ledger().record(
                    host.ledger()
                        .event(Kind::MessagePoisoned, "", "", "")
                        .with("source", "proc")
                        .with("m", message.m)
                        .with("n", message.n)
                        .with("dequeue", dequeue),
                );
            }
            let Some((id, message, dequeue)) = leased else {
                break;
            };
            delivered = true;
            *in_flight
                .lock()
                .expect("lock")
                .entry(instance.id.clone())
                .or_default() += 1;
            let (host, in_flight) = (host.clone(), in_flight.clone());
            let tasks = host.tasks().clone();
            tasks.spawn(async move {
                let call = Invocation::Proc(ProcRequest {
                    m: message.m,
                    n: message.n,
                    dequeue,
                });
                match host.invoke(&instance.id, call).await.0 {
                    Outcome::Ok { .. } => host.queue().delete(id),
                    Outcome::Failed { .. } => host.queue().release(id),
                    // A killed invocation's message waits out its lease.
                    Outcome::Killed { .. } => {}
                }
                if let Some(n) = in_flight.lock().expect("lock").get_mut(&instance.id) {
                    *n -= 1;
                }
            });
        }
        if !delivered {
            tokio::select! {
                biased;
                () = tokio::time::sleep(Duration::from_millis(2)) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
