//! The scenario as a file: [`ScenarioFile`], the strategy by name and at most that
//! strategy's own section, and its conversion to and from [`Scenario`], where the two become
//! one value. Reading a file ([`Scenario::load`], [`Scenario::parse`]) goes through it, and so
//! does writing one back: the run directory's `scenario.toml` is [`Scenario::as_run`] in this
//! form.

use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use super::error::{line_at, span_of, ScenarioError};
use super::faults;
use super::sections::{default_seed, default_time_scale};
use super::{
    Analysis, App, BudgetTable, Completion, Drain, Expect, Fault, Graceful, PlatformSection,
    Probes, QueueSettings, Recreate, Rolling, Run, Scale, Scenario, SinkSection, Strategy,
    StrategyKind, Swap, Timer, Trigger, Workload,
};

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
            budget: f.budget,
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
            budget: s.budget,
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

/// Written back in the file's own form (serde's `into`, spelled out here beside the form so
/// the scenario's own file need not import it).
impl Serialize for Scenario {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ScenarioFile::from(self.clone()).serialize(serializer)
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
    /// Budgets learned from the history of runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    budget: Vec<BudgetTable>,
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
        if let Some(profile) = scenario.platform.profile.take() {
            if scenario.platform.sim.is_some() {
                return Err(err(
                    line_of("platform.profile"),
                    Some("platform.profile".into()),
                    "give the model inline ([platform.sim]) or in a profile file, not both".into(),
                ));
            }
            let file = path.parent().unwrap_or(Path::new(".")).join(&profile);
            let model = crate::platform::sim::Model::load(&file).map_err(|e| {
                err(
                    line_of("platform.profile"),
                    Some("platform.profile".into()),
                    e,
                )
            })?;
            scenario.platform.sim = Some(model);
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
        for (i, b) in scenario.budget.iter().enumerate() {
            if let Err((key, why)) = b.budget() {
                let key = format!("budget[{i}].{key}");
                return Err(err(line_of(&key), Some(key), why));
            }
        }
        Ok(scenario)
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
}
