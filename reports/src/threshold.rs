//! Thresholds: k6-style pass/fail expressions over the verdict, such as `lost == 0`,
//! `duplicated <= 2`, `late_rate < 0.01`, `downtime.max_ms < 500`, `lateness.p99_ms < 3000`,
//! `update.duration_ms < 60000`.
//!
//! Grammar: `METRIC OP NUMBER`, spaces optional around the operator; `OP` is one of `==`,
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

use crate::verdict::Verdict;

/// Every metric a threshold may name, with what it measures.
pub const METRICS: [(&str, &str); 21] = [
    ("expected", "expected items"),
    ("delivered", "items that arrived at least once"),
    ("lost", "items that never arrived"),
    ("duplicated", "items that arrived more than once"),
    ("extra_copies", "arrivals beyond the first"),
    ("late", "items whose first arrival was late"),
    ("ok", "items delivered once and on time"),
    ("unexpected", "arrival rows outside the expected window"),
    (
        "recovered",
        "items delivered although their run failed or was killed",
    ),
    ("lost_rate", "lost / expected"),
    ("duplicated_rate", "duplicated / expected"),
    ("late_rate", "late / delivered"),
    ("downtime.windows", "downtime windows"),
    ("downtime.total_ms", "total downtime"),
    ("downtime.max_ms", "longest downtime window"),
    ("lateness.p50_ms", "median lateness"),
    ("lateness.p90_ms", "lateness p90"),
    ("lateness.p99_ms", "lateness p99"),
    ("lateness.max_ms", "largest lateness"),
    ("gap_max_ms", "longest silence between arrivals"),
    (
        "update.duration_ms",
        "time from the update's start to its completion (ledger)",
    ),
];

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
    pub metric: String,
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
        write!(f, "{} {} {}", self.metric, self.op.as_str(), self.limit)
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
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
        let metric = &text[start..i];
        if metric.is_empty() {
            return Err(err(start, "expected a metric name".into()));
        }
        if !METRICS.iter().any(|(m, _)| *m == metric) {
            return Err(err(start, format!("unknown metric {metric:?}")));
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
        Ok(Threshold {
            metric: metric.to_owned(),
            op,
            limit,
        })
    }
}

/// A threshold's measured value and outcome, as `summary.json` and JUnit report them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub threshold: String,
    pub metric: String,
    /// `None` when the run did not measure it (e.g. lateness with nothing delivered).
    pub value: Option<f64>,
    pub ok: bool,
}

impl Outcome {
    /// What failed, for people: `lost = 2`, or `lost not measured`; never Rust debug text.
    pub fn measured(&self) -> String {
        match self.value {
            Some(v) => format!("{} = {}", self.metric, crate::terminal::number(v)),
            None => format!("{} not measured", self.metric),
        }
    }
}

/// The value of a metric in a verdict; `update_duration_ms` is the run's (`RunInfo`).
pub fn value(metric: &str, v: &Verdict, update_duration_ms: Option<f64>) -> Option<f64> {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Some(match metric {
        "expected" => v.expected as f64,
        "delivered" => v.delivered as f64,
        "lost" => v.lost as f64,
        "duplicated" => v.duplicated as f64,
        "extra_copies" => v.extra_copies as f64,
        "late" => v.late as f64,
        "ok" => v.ok as f64,
        "unexpected" => v.unexpected as f64,
        "recovered" => v.causes.recovered as f64,
        "lost_rate" => ratio(v.lost, v.expected),
        "duplicated_rate" => ratio(v.duplicated, v.expected),
        "late_rate" => ratio(v.late, v.delivered),
        "downtime.windows" => v.downtime.windows as f64,
        "downtime.total_ms" => v.downtime.total_ms,
        "downtime.max_ms" => v.downtime.max_ms,
        "lateness.p50_ms" => v.lateness_ms?.p50,
        "lateness.p90_ms" => v.lateness_ms?.p90,
        "lateness.p99_ms" => v.lateness_ms?.p99,
        "lateness.max_ms" => v.lateness_ms?.max,
        "gap_max_ms" => v.gap_max_ms?,
        "update.duration_ms" => update_duration_ms?,
        _ => return None,
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
            let value = value(&t.metric, v, update_duration_ms);
            Outcome {
                threshold: t.to_string(),
                metric: t.metric.clone(),
                value,
                ok: value.is_some_and(|x| t.op.holds(x, t.limit)),
            }
        })
        .collect()
}

/// `junit.xml`: one test case per threshold (and per baseline tolerance), failures carrying
/// the measured value; an invalid run adds an errored case naming why.
pub fn junit(suite: &str, outcomes: &[Outcome], invalid: &[String]) -> String {
    let mut cases = Vec::new();
    if !invalid.is_empty() {
        cases.push(crate::junit::Case {
            name: "the run is valid".into(),
            error: Some(invalid.join("; ")),
            ..Default::default()
        });
    }
    cases.extend(outcomes.iter().map(|o| crate::junit::Case {
        name: o.threshold.clone(),
        failure: (!o.ok).then(|| o.measured()),
        error: None,
    }));
    crate::junit::write(suite, suite, &cases)
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
                (t.metric.as_str(), t.op, t.limit),
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
    fn evaluation_and_junit() {
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
        let xml = junit("seed-swap", &out, &[]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(
            (suite.attribute("tests"), suite.attribute("failures")),
            (Some("4"), Some("2"))
        );
        let failures: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .map(|n| n.attribute("message").unwrap())
            .collect();
        assert_eq!(failures, vec!["lost = 2", "lateness.p99_ms not measured"]);
        let cases = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(cases, 4);
    }

    proptest! {
        #[test]
        fn formatted_thresholds_parse_back(i in 0usize..METRICS.len(), op in 0usize..6, limit in -1e9f64..1e9) {
            let ops = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];
            let t = Threshold { metric: METRICS[i].0.to_owned(), op: ops[op], limit };
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
