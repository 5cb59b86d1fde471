//! `[platform.docker]`: how the Docker platform makes each instance's container. Plain
//! data that imports nothing of the crate, so the scenario can hold it.

use serde::{Deserialize, Serialize};

/// `[platform.docker]`: how each instance's container is made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSection {
    /// The image of `app.from`: the user's own, whose entrypoint takes the test function's
    /// flags (`--listen`, `--version`, `--instance`, `--sink`, ...) as `harness testfn` does.
    /// Default: the image the harness builds from its own executable.
    pub image_from: Option<String>,
    /// The image of `app.to`, likewise.
    pub image_to: Option<String>,
    /// How the built image starts the test function (ignored for an image of the user's).
    pub entrypoint: Entrypoint,
    /// Docker's `--init` (Compose's `init: true`): docker-init is PID 1 and forwards
    /// signals to its child.
    pub init: bool,
    /// A memory limit in MiB (Compose's `mem_limit`); past it the kernel kills the
    /// container (the Engine's `oom` event).
    pub memory_mib: Option<u64>,
    /// Environment variables every container gets (Compose's `environment`), e.g.
    /// `TINI_KILL_PROCESS_GROUP = "1"`, which makes docker-init signal its child's whole
    /// process group.
    pub env: std::collections::BTreeMap<String, String>,
}

/// The built image's entrypoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entrypoint {
    /// Exec form: the test function is the container's PID 1 and gets the Engine's signals.
    #[default]
    Exec,
    /// A shell script that runs the test function as its child and waits for it without
    /// forwarding signals: the shell is PID 1, which ignores a SIGTERM it has no handler
    /// for, so the app never sees it and is SIGKILLed at the end of the grace.
    Shell,
}

impl Entrypoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Entrypoint::Exec => "exec",
            Entrypoint::Shell => "shell",
        }
    }
}
