//! The program an instance runs: the built-in test function (`harness testfn`, this very
//! executable), or the user's own app speaking its protocol.
//!
//! The built-in function is the default so that one binary does the whole job: nothing in
//! the main path depends on a second binary having been built beside the harness.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The executable and the arguments that come before the host's own flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppProgram {
    pub program: PathBuf,
    /// `["testfn"]` for the built-in function, empty for an app of the user's.
    pub args: Vec<OsString>,
    pub kind: AppKind,
}

/// Which function an instance runs, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// A program of the user's, speaking the test function's protocol.
    External,
    /// The built-in test function, as a process of this executable (`harness testfn`).
    Builtin,
    /// The built-in function on a thread of this process
    /// (`platform::launcher::InProcessLauncher`): for tests of the strategies.
    InProcess,
}

/// Why no program could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the app command {0} does not exist")]
    Missing(PathBuf),
    #[error("the app command {0} is not executable (chmod +x it, or name an interpreter in a script's #! line)")]
    NotExecutable(PathBuf),
    #[error("locating the harness executable for its built-in test function: {0}")]
    CurrentExe(std::io::Error),
}

impl AppProgram {
    /// This executable's `testfn` subcommand.
    pub fn builtin() -> Result<AppProgram, AppError> {
        let exe = std::env::current_exe().map_err(AppError::CurrentExe)?;
        Ok(AppProgram {
            program: exe,
            args: vec!["testfn".into()],
            kind: AppKind::Builtin,
        })
    }

    /// The built-in test function, each instance on a thread of this process.
    pub fn in_process() -> AppProgram {
        AppProgram {
            program: PathBuf::from("testfn"),
            args: Vec::new(),
            kind: AppKind::InProcess,
        }
    }

    /// A program of the user's, checked to exist and be executable.
    pub fn external(path: impl Into<PathBuf>) -> Result<AppProgram, AppError> {
        let path = path.into();
        let meta = std::fs::metadata(&path).map_err(|_| AppError::Missing(path.clone()))?;
        if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 == 0 {
            return Err(AppError::NotExecutable(path));
        }
        Ok(AppProgram::from(path))
    }

    /// The program for a run: `--app-command`, else the scenario's `app.command`, else
    /// `HARNESS_TESTFN`, else the built-in test function.
    pub fn resolve(
        app_command: Option<&Path>,
        scenario_command: Option<&str>,
    ) -> Result<AppProgram, AppError> {
        if let Some(p) = app_command {
            return AppProgram::external(p);
        }
        if let Some(p) = scenario_command {
            return AppProgram::external(p);
        }
        if let Some(p) = std::env::var_os("HARNESS_TESTFN").filter(|p| !p.is_empty()) {
            return AppProgram::external(PathBuf::from(p));
        }
        AppProgram::builtin()
    }
}

impl From<PathBuf> for AppProgram {
    fn from(program: PathBuf) -> AppProgram {
        AppProgram {
            program,
            args: Vec::new(),
            kind: AppKind::External,
        }
    }
}

/// How the run records it (`summary.json`'s `run.app_command`, `report.md`): the built-in
/// function by name, an app by the path it was given.
impl fmt::Display for AppProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            AppKind::InProcess => return f.write_str("harness testfn (built in, in process)"),
            AppKind::Builtin => return f.write_str("harness testfn (built in)"),
            AppKind::External => {}
        }
        write!(f, "{}", self.program.display())?;
        for a in &self.args {
            write!(f, " {}", a.to_string_lossy())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_must_exist_and_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            AppProgram::external(&missing),
            Err(AppError::Missing(_))
        ));
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let e = AppProgram::external(&plain).unwrap_err();
        assert!(e.to_string().contains("not executable"), "{e}");
        std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let app = AppProgram::resolve(Some(&plain), Some("ignored")).unwrap();
        assert_eq!(
            (app.program.as_path(), app.kind),
            (plain.as_path(), AppKind::External)
        );
        assert_eq!(app.to_string(), plain.display().to_string());
    }

    #[test]
    fn the_builtin_function_is_this_executable_with_its_subcommand() {
        let app = AppProgram::builtin().unwrap();
        assert_eq!(app.program, std::env::current_exe().unwrap());
        assert_eq!(app.args, vec![OsString::from("testfn")]);
        assert_eq!(app.to_string(), "harness testfn (built in)");
    }
}
