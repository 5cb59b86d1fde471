//! The function's own account of its life, posted to the sink's `POST /events` (see
//! `sink::events`): started, ready, heartbeats, the cancellation token firing, stashes, mode
//! changes, runs begun and ended, the items still unacknowledged and its exit. On a real
//! platform the harness has no host ledger; these events are what the checker reads instead.
//!
//! Events go out in order through one poster task (several waiting are sent as one batch),
//! so a run's end never reaches the sink before its beginning. They are best-effort: a
//! sink that cannot be reached loses events, never items.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use sink::events::names;
use tokio::sync::{mpsc, oneshot};

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
    instance: String,
    version: String,
    tx: Option<mpsc::UnboundedSender<Message>>,
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
        client: reqwest::Client,
        sink_url: Option<String>,
    ) -> Lifecycle {
        let tx = sink_url.map(|url| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(poster(client, format!("{url}/events"), rx));
            tx
        });
        Lifecycle {
            instance: instance.to_owned(),
            version: version.to_owned(),
            tx,
            next_run: AtomicU64::new(0),
            unacked: Mutex::new(BTreeMap::new()),
        }
    }

    /// Posts `event` with `detail` (a JSON object), stamped now.
    pub fn post(&self, event: &str, detail: Value) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Event(json!({
                "event": event,
                "instance": self.instance,
                "version": self.version,
                "t_ns": sink::clock::now_ns(),
                "detail": detail,
            })));
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
            .or_insert_with(sink::clock::now_ns);
    }

    /// The sink took the item. One that failed or was abandoned stays unacknowledged: it
    /// may have reached the sink or not.
    pub fn settled(&self, source: &str, m: u64, n: u64) {
        let mut unacked = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
        unacked.remove(&(source.to_owned(), m, n));
    }

    /// The process is about to exit: posts every item still unacknowledged, then `exiting`,
    /// and waits (at most `within`) until they are sent.
    pub async fn exiting(&self, within: Duration) {
        let unacked: Vec<((String, u64, u64), u64)> = {
            let unacked = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
            unacked.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        for ((source, m, n), sent_ns) in &unacked {
            self.post(
                names::UNACKED,
                json!({"source": source, "m": m, "n": n, "sent_ns": sent_ns}),
            );
        }
        self.post(names::EXITING, json!({"unacked": unacked.len()}));
        self.flush(within).await;
    }

    /// Waits until every event posted so far has been sent, at most `within`.
    pub async fn flush(&self, within: Duration) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Message::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(within, wait).await;
        }
    }
}

/// Sends the events in order, each batch of what is waiting as one request; a failed batch
/// is tried once more, then dropped (events are a witness, not the record of items).
async fn poster(client: reqwest::Client, url: String, mut rx: mpsc::UnboundedReceiver<Message>) {
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
