//! The priorities of an advice: what matters, in order, parsed from `--priority` (a preset
//! or a comma-separated list of terms, each `METRIC` or a limit `METRIC OP NUMBER`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::analysis::threshold::{Op, Threshold};
use crate::model::metric::Metric;

/// The named priorities: (name, the list it stands for).
pub const PRESETS: [(&str, &str); 3] = [
    (
        "zero-loss",
        "lost==0,duplicated,lateness.p99_ms,downtime.total_ms,update.duration_ms",
    ),
    (
        "zero-downtime",
        "downtime.total_ms==0,downtime.max_ms,lost,update.duration_ms",
    ),
    ("fast-update", "update.duration_ms,lost,downtime.total_ms"),
];

/// `Metric` as its name in JSON (`"downtime.max_ms"`).
pub(super) mod metric_name {
    use super::Metric;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Metric, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Metric, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Smaller values are better (every metric but `expected`, `delivered`, `ok`).
    Smaller,
    /// Larger values are better.
    Larger,
}

impl Better {
    /// The direction of `metric` ([`Metric::larger_is_better`]).
    pub fn of(metric: Metric) -> Better {
        if metric.larger_is_better() {
            Better::Larger
        } else {
            Better::Smaller
        }
    }
}

/// A limit term's operator and bound: the run's value must satisfy `value OP bound`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// The comparison: `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub op: Op,
    /// The number on its right, in the metric's unit.
    pub bound: f64,
}

/// One term of the priority list, as parsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// Its place in the list, from 1.
    pub position: usize,
    /// The term as it reads: `lost == 0`, `duplicated`.
    pub text: String,
    /// The metric it limits or orders by.
    #[serde(with = "metric_name")]
    pub metric: Metric,
    /// Which way is better when the term orders (and the metric's direction for a limit).
    pub better: Better,
    /// For a limit, the bound every run must meet; `None` for a term that orders.
    pub limit: Option<Limit>,
}

impl Term {
    /// The limit as a threshold, for a limit term.
    pub fn threshold(&self) -> Option<Threshold> {
        self.limit.map(|l| Threshold {
            measure: self.metric.into(),
            op: l.op,
            limit: l.bound,
        })
    }
}

/// The parsed `--priority`: a preset's name or an explicit list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Priorities {
    /// As given on the command line.
    pub text: String,
    /// The preset it names, if it is one.
    pub preset: Option<String>,
    /// The terms, in order (a preset's expanded).
    pub terms: Vec<Term>,
}

/// Why a priority did not parse: which term, where, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("term {position} ({term:?}) of the priority {text:?}: {what}")]
pub struct PriorityError {
    /// The whole `--priority` as given.
    pub text: String,
    /// The bad term's place in the list, from 1.
    pub position: usize,
    /// The bad term, trimmed.
    pub term: String,
    /// What is wrong with it.
    pub what: String,
}

impl FromStr for Priorities {
    type Err = PriorityError;

    /// A preset by name, or `TERM,TERM,...`; each term `METRIC` or `METRIC OP NUMBER`. A
    /// metric may order only once; an empty list or term is an error.
    fn from_str(text: &str) -> Result<Priorities, PriorityError> {
        let trimmed = text.trim();
        let preset = PRESETS.iter().find(|(name, _)| *name == trimmed);
        let list = preset.map_or(trimmed, |(_, list)| *list);
        let err = |position: usize, term: &str, what: String| PriorityError {
            text: text.to_owned(),
            position,
            term: term.to_owned(),
            what,
        };
        let mut terms: Vec<Term> = Vec::new();
        for (i, raw) in list.split(',').enumerate() {
            let position = i + 1;
            let term = raw.trim();
            if term.is_empty() {
                return Err(err(position, term, "empty term".into()));
            }
            if PRESETS.iter().any(|(name, _)| *name == term) {
                return Err(err(
                    position,
                    term,
                    "a preset stands alone, not inside a list".into(),
                ));
            }
            let parsed = if term.contains(['=', '!', '<', '>']) {
                let t: Threshold =
                    term.parse()
                        .map_err(|e: crate::analysis::threshold::ThresholdError| {
                            err(position, term, format!("{} at byte {}", e.what, e.at))
                        })?;
                if !t.measure.scope.is_whole() {
                    return Err(err(
                        position,
                        term,
                        "advice weighs metrics of whole runs; a scope is for thresholds and budgets".into(),
                    ));
                }
                let metric = t.measure.metric;
                Term {
                    position,
                    text: t.to_string(),
                    metric,
                    better: Better::of(metric),
                    limit: Some(Limit {
                        op: t.op,
                        bound: t.limit,
                    }),
                }
            } else {
                let metric: Metric = term.parse().map_err(|e| {
                    err(
                        position,
                        term,
                        format!("{e} (a term is METRIC or METRIC OP NUMBER)"),
                    )
                })?;
                if terms
                    .iter()
                    .any(|t| t.limit.is_none() && t.metric == metric)
                {
                    return Err(err(
                        position,
                        term,
                        format!("{metric} already orders an earlier term"),
                    ));
                }
                Term {
                    position,
                    text: metric.name().to_owned(),
                    metric,
                    better: Better::of(metric),
                    limit: None,
                }
            };
            terms.push(parsed);
        }
        Ok(Priorities {
            text: text.to_owned(),
            preset: preset.map(|(name, _)| (*name).to_owned()),
            terms,
        })
    }
}

impl fmt::Display for Priorities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<&str> = self.terms.iter().map(|t| t.text.as_str()).collect();
        f.write_str(&terms.join(", "))
    }
}
