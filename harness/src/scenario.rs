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
//!
//! This file is the [`Scenario`] itself: its type, its strategy and the accessors the run
//! reads, with defaults applied. Its sections (`sections.rs`, `release.rs`, `scaling.rs`,
//! `faults/`) and its error's positions (`error.rs`) are parts it imports and re-exports;
//! the parts about the whole scenario, its checks (`checks.rs`) and its file form with the
//! reading and writing of it (`file.rs`), import it instead, and it imports nothing of
//! theirs.

use std::fmt;
use std::time::Duration;

use crate::duration::Span;

mod checks;
pub mod edit;
mod error;
mod faults;
mod file;
mod release;
mod scaling;
pub mod sections;
pub use error::ScenarioError;
pub use faults::*;
pub use release::*;
pub use scaling::*;
pub use sections::*;

/// Instances of one version (`app.instances`), and the scale controller's `scale.max`, at
/// most. Every instance started in a run counts against the host's own limit,
/// [`crate::platform::local::host::MAX_INSTANCES_STARTED`].
pub const MAX_INSTANCES: u32 = 1000;

/// The longest `run.duration` (and `run.settle`), in scenario time: scaled like them, so a
/// run at time scale 1 lasts about a day at most.
pub const MAX_RUN_DURATION: Duration = Duration::from_secs(24 * 3600);

/// The largest time scale (`time_scale`, `--time-scale`): a run in slow motion, at most a
/// hundred times real time. Past it every scaled duration is beyond any run's length.
pub const MAX_TIME_SCALE: f64 = 100.0;

/// Probes per second (`probes.rate`) at most, per series.
pub const MAX_PROBE_RATE: u32 = 10_000;

/// A whole scenario, checked: its strategy and that strategy's settings are one value, so a
/// section for another strategy cannot exist. Written back (`scenario.toml`) in the file's
/// own form (its `Serialize` is beside that form, in `file.rs`).
#[derive(Clone, Debug, PartialEq)]
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
    /// Budgets learned from the history of runs (`[[budget]]`), checked when parsed.
    pub budget: Vec<BudgetTable>,
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

impl Scenario {
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
        let period = self.workload.period.0.as_nanos().max(1);
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

    /// The scenario's budgets (checked when it was parsed).
    pub fn budgets(&self) -> Vec<reports::budget::Budget> {
        self.budget.iter().filter_map(|b| b.budget().ok()).collect()
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("scenario")
    }
}

impl Scenario {
    /// The run has a fault that acts between the instances and the sink.
    pub fn has_sink_faults(&self) -> bool {
        self.faults.iter().any(|f| f.on_sink_path())
    }
}

#[cfg(test)]
mod tests;
