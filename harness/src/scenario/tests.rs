//! The scenario parser and its checks.

use std::path::Path;

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
    let text =
        format!("{SEED}\n[expect]\nthresholds = [\n  \"lost == 0\",\n  \"downtime.max < 5\",\n]\n");
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
fn budgets_are_checked_with_line_and_key() {
    let lines = SEED.lines().count();
    let budget =
        |body: &str| format!("{SEED}\n[[budget]]\nmetric = \"lost\"\n\n[[budget]]\n{body}\n");
    for (body, key, line, what) in [
        ("metric = \"lots\"", "budget[1].metric", 6, "unknown metric"),
        (
            "metric = \"lost\"\nmul = 0.5",
            "budget[1].mul",
            7,
            "below 1",
        ),
        (
            "metric = \"lost\"\nsince = \"3w\"",
            "budget[1].since",
            7,
            "the unit is",
        ),
        (
            "metric = \"lost\"\nlast = 5\nsince = \"1d\"",
            "budget[1].since",
            8,
            "not both",
        ),
        (
            "metric = \"lost\"\nquantile = 1.5",
            "budget[1].quantile",
            7,
            "not in (0, 1]",
        ),
    ] {
        let e = parse(&budget(body)).unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some(key), Some(lines + line)),
            "{body}: {e}"
        );
        assert!(e.message.contains(what), "{body}: {e}");
    }
    let e = parse(&budget("metric = \"lost\"\ncolour = \"red\"")).unwrap_err();
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    let ok = parse(&budget("metric = \"downtime.max_ms\"\nquantile = 0.95\nlast = 50\nmin_runs = 10\nadd = 200\nmul = 1.5")).unwrap();
    let budgets: Vec<String> = ok.budgets().iter().map(|b| b.to_string()).collect();
    assert_eq!(
        budgets,
        [
            "lost p99 since=21d min_runs=30 add=0 mul=1.2",
            "downtime.max_ms p95 last=50 min_runs=10 add=200 mul=1.5"
        ]
    );
}

#[test]
fn the_expected_window_holds_only_whole_loops() {
    let s = parse(&SEED.replace("\"100s\"", "\"95s\"")).unwrap();
    assert_eq!(s.last_expected(), 8, "occurrence 9 would end at 99 s");
    let s = parse(&SEED.replace("\"20s\"", "\"21s\"")).unwrap();
    assert_eq!(s.first_expected(), 3);
}

const COMMAND: &str = r#"
strategy = "blue-green"
[platform]
kind = "command"
url = "http://127.0.0.1:0"
deploy = ["./p.sh", "deploy"]
update = ["./p.sh", "update"]

[workload]
period = "10s"
items = 10
item_delay = "1s"

[run]
warmup = "20s"
update_at = "62s"
duration = "100s"
"#;

#[test]
fn a_probes_only_scenario_needs_no_period_and_no_items() {
    // The driver `none` fires nothing: only the probes measure the update.
    let probes_only = COMMAND.replace(
        "period = \"10s\"\nitems = 10\nitem_delay = \"1s\"",
        "driver = \"none\"",
    );
    let s = parse(&probes_only).unwrap();
    assert_eq!((s.driver(), s.workload.items), (Driver::None, 0));
    // A driver that fires still needs both.
    let firing = COMMAND.replace("period = \"10s\"\n", "");
    assert_eq!(
        parse(&firing).unwrap_err().key.as_deref(),
        Some("workload.period")
    );
    let no_items = COMMAND
        .replace("items = 10\n", "")
        .replace("item_delay = \"1s\"", "");
    assert_eq!(
        parse(&no_items).unwrap_err().key.as_deref(),
        Some("workload.items")
    );
    // Its probes are checked as any scenario's.
    let bad_rate = format!("{probes_only}\n[probes]\nrate = 0\n");
    assert_eq!(
        parse(&bad_rate).unwrap_err().key.as_deref(),
        Some("probes.rate")
    );
}

#[test]
fn a_command_platform_takes_a_label_and_its_errors_name_the_key() {
    let s = parse(COMMAND).unwrap();
    assert_eq!(s.platform.kind, crate::platform::PlatformKind::Command);
    assert_eq!(s.strategy.to_string(), "blue-green");
    assert_eq!(
        s.driver(),
        Driver::Harness,
        "the command platform's default"
    );
    let key = |text: &str| parse(text).unwrap_err().key.unwrap_or_default();
    assert_eq!(
        key(&COMMAND.replace("url = \"http://127.0.0.1:0\"\n", "")),
        "platform.url"
    );
    assert_eq!(
        key(&COMMAND.replace("deploy = [\"./p.sh\", \"deploy\"]", "deploy = []")),
        "platform.deploy"
    );
    assert_eq!(
        key(&format!("{COMMAND}\n[swap]\nrecycle_after = \"1s\"\n")),
        "swap"
    );
    assert_eq!(
        key(&COMMAND.replace(
            "period = \"10s\"",
            "period = \"10s\"\ndriver = \"platform\""
        )),
        "workload.driver"
    );
    assert_eq!(
        key(&COMMAND.replace("period = \"10s\"", "period = \"10s\"\nlease = \"tick\"")),
        "workload.lease"
    );
    assert_eq!(
        key(&format!("{COMMAND}\n[sink]\nlisten = \"0.0.0.0:4000\"\n")),
        "sink.token"
    );
    // The local platform keeps its five strategies and its own driver.
    assert_eq!(key(&SEED.replace("\"swap\"", "\"blue-green\"")), "strategy");
    assert_eq!(
        key(&SEED.replace("period = \"10s\"", "period = \"10s\"\ndriver = \"app\"")),
        "workload.driver"
    );
    let recorded: Scenario = {
        let text =
            toml::to_string(&s.as_run(1.0, 1, &crate::app::AppProgram::in_process())).unwrap();
        parse(&text).unwrap()
    };
    assert_eq!(
        recorded.platform, s.platform,
        "the platform section round-trips"
    );
}

const QUEUE: &str = r#"
strategy = "rolling"

[app]
instances = 2

[workload]
trigger = "queue"
period = "10s"
events = 2
processing = "3s"

[run]
warmup = "20s"
update_at = "55s"
duration = "100s"
"#;

#[test]
fn a_demand_schedule_and_a_scale_controller_parse_and_are_checked() {
    let text = QUEUE.replace(
        "events = 2",
        "events = [{ at = \"0s\", events = 2 }, { at = \"50s\", events = 12 }]",
    ) + "\n[scale]\nmin = 2\nmax = 6\n";
    let s = parse(&text).unwrap();
    assert_eq!((s.poll_events(4), s.poll_events(5)), (2, 12));
    assert_eq!(
        s.items_per_occurrence(),
        12,
        "the grid is as wide as the largest poll"
    );
    assert_eq!(s.scale.as_ref().map(|c| (c.min, c.max)), Some((2, 6)));
    assert!(
        s.completion_estimate().is_some(),
        "a rolling update is estimated"
    );
    assert_eq!(
        s.late_after(),
        Span::from_secs(6),
        "a queue item's default lateness budget is twice its processing"
    );

    let unordered = QUEUE.replace(
        "events = 2",
        "events = [{ at = \"50s\", events = 2 }, { at = \"10s\", events = 12 }]",
    );
    let e = parse(&unordered).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(10), Some("workload.events")),
        "{e}"
    );
    assert!(e.message.contains("time order"), "{e}");

    let e = parse(&QUEUE.replace("events = 2", "events = [{ at = \"0s\", n = 2 }]")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("workload.events[0].n"), "{e}");

    let swap = format!(
        "{}\n[scale]\nmin = 1\n",
        QUEUE.replace("\"rolling\"", "\"swap\"")
    );
    let e = parse(&swap).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("scale"), "{e}");
    assert!(e.message.contains("rolling"), "{e}");

    let outside = QUEUE.to_owned() + "\n[scale]\nmin = 3\nmax = 6\n";
    let e = parse(&outside).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("app.instances"), "{e}");

    let estimate_a_swap =
        QUEUE.replace("\"rolling\"", "\"swap\"") + "\n[completion]\ncheck_interval = \"10s\"\n";
    let e = parse(&estimate_a_swap).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("completion"), "{e}");
}

#[test]
fn a_late_after_at_the_processing_time_is_warned_about() {
    let s = parse(&QUEUE.replace(
        "processing = \"3s\"",
        "processing = \"3s\"\nlate_after = \"3s\"",
    ))
    .unwrap();
    let warnings = s.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].0, "workload.late_after");
    let fine = parse(QUEUE).unwrap();
    assert!(
        fine.warnings().is_empty(),
        "the default is twice the processing"
    );
}

#[test]
fn the_limits_on_instances_run_duration_and_probe_rate_name_the_key_and_line() {
    let e = parse(&SEED.replace("\"100s\"", "\"25h\"")).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(12), Some("run.duration")),
        "{e}"
    );
    assert!(e.message.contains("limit of 24h"), "{e}");
    assert!(e
        .to_string()
        .starts_with("scenarios/t.toml:12: key `run.duration`"));
    assert!(parse(&SEED.replace("\"100s\"", "\"24h\"")).is_ok());
    let e = parse(&format!("{SEED}settle = \"25h\"\n")).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(13), Some("run.settle")),
        "{e}"
    );

    let app = |n: u32| format!("{SEED}\n[app]\ninstances = {n}\n");
    let e = parse(&app(MAX_INSTANCES + 1)).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(15), Some("app.instances")),
        "{e}"
    );
    assert!(e.message.contains("between 1 and 1000"), "{e}");
    assert!(parse(&app(MAX_INSTANCES)).is_ok());

    let probes = |rate: u32| format!("{SEED}\n[probes]\nrate = {rate}\n");
    let e = parse(&probes(MAX_PROBE_RATE + 1)).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(15), Some("probes.rate")),
        "{e}"
    );
    assert!(e.message.contains("between 1 and 10000 per second"), "{e}");
    assert!(parse(&probes(MAX_PROBE_RATE)).is_ok());
}

#[test]
fn positions_come_from_the_parser_not_from_rescanning_the_text() {
    // A key of an inline table has its line too.
    let inline = "strategy = \"swap\"\nworkload = { period = \"10s\", items = 10, item_delay = \"1s\" }\nrun = { warmup = \"20s\", update_at = \"200s\", duration = \"100s\" }\n";
    let e = parse(inline).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("run.update_at")),
        "{e}"
    );
    // A threshold is blamed where it is in the list, not where its text first appears.
    let text = format!(
        "description = \"downtime.max < 5\"\n{SEED}\n[expect]\nthresholds = [\"lost == 0\", \"downtime.max < 5\"]\n"
    );
    let e = parse(&text).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(16), Some("expect.thresholds")),
        "{e}"
    );
}
