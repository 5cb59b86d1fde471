//! Durations as people write them in scenario files: `"10s"`, `"250ms"`, `"1.5m"`.
//!
//! Units: `ns`, `us`, `ms`, `s`, `m`, `h`. A bare number is refused: a duration without a
//! unit is the classic way to be off by a factor of 1000. A duration is at most
//! [`MAX_DURATION`], a century.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The longest duration a scenario may write: a century. Longer is a typo, and the cap keeps
/// what the harness computes from durations (a loop of `u32::MAX` items `item_delay` apart,
/// a settle time, a late threshold) far inside `Duration`'s range.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A scenario duration; `serde` reads it from a string with a unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn from_secs(secs: u64) -> Span {
        Span(Duration::from_secs(secs))
    }

    pub fn from_millis(ms: u64) -> Span {
        Span(Duration::from_millis(ms))
    }

    /// This duration multiplied by the run's time scale, at most `Duration::MAX` (a huge
    /// time scale is the caller's to refuse; here it must not panic).
    pub fn scaled(self, time_scale: f64) -> Duration {
        Duration::try_from_secs_f64(self.0.as_secs_f64() * time_scale).unwrap_or(Duration::MAX)
    }
}

/// Parses `"<number><unit>"`; the number may have a fraction.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit (write e.g. \"10s\" or \"250ms\")"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let unit_secs = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "{text:?} has an unknown unit {other:?} (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let d = Duration::try_from_secs_f64(value * unit_secs).map_err(|e| format!("{text:?}: {e}"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than the limit of {}h",
            MAX_DURATION.as_secs() / 3600
        ));
    }
    Ok(d)
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map(Span).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        let (value, unit) = if ns.is_multiple_of(1_000_000_000) {
            (ns / 1_000_000_000, "s")
        } else if ns.is_multiple_of(1_000_000) {
            (ns / 1_000_000, "ms")
        } else if ns.is_multiple_of(1_000) {
            (ns / 1_000, "us")
        } else {
            (ns, "ns")
        };
        write!(f, "{value}{unit}")
    }
}

/// The run's time scale, as the run plan hands it to the scenario's parts that resolve
/// themselves (the faults, the strategies' plans): their durations and rates are scaled
/// through it, here beside the duration type, and nowhere else.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeScale(pub f64);

impl TimeScale {
    /// A scenario duration as the run's.
    pub fn span(self, s: Span) -> Duration {
        s.scaled(self.0)
    }

    /// A rate per second of scenario time as one per second of the run's: divided by the
    /// scale (at least 1), so the delays it causes keep their size against the schedule.
    pub fn rate(self, per_s: u64) -> u64 {
        ((per_s as f64 / self.0).round() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_bare_numbers() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("7us"), Ok(Duration::from_micros(7)));
        assert!(parse("10").unwrap_err().contains("no unit"));
        assert!(parse("10 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse("s").is_err());
        assert!(parse("-1s").is_err());
        assert_eq!(parse("876000h"), Ok(MAX_DURATION));
        assert!(parse("876001h").unwrap_err().contains("limit"));
        assert!(parse("5000000000000000h").unwrap_err().contains("limit"));
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Span::from_secs(10).to_string(), "10s");
        assert_eq!(Span::from_millis(250).to_string(), "250ms");
        assert_eq!(Span(Duration::from_nanos(1500)).to_string(), "1500ns");
        assert_eq!(Span::from_secs(10).scaled(0.1), Duration::from_secs(1));
        assert_eq!(Span(MAX_DURATION).scaled(1e300), Duration::MAX);
    }
}
