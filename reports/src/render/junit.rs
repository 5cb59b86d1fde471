//! JUnit XML, the format CI systems show test results in: one suite, one test case per
//! check, a failure or an error carrying the message.

use crate::model::budget::{BudgetOutcome, BudgetState};
use crate::render::report::esc;

/// One test case.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Case {
    pub name: String,
    /// The check ran and did not hold.
    pub failure: Option<String>,
    /// The check could not run.
    pub error: Option<String>,
    /// The check was not evaluated, and why (a budget with too few runs behind it).
    pub skipped: Option<String>,
}

/// A whole `junit.xml` document.
pub fn write(suite: &str, classname: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">\n",
        esc(suite),
        cases.len()
    );
    for c in cases {
        out.push_str(&format!(
            "<testcase classname=\"{}\" name=\"{}\">",
            esc(classname),
            esc(&c.name)
        ));
        if let Some(m) = &c.error {
            out.push_str(&format!("\n<error message=\"{}\"/>\n", esc(m)));
        }
        if let Some(m) = &c.failure {
            out.push_str(&format!("\n<failure message=\"{}\"/>\n", esc(m)));
        }
        if let Some(m) = &c.skipped {
            out.push_str(&format!("\n<skipped message=\"{}\"/>\n", esc(m)));
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// `junit.xml`: one test case per threshold (and per baseline tolerance), failures carrying
/// the measured value; one per budget, failed with its band and history, or skipped with
/// why; an invalid run adds an errored case naming why.
pub fn run_suite(
    suite: &str,
    outcomes: &[crate::model::summary::Outcome],
    budgets: &[BudgetOutcome],
    invalid: &[String],
) -> String {
    let mut cases = Vec::new();
    if !invalid.is_empty() {
        cases.push(Case {
            name: "the run is valid".into(),
            error: Some(invalid.join("; ")),
            ..Default::default()
        });
    }
    cases.extend(outcomes.iter().map(|o| Case {
        name: o.threshold.clone(),
        failure: (!o.ok).then(|| o.measured()),
        ..Default::default()
    }));
    cases.extend(budgets.iter().map(|b| Case {
        name: format!("budget {}", b.budget),
        failure: (b.state == BudgetState::Fail).then(|| b.message.clone()),
        skipped: (b.state == BudgetState::Skipped).then(|| b.message.clone()),
        error: None,
    }));
    write(suite, suite, &cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::threshold::{evaluate, Threshold};
    use crate::model::verdict::Verdict;

    #[test]
    fn a_run_suite_has_a_case_per_threshold_and_a_failure_per_miss() {
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
        let xml = run_suite("seed-swap", &out, &[], &[]);
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
}
