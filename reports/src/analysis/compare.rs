//! Comparison of scenarios over repetitions: per scenario and metric the mean, standard
//! deviation, 95% confidence interval (Student's t), min and max; failed runs are listed as
//! failed and never averaged in. [`crate::compare_report`] renders the result as CSV,
//! Markdown, HTML and JUnit; its charts are under [`crate::plot::compare`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::metric::Metric;
use crate::model::summary::Summary;

/// The metrics compared, in the table's order.
pub const METRICS: [Metric; 8] = [
    Metric::Lost,
    Metric::Duplicated,
    Metric::Late,
    Metric::Unexpected,
    Metric::DowntimeTotalMs,
    Metric::DowntimeMaxMs,
    Metric::LatenessP99Ms,
    Metric::UpdateDurationMs,
];

/// One run of a comparison.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub scenario: String,
    pub strategy: String,
    pub repetition: u32,
    pub seed: u64,
    pub dir: PathBuf,
    /// The run's metrics, or why it failed.
    pub outcome: Result<BTreeMap<String, f64>, String>,
    /// Thresholds of the scenario this run failed, as `threshold (metric = value)`.
    pub threshold_failures: Vec<String>,
}

/// A run's metrics from its summary, keyed by [`Metric::column`]. Lateness counts as 0 when
/// nothing was delivered; a run without an update duration (an old baseline) has none.
pub fn metrics(summary: &Summary) -> BTreeMap<String, f64> {
    METRICS
        .iter()
        .filter_map(|m| {
            let value = m.value(&summary.verdict, summary.run.update_duration_ms);
            let value = match m {
                Metric::LatenessP99Ms => Some(value.unwrap_or(0.0)),
                _ => value,
            };
            value.map(|v| (m.column().to_owned(), v))
        })
        .collect()
}

/// Summary statistics of one metric over the successful runs of one scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single run.
    pub sd: f64,
    /// 95% confidence interval of the mean, Student's t; the mean itself for a single run.
    pub ci_low: f64,
    pub ci_high: f64,
    pub min: f64,
    pub max: f64,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

pub fn stats(values: &[f64]) -> Option<Stats> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let half = if n > 1 {
        t_975(n - 1) * sd / (n as f64).sqrt()
    } else {
        0.0
    };
    Some(Stats {
        n,
        mean,
        sd,
        ci_low: mean - half,
        ci_high: mean + half,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// One scenario's runs and statistics.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub scenario: String,
    pub strategy: String,
    pub runs: usize,
    /// `(repetition, why)` of every failed run.
    pub failed: Vec<(u32, String)>,
    /// `(repetition, threshold (metric = value))` of every threshold a run failed; such a
    /// run was measured, so it is averaged in.
    pub threshold_failures: Vec<(u32, String)>,
    pub values: BTreeMap<String, Vec<f64>>,
    pub stats: BTreeMap<String, Stats>,
}

/// Groups run records by scenario (in first-seen order) and computes the statistics.
pub fn compare(records: &[RunRecord]) -> Vec<ScenarioResult> {
    let mut order: Vec<String> = Vec::new();
    for r in records {
        if !order.contains(&r.scenario) {
            order.push(r.scenario.clone());
        }
    }
    order
        .into_iter()
        .map(|name| {
            let runs: Vec<&RunRecord> = records.iter().filter(|r| r.scenario == name).collect();
            let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            let mut failed = Vec::new();
            for r in &runs {
                match &r.outcome {
                    Ok(m) => {
                        for (k, v) in m {
                            values.entry(k.clone()).or_default().push(*v);
                        }
                    }
                    Err(why) => failed.push((r.repetition, why.clone())),
                }
            }
            let stats = values
                .iter()
                .filter_map(|(k, v)| stats(v).map(|s| (k.clone(), s)))
                .collect();
            let threshold_failures = runs
                .iter()
                .flat_map(|r| {
                    r.threshold_failures
                        .iter()
                        .map(|f| (r.repetition, f.clone()))
                })
                .collect();
            ScenarioResult {
                threshold_failures,
                strategy: runs[0].strategy.clone(),
                scenario: name,
                runs: runs.len(),
                failed,
                values,
                stats,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_hand_computed_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd sqrt(32/7) = 2.13809, t(7) = 2.365,
        // half-width 2.365 * 2.13809 / sqrt(8) = 1.78777.
        let s = stats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (8, 5.0, 2.0, 9.0));
        assert!((s.sd - 2.138_09).abs() < 1e-5, "{}", s.sd);
        assert!((s.ci_high - 6.787_77).abs() < 1e-4, "{}", s.ci_high);
        assert!((s.ci_low - 3.212_23).abs() < 1e-4, "{}", s.ci_low);
        let one = stats(&[3.0]).unwrap();
        assert_eq!((one.sd, one.ci_low, one.ci_high), (0.0, 3.0, 3.0));
        assert_eq!(stats(&[]), None);
    }

    #[test]
    fn metrics_are_read_by_the_one_vocabulary() {
        let mut s = Summary::new(
            crate::model::summary::RunInfo::default(),
            crate::model::verdict::Verdict::default(),
        );
        s.verdict.lost = 3;
        s.verdict.downtime.max_ms = 12.5;
        let m = metrics(&s);
        assert_eq!((m["lost"], m["downtime_max_ms"]), (3.0, 12.5));
        assert_eq!(m["lateness_p99_ms"], 0.0, "nothing delivered counts as 0");
        assert!(
            !m.contains_key("update_duration_ms"),
            "not measured, not invented"
        );
        s.run.update_duration_ms = Some(250.0);
        assert_eq!(metrics(&s)["update_duration_ms"], 250.0);
    }
}
