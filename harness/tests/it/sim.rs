//! The virtual-time platform (`--platform sim`): the same seed gives the same run
//! directory, byte for byte, within one process and across two; a failed run prints the
//! command that replays it, and that command does; and on every committed local-platform
//! scenario it agrees with the emulator, the reference, run live beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::commands::calibrate::{self, Samples};
use harness::platform::PlatformKind;
use harness::run_plan::{resolve, PlanOptions, RunPlan};
use harness::runner::{self, RunOptions};
use harness::scenario::Scenario;
use reports::{LedgerEvent, RunDir, Summary};
use tokio_util::sync::CancellationToken;

use crate::common::{harness, scenarios, testfn, text};

/// Every file under `dir`, by its path inside it.
fn files_of(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                into.insert(path.strip_prefix(root).unwrap().to_owned(), bytes);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// The two directories hold the same files with the same bytes; on a difference, which
/// file and its first differing line.
fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (files_of(a), files_of(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files in {} and {}",
        a.display(),
        b.display()
    );
    assert!(fa.len() > 10, "a whole run directory: {:?}", fa.keys());
    for (name, bytes) in &fa {
        if bytes != &fb[name] {
            let (ta, tb) = (text(bytes), text(&fb[name]));
            let first = ta
                .lines()
                .zip(tb.lines())
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!("{x}\n  vs\n{y}"));
            panic!("{} differs: {first:?}", name.display());
        }
    }
}

fn load(name: &str) -> (PathBuf, Scenario) {
    let path = scenarios().join(name);
    let scenario = Scenario::load(&path).unwrap();
    (path, scenario)
}

/// The scenario's plan on `platform`, at `time_scale`, into `out`, with the budgets of a busy
/// machine.
fn plan_on(name: &str, platform: PlatformKind, time_scale: f64, out: &Path) -> RunPlan {
    plan_with(name, platform, time_scale, out, true)
}

fn plan_with(
    name: &str,
    platform: PlatformKind,
    time_scale: f64,
    out: &Path,
    busy: bool,
) -> RunPlan {
    let (path, scenario) = load(name);
    let options = PlanOptions {
        time_scale: Some(time_scale),
        platform: Some(platform),
        ..PlanOptions::default()
    };
    let mut scenario = scenario;
    if busy {
        // Budgets a busy test machine cannot break, the same on both platforms.
        crate::common::for_busy_machine(&mut scenario);
    }
    let mut plan = resolve(&path, &scenario, out.to_owned(), &options).unwrap();
    if platform == PlatformKind::Local {
        // The emulator runs real processes of the standalone test function.
        plan.program = testfn().into();
    }
    plan
}

/// A run on the sim, on a runtime of its own as `harness run` gives it.
fn run_sim(plan: RunPlan) -> Summary {
    runner::run_blocking(plan, CancellationToken::new(), RunOptions::default())
        .expect("the run starts")
        .summary
}

#[test]
fn a_seed_gives_the_same_run_directory_in_one_process_and_across_two() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "seed-swap.toml",
        "queue-rolling.toml",
        "flex-rolling-scale.toml",
    ] {
        let (a, b, c) = (
            dir.path().join(format!("{name}-a")),
            dir.path().join(format!("{name}-b")),
            dir.path().join(format!("{name}-c")),
        );
        let first = run_sim(plan_with(name, PlatformKind::Sim, 0.1, &a, false));
        assert!(first.invalid.is_empty(), "{name}: {:?}", first.invalid);
        run_sim(plan_with(name, PlatformKind::Sim, 0.1, &b, false));
        assert_same_files(&a, &b);
        let path = scenarios().join(name);
        let out = harness(&[
            "run",
            path.to_str().unwrap(),
            "--platform",
            "sim",
            "--time-scale",
            "0.1",
            "--quiet",
            "--out",
            c.to_str().unwrap(),
        ]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            text(&out.stderr)
        );
        assert_same_files(&a, &c);
    }
}

#[test]
fn a_failed_run_prints_the_command_that_replays_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let path = scenarios().join("seed-swap.toml");
    // The swap loses two items: a threshold of none fails.
    let out = harness(&[
        "run",
        path.to_str().unwrap(),
        "--platform",
        "sim",
        "--seed",
        "7",
        "--time-scale",
        "0.1",
        "--expect",
        "lost == 0",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let replay = stderr
        .lines()
        .skip_while(|l| !l.contains("replay this run exactly with:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no replay command in {stderr}"))
        .trim()
        .to_owned();
    // The command as a shell reads it: its words are plain or single-quoted.
    let words = shell_words(&replay);
    assert_eq!(words[..2], ["harness", "run"], "{replay}");
    assert!(replay.contains("--seed 7"), "{replay}");
    assert!(replay.contains("--expect 'lost == 0'"), "{replay}");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let again = harness(&args);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    let replayed = PathBuf::from(format!("{}-replay", out_dir.display()));
    assert_same_files(&out_dir, &replayed);
    let summary = RunDir::new(&replayed).read_summary().unwrap().unwrap();
    assert_eq!(summary.run.seed, Some(7));
    assert_eq!(summary.verdict.lost, 2);
}

/// Splits a command line of plain and single-quoted words.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// The committed scenarios of the local platform, by folder.
fn local_scenarios(pattern: &str) -> Vec<String> {
    let root = scenarios();
    let (folder, prefix) = pattern.split_once('/').unwrap_or(("", pattern));
    let mut names: Vec<String> = std::fs::read_dir(root.join(folder))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".toml"))
        .map(|n| {
            if folder.is_empty() {
                n
            } else {
                format!("{folder}/{n}")
            }
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "scenarios match {pattern}");
    names
}

/// What the two platforms must agree on exactly: each lost item with its version and
/// cause, each duplicated and late item's key (which instance delivered it, and how late
/// to the nanosecond, are the machine's), the unexpected count, and whether the run was
/// valid. An invalid run is compared by that alone: nothing in it is judged.
fn items(s: &Summary) -> serde_json::Value {
    let v = &s.verdict;
    if !s.invalid.is_empty() {
        return serde_json::json!({ "valid": false });
    }
    let keys = |items: Vec<(&str, u64, u64)>| -> Vec<String> {
        items
            .iter()
            .map(|(s, m, n)| format!("{s}({m},{n})"))
            .collect()
    };
    serde_json::json!({
        "lost": v.lost_items,
        "duplicated": keys(v.duplicated_items.iter().map(|i| (i.source.as_str(), i.m, i.n)).collect()),
        "late": keys(v.late_items.iter().map(|i| (i.source.as_str(), i.m, i.n)).collect()),
        "unexpected": v.unexpected,
        "valid": true,
    })
}

/// The emulator's own start-up time in a run: the longest an instance took from its launch
/// to ready beyond the scenario's cold start, in ms.
fn startup_ms(ledger: &[LedgerEvent], cold_start_ms: f64) -> f64 {
    use reports::ledger::Kind;
    let mut started = BTreeMap::new();
    let mut longest: f64 = 0.0;
    for e in ledger {
        match e.event {
            Kind::InstanceStarted => {
                started.insert(e.instance.clone(), e.t_ns);
            }
            Kind::InstanceReady => {
                if let Some(t) = started.get(&e.instance) {
                    longest = longest.max((e.t_ns - t) as f64 / 1e6 - cold_start_ms);
                }
            }
            _ => {}
        }
    }
    longest
}

/// Runs each scenario on the emulator (real processes), then on the sim at the same time
/// scale on the emulator run's own machine (`harness calibrate --replay`: each instance's
/// start and exit as the emulator measured them), and holds each pair together: the same
/// items with the same causes, and downtime and update duration within one probe interval
/// plus the emulator's own start-up time. A scenario the sim cannot run (a sink-path fault
/// needs a real proxy) must be refused before anything runs. With `predict`, the sim's
/// model is instead fitted to the emulator's runs of the *other* scenarios: the sim
/// predicts a scenario it was not calibrated on.
fn assert_agree(names: &[String], predict: bool) {
    // The quick start's scale: CI's whole run must stay under 15 minutes, and these ~40
    // emulator runs are most of it. The slack below scales with the emulator's own
    // start-up, not with the time scale.
    const SCALE: f64 = 0.05;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut pending: Vec<(String, Scenario, PathBuf)> = Vec::new();
    let mut emulated = tokio::task::JoinSet::new();
    // One emulator run at a time: two or more at once on two cores move the emulator's own
    // results (a pause's stall, a drain's update), which is the machine, not the sim.
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    for name in names {
        let index = pending.len();
        let (path, scenario) = load(name);
        let out = dir.path().join(name.replace('/', "-"));
        if scenario.faults.iter().any(|f| f.on_sink_path()) {
            let options = PlanOptions {
                platform: Some(PlatformKind::Sim),
                ..PlanOptions::default()
            };
            let refused = resolve(&path, &scenario, out, &options)
                .err()
                .unwrap_or_default();
            assert!(refused.contains("needs a proxy"), "{name}: {refused}");
            continue;
        }
        let plan = plan_on(name, PlatformKind::Local, SCALE, &out.join("emu"));
        let permits = permits.clone();
        emulated.spawn_on(
            async move {
                let _permit = permits.acquire_owned().await.unwrap();
                let run = runner::run(plan, CancellationToken::new()).await;
                (index, run.expect("the emulator's run starts").summary)
            },
            runtime.handle(),
        );
        pending.push((name.clone(), scenario, out));
    }
    let done = runtime.block_on(async move {
        let mut done = Vec::new();
        while let Some(joined) = emulated.join_next().await {
            done.push(joined.unwrap());
        }
        done
    });
    let finished: BTreeMap<usize, Summary> = done.into_iter().collect();
    let runs: Vec<(String, Scenario, PathBuf, Summary)> = pending
        .into_iter()
        .zip(finished.into_values())
        .map(|((name, scenario, out), summary)| (name, scenario, out, summary))
        .collect();
    for (_, _, out, _) in &runs {
        std::fs::rename(out.join("emu"), out.join("emu-1")).unwrap();
    }
    let mut disagreements = Vec::new();
    for (name, scenario, out, emu) in &runs {
        // The emulator is the reference, and it varies with the machine (a start-up that
        // took longer, a lease that went to the other instance): when the sim disagrees with
        // its run, the emulator runs again, up to twice, and the sim must agree with one of
        // its runs. Every run's differences are said when none agrees.
        let mut said = Vec::new();
        for attempt in 1..=3 {
            let emu_dir = out.join(format!("emu-{attempt}"));
            let emu = if attempt == 1 {
                emu.clone()
            } else {
                let plan = plan_on(name, PlatformKind::Local, SCALE, &emu_dir);
                runtime
                    .block_on(runner::run(plan, CancellationToken::new()))
                    .expect("the emulator's run starts")
                    .summary
            };
            let mut samples = Samples::default();
            let model = if predict {
                for (_, _, other, _) in runs.iter().filter(|r| &r.0 != name) {
                    calibrate::read(&other.join("emu-1"), &mut samples).unwrap();
                }
                calibrate::fit(&samples)
            } else {
                calibrate::read(&emu_dir, &mut samples).unwrap();
                calibrate::fit_replay(&samples)
            };
            let mut plan = plan_on(
                name,
                PlatformKind::Sim,
                SCALE,
                &out.join(format!("sim-{attempt}")),
            );
            plan.scenario.platform.sim = Some(model);
            let sim = run_sim(plan);
            let ledger = RunDir::new(&emu_dir).read_ledger().unwrap();
            let differ = differences(name, scenario, &emu, &sim, &ledger);
            if differ.is_empty() {
                said.clear();
                break;
            }
            said.push(format!("emulator run {attempt}:\n{}", differ.join("\n")));
        }
        disagreements.extend(said);
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// How the sim's run differs from the emulator's, beyond the slack: one probe interval plus
/// the emulator's own start-up time (a probe interval more per downtime window).
fn differences(
    name: &str,
    scenario: &Scenario,
    emu: &Summary,
    sim: &Summary,
    ledger: &[LedgerEvent],
) -> Vec<String> {
    let mut differ = Vec::new();
    let scale = emu.run.time_scale.unwrap_or(1.0);
    let cold_start_ms = scenario.app.cold_start.0.as_secs_f64() * 1e3 * scale;
    let probe_ms = 1e3 / f64::from(scenario.probes.rate);
    let slack_ms = probe_ms + startup_ms(ledger, cold_start_ms);
    let (ie, is) = (items(emu), items(sim));
    if ie != is {
        differ.push(format!(
            "{name}: items differ:\n emulator {ie}\n sim      {is}"
        ));
    }
    let near = |what: &str, e: Option<f64>, s: Option<f64>, slack: f64| match (e, s) {
        (Some(e), Some(s)) if (e - s).abs() > slack => Some(format!(
            "{name}: {what} {e:.1} ms on the emulator, {s:.1} on the sim (slack {slack:.1})"
        )),
        (e, s) if e.is_some() != s.is_some() => Some(format!(
            "{name}: {what} {e:?} on the emulator, {s:?} on the sim"
        )),
        _ => None,
    };
    let (de, ds) = (&emu.verdict.downtime, &sim.verdict.downtime);
    let windows = de.windows.max(ds.windows).max(1) as f64;
    differ.extend(near(
        "downtime total",
        Some(de.total_ms),
        Some(ds.total_ms),
        slack_ms + (windows - 1.0) * probe_ms,
    ));
    differ.extend(near(
        "downtime max",
        Some(de.max_ms),
        Some(ds.max_ms),
        slack_ms,
    ));
    // The update's own start-ups: each instance it started cost the emulator its start-up
    // time, one after another (a release that never becomes ready is started again and again).
    let started_in_update = update_window(ledger).map_or(1, |(from, to)| {
        ledger
            .iter()
            .filter(|e| e.event == reports::ledger::Kind::InstanceStarted)
            .filter(|e| (from..=to).contains(&e.t_ns))
            .count()
            .max(1)
    });
    differ.extend(near(
        "update duration",
        emu.run.update_duration_ms,
        sim.run.update_duration_ms,
        probe_ms + startup_ms(ledger, cold_start_ms) * started_in_update as f64,
    ));
    differ
}

/// When the emulator's update phase began and ended, in its ledger.
fn update_window(ledger: &[LedgerEvent]) -> Option<(i64, i64)> {
    use reports::ledger::Kind;
    let at = |kind: Kind| {
        ledger
            .iter()
            .find(|e| e.event == kind && e.get("phase") == Some("update"))
            .map(|e| e.t_ns)
    };
    Some((at(Kind::PhaseBegun)?, at(Kind::PhaseEnded)?))
}

#[test]
fn the_sim_agrees_with_the_emulator_on_the_seed_scenarios() {
    assert_agree(&local_scenarios("seed-"), false);
}

#[test]
fn the_sim_calibrated_on_other_runs_predicts_the_emulator() {
    // Each is predicted by the model fitted to the other three's runs.
    let names = [
        "seed-drain.toml",
        "seed-rolling.toml",
        "seed-recreate.toml",
        "seed-graceful.toml",
    ]
    .map(str::to_owned);
    assert_agree(&names, true);
}

#[test]
fn the_sim_agrees_with_the_emulator_on_the_queue_and_flex_scenarios() {
    let mut names = local_scenarios("queue-");
    names.extend(local_scenarios("flex-"));
    assert_agree(&names, false);
}

#[test]
fn the_sim_agrees_with_the_emulator_on_the_bad_releases() {
    assert_agree(&local_scenarios("releases/"), false);
}

#[test]
fn the_sim_agrees_with_the_emulator_on_the_faults() {
    assert_agree(&local_scenarios("faults/"), false);
}
