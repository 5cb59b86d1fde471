//! The virtual-time platform against the reference, the emulator run live beside it: on
//! every committed local-platform scenario (`seed-*`, `queue-*`, `flex-*`, `releases/`,
//! `faults/`) the same lost, duplicated and late items with the same causes, and downtime
//! and update duration within one probe interval plus the emulator's own costs; and the
//! sim calibrated on the other seed scenarios' runs predicts each one.
//!
//! A test binary of its own, run before the integration suite (`it`) and never beside it:
//! two tests, each running its emulator runs one at a time (the seed, queue, Flex and
//! fault scenarios; the bad releases, about the same length of runs each), so two emulator
//! runs at a time and nothing else. With the rest of the suite beside them on a third test
//! thread, a drain's update moved 20 ms past the sim's prediction: the machine, not the
//! sim. When the sim disagrees with an emulator run, the emulator runs again, up to twice,
//! and the sim must agree with one of its runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::commands::calibrate::{self, Samples};
use harness::platform::PlatformKind;
use harness::run_plan::{resolve, PlanOptions, RunPlan};
use harness::runner;
use harness::scenario::Scenario;
use reports::{LedgerEvent, RunDir, Summary};
use tokio_util::sync::CancellationToken;

// The integration suite's shared helpers; this binary uses a few of them.
#[allow(dead_code)]
#[path = "it/common.rs"]
mod common;

use common::{load, plan_with, run_sim, scenarios};

/// The scenario's plan on `platform`, at `time_scale`, into `out`, with the budgets of a busy
/// machine.
fn plan_on(name: &str, platform: PlatformKind, time_scale: f64, out: &Path) -> RunPlan {
    plan_with(name, platform, time_scale, out, true)
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

/// Runs each scenario on the emulator (real processes), one at a time, then on the sim at
/// the same time scale on the emulator run's own machine (`harness calibrate --replay`:
/// each instance's start and exit as the emulator measured them), and holds each pair
/// together: the same items with the same causes, and downtime and update duration within
/// one probe interval plus the emulator's own costs. A scenario the sim cannot run (a
/// sink-path fault needs a real proxy) must be refused before anything runs. Each of
/// `predicted` is then held again against the sim fitted to the emulator's runs of the
/// *other* predicted scenarios: the sim predicts a scenario it was not calibrated on.
fn assert_agree(names: &[String], predicted: &[String]) {
    // At 0.1 an item is due every 100 ms: wide enough that the emulator's own lag on a
    // busy machine (a swap 20-30 ms slower than the sim's model on CI, at 0.05 with items
    // 50 ms apart, beside three test threads) does not move an item across the kill. The
    // test starts first and runs beside the rest of the suite.
    const SCALE: f64 = 0.1;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut runs: Vec<(String, Scenario, PathBuf, Summary)> = Vec::new();
    for name in names {
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
        let plan = plan_on(name, PlatformKind::Local, SCALE, &out.join("emu-1"));
        let summary = runtime
            .block_on(runner::run(plan, CancellationToken::new()))
            .expect("the emulator's run starts")
            .summary;
        runs.push((name.clone(), scenario, out, summary));
    }
    let mut disagreements = Vec::new();
    let modes = runs.iter().map(|r| (r, false)).chain(
        runs.iter()
            .filter(|r| predicted.contains(&r.0))
            .map(|r| (r, true)),
    );
    for ((name, scenario, out, emu), predict) in modes {
        // The emulator is the reference, and it varies with the machine (a start-up that
        // took longer, a lease that went to the other instance): when the sim disagrees with
        // its run, the emulator runs again, up to twice, and the sim must agree with one of
        // its runs. Every run's differences are said when none agrees.
        let mode = if predict { "predicted" } else { "replayed" };
        let mut said = Vec::new();
        for attempt in 1..=3 {
            let emu_dir = if attempt == 1 {
                out.join("emu-1")
            } else {
                out.join(format!("emu-{mode}-{attempt}"))
            };
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
                for (_, _, other, _) in runs
                    .iter()
                    .filter(|r| &r.0 != name && predicted.contains(&r.0))
                {
                    calibrate::read(&other.join("emu-1"), &mut samples).unwrap();
                }
                calibrate::fit(&samples)
            } else {
                calibrate::read(&emu_dir, &mut samples).unwrap();
                calibrate::fit_replay(&samples)
            };
            let sim_dir = out.join(format!("sim-{mode}-{attempt}"));
            let mut plan = plan_on(name, PlatformKind::Sim, SCALE, &sim_dir);
            plan.scenario.platform.sim = Some(model);
            let sim = run_sim(plan);
            let ledger = RunDir::new(&emu_dir).read_ledger().unwrap();
            let sim_ledger = RunDir::new(&sim_dir).read_ledger().unwrap();
            let differ = differences(name, scenario, &emu, &sim, &ledger, &sim_ledger);
            if differ.is_empty() {
                said.clear();
                break;
            }
            said.push(format!(
                "{mode}, emulator run {attempt}:\n{}",
                differ.join("\n")
            ));
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
    sim_ledger: &[LedgerEvent],
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
    // A window that ends on a timeout counted from the update's first launch (a release
    // that never becomes ready, given up at its ready timeout) ends as much later as that
    // launch came.
    let downtime_slack_ms = slack_ms + launch_lag_ms(ledger, sim_ledger);
    differ.extend(near(
        "downtime total",
        Some(de.total_ms),
        Some(ds.total_ms),
        downtime_slack_ms + (windows - 1.0) * probe_ms,
    ));
    differ.extend(near(
        "downtime max",
        Some(de.max_ms),
        Some(ds.max_ms),
        downtime_slack_ms,
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

/// How much later after the update began the emulator launched its first new instance
/// than the sim did, in ms (0 if not later): the old instance's exit and the new one's
/// spawn, which the sim models by their medians, or not at all before `instance_started`.
fn launch_lag_ms(emu: &[LedgerEvent], sim: &[LedgerEvent]) -> f64 {
    let first_launch = |ledger: &[LedgerEvent]| {
        let (from, to) = update_window(ledger)?;
        ledger
            .iter()
            .filter(|e| e.event == reports::ledger::Kind::InstanceStarted)
            .find(|e| (from..=to).contains(&e.t_ns))
            .map(|e| e.t_ns - from)
    };
    match (first_launch(emu), first_launch(sim)) {
        (Some(e), Some(s)) => (e - s).max(0) as f64 / 1e6,
        _ => 0.0,
    }
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
fn the_sim_agrees_with_the_emulator_on_the_seed_queue_flex_and_fault_scenarios() {
    let mut names = local_scenarios("seed-");
    names.extend(local_scenarios("queue-"));
    names.extend(local_scenarios("flex-"));
    names.extend(local_scenarios("faults/"));
    // Each predicted by the model fitted to the other three's runs.
    let predicted = [
        "seed-drain.toml",
        "seed-rolling.toml",
        "seed-recreate.toml",
        "seed-graceful.toml",
    ]
    .map(str::to_owned);
    assert_agree(&names, &predicted);
}

#[test]
fn the_sim_agrees_with_the_emulator_on_every_bad_release() {
    assert_agree(&local_scenarios("releases/"), &[]);
}
