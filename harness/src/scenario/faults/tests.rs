//! The fault kinds read from a scenario file, written back, checked and scheduled.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::fault_proxy::Action;
use crate::scenario::Scenario;

const BASE: &str = r#"strategy = "rolling"
[workload]
period = "10s"
items = 10
item_delay = "1s"
[run]
warmup = "20s"
update_at = "60s"
duration = "100s"
"#;

fn parse(faults: &str) -> Result<Scenario, crate::scenario::ScenarioError> {
    Scenario::parse(Path::new("f.toml"), &format!("{BASE}{faults}"))
}

/// The error's line and key.
fn error_at(faults: &str) -> (Option<usize>, Option<String>, String) {
    let e = parse(faults).expect_err("refused");
    (e.line, e.key, e.message)
}

#[test]
fn every_kind_parses_and_round_trips() {
    let s = parse(
        r#"
[[faults]]
kind = "crash"
at = "30s"
version = "A"
restart_after = "2s"

[[faults]]
kind = "pause"
at = "40s"
duration = "2s"
pick = "all"

[[faults]]
kind = "crash_loop"
at = "50s"
duration = "5s"
up_for = "1s"

[[faults]]
kind = "latency"
at = "10s"
duration = "5s"
latency = "200ms"
jitter = "50ms"
probability = 0.5

[[faults]]
kind = "http_error"
at = "15s"
duration = "1s"
status = 500

[[faults]]
kind = "reset"
at = "16s"
duration = "1s"

[[faults]]
kind = "blackhole"
at = "17s"
duration = "1s"

[[faults]]
kind = "fail_first"
at = "18s"
duration = "1s"
count = 3

[[faults]]
kind = "bandwidth"
at = "19s"
duration = "1s"
bytes_per_s = 1000

[[faults]]
kind = "sink_crash"
at = "90s"
"#,
    )
    .unwrap();
    let kinds: Vec<&str> = s.faults.iter().map(|f| f.kind()).collect();
    assert_eq!(kinds, Fault::KINDS);
    assert!(s.has_sink_faults());
    let text = toml::to_string(&s).unwrap();
    let again = Scenario::parse(Path::new("f.toml"), &text).unwrap();
    assert_eq!(again.faults, s.faults);
}

/// Every kind with every key it takes, as the scenario file and the run directory's
/// `scenario.toml` write it, and the parameters its ledger rows carry at half speed.
const EVERY_KEY: &str = r#"
[[faults]]
kind = "crash"
at = "30s"
instance = "a-0"
pick = "all"
restart = false
restart_after = "2s"

[[faults]]
kind = "pause"
at = "40s"
duration = "2s"
slot = "production"
version = "A"

[[faults]]
kind = "crash_loop"
at = "50s"
duration = "5s"
restart_after = "300ms"
up_for = "1s"

[[faults]]
kind = "latency"
at = "10s"
duration = "5s"
latency = "200ms"
jitter = "50ms"
probability = 0.5

[[faults]]
kind = "http_error"
at = "15s"
duration = "1s"
status = 500

[[faults]]
kind = "reset"
at = "16s"
duration = "1s"
probability = 0.25

[[faults]]
kind = "blackhole"
at = "17s"
duration = "1s"

[[faults]]
kind = "fail_first"
at = "18s"
duration = "1s"
status = 502
count = 3

[[faults]]
kind = "bandwidth"
at = "19s"
duration = "1s"
bytes_per_s = 1000

[[faults]]
kind = "sink_crash"
at = "90s"
"#;

#[test]
fn every_kind_is_written_back_key_for_key() {
    let s = parse(EVERY_KEY).unwrap();
    let text = toml::to_string(&s).unwrap();
    let written = &text[text.find("[[faults]]").expect("faults are written")..];
    assert_eq!(written.trim(), EVERY_KEY.trim());
}

#[test]
fn every_kind_records_its_parameters() {
    let s = parse(EVERY_KEY).unwrap();
    let got: Vec<String> = s
        .faults
        .iter()
        .map(|f| {
            f.schedule(TimeScale(0.5))
                .params
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let want = [
        "target=instance:a-0 pick=all restart=false restart_after_ms=1000.000",
        "duration_ms=1000.000 target=slot:production,version:A pick=random",
        "duration_ms=2500.000 target=any pick=random restart_after_ms=150.000 up_for_ms=500.000",
        "duration_ms=2500.000 latency_ms=100.000 jitter_ms=25.000 probability=0.5",
        "duration_ms=500.000 status=500 probability=1",
        "duration_ms=500.000 probability=0.25",
        "duration_ms=500.000 probability=1",
        "duration_ms=500.000 status=502 count=3",
        "duration_ms=500.000 bytes_per_s=1000 probability=1",
        "",
    ];
    assert_eq!(got, want);
}

#[test]
fn every_kind_acts_out_at_the_run_s_scale() {
    let s = parse(EVERY_KEY).unwrap();
    let acts: Vec<Act> = s
        .faults
        .iter()
        .map(|f| f.schedule(TimeScale(0.5)).act)
        .collect();
    let ms = Duration::from_millis;
    let target = |instance: Option<&str>, slot: Option<&str>, version: Option<&str>| Target {
        instance: instance.map(Into::into),
        slot: slot.map(Into::into),
        version: version.map(Into::into),
        pick: instance.map(|_| Pick::All),
    };
    assert_eq!(
        acts,
        [
            Act::Instances {
                target: target(Some("a-0"), None, None),
                act: InstanceAct::Kill {
                    restart_after: None,
                    up_for: None
                },
            },
            Act::Instances {
                target: target(None, Some("production"), Some("A")),
                act: InstanceAct::Pause,
            },
            Act::Instances {
                target: target(None, None, None),
                act: InstanceAct::Kill {
                    restart_after: Some(ms(150)),
                    up_for: Some(ms(500))
                },
            },
            Act::SinkPath(Action::Latency {
                base: ms(100),
                jitter: ms(25),
                probability: 0.5
            }),
            Act::SinkPath(Action::HttpError {
                status: 500,
                probability: 1.0
            }),
            Act::SinkPath(Action::Reset { probability: 0.25 }),
            Act::SinkPath(Action::Blackhole { probability: 1.0 }),
            Act::SinkPath(Action::FailFirst {
                count: 3,
                status: 502
            }),
            Act::SinkPath(Action::Bandwidth { bytes_per_s: 2000 }),
            Act::SinkCrash,
        ]
    );
    let at: Vec<Duration> = s
        .faults
        .iter()
        .map(|f| f.schedule(TimeScale(0.5)).at)
        .collect();
    assert_eq!(at[0], Duration::from_secs(15));
}

#[test]
fn a_key_no_kind_takes_is_refused_with_what_the_kind_takes() {
    let (line, key, message) =
        error_at("\n[[faults]]\nkind = \"reset\"\nat = \"30s\"\nduration = \"1s\"\nfoo = 1\n");
    assert_eq!(key.as_deref(), Some("faults[0].foo"));
    assert_eq!(line, Some(15), "{message}");
    assert_eq!(
        message,
        "a reset fault takes no `foo` (it takes `duration`, `probability`)"
    );
    // A key of another kind is the likelier slip than a key the kind lacks.
    let (_, key, _) = error_at("\n[[faults]]\nkind = \"pause\"\nat = \"30s\"\nrestart = true\n");
    assert_eq!(key.as_deref(), Some("faults[0].restart"));
    let (line, key, message) = error_at("\n[[faults]]\nat = \"30s\"\n");
    assert_eq!(key.as_deref(), Some("faults[0]"));
    assert_eq!((line, message.as_str()), (Some(11), "missing field `kind`"));
}

#[test]
fn a_key_of_another_kind_is_refused_at_its_line() {
    let (line, key, message) = error_at(
        r#"
[[faults]]
kind = "pause"
at = "30s"
duration = "1s"

[[faults]]
kind = "crash"
at = "30s"
latency = "1s"
"#,
    );
    assert_eq!(key.as_deref(), Some("faults[1].latency"));
    assert_eq!(line, Some(19), "{message}");
    assert!(
        message.contains("a crash fault takes no `latency`"),
        "{message}"
    );
}

#[test]
fn missing_and_out_of_range_values_are_refused() {
    let cases = [
        (
            "kind = \"pause\"\nat = \"30s\"",
            "faults[0].duration",
            "needs a duration",
        ),
        (
            "kind = \"latency\"\nat = \"30s\"\nduration = \"1s\"",
            "faults[0].latency",
            "needs a latency",
        ),
        (
            "kind = \"reset\"\nat = \"30s\"\nduration = \"1s\"\nprobability = 1.5",
            "faults[0].probability",
            "between 0 and 1",
        ),
        (
            "kind = \"reset\"\nat = \"99s\"\nduration = \"2s\"",
            "faults[0].duration",
            "end by run.duration",
        ),
        (
            "kind = \"crash\"\nat = \"100s\"",
            "faults[0].at",
            "before run.duration",
        ),
        (
            "kind = \"fail_first\"\nat = \"30s\"\nduration = \"1s\"",
            "faults[0].count",
            "at least 1",
        ),
        (
            "kind = \"http_error\"\nat = \"30s\"\nduration = \"1s\"\nstatus = 42",
            "faults[0].status",
            "HTTP status",
        ),
        (
            "kind = \"crash\"\nat = \"30s\"\nslot = \"blue\"",
            "faults[0].slot",
            "production",
        ),
        (
            "kind = \"latency\"\nat = \"30s\"\nduration = \"1s\"\nlatency = \"60001ms\"",
            "faults[0].latency",
            "at most 60s",
        ),
        (
            "kind = \"latency\"\nat = \"30s\"\nduration = \"1s\"\nlatency = \"1s\"\njitter = \"1001ms\"",
            "faults[0].jitter",
            "at most the latency",
        ),
    ];
    for (body, want_key, want) in cases {
        let (line, key, message) = error_at(&format!("\n[[faults]]\n{body}\n"));
        assert_eq!(key.as_deref(), Some(want_key), "{body}: {message}");
        assert!(message.contains(want), "{body}: {message}");
        assert!(line.is_some_and(|l| l >= 11), "{body}: line {line:?}");
    }
}

/// The edges themselves are accepted: 60 s of latency, and jitter as large as it.
#[test]
fn the_longest_latency_and_the_widest_jitter_are_accepted() {
    parse(
        "\n[[faults]]\nkind = \"latency\"\nat = \"30s\"\nduration = \"1s\"\nlatency = \"60s\"\njitter = \"60s\"\n",
    )
    .expect("60 s, and jitter up to the latency, are allowed");
}

#[test]
fn an_unknown_kind_names_its_line() {
    let e = parse("\n[[faults]]\nkind = \"meteor\"\nat = \"1s\"\n").expect_err("refused");
    assert_eq!(e.line, Some(12), "{e}");
    assert!(e.to_string().contains("meteor"), "{e}");
}

#[test]
fn instance_faults_need_the_local_platform() {
    let text = format!(
        "{}\n[platform]\nkind = \"command\"\nurl = \"http://127.0.0.1:0\"\ndeploy = [\"true\"]\nupdate = [\"true\"]\n\n[[faults]]\nkind = \"pause\"\nat = \"30s\"\nduration = \"1s\"\n",
        BASE.replace("\"rolling\"", "\"blue-green\"")
    );
    let e = Scenario::parse(Path::new("f.toml"), &text).expect_err("refused");
    assert_eq!(e.key.as_deref(), Some("faults[0].kind"), "{e}");
    assert!(e.message.contains("local platform"), "{e}");
}
