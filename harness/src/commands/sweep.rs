//! `harness sweep SCENARIO... --vary KEY=SPEC...`: the scenarios at every point of a grid
//! of settings, each point a comparison of its own (`OUT/POINT/NAME/run-K`, run as
//! `harness compare` runs one), and every metric against the settings. The grid is
//! [`crate::vary`], a scenario with keys set [`crate::scenario::edit::ScenarioText`]; the
//! analysis is [`reports::sweep`], the files [`reports::sweep_report`].

use std::path::{Path, PathBuf};

use reports::advice::{AdviceOptions, Priorities, RunData, DEFAULT_ALPHA};
use reports::sweep::{self, Axis, AxisValue, Manifest, RangeAdvice, ScenarioEntry, SweepRun};
use reports::sweep_report;

use super::batch::{jobs, run_jobs, Finished, Job, Stopped};
use super::{EXIT_INTERRUPTED, EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE};
use crate::cli::SweepArgs;
use crate::scenario::edit::ScenarioText;
use crate::scenario::Scenario;
use crate::vary::{grid, Point, Vary};

/// Where a sweep goes without `--out`: `runs/sweep-UNIXTIME`.
pub fn default_out() -> PathBuf {
    PathBuf::from("runs").join(format!("sweep-{}", sink::clock::now_ns() / 1_000_000_000))
}

/// Everything a sweep runs, resolved before the first run starts.
struct Resolved {
    manifest: Manifest,
    jobs: Vec<Job>,
    /// Each job's point, by index into the manifest's points.
    points: Vec<usize>,
}

pub fn run(args: SweepArgs) -> u8 {
    let out = args.out.clone().unwrap_or_else(default_out);
    let priorities: Priorities = match args.priority.parse() {
        Ok(p) => p,
        Err(e) => {
            errln!("harness sweep: --priority: {e}");
            return EXIT_USAGE;
        }
    };
    let resolved = match resolve(&args, &out) {
        Ok(r) => r,
        Err(e) => {
            errln!("harness sweep: {e}");
            return EXIT_USAGE;
        }
    };
    let Resolved {
        manifest,
        jobs,
        points,
    } = resolved;
    if args.batch.dry_run {
        super::batch::print_plan("harness sweep", &jobs, args.batch.jobs);
        return EXIT_OK;
    }
    let finished = match run_jobs(jobs, args.batch.jobs) {
        Ok(f) => {
            super::batch::record_history(&f, &args.batch.history);
            f
        }
        Err(Stopped::Runtime(e)) => {
            errln!("harness sweep: starting the runtime: {e}");
            return EXIT_INVALID_RUN;
        }
        Err(Stopped::Interrupted) => {
            errln!(
                "harness sweep: interrupted; runs so far are in {}",
                out.display()
            );
            return EXIT_INTERRUPTED;
        }
    };
    let threshold_failed = finished
        .iter()
        .any(|f| !f.record.threshold_failures.is_empty());
    let runs: Vec<SweepRun> = finished
        .into_iter()
        .zip(points)
        .map(|(f, point)| sweep_run(f, point))
        .collect();
    let options = AdviceOptions {
        priorities,
        cases: Vec::new(),
        alpha: DEFAULT_ALPHA,
    };
    // Every case present at a point is weighed, so the advice cannot refuse its options.
    let advice = sweep::range(&manifest, &runs, &options).ok();
    let result = sweep::analyse(manifest, &runs);
    if let Err(e) = write(&out, &result, advice.as_ref()) {
        errln!(
            "harness sweep: writing the sweep into {}: {e}",
            out.display()
        );
        return EXIT_INVALID_RUN;
    }
    out!("{}", sweep_report::markdown(&result, advice.as_ref()));
    outln!("\nsweep: {}", out.join(sweep_report::HTML_FILE).display());
    if result.cells.iter().any(|c| c.failed.len() == c.runs) {
        errln!("harness sweep: every run of some scenario at some point failed");
        return EXIT_INVALID_RUN;
    }
    if threshold_failed {
        return EXIT_THRESHOLD;
    }
    EXIT_OK
}

/// The grid, the scenarios at each point and every run, or why not (a usage error).
fn resolve(args: &SweepArgs, out: &Path) -> Result<Resolved, String> {
    let keys: Vec<Vary> = args
        .vary
        .iter()
        .map(|v| v.parse::<Vary>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let grid = grid(&keys)?;
    let mut sources = Vec::new();
    for path in &args.scenarios {
        let (text, base) = ScenarioText::load(path).map_err(|e| e.to_string())?;
        if sources
            .iter()
            .any(|(_, _, b): &(PathBuf, ScenarioText, Scenario)| b.name() == base.name())
        {
            return Err(format!(
                "two scenarios are named {:?}; their runs would share a directory",
                base.name()
            ));
        }
        // Each value alone first, so that a refusal names the one key and value at fault.
        for v in &keys {
            for value in &v.values {
                text.with(&[(&v.key, value)])
                    .map_err(|e| format!("--vary {}={value}: {e}", v.key))?;
            }
        }
        sources.push((path.clone(), text, base));
    }
    args.batch.check()?;
    if out.join(sweep_report::CSV_FILE).exists() {
        return Err(format!(
            "{} already holds a sweep; choose another --out",
            out.display()
        ));
    }
    let options = args.batch.plan_options();
    let (mut all, mut points) = (Vec::new(), Vec::new());
    for (index, point) in grid.iter().enumerate() {
        let scenarios = at_point(&keys, point, &sources)?;
        let here = jobs(
            &scenarios,
            args.batch.repeat,
            &out.join(&point.label),
            &options,
            &format!("{} ", point.label),
        )
        .map_err(|e| format!("at {}: {e}", point.label))?;
        points.extend(std::iter::repeat_n(index, here.len()));
        all.extend(here);
    }
    let entries = sources
        .iter()
        .map(|(path, _, s)| ScenarioEntry {
            name: s.name().to_owned(),
            strategy: s.strategy.to_string(),
            file: path.display().to_string(),
        })
        .collect();
    let manifest = Manifest::new(
        axes(&keys),
        manifest_points(&grid),
        entries,
        args.batch.repeat,
    );
    Ok(Resolved {
        manifest,
        jobs: all,
        points,
    })
}

/// Every scenario with the point's values set.
fn at_point(
    keys: &[Vary],
    point: &Point,
    sources: &[(PathBuf, ScenarioText, Scenario)],
) -> Result<Vec<(PathBuf, Scenario)>, String> {
    let settings: Vec<(&str, &crate::vary::Setting)> = keys
        .iter()
        .zip(&point.at)
        .map(|(v, &i)| (v.key.as_str(), &v.values[i]))
        .collect();
    sources
        .iter()
        .map(|(path, text, _)| {
            text.with(&settings)
                .map(|s| (path.clone(), s))
                .map_err(|e| format!("at {}: {e}", point.label))
        })
        .collect()
}

fn axes(keys: &[Vary]) -> Vec<Axis> {
    keys.iter()
        .map(|v| Axis {
            key: v.key.clone(),
            unit: v.unit().map(str::to_owned),
            values: v
                .values
                .iter()
                .map(|s| AxisValue {
                    text: s.to_string(),
                    x: s.x(),
                })
                .collect(),
        })
        .collect()
}

fn manifest_points(grid: &[Point]) -> Vec<sweep::Point> {
    grid.iter()
        .map(|p| sweep::Point {
            label: p.label.clone(),
            at: p.at.clone(),
        })
        .collect()
}

/// A finished run as the sweep reads it: from its summary, as advise reads a comparison's
/// runs, or, without one, failed for the reason the runner gave.
fn sweep_run(f: Finished, point: usize) -> SweepRun {
    let r = &f.record;
    let label = format!("{}/run-{}", r.scenario, r.repetition);
    let data = match &f.summary {
        Some(summary) => RunData::from_summary(&label, &r.scenario, summary),
        None => RunData {
            run: label,
            scenario: r.scenario.clone(),
            strategy: Some(r.strategy.clone()),
            case: Some(f.case.clone()),
            invalid: vec![r.outcome.clone().err().unwrap_or_default()],
            ..RunData::default()
        },
    };
    SweepRun {
        point,
        data,
        threshold_failures: r.threshold_failures.clone(),
    }
}

/// `sweep.json`, `sweep.csv`, `sweep.md`, `sweep.html`, the PNGs and `sweep-advice.json`
/// in `out`.
fn write(out: &Path, result: &sweep::Sweep, advice: Option<&RangeAdvice>) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(out).map_err(io)?;
    let manifest = serde_json::to_string_pretty(&result.manifest).map_err(|e| e.to_string())?;
    std::fs::write(out.join(sweep::SWEEP_FILE), manifest + "\n").map_err(io)?;
    std::fs::write(out.join(sweep_report::CSV_FILE), sweep_report::csv(result)).map_err(io)?;
    std::fs::write(
        out.join(sweep_report::MARKDOWN_FILE),
        sweep_report::markdown(result, advice),
    )
    .map_err(io)?;
    std::fs::write(
        out.join(sweep_report::HTML_FILE),
        sweep_report::html(result, advice)?,
    )
    .map_err(io)?;
    sweep_report::write_pngs(result, out)?;
    if let Some(a) = advice {
        let json = sweep_report::advice_json(a).map_err(|e| e.to_string())?;
        std::fs::write(out.join(sweep_report::ADVICE_FILE), json).map_err(io)?;
    }
    Ok(())
}
