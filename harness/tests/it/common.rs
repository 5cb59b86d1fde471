//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::platform::ledger::Ledger;
use harness::platform::{Host, HostConfig};
use harness::scenario::OnCancel;
use harness::testfn::Work;
use reports::LedgerEvent;
use tokio_util::sync::CancellationToken;

pub fn testfn() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_testfn"))
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
    let ledger = Ledger::create(
        &dir.join("ledger.csv"),
        std::sync::Arc::new(sink::clock::SystemClock),
    )
    .unwrap();
    Host::new(
        HostConfig {
            program: testfn(),
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
            },
            startup_delay: Duration::ZERO,
            ready_timeout: Duration::from_secs(20),
            invoke_timeout: Duration::from_secs(20),
        },
        ledger,
    )
    .unwrap()
}

/// Pids of the ledger's instances that are still running (not gone, not zombies).
pub fn surviving_pids(ledger: &[LedgerEvent]) -> Vec<u32> {
    ledger
        .iter()
        .filter(|e| e.event == "instance_started")
        .filter_map(|e| e.get_u64("pid"))
        .map(|pid| pid as u32)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| {
                    // The state is the field after the parenthesised command name.
                    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                    !state.starts_with('Z') && stat.contains("testfn")
                })
                .unwrap_or(false)
        })
        .collect()
}

/// The invocations begun in a ledger: (m, instance, catch_up).
pub fn invocations(ledger: &[LedgerEvent]) -> Vec<(u64, String, bool)> {
    ledger
        .iter()
        .filter(|e| e.event == "invocation_begun")
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
/// or downtime. Refusals (a dead instance, no ready instance) still fail at once.
pub fn for_busy_machine(scenario: &mut harness::scenario::Scenario) {
    use harness::duration::Span;
    scenario.workload.submit_timeout = Span::from_secs(60);
    scenario.workload.retries = 1;
    scenario.probes.timeout = Span::from_secs(20);
}
