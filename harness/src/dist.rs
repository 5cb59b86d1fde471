//! The distributions of the virtual-time platform's model, drawn from the run's seeded
//! generator ([`crate::rng`], whose stream a seed fixes forever, so that a replay is exact).

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::rng::Rng;

/// A distribution of durations, as a profile writes it:
/// `{ fixed = "5ms" }`, `{ uniform = ["1ms", "9ms"] }` or
/// `{ lognormal = { median = "5ms", sigma = 0.3 } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    Fixed(#[serde(with = "humantime_ns")] u64),
    Uniform(#[serde(with = "humantime_pair_ns")] (u64, u64)),
    Lognormal {
        #[serde(with = "humantime_ns")]
        median: u64,
        sigma: f64,
    },
}

impl Dist {
    pub fn fixed(d: Duration) -> Dist {
        Dist::Fixed(d.as_nanos() as u64)
    }

    /// One draw; a fixed distribution draws nothing from `rng`, so adding one leaves the
    /// other draws' stream as it was.
    pub fn sample(&self, rng: &mut Rng) -> Duration {
        let ns = match *self {
            Dist::Fixed(ns) => ns,
            Dist::Uniform((lo, hi)) => lo + ((hi.saturating_sub(lo)) as f64 * rng.unit()) as u64,
            Dist::Lognormal { median, sigma } => {
                (median as f64 * (sigma * rng.normal()).exp()).round() as u64
            }
        };
        Duration::from_nanos(ns)
    }

    /// The median, for a table.
    pub fn median(&self) -> Duration {
        Duration::from_nanos(match *self {
            Dist::Fixed(ns) => ns,
            Dist::Uniform((lo, hi)) => lo + (hi.saturating_sub(lo)) / 2,
            Dist::Lognormal { median, .. } => median,
        })
    }

    pub fn is_zero(&self) -> bool {
        *self == Dist::Fixed(0)
    }
}

impl std::fmt::Display for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = fmt_ns;
        match *self {
            Dist::Fixed(ns) => write!(f, "{}", d(ns)),
            Dist::Uniform((lo, hi)) => write!(f, "uniform {}..{}", d(lo), d(hi)),
            Dist::Lognormal { median, sigma } => {
                write!(f, "lognormal median {} sigma {sigma}", d(median))
            }
        }
    }
}

fn fmt_ns(ns: u64) -> String {
    crate::duration::Span(Duration::from_nanos(ns)).to_string()
}

fn parse_ns(text: &str) -> Result<u64, String> {
    crate::duration::parse(text).map(|d| d.as_nanos() as u64)
}

mod humantime_ns {
    use super::{fmt_ns, parse_ns};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ns: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fmt_ns(*ns))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        parse_ns(&text).map_err(serde::de::Error::custom)
    }
}

mod humantime_pair_ns {
    use super::fmt_ns;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(p: &(u64, u64), s: S) -> Result<S::Ok, S::Error> {
        [fmt_ns(p.0), fmt_ns(p.1)].serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, u64), D::Error> {
        let [lo, hi] = <[String; 2]>::deserialize(d)?;
        let parse = |t: &str| super::parse_ns(t).map_err(serde::de::Error::custom);
        let (lo, hi) = (parse(&lo)?, parse(&hi)?);
        if hi < lo {
            return Err(serde::de::Error::custom(
                "uniform: the first bound is the lower",
            ));
        }
        Ok((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_their_bounds_and_centre() {
        let mut r = Rng::new(7);
        let u = Dist::Uniform((1_000, 3_000));
        let mut sum = 0u128;
        for _ in 0..10_000 {
            let d = u.sample(&mut r).as_nanos();
            assert!((1_000..3_000).contains(&d));
            sum += d;
        }
        let mean = sum as f64 / 10_000.0;
        assert!((mean - 2_000.0).abs() < 30.0, "{mean}");
        let ln = Dist::Lognormal {
            median: 5_000_000,
            sigma: 0.5,
        };
        let mut draws: Vec<u128> = (0..10_001).map(|_| ln.sample(&mut r).as_nanos()).collect();
        draws.sort_unstable();
        let median = draws[5_000] as f64;
        assert!((median / 5e6 - 1.0).abs() < 0.05, "{median}");
    }
}
