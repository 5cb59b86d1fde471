//! The sink's per-request work outside the network: parsing and validating a body, and
//! formatting its rows. (Whole-server throughput is measured by benches/scripts/sink-load.sh.)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sink::recorder::Rows;
use sink::wire::parse_body;

fn body(items: u64) -> Vec<u8> {
    let items: Vec<serde_json::Value> = (0..items)
        .map(|n| {
            serde_json::json!({"source": "tick", "m": 123_456, "n": n, "version": "A",
                               "instance": "a-0", "attempt": 1, "sent_ns": 1_763_800_000_123_456_789u64})
        })
        .collect();
    serde_json::to_vec(&items).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sink");
    for items in [1u64, 100] {
        let body = body(items);
        group.throughput(Throughput::Elements(items));
        group.bench_function(format!("parse_and_format_batch_of_{items}"), |b| {
            b.iter(|| {
                let parsed = parse_body(black_box(&body)).unwrap();
                black_box(Rows::format(1_763_800_000_000_000_000, &parsed))
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("label_parse", |b| {
        b.iter(|| black_box("B(123456,99)".parse::<sink::Label>().unwrap()))
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
