//! `harness validate SCENARIO...`: check scenario files without running them.

use std::path::PathBuf;

use crate::scenario::Scenario;

use super::{EXIT_OK, EXIT_USAGE};

pub fn run(paths: &[PathBuf]) -> u8 {
    let mut code = EXIT_OK;
    for path in paths {
        match Scenario::load(path) {
            Ok(s) => {
                let work = if s.driver() == crate::scenario::Driver::None {
                    "probes only".to_owned()
                } else {
                    format!(
                        "occurrences {}..={} expected, {} items each",
                        s.first_expected(),
                        s.last_expected(),
                        s.items_per_occurrence()
                    )
                };
                let faults = if s.faults.is_empty() {
                    String::new()
                } else {
                    let kinds: Vec<&str> = s.faults.iter().map(|f| f.kind()).collect();
                    format!(", faults: {}", kinds.join(", "))
                };
                outln!(
                    "{}: ok ({}{} strategy, {} -> {}, {} instance{}, {work}{faults})",
                    path.display(),
                    if s.capabilities().strategies {
                        String::new()
                    } else {
                        format!("{} platform, ", s.platform.kind.as_str())
                    },
                    s.strategy,
                    s.app.from,
                    s.app.to,
                    s.app.instances,
                    if s.app.instances == 1 { "" } else { "s" },
                );
                for (key, why) in s.warnings() {
                    errln!(
                        "harness validate: {}: warning: key `{key}`: {why}",
                        path.display()
                    );
                }
            }
            Err(e) => {
                errln!("harness validate: {e}");
                code = EXIT_USAGE;
            }
        }
    }
    code
}
