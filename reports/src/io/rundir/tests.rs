//! The run directory on real files: chunked parsing whatever the chunk size, errors that
//! name the file, line and column, baselines, round trips, the row limit, and missing or
//! foreign files.

use super::*;
use crate::io::table::TableError;

type Seen = Vec<(i64, String, u64, u64, String, Option<u32>)>;

fn seen(seen: &mut Seen, a: &ArrivalRef<'_>) {
    let (source, version) = (a.source.to_owned(), a.version.to_owned());
    seen.push((a.recv_ns, source, a.m, a.n, version, a.attempt));
}

fn rows_in_chunks(run: &RunDir, chunk_bytes: usize) -> Result<(u64, Seen), RunDirError> {
    let mut rows_seen = Vec::new();
    let rows = run.for_each_arrival_in_chunks(chunk_bytes, |a| seen(&mut rows_seen, a))?;
    Ok((rows, rows_seen))
}

#[test]
fn chunked_parsing_reads_every_row_in_order_whatever_the_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    // Plain rows, a CRLF, a blank line, new names late in the file, and quoted fields
    // with a comma and a newline inside: chunk cuts must fall between records only.
    let mut text = String::from("recv_ns,source,m,n,version,attempt\n");
    for i in 0..40 {
        text.push_str(&format!("{},tick,{},{},A,1\n", 1000 + i, i / 10, i % 10));
    }
    text.push_str("2000,tick,9,0,B,2\r\n\n2001,\"tick\",9,1,\"B\",\n");
    text.push_str("2002,proc,9,2,\"C,\nD\",1\n2003,tick,9,3,A,1");
    std::fs::write(run.file(ARRIVALS_FILE), &text).unwrap();
    let mut whole = Vec::new();
    run.scan_arrivals(false, |a| seen(&mut whole, a)).unwrap();
    assert_eq!(whole.len(), 44);
    assert_eq!(whole[42].4, "C,\nD");
    for chunk_bytes in [1, 7, 23, 64, 200, 1 << 20] {
        let (rows, seen) = rows_in_chunks(&run, chunk_bytes).unwrap();
        assert_eq!(rows, 44, "chunks of {chunk_bytes}");
        assert_eq!(seen, whole, "chunks of {chunk_bytes}");
    }
}

#[test]
fn chunked_parsing_names_the_line_of_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut text = String::from("recv_ns,source,m,n,version\n");
    for i in 0..100 {
        text.push_str(&format!("{i},tick,0,{i},A\n"));
    }
    text.push_str("\"5\",tick,0,1,A\n7,tick,0,x,A\n8,tick,0,2,A\n");
    std::fs::write(run.file(ARRIVALS_FILE), &text).unwrap();
    for chunk_bytes in [5, 100, 1 << 20] {
        let err = rows_in_chunks(&run, chunk_bytes).unwrap_err().to_string();
        assert!(
            err.contains("arrivals.csv:103: column \"n\""),
            "chunks of {chunk_bytes}: {err}"
        );
    }
}

#[test]
fn columns_are_found_by_name_and_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    std::fs::write(
        run.file(ARRIVALS_FILE),
        "extra,version,n,m,source,recv_ns\nx,A,2,1,tick,100\ny,B,3,1,tick,oops\n",
    )
    .unwrap();
    let mut seen = Vec::new();
    let err = run
        .for_each_arrival(|a| seen.push((a.recv_ns, a.m, a.n, a.version.to_owned())))
        .unwrap_err();
    assert_eq!(seen, vec![(100, 1, 2, "A".to_owned())]);
    let text = err.to_string();
    assert!(
        text.contains("arrivals.csv:3: column \"recv_ns\""),
        "{text}"
    );
    assert!(text.contains("oops"), "{text}");

    std::fs::write(
        run.file(ARRIVALS_FILE),
        "recv_ns,source,m,version\n1,tick,1,A\n",
    )
    .unwrap();
    let err = run.for_each_arrival(|_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            RunDirError::Table(TableError::MissingColumn { column: "n", .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("arrivals.csv"), "{err}");
}

#[test]
fn a_plain_name_is_a_saved_baseline_and_a_path_is_a_run_directory() {
    let b = Baselines::new("runs/baselines");
    assert_eq!(b.resolve("main"), PathBuf::from("runs/baselines/main"));
    assert_eq!(
        b.resolve("runs/baselines/main"),
        PathBuf::from("runs/baselines/main")
    );
    assert_eq!(b.resolve("./r1"), PathBuf::from("./r1"));
    assert!(!Baselines::is_name("..") && !Baselines::is_name("a/b") && !Baselines::is_name(""));
}

#[test]
fn files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut a = Arrival::new(10, "tick", 1, 2, "A");
    a.instance = Some("a-0".into());
    a.attempt = Some(2);
    let arrivals = vec![a, Arrival::new(11, "proc", 0, 0, "B")];
    run.write_arrivals(&arrivals).unwrap();
    assert_eq!(run.read_arrivals().unwrap(), arrivals);
    let text = std::fs::read_to_string(run.file(ARRIVALS_FILE)).unwrap();
    assert!(text.starts_with(&format!(
        "{}\n10,tick,1,2,A,a-0,2,\n",
        sink::ARRIVALS_HEADER
    )));

    let mut p = Probe::new(5, 9, false);
    p.status = Some(503);
    let mut q = Probe::new(6, 8, false);
    q.error = Some("timeout".into());
    let probes = vec![p, q, Probe::new(6, 7, true)];
    run.write_probes(&probes).unwrap();
    assert_eq!(run.read_probes().unwrap(), probes);

    let ledger = vec![
        LedgerEvent::new(1, Kind::InvocationBegun, "a-0", "A", "production")
            .with("inv", 1)
            .with("source", "tick"),
    ];
    run.write_ledger(&ledger).unwrap();
    assert_eq!(run.read_ledger().unwrap(), ledger);
}

#[test]
fn files_read_whole_stop_past_the_row_limit_and_streaming_reads_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path()).with_row_limit(3);
    let four = |i: i64| (0..4).map(move |k| i + k);
    let arrivals: Vec<_> = four(10)
        .map(|t| Arrival::new(t, "tick", 0, t as u64, "A"))
        .collect();
    run.write_arrivals(&arrivals).unwrap();
    let probes: Vec<_> = four(5).map(|t| Probe::new(t, t + 1, true)).collect();
    run.write_probes(&probes).unwrap();
    let ledger: Vec<_> = four(1)
        .map(|t| LedgerEvent::new(t, Kind::TimerLease, "a-0", "A", "production"))
        .collect();
    run.write_ledger(&ledger).unwrap();
    std::fs::write(
        run.file(EVENTS_FILE),
        "recv_ns,t_ns,event,instance,version,detail\n1,,heartbeat,a-0,A,\n2,,heartbeat,a-0,A,\n\
         3,,heartbeat,a-0,A,\n4,,heartbeat,a-0,A,\n",
    )
    .unwrap();
    std::fs::write(
        run.file(TRACES_FILE),
        format!("{TRACES_HEADER}\n1,a-0,A\n2,a-0,A\n3,a-0,A\n4,a-0,A\n"),
    )
    .unwrap();
    let errors = [
        (ARRIVALS_FILE, run.read_arrivals().map(|_| ()).unwrap_err()),
        (PROBES_FILE, run.read_probes().map(|_| ()).unwrap_err()),
        (
            LEDGER_FILE,
            run.read_platform_ledger().map(|_| ()).unwrap_err(),
        ),
        (EVENTS_FILE, run.read_app_events().map(|_| ()).unwrap_err()),
        (TRACES_FILE, run.read_traces().map(|_| ()).unwrap_err()),
    ];
    for (file, e) in &errors {
        assert!(
            matches!(e, RunDirError::TooManyRows { limit: 3, .. }),
            "{file}: {e}"
        );
        let text = e.to_string();
        assert!(
            text.contains(file) && text.contains("more than 3 rows"),
            "{text}"
        );
    }
    assert!(errors[0].1.to_string().contains("harness check"));
    assert!(errors[1].1.to_string().contains("probes.rate"));
    // The checker's streaming reads take every row.
    assert_eq!(run.for_each_arrival(|_| {}).unwrap(), 4);
    assert_eq!(run.for_each_arrival_for_check(|_| {}).unwrap(), 4);
    // At the limit, a file loads.
    let run = RunDir::new(dir.path()).with_row_limit(4);
    assert_eq!(run.read_arrivals().unwrap(), arrivals);
    assert_eq!(run.read_probes().unwrap(), probes);
    assert_eq!(run.read_ledger().unwrap().len(), 8);
}

#[test]
fn missing_optional_files_are_empty_and_bad_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    assert!(run.read_probes().unwrap().is_empty());
    assert!(run.read_ledger().unwrap().is_empty());
    assert!(run.read_summary().unwrap().is_none());
    std::fs::write(run.file(SUMMARY_FILE), r#"{"schema":"other/9"}"#).unwrap();
    assert!(matches!(
        run.read_summary().unwrap_err(),
        RunDirError::Schema { .. }
    ));
    let err = run.read_expected().unwrap_err();
    assert!(err.to_string().contains("expected.json"), "{err}");
}
