//! The instance faults: `crash`, `pause` and `crash_loop`, which act on the app's processes
//! through the platform (a signal, and a restart of the same version in the same slot).

use std::time::Duration;

use serde::Serialize;

use super::entry::{Entry, Refusal};
use super::kind::Kind;
use super::scheduled::{ms, Act, InstanceAct};
use super::target::Target;
use crate::duration::{Span, TimeScale};

/// `crash`: SIGKILL, and a restart of the same version in the same slot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Crash {
    pub at: Span,
    #[serde(flatten)]
    pub target: Target,
    /// The platform restarts the instance, as a real one does. Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    /// From the death to the restart. Default 1 s (invented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Span>,
}

impl Crash {
    pub(super) fn read(e: &mut Entry) -> Result<Crash, Refusal> {
        Ok(Crash {
            at: e.at()?,
            target: Target::read(e)?,
            restart: e.opt("restart")?,
            restart_after: e.opt("restart_after")?,
        })
    }
}

/// From a death to the restart, by default. Invented.
const RESTART_AFTER: Span = Span(Duration::from_secs(1));

impl Kind for Crash {
    fn at(&self) -> Span {
        self.at
    }
    fn target(&self) -> Option<&Target> {
        Some(&self.target)
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let restart = self.restart.unwrap_or(true);
        let restart_after = scale.span(self.restart_after.unwrap_or(RESTART_AFTER));
        params.push(("restart", restart.to_string()));
        params.push(("restart_after_ms", ms(restart_after)));
        Act::Instances {
            target: self.target.clone(),
            act: InstanceAct::Kill {
                restart_after: restart.then_some(restart_after),
                up_for: None,
            },
        }
    }
}

/// `pause`: SIGSTOP for `duration`, then SIGCONT.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pause {
    pub at: Span,
    pub duration: Span,
    #[serde(flatten)]
    pub target: Target,
}

impl Pause {
    pub(super) fn read(e: &mut Entry) -> Result<Pause, Refusal> {
        Ok(Pause {
            at: e.at()?,
            target: Target::read(e)?,
            duration: e.duration()?,
        })
    }
}

impl Kind for Pause {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn target(&self) -> Option<&Target> {
        Some(&self.target)
    }
    fn act(&self, _: TimeScale, _: &mut Vec<(&'static str, String)>) -> Act {
        Act::Instances {
            target: self.target.clone(),
            act: InstanceAct::Pause,
        }
    }
}

/// `crash_loop`: the chosen instances keep dying for `duration`; each restart lives
/// `up_for`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrashLoop {
    pub at: Span,
    pub duration: Span,
    #[serde(flatten)]
    pub target: Target,
    /// From a death to the restart. Default 1 s (invented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Span>,
    /// How long each restart lives once ready. Default 500 ms (invented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_for: Option<Span>,
}

impl CrashLoop {
    pub(super) fn read(e: &mut Entry) -> Result<CrashLoop, Refusal> {
        Ok(CrashLoop {
            at: e.at()?,
            target: Target::read(e)?,
            duration: e.duration()?,
            restart_after: e.opt("restart_after")?,
            up_for: e.opt("up_for")?,
        })
    }
}

impl Kind for CrashLoop {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn target(&self) -> Option<&Target> {
        Some(&self.target)
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let restart_after = scale.span(self.restart_after.unwrap_or(RESTART_AFTER));
        let up_for = scale.span(self.up_for.unwrap_or(Span::from_millis(500)));
        params.push(("restart_after_ms", ms(restart_after)));
        params.push(("up_for_ms", ms(up_for)));
        Act::Instances {
            target: self.target.clone(),
            act: InstanceAct::Kill {
                restart_after: Some(restart_after),
                up_for: Some(up_for),
            },
        }
    }
}
