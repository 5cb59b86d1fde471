//! The parsed command line of `harness`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Benchmark and chaos-test application update strategies.
///
/// A test function submits uniquely numbered items A(m,n) to a sink that records every
/// arrival; an update to version B happens mid-stream; the checker then says which items were
/// lost, duplicated, late or unexpected, why, and how long the service was down.
#[derive(Parser, Debug)]
#[command(name = "harness", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one scenario and write its run directory.
    ///
    /// Starts the sink, the local platform with the old version, the front door and the
    /// probes; performs the update at run.update_at; lets in-flight work settle; stops every
    /// process; writes expected.json, arrivals.csv, probes.csv, ledger.csv, summary.json,
    /// junit.xml, scenario.toml (the scenario as run) and the reports; prints the verdict.
    /// A run that fails still writes summary.json and junit.xml, saying why.
    ///
    /// Exit codes: 0 the run completed and every threshold holds; 1 a threshold failed;
    /// 2 usage or scenario error; 3 the run itself was invalid (an instance never became
    /// ready, the sink refused rows, the probe client lagged past its budget, ...): an
    /// invalid run is never a pass; 130 interrupted by Ctrl-C (every instance is stopped
    /// first). junit.xml in the run directory has one test case per threshold.
    ///
    /// Examples:
    ///   harness run scenarios/seed-swap.toml --time-scale 0.1
    ///   harness run scenarios/seed-recreate.toml --out runs/recreate-1 --seed 7
    ///   harness run scenarios/seed-drain.toml --expect 'lost == 0' --expect 'duplicated == 0'
    ///   harness run my.toml --app-command ./target/release/my-function --quiet
    ///   harness run scenarios/seed-drain.toml --save-baseline main
    ///   harness run scenarios/seed-drain.toml --baseline main --max-regression lost:0,downtime.max_ms:20%
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// Example:
    ///   harness completions bash > /etc/bash_completion.d/harness
    #[command(verbatim_doc_comment)]
    Completions { shell: clap_complete::Shell },
    /// Run several scenarios, each several times, and compare them.
    ///
    /// Keeps every run directory (OUT/NAME/run-K, seeds seed, seed+1, ...) and writes
    /// compare.md, compare.csv and compare.html into OUT: per scenario and metric (lost,
    /// duplicated, late, unexpected, downtime total and max, lateness p99, update duration)
    /// the mean, standard deviation, 95% confidence interval, min and max, downtime
    /// histograms across repetitions, and interval plots side by side. A failed run is
    /// listed as failed, never averaged in.
    ///
    /// junit.xml has one test case per scenario (failed when a run failed a threshold,
    /// errored when a run could not be completed).
    ///
    /// Exit codes: 0 compared, every threshold held; 1 a threshold failed in some run; 2 a
    /// scenario is invalid, or OUT already holds a comparison; 3 every run of some scenario
    /// failed; 130 interrupted.
    ///
    /// Example:
    ///   harness compare scenarios/seed-*.toml --repeat 3 --time-scale 0.05
    #[command(verbatim_doc_comment)]
    Compare {
        /// The scenario files (TOML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Where to write the runs and the comparison (default: runs/compare-UNIXTIME).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        batch: BatchArgs,
    },
    /// Run scenarios at every point of a grid of settings, and show each metric against them.
    ///
    /// --vary KEY=SPEC sets a scenario key, dotted as a scenario file writes it
    /// (swap.recycle_after, app.cold_start, workload.items, faults[0].at), to each value of
    /// SPEC: LO..HI:COUNT (COUNT evenly spaced values, both ends included; durations such as
    /// 250ms..2s:4, or numbers, integers staying integers) or a list a,b,c. Several --vary
    /// make a grid of every combination. Each value is written into the scenario's TOML and
    /// the file read again as any scenario file is, so an unknown key or a bad value is
    /// refused before anything runs.
    ///
    /// At each point every scenario runs --repeat times, as compare runs it, into
    /// OUT/POINT/NAME/run-K (POINT is KEY=VALUE, joined by commas). Writes into OUT:
    /// sweep.json (what was varied), sweep.csv (per scenario, point and metric: n, failed,
    /// mean, sd, 95% CI, min, max), sweep.md (the table the terminal shows), sweep.html (a
    /// plot per metric: a line per scenario for one key, a heat map per scenario for two)
    /// and sweep-advice.json: at each point the strategy advise recommends under --priority,
    /// and whether that holds across the range or flips, and at which value. `harness
    /// advise OUT` weighs the sweep again under another priority.
    ///
    /// Exit codes: 0 swept, every threshold held; 1 a threshold failed in some run; 2 a bad
    /// --vary, key or value (named), an invalid scenario, or OUT already holds a sweep; 3
    /// every run of some scenario at some point failed; 130 interrupted.
    ///
    /// Examples:
    ///   harness sweep scenarios/seed-swap.toml --vary swap.recycle_after=1s..7s:4 --repeat 1 --time-scale 0.05
    ///   harness sweep scenarios/seed-swap.toml scenarios/seed-drain.toml --vary app.cold_start=0s,2s,4s --time-scale 0.05
    ///   harness sweep scenarios/seed-recreate.toml --vary workload.items=2..10:3 --vary app.cold_start=1s,3s --repeat 1 --time-scale 0.05
    #[command(verbatim_doc_comment)]
    Sweep(SweepArgs),
    /// Turn a comparison into a decision: which strategy to use, on what evidence.
    ///
    /// Reads a comparison directory (OUT/NAME/run-K/summary.json, as compare writes it),
    /// or runs a comparison of the scenario files first. Given a sweep directory (as sweep
    /// writes it), advises on each point's comparison and says whether the recommendation
    /// holds across the range or flips, and at which value (sweep-advice.md and .json). Each strategy is judged on each
    /// case (healthy, or a bad release) separately. --priority is a preset (zero-loss,
    /// zero-downtime, fast-update) or an ordered list of terms: METRIC (smaller is better;
    /// larger for expected, delivered, ok) or METRIC OP NUMBER, a limit every run must
    /// meet. Strategies that meet the limits are ranked term by term: X beats Y on a term
    /// when a two-sided Mann-Whitney U test at --alpha finds it better in some case and
    /// worse in none. Prints the recommendation with its evidence, the runners-up and the
    /// caveats; writes advice.md and advice.json into the comparison directory (or --out).
    ///
    /// Exit codes: 0 a recommendation; 1 no strategy meets the limits (or none was
    /// measured in every case); 2 usage error (a bad priority names the term and its
    /// position; an unknown case; an unreadable summary.json); 3 no valid run in the cases
    /// weighed, or the advice could not be written; 130 interrupted.
    ///
    /// Examples:
    ///   harness advise runs/compare-1796156619 --priority zero-loss
    ///   harness advise runs/compare-1796156619 --priority 'lost==0,downtime.max_ms' --case healthy
    ///   harness advise scenarios/seed-*.toml --repeat 5 --time-scale 0.05 --priority fast-update
    #[command(verbatim_doc_comment)]
    Advise(AdviseArgs),
    /// (internal) The test function the host runs as each instance.
    ///
    /// The harness starts every instance as `harness testfn --listen ... --version A ...`
    /// unless --app-command names another program; see the README's "The test function".
    #[command(disable_version_flag = true)]
    Testfn(Box<crate::testfn::Args>),
    /// (internal) A container's health check: GET a path of the test function and exit 0
    /// on a 2xx answer, 1 otherwise.
    ///
    /// An image built FROM scratch has no curl or wget; the harness's own executable is
    /// its HEALTHCHECK. The address is a file's (`testfn --addr-file`), the kernel having
    /// chosen the port, or given.
    ///
    /// Examples:
    ///   harness health --addr-file /run/testfn.addr
    ///   harness health --addr 127.0.0.1:8080 --path /health
    #[command(verbatim_doc_comment)]
    Health(HealthArgs),
    /// What the history store says of each scenario's metrics.
    ///
    /// Every run of `run`, `compare`, `advise` and `sweep` is recorded in the history store
    /// (runs/history.sqlite, or --history / HARNESS_HISTORY: a SQLite file or a PostgreSQL
    /// URL). Per series (a scenario as run, on a platform, with a strategy) and metric: the
    /// valid runs, the nearest-rank P50, P95 and P99, the last value and the trend (the
    /// least-squares change per run over the last 10 runs). Invalid runs are counted and
    /// listed, never pooled.
    ///
    /// Exit codes: 0 shown; 2 bad flags, or the store could not be read.
    ///
    /// Examples:
    ///   harness history
    ///   harness history seed-swap --metric lost --metric downtime.max_ms --last 30
    ///   harness history --since 21d --label branch=main --json
    ///   harness history --history postgres://ci:secret@db:5432/harness --csv
    #[command(verbatim_doc_comment)]
    History(HistoryQueryArgs),
    /// Fit the virtual-time platform's model to real runs: a profile for `--platform sim`.
    ///
    /// Reads run directories of any platform (the emulator's, a command platform's) and
    /// prints, as TOML, the model of the machine the sim runs on: a process's start
    /// (launch to main), the network's latency (one way) and a process's exit (to the
    /// host seeing it), each the log-normal the runs' samples give, or with --replay one
    /// run's own times in turn. A scenario names the file with [platform] profile = "FILE".
    ///
    /// Exit codes: 0 fitted; 2 a directory is not a run directory.
    ///
    /// Example:
    ///   harness run scenarios/seed-swap.toml --time-scale 0.1 --out runs/cal-swap
    ///   harness calibrate runs/cal-swap > runs/profile.toml
    #[command(verbatim_doc_comment)]
    Calibrate {
        /// Run directories written by `harness run` or `harness compare`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Replay one run's machine: each instance's start and exit as that run measured
        /// them, by instance id, rather than a distribution fitted to them.
        #[arg(long)]
        replay: bool,
    },
    /// Check a scenario file without running it.
    ///
    /// Exit codes: 0 valid; 2 invalid, with the file, line and key on stderr.
    ///
    /// Example:
    ///   harness validate scenarios/seed-swap.toml
    #[command(verbatim_doc_comment)]
    Validate {
        /// The scenario files (TOML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Render every report of a run directory, without running anything.
    ///
    /// Writes report.md (tables for a paper), report.html (one self-contained page with the
    /// plots inline), timeline, availability, lateness and downtime plots as SVG and PNG,
    /// probes.hlog (an HdrHistogram interval log of probe latency) and lateness.hgrm.
    ///
    /// Exit codes: 0 written; 2 the run directory could not be read.
    ///
    /// Example:
    ///   harness report scenarios/examples/seed-swap
    #[command(verbatim_doc_comment)]
    Report {
        /// The run directory.
        dir: PathBuf,
    },
    /// Re-check a run directory, judge it again and print its verdict.
    ///
    /// Reads expected.json and arrivals.csv (required), probes.csv and ledger.csv (optional)
    /// and prints a readable summary: counts, lateness quantiles, downtime, and the lost,
    /// duplicated, late and unexpected items (the first 20 of each). When the directory
    /// holds the scenario as run (scenario.toml) and the run's record (record.json, or the
    /// summary.json of an older run), it judges the run again as `harness run` did, with
    /// any --expect thresholds added, and rewrites summary.json and junit.xml.
    ///
    /// Exit codes: 0 checked (and every threshold held); 1 a threshold failed; 2 it could
    /// not be read (the error, with the file and line, goes to stderr); 3 the run is
    /// invalid.
    ///
    /// Examples:
    ///   harness check scenarios/examples/seed-swap
    ///   harness check runs/seed-swap-1796154611 --json | jq .lost
    ///   harness check runs/seed-swap-1796154611 --expect 'downtime.max_ms < 500'
    #[command(verbatim_doc_comment)]
    Check {
        /// The run directory.
        dir: PathBuf,
        /// Print the verdict object of summary.json instead, and nothing else on stdout.
        #[arg(long)]
        json: bool,
        /// A threshold to judge the run by, beside its scenario's (repeatable), as `run`
        /// takes it.
        #[arg(long = "expect", value_name = "EXPR")]
        expect: Vec<String>,
    },
}

/// The flags of `harness run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The run directory to write (default: runs/NAME-UNIXTIME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Multiply every scenario duration by this (e.g. 0.1 runs ten times faster).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Seed of every random choice (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the summary (verdict, thresholds, validity) as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// A threshold such as 'lost == 0' or 'downtime.max_ms < 500' (repeatable), checked
    /// with the scenario's [expect] thresholds.
    #[arg(long = "expect", value_name = "EXPR")]
    pub expect: Vec<String>,
    /// A budget learned from the history store (repeatable), checked with the scenario's
    /// [[budget]] tables: 'METRIC [pQ] [last=N|since=AGE] [min_runs=N] [add=X] [mul=Y]',
    /// e.g. 'downtime.total_ms p99 since=21d min_runs=30 add=200 mul=1.2'.
    #[arg(long = "budget", value_name = "BUDGET")]
    pub budgets: Vec<String>,
    /// Print nothing but errors; the exit code says how it went.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run this program as the function instead of the built-in test function (it must
    /// speak the test function's protocol: see the README).
    #[arg(long, value_name = "PATH")]
    pub app_command: Option<PathBuf>,
    /// Keep this run's numbers as the baseline NAME (runs/baselines/NAME).
    #[arg(long, value_name = "NAME")]
    pub save_baseline: Option<String>,
    /// Compare with a saved baseline NAME, or a run directory.
    #[arg(long, value_name = "NAME|DIR")]
    pub baseline: Option<String>,
    /// How much worse each metric may get against the baseline before the run fails:
    /// METRIC:AMOUNT or METRIC:PERCENT%, comma-separated (e.g. lost:0,downtime.max_ms:20%).
    #[arg(long, value_name = "SPEC", requires = "baseline")]
    pub max_regression: Option<String>,
    /// Run local-platform scenarios on this platform instead: `sim` runs them in virtual
    /// time, deterministically (the same seed gives the same run directory), in a fraction of
    /// a second; `docker` runs each instance as a container of the machine's Docker Engine;
    /// `local` runs a sim or docker scenario on the emulator.
    #[arg(long, value_name = "local|sim|docker")]
    pub platform: Option<crate::platform::PlatformKind>,
    /// Resolve everything (the scenarios, every flag, the thresholds, the budgets' history,
    /// a sweep's grid) and print the runs it would make with their planned time; run and
    /// write nothing. Exit 0, or 2 for whatever a real run would refuse.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// The history store's `--history`, for the commands that record and for `harness history`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StoreArg {
    /// The history store: a SQLite file, or a PostgreSQL database a team shares
    /// (postgres://USER:PASSWORD@HOST:PORT/DB).
    #[arg(
        long,
        value_name = "FILE|URL",
        env = "HARNESS_HISTORY",
        hide_env_values = true,
        default_value = history::DEFAULT_STORE
    )]
    pub history: String,
}

/// Where runs are recorded: `run`, `compare`, `advise` and `sweep` record every run in the
/// history store unless told not to.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Record nothing in the history store (also HARNESS_NO_HISTORY=1).
    #[arg(
        long,
        env = "HARNESS_NO_HISTORY",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub no_history: bool,
    /// Record the runs with this label, KEY=VALUE (repeatable): a commit, a branch, a
    /// machine. `harness history --label` picks runs by it.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
}

/// `KEY=VALUE`, both non-empty, the key a plain word.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if k.is_empty() || !k.chars().all(plain) {
        return Err(format!(
            "{text:?}: the key must be a plain word (letters, digits, _ - .)"
        ));
    }
    if v.is_empty() {
        return Err(format!("{text:?}: the value is empty"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// The flags of `harness history`.
#[derive(clap::Args, Debug)]
pub struct HistoryQueryArgs {
    /// Scenario names, or scenario files (their name); none: every scenario in the store.
    pub scenarios: Vec<String>,
    /// A metric to show (repeatable), as thresholds name them (`lost`,
    /// `downtime.max_ms`); default: lost, duplicated, late, downtime.total_ms,
    /// downtime.max_ms, update.duration_ms.
    #[arg(long = "metric", value_name = "M")]
    pub metrics: Vec<String>,
    /// Only each series' last N runs.
    #[arg(long, value_name = "N", conflicts_with = "since")]
    pub last: Option<usize>,
    /// Only runs recorded within this long before now: `21d`, `12h`, `30m`, `90s`.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
    /// Only runs recorded with this label, KEY=VALUE (repeatable: all of them).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Print JSON instead of the table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV instead of the table.
    #[arg(long)]
    pub csv: bool,
    /// Also write DIR/history.html: each metric of each series over its runs, with the band
    /// its budget set when each run came.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The budget whose band the page draws for its metric (repeatable), as `run --budget`
    /// takes it; a scenario file's [[budget]] tables count too. A metric without one is
    /// drawn with the default budget's band.
    #[arg(long = "budget", value_name = "BUDGET")]
    pub budgets: Vec<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

/// How a batch of runs is run, for `compare` and `sweep` alike.
#[derive(clap::Args, Clone, Debug)]
pub struct BatchArgs {
    /// Runs per scenario.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Multiply every scenario duration by this.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Runs executed at once (each has its own ports and directory). Runs share the
    /// machine's cores, so more jobs trade fidelity for time.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run this program as the function in every scenario, instead of its app.command or
    /// the built-in test function.
    #[arg(long, value_name = "PATH")]
    pub app_command: Option<PathBuf>,
    /// Run local-platform scenarios on this platform instead: `sim` runs them in virtual
    /// time, deterministically (the same seed gives the same run directory), in a fraction of
    /// a second; `docker` runs each instance as a container of the machine's Docker Engine;
    /// `local` runs a sim or docker scenario on the emulator.
    #[arg(long, value_name = "local|sim|docker")]
    pub platform: Option<crate::platform::PlatformKind>,
    /// Resolve everything (the scenarios, every flag, the thresholds, the budgets' history,
    /// a sweep's grid) and print the runs it would make with their planned time; run and
    /// write nothing. Exit 0, or 2 for whatever a real run would refuse.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// The flags of `harness sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The scenario files (TOML).
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// A scenario key and its values: KEY=LO..HI:COUNT or KEY=a,b,c (repeatable: a grid).
    #[arg(long = "vary", value_name = "KEY=SPEC", required = true)]
    pub vary: Vec<String>,
    /// Where to write the runs and the sweep (default: runs/sweep-UNIXTIME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// What the advice across the range weighs: a preset (zero-loss, zero-downtime,
    /// fast-update) or a list of METRIC and METRIC OP NUMBER terms, as advise takes it.
    #[arg(long, value_name = "P", default_value = "zero-loss")]
    pub priority: String,
    #[command(flatten)]
    pub batch: BatchArgs,
}

/// The flags of `harness health` (and `testfn health`).
#[derive(clap::Args, Debug, Clone)]
pub struct HealthArgs {
    /// The test function's address, `IP:PORT`.
    #[arg(
        long,
        conflicts_with = "addr_file",
        required_unless_present = "addr_file"
    )]
    pub addr: Option<std::net::SocketAddr>,
    /// A file holding that address (`testfn --addr-file`).
    #[arg(long)]
    pub addr_file: Option<std::path::PathBuf>,
    /// The path asked.
    #[arg(long, default_value = "/health")]
    pub path: String,
    /// How long the whole check may take.
    #[arg(long, default_value_t = 2_000)]
    pub timeout_ms: u64,
}

/// The flags of `harness advise`.
#[derive(clap::Args, Debug)]
pub struct AdviseArgs {
    /// A comparison directory written by `harness compare`, a sweep directory written by
    /// `harness sweep`, or scenario files (TOML) to compare first.
    #[arg(required = true, value_name = "DIR|SCENARIO")]
    pub inputs: Vec<PathBuf>,
    /// What matters, in order: a preset (zero-loss, zero-downtime, fast-update) or a
    /// comma-separated list of METRIC and METRIC OP NUMBER terms.
    #[arg(long, value_name = "P")]
    pub priority: String,
    /// Weigh only this case (repeatable; default: every case present).
    #[arg(long = "case", value_name = "C")]
    pub cases: Vec<String>,
    /// The significance level of every test.
    #[arg(long, default_value_t = reports::advice::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// Where to write advice.md and advice.json (default: the comparison directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print advice.json instead of the text, and nothing else on stdout.
    #[arg(long)]
    pub json: bool,
    /// With scenario files: runs per scenario (default 5).
    #[arg(long)]
    pub repeat: Option<u32>,
    /// With scenario files: multiply every scenario duration by this.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// With scenario files: runs executed at once (default 1).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// With scenario files: run this program as the function in every scenario.
    #[arg(long, value_name = "PATH")]
    pub app_command: Option<PathBuf>,
    /// With scenario files: run local-platform scenarios on this platform instead: `sim` runs them in virtual
    /// time, deterministically (the same seed gives the same run directory), in a fraction of
    /// a second; `docker` runs each instance as a container of the machine's Docker Engine;
    /// `local` runs a sim or docker scenario on the emulator.
    #[arg(long, value_name = "local|sim|docker")]
    pub platform: Option<crate::platform::PlatformKind>,
    /// With scenario files: resolve the comparison and print the runs it would make; run
    /// and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
}
