//! `sink_crash`: the one fault on the harness itself. It stops the harness's own sink, a
//! drill showing that a run whose sink dies is invalid, never a pass.

use serde::Serialize;

use super::entry::{Entry, Refusal};
use super::kind::Kind;
use super::scheduled::Act;
use crate::duration::{Span, TimeScale};

/// `sink_crash`: the harness's own sink stops at `at`, as a crash: a drill of the harness's
/// own failure handling (the run says so and is invalid), not of the app.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SinkCrash {
    pub at: Span,
}

impl SinkCrash {
    pub(super) fn read(e: &mut Entry) -> Result<SinkCrash, Refusal> {
        Ok(SinkCrash { at: e.at()? })
    }
}

impl Kind for SinkCrash {
    fn at(&self) -> Span {
        self.at
    }
    fn act(&self, _: TimeScale, _: &mut Vec<(&'static str, String)>) -> Act {
        Act::SinkCrash
    }
}
