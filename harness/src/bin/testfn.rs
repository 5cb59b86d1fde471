//! `testfn`: the test function the host runs as an instance. See `harness::testfn`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use harness::scenario::OnCancel;

/// The harness's test function: submits numbered items to the sink when invoked.
///
/// Prints the address it bound on its first line of output, then serves until SIGTERM
/// (its cancellation token) or SIGKILL.
#[derive(Parser, Debug)]
// `--version` is the function's version label, so clap's own version flag is off.
#[command(disable_version_flag = true)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Version label sent with every item, e.g. A.
    #[arg(long, env = "TESTFN_VERSION")]
    version: String,
    /// Instance id, e.g. a-0.
    #[arg(long, env = "TESTFN_INSTANCE")]
    instance: String,
    /// The slot the instance was started in.
    #[arg(long, env = "TESTFN_SLOT", default_value = "production")]
    slot: String,
    /// Base URL of the sink.
    #[arg(long, env = "TESTFN_SINK")]
    sink: String,
    /// Where cancelled runs stash their unsent items, and where they are replayed from.
    #[arg(long, env = "TESTFN_STASH_DIR")]
    stash_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    items: u32,
    #[arg(long, default_value_t = 1_000_000_000)]
    item_delay_ns: u64,
    #[arg(long, default_value_t = 0)]
    processing_ns: u64,
    #[arg(long, default_value_t = 2_000)]
    submit_timeout_ms: u64,
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// What a run does when the cancellation token fires: abandon, finish-item or stash.
    #[arg(long, default_value = "abandon", value_parser = parse_on_cancel)]
    on_cancel: OnCancel,
    /// Messages each /poll run emits (the queue workload).
    #[arg(long, default_value_t = 0)]
    events: u32,
    /// Chaos: the queue handler always fails messages with this n.
    #[arg(long)]
    fail_n: Option<u64>,
    /// Cold start: wait this long before binding and serving.
    #[arg(long, default_value_t = 0)]
    startup_delay_ns: u64,
    /// Print `sent SOURCE M N` before an item's first submit and `acked SOURCE M N` once
    /// the sink took it, so the host knows which items were in flight when it died.
    #[arg(long)]
    report_sends: bool,
}

fn parse_on_cancel(s: &str) -> Result<OnCancel, String> {
    match s {
        "abandon" => Ok(OnCancel::Abandon),
        "finish-item" => Ok(OnCancel::FinishItem),
        "stash" => Ok(OnCancel::Stash),
        other => Err(format!(
            "expected abandon, finish-item or stash, got {other:?}"
        )),
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "harness=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = harness::testfn::Config {
        version: args.version,
        instance: args.instance,
        slot: args.slot,
        sink_url: args.sink.trim_end_matches('/').to_owned(),
        stash_dir: args.stash_dir,
        report_sends: args.report_sends,
        work: harness::testfn::Work {
            items: args.items,
            item_delay: Duration::from_nanos(args.item_delay_ns),
            processing: Duration::from_nanos(args.processing_ns),
            submit_timeout: Duration::from_millis(args.submit_timeout_ms),
            retries: args.retries,
            on_cancel: args.on_cancel,
            events: args.events,
            fail_n: args.fail_n,
        },
    };
    tokio::time::sleep(Duration::from_nanos(args.startup_delay_ns)).await;
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", listener.local_addr()?)?;
        out.flush()?;
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let token = cancel.clone();
    tokio::spawn(async move {
        term.recv().await;
        tracing::info!("SIGTERM: the cancellation token fires");
        token.cancel();
    });
    tracing::info!(version = %config.version, instance = %config.instance, "serving");
    harness::testfn::serve(listener, config, cancel).await?;
    tracing::info!("stopped");
    Ok(())
}
