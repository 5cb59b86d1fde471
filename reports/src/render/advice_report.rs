//! The written advice: `advice.md` (the recommendation, the limits, the evidence of every
//! deciding term as Markdown tables, the ranking, the runners-up and the caveats, ready to
//! paste into a report; the terminal prints the same text) and `advice.json` (the whole
//! [`crate::advice::Advice`], schema `update-harness/advice/1`). Rendered from
//! [`crate::advice`]'s plain data; no number is computed here.

use std::fmt::Write as _;

use crate::analysis::advice::{
    Advice, Beat, Better, CaseOutcome, CaseTest, Caveat, Disqualification, MetricSummary,
    PairVerdict, RunsNeeded, Term,
};
use crate::analysis::stats::Method;
use crate::model::metric::{number, Metric};

/// How many failing runs of one strategy the text lists before counting the rest.
const LISTED_FAILURES: usize = 5;

/// `advice.json`: the advice as pretty-printed JSON, with a final newline.
pub fn json(advice: &Advice) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(advice).map(|t| t + "\n")
}

/// A p-value for reading: four significant digits, or `< 0.0001`.
fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".into()
    } else if p >= 0.9999 {
        "1".into()
    } else {
        let text = format!("{p:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}

fn term_name(advice: &Advice, position: usize) -> String {
    advice
        .priorities
        .iter()
        .find(|t| t.position == position)
        .map_or_else(|| format!("term {position}"), |t| code(&t.text))
}

fn unit(metric: &str) -> &'static str {
    metric.parse::<Metric>().map_or("", |m| m.unit())
}

/// `mean [ci95_low..ci95_high] (n N)`, or `-` when nothing was measured.
fn cell(m: Option<&MetricSummary>) -> String {
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

fn direction(better: Better) -> &'static str {
    match better {
        Better::Smaller => "smaller is better",
        Better::Larger => "larger is better",
    }
}

fn term_line(t: &Term) -> String {
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
fn test_text(t: &CaseTest, unit: &str) -> String {
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

fn outcome_text(t: &CaseTest, a: &str, b: &str) -> String {
    match t.outcome {
        CaseOutcome::ABetter => format!("{} better", code(a)),
        CaseOutcome::BBetter => format!("{} better", code(b)),
        CaseOutcome::NotSeparated => "not separated".into(),
        CaseOutcome::NotMeasured => "not measured".into(),
    }
}

fn caveat_text(advice: &Advice, c: &Caveat) -> String {
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

fn disqualification_text(reasons: &[Disqualification]) -> String {
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

fn pair_line(p: &crate::analysis::advice::Pair) -> String {
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
fn conflict(p: &crate::analysis::advice::Pair) -> String {
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

fn beat_text(advice: &Advice, metric: &str, loser: &str, beat: &Beat) -> String {
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
fn measured(advice: &Advice, strategy: &str) -> bool {
    advice
        .strategies
        .get(strategy)
        .is_some_and(|d| d.cases.values().any(|c| !c.runs.is_empty()))
}

/// `advice.md`: the advice as Markdown (also what the terminal prints).
pub fn markdown(advice: &Advice) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Advice\n");
    // The recommendation first.
    match (&advice.recommendation, &advice.tie_break) {
        _ if advice.valid_runs == 0 => {
            let _ = writeln!(
                out,
                "**No recommendation**: there is no valid run in the cases weighed.\n"
            );
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "**No recommendation**: every strategy is disqualified: it failed a limit, or was not measured in some case weighed (see \"Disqualified\").\n"
            );
        }
        (Some(r), None) => {
            let _ = writeln!(out, "**Recommended: {}.**", code(r));
            let decided: Vec<String> = advice
                .steps
                .iter()
                .filter(|s| !s.beaten.is_empty())
                .map(|s| {
                    format!(
                        "{} (term {}: {} lost)",
                        code(s.metric.name()),
                        s.term,
                        list(&s.beaten)
                    )
                })
                .collect();
            let limits = advice.priorities.iter().any(|t| t.limit.is_some());
            let why = match (limits, decided.is_empty()) {
                (true, true) => "It is the only strategy that meets every limit.".to_owned(),
                (false, true) => "It is the only strategy measured in every case.".to_owned(),
                (true, false) => format!(
                    "It meets every limit, and the tests decided on {}.",
                    decided.join(", then ")
                ),
                (false, false) => format!("The tests decided on {}.", decided.join(", then ")),
            };
            let _ = writeln!(out, "{why}\n");
        }
        (Some(r), Some(tb)) => {
            let _ = writeln!(out, "**Recommended: {} (NOT significant).**", code(r));
            let why = match (&tb.metric, tb.term) {
                (Some(metric), Some(term)) => format!(
                    "The data do not separate {} on any term; {} has the best mean on {} (term {term}: {}), a difference the test did not find significant.",
                    list(&tb.among),
                    code(r),
                    code(metric),
                    tb.means
                        .iter()
                        .map(|(s, m)| format!("{s} {}", number(*m)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => format!(
                    "The data do not separate {}, and their means are equal on every term: {} is the first by name.",
                    list(&tb.among),
                    code(r)
                ),
            };
            let conflicts: Vec<String> = advice
                .steps
                .iter()
                .flat_map(|step| {
                    step.pairs
                        .iter()
                        .filter(|p| {
                            p.verdict == PairVerdict::Conflicting
                                && tb.among.contains(&p.a)
                                && tb.among.contains(&p.b)
                        })
                        .map(move |p| format!("on {}, {}", code(step.metric.name()), conflict(p)))
                })
                .collect();
            let _ = write!(out, "{why}");
            if !conflicts.is_empty() {
                let _ = write!(
                    out,
                    " Each is better in some case and worse in another: {}.",
                    conflicts.join("; ")
                );
            }
            let _ = writeln!(out, " More runs may separate them (see \"Caveats\").\n");
        }
    }
    let _ = writeln!(
        out,
        "Priorities{}:\n",
        advice
            .preset
            .as_ref()
            .map_or(String::new(), |p| format!(" (preset {})", code(p)))
    );
    for t in &advice.priorities {
        let _ = writeln!(out, "{}", term_line(t));
    }
    let failed = advice.failed_runs.len();
    let _ = writeln!(
        out,
        "\nCases: {}. Runs: {} valid, {failed} failed. Test: two-sided Mann-Whitney U in each case, alpha {}.",
        if advice.cases.is_empty() {
            "none".to_owned()
        } else {
            advice.cases.join(", ")
        },
        advice.valid_runs,
        number(advice.alpha)
    );

    // Limits.
    let limit_terms: Vec<&Term> = advice
        .priorities
        .iter()
        .filter(|t| t.limit.is_some())
        .collect();
    if !limit_terms.is_empty() && !advice.strategies.is_empty() {
        let _ = writeln!(out, "\n## Limits\n");
        let _ = write!(out, "| strategy |");
        for t in &limit_terms {
            let _ = write!(out, " {} |", code(&t.text));
        }
        let _ = write!(out, "\n|---|");
        for _ in &limit_terms {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for s in advice.strategies.keys() {
            let _ = write!(out, "| {} |", code(s));
            for t in &limit_terms {
                let outcome = advice
                    .limits
                    .iter()
                    .find(|l| l.term == t.position && &l.strategy == s);
                let _ = write!(
                    out,
                    " {} |",
                    match outcome {
                        Some(l) if l.met && !measured(advice, s) => "not measured".to_owned(),
                        Some(l) if l.met => "met".to_owned(),
                        Some(l) => format!(
                            "FAILED ({} run{})",
                            l.failures.len(),
                            if l.failures.len() == 1 { "" } else { "s" }
                        ),
                        None => "-".to_owned(),
                    }
                );
            }
            let _ = writeln!(out);
        }
    }
    if !advice.disqualified.is_empty() {
        let _ = writeln!(out, "\n## Disqualified\n");
        for d in &advice.disqualified {
            let _ = writeln!(
                out,
                "- {}: {}",
                code(&d.strategy),
                disqualification_text(&d.reasons)
            );
        }
    }

    // Each ordering term applied.
    for step in &advice.steps {
        let metric = step.metric.name();
        let u = step.metric.unit();
        let _ = writeln!(
            out,
            "\n## Term {}: {} ({}, {u})\n",
            step.term,
            code(metric),
            direction(step.better)
        );
        let _ = write!(out, "| strategy |");
        for c in &advice.cases {
            let _ = write!(out, " {c}: mean [95% CI] |");
        }
        let _ = write!(out, "\n|---|");
        for _ in &advice.cases {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for s in &step.candidates {
            let _ = write!(out, "| {} |", code(s));
            for c in &advice.cases {
                let m = advice
                    .strategies
                    .get(s)
                    .and_then(|d| d.cases.get(c))
                    .and_then(|d| d.metrics.get(metric));
                let _ = write!(out, " {} |", cell(m));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "\n| pair | case | U | p | method | shift ({u}) | result |\n|---|---|---|---|---|---|---|"
        );
        for p in &step.pairs {
            for t in &p.cases {
                let (uu, pp, method, shift) = match &t.test {
                    Some(test) => (
                        number(test.u_x),
                        p_value(test.p_value),
                        match test.method {
                            Method::Exact => "exact",
                            Method::Normal => "normal",
                        },
                        number(test.shift),
                    ),
                    None => ("-".into(), "-".into(), "-", "-".into()),
                };
                let _ = writeln!(
                    out,
                    "| {} vs {} | {} | {uu} | {pp} | {method} | {shift} | {} |",
                    code(&p.a),
                    code(&p.b),
                    t.case,
                    outcome_text(t, &p.a, &p.b)
                );
            }
        }
        let _ = writeln!(out);
        for p in &step.pairs {
            let _ = writeln!(out, "- {}", pair_line(p));
        }
        let _ = writeln!(
            out,
            "\nTop tier, going on: {}.{}",
            list(&step.top_tier),
            if step.beaten.is_empty() {
                " Nobody lost on this term.".to_owned()
            } else {
                format!(" Lost here: {}.", list(&step.beaten))
            }
        );
    }

    // The ranking.
    if !advice.tiers.is_empty() || !advice.disqualified.is_empty() {
        let _ = writeln!(
            out,
            "\n## Ranking\n\n| rank | strategies | why |\n|---|---|---|"
        );
        for t in &advice.tiers {
            let why = match t.lost_at_term {
                None if advice.significant => "recommended".to_owned(),
                None if t.strategies.len() > 1 => {
                    "not separated by the data (tie-break by mean, NOT significant)".to_owned()
                }
                None => "recommended".to_owned(),
                Some(term) => format!("lost on {} (term {term})", term_name(advice, term)),
            };
            let _ = writeln!(out, "| {} | {} | {why} |", t.rank, list(&t.strategies));
        }
        for d in &advice.disqualified {
            let _ = writeln!(out, "| - | {} | disqualified |", code(&d.strategy));
        }
    }
    if !advice.runners_up.is_empty() {
        let _ = writeln!(out, "\n## Runners-up\n");
        for r in &advice.runners_up {
            let beats: Vec<String> = r
                .beaten_by
                .iter()
                .map(|b| beat_text(advice, r.metric.name(), &r.strategy, b))
                .collect();
            let _ = writeln!(
                out,
                "- {} lost on {} (term {}): {}",
                code(&r.strategy),
                code(r.metric.name()),
                r.term,
                beats.join("; ")
            );
        }
    }
    if !advice.caveats.is_empty() {
        let _ = writeln!(out, "\n## Caveats\n");
        for c in &advice.caveats {
            let _ = writeln!(out, "- {}", caveat_text(advice, c));
        }
    }
    if !advice.failed_runs.is_empty() {
        let _ = writeln!(out, "\n## Failed runs (excluded)\n");
        for f in &advice.failed_runs {
            let who = match (&f.strategy, &f.case) {
                (Some(s), Some(c)) => format!(" ({s}, {c})"),
                (Some(s), None) => format!(" ({s})"),
                _ => String::new(),
            };
            let _ = writeln!(out, "- {}{who}: {}", code(&f.run), f.why);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::advice::{advise, AdviceOptions, RunData};

    fn runs(strategy: &str, lost: &[f64], p99: &[f64]) -> Vec<RunData> {
        (0..lost.len())
            .map(|i| RunData {
                run: format!("{strategy}/run-{}", i + 1),
                scenario: strategy.to_owned(),
                strategy: Some(strategy.to_owned()),
                case: Some("healthy".into()),
                time_scale: Some(0.1),
                values: [
                    (Metric::Lost, lost[i]),
                    (Metric::Duplicated, 0.0),
                    (Metric::LatenessP99Ms, p99[i]),
                ]
                .into_iter()
                .collect(),
                ..RunData::default()
            })
            .collect()
    }

    #[test]
    fn the_markdown_says_what_decided_and_what_is_uncertain() {
        let mut data = runs("drain", &[0.0; 5], &[3.0, 3.5, 4.0, 3.2, 3.8]);
        data.extend(runs("rolling", &[0.0; 5], &[60.0, 61.0, 65.0, 62.0, 64.0]));
        data.extend(runs("swap", &[2.0, 2.0, 3.0, 2.0, 2.0], &[1.0; 5]));
        data.extend(runs("graceful", &[0.0; 3], &[2.0, 70.0, 5.0]));
        let a = advise(
            &data,
            &AdviceOptions {
                priorities: "lost==0,duplicated,lateness.p99_ms".parse().unwrap(),
                cases: Vec::new(),
                alpha: 0.05,
            },
        )
        .unwrap();
        let md = markdown(&a);
        for want in [
            "**Recommended: `drain` (NOT significant).**",
            "| `swap` | FAILED (5 runs) |",
            "`lost == 0` failed in healthy in 5 runs: `swap/run-1` (lost = 2), `swap/run-2` (lost = 2)",
            "## Term 3: `lateness.p99_ms` (smaller is better, ms)",
            "| `drain` | 3.5 [2.99..4.01] (n 5) |",
            "`drain` beats `rolling`: better in healthy, worse in none",
            "`drain` and `graceful`: not separated",
            "about ",
            "runs of each would separate them at alpha 0.05 with 80% power",
            "too few repetitions: `graceful` has 3 valid runs in healthy",
            "durations were scaled by 0.1; process start-up is real time",
            "- `rolling` lost on `lateness.p99_ms` (term 3): beaten by `drain` (in healthy, 3.5 [2.99..4.01] (n 5) against 62.4",
            "| - | `swap` | disqualified |",
        ] {
            assert!(md.contains(want), "{want:?} not in:\n{md}");
        }
        let json: serde_json::Value = serde_json::from_str(&json(&a).unwrap()).unwrap();
        assert_eq!(json["schema"], "update-harness/advice/1");
        assert_eq!(json["recommendation"], "drain");
        assert_eq!(json["significant"], false);
        assert_eq!(json["priorities"][0]["limit"]["op"], "==");
        assert_eq!(
            json["strategies"]["drain"]["cases"]["healthy"]["metrics"]["lateness.p99_ms"]["n"],
            5
        );
        let back: Advice = serde_json::from_value(json).unwrap();
        assert_eq!(
            (back.recommendation, back.tiers, back.disqualified),
            (a.recommendation, a.tiers, a.disqualified),
            "advice.json reads back"
        );
    }

    #[test]
    fn a_pair_better_in_one_case_and_worse_in_another_is_said_to_be_tied() {
        let case = |strategy: &str, case: &str, lost: [f64; 5]| -> Vec<RunData> {
            (0..5)
                .map(|i| RunData {
                    run: format!("{strategy}-{case}/run-{}", i + 1),
                    scenario: format!("{strategy}-{case}"),
                    strategy: Some(strategy.to_owned()),
                    case: Some(case.to_owned()),
                    values: [(Metric::Lost, lost[i])].into_iter().collect(),
                    ..RunData::default()
                })
                .collect()
        };
        let (low, high) = ([1.0, 2.0, 3.0, 4.0, 5.0], [11.0, 12.0, 13.0, 14.0, 15.0]);
        let mut data = case("swap", "healthy", low);
        data.extend(case("swap", "never-ready", high));
        data.extend(case("recreate", "healthy", high));
        data.extend(case("recreate", "never-ready", low));
        let a = advise(
            &data,
            &AdviceOptions {
                priorities: "lost".parse().unwrap(),
                cases: Vec::new(),
                alpha: 0.05,
            },
        )
        .unwrap();
        let md = markdown(&a);
        for want in [
            "**Recommended: `recreate` (NOT significant).**",
            "their means are equal on every term: `recreate` is the first by name",
            "Each is better in some case and worse in another: on `lost`, `recreate` is better in never-ready and `swap` in healthy.",
            "- `recreate` and `swap`: not separated: `recreate` is better in never-ready and `swap` in healthy",
        ] {
            assert!(md.contains(want), "{want:?} not in:\n{md}");
        }
    }

    #[test]
    fn p_values_read_well() {
        assert_eq!(p_value(0.031746031746031744), "0.0317");
        assert_eq!(p_value(0.1), "0.1");
        assert_eq!(p_value(1.0), "1");
        assert_eq!(p_value(0.00001), "< 0.0001");
    }
}
