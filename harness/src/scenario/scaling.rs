//! The sections and keys of demand-driven scaling, the Flex Consumption plan's model: the
//! demand a queue workload puts on the app over time (`workload.events` as a schedule), the
//! scale controller (`[scale]`), and the log-based completion estimate (`[completion]`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// Messages each poll of the queue workload finds and enqueues: one number, or a schedule
/// on the scenario's clock (occurrence `m` polls at `m * period`), for a burst or a ramp.
///
/// ```toml
/// events = [
///   { at = "0s", events = 1 },
///   { at = "40s", events = 12 },              # a burst from 40 s ...
///   { at = "70s", events = 1 },               # ... to 70 s
///   { at = "90s", events = 6, ramp = true },  # then a ramp up to 6 by 90 s
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Events {
    Fixed(u32),
    Schedule(Vec<DemandStep>),
}

impl Default for Events {
    fn default() -> Self {
        Events::Fixed(0)
    }
}

/// One step of a demand schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandStep {
    /// From this time on the scenario's clock (scaled with it).
    pub at: Span,
    /// Messages per poll from `at` on.
    pub events: u32,
    /// Reach `events` linearly from the previous step's count instead of jumping at `at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ramp: bool,
}

/// The most messages one poll may enqueue.
pub const MAX_EVENTS_PER_POLL: u32 = 10_000;

impl Events {
    /// Messages the poll at `t` (unscaled scenario time) finds: nothing before the first
    /// step; a ramp's count is rounded to the nearest whole message.
    pub fn at(&self, t: Duration) -> u32 {
        let steps = match self {
            Events::Fixed(n) => return *n,
            Events::Schedule(steps) => steps,
        };
        let Some(i) = steps.iter().rposition(|s| s.at.0 <= t) else {
            return 0;
        };
        match steps.get(i + 1) {
            Some(next) if next.ramp => {
                let (a, b) = (f64::from(steps[i].events), f64::from(next.events));
                let span = (next.at.0 - steps[i].at.0).as_secs_f64();
                let done = (t - steps[i].at.0).as_secs_f64() / span;
                (a + (b - a) * done).round() as u32
            }
            _ => steps[i].events,
        }
    }

    /// The largest count any poll finds.
    pub fn max(&self) -> u32 {
        match self {
            Events::Fixed(n) => *n,
            Events::Schedule(steps) => steps.iter().map(|s| s.events).max().unwrap_or(0),
        }
    }

    /// Whether the count changes over time.
    pub fn is_schedule(&self) -> bool {
        matches!(self, Events::Schedule(_))
    }

    /// The schedule's own checks: times in order, a ramp with a step to start from, counts
    /// within the limit.
    pub fn validate(&self) -> Result<(), String> {
        let steps = match self {
            Events::Fixed(n) if *n > MAX_EVENTS_PER_POLL => {
                return Err(format!("must be at most {MAX_EVENTS_PER_POLL} per poll"))
            }
            Events::Fixed(_) => return Ok(()),
            Events::Schedule(steps) => steps,
        };
        if steps.is_empty() {
            return Err("a schedule needs at least one step".into());
        }
        if steps[0].ramp {
            return Err("the first step cannot ramp: there is no count to ramp from".into());
        }
        for (i, pair) in steps.windows(2).enumerate() {
            if pair[1].at <= pair[0].at {
                return Err(format!(
                    "step {} (at {}) is not after step {} (at {}): steps go in time order",
                    i + 2,
                    pair[1].at,
                    i + 1,
                    pair[0].at
                ));
            }
        }
        if let Some(s) = steps.iter().find(|s| s.events > MAX_EVENTS_PER_POLL) {
            return Err(format!(
                "a step of {} messages is above the limit of {MAX_EVENTS_PER_POLL} per poll",
                s.events
            ));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EventsVisitor;
        impl<'de> Visitor<'de> for EventsVisitor {
            type Value = Events;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number of messages per poll, or an array of steps \
                     { at = \"40s\", events = 12 } (optionally ramp = true)",
                )
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Events, E> {
                u32::try_from(v)
                    .map(Events::Fixed)
                    .map_err(|_| E::custom(format!("{v} is not a count of messages")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Events, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Events, A::Error> {
                Vec::<DemandStep>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(Events::Schedule)
            }
        }
        d.deserialize_any(EventsVisitor)
    }
}

/// The scale controller of the local platform (`[scale]`): the Flex Consumption plan's
/// target-based scaling. Every `interval` it computes the instances the demand needs,
/// `ceil(queue messages / target_messages)` and `ceil(requests in flight /
/// target_requests)`, the larger of the two, kept within `[min, max]`; it starts what is
/// missing at once, of the version the platform currently deploys, and drains what is too
/// many once the demand has stayed low for `cooldown`. It keeps running during a rolling
/// update, so rising demand mid-update provisions more instances than the update drains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scale {
    /// Fewest instances (the plan's always-ready count; invented default 1).
    pub min: u32,
    /// Most instances (platform: the app's maximum instance count, 100 by default; invented
    /// default here 10, a laptop's worth).
    pub max: u32,
    /// Queue messages (visible and leased) one instance is meant to handle (platform: the
    /// trigger's batch size). Default: `queue.batch_size`.
    pub target_messages: Option<u32>,
    /// HTTP requests in flight one instance is meant to handle (platform: the per-instance
    /// HTTP concurrency, 16 for 2,048 MB instances).
    pub target_requests: u32,
    /// How often the controller decides (invented default: 1 s). Scaled.
    pub interval: Span,
    /// How long the demand must stay below the instance count before the controller scales
    /// in (invented default: 10 s; the platform's is minutes). Scaled.
    pub cooldown: Span,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            min: 1,
            max: 10,
            target_messages: None,
            target_requests: 16,
            interval: Span::from_secs(1),
            cooldown: Span::from_secs(10),
        }
    }
}

/// The log-based completion estimate (`[completion]`), with the parameters of the plan's
/// documented query. It is evaluated for every rolling update on the local platform, and on
/// a command platform when this section is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Completion {
    /// How often the query runs, and how far back it looks for current instances
    /// (the query's `checkInterval`: 10 s). Scaled.
    pub check_interval: Span,
    /// How far before the update's acceptance it looks for the original instances
    /// (the query's `buffer`: 30 s). Scaled.
    pub buffer: Span,
}

impl Default for Completion {
    fn default() -> Self {
        Completion {
            check_interval: Span::from_secs(10),
            buffer: Span::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(at: u64, events: u32, ramp: bool) -> DemandStep {
        DemandStep {
            at: Span::from_secs(at),
            events,
            ramp,
        }
    }

    #[test]
    fn a_schedule_steps_ramps_and_is_empty_before_its_first_step() {
        let e = Events::Schedule(vec![
            step(10, 2, false),
            step(40, 12, false),
            step(70, 2, false),
            step(90, 6, true),
        ]);
        let at = |s| e.at(Duration::from_secs(s));
        assert_eq!(at(0), 0, "nothing before the first step");
        assert_eq!(at(10), 2);
        assert_eq!(at(39), 2);
        assert_eq!(at(40), 12, "the burst");
        assert_eq!(at(69), 12);
        assert_eq!(at(70), 2, "the ramp starts from the step before it");
        assert_eq!(at(80), 4, "half way up the ramp");
        assert_eq!(at(90), 6);
        assert_eq!(at(500), 6, "the last step holds");
        assert_eq!(e.max(), 12);
        assert_eq!(Events::Fixed(3).at(Duration::from_secs(99)), 3);
    }

    #[test]
    fn a_bad_schedule_says_what_is_wrong() {
        let unordered = Events::Schedule(vec![step(10, 1, false), step(10, 2, false)]);
        assert!(unordered.validate().unwrap_err().contains("time order"));
        let ramp_first = Events::Schedule(vec![step(0, 1, true)]);
        assert!(ramp_first.validate().unwrap_err().contains("ramp from"));
        assert!(Events::Schedule(vec![]).validate().is_err());
        let huge = Events::Schedule(vec![step(0, MAX_EVENTS_PER_POLL + 1, false)]);
        assert!(huge.validate().unwrap_err().contains("limit"));
    }

    #[test]
    fn events_read_as_a_number_or_a_schedule() {
        #[derive(Deserialize)]
        struct W {
            events: Events,
        }
        let fixed: W = toml::from_str("events = 4").unwrap();
        assert_eq!(fixed.events, Events::Fixed(4));
        let sched: W = toml::from_str(
            "events = [{ at = \"0s\", events = 1 }, { at = \"5s\", events = 3, ramp = true }]",
        )
        .unwrap();
        assert_eq!(
            sched.events,
            Events::Schedule(vec![step(0, 1, false), step(5, 3, true)])
        );
        let bad = toml::from_str::<W>("events = [{ at = \"0s\", count = 1 }]");
        assert!(bad.is_err(), "an unknown key in a step is refused");
        let negative = toml::from_str::<W>("events = -1");
        assert!(negative.is_err());
    }
}
