//! `testfn`: the test function as a binary of its own, for people who deploy it elsewhere.
//! The harness itself runs `harness testfn`, the same code; see `harness::testfn`.

use clap::Parser;

/// The harness's test function: submits numbered items to the sink when invoked.
#[derive(Parser, Debug)]
// `--version` is the function's version label, so clap's own version flag is off.
#[command(name = "testfn", disable_version_flag = true)]
struct Cli {
    #[command(flatten)]
    args: harness::testfn::Args,
}

fn main() -> anyhow::Result<()> {
    harness::testfn::main(Cli::parse().args)
}
