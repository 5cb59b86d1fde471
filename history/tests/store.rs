//! The two stores, held to the same answers: a run recorded and read back whole, a run
//! recorded twice kept once, filters by scenario, age and label, migrations from an empty
//! store and from the previous schema, and many writers at once losing nothing. The
//! PostgreSQL cases run on a database of their own on the test server (`.ci/run` starts
//! Debian's); without one they fail, saying so.

use std::collections::BTreeMap;

use history::{Filter, RunRow, ScratchDatabase, Store};

fn row(scenario: &str, i: i64, valid: bool, labels: &[(&str, &str)]) -> RunRow {
    RunRow {
        run_id: format!("{scenario}-{i}"),
        scenario: scenario.into(),
        scenario_path: format!("scenarios/{scenario}.toml"),
        scenario_hash: "0123456789abcdef".into(),
        platform: "local".into(),
        strategy: "swap".into(),
        case: "healthy".into(),
        time_scale: Some(0.1),
        seed: if i % 2 == 0 { Some(i) } else { None },
        harness_version: "0.1.0".into(),
        started_ns: 1_000_000_000 * i,
        recorded_ns: 1_000_000_000 * i + 7,
        valid,
        invalid_reason: if valid {
            String::new()
        } else {
            "the probe client lagged".into()
        },
        run_dir: format!("/runs/{scenario}/run-{i}"),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        metrics: BTreeMap::from([
            ("lost".to_owned(), (i % 3) as f64),
            ("downtime.max_ms".to_owned(), 100.0 + i as f64 / 4.0),
        ]),
    }
}

fn postgres() -> ScratchDatabase {
    let admin = history::test_postgres();
    ScratchDatabase::create(&admin).unwrap_or_else(|e| {
        panic!(
            "these tests need a PostgreSQL server at {} ({}; .ci/run starts Debian's): {e}",
            history::store::shown(&admin),
            history::TEST_POSTGRES_ENV
        )
    })
}

/// Each case, on a SQLite file and on a PostgreSQL database.
fn on_both(case: impl Fn(&str)) {
    let dir = tempfile::tempdir().unwrap();
    case(dir.path().join("history.sqlite").to_str().unwrap());
    let pg = postgres();
    case(&pg.url);
}

#[test]
fn a_run_is_read_back_as_it_was_recorded_and_kept_once() {
    on_both(|target| {
        let mut store = Store::open(target).unwrap();
        let written = row(
            "seed-swap",
            4,
            true,
            &[("commit", "abc123"), ("branch", "main")],
        );
        assert!(store.record(&written).unwrap(), "{target}");
        assert!(
            !store.record(&written).unwrap(),
            "a second record is kept once"
        );
        let odd = row("seed-swap", 5, false, &[]);
        store.record(&odd).unwrap();
        let read = store.runs(&Filter::default()).unwrap();
        assert_eq!(read, vec![written.clone(), odd.clone()], "{target}");
        // A second connection sees the same.
        let mut again = Store::open(target).unwrap();
        assert_eq!(again.runs(&Filter::default()).unwrap(), vec![written, odd]);
    });
}

#[test]
fn runs_are_picked_by_scenario_age_and_every_label() {
    on_both(|target| {
        let mut store = Store::open(target).unwrap();
        for i in 1..=6 {
            let labels: &[(&str, &str)] = if i % 2 == 0 {
                &[("branch", "main"), ("machine", "ci-1")]
            } else {
                &[("branch", "topic")]
            };
            store.record(&row("seed-swap", i, true, labels)).unwrap();
            store.record(&row("seed-drain", i, true, labels)).unwrap();
        }
        let ids = |f: Filter, store: &mut Store| -> Vec<String> {
            store
                .runs(&f)
                .unwrap()
                .into_iter()
                .map(|r| r.run_id)
                .collect()
        };
        assert_eq!(
            ids(
                Filter {
                    scenarios: vec!["seed-drain".into()],
                    since_ns: Some(4_000_000_000),
                    ..Filter::default()
                },
                &mut store
            ),
            ["seed-drain-4", "seed-drain-5", "seed-drain-6"]
        );
        assert_eq!(
            ids(
                Filter {
                    scenarios: vec!["seed-swap".into()],
                    since_ns: None,
                    labels: vec![
                        ("branch".into(), "main".into()),
                        ("machine".into(), "ci-1".into())
                    ],
                    ..Filter::default()
                },
                &mut store
            ),
            ["seed-swap-2", "seed-swap-4", "seed-swap-6"]
        );
        assert!(ids(
            Filter {
                labels: vec![
                    ("branch".into(), "main".into()),
                    ("machine".into(), "ci-2".into())
                ],
                ..Filter::default()
            },
            &mut store
        )
        .is_empty());
    });
}

#[test]
fn an_empty_store_and_a_store_of_the_previous_schema_migrate_to_the_latest() {
    on_both(|target| {
        let latest = history::schema::latest();
        assert!(latest >= 2);
        // From the previous schema, holding a run: it keeps the run and gains the rest.
        let mut old = Store::open_unmigrated(target).unwrap();
        assert_eq!(old.version().unwrap(), 0, "a new store has no migration");
        assert_eq!(old.migrate_to(latest - 1).unwrap(), latest - 1);
        assert_eq!(old.version().unwrap(), latest - 1);
        let mut kept = row("seed-swap", 1, true, &[]);
        // The previous schema has no labels table: record the run as it would have.
        kept.labels.clear();
        if target.starts_with("postgres") {
            let mut c = postgres::Client::connect(target, postgres::NoTls).unwrap();
            c.batch_execute(
                "INSERT INTO runs VALUES ('seed-swap-1', 'seed-swap', 'scenarios/seed-swap.toml', \
                 '0123456789abcdef', 'local', 'swap', 'healthy', 0.1, NULL, '0.1.0', 1000000000, 1, '', \
                 '/runs/seed-swap/run-1', 1000000007); \
                 INSERT INTO metrics VALUES ('seed-swap-1', 'lost', 1), ('seed-swap-1', 'downtime.max_ms', 100.25)",
            )
            .unwrap();
        } else {
            let c = rusqlite::Connection::open(target).unwrap();
            c.execute_batch(
                "INSERT INTO runs VALUES ('seed-swap-1', 'seed-swap', 'scenarios/seed-swap.toml', \
                 '0123456789abcdef', 'local', 'swap', 'healthy', 0.1, NULL, '0.1.0', 1000000000, 1, '', \
                 '/runs/seed-swap/run-1', 1000000007); \
                 INSERT INTO metrics VALUES ('seed-swap-1', 'lost', 1), ('seed-swap-1', 'downtime.max_ms', 100.25)",
            )
            .unwrap();
        }
        drop(old);
        let mut store = Store::open(target).unwrap();
        assert_eq!(store.version().unwrap(), latest);
        assert_eq!(store.runs(&Filter::default()).unwrap(), vec![kept]);
        let labelled = row("seed-swap", 2, true, &[("commit", "def")]);
        store.record(&labelled).unwrap();
        assert_eq!(store.runs(&Filter::default()).unwrap().len(), 2);
        // Opening again applies nothing twice.
        assert_eq!(Store::open(target).unwrap().version().unwrap(), latest);
    });
}

#[test]
fn many_writers_at_once_lose_nothing() {
    on_both(|target| {
        const WRITERS: i64 = 6;
        const RUNS: i64 = 20;
        std::thread::scope(|s| {
            for w in 0..WRITERS {
                s.spawn(move || {
                    // Each writer opens (and so migrates) the store itself, as a CI job does.
                    let mut store = Store::open(target).unwrap();
                    for i in 0..RUNS {
                        let mut r = row("seed-swap", w * 1000 + i, true, &[("writer", "w")]);
                        r.labels.insert("writer".into(), w.to_string());
                        assert!(store.record(&r).unwrap());
                    }
                });
            }
        });
        let runs = Store::open(target)
            .unwrap()
            .runs(&Filter::default())
            .unwrap();
        assert_eq!(runs.len() as i64, WRITERS * RUNS, "{target}");
        for r in &runs {
            assert_eq!(r.metrics.len(), 2, "{}", r.run_id);
            assert_eq!(r.labels.len(), 1, "{}", r.run_id);
        }
        let ids: std::collections::BTreeSet<_> = runs.iter().map(|r| &r.run_id).collect();
        assert_eq!(ids.len() as i64, WRITERS * RUNS);
    });
}

#[test]
fn invalid_runs_are_counted_apart_and_never_pooled() {
    let mut runs: Vec<RunRow> = (1..=5).map(|i| row("seed-swap", i, true, &[])).collect();
    let mut bad = row("seed-swap", 6, false, &[]);
    bad.metrics.insert("lost".into(), 1000.0);
    runs.push(bad);
    let stats = history::stats(&runs, &["lost".into()], None);
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    // lost of runs 1..=5 is i % 3: 1, 2, 0, 1, 2; sorted 0 1 1 2 2.
    assert_eq!((s.runs, s.invalid), (5, 1));
    assert_eq!(
        (s.p50, s.p95, s.p99, s.last),
        (Some(1.0), Some(2.0), Some(2.0), Some(2.0))
    );
}

/// A budget's basis read from each store: only its series (scenario hash, platform,
/// strategy), only valid runs that measured the metric, the window's last N or those
/// recorded within its age, and the nearest-rank quantile of what is left, computed here
/// from the rows as written.
#[test]
fn a_budget_reads_its_own_series_in_its_window() {
    on_both(|target| {
        let mut store = Store::open(target).unwrap();
        // Runs 1..=8 of the series; run 5 invalid; run 3 without the metric.
        for i in 1..=8 {
            let mut r = row("seed-swap", i, i != 5, &[]);
            r.metrics.insert("lost".into(), (i * 10) as f64);
            if i == 3 {
                r.metrics.remove("lost");
            }
            store.record(&r).unwrap();
        }
        // Another platform's run and another scenario hash's: never in the series.
        let mut other = row("seed-swap", 20, true, &[]);
        other.platform = "sim".into();
        other.metrics.insert("lost".into(), 999.0);
        store.record(&other).unwrap();
        let mut edited = row("seed-swap", 21, true, &[]);
        edited.scenario_hash = "fedcba9876543210".into();
        edited.metrics.insert("lost".into(), 999.0);
        store.record(&edited).unwrap();
        let series = history::Series {
            scenario_hash: "0123456789abcdef".into(),
            platform: "local".into(),
            strategy: "swap".into(),
        };
        let now_ns = 9_000_000_000;
        let basis = |store: &mut Store, text: &str| {
            history::basis(Ok(store), &series, &text.parse().unwrap(), now_ns)
        };
        // The valid runs with a value: 10, 20, 40, 60, 70, 80. The last 4: 40, 60, 70, 80;
        // P50 by nearest rank is the 2nd of 4.
        let b = basis(&mut store, "lost p50 last=4");
        assert_eq!((b.runs, b.reference), (4, Some(60.0)), "{target}");
        // Within 4 s of t = 9 s: recorded at 5..8 s (+7 ns): 60, 70, 80 (5 is invalid).
        let b = basis(&mut store, "lost p99 since=4s");
        assert_eq!((b.runs, b.reference), (3, Some(80.0)), "{target}");
        let b = basis(&mut store, "lost p1 since=21d");
        assert_eq!((b.runs, b.reference), (6, Some(10.0)), "{target}");
        // A metric no run measured: no reference, and the budget will say so.
        let b = basis(&mut store, "lost{phase=update} since=21d");
        assert_eq!((b.runs, b.reference, b.unavailable), (0, None, None));
    });
}
