//! The run's ledger: every event of the platform, the strategies, the faults and the
//! runner, stamped on the run's clock, appended to `ledger.csv` as it happens (so a run that
//! dies still leaves its history) and kept in memory for the checker and for whoever waits
//! on an event (woken as each is recorded, never polling).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use reports::ledger::{Kind, LedgerEvent};

/// A cheap-to-clone handle on the run's ledger.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
    /// Told the number of events after each one is recorded, so that a waiter wakes on
    /// the event it waits for instead of polling.
    recorded: Arc<tokio::sync::watch::Sender<usize>>,
}

struct Inner {
    writer: Option<csv::Writer<BufWriter<File>>>,
    events: Vec<LedgerEvent>,
}

impl Ledger {
    /// A ledger written to `path` (created, with its header).
    pub fn create(path: &Path, clock: Clock) -> std::io::Result<Ledger> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(BufWriter::new(File::create(path)?));
        writer.write_record(reports::rundir::LEDGER_HEADER.split(','))?;
        writer.flush()?;
        Ok(Ledger {
            inner: Arc::new(Mutex::new(Inner {
                writer: Some(writer),
                events: Vec::new(),
            })),
            clock,
            recorded: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// A ledger kept in memory only (tests, simulations).
    pub fn in_memory(clock: Clock) -> Ledger {
        Ledger {
            inner: Arc::new(Mutex::new(Inner {
                writer: None,
                events: Vec::new(),
            })),
            clock,
            recorded: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    pub fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    /// The run's clock, which stamps every event.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Starts an event stamped now; finish it with `.with(...)` and [`Ledger::record`].
    pub fn event(&self, kind: Kind, instance: &str, version: &str, slot: &str) -> LedgerEvent {
        LedgerEvent::new(self.now_ns(), kind, instance, version, slot)
    }

    pub fn record(&self, event: LedgerEvent) {
        tracing::debug!(event = %event.event, instance = %event.instance, detail = %event.detail, "ledger");
        let mut inner = self.inner.lock().expect("ledger lock");
        if let Some(w) = inner.writer.as_mut() {
            let written = w
                .serialize(&event)
                .map_err(std::io::Error::other)
                .and_then(|()| w.flush());
            if let Err(e) = written {
                tracing::error!(error = %e, "writing ledger.csv failed; keeping the ledger in memory");
                inner.writer = None;
            }
        }
        inner.events.push(event);
        let count = inner.events.len();
        drop(inner);
        self.recorded.send_replace(count);
    }

    /// Waits until the ledger holds an event `found` accepts: woken by each event recorded,
    /// never polling.
    pub async fn wait_for(&self, found: impl Fn(&LedgerEvent) -> bool) {
        // Subscribed before looking, so an event recorded in between still wakes us.
        let mut recorded = self.recorded.subscribe();
        while !self.any(&found) {
            if recorded.changed().await.is_err() {
                // The ledger is gone: nothing more will be recorded.
                return;
            }
        }
    }

    /// Waits until some event is recorded after the `seen`-th: the count now.
    pub async fn changed_after(&self, seen: usize) -> usize {
        let mut recorded = self.recorded.subscribe();
        loop {
            let count = *recorded.borrow_and_update();
            if count > seen || recorded.changed().await.is_err() {
                return count;
            }
        }
    }

    /// Events from the `from`-th on, in the order recorded.
    pub fn events_from(&self, from: usize) -> Vec<LedgerEvent> {
        let inner = self.inner.lock().expect("ledger lock");
        inner.events.get(from..).unwrap_or_default().to_vec()
    }

    /// Every event so far, in the order recorded.
    pub fn events(&self) -> Vec<LedgerEvent> {
        self.inner.lock().expect("ledger lock").events.clone()
    }

    /// The events `keep` accepts, in the order recorded: a poller needs no copy of the
    /// whole ledger each time it looks.
    pub fn events_where(&self, keep: impl Fn(&LedgerEvent) -> bool) -> Vec<LedgerEvent> {
        let inner = self.inner.lock().expect("ledger lock");
        inner.events.iter().filter(|e| keep(e)).cloned().collect()
    }

    /// Whether some event so far is one `found` accepts.
    pub fn any(&self, found: impl Fn(&LedgerEvent) -> bool) -> bool {
        self.inner
            .lock()
            .expect("ledger lock")
            .events
            .iter()
            .any(found)
    }
}
