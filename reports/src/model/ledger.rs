//! `ledger.csv`: the platform's timestamped events.
//!
//! The host writes one row per event: `t_ns,event,instance,version,slot,detail`. `detail` is a
//! space-separated list of `key=value` pairs ([`Detail`]); a value holding a space, `=`, `"` or
//! `\` is written quoted (`reason="it stopped serving"`, with `\"` and `\\` inside), any other
//! as it is. The events ([`Kind`]) and the detail keys the checker reads:
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
//! | `analysis_evaluated` / `analysis_failed` | one evaluation of `[analysis]` over its window / the one that failed | `window_ms`, `ok`, and per threshold `METRIC=VALUE` and `METRIC.samples` / `window_ms`, `failed` (the thresholds that failed as written, joined by `+`) |
//! | `rollback_triggered` | the runner rolls the update back | `by` (`manual`, `analysis`) |
//! | `timer_lease` | the local timer's lease moved to the row's instance (the newest ready one in production) | |
//! | `occurrence_missed` | no instance could run an occurrence (the local timer had no lease holder; the harness driver could not connect, or the proxy answered without an app) | `source`, `m`, (`reason`: `connect`, `http_NNN`) |
//! | `fault_started` / `fault_ended` | a `[[faults]]` entry begins / ends acting (a crash ends when its restart is ready, or at once without one) | `fault` (its index in the list), `kind`, and the entry's own keys (`latency_ms`, `status`, ...); `fault_ended` of a sink-path fault adds `requests` (seen in its window) and `affected` (acted on) |
//! | `fault_acted` | a fault did something to one instance (the row's instance) | `fault`, `kind`, `action` (`sigkill`, `sigstop`, `sigcont`, `restart`) |
//! | `sink_died` | the run's own sink stopped serving before the run ended: the run is invalid | `reason` |
//! | `engine` | the Docker Engine's own event about the row's instance's container (from its event stream, stamped when read), or the run's image | `action` (`create`, `start`, `kill`, `die`, `oom`, `pause`, `unpause`, `stop`, `destroy`, `health_status`; `image_built`, `image_found`), `container`, `signal` (a kill's), `exit_code` (a die's), `status`, `engine_ns` (the Engine's clock), `image`, `ms` |
//! | `run_ended` | the runner stopped driving the run | `alive` (the instances still alive, joined by `+`) |
//! | `app_*` | the apps' own lifecycle events from `events.csv` (see [`crate::lifecycle`]) | as the app sent them |
//!
//! An invocation whose instance is killed or stops before it ends counts as killed. A queue
//! invocation names its message's `n`; a timer invocation covers every `n` of occurrence `m`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix of every app event in the merged ledger.
pub const APP_PREFIX: &str = "app_";

/// One ledger row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEvent {
    pub t_ns: i64,
    pub event: Kind,
    pub instance: String,
    pub version: String,
    pub slot: String,
    pub detail: Detail,
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
    /// The Docker Engine's own event about one of the run's containers, or its image.
    Engine = "engine",
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
            detail: Detail::default(),
        }
    }

    /// Appends `key=value` to the detail.
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.detail.push(key, value);
        self
    }

    /// The value of `key` in the detail, if present, unquoted.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.detail.get(key)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }
}

/// The `detail` column: `key=value` pairs in the order written.
///
/// A value holding a space, `=`, `"` or `\` is written between quotes, with `\"` and `\\`
/// inside; any other value is written as it is, so a detail without such values reads and
/// writes exactly as it did before values could be quoted. A word without `=` (none is written
/// now) is kept as it was read, so the text reads back whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detail {
    /// `(key, value)`; `None` for a word without `=`.
    parts: Vec<(String, Option<String>)>,
}

impl Detail {
    /// Reads a detail as written: never fails, a malformed quote being read as a plain value.
    pub fn parse(text: &str) -> Detail {
        let mut parts = Vec::new();
        let mut rest = text;
        loop {
            let (part, after) = read_part(rest);
            parts.push(part);
            match after {
                Some(after) => rest = after,
                None => break,
            }
        }
        if text.is_empty() {
            parts.clear();
        }
        Detail { parts }
    }

    /// Appends `key=value`.
    pub fn push(&mut self, key: &str, value: impl fmt::Display) {
        self.parts.push((key.to_owned(), Some(value.to_string())));
    }

    /// The value of the first `key`, unquoted.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find_map(|(k, v)| (k == key).then_some(v))
    }

    /// Every `key=value` pair, values unquoted, in the order written.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parts
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// One part of `text` and what follows its separating space, if any.
fn read_part(text: &str) -> ((String, Option<String>), Option<&str>) {
    let word_end = text.find(' ').unwrap_or(text.len());
    let Some(eq) = text[..word_end].find('=') else {
        return (
            (text[..word_end].to_owned(), None),
            after_space(text, word_end),
        );
    };
    let key = text[..eq].to_owned();
    let value = &text[eq + 1..];
    if let Some((unquoted, len)) = read_quoted(value) {
        let end = eq + 1 + len;
        if end == text.len() || text.as_bytes()[end] == b' ' {
            return ((key, Some(unquoted)), after_space(text, end));
        }
    }
    let value = text[eq + 1..word_end].to_owned();
    ((key, Some(value)), after_space(text, word_end))
}

fn after_space(text: &str, end: usize) -> Option<&str> {
    (end < text.len()).then(|| &text[end + 1..])
}

/// A quoted value at the start of `text`: its unquoted text and how many bytes it took.
fn read_quoted(text: &str) -> Option<(String, usize)> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 2)),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

fn needs_quotes(value: &str) -> bool {
    value.contains([' ', '=', '"', '\\'])
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(key)?;
            let Some(value) = value else { continue };
            f.write_str("=")?;
            if !needs_quotes(value) {
                f.write_str(value)?;
                continue;
            }
            f.write_str("\"")?;
            for c in value.chars() {
                if matches!(c, '"' | '\\') {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

impl From<&str> for Detail {
    fn from(text: &str) -> Detail {
        Detail::parse(text)
    }
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Detail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Detail, D::Error> {
        Ok(Detail::parse(&String::deserialize(d)?))
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
    fn values_with_spaces_quotes_backslashes_and_equals_read_back_as_written() {
        let values = [
            "it stopped serving",
            "say \"hi\"",
            r"C:\temp\x",
            "lost_rate <= 0.01+late_rate < 0.1",
            "\"",
            "\\",
            " ",
            "=",
            "a\\\" b",
            "",
            "plain",
        ];
        let mut e = LedgerEvent::new(1, Kind::SinkDied, "", "", "");
        for (i, v) in values.iter().enumerate() {
            e = e.with(&format!("k{i}"), v);
        }
        let text = e.detail.to_string();
        let read = Detail::parse(&text);
        assert_eq!(read, e.detail, "{text}");
        for (i, v) in values.iter().enumerate() {
            assert_eq!(read.get(&format!("k{i}")), Some(*v), "{text}");
        }
        assert_eq!(read.to_string(), text);
        let quoted = LedgerEvent::new(1, Kind::SinkDied, "", "", "")
            .with("reason", "it said \"no\" \\ twice")
            .with("then", 3);
        assert_eq!(
            quoted.detail.to_string(),
            r#"reason="it said \"no\" \\ twice" then=3"#
        );
    }

    #[test]
    fn an_old_detail_reads_as_before_and_writes_back_the_same() {
        let old = [
            "",
            "inv=7 source=tick m=12 catch_up=true",
            "reason=it_stopped_serving",
            "window_ms=2000 failed=lost_rate<=0.01+late_rate<0.1",
            "signal=9",
            "unknown",
            "a=1  b=2 ",
            "x=\"unclosed y=2",
            "x=\"a\"b y=2",
            "k= j=",
        ];
        // How details were read before values could be quoted.
        let before = |text: &'static str, key: &str| {
            text.split(' ').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == key).then_some(v)
            })
        };
        for text in old {
            let read = Detail::parse(text);
            for key in text.split(' ').filter_map(|p| Some(p.split_once('=')?.0)) {
                assert_eq!(read.get(key), before(text, key), "{text:?} {key}");
            }
            // Only a value that would now be quoted is written otherwise.
            if !read.pairs().any(|(_, v)| needs_quotes(v)) {
                assert_eq!(read.to_string(), text);
            }
        }
        assert_eq!(
            Detail::parse("failed=lost_rate<=0.01").get("failed"),
            Some("lost_rate<=0.01")
        );
        assert_eq!(
            Detail::parse("x=\"unclosed y=2").get("x"),
            Some("\"unclosed")
        );
        assert_eq!(Detail::parse("x=\"unclosed y=2").get("y"), Some("2"));
        assert!(Detail::parse("").is_empty());
    }

    #[test]
    fn a_row_with_a_quoted_value_reads_back_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = crate::RunDir::new(dir.path());
        let ledger = vec![
            LedgerEvent::new(1, Kind::SinkDied, "", "", "")
                .with("reason", "it stopped serving, \"for good\""),
            LedgerEvent::new(2, Kind::RunEnded, "", "", "").with("alive", ""),
        ];
        run.write_ledger(&ledger).unwrap();
        let read = run.read_ledger().unwrap();
        assert_eq!(read, ledger);
        assert_eq!(
            read[0].get("reason"),
            Some("it stopped serving, \"for good\"")
        );
    }

    #[test]
    fn detail_pairs() {
        let e = LedgerEvent::new(5, Kind::InvocationBegun, "a-0", "A", "production")
            .with("inv", 7)
            .with("source", "tick")
            .with("m", 12)
            .with("catch_up", true);
        assert_eq!(e.detail.to_string(), "inv=7 source=tick m=12 catch_up=true");
        assert_eq!(e.get("source"), Some("tick"));
        assert_eq!(e.get_u64("m"), Some(12));
        assert_eq!(e.get_u64("n"), None);
        assert!(e.flag("catch_up"));
    }
}
