//! Budgets judged: a run's metric against the band its history set ([`crate::budget`]).

use crate::model::budget::{BudgetBasis, BudgetOutcome, BudgetState, Window};
use crate::model::metric::number;
use crate::model::verdict::Verdict;

/// Judges each budget against the run's verdict. A budget with fewer runs behind it than
/// its `min_runs`, or with no history to read, is skipped and says why: never a pass.
pub fn evaluate(
    bases: &[BudgetBasis],
    v: &Verdict,
    update_duration_ms: Option<f64>,
) -> Vec<BudgetOutcome> {
    bases
        .iter()
        .map(|basis| {
            let b = &basis.budget;
            let value = crate::analysis::scoped::measured(&b.measure, v, update_duration_ms);
            let (of_runs, within) = match &b.window {
                Window::Last(_) => (format!("the last {} runs", basis.runs), String::new()),
                Window::Since { text, .. } => (
                    format!("{} runs in the last {text}", basis.runs),
                    format!(" in the last {text}"),
                ),
            };
            let skipped = |message: String| BudgetOutcome {
                budget: b.to_string(),
                metric: b.measure.to_string(),
                state: BudgetState::Skipped,
                runs: basis.runs,
                min_runs: b.min_runs,
                reference: basis.reference,
                limit: None,
                value,
                message,
                unavailable: basis.unavailable.clone(),
            };
            if let Some(why) = &basis.unavailable {
                return skipped(format!("not evaluated: no history ({why})"));
            }
            let reference = match basis.reference {
                Some(q) if basis.runs >= b.min_runs.max(1) => q,
                _ => {
                    return skipped(format!(
                        "not evaluated: {} of {} runs{within}",
                        basis.runs, b.min_runs
                    ))
                }
            };
            let limit = b.limit(reference);
            let (sign, edge) = if b.measure.metric.larger_is_better() {
                (">=", "min")
            } else {
                ("<=", "max")
            };
            let grace = if b.measure.metric.larger_is_better() {
                format!(
                    "{edge}({q} - {}, {q} / {})",
                    number(b.add),
                    number(b.mul),
                    q = number(reference)
                )
            } else {
                format!(
                    "{edge}({q} + {}, {q} x {})",
                    number(b.add),
                    number(b.mul),
                    q = number(reference)
                )
            };
            let ok = value.is_some_and(|x| b.holds(x, reference));
            let measured = match value {
                Some(x) => format!("{} = {}", b.measure, number(x)),
                None => format!("{} not measured", b.measure),
            };
            let message = format!(
                "{measured}, budget {sign} {} = {grace}, {} of {of_runs}",
                number(limit),
                b.quantile_name(),
            );
            BudgetOutcome {
                budget: b.to_string(),
                metric: b.measure.to_string(),
                state: if ok {
                    BudgetState::Pass
                } else {
                    BudgetState::Fail
                },
                runs: basis.runs,
                min_runs: b.min_runs,
                reference: Some(reference),
                limit: Some(limit),
                value,
                message,
                unavailable: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(text: &str, runs: u64, reference: Option<f64>) -> BudgetBasis {
        BudgetBasis {
            budget: text.parse().unwrap(),
            runs,
            reference,
            unavailable: None,
        }
    }

    #[test]
    fn pass_fail_and_the_two_skips() {
        let v = Verdict {
            expected: 100,
            delivered: 97,
            lost: 3,
            ..Verdict::default()
        };
        let out = evaluate(
            &[
                basis("lost min_runs=5 add=1", 8, Some(2.0)),
                basis("lost min_runs=5 mul=1.2", 8, Some(2.0)),
                basis("lost min_runs=30", 12, Some(2.0)),
                BudgetBasis {
                    unavailable: Some("connection refused".into()),
                    ..basis("lost", 0, None)
                },
                basis("lateness.p99_ms min_runs=1", 3, Some(10.0)),
            ],
            &v,
            None,
        );
        let states: Vec<BudgetState> = out.iter().map(|o| o.state).collect();
        use BudgetState::*;
        assert_eq!(states, vec![Pass, Fail, Skipped, Skipped, Fail]);
        // 3 <= max(2 + 1, 2 x 1.2) = 3; 3 > max(2 + 0, 2.4).
        assert_eq!(out[0].limit, Some(3.0));
        assert_eq!(out[1].limit, Some(2.4));
        assert_eq!(
            out[1].message,
            "lost = 3, budget <= 2.4 = max(2 + 0, 2 x 1.2), P99 of 8 runs in the last 21d"
        );
        assert_eq!(
            out[2].message,
            "not evaluated: 12 of 30 runs in the last 21d"
        );
        assert!(
            out[3].message.contains("connection refused"),
            "{}",
            out[3].message
        );
        assert!(out[4].message.starts_with("lateness.p99_ms not measured"));
    }
}
