//! Graceful stop: SIGTERM fires the app's cancellation token, SIGKILL follows after a
//! (jittered, seeded) grace, then the new version starts. Its way back replaces every
//! instance with the whole grace.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::Span;

use super::instances::Instances;
use super::steps::replace;
use crate::rng::Rng;

/// Graceful stop parameters: SIGTERM fires the cancellation token, SIGKILL follows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Graceful {
    /// The wait between SIGTERM and SIGKILL (platform: 5 s).
    pub stopping_wait_time: Span,
    /// 0 to 1: the effective grace is drawn (seeded) between `(1 - grace_jitter)` times the
    /// wait and the whole wait, modelling the platform's unreliable grace. Default 0.
    pub grace_jitter: f64,
}

impl Default for Graceful {
    fn default() -> Self {
        Graceful {
            stopping_wait_time: Span::from_secs(5),
            grace_jitter: 0.0,
        }
    }
}

impl Graceful {
    /// The section's own checks: the key and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.grace_jitter) {
            return Err(("graceful.grace_jitter", "must be between 0 and 1".into()));
        }
        Ok(())
    }

    /// The plan, every duration scaled by `scaled`, its jitter drawn from `seed`.
    pub fn plan(&self, scaled: &dyn Fn(Span) -> Duration, seed: u64) -> GracefulPlan {
        GracefulPlan {
            grace: scaled(self.stopping_wait_time),
            jitter: self.grace_jitter,
            seed,
            restart_backoff: scaled(Span(super::steps::RESTART_BACKOFF)),
        }
    }
}

/// A graceful stop, its durations scaled to the run's time.
#[derive(Clone, Debug)]
pub struct GracefulPlan {
    pub grace: Duration,
    pub jitter: f64,
    pub seed: u64,
    pub restart_backoff: Duration,
}

impl GracefulPlan {
    /// Stops every instance with its jittered grace, then starts `to`.
    pub async fn perform<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        let mut next = jittered_graces(self.grace, self.jitter, self.seed);
        replace(host, to, instances, self.restart_backoff, move |_| {
            Some(next())
        })
        .await
    }

    /// Back to `to` with the whole grace: a rollback is no time to draw a shorter one.
    pub async fn roll_back<I: Instances>(
        &self,
        host: &I,
        to: &str,
        instances: u32,
    ) -> anyhow::Result<()> {
        let grace = self.grace;
        replace(host, to, instances, self.restart_backoff, |_| Some(grace)).await
    }
}

/// The graces a graceful stop gives its instances, one per call in stop order: drawn from
/// the run's seed between `(1 - jitter)` and 1 times `grace`, so a run replays exactly.
pub fn jittered_graces(grace: Duration, jitter: f64, seed: u64) -> impl FnMut() -> Duration {
    let mut rng = Rng::new(seed);
    move || grace.mul_f64(1.0 - jitter * rng.unit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_jitter_is_reproducible_from_the_seed() {
        let draw = |seed| {
            let mut next = jittered_graces(Duration::from_secs(5), 0.8, seed);
            (0..8).map(|_| next()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7), "the same seed draws the same graces");
        assert_ne!(draw(7), draw(8), "another seed draws others");
        for g in draw(7).into_iter().chain(draw(8)) {
            assert!(
                (Duration::from_secs(1)..=Duration::from_secs(5)).contains(&g),
                "within [0.2, 1] x 5 s: {g:?}"
            );
        }
        let mut none = jittered_graces(Duration::from_secs(5), 0.0, 3);
        assert_eq!(none(), Duration::from_secs(5), "no jitter, the whole grace");
    }
}
