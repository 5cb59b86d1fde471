//! The run directory's readers and the grammars of `reports` never panic: `expected.json`,
//! the CSV files (`arrivals.csv`, `probes.csv`, `ledger.csv`, `events.csv`, `traces.csv`),
//! `summary.json`, the threshold grammar and `--priority`, fed arbitrary bytes and
//! near-misses of valid files. Each returns a value or an error that names the line (a CSV
//! row, a JSON position) or the byte (a threshold) inside the input; a hostile
//! `expected.json` is refused before the checker allocates its grid. The regression corpus
//! under `tests/corpus/` is replayed on every run.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use reports::advice::Priorities;
use reports::expected::{CompletionSpec, MAX_EXPECTED_KEYS};
use reports::threshold::{parse_expression, Threshold};
use reports::{Checker, ExpectedSpec, RunDir, RunDirError, SourceSpec, TableError};

#[path = "../../sink/tests/support/mutate.rs"]
mod mutate;
use mutate::{any_bytes, any_text, near_miss, near_miss_text, TOKENS};

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

const EXPECTED_SEEDS: &[&str] = &[
    r#"{"sources":[{"source":"tick","epoch_ns":1795327655926322279,"period_ns":1000000000,"items":10,"item_delay_ns":100000000,"first":2,"last":9}],"late_after_ns":200000000}"#,
    r#"{"sources":[{"source":"proc","epoch_ns":-5,"period_ns":1,"items":3,"counts":[1,3,0],"item_delay_ns":0,"first":0,"last":2},
                   {"source":"tick","epoch_ns":0,"period_ns":10,"items":1,"item_delay_ns":0,"first":18446744073709551615,"last":18446744073709551615}],
        "late_after_ns":0,"completion":{"check_interval_ns":1000,"buffer_ns":0,"from_version":"A"}}"#,
];

const ARRIVALS_SEEDS: &[&str] = &[
    "recv_ns,source,m,n,version,instance,attempt,sent_ns\n\
     1795327657930686580,tick,2,0,A,a-0,1,1795327657930295250\n\
     1795327658030475123,tick,2,1,A,a-0,2,\n\
     -9223372036854775808,tick,18446744073709551615,0,B,b-0,,1795327658030232499\n",
    "n,m,version,source,recv_ns,extra\r\n0,0,\"A\",tick,5,x\r\n\r\n1,0,A,\"ti,ck\",6,\"y\nz\"\r\n",
];

const PROBES_SEEDS: &[&str] = &[
    "intended_ns,sent_ns,done_ns,ok,status,instance,version,error,conn\n\
     1795327655926322279,1795327655926580526,1795327655927239842,true,200,a-0,A,,k0\n\
     1795327655936322279,,1795327655946322279,false,,,,timeout,k1\n\
     1795327655946322279,,1795327655946322279,false,503,,,,new\n",
];

const LEDGER_SEEDS: &[&str] = &["t_ns,event,instance,version,slot,detail\n\
     100,phase_begun,,A,,phase=update\n\
     110,instance_started,a-0,A,production,pid=17251\n\
     120,invocation_begun,a-0,A,production,inv=1 source=tick m=2 catch_up=false\n\
     130,item_sent,a-0,A,production,source=tick m=2 n=3\n\
     140,invocation_killed,a-0,A,production,inv=1\n\
     150,instance_killed,a-0,A,production,code=9\n\
     160,phase_ended,,B,,phase=update\n\
     170,run_ended,,,,\n"];

const EVENTS_SEEDS: &[&str] = &["recv_ns,t_ns,event,instance,version,detail\n\
     5,4,started,a-0,A,pid=42\n\
     6,,cancelled,a-0,A,active=1\n\
     7,7,run_begun,a-0,A,run=1 source=tick m=2\n\
     8,8,unacked,a-0,A,source=tick m=2 n=3 sent_ns=8\n\
     9,9,exiting,a-0,A,unacked=1\n"];

const TRACES_SEEDS: &[&str] = &["t_ns,instance,version\n5,a-0,A\n6,b-0,B\n7,,\n"];

const SUMMARY_SEEDS: &[&str] = &[r#"{"schema":"update-harness/summary/1","nothing":"else"}"#];

/// The files of a run directory, each with its seeds.
const FILES: &[(&str, &[&str])] = &[
    ("expected.json", EXPECTED_SEEDS),
    ("arrivals.csv", ARRIVALS_SEEDS),
    ("probes.csv", PROBES_SEEDS),
    ("ledger.csv", LEDGER_SEEDS),
    ("events.csv", EVENTS_SEEDS),
    ("traces.csv", TRACES_SEEDS),
    ("summary.json", SUMMARY_SEEDS),
];

/// Lines of a file as the readers number them: a last line without its newline counts.
fn lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// An error names the file and, where it has one, a line inside it; never an I/O error on a
/// file that is there to read.
fn check_error(name: &str, bytes: &[u8], e: &RunDirError) {
    let text = e.to_string();
    assert!(
        text.contains(name),
        "{name}: the error does not name it: {text}"
    );
    let max = lines(bytes);
    match e {
        RunDirError::Table(TableError::BadValue { line, .. }) => {
            assert!((1..=max).contains(line), "line {line} of {max}: {text}");
        }
        RunDirError::Table(TableError::Csv { source, .. }) => {
            if let Some(p) = source.position() {
                assert!(p.line() <= max, "line {} of {max}: {text}", p.line());
            }
        }
        RunDirError::Json { source, .. } => {
            assert!(source.line() as u64 <= max, "{text}");
        }
        RunDirError::Table(TableError::Io { .. }) | RunDirError::Io { .. } => {
            panic!("{name}: an I/O error reading a file that is there: {text}")
        }
        _ => {}
    }
}

/// One arrival as both readers of `arrivals.csv` give it.
type Row = (i64, String, u64, u64, String, Option<u32>);

/// Reads `name`, holding `bytes`, with its reader; `Ok` holds the number of rows.
fn read(name: &str, bytes: &[u8]) -> Result<usize, RunDirError> {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    std::fs::write(run.file(name), bytes).unwrap();
    let got = match name {
        "expected.json" => run.read_expected().map(|spec| {
            check_spec(&spec);
            spec.sources.len()
        }),
        "arrivals.csv" => read_arrivals_both_ways(&run),
        "probes.csv" => run.read_probes().map(|p| p.len()),
        "ledger.csv" => run.read_ledger().map(|l| l.len()),
        "events.csv" => run.read_app_events().map(|l| l.len()),
        "traces.csv" => run.read_traces().map(|t| t.map_or(0, |t| t.len())),
        "summary.json" => run.read_summary().map(|s| usize::from(s.is_some())),
        other => panic!("no reader for {other}"),
    };
    if let Err(e) = &got {
        check_error(name, bytes, e);
    }
    got
}

/// The two readers of `arrivals.csv` (every column, in one pass; the checker's, in parallel
/// chunks, leaving `instance` and `sent_ns` unread) agree on every row, or both refuse the
/// file, or only the first does, for a column the second does not read.
fn read_arrivals_both_ways(run: &RunDir) -> Result<usize, RunDirError> {
    let row = |a: &reports::ArrivalRef<'_>| -> Row {
        let (source, version) = (a.source.to_owned(), a.version.to_owned());
        (a.recv_ns, source, a.m, a.n, version, a.attempt)
    };
    let mut all = Vec::new();
    let whole = run.for_each_arrival(|a| all.push(row(a)));
    let mut chunked = Vec::new();
    let checker = run.for_each_arrival_for_check(|a| chunked.push(row(a)));
    match (&whole, &checker) {
        (Ok(_), Ok(_)) => assert_eq!(all, chunked, "the two readers disagree"),
        (Err(_), Err(_)) => {}
        (
            Err(RunDirError::Table(TableError::BadValue {
                column: "instance" | "sent_ns",
                ..
            })),
            Ok(_),
        ) => {}
        _ => panic!(
            "one reader refuses what the other reads: whole {}, for the check {}",
            short(&whole),
            short(&checker)
        ),
    }
    whole.map(|rows| rows as usize)
}

/// A result as text, cut short: a failing input may hold a very long field.
fn short<T: std::fmt::Debug>(r: &Result<T, RunDirError>) -> String {
    let text = match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e})"),
    };
    text.chars().take(300).collect()
}

/// A spec `read_expected` accepts is one the checker can hold: within the key limit, and
/// every expected key at an index inside its grid.
fn check_spec(spec: &ExpectedSpec) {
    let cells: u128 = spec.sources.iter().map(|s| u128::from(s.grid_len())).sum();
    assert!(cells <= MAX_EXPECTED_KEYS, "{cells} cells");
    assert!(u128::from(spec.key_count()) <= cells);
    for s in &spec.sources {
        let grid = s.grid_len();
        for m in [
            s.first,
            s.last,
            s.first.saturating_add(1),
            s.last.saturating_sub(1),
        ] {
            for n in [0, s.items - 1, s.items] {
                if let Some(i) = s.index(m, n) {
                    assert!((i as u64) < grid, "{m},{n} at {i} of a grid of {grid}");
                    assert_eq!(s.key_at(i), (m, n));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn run_files_arbitrary_bytes(file in 0..FILES.len(), bytes in any_bytes(400)) {
        let _ = read(FILES[file].0, &bytes);
    }

    #[test]
    fn run_files_arbitrary_text(file in 0..FILES.len(), text in any_text(400)) {
        let _ = read(FILES[file].0, text.as_bytes());
    }

    #[test]
    fn expected_near_misses(bytes in near_miss(seeds(EXPECTED_SEEDS), TOKENS)) {
        let _ = read("expected.json", &bytes);
    }

    #[test]
    fn arrivals_near_misses(bytes in near_miss(seeds(ARRIVALS_SEEDS), TOKENS)) {
        let _ = read("arrivals.csv", &bytes);
    }

    /// Tables built field by field: columns in any order, rows short or long, fields quoted
    /// or not, line ends of every kind.
    #[test]
    fn arrivals_tables(table in csv_table(&["recv_ns", "source", "m", "n", "version", "attempt", "instance", "sent_ns"])) {
        let _ = read("arrivals.csv", table.as_bytes());
    }

    /// Any of the other CSV files, edited, read as any of them: a ledger read as probes is
    /// a near-miss too.
    #[test]
    fn other_csv_near_misses(file in 2usize..6,
                             bytes in near_miss(seeds(&[PROBES_SEEDS[0], LEDGER_SEEDS[0], EVENTS_SEEDS[0], TRACES_SEEDS[0]]), TOKENS)) {
        let _ = read(FILES[file].0, &bytes);
    }

    /// Windows at the edges of `u64`: accepted only when the grid fits the checker's limit,
    /// and then every key indexes inside it.
    #[test]
    fn expected_windows_at_the_edges(sources in proptest::collection::vec(source_spec(), 1..3), late_after_ns in edge_i64()) {
        let spec = ExpectedSpec { sources, late_after_ns, completion: None };
        let text = serde_json::to_vec(&spec).unwrap();
        if read("expected.json", &text).is_ok() {
            let checker = Checker::new(&spec).unwrap();
            prop_assert_eq!(checker.first_arrivals_ns().len() as u64, spec.sources.iter().map(SourceSpec::grid_len).sum::<u64>());
        }
    }

    #[test]
    fn thresholds_arbitrary_text(text in any_text(40)) {
        check_threshold(&text);
        check_priorities(&text);
    }

    #[test]
    fn thresholds_near_misses(text in near_miss_text(THRESHOLD_SEEDS, TOKENS)) {
        check_threshold(&text);
        check_priorities(&text);
    }
}

/// A CSV table with `columns` (and an extra one) in any order, its values mostly of the
/// column's type: rows one field short or up to two long, fields quoted or not, each line
/// ending in `\n`, `\r\n` or a lone `\r`, or followed by a blank line.
fn csv_table(columns: &'static [&'static str]) -> impl Strategy<Value = String> {
    let mut header: Vec<&'static str> = columns.to_vec();
    header.push("extra");
    let end =
        || prop_oneof![8 => Just("\n"), 2 => Just("\r\n"), 1 => Just("\r"), 1 => Just("\n\n")];
    let row = (
        proptest::collection::vec(
            (
                any::<proptest::sample::Index>(),
                any::<u64>(),
                any::<i64>(),
                0u8..20,
            ),
            header.len(),
        ),
        prop_oneof![6 => Just(0i8), 1 => Just(-1), 1 => Just(1), 1 => Just(2)],
        end(),
    );
    (
        Just(header).prop_shuffle(),
        proptest::bool::weighted(0.1),
        end(),
        proptest::collection::vec(row, 0..8),
    )
        .prop_map(|(header, quoted_header, end, rows)| {
            let quote = |f: String, yes: bool| {
                if yes {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f
                }
            };
            let mut text = header
                .iter()
                .map(|h| quote((*h).to_owned(), quoted_header))
                .collect::<Vec<_>>()
                .join(",");
            text.push_str(end);
            for (values, extra, end) in rows {
                let mut fields: Vec<String> = header
                    .iter()
                    .zip(&values)
                    .map(|(column, (token, u, i, dice))| {
                        let value = match (*column, dice) {
                            (_, 0) => TOKENS[token.index(TOKENS.len())].to_owned(),
                            (_, 1) => String::new(),
                            ("recv_ns" | "sent_ns", _) => i.to_string(),
                            ("source" | "version" | "instance" | "extra", _) => {
                                format!("v{}", u % 7)
                            }
                            ("attempt", _) => (u % 5).to_string(),
                            _ => (u % 1000).to_string(),
                        };
                        quote(value, *dice == 2)
                    })
                    .collect();
                match extra {
                    -1 => {
                        fields.pop();
                    }
                    n => fields.extend((0..n).map(|k| format!("x{k}"))),
                }
                text.push_str(&fields.join(","));
                text.push_str(end);
            }
            text
        })
}

fn seeds(seeds: &[&str]) -> Vec<Vec<u8>> {
    seeds.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Integers at the edges: 0, 1, the halves and the ends of the type, and a few small ones.
fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..20,
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1 << 32),
        Just((1 << 32) - 1),
        Just(1 << 63),
        Just(100_000_000),
        any::<u64>(),
    ]
}

fn edge_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        -2i64..20,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(1_000_000_000),
        any::<i64>(),
    ]
}

fn source_spec() -> impl Strategy<Value = SourceSpec> {
    (
        prop_oneof![Just("tick".to_owned()), "[a-z,é ]{0,4}"],
        (edge_i64(), edge_i64(), edge_u64(), edge_i64()),
        (edge_u64(), edge_u64()),
        proptest::option::weighted(0.3, proptest::collection::vec(edge_u64(), 0..6)),
    )
        .prop_map(
            |(source, (epoch_ns, period_ns, items, item_delay_ns), (first, last), counts)| {
                SourceSpec {
                    source,
                    epoch_ns,
                    period_ns,
                    items,
                    counts,
                    item_delay_ns,
                    first,
                    last,
                }
            },
        )
}

const THRESHOLD_SEEDS: &[&str] = &[
    "lost == 0",
    "downtime.max_ms<500",
    "  lateness.p99_ms >= 3e3 ",
    "late_rate < 0.01",
    "update.duration_ms != 60000",
];

/// A threshold parses to one that prints and parses back to itself, or fails at a byte of
/// the text (a char boundary, so the position can be shown).
fn check_threshold(text: &str) {
    match text.parse::<Threshold>() {
        Ok(t) => {
            assert!(t.limit.is_finite());
            let again: Threshold = t.to_string().parse().expect("a printed threshold parses");
            assert_eq!(again, t);
        }
        Err(e) => {
            assert!(e.at <= text.len(), "{e}");
            assert!(text.is_char_boundary(e.at), "{e}");
        }
    }
    if let Err(e) = parse_expression(text) {
        assert!(e.at <= text.len() && text.is_char_boundary(e.at), "{e}");
    }
}

/// A priority's error names a term of the list it was given.
fn check_priorities(text: &str) {
    if let Err(e) = text.parse::<Priorities>() {
        let terms = text.split(',').count();
        assert!((1..=terms).contains(&e.position), "{e}");
        let _ = e.to_string();
    }
}

/// Every input that once failed, and the near-misses kept beside them: each corpus
/// directory is named after the file its inputs are read as, and each input parses or is
/// refused as its name says (`ok-*`, `err-*`), without a panic.
#[test]
fn regression_corpus() {
    for (file, _) in FILES {
        // Every file the reports read has its corpus: a folder gone missing is a failure,
        // not a corpus of nothing.
        let dir = corpus_dir(file);
        assert!(
            dir.is_dir(),
            "the corpus folder {} is missing",
            dir.display()
        );
        let inputs = mutate::corpus(&dir);
        assert!(!inputs.is_empty(), "{} holds no input", dir.display());
        for (name, bytes) in inputs {
            let got = read(file, &bytes);
            mutate::check_want(&format!("{file}/{name}"), &got);
        }
    }
    for (name, bytes) in mutate::corpus(&corpus_dir("threshold")) {
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        check_threshold(text);
        mutate::check_want(&name, &text.parse::<Threshold>());
    }
}

/// The checker's grid is sized from `expected.json`: a window of every `u64` occurrence,
/// or one whose size wraps to a small number, is refused at once, not allocated.
#[test]
fn a_hostile_window_is_refused_before_allocation() {
    let source = |first: u64, last: u64, items: u64| SourceSpec {
        source: "tick".into(),
        epoch_ns: 0,
        period_ns: 1,
        items,
        counts: None,
        item_delay_ns: 0,
        first,
        last,
    };
    // Refused before any key is walked: walking 2^64 keys would hang the test, not slow it.
    for s in [
        source(0, u64::MAX, 1),
        source(0, u64::MAX, u64::MAX),
        source(0, (1 << 32) - 1, 1 << 32),
        source(1, u64::MAX, 2),
        source(0, 100_000_000, 1),
    ] {
        let spec = ExpectedSpec {
            sources: vec![s.clone()],
            late_after_ns: 0,
            completion: Some(CompletionSpec {
                check_interval_ns: 1,
                buffer_ns: 0,
                from_version: "A".into(),
            }),
        };
        let err = spec.validate().expect_err("too big to check");
        assert!(
            err.to_string().contains("limit"),
            "{}..={} x {}: {err}",
            s.first,
            s.last,
            s.items
        );
        assert!(Checker::new(&spec).is_err());
    }
}
