//! JUnit XML, the format CI systems show test results in: one suite, one test case per
//! check, a failure or an error carrying the message.

use crate::report::esc;

/// One test case.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Case {
    pub name: String,
    /// The check ran and did not hold.
    pub failure: Option<String>,
    /// The check could not run.
    pub error: Option<String>,
}

/// A whole `junit.xml` document.
pub fn write(suite: &str, classname: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
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
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// `junit.xml`: one test case per threshold (and per baseline tolerance), failures carrying
/// the measured value; an invalid run adds an errored case naming why.
pub fn run_suite(suite: &str, outcomes: &[crate::summary::Outcome], invalid: &[String]) -> String {
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
        error: None,
    }));
    write(suite, suite, &cases)
}
