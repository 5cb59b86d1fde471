//! The phrases of the written advice: how a number, a term, a test, a caveat, a
//! disqualification and a pair read in `advice.md`.

use crate::analysis::advice::{
    Advice, Beat, Better, CaseOutcome, CaseTest, Caveat, Disqualification, MetricSummary,
    PairVerdict, RunsNeeded, Term,
};
use crate::analysis::stats::Method;
use crate::model::metric::{number, Metric};

/// How many failing runs of one strategy the text lists before counting the rest.
const LISTED_FAILURES: usize = 5;

/// A p-value for reading: four significant digits, or `< 0.0001`.
pub(super) fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".into()
    } else if p >= 0.9999 {
        "1".into()
    } else {
        let text = format!("{p:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

pub(super) fn code(s: &str) -> String {
    format!("`{s}`")
}

pub(super) fn list(names: &[String]) -> String {
    names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}

pub(super) fn term_name(advice: &Advice, position: usize) -> String {
    advice
        .priorities
        .iter()
        .find(|t| t.position == position)
        .map_or_else(|| format!("term {position}"), |t| code(&t.text))
}

pub(super) fn unit(metric: &str) -> &'static str {
    metric.parse::<Metric>().map_or("", |m| m.unit())
}

/// `mean [ci95_low..ci95_high] (n N)`, or `-` when nothing was measured.
pub(super) fn cell(m: Option<&MetricSummary>) -> String {
    match m {
        Some(MetricSummary {
            n,
            mean: Some(mean),
            ci95_low: Some(lo),
            ci95_high: Some(hi),
            ..
        }) if *n > 1 => format!(
            "{} [{}..{}] (n {n})",
            number(*mean),
            number(*lo),
            number(*hi)
        ),
        Some(MetricSummary {
            n,
            mean: Some(mean),
            ..
        }) => format!("{} (n {n})", number(*mean)),
        _ => "-".into(),
    }
}

pub(super) fn direction(better: Better) -> &'static str {
    match better {
        Better::Smaller => "smaller is better",
        Better::Larger => "larger is better",
    }
}

pub(super) fn term_line(t: &Term) -> String {
    match t.limit {
        Some(_) => format!(
            "{}. {} (limit: every run must meet it)",
            t.position,
            code(&t.text)
        ),
        None => format!(
            "{}. {} ({})",
            t.position,
            code(&t.text),
            direction(t.better)
        ),
    }
}

/// One case's test, `a` first: `U = 0, p = 0.0079 (exact), shift -60.4 ms`.
pub(super) fn test_text(t: &CaseTest, unit: &str) -> String {
    match &t.test {
        Some(test) => format!(
            "U = {}, p = {} ({}), shift {}{}",
            number(test.u_x),
            p_value(test.p_value),
            match test.method {
                Method::Exact => "exact",
                Method::Normal => "normal approximation",
            },
            number(test.shift),
            if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            }
        ),
        None => "not measured".into(),
    }
}

pub(super) fn outcome_text(t: &CaseTest, a: &str, b: &str) -> String {
    match t.outcome {
        CaseOutcome::ABetter => format!("{} better", code(a)),
        CaseOutcome::BBetter => format!("{} better", code(b)),
        CaseOutcome::NotSeparated => "not separated".into(),
        CaseOutcome::NotMeasured => "not measured".into(),
    }
}

pub(super) fn caveat_text(advice: &Advice, c: &Caveat) -> String {
    match c {
        Caveat::TimeScale {
            time_scale,
            strategies,
        } => format!(
            "durations were scaled by {}; process start-up is real time ({})",
            number(*time_scale),
            list(strategies)
        ),
        Caveat::FailedRuns { count } => format!(
            "{count} failed run{} excluded (listed under \"Failed runs\")",
            if *count == 1 { " was" } else { "s were" }
        ),
        Caveat::TooFewRuns {
            strategy,
            case,
            runs,
        } => format!(
            "too few repetitions: {} has {runs} valid run{} in {case} (fewer than {})",
            code(strategy),
            if *runs == 1 { "" } else { "s" },
            crate::analysis::advice::FEW_RUNS
        ),
        Caveat::Power {
            term,
            metric,
            case,
            a,
            b,
            mean_a,
            mean_b,
            runs_a,
            runs_b,
            pooled_sd,
            runs_needed,
            smallest_p,
            fewest_runs,
        } => {
            let u = unit(metric);
            let mut text = format!(
                "{} and {} are not separated on {} in {case} (means {} and {} {u}, pooled sd {}, {runs_a} and {runs_b} runs): ",
                code(a),
                code(b),
                term_name(advice, *term),
                number(*mean_a),
                number(*mean_b),
                number(*pooled_sd),
            );
            match runs_needed {
                RunsNeeded::Runs { runs } if *runs > 1000 => text.push_str(&format!(
                    "over 1000 runs of each would be needed to separate them at alpha {} with 80% power, if the difference were real",
                    number(advice.alpha)
                )),
                RunsNeeded::Runs { runs } => {
                    text.push_str(&format!(
                        "about {runs} runs of each would separate them at alpha {} with 80% power, if the difference were real",
                        number(advice.alpha)
                    ));
                    if (*runs as usize) < *fewest_runs {
                        text.push_str(&format!(
                            ", though the test needs at least {fewest_runs} of each to reach p < {} at all",
                            number(advice.alpha)
                        ));
                    }
                }
                RunsNeeded::NoVariance => text.push_str(
                    "their runs do not vary (pooled sd 0), so no run count can be estimated: any further run that differs would give one",
                ),
            }
            if let Some(p) = smallest_p {
                text.push_str(&format!(
                    "; with {runs_a} and {runs_b} runs the test cannot reach p < {} at all (its smallest p is {})",
                    number(advice.alpha),
                    p_value(*p)
                ));
            }
            text
        }
        Caveat::Unmeasured {
            strategy,
            case,
            metric,
            runs,
        } => format!(
            "{} has no value of {} in {case} in {}; {} left out of that term",
            code(strategy),
            code(metric),
            list(runs),
            if runs.len() == 1 { "it is" } else { "they are" }
        ),
        Caveat::MixedScenarios {
            strategy,
            case,
            scenarios,
        } => format!(
            "{} pools the runs of several scenarios in {case} ({}): their settings differ, so its figures mix them",
            code(strategy),
            list(scenarios)
        ),
        Caveat::Cycle {
            term,
            metric: _,
            strategies,
        } => format!(
            "on {} every one of {} is beaten by another (the tests form a cycle), so all are kept, tied",
            term_name(advice, *term),
            list(strategies)
        ),
        Caveat::Note { text } => text.clone(),
    }
}

pub(super) fn disqualification_text(reasons: &[Disqualification]) -> String {
    let mut parts = Vec::new();
    // The failing runs grouped by limit and case, in order.
    let mut groups: Vec<((&str, &str), Vec<String>)> = Vec::new();
    for r in reasons {
        match r {
            Disqualification::NotMeasured { case, failed_runs } => parts.push(format!(
                "not measured in {case} (no valid run{})",
                match failed_runs {
                    0 => String::new(),
                    n => format!("; {n} failed"),
                }
            )),
            Disqualification::LimitFailed {
                limit,
                case,
                run,
                value,
                ..
            } => {
                let metric = limit.split([' ', '=', '!', '<', '>']).next().unwrap_or("");
                let text = format!(
                    "{} ({})",
                    code(run),
                    match value {
                        Some(v) => format!("{metric} = {}", number(*v)),
                        None => format!("{metric} not measured"),
                    }
                );
                let key = (limit.as_str(), case.as_str());
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, runs)) => runs.push(text),
                    None => groups.push((key, vec![text])),
                }
            }
        }
    }
    for ((limit, case), runs) in groups {
        let n = runs.len();
        let mut listed: Vec<String> = runs.into_iter().take(LISTED_FAILURES).collect();
        if n > LISTED_FAILURES {
            listed.push(format!("and {} more", n - LISTED_FAILURES));
        }
        parts.push(format!(
            "{} failed in {case} in {n} run{}: {}",
            code(limit),
            if n == 1 { "" } else { "s" },
            listed.join(", ")
        ));
    }
    parts.join("; ")
}

pub(super) fn pair_line(p: &crate::analysis::advice::Pair) -> String {
    let (a, b) = (code(&p.a), code(&p.b));
    let cases_with = |o: CaseOutcome| -> Vec<String> {
        p.cases
            .iter()
            .filter(|t| t.outcome == o)
            .map(|t| t.case.clone())
            .collect()
    };
    match p.verdict {
        PairVerdict::ABeatsB => format!(
            "{a} beats {b}: better in {}, worse in none",
            cases_with(CaseOutcome::ABetter).join(", ")
        ),
        PairVerdict::BBeatsA => format!(
            "{b} beats {a}: better in {}, worse in none",
            cases_with(CaseOutcome::BBetter).join(", ")
        ),
        PairVerdict::NotSeparated => format!("{a} and {b}: not separated"),
        PairVerdict::Conflicting => format!("{a} and {b}: not separated: {}", conflict(p)),
    }
}

/// `a is better in X and b in Y`, for a pair each better in some case.
pub(super) fn conflict(p: &crate::analysis::advice::Pair) -> String {
    let cases_with = |o: CaseOutcome| -> Vec<String> {
        p.cases
            .iter()
            .filter(|t| t.outcome == o)
            .map(|t| t.case.clone())
            .collect()
    };
    format!(
        "{} is better in {} and {} in {}",
        code(&p.a),
        cases_with(CaseOutcome::ABetter).join(", "),
        code(&p.b),
        cases_with(CaseOutcome::BBetter).join(", ")
    )
}

pub(super) fn beat_text(advice: &Advice, metric: &str, loser: &str, beat: &Beat) -> String {
    let u = unit(metric);
    let evidence: Vec<String> = beat
        .cases
        .iter()
        .filter(|t| t.outcome == CaseOutcome::ABetter)
        .map(|t| {
            let data = |s: &str| {
                advice
                    .strategies
                    .get(s)
                    .and_then(|d| d.cases.get(&t.case))
                    .and_then(|c| c.metrics.get(metric))
            };
            format!(
                "in {}, {} against {} ({u}), {}",
                t.case,
                cell(data(&beat.by)),
                cell(data(loser)),
                test_text(t, u)
            )
        })
        .collect();
    format!("beaten by {} ({})", code(&beat.by), evidence.join("; "))
}

/// Whether `strategy` has a valid run in some case weighed.
pub(super) fn measured(advice: &Advice, strategy: &str) -> bool {
    advice
        .strategies
        .get(strategy)
        .is_some_and(|d| d.cases.values().any(|c| !c.runs.is_empty()))
}
