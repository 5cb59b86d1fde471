//! The measuring half of `benches/scripts/soak.sh` (see `benches::soak`):
//!
//! - `soak load --addr ADDR --out DIR [--rate R] [--connections N] [--batch B] [--duration-s S]`
//!   loads a sink and writes `DIR/load.json` and `DIR/acked.csv`;
//! - `soak sample --pid PID --csv FILE [--children-log FILE]` samples a process's memory
//!   once a second until it exits;
//! - `soak report --load-dir DIR --sink-dir DIR --sink-rss FILE [...]` prints the table,
//!   writes `DIR/soak.json` and exits 0 when nothing was lost and memory kept its bounds,
//!   1 when not, 2 when its inputs could not be read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use benches::soak::{self, load, report, sample};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Soak measurements: the load, memory sampling and the verdict")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Post uniquely numbered items to a sink at a fixed rate over keep-alive connections.
    Load {
        /// The sink's address (loopback only).
        #[arg(long)]
        addr: SocketAddr,
        /// Where load.json and acked.csv go.
        #[arg(long)]
        out: PathBuf,
        /// Items per second.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Items per request (1: a lone JSON object).
        #[arg(long, default_value_t = 1)]
        batch: u64,
        #[arg(long, default_value_t = 600.0)]
        duration_s: f64,
        /// How long after the schedule's end queued requests may still go out.
        #[arg(long, default_value_t = 10.0)]
        grace_s: f64,
        /// The longest one request may take.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Runtime worker threads (the sink and the harness share the machine).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Sample a process's VmRSS and VmHWM into a CSV until it exits.
    Sample {
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        csv: PathBuf,
        /// Also sample the process's children, and log each one (pid, start time).
        #[arg(long)]
        children_log: Option<PathBuf>,
        /// t_s counts from here, ns since the Unix epoch (default: the sampler's start).
        #[arg(long)]
        t0_ns: Option<u64>,
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// The longest the sampler runs.
        #[arg(long, default_value_t = 7200)]
        max_s: u64,
    },
    /// Check the soak's files and print its table; exit 1 when it failed.
    Report {
        /// Holds load.json and acked.csv; soak.json is written here.
        #[arg(long)]
        load_dir: PathBuf,
        /// The sink's --dir, holding arrivals.csv.
        #[arg(long)]
        sink_dir: PathBuf,
        #[arg(long)]
        sink_rss: PathBuf,
        /// The harness run directory, holding summary.json.
        #[arg(long)]
        harness_run: Option<PathBuf>,
        /// The harness's exit code.
        #[arg(long)]
        harness_exit: Option<i32>,
        #[arg(long)]
        harness_rss: Option<PathBuf>,
        #[arg(long)]
        harness_children: Option<PathBuf>,
        #[arg(long)]
        sink_max_rss_mib: Option<f64>,
        #[arg(long)]
        sink_max_growth_kib_per_min: Option<f64>,
        #[arg(long)]
        harness_max_rss_mib: Option<f64>,
        #[arg(long)]
        harness_max_growth_kib_per_min: Option<f64>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("soak: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Load {
            addr,
            out,
            rate,
            connections,
            batch,
            duration_s,
            grace_s,
            timeout_ms,
            threads,
        } => {
            let duration = Duration::try_from_secs_f64(duration_s).context("--duration-s")?;
            let mut plan = load::LoadPlan::new(addr, rate, connections, batch, duration)?;
            plan.grace = Duration::try_from_secs_f64(grace_s).context("--grace-s")?;
            plan.timeout = Duration::from_millis(timeout_ms);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            let (report, outcomes) = runtime.block_on(load::run(plan.clone()));
            load::write(&out, &plan, &report, &outcomes)?;
            eprintln!(
                "soak load: {} of {} items acknowledged in {:.1} s ({:.0} items/s)",
                report.acked_items,
                report.planned_items,
                report.elapsed_s,
                report.achieved_rate_per_s
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sample {
            pid,
            csv,
            children_log,
            t0_ns,
            interval_ms,
            max_s,
        } => {
            sample::run(&sample::SamplePlan {
                pid,
                csv,
                interval: Duration::from_millis(interval_ms.max(1)),
                t0_ns: t0_ns.unwrap_or_else(sink::clock::now_ns),
                children_log,
                max: Duration::from_secs(max_s),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            load_dir,
            sink_dir,
            sink_rss,
            harness_run,
            harness_exit,
            harness_rss,
            harness_children,
            sink_max_rss_mib,
            sink_max_growth_kib_per_min,
            harness_max_rss_mib,
            harness_max_growth_kib_per_min,
        } => {
            let inputs = report::Inputs {
                load_dir: load_dir.clone(),
                sink_dir,
                sink_rss,
                harness_run,
                harness_exit,
                harness_rss,
                harness_children,
            };
            let bounds = report::Bounds {
                sink_max_rss_mib,
                sink_max_growth_kib_per_min,
                harness_max_rss_mib,
                harness_max_growth_kib_per_min,
            };
            let soak = report::Soak::build(&inputs, bounds)?;
            let path = load_dir.join(soak::SOAK_FILE);
            let json = serde_json::to_string_pretty(&soak).expect("a soak always serializes");
            std::fs::write(&path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            print!("{}", soak.render());
            Ok(if soak.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
