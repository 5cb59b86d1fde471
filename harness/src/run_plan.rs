//! A resolved run: one step turns the command line and the scenario file into everything a
//! run needs (the scenario, every duration scaled once, the strategy's plan, the work each
//! instance does, the program, the thresholds and the baseline), so that `run` and
//! `compare` share it and nothing downstream scales or looks anything up again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reports::threshold::Threshold;
use reports::Summary;

use crate::app::AppProgram;
use crate::duration::TimeScale;
use crate::platform::PlatformKind;
use crate::scenario::ScheduledFault;
use crate::scenario::{BudgetTable, Scenario};
use crate::strategy::Plan;
use crate::testfn::Work;

/// Connections the in-process sink serves at once: every instance alive at once (up to
/// `2 * scenario::MAX_INSTANCES` through an update, and a scale-out) keeps up to 4 idle
/// keep-alive connections to it and a few in flight, so the sink binary's default (1024, for
/// one app elsewhere) would be too few.
pub const SINK_MAX_CONNECTIONS: usize = 16 * 1024;

/// Everything one run needs, resolved from the command line and the scenario file.
#[derive(Clone, Debug)]
pub struct RunPlan {
    pub scenario: Scenario,
    /// The scenario file as given, for the record.
    pub scenario_path: String,
    pub out_dir: PathBuf,
    pub time_scale: f64,
    pub seed: u64,
    /// The function the instances run.
    pub program: AppProgram,
    /// Thresholds from the command line, checked with the scenario's own.
    pub extra_thresholds: Vec<reports::threshold::Threshold>,
    /// The baseline to compare with, loaded before the run.
    pub baseline: Option<BaselinePlan>,
    /// The scenario's and the command line's budgets, each with the reference its history
    /// set, read before the run.
    pub budgets: Vec<reports::budget::BudgetBasis>,
    /// Every duration of the run, scaled once.
    pub timing: Timing,
    /// The local platform's strategy, its durations scaled; `None` on a command platform.
    pub strategy: Option<Plan>,
    /// What every instance is started to do.
    pub work: Work,
    /// The scenario's `[[faults]]`, in order, as the run acts them out: durations scaled.
    pub faults: Vec<ScheduledFault>,
    /// The connections the run's own sink serves at once: [`SINK_MAX_CONNECTIONS`], which a
    /// test lowers to reach it.
    pub sink_max_connections: usize,
}

impl RunPlan {
    /// A plan with no extra thresholds and no baseline; everything the scenario's durations
    /// imply is scaled here, once.
    pub fn new(
        scenario: Scenario,
        scenario_path: impl Into<String>,
        out_dir: impl Into<PathBuf>,
        time_scale: f64,
        seed: u64,
        program: AppProgram,
    ) -> RunPlan {
        let timing = Timing::of(&scenario, time_scale);
        let w = &scenario.workload;
        let work = Work {
            items: w.items,
            item_delay: timing.item_delay,
            processing: timing.processing,
            submit_timeout: timing.submit_timeout,
            retries: w.retries,
            on_cancel: w.on_cancel,
            events: w.events.max(),
            fail_n: w.fail_n,
            heartbeat: scenario.app.heartbeat.0,
        };
        let scale = TimeScale(time_scale);
        RunPlan {
            strategy: Plan::from_scenario(&scenario, &|span| scale.span(span), seed),
            faults: scenario.faults.iter().map(|f| f.schedule(scale)).collect(),
            scenario,
            scenario_path: scenario_path.into(),
            out_dir: out_dir.into(),
            time_scale,
            seed,
            program,
            extra_thresholds: Vec::new(),
            baseline: None,
            budgets: Vec::new(),
            timing,
            work,
            sink_max_connections: SINK_MAX_CONNECTIONS,
        }
    }
}

impl RunPlan {
    /// The rules the run is judged by: the scenario's and the command line's thresholds.
    pub fn rules(&self) -> reports::judge::Rules {
        rules(&self.scenario, &self.extra_thresholds)
    }

    /// The scenario exactly as this plan runs it, its `scenario.toml`
    /// ([`Scenario::as_run`]): with the command line's thresholds after the scenario's
    /// own, and every budget written out in full.
    pub fn scenario_as_run(&self) -> Scenario {
        let mut s = self
            .scenario
            .as_run(self.time_scale, self.seed, &self.program);
        if let Some(e) = &mut s.expect {
            e.thresholds
                .extend(self.extra_thresholds.iter().map(|t| t.to_string()));
        }
        s.budget = self
            .budgets
            .iter()
            .map(|b| BudgetTable::from(&b.budget))
            .collect();
        s
    }

    /// The series the run belongs to in the history: the scenario as run, the platform and
    /// the strategy, as its row will be recorded.
    pub fn series(&self) -> history::Series {
        let text = toml::to_string(&self.scenario_as_run()).unwrap_or_default();
        history::Series {
            scenario_hash: history::record::scenario_hash(&text),
            platform: self.scenario.platform.kind.as_str().to_owned(),
            strategy: self.scenario.strategy.to_string(),
        }
    }

    /// Reads each budget's reference from the history store `target` (`None`: no store),
    /// as it stands now, before the run.
    fn read_budgets(&mut self, budgets: Vec<reports::budget::Budget>, target: Option<&str>) {
        if budgets.is_empty() {
            return;
        }
        // The hash leaves the budgets out: the series is the same before they are set.
        let series = self.series();
        let mut store = match target {
            Some(t) => history::Store::open(t).map_err(|e| e.to_string()),
            None => Err("no history store".to_owned()),
        };
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        self.budgets = budgets
            .iter()
            .map(|b| history::basis(store.as_mut().map_err(|e| e.clone()), &series, b, now_ns))
            .collect();
    }
}

/// The rules a run of `s` is judged by, `extra` thresholds after the scenario's own; a run
/// directory's `scenario.toml` (the scenario as run, its thresholds with the command
/// line's) gives the same rules with no `extra`.
pub fn rules(s: &Scenario, extra: &[Threshold]) -> reports::judge::Rules {
    let mut thresholds = s.thresholds();
    thresholds.extend(extra.iter().cloned());
    reports::judge::Rules {
        thresholds,
        control_max_ms: s.probes.control_max.0.as_secs_f64() * 1e3,
        // Not scaled: it bounds the probe client's own lag.
        max_send_lag_ms: s.probes.max_send_lag.0.as_secs_f64() * 1e3,
    }
}

/// Every duration a run uses, scaled by the time scale once, here, except those that are
/// real time by definition (process start-up, `run.ready_timeout`, `probes.max_send_lag`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub period: Duration,
    pub update_at: Duration,
    pub warmup: Duration,
    pub duration: Duration,
    pub settle: Duration,
    pub item_delay: Duration,
    pub processing: Duration,
    pub submit_timeout: Duration,
    pub late_after: Duration,
    pub cold_start: Duration,
    pub probe_timeout: Duration,
    pub queue_visibility: Duration,
    /// Longest a timer invocation may run before the host gives up on it: ten periods and
    /// 5 s of real time, so a slow start at a small scale is not taken for a hang.
    pub invoke_timeout: Duration,
    /// How long the front door waits for an instance: the platform's 230 s, scaled, but at
    /// least 1 s.
    pub door_timeout: Duration,
    /// Not scaled: process start-up is real time.
    pub ready_timeout: Duration,
    /// Not scaled: it bounds the probe client's own lag.
    pub max_send_lag: Duration,
    /// The app driver's lease time to live.
    pub lease_ttl: Duration,
    /// The completion estimate's `checkInterval` and `buffer`.
    pub check_interval: Duration,
    pub buffer: Duration,
    /// `run.rollback_at`, when the scenario rolls back by hand.
    pub rollback_at: Option<Duration>,
    /// `[analysis]`'s window and interval.
    pub analysis_window: Duration,
    pub analysis_interval: Duration,
    /// `[scale]`'s interval and cooldown, and the drained instances' graces it shares with
    /// the rolling update.
    pub scale_interval: Duration,
    pub scale_cooldown: Duration,
    pub scale_in_grace: Duration,
    pub http_grace: Duration,
    /// A bad release's `crash_after`.
    pub crash_after: Option<Duration>,
}

impl Timing {
    pub fn of(s: &Scenario, scale: f64) -> Timing {
        let period = s.workload.period.scaled(scale);
        let completion = s.completion_estimate().unwrap_or_default();
        // A section the scenario lacks has its defaults: its durations are then unused.
        let analysis = s.analysis.clone().unwrap_or_default();
        let scaling = s.scale.clone().unwrap_or_default();
        let rolling = s.rolling();
        Timing {
            period,
            update_at: s.run.update_at.scaled(scale),
            duration: s.run.duration.scaled(scale),
            settle: s.settle().scaled(scale),
            item_delay: s.workload.item_delay.scaled(scale),
            processing: s.workload.processing.scaled(scale),
            submit_timeout: s.workload.submit_timeout.scaled(scale),
            late_after: s.late_after().scaled(scale),
            cold_start: s.app.cold_start.scaled(scale),
            // Against a real platform the network is real: a probe's timeout does not scale.
            probe_timeout: if s.capabilities().real_network {
                s.probes.timeout.0
            } else {
                s.probes.timeout.scaled(scale)
            },
            warmup: s.run.warmup.scaled(scale),
            queue_visibility: s.queue_settings().visibility.scaled(scale),
            // Saturating: a period scaled to `Duration::MAX` must not panic here.
            invoke_timeout: period
                .saturating_mul(10)
                .saturating_add(Duration::from_secs(5)),
            door_timeout: crate::duration::Span::from_secs(230)
                .scaled(scale)
                .max(Duration::from_secs(1)),
            ready_timeout: s.run.ready_timeout.0,
            max_send_lag: s.probes.max_send_lag.0,
            lease_ttl: s
                .workload
                .lease_ttl
                .unwrap_or(crate::duration::Span::from_secs(3))
                .scaled(scale),
            check_interval: completion.check_interval.scaled(scale),
            buffer: completion.buffer.scaled(scale),
            rollback_at: s.run.rollback_at.map(|at| at.scaled(scale)),
            analysis_window: analysis.window.scaled(scale),
            analysis_interval: analysis.interval.scaled(scale),
            scale_interval: scaling.interval.scaled(scale),
            scale_cooldown: scaling.cooldown.scaled(scale),
            scale_in_grace: rolling.scale_in_grace.scaled(scale),
            http_grace: rolling.http_grace.scaled(scale),
            crash_after: s
                .app
                .to_behaviour
                .as_ref()
                .and_then(|b| b.crash_after)
                .map(|c| c.scaled(scale)),
        }
    }
}

/// A baseline the run is compared with: its summary, read before the run so that a missing
/// one is a usage error rather than a failed run.
#[derive(Clone, Debug)]
pub struct BaselinePlan {
    /// As the user named it (`main`, or a directory).
    pub name: String,
    pub summary: Summary,
    pub tolerances: Vec<reports::baseline::Tolerance>,
    /// `--max-regression` as given, which the run's record keeps.
    pub max_regression: String,
}

/// What the command line adds to a scenario file; `run` and `compare` share it.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions<'a> {
    pub time_scale: Option<f64>,
    pub seed: Option<u64>,
    pub app_command: Option<&'a Path>,
    pub expect: &'a [String],
    pub baseline: Option<&'a str>,
    pub max_regression: Option<&'a str>,
    /// Runs a local-platform scenario on this platform instead (`--platform sim`).
    pub platform: Option<PlatformKind>,
    /// `--budget`, checked with the scenario's `[[budget]]` tables.
    pub budgets: &'a [String],
    /// The history store the budgets read their references from.
    pub history: Option<&'a str>,
}

/// Resolves one run from a scenario file and the command line, with no I/O but reading a
/// baseline and checking the app exists: every error is a usage error (exit 2).
pub fn resolve(
    path: &Path,
    scenario: &Scenario,
    out_dir: PathBuf,
    o: &PlanOptions,
) -> Result<RunPlan, String> {
    let mut budgets = scenario.budgets();
    for text in o.budgets {
        let b = text
            .parse::<reports::budget::Budget>()
            .map_err(|e| format!("--budget {text:?}: {} at byte {}", e.what, e.at))?;
        budgets.push(b);
    }
    let mut extra_thresholds = Vec::new();
    for text in o.expect {
        let t = text
            .parse::<Threshold>()
            .map_err(|e| format!("--expect {text:?}: {} at byte {}", e.what, e.at))?;
        extra_thresholds.push(t);
    }
    let moved;
    let scenario = match o.platform {
        Some(kind) if kind != scenario.platform.kind => {
            moved = on_platform(path, scenario, kind)?;
            &moved
        }
        _ => scenario,
    };
    let time_scale = o.time_scale.unwrap_or(scenario.time_scale);
    if !(time_scale > 0.0 && time_scale <= crate::scenario::MAX_TIME_SCALE) {
        return Err(format!(
            "--time-scale must be a positive number of at most {}",
            crate::scenario::MAX_TIME_SCALE
        ));
    }
    probes_fit(path, scenario, time_scale)?;
    let program = AppProgram::resolve(o.app_command, scenario.app.command.as_deref())
        .map_err(|e| e.to_string())?;
    let baseline = match o.baseline {
        None => None,
        Some(name) => {
            let tolerances = match o.max_regression {
                None => Vec::new(),
                Some(spec) => reports::baseline::parse_tolerances(spec)
                    .map_err(|e| format!("--max-regression {e}"))?,
            };
            let dir = baselines().resolve(name);
            let missing = || {
                format!(
                    "--baseline {name}: no summary.json in {} (save one with --save-baseline \
                     NAME, or name a run directory)",
                    dir.display()
                )
            };
            let summary = reports::RunDir::new(&dir)
                .read_summary()
                .map_err(|e| format!("--baseline {name}: {e}"))?
                .ok_or_else(missing)?;
            Some(BaselinePlan {
                name: name.to_owned(),
                summary,
                tolerances,
                max_regression: o.max_regression.unwrap_or_default().to_owned(),
            })
        }
    };
    let seed = o.seed.unwrap_or(scenario.seed);
    let mut plan = RunPlan::new(
        scenario.clone(),
        path.display().to_string(),
        out_dir,
        time_scale,
        seed,
        program,
    );
    plan.extra_thresholds = extra_thresholds;
    plan.baseline = baseline;
    plan.read_budgets(budgets, o.history);
    Ok(plan)
}

/// The scenario on platform `kind` (`--platform`), checked again against that platform's
/// capabilities. Only the local emulator's scenarios move, between it, the virtual-time
/// platform and the Docker platform: all three run the harness's own host, and a command
/// platform's scenario names commands that only its platform runs.
fn on_platform(path: &Path, scenario: &Scenario, kind: PlatformKind) -> Result<Scenario, String> {
    let movable = |k: PlatformKind| {
        matches!(
            k,
            PlatformKind::Local | PlatformKind::Sim | PlatformKind::Docker
        )
    };
    if !movable(kind) || !movable(scenario.platform.kind) {
        return Err(format!(
            "--platform {}: {} runs on the {} platform; only the local platform's scenarios \
             run on another (local, sim or docker)",
            kind.as_str(),
            path.display(),
            scenario.platform.kind.as_str()
        ));
    }
    let mut moved = scenario.clone();
    moved.platform.kind = kind;
    let refused = |key: String, why: String| {
        format!(
            "--platform {}: {}: key `{key}`: {why}",
            kind.as_str(),
            path.display()
        )
    };
    moved
        .validate()
        .map_err(|(k, why)| refused(k.to_owned(), why))?;
    moved
        .validate_faults()
        .map_err(|(i, k, why)| refused(format!("faults[{i}].{k}"), why))?;
    Ok(moved)
}

/// Refuses a run whose probes would not fit in `probes.csv` as the reports load it
/// ([`reports::rundir::MAX_ROWS_LOADED`] rows): every series (`reused`, `new`, `control`)
/// sends `probes.rate` probes a real second for the scaled `run.duration`. Checked here, not
/// in the scenario, because the time scale is only known now.
fn probes_fit(path: &Path, scenario: &Scenario, time_scale: f64) -> Result<(), String> {
    let p = &scenario.probes;
    let series = u32::from(p.connections > 0) + u32::from(p.new_connections) + u32::from(p.control);
    let seconds = scenario.run.duration.0.as_secs_f64() * time_scale;
    let rows = f64::from(p.rate) * f64::from(series) * seconds;
    let limit = reports::rundir::MAX_ROWS_LOADED;
    if rows <= limit as f64 {
        return Ok(());
    }
    Err(format!(
        "{}: key `probes.rate`: {} a second in {series} series for {seconds:.0} s (run.duration \
         {} at time scale {time_scale}) is {rows:.0} probes, more than the {limit} rows the \
         reports load whole; lower probes.rate, run.duration or the time scale",
        path.display(),
        p.rate,
        scenario.run.duration,
    ))
}

/// Where `--save-baseline NAME` keeps a baseline, and `--baseline NAME` finds it.
pub const BASELINES_DIR: &str = "runs/baselines";

/// The saved baselines, in [`BASELINES_DIR`].
pub fn baselines() -> reports::Baselines {
    reports::Baselines::new(BASELINES_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_whose_probes_would_pass_the_rows_the_reports_load_is_refused() {
        let text = r#"
strategy = "swap"

[workload]
period = "10s"
items = 10
item_delay = "1s"

[run]
update_at = "62s"
duration = "24h"
"#;
        let path = Path::new("scenarios/long.toml");
        let scenario = Scenario::parse(path, text).unwrap();
        let options = |time_scale| PlanOptions {
            time_scale: Some(time_scale),
            app_command: Some(Path::new("/bin/sh")),
            ..PlanOptions::default()
        };
        // 100 a second in 2 series (reused, control) for 24 h: 17,280,000 probes.
        let e = resolve(path, &scenario, "out".into(), &options(1.0)).unwrap_err();
        assert!(
            e.starts_with("scenarios/long.toml: key `probes.rate`"),
            "{e}"
        );
        assert!(
            e.contains("17280000 probes") && e.contains("5000000 rows"),
            "{e}"
        );
        // At a tenth of real time they fit.
        assert!(resolve(path, &scenario, "out".into(), &options(0.1)).is_ok());
    }
}
