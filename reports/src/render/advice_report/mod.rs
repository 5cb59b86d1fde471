//! The written advice: `advice.md` (the recommendation, the limits, the evidence of every
//! deciding term as Markdown tables, the ranking, the runners-up and the caveats, ready to
//! paste into a report; the terminal prints the same text) and `advice.json` (the whole
//! [`crate::advice::Advice`], schema `update-harness/advice/1`). Rendered from
//! [`crate::advice`]'s plain data; no number is computed here.

use std::fmt::Write as _;

use crate::analysis::advice::{Advice, PairVerdict, Term};
use crate::analysis::stats::Method;
use crate::model::metric::number;

mod text;

use text::{
    beat_text, caveat_text, cell, code, conflict, direction, disqualification_text, list, measured,
    outcome_text, p_value, pair_line, term_line, term_name,
};

/// `advice.json`: the advice as pretty-printed JSON, with a final newline.
pub fn json(advice: &Advice) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(advice).map(|t| t + "\n")
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
mod tests;
