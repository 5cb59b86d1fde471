//! The command platform on real software nobody here wrote: nginx and HAProxy, started by
//! the scripts in `platforms/` (`.ci/run` installs Debian's `nginx-light` and `haproxy`).

use reports::ledger::Kind;
use std::path::Path;

use harness::runner::RunPlan;
use harness::scenario::Scenario;
use reports::RunDir;

use crate::common;

async fn run_real(name: &str, out: &Path) -> reports::Summary {
    let path = common::scenarios().join(format!("{name}.toml"));
    let mut s = Scenario::load(&path).unwrap();
    common::for_busy_machine(&mut s);
    // Gentler than the scenario's 500/s a series: the tests beside this one run on the same
    // two cores.
    s.probes.rate = 200;
    let seed = s.seed;
    let plan = RunPlan::new(
        s,
        path.display().to_string(),
        out,
        0.1,
        seed,
        common::testfn().into(),
    );
    common::run(plan).await.summary
}

fn assert_measured_the_proxy(name: &str, summary: &reports::Summary) {
    assert!(summary.invalid.is_empty(), "{name}: {:?}", summary.invalid);
    let v = &summary.verdict;
    assert_eq!(v.expected, 70, "{name}");
    // Whatever an update cut short is explained by what the apps and the harness saw.
    assert_eq!(v.causes.lost.unexplained, 0, "{name}: {:?}", v.lost_items);
    // Only A's runs can be cut short (B is never stopped), and only in the update's time:
    // which ones depends on the proxy (an old worker may keep serving its keep-alive
    // connections with the old backend while A is being stopped).
    for item in &v.lost_items {
        assert_eq!(item.version.as_deref(), Some("A"), "{name}: {item:?}");
        assert!((4..=7).contains(&item.m), "{name}: {item:?}");
        let cause = item.cause.as_deref().unwrap_or("");
        assert!(
            ["killed_before_send", "in_flight", "never_invoked", "failed"].contains(&cause),
            "{name}: {item:?}"
        );
    }
    assert_eq!(v.duplicated, 0, "{name}");
    // Both series ran through the proxy at 200/s for 8 s, and every answer named A or B.
    for conn in ["new", "reused"] {
        let d = &v.downtime_by_conn[conn];
        assert!(d.probes > 1200, "{name} {conn}: {}", d.probes);
        assert!(
            !d.failed_by.contains_key("version"),
            "{name} {conn}: {:?}",
            d.failed_by
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_and_haproxy_blue_green_and_an_haproxy_rolling_update_measured_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["nginx-blue-green", "haproxy-blue-green", "haproxy-rolling"] {
        let out = dir.path().join(name);
        let summary = run_real(name, &out).await;
        assert_measured_the_proxy(name, &summary);
        let run = RunDir::new(&out);
        // Probes saw A before the update and B at the end.
        let probes = run.read_probes().unwrap();
        let versions: Vec<&str> = probes.iter().filter_map(|p| p.version.as_deref()).collect();
        assert_eq!(versions.first(), Some(&"A"), "{name}");
        assert_eq!(versions.last(), Some(&"B"), "{name}");
        let ledger = run.read_ledger().unwrap();
        assert!(
            ledger.iter().any(|e| e.event == Kind::UpdateComplete),
            "{name}"
        );
        common::assert_nothing_left(&out);
    }
}
