//! `harness check DIR [--json]`: re-check a run directory from its files.

use std::io::Write;
use std::path::Path;

use reports::RunDir;

use super::{EXIT_OK, EXIT_USAGE};

pub fn run(dir: &Path, json: bool) -> u8 {
    if let Some(why) = super::unmeasured(dir) {
        errln!("harness check: {why}");
        return EXIT_USAGE;
    }
    let run = RunDir::new(dir);
    let verdict = match reports::checker::check_run(&run) {
        Ok(v) => v,
        Err(e) => {
            errln!("harness check: {e}");
            return EXIT_USAGE;
        }
    };
    let text = if json {
        match serde_json::to_string_pretty(&verdict) {
            Ok(t) => t + "\n",
            Err(e) => {
                errln!("harness check: encoding the verdict: {e}");
                return EXIT_USAGE;
            }
        }
    } else {
        // The identity is a nicety: a missing or unreadable summary.json still checks.
        let info = match run.read_summary() {
            Ok(summary) => summary.map(|s| s.run),
            Err(e) => {
                errln!("harness check: note: {e}");
                None
            }
        };
        reports::terminal::render(info.as_ref(), &verdict)
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // A closed pipe (e.g. `| head`) is not an error of the check.
        return EXIT_OK;
    }
    EXIT_OK
}
