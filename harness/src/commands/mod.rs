//! One module per subcommand; each takes its parsed arguments and returns an exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod advise;
pub mod batch;
pub mod calibrate;
pub mod check;
pub mod compare;
pub mod health;
pub mod history;
pub mod report;
pub mod run;
pub mod sweep;
pub mod validate;

/// Exit code: the command did what was asked (and every threshold held).
pub const EXIT_OK: u8 = 0;
/// Exit code: a threshold failed.
pub const EXIT_THRESHOLD: u8 = 1;
/// Exit code: bad usage or unreadable input (scenario, run directory).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the run could not be completed, so nothing it measured can be trusted.
pub const EXIT_INVALID_RUN: u8 = 3;
/// Exit code: interrupted by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// When a run directory's `summary.json` says the run measured nothing (it stopped before
/// any expected occurrence could end), why: there is then no `expected.json` to check or
/// render, and saying so beats a missing-file error.
fn unmeasured(dir: &std::path::Path) -> Option<String> {
    let summary = reports::RunDir::new(dir).read_summary().ok()??;
    summary.run.unmeasured.then(|| {
        format!(
            "{} measured nothing: the run stopped before any expected occurrence could end ({})",
            dir.display(),
            summary.invalid.join("; ")
        )
    })
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check { dir, json, expect } => check::run(&dir, json, &expect),
        Command::Report { dir } => report::run(&dir),
        Command::Compare {
            scenarios,
            out,
            batch,
        } => compare::run(&scenarios, out, &batch),
        Command::Sweep(args) => sweep::run(args),
        Command::Advise(args) => advise::run(args),
        Command::Validate { scenarios } => validate::run(&scenarios),
        Command::Calibrate { dirs, replay } => calibrate::run(&dirs, replay),
        Command::Run(args) => run::run(args),
        Command::Testfn(args) => match crate::testfn::main(*args) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                errln!("harness testfn: {e:#}");
                1
            }
        },
        Command::Health(args) => health::run(&args),
        Command::History(args) => history::run(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Generated into memory first: clap_complete panics on a closed stdout.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "harness", &mut script);
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&script);
            EXIT_OK
        }
    };
    ExitCode::from(code)
}

/// Cancels `cancel` on SIGINT (Ctrl-C), saying `say` on stderr first. The handler is
/// registered here, before the caller starts its runs: `tokio::signal::ctrl_c()` registers
/// only when its task is first polled, and a Ctrl-C before that would kill the harness
/// outright, with no teardown. Call it inside the runtime.
pub(crate) fn cancel_on_ctrl_c(
    cancel: &tokio_util::sync::CancellationToken,
    say: Option<&'static str>,
) {
    let interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let cancel = cancel.clone();
    tokio::spawn(async move {
        if let Ok(mut interrupts) = interrupts {
            if interrupts.recv().await.is_some() {
                if let Some(say) = say {
                    errln!("{say}");
                }
                cancel.cancel();
            }
        }
    });
}
