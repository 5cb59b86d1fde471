//! How the test function starts: its command line, its stdout lines (the address, then send
//! reports), and its cancellation token (SIGTERM for a process, a token in process).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::app::serve;
use super::config::{Config, Place, Schedule, Work};
use super::functions_host::HostEnv;
use super::line_out::LineOut;
use crate::scenario::OnCancel;

/// The command line of an instance, `harness testfn ...` or the standalone `testfn`: what
/// the host passes to every instance it starts (see [`Work::args`]). The command prints the
/// address it bound on its first line of output, then serves until SIGTERM (its
/// cancellation token) or SIGKILL. `--version` is the function's version label, so the
/// commands that take these flags turn clap's own version flag off.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Where to serve [default: 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (or
    /// $FUNCTIONS_HTTPWORKER_PORT) under the Azure Functions host, else 127.0.0.1:0]
    #[arg(long)]
    pub listen: Option<String>,
    /// Version label sent with every item, e.g. A.
    #[arg(long, env = "TESTFN_VERSION")]
    pub version: String,
    /// Instance id, e.g. a-0 [default: $WEBSITE_INSTANCE_ID, else the host name]
    #[arg(long, env = "TESTFN_INSTANCE")]
    pub instance: Option<String>,
    /// The slot the instance was started in.
    #[arg(long, env = "TESTFN_SLOT", default_value = "production")]
    pub slot: String,
    /// Base URL of the sink.
    #[arg(long, env = "TESTFN_SINK")]
    pub sink: String,
    /// Where cancelled runs stash their unsent items, and where they are replayed from.
    #[arg(long, env = "TESTFN_STASH_DIR")]
    pub stash_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub items: u32,
    #[arg(long, default_value_t = 1_000_000_000)]
    pub item_delay_ns: u64,
    #[arg(long, default_value_t = 0)]
    pub processing_ns: u64,
    #[arg(long, default_value_t = 2_000)]
    pub submit_timeout_ms: u64,
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// What a run does when the cancellation token fires: abandon, finish-item or stash.
    #[arg(long, default_value = "abandon", value_parser = parse_on_cancel)]
    pub on_cancel: OnCancel,
    /// Messages each /poll run emits (the queue workload).
    #[arg(long, default_value_t = 0)]
    pub events: u32,
    /// Chaos: the queue handler always fails messages with this n.
    #[arg(long)]
    pub fail_n: Option<u64>,
    /// Cold start: wait this long before binding and serving.
    #[arg(long, default_value_t = 0)]
    pub startup_delay_ns: u64,
    /// Print `sent SOURCE M N` before an item's first submit and `acked SOURCE M N` once
    /// the sink took it, so the host knows which items were in flight when it died.
    #[arg(long)]
    pub report_sends: bool,
    /// The sink's bearer token (`Authorization: Bearer`), when it requires one.
    #[arg(long, env = "TESTFN_SINK_TOKEN", hide_env_values = true)]
    pub sink_token: Option<String>,
    /// Do not post lifecycle events to the sink's /events.
    #[arg(long)]
    pub no_lifecycle: bool,
    /// How often a heartbeat event is posted; 0: never.
    #[arg(long, env = "TESTFN_HEARTBEAT_MS", default_value_t = 250)]
    pub heartbeat_ms: u64,
    /// Run the function's own timer on this schedule (ns since the Unix epoch of occurrence
    /// 0), as a timer-triggered function on a real platform: every instance fires.
    #[arg(long, env = "TESTFN_TIMER_EPOCH_NS", requires = "timer_period_ns")]
    pub timer_epoch_ns: Option<i64>,
    /// The own timer's period.
    #[arg(long, env = "TESTFN_TIMER_PERIOD_NS")]
    pub timer_period_ns: Option<u64>,
    /// The own timer's first occurrence (it never fires one before).
    #[arg(long, env = "TESTFN_TIMER_FIRST", default_value_t = 0)]
    pub timer_first: u64,
    /// The own timer fires occurrences before this one only.
    #[arg(long, env = "TESTFN_TIMER_UNTIL")]
    pub timer_until: Option<u64>,
    /// Fire the own timer only while holding this lease at the sink (one instance at a time).
    #[arg(long, env = "TESTFN_LEASE")]
    pub lease: Option<String>,
    /// The lease's time to live; it is renewed every third of it.
    #[arg(long, env = "TESTFN_LEASE_TTL_MS", default_value_t = 3_000)]
    pub lease_ttl_ms: u64,
    /// Also write the address it bound to this file once it serves: where a health check
    /// inside the container finds it (`harness health --addr-file`), the port being the
    /// kernel's choice.
    #[arg(long, env = "TESTFN_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
    /// A bad release's behaviour (the defaults: a healthy one).
    #[command(flatten)]
    pub release: super::release::ReleaseArgs,
    /// What its own process's environment says where no flag does (the Functions host's
    /// port, an instance id, the host timer's numbering): read by `harness testfn` and
    /// `testfn` only, never by an instance in the harness's own process.
    #[arg(skip)]
    pub host_env: HostEnv,
}

pub fn parse_on_cancel(s: &str) -> Result<OnCancel, String> {
    match s {
        "abandon" => Ok(OnCancel::Abandon),
        "finish-item" => Ok(OnCancel::FinishItem),
        "stash" => Ok(OnCancel::Stash),
        other => Err(format!(
            "expected abandon, finish-item or stash, got {other:?}"
        )),
    }
}

/// Runs the test function until SIGTERM (its cancellation token) or SIGKILL: the body of
/// `harness testfn` and of the standalone `testfn` binary.
pub fn main(args: Args) -> anyhow::Result<()> {
    // An instance logs to its stderr, which the host keeps as `instances/ID.log`.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "harness=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(mut args: Args) -> anyhow::Result<()> {
    args.host_env = HostEnv::of_process().map_err(anyhow::Error::msg)?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let token = cancel.clone();
    tokio::spawn(async move {
        term.recv().await;
        tracing::info!("SIGTERM: the cancellation token fires");
        token.cancel();
    });
    run_with(args, LineOut::stdout(), cancel, Place::process()).await
}

/// The function with its stdout and its cancellation token given (SIGTERM fires `cancel`),
/// at `place`: a process's network and clock, or the virtual-time platform's.
pub async fn run_with(
    args: Args,
    out: LineOut,
    cancel: tokio_util::sync::CancellationToken,
    place: Place,
) -> anyhow::Result<()> {
    let slowdown = args.release.slowdown.max(1.0);
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| args.host_env.listen());
    let addr_file = args.addr_file.clone();
    let Some(instance) = args.instance.or(args.host_env.instance) else {
        anyhow::bail!("no instance id: give --instance or TESTFN_INSTANCE");
    };
    let config = Config {
        out: out.clone(),
        version: args.version,
        instance,
        slot: args.slot,
        sink_url: args.sink.trim_end_matches('/').to_owned(),
        stash_dir: args.stash_dir,
        report_sends: args.report_sends,
        sink_token: args.sink_token.filter(|t| !t.is_empty()),
        lifecycle: !args.no_lifecycle,
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        own_timer: args.timer_epoch_ns.map(|epoch_ns| super::OwnTimer {
            schedule: Schedule {
                epoch_ns,
                period: Duration::from_nanos(args.timer_period_ns.unwrap_or(1).max(1)),
                first: args.timer_first,
                until: args.timer_until,
            },
            lease: args.lease.clone(),
            lease_ttl: Duration::from_millis(args.lease_ttl_ms.max(1)),
        }),
        functions_timer: args.host_env.timer,
        release: args.release.clone(),
        work: Work {
            items: args.items,
            // A slower release takes longer over everything it does.
            item_delay: Duration::from_nanos(args.item_delay_ns).mul_f64(slowdown),
            processing: Duration::from_nanos(args.processing_ns).mul_f64(slowdown),
            submit_timeout: Duration::from_millis(args.submit_timeout_ms),
            retries: args.retries,
            on_cancel: args.on_cancel,
            events: args.events,
            fail_n: args.fail_n,
            heartbeat: Duration::from_millis(args.heartbeat_ms),
        },
        place,
    };
    let started_ns = config.place.clock.now_ns() as u64;
    tokio::time::sleep(Duration::from_nanos(args.startup_delay_ns)).await;
    if config.release.start == "exit" {
        anyhow::bail!("a bad release: it exits at start, before serving");
    }
    // Every page written, so the memory is the process's own, not a promise: past a
    // container's limit the kernel kills it here. Held until the process ends.
    // (black_box: an allocation nothing reads could be optimised away.)
    let held = std::hint::black_box(vec![1u8; (config.release.hold_mib as usize) << 20]);
    let listener = crate::net::serve::Listener::bind(&config.place.net, &listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let bound = listener.local_addr()?.to_string();
    out.line(&bound);
    if let Some(file) = &addr_file {
        std::fs::write(file, &bound).with_context(|| format!("writing {}", file.display()))?;
    }
    tracing::info!(version = %config.version, instance = %config.instance, "serving");
    let crash_after = config.release.crash_after_ns.map(Duration::from_nanos);
    let serving = serve(listener, config, started_ns, cancel);
    match crash_after {
        None => serving.await?,
        Some(after) => tokio::select! {
            biased;
            served = serving => served?,
            () = tokio::time::sleep(after) => {
                tracing::error!("a bad release: it crashes");
                anyhow::bail!("a bad release: it crashed {after:?} after it began serving");
            }
        },
    }
    tracing::info!("stopped");
    drop(held);
    Ok(())
}
