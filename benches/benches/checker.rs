//! The checker's hot paths: pushing arrivals into the grid, and checking a run directory
//! from disk (parsing included), over 1M arrival rows.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use reports::{Arrival, Checker, ExpectedSpec, RunDir, SourceSpec};

const OCCURRENCES: u64 = 10_000;
const ITEMS: u64 = 100;

fn spec() -> ExpectedSpec {
    ExpectedSpec {
        sources: vec![SourceSpec {
            source: "tick".into(),
            epoch_ns: 1_763_800_000_000_000_000,
            period_ns: 10_000_000_000,
            items: ITEMS,
            item_delay_ns: 99_000_000,
            first: 0,
            last: OCCURRENCES - 1,
            counts: None,
        }],
        late_after_ns: 2_000_000_000,
        completion: None,
    }
}

/// 1M arrivals: every key once, 1 in 200 twice, slightly out of order.
fn arrivals(spec: &ExpectedSpec) -> Vec<Arrival> {
    let s = &spec.sources[0];
    let mut out = Vec::with_capacity((OCCURRENCES * ITEMS) as usize + 5_000);
    for m in 0..OCCURRENCES {
        for n in 0..ITEMS {
            let jitter = ((m * 7 + n * 13) % 5) as i64 * 1_000_000;
            let mut a = Arrival::new(s.scheduled_ns(m, n) + 2_000_000 + jitter, "tick", m, n, "A");
            a.attempt = Some(1);
            out.push(a.clone());
            if (m + n) % 200 == 0 {
                a.attempt = Some(2);
                a.recv_ns += 50_000_000;
                out.push(a);
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    let arrivals = arrivals(&spec);
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.throughput(Throughput::Elements(arrivals.len() as u64));
    group.bench_function("push_and_finish_1m_rows", |b| {
        b.iter(|| {
            let mut checker = Checker::new(&spec).unwrap();
            for a in &arrivals {
                checker.push(&a.as_ref());
            }
            black_box(checker.finish(&[], &[]))
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    run.write_expected(&spec).unwrap();
    run.write_arrivals(&arrivals).unwrap();
    group.bench_function("check_run_dir_1m_rows", |b| {
        b.iter(|| black_box(reports::checker::check_run(&run).unwrap()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: criterion's renderer needs system fonts, which a fresh machine lacks.
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
