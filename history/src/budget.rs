//! A budget's basis: the reference its history sets ([`reports::budget`]). A scoped
//! measure's history is the runs that were judged by it: the judge keeps its value in the
//! summary (`verdict.scoped`), and the row holds it under its name.

use reports::budget::{Budget, BudgetBasis, Window};

use crate::stats::quantile;
use crate::store::{Filter, Series, Store};

/// What `series` says `budget`'s reference is, at `now_ns`: the valid runs of the series in
/// the budget's window that measured its metric, and their quantile. A store that cannot be
/// read gives a basis that says why, and the budget is then not evaluated.
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
    // Oldest first: the window's last N are the newest.
    let mut values: Vec<f64> = runs
        .iter()
        .filter(|r| r.valid)
        .filter_map(|r| r.metrics.get(&budget.measure.to_string()).copied())
        .collect();
    if let Window::Last(n) = budget.window {
        let keep = values.len().min(n as usize);
        values.drain(..values.len() - keep);
    }
    BudgetBasis {
        budget: budget.clone(),
        runs: values.len() as u64,
        reference: quantile(&values, budget.quantile),
        unavailable: None,
    }
}
