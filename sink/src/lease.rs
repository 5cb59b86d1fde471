//! Leases: a named singleton held through the sink, `POST /lease/NAME`, like the blob lease
//! a timer-triggered function's host takes so that one instance fires at a time.
//!
//! `POST /lease/NAME {"holder": "a-0", "ttl_ms": 3000}` acquires the lease when it is free,
//! expired or already the holder's (a renewal), and answers `200 {"held": true, "holder"}`;
//! otherwise `409 {"held": false, "holder": OTHER, "expires_in_ms"}`. Without `ttl_ms` the
//! lease lasts 15 s (the platform's blob lease for a timer's singleton).
//! `DELETE /lease/NAME {"holder": "a-0"}` releases it (200; 409 when another holds it). A
//! holder that dies without releasing keeps the lease until its TTL runs out: the gap a
//! real platform's singleton has too.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;

/// Longest lease a holder may take: a forgotten lease must not block a run for long.
pub const MAX_TTL_MS: u64 = 600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub holder: String,
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}

/// What an acquisition or release did.
#[derive(Debug, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// The caller holds it now; `previous` is who held it before, when someone else did or
    /// nobody (`None` on a renewal is `Some(caller)`).
    Held { previous: Option<String> },
    /// Released by its holder.
    Released,
    /// Someone else holds it for this long yet.
    Taken { holder: String, expires_in_ms: u64 },
}

#[derive(Default)]
pub struct Leases {
    held: Mutex<HashMap<String, (String, u64)>>,
}

impl Leases {
    /// Acquires or renews `name` for `holder` until `now_ns + ttl_ms`.
    pub fn acquire(&self, name: &str, holder: &str, ttl_ms: u64, now_ns: u64) -> LeaseAnswer {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let until_ns = now_ns.saturating_add(ttl_ms.saturating_mul(1_000_000));
        let previous = match held.get(name) {
            Some((h, until)) if h != holder && *until > now_ns => {
                return LeaseAnswer::Taken {
                    holder: h.clone(),
                    expires_in_ms: (until - now_ns) / 1_000_000,
                }
            }
            Some((h, _)) => Some(h.clone()),
            None => None,
        };
        held.insert(name.to_owned(), (holder.to_owned(), until_ns));
        LeaseAnswer::Held { previous }
    }

    pub fn release(&self, name: &str, holder: &str, now_ns: u64) -> LeaseAnswer {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.get(name) {
            Some((h, until)) if h != holder && *until > now_ns => LeaseAnswer::Taken {
                holder: h.clone(),
                expires_in_ms: (until - now_ns) / 1_000_000,
            },
            _ => {
                held.remove(name);
                LeaseAnswer::Released
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_until_the_ttl_runs_out() {
        let leases = Leases::default();
        let ms = 1_000_000;
        assert_eq!(
            leases.acquire("tick", "a-0", 100, 0),
            LeaseAnswer::Held { previous: None }
        );
        assert_eq!(
            leases.acquire("tick", "b-0", 100, 50 * ms),
            LeaseAnswer::Taken {
                holder: "a-0".into(),
                expires_in_ms: 50
            }
        );
        // A renewal keeps it; an expired lease goes to the next caller.
        assert!(matches!(
            leases.acquire("tick", "a-0", 100, 60 * ms),
            LeaseAnswer::Held { .. }
        ));
        assert_eq!(
            leases.acquire("tick", "b-0", 100, 161 * ms),
            LeaseAnswer::Held {
                previous: Some("a-0".into())
            }
        );
        assert!(matches!(
            leases.release("tick", "a-0", 162 * ms),
            LeaseAnswer::Taken { .. }
        ));
        assert_eq!(
            leases.release("tick", "b-0", 162 * ms),
            LeaseAnswer::Released
        );
        assert_eq!(
            leases.acquire("tick", "a-0", 100, 163 * ms),
            LeaseAnswer::Held { previous: None }
        );
    }
}
