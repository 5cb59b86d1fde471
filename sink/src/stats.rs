//! Live counters of a running sink, served as `GET /stats` (JSON) and `GET /metrics`
//! (Prometheus text format). They are informational: the run's truth is `arrivals.csv`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::wire::Reject;

/// Counters shared by the request handlers (rejections) and the writer (everything recorded).
#[derive(Debug, Default)]
pub struct Stats {
    /// Rows written.
    pub items: AtomicU64,
    /// Keys `(source, m, n)` seen at least once.
    pub distinct_keys: AtomicU64,
    /// Rows beyond the first of their key.
    pub duplicate_items: AtomicU64,
    /// Keys seen two or more times.
    pub duplicated_keys: AtomicU64,
    /// Largest `recv_ns` written so far; 0 before the first.
    pub last_arrival_ns: AtomicU64,
    /// Requests whose rows were written and acknowledged.
    pub requests_ok: AtomicU64,
    /// Write calls made by the writer (each followed by at most one sync under `batch`).
    pub groups_written: AtomicU64,
    /// Connections accepted past the connection cap and held to be answered 503 (one closed
    /// at once is counted in `rejected` instead). In process only: it shows a test that the
    /// sink has taken them.
    pub refusals_held: AtomicU64,
    pub write_errors: AtomicU64,
    /// The writer hit an error and refuses everything since.
    pub failed: AtomicBool,
    /// Distinct keys passed the tracking bound; key counts are lower bounds since.
    pub keys_untracked: AtomicBool,
    /// Refused requests, by [`Reject::kind`], in the order of [`Reject::KINDS`].
    pub rejected: [AtomicU64; Reject::KINDS.len()],
    /// Requests that were valid but could not be recorded (writer failed or closed).
    pub unavailable: AtomicU64,
    /// Lifecycle events recorded in `events.csv`.
    pub events: AtomicU64,
    /// Bytes of a torn last row cut off `arrivals.csv` when the sink started with `--append`.
    pub torn_bytes_cut: AtomicU64,
}

/// A point-in-time copy of [`Stats`], as served by `GET /stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    pub items: u64,
    pub distinct_keys: u64,
    pub duplicate_items: u64,
    pub duplicated_keys: u64,
    pub last_arrival_ns: Option<u64>,
    pub requests_ok: u64,
    pub rejected: std::collections::BTreeMap<String, u64>,
    pub unavailable: u64,
    pub failed: bool,
    pub keys_tracked_completely: bool,
    /// Lifecycle events recorded.
    #[serde(default)]
    pub events: u64,
    /// Bytes of a torn last row cut off `arrivals.csv` at start (`--append`).
    #[serde(default)]
    pub torn_bytes_cut: u64,
}

impl Stats {
    pub fn count_reject(&self, reject: &Reject) {
        let i = Reject::KINDS
            .iter()
            .position(|k| *k == reject.kind())
            .expect("every kind is listed in KINDS");
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let last = self.last_arrival_ns.load(Ordering::Relaxed);
        StatsSnapshot {
            items: self.items.load(Ordering::Relaxed),
            distinct_keys: self.distinct_keys.load(Ordering::Relaxed),
            duplicate_items: self.duplicate_items.load(Ordering::Relaxed),
            duplicated_keys: self.duplicated_keys.load(Ordering::Relaxed),
            last_arrival_ns: (last != 0).then_some(last),
            requests_ok: self.requests_ok.load(Ordering::Relaxed),
            rejected: Reject::KINDS
                .iter()
                .zip(&self.rejected)
                .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
                .collect(),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            keys_tracked_completely: !self.keys_untracked.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            torn_bytes_cut: self.torn_bytes_cut.load(Ordering::Relaxed),
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let s = self.snapshot();
        let mut out = String::with_capacity(1024);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "sink_items_total",
            "counter",
            "Item rows recorded.",
            s.items,
        );
        metric(
            "sink_distinct_keys",
            "gauge",
            "Item keys recorded at least once.",
            s.distinct_keys,
        );
        metric(
            "sink_duplicate_items_total",
            "counter",
            "Item rows beyond the first of their key.",
            s.duplicate_items,
        );
        metric(
            "sink_duplicated_keys",
            "gauge",
            "Item keys recorded two or more times.",
            s.duplicated_keys,
        );
        metric(
            "sink_last_arrival_ns",
            "gauge",
            "Arrival time of the newest recorded item, ns since the Unix epoch.",
            s.last_arrival_ns.unwrap_or(0),
        );
        metric(
            "sink_requests_ok_total",
            "counter",
            "Requests recorded and acknowledged.",
            s.requests_ok,
        );
        metric(
            "sink_requests_unavailable_total",
            "counter",
            "Valid requests that could not be recorded.",
            s.unavailable,
        );
        metric(
            "sink_torn_bytes_cut",
            "gauge",
            "Bytes of a torn last row cut off arrivals.csv at start.",
            s.torn_bytes_cut,
        );
        metric(
            "sink_writer_failed",
            "gauge",
            "1 once the writer has failed.",
            u64::from(s.failed),
        );
        let _ = writeln!(
            out,
            "# HELP sink_requests_rejected_total Requests refused, by reason.\n\
             # TYPE sink_requests_rejected_total counter"
        );
        for (kind, count) in &s.rejected {
            let _ = writeln!(
                out,
                "sink_requests_rejected_total{{reason=\"{kind}\"}} {count}"
            );
        }
        out
    }
}
