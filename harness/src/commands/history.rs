//! `harness history`, and the recording of runs in the history store that `run`,
//! `compare`, `advise` and `sweep` do at their end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use history::{Filter, RunRow, Stats, Store};
use reports::budget::Budget;
use reports::measure::Measure;
use reports::metric::Metric;

use super::{EXIT_OK, EXIT_USAGE};
use crate::cli::{HistoryArgs, HistoryQueryArgs};

/// The metrics `harness history` shows when none is named.
const DEFAULT_METRICS: [Metric; 6] = [
    Metric::Lost,
    Metric::Duplicated,
    Metric::Late,
    Metric::DowntimeTotalMs,
    Metric::DowntimeMaxMs,
    Metric::UpdateDurationMs,
];

/// Records the runs in `dirs` in the store `args` names, unless `--no-history`. A store
/// that cannot be written is said on stderr and does not change the command's outcome: the
/// run directory holds the run either way.
pub fn record(dirs: &[PathBuf], args: &HistoryArgs) {
    if args.no_history || dirs.is_empty() {
        return;
    }
    let labels: BTreeMap<String, String> = args.labels.iter().cloned().collect();
    let mut store = match Store::open(&args.store.history) {
        Ok(s) => s,
        Err(e) => {
            errln!("harness: not recorded in the history: {e}");
            return;
        }
    };
    let mut recorded = 0;
    for dir in dirs {
        let row = match RunRow::from_run_dir(dir, &labels) {
            Ok(r) => r,
            Err(e) => {
                errln!(
                    "harness: {} not recorded in the history: {e}",
                    dir.display()
                );
                continue;
            }
        };
        match store.record(&row) {
            Ok(_) => recorded += 1,
            Err(e) => errln!(
                "harness: {} not recorded in the history: {e}",
                dir.display()
            ),
        }
    }
    tracing::info!(recorded, store = store.place(), "recorded in the history");
}

/// A scenario argument: a scenario file's name (its `name`, else its stem), or a name.
fn scenario_name(arg: &str) -> String {
    let path = std::path::Path::new(arg);
    if arg.ends_with(".toml") {
        if let Ok(s) = crate::scenario::Scenario::load(path) {
            return s.name().to_owned();
        }
        if let Some(stem) = path.file_stem() {
            return stem.to_string_lossy().into_owned();
        }
    }
    arg.to_owned()
}

fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), reports::metric::number)
}

pub fn run(args: &HistoryQueryArgs) -> u8 {
    let metrics: Vec<Measure> = if args.metrics.is_empty() {
        DEFAULT_METRICS.iter().map(|m| Measure::from(*m)).collect()
    } else {
        match args
            .metrics
            .iter()
            .map(|m| Measure::from_str(m).map_err(|e| format!("{m:?}: {}", e.what)))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(m) => m,
            Err(e) => {
                errln!("harness history: --metric {e}");
                return EXIT_USAGE;
            }
        }
    };
    let since_ns = match args
        .since
        .as_deref()
        .map(|a| reports::budget::parse_age(a).map_err(|e| format!("--since {e}")))
        .transpose()
    {
        Ok(age) => age.map(|a| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            now - a
        }),
        Err(e) => {
            errln!("harness history: {e}");
            return EXIT_USAGE;
        }
    };
    let filter = Filter {
        scenarios: args.scenarios.iter().map(|s| scenario_name(s)).collect(),
        since_ns,
        labels: args.labels.clone(),
        series: None,
    };
    let runs = match Store::open(&args.store.history).and_then(|mut s| s.runs(&filter)) {
        Ok(r) => r,
        Err(e) => {
            errln!("harness history: {e}");
            return EXIT_USAGE;
        }
    };
    let names: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
    let stats = history::stats(&runs, &names, args.last);
    let invalid = history::stats::invalid(&runs, args.last);
    if let Some(dir) = &args.out {
        // On stderr: stdout stays the table, the JSON or the CSV asked for.
        match page(args, &runs, &metrics, &stats, dir) {
            Ok(path) => errln!("harness history: wrote {}", path.display()),
            Err(e) => {
                errln!("harness history: --out: {e}");
                return EXIT_USAGE;
            }
        }
    }
    if args.json {
        let json = serde_json::json!({
            "store": history::store::shown(&args.store.history),
            "series": stats,
            "invalid": invalid.iter().map(|r| serde_json::json!({
                "run_id": r.run_id,
                "scenario": r.scenario,
                "recorded_ns": r.recorded_ns,
                "reason": r.invalid_reason,
                "run_dir": r.run_dir,
            })).collect::<Vec<_>>(),
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return EXIT_OK;
    }
    if args.csv {
        outln!("scenario,scenario_hash,platform,strategy,metric,runs,invalid,p50,p95,p99,last,trend_per_run");
        let cell = |v: Option<f64>| v.map_or_else(String::new, |x| x.to_string());
        for s in &stats {
            outln!(
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                s.scenario,
                s.scenario_hash,
                s.platform,
                s.strategy,
                s.metric,
                s.runs,
                s.invalid,
                cell(s.p50),
                cell(s.p95),
                cell(s.p99),
                cell(s.last),
                cell(s.trend_per_run)
            );
        }
        return EXIT_OK;
    }
    print_table(&args.store.history, &stats, &invalid);
    EXIT_OK
}

/// The budgets the page draws bands for: `--budget`, then the scenario files' tables.
fn page_budgets(args: &HistoryQueryArgs) -> Result<Vec<Budget>, String> {
    let mut budgets = Vec::new();
    for text in &args.budgets {
        budgets.push(
            text.parse::<Budget>()
                .map_err(|e| format!("--budget {text:?}: {} at byte {}", e.what, e.at))?,
        );
    }
    for arg in args.scenarios.iter().filter(|a| a.ends_with(".toml")) {
        let s = crate::scenario::Scenario::load(std::path::Path::new(arg))
            .map_err(|e| e.to_string())?;
        budgets.extend(s.budgets());
    }
    Ok(budgets)
}

/// Writes `history.html` into `dir`: per series and measure, its runs with the band its
/// budget set.
fn page(
    args: &HistoryQueryArgs,
    runs: &[RunRow],
    measures: &[Measure],
    stats: &[Stats],
    dir: &std::path::Path,
) -> Result<PathBuf, String> {
    use reports::history_page::{MetricTrend, SeriesTrends};
    let budgets = page_budgets(args)?;
    let mut out = Vec::new();
    for ((scenario, hash, platform, strategy), rows) in history::stats::series(runs, args.last) {
        let metrics = measures
            .iter()
            .map(|m| {
                let name = m.to_string();
                let given = budgets.iter().find(|b| b.measure == *m);
                let budget = given.cloned().unwrap_or_else(|| Budget::new(*m));
                let st = stats.iter().find(|s| {
                    s.scenario_hash == hash
                        && s.platform == platform
                        && s.strategy == strategy
                        && s.metric == name
                });
                MetricTrend {
                    points: rows
                        .iter()
                        .map(|r| reports::plot::trend::TrendPoint {
                            recorded_ns: r.recorded_ns,
                            value: r.metrics.get(&name).copied(),
                            valid: r.valid,
                        })
                        .collect(),
                    band: history::band(&rows, &budget),
                    unit: m.metric.unit().to_owned(),
                    measure: name,
                    budget: budget.to_string(),
                    budget_given: given.is_some(),
                    runs: st.map_or(0, |s| s.runs),
                    p50: st.and_then(|s| s.p50),
                    p95: st.and_then(|s| s.p95),
                    p99: st.and_then(|s| s.p99),
                    last: st.and_then(|s| s.last),
                    trend_per_run: st.and_then(|s| s.trend_per_run),
                }
            })
            .collect();
        let invalid = rows
            .iter()
            .filter(|r| !r.valid)
            .map(|r| {
                [
                    r.run_id.clone(),
                    r.run_dir.clone(),
                    r.invalid_reason.clone(),
                ]
            })
            .collect();
        out.push(SeriesTrends {
            scenario,
            scenario_hash: hash,
            platform,
            strategy,
            metrics,
            invalid,
        });
    }
    reports::history_page::write(dir, &history::store::shown(&args.store.history), &out)
}

fn print_table(store: &str, stats: &[Stats], invalid: &[RunRow]) {
    if stats.is_empty() {
        outln!("no runs recorded in {}", history::store::shown(store));
        return;
    }
    let header = [
        "scenario",
        "hash",
        "platform",
        "strategy",
        "metric",
        "runs",
        "invalid",
        "p50",
        "p95",
        "p99",
        "last",
        "trend/run",
    ];
    let rows: Vec<[String; 12]> = stats
        .iter()
        .map(|s| {
            [
                s.scenario.clone(),
                s.scenario_hash.chars().take(8).collect(),
                s.platform.clone(),
                s.strategy.clone(),
                s.metric.clone(),
                s.runs.to_string(),
                s.invalid.to_string(),
                number(s.p50),
                number(s.p95),
                number(s.p99),
                number(s.last),
                s.trend_per_run
                    .map_or_else(|| "-".to_owned(), |t| format!("{t:+.3}")),
            ]
        })
        .collect();
    for line in crate::output::columns(header, &rows) {
        outln!("{line}");
    }
    if !invalid.is_empty() {
        outln!("\ninvalid runs (listed, never pooled):");
        for r in invalid {
            outln!(
                "  {}  {}  {}: {}",
                r.run_id,
                r.scenario,
                r.run_dir,
                r.invalid_reason
            );
        }
    }
    outln!("\nstore: {}", history::store::shown(store));
}
