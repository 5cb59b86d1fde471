//! The sections of a scenario file, each with its keys, defaults and their provenance
//! (*platform*: as the real platform does; *invented*: ours, for lack of a published figure).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::Span;
pub use crate::platform::capabilities::{Driver, PlatformKind};
pub use crate::strategy::drain::Drain;
pub use crate::strategy::graceful::Graceful;
pub use crate::strategy::recreate::{Recreate, StopSignal};
pub use crate::strategy::rolling::{OnUnready, Rolling};
pub use crate::strategy::swap::Swap;

/// The `[expect]` table: thresholds the run must meet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// k6-style expressions such as `"lost == 0"` or `"downtime.max_ms < 500"`.
    #[serde(default)]
    pub thresholds: Vec<String>,
}

/// A `[[budget]]` table: a metric that must stay within the band its own history set
/// ([`reports::budget`]); every key but `metric` has the grammar's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetTable {
    pub metric: String,
    /// In (0, 1]: 0.99 for P99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// The last N valid runs, or the runs of the last `since` (`21d`): one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_runs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mul: Option<f64>,
}

impl BudgetTable {
    /// The budget; `Err` names the key that is wrong and why.
    pub fn budget(&self) -> Result<reports::budget::Budget, (&'static str, String)> {
        let measure = self
            .metric
            .parse()
            .map_err(|e: reports::measure::MeasureError| ("metric", e.what))?;
        let mut b = reports::budget::Budget::new(measure);
        if self.last.is_some() && self.since.is_some() {
            return Err(("since", "give last or since, not both".into()));
        }
        let keys: [(&'static str, Option<String>); 6] = [
            ("quantile", self.quantile.map(|x| x.to_string())),
            ("last", self.last.map(|x| x.to_string())),
            ("since", self.since.clone()),
            ("min_runs", self.min_runs.map(|x| x.to_string())),
            ("add", self.add.map(|x| x.to_string())),
            ("mul", self.mul.map(|x| x.to_string())),
        ];
        for (key, value) in keys {
            if let Some(v) = value {
                b.set(key, &v).map_err(|why| (key, why))?;
            }
        }
        Ok(b)
    }
}

impl From<&reports::budget::Budget> for BudgetTable {
    /// Every key written out, as a run's `scenario.toml` keeps it.
    fn from(b: &reports::budget::Budget) -> BudgetTable {
        let (last, since) = match &b.window {
            reports::budget::Window::Last(n) => (Some(*n), None),
            reports::budget::Window::Since { text, .. } => (None, Some(text.clone())),
        };
        BudgetTable {
            metric: b.measure.to_string(),
            quantile: Some(b.quantile),
            last,
            since,
            min_runs: Some(b.min_runs),
            add: Some(b.add),
            mul: Some(b.mul),
        }
    }
}

pub(super) fn default_seed() -> u64 {
    1
}

pub(super) fn default_time_scale() -> f64 {
    1.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    Swap,
    Recreate,
    Rolling,
    Graceful,
    Drain,
}

impl StrategyKind {
    pub fn parse(name: &str) -> Option<StrategyKind> {
        [
            StrategyKind::Swap,
            StrategyKind::Recreate,
            StrategyKind::Rolling,
            StrategyKind::Graceful,
            StrategyKind::Drain,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Swap => "swap",
            StrategyKind::Recreate => "recreate",
            StrategyKind::Rolling => "rolling",
            StrategyKind::Graceful => "graceful",
            StrategyKind::Drain => "drain",
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    #[default]
    Timer,
    Queue,
}

/// An instance's heartbeat period when the scenario says nothing (the test function's
/// `--heartbeat-ms` default).
pub const DEFAULT_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(250);

/// The function app: how many instances, and the versions before and after the update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct App {
    pub instances: u32,
    pub from: String,
    pub to: String,
    /// Time an instance takes from process start to serving (the platform's cold start).
    /// Scaled. Default 0: only the real process start-up.
    pub cold_start: Span,
    /// The function binary to run instead of `testfn`: any app speaking its protocol.
    /// `--app-command` overrides it.
    pub command: Option<String>,
    /// How the version being deployed misbehaves: a bad release (see
    /// [`super::Behaviour`]). Absent: a healthy one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_behaviour: Option<super::release::Behaviour>,
    /// How often each instance posts a heartbeat to the sink's `/events` (the built-in
    /// function's `--heartbeat-ms`); "0s": never. Real time, not scaled. Default 250 ms.
    pub heartbeat: Span,
}

impl Default for App {
    fn default() -> Self {
        App {
            instances: 1,
            from: "A".into(),
            to: "B".into(),
            cold_start: Span::default(),
            command: None,
            to_behaviour: None,
            heartbeat: Span(DEFAULT_HEARTBEAT),
        }
    }
}

/// What the test function does on each timer occurrence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// `timer`: each occurrence runs a loop that submits `items` items itself. `queue`: each
    /// occurrence polls and enqueues `events` messages; the queue trigger processes each
    /// and submits it. Default `timer`.
    #[serde(default)]
    pub trigger: Trigger,
    /// The timer's period. Required unless the driver is `none` (a probes-only scenario).
    #[serde(default)]
    pub period: Span,
    /// Iterations per run, one item each (timer workload).
    #[serde(default)]
    pub items: u32,
    /// Wait between the starts of consecutive iterations (timer workload).
    #[serde(default)]
    pub item_delay: Span,
    /// Messages each poll enqueues (queue workload): a number, or a demand schedule over
    /// time (see [`super::Events`]).
    #[serde(default)]
    pub events: super::scaling::Events,
    /// Chaos: the queue handler always fails messages with this `n` (they end poisoned).
    #[serde(default)]
    pub fail_n: Option<u64>,
    /// Work done for each item before it is submitted. Default 0.
    #[serde(default)]
    pub processing: Span,
    /// An item first arriving later than this after its schedule is late. Default: the
    /// processing plus two item delays (timer workload), twice the processing (queue).
    #[serde(default)]
    pub late_after: Option<Span>,
    /// Timeout of one submit to the sink. Default 2 s.
    #[serde(default = "default_submit_timeout")]
    pub submit_timeout: Span,
    /// Extra tries of a failed submit. Default 0.
    #[serde(default)]
    pub retries: u32,
    /// What the function does when its cancellation token fires (SIGTERM). Default abandon.
    #[serde(default)]
    pub on_cancel: OnCancel,
    /// Who fires the occurrences: `platform` (the local platform's trigger; its default),
    /// `harness`, `app` or `none` (a command platform's; default `harness`).
    #[serde(default)]
    pub driver: Option<Driver>,
    /// With the `app` driver: fire only while holding this lease at the sink, so one
    /// instance fires at a time. Default: none (every instance fires).
    #[serde(default)]
    pub lease: Option<String>,
    /// The lease's time to live (renewed every third of it). Scaled. Default 3 s.
    #[serde(default)]
    pub lease_ttl: Option<Span>,
}

fn default_submit_timeout() -> Span {
    Span::from_secs(2)
}

/// The test function's answer to SIGTERM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnCancel {
    /// Stop at once; unsent items are lost.
    #[default]
    Abandon,
    /// Finish the item in hand, then stop.
    FinishItem,
    /// Write the run's unsent items to the stash; the next version replays them.
    Stash,
}

impl OnCancel {
    pub fn as_str(self) -> &'static str {
        match self {
            OnCancel::Abandon => "abandon",
            OnCancel::FinishItem => "finish-item",
            OnCancel::Stash => "stash",
        }
    }
}

/// The timer trigger's platform behaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    /// Keep a schedule monitor (last completed occurrence) and fire one catch-up run at start
    /// when an occurrence is past due. Default: on only when the period is over one minute,
    /// as on the real platform.
    #[serde(default)]
    pub use_monitor: Option<bool>,
}

/// The run's timeline, measured from the schedule's epoch (occurrence 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Time the app gets after it is ready before the timer is enabled: the first occurrence
    /// fired (and expected) is the first scheduled at or after it. Default 0.
    #[serde(default)]
    pub warmup: Span,
    /// When the update starts.
    pub update_at: Span,
    /// The timer fires occurrences scheduled before this; the expected window ends here.
    pub duration: Span,
    /// How long to let in-flight work finish after `duration`. Default: one loop plus the
    /// submit timeout.
    #[serde(default)]
    pub settle: Option<Span>,
    /// How long an instance may take to become ready. Not scaled. Default 30 s.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: Span,
    /// A manual rollback: an update back to `app.from` at this time (the Flex plan's only
    /// way back). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_at: Option<Span>,
}

fn default_ready_timeout() -> Span {
    Span::from_secs(30)
}

/// The open-loop availability probes through the front door.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probes {
    /// Probes per second, in real time (not scaled: it sets the downtime resolution).
    pub rate: u32,
    /// Timeout of one probe. Scaled.
    pub timeout: Span,
    /// The path probed through the front door.
    pub path: String,
    /// The probe client's send lag (p99) above which the run is invalid: it could not keep
    /// its own schedule. Real time, not scaled. Default 10 ms.
    pub max_send_lag: Span,
    /// Keep-alive connections of the reused series: each probe goes out on an idle one, or
    /// waits for one when all are busy (the wait counts in its latency, as in wrk2). 0: no
    /// reused series. Default 4.
    pub connections: u32,
    /// A second series, at the same rate, each probe on a new connection (what a reload
    /// that refuses new connections shows). Default off.
    pub new_connections: bool,
    /// A regex the answer's body must match, or the probe counts as failed (`body`).
    pub expect_body: Option<String>,
    /// The answer must be JSON naming a `version` of the app (`app.from` or `app.to`), or
    /// the probe counts as failed (`version`): a page from the wrong place is not uptime.
    pub expect_version: bool,
    /// A control series at the same rate to the sink's own `/health`, which no update
    /// touches: app downtime while the control failed too is the harness's or the
    /// machine's trouble and is not counted. Default true.
    pub control: bool,
    /// The longest control window above which the run is invalid: for that long the
    /// harness could not reach its own sink, so it could not measure the app. Real time,
    /// not scaled. Default 1 s.
    pub control_max: Span,
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            rate: 100,
            timeout: Span::from_secs(1),
            path: "/api/ping".into(),
            max_send_lag: Span::from_millis(10),
            connections: 4,
            new_connections: false,
            expect_body: None,
            expect_version: false,
            control: true,
            control_max: Span::from_secs(1),
        }
    }
}

/// The queue trigger's platform settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// How long a delivered message stays invisible (platform: 10 min).
    pub visibility: Span,
    /// Deliveries before a message moves to the poison queue (platform: 5).
    pub max_dequeue: u32,
    /// Messages in flight per instance (platform: 16).
    pub batch_size: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility: Span::from_secs(600),
            max_dequeue: 5,
            batch_size: 16,
        }
    }
}

/// The `[platform]` table. With `kind = "command"` the harness runs no instance itself: the
/// commands bring version A up behind `url` and perform the update; the strategy is their
/// label. Each command is an argv array (no shell), run from the scenario file's directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSection {
    pub kind: PlatformKind,
    /// The real front door: probes and harness-driven work go here. Port 0: the harness
    /// picks a free port and gives it to the commands as `HARNESS_PORT`.
    pub url: Option<String>,
    /// Brings version A up, ready to serve.
    pub deploy: Vec<String>,
    /// Performs the update to B; its return is "the update command returned".
    pub update: Vec<String>,
    /// Optional: polled after the update until it exits 0, "the platform says complete".
    pub status: Option<Vec<String>>,
    /// Always run at the end, even after a failure or Ctrl-C.
    pub teardown: Option<Vec<String>>,
    /// Longest any one command may run before it is killed. Real time, not scaled
    /// (default 120 s: process start-ups and reloads do not scale).
    pub timeout: Option<Span>,
    /// How often `status` is polled. Real time (default 250 ms).
    pub status_interval: Option<Span>,
    /// The virtual-time platform's model of the machine (`kind = "sim"`), inline:
    /// `[platform.sim]` with `process_start`, `net_latency`, `process_exit`.
    pub sim: Option<crate::platform::sim::Model>,
    /// A file holding that model (`harness calibrate` writes one), relative to the scenario
    /// file; read when the scenario is loaded, and written inline in the scenario as run.
    pub profile: Option<String>,
    /// How the Docker platform makes each instance's container (`kind = "docker"`):
    /// `[platform.docker]` with `image_from`, `image_to`, `entrypoint`, `init`, `memory_mib`.
    pub docker: Option<crate::platform::docker::config::DockerSection>,
    /// How Swarm updates the service (`kind = "swarm"`): `[platform.swarm]` with
    /// `parallelism`, `delay`, `order`, `failure_action`, `monitor`, `stop_grace_period`,
    /// `healthcheck`. The images and containers are `[platform.docker]`'s.
    pub swarm: Option<crate::platform::swarm::config::SwarmSection>,
}

impl PlatformSection {
    pub fn timeout(&self) -> Span {
        self.timeout.unwrap_or(Span::from_secs(120))
    }

    pub fn status_interval(&self) -> Span {
        self.status_interval.unwrap_or(Span::from_millis(250))
    }
}

/// The `[sink]` table: where the harness's sink listens and how apps reach it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSection {
    /// Default `127.0.0.1:0`. Beyond loopback a token is required.
    pub listen: Option<String>,
    /// The URL the apps are given (default: `http://` and the address bound).
    pub url: Option<String>,
    /// A bearer token every request to the sink must carry, or `env:NAME` to read it from
    /// the environment variable `NAME` (keep secrets out of files).
    pub token: Option<String>,
}

impl SinkSection {
    /// The token, read from the environment when written `env:NAME`.
    pub fn token(&self) -> Result<Option<String>, String> {
        match self.token.as_deref() {
            None | Some("") => Ok(None),
            Some(t) => match t.strip_prefix("env:") {
                Some(name) => match std::env::var(name) {
                    Ok(v) if !v.is_empty() => Ok(Some(v)),
                    _ => Err(format!(
                        "sink.token names the environment variable {name}, which is not set"
                    )),
                },
                None => Ok(Some(t.to_owned())),
            },
        }
    }
}
