//! Writes a synthetic run directory for measuring the checker at scale.
//!
//! `gen-arrivals DIR --occurrences 100000 --items 100` writes `expected.json` and an
//! `arrivals.csv` of about occurrences x items rows, shaped like a real run: most items once
//! and on time, a few lost, a few duplicated, a few late, a few unexpected, rows slightly out
//! of `recv_ns` order as concurrent requests make them. The generator is seeded, so the same
//! arguments give the same file.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Parser;
use reports::{ExpectedSpec, RunDir, SourceSpec};

#[derive(Parser)]
struct Args {
    dir: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    occurrences: u64,
    #[arg(long, default_value_t = 100)]
    items: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// splitmix64: a tiny seeded generator, enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let epoch_ns: i64 = 1_763_800_000_000_000_000;
    let period_ns: i64 = 10_000_000_000;
    let item_delay_ns: i64 = period_ns / (args.items as i64 + 1);
    let spec = ExpectedSpec {
        sources: vec![SourceSpec {
            source: "tick".into(),
            epoch_ns,
            period_ns,
            items: args.items,
            item_delay_ns,
            first: 0,
            last: args.occurrences - 1,
            counts: None,
        }],
        late_after_ns: 2_000_000_000,
        completion: None,
    };
    let run = RunDir::new(&args.dir);
    run.write_expected(&spec)?;
    let file = std::fs::File::create(run.file(reports::rundir::ARRIVALS_FILE))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "{}", sink::ARRIVALS_HEADER)?;
    let mut rng = Rng(args.seed);
    let mut rows = 0u64;
    for m in 0..args.occurrences {
        let version = if m < args.occurrences / 2 { "A" } else { "B" };
        for n in 0..args.items {
            let roll = rng.next() % 10_000;
            if roll < 5 {
                continue; // lost
            }
            let scheduled = epoch_ns + m as i64 * period_ns + n as i64 * item_delay_ns;
            let mut lateness = 1_000_000 + (rng.next() % 4_000_000) as i64;
            if roll < 15 {
                lateness += 3_000_000_000; // late
            }
            let copies = if roll < 25 { 2 } else { 1 };
            for attempt in 1..=copies {
                // Jitter of a few ms puts neighbouring rows slightly out of recv order.
                let recv = scheduled + lateness + (rng.next() % 3_000_000) as i64;
                writeln!(
                    out,
                    "{recv},tick,{m},{n},{version},{}-0,{attempt},{}",
                    version.to_lowercase(),
                    recv - 900_000
                )?;
                rows += 1;
            }
            if roll >= 9_995 {
                writeln!(
                    out,
                    "{},tick,{m},{},{version},x-0,1,",
                    scheduled, args.items
                )?;
                rows += 1;
            }
        }
    }
    out.flush()?;
    eprintln!(
        "wrote {rows} rows for {} expected keys into {}",
        spec.key_count(),
        args.dir.display()
    );
    Ok(())
}
