//! The storage queue itself: its messages, their visibility and dequeue counts. The host
//! keeps it; the queue trigger (`queue/mod.rs`) delivers from it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Clock;
use crate::protocol::Message;

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
pub struct Queue {
    state: Mutex<State>,
    /// When a message becomes visible again is on the run's clock.
    clock: Clock,
}

impl Queue {
    pub fn new(clock: Clock) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            clock,
        }
    }

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
            visible_at: self.clock.now(),
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

    /// Whether some message could be leased now.
    pub(super) fn any_visible(&self) -> bool {
        let now = self.clock.now();
        self.lock().messages.iter().any(|q| q.visible_at <= now)
    }

    /// Leases the first visible message; poisons the ones delivered too often on the way.
    pub(super) fn lease(
        &self,
        options: &QueueOptions,
        poisoned: &mut Vec<(Message, u32)>,
    ) -> Option<(u64, Message, u32)> {
        let now = self.clock.now();
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

    pub(super) fn delete(&self, id: u64) {
        self.lock().messages.retain(|q| q.id != id);
    }

    /// Makes a leased message visible again now (after a failed invocation).
    pub(super) fn release(&self, id: u64) {
        if let Some(q) = self.lock().messages.iter_mut().find(|q| q.id == id) {
            q.visible_at = self.clock.now();
        }
    }
}
