//! Thresholds: k6-style pass/fail expressions over the verdict, such as `lost == 0`,
//! `duplicated <= 2`, `late_rate < 0.01`, `downtime.max_ms < 500`, `lateness.p99_ms < 3000`,
//! `update.duration_ms < 60000`, and over a part of the run: `lost{phase=update} == 0`,
//! `probes.failed_rate{window=5s} < 0.01` ([`crate::measure`]).
//!
//! Grammar: `MEASURE OP NUMBER`, spaces optional around the operator; `OP` is one of `==`,
//! `!=`, `<`, `<=`, `>`, `>=`; `NUMBER` is a decimal, optionally with a fraction or exponent.
//! A parse error says at which byte of the text it went wrong.
//!
//! ```
//! use reports::threshold::Threshold;
//! let t: Threshold = "downtime.max_ms < 500".parse().unwrap();
//! assert_eq!(t.to_string(), "downtime.max_ms < 500");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::measure::{Measure, MeasureError};
#[cfg(test)]
use crate::model::metric::Metric;
pub use crate::model::summary::Outcome;
use crate::model::verdict::Verdict;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Eq => value == limit,
            Op::Ne => value != limit,
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }
}

/// One parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// A metric over the whole run or a scope of it (`lost{phase=update}`).
    pub measure: Measure,
    pub op: Op,
    pub limit: f64,
}

/// Why a threshold did not parse: what, and at which byte of `text`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at} of {text:?}")]
pub struct ThresholdError {
    pub text: String,
    pub at: usize,
    pub what: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.measure, self.op.as_str(), self.limit)
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
        let e = parse_expression(text)?;
        let measure: Measure = e.name.parse().map_err(|m: MeasureError| ThresholdError {
            text: text.to_owned(),
            at: e.name_at + m.at,
            what: m.what,
        })?;
        Ok(Threshold {
            measure,
            op: e.op,
            limit: e.limit,
        })
    }
}

/// `NAME OP NUMBER` taken apart, the name not yet looked up: the grammar every threshold
/// shares (the run's, and the analysis windows' of a rolling-back update).
#[derive(Clone, Debug, PartialEq)]
pub struct Expression<'a> {
    pub name: &'a str,
    /// Where the name starts, for errors about it.
    pub name_at: usize,
    pub op: Op,
    pub limit: f64,
}

/// Parses `NAME OP NUMBER`; an error says at which byte it went wrong.
pub fn parse_expression(text: &str) -> Result<Expression<'_>, ThresholdError> {
    let err = |at: usize, what: String| ThresholdError {
        text: text.to_owned(),
        at,
        what,
    };
    let bytes = text.as_bytes();
    let skip = |mut i: usize| {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    let start = skip(0);
    let mut i = start;
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
    {
        i += 1;
    }
    // A scope: `{...}`, to its closing brace.
    if bytes.get(i) == Some(&b'{') {
        match text[i..].find('}') {
            Some(close) => i += close + 1,
            None => return Err(err(i, "expected } to close the scope".into())),
        }
    }
    let name = &text[start..i];
    if name.is_empty() {
        return Err(err(start, "expected a metric name".into()));
    }
    let i = skip(i);
    let (op, len) = match (bytes.get(i), bytes.get(i + 1)) {
        (Some(b'='), Some(b'=')) => (Op::Eq, 2),
        (Some(b'!'), Some(b'=')) => (Op::Ne, 2),
        (Some(b'<'), Some(b'=')) => (Op::Le, 2),
        (Some(b'>'), Some(b'=')) => (Op::Ge, 2),
        (Some(b'<'), _) => (Op::Lt, 1),
        (Some(b'>'), _) => (Op::Gt, 1),
        _ => return Err(err(i, "expected an operator (==, !=, <, <=, >, >=)".into())),
    };
    let n_start = skip(i + len);
    let rest = text[n_start..].trim_end();
    if rest.is_empty() {
        return Err(err(n_start, "expected a number".into()));
    }
    let limit: f64 = rest
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| err(n_start, format!("{rest:?} is not a number")))?;
    Ok(Expression {
        name,
        name_at: start,
        op,
        limit,
    })
}

/// Evaluates every threshold; an unmeasured value fails its threshold.
pub fn evaluate(
    thresholds: &[Threshold],
    v: &Verdict,
    update_duration_ms: Option<f64>,
) -> Vec<Outcome> {
    thresholds
        .iter()
        .map(|t| {
            let value = crate::analysis::scoped::measured(&t.measure, v, update_duration_ms);
            Outcome {
                threshold: t.to_string(),
                metric: t.measure.to_string(),
                value,
                ok: value.is_some_and(|x| t.op.holds(x, t.limit)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_k6_style_examples() {
        for (text, metric, op, limit) in [
            ("lost == 0", "lost", Op::Eq, 0.0),
            ("duplicated <= 2", "duplicated", Op::Le, 2.0),
            ("late_rate < 0.01", "late_rate", Op::Lt, 0.01),
            ("downtime.max_ms<500", "downtime.max_ms", Op::Lt, 500.0),
            (
                "  lateness.p99_ms >= 3e3 ",
                "lateness.p99_ms",
                Op::Ge,
                3000.0,
            ),
            (
                "update.duration_ms != 60000",
                "update.duration_ms",
                Op::Ne,
                60000.0,
            ),
        ] {
            let t: Threshold = text.parse().unwrap();
            assert_eq!(
                (t.measure.metric.name(), t.op, t.limit),
                (metric, op, limit),
                "{text}"
            );
        }
    }

    #[test]
    fn errors_say_where() {
        for (text, at, what) in [
            ("", 0, "expected a metric name"),
            ("lots == 0", 0, "unknown metric"),
            ("lost 0", 5, "expected an operator"),
            ("lost =< 0", 5, "expected an operator"),
            ("lost == ", 8, "expected a number"),
            ("lost == zero", 8, "is not a number"),
            ("lost == inf", 8, "is not a number"),
        ] {
            let e = text.parse::<Threshold>().unwrap_err();
            assert_eq!(e.at, at, "{text}: {e}");
            assert!(e.what.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn evaluation() {
        let v = Verdict {
            expected: 100,
            delivered: 98,
            lost: 2,
            late: 1,
            ..Verdict::default()
        };
        let ts: Vec<Threshold> = [
            "lost == 0",
            "late_rate < 0.02",
            "lateness.p99_ms < 10",
            "update.duration_ms < 500",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        let out = evaluate(&ts, &v, Some(250.0));
        let oks: Vec<bool> = out.iter().map(|o| o.ok).collect();
        assert_eq!(oks, vec![false, true, false, true], "{out:?}");
        assert_eq!(out[2].value, None, "nothing measured fails");
    }

    proptest! {
        #[test]
        fn formatted_thresholds_parse_back(i in 0usize..Metric::ALL.len(), op in 0usize..6, limit in -1e9f64..1e9) {
            let ops = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];
            let t = Threshold { measure: Metric::ALL[i].into(), op: ops[op], limit };
            prop_assert_eq!(t.to_string().parse::<Threshold>().unwrap(), t);
        }

        #[test]
        fn parsing_never_panics_and_errors_point_inside(text in "\\PC{0,30}") {
            if let Err(e) = text.parse::<Threshold>() {
                prop_assert!(e.at <= text.len());
            }
        }
    }
}
