//! One row of `probes.csv`: an open-loop availability request through the front door.
//!
//! A probe keeps its intended (scheduled) time as well as when it was really sent, so
//! availability measured from `intended_ns` is free of coordinated omission (wrk2).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// When the open-loop schedule said to send it.
    pub intended_ns: i64,
    /// When it was really sent (the probe client's own lag is `sent_ns - intended_ns`).
    pub sent_ns: Option<i64>,
    /// When the response (or the failure) came back.
    pub done_ns: i64,
    pub ok: bool,
    /// The HTTP status, if a response came back.
    pub status: Option<u16>,
    pub instance: Option<String>,
    pub version: Option<String>,
    /// Why the probe failed, when it did not fail by its status alone: `refused` (nothing
    /// listened), `connect` (another connect failure), `reset` (the connection was reset),
    /// `eof` (the connection closed before the answer: on a reused connection, the idle
    /// keep-alive connection a reload closes), `timeout`, `io` (another transport error),
    /// `body` or `version` (an answer, but not the expected one), or `saturated` (the probe
    /// client had too many probes in flight to send this one on time, so it counts it as
    /// failed).
    pub error: Option<String>,
    /// The series: `reused` (keep-alive connections) or `new` (a new connection each)
    /// through the front door, or [`CONTROL_SERIES`]. Runs recorded before the series
    /// existed have none.
    pub conn: Option<String>,
}

/// The control series: probes to a target the update does not touch (the sink's `/health`,
/// in process). Its failures are the harness's or the machine's trouble, not the app's, so
/// they never count as downtime and the app's downtime inside them is taken out (DESIGN.md,
/// "Downtime and probes").
pub const CONTROL_SERIES: &str = "control";

impl Probe {
    pub fn new(intended_ns: i64, done_ns: i64, ok: bool) -> Probe {
        Probe {
            intended_ns,
            sent_ns: None,
            done_ns,
            ok,
            status: None,
            instance: None,
            version: None,
            error: None,
            conn: None,
        }
    }

    /// How a failed probe failed: its transport error, else `http_STATUS`; `None` if it
    /// succeeded.
    pub fn failure(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        Some(match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(status)) => format!("http_{status}"),
            (None, None) => "unknown".into(),
        })
    }

    /// Whether it belongs to the control series rather than to the app's.
    pub fn is_control(&self) -> bool {
        self.conn.as_deref() == Some(CONTROL_SERIES)
    }

    /// Latency measured from the intended time, as an open-loop client must.
    pub fn latency_ns(&self) -> i64 {
        self.done_ns - self.intended_ns
    }
}
