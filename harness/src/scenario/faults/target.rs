//! [`Target`]: the instances an instance fault acts on (by id, slot and version, one at
//! random or all), read from the entry's keys and written into the ledger's rows.

use serde::{Deserialize, Serialize};

use super::entry::{Entry, Refusal};

/// Which of the instances that match an instance fault's filters it acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// One, drawn with the run's seed.
    #[default]
    Random,
    All,
}

/// The instances an instance fault acts on: those matching every filter given, one of them
/// at random or all.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Target {
    /// The instance, by id (`a-0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Only instances in this slot (`production`, `staging`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Only instances of this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One of the matching serving instances at random (default), or all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pick: Option<Pick>,
}

impl Target {
    pub(super) fn read(e: &mut Entry) -> Result<Target, Refusal> {
        Ok(Target {
            instance: e.opt("instance")?,
            slot: e.opt("slot")?,
            version: e.opt("version")?,
            pick: e.opt("pick")?,
        })
    }

    pub fn pick(&self) -> Pick {
        self.pick.unwrap_or_default()
    }

    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, version) in [("version", &self.version), ("instance", &self.instance)] {
            if let Some(v) = version {
                if let Some(why) = sink::item::version_error(v) {
                    return Err((key, format!("{why} (got {v:?})")));
                }
            }
        }
        if let Some(slot) = &self.slot {
            if slot != crate::slot::PRODUCTION && slot != crate::slot::STAGING {
                return Err((
                    "slot",
                    format!("must be \"production\" or \"staging\" (got {slot:?})"),
                ));
            }
        }
        Ok(())
    }

    /// `target` and `pick`, for the ledger.
    pub(super) fn params(&self) -> [(&'static str, String); 2] {
        let target = match (&self.instance, &self.slot, &self.version) {
            (Some(id), _, _) => format!("instance:{id}"),
            (None, None, None) => "any".into(),
            (None, slot, version) => [
                slot.as_ref().map(|s| format!("slot:{s}")),
                version.as_ref().map(|v| format!("version:{v}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(","),
        };
        let pick = match self.pick() {
            Pick::Random => "random",
            Pick::All => "all",
        };
        [("target", target), ("pick", pick.into())]
    }
}
