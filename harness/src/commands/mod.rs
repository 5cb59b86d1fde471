//! One module per subcommand; each takes its parsed arguments and returns an exit code.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod check;

/// Exit code: the command did what was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: bad usage or unreadable input (scenario, run directory).
pub const EXIT_USAGE: u8 = 2;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check { dir, json } => check::run(&dir, json),
    };
    ExitCode::from(code)
}
