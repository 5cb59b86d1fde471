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

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Crash,
    Pause,
    CrashLoop,
    Latency,
    HttpError,
    Reset,
    Blackhole,
    FailFirst,
    Bandwidth,
    /// The harness's own sink stops at `at`, as a crash: a drill of the harness's own
    /// failure handling (the run says so and is invalid), not of the app.
    SinkCrash,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::CrashLoop,
        FaultKind::Latency,
        FaultKind::HttpError,
        FaultKind::Reset,
        FaultKind::Blackhole,
        FaultKind::FailFirst,
        FaultKind::Bandwidth,
        FaultKind::SinkCrash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::CrashLoop => "crash_loop",
            FaultKind::Latency => "latency",
            FaultKind::HttpError => "http_error",
            FaultKind::Reset => "reset",
            FaultKind::Blackhole => "blackhole",
            FaultKind::FailFirst => "fail_first",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::SinkCrash => "sink_crash",
        }
    }

    /// Acts on the app's instances (the rest act between the instances and the sink).
    pub fn on_instances(self) -> bool {
        matches!(
            self,
            FaultKind::Crash | FaultKind::Pause | FaultKind::CrashLoop
        )
    }

    /// Acts in the fault proxy between the instances and the sink.
    pub fn on_sink_path(self) -> bool {
        !self.on_instances() && self != FaultKind::SinkCrash
    }

    /// The keys an entry of this kind may give, besides `kind` and `at`.
    fn keys(self) -> &'static [&'static str] {
        match self {
            FaultKind::Crash => &[
                "instance",
                "slot",
                "version",
                "pick",
                "restart",
                "restart_after",
            ],
            FaultKind::Pause => &["instance", "slot", "version", "pick", "duration"],
            FaultKind::CrashLoop => &[
                "instance",
                "slot",
                "version",
                "pick",
                "duration",
                "restart_after",
                "up_for",
            ],
            FaultKind::Latency => &["duration", "latency", "jitter", "probability"],
            FaultKind::HttpError => &["duration", "status", "probability"],
            FaultKind::Reset | FaultKind::Blackhole => &["duration", "probability"],
            FaultKind::FailFirst => &["duration", "count", "status"],
            FaultKind::Bandwidth => &["duration", "bytes_per_s"],
            FaultKind::SinkCrash => &[],
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

/// One `[[faults]]` entry, as written; [`Fault::validate`] says which keys its kind takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// When it begins, on the scenario clock. Scaled.
    pub at: Span,
    /// How long it acts (pause, crash_loop and sink-path faults). Scaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Span>,
    /// Instance faults: the instance, by id (`a-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Instance faults: only instances in this slot (`production`, `staging`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Instance faults: only instances of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Instance faults: one of the matching serving instances at random (default), or all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pick: Option<Pick>,
    /// `crash`: the platform restarts the instance, as a real one does. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    /// `crash`, `crash_loop`: from a death to the restart. Scaled. Default 1 s (invented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Span>,
    /// `crash_loop`: how long each restart lives once ready. Scaled. Default 500 ms
    /// (invented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_for: Option<Span>,
    /// `latency`: added to each request before it is forwarded. Scaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Span>,
    /// `latency`: the added latency is uniform in `latency ± jitter`. Scaled. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    /// `http_error`, `fail_first`: the status answered. Default 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Sink-path faults: the chance a request is acted on. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// `fail_first`: how many requests of the window fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// `bandwidth`: the cap on request and answer bytes through the proxy, per second.
    /// Scaled as a rate: divided by the time scale, so the delays it causes keep their size
    /// against the run's schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_s: Option<u64>,
}

/// The longest `latency`, so a typo cannot hold every item for a day.
const MAX_LATENCY: std::time::Duration = std::time::Duration::from_secs(60);

impl Fault {
    /// The keys this entry gives, besides `kind` and `at`.
    fn given(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut note = |key, given: bool| {
            if given {
                keys.push(key);
            }
        };
        note("duration", self.duration.is_some());
        note("instance", self.instance.is_some());
        note("slot", self.slot.is_some());
        note("version", self.version.is_some());
        note("pick", self.pick.is_some());
        note("restart", self.restart.is_some());
        note("restart_after", self.restart_after.is_some());
        note("up_for", self.up_for.is_some());
        note("latency", self.latency.is_some());
        note("jitter", self.jitter.is_some());
        note("status", self.status.is_some());
        note("probability", self.probability.is_some());
        note("count", self.count.is_some());
        note("bytes_per_s", self.bytes_per_s.is_some());
        keys
    }

    /// How long it acts, unscaled (a crash: none of its own).
    pub fn duration(&self) -> Span {
        self.duration.unwrap_or_default()
    }

    pub fn restart_after(&self) -> Span {
        self.restart_after.unwrap_or(Span::from_secs(1))
    }

    pub fn up_for(&self) -> Span {
        self.up_for.unwrap_or(Span::from_millis(500))
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or(503)
    }

    pub fn probability(&self) -> f64 {
        self.probability.unwrap_or(1.0)
    }

    pub fn pick(&self) -> Pick {
        self.pick.unwrap_or_default()
    }

    /// Checks the entry against its kind and the run's length; the error names the key (of
    /// this entry) to blame.
    pub fn validate(&self, run_duration: Span) -> Result<(), (&'static str, String)> {
        let allowed = self.kind.keys();
        if let Some(key) = self.given().into_iter().find(|k| !allowed.contains(k)) {
            return Err((
                key,
                format!(
                    "a {} fault takes no `{key}` (it takes {})",
                    self.kind,
                    allowed
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if self.at >= run_duration {
            return Err(("at", "must be before run.duration".into()));
        }
        let needs_duration = !matches!(self.kind, FaultKind::Crash | FaultKind::SinkCrash);
        match self.duration {
            None if needs_duration => {
                return Err((
                    "duration",
                    format!("a {} fault needs a duration", self.kind),
                ))
            }
            Some(d) if d.0.is_zero() => return Err(("duration", "must be positive".into())),
            Some(d) if self.at.0 + d.0 > run_duration.0 => {
                return Err(("duration", "the fault must end by run.duration".into()))
            }
            _ => {}
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(("probability", format!("must be between 0 and 1 (got {p})")));
            }
        }
        if let Some(status) = self.status {
            if !(100..=599).contains(&status) {
                return Err(("status", format!("must be an HTTP status (got {status})")));
            }
        }
        for (key, version) in [("version", &self.version), ("instance", &self.instance)] {
            if let Some(v) = version {
                if let Some(why) = sink::item::version_error(v) {
                    return Err((key, format!("{why} (got {v:?})")));
                }
            }
        }
        if let Some(slot) = &self.slot {
            if slot != crate::platform::PRODUCTION && slot != crate::platform::STAGING {
                return Err((
                    "slot",
                    format!("must be \"production\" or \"staging\" (got {slot:?})"),
                ));
            }
        }
        match self.kind {
            FaultKind::Latency => match self.latency {
                None => return Err(("latency", "a latency fault needs a latency".into())),
                Some(l) if l.0 > MAX_LATENCY => {
                    return Err(("latency", "must be at most 60s".into()))
                }
                Some(l) if self.jitter.is_some_and(|j| j > l) => {
                    return Err(("jitter", "must be at most the latency".into()))
                }
                Some(_) => {}
            },
            FaultKind::FailFirst if self.count.unwrap_or(0) == 0 => {
                return Err((
                    "count",
                    "a fail_first fault needs a count of at least 1".into(),
                ))
            }
            FaultKind::Bandwidth if self.bytes_per_s.unwrap_or(0) == 0 => {
                return Err((
                    "bytes_per_s",
                    "a bandwidth fault needs bytes_per_s of at least 1".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// The entry's parameters as `key=value` pairs for its ledger rows.
    pub fn params(&self, time_scale: f64) -> Vec<(&'static str, String)> {
        let ms = |s: Span| format!("{:.3}", s.scaled(time_scale).as_secs_f64() * 1e3);
        let mut p = Vec::new();
        if let Some(d) = self.duration {
            p.push(("duration_ms", ms(d)));
        }
        if self.kind.on_instances() {
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
            p.push(("target", target));
            p.push((
                "pick",
                match self.pick() {
                    Pick::Random => "random".into(),
                    Pick::All => "all".into(),
                },
            ));
        }
        match self.kind {
            FaultKind::Crash => {
                p.push(("restart", self.restart.unwrap_or(true).to_string()));
                p.push(("restart_after_ms", ms(self.restart_after())));
            }
            FaultKind::CrashLoop => {
                p.push(("restart_after_ms", ms(self.restart_after())));
                p.push(("up_for_ms", ms(self.up_for())));
            }
            FaultKind::Latency => {
                p.push(("latency_ms", ms(self.latency.unwrap_or_default())));
                p.push(("jitter_ms", ms(self.jitter.unwrap_or_default())));
            }
            FaultKind::HttpError | FaultKind::FailFirst => {
                p.push(("status", self.status().to_string()));
            }
            _ => {}
        }
        if let Some(n) = self.count {
            p.push(("count", n.to_string()));
        }
        if let Some(b) = self.bytes_per_s {
            p.push(("bytes_per_s", b.to_string()));
        }
        if self.kind.on_sink_path() && self.kind != FaultKind::FailFirst {
            p.push(("probability", self.probability().to_string()));
        }
        p
    }
}

impl super::Scenario {
    /// Checks every `[[faults]]` entry: the index, the key and why.
    pub(super) fn validate_faults(&self) -> Result<(), (usize, &'static str, String)> {
        for (i, f) in self.faults.iter().enumerate() {
            f.validate(self.run.duration)
                .map_err(|(key, why)| (i, key, why))?;
            if f.kind.on_instances() && self.is_command() {
                return Err((
                    i,
                    "kind",
                    format!(
                        "a {} fault acts on the local platform's instances; a command \
                         platform takes the sink-path faults (latency, http_error, reset, \
                         blackhole, fail_first, bandwidth)",
                        f.kind
                    ),
                ));
            }
            if f.kind.on_sink_path() && self.sink.url.is_some() {
                return Err((
                    i,
                    "kind",
                    "a sink-path fault puts a proxy between the apps and the sink, whose \
                     address the harness hands out: remove sink.url"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The run has a fault that acts between the instances and the sink.
    pub fn has_sink_faults(&self) -> bool {
        self.faults.iter().any(|f| f.kind.on_sink_path())
    }
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
        let kinds: Vec<FaultKind> = s.faults.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, FaultKind::ALL.to_vec());
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
                f.params(0.5)
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
