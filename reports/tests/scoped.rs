//! Thresholds over a part of the run, on a run directory written by hand whose answers are
//! counted here: 100 items due 100 ms apart from 0 to 9.9 s, the update from 4 s to 6 s,
//! the items due at 4.0, 4.1, 4.2 and 8.0 s lost, the one at 5.0 s twice, the one at 1.0 s
//! late, and the probes every 100 ms failing from 4.0 s to 4.4 s.

use std::fmt::Write as _;
use std::path::Path;

use reports::judge::{judge, Rules};
use reports::record::Record;
use reports::summary::RunInfo;
use reports::RunDir;

const MS: i64 = 1_000_000;
/// Not 0: a run's clock is the Unix epoch's.
const T0: i64 = 1_800_000_000_000_000_000;

fn write_run(dir: &Path) {
    let expected = format!(
        r#"{{"sources": [{{"source": "tick", "epoch_ns": {T0}, "period_ns": 1000000000,
        "items": 10, "item_delay_ns": 100000000, "first": 0, "last": 9}}],
        "late_after_ns": 1000000000}}"#
    );
    std::fs::write(dir.join("expected.json"), expected).unwrap();
    let mut arrivals = String::from("recv_ns,source,m,n,version,instance,attempt,sent_ns\n");
    for m in 0..10i64 {
        for n in 0..10i64 {
            let due_ms = m * 1000 + n * 100;
            if [4000, 4100, 4200, 8000].contains(&due_ms) {
                continue;
            }
            let late_ms = if due_ms == 1000 { 1500 } else { 1 };
            let copies = if due_ms == 5000 { 2 } else { 1 };
            for _ in 0..copies {
                let at = T0 + (due_ms + late_ms) * MS;
                writeln!(arrivals, "{at},tick,{m},{n},A,a-0,1,{at}").unwrap();
            }
        }
    }
    std::fs::write(dir.join("arrivals.csv"), arrivals).unwrap();
    let mut probes =
        String::from("intended_ns,sent_ns,done_ns,ok,status,instance,version,error,conn\n");
    for k in 0..100i64 {
        let t = T0 + k * 100 * MS;
        let (ok, status) = if (40..45).contains(&k) {
            ("false", 503)
        } else {
            ("true", 200)
        };
        writeln!(probes, "{t},{t},{},{ok},{status},a-0,A,,reused", t + MS).unwrap();
    }
    std::fs::write(dir.join("probes.csv"), probes).unwrap();
    let ledger = format!(
        "t_ns,event,instance,version,slot,detail\n{},phase_begun,,B,,phase=update\n{},phase_ended,,B,,phase=update\n",
        T0 + 4000 * MS,
        T0 + 6000 * MS
    );
    std::fs::write(dir.join("ledger.csv"), ledger).unwrap();
}

#[test]
fn scoped_and_sliding_thresholds_give_the_counted_answers() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let run = RunDir::new(dir.path());
    let verdict = reports::checker::check_run(&run).unwrap();
    assert_eq!((verdict.lost, verdict.duplicated, verdict.late), (4, 1, 1));
    let cases = [
        // 3 of the 4 lost were due in [4 s, 6 s).
        ("lost{phase=update} == 3", 3.0),
        ("lost{phase=after} <= 1", 1.0),
        ("lost{phase=before} == 0", 0.0),
        ("lost_rate{phase=update} < 0.2", 0.15),
        ("probes.failed{phase=update} == 5", 5.0),
        // The window 4.0..4.5 s cut to [4.2 s, 4.7 s).
        ("downtime.total_ms{from=update,for=200ms} <= 200", 200.0),
        ("downtime.total_ms{from=update_end} == 0", 0.0),
        // 4.0, 4.1 and 4.2 s fit in 300 ms, never in 200 ms.
        ("lost{window=300ms} == 3", 3.0),
        ("lost{window=200ms} == 2", 2.0),
        // Five failed of five sent in the worst 500 ms; five of ten in the worst second.
        ("probes.failed_rate{window=500ms} < 0.01", 1.0),
        ("probes.failed_rate{window=1s} <= 0.5", 0.5),
    ];
    let rules = Rules {
        thresholds: cases.iter().map(|(t, _)| t.parse().unwrap()).collect(),
        control_max_ms: 2000.0,
        max_send_lag_ms: 1000.0,
    };
    let record = Record::new(RunInfo::default(), Vec::new(), None);
    let j = judge("scoped", &record, Some(verdict), &rules).unwrap();
    for ((text, want), got) in cases.iter().zip(&j.summary.thresholds) {
        assert_eq!(got.value, Some(*want), "{text}");
        assert_eq!(
            &got.threshold,
            &text
                .parse::<reports::threshold::Threshold>()
                .unwrap()
                .to_string()
        );
    }
    let failed: Vec<&str> = j
        .summary
        .thresholds
        .iter()
        .filter(|t| !t.ok)
        .map(|t| t.threshold.as_str())
        .collect();
    assert_eq!(failed, ["probes.failed_rate{window=500ms} < 0.01"]);
    // Recovery: the first failure at 4.0 s; the failures after it run to the duplicate at
    // 5.0 s; 5.1 s starts the first second with none. Throughput: 10 a second before,
    // 17 of 20 in the 2 s of the update (an item's arrival is 1 ms after it was due).
    let r = j.summary.verdict.recovery.as_ref().unwrap();
    assert_eq!(r.recovery_ms, Some(1100.0));
    let t = j.summary.verdict.throughput.as_ref().unwrap();
    assert_eq!((t.before_per_s, t.update_per_s), (10.0, 8.5));
    // The summary keeps each scoped value, so a summary read back answers alike.
    run.write_summary(&j.summary).unwrap();
    let back = run.read_summary().unwrap().unwrap();
    assert_eq!(back.verdict.scoped.len(), cases.len());
    let m: reports::measure::Measure = "lost{phase=update}".parse().unwrap();
    assert_eq!(
        reports::scoped::measured(&m, &back.verdict, None),
        Some(3.0)
    );
    assert_eq!(
        reports::metric::Metric::RecoveryMs.value(&back.verdict, None),
        Some(1100.0)
    );
}
