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

mod faults;
mod release;
mod scaling;
pub mod sections;
pub use faults::*;
pub use release::*;
pub use scaling::*;
pub use sections::*;
use sections::{default_seed, default_time_scale};

/// Instances of one version (`app.instances`), and the scale controller's `scale.max`, at
/// most. Every instance started in a run counts against the host's own limit,
/// [`crate::platform::host::MAX_INSTANCES_STARTED`].
pub const MAX_INSTANCES: u32 = 1000;

/// The longest `run.duration` (and `run.settle`), in scenario time: scaled like them, so a
/// run at time scale 1 lasts about a day at most.
pub const MAX_RUN_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Probes per second (`probes.rate`) at most, per series.
pub const MAX_PROBE_RATE: u32 = 10_000;

/// A whole scenario, checked: its strategy and that strategy's settings are one value, so a
/// section for another strategy cannot exist. Written back (`scenario.toml`) in the file's
/// own form.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(into = "ScenarioFile")]
pub struct Scenario {
    /// Defaults to the file's stem.
    pub name: Option<String>,
    /// One line saying what the scenario shows.
    pub description: Option<String>,
    /// What the scenario measures for `harness advise` to weigh: `healthy` (the default) or
    /// a label of the bad release it ships (`never-ready`, `fails-30pct`, ...).
    pub case: String,
    /// The strategy, with its section's settings (defaults when the file has none).
    pub strategy: Strategy,
    /// Seeds every random choice of the run (e.g. grace jitter). Default 1.
    pub seed: u64,
    /// Multiplies every duration; `--time-scale` overrides it. Default 1.0.
    pub time_scale: f64,
    pub app: App,
    pub workload: Workload,
    pub timer: Timer,
    pub run: Run,
    pub probes: Probes,
    /// The queue trigger (queue workloads only).
    pub queue: Option<QueueSettings>,
    /// Pass/fail thresholds over the verdict, for CI.
    pub expect: Option<Expect>,
    /// Where the app runs: the local emulator (default) or a command platform.
    pub platform: PlatformSection,
    /// Where the sink listens and how apps reach it.
    pub sink: SinkSection,
    /// The local platform's scale controller (rolling updates only).
    pub scale: Option<Scale>,
    /// The log-based completion estimate's parameters, when given.
    pub completion: Option<Completion>,
    /// The analysis that rolls a failing update back.
    pub analysis: Option<Analysis>,
    /// What the run breaks on purpose, and when.
    pub faults: Vec<Fault>,
}

/// A strategy with its settings: the scenario's `strategy` and its `[swap]`, `[recreate]`,
/// `[rolling]`, `[graceful]` or `[drain]` section; on a command platform, a free label for
/// what its commands do.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    Swap(Swap),
    Recreate(Recreate),
    Rolling(Rolling),
    Graceful(Graceful),
    Drain(Drain),
    /// Performed by a command platform's `update` command; the label names it in reports.
    Command(String),
}

impl Strategy {
    /// The local platform's strategy; `None` for a command platform's label.
    pub fn kind(&self) -> Option<StrategyKind> {
        Some(match self {
            Strategy::Swap(_) => StrategyKind::Swap,
            Strategy::Recreate(_) => StrategyKind::Recreate,
            Strategy::Rolling(_) => StrategyKind::Rolling,
            Strategy::Graceful(_) => StrategyKind::Graceful,
            Strategy::Drain(_) => StrategyKind::Drain,
            Strategy::Command(_) => return None,
        })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Command(label) => f.write_str(label),
            other => other.kind().expect("a local strategy").fmt(f),
        }
    }
}

impl TryFrom<ScenarioFile> for Scenario {
    /// The key to blame and why.
    type Error = (&'static str, String);

    fn try_from(f: ScenarioFile) -> Result<Scenario, Self::Error> {
        // A platform that runs the harness's strategies needs one of them; any other takes
        // the strategy as a label.
        let local = f.platform.kind.capabilities().strategies;
        let kind = match StrategyKind::parse(&f.strategy) {
            Some(kind) if local => kind,
            _ if local => {
                return Err((
                    "strategy",
                    format!(
                        "unknown strategy {:?}: the local platform has swap, recreate, rolling, \
                         graceful and drain (a command platform takes any label)",
                        f.strategy
                    ),
                ))
            }
            _ => {
                if let Some(why) = sink::item::version_error(&f.strategy) {
                    return Err((
                        "strategy",
                        format!("a strategy label {why} (got {:?})", f.strategy),
                    ));
                }
                StrategyKind::Swap
            }
        };
        let sections = [
            (StrategyKind::Swap, f.swap.is_some()),
            (StrategyKind::Recreate, f.recreate.is_some()),
            (StrategyKind::Rolling, f.rolling.is_some()),
            (StrategyKind::Graceful, f.graceful.is_some()),
            (StrategyKind::Drain, f.drain.is_some()),
        ];
        for (other, given) in sections {
            if given && !local {
                return Err((
                    other.as_str(),
                    format!(
                        "section [{other}] configures the local platform; a command \
                         platform's update command does the update"
                    ),
                ));
            }
            if given && other != kind {
                return Err((
                    other.as_str(),
                    format!("section [{other}] is given but the strategy is {kind}"),
                ));
            }
        }
        let strategy = match kind {
            _ if !local => Strategy::Command(f.strategy.clone()),
            StrategyKind::Swap => Strategy::Swap(f.swap.unwrap_or_default()),
            StrategyKind::Recreate => Strategy::Recreate(f.recreate.unwrap_or_default()),
            StrategyKind::Rolling => Strategy::Rolling(f.rolling.unwrap_or_default()),
            StrategyKind::Graceful => Strategy::Graceful(f.graceful.unwrap_or_default()),
            StrategyKind::Drain => Strategy::Drain(f.drain.unwrap_or_default()),
        };
        if let Some(why) = sink::item::version_error(&f.case) {
            return Err(("case", format!("a case label {why} (got {:?})", f.case)));
        }
        Ok(Scenario {
            name: f.name,
            description: f.description,
            case: f.case,
            strategy,
            seed: f.seed,
            time_scale: f.time_scale,
            app: f.app,
            workload: f.workload,
            timer: f.timer,
            run: f.run,
            probes: f.probes,
            queue: f.queue,
            expect: f.expect,
            platform: f.platform,
            sink: f.sink,
            scale: f.scale,
            completion: f.completion,
            analysis: f.analysis,
            faults: f.faults,
        })
    }
}

impl From<Scenario> for ScenarioFile {
    fn from(s: Scenario) -> ScenarioFile {
        let mut f = ScenarioFile {
            name: s.name,
            description: s.description,
            case: s.case,
            strategy: s.strategy.to_string(),
            seed: s.seed,
            time_scale: s.time_scale,
            app: s.app,
            workload: s.workload,
            timer: s.timer,
            run: s.run,
            probes: s.probes,
            swap: None,
            recreate: None,
            rolling: None,
            graceful: None,
            drain: None,
            queue: s.queue,
            expect: s.expect,
            platform: s.platform,
            sink: s.sink,
            scale: s.scale,
            completion: s.completion,
            analysis: s.analysis,
            faults: s.faults,
        };
        match s.strategy {
            Strategy::Swap(w) => f.swap = Some(w),
            Strategy::Recreate(r) => f.recreate = Some(r),
            Strategy::Rolling(r) => f.rolling = Some(r),
            Strategy::Graceful(g) => f.graceful = Some(g),
            Strategy::Drain(d) => f.drain = Some(d),
            Strategy::Command(_) => {}
        }
        f
    }
}

/// A scenario file as written: the strategy by name and at most that strategy's own
/// section. [`Scenario`] is what it means once checked: the two as one value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// Defaults to the file's stem.
    #[serde(default)]
    name: Option<String>,
    /// One line saying what the scenario shows.
    #[serde(default)]
    description: Option<String>,
    /// What the scenario measures: `healthy` or a bad release's label.
    #[serde(default = "default_case")]
    case: String,
    /// A local strategy's name, or a command platform's free label.
    strategy: String,
    /// Seeds every random choice of the run (e.g. grace jitter). Default 1.
    #[serde(default = "default_seed")]
    seed: u64,
    /// Multiplies every duration; `--time-scale` overrides it. Default 1.0.
    #[serde(default = "default_time_scale")]
    time_scale: f64,
    #[serde(default)]
    app: App,
    workload: Workload,
    #[serde(default)]
    timer: Timer,
    run: Run,
    #[serde(default)]
    probes: Probes,
    #[serde(default)]
    swap: Option<Swap>,
    #[serde(default)]
    recreate: Option<Recreate>,
    #[serde(default)]
    rolling: Option<Rolling>,
    #[serde(default)]
    graceful: Option<Graceful>,
    #[serde(default)]
    drain: Option<Drain>,
    /// The queue trigger (queue workloads only).
    #[serde(default)]
    queue: Option<QueueSettings>,
    /// Pass/fail thresholds over the verdict, for CI.
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "is_local")]
    platform: PlatformSection,
    #[serde(default, skip_serializing_if = "is_default_sink")]
    sink: SinkSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scale: Option<Scale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    completion: Option<Completion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    analysis: Option<Analysis>,
    /// Read from the spanned document once the rest is: serde only checks the shape.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "faults::tables"
    )]
    faults: Vec<Fault>,
}

fn default_case() -> String {
    "healthy".into()
}

fn is_local(p: &PlatformSection) -> bool {
    *p == PlatformSection::default()
}

fn is_default_sink(s: &SinkSection) -> bool {
    *s == SinkSection::default()
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
        let doc = toml::de::DeTable::parse(text).map_err(|e| {
            err(
                e.span().map(|s| line_at(text, s.start)),
                None,
                e.message().to_owned(),
            )
        })?;
        let line_of = |key: &str| span_of(doc.get_ref(), key).map(|s| line_at(text, s.start));
        let de = toml::Deserializer::from(doc.clone());
        let mut file: ScenarioFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| line_at(text, s.start))
                .or_else(|| line_of(&key));
            err(
                line,
                (key != ".").then_some(key),
                inner.message().to_owned(),
            )
        })?;
        file.faults = faults::read(doc.get_ref()).map_err(|(index, refusal)| {
            let entry = format!("faults[{index}]");
            err(
                refusal.span.map(|s| line_at(text, s.start)),
                Some(
                    refusal
                        .key
                        .map_or(entry.clone(), |k| format!("{entry}.{k}")),
                ),
                refusal.message,
            )
        })?;
        let mut scenario = Scenario::try_from(file)
            .map_err(|(key, message)| err(line_of(key), Some(key.to_owned()), message))?;
        if scenario.name.is_none() {
            scenario.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        if let Err((key, message)) = scenario.validate() {
            return Err(err(line_of(key), Some(key.to_owned()), message));
        }
        if let Err((index, key, message)) = scenario.validate_faults() {
            let key = format!("faults[{index}].{key}");
            return Err(err(line_of(&key), Some(key), message));
        }
        let thresholds = scenario.expect.iter().flat_map(|e| &e.thresholds);
        for (i, t) in thresholds.enumerate() {
            if let Err(e) = t.parse::<reports::threshold::Threshold>() {
                return Err(err(
                    line_of(&format!("expect.thresholds[{i}]")),
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
        if self.app.instances == 0 || self.app.instances > MAX_INSTANCES {
            return Err((
                "app.instances",
                format!("must be between 1 and {MAX_INSTANCES}"),
            ));
        }
        let w = &self.workload;
        if w.period.0.is_zero() {
            return Err(("workload.period", "must be positive".into()));
        }
        match w.trigger {
            Trigger::Timer if w.items == 0 => {
                return Err(("workload.items", "must be at least 1".into()))
            }
            Trigger::Queue if w.events.max() == 0 => {
                return Err((
                    "workload.events",
                    "must be at least 1 for a queue workload".into(),
                ))
            }
            Trigger::Timer if w.events.is_schedule() => {
                return Err((
                    "workload.events",
                    "a demand schedule is for the queue workload (workload.trigger = \"queue\")"
                        .into(),
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
        w.events
            .validate()
            .map_err(|why| ("workload.events", why))?;
        self.validate_scaling()?;
        self.validate_release()?;
        if let Some(q) = &self.queue {
            if q.max_dequeue == 0 || q.batch_size == 0 {
                return Err((
                    "queue.max_dequeue",
                    "max_dequeue and batch_size must be at least 1".into(),
                ));
            }
        }
        match &self.strategy {
            Strategy::Rolling(r) => r.check(
                &self.app.from,
                &self.app.to,
                self.run.update_at,
                self.run.duration,
            )?,
            Strategy::Graceful(g) => g.check()?,
            _ => {}
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
        if r.duration.0 > MAX_RUN_DURATION {
            return Err((
                "run.duration",
                format!(
                    "{} is longer than the limit of {}h (scenario time, scaled like every \
                     duration); for a longer soak, run the scenario again (compare --repeat)",
                    r.duration,
                    MAX_RUN_DURATION.as_secs() / 3600
                ),
            ));
        }
        if r.settle.is_some_and(|s| s.0 > MAX_RUN_DURATION) {
            return Err((
                "run.settle",
                format!(
                    "{} is longer than the limit of {}h",
                    r.settle.unwrap_or_default(),
                    MAX_RUN_DURATION.as_secs() / 3600
                ),
            ));
        }
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
        // Before anything walks the window's occurrences (a 1 ns period has 8.6e13 in 24 h):
        // the checker would refuse a window this big at the end of the run anyway.
        let occurrences = u128::from(self.last_expected() - self.first_expected()) + 1;
        let keys = occurrences * u128::from(self.items_per_occurrence().max(1));
        if keys > reports::expected::MAX_EXPECTED_KEYS {
            return Err((
                "run.duration",
                format!(
                    "the expected window has {keys} keys ({occurrences} occurrences of {} \
                     items), more than the checker's limit of {}; lengthen workload.period or \
                     shorten run.duration",
                    self.items_per_occurrence(),
                    reports::expected::MAX_EXPECTED_KEYS
                ),
            ));
        }
        if w.trigger == Trigger::Queue && w.events.is_schedule() && self.schedule_finds_nothing() {
            return Err((
                "workload.events",
                "the schedule finds no message in any occurrence between run.warmup and \
                 run.duration"
                    .into(),
            ));
        }
        if self.probes.rate == 0 || self.probes.rate > MAX_PROBE_RATE {
            return Err((
                "probes.rate",
                format!("must be between 1 and {MAX_PROBE_RATE} per second"),
            ));
        }
        let p = &self.probes;
        if !p.path.starts_with('/') {
            return Err(("probes.path", "must start with /".into()));
        }
        let kind = self.platform.kind;
        if let Some(prefix) = kind.capabilities().probe_path_prefix {
            if !p.path.starts_with(prefix) {
                return Err((
                    "probes.path",
                    format!(
                        "must start with {prefix} on the {} platform (the front door's routes)",
                        kind.as_str()
                    ),
                ));
            }
        }
        if p.connections > 1000 {
            return Err(("probes.connections", "must be at most 1000".into()));
        }
        if p.connections == 0 && !p.new_connections {
            return Err((
                "probes.connections",
                "0 keep-alive connections and no new_connections series leaves no probes".into(),
            ));
        }
        if let Some(re) = &p.expect_body {
            if let Err(e) = regex::Regex::new(re) {
                return Err(("probes.expect_body", format!("not a regex: {e}")));
            }
        }
        self.validate_platform()
    }

    /// The platform's and the driver's checks.
    fn validate_platform(&self) -> Result<(), (&'static str, String)> {
        let w = &self.workload;
        let driver = self.driver();
        if let Some(listen) = &self.sink.listen {
            let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
                (
                    "sink.listen",
                    format!("{listen:?} is not an address IP:PORT"),
                )
            })?;
            let token = self.sink.token.as_deref().is_some_and(|t| !t.is_empty());
            if !addr.ip().is_loopback() && !token {
                return Err((
                    "sink.token",
                    format!(
                        "a sink listening on {listen} (beyond loopback) needs a token: anyone \
                         on the network could write the run's arrivals"
                    ),
                ));
            }
        }
        if w.lease.is_some() && driver != Driver::App {
            return Err((
                "workload.lease",
                "a lease is for the app driver (the app's own timer)".into(),
            ));
        }
        if w.lease_ttl.is_some_and(|t| t.0.is_zero()) {
            return Err(("workload.lease_ttl", "must be positive".into()));
        }
        let kind = self.platform.kind;
        let caps = kind.capabilities();
        if !caps.drivers.contains(&driver) {
            let takes: Vec<String> = caps
                .drivers
                .iter()
                .map(|d| format!("{:?}", d.as_str()))
                .collect();
            return Err((
                "workload.driver",
                format!(
                    "the {} platform takes driver {}; {:?} is another platform's",
                    kind.as_str(),
                    takes.join(", "),
                    driver.as_str()
                ),
            ));
        }
        if w.trigger == Trigger::Queue && !caps.queue {
            return Err((
                "workload.trigger",
                format!(
                    "the {} platform runs the timer workload (the queue is the local platform's)",
                    kind.as_str()
                ),
            ));
        }
        kind.check(&self.platform)
    }

    /// What the scenario's platform can do.
    pub fn capabilities(&self) -> &'static crate::platform::capabilities::Capabilities {
        self.platform.kind.capabilities()
    }

    /// Who fires the occurrences, defaults applied.
    pub fn driver(&self) -> Driver {
        match self.workload.driver {
            Some(d) => d,
            None => self.capabilities().default_driver(),
        }
    }

    /// How long one run takes, unscaled: the loop, or one message's processing.
    pub fn loop_length(&self) -> Duration {
        let w = &self.workload;
        match w.trigger {
            // Saturating: a loop past `Duration::MAX` (hours of item_delay times 2^32 items)
            // is longer than any period, which `validate` says, rather than a panic.
            Trigger::Timer => w
                .item_delay
                .0
                .saturating_mul(w.items.saturating_sub(1))
                .saturating_add(w.processing.0),
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

    /// Whether no poll of the expected window finds a message. The count is constant, or
    /// monotonic along a ramp, between the schedule's steps, so the window's ends and the
    /// occurrences either side of each step are enough: not every occurrence (a 1 ms period
    /// has 8.6e7 in 24 h).
    fn schedule_finds_nothing(&self) -> bool {
        let (first, last) = (self.first_expected(), self.last_expected());
        let period = self.workload.period.0.as_nanos().max(1);
        // `poll_events` stops the clock at occurrence u32::MAX: one more piece.
        let mut at = vec![first, last, u64::from(u32::MAX) - 1, u64::from(u32::MAX)];
        if let Events::Schedule(steps) = &self.workload.events {
            for step in steps {
                let m = u64::try_from(step.at.0.as_nanos().div_ceil(period)).unwrap_or(u64::MAX);
                at.extend([m.saturating_sub(1), m]);
            }
        }
        at.into_iter()
            .filter(|m| (first..=last).contains(m))
            .all(|m| self.poll_events(m) == 0)
    }

    /// Messages the poll of occurrence `m` finds (queue workload): the demand schedule at
    /// `m * period` on the scenario's clock.
    pub fn poll_events(&self, m: u64) -> u32 {
        let t = self
            .workload
            .period
            .0
            .saturating_mul(m.min(u64::from(u32::MAX)) as u32);
        self.workload.events.at(t)
    }

    /// Items expected per occurrence (the largest, under a demand schedule).
    pub fn items_per_occurrence(&self) -> u32 {
        match self.workload.trigger {
            Trigger::Timer => self.workload.items,
            Trigger::Queue => self.workload.events.max(),
        }
    }

    pub fn queue_settings(&self) -> QueueSettings {
        self.queue.clone().unwrap_or_default()
    }

    /// The rolling settings (the defaults for another strategy).
    pub fn rolling(&self) -> Rolling {
        match &self.strategy {
            Strategy::Rolling(r) => r.clone(),
            _ => Rolling::default(),
        }
    }

    /// The graceful settings (the defaults for another strategy).
    pub fn graceful(&self) -> Graceful {
        match &self.strategy {
            Strategy::Graceful(g) => g.clone(),
            _ => Graceful::default(),
        }
    }

    /// The drain settings (the defaults for another strategy).
    pub fn drain(&self) -> Drain {
        match &self.strategy {
            Strategy::Drain(d) => d.clone(),
            _ => Drain::default(),
        }
    }

    /// The occurrences the timer fires: `0..` this (those scheduled before `run.duration`).
    pub fn occurrences_fired(&self) -> u64 {
        self.run
            .duration
            .0
            .as_nanos()
            .div_ceil(self.workload.period.0.as_nanos().max(1)) as u64
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
    /// (the timer's monitor, the settle time, the late threshold, the queue's section; the
    /// strategy's section always is). Written to the run directory as `scenario.toml`, it reproduces the
    /// run.
    pub fn as_run(&self, time_scale: f64, seed: u64, program: &crate::app::AppProgram) -> Scenario {
        let mut s = self.clone();
        s.name = Some(self.name().to_owned());
        s.time_scale = time_scale;
        s.seed = seed;
        s.app.command = (program.kind == crate::app::AppKind::External)
            .then(|| program.program.display().to_string());
        s.timer.use_monitor = Some(self.use_monitor());
        s.run.settle = Some(self.settle());
        s.workload.late_after = Some(self.late_after());
        if self.workload.trigger == Trigger::Queue {
            s.queue = Some(self.queue_settings());
        }
        s.expect = Some(self.expect.clone().unwrap_or_default());
        // A secret is not written down where a report would show it: the scenario as run
        // names the variable a re-run reads it from instead.
        if s.sink
            .token
            .as_deref()
            .is_some_and(|t| !t.starts_with("env:"))
        {
            s.sink.token = Some("env:HARNESS_SINK_TOKEN".into());
        }
        s
    }

    pub fn use_monitor(&self) -> bool {
        self.timer
            .use_monitor
            .unwrap_or(self.workload.period.0 > Duration::from_secs(60))
    }

    pub fn late_after(&self) -> Span {
        let w = &self.workload;
        self.workload.late_after.unwrap_or(Span(match w.trigger {
            Trigger::Timer => w.processing.0 + w.item_delay.0.max(Duration::from_millis(1)) * 2,
            Trigger::Queue => w.processing.0.max(Duration::from_millis(1)) * 2,
        }))
    }

    /// What is allowed but probably not meant, as `(key, why)`: `harness validate` and
    /// `harness run` print them.
    pub fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let w = &self.workload;
        // The time an item normally takes from its schedule to the sink: the work before
        // its submit (the queue's messages are all due when the poll runs).
        let normal = w.processing.0
            + match w.trigger {
                Trigger::Timer => Duration::ZERO,
                Trigger::Queue => w.item_delay.0,
            };
        let late_after = self.late_after().0;
        if !normal.is_zero() && late_after.as_secs_f64() < normal.as_secs_f64() * 1.5 {
            out.push((
                "workload.late_after",
                format!(
                    "{} is not clearly above the {} an item normally takes (processing plus item delay): every item may count as late even when nothing goes wrong, and the late count then says nothing; give at least 1.5 times that",
                    Span(late_after),
                    Span(normal)
                ),
            ));
        }
        out
    }

    /// The bad release's, the rollback's and the analysis's checks.
    fn validate_release(&self) -> Result<(), (&'static str, String)> {
        if let Some(b) = &self.app.to_behaviour {
            b.validate()?;
            if !self.capabilities().bad_release {
                return Err((
                    "app.to_behaviour",
                    "a bad release is the local platform's test function; on a command \
                     platform deploy a bad build yourself"
                        .into(),
                ));
            }
        }
        let r = &self.run;
        if let Some(at) = r.rollback_at {
            if at <= r.update_at || at >= r.duration {
                return Err((
                    "run.rollback_at",
                    "must be after run.update_at and before run.duration".into(),
                ));
            }
            if !self.capabilities().rollback {
                return Err((
                    "run.rollback_at",
                    "a rollback is the local platform's: a command platform's update command \
                     does the update"
                        .into(),
                ));
            }
        }
        let Some(a) = &self.analysis else {
            return Ok(());
        };
        if !self.capabilities().rollback {
            return Err((
                "analysis",
                "the analysis rolls back with the local platform's strategies".into(),
            ));
        }
        if a.thresholds.is_empty() {
            return Err(("analysis.thresholds", "give at least one threshold".into()));
        }
        for t in &a.thresholds {
            crate::analysis::WindowThreshold::parse(t)
                .map_err(|why| ("analysis.thresholds", why))?;
        }
        if a.window.0.is_zero() || a.interval.0.is_zero() {
            return Err((
                "analysis.window",
                "window and interval must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The scale controller's and the completion estimate's checks.
    fn validate_scaling(&self) -> Result<(), (&'static str, String)> {
        let rolling = matches!(self.strategy, Strategy::Rolling(_));
        if let Some(c) = &self.completion {
            if c.check_interval.0.is_zero() {
                return Err(("completion.check_interval", "must be positive".into()));
            }
            let truth = self.capabilities().completion_truth;
            if truth == crate::platform::capabilities::CompletionTruth::RollingLedger && !rolling {
                return Err((
                    "completion",
                    "the completion estimate is the rolling update's: on the local platform \
                     it needs strategy = \"rolling\""
                        .into(),
                ));
            }
        }
        let Some(sc) = &self.scale else {
            return Ok(());
        };
        if !self.capabilities().scaling {
            return Err((
                "scale",
                "[scale] configures the local platform's scale controller; a command \
                 platform scales as it does"
                    .into(),
            ));
        }
        if !rolling {
            return Err((
                "scale",
                "[scale] models the Flex Consumption plan's scale controller, which runs with \
                 its rolling update: it needs strategy = \"rolling\""
                    .into(),
            ));
        }
        if sc.min == 0 {
            return Err((
                "scale.min",
                "must be at least 1 (the timer needs an instance to hold its lease)".into(),
            ));
        }
        if sc.max < sc.min || sc.max > MAX_INSTANCES {
            return Err((
                "scale.max",
                format!("must be between scale.min and {MAX_INSTANCES}"),
            ));
        }
        if !(sc.min..=sc.max).contains(&self.app.instances) {
            return Err((
                "app.instances",
                format!(
                    "{} instances to start with is outside [scale] min {} .. max {}",
                    self.app.instances, sc.min, sc.max
                ),
            ));
        }
        if sc.target_messages == Some(0) || sc.target_requests == 0 {
            return Err((
                "scale.target_messages",
                "target_messages and target_requests must be at least 1".into(),
            ));
        }
        if sc.interval.0.is_zero() {
            return Err(("scale.interval", "must be positive".into()));
        }
        Ok(())
    }

    /// The completion estimate's parameters when the run evaluates it: every rolling update
    /// on the local platform, and a command platform's run with `[completion]`.
    pub fn completion_estimate(&self) -> Option<Completion> {
        match (&self.completion, &self.strategy) {
            (Some(c), _) => Some(c.clone()),
            (None, Strategy::Rolling(_)) => Some(Completion::default()),
            (None, _) => None,
        }
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

    /// The swap settings (the defaults for another strategy).
    pub fn swap(&self) -> Swap {
        match &self.strategy {
            Strategy::Swap(w) => w.clone(),
            _ => Swap::default(),
        }
    }

    /// The recreate settings (the defaults for another strategy).
    pub fn recreate(&self) -> Recreate {
        match &self.strategy {
            Strategy::Recreate(r) => r.clone(),
            _ => Recreate::default(),
        }
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

impl Scenario {
    /// Checks every `[[faults]]` entry: the index, the key and why.
    fn validate_faults(&self) -> Result<(), (usize, &'static str, String)> {
        for (i, f) in self.faults.iter().enumerate() {
            f.validate(self.run.duration)
                .map_err(|(key, why)| (i, key, why))?;
            if f.on_instances() && !self.capabilities().instance_faults {
                return Err((
                    i,
                    "kind",
                    format!(
                        "a {} fault acts on the local platform's instances; a command \
                         platform takes the sink-path faults (latency, http_error, reset, \
                         blackhole, fail_first, bandwidth)",
                        f.kind()
                    ),
                ));
            }
            if f.on_sink_path() && self.sink.url.is_some() {
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
        self.faults.iter().any(|f| f.on_sink_path())
    }
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where a key (`run.update_at`, `faults[1].latency`, as serde_path_to_error writes it) is
/// written, from the parser's spans: the key itself, an array's element, or, for a key the
/// file does not give, the nearest table or element that holds it (the `[[faults]]` header
/// of a fault missing its duration). `None` when not even the first part is written.
fn span_of(doc: &toml::de::DeTable, key: &str) -> Option<std::ops::Range<usize>> {
    use toml::de::DeValue;
    let mut here: Option<&DeValue> = None;
    let mut span = None;
    for part in key.split('.') {
        let (name, indexes) = part.split_once('[').unwrap_or((part, ""));
        let table = match here {
            None => doc,
            Some(DeValue::Table(t)) => t,
            Some(_) => return span,
        };
        let Some((k, v)) = table.get_key_value(name) else {
            return span;
        };
        (span, here) = (Some(k.span()), Some(v.get_ref()));
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let element = index
                .trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .and_then(|i| here?.as_array()?.get(i));
            let Some(element) = element else {
                return span;
            };
            (span, here) = (Some(element.span()), Some(element.get_ref()));
        }
    }
    span
}

#[cfg(test)]
mod tests;
