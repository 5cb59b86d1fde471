//! Helpers shared by the integration tests.

use reports::ledger::Kind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use harness::ledger::Ledger;
use harness::platform::local::{Host, HostConfig};
use harness::platform::PlatformKind;
use harness::run_plan::{resolve, PlanOptions};
use harness::runner::{self, RunOptions, RunPlan};
use harness::scenario::OnCancel;
use harness::scenario::Scenario;
use harness::testfn::Work;
use reports::{LedgerEvent, Summary};
use tokio_util::sync::CancellationToken;

pub fn testfn() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_testfn"))
}

/// A plan for `scenario` at `time_scale`, into `out`, running the standalone `testfn`.
pub fn plan(scenario: Scenario, out: &Path, time_scale: f64) -> RunPlan {
    let seed = scenario.seed;
    RunPlan::new(scenario, "test", out, time_scale, seed, testfn().into())
}

/// Runs a plan to its end; whatever happened, `harness check` then judges its directory
/// again exactly as the run did.
pub async fn run(plan: RunPlan) -> harness::runner::RunOutcome {
    let out = plan.out_dir.clone();
    let outcome = harness::runner::run(plan, CancellationToken::new())
        .await
        .expect("the run starts");
    assert_judged_again(&out);
    outcome
}

/// `harness check DIR` rewrites `summary.json` and `junit.xml` byte for byte as the run
/// wrote them (a run that measured nothing has nothing to check, and check says so).
pub fn assert_judged_again(dir: &Path) {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_default();
    let (summary, junit) = (read("summary.json"), read("junit.xml"));
    assert!(
        !summary.is_empty(),
        "the run wrote {}/summary.json",
        dir.display()
    );
    let out = harness(&["check", dir.to_str().unwrap()]);
    let unmeasured: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    if unmeasured["run"]["unmeasured"] == true {
        assert_eq!(
            out.status.code(),
            Some(2),
            "a run that measured nothing is not checked"
        );
        return;
    }
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = read("summary.json");
    if again != summary {
        let (run, check): (serde_json::Value, serde_json::Value) = (
            serde_json::from_slice(&summary).unwrap(),
            serde_json::from_slice(&again).unwrap(),
        );
        let mut differ = Vec::new();
        json_differences("", &run, &check, &mut differ);
        panic!(
            "harness check judged {} otherwise than its run did (path: run / check):\n{}",
            dir.display(),
            differ.join("\n")
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&read("junit.xml")),
        String::from_utf8_lossy(&junit)
    );
}

/// Where two JSON documents differ: each path with both values.
fn json_differences(at: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let none = Value::Null;
                let (p, q) = (x.get(k).unwrap_or(&none), y.get(k).unwrap_or(&none));
                json_differences(&format!("{at}.{k}"), p, q, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_differences(&format!("{at}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{at}: {a} / {b}")),
        _ => {}
    }
}

/// Runs a plan to its end and returns its summary; the run must be valid.
pub async fn run_valid(plan: RunPlan) -> reports::Summary {
    let outcome = run(plan).await;
    assert!(
        outcome.is_valid(),
        "the run is valid: {:?}",
        outcome.summary.invalid
    );
    outcome.summary
}

/// Runs a plan on the virtual-time platform (its own paused runtime, on a blocking thread),
/// as `harness run --platform sim` would, and returns its summary; the run must be valid,
/// and `harness check` judges it again exactly.
pub async fn run_valid_on_sim(mut plan: RunPlan) -> reports::Summary {
    plan.scenario.platform.kind = harness::platform::PlatformKind::Sim;
    plan.program = harness::app::AppProgram::in_process();
    let out = plan.out_dir.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        harness::runner::run_blocking(plan, CancellationToken::new(), Default::default())
    })
    .await
    .unwrap()
    .expect("the run starts");
    assert_judged_again(&out);
    assert!(
        outcome.is_valid(),
        "the run is valid: {:?}",
        outcome.summary.invalid
    );
    outcome.summary
}

/// A sink serving in this process, on port 0, writing into `dir`.
pub struct TestSink {
    pub url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<sink::Summary, sink::SinkError>>,
}

impl TestSink {
    pub async fn start(dir: &Path) -> TestSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let task = tokio::spawn(sink::run(
            listener,
            sink::Config::new(dir),
            stop.clone().cancelled_owned(),
        ));
        TestSink { url, stop, task }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A host running `testfn` instances that loop `items` times, `delay` apart.
pub fn host(dir: &Path, sink_url: &str, items: u32, delay: Duration) -> Host {
    let ledger = Ledger::create(&dir.join("ledger.csv"), harness::clock::Clock::system()).unwrap();
    Host::new(
        HostConfig {
            program: testfn().into(),
            sink_url: sink_url.to_owned(),
            stash_dir: dir.join("stash"),
            log_dir: dir.join("instances"),
            work: Work {
                items,
                item_delay: delay,
                processing: Duration::ZERO,
                submit_timeout: Duration::from_secs(2),
                retries: 0,
                on_cancel: OnCancel::Abandon,
                events: 0,
                fail_n: None,
                heartbeat: harness::testfn::DEFAULT_HEARTBEAT,
            },
            startup_delay: Duration::ZERO,
            ready_timeout: Duration::from_secs(20),
            invoke_timeout: Duration::from_secs(20),
            traces: None,
            release: None,
            sink_token: None,
            net: Default::default(),
            launcher: None,
        },
        ledger,
    )
    .unwrap()
}

/// Pids of the ledger's instances that are still running (not gone, not zombies).
pub fn surviving_pids(ledger: &[LedgerEvent]) -> Vec<u32> {
    ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceStarted)
        .filter_map(|e| e.get_u64("pid"))
        .map(|pid| pid as u32)
        .filter(|pid| {
            is_live(&pid.to_string())
                // An instance is `testfn` or `harness testfn`: its command line says so.
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("testfn"))
        })
        .collect()
}

/// The invocations begun in a ledger: (m, instance, catch_up).
pub fn invocations(ledger: &[LedgerEvent]) -> Vec<(u64, String, bool)> {
    ledger
        .iter()
        .filter(|e| e.event == Kind::InvocationBegun)
        .map(|e| {
            (
                e.get_u64("m").unwrap(),
                e.instance.clone(),
                e.flag("catch_up"),
            )
        })
        .collect()
}

/// Loosens a scenario's time budgets for a busy 2-core test machine, where the scaled
/// defaults are tens of milliseconds: submits get 60 s (3 s at scale 0.05) and one retry,
/// and a probe 20 s (1 s at 0.05), so that scheduling noise is not mistaken for lost items
/// or downtime. Refusals (a dead instance, no ready instance) still fail at once. The probe
/// client may lag up to 1 s behind its schedule before the run is invalid (exit 3): with
/// tests running side by side, 10 ms is too tight; `outcomes` tests the budget itself.
pub fn for_busy_machine(scenario: &mut harness::scenario::Scenario) {
    use harness::duration::Span;
    scenario.workload.submit_timeout = Span::from_secs(60);
    scenario.workload.retries = 1;
    scenario.probes.timeout = Span::from_secs(20);
    scenario.probes.max_send_lag = Span::from_secs(1);
}

/// Runs the `harness` binary as a user would, and waits for it.
pub fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        // The tests keep their runs out of the history store.
        .env("HARNESS_NO_HISTORY", "1")
        .args(args)
        .output()
        .expect("harness runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The committed scenarios.
pub fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// A committed scenario written into `dir` with the budgets of [`for_busy_machine`], so
/// that a busy test machine neither loses items nor makes the run invalid (exit 3) where a
/// test is about exit 0 or 1.
pub fn relaxed(name: &str, dir: &Path) -> PathBuf {
    let mut scenario = harness::scenario::Scenario::load(&scenarios().join(name)).unwrap();
    for_busy_machine(&mut scenario);
    let path = dir.join(name);
    std::fs::write(&path, toml::to_string(&scenario).unwrap()).unwrap();
    path
}

/// A relaxed copy of seed-swap whose old instance is recycled at the swap itself, in the
/// middle of its loop (2.5 s into its 9 s: 325 ms of real time at 0.05), so that it loses
/// items however late a busy machine makes the swap: the committed `recycle_after = 5s`
/// leaves the loop 1.5 s, 75 ms at 0.05, which a slow start of B can use up.
pub fn swap_that_loses(dir: &Path) -> PathBuf {
    let path = relaxed("seed-swap.toml", dir);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("recycle_after = \"5s\""), "{text}");
    std::fs::write(
        &path,
        text.replace("recycle_after = \"5s\"", "recycle_after = \"0s\""),
    )
    .unwrap();
    path
}

/// Whether `item`, reported late, was already late when its app sent it: its first
/// arrival's `sent_ns` more than `late_after` past its schedule (the schedule is that
/// arrival's time less the item's lateness). Such an item is a loop a busy machine held back,
/// not lateness that the path, a fault or the strategy added.
pub fn sent_late(
    arrivals: &[reports::Arrival],
    item: &reports::verdict::ItemNote,
    late_after_ms: f64,
) -> bool {
    let Some(lateness_ms) = item.lateness_ms else {
        return false;
    };
    arrivals
        .iter()
        .filter(|a| a.source == item.source && a.m == item.m && a.n == item.n)
        .min_by_key(|a| a.recv_ns)
        .and_then(|first| {
            let scheduled = first.recv_ns - (lateness_ms * 1e6) as i64;
            Some(first.sent_ns? - scheduled)
        })
        .is_some_and(|sent_after_ns| sent_after_ns as f64 > late_after_ms * 1e6)
}

/// The longest lag the probe client recorded sending an app probe (sent less intended)
/// among `probes` (a run's `probes.csv`) due between `from_ns` and `to_ns`: a probe due in
/// a window but sent after it is judged by what it met when it went.
pub fn probe_lag_ns(probes: &[reports::probe::Probe], from_ns: i64, to_ns: i64) -> i64 {
    probes
        .iter()
        .filter(|p| p.conn.as_deref() != Some("control"))
        .filter(|p| (from_ns..=to_ns).contains(&p.intended_ns))
        .filter_map(|p| Some(p.sent_ns? - p.intended_ns))
        .max()
        .unwrap_or(0)
        .max(0)
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
pub fn is_live(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// No process of a command-platform run is left: not the commands (`command_started pid=`),
/// not the apps (their `started pid=`), and nothing whose command line names the run's
/// state directory (the proxies the scripts started).
pub fn assert_nothing_left(out: &Path) {
    let ledger = reports::RunDir::new(out).read_ledger().unwrap();
    let pids: Vec<u64> = ledger
        .iter()
        .filter(|e| e.event == Kind::CommandStarted || e.event.app() == Some("started"))
        .filter_map(|e| e.get_u64("pid"))
        .collect();
    assert!(!pids.is_empty(), "the run recorded its processes");
    for pid in pids {
        assert!(!is_live(&pid.to_string()), "process {pid} outlived the run");
    }
    let state = std::path::absolute(out.join("platform")).unwrap();
    let state = state.display().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            !(cmdline.contains(&state) && is_live(&pid)),
            "{pid} ({cmdline}) outlived the run"
        );
    }
}

/// A committed scenario file, loaded.
pub fn load(name: &str) -> (PathBuf, Scenario) {
    let path = scenarios().join(name);
    let scenario = Scenario::load(&path).unwrap();
    (path, scenario)
}

pub fn plan_with(
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
        for_busy_machine(&mut scenario);
    }
    let mut plan = resolve(&path, &scenario, out.to_owned(), &options).unwrap();
    if platform == PlatformKind::Local {
        // The emulator runs real processes of the standalone test function.
        plan.program = testfn().into();
    }
    plan
}

/// A run on the sim, on a runtime of its own as `harness run` gives it.
pub fn run_sim(plan: RunPlan) -> Summary {
    runner::run_blocking(plan, CancellationToken::new(), RunOptions::default())
        .expect("the run starts")
        .summary
}
