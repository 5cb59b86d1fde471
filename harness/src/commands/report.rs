//! `harness report DIR`: render every report of a run directory.

use std::path::Path;

use reports::RunDir;

use super::{EXIT_OK, EXIT_USAGE};

pub fn run(dir: &Path) -> u8 {
    if let Some(why) = super::unmeasured(dir) {
        errln!("harness report: {why}");
        return EXIT_USAGE;
    }
    match reports::report::write(&RunDir::new(dir)) {
        Ok(files) => {
            for f in files {
                outln!("{}", f.display());
            }
            EXIT_OK
        }
        Err(e) => {
            errln!("harness report: {e}");
            EXIT_USAGE
        }
    }
}
