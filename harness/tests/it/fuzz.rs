//! The harness's parsers never panic: the scenario parser, the duration grammar and the
//! analysis window thresholds, fed arbitrary text, near-misses of the repository's own
//! scenario files and scenarios built from durations and counts at their edges. A scenario
//! parses to one that is written back and parses again to itself, and that a run can plan;
//! or it is refused with an error on a line of the file. The regression corpus under
//! `tests/corpus/` is replayed on every run.

use std::path::{Path, PathBuf};

use harness::analysis::WindowThreshold;
use harness::app::AppProgram;
use harness::runner::RunPlan;
use harness::scenario::{Scenario, ScenarioError};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

#[path = "../../../sink/tests/support/mutate.rs"]
mod mutate;
use mutate::{any_text, near_miss, near_miss_text, TOKENS};

/// Few enough cases for a debug build to run each property in about a second. The seed is
/// the workspace's fixed one (`.cargo/config.toml`, `PROPTEST_RNG_SEED`), said on stderr so
/// a failure's log names it; a failing case's seed is kept in `tests/corpus/proptest-seeds.txt`
/// and replayed first on every later run, beside the inputs kept by hand in `tests/corpus/`.
fn config(cases: u32) -> Config {
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/corpus/proptest-seeds.txt",
        ))),
        ..Config::default()
    };
    eprintln!(
        "proptest: seed {:?} (PROPTEST_RNG_SEED), {} cases",
        config.rng_seed, config.cases
    );
    config
}

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

/// What breaks a scenario: durations at and past `Duration`'s range, zero and negative
/// ones, counts past `u32`, non-finite floats, and TOML's own punctuation.
const SCENARIO_TOKENS: &[&str] = &[
    "\"1ns\"",
    "\"0s\"",
    "\"-1s\"",
    "\"1e3s\"",
    "\"5000000000000000h\"",
    "\"876000h\"",
    "\"18446744073709551615s\"",
    "\"18446744073709551616s\"",
    "\"0.0000000001ns\"",
    "\"1.5\"",
    "\"10 s\"",
    "\"1µs\"",
    "\"\"",
    "nan",
    "inf",
    "-inf",
    "1e300",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "-1",
    "0",
    "'''",
    "\"\"\"",
    "[workload]",
    "[run]",
    "[[faults]]",
    "[swap]",
    "strategy = \"rolling\"",
    "trigger = \"queue\"",
    "events = [{ at = \"0s\", events = 0 }]",
    "\n",
    "\r\n",
];

/// The scenario files of the repository, the near-misses' seeds.
fn scenario_files() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(std::fs::read(&path).unwrap());
            }
        }
    }
    files.sort();
    assert!(files.len() > 5, "the scenarios are found");
    files
}

/// The edge strategy draws both sides of the edges: some of its scenarios are accepted and
/// some refused (a strategy whose every draw were refused would test only the errors).
#[test]
fn edge_scenarios_fall_on_both_sides() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::new(config(96));
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..96 {
        let text = edge_scenario().new_tree(&mut runner).unwrap().current();
        match check_scenario(&text) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

/// Lines of a text as an error may name them: a last line without its newline counts.
fn lines(text: &str) -> usize {
    text.matches('\n').count() + 1
}

/// A scenario parses to one that is written back, parses again to itself, and can be
/// planned as a run; or it is refused with an error on a line of the text.
fn check_scenario(text: &str) -> Result<Scenario, ScenarioError> {
    let path = Path::new("fuzz.toml");
    // No clock here: speed is the benchmarks' to measure, and a parse that hung would hang
    // the test, which the suite's time limit reports.
    let got = Scenario::parse(path, text);
    match &got {
        Ok(scenario) => {
            let written = toml::to_string(scenario).expect("a scenario is written back");
            let again = Scenario::parse(path, &written)
                .unwrap_or_else(|e| panic!("written back, it does not parse: {e}\n{written}"));
            assert_eq!(&again, scenario, "written back:\n{written}");
            let _ = scenario.warnings();
            let _ = (scenario.first_expected(), scenario.last_expected());
            let _ = (scenario.occurrences_fired(), scenario.settle());
            let dir = tempfile::tempdir().unwrap();
            let _ = RunPlan::new(
                scenario.clone(),
                "fuzz.toml",
                dir.path(),
                scenario.time_scale,
                scenario.seed,
                AppProgram::in_process(),
            );
        }
        Err(e) => {
            let max = lines(text);
            if let Some(line) = e.line {
                assert!((1..=max).contains(&line), "line {line} of {max}: {e}");
            }
            assert_eq!(e.path, path);
            let _ = e.to_string();
        }
    }
    got
}

/// A window threshold parses to one that prints and parses back to itself, or its error
/// names a byte inside the text.
fn check_window_threshold(text: &str) {
    match WindowThreshold::parse(text) {
        Ok(t) => assert_eq!(WindowThreshold::parse(&t.to_string()), Ok(t)),
        Err(e) => {
            let at: usize = e
                .split(" at byte ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no position in {e:?}"));
            assert!(at <= text.len(), "{e}");
        }
    }
}

/// A duration parses to one within `Duration`'s range, or is refused; never a panic.
fn check_duration(text: &str) {
    if let Ok(d) = harness::duration::parse(text) {
        let shown = harness::duration::Span(d).to_string();
        assert_eq!(harness::duration::parse(&shown), Ok(d), "{shown}");
    }
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn scenarios_arbitrary_text(text in any_text(400)) {
        let _ = check_scenario(&text);
    }

    #[test]
    fn scenarios_near_misses(bytes in prop_oneof![
        near_miss(scenario_files(), TOKENS),
        near_miss(scenario_files(), SCENARIO_TOKENS),
    ]) {
        let _ = check_scenario(&String::from_utf8_lossy(&bytes));
    }

    /// Scenarios whose durations and counts sit at the edges: each is parsed and planned.
    #[test]
    fn scenarios_at_the_edges(text in edge_scenario()) {
        let _ = check_scenario(&text);
    }

    /// Whether a demand schedule finds a message in the expected window is judged from a
    /// few occurrences; it must agree with asking every occurrence.
    #[test]
    fn a_schedule_is_judged_as_every_occurrence_would_judge_it(
        steps in proptest::collection::vec((0u64..1200, 0u32..3, any::<bool>()), 1..5),
        warmup_s in 0u64..100,
        duration_s in 101u64..300,
    ) {
        let mut steps: Vec<_> = steps.into_iter().map(|(quarter_s, events, ramp)| (quarter_s * 250, events, ramp)).collect();
        steps.sort_by_key(|s| s.0);
        steps.dedup_by_key(|s| s.0);
        steps[0].2 = false;
        let schedule = steps
            .iter()
            .map(|(ms, events, ramp)| format!("{{ at = \"{ms}ms\", events = {events}, ramp = {ramp} }}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = |events: &str| {
            format!(
                "strategy = \"swap\"\n\n[workload]\ntrigger = \"queue\"\nperiod = \"1s\"\nevents = {events}\n\n\
                 [run]\nwarmup = \"{warmup_s}s\"\nupdate_at = \"100s\"\nduration = \"{duration_s}s\"\n"
            )
        };
        let fixed = check_scenario(&text("1")).expect("the scenario with a fixed count is valid");
        let mut scheduled = fixed.clone();
        scheduled.workload.events = harness::scenario::Events::Schedule(
            steps
                .iter()
                .map(|&(ms, events, ramp)| harness::scenario::DemandStep {
                    at: harness::duration::Span::from_millis(ms),
                    events,
                    ramp,
                })
                .collect(),
        );
        let finds_some = (scheduled.first_expected()..=scheduled.last_expected())
            .any(|m| scheduled.poll_events(m) > 0);
        let got = check_scenario(&text(&format!("[{schedule}]")));
        if steps.iter().all(|s| s.1 == 0) {
            // Refused before the window is looked at: a queue needs a message somewhere.
            prop_assert!(got.is_err());
            return Ok(());
        }
        match &got {
            Ok(_) => prop_assert!(finds_some, "accepted, and no poll finds a message"),
            Err(e) => {
                prop_assert!(!finds_some, "refused, and a poll finds a message: {}", e);
                prop_assert!(e.message.contains("finds no message"), "{}", e);
            }
        }
    }

    #[test]
    fn window_thresholds(text in prop_oneof![
        any_text(40),
        near_miss_text(&["probes.failed_rate > 0.1", "occurrences.missed>=1", " invocations.failed_rate < 5e-1 "], TOKENS),
    ]) {
        check_window_threshold(&text);
    }

    #[test]
    fn durations(text in prop_oneof![
        any_text(24),
        near_miss_text(&["10s", "250ms", "1.5m", "2h", "7us", "3ns", "1µs"], TOKENS),
    ]) {
        check_duration(&text);
    }
}

/// A duration as written in a scenario: small, large, at the end of `Duration`, or odd.
fn edge_duration() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..200).prop_map(|s| format!("{s}s")),
        (1u64..2000).prop_map(|ms| format!("{ms}ms")),
        Just("1ns".to_owned()),
        Just("0s".to_owned()),
        Just("5000000000000000h".to_owned()),
        Just("18446744073709551615s".to_owned()),
        Just("876000h".to_owned()),
        Just("876001h".to_owned()),
        any::<u64>().prop_map(|ns| format!("{ns}ns")),
    ]
}

fn edge_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..12,
        Just(u64::from(u32::MAX)),
        Just(10_000),
        Just(10_001),
        Just(1 << 32),
    ]
}

/// A duration that is the template's `default` three times in four, else at an edge.
fn or_edge_duration(default: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(default.to_owned()), 1 => edge_duration()]
}

/// A count that is the template's `default` three times in four, else at an edge.
fn or_edge_count(default: u64) -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(default), 1 => edge_count()]
}

/// A whole scenario from the template of `scenarios/seed-*.toml`, each of its durations and
/// counts at an edge one time in four: some draws are valid scenarios at an edge (and must
/// plan as a run), most are refused somewhere (and must say where).
fn edge_scenario() -> impl Strategy<Value = String> {
    (
        (
            prop_oneof!["swap", "recreate", "rolling", "graceful", "drain"],
            prop_oneof![
                3 => Just("1.0".to_owned()),
                1 => Just("1e300".to_owned()),
                1 => Just("1e-300".to_owned()),
                1 => Just("0.05".to_owned()),
            ],
            or_edge_count(3),
            or_edge_duration("2s"),
        ),
        (
            prop_oneof![Just("timer"), Just("queue")],
            or_edge_duration("10s"),
            or_edge_count(10),
            or_edge_duration("1s"),
            or_edge_duration("0s"),
            prop_oneof![
                or_edge_count(3).prop_map(|n| n.to_string()),
                (edge_duration(), edge_count(), edge_duration(), edge_count()).prop_map(
                    |(a, m, b, n)| format!(
                        "[{{ at = \"{a}\", events = {m} }}, {{ at = \"{b}\", events = {n}, ramp = true }}]"
                    )
                ),
            ],
        ),
        (
            or_edge_duration("20s"),
            or_edge_duration("60.5s"),
            or_edge_duration("100s"),
            or_edge_count(100),
        ),
    )
        .prop_map(
            |(
                (strategy, time_scale, instances, cold_start),
                (trigger, period, items, item_delay, processing, events),
                (warmup, update_at, duration, rate),
            )| {
                let queue_only = if trigger == "queue" {
                    format!("events = {events}\n")
                } else {
                    format!("items = {items}\nitem_delay = \"{item_delay}\"\n")
                };
                format!(
                    "strategy = \"{strategy}\"\ntime_scale = {time_scale}\n\n\
                     [app]\ninstances = {instances}\nfrom = \"A\"\nto = \"B\"\ncold_start = \"{cold_start}\"\n\n\
                     [workload]\ntrigger = \"{trigger}\"\nperiod = \"{period}\"\n{queue_only}processing = \"{processing}\"\n\n\
                     [run]\nwarmup = \"{warmup}\"\nupdate_at = \"{update_at}\"\nduration = \"{duration}\"\n\n\
                     [probes]\nrate = {rate}\n"
                )
            },
        )
}

/// Every input that once failed, and the near-misses kept beside them, parse or are
/// refused as their names say (`ok-*`, `err-*`), without a panic.
#[test]
fn regression_corpus() {
    for (name, bytes) in mutate::corpus(&corpus_dir("scenario")) {
        let got = check_scenario(&String::from_utf8_lossy(&bytes));
        mutate::check_want(&name, &got);
    }
    for (name, bytes) in mutate::corpus(&corpus_dir("window_threshold")) {
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        check_window_threshold(text);
        mutate::check_want(&name, &WindowThreshold::parse(text));
    }
}
