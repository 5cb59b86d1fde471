//! `ledger.csv`: the platform's timestamped events.
//!
//! The host writes one row per event: `t_ns,event,instance,version,slot,detail`. `detail` is a
//! space-separated list of `key=value` pairs. The events and the detail keys the checker reads:
//!
//! | event | meaning | detail keys |
//! |---|---|---|
//! | `instance_started` / `instance_ready` | process spawned / answered its readiness check | `pid`, `port` |
//! | `instance_stopping` | SIGTERM sent (graceful stop begins) | `grace_ms` |
//! | `instance_stopped` / `instance_killed` | exited by itself / was SIGKILLed | `code` |
//! | `invocation_begun` | the host invoked a function | `inv`, `source`, `m`, (`n`), `catch_up`, `dequeue` |
//! | `invocation_ok` / `invocation_failed` / `invocation_killed` | how invocation `inv` ended | `inv`, `reason` |
//! | `item_sent` | the function reported sending an item the sink never acknowledged (written when its instance exits, stamped when it was sent) | `source`, `m`, `n` |
//! | `message_poisoned` | a queue message moved to the poison queue | `source`, `m`, `n`, `dequeue` |
//! | `phase_begun` / `phase_ended` | a phase of the update (swap, drain, batch, ...; on a command platform `deploy`, `update` and `update_command`) | `phase` |
//! | `command_started` / `command_ended` | a command platform's command ran | `command`, `pid` / `exit`, `ms`, `timed_out` |
//! | `update_complete` | the command platform's `status` first exited 0 | `by` |
//! | `update_accepted` | the update was accepted (the Flex plan's `deploymentStart`: the site update returned success); a rolling update's `start_gap` runs from here | |
//! | `scale_out` / `scale_in` | the local scale controller starts / drains instances | `messages`, `requests`, `instances`, `desired`, `adding` / `removing`, `ids` |
//! | `scale_limited` | the demand wanted more than `scale.max` | the same, `wanted` |
//! | `start_failed` | instances of a version did not start (exited, or never ready) | `count` |
//! | `update_aborted` | the update gave up: a swap cancelled, a drain resumed, a recreate out of retries, a rolling update halted | `reason` (`start_failed`, `warmup_failed`, `halted_unready`) |
//! | `analysis_evaluated` / `analysis_failed` | one evaluation of `[analysis]` over its window / the one that failed | `window_ms`, and per threshold `METRIC=VALUE` and `METRIC.samples` |
//! | `rollback_triggered` | the runner rolls the update back | `by` (`manual`, `analysis`) |
//! | `occurrence_missed` | no instance could run an occurrence (the local timer had no lease holder; the harness driver could not connect, or the proxy answered without an app) | `source`, `m`, (`reason`: `connect`, `http_NNN`) |
//! | `fault_started` / `fault_ended` | a `[[faults]]` entry begins / ends acting (a crash ends when its restart is ready, or at once without one) | `fault` (its index in the list), `kind`, and the entry's own keys (`latency_ms`, `status`, ...); `fault_ended` of a sink-path fault adds `requests` (seen in its window) and `affected` (acted on) |
//! | `fault_acted` | a fault did something to one instance (the row's instance) | `fault`, `kind`, `action` (`sigkill`, `sigstop`, `sigcont`, `restart`) |
//! | `sink_died` | the run's own sink stopped serving before the run ended: the run is invalid | `reason` |
//! | `app_*` | the apps' own lifecycle events from `events.csv` (see [`crate::lifecycle`]) | as the app sent them |
//!
//! An invocation whose instance is killed or stops before it ends counts as killed. A queue
//! invocation names its message's `n`; a timer invocation covers every `n` of occurrence `m`.

use serde::{Deserialize, Serialize};

/// One ledger row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEvent {
    pub t_ns: i64,
    pub event: String,
    pub instance: String,
    pub version: String,
    pub slot: String,
    pub detail: String,
}

/// The event names the checker and the renderers understand.
pub mod event {
    pub const INSTANCE_STARTED: &str = "instance_started";
    pub const INSTANCE_READY: &str = "instance_ready";
    pub const INSTANCE_STOPPING: &str = "instance_stopping";
    pub const INSTANCE_STOPPED: &str = "instance_stopped";
    pub const INSTANCE_KILLED: &str = "instance_killed";
    pub const INVOCATION_BEGUN: &str = "invocation_begun";
    pub const INVOCATION_OK: &str = "invocation_ok";
    pub const INVOCATION_FAILED: &str = "invocation_failed";
    pub const INVOCATION_KILLED: &str = "invocation_killed";
    pub const ITEM_SENT: &str = "item_sent";
    pub const MESSAGE_POISONED: &str = "message_poisoned";
    pub const PHASE_BEGUN: &str = "phase_begun";
    pub const PHASE_ENDED: &str = "phase_ended";
    pub const UPDATE_ACCEPTED: &str = "update_accepted";
    pub const SCALE_OUT: &str = "scale_out";
    pub const SCALE_IN: &str = "scale_in";
    pub const SCALE_LIMITED: &str = "scale_limited";
    pub const START_FAILED: &str = "start_failed";
    pub const UPDATE_ABORTED: &str = "update_aborted";
    pub const ANALYSIS_EVALUATED: &str = "analysis_evaluated";
    pub const ANALYSIS_FAILED: &str = "analysis_failed";
    pub const ROLLBACK_TRIGGERED: &str = "rollback_triggered";
    pub const FAULT_STARTED: &str = "fault_started";
    pub const FAULT_ENDED: &str = "fault_ended";
    pub const FAULT_ACTED: &str = "fault_acted";
    pub const SINK_DIED: &str = "sink_died";
    /// The host refused a start: the run has started as many instances as one run may.
    pub const INSTANCE_LIMIT: &str = "instance_limit";
}

impl LedgerEvent {
    pub fn new(t_ns: i64, event: &str, instance: &str, version: &str, slot: &str) -> Self {
        LedgerEvent {
            t_ns,
            event: event.into(),
            instance: instance.into(),
            version: version.into(),
            slot: slot.into(),
            detail: String::new(),
        }
    }

    /// Appends `key=value` to the detail.
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        if !self.detail.is_empty() {
            self.detail.push(' ');
        }
        self.detail.push_str(key);
        self.detail.push('=');
        self.detail.push_str(&value.to_string());
        self
    }

    /// The value of `key` in the detail, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.detail.split(' ').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }
}

/// Time from the first `update` phase's start to the last one's end, in ms: how long the
/// update took, which the platform itself never says.
pub fn update_duration_ms(ledger: &[LedgerEvent]) -> Option<f64> {
    phase_span_ms(ledger, "update")
}

/// From the update's start to the command platform's `update_complete` (its `status`
/// command first exiting 0), in ms; `None` without such an event.
pub fn update_complete_ms(ledger: &[LedgerEvent]) -> Option<f64> {
    let start = ledger
        .iter()
        .filter(|e| e.event == event::PHASE_BEGUN && e.get("phase") == Some("update"))
        .map(|e| e.t_ns)
        .min()?;
    let done = ledger
        .iter()
        .filter(|e| e.event == "update_complete")
        .map(|e| e.t_ns)
        .min()?;
    Some((done - start) as f64 / 1e6)
}

/// From the first `phase` phase's start to the last one's end, in ms.
pub fn phase_span_ms(ledger: &[LedgerEvent], phase: &str) -> Option<f64> {
    let times = |kind: &str| -> Vec<i64> {
        ledger
            .iter()
            .filter(|e| e.event == kind && e.get("phase") == Some(phase))
            .map(|e| e.t_ns)
            .collect()
    };
    let start = *times(event::PHASE_BEGUN).iter().min()?;
    let end = *times(event::PHASE_ENDED).iter().max()?;
    Some((end - start) as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_pairs() {
        let e = LedgerEvent::new(5, event::INVOCATION_BEGUN, "a-0", "A", "production")
            .with("inv", 7)
            .with("source", "tick")
            .with("m", 12)
            .with("catch_up", true);
        assert_eq!(e.detail, "inv=7 source=tick m=12 catch_up=true");
        assert_eq!(e.get("source"), Some("tick"));
        assert_eq!(e.get_u64("m"), Some(12));
        assert_eq!(e.get_u64("n"), None);
        assert!(e.flag("catch_up"));
    }
}
