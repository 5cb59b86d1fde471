//! The soak's verdict, from the files the other stages wrote: was every acknowledged item
//! recorded exactly once, did the harness run lose nothing, and did memory stay within its
//! bounds. Analysis ([`Soak::build`]) and rendering ([`Soak::render`]) stay apart.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::load::LoadReport;
use super::sample::{left_behind, RSS_HEADER};
use super::{Numbering, ACKED_FILE, ACKED_HEADER, LOAD_FILE, SOAK_SCHEMA, SOURCE};

/// One row of an RSS file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t_s: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// User and system CPU time since the process started.
    pub cpu_s: f64,
    pub children: u64,
    pub children_rss_kib: u64,
}

/// Reads an RSS file written by `soak sample`.
pub fn read_rss(path: &Path) -> anyhow::Result<Vec<Sample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    anyhow::ensure!(
        header == RSS_HEADER,
        "{}: header {header:?}, expected {RSS_HEADER:?}",
        path.display()
    );
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |j: usize| f.get(j).and_then(|v| v.parse::<u64>().ok());
            let row = (|| {
                Some(Sample {
                    t_s: f.first()?.parse().ok()?,
                    rss_kib: num(1)?,
                    hwm_kib: num(2)?,
                    cpu_s: f.get(3)?.parse().ok()?,
                    children: num(4)?,
                    children_rss_kib: num(5)?,
                })
            })();
            row.with_context(|| format!("{}: line {}: bad row {line:?}", path.display(), i + 2))
        })
        .collect()
}

/// A process's resident memory over a soak, in KiB.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryStats {
    pub samples: usize,
    /// From the first sample to the last.
    pub span_s: f64,
    pub start_kib: u64,
    pub median_kib: u64,
    pub max_kib: u64,
    pub end_kib: u64,
    /// `VmHWM` at the last sample: the peak, also between samples.
    pub hwm_kib: u64,
    /// The least-squares slope of RSS over the samples of the second half of the span.
    pub growth_kib_per_min_last_half: f64,
    /// CPU time used between the first and the last sample, as a share of one core.
    pub cpu_cores: f64,
    /// The most children seen at once, and their largest total RSS.
    pub children_max: u64,
    pub children_rss_max_kib: u64,
}

impl MemoryStats {
    pub fn of(samples: &[Sample]) -> Option<MemoryStats> {
        let (first, last) = (samples.first()?, samples.last()?);
        let mut sorted: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
        sorted.sort_unstable();
        let half = first.t_s + (last.t_s - first.t_s) / 2.0;
        let tail: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.t_s >= half)
            .map(|s| (s.t_s / 60.0, s.rss_kib as f64))
            .collect();
        Some(MemoryStats {
            samples: samples.len(),
            span_s: last.t_s - first.t_s,
            start_kib: first.rss_kib,
            median_kib: sorted[(sorted.len() - 1) / 2],
            max_kib: *sorted.last()?,
            end_kib: last.rss_kib,
            hwm_kib: samples.iter().map(|s| s.hwm_kib).max()?,
            growth_kib_per_min_last_half: slope(&tail),
            cpu_cores: if last.t_s > first.t_s {
                (last.cpu_s - first.cpu_s) / (last.t_s - first.t_s)
            } else {
                0.0
            },
            children_max: samples.iter().map(|s| s.children).max()?,
            children_rss_max_kib: samples.iter().map(|s| s.children_rss_kib).max()?,
        })
    }
}

/// The least-squares slope of `y` over `x`; 0 with fewer than two distinct `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// What the sink's `arrivals.csv` holds, against what the load says was acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub acked_items: u64,
    pub rows_in_file: u64,
    /// Acknowledged items with at least one row.
    pub acked_present: u64,
    /// Acknowledged items with no row: lost.
    pub missing: u64,
    /// Items with two or more rows, and the rows beyond the first of each.
    pub duplicated_items: u64,
    pub extra_copies: u64,
    /// Items without a 2xx answer (a timeout, a broken connection) that were recorded all
    /// the same: not lost, and not a failure of the sink.
    pub unacked_present: u64,
    /// Rows whose key is no item of this load.
    pub unexpected_rows: u64,
}

/// Reads `acked.csv`.
pub fn read_acked(path: &Path) -> anyhow::Result<Vec<(u64, u64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    anyhow::ensure!(
        header == ACKED_HEADER,
        "{}: header {header:?}, expected {ACKED_HEADER:?}",
        path.display()
    );
    lines
        .map(|line| {
            line.split_once(',')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .filter(|(a, b)| a <= b)
                .with_context(|| format!("{}: bad range {line:?}", path.display()))
        })
        .collect()
}

/// Counts every row of the sink's `arrivals.csv` in `sink_dir` against the acknowledged ids.
pub fn verify(
    load: &LoadReport,
    acked: &[(u64, u64)],
    sink_dir: &Path,
) -> anyhow::Result<Delivery> {
    let numbering = Numbering {
        items_per_m: load.items_per_m,
    };
    let planned = load.planned_items;
    anyhow::ensure!(
        planned <= super::load::MAX_ITEMS,
        "load.json plans {planned} items; the most is {}",
        super::load::MAX_ITEMS
    );
    // Rows per item, saturating at 255: one byte each keeps 100M items in 100 MB.
    let mut rows = vec![0u8; planned as usize];
    let mut d = Delivery::default();
    let run = reports::RunDir::new(sink_dir);
    d.rows_in_file = run
        .for_each_arrival_for_check(
            |a| match numbering.id(a.m, a.n).filter(|id| *id < planned) {
                Some(id) if a.source == SOURCE && a.version == load.version => {
                    rows[id as usize] = rows[id as usize].saturating_add(1);
                }
                _ => d.unexpected_rows += 1,
            },
        )
        .with_context(|| format!("reading the arrivals of {}", sink_dir.display()))?;
    let mut is_acked = vec![false; planned as usize];
    for &(first, last) in acked {
        anyhow::ensure!(last < planned, "acked.csv names item {last} of {planned}");
        for id in first..=last {
            is_acked[id as usize] = true;
        }
    }
    for (count, acked) in rows.iter().zip(&is_acked) {
        d.acked_items += u64::from(*acked);
        match (*count, *acked) {
            (0, true) => d.missing += 1,
            (0, false) => {}
            (c, true) => {
                d.acked_present += 1;
                d.duplicated_items += u64::from(c > 1);
                d.extra_copies += u64::from(c - 1);
            }
            (c, false) => {
                d.unacked_present += 1;
                d.duplicated_items += u64::from(c > 1);
                d.extra_copies += u64::from(c - 1);
            }
        }
    }
    Ok(d)
}

/// The long harness run beside the load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HarnessRun {
    pub dir: PathBuf,
    pub exit_code: Option<i32>,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Why `summary.json` says the run cannot be trusted; empty for a valid run.
    pub invalid: Vec<String>,
    pub wall_s: Option<f64>,
    /// The probe client's send lag p99, ms.
    pub probe_send_lag_p99_ms: Option<f64>,
}

impl HarnessRun {
    pub fn read(dir: &Path, exit_code: Option<i32>) -> anyhow::Result<HarnessRun> {
        let summary = reports::RunDir::new(dir)
            .read_summary()
            .with_context(|| format!("reading the summary of {}", dir.display()))?
            .with_context(|| format!("{} has no summary.json", dir.display()))?;
        Ok(HarnessRun {
            dir: dir.to_owned(),
            exit_code,
            expected: summary.verdict.expected,
            delivered: summary.verdict.delivered,
            lost: summary.verdict.lost,
            duplicated: summary.verdict.duplicated,
            invalid: summary.invalid,
            wall_s: summary.run.wall_ms.map(|ms| ms / 1000.0),
            probe_send_lag_p99_ms: summary.run.probe_send_lag_ms.map(|q| q.p99),
        })
    }
}

/// The memory bounds a soak must keep; `None`: not bounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Bounds {
    pub sink_max_rss_mib: Option<f64>,
    pub sink_max_growth_kib_per_min: Option<f64>,
    pub harness_max_rss_mib: Option<f64>,
    pub harness_max_growth_kib_per_min: Option<f64>,
}

/// Where `soak report` finds its inputs.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Holds `load.json` and `acked.csv`.
    pub load_dir: PathBuf,
    /// The sink's `--dir`, holding `arrivals.csv`.
    pub sink_dir: PathBuf,
    pub sink_rss: PathBuf,
    pub harness_run: Option<PathBuf>,
    pub harness_exit: Option<i32>,
    pub harness_rss: Option<PathBuf>,
    /// The harness's children, as `soak sample --children-log` wrote them.
    pub harness_children: Option<PathBuf>,
}

/// Everything the soak measured, and its verdict: what `soak.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Soak {
    pub schema: String,
    pub load: LoadReport,
    pub delivery: Delivery,
    pub sink_memory: Option<MemoryStats>,
    pub harness_memory: Option<MemoryStats>,
    pub harness_run: Option<HarnessRun>,
    /// Harness children (instances) still running after the soak.
    pub left_behind: Vec<u32>,
    pub bounds: Bounds,
    /// Why the soak failed; empty when it passed.
    pub failures: Vec<String>,
}

impl Soak {
    pub fn build(inputs: &Inputs, bounds: Bounds) -> anyhow::Result<Soak> {
        let path = inputs.load_dir.join(LOAD_FILE);
        let load: LoadReport = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display()))?;
        let acked = read_acked(&inputs.load_dir.join(ACKED_FILE))?;
        let delivery = verify(&load, &acked, &inputs.sink_dir)?;
        let sink_memory = MemoryStats::of(&read_rss(&inputs.sink_rss)?);
        let harness_memory = match &inputs.harness_rss {
            Some(p) => MemoryStats::of(&read_rss(p)?),
            None => None,
        };
        let harness_run = match &inputs.harness_run {
            Some(dir) => Some(HarnessRun::read(dir, inputs.harness_exit)?),
            None => None,
        };
        let left_behind = match &inputs.harness_children {
            Some(log) => left_behind(log)?,
            None => Vec::new(),
        };
        let mut soak = Soak {
            schema: SOAK_SCHEMA.into(),
            load,
            delivery,
            sink_memory,
            harness_memory,
            harness_run,
            left_behind,
            bounds,
            failures: Vec::new(),
        };
        soak.failures = soak.judge();
        Ok(soak)
    }

    fn judge(&self) -> Vec<String> {
        let mut why = Vec::new();
        let (l, d) = (&self.load, &self.delivery);
        if d.missing > 0 {
            why.push(format!(
                "{} acknowledged items are missing from arrivals.csv",
                d.missing
            ));
        }
        if d.duplicated_items > 0 {
            why.push(format!(
                "{} items are recorded more than once ({} extra rows)",
                d.duplicated_items, d.extra_copies
            ));
        }
        if d.unexpected_rows > 0 {
            why.push(format!(
                "{} rows of arrivals.csv are no item of this load",
                d.unexpected_rows
            ));
        }
        if l.acked_items < l.planned_items {
            why.push(format!(
                "only {} of {} items were acknowledged ({} refused, {} without an answer, {} not sent in time)",
                l.acked_items, l.planned_items, l.refused_items, l.failed_items, l.not_sent_items
            ));
        }
        if let Some(h) = &self.harness_run {
            if h.lost > 0 {
                why.push(format!("the harness run lost {} items", h.lost));
            }
            if !h.invalid.is_empty() {
                why.push(format!(
                    "the harness run is invalid: {}",
                    h.invalid.join("; ")
                ));
            }
            if h.exit_code.is_some_and(|c| c != 0) {
                why.push(format!(
                    "the harness run exited with {}",
                    h.exit_code.unwrap_or(0)
                ));
            }
        }
        if !self.left_behind.is_empty() {
            why.push(format!(
                "harness instances left running: {:?}",
                self.left_behind
            ));
        }
        let b = &self.bounds;
        for (name, mem, max_mib, max_growth) in [
            (
                "sink",
                &self.sink_memory,
                b.sink_max_rss_mib,
                b.sink_max_growth_kib_per_min,
            ),
            (
                "harness",
                &self.harness_memory,
                b.harness_max_rss_mib,
                b.harness_max_growth_kib_per_min,
            ),
        ] {
            let Some(m) = mem else {
                // A bound with nothing to hold it to is a failure, not a pass.
                if max_mib.is_some() || max_growth.is_some() {
                    why.push(format!(
                        "{name} memory was never sampled: its bounds could not be checked"
                    ));
                }
                continue;
            };
            if let Some(max) = max_mib {
                let peak = m.hwm_kib.max(m.max_kib) as f64 / 1024.0;
                if peak > max {
                    why.push(format!(
                        "{name} RSS peaked at {peak:.1} MiB, over the bound of {max} MiB"
                    ));
                }
            }
            if let Some(max) = max_growth {
                if m.growth_kib_per_min_last_half > max {
                    why.push(format!(
                        "{name} RSS grew by {:.0} KiB/min over the last half, over the bound of {max} KiB/min",
                        m.growth_kib_per_min_last_half
                    ));
                }
            }
        }
        why
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The table `soak report` prints.
    pub fn render(&self) -> String {
        let (l, d) = (&self.load, &self.delivery);
        let mut s = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(s, "{name:<22} {value}");
        };
        row(
            "duration",
            format!(
                "{:.1} s to the last answer (schedule {} s)",
                l.elapsed_s, l.duration_s
            ),
        );
        row(
            "rate achieved",
            format!(
                "{:.0} items/s (planned {} over {} connections, {} item{}/request)",
                l.achieved_rate_per_s,
                l.rate_per_s,
                l.connections,
                l.batch,
                if l.batch == 1 { "" } else { "s" }
            ),
        );
        let errors = if l.errors.is_empty() {
            "no errors".to_owned()
        } else {
            l.errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            "items acknowledged",
            format!("{} of {} ({errors})", l.acked_items, l.planned_items),
        );
        row(
            "latency from intended",
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms (send lag p99 {:.2} ms)",
                l.latency_ms.p50, l.latency_ms.p99, l.latency_ms.max, l.send_lag_ms.p99
            ),
        );
        row("items in the file", format!("{} rows", d.rows_in_file));
        row("missing", d.missing.to_string());
        row(
            "duplicates",
            format!("{} ({} extra rows)", d.duplicated_items, d.extra_copies),
        );
        if d.unacked_present > 0 || d.unexpected_rows > 0 {
            row(
                "other rows",
                format!(
                    "{} unanswered but recorded, {} unexpected",
                    d.unacked_present, d.unexpected_rows
                ),
            );
        }
        if let Some(h) = &self.harness_run {
            row(
                "harness run",
                format!(
                    "{} expected, {} delivered, lost {}, duplicated {}, {}, exit {}{}",
                    h.expected,
                    h.delivered,
                    h.lost,
                    h.duplicated,
                    if h.invalid.is_empty() {
                        "valid"
                    } else {
                        "INVALID"
                    },
                    h.exit_code.map_or("?".to_owned(), |c| c.to_string()),
                    h.wall_s
                        .map(|w| format!(", {w:.1} s wall"))
                        .unwrap_or_default()
                ),
            );
        }
        let _ = writeln!(
            s,
            "\n{:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>6}",
            "RSS (MiB)", "start", "median", "max", "end", "VmHWM", "KiB/min (*)", "CPU"
        );
        let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
        for (name, mem) in [
            ("sink", &self.sink_memory),
            ("harness", &self.harness_memory),
        ] {
            let Some(m) = mem else { continue };
            let _ = writeln!(
                s,
                "{name:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12.0} {:>5.0}%",
                mib(m.start_kib),
                mib(m.median_kib),
                mib(m.max_kib),
                mib(m.end_kib),
                mib(m.hwm_kib),
                m.growth_kib_per_min_last_half,
                m.cpu_cores * 100.0
            );
            if m.children_max > 0 {
                let _ = writeln!(
                    s,
                    "{:<22} {:>8} {:>8} {:>8}",
                    "  its instances, sum",
                    "",
                    "",
                    mib(m.children_rss_max_kib)
                );
            }
        }
        let _ = writeln!(
            s,
            "(*) growth: least-squares slope of RSS over the last half of the samples;\n    CPU: user + system time over the samples' span, in % of one core"
        );
        if self.passed() {
            let _ = writeln!(s, "\nPASS");
        } else {
            let _ = writeln!(s, "\nFAIL");
            for why in &self.failures {
                let _ = writeln!(s, "  - {why}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(f64, u64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t_s, rss_kib)| Sample {
                t_s,
                rss_kib,
                hwm_kib: rss_kib,
                cpu_s: t_s / 2.0,
                children: 0,
                children_rss_kib: 0,
            })
            .collect()
    }

    #[test]
    fn memory_stats_take_the_slope_of_the_last_half_only() {
        // Grows fast for a minute, then 100 KiB a minute.
        let mut points: Vec<(f64, u64)> = (0..60).map(|t| (t as f64, 1000 + t * 100)).collect();
        points.extend((60..=120).map(|t| (t as f64, 7000 + (t - 60) * 100 / 60)));
        let m = MemoryStats::of(&samples(&points)).unwrap();
        assert_eq!((m.start_kib, m.end_kib, m.max_kib), (1000, 7100, 7100));
        assert_eq!(m.samples, 121);
        assert_eq!(m.cpu_cores, 0.5);
        assert!(
            (m.growth_kib_per_min_last_half - 100.0).abs() < 2.0,
            "{m:?}"
        );
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        assert_eq!(MemoryStats::of(&[]), None);
    }

    fn load(planned: u64, acked: u64) -> LoadReport {
        LoadReport {
            schema: crate::soak::LOAD_SCHEMA.into(),
            addr: "127.0.0.1:1".into(),
            rate_per_s: 3,
            connections: 1,
            batch: 1,
            duration_s: 2.0,
            source: SOURCE.into(),
            version: "A".into(),
            items_per_m: 3,
            started_ns: 0,
            planned_items: planned,
            sent_items: planned,
            acked_items: acked,
            refused_items: 0,
            failed_items: planned - acked,
            not_sent_items: 0,
            acked_requests: acked,
            errors: Default::default(),
            elapsed_s: 2.0,
            achieved_rate_per_s: 2.5,
            send_lag_ms: Default::default(),
            latency_ms: Default::default(),
        }
    }

    /// The verdict of a soak, each bound on its own: a clean soak passes; each broken
    /// promise is one reason, said; a bound with no samples fails rather than passes.
    #[test]
    fn the_judge_fails_each_broken_bound_and_never_passes_an_unchecked_one() {
        let memory = |max_kib: u64, growth: f64| MemoryStats {
            samples: 10,
            start_kib: 1000,
            end_kib: max_kib,
            max_kib,
            hwm_kib: max_kib,
            growth_kib_per_min_last_half: growth,
            cpu_cores: 0.1,
            ..MemoryStats::of(&samples(&[(0.0, 1000), (1.0, max_kib)])).unwrap()
        };
        let clean = || Soak {
            schema: String::new(),
            load: load(6, 6),
            delivery: Delivery {
                acked_items: 6,
                rows_in_file: 6,
                acked_present: 6,
                ..Delivery::default()
            },
            sink_memory: Some(memory(10 * 1024, 10.0)),
            harness_memory: Some(memory(20 * 1024, 10.0)),
            harness_run: None,
            left_behind: Vec::new(),
            bounds: Bounds {
                sink_max_rss_mib: Some(64.0),
                sink_max_growth_kib_per_min: Some(100.0),
                harness_max_rss_mib: Some(64.0),
                harness_max_growth_kib_per_min: Some(100.0),
            },
            failures: Vec::new(),
        };
        assert_eq!(clean().judge(), Vec::<String>::new());
        let reasons = |edit: &dyn Fn(&mut Soak)| {
            let mut s = clean();
            edit(&mut s);
            s.judge()
        };
        // 65 MiB against a 64 MiB bound; 150 KiB/min against 100.
        let peak = reasons(&|s| s.sink_memory = Some(memory(65 * 1024, 10.0)));
        assert_eq!(peak.len(), 1, "{peak:?}");
        assert!(
            peak[0].starts_with("sink RSS peaked at 65.0 MiB"),
            "{peak:?}"
        );
        let growth = reasons(&|s| s.harness_memory = Some(memory(20 * 1024, 150.0)));
        assert!(
            growth[0].starts_with("harness RSS grew by 150 KiB/min"),
            "{growth:?}"
        );
        let unsampled = reasons(&|s| s.harness_memory = None);
        assert_eq!(
            unsampled,
            ["harness memory was never sampled: its bounds could not be checked"]
        );
        // Without a bound, no samples is no reason.
        let unbounded = reasons(&|s| {
            s.harness_memory = None;
            s.bounds.harness_max_rss_mib = None;
            s.bounds.harness_max_growth_kib_per_min = None;
        });
        assert!(unbounded.is_empty(), "{unbounded:?}");
        let missing = reasons(&|s| s.delivery.missing = 1);
        assert_eq!(
            missing,
            ["1 acknowledged items are missing from arrivals.csv"]
        );
        let unacked = reasons(&|s| s.load = load(6, 5));
        assert!(
            unacked[0].starts_with("only 5 of 6 items were acknowledged"),
            "{unacked:?}"
        );
        let left = reasons(&|s| s.left_behind = vec![4242]);
        assert!(left[0].contains("4242"), "{left:?}");
    }

    #[test]
    fn every_acknowledged_item_is_found_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = format!("{}\n", sink::ARRIVALS_HEADER);
        // Items 0..6 at 3 per second: 0 and 1 once, 2 twice, 3 missing, 4 not acked but
        // present, 5 acked; then a row of another source.
        for (m, n) in [(0, 0), (0, 1), (0, 2), (0, 2), (1, 1), (1, 2)] {
            csv += &format!("1,soak,{m},{n},A,load-0,1,1\n");
        }
        csv += "1,tick,0,0,A,a-0,1,1\n";
        std::fs::write(dir.path().join("arrivals.csv"), csv).unwrap();
        // 6 planned, 5 acknowledged, one timed out.
        let load = LoadReport {
            errors: [("timeout".to_owned(), 1)].into(),
            ..load(6, 5)
        };
        let d = verify(&load, &[(0, 3), (5, 5)], dir.path()).unwrap();
        assert_eq!(
            d,
            Delivery {
                acked_items: 5,
                rows_in_file: 7,
                acked_present: 4,
                missing: 1,
                duplicated_items: 1,
                extra_copies: 1,
                unacked_present: 1,
                unexpected_rows: 1,
            }
        );
    }
}
