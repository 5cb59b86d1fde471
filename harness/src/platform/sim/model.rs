//! What the virtual-time platform models, with its defaults. Everything else (cold start,
//! readiness checks, the timer, the queue, drains, the cancellation token, stash and
//! replay, the front door's switch) is the emulator's own code, run as it is.

use serde::{Deserialize, Serialize};

use crate::dist::Dist;

/// The modelled parts of the machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Model {
    /// From the host launching an instance to the function's `main` running: `fork`/`exec`,
    /// the dynamic loader and the runtime's start, which a process pays and a task does not.
    /// The emulator's cold start (`app.cold_start`) comes after it, as on the machine.
    pub process_start: Dist,
    /// One way, each way, between any two parts: app and sink, front door and instance,
    /// probe and front door, host and instance.
    pub net_latency: Dist,
}

impl Default for Model {
    /// Fitted to the emulator on the development machine (2 cores), see the design doc's
    /// "The virtual-time platform": the median from `harness calibrate` over the seed
    /// scenarios' runs.
    fn default() -> Model {
        Model {
            process_start: Dist::Fixed(3_000_000),
            net_latency: Dist::Fixed(100_000),
        }
    }
}
