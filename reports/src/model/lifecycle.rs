//! The apps' own account of their lives (`events.csv`, see `sink::events`), as ledger
//! events, and what the checker learns from it.
//!
//! Each event becomes a [`LedgerEvent`] named `app_` and the app's event name, stamped with
//! the sink's receive time (one clock for every app, wherever it runs). Where the harness
//! kept no ledger of an instance (on a command platform, nobody but the app saw it live),
//! [`platform_events`] turns its events into the host's words so that the checker finds the
//! same causes: `app_run_begun` is an `invocation_begun` (unless the harness itself invoked
//! that occurrence), `app_run_ended` ends it, `app_unacked` is an `item_sent`, `app_exiting`
//! an `instance_stopped`, and an instance that fell silent without `app_exiting` before the
//! run ended was killed at its last sign of life. [`lives`] says, per instance, whether the
//! cancellation signal reached the code and how long the effective grace was.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

pub use crate::model::ledger::APP_PREFIX;
use crate::model::ledger::{Detail, Kind, LedgerEvent};

/// The detail key holding the app's own clock of an event (`events.csv`'s `t_ns`).
pub const APP_NS: &str = "app_ns";

/// An instance that goes silent this long before the run's end, without saying it exits,
/// was killed (heartbeats come every 250 ms by default).
pub const SILENCE_NS: i64 = 1_000_000_000;

/// One instance's life as it told it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceLife {
    pub instance: String,
    pub version: String,
    /// When the platform sent SIGTERM, when the harness's own host did (local platform).
    pub sigterm_sent_ns: Option<i64>,
    /// When the app said its cancellation token fired.
    pub cancelled_ns: Option<i64>,
    /// Its last event.
    pub last_sign_ns: i64,
    /// It said it was exiting (a clean exit); otherwise it was killed or still ran.
    pub exited: bool,
    /// It was still heard from at the end of the run.
    pub alive_at_end: bool,
    /// Items it sent and never saw acknowledged, by its own count at exit.
    pub unacked: u64,
    /// It was stopped before the run ended (by the update, not the harness's teardown).
    #[serde(default)]
    pub during_run: bool,
    /// The effective grace on the app's own clock (cancellation to last sign, both its own
    /// stamps, free of the sink's receive delays and of clock skew), when it stamped both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_app_ms: Option<f64>,
    /// The signals a container platform sent it, in order, as its Engine tells them (`15`
    /// SIGTERM, `9` SIGKILL): the platform's side of whether a SIGTERM reached the code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals_sent: Vec<i32>,
    /// Its container's exit code, as its Engine tells it (143: ended by a SIGTERM, 137: by a
    /// SIGKILL, the end of the grace or the memory limit's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The kernel killed its container at its memory limit (the Engine's `oom`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

impl InstanceLife {
    /// An instance's life from the first row that names it.
    fn first_seen(e: &LedgerEvent) -> InstanceLife {
        InstanceLife {
            instance: e.instance.clone(),
            version: e.version.clone(),
            last_sign_ns: e.t_ns,
            ..InstanceLife::default()
        }
    }

    /// Whether SIGTERM reached the code: `Some(false)` when the instance ended without its
    /// cancellation token firing; `None` while it still ran at the end.
    pub fn cancellation_reached(&self) -> Option<bool> {
        if self.cancelled_ns.is_some() {
            Some(true)
        } else if self.alive_at_end {
            None
        } else {
            Some(false)
        }
    }

    /// The effective grace: from the cancellation (or the SIGTERM sent) to the last sign of
    /// life, in ms.
    pub fn grace_ms(&self) -> Option<f64> {
        if self.alive_at_end {
            return None;
        }
        if let Some(g) = self.grace_app_ms {
            return Some(g);
        }
        let from = self.cancelled_ns.or(self.sigterm_sent_ns)?;
        Some((self.last_sign_ns - from).max(0) as f64 / 1e6)
    }
}

fn app(e: &LedgerEvent) -> Option<&str> {
    e.event.app()
}

/// The instances the harness itself recorded (its host started them).
fn hosted(ledger: &[LedgerEvent]) -> HashSet<&str> {
    ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceStarted)
        .map(|e| e.instance.as_str())
        .collect()
}

/// The end of the run: the ledger's `run_ended`, else its last event.
fn run_end_ns(ledger: &[LedgerEvent]) -> i64 {
    ledger
        .iter()
        .filter(|e| e.event == Kind::RunEnded)
        .map(|e| e.t_ns)
        .max()
        .or_else(|| ledger.iter().map(|e| e.t_ns).max())
        .unwrap_or(0)
}

/// The host's events for instances only the apps' events describe.
pub fn platform_events(ledger: &[LedgerEvent]) -> Vec<LedgerEvent> {
    let hosted = hosted(ledger);
    // Occurrences the harness invoked itself (the harness driver): their invocations are
    // the harness's, not the app's runs, or every run would count twice.
    let invoked: HashSet<(String, String)> = ledger
        .iter()
        .filter(|e| e.event == Kind::InvocationBegun)
        .filter_map(|e| Some((e.get("source")?.to_owned(), e.get("m")?.to_owned())))
        .collect();
    let end = run_end_ns(ledger);
    let mut out = Vec::new();
    let mut last: BTreeMap<&str, (&LedgerEvent, bool)> = BTreeMap::new();
    for e in ledger {
        let Some(name) = app(e) else { continue };
        if hosted.contains(e.instance.as_str()) {
            continue;
        }
        let entry = last.entry(&e.instance).or_insert((e, false));
        if e.t_ns >= entry.0.t_ns {
            entry.0 = e;
        }
        let like = |kind: Kind| LedgerEvent {
            event: kind,
            detail: Detail::default(),
            ..e.clone()
        };
        let inv = |run: &str| format!("app:{}:{run}", e.instance);
        match name {
            "started" => out.push(like(Kind::InstanceStarted)),
            "ready" => out.push(like(Kind::InstanceReady)),
            "cancelled" => out.push(like(Kind::InstanceStopping)),
            "exiting" => {
                entry.1 = true;
                out.push(like(Kind::InstanceStopped));
            }
            "unacked" => {
                let mut sent = like(Kind::ItemSent);
                sent.detail = e.detail.clone();
                sent.t_ns = e
                    .get("sent_ns")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(e.t_ns);
                out.push(sent);
            }
            "run_begun" => {
                let (Some(source), Some(m), Some(run)) =
                    (e.get("source"), e.get("m"), e.get("run"))
                else {
                    continue;
                };
                if invoked.contains(&(source.to_owned(), m.to_owned())) {
                    continue;
                }
                let mut begun = like(Kind::InvocationBegun)
                    .with("inv", inv(run))
                    .with("source", source)
                    .with("m", m);
                if let Some(n) = e.get("n") {
                    begun = begun.with("n", n);
                }
                if e.flag("catch_up") {
                    begun = begun.with("catch_up", true);
                }
                out.push(begun);
            }
            "run_ended" => {
                let Some(run) = e.get("run") else { continue };
                let kind = match e.get("outcome") {
                    Some("ok") => Kind::InvocationOk,
                    Some("cancelled") => Kind::InvocationKilled,
                    _ => Kind::InvocationFailed,
                };
                out.push(like(kind).with("inv", inv(run)));
            }
            _ => {}
        }
    }
    // Silent without a word of exiting before the run ended: killed at its last sign.
    for (_, (e, exited)) in last {
        if !exited && e.t_ns < end - SILENCE_NS {
            out.push(
                LedgerEvent {
                    event: Kind::InstanceKilled,
                    detail: Detail::default(),
                    ..e.clone()
                }
                .with("by", "silence"),
            );
        }
    }
    out
}

/// Every instance's life as its events tell it, by instance id.
pub fn lives(ledger: &[LedgerEvent]) -> Vec<InstanceLife> {
    let end = run_end_ns(ledger);
    let mut lives: BTreeMap<String, InstanceLife> = BTreeMap::new();
    let mut sigterm: BTreeMap<&str, i64> = BTreeMap::new();
    // On the app's own clock: when it was cancelled and its last sign.
    let mut app_clock: BTreeMap<String, (Option<i64>, i64)> = BTreeMap::new();
    // The container platform's side, from its Engine's events: signals, exit, OOM.
    let mut engine: BTreeMap<&str, EngineSaid> = BTreeMap::new();
    for e in ledger {
        if e.event == Kind::InstanceStopping {
            sigterm.entry(&e.instance).or_insert(e.t_ns);
        }
        if e.event == Kind::Engine && !e.instance.is_empty() {
            // A container killed before its app said a word (at its memory limit, say)
            // has a life all the same: the Engine's.
            lives
                .entry(e.instance.clone())
                .or_insert_with(|| InstanceLife::first_seen(e));
            let said = engine.entry(&e.instance).or_default();
            match e.get("action") {
                Some("kill") => said.signals.extend(e.get("signal").and_then(signal_number)),
                Some("die") => {
                    said.exit_code = e.get("exit_code").and_then(|c| c.parse().ok());
                    said.died_ns = Some(e.t_ns);
                }
                Some("oom") => said.oom = true,
                _ => {}
            }
        }
        let Some(name) = app(e) else { continue };
        let life = lives
            .entry(e.instance.clone())
            .or_insert_with(|| InstanceLife::first_seen(e));
        life.last_sign_ns = life.last_sign_ns.max(e.t_ns);
        // A row the sink wrote (a lease) names no version; the app's own rows do.
        if life.version.is_empty() {
            life.version = e.version.clone();
        }
        if let Some(app_ns) = e.get(APP_NS).and_then(|t| t.parse::<i64>().ok()) {
            let clock = app_clock
                .entry(e.instance.clone())
                .or_insert((None, app_ns));
            clock.1 = clock.1.max(app_ns);
            if name == "cancelled" {
                clock.0 = Some(clock.0.map_or(app_ns, |c| c.min(app_ns)));
            }
        }
        match name {
            "cancelled" => {
                life.cancelled_ns = Some(life.cancelled_ns.map_or(e.t_ns, |c| c.min(e.t_ns)))
            }
            "exiting" => {
                life.exited = true;
                life.unacked = e.get_u64("unacked").unwrap_or(0);
            }
            _ => {}
        }
    }
    for life in lives.values_mut() {
        life.sigterm_sent_ns = sigterm.get(life.instance.as_str()).copied();
        let said = engine.remove(life.instance.as_str()).unwrap_or_default();
        // The Engine saw its container die before the run ended: not alive, however
        // recently the app spoke.
        let died = said.died_ns.is_some_and(|t| t < end);
        life.alive_at_end = !life.exited && !died && life.last_sign_ns >= end - SILENCE_NS;
        let stopped_at = life
            .sigterm_sent_ns
            .or(life.cancelled_ns)
            .unwrap_or(life.last_sign_ns);
        life.during_run = !life.alive_at_end && stopped_at < end;
        if let Some((Some(cancelled), last)) = app_clock.get(&life.instance) {
            life.grace_app_ms = Some((last - cancelled).max(0) as f64 / 1e6);
        }
        (life.signals_sent, life.exit_code, life.oom_killed) =
            (said.signals, said.exit_code, said.oom);
    }
    lives.into_values().collect()
}

/// What a container platform's Engine said of one instance's container.
#[derive(Default)]
struct EngineSaid {
    signals: Vec<i32>,
    exit_code: Option<i64>,
    oom: bool,
    died_ns: Option<i64>,
}

/// A signal as an Engine names it in a `kill` event: a number (`15`) or a name (`SIGTERM`,
/// `TERM`).
fn signal_number(signal: &str) -> Option<i32> {
    if let Ok(n) = signal.parse() {
        return Some(n);
    }
    let name = signal.strip_prefix("SIG").unwrap_or(signal);
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "STOP" => 19,
        _ => return None,
    })
}

/// A signal's name for a reader: `SIGTERM` for 15.
pub fn signal_name(signal: i32) -> String {
    match signal {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        3 => "SIGQUIT".into(),
        9 => "SIGKILL".into(),
        10 => "SIGUSR1".into(),
        12 => "SIGUSR2".into(),
        15 => "SIGTERM".into(),
        19 => "SIGSTOP".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_ms: i64, name: Kind, instance: &str, detail: &str) -> LedgerEvent {
        LedgerEvent {
            detail: detail.into(),
            ..LedgerEvent::new(t_ms * 1_000_000, name, instance, "A", "")
        }
    }

    #[test]
    fn app_events_become_the_hosts_words_for_unhosted_instances() {
        let ledger = vec![
            ev(0, Kind::of_app("started"), "a-0", "pid=1"),
            ev(
                10,
                Kind::of_app("run_begun"),
                "a-0",
                "run=0 source=tick m=3 catch_up=false",
            ),
            ev(20, Kind::of_app("cancelled"), "a-0", "active=1"),
            ev(
                25,
                Kind::of_app("run_ended"),
                "a-0",
                "run=0 outcome=cancelled sent=4",
            ),
            ev(
                26,
                Kind::of_app("unacked"),
                "a-0",
                "source=tick m=3 n=4 sent_ns=24000000",
            ),
            ev(27, Kind::of_app("exiting"), "a-0", "unacked=1"),
            // b-0 falls silent long before the end: killed.
            ev(
                30,
                Kind::of_app("run_begun"),
                "b-0",
                "run=0 source=tick m=4",
            ),
            // The host started h-0 itself: its app events are not repeated.
            ev(0, Kind::InstanceStarted, "h-0", ""),
            ev(
                40,
                Kind::of_app("run_begun"),
                "h-0",
                "run=0 source=tick m=5",
            ),
            ev(5_000, Kind::RunEnded, "", ""),
        ];
        let made = platform_events(&ledger);
        let names: Vec<(Kind, &str)> = made
            .iter()
            .map(|e| (e.event.clone(), e.instance.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (Kind::InstanceStarted, "a-0"),
                (Kind::InvocationBegun, "a-0"),
                (Kind::InstanceStopping, "a-0"),
                (Kind::InvocationKilled, "a-0"),
                (Kind::ItemSent, "a-0"),
                (Kind::InstanceStopped, "a-0"),
                (Kind::InvocationBegun, "b-0"),
                (Kind::InstanceKilled, "b-0"),
            ]
        );
        assert_eq!(
            made[4].t_ns, 24_000_000,
            "an unacked item is stamped when sent"
        );
        assert_eq!(made[1].get("inv"), made[3].get("inv"));

        let lives = lives(&ledger);
        let a = &lives[0];
        assert_eq!(
            (a.cancellation_reached(), a.grace_ms()),
            (Some(true), Some(7.0))
        );
        let b = &lives[1];
        assert_eq!(
            (b.instance.as_str(), b.cancellation_reached()),
            ("b-0", Some(false))
        );
    }

    #[test]
    fn the_harness_drivers_invocations_are_not_counted_twice() {
        let ledger = vec![
            ev(0, Kind::InvocationBegun, "", "inv=h3 source=tick m=3"),
            ev(1, Kind::of_app("run_begun"), "a-0", "run=0 source=tick m=3"),
            ev(
                2,
                Kind::of_app("run_ended"),
                "a-0",
                "run=0 outcome=ok sent=10",
            ),
        ];
        let made = platform_events(&ledger);
        assert!(
            made.iter().all(|e| e.event != Kind::InvocationBegun),
            "{made:?}"
        );
    }

    #[test]
    fn the_engines_signals_exit_code_and_oom_join_the_instances_life() {
        let ledger = vec![
            ev(0, Kind::of_app("started"), "a-0", ""),
            ev(0, Kind::of_app("started"), "b-0", ""),
            ev(10, Kind::InstanceStopping, "a-0", "grace_ms=500"),
            ev(
                10,
                Kind::Engine,
                "a-0",
                "action=kill container=uh-1-a-0 signal=15",
            ),
            ev(
                510,
                Kind::Engine,
                "a-0",
                "action=kill container=uh-1-a-0 signal=SIGKILL",
            ),
            ev(
                511,
                Kind::Engine,
                "a-0",
                "action=die container=uh-1-a-0 exit_code=137",
            ),
            ev(600, Kind::Engine, "b-0", "action=oom container=uh-1-b-0"),
            ev(
                601,
                Kind::Engine,
                "b-0",
                "action=die container=uh-1-b-0 exit_code=137",
            ),
            // The image's row names no instance.
            ev(0, Kind::Engine, "", "action=image_found image=x"),
            ev(700, Kind::RunEnded, "", "alive="),
        ];
        let lives = lives(&ledger);
        let (a, b) = (&lives[0], &lives[1]);
        assert_eq!(a.signals_sent, [15, 9]);
        assert_eq!(a.exit_code, Some(137));
        assert!(!a.oom_killed);
        assert_eq!(
            a.cancellation_reached(),
            Some(false),
            "the code never said cancelled"
        );
        assert!(b.signals_sent.is_empty());
        assert_eq!((b.exit_code, b.oom_killed), (Some(137), true));
        assert_eq!(signal_name(15), "SIGTERM");
    }
}
