//! `sink --listen ADDR --dir DIR`: records items until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Records every item POSTed to /items into DIR/arrivals.csv.
///
/// Prints the address it bound on its first line of output (port 0 picks a free port),
/// then serves until Ctrl-C or SIGTERM, when it finishes open requests and syncs the file:
/// every acknowledged row is on disk when it exits.
///
/// Example:
///   sink --listen 127.0.0.1:0 --dir runs/manual
///   curl -H 'content-type: application/json' -d '{"source":"tick","m":0,"n":0,"version":"A"}' \
///        http://ADDR/items
#[derive(Parser, Debug)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Directory to write arrivals.csv into (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// When rows reach the disk before an item is acknowledged: never, batch (one sync per
    /// group of requests) or always (one sync per request).
    #[arg(long, default_value = "batch")]
    fsync: sink::FsyncPolicy,
    /// Largest accepted request body, in bytes; a larger one gets 413 and records nothing.
    #[arg(long, default_value_t = sink::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Connections served at once (idle keep-alive ones count); a request on a connection
    /// past it gets 503 `overloaded` and records nothing.
    #[arg(
        long,
        default_value_t = sink::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    max_connections: usize,
    /// Append to an existing arrivals.csv with the same header instead of refusing it.
    #[arg(long)]
    append: bool,
    /// Require `Authorization: Bearer TOKEN` on every endpoint but /health. Needed to
    /// listen beyond loopback.
    #[arg(long, env = "SINK_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sink=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, and never with NO_COLOR (no-color.org):
        // logs in files and CI stay plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let args = Args::parse();
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sink: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve(args: Args) -> anyhow::Result<()> {
    let mut config = sink::Config::new(&args.dir);
    config.fsync = args.fsync;
    config.max_body_bytes = args.max_body_bytes;
    config.max_connections = args.max_connections;
    config.append = args.append;
    config.token = args.token.filter(|t| !t.is_empty());
    let sink = sink::Sink::open(config)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, dir = %args.dir.display(), fsync = %args.fsync, "sink listening");
    let summary = sink.serve(listener, shutdown_signal()).await?;
    tracing::info!(
        items = summary.stats.items,
        distinct = summary.stats.distinct_keys,
        path = %summary.arrivals_path.display(),
        "sink stopped"
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! { _ = ctrl_c => {}, () = term => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
