//! The sections and keys of a bad release and of getting back from it: how the version being
//! deployed misbehaves (`[app.to_behaviour]`), what a rolling update does when its
//! replacements never become ready (`rolling.on_unready`), and the analysis that rolls the
//! update back when it fails (`[analysis]`); the manual rollback is `run.rollback_at`.

use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// How the version being deployed (`app.to`) misbehaves. Every key defaults to a healthy
/// release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// `ok`; `exit`: it exits at start, before serving (a crash on boot); `unready`: it
    /// serves, but its health check never answers 2xx (so it never becomes ready).
    pub start: StartBehaviour,
    /// Fraction of its invocations (timer runs, queue messages) that fail at once, before
    /// sending anything; drawn from the run's seed per occurrence, so a run replays exactly.
    pub fail_rate: f64,
    /// Fraction of its HTTP requests (`/api/ping`) answered 500.
    pub http_fail_rate: f64,
    /// Its processing and the wait between its items take this many times as long.
    pub slowdown: f64,
    /// It exits with an error this long after it started serving (scaled). The local
    /// platform does not restart it (*invented*: no supervisor).
    pub crash_after: Option<Span>,
    /// It holds this many MiB of memory from its start, before serving (a heap grown too
    /// big): on the Docker platform with a smaller `platform.docker.memory_mib`, the kernel
    /// kills its container (the Engine's `oom`). Default 0.
    pub hold_mib: u64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            start: StartBehaviour::Ok,
            fail_rate: 0.0,
            http_fail_rate: 0.0,
            slowdown: 1.0,
            crash_after: None,
            hold_mib: 0,
        }
    }
}

/// How a release starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartBehaviour {
    #[default]
    Ok,
    Exit,
    Unready,
}

impl StartBehaviour {
    pub fn as_str(self) -> &'static str {
        match self {
            StartBehaviour::Ok => "ok",
            StartBehaviour::Exit => "exit",
            StartBehaviour::Unready => "unready",
        }
    }
}

impl Behaviour {
    /// Whether it behaves as a healthy release would.
    pub fn is_healthy(&self) -> bool {
        *self == Behaviour::default()
    }

    /// The checks serde cannot make, as `(key, why)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, rate) in [
            ("app.to_behaviour.fail_rate", self.fail_rate),
            ("app.to_behaviour.http_fail_rate", self.http_fail_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err((key, format!("must be between 0 and 1 (got {rate})")));
            }
        }
        if !(self.slowdown >= 1.0 && self.slowdown <= 1000.0) {
            return Err((
                "app.to_behaviour.slowdown",
                format!("must be between 1 and 1000 (got {})", self.slowdown),
            ));
        }
        if self.crash_after.is_some_and(|c| c.0.is_zero()) {
            return Err(("app.to_behaviour.crash_after", "must be positive".into()));
        }
        if self.hold_mib > 64 * 1024 {
            return Err((
                "app.to_behaviour.hold_mib",
                format!("at most 65536 (64 GiB), got {}", self.hold_mib),
            ));
        }
        Ok(())
    }
}

/// The analysis that gates an update (`[analysis]`), as Argo Rollouts' and Flagger's do:
/// every `interval` from the update's start, each threshold is evaluated over the last
/// `window` of the run; with at least `min_samples` samples in the window, a threshold that
/// fails rolls the update back, once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// `METRIC OP NUMBER` over the window, METRIC one of `invocations.failed_rate` (failed
    /// runs / runs that answered; a run the update killed is not counted), `probes.failed_rate`,
    /// `occurrences.missed`, `probes.latency_p99_ms`.
    pub thresholds: Vec<String>,
    /// How far back each evaluation looks (invented default: 10 s). Scaled.
    pub window: Span,
    /// How often it evaluates (invented default: 2 s). Scaled.
    pub interval: Span,
    /// Fewest samples (probes, or ended invocations) a window needs before its threshold
    /// can fail, so one early failure does not decide (invented default: 10).
    pub min_samples: u32,
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            thresholds: Vec::new(),
            window: Span::from_secs(10),
            interval: Span::from_secs(2),
            min_samples: 10,
        }
    }
}
