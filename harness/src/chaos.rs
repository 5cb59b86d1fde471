//! Chaos: the scenario's `[[faults]]`, each begun at its time on the run's schedule, acted
//! out through the platform (instance faults) or the fault proxy (sink-path faults), and
//! written into the ledger as it happens: `fault_started`, a `fault_acted` row for every
//! signal and restart, and `fault_ended` with what a sink-path fault met.
//!
//! A fault still acting when the run ends is ended then (a paused instance is thawed, the
//! proxy lets its requests go), and its `fault_ended` says `cut=true`.

use std::time::Duration;

use reports::ledger::Kind;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fault_proxy::{Action, FaultProxy};
use crate::ledger::Ledger;
use crate::platform::{FaultSignal, FaultTarget, InstanceFaults};
use crate::rng::Rng;
use crate::scenario::{Act, InstanceAct, Pick, ScheduledFault, Target};

/// Everything a fault needs to act.
#[derive(Clone)]
pub struct Chaos<P> {
    pub platform: P,
    pub proxy: Option<FaultProxy>,
    pub ledger: Ledger,
    pub seed: u64,
    /// The schedule's epoch: `at` counts from here.
    pub epoch: Instant,
    /// The run is over: every fault still acting ends now.
    pub stop: CancellationToken,
    /// Stops the harness's own sink (`sink_crash`).
    pub sink: Option<tokio::task::AbortHandle>,
}

/// Runs every fault; returns, once all have ended, what the summary should say of them
/// (a fault that found nothing to act on, or could not act).
pub async fn run<P: InstanceFaults + Clone + 'static>(
    chaos: Chaos<P>,
    faults: Vec<ScheduledFault>,
) -> Vec<String> {
    let mut set = JoinSet::new();
    for (index, fault) in faults.into_iter().enumerate() {
        let chaos = chaos.clone();
        set.spawn(async move { chaos.one(index, fault).await });
    }
    let mut notes = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Some(note)) => notes.push(note),
            Ok(None) => {}
            Err(e) => notes.push(format!("a fault's task failed: {e}")),
        }
    }
    notes.sort();
    notes
}

impl<P: InstanceFaults + Clone + 'static> Chaos<P> {
    /// Sleeps until `at`; false when the run ended first.
    async fn until(&self, at: Instant) -> bool {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(at) => true,
            () = self.stop.cancelled() => false,
        }
    }

    fn row(
        &self,
        kind: Kind,
        index: usize,
        fault: &ScheduledFault,
        target: Option<&FaultTarget>,
    ) -> reports::LedgerEvent {
        let (id, version, slot) = target.map_or(("", "", ""), |t| {
            (t.id.as_str(), t.version.as_str(), t.slot.as_str())
        });
        self.ledger
            .event(kind, id, version, slot)
            .with("fault", index)
            .with("kind", fault.kind)
    }

    fn acted(&self, index: usize, fault: &ScheduledFault, target: &FaultTarget, action: &str) {
        self.ledger.record(
            self.row(Kind::FaultActed, index, fault, Some(target))
                .with("action", action),
        );
    }

    /// Acts out fault `index`; a note when it could not act as written.
    async fn one(&self, index: usize, fault: ScheduledFault) -> Option<String> {
        if !self.until(self.epoch + fault.at).await {
            return None;
        }
        let end = self.ledger.clock().now() + fault.duration;
        let (target, act) = match &fault.act {
            Act::SinkCrash => {
                self.ledger
                    .record(self.row(Kind::FaultStarted, index, &fault, None));
                if let Some(sink) = &self.sink {
                    sink.abort();
                }
                self.ledger
                    .record(self.row(Kind::FaultEnded, index, &fault, None));
                return None;
            }
            Act::SinkPath(action) => {
                return self.on_sink_path(index, &fault, action.clone(), end).await
            }
            Act::Instances { target, act } => (target, act),
        };
        let targets = self.pick(index, target);
        let mut started = self.row(Kind::FaultStarted, index, &fault, targets.first());
        for (k, v) in &fault.params {
            started = started.with(k, v);
        }
        started = started.with(
            "instances",
            if targets.is_empty() {
                "none".to_owned()
            } else {
                targets
                    .iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join("+")
            },
        );
        self.ledger.record(started);
        if targets.is_empty() {
            self.ledger
                .record(self.row(Kind::FaultEnded, index, &fault, None));
            return Some(format!(
                "faults[{index}] ({}) found no serving instance to act on at +{}",
                fault.kind, fault.written_at
            ));
        }
        let mut cut = false;
        let mut note = None;
        match act {
            InstanceAct::Pause => {
                for t in &targets {
                    match self
                        .platform
                        .signal_instance(&t.id, FaultSignal::Pause)
                        .await
                    {
                        Ok(()) => self.acted(index, &fault, t, "sigstop"),
                        Err(e) => note = Some(format!("faults[{index}] (pause): {e:#}")),
                    }
                }
                // Frozen for the whole duration from the last freeze as the ledger stamped
                // it, not from before the signals: the ledger's span is never shorter.
                let thaw = self.ledger.clock().now() + fault.duration;
                cut = !self.until(thaw).await;
                for t in &targets {
                    if self
                        .platform
                        .signal_instance(&t.id, FaultSignal::Resume)
                        .await
                        .is_ok()
                    {
                        self.acted(index, &fault, t, "sigcont");
                    }
                }
            }
            &InstanceAct::Kill {
                restart_after,
                up_for,
            } => {
                let mut set = JoinSet::new();
                for t in targets {
                    let (chaos, fault) = (self.clone(), fault.clone());
                    set.spawn(async move {
                        chaos
                            .kill(index, &fault, t, restart_after, up_for, end)
                            .await
                    });
                }
                while let Some(done) = set.join_next().await {
                    match done {
                        Ok(Ok(c)) => cut |= c,
                        Ok(Err(e)) => {
                            note = Some(format!("faults[{index}] ({}): {e:#}", fault.kind))
                        }
                        Err(e) => note = Some(format!("faults[{index}]: its task failed: {e}")),
                    }
                }
            }
        }
        let mut ended = self.row(Kind::FaultEnded, index, &fault, None);
        if cut {
            ended = ended.with("cut", true);
        }
        self.ledger.record(ended);
        note
    }

    /// Kills `target`, and restarts its version in its slot `restart_after` later as the
    /// platform would; with `up_for`, kills each restart again once it has lived that long,
    /// until `end`. True when the run ended first.
    async fn kill(
        &self,
        index: usize,
        fault: &ScheduledFault,
        target: FaultTarget,
        restart_after: Option<Duration>,
        up_for: Option<Duration>,
        end: Instant,
    ) -> anyhow::Result<bool> {
        let mut victim = target;
        loop {
            self.platform
                .signal_instance(&victim.id, FaultSignal::Kill)
                .await?;
            self.acted(index, fault, &victim, "sigkill");
            let Some(restart_after) = restart_after else {
                return Ok(false);
            };
            if !self.until(self.ledger.clock().now() + restart_after).await {
                return Ok(true);
            }
            let Some(id) = self
                .platform
                .restart_instance(&victim.version, &victim.slot)
                .await?
            else {
                self.acted(index, fault, &victim, "not_restarted");
                return Ok(false);
            };
            victim = FaultTarget { id, ..victim };
            self.acted(index, fault, &victim, "restart");
            let Some(up_for) = up_for.filter(|_| self.ledger.clock().now() < end) else {
                return Ok(false);
            };
            // It lives `up_for`, unless the loop's window closes first: then it stays.
            let dies = self.ledger.clock().now() + up_for;
            if dies >= end {
                return Ok(!self.until(end).await);
            }
            if !self.until(dies).await {
                return Ok(true);
            }
        }
    }

    /// The serving instances fault `index` acts on: those its filters match, one drawn with
    /// the run's seed or all.
    fn pick(&self, index: usize, target: &Target) -> Vec<FaultTarget> {
        let mut matching: Vec<FaultTarget> = self
            .platform
            .fault_targets()
            .into_iter()
            .filter(|t| target.instance.as_ref().is_none_or(|id| *id == t.id))
            .filter(|t| target.slot.as_ref().is_none_or(|s| *s == t.slot))
            .filter(|t| target.version.as_ref().is_none_or(|v| *v == t.version))
            .collect();
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        match target.pick() {
            Pick::All => matching,
            Pick::Random if matching.is_empty() => matching,
            Pick::Random => {
                let mut rng =
                    Rng::new(self.seed ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
                let i = (rng.next_u64() % matching.len() as u64) as usize;
                vec![matching.swap_remove(i)]
            }
        }
    }

    /// A fault in the proxy between the instances and the sink, for its window.
    async fn on_sink_path(
        &self,
        index: usize,
        fault: &ScheduledFault,
        action: Action,
        end: Instant,
    ) -> Option<String> {
        let Some(proxy) = &self.proxy else {
            return Some(format!(
                "faults[{index}] ({}) needs the fault proxy, which this run did not start",
                fault.kind
            ));
        };
        let mut started = self.row(Kind::FaultStarted, index, fault, None);
        for (k, v) in &fault.params {
            started = started.with(k, v);
        }
        self.ledger.record(started);
        proxy.begin(index, action);
        let cut = !self.until(end).await;
        let counts = proxy.end(index);
        let mut ended = self
            .row(Kind::FaultEnded, index, fault, None)
            .with("requests", counts.requests)
            .with("affected", counts.affected);
        if cut {
            ended = ended.with("cut", true);
        }
        self.ledger.record(ended);
        None
    }
}

/// How long after the run's end a fault may take to wind up (a restart under way).
pub const WIND_UP: Duration = Duration::from_secs(30);
