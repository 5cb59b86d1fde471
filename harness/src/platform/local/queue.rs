//! The storage queue and its trigger, with the real platform's semantics.
//!
//! Delivery leases a message for `visibility` and raises its dequeue count; success deletes
//! it; a failed invocation's message is visible again at once (a retry), a killed one's only
//! when its lease ends; a message delivered `max_dequeue` times without success moves to the
//! poison queue. Each instance has at most `batch_size` messages in flight. The host owns the
//! queue, so it is durable across instance restarts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use reports::ledger::Kind;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Host, Outcome};
use crate::protocol::{Invocation, Message, ProcRequest};
use crate::slot::PRODUCTION;

/// The queue trigger's settings.
#[derive(Clone, Copy, Debug)]
pub struct QueueOptions {
    /// How long a delivered message stays invisible (platform: 10 min).
    pub visibility: Duration,
    /// Deliveries before a message is poisoned (platform: 5).
    pub max_dequeue: u32,
    /// Messages in flight per instance (platform: 16).
    pub batch_size: u32,
}

#[derive(Clone, Debug)]
struct Queued {
    message: Message,
    dequeue: u32,
    visible_at: Instant,
    id: u64,
}

#[derive(Default)]
struct State {
    messages: VecDeque<Queued>,
    next_id: u64,
}

/// The queue itself: visible and leased messages. A poisoned message leaves it; the ledger's
/// `message_poisoned` event is the poison queue's record.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("queue lock")
    }

    pub fn enqueue(&self, message: Message) {
        let mut s = self.lock();
        s.next_id += 1;
        let id = s.next_id;
        s.messages.push_back(Queued {
            message,
            dequeue: 0,
            visible_at: Instant::now(),
            id,
        });
    }

    /// Messages not yet deleted or poisoned (leased ones included).
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leases the first visible message; poisons the ones delivered too often on the way.
    fn lease(
        &self,
        options: &QueueOptions,
        poisoned: &mut Vec<(Message, u32)>,
    ) -> Option<(u64, Message, u32)> {
        let now = Instant::now();
        let mut s = self.lock();
        loop {
            let at = s.messages.iter().position(|q| q.visible_at <= now)?;
            if s.messages[at].dequeue >= options.max_dequeue {
                let q = s.messages.remove(at).expect("found above");
                poisoned.push((q.message, q.dequeue));
                continue;
            }
            let q = &mut s.messages[at];
            q.dequeue += 1;
            q.visible_at = now + options.visibility;
            return Some((q.id, q.message, q.dequeue));
        }
    }

    fn delete(&self, id: u64) {
        self.lock().messages.retain(|q| q.id != id);
    }

    /// Makes a leased message visible again now (after a failed invocation).
    fn release(&self, id: u64) {
        if let Some(q) = self.lock().messages.iter_mut().find(|q| q.id == id) {
            q.visible_at = Instant::now();
        }
    }
}

/// Delivers messages to the ready production instances until `stop`.
pub async fn run(host: Host, options: QueueOptions, stop: CancellationToken) {
    let in_flight: std::sync::Arc<Mutex<BTreeMap<String, u32>>> = Default::default();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let mut delivered = false;
        for instance in host.ready_in(PRODUCTION) {
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
                () = tokio::time::sleep(Duration::from_millis(2)) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}
