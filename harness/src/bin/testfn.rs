//! `testfn`: the test function as a binary of its own, for people who deploy it elsewhere.
//! The harness itself runs `harness testfn`, the same code; see `harness::testfn`.
//! `testfn health ...` is `harness health ...`: an image that holds only this binary has
//! its health check too.

use clap::Parser;

/// The harness's test function: submits numbered items to the sink when invoked.
#[derive(Parser, Debug)]
// `--version` is the function's version label, so clap's own version flag is off.
#[command(name = "testfn", disable_version_flag = true)]
struct Cli {
    #[command(flatten)]
    args: harness::testfn::Args,
}

/// `testfn health`: the container's health check.
#[derive(Parser, Debug)]
#[command(name = "testfn health")]
struct Health {
    #[command(flatten)]
    args: harness::cli::HealthArgs,
}

fn main() -> anyhow::Result<()> {
    if std::env::args_os().nth(1).is_some_and(|a| a == "health") {
        let health = Health::parse_from(std::env::args_os().skip(1));
        std::process::exit(i32::from(harness::commands::health::run(&health.args)));
    }
    harness::testfn::main(Cli::parse().args)
}
