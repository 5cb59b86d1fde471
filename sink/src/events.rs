//! Lifecycle events: what an app says about itself, `POST /events`, kept in `events.csv`.
//!
//! An app on a real platform is the only witness of its own life: when it started, became
//! ready, received SIGTERM (its cancellation token fired), stashed work, changed mode, and
//! exited with which items still unacknowledged. It posts each as an event:
//!
//! ```json
//! {"event": "cancelled", "instance": "a-0", "version": "A", "t_ns": 1700000000000000000,
//!  "detail": {"active": 1}}
//! ```
//!
//! or a JSON array of them. `event` is 1-64 bytes of `[a-z0-9_]`; `instance` follows the
//! name grammar of an item's source; `version` is a version label; `t_ns` (the app's clock,
//! optional) and `detail` (an object of string, number or boolean values; keys of
//! `[a-z0-9_]`, values without spaces, commas or quotes) are optional. The sink stamps each
//! row with its own receive time, so the events of apps on other machines share one clock.
//! A body is accepted or refused whole; a refused one records nothing. The event names the
//! harness's checker reads are listed in [`names`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;

use crate::item::{check_name, version_error};
use crate::wire::Reject;

/// The header row of `events.csv`.
pub const EVENTS_HEADER: &str = "recv_ns,t_ns,event,instance,version,detail";
/// The file name of the lifecycle events inside a run directory.
pub const EVENTS_FILE: &str = "events.csv";
/// Most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// The events the harness understands; an app may send others, which are recorded and shown.
pub mod names {
    /// The process started (detail: `pid`).
    pub const STARTED: &str = "started";
    /// It serves (detail: `addr`).
    pub const READY: &str = "ready";
    /// Still alive (detail: `active`, runs in progress). Sent every heartbeat interval.
    pub const HEARTBEAT: &str = "heartbeat";
    /// SIGTERM reached the code: the cancellation token fired (detail: `active`).
    pub const CANCELLED: &str = "cancelled";
    /// A run handed its unsent items over (detail: `source`, `m`, `count`).
    pub const STASHED: &str = "stashed";
    /// The app's drain mode changed (detail: `mode`).
    pub const MODE: &str = "mode";
    /// A run began (detail: `run`, `source`, `m`, optional `n`, `catch_up`).
    pub const RUN_BEGUN: &str = "run_begun";
    /// A run ended (detail: `run`, `outcome` = `ok` | `failed` | `cancelled`, `sent`).
    pub const RUN_ENDED: &str = "run_ended";
    /// An item was sent and never acknowledged when the app stopped (detail: `source`,
    /// `m`, `n`, `sent_ns`).
    pub const UNACKED: &str = "unacked";
    /// The process is about to exit (detail: `unacked`, the items still unacknowledged;
    /// `dropped`, the events it dropped with too many waiting, when it dropped some).
    pub const EXITING: &str = "exiting";
    /// The sink gave a lease to a new holder (written by the sink; detail: `lease`,
    /// `previous`).
    pub const LEASE_ACQUIRED: &str = "lease_acquired";
}

/// One event as an app sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub event: String,
    pub instance: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub t_ns: Option<u64>,
    #[serde(default)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    /// Checks the names and renders the detail as `key=value` pairs, or says what is wrong.
    fn detail_text(&self) -> Result<String, (&'static str, String)> {
        check_event_name(&self.event).map_err(|why| ("event", format!("event {why}")))?;
        check_name(&self.instance).map_err(|why| ("instance", format!("instance {why}")))?;
        if let Some(version) = &self.version {
            if let Some(why) = version_error(version) {
                return Err(("version", format!("{why} (got {version:?})")));
            }
        }
        let mut text = String::new();
        for (key, value) in &self.detail {
            check_event_name(key).map_err(|why| ("detail", format!("detail key {why}")))?;
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err((
                        "detail",
                        format!("detail value of {key:?} must be a string, number or boolean"),
                    ))
                }
            };
            if value.is_empty()
                || value.len() > 256
                || value
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || matches!(b, b',' | b'"' | b'=') || b < 0x20)
            {
                return Err((
                    "detail",
                    format!(
                        "detail value of {key:?} must be 1-256 bytes without spaces, commas, quotes or '='"
                    ),
                ));
            }
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(key);
            text.push('=');
            text.push_str(&value);
        }
        Ok(text)
    }
}

fn check_event_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1-64 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("may hold only lower-case letters, digits and '_'");
    }
    Ok(())
}

/// Parses and validates a body of events into `events.csv` rows (without the receive time),
/// or says why it is refused.
pub fn parse_events(body: &[u8]) -> Result<Vec<String>, Reject> {
    let text = std::str::from_utf8(body).map_err(|e| Reject::InvalidUtf8 {
        at: e.valid_up_to(),
    })?;
    let batch = text.trim_start().starts_with('[');
    let events: Vec<Event> = if batch {
        serde_json::from_str(text)
    } else {
        serde_json::from_str(text).map(|e| vec![e])
    }
    .map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Reject::InvalidEvent {
            index: None,
            reason: e.to_string(),
        },
        _ => Reject::MalformedJson {
            message: e.to_string(),
        },
    })?;
    if events.is_empty() {
        return Err(Reject::EmptyBatch);
    }
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(Reject::InvalidEvent {
            index: None,
            reason: format!("more than {MAX_EVENTS_PER_REQUEST} events in one request"),
        });
    }
    events
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let detail = e
                .detail_text()
                .map_err(|(_, reason)| Reject::InvalidEvent {
                    index: batch.then_some(index),
                    reason,
                })?;
            Ok(format!(
                "{},{},{},{},{detail}",
                e.t_ns.map(|t| t.to_string()).unwrap_or_default(),
                e.event,
                e.instance,
                e.version.as_deref().unwrap_or("")
            ))
        })
        .collect()
}

/// The `events.csv` writer. Events are few (a handful per instance, plus heartbeats), so one
/// lock and one buffered write per request is plenty; every write reaches the OS before the
/// request is answered.
pub struct EventLog {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
}

impl EventLog {
    /// Creates `events.csv` in `dir`, or appends to it when `append` is set and it exists.
    pub fn open(dir: &Path, append: bool) -> std::io::Result<EventLog> {
        let path = dir.join(EVENTS_FILE);
        if append {
            let torn = crate::torn::cut_torn_tail(&path)?;
            if torn > 0 {
                tracing::warn!(path = %path.display(), bytes = torn, "the last event was torn and was cut off");
            }
        }
        let existed = append && path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .truncate(false)
            .open(&path)?;
        let mut file = BufWriter::new(file);
        if !existed {
            file.get_mut().set_len(0)?;
            writeln!(file, "{EVENTS_HEADER}")?;
            file.flush()?;
        }
        Ok(EventLog {
            path,
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends rows (as [`parse_events`] made them), each stamped `recv_ns`.
    pub fn append(&self, recv_ns: u64, rows: &[String]) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            writeln!(file, "{recv_ns},{row}")?;
        }
        file.flush()
    }

    /// Appends one event the sink itself witnessed (a lease changing hands).
    pub fn record(&self, recv_ns: u64, event: &str, instance: &str, detail: &str) {
        let row = format!(",{event},{instance},,{detail}");
        if let Err(e) = self.append(recv_ns, &[row]) {
            tracing::error!(error = %e, "writing events.csv failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_rows_or_are_refused_whole() {
        let rows = parse_events(
            br#"[{"event":"started","instance":"a-0","version":"A","t_ns":5,"detail":{"pid":42}},
                {"event":"heartbeat","instance":"a-0","detail":{"active":1,"ok":true}}]"#,
        )
        .unwrap();
        assert_eq!(
            rows,
            ["5,started,a-0,A,pid=42", ",heartbeat,a-0,,active=1 ok=true"]
        );
        let bad = parse_events(
            br#"[{"event":"started","instance":"a-0"},{"event":"Bad Name","instance":"a-0"}]"#,
        )
        .unwrap_err();
        assert_eq!(bad.kind(), "invalid_event");
        assert!(bad.to_string().contains("index 1"), "{bad}");
        let comma = parse_events(br#"{"event":"x","instance":"a-0","detail":{"k":"a,b"}}"#);
        assert!(comma.is_err());
        let nested = parse_events(br#"{"event":"x","instance":"a-0","detail":{"k":[1]}}"#);
        assert!(nested.is_err());
        assert_eq!(parse_events(b"[]").unwrap_err(), Reject::EmptyBatch);
        assert_eq!(parse_events(b"{").unwrap_err().kind(), "malformed_json");
        let unknown = parse_events(br#"{"event":"x","instance":"a-0","extra":1}"#).unwrap_err();
        assert_eq!(unknown.kind(), "invalid_event");
    }
}
