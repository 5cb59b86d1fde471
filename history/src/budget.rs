//! A budget's basis: the reference its history sets ([`reports::budget`]), for the run
//! about to start ([`basis`]) and, for the page, for every run of a series as it came
//! ([`band`]). A scoped measure's history is the runs that were judged by it: the judge
//! keeps its value in the summary (`verdict.scoped`), and the row holds it under its name.

use reports::budget::{Budget, BudgetBasis, Window};
use reports::plot::trend::BandPoint;

use crate::record::RunRow;
use crate::stats::quantile;
use crate::store::{Filter, Series, Store};

/// The values a budget's window holds at `now_ns`, of `rows` (one series, oldest first):
/// the valid runs that measured its measure, the newest `last` of them, or those recorded
/// within `since` of `now_ns`.
fn window_values(rows: &[&RunRow], budget: &Budget, now_ns: i64) -> Vec<f64> {
    let name = budget.measure.to_string();
    let since_ns = match &budget.window {
        Window::Since { ns, .. } => now_ns.saturating_sub(*ns),
        Window::Last(_) => i64::MIN,
    };
    let mut values: Vec<f64> = rows
        .iter()
        .filter(|r| r.valid && r.recorded_ns >= since_ns && r.recorded_ns <= now_ns)
        .filter_map(|r| r.metrics.get(&name).copied())
        .collect();
    if let Window::Last(n) = budget.window {
        let keep = values.len().min(n as usize);
        values.drain(..values.len() - keep);
    }
    values
}

/// What `series` says `budget`'s reference is, at `now_ns`: the valid runs of the series in
/// the budget's window that measured its measure, and their quantile. A store that cannot
/// be read gives a basis that says why, and the budget is then not evaluated.
pub fn basis(
    store: Result<&mut Store, String>,
    series: &Series,
    budget: &Budget,
    now_ns: i64,
) -> BudgetBasis {
    let unread = |why: String| BudgetBasis {
        budget: budget.clone(),
        runs: 0,
        reference: None,
        unavailable: Some(why),
    };
    let store = match store {
        Ok(s) => s,
        Err(why) => return unread(why),
    };
    let filter = Filter {
        since_ns: match &budget.window {
            Window::Since { ns, .. } => Some(now_ns.saturating_sub(*ns)),
            Window::Last(_) => None,
        },
        series: Some(series.clone()),
        ..Filter::default()
    };
    let runs = match store.runs(&filter) {
        Ok(r) => r,
        Err(e) => return unread(e.to_string()),
    };
    let rows: Vec<&RunRow> = runs.iter().collect();
    let values = window_values(&rows, budget, now_ns);
    BudgetBasis {
        budget: budget.clone(),
        runs: values.len() as u64,
        reference: quantile(&values, budget.quantile),
        unavailable: None,
    }
}

/// The band `budget` set for each run of one series (oldest first), from the runs recorded
/// before it, as the budget would have judged it: `None` where they were fewer than its
/// `min_runs`.
pub fn band(rows: &[&RunRow], budget: &Budget) -> Vec<Option<BandPoint>> {
    (0..rows.len())
        .map(|i| {
            // Strictly before: a run is never part of its own history.
            let before = &rows[..i];
            let now_ns = rows[i].recorded_ns;
            let values = window_values(before, budget, now_ns);
            if (values.len() as u64) < budget.min_runs.max(1) {
                return None;
            }
            let reference = quantile(&values, budget.quantile)?;
            Some(BandPoint {
                reference,
                limit: budget.limit(reference),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(recorded_ns: i64, lost: Option<f64>, valid: bool) -> RunRow {
        RunRow {
            run_id: recorded_ns.to_string(),
            scenario: "s".into(),
            scenario_path: String::new(),
            scenario_hash: "h".into(),
            platform: "local".into(),
            strategy: "swap".into(),
            case: String::new(),
            time_scale: None,
            seed: None,
            harness_version: String::new(),
            started_ns: recorded_ns,
            recorded_ns,
            valid,
            invalid_reason: String::new(),
            run_dir: String::new(),
            labels: Default::default(),
            metrics: lost.map(|v| ("lost".to_owned(), v)).into_iter().collect(),
        }
    }

    #[test]
    fn the_band_of_each_run_is_its_budget_over_the_runs_before_it() {
        let rows = [
            row(1, Some(2.0), true),
            row(2, Some(4.0), true),
            row(3, Some(99.0), false),
            row(4, None, true),
            row(5, Some(3.0), true),
            row(6, Some(50.0), true),
        ];
        let refs: Vec<&RunRow> = rows.iter().collect();
        let budget: Budget = "lost p50 last=2 min_runs=2 add=1 mul=1".parse().unwrap();
        let band = band(&refs, &budget);
        // Runs 1 and 2 have fewer than two valid runs with a value before them; so do runs
        // 3 and 4 (the invalid one and the one without a value never count).
        assert_eq!(band[..2], [None, None]);
        // Run 3: 2 and 4, nearest-rank P50 = 2, band 3.
        let at = |i: usize| band[i].map(|b| (b.reference, b.limit));
        assert_eq!(at(2), Some((2.0, 3.0)));
        assert_eq!(at(4), Some((2.0, 3.0)));
        // Run 6: the last two are 4 and 3: P50 = 3.
        assert_eq!(at(5), Some((3.0, 4.0)));
        // A window in time: at run 6 (t = 6), `since` 3 ns reaches back to t = 3.
        let mut recent: Budget = "lost p99 min_runs=1 mul=1".parse().unwrap();
        recent.window = Window::Since {
            text: "3ns".into(),
            ns: 3,
        };
        assert_eq!(window_values(&refs[..5], &recent, 6), vec![3.0]);
    }
}
