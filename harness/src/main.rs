use clap::Parser;

fn main() -> std::process::ExitCode {
    harness::commands::run(harness::cli::Cli::parse())
}
