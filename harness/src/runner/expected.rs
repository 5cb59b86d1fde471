//! The expected window of a run: which occurrences it must have delivered, as far as its
//! schedule got.

use std::time::Duration;

use reports::{ExpectedSpec, SourceSpec};

use crate::clock::Schedule;
use crate::scenario::{Scenario, Trigger};

/// The expected window: the occurrences whose whole loop fell inside the measured span,
/// which ends at `window_end` (scenario time, unscaled: `run.duration` for a whole run).
/// `None` when no occurrence could end inside it.
pub fn expected(
    s: &Scenario,
    timing: &crate::run_plan::Timing,
    schedule: &Schedule,
    window_end: Duration,
) -> Option<ExpectedSpec> {
    if s.driver() == crate::scenario::Driver::None {
        // Probes only: nothing is expected, and availability is the whole verdict.
        return Some(ExpectedSpec {
            sources: Vec::new(),
            late_after_ns: timing.late_after.as_nanos() as i64,
            completion: completion_spec(s, timing),
        });
    }
    let first = s.first_expected();
    let last = s.last_complete_by(window_end.min(s.run.duration.0))?;
    let counts =
        (s.workload.trigger == Trigger::Queue && s.workload.events.is_schedule()).then(|| {
            (first..=last)
                .map(|m| u64::from(s.poll_events(m)))
                .collect()
        });
    (last >= first).then(|| ExpectedSpec {
        sources: vec![SourceSpec {
            source: s.source().into(),
            epoch_ns: schedule.epoch_ns,
            period_ns: schedule.period.as_nanos() as i64,
            items: u64::from(s.items_per_occurrence()),
            item_delay_ns: match s.workload.trigger {
                Trigger::Timer => timing.item_delay.as_nanos() as i64,
                // Every message of a poll is due when the poll runs.
                Trigger::Queue => 0,
            },
            first,
            last,
            counts,
        }],
        late_after_ns: timing.late_after.as_nanos() as i64,
        completion: completion_spec(s, timing),
    })
}

/// The completion estimate's parameters, scaled, when the run evaluates it.
fn completion_spec(
    s: &Scenario,
    timing: &crate::run_plan::Timing,
) -> Option<reports::expected::CompletionSpec> {
    s.completion_estimate()?;
    Some(reports::expected::CompletionSpec {
        check_interval_ns: timing.check_interval.as_nanos() as i64,
        buffer_ns: timing.buffer.as_nanos() as i64,
        from_version: s.app.from.clone(),
    })
}
