//! Scenario files: what to run, as TOML.
//!
//! A scenario names the workload (the timer loop), the app (instances and versions), the
//! update strategy and its parameters, the run's timeline and the probes. Every duration is
//! written with a unit (`"10s"`, `"250ms"`) and is multiplied by the run's time scale, except
//! `run.ready_timeout`: process start-up is real time and does not scale. Unknown keys are
//! errors, and every error names the file, the line and the key.
//!
//! ```toml
//! strategy = "swap"
//! [workload]
//! period = "10s"
//! items = 10
//! item_delay = "1s"
//! [run]
//! warmup = "20s"
//! update_at = "62s"
//! duration = "100s"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// One line saying what the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
    pub strategy: StrategyKind,
    /// Seeds every random choice of the run (e.g. grace jitter). Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Multiplies every duration; `--time-scale` overrides it. Default 1.0.
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    #[serde(default)]
    pub app: App,
    pub workload: Workload,
    #[serde(default)]
    pub timer: Timer,
    pub run: Run,
    #[serde(default)]
    pub probes: Probes,
    #[serde(default)]
    pub swap: Option<Swap>,
    #[serde(default)]
    pub recreate: Option<Recreate>,
    #[serde(default)]
    pub rolling: Option<Rolling>,
    #[serde(default)]
    pub graceful: Option<Graceful>,
    #[serde(default)]
    pub drain: Option<Drain>,
    /// The queue trigger (queue workloads only).
    #[serde(default)]
    pub queue: Option<QueueSettings>,
    /// Pass/fail thresholds over the verdict, for CI.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// The `[expect]` table: thresholds the run must meet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// k6-style expressions such as `"lost == 0"` or `"downtime.max_ms < 500"`.
    #[serde(default)]
    pub thresholds: Vec<String>,
}

fn default_seed() -> u64 {
    1
}

fn default_time_scale() -> f64 {
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
}

impl Default for App {
    fn default() -> Self {
        App {
            instances: 1,
            from: "A".into(),
            to: "B".into(),
            cold_start: Span::default(),
            command: None,
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
    /// The timer's period.
    pub period: Span,
    /// Iterations per run, one item each (timer workload).
    #[serde(default)]
    pub items: u32,
    /// Wait between the starts of consecutive iterations (timer workload).
    #[serde(default)]
    pub item_delay: Span,
    /// Messages each poll enqueues (queue workload).
    #[serde(default)]
    pub events: u32,
    /// Chaos: the queue handler always fails messages with this `n` (they end poisoned).
    #[serde(default)]
    pub fail_n: Option<u64>,
    /// Work done for each item before it is submitted. Default 0.
    #[serde(default)]
    pub processing: Span,
    /// An item first arriving later than this after its schedule is late. Default: two
    /// item delays.
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
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            rate: 100,
            timeout: Span::from_secs(1),
            path: "/api/ping".into(),
            max_send_lag: Span::from_millis(10),
        }
    }
}

/// Slot swap parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Swap {
    /// Path each staging instance is warmed up with; any response counts.
    pub warmup_path: String,
    /// Timeout of one warm-up request (platform: 90 s).
    pub warmup_timeout: Span,
    /// Tries after the first failed warm-up request (platform: 5).
    pub warmup_retries: u32,
    /// When the old production instances are killed after the swap (invented default: 5 s).
    pub recycle_after: Span,
    /// The staging slot's timer fires too (no sticky setting disables it): duplicates.
    pub staging_triggers: bool,
}

impl Default for Swap {
    fn default() -> Self {
        Swap {
            warmup_path: "/api/ping".into(),
            warmup_timeout: Span::from_secs(90),
            warmup_retries: 5,
            recycle_after: Span::from_secs(5),
            staging_triggers: false,
        }
    }
}

/// Recreate parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recreate {
    /// `kill` (SIGKILL at once) or `term` (SIGTERM, then SIGKILL after `stop_grace`).
    pub stop: StopSignal,
    pub stop_grace: Span,
}

impl Default for Recreate {
    fn default() -> Self {
        Recreate {
            stop: StopSignal::Kill,
            stop_grace: Span::from_secs(5),
        }
    }
}

/// Rolling update parameters (the Flex Consumption model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rolling {
    /// Instances drained per batch (default: one batch per instance). Give this or `batches`.
    pub batch_size: Option<u32>,
    /// Number of batches the instances are split into.
    pub batches: Option<u32>,
    /// Time between the drains of consecutive batches (invented default: 10 s).
    pub drain_interval: Span,
    /// How long a drained instance's in-flight work may run before it is killed
    /// (platform: 60 min).
    pub scale_in_grace: Span,
    /// How long a drained instance's HTTP requests may run (platform: 230 s).
    pub http_grace: Span,
    /// Delay before each replacement instance is started (invented default: 0 s).
    pub start_delay: Span,
    /// A second update, started while the first still rolls: every instance not of this
    /// version is drained.
    pub then_update_to: Option<String>,
    pub then_update_at: Option<Span>,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            batch_size: None,
            batches: None,
            drain_interval: Span::from_secs(10),
            scale_in_grace: Span::from_secs(3600),
            http_grace: Span::from_secs(230),
            start_delay: Span::default(),
            then_update_to: None,
            then_update_at: None,
        }
    }
}

/// Graceful stop parameters: SIGTERM fires the cancellation token, SIGKILL follows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Graceful {
    /// The wait between SIGTERM and SIGKILL (platform: 5 s).
    pub stopping_wait_time: Span,
    /// 0 to 1: the effective grace is drawn (seeded) between `(1 - grace_jitter)` times the
    /// wait and the whole wait, modelling the platform's unreliable grace. Default 0.
    pub grace_jitter: f64,
}

impl Default for Graceful {
    fn default() -> Self {
        Graceful {
            stopping_wait_time: Span::from_secs(5),
            grace_jitter: 0.0,
        }
    }
}

/// App-mode drain parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Drain {
    /// How often each instance's mode is polled (invented default: 100 ms).
    pub poll_interval: Span,
    /// How long instances may take to reach SafeToStop before the run fails, and how long
    /// a drained instance's requests in flight may take before it is stopped (invented
    /// default: 60 s).
    pub timeout: Span,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            poll_interval: Span::from_millis(100),
            timeout: Span::from_secs(60),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopSignal {
    Kill,
    Term,
}

/// A scenario error, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": key `{k}`")).unwrap_or_default())]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            path: path.to_owned(),
            line: None,
            key: None,
            message: e.to_string(),
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses and validates scenario text; `path` is only used in errors and for the name.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let err = |line: Option<usize>, key: Option<String>, message: String| ScenarioError {
            path: path.to_owned(),
            line,
            key,
            message,
        };
        let de = toml::Deserializer::parse(text).map_err(|e| {
            err(
                e.span().map(|s| line_at(text, s.start)),
                None,
                e.message().to_owned(),
            )
        })?;
        let mut scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| line_at(text, s.start))
                .or_else(|| line_of_key(text, &key));
            err(
                line,
                (key != ".").then_some(key),
                inner.message().to_owned(),
            )
        })?;
        if scenario.name.is_none() {
            scenario.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        if let Err((key, message)) = scenario.validate() {
            return Err(err(line_of_key(text, key), Some(key.to_owned()), message));
        }
        for t in scenario.expect.iter().flat_map(|e| &e.thresholds) {
            if let Err(e) = t.parse::<reports::threshold::Threshold>() {
                let line = text
                    .lines()
                    .position(|l| l.contains(t.as_str()))
                    .map(|i| i + 1)
                    .or_else(|| line_of_key(text, "expect.thresholds"));
                return Err(err(
                    line,
                    Some("expect.thresholds".into()),
                    format!("{t:?}: {} at byte {}", e.what, e.at),
                ));
            }
        }
        Ok(scenario)
    }

    /// The checks serde cannot make: ranges, orders, names, and which sections belong.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.time_scale > 0.0 && self.time_scale.is_finite()) {
            return Err(("time_scale", "must be a positive number".into()));
        }
        for (key, version) in [("app.from", &self.app.from), ("app.to", &self.app.to)] {
            if let Some(why) = sink::item::version_error(version) {
                return Err((key, format!("{why} (got {version:?})")));
            }
        }
        if self.app.from == self.app.to {
            return Err(("app.to", "must differ from app.from".into()));
        }
        if self.app.instances == 0 || self.app.instances > 1000 {
            return Err(("app.instances", "must be between 1 and 1000".into()));
        }
        let w = &self.workload;
        if w.period.0.is_zero() {
            return Err(("workload.period", "must be positive".into()));
        }
        match w.trigger {
            Trigger::Timer if w.items == 0 => {
                return Err(("workload.items", "must be at least 1".into()))
            }
            Trigger::Queue if w.events == 0 => {
                return Err((
                    "workload.events",
                    "must be at least 1 for a queue workload".into(),
                ))
            }
            Trigger::Timer if self.queue.is_some() => {
                return Err((
                    "queue",
                    "section [queue] is given but workload.trigger is timer".into(),
                ))
            }
            _ => {}
        }
        if let Some(q) = &self.queue {
            if q.max_dequeue == 0 || q.batch_size == 0 {
                return Err((
                    "queue.max_dequeue",
                    "max_dequeue and batch_size must be at least 1".into(),
                ));
            }
        }
        if let Some(r) = &self.rolling {
            if r.batch_size.is_some() && r.batches.is_some() {
                return Err((
                    "rolling.batches",
                    "give batch_size or batches, not both".into(),
                ));
            }
            if r.batch_size == Some(0) || r.batches == Some(0) {
                return Err(("rolling.batch_size", "must be at least 1".into()));
            }
            match (&r.then_update_to, r.then_update_at) {
                (Some(v), Some(at)) => {
                    if let Some(why) = sink::item::version_error(v) {
                        return Err(("rolling.then_update_to", format!("{why} (got {v:?})")));
                    }
                    if *v == self.app.to || *v == self.app.from {
                        return Err((
                            "rolling.then_update_to",
                            "must differ from app.from and app.to".into(),
                        ));
                    }
                    if at <= self.run.update_at || at >= self.run.duration {
                        return Err((
                            "rolling.then_update_at",
                            "must be after run.update_at and before run.duration".into(),
                        ));
                    }
                }
                (None, None) => {}
                _ => {
                    return Err((
                        "rolling.then_update_to",
                        "then_update_to and then_update_at go together".into(),
                    ))
                }
            }
        }
        if let Some(g) = &self.graceful {
            if !(0.0..=1.0).contains(&g.grace_jitter) {
                return Err(("graceful.grace_jitter", "must be between 0 and 1".into()));
            }
        }
        if self.loop_length() > w.period.0 {
            return Err((
                "workload.items",
                format!(
                    "a run ({} items, {} apart, {} processing each) lasts longer than the period {}",
                    w.items,
                    w.item_delay,
                    w.processing,
                    w.period
                ),
            ));
        }
        let r = &self.run;
        if r.update_at >= r.duration {
            return Err(("run.update_at", "must be before run.duration".into()));
        }
        if r.warmup >= r.duration {
            return Err(("run.warmup", "must be before run.duration".into()));
        }
        if self.first_expected() > self.last_expected() {
            return Err((
                "run.duration",
                "leaves no whole occurrence between run.warmup and run.duration".into(),
            ));
        }
        if self.probes.rate == 0 || self.probes.rate > 10_000 {
            return Err((
                "probes.rate",
                "must be between 1 and 10000 per second".into(),
            ));
        }
        if !self.probes.path.starts_with("/api/") {
            return Err((
                "probes.path",
                "must start with /api/ (the front door's routes)".into(),
            ));
        }
        let sections = [
            (StrategyKind::Swap, self.swap.is_some()),
            (StrategyKind::Recreate, self.recreate.is_some()),
            (StrategyKind::Rolling, self.rolling.is_some()),
            (StrategyKind::Graceful, self.graceful.is_some()),
            (StrategyKind::Drain, self.drain.is_some()),
        ];
        for (kind, given) in sections {
            if given && kind != self.strategy {
                return Err((
                    kind.as_str(),
                    format!(
                        "section [{kind}] is given but the strategy is {}",
                        self.strategy
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How long one run takes, unscaled: the loop, or one message's processing.
    pub fn loop_length(&self) -> Duration {
        let w = &self.workload;
        match w.trigger {
            Trigger::Timer => w.item_delay.0 * w.items.saturating_sub(1) + w.processing.0,
            Trigger::Queue => w.processing.0,
        }
    }

    /// The item source the expected window is about.
    pub fn source(&self) -> &'static str {
        match self.workload.trigger {
            Trigger::Timer => "tick",
            Trigger::Queue => "proc",
        }
    }

    /// Items expected per occurrence.
    pub fn items_per_occurrence(&self) -> u32 {
        match self.workload.trigger {
            Trigger::Timer => self.workload.items,
            Trigger::Queue => self.workload.events,
        }
    }

    pub fn queue_settings(&self) -> QueueSettings {
        self.queue.clone().unwrap_or_default()
    }

    pub fn rolling(&self) -> Rolling {
        self.rolling.clone().unwrap_or_default()
    }

    pub fn graceful(&self) -> Graceful {
        self.graceful.clone().unwrap_or_default()
    }

    pub fn drain(&self) -> Drain {
        self.drain.clone().unwrap_or_default()
    }

    /// The first occurrence wholly inside the measured span: scheduled at or after warm-up.
    pub fn first_expected(&self) -> u64 {
        let period = self.workload.period.0.as_nanos();
        self.run.warmup.0.as_nanos().div_ceil(period) as u64
    }

    /// The last occurrence whose whole loop ends by `run.duration`.
    pub fn last_expected(&self) -> u64 {
        self.last_complete_by(self.run.duration.0).unwrap_or(0)
    }

    /// The last occurrence the timer fires (scheduled before `run.duration`) whose whole loop
    /// ends by `end`, scenario time; `None` when not even occurrence 0's does. A run that
    /// stopped early is judged on the loops that could end before it stopped.
    pub fn last_complete_by(&self, end: Duration) -> Option<u64> {
        let period = self.workload.period.0.as_nanos().max(1);
        let length = self.loop_length().as_nanos();
        // Occurrences start at m * period; the last fired is the one scheduled before the
        // run's duration.
        let last_fired = self.run.duration.0.as_nanos().saturating_sub(1) / period;
        let room = end.as_nanos().checked_sub(length)?;
        Some((room / period).min(last_fired) as u64)
    }

    /// The scenario exactly as a run with these settings runs it: the time scale and seed
    /// used, the app run when it is not the built-in function, and every default filled in
    /// (the timer's monitor, the settle time, the late threshold, the strategy's and the
    /// queue's sections). Written to the run directory as `scenario.toml`, it reproduces the
    /// run.
    pub fn as_run(&self, time_scale: f64, seed: u64, program: &crate::app::AppProgram) -> Scenario {
        let mut s = self.clone();
        s.name = Some(self.name().to_owned());
        s.time_scale = time_scale;
        s.seed = seed;
        s.app.command = (!program.builtin).then(|| program.program.display().to_string());
        s.timer.use_monitor = Some(self.use_monitor());
        s.run.settle = Some(self.settle());
        s.workload.late_after = Some(self.late_after());
        match self.strategy {
            StrategyKind::Swap => s.swap = Some(self.swap()),
            StrategyKind::Recreate => s.recreate = Some(self.recreate()),
            StrategyKind::Rolling => s.rolling = Some(self.rolling()),
            StrategyKind::Graceful => s.graceful = Some(self.graceful()),
            StrategyKind::Drain => s.drain = Some(self.drain()),
        }
        if self.workload.trigger == Trigger::Queue {
            s.queue = Some(self.queue_settings());
        }
        s.expect = Some(self.expect.clone().unwrap_or_default());
        s
    }

    pub fn use_monitor(&self) -> bool {
        self.timer
            .use_monitor
            .unwrap_or(self.workload.period.0 > Duration::from_secs(60))
    }

    pub fn late_after(&self) -> Span {
        self.workload.late_after.unwrap_or(Span(
            self.workload.item_delay.0.max(Duration::from_millis(1)) * 2,
        ))
    }

    pub fn settle(&self) -> Span {
        let redelivery = match self.workload.trigger {
            Trigger::Timer => Duration::ZERO,
            Trigger::Queue => self.queue_settings().visibility.0,
        };
        self.run.settle.unwrap_or(Span(
            self.loop_length() + self.workload.submit_timeout.0 + redelivery,
        ))
    }

    pub fn swap(&self) -> Swap {
        self.swap.clone().unwrap_or_default()
    }

    pub fn recreate(&self) -> Recreate {
        self.recreate.clone().unwrap_or_default()
    }

    /// The scenario's thresholds, parsed (they were checked when it was loaded).
    pub fn thresholds(&self) -> Vec<reports::threshold::Threshold> {
        self.expect
            .iter()
            .flat_map(|e| &e.thresholds)
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("scenario")
    }
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted key (`run.update_at`) is written, if it can be found: the key's
/// last part at the start of a line inside its `[section]`, or the section header itself.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (section, leaf) = match key.rsplit_once('.') {
        Some((s, l)) => (s, l),
        None => ("", key),
    };
    let mut current = String::new();
    let mut section_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = name.trim().to_owned();
            if current == key {
                return Some(i + 1);
            }
            if current == section {
                section_line = Some(i + 1);
            }
            continue;
        }
        if current == section {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim() == leaf {
                    return Some(i + 1);
                }
            }
        }
    }
    section_line
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
strategy = "swap"

[workload]
period = "10s"
items = 10
item_delay = "1s"

[run]
warmup = "20s"
update_at = "62s"
duration = "100s"
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/t.toml"), text)
    }

    #[test]
    fn the_seed_parses_with_platform_defaults() {
        let s = parse(SEED).unwrap();
        assert_eq!(s.name(), "t");
        assert_eq!((s.first_expected(), s.last_expected()), (2, 9));
        assert!(!s.use_monitor(), "a 10 s timer has no schedule monitor");
        assert_eq!(s.swap().warmup_retries, 5);
        assert_eq!(s.probes.rate, 100);
        assert_eq!(s.late_after(), Span::from_secs(2));
        assert_eq!(s.settle(), Span::from_secs(11));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = SEED.replace("items = 10", "itemz = 10");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(
            e.to_string()
                .starts_with("scenarios/t.toml:6: key `workload"),
            "{e}"
        );
        assert!(e.message.contains("itemz"), "{e}");

        let e = parse(&SEED.replace("\"1s\"", "\"1 parsec\"")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(7), Some("workload.item_delay")),
            "{e}"
        );
        assert!(e.message.contains("unknown unit"), "{e}");

        let e = parse(&SEED.replace("\"62s\"", "\"200s\"")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(11), Some("run.update_at")),
            "{e}"
        );

        let e = parse(&SEED.replace("strategy = \"swap\"", "strategy = \"yolo\"")).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");

        let e = parse(&format!("{SEED}\n[recreate]\nstop = \"kill\"\n")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(14), Some("recreate")),
            "{e}"
        );

        let e = parse("strategy = [").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");

        let e = parse(&SEED.replace("items = 10", "items = 12")).unwrap_err();
        assert!(e.message.contains("longer than the period"), "{e}");
    }

    #[test]
    fn thresholds_are_checked_with_line_and_position() {
        let text = format!(
            "{SEED}\n[expect]\nthresholds = [\n  \"lost == 0\",\n  \"downtime.max < 5\",\n]\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(17), Some("expect.thresholds")),
            "{e}"
        );
        assert!(
            e.message
                .contains("unknown metric \"downtime.max\" at byte 0"),
            "{e}"
        );
        let ok = parse(&text.replace("downtime.max <", "downtime.max_ms <")).unwrap();
        assert_eq!(ok.thresholds().len(), 2);
    }

    #[test]
    fn the_expected_window_holds_only_whole_loops() {
        let s = parse(&SEED.replace("\"100s\"", "\"95s\"")).unwrap();
        assert_eq!(s.last_expected(), 8, "occurrence 9 would end at 99 s");
        let s = parse(&SEED.replace("\"20s\"", "\"21s\"")).unwrap();
        assert_eq!(s.first_expected(), 3);
    }
}
