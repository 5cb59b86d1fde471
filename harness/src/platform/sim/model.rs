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
    /// From a process's end (its `main` returning, or SIGKILL) to the host seeing it exit:
    /// the kernel's teardown and the parent's reaping.
    pub process_exit: Dist,
    /// Times one real run measured, per instance id, used for those instances instead of
    /// a draw (`harness calibrate --replay`): that run's machine, replayed.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub instances: std::collections::BTreeMap<String, Measured>,
}

/// One instance's start and exit as a real run measured them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Measured {
    pub start: Option<crate::duration::Span>,
    pub exit: Option<crate::duration::Span>,
}

impl Default for Model {
    /// Fitted by `harness calibrate` to the release emulator's runs of the seven seed
    /// scenarios (2 each, time scale 0.1) on the 2-core development machine; see the design
    /// doc's "The virtual-time platform".
    fn default() -> Model {
        Model {
            process_start: Dist::Lognormal {
                median: 5_395_000,
                sigma: 0.209,
            },
            net_latency: Dist::Lognormal {
                median: 151_000,
                sigma: 0.509,
            },
            process_exit: Dist::Lognormal {
                median: 1_352_000,
                sigma: 0.087,
            },
            instances: Default::default(),
        }
    }
}

impl Model {
    /// Reads a profile file (`harness calibrate`'s output): the model's keys at its top.
    pub fn load(path: &std::path::Path) -> Result<Model, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the profile {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("the profile {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_reads_back_as_written() {
        let model = Model {
            process_start: Dist::Lognormal {
                median: 8_500_000,
                sigma: 0.25,
            },
            net_latency: Dist::Uniform((50_000, 150_000)),
            process_exit: Dist::Fixed(2_000_000),
            instances: [(
                "b-0".to_owned(),
                Measured {
                    start: Some(crate::duration::Span::from_millis(9)),
                    exit: None,
                },
            )]
            .into(),
        };
        let text = toml::to_string(&model).unwrap();
        assert!(text.contains("median = \"8500us\""), "{text}");
        assert_eq!(toml::from_str::<Model>(&text).unwrap(), model);
        let partial: Model = toml::from_str("net_latency = { fixed = \"1ms\" }").unwrap();
        assert_eq!(partial.net_latency, Dist::Fixed(1_000_000));
        assert_eq!(partial.process_start, Model::default().process_start);
        assert!(toml::from_str::<Model>("process_begin = { fixed = \"1ms\" }").is_err());
    }
}
