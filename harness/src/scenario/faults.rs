//! `[[faults]]`: what the run breaks on purpose, and when.
//!
//! Each entry is one fault at `at` on the scenario clock (from the schedule's epoch, scaled
//! like every duration). Instance faults act on the app's processes through the platform:
//! `crash` (SIGKILL, then a restart of the same version in the same slot, as a real platform
//! restarts a dead instance), `pause` (SIGSTOP for `duration`, then SIGCONT) and `crash_loop`
//! (the chosen instances keep dying for `duration`: each restart lives `up_for`). Sink-path
//! faults act in the fault proxy the harness puts between the instances and the sink: added
//! `latency` (with `jitter`), `http_error` (answers `status` instead of forwarding),
//! `reset` (the connection is reset under the request), `blackhole` (accepted, never
//! answered), `fail_first` (the first `count` requests of the window answer `status`) and
//! `bandwidth` (requests and answers share `bytes_per_s`). Every sink-path fault but
//! `fail_first` acts on a request with `probability` (default 1: always; 0: never).
//! `sink_crash` stops the harness's own sink: a drill showing that a run whose sink dies
//! is invalid, never a pass.
//!
//! ```toml
//! [[faults]]
//! kind = "pause"
//! at = "30s"
//! duration = "2s"
//! version = "A"
//!
//! [[faults]]
//! kind = "blackhole"
//! at = "60s"
//! duration = "2s"
//! ```
//!
//! Each kind is one struct here holding exactly the keys it takes, and one line of
//! `kinds!`: the struct reads its keys from the file, checks them, and says what the run
//! acts out ([`Act`]: a signal and restart through the platform, or a
//! [`fault_proxy::Action`](Action)). Adding a kind is a struct, its line, and the code that
//! acts it out when that is new (`chaos.rs`, `fault_proxy.rs`).

use std::ops::Range;
use std::time::Duration;

use serde::de::{Deserializer, EnumAccess, IgnoredAny, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::duration::Span;
use crate::duration::TimeScale;
use crate::fault_proxy::Action;

/// One `[[faults]]` entry as the run acts it out: resolved from the scenario with every
/// duration scaled ([`crate::scenario::Fault::schedule`], called by the run plan).
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    /// As `kind = "..."` names it: the ledger's `kind`.
    pub kind: &'static str,
    /// `at` as the scenario writes it, for the notes.
    pub written_at: Span,
    /// When it begins, from the schedule's epoch. Scaled.
    pub at: Duration,
    /// How long it acts; zero for a crash and a sink crash. Scaled.
    pub duration: Duration,
    /// Its `fault_started` row's `key=value` pairs, beyond the fault's index and kind.
    pub params: Vec<(&'static str, String)>,
    pub act: Act,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
pub enum Act {
    /// Signals the serving instances `target` picks, through the platform.
    Instances { target: Target, act: InstanceAct },
    /// Acts on each request in the fault proxy, for the fault's window.
    SinkPath(Action),
    /// Stops the harness's own sink.
    SinkCrash,
}

/// What an instance fault does to each instance it picked (durations scaled).
#[derive(Clone, Debug, PartialEq)]
pub enum InstanceAct {
    /// SIGSTOP for the fault's duration, then SIGCONT.
    Pause,
    /// SIGKILL; with `restart_after`, the platform restarts the same version in the same
    /// slot that long after; with `up_for` too, each restart is killed again once it has
    /// lived that long, until the fault's window closes.
    Kill {
        restart_after: Option<Duration>,
        up_for: Option<Duration>,
    },
}

/// The kinds, each once: its name in the file and its struct (the variant of [`Fault`] has
/// the struct's name).
macro_rules! kinds {
    ($($name:literal => $kind:ident,)*) => {
        /// One `[[faults]]` entry: its kind, holding exactly the keys that kind takes.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(tag = "kind")]
        pub enum Fault {
            $(#[serde(rename = $name)] $kind($kind),)*
        }

        impl Fault {
            /// Every kind, as `kind = "..."` names it.
            pub const KINDS: &'static [&'static str] = &[$($name),*];

            /// Its kind, as `kind = "..."` names it (and the ledger's rows).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Fault::$kind(_) => $name,)*
                }
            }

            fn spec(&self) -> &dyn Kind {
                match self {
                    $(Fault::$kind(f) => f,)*
                }
            }

            /// Reads an entry of kind `name`; `None` for no such kind.
            fn read_as(name: &str, entry: &mut Entry) -> Option<Result<Fault, Refusal>> {
                Some(match name {
                    $($name => $kind::read(entry).map(Fault::$kind),)*
                    _ => return None,
                })
            }
        }
    };
}

kinds! {
    "crash" => Crash,
    "pause" => Pause,
    "crash_loop" => CrashLoop,
    "latency" => Latency,
    "http_error" => HttpError,
    "reset" => Reset,
    "blackhole" => Blackhole,
    "fail_first" => FailFirst,
    "bandwidth" => Bandwidth,
    "sink_crash" => SinkCrash,
}

/// What [`Fault`] asks of each kind's struct; only `at` and `act` have no default. Spans
/// are as written, on the scenario clock: `act` scales them through the run's [`TimeScale`].
trait Kind {
    /// When it begins, on the scenario clock.
    fn at(&self) -> Span;
    /// How long it acts (a crash and a sink crash: no time of their own).
    fn duration(&self) -> Option<Span> {
        None
    }
    /// The instances it acts on: instance faults only.
    fn target(&self) -> Option<&Target> {
        None
    }
    /// Acts in the fault proxy between the instances and the sink.
    fn on_sink_path(&self) -> bool {
        false
    }
    fn probability(&self) -> Option<f64> {
        None
    }
    fn status(&self) -> Option<u16> {
        None
    }
    /// Its own checks, after the common ones: the key to blame and why.
    fn check(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }
    /// What the run does, its durations scaled by `scale`; pushes the `key=value` pairs of
    /// its `fault_started` row that are its own.
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act;
}

/// Which of the instances that match an instance fault's filters it acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// One, drawn with the run's seed.
    #[default]
    Random,
    All,
}

/// The instances an instance fault acts on: those matching every filter given, one of them
/// at random or all.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Target {
    /// The instance, by id (`a-0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Only instances in this slot (`production`, `staging`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Only instances of this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One of the matching serving instances at random (default), or all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pick: Option<Pick>,
}

impl Target {
    fn read(e: &mut Entry) -> Result<Target, Refusal> {
        Ok(Target {
            instance: e.opt("instance")?,
            slot: e.opt("slot")?,
            version: e.opt("version")?,
            pick: e.opt("pick")?,
        })
    }

    pub fn pick(&self) -> Pick {
        self.pick.unwrap_or_default()
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, version) in [("version", &self.version), ("instance", &self.instance)] {
            if let Some(v) = version {
                if let Some(why) = sink::item::version_error(v) {
                    return Err((key, format!("{why} (got {v:?})")));
                }
            }
        }
        if let Some(slot) = &self.slot {
            if slot != crate::slot::PRODUCTION && slot != crate::slot::STAGING {
                return Err((
                    "slot",
                    format!("must be \"production\" or \"staging\" (got {slot:?})"),
                ));
            }
        }
        Ok(())
    }

    /// `target` and `pick`, for the ledger.
    fn params(&self) -> [(&'static str, String); 2] {
        let target = match (&self.instance, &self.slot, &self.version) {
            (Some(id), _, _) => format!("instance:{id}"),
            (None, None, None) => "any".into(),
            (None, slot, version) => [
                slot.as_ref().map(|s| format!("slot:{s}")),
                version.as_ref().map(|v| format!("version:{v}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(","),
        };
        let pick = match self.pick() {
            Pick::Random => "random",
            Pick::All => "all",
        };
        [("target", target), ("pick", pick.into())]
    }
}

/// Milliseconds, as the ledger writes a fault's durations.
fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// The chance a sink-path fault acts on a request. Default 1.
fn chance(probability: Option<f64>) -> f64 {
    probability.unwrap_or(1.0)
}

/// The status an `http_error` or `fail_first` answers. Default 503.
fn status_or_default(status: Option<u16>) -> u16 {
    status.unwrap_or(503)
}

/// `crash`: SIGKILL, and a restart of the same version in the same slot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Crash {
    pub at: Span,
    #[serde(flatten)]
    pub target: Target,
    /// The platform restarts the instance, as a real one does. Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    /// From the death to the restart. Default 1 s (invented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Span>,
}

impl Crash {
    fn read(e: &mut Entry) -> Result<Crash, Refusal> {
        Ok(Crash {
            at: e.at()?,
            target: Target::read(e)?,
            restart: e.opt("restart")?,
            restart_after: e.opt("restart_after")?,
        })
    }
}

/// From a death to the restart, by default. Invented.
const RESTART_AFTER: Span = Span(Duration::from_secs(1));

impl Kind for Crash {
    fn at(&self) -> Span {
        self.at
    }
    fn target(&self) -> Option<&Target> {
        Some(&self.target)
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let restart = self.restart.unwrap_or(true);
        let restart_after = scale.span(self.restart_after.unwrap_or(RESTART_AFTER));
        params.push(("restart", restart.to_string()));
        params.push(("restart_after_ms", ms(restart_after)));
        Act::Instances {
            target: self.target.clone(),
            act: InstanceAct::Kill {
                restart_after: restart.then_some(restart_after),
                up_for: None,
            },
        }
    }
}

/// `pause`: SIGSTOP for `duration`, then SIGCONT.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pause {
    pub at: Span,
    pub duration: Span,
    #[serde(flatten)]
    pub target: Target,
}

impl Pause {
    fn read(e: &mut Entry) -> Result<Pause, Refusal> {
        Ok(Pause {
            at: e.at()?,
            target: Target::read(e)?,
            duration: e.duration()?,
        })
    }
}

impl Kind for Pause {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn target(&self) -> Option<&Target> {
        Some(&self.target)
    }
    fn act(&self, _: TimeScale, _: &mut Vec<(&'static str, String)>) -> Act {
        Act::Instances {
            target: self.target.clone(),
            act: InstanceAct::Pause,
        }
    }
}

/// `crash_loop`: the chosen instances keep dying for `duration`; each restart lives
/// `up_for`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrashLoop {
    pub at: Span,
    pub duration: Span,
    #[serde(flatten)]
    pub target: Target,
    /// From a death to the restart. Default 1 s (invented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Span>,
    /// How long each restart lives once ready. Default 500 ms (invented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_for: Option<Span>,
}

impl CrashLoop {
    fn read(e: &mut Entry) -> Result<CrashLoop, Refusal> {
        Ok(CrashLoop {
            at: e.at()?,
            target: Target::read(e)?,
            duration: e.duration()?,
            restart_after: e.opt("restart_after")?,
            up_for: e.opt("up_for")?,
        })
    }
}

impl Kind for CrashLoop {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn target(&self) -> Option<&Target> {
        Some(&self.target)
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let restart_after = scale.span(self.restart_after.unwrap_or(RESTART_AFTER));
        let up_for = scale.span(self.up_for.unwrap_or(Span::from_millis(500)));
        params.push(("restart_after_ms", ms(restart_after)));
        params.push(("up_for_ms", ms(up_for)));
        Act::Instances {
            target: self.target.clone(),
            act: InstanceAct::Kill {
                restart_after: Some(restart_after),
                up_for: Some(up_for),
            },
        }
    }
}

/// The longest `latency`, so a typo cannot hold every item for a day.
const MAX_LATENCY: Duration = Duration::from_secs(60);

/// `latency`: each request waits `latency ± jitter` before it is forwarded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub at: Span,
    pub duration: Span,
    pub latency: Span,
    /// The added latency is uniform in `latency ± jitter`. Default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Latency {
    fn read(e: &mut Entry) -> Result<Latency, Refusal> {
        Ok(Latency {
            at: e.at()?,
            duration: e.duration()?,
            latency: e.need("latency", || "a latency fault needs a latency".into())?,
            jitter: e.opt("jitter")?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for Latency {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.latency.0 > MAX_LATENCY {
            return Err(("latency", "must be at most 60s".into()));
        }
        if self.jitter.is_some_and(|j| j > self.latency) {
            return Err(("jitter", "must be at most the latency".into()));
        }
        Ok(())
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let (base, jitter) = (
            scale.span(self.latency),
            scale.span(self.jitter.unwrap_or_default()),
        );
        let probability = chance(self.probability);
        params.push(("latency_ms", ms(base)));
        params.push(("jitter_ms", ms(jitter)));
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::Latency {
            base,
            jitter,
            probability,
        })
    }
}

/// `http_error`: answers `status` instead of forwarding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpError {
    pub at: Span,
    pub duration: Span,
    /// Default 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl HttpError {
    fn read(e: &mut Entry) -> Result<HttpError, Refusal> {
        Ok(HttpError {
            at: e.at()?,
            duration: e.duration()?,
            status: e.opt("status")?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for HttpError {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let (status, probability) = (status_or_default(self.status), chance(self.probability));
        params.push(("status", status.to_string()));
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::HttpError {
            status,
            probability,
        })
    }
}

/// `reset`: the connection is reset under the request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reset {
    pub at: Span,
    pub duration: Span,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Reset {
    fn read(e: &mut Entry) -> Result<Reset, Refusal> {
        Ok(Reset {
            at: e.at()?,
            duration: e.duration()?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for Reset {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let probability = chance(self.probability);
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::Reset { probability })
    }
}

/// `blackhole`: the request is accepted and never answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Blackhole {
    pub at: Span,
    pub duration: Span,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Blackhole {
    fn read(e: &mut Entry) -> Result<Blackhole, Refusal> {
        Ok(Blackhole {
            at: e.at()?,
            duration: e.duration()?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for Blackhole {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let probability = chance(self.probability);
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::Blackhole { probability })
    }
}

/// `fail_first`: the first `count` requests of the window answer `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailFirst {
    pub at: Span,
    pub duration: Span,
    /// Default 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub count: u64,
}

impl FailFirst {
    fn read(e: &mut Entry) -> Result<FailFirst, Refusal> {
        Ok(FailFirst {
            at: e.at()?,
            duration: e.duration()?,
            count: e.need("count", || FailFirst::NO_COUNT.into())?,
            status: e.opt("status")?,
        })
    }

    const NO_COUNT: &'static str = "a fail_first fault needs a count of at least 1";
}

impl Kind for FailFirst {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.count == 0 {
            return Err(("count", FailFirst::NO_COUNT.into()));
        }
        Ok(())
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let status = status_or_default(self.status);
        params.push(("status", status.to_string()));
        params.push(("count", self.count.to_string()));
        Act::SinkPath(Action::FailFirst {
            count: self.count,
            status,
        })
    }
}

/// `bandwidth`: requests and answers through the proxy share `bytes_per_s`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bandwidth {
    pub at: Span,
    pub duration: Span,
    /// The cap on request and answer bytes, per second. Scaled as a rate: divided by the
    /// time scale, so the delays it causes keep their size against the run's schedule.
    pub bytes_per_s: u64,
}

impl Bandwidth {
    fn read(e: &mut Entry) -> Result<Bandwidth, Refusal> {
        Ok(Bandwidth {
            at: e.at()?,
            duration: e.duration()?,
            bytes_per_s: e.need("bytes_per_s", || Bandwidth::NO_RATE.into())?,
        })
    }

    const NO_RATE: &'static str = "a bandwidth fault needs bytes_per_s of at least 1";
}

impl Kind for Bandwidth {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.bytes_per_s == 0 {
            return Err(("bytes_per_s", Bandwidth::NO_RATE.into()));
        }
        Ok(())
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        params.push(("bytes_per_s", self.bytes_per_s.to_string()));
        // It takes no probability, but its rows have always said it acts on every request.
        params.push(("probability", chance(None).to_string()));
        Act::SinkPath(Action::Bandwidth {
            bytes_per_s: scale.rate(self.bytes_per_s),
        })
    }
}

/// `sink_crash`: the harness's own sink stops at `at`, as a crash: a drill of the harness's
/// own failure handling (the run says so and is invalid), not of the app.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SinkCrash {
    pub at: Span,
}

impl SinkCrash {
    fn read(e: &mut Entry) -> Result<SinkCrash, Refusal> {
        Ok(SinkCrash { at: e.at()? })
    }
}

impl Kind for SinkCrash {
    fn at(&self) -> Span {
        self.at
    }
    fn act(&self, _: TimeScale, _: &mut Vec<(&'static str, String)>) -> Act {
        Act::SinkCrash
    }
}

impl Fault {
    /// Acts on the app's instances (the rest act between the instances and the sink, or
    /// on the sink).
    pub fn on_instances(&self) -> bool {
        self.spec().target().is_some()
    }

    /// Acts in the fault proxy between the instances and the sink.
    pub fn on_sink_path(&self) -> bool {
        self.spec().on_sink_path()
    }

    /// Checks the entry against the run's length and its own ranges; the error names the
    /// key (of this entry) to blame.
    pub fn validate(&self, run_duration: Span) -> Result<(), (&'static str, String)> {
        let f = self.spec();
        if f.at() >= run_duration {
            return Err(("at", "must be before run.duration".into()));
        }
        match f.duration() {
            Some(d) if d.0.is_zero() => return Err(("duration", "must be positive".into())),
            Some(d) if f.at().0 + d.0 > run_duration.0 => {
                return Err(("duration", "the fault must end by run.duration".into()))
            }
            _ => {}
        }
        if let Some(p) = f.probability() {
            if !(0.0..=1.0).contains(&p) {
                return Err(("probability", format!("must be between 0 and 1 (got {p})")));
            }
        }
        if let Some(status) = f.status() {
            if !(100..=599).contains(&status) {
                return Err(("status", format!("must be an HTTP status (got {status})")));
            }
        }
        if let Some(target) = f.target() {
            target.check()?;
        }
        f.check()
    }

    /// The fault as the run acts it out, every duration scaled by `scale`, with the
    /// `key=value` pairs its `fault_started` row carries.
    pub fn schedule(&self, scale: TimeScale) -> ScheduledFault {
        let f = self.spec();
        let duration = f.duration().map(|d| scale.span(d));
        let mut params = Vec::new();
        if let Some(d) = duration {
            params.push(("duration_ms", ms(d)));
        }
        if let Some(target) = f.target() {
            params.extend(target.params());
        }
        let act = f.act(scale, &mut params);
        ScheduledFault {
            kind: self.kind(),
            written_at: f.at(),
            at: scale.span(f.at()),
            duration: duration.unwrap_or_default(),
            params,
            act,
        }
    }
}

/// Why an entry is refused: the key under its `faults[i]` to blame (none: the entry
/// itself), where, and why.
#[derive(Debug)]
pub(super) struct Refusal {
    pub key: Option<String>,
    pub span: Option<Range<usize>>,
    pub message: String,
}

/// One `[[faults]]` table as the parser saw it, read key by key: a kind's `read` asks for
/// the keys it takes, in the order its error lists them.
struct Entry<'a, 'i> {
    table: &'a DeTable<'i>,
    /// The entry (its `[[faults]]` header), blamed for a key it lacks.
    span: Range<usize>,
    kind: &'static str,
    /// The keys asked for, besides `at`.
    taken: Vec<&'static str>,
    /// The first key the kind needs and the entry lacks: reported after a key the kind does
    /// not take, as a key of another kind is the likelier slip.
    missing: Option<Refusal>,
}

impl Entry<'_, '_> {
    /// `key`'s value, if given.
    fn value<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Refusal> {
        let Some((k, v)) = self.table.get_key_value(key) else {
            return Ok(None);
        };
        T::deserialize(ValueDeserializer::from(v.clone()))
            .map(Some)
            .map_err(|e| Refusal {
                key: Some(key.to_owned()),
                span: e.span().or(Some(k.span())),
                message: e.message().to_owned(),
            })
    }

    /// `at`, which every kind needs.
    fn at(&mut self) -> Result<Span, Refusal> {
        self.value("at")?.ok_or_else(|| self.lacks("at"))
    }

    /// A key the kind may give.
    fn opt<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &'static str,
    ) -> Result<Option<T>, Refusal> {
        self.taken.push(key);
        self.value(key)
    }

    /// A key the kind needs: a lack is noted, and reported once every key is read.
    fn need<T: serde::de::DeserializeOwned + Default>(
        &mut self,
        key: &'static str,
        why: impl FnOnce() -> String,
    ) -> Result<T, Refusal> {
        if let Some(v) = self.opt(key)? {
            return Ok(v);
        }
        self.missing.get_or_insert_with(|| Refusal {
            key: Some(key.to_owned()),
            span: Some(self.span.clone()),
            message: why(),
        });
        Ok(T::default())
    }

    /// `duration`, which every kind that lasts needs.
    fn duration(&mut self) -> Result<Span, Refusal> {
        let kind = self.kind;
        self.need("duration", || format!("a {kind} fault needs a duration"))
    }

    /// The error for a key every entry needs, as serde words it.
    fn lacks(&self, key: &'static str) -> Refusal {
        Refusal {
            key: None,
            span: Some(self.span.clone()),
            message: <toml::de::Error as serde::de::Error>::missing_field(key)
                .message()
                .to_owned(),
        }
    }

    /// Once the kind has read its keys: the first key it does not take, in the file's
    /// order, or the first it lacks.
    fn finish(self) -> Result<(), Refusal> {
        let mut given: Vec<_> = self.table.keys().collect();
        given.sort_by_key(|k| k.span().start);
        let stray = given.into_iter().find(|k| {
            let k: &str = k.get_ref();
            k != "kind" && k != "at" && !self.taken.contains(&k)
        });
        if let Some(key) = stray {
            return Err(Refusal {
                key: Some(key.get_ref().to_string()),
                span: Some(key.span()),
                message: format!(
                    "a {} fault takes no `{}` (it takes {})",
                    self.kind,
                    key.get_ref(),
                    self.taken
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        self.missing.map_or(Ok(()), Err)
    }
}

/// `kind`'s value: a name of [`Fault::KINDS`], refused as serde refuses an unknown variant.
struct KindName;

impl<'de> Visitor<'de> for KindName {
    type Value = &'static str;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a fault kind")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<&'static str, A::Error> {
        let (name, variant): (String, _) = data.variant()?;
        variant.unit_variant()?;
        Fault::KINDS
            .iter()
            .find(|k| **k == name)
            .copied()
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, Fault::KINDS))
    }
}

/// Reads one entry: its kind, then the keys that kind takes.
fn read_entry(entry: &toml::Spanned<DeValue>) -> Result<Fault, Refusal> {
    let span = entry.span();
    let Some(table) = entry.get_ref().as_table() else {
        return Err(Refusal {
            key: None,
            span: Some(span),
            message: "a fault is a table".into(),
        });
    };
    let mut e = Entry {
        table,
        span,
        kind: "",
        taken: Vec::new(),
        missing: None,
    };
    let Some((key, value)) = table.get_key_value("kind") else {
        return Err(e.lacks("kind"));
    };
    e.kind = ValueDeserializer::from(value.clone())
        .deserialize_enum("Fault", Fault::KINDS, KindName)
        .map_err(|err| Refusal {
            key: Some("kind".into()),
            span: err.span().or(Some(key.span())),
            message: err.message().to_owned(),
        })?;
    let fault = Fault::read_as(e.kind, &mut e).expect("a kind of KINDS")?;
    e.finish()?;
    Ok(fault)
}

/// Every `[[faults]]` entry of the spanned document, read as its kind says; the index of
/// the first refused and why.
pub(super) fn read(doc: &DeTable) -> Result<Vec<Fault>, (usize, Refusal)> {
    let Some(entries) = doc.get("faults").and_then(|f| f.get_ref().as_array()) else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| read_entry(entry).map_err(|r| (i, r)))
        .collect()
}

/// `faults` as serde sees it in the scenario file: only checked to be a list of tables, as
/// serde words it. Each entry is then [`read`] from the spanned document, as its kind
/// decides which keys it takes, which serde's internally tagged enums cannot say by key.
pub(super) fn tables<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fault>, D::Error> {
    struct Table;
    impl<'de> Deserialize<'de> for Table {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
            d.deserialize_struct("Fault", &[], Table)
        }
    }
    impl<'de> Visitor<'de> for Table {
        type Value = Table;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("struct Fault")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Table, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Table)
        }
    }
    Vec::<Table>::deserialize(d).map(|_| Vec::new())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::Scenario;

    const BASE: &str = r#"strategy = "rolling"
[workload]
period = "10s"
items = 10
item_delay = "1s"
[run]
warmup = "20s"
update_at = "60s"
duration = "100s"
"#;

    fn parse(faults: &str) -> Result<Scenario, crate::scenario::ScenarioError> {
        Scenario::parse(Path::new("f.toml"), &format!("{BASE}{faults}"))
    }

    /// The error's line and key.
    fn error_at(faults: &str) -> (Option<usize>, Option<String>, String) {
        let e = parse(faults).expect_err("refused");
        (e.line, e.key, e.message)
    }

    #[test]
    fn every_kind_parses_and_round_trips() {
        let s = parse(
            r#"
[[faults]]
kind = "crash"
at = "30s"
version = "A"
restart_after = "2s"

[[faults]]
kind = "pause"
at = "40s"
duration = "2s"
pick = "all"

[[faults]]
kind = "crash_loop"
at = "50s"
duration = "5s"
up_for = "1s"

[[faults]]
kind = "latency"
at = "10s"
duration = "5s"
latency = "200ms"
jitter = "50ms"
probability = 0.5

[[faults]]
kind = "http_error"
at = "15s"
duration = "1s"
status = 500

[[faults]]
kind = "reset"
at = "16s"
duration = "1s"

[[faults]]
kind = "blackhole"
at = "17s"
duration = "1s"

[[faults]]
kind = "fail_first"
at = "18s"
duration = "1s"
count = 3

[[faults]]
kind = "bandwidth"
at = "19s"
duration = "1s"
bytes_per_s = 1000

[[faults]]
kind = "sink_crash"
at = "90s"
"#,
        )
        .unwrap();
        let kinds: Vec<&str> = s.faults.iter().map(|f| f.kind()).collect();
        assert_eq!(kinds, Fault::KINDS);
        assert!(s.has_sink_faults());
        let text = toml::to_string(&s).unwrap();
        let again = Scenario::parse(Path::new("f.toml"), &text).unwrap();
        assert_eq!(again.faults, s.faults);
    }

    /// Every kind with every key it takes, as the scenario file and the run directory's
    /// `scenario.toml` write it, and the parameters its ledger rows carry at half speed.
    const EVERY_KEY: &str = r#"
[[faults]]
kind = "crash"
at = "30s"
instance = "a-0"
pick = "all"
restart = false
restart_after = "2s"

[[faults]]
kind = "pause"
at = "40s"
duration = "2s"
slot = "production"
version = "A"

[[faults]]
kind = "crash_loop"
at = "50s"
duration = "5s"
restart_after = "300ms"
up_for = "1s"

[[faults]]
kind = "latency"
at = "10s"
duration = "5s"
latency = "200ms"
jitter = "50ms"
probability = 0.5

[[faults]]
kind = "http_error"
at = "15s"
duration = "1s"
status = 500

[[faults]]
kind = "reset"
at = "16s"
duration = "1s"
probability = 0.25

[[faults]]
kind = "blackhole"
at = "17s"
duration = "1s"

[[faults]]
kind = "fail_first"
at = "18s"
duration = "1s"
status = 502
count = 3

[[faults]]
kind = "bandwidth"
at = "19s"
duration = "1s"
bytes_per_s = 1000

[[faults]]
kind = "sink_crash"
at = "90s"
"#;

    #[test]
    fn every_kind_is_written_back_key_for_key() {
        let s = parse(EVERY_KEY).unwrap();
        let text = toml::to_string(&s).unwrap();
        let written = &text[text.find("[[faults]]").expect("faults are written")..];
        assert_eq!(written.trim(), EVERY_KEY.trim());
    }

    #[test]
    fn every_kind_records_its_parameters() {
        let s = parse(EVERY_KEY).unwrap();
        let got: Vec<String> = s
            .faults
            .iter()
            .map(|f| {
                f.schedule(TimeScale(0.5))
                    .params
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let want = [
            "target=instance:a-0 pick=all restart=false restart_after_ms=1000.000",
            "duration_ms=1000.000 target=slot:production,version:A pick=random",
            "duration_ms=2500.000 target=any pick=random restart_after_ms=150.000 up_for_ms=500.000",
            "duration_ms=2500.000 latency_ms=100.000 jitter_ms=25.000 probability=0.5",
            "duration_ms=500.000 status=500 probability=1",
            "duration_ms=500.000 probability=0.25",
            "duration_ms=500.000 probability=1",
            "duration_ms=500.000 status=502 count=3",
            "duration_ms=500.000 bytes_per_s=1000 probability=1",
            "",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn every_kind_acts_out_at_the_run_s_scale() {
        let s = parse(EVERY_KEY).unwrap();
        let acts: Vec<Act> = s
            .faults
            .iter()
            .map(|f| f.schedule(TimeScale(0.5)).act)
            .collect();
        let ms = Duration::from_millis;
        let target = |instance: Option<&str>, slot: Option<&str>, version: Option<&str>| Target {
            instance: instance.map(Into::into),
            slot: slot.map(Into::into),
            version: version.map(Into::into),
            pick: instance.map(|_| Pick::All),
        };
        assert_eq!(
            acts,
            [
                Act::Instances {
                    target: target(Some("a-0"), None, None),
                    act: InstanceAct::Kill {
                        restart_after: None,
                        up_for: None
                    },
                },
                Act::Instances {
                    target: target(None, Some("production"), Some("A")),
                    act: InstanceAct::Pause,
                },
                Act::Instances {
                    target: target(None, None, None),
                    act: InstanceAct::Kill {
                        restart_after: Some(ms(150)),
                        up_for: Some(ms(500))
                    },
                },
                Act::SinkPath(Action::Latency {
                    base: ms(100),
                    jitter: ms(25),
                    probability: 0.5
                }),
                Act::SinkPath(Action::HttpError {
                    status: 500,
                    probability: 1.0
                }),
                Act::SinkPath(Action::Reset { probability: 0.25 }),
                Act::SinkPath(Action::Blackhole { probability: 1.0 }),
                Act::SinkPath(Action::FailFirst {
                    count: 3,
                    status: 502
                }),
                Act::SinkPath(Action::Bandwidth { bytes_per_s: 2000 }),
                Act::SinkCrash,
            ]
        );
        let at: Vec<Duration> = s
            .faults
            .iter()
            .map(|f| f.schedule(TimeScale(0.5)).at)
            .collect();
        assert_eq!(at[0], Duration::from_secs(15));
    }

    #[test]
    fn a_key_no_kind_takes_is_refused_with_what_the_kind_takes() {
        let (line, key, message) =
            error_at("\n[[faults]]\nkind = \"reset\"\nat = \"30s\"\nduration = \"1s\"\nfoo = 1\n");
        assert_eq!(key.as_deref(), Some("faults[0].foo"));
        assert_eq!(line, Some(15), "{message}");
        assert_eq!(
            message,
            "a reset fault takes no `foo` (it takes `duration`, `probability`)"
        );
        // A key of another kind is the likelier slip than a key the kind lacks.
        let (_, key, _) =
            error_at("\n[[faults]]\nkind = \"pause\"\nat = \"30s\"\nrestart = true\n");
        assert_eq!(key.as_deref(), Some("faults[0].restart"));
        let (line, key, message) = error_at("\n[[faults]]\nat = \"30s\"\n");
        assert_eq!(key.as_deref(), Some("faults[0]"));
        assert_eq!((line, message.as_str()), (Some(11), "missing field `kind`"));
    }

    #[test]
    fn a_key_of_another_kind_is_refused_at_its_line() {
        let (line, key, message) = error_at(
            r#"
[[faults]]
kind = "pause"
at = "30s"
duration = "1s"

[[faults]]
kind = "crash"
at = "30s"
latency = "1s"
"#,
        );
        assert_eq!(key.as_deref(), Some("faults[1].latency"));
        assert_eq!(line, Some(19), "{message}");
        assert!(
            message.contains("a crash fault takes no `latency`"),
            "{message}"
        );
    }

    #[test]
    fn missing_and_out_of_range_values_are_refused() {
        let cases = [
            (
                "kind = \"pause\"\nat = \"30s\"",
                "faults[0].duration",
                "needs a duration",
            ),
            (
                "kind = \"latency\"\nat = \"30s\"\nduration = \"1s\"",
                "faults[0].latency",
                "needs a latency",
            ),
            (
                "kind = \"reset\"\nat = \"30s\"\nduration = \"1s\"\nprobability = 1.5",
                "faults[0].probability",
                "between 0 and 1",
            ),
            (
                "kind = \"reset\"\nat = \"99s\"\nduration = \"2s\"",
                "faults[0].duration",
                "end by run.duration",
            ),
            (
                "kind = \"crash\"\nat = \"100s\"",
                "faults[0].at",
                "before run.duration",
            ),
            (
                "kind = \"fail_first\"\nat = \"30s\"\nduration = \"1s\"",
                "faults[0].count",
                "at least 1",
            ),
            (
                "kind = \"http_error\"\nat = \"30s\"\nduration = \"1s\"\nstatus = 42",
                "faults[0].status",
                "HTTP status",
            ),
            (
                "kind = \"crash\"\nat = \"30s\"\nslot = \"blue\"",
                "faults[0].slot",
                "production",
            ),
        ];
        for (body, want_key, want) in cases {
            let (line, key, message) = error_at(&format!("\n[[faults]]\n{body}\n"));
            assert_eq!(key.as_deref(), Some(want_key), "{body}: {message}");
            assert!(message.contains(want), "{body}: {message}");
            assert!(line.is_some_and(|l| l >= 11), "{body}: line {line:?}");
        }
    }

    #[test]
    fn an_unknown_kind_names_its_line() {
        let e = parse("\n[[faults]]\nkind = \"meteor\"\nat = \"1s\"\n").expect_err("refused");
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.to_string().contains("meteor"), "{e}");
    }

    #[test]
    fn instance_faults_need_the_local_platform() {
        let text = format!(
            "{}\n[platform]\nkind = \"command\"\nurl = \"http://127.0.0.1:0\"\ndeploy = [\"true\"]\nupdate = [\"true\"]\n\n[[faults]]\nkind = \"pause\"\nat = \"30s\"\nduration = \"1s\"\n",
            BASE.replace("\"rolling\"", "\"blue-green\"")
        );
        let e = Scenario::parse(Path::new("f.toml"), &text).expect_err("refused");
        assert_eq!(e.key.as_deref(), Some("faults[0].kind"), "{e}");
        assert!(e.message.contains("local platform"), "{e}");
    }
}
