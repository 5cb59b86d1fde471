//! `soak report`, the soak's verdict, as `benches/scripts/soak.sh` runs it: the real binary
//! on hand-made input files (the formats `soak load`, `soak sample` and the sink write), its
//! exit code and the reason it prints.

use std::path::Path;
use std::process::Output;

/// The bounds every case is held to, as `soak.sh` passes them.
const BOUNDS: [(&str, &str); 4] = [
    ("--sink-max-rss-mib", "64"),
    ("--sink-max-growth-kib-per-min", "100"),
    ("--harness-max-rss-mib", "64"),
    ("--harness-max-growth-kib-per-min", "100"),
];

/// A soak of 6 items at 3 a second, every one acknowledged and recorded once; the harness
/// flat at 20 MiB; the sink's RSS rising to 30 MiB and then flat, with `sink_hwm_kib` its
/// `VmHWM` (the peak between samples) from the third sample on.
fn write_soak(dir: &Path, sink_hwm_kib: u64) {
    let load = serde_json::json!({
        "schema": "update-harness/soak-load/1",
        "addr": "127.0.0.1:1",
        "rate_per_s": 3,
        "connections": 1,
        "batch": 1,
        "duration_s": 2.0,
        "source": "soak",
        "version": "A",
        "items_per_m": 3,
        "started_ns": 0,
        "planned_items": 6,
        "sent_items": 6,
        "acked_items": 6,
        "refused_items": 0,
        "failed_items": 0,
        "not_sent_items": 0,
        "acked_requests": 6,
        "errors": {},
        "elapsed_s": 2.0,
        "achieved_rate_per_s": 3.0,
        "send_lag_ms": { "p50": 0.1, "p90": 0.2, "p99": 0.3, "max": 0.4 },
        "latency_ms": { "p50": 1.0, "p90": 2.0, "p99": 3.0, "max": 4.0 },
    });
    std::fs::write(dir.join("load.json"), load.to_string()).unwrap();
    std::fs::write(dir.join("acked.csv"), "first_id,last_id\n0,5\n").unwrap();
    // Item id = m * 3 + n.
    let mut arrivals = "recv_ns,source,m,n,version,instance,attempt,sent_ns\n".to_owned();
    for (m, n) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
        arrivals += &format!("1,soak,{m},{n},A,load-0,1,1\n");
    }
    std::fs::create_dir_all(dir.join("sink")).unwrap();
    std::fs::write(dir.join("sink/arrivals.csv"), arrivals).unwrap();
    let header = "t_s,rss_kib,hwm_kib,cpu_s,children,children_rss_kib\n";
    let mut sink = header.to_owned();
    for (t, rss, hwm) in [
        (0, 10_240, 10_240),
        (60, 20_480, 20_480),
        (120, 30_720, sink_hwm_kib),
        (180, 30_720, sink_hwm_kib),
        (240, 30_720, sink_hwm_kib),
    ] {
        sink += &format!("{t},{rss},{hwm},{}.0,0,0\n", t / 10);
    }
    std::fs::write(dir.join("sink-rss.csv"), sink).unwrap();
    let mut harness = header.to_owned();
    for t in [0, 60, 120, 180, 240] {
        harness += &format!("{t},20480,20480,{}.0,3,9000\n", t / 20);
    }
    std::fs::write(dir.join("harness-rss.csv"), harness).unwrap();
}

/// `soak report` on `dir`'s files with [`BOUNDS`], as `soak.sh` runs it.
fn soak_report(dir: &Path) -> Output {
    let path = |name: &str| dir.join(name).display().to_string();
    std::process::Command::new(env!("CARGO_BIN_EXE_soak"))
        .arg("report")
        .args(["--load-dir", &path("")])
        .args(["--sink-dir", &path("sink")])
        .args(["--sink-rss", &path("sink-rss.csv")])
        .args(["--harness-rss", &path("harness-rss.csv")])
        .args(BOUNDS.iter().flat_map(|(flag, value)| [flag, value]))
        .output()
        .expect("soak runs")
}

/// The reasons `soak.json` gives for a failed soak.
fn failures(dir: &Path) -> Vec<String> {
    let soak: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("soak.json")).unwrap()).unwrap();
    serde_json::from_value(soak["failures"].clone()).unwrap()
}

/// docs/performance.md, "Soak": "Exit 0 passed, 1 failed (each reason said), 2 could not
/// run". The same soak twice, every bound held and then the sink's peak over its bound by
/// 1 MiB, between samples (its `VmHWM`; each RSS sample is well under): exit 1, and that
/// bound, and only it, is the reason printed and written.
#[test]
fn soak_report_exits_1_on_a_broken_bound_and_0_when_every_bound_holds() {
    let held = tempfile::tempdir().unwrap();
    // 60 MiB, under the bound of 64.
    write_soak(held.path(), 60 * 1024);
    let out = soak_report(held.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("\nPASS\n"), "{stdout}");
    assert_eq!(failures(held.path()), Vec::<String>::new());

    let broken = tempfile::tempdir().unwrap();
    // 66,560 KiB / 1024 = 65.0 MiB, over the bound of 64.
    write_soak(broken.path(), 65 * 1024);
    let out = soak_report(broken.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let why = "sink RSS peaked at 65.0 MiB, over the bound of 64 MiB";
    let said: Vec<&str> = stdout
        .split_once("\nFAIL\n")
        .unwrap_or_else(|| panic!("no FAIL in {stdout}"))
        .1
        .lines()
        .collect();
    assert_eq!(said, [format!("  - {why}")], "{stdout}");
    assert_eq!(failures(broken.path()), [why]);

    // Inputs it cannot read: 2, not a verdict.
    std::fs::remove_file(broken.path().join("sink-rss.csv")).unwrap();
    let out = soak_report(broken.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sink-rss.csv"),
        "{out:?}"
    );
}
