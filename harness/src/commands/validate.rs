//! `harness validate SCENARIO...`: check scenario files without running them.

use std::path::PathBuf;

use crate::scenario::Scenario;

use super::{EXIT_OK, EXIT_USAGE};

pub fn run(paths: &[PathBuf]) -> u8 {
    let mut code = EXIT_OK;
    for path in paths {
        match Scenario::load(path) {
            Ok(s) => outln!(
                "{}: ok ({} strategy, {} -> {}, {} instance{}, occurrences {}..={} expected, {} items each)",
                path.display(),
                s.strategy,
                s.app.from,
                s.app.to,
                s.app.instances,
                if s.app.instances == 1 { "" } else { "s" },
                s.first_expected(),
                s.last_expected(),
                s.items_per_occurrence()
            ),
            Err(e) => {
                errln!("harness validate: {e}");
                code = EXIT_USAGE;
            }
        }
    }
    code
}
