//! `ledger.csv`: the platform's timestamped events.
//!
//! The host writes one row per event: `t_ns,event,instance,version,slot,detail`. `detail` is a
//! space-separated list of `key=value` pairs. The events and the detail keys the checker reads:
//!
//! | event | meaning | detail keys |
//! |---|---|---|
//! | `instance_started` / `instance_ready` | process spawned / answered its readiness check | `pid`, `port` |
//! | `instance_stopping` | SIGTERM sent (graceful stop begins) | `grace_ms` |
//! | `instance_draining` | taken out of routing and timer duty; its in-flight work goes on | |
//! | `instance_stopped` / `instance_killed` | exited by itself / was SIGKILLed | `code` or `signal` (or `error`) |
//! | `instance_limit` | the host refused a start: the run has started as many instances as one run may (written once) | `limit` |
//! | `invocation_begun` | the host invoked a function | `inv`, `source`, `m`, (`n`), `catch_up`, `dequeue` |
//! | `invocation_ok` / `invocation_failed` / `invocation_killed` | how invocation `inv` ended | `inv`, `reason` |
//! | `item_sent` | the function reported sending an item the sink never acknowledged (written when its instance exits, stamped when it was sent) | `source`, `m`, `n` |
//! | `message_poisoned` | a queue message moved to the poison queue | `source`, `m`, `n`, `dequeue` |
//! | `phase_begun` / `phase_ended` | a phase of the update (swap, drain, batch, ...; on a command platform `deploy`, `update` and `update_command`) | `phase` |
//! | `command_started` / `command_ended` | a command platform's command ran | `command`, `pid` / `command`, `exit`, `ms`, `timed_out` |
//! | `command_group_killed` | at teardown, a command's process group still alive was SIGKILLed | `pgid` |
//! | `update_complete` | the command platform's `status` first exited 0 | `by` |
//! | `update_accepted` | the update was accepted (the Flex plan's `deploymentStart`: the site update returned success); a rolling update's `start_gap` runs from here | |
//! | `scale_out` / `scale_in` | the local scale controller starts / drains instances | `messages`, `requests`, `instances`, `desired`, `adding` / `removing`, `ids` |
//! | `scale_limited` | the demand wanted more than `scale.max` | the same, `wanted` |
//! | `start_failed` | instances of a version did not start (exited, or never ready) | `count` |
//! | `update_aborted` | the update gave up: a swap cancelled, a drain resumed, a recreate out of retries, a rolling update halted | `reason` (`start_failed`, `warmup_failed`, `halted_unready`) |
//! | `analysis_evaluated` / `analysis_failed` | one evaluation of `[analysis]` over its window / the one that failed | `window_ms`, and per threshold `METRIC=VALUE` and `METRIC.samples` |
//! | `rollback_triggered` | the runner rolls the update back | `by` (`manual`, `analysis`) |
//! | `timer_lease` | the local timer's lease moved to the row's instance (the newest ready one in production) | |
//! | `occurrence_missed` | no instance could run an occurrence (the local timer had no lease holder; the harness driver could not connect, or the proxy answered without an app) | `source`, `m`, (`reason`: `connect`, `http_NNN`) |
//! | `fault_started` / `fault_ended` | a `[[faults]]` entry begins / ends acting (a crash ends when its restart is ready, or at once without one) | `fault` (its index in the list), `kind`, and the entry's own keys (`latency_ms`, `status`, ...); `fault_ended` of a sink-path fault adds `requests` (seen in its window) and `affected` (acted on) |
//! | `fault_acted` | a fault did something to one instance (the row's instance) | `fault`, `kind`, `action` (`sigkill`, `sigstop`, `sigcont`, `restart`) |
//! | `sink_died` | the run's own sink stopped serving before the run ended: the run is invalid | `reason` |
//! | `run_ended` | the runner stopped driving the run | `alive` (the instances still alive, joined by `+`) |
//! | `app_*` | the apps' own lifecycle events from `events.csv` (see [`crate::lifecycle`]) | as the app sent them |
//!
//! An invocation whose instance is killed or stops before it ends counts as killed. A queue
//! invocation names its message's `n`; a timer invocation covers every `n` of occurrence `m`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::lifecycle::APP_PREFIX;

/// One ledger row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEvent {
    pub t_ns: i64,
    pub event: Kind,
    pub instance: String,
    pub version: String,
    pub slot: String,
    pub detail: String,
}

/// Lists every event once: the enum, its names both ways and [`Kind::KNOWN`] come from
/// here, so a new event is one line (and a row in the table above).
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What a ledger row records: one variant per event the platform or the runner
        /// writes, named in the file as the table above says.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
            /// A name this build does not write: the apps' `app_*` events merged in from
            /// `events.csv`, or a row of an older or newer run directory. Reading never
            /// fails on a name.
            Other(String),
        }

        impl Kind {
            /// Every event this build writes, in the table's order.
            pub const KNOWN: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The name written in `ledger.csv`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Kind::$variant => $name,)*
                    Kind::Other(name) => name,
                }
            }

            fn known(name: &str) -> Option<Kind> {
                match name {
                    $($name => Some(Kind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    InstanceStarted = "instance_started",
    InstanceReady = "instance_ready",
    InstanceStopping = "instance_stopping",
    InstanceDraining = "instance_draining",
    InstanceStopped = "instance_stopped",
    InstanceKilled = "instance_killed",
    /// The host refused a start: the run has started as many instances as one run may.
    InstanceLimit = "instance_limit",
    InvocationBegun = "invocation_begun",
    InvocationOk = "invocation_ok",
    InvocationFailed = "invocation_failed",
    InvocationKilled = "invocation_killed",
    ItemSent = "item_sent",
    MessagePoisoned = "message_poisoned",
    PhaseBegun = "phase_begun",
    PhaseEnded = "phase_ended",
    CommandStarted = "command_started",
    CommandEnded = "command_ended",
    CommandGroupKilled = "command_group_killed",
    UpdateComplete = "update_complete",
    UpdateAccepted = "update_accepted",
    ScaleOut = "scale_out",
    ScaleIn = "scale_in",
    ScaleLimited = "scale_limited",
    StartFailed = "start_failed",
    UpdateAborted = "update_aborted",
    AnalysisEvaluated = "analysis_evaluated",
    AnalysisFailed = "analysis_failed",
    RollbackTriggered = "rollback_triggered",
    TimerLease = "timer_lease",
    OccurrenceMissed = "occurrence_missed",
    FaultStarted = "fault_started",
    FaultEnded = "fault_ended",
    FaultActed = "fault_acted",
    SinkDied = "sink_died",
    RunEnded = "run_ended",
}

impl Kind {
    /// The app's event `name` from `events.csv`, as the ledger holds it: `app_NAME`.
    pub fn of_app(name: &str) -> Kind {
        Kind::Other(format!("{APP_PREFIX}{name}"))
    }

    /// The app's own event name (`started` for `app_started`) of an app's event merged in
    /// from `events.csv`.
    pub fn app(&self) -> Option<&str> {
        match self {
            Kind::Other(name) => name.strip_prefix(APP_PREFIX),
            _ => None,
        }
    }
}

impl FromStr for Kind {
    type Err = Infallible;

    fn from_str(name: &str) -> Result<Kind, Infallible> {
        Ok(Kind::known(name).unwrap_or_else(|| Kind::Other(name.to_owned())))
    }
}

impl From<&str> for Kind {
    fn from(name: &str) -> Kind {
        Kind::known(name).unwrap_or_else(|| Kind::Other(name.to_owned()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Kind::known(&name).unwrap_or(Kind::Other(name)))
    }
}

impl LedgerEvent {
    pub fn new(t_ns: i64, event: Kind, instance: &str, version: &str, slot: &str) -> Self {
        LedgerEvent {
            t_ns,
            event,
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
        .filter(|e| e.event == Kind::PhaseBegun && e.get("phase") == Some("update"))
        .map(|e| e.t_ns)
        .min()?;
    let done = ledger
        .iter()
        .filter(|e| e.event == Kind::UpdateComplete)
        .map(|e| e.t_ns)
        .min()?;
    Some((done - start) as f64 / 1e6)
}

/// From the first `phase` phase's start to the last one's end, in ms.
pub fn phase_span_ms(ledger: &[LedgerEvent], phase: &str) -> Option<f64> {
    let times = |kind: Kind| -> Vec<i64> {
        ledger
            .iter()
            .filter(|e| e.event == kind && e.get("phase") == Some(phase))
            .map(|e| e.t_ns)
            .collect()
    };
    let start = *times(Kind::PhaseBegun).iter().min()?;
    let end = *times(Kind::PhaseEnded).iter().max()?;
    Some((end - start) as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_reads_back_as_its_kind() {
        for kind in Kind::KNOWN {
            assert_eq!(Kind::from(kind.as_str()), *kind);
            assert!(!matches!(kind, Kind::Other(_)));
        }
        let names: std::collections::HashSet<&str> = Kind::KNOWN.iter().map(Kind::as_str).collect();
        assert_eq!(names.len(), Kind::KNOWN.len(), "a name is listed twice");
    }

    #[test]
    fn names_it_does_not_know_still_read() {
        let app = Kind::from("app_lease_acquired");
        assert_eq!(app, Kind::Other("app_lease_acquired".into()));
        assert_eq!(app, Kind::of_app("lease_acquired"));
        assert_eq!(app.app(), Some("lease_acquired"));
        assert_eq!(app.as_str(), "app_lease_acquired");
        let newer: Kind = "from_a_newer_harness".parse().unwrap();
        assert_eq!(newer.as_str(), "from_a_newer_harness");
        assert_eq!(newer.app(), None);
        assert_eq!(Kind::PhaseBegun.app(), None);
    }

    #[test]
    fn a_row_is_written_with_its_events_name() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(LedgerEvent::new(7, Kind::RunEnded, "", "", "").with("alive", "a-0"))
            .unwrap();
        w.serialize(LedgerEvent::new(8, Kind::of_app("started"), "a-0", "A", ""))
            .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "t_ns,event,instance,version,slot,detail\n7,run_ended,,,,alive=a-0\n\
             8,app_started,a-0,A,,\n"
        );
    }

    #[test]
    fn detail_pairs() {
        let e = LedgerEvent::new(5, Kind::InvocationBegun, "a-0", "A", "production")
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
