//! The function's own account of its life, posted to the sink's `POST /events` (see
//! `sink::events`): started, ready, heartbeats, the cancellation token firing, stashes, mode
//! changes, runs begun and ended, the items still unacknowledged and its exit. On a real
//! platform the harness has no host ledger; these events are what the checker reads instead.
//!
//! Events go out in order through one poster task (several waiting are sent as one batch),
//! so a run's end never reaches the sink before its beginning. They are best-effort: a
//! sink that cannot be reached loses events, never items.
//!
//! At most [`MAX_PENDING_EVENTS`] wait for the poster. Past that (a sink slower than the
//! function, or gone), an event is dropped and counted rather than posted: the function's
//! work never waits for its witness, and memory stays bounded. The count is said at exit,
//! on stderr and in the `exiting` event (`dropped`). Only exiting waits for room, up to its
//! deadline, so that its `unacked` items are not lost to a full queue.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use sink::events::names;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::net::HttpClient;

/// Events waiting for the poster, at most: past it an event is dropped and counted. At the
/// sink's pace (batches of up to 500 per request) this is a burst of several seconds of a
/// busy instance's runs.
pub const MAX_PENDING_EVENTS: usize = 10_000;

enum Message {
    Event(Value),
    /// Everything before this is sent (or given up on); then the sender is told.
    Flush(oneshot::Sender<()>),
}

/// A run's outcome as the events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    Ok,
    Failed,
    Cancelled,
}

impl RunOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
        }
    }
}

pub struct Lifecycle {
    clock: Clock,
    instance: String,
    version: String,
    tx: Option<mpsc::Sender<Message>>,
    /// Events dropped because [`MAX_PENDING_EVENTS`] were already waiting.
    dropped: AtomicU64,
    next_run: AtomicU64,
    /// Items sent and not yet acknowledged: `(source, m, n)` -> first send time.
    unacked: Mutex<BTreeMap<(String, u64, u64), u64>>,
}

impl Lifecycle {
    /// Posts to `sink_url`'s `/events` with `client` (which carries the sink's token), or
    /// posts nothing when `sink_url` is `None`.
    pub fn new(
        instance: &str,
        version: &str,
        client: HttpClient,
        sink_url: Option<String>,
        clock: Clock,
    ) -> Lifecycle {
        Lifecycle::with_capacity(
            instance,
            version,
            client,
            sink_url,
            clock,
            MAX_PENDING_EVENTS,
        )
    }

    /// [`Lifecycle::new`] with at most `capacity` events waiting.
    fn with_capacity(
        instance: &str,
        version: &str,
        client: HttpClient,
        sink_url: Option<String>,
        clock: Clock,
        capacity: usize,
    ) -> Lifecycle {
        let tx = sink_url.map(|url| {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            crate::instance_tasks::spawn(poster(client, format!("{url}/events"), rx));
            tx
        });
        Lifecycle {
            clock,
            instance: instance.to_owned(),
            version: version.to_owned(),
            tx,
            dropped: AtomicU64::new(0),
            next_run: AtomicU64::new(0),
            unacked: Mutex::new(BTreeMap::new()),
        }
    }

    /// Posts `event` with `detail` (a JSON object), stamped now; never waits: with
    /// [`MAX_PENDING_EVENTS`] already waiting, the event is dropped and counted.
    pub fn post(&self, event: &str, detail: Value) {
        if let Some(tx) = &self.tx {
            if let Err(mpsc::error::TrySendError::Full(_)) =
                tx.try_send(self.message(event, detail))
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events dropped so far because too many were waiting.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn message(&self, event: &str, detail: Value) -> Message {
        Message::Event(json!({
            "event": event,
            "instance": self.instance,
            "version": self.version,
            "t_ns": self.clock.now_ns(),
            "detail": detail,
        }))
    }

    /// Posts `event`, waiting for room until `deadline` (exit only: the function's work
    /// never waits); dropped and counted past it.
    async fn post_by(&self, event: &str, detail: Value, deadline: tokio::time::Instant) {
        if let Some(tx) = &self.tx {
            let message = self.message(event, detail);
            match tokio::time::timeout_at(deadline, tx.send(message)).await {
                Ok(_) => {}
                Err(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// A run of `source` occurrence `m` (message `n` for a queue run) begins; its id.
    pub fn run_begun(&self, source: &str, m: u64, n: Option<u64>, catch_up: bool) -> u64 {
        let run = self.next_run.fetch_add(1, Ordering::Relaxed);
        let mut detail = json!({"run": run, "source": source, "m": m, "catch_up": catch_up});
        if let Some(n) = n {
            detail["n"] = n.into();
        }
        self.post(names::RUN_BEGUN, detail);
        run
    }

    pub fn run_ended(&self, run: u64, outcome: RunOutcome, sent: u32) {
        self.post(
            names::RUN_ENDED,
            json!({"run": run, "outcome": outcome.as_str(), "sent": sent}),
        );
    }

    /// An item's first submit is about to go out.
    pub fn sending(&self, source: &str, m: u64, n: u64) {
        let mut unacked = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
        unacked
            .entry((source.to_owned(), m, n))
            .or_insert_with(|| self.clock.now_ns() as u64);
    }

    /// The sink took the item. One that failed or was abandoned stays unacknowledged: it
    /// may have reached the sink or not.
    pub fn settled(&self, source: &str, m: u64, n: u64) {
        let mut unacked = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
        unacked.remove(&(source.to_owned(), m, n));
    }

    /// The process is about to exit: posts every item still unacknowledged, then `exiting`
    /// (with the count of events dropped, when some were), and waits (at most `within`) until
    /// they are sent. A drop is also said on stderr.
    pub async fn exiting(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let unacked: Vec<((String, u64, u64), u64)> = {
            let unacked = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
            unacked.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        for ((source, m, n), sent_ns) in &unacked {
            self.post_by(
                names::UNACKED,
                json!({"source": source, "m": m, "n": n, "sent_ns": sent_ns}),
                deadline,
            )
            .await;
        }
        let mut detail = json!({"unacked": unacked.len()});
        let dropped = self.dropped();
        if dropped > 0 {
            detail["dropped"] = dropped.into();
        }
        self.post_by(names::EXITING, detail, deadline).await;
        let dropped = self.dropped();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "lifecycle events dropped: more than {MAX_PENDING_EVENTS} were waiting for the sink"
            );
        }
        self.flush_by(deadline).await;
    }

    /// Waits until every event posted so far has been sent, at most until `deadline`.
    async fn flush_by(&self, deadline: tokio::time::Instant) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = oneshot::channel();
        let _ = tokio::time::timeout_at(deadline, async {
            if tx.send(Message::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        })
        .await;
    }
}

/// Sends the events in order, each batch of what is waiting as one request; a failed batch
/// is tried once more, then dropped (events are a witness, not the record of items).
async fn poster(client: HttpClient, url: String, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take().or_else(|| rx.try_recv().ok()) {
            match message {
                Message::Event(e) => batch.push(e),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() >= 500 {
                break;
            }
        }
        if !batch.is_empty() {
            let body = Value::Array(std::mem::take(&mut batch));
            for attempt in 0..2 {
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => {
                        // A refusal is the app's (our) bug: say so, and do not retry it.
                        tracing::warn!(status = %r.status(), "the sink refused lifecycle events");
                        break;
                    }
                    Err(e) if attempt == 0 => {
                        tracing::debug!(error = %e, "posting lifecycle events failed; once more");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "lifecycle events lost"),
                }
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_pending_cap_events_are_dropped_counted_and_said_at_exit() {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let sink = tokio::spawn(sink::run(
            listener,
            sink::Config::new(dir.path()),
            stop.clone().cancelled_owned(),
        ));
        let life = Lifecycle::with_capacity(
            "a-0",
            "A",
            crate::net::Net::Machine.client(Default::default()),
            Some(url),
            Clock::system(),
            4,
        );
        // On this current-thread runtime the poster cannot run between these posts, as if
        // the sink were too slow: 4 wait, and the rest are dropped, not waited for.
        for active in 0..6 {
            life.post(names::HEARTBEAT, json!({ "active": active }));
        }
        assert_eq!(life.dropped(), 2);
        life.sending("tick", 0, 0);
        // Exiting waits for room for its own events.
        life.exiting(Duration::from_secs(20)).await;
        assert_eq!(life.dropped(), 2, "nothing of the exit was dropped");
        stop.cancel();
        let summary = sink.await.unwrap().unwrap();
        assert_eq!(summary.stats.events, 6, "4 heartbeats, unacked, exiting");
        let text = std::fs::read_to_string(dir.path().join(sink::EVENTS_FILE)).unwrap();
        let exiting = text
            .lines()
            .find(|l| l.contains(",exiting,"))
            .expect("exiting was posted");
        assert!(exiting.contains("dropped=2"), "{exiting}");
        assert!(exiting.contains("unacked=1"), "{exiting}");
        assert_eq!(text.matches(",heartbeat,").count(), 4, "{text}");
    }
}
