//! Resident memory of one process over time: `VmRSS` and `VmHWM` from `/proc/PID/status`
//! once an interval, on a fixed schedule, until the process exits (or a time limit).
//!
//! Optionally the process's children too (the harness's instances): their number and total
//! `VmRSS` go in the same row, and each child is logged once with its start time, so that
//! afterwards [`left_behind`] can tell whether any of them outlived the soak (a pid alone
//! could have been reused by then).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The header of an RSS file; every row is one sample.
pub const RSS_HEADER: &str = "t_s,rss_kib,hwm_kib,cpu_s,children,children_rss_kib";
/// Clock ticks per second of `/proc/PID/stat`'s times: `USER_HZ`, 100 on every Linux
/// architecture this runs on (`getconf CLK_TCK`).
pub const TICKS_PER_S: f64 = 100.0;
/// The header of a children log: a child's pid and its start time in clock ticks after
/// boot (`/proc/PID/stat` field 22), which together name one process.
pub const CHILDREN_HEADER: &str = "pid,start_ticks";

#[derive(Clone, Debug)]
pub struct SamplePlan {
    pub pid: u32,
    pub csv: PathBuf,
    pub interval: Duration,
    /// `t_s` counts from here (ns since the Unix epoch), so files sampled side by side share
    /// one time axis.
    pub t0_ns: u64,
    pub children_log: Option<PathBuf>,
    /// The longest the sampler runs, whatever the process does.
    pub max: Duration,
}

/// A process's memory, in KiB as `/proc` gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// `VmRSS` and `VmHWM` of a `/proc/PID/status` text; `None` without `VmRSS` (a zombie).
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:").unwrap_or(0),
    })
}

/// What the soak reads of `/proc/PID/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    /// User and system CPU time, in clock ticks ([`TICKS_PER_S`]).
    pub cpu_ticks: u64,
    /// Clock ticks after boot when the process started.
    pub start_ticks: u64,
}

/// Parses a `/proc/PID/stat` text. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
    })
}

fn memory(pid: u32) -> Option<Memory> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process whose parent is `pid`, with its start time.
fn children(pid: u32) -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let s = stat(p)?;
            (s.ppid == pid).then_some((p, s.start_ticks))
        })
        .collect()
}

/// Samples until the process is gone; returns the number of rows written.
pub fn run(plan: &SamplePlan) -> anyhow::Result<u64> {
    let open = |path: &Path| {
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))
    };
    let mut csv = std::io::BufWriter::new(open(&plan.csv)?);
    writeln!(csv, "{RSS_HEADER}")?;
    let mut log = match &plan.children_log {
        Some(path) => {
            let mut f = std::io::BufWriter::new(open(path)?);
            writeln!(f, "{CHILDREN_HEADER}")?;
            Some(f)
        }
        None => None,
    };
    let mut seen = BTreeSet::new();
    let start = Instant::now();
    let mut rows = 0u64;
    for tick in 0u32.. {
        let at = start + plan.interval * tick;
        if at - start > plan.max {
            break;
        }
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let t_s = (sink::clock::now_ns() as i128 - plan.t0_ns as i128) as f64 / 1e9;
        let Some(mem) = memory(plan.pid) else { break };
        let cpu_s = stat(plan.pid).map_or(0.0, |s| s.cpu_ticks as f64 / TICKS_PER_S);
        let (mut count, mut kib) = (0u64, 0u64);
        if let Some(log) = log.as_mut() {
            for (child, started) in children(plan.pid) {
                if let Some(m) = memory(child) {
                    count += 1;
                    kib += m.rss_kib;
                }
                if seen.insert((child, started)) {
                    writeln!(log, "{child},{started}")?;
                    log.flush()?;
                }
            }
        }
        writeln!(
            csv,
            "{t_s:.3},{},{},{cpu_s:.2},{count},{kib}",
            mem.rss_kib, mem.hwm_kib
        )?;
        // Flushed every row: a sampler killed with its process keeps what it saw.
        csv.flush()?;
        rows += 1;
    }
    Ok(rows)
}

/// The children in a children log that still run (same pid, same start time).
pub fn left_behind(children_log: &Path) -> anyhow::Result<Vec<u32>> {
    let text = std::fs::read_to_string(children_log)
        .with_context(|| format!("reading {}", children_log.display()))?;
    let mut alive = Vec::new();
    for line in text.lines().skip(1) {
        let parsed = line
            .split_once(',')
            .and_then(|(p, s)| Some((p.parse::<u32>().ok()?, s.parse::<u64>().ok()?)));
        let Some((pid, started)) = parsed else {
            anyhow::bail!("{}: bad row {line:?}", children_log.display());
        };
        if stat(pid).is_some_and(|s| s.start_ticks == started) {
            alive.push(pid);
        }
    }
    Ok(alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_rss_and_high_water_mark() {
        let text = "Name:\tsink\nVmPeak:\t  900 kB\nVmHWM:\t   12345 kB\nVmRSS:\t    6789 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kib: 6789,
                hwm_kib: 12345
            })
        );
        assert_eq!(parse_status("Name:\tzombie\nState:\tZ (zombie)\n"), None);
    }

    #[test]
    fn stat_fields_count_after_the_command_name() {
        let text = "4242 (harness (x) y) S 17 4242 4242 0 -1 4194560 1 0 0 0 300 25 0 0 20 0 \
                    9 0 987654 123 456";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                ppid: 17,
                cpu_ticks: 325,
                start_ticks: 987_654
            })
        );
    }

    #[test]
    fn this_process_is_sampled_and_is_not_left_behind_by_its_children() {
        let me = std::process::id();
        let mem = memory(me).expect("this process has a status");
        assert!(mem.rss_kib > 0 && mem.hwm_kib >= mem.rss_kib);
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("children.csv");
        let started = stat(me).unwrap().start_ticks;
        std::fs::write(&log, format!("{CHILDREN_HEADER}\n{me},{started}\n1,0\n")).unwrap();
        assert_eq!(left_behind(&log).unwrap(), [me]);
    }
}
