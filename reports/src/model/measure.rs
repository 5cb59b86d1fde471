//! A measure: a metric over the whole run, or over a part of it (a scope), as thresholds,
//! budgets and baselines name it.
//!
//! - `lost{phase=update}`: the items scheduled while the update ran (`before`, `update`,
//!   `after`);
//! - `downtime.total_ms{from=update,for=30s}`: from an anchor (`start`, `update`,
//!   `update_end`) for a while, or to the run's end without `for`;
//! - `probes.failed_rate{window=5s}`: the worst window of that width, sliding over the run
//!   (or over the phase or span it is given with), as Argo's analysis and k6's requests
//!   describe.
//!
//! ```
//! use reports::measure::Measure;
//! let m: Measure = "downtime.total_ms{from=update, for=30s}".parse().unwrap();
//! assert_eq!(m.to_string(), "downtime.total_ms{from=update,for=30s}");
//! ```
//!
//! Durations are of the run as it ran (like every `_ms` value), not scaled by the time
//! scale: `30s`, `500ms`, `2m`.

use std::fmt;
use std::str::FromStr;

use crate::model::metric::Metric;

/// A part of the run's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// From the run's first observation to the update's start.
    Before,
    /// From the update's start to its end.
    Update,
    /// From the update's end to the run's last observation.
    After,
}

/// A point of the run's time a span starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anchor {
    Start,
    Update,
    UpdateEnd,
}

/// The part of the run a measure is read over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub phase: Option<Phase>,
    /// `from=ANCHOR`, for `for_ns` (to the run's end without it).
    pub from: Option<Anchor>,
    pub for_ns: Option<i64>,
    /// The worst window of this width, sliding over the rest of the scope.
    pub window_ns: Option<i64>,
}

impl Scope {
    pub fn is_whole(&self) -> bool {
        *self == Scope::default()
    }
}

/// A metric, over the whole run or a scope of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Measure {
    pub metric: Metric,
    pub scope: Scope,
}

impl From<Metric> for Measure {
    fn from(metric: Metric) -> Measure {
        Measure {
            metric,
            scope: Scope::default(),
        }
    }
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::Update => "update",
            Phase::After => "after",
        }
    }
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Update => "update",
            Anchor::UpdateEnd => "update_end",
        }
    }
}

/// `30s`, `1.5s`, `500ms`, `2m` as ns.
pub fn parse_duration_ns(text: &str) -> Option<i64> {
    let (number, unit_ns) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e9)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e9)
    } else {
        return None;
    };
    let x: f64 = number.parse().ok()?;
    (x.is_finite() && x > 0.0 && x * unit_ns < 1e18).then(|| (x * unit_ns).round() as i64)
}

/// A duration as a scope writes it: whole seconds as `30s`, else ms.
fn duration_text(ns: i64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else {
        format!("{}ms", crate::model::metric::number(ns as f64 / 1e6))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.phase {
            parts.push(format!("phase={}", p.name()));
        }
        if let Some(a) = self.from {
            parts.push(format!("from={}", a.name()));
        }
        if let Some(d) = self.for_ns {
            parts.push(format!("for={}", duration_text(d)));
        }
        if let Some(w) = self.window_ns {
            parts.push(format!("window={}", duration_text(w)));
        }
        write!(f, "{}", parts.join(","))
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scope.is_whole() {
            write!(f, "{}", self.metric)
        } else {
            write!(f, "{}{{{}}}", self.metric, self.scope)
        }
    }
}

/// Why a measure did not parse, and at which byte of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasureError {
    pub at: usize,
    pub what: String,
}

/// The metrics counted over the expected items (by when each was due): a part of the run
/// has its own count of them.
pub fn over_items(metric: Metric) -> bool {
    use Metric::*;
    matches!(
        metric,
        Expected
            | Delivered
            | Lost
            | Duplicated
            | ExtraCopies
            | Late
            | Ok
            | LostRate
            | DuplicatedRate
            | LateRate
    )
}

/// The metrics a scope can be applied to: those counted over items, probes and downtime
/// windows, which a part of the run has as well as the whole.
pub fn scopable(metric: Metric) -> bool {
    use Metric::*;
    over_items(metric)
        || matches!(
            metric,
            DowntimeWindows
                | DowntimeTotalMs
                | DowntimeMaxMs
                | ProbesFailed
                | ProbesFailedRate
                | ThroughputDrop
        )
}

impl FromStr for Measure {
    type Err = MeasureError;

    /// `NAME` or `NAME{KEY=VALUE,...}`; an error's byte is within `text`.
    fn from_str(text: &str) -> Result<Measure, MeasureError> {
        let err = |at: usize, what: String| MeasureError { at, what };
        let (name, rest) = match text.find('{') {
            Some(i) => (&text[..i], Some(i)),
            None => (text, None),
        };
        let metric: Metric = name.trim().parse().map_err(|e| err(0, format!("{e}")))?;
        let Some(open) = rest else {
            return Ok(metric.into());
        };
        if !text.ends_with('}') {
            return Err(err(text.len(), "expected } to close the scope".into()));
        }
        if !scopable(metric) {
            return Err(err(
                0,
                format!(
                    "{metric} has no scope: only counts of items and probes, their rates, \
                     the downtime metrics and throughput.drop do"
                ),
            ));
        }
        let mut scope = Scope::default();
        let body = &text[open + 1..text.len() - 1];
        let mut at = open + 1;
        for part in body.split(',') {
            let here = at + (part.len() - part.trim_start().len());
            at += part.len() + 1;
            let part = part.trim();
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| err(here, format!("{part:?}: expected KEY=VALUE")))?;
            let (key, value) = (key.trim(), value.trim());
            let duration = || {
                parse_duration_ns(value).ok_or_else(|| {
                    err(
                        here,
                        format!("{key}: {value:?} is not a duration (30s, 500ms, 2m)"),
                    )
                })
            };
            match key {
                "phase" => {
                    scope.phase = Some(match value {
                        "before" => Phase::Before,
                        "update" => Phase::Update,
                        "after" => Phase::After,
                        _ => {
                            return Err(err(
                                here,
                                format!("phase: {value:?} is not before, update or after"),
                            ))
                        }
                    })
                }
                "from" => {
                    scope.from = Some(match value {
                        "start" => Anchor::Start,
                        "update" => Anchor::Update,
                        "update_end" => Anchor::UpdateEnd,
                        _ => {
                            return Err(err(
                                here,
                                format!("from: {value:?} is not start, update or update_end"),
                            ))
                        }
                    })
                }
                "for" => scope.for_ns = Some(duration()?),
                "window" => scope.window_ns = Some(duration()?),
                _ => {
                    return Err(err(
                        here,
                        format!("unknown scope key {key:?} (phase, from, for, window)"),
                    ))
                }
            }
        }
        if scope.phase.is_some() && scope.from.is_some() {
            return Err(err(open, "give phase= or from=, not both".into()));
        }
        if scope.for_ns.is_some() && scope.from.is_none() {
            return Err(err(open, "for= needs from=".into()));
        }
        Ok(Measure { metric, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_forms_parse_and_print_back() {
        for (text, shown) in [
            ("lost{phase=update}", "lost{phase=update}"),
            (
                "downtime.total_ms{from=update, for=30s}",
                "downtime.total_ms{from=update,for=30s}",
            ),
            (
                "probes.failed_rate{window=5s}",
                "probes.failed_rate{window=5s}",
            ),
            (
                "lost_rate{phase=after,window=500ms}",
                "lost_rate{phase=after,window=500ms}",
            ),
            ("lost", "lost"),
        ] {
            let m: Measure = text.parse().unwrap();
            assert_eq!(m.to_string(), shown);
            assert_eq!(shown.parse::<Measure>().unwrap(), m);
        }
        let m: Measure = "lost{from=update_end}".parse().unwrap();
        assert_eq!(
            (m.scope.from, m.scope.for_ns),
            (Some(Anchor::UpdateEnd), None)
        );
        assert_eq!(parse_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("2m"), Some(120_000_000_000));
        assert_eq!(parse_duration_ns("0s"), None);
    }

    #[test]
    fn errors_say_where() {
        for (text, at, what) in [
            ("lost{phase=during}", 5, "not before, update or after"),
            ("lost{phase=update", 17, "expected }"),
            ("lost{ colour=red}", 6, "unknown scope key"),
            ("lost{window=5}", 5, "not a duration"),
            ("lost{for=5s}", 4, "needs from="),
            ("lost{phase=update,from=start}", 4, "not both"),
            ("lateness.p99_ms{phase=update}", 0, "has no scope"),
            ("lots{phase=update}", 0, "unknown metric"),
        ] {
            let e = text.parse::<Measure>().unwrap_err();
            assert_eq!(e.at, at, "{text}: {}", e.what);
            assert!(e.what.contains(what), "{text}: {}", e.what);
        }
    }
}
