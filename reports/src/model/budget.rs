//! Budgets learned from history: a metric must stay within a band its own past runs set,
//! as OpenShift's disruption budgets do (the P99 of the last 21 days of runs of the same
//! kind, only where 100 runs exist, with a grace of max(+5 s, x1.2)).
//!
//! A budget reads `METRIC [pQ] [last=N | since=AGE] [min_runs=N] [add=X] [mul=Y]`:
//!
//! ```
//! use reports::budget::Budget;
//! let b: Budget = "downtime.total_ms p99 since=21d min_runs=100 add=5000 mul=1.2".parse().unwrap();
//! assert_eq!(b.limit(1000.0), 6000.0); // max(1000 + 5000, 1000 x 1.2)
//! assert_eq!(b.to_string(), "downtime.total_ms p99 since=21d min_runs=100 add=5000 mul=1.2");
//! ```
//!
//! The history is the runs of the same scenario as run (its hash), platform and strategy,
//! valid ones only. The quantile is nearest-rank: a value some run measured. The run being
//! judged is not part of its own history: the reference is read before it starts, and
//! kept in its `record.json` ([`BudgetBasis`]), so `harness check` judges it again from
//! its files.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::measure::{Measure, MeasureError};
use crate::model::metric::number;
#[cfg(test)]
use crate::model::metric::Metric;

/// How far back a budget's history reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last N valid runs.
    Last(u64),
    /// The runs recorded in the last `ns` (written as `text`: `21d`).
    Since { text: String, ns: i64 },
}

/// One budget: the run's `measure` against `quantile` of its history.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// A metric of the whole run or a scope of it (`lost{phase=update}`).
    pub measure: Measure,
    /// In (0, 1]: 0.99 for P99.
    pub quantile: f64,
    pub window: Window,
    /// Fewer valid runs than this and the budget is not evaluated: it says so.
    pub min_runs: u64,
    /// The grace: the band is `max(q + add, q * mul)` (for a metric where larger is
    /// better, `min(q - add, q / mul)`).
    pub add: f64,
    pub mul: f64,
}

/// The defaults: P99 (P1 where larger is better) of 21 days, at least 30 runs, a grace of
/// x1.2. OpenShift asks 100 runs of a P99; 30 lets a new scenario be gated within days, and
/// a team that runs often raises it.
pub const DEFAULT_SINCE: &str = "21d";
pub const DEFAULT_MIN_RUNS: u64 = 30;
pub const DEFAULT_MUL: f64 = 1.2;

impl Budget {
    /// A budget on `measure` with every default.
    pub fn new(measure: Measure) -> Budget {
        Budget {
            measure,
            quantile: if measure.metric.larger_is_better() {
                0.01
            } else {
                0.99
            },
            window: Window::Since {
                text: DEFAULT_SINCE.into(),
                ns: parse_age(DEFAULT_SINCE).expect("the default age parses"),
            },
            min_runs: DEFAULT_MIN_RUNS,
            add: 0.0,
            mul: DEFAULT_MUL,
        }
    }

    /// The band's edge for a reference `q`: the largest value that passes (the smallest,
    /// where larger is better).
    pub fn limit(&self, q: f64) -> f64 {
        if self.measure.metric.larger_is_better() {
            (q - self.add).min(q / self.mul)
        } else {
            (q + self.add).max(q * self.mul)
        }
    }

    /// Whether `value` is within the band of reference `q`.
    pub fn holds(&self, value: f64, q: f64) -> bool {
        if self.measure.metric.larger_is_better() {
            value >= self.limit(q)
        } else {
            value <= self.limit(q)
        }
    }

    /// `P99`, for people.
    pub fn quantile_name(&self) -> String {
        format!("P{}", number(self.quantile * 100.0))
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} p{}", self.measure, number(self.quantile * 100.0))?;
        match &self.window {
            Window::Last(n) => write!(f, " last={n}")?,
            Window::Since { text, .. } => write!(f, " since={text}")?,
        }
        write!(
            f,
            " min_runs={} add={} mul={}",
            self.min_runs,
            number(self.add),
            number(self.mul)
        )
    }
}

/// Why a budget did not parse: what, and at which byte of `text`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at} of {text:?}")]
pub struct BudgetError {
    pub text: String,
    pub at: usize,
    pub what: String,
}

impl Budget {
    /// Sets one key from its text (`last`, `50`): the grammar's and a scenario table's
    /// keys are the same. `Err` says what is wrong with the value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = |what: &str| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{key}: {value:?} is not {what}"))
        };
        let whole = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{key}: {value:?} is not a whole number"))
        };
        match key {
            "q" | "quantile" => {
                self.quantile = number("a quantile")
                    .ok()
                    .filter(|q| *q > 0.0 && *q <= 1.0)
                    .ok_or_else(|| format!("{key}: {value:?} is not in (0, 1]"))?;
            }
            "last" => {
                let n = whole()?;
                if n == 0 {
                    return Err("last: at least 1 run".into());
                }
                self.window = Window::Last(n);
            }
            "since" => {
                self.window = Window::Since {
                    text: value.to_owned(),
                    ns: parse_age(value).map_err(|e| format!("since: {e}"))?,
                };
            }
            "min_runs" => self.min_runs = whole()?,
            "add" => self.add = number("a non-negative number")?,
            "mul" => {
                self.mul = number("a number of at least 1")?;
                if self.mul < 1.0 {
                    return Err(format!(
                        "mul: {value:?} is below 1: the band would be tighter than the history"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?} (pQ, q, last, since, min_runs, add, mul)"
                ))
            }
        }
        Ok(())
    }
}

impl FromStr for Budget {
    type Err = BudgetError;

    fn from_str(text: &str) -> Result<Budget, BudgetError> {
        let err = |at: usize, what: String| BudgetError {
            text: text.to_owned(),
            at,
            what,
        };
        // The measure: the first word, or to its scope's closing brace (a scope may hold
        // spaces).
        let at = text.len() - text.trim_start().len();
        let rest = &text[at..];
        let end = match (rest.find('{'), rest.find(char::is_whitespace)) {
            (Some(open), space) if space.is_none_or(|s| open < s) => {
                rest.find('}').map_or(rest.len(), |close| close + 1)
            }
            (_, space) => space.unwrap_or(rest.len()),
        };
        if end == 0 {
            return Err(err(at, "expected a metric name".into()));
        }
        let measure: Measure = rest[..end]
            .parse()
            .map_err(|e: MeasureError| err(at + e.at, e.what))?;
        let mut b = Budget::new(measure);
        let words_at = at + end;
        // Each word with the byte it starts at.
        let words = text[words_at..]
            .split_ascii_whitespace()
            .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w));
        let mut windows = 0;
        for (at, word) in words {
            if let Some(p) = word.strip_prefix('p').or_else(|| word.strip_prefix('P')) {
                let q = p.parse::<f64>().ok().map(|p| p / 100.0);
                b.quantile = q.filter(|q| *q > 0.0 && *q <= 1.0).ok_or_else(|| {
                    err(at, format!("{word:?} is not a quantile (p50, p99, p99.9)"))
                })?;
                continue;
            }
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| err(at, format!("{word:?}: expected pQ or KEY=VALUE")))?;
            let value_at = at + key.len() + 1;
            b.set(key, value).map_err(|what| {
                let at = if what.starts_with("unknown key") {
                    at
                } else {
                    value_at
                };
                err(at, what)
            })?;
            if key == "last" || key == "since" {
                windows += 1;
            }
        }
        if windows > 1 {
            return Err(err(0, "give last= or since=, not both".into()));
        }
        Ok(b)
    }
}

impl Serialize for Budget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Budget, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `21d`, `12h`, `30m`, `90s`: an age in ns.
pub fn parse_age(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: give a unit: 21d, 12h, 30m or 90s"))?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{text:?}: a whole number, then d, h, m or s"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{text:?}: the unit is d, h, m or s")),
    };
    n.checked_mul(secs * 1_000_000_000)
        .ok_or_else(|| format!("{text:?}: too long"))
}

/// What a budget was judged against, as read from the history when the run began: the
/// number of valid runs in its window and their quantile. `record.json` keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetBasis {
    pub budget: Budget,
    /// Valid runs of the series in the window that measured the metric.
    pub runs: u64,
    /// Their quantile; `None` with no run.
    pub reference: Option<f64>,
    /// The history could not be read (why): the budget is not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// A budget judged: `summary.json`'s `budgets`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetOutcome {
    pub budget: String,
    pub metric: String,
    pub state: BudgetState,
    /// Valid runs behind the reference, and how many the budget asks.
    pub runs: u64,
    pub min_runs: u64,
    /// The quantile of the history, and the band's edge from it.
    pub reference: Option<f64>,
    pub limit: Option<f64>,
    /// This run's value (`None`: not measured, which fails an evaluated budget).
    pub value: Option<f64>,
    /// One line for people: why it passed, failed or was not evaluated.
    pub message: String,
    /// Why the history could not be read, when it could not (kept so that judging the run
    /// again from its summary keeps it unread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetState {
    Pass,
    Fail,
    /// Not evaluated: too few runs, or no history. Never a pass.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_key() {
        let b: Budget = "lost".parse().unwrap();
        assert_eq!((b.quantile, b.min_runs, b.add, b.mul), (0.99, 30, 0.0, 1.2));
        assert_eq!(
            b.window,
            Window::Since {
                text: "21d".into(),
                ns: 21 * 86_400 * 1_000_000_000
            }
        );
        let b: Budget = "downtime.max_ms  p95 last=50 min_runs=10 add=200 mul=1.5"
            .parse()
            .unwrap();
        assert_eq!(
            (
                b.measure.metric,
                b.quantile,
                b.window.clone(),
                b.min_runs,
                b.add,
                b.mul
            ),
            (
                Metric::DowntimeMaxMs,
                0.95,
                Window::Last(50),
                10,
                200.0,
                1.5
            )
        );
        assert_eq!(b.to_string().parse::<Budget>().unwrap(), b);
        let scoped: Budget = "downtime.total_ms{from=update, for=30s} last=9"
            .parse()
            .unwrap();
        assert_eq!(
            scoped.to_string(),
            "downtime.total_ms{from=update,for=30s} p99 last=9 min_runs=30 add=0 mul=1.2"
        );
        // Larger is better: the low tail, and the band below it.
        let d: Budget = "delivered add=2 mul=1.25".parse().unwrap();
        assert_eq!(d.quantile, 0.01);
        assert_eq!(d.limit(100.0), 80.0); // min(100 - 2, 100 / 1.25)
        assert!(d.holds(80.0, 100.0) && !d.holds(79.0, 100.0));
    }

    #[test]
    fn the_band_is_the_larger_grace() {
        // OpenShift's: max(q + 5 s, q x 1.2).
        let b: Budget = "downtime.total_ms add=5000 mul=1.2".parse().unwrap();
        assert_eq!(b.limit(1000.0), 6000.0);
        assert_eq!(b.limit(100_000.0), 120_000.0);
        assert!(b.holds(6000.0, 1000.0) && !b.holds(6000.5, 1000.0));
        // No grace on a quantile of 0: any loss fails.
        let lost: Budget = "lost".parse().unwrap();
        assert!(lost.holds(0.0, 0.0) && !lost.holds(1.0, 0.0));
    }

    #[test]
    fn errors_say_where() {
        for (text, at, what) in [
            ("", 0, "expected a metric name"),
            ("lots", 0, "unknown metric"),
            (
                "  lost{phase=during} last=5",
                7,
                "not before, update or after",
            ),
            ("lost p0", 5, "not a quantile"),
            ("lost p101", 5, "not a quantile"),
            ("lost last=0", 10, "at least 1"),
            ("lost last=x", 10, "not a whole number"),
            ("lost since=3w", 11, "the unit is"),
            ("lost mul=0.5", 9, "below 1"),
            ("lost add=-1", 9, "not a non-negative"),
            ("lost colour=red", 5, "unknown key"),
            ("lost 12", 5, "expected pQ or KEY=VALUE"),
            ("lost last=5 since=1d", 0, "not both"),
        ] {
            let e = text.parse::<Budget>().unwrap_err();
            assert_eq!(e.at, at, "{text}: {e}");
            assert!(e.what.contains(what), "{text}: {e}");
        }
    }
}
