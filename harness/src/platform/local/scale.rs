//! The scale controller: the Flex Consumption plan's target-based scaling, on the local
//! platform.
//!
//! Every `interval` it reads the demand (queue messages not yet deleted, HTTP requests in
//! flight on production instances) and computes the instances it needs:
//! `max(ceil(messages / target_messages), ceil(requests / target_requests))` within
//! `[min, max]`. It holds that against the capacity (production instances starting or
//! ready, and replacements a strategy has promised): it starts what is missing at once, of
//! the version the platform currently deploys; it drains and removes what is too many once
//! the demand has stayed below the capacity for `cooldown`, each drained instance finishing
//! its work within the scale-in grace. It keeps running during a rolling update, so when the
//! demand rises mid-update it provisions more than the update drains. Every decision is a
//! ledger event (`scale_out`, `scale_in`, `scale_limited`) with the numbers it was made on.

use std::time::Duration;

use reports::ledger::Kind;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Host;
use crate::slot::PRODUCTION;

/// The controller's settings, scaled.
#[derive(Clone, Copy, Debug)]
pub struct ScaleOptions {
    pub min: u32,
    pub max: u32,
    pub target_messages: u32,
    pub target_requests: u32,
    pub interval: Duration,
    pub cooldown: Duration,
    /// How long a scaled-in instance's invocations may run before it is killed.
    pub scale_in_grace: Duration,
    /// How long its HTTP requests may.
    pub http_grace: Duration,
}

/// What the demand asks for at one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demand {
    pub messages: u32,
    pub requests: u32,
}

impl ScaleOptions {
    /// The instances `demand` needs before the limits, and within them.
    pub fn desired(&self, demand: Demand) -> (u32, u32) {
        let wanted = demand
            .messages
            .div_ceil(self.target_messages.max(1))
            .max(demand.requests.div_ceil(self.target_requests.max(1)));
        (wanted, wanted.clamp(self.min, self.max))
    }
}

/// Runs the controller until `stop`; then abandons the starts and scale-ins in progress
/// (the platform's teardown kills every instance).
pub async fn run(host: Host, options: ScaleOptions, stop: CancellationToken) {
    let mut work = JoinSet::new();
    let mut tick = tokio::time::interval(options.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut below_since: Option<Instant> = None;
    let mut limited = false;
    loop {
        tokio::select! {
            biased;
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        while work.try_join_next().is_some() {}
        let demand = Demand {
            messages: host.queue().len() as u32,
            requests: host.http_in_flight(),
        };
        let (wanted, desired) = options.desired(demand);
        let capacity = host.capacity();
        let decision = |kind: Kind, version: &str| {
            host.ledger()
                .event(kind, "", version, PRODUCTION)
                .with("messages", demand.messages)
                .with("requests", demand.requests)
                .with("instances", capacity)
                .with("desired", desired)
        };
        let version = host.target_version().unwrap_or_default();
        if wanted > options.max && !limited {
            host.ledger()
                .record(decision(Kind::ScaleLimited, &version).with("wanted", wanted));
        }
        limited = wanted > options.max;
        if desired > capacity {
            below_since = None;
            let adding = desired - capacity;
            host.ledger()
                .record(decision(Kind::ScaleOut, &version).with("adding", adding));
            for _ in 0..adding {
                let (host, version) = (host.clone(), version.clone());
                // A promise, so the next evaluation counts this start before it exists.
                let promise = host.promise_start();
                work.spawn(async move {
                    if let Err(e) = host
                        .start_promised(&version, PRODUCTION, Some(promise))
                        .await
                    {
                        tracing::warn!(error = %e, "a scale-out start failed");
                    }
                });
            }
        } else if desired < capacity {
            let since = *below_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= options.cooldown {
                below_since = None;
                let victims = scale_in_victims(&host, &version, capacity - desired);
                if !victims.is_empty() {
                    host.ledger().record(
                        decision(Kind::ScaleIn, &version)
                            .with("removing", victims.len())
                            .with("ids", victims.join("+")),
                    );
                }
                for id in victims {
                    host.drain(&id);
                    let host = host.clone();
                    work.spawn(async move {
                        host.wait_idle(&id, options.scale_in_grace, options.http_grace)
                            .await;
                        host.kill(&id).await;
                    });
                }
            }
        } else {
            below_since = None;
        }
    }
    work.abort_all();
    while work.join_next().await.is_some() {}
}

/// The `count` ready production instances to scale in: those of an older version first
/// (an update replaces them anyway), then the least busy, then the newest; the timer's
/// lease holder last, so the singleton moves only when it must.
fn scale_in_victims(host: &Host, current: &str, count: u32) -> Vec<String> {
    let holder = host.state().timer.holder.clone();
    let mut ready: Vec<_> = host
        .ready_in(PRODUCTION)
        .into_iter()
        .map(|v| {
            let (work, http) = host.in_flight(&v.id);
            let key = (
                holder.as_deref() == Some(v.id.as_str()),
                v.version == current,
                work + http,
                std::cmp::Reverse(v.seq),
            );
            (key, v.id)
        })
        .collect();
    ready.sort();
    ready
        .into_iter()
        .take(count as usize)
        .map(|(_, id)| id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desired_count_follows_the_larger_demand_within_the_limits() {
        let o = ScaleOptions {
            min: 1,
            max: 5,
            target_messages: 4,
            target_requests: 16,
            interval: Duration::from_secs(1),
            cooldown: Duration::from_secs(10),
            scale_in_grace: Duration::from_secs(1),
            http_grace: Duration::from_secs(1),
        };
        let d = |messages, requests| o.desired(Demand { messages, requests });
        assert_eq!(d(0, 0), (0, 1), "no demand: the minimum");
        assert_eq!(d(4, 0), (1, 1));
        assert_eq!(
            d(5, 0),
            (2, 2),
            "one message over a target needs another instance"
        );
        assert_eq!(d(12, 40), (3, 3), "40 requests need 3, as 12 messages do");
        assert_eq!(d(0, 49), (4, 4));
        assert_eq!(d(100, 0), (25, 5), "the maximum caps it");
    }
}
