//! What the history says of a metric: per series (one scenario as run, on one platform,
//! with one strategy), the count of valid runs, the quantiles and the trend of the last
//! runs. Invalid runs are counted apart and never pooled.

use crate::record::RunRow;

/// The quantile `q` (0 < q <= 1) of `values` by the nearest-rank definition: the smallest
/// value with at least `q` of the values at or below it, `sorted[ceil(q n) - 1]`. A value
/// that was measured, never one between two runs. `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The least-squares slope of `values` against their index: the change per run.
pub fn slope(values: &[f64]) -> Option<f64> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean_x = (n - 1) as f64 / 2.0;
    let mean_y = values.iter().sum::<f64>() / n as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    Some(num / den)
}

/// How many of the last runs the trend is read over.
pub const TREND_RUNS: usize = 10;

/// One series' metric.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Stats {
    pub scenario: String,
    pub scenario_hash: String,
    pub platform: String,
    pub strategy: String,
    pub metric: String,
    /// Valid runs that measured it.
    pub runs: usize,
    /// Invalid runs of the series, left out.
    pub invalid: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// The newest valid run's value.
    pub last: Option<f64>,
    /// The change per run over the last [`TREND_RUNS`] valid runs (least squares).
    pub trend_per_run: Option<f64>,
}

/// The series' key: what a budget compares a run with.
pub fn series_of(r: &RunRow) -> SeriesKey {
    (
        r.scenario.clone(),
        r.scenario_hash.clone(),
        r.platform.clone(),
        r.strategy.clone(),
    )
}

/// A series' key: scenario, scenario hash, platform, strategy.
pub type SeriesKey = (String, String, String, String);

/// `runs` (oldest first) by series, each cut to its `last` runs when given.
pub fn series(
    runs: &[RunRow],
    last: Option<usize>,
) -> std::collections::BTreeMap<SeriesKey, Vec<&RunRow>> {
    let mut series: std::collections::BTreeMap<_, Vec<&RunRow>> = Default::default();
    for r in runs {
        series.entry(series_of(r)).or_default().push(r);
    }
    if let Some(n) = last {
        for rows in series.values_mut() {
            let cut = rows.len().saturating_sub(n);
            rows.drain(..cut);
        }
    }
    series
}

/// The invalid runs the same cut keeps, in the order they were recorded: listed, never
/// pooled.
pub fn invalid(runs: &[RunRow], last: Option<usize>) -> Vec<RunRow> {
    let mut out: Vec<RunRow> = series(runs, last)
        .into_values()
        .flatten()
        .filter(|r| !r.valid)
        .cloned()
        .collect();
    out.sort_by_key(|r| r.recorded_ns);
    out
}

/// Per series and metric, over `runs` (oldest first), each series cut to its `last` runs
/// when given.
pub fn stats(runs: &[RunRow], metrics: &[String], last: Option<usize>) -> Vec<Stats> {
    let mut out = Vec::new();
    for ((scenario, scenario_hash, platform, strategy), rows) in series(runs, last) {
        let invalid = rows.iter().filter(|r| !r.valid).count();
        for metric in metrics {
            let values: Vec<f64> = rows
                .iter()
                .filter(|r| r.valid)
                .filter_map(|r| r.metrics.get(metric).copied())
                .collect();
            let recent = &values[values.len().saturating_sub(TREND_RUNS)..];
            out.push(Stats {
                scenario: scenario.clone(),
                scenario_hash: scenario_hash.clone(),
                platform: platform.clone(),
                strategy: strategy.clone(),
                metric: metric.clone(),
                runs: values.len(),
                invalid,
                p50: quantile(&values, 0.50),
                p95: quantile(&values, 0.95),
                p99: quantile(&values, 0.99),
                last: values.last().copied(),
                trend_per_run: slope(recent),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_of_hand_counted_sets() {
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        // Wikipedia's "Percentile" worked example: P5 15, P30 20, P40 20, P50 35, P100 50.
        assert_eq!(quantile(&v, 0.05), Some(15.0));
        assert_eq!(quantile(&v, 0.30), Some(20.0));
        assert_eq!(quantile(&v, 0.40), Some(20.0));
        assert_eq!(quantile(&v, 0.50), Some(35.0));
        assert_eq!(quantile(&v, 1.0), Some(50.0));
        // Order does not matter; P99 of 100 values 1..=100 is 99.
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantile(&hundred, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&v, 0.0), None);
    }

    #[test]
    fn the_slope_of_a_line_is_its_step() {
        assert_eq!(slope(&[1.0, 3.0, 5.0, 7.0]), Some(2.0));
        assert_eq!(slope(&[4.0, 4.0, 4.0]), Some(0.0));
        assert_eq!(slope(&[1.0]), None);
    }
}
