//! The scenario's checks: what serde cannot check when it reads a file (ranges, orders,
//! names, which sections belong, what the platform can do, each fault against the run), and
//! the warnings about what is allowed but probably not meant. [`Scenario::parse`] runs the
//! checks; `harness validate` and `harness run` print the warnings.

use std::time::Duration;

use super::{
    Driver, Events, Scenario, Strategy, Trigger, MAX_INSTANCES, MAX_PROBE_RATE, MAX_RUN_DURATION,
    MAX_TIME_SCALE,
};
use crate::duration::Span;

impl Scenario {
    /// The checks serde cannot make: ranges, orders, names, and which sections belong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.time_scale > 0.0 && self.time_scale <= MAX_TIME_SCALE) {
            return Err((
                "time_scale",
                format!("must be a positive number of at most {MAX_TIME_SCALE}"),
            ));
        }
        for (key, version) in [("app.from", &self.app.from), ("app.to", &self.app.to)] {
            if let Some(why) = sink::item::version_error(version) {
                return Err((key, format!("{why} (got {version:?})")));
            }
        }
        if self.app.from == self.app.to {
            return Err(("app.to", "must differ from app.from".into()));
        }
        if self.app.instances == 0 || self.app.instances > MAX_INSTANCES {
            return Err((
                "app.instances",
                format!("must be between 1 and {MAX_INSTANCES}"),
            ));
        }
        let w = &self.workload;
        // A probes-only scenario (driver `none`) fires nothing: it has no period, no items
        // and no expected window to check.
        let fires = self.driver() != Driver::None;
        if fires && w.period.0.is_zero() {
            return Err(("workload.period", "must be positive".into()));
        }
        match w.trigger {
            Trigger::Timer if fires && w.items == 0 => {
                return Err(("workload.items", "must be at least 1".into()))
            }
            Trigger::Queue if w.events.max() == 0 => {
                return Err((
                    "workload.events",
                    "must be at least 1 for a queue workload".into(),
                ))
            }
            Trigger::Timer if w.events.is_schedule() => {
                return Err((
                    "workload.events",
                    "a demand schedule is for the queue workload (workload.trigger = \"queue\")"
                        .into(),
                ))
            }
            Trigger::Timer if self.queue.is_some() => {
                return Err((
                    "queue",
                    "section [queue] is given but workload.trigger is timer".into(),
                ))
            }
            _ => {}
        }
        w.events
            .validate()
            .map_err(|why| ("workload.events", why))?;
        self.validate_scaling()?;
        self.validate_release()?;
        if let Some(q) = &self.queue {
            if q.max_dequeue == 0 || q.batch_size == 0 {
                return Err((
                    "queue.max_dequeue",
                    "max_dequeue and batch_size must be at least 1".into(),
                ));
            }
        }
        match &self.strategy {
            Strategy::Rolling(r) => r.check(
                &self.app.from,
                &self.app.to,
                self.run.update_at,
                self.run.duration,
            )?,
            Strategy::Graceful(g) => g.check()?,
            _ => {}
        }
        if fires && self.loop_length() > w.period.0 {
            return Err((
                "workload.items",
                format!(
                    "a run ({} items, {} apart, {} processing each) lasts longer than the period {}",
                    w.items,
                    w.item_delay,
                    w.processing,
                    w.period
                ),
            ));
        }
        let r = &self.run;
        if r.duration.0 > MAX_RUN_DURATION {
            return Err((
                "run.duration",
                format!(
                    "{} is longer than the limit of {}h (scenario time, scaled like every \
                     duration); for a longer soak, run the scenario again (compare --repeat)",
                    r.duration,
                    MAX_RUN_DURATION.as_secs() / 3600
                ),
            ));
        }
        if r.settle.is_some_and(|s| s.0 > MAX_RUN_DURATION) {
            return Err((
                "run.settle",
                format!(
                    "{} is longer than the limit of {}h",
                    r.settle.unwrap_or_default(),
                    MAX_RUN_DURATION.as_secs() / 3600
                ),
            ));
        }
        if r.update_at >= r.duration {
            return Err(("run.update_at", "must be before run.duration".into()));
        }
        if r.warmup >= r.duration {
            return Err(("run.warmup", "must be before run.duration".into()));
        }
        if fires {
            self.validate_window()?;
        }
        if self.probes.rate == 0 || self.probes.rate > MAX_PROBE_RATE {
            return Err((
                "probes.rate",
                format!("must be between 1 and {MAX_PROBE_RATE} per second"),
            ));
        }
        let p = &self.probes;
        if !p.path.starts_with('/') {
            return Err(("probes.path", "must start with /".into()));
        }
        let kind = self.platform.kind;
        if let Some(prefix) = kind.capabilities().probe_path_prefix {
            if !p.path.starts_with(prefix) {
                return Err((
                    "probes.path",
                    format!(
                        "must start with {prefix} on the {} platform (the front door's routes)",
                        kind.as_str()
                    ),
                ));
            }
        }
        if p.connections > 1000 {
            return Err(("probes.connections", "must be at most 1000".into()));
        }
        if p.connections == 0 && !p.new_connections {
            return Err((
                "probes.connections",
                "0 keep-alive connections and no new_connections series leaves no probes".into(),
            ));
        }
        if let Some(re) = &p.expect_body {
            if let Err(e) = regex::Regex::new(re) {
                return Err(("probes.expect_body", format!("not a regex: {e}")));
            }
        }
        self.validate_platform()
    }

    /// The expected window's checks: at least one whole occurrence, not more keys than the
    /// checker takes, and a demand schedule that finds something.
    fn validate_window(&self) -> Result<(), (&'static str, String)> {
        let w = &self.workload;
        if self.first_expected() > self.last_expected() {
            return Err((
                "run.duration",
                "leaves no whole occurrence between run.warmup and run.duration".into(),
            ));
        }
        // Before anything walks the window's occurrences (a 1 ns period has 8.6e13 in 24 h):
        // the checker would refuse a window this big at the end of the run anyway.
        let occurrences = u128::from(self.last_expected() - self.first_expected()) + 1;
        let keys = occurrences * u128::from(self.items_per_occurrence().max(1));
        if keys > reports::expected::MAX_EXPECTED_KEYS {
            return Err((
                "run.duration",
                format!(
                    "the expected window has {keys} keys ({occurrences} occurrences of {} \
                     items), more than the checker's limit of {}; lengthen workload.period or \
                     shorten run.duration",
                    self.items_per_occurrence(),
                    reports::expected::MAX_EXPECTED_KEYS
                ),
            ));
        }
        if w.trigger == Trigger::Queue && w.events.is_schedule() && self.schedule_finds_nothing() {
            return Err((
                "workload.events",
                "the schedule finds no message in any occurrence between run.warmup and \
                 run.duration"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The platform's and the driver's checks.
    fn validate_platform(&self) -> Result<(), (&'static str, String)> {
        let w = &self.workload;
        let driver = self.driver();
        if let Some(listen) = &self.sink.listen {
            let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
                (
                    "sink.listen",
                    format!("{listen:?} is not an address IP:PORT"),
                )
            })?;
            let token = self.sink.token.as_deref().is_some_and(|t| !t.is_empty());
            if !addr.ip().is_loopback() && !token {
                return Err((
                    "sink.token",
                    format!(
                        "a sink listening on {listen} (beyond loopback) needs a token: anyone \
                         on the network could write the run's arrivals"
                    ),
                ));
            }
        }
        if w.lease.is_some() && driver != Driver::App {
            return Err((
                "workload.lease",
                "a lease is for the app driver (the app's own timer)".into(),
            ));
        }
        if w.lease_ttl.is_some_and(|t| t.0.is_zero()) {
            return Err(("workload.lease_ttl", "must be positive".into()));
        }
        let kind = self.platform.kind;
        let caps = kind.capabilities();
        if !caps.drivers.contains(&driver) {
            let takes: Vec<String> = caps
                .drivers
                .iter()
                .map(|d| format!("{:?}", d.as_str()))
                .collect();
            return Err((
                "workload.driver",
                format!(
                    "the {} platform takes driver {}; {:?} is another platform's",
                    kind.as_str(),
                    takes.join(", "),
                    driver.as_str()
                ),
            ));
        }
        if w.trigger == Trigger::Queue && !caps.queue {
            return Err((
                "workload.trigger",
                format!(
                    "the {} platform runs the timer workload (the queue is the local platform's)",
                    kind.as_str()
                ),
            ));
        }
        kind.check(&self.platform)
    }

    /// The bad release's, the rollback's and the analysis's checks.
    fn validate_release(&self) -> Result<(), (&'static str, String)> {
        if let Some(b) = &self.app.to_behaviour {
            b.validate()?;
            if !self.capabilities().bad_release {
                return Err((
                    "app.to_behaviour",
                    "a bad release is the local platform's test function; on a command \
                     platform deploy a bad build yourself"
                        .into(),
                ));
            }
        }
        let r = &self.run;
        if let Some(at) = r.rollback_at {
            if at <= r.update_at || at >= r.duration {
                return Err((
                    "run.rollback_at",
                    "must be after run.update_at and before run.duration".into(),
                ));
            }
            if !self.capabilities().rollback {
                return Err((
                    "run.rollback_at",
                    "a rollback is the local platform's: a command platform's update command \
                     does the update"
                        .into(),
                ));
            }
        }
        let Some(a) = &self.analysis else {
            return Ok(());
        };
        if !self.capabilities().rollback {
            return Err((
                "analysis",
                "the analysis rolls back with the local platform's strategies".into(),
            ));
        }
        if a.thresholds.is_empty() {
            return Err(("analysis.thresholds", "give at least one threshold".into()));
        }
        for t in &a.thresholds {
            crate::analysis::WindowThreshold::parse(t)
                .map_err(|why| ("analysis.thresholds", why))?;
        }
        if a.window.0.is_zero() || a.interval.0.is_zero() {
            return Err((
                "analysis.window",
                "window and interval must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The scale controller's and the completion estimate's checks.
    fn validate_scaling(&self) -> Result<(), (&'static str, String)> {
        let rolling = matches!(self.strategy, Strategy::Rolling(_));
        if let Some(c) = &self.completion {
            if c.check_interval.0.is_zero() {
                return Err(("completion.check_interval", "must be positive".into()));
            }
            let truth = self.capabilities().completion_truth;
            if truth == crate::platform::capabilities::CompletionTruth::RollingLedger && !rolling {
                return Err((
                    "completion",
                    "the completion estimate is the rolling update's: on the local platform \
                     it needs strategy = \"rolling\""
                        .into(),
                ));
            }
        }
        let Some(sc) = &self.scale else {
            return Ok(());
        };
        if !self.capabilities().scaling {
            return Err((
                "scale",
                "[scale] configures the local platform's scale controller; a command \
                 platform scales as it does"
                    .into(),
            ));
        }
        if !rolling {
            return Err((
                "scale",
                "[scale] models the Flex Consumption plan's scale controller, which runs with \
                 its rolling update: it needs strategy = \"rolling\""
                    .into(),
            ));
        }
        if sc.min == 0 {
            return Err((
                "scale.min",
                "must be at least 1 (the timer needs an instance to hold its lease)".into(),
            ));
        }
        if sc.max < sc.min || sc.max > MAX_INSTANCES {
            return Err((
                "scale.max",
                format!("must be between scale.min and {MAX_INSTANCES}"),
            ));
        }
        if !(sc.min..=sc.max).contains(&self.app.instances) {
            return Err((
                "app.instances",
                format!(
                    "{} instances to start with is outside [scale] min {} .. max {}",
                    self.app.instances, sc.min, sc.max
                ),
            ));
        }
        if sc.target_messages == Some(0) || sc.target_requests == 0 {
            return Err((
                "scale.target_messages",
                "target_messages and target_requests must be at least 1".into(),
            ));
        }
        if sc.interval.0.is_zero() {
            return Err(("scale.interval", "must be positive".into()));
        }
        Ok(())
    }

    /// Checks every `[[faults]]` entry: the index, the key and why.
    pub fn validate_faults(&self) -> Result<(), (usize, &'static str, String)> {
        for (i, f) in self.faults.iter().enumerate() {
            f.validate(self.run.duration)
                .map_err(|(key, why)| (i, key, why))?;
            if f.on_instances() && !self.capabilities().instance_faults {
                return Err((
                    i,
                    "kind",
                    format!(
                        "a {} fault acts on the local platform's instances; a command \
                         platform takes the sink-path faults (latency, http_error, reset, \
                         blackhole, fail_first, bandwidth)",
                        f.kind()
                    ),
                ));
            }
            if f.on_sink_path() && !self.capabilities().sink_path_faults {
                return Err((
                    i,
                    "kind",
                    format!(
                        "a {} fault needs a proxy on the machine's network between the apps \
                         and the sink; the {} platform has none (run it on the local \
                         platform)",
                        f.kind(),
                        self.platform.kind.as_str()
                    ),
                ));
            }
            if f.on_sink_path() && self.sink.url.is_some() {
                return Err((
                    i,
                    "kind",
                    "a sink-path fault puts a proxy between the apps and the sink, whose \
                     address the harness hands out: remove sink.url"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether no poll of the expected window finds a message. The count is constant, or
    /// monotonic along a ramp, between the schedule's steps, so the window's ends and the
    /// occurrences either side of each step are enough: not every occurrence (a 1 ms period
    /// has 8.6e7 in 24 h).
    fn schedule_finds_nothing(&self) -> bool {
        let (first, last) = (self.first_expected(), self.last_expected());
        let period = self.workload.period.0.as_nanos().max(1);
        // `poll_events` stops the clock at occurrence u32::MAX: one more piece.
        let mut at = vec![first, last, u64::from(u32::MAX) - 1, u64::from(u32::MAX)];
        if let Events::Schedule(steps) = &self.workload.events {
            for step in steps {
                let m = u64::try_from(step.at.0.as_nanos().div_ceil(period)).unwrap_or(u64::MAX);
                at.extend([m.saturating_sub(1), m]);
            }
        }
        at.into_iter()
            .filter(|m| (first..=last).contains(m))
            .all(|m| self.poll_events(m) == 0)
    }

    /// What is allowed but probably not meant, as `(key, why)`: `harness validate` and
    /// `harness run` print them.
    pub fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let w = &self.workload;
        // The time an item normally takes from its schedule to the sink: the work before
        // its submit (the queue's messages are all due when the poll runs).
        let normal = w.processing.0
            + match w.trigger {
                Trigger::Timer => Duration::ZERO,
                Trigger::Queue => w.item_delay.0,
            };
        let late_after = self.late_after().0;
        if !normal.is_zero() && late_after.as_secs_f64() < normal.as_secs_f64() * 1.5 {
            out.push((
                "workload.late_after",
                format!(
                    "{} is not clearly above the {} an item normally takes (processing plus item delay): every item may count as late even when nothing goes wrong, and the late count then says nothing; give at least 1.5 times that",
                    Span(late_after),
                    Span(normal)
                ),
            ));
        }
        out
    }
}
