//! What the host knows of the run's schedule for the strategies' sake: when it ends (a
//! strategy retrying a start that keeps failing gives up then) and the version the newest
//! update moves to (an older update's replacements stand down).

use super::Host;

impl Host {
    /// Sets when the run's schedule ends.
    pub fn set_deadline(&self, at: tokio::time::Instant) {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    /// Whether the run's schedule has ended.
    pub fn past_deadline(&self) -> bool {
        self.inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|d| self.inner.ledger.clock().now() >= d)
    }

    /// Marks `version` as the one the newest update moves to.
    pub fn set_target_version(&self, version: &str) {
        self.state().target_version = Some(version.to_owned());
    }

    pub fn target_version(&self) -> Option<String> {
        self.state().target_version.clone()
    }
}
